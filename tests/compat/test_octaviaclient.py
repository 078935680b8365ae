"""Octavia's own command line works unchanged: python-openstackclient with
python-octaviaclient (``openstack loadbalancer ...``), current releases.

Like the neutronclient tests, the clients are not dependencies of lbaas: the first run
installs them (every dependency pinned, below) into a throwaway venv under
``.client-venvs/`` (``tests/helpers/clients.py``); later runs reuse it.
``LBAAS_OPENSTACKCLIENT=/path/to/bin/openstack`` uses that ``openstack`` instead.

How the CLI reaches lbaas without Keystone: ``--os-auth-type admin_token --os-endpoint
URL --os-token T``. keystoneauth's admin_token plugin answers every service's endpoint
with ``--os-endpoint``, so the load-balancer client talks to ``URL`` (octaviaclient adds
``/v2.0/lbaas/...``) and name lookups of other services go there too: ``--vip-subnet-id
NAME`` becomes ``GET URL/v2.0/subnets?name=NAME``, which lbaas serves as Neutron does.
Nothing else is needed: no ``OS_LOADBALANCER_API_VERSION`` (the default, 2.0, is right),
no ``--os-endpoint-override``. neutronclient's ``--os-url`` is not an option of
openstackclient 10.x. The environment's ``OS_*`` variables are dropped so an operator's
cloud settings can't send the CLI to a real Keystone.

What does not work without Keystone, by design of the client rather than lbaas:
``loadbalancer quota show/set`` with a project *name*, and ``quota set`` at all, look the
project up in Keystone (``GET URL/projects/...``); ``quota show <project UUID>`` asks
Octavia directly, and is what is tested. octaviaclient has no command for the batch
member update (``PUT /pools/{id}/members``); the openstacksdk tests drive it.

The server runs in noauth mode (every caller is admin, project ``admin``); an AutoAgent
(``tests/helpers/auto_agent.py``) confirms every change, so ``--wait`` sees ACTIVE.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.compat.cloud import Cloud, octavia_cloud, wait_lb
from tests.helpers.clients import ClientVenvError, client_venv

# The current releases, and every dependency exactly (a pip freeze of a working install).
OPENSTACKCLIENT_REQUIREMENTS = [
    "autopage==0.6.0",
    "certifi==2026.10.19.post1",
    "cffi==2.1.1",
    "charset-normalizer==3.5.3",
    "cliff==4.17.0",
    "cmd2==4.3.1",
    "cryptography==50.0.2",
    "debtcollector==3.1.0",
    "decorator==5.3.1",
    "dogpile.cache==1.5.0",
    "idna==3.20",
    "iso8601==2.1.0",
    "jmespath==1.1.0",
    "jsonpatch==1.48",
    "jsonpointer==3.12",
    "keystoneauth1==5.18.1",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "msgpack==1.2.4",
    "netaddr==1.3.0",
    "openstacksdk==4.22.0",
    "os-service-types==1.9.0",
    "osc-lib==4.7.0",
    "oslo.config==10.7.0",
    "oslo.context==6.5.0",
    "oslo.i18n==6.9.0",
    "oslo.log==8.3.2",
    "oslo.serialization==5.11.0",
    "oslo.utils==10.2.0",
    "packaging==26.4",
    "pbr==7.1.3",
    "platformdirs==4.14.9",
    "prettytable==3.18.0",
    "prompt_toolkit==3.0.53",
    "psutil==7.2.2",
    "pycparser==3.12",
    "Pygments==2.21.0",
    "pyparsing==3.3.3",
    "pyperclip==1.11.0",
    "python-barbicanclient==7.6.0",
    "python-dateutil==4.0.0",
    "python-keystoneclient==6.0.0",
    "python-manilaclient==6.3.0",
    "python-octaviaclient==3.15.0",
    "python-openstackclient==10.5.0",
    "PyYAML==6.0.4",
    "requests==2.34.2",
    "rfc3986==2.0.0",
    "rich==15.0.0",
    "rich-argparse==1.8.0",
    "stevedore==5.10.0",
    "typing_extensions==4.16.0",
    "tzdata==2026.6",
    "urllib3==2.8.0",
    "wcwidth==0.9.4",
    "wrapt==2.5.2",]


@pytest.fixture(scope="session")
def openstack_exe() -> str:
    """The ``openstack`` executable: ``LBAAS_OPENSTACKCLIENT``, else the client venv's."""
    exe = os.environ.get("LBAAS_OPENSTACKCLIENT", "")
    if exe:
        if not os.access(exe, os.X_OK):
            pytest.fail(f"LBAAS_OPENSTACKCLIENT={exe!r} is not an executable", pytrace=False)
    else:
        try:
            exe = str(client_venv("openstackclient", OPENSTACKCLIENT_REQUIREMENTS)
                      / "openstack")
        except ClientVenvError as exc:  # a failure with pip's words, not a skip
            raise pytest.fail.Exception(
                f"could not install python-openstackclient and python-octaviaclient into "
                f"a throwaway venv for the compatibility tests:\n{exc}",
                pytrace=False) from None
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"{exe} --version exited with {proc.returncode}:\n"
                    f"{(proc.stdout + proc.stderr)[-4000:]}", pytrace=False)
    return exe


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with octavia_cloud("osc-sub", "10.71.0.0/24") as c:
        yield c


