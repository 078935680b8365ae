"""auth_strategy = keystone against a real Keystone (tests/helpers/identity.py): tokens
from Keystone, validated by keystonemiddleware, and what each role may do under the
policy's defaults (Octavia's for v2, Neutron's for v1; docs/keystone.md)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from oslo_config import cfg

from lbaas.agent.http_plugin_api import HttpPluginApi
from lbaas.agent.keystone_auth import KeystoneAuth
from lbaas.common import config
from tests.api.builders import (
    FakeAgent,
    assert_error,
    make_network,
    make_pool,
    make_subnet,
    unique,
)
from tests.compat.test_octaviaclient import OPENSTACKCLIENT_REQUIREMENTS
from tests.helpers.clients import client_venv
from tests.helpers.identity import Keystone
from tests.helpers.server import Api, ServerProcess

TOKEN_CACHE_SECONDS = 2
POLICY_403 = "Policy does not allow this request to be performed."
# user: (project, role)
USERS = {"a-reader": ("project-a", "reader"), "a-member": ("project-a", "member"),
         "b-member": ("project-b", "member"),
         "a-lb-member": ("project-a", "load-balancer_member"),
         "lbaas": ("service", "service"), "agent": ("service", "service")}


def password(user: str) -> str:
    return f"{user}-secret"


@dataclass
class Cloud:
    keystone: Keystone
    server: ServerProcess
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, user: str) -> Api:
        return Api(self.server.url, token=self.tokens[user])


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    keystone = Keystone()
    server: ServerProcess | None = None
    try:
        keystone.start()
        projects = {name: keystone.create("project", name=name, domain_id="default")["id"]
                    for name in ("project-a", "project-b", "service")}
        projects["admin"] = keystone.call("GET", "/projects?name=admin").json()[
            "projects"][0]["id"]
        for user, (project, role) in USERS.items():
            uid = keystone.create("user", name=user, password=password(user),
                                  domain_id="default")["id"]
            keystone.grant(uid, projects[project], role)
        server = ServerProcess(auth_strategy="keystone", conf={
            "quotas": {"quota_pool": -1, "quota_vip": -1},
            "keystone_authtoken": {
                "www_authenticate_uri": keystone.auth_url, "auth_url": keystone.auth_url,
                "auth_type": "password", "username": "lbaas",
                "password": password("lbaas"), "user_domain_id": "default",
                "project_name": "service", "project_domain_id": "default",
                "interface": "public", "token_cache_time": TOKEN_CACHE_SECONDS}})
        keystone.register_service("load-balancer", "octavia", server.url)
        keystone.register_service("network", "neutron", server.url)
        server.start()
        cloud = Cloud(keystone, server)
        cloud.tokens = {user: keystone.token(user, password(user), project)
                        for user, (project, _role) in USERS.items()}
        cloud.tokens["admin"] = keystone.admin_token()
        cloud.projects = projects  # type: ignore[attr-defined]
        yield cloud
    finally:
        if server is not None:
            server.cleanup()
        keystone.cleanup()


@pytest.fixture(scope="module")
def agent(cloud: Cloud) -> Iterator[FakeAgent]:
    """The test's agent, with the service user's token, mapping its own physnet."""
    with cloud.api("agent") as agent_api:
        agent = FakeAgent(agent_api, [unique("ksnet")])
        resp = agent.heartbeat(start_flag=True)
        assert resp.status_code in (200, 201), cloud.server.log_tail()
        yield agent


@pytest.fixture(scope="module")
def subnet_a(cloud: Cloud, agent: FakeAgent) -> dict[str, Any]:
    """A subnet of project-a on the test agent's physical network."""
    with cloud.api("admin") as admin:
        project_a = cloud.projects["project-a"]  # type: ignore[attr-defined]
        net = make_network(admin, tenant_id=project_a,
                           **{"provider:physical_network": agent.physnets[0]})
        return make_subnet(admin, net["id"], cidr="10.97.0.0/24", tenant_id=project_a)


def v2(api: Api, method: str, path: str, body: Any = None) -> httpx.Response:
    return api.request(method, "/v2/lbaas" + path, body)


def forbidden_v2(resp: httpx.Response) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.json()["faultstring"] == POLICY_403


def test_v2_each_role_sees_and_does_what_octavias_policy_says(
        cloud: Cloud, agent: FakeAgent, subnet_a: dict) -> None:
    body = {"loadbalancer": {"vip_subnet_id": subnet_a["id"], "name": "ks-lb"}}
    with cloud.api("a-reader") as reader, cloud.api("a-member") as member, \
            cloud.api("b-member") as other, cloud.api("a-lb-member") as old_role, \
            cloud.api("admin") as admin:
        forbidden_v2(v2(reader, "POST", "/loadbalancers", body))
        forbidden_v2(v2(old_role, "POST", "/loadbalancers", body))
        resp = v2(member, "POST", "/loadbalancers", body)
        assert resp.status_code == 201, resp.text
        lb = resp.json()["loadbalancer"]
        assert lb["project_id"] == cloud.projects["project-a"]  # type: ignore[attr-defined]

        for api in (reader, member, admin):
            assert lb["id"] in [x["id"] for x in v2(api, "GET", "/loadbalancers").json()[
                "loadbalancers"]]
            assert v2(api, "GET", f"/loadbalancers/{lb['id']}").status_code == 200
        # Another project's member: the list holds none of it, the object is a 403.
        assert v2(other, "GET", "/loadbalancers").json()["loadbalancers"] == []
        forbidden_v2(v2(other, "GET", f"/loadbalancers/{lb['id']}"))
        forbidden_v2(v2(other, "DELETE", f"/loadbalancers/{lb['id']}"))
        # load-balancer_member alone grants nothing under the new defaults.
        forbidden_v2(v2(old_role, "GET", "/loadbalancers"))
        forbidden_v2(v2(old_role, "GET", f"/loadbalancers/{lb['id']}"))
        forbidden_v2(v2(reader, "DELETE", f"/loadbalancers/{lb['id']}"))
        forbidden_v2(v2(member, "PUT", f"/loadbalancers/{lb['id']}/failover"))

        assert lb["id"] in agent.ready_devices()
        agent.deployed(lb["id"])
        resp = v2(member, "DELETE", f"/loadbalancers/{lb['id']}")
        assert resp.status_code == 204, resp.text


def test_v1_each_role_sees_and_does_what_neutrons_rules_say(cloud: Cloud,
                                                            subnet_a: dict) -> None:
    with cloud.api("a-reader") as reader, cloud.api("a-member") as member, \
            cloud.api("b-member") as other, cloud.api("a-lb-member") as old_role, \
            cloud.api("admin") as admin:
        body = {"pool": {"subnet_id": subnet_a["id"], "protocol": "HTTP",
                         "lb_method": "ROUND_ROBIN", "name": "ks-pool"}}
        assert_error(reader.post("/v2.0/lb/pools", body), 403)
        assert_error(old_role.post("/v2.0/lb/pools", body), 403)
        pool = make_pool(member, subnet_a["id"])
        path = f"/v2.0/lb/pools/{pool['id']}"
        for api in (reader, member, admin):
            assert pool["id"] in [p["id"] for p in api.get("/v2.0/lb/pools").json()["pools"]]
            assert api.get(path).status_code == 200
        # v1 keeps Neutron's answer for another project's object: 404.
        assert_error(other.get(path), 404)
        assert_error(other.delete(path), 404)
        assert pool["id"] not in [p["id"] for p in other.get("/v2.0/lb/pools").json()["pools"]]
        assert_error(old_role.get("/v2.0/lb/pools"), 403)
        resp = reader.delete(path)
        assert_error(resp, 403)
        assert resp.json()["NeutronError"]["type"] == "PolicyNotAuthorized"
        assert member.delete(path).status_code == 204


@pytest.mark.parametrize("token", [None, "not-a-keystone-token"])
@pytest.mark.parametrize("path", ["/v2/lbaas/loadbalancers", "/v2.0/lb/pools"])
def test_missing_or_bad_token_is_401_with_www_authenticate(cloud: Cloud, token: str | None,
                                                           path: str) -> None:
    headers = {"X-Auth-Token": token} if token else {}
    resp = httpx.get(cloud.server.url + path, headers=headers, timeout=30)
    assert resp.status_code == 401, resp.text
    assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{cloud.keystone.auth_url}"'
    body = resp.json()
    assert ("faultstring" in body) if path.startswith("/v2/lbaas") else ("NeutronError" in body)


def test_a_token_revoked_in_keystone_stops_working(cloud: Cloud) -> None:
    token = cloud.keystone.token("b-member", password("b-member"), "project-b")
    url = cloud.server.url + "/v2/lbaas/loadbalancers"
    assert httpx.get(url, headers={"X-Auth-Token": token}, timeout=30).status_code == 200
    cloud.keystone.revoke_token(token)
    # keystonemiddleware trusts its cache for token_cache_time, then asks Keystone again.
    deadline = time.monotonic() + TOKEN_CACHE_SECONDS + 20
    while True:
        status = httpx.get(url, headers={"X-Auth-Token": token}, timeout=30).status_code
        if status == 401 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 401