class OpenStack:
    def __init__(self, exe: str, cloud: Cloud, token: str = "x") -> None:
        self.exe, self.cloud, self.token = exe, cloud, token
        # Only admin_token: an operator's OS_* variables must not send us to keystone.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.exe, "--os-auth-type", "admin_token", "--os-endpoint", self.cloud.url,
             "--os-token", self.token, *argv],
            env=self.env, capture_output=True, text=True, timeout=180,
            stdin=subprocess.DEVNULL)

    def ok(self, *argv: str) -> str:
        proc = self.run(*argv)
        assert proc.returncode == 0, (f"openstack {' '.join(argv)} → {proc.returncode}:\n"
                                      f"{proc.stdout}{proc.stderr}\n"
                                      f"{self.cloud.agent_report()}")
        return proc.stdout

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "-f", "json"))


def test_auto_agent_makes_a_load_balancer_active_and_deletes_it(cloud: Cloud) -> None:
    """The helper the CLI tests rely on, over plain HTTP: create → ACTIVE, delete → gone."""
    resp = cloud.api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "name": "self-test", "vip_subnet_id": cloud.subnet["id"]}})
    assert resp.status_code == 201, resp.text
    lb = resp.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    active = wait_lb(cloud.api, lb["id"], "ACTIVE")
    assert active["operating_status"] == "ONLINE"
    assert (lb["id"], "deployed") in cloud.agent.confirmed
    resp = cloud.api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}")
    assert resp.status_code == 204, resp.text
    wait_lb(cloud.api, lb["id"], None)
    assert (lb["id"], "destroyed") in cloud.agent.confirmed
    assert cloud.agent.errors == []