def test_agent_api_needs_the_service_role(cloud: Cloud, agent: FakeAgent) -> None:
    path = f"/agent/v1/hosts/{agent.host}/ready_devices"
    for user in ("a-member", "a-reader", "b-member"):
        with cloud.api(user) as api:
            assert_error(api.get(path), 403)
    with cloud.api("agent") as agent_api:
        assert agent_api.get(path).status_code == 200


def test_openstack_cli_finds_lbaas_in_the_catalog(cloud: Cloud, subnet_a: dict) -> None:
    exe = os.environ.get("LBAAS_OPENSTACKCLIENT") or str(
        client_venv("openstackclient", OPENSTACKCLIENT_REQUIREMENTS) / "openstack")
    with cloud.api("a-member") as member:
        resp = v2(member, "POST", "/loadbalancers", {"loadbalancer": {
            "vip_subnet_id": subnet_a["id"], "name": "seen-by-the-cli"}})
        assert resp.status_code == 201, resp.text
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    base = [exe, "--os-auth-url", cloud.keystone.auth_url, "--os-identity-api-version", "3",
            "--os-user-domain-id", "default", "--os-project-domain-id", "default",
            "--os-region-name", "RegionOne"]

    def run(user: str, project: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, "--os-username", user, "--os-password", password(user),
                               "--os-project-name", project, *args, "-f", "json"],
                              capture_output=True, text=True, timeout=180, env=env,
                              stdin=subprocess.DEVNULL)

    proc = run("a-reader", "project-a", "loadbalancer", "list")
    assert proc.returncode == 0, proc.stderr
    assert "seen-by-the-cli" in [lb["name"] for lb in json.loads(proc.stdout)]
    proc = run("b-member", "project-b", "loadbalancer", "list")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    proc = run("a-reader", "project-a", "catalog", "list")
    assert proc.returncode == 0, proc.stderr
    types = {entry["Type"]: entry for entry in json.loads(proc.stdout)}
    assert cloud.server.url in json.dumps(types["load-balancer"])
    assert cloud.server.url in json.dumps(types["network"])


def test_openstack_cli_finds_the_network_api_in_the_catalog(cloud: Cloud,
                                                            subnet_a: dict) -> None:
    exe = os.environ.get("LBAAS_OPENSTACKCLIENT") or str(
        client_venv("openstackclient", OPENSTACKCLIENT_REQUIREMENTS) / "openstack")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    proc = subprocess.run(
        [exe, "--os-auth-url", cloud.keystone.auth_url, "--os-identity-api-version", "3",
         "--os-user-domain-id", "default", "--os-project-domain-id", "default",
         "--os-username", "a-reader", "--os-password", password("a-reader"),
         "--os-project-name", "project-a", "subnet", "list", "-f", "json"],
        capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert subnet_a["id"] in [s["ID"] for s in json.loads(proc.stdout)]


def test_agent_logs_in_to_keystone_and_outlives_a_revoked_token(cloud: Cloud,
                                                                 tmp_path: Path) -> None:
    conf_file = tmp_path / "agent.conf"
    conf_file.write_text(
        "[service_auth]\nauth_type = password\n"
        f"auth_url = {cloud.keystone.auth_url}\nusername = agent\n"
        f"password = {password('agent')}\nuser_domain_id = default\n"
        "project_name = service\nproject_domain_id = default\n")
    conf = cfg.ConfigOpts()
    config.register_agent_opts(conf)
    conf(["--config-file", str(conf_file)], project="lbaas-test", default_config_files=[],
         default_config_dirs=[])
    auth = KeystoneAuth.from_conf(conf)
    assert auth is not None
    host = unique("ks-agent")
    with HttpPluginApi(cloud.server.url, auth=auth) as rpc:
        rpc.report_state(host, {"device_drivers": ["haproxy_ns"]}, start_flag=True)
        assert rpc.get_ready_devices(host) == []
        cloud.keystone.revoke_token(auth.plugin.get_token(auth.session))
        time.sleep(TOKEN_CACHE_SECONDS + 1)
        # The server refuses the revoked token; the agent logs in again and goes on.
        assert rpc.get_ready_devices(host) == []