def test_the_octavia_workflow_with_openstack_loadbalancer(
        openstack_exe: str, cloud: Cloud) -> None:
    osc = OpenStack(openstack_exe, cloud)

    # The VIP subnet by name: octaviaclient resolves it through /v2.0/subnets?name=.
    lb = osc.json("loadbalancer", "create", "--name", "osc-lb", "--description", "first",
                  "--vip-subnet-id", "osc-sub", "--wait")
    assert lb["name"] == "osc-lb" and lb["vip_subnet_id"] == cloud.subnet["id"]
    assert lb["vip_network_id"] == cloud.network["id"]
    assert lb["vip_address"].startswith("10.71.0.")
    shown = osc.json("loadbalancer", "show", "osc-lb")
    assert shown["id"] == lb["id"]
    assert shown["provisioning_status"] == "ACTIVE" and shown["operating_status"] == "ONLINE"

    listener = osc.json("loadbalancer", "listener", "create", "--name", "osc-l",
                        "--protocol", "HTTP", "--protocol-port", "80", "--wait", "osc-lb")
    assert listener["provisioning_status"] == "ACTIVE"
    assert listener["loadbalancers"] == [{"id": lb["id"]}]
    pool = osc.json("loadbalancer", "pool", "create", "--name", "osc-p", "--protocol",
                    "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--listener", "osc-l", "--wait")
    assert pool["provisioning_status"] == "ACTIVE"
    assert pool["listeners"] == [{"id": listener["id"]}]
    members = [osc.json("loadbalancer", "member", "create", "--name", f"osc-m{n}",
                        "--address", f"10.71.0.{n}", "--protocol-port", "80", "--weight",
                        "3", "--wait", "osc-p") for n in (11, 12)]
    assert all(m["provisioning_status"] == "ACTIVE" for m in members)
    monitor = osc.json("loadbalancer", "healthmonitor", "create", "--name", "osc-hm",
                       "--type", "HTTP", "--delay", "2", "--timeout", "1", "--max-retries",
                       "2", "--url-path", "/health", "--wait", "osc-p")
    assert monitor["provisioning_status"] == "ACTIVE" and monitor["url_path"] == "/health"

    listed = osc.json("loadbalancer", "list")
    assert [(i["name"], i["provisioning_status"]) for i in listed] == [("osc-lb", "ACTIVE")]
    assert listed[0]["vip_address"] == lb["vip_address"]
    listed_members = osc.json("loadbalancer", "member", "list", "osc-p")
    assert sorted((m["address"], m["weight"]) for m in listed_members) == [
        ("10.71.0.11", 3), ("10.71.0.12", 3)]
    assert {m["provisioning_status"] for m in listed_members} == {"ACTIVE"}
    assert osc.json("loadbalancer", "listener", "show", "osc-l")["default_pool_id"] == \
        pool["id"]
    assert osc.json("loadbalancer", "pool", "show", "osc-p")["healthmonitor_id"] == \
        monitor["id"]

    # set / unset: name, description, tags.
    osc.ok("loadbalancer", "set", "--name", "osc-lb2", "--description", "second",
           "--tag", "blue", "--tag", "green", "--wait", "osc-lb")
    shown = osc.json("loadbalancer", "show", "osc-lb2")
    assert (shown["name"], shown["description"]) == ("osc-lb2", "second")
    assert sorted(shown["tags"]) == ["blue", "green"]
    assert shown["provisioning_status"] == "ACTIVE"
    assert [i["name"] for i in osc.json("loadbalancer", "list", "--tags", "blue")] == [
        "osc-lb2"]
    osc.ok("loadbalancer", "unset", "--description", "--tag", "blue", "--wait", "osc-lb2")
    shown = osc.json("loadbalancer", "show", "osc-lb2")
    assert shown["description"] == "" and shown["tags"] == ["green"]
    osc.ok("loadbalancer", "unset", "--name", "--all-tag", "--wait", lb["id"])
    shown = osc.json("loadbalancer", "show", lb["id"])
    assert shown["name"] == "" and shown["tags"] == []
    osc.ok("loadbalancer", "set", "--name", "osc-lb", "--wait", lb["id"])
    # unset on the children: null resets to Octavia's default.
    osc.ok("loadbalancer", "member", "unset", "--weight", "--wait", "osc-p", "osc-m11")
    assert osc.json("loadbalancer", "member", "show", "osc-p", "osc-m11")["weight"] == 1
    osc.ok("loadbalancer", "listener", "set", "--connection-limit", "100", "--wait", "osc-l")
    osc.ok("loadbalancer", "listener", "unset", "--connection-limit", "--wait", "osc-l")
    assert osc.json("loadbalancer", "listener", "show", "osc-l")["connection_limit"] == -1
    osc.ok("loadbalancer", "healthmonitor", "unset", "--url-path", "--wait", "osc-hm")
    assert osc.json("loadbalancer", "healthmonitor", "show", "osc-hm")["url_path"] == "/"

    # The status tree (printed as JSON whatever the format) and the statistics.
    tree = json.loads(osc.ok("loadbalancer", "status", "show", "osc-lb"))["loadbalancer"]
    assert (tree["id"], tree["provisioning_status"]) == (lb["id"], "ACTIVE")
    tree_listener = tree["listeners"][0]
    assert tree_listener["name"] == "osc-l"
    tree_pool = tree_listener["pools"][0]
    assert tree_pool["name"] == "osc-p"
    assert tree_pool["health_monitor"]["id"] == monitor["id"]
    assert sorted(m["address"] for m in tree_pool["members"]) == ["10.71.0.11", "10.71.0.12"]
    stats = osc.json("loadbalancer", "stats", "show", "osc-lb")
    assert stats == {"active_connections": 0, "bytes_in": 0, "bytes_out": 0,
                     "request_errors": 0, "total_connections": 0}

    # Quotas (by project UUID: a name would be looked up in Keystone) and providers.
    quota = osc.json("loadbalancer", "quota", "show", str(uuid.uuid4()))
    assert set(quota) >= {"load_balancer", "listener", "pool", "member", "health_monitor"}
    assert all(isinstance(v, int) for v in quota.values())
    providers = {p["name"] for p in osc.json("loadbalancer", "provider", "list")}
    assert {"haproxy_ns", "amphora"} <= providers

    osc.ok("loadbalancer", "delete", "--cascade", "--wait", "osc-lb")
    assert osc.json("loadbalancer", "list") == []
    assert osc.json("loadbalancer", "listener", "list") == []
    assert osc.json("loadbalancer", "pool", "list") == []
    gone = osc.run("loadbalancer", "show", lb["id"])
    assert gone.returncode != 0
    assert cloud.api.get(f"/ports/{lb['vip_port_id']}").status_code == 404
    assert cloud.agent.errors == []
