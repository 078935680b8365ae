"""Existing Neutron tooling works unchanged: python-neutronclient 9.0.0's ``neutron``.

neutronclient is not a dependency of lbaas (it pulls in half of OpenStack): the first run
installs it into a throwaway venv of its own under ``.client-venvs/`` (see
``tests/helpers/clients.py``), later runs reuse that venv, so a fresh clone runs these
tests with nothing set up by hand. ``LBAAS_NEUTRONCLIENT=/path/to/bin/neutron`` uses that
``neutron`` instead. If the client cannot be installed, the tests fail and say why.

It talks to a real lbaas-server the way an operator's scripts did: admin_token auth,
``--os-url`` and ``--os-token``, names instead of ids, ``-f json`` to read results.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.clients import ClientVenvError, client_venv
from tests.helpers.server import ServerProcess

# Exact pins: this is the release the compatibility promise is about.
# The client and every dependency pinned (a pip freeze of a working install), so a new
# release of a dependency can't change what these tests exercise.
NEUTRONCLIENT_REQUIREMENTS = [
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
    "os-client-config==2.3.0",
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
    "python-dateutil==4.0.0",
    "python-keystoneclient==6.0.0",
    "python-neutronclient==9.0.0",
    "PyYAML==6.0.4",
    "requests==2.34.2",
    "rfc3986==2.0.0",
    "rich==15.0.0",
    "rich-argparse==1.8.0",
    "simplejson==4.3.0",
    "stevedore==5.10.0",
    "typing_extensions==4.16.0",
    "tzdata==2026.6",
    "urllib3==2.8.0",
    "wcwidth==0.9.4",
    "wrapt==2.5.2",
]


@pytest.fixture(scope="session")
def neutron_exe() -> str:
    """The ``neutron`` executable: ``LBAAS_NEUTRONCLIENT``, else the client venv's."""
    exe = os.environ.get("LBAAS_NEUTRONCLIENT", "")
    if exe:
        if not os.access(exe, os.X_OK):
            pytest.fail(f"LBAAS_NEUTRONCLIENT={exe!r} is not an executable", pytrace=False)
    else:
        try:
            exe = str(client_venv("neutronclient", NEUTRONCLIENT_REQUIREMENTS) / "neutron")
        except ClientVenvError as exc:  # a failure with pip's words, not a skip
            raise pytest.fail.Exception(
                f"could not install {' '.join(NEUTRONCLIENT_REQUIREMENTS)} into a throwaway "
                f"venv for the compatibility tests:\n{exc}", pytrace=False) from None
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"{exe} --version exited with {proc.returncode}:\n"
                    f"{(proc.stdout + proc.stderr)[-4000:]}", pytrace=False)
    return exe


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as proc:
        yield proc


class Neutron:
    def __init__(self, exe: str, url: str, token: str = "x") -> None:
        self.exe, self.url, self.token = exe, url, token
        # Only admin_token: an operator's OS_* variables must not send us to keystone.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env["OS_AUTH_TYPE"] = "admin_token"

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.exe, "--os-url", self.url, "--os-token", self.token, *argv],
                              env=self.env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def ok(self, *argv: str) -> str:
        proc = self.run(*argv)
        assert proc.returncode == 0, f"neutron {' '.join(argv)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "-f", "json"))


def test_the_v1_workflow_from_network_to_vip_and_back(
        neutron_exe: str, server: ServerProcess) -> None:
    neutron = Neutron(neutron_exe, server.url)
    net = neutron.json("net-create", "nc-net")
    assert net["name"] == "nc-net"
    subnet = neutron.json("subnet-create", "nc-net", "10.50.0.0/24", "--name", "nc-sub",
                          "--allocation-pool", "start=10.50.0.10,end=10.50.0.99",
                          "--dns-nameserver", "10.50.0.53",
                          "--host-route", "destination=0.0.0.0/0,nexthop=10.50.0.254")
    assert subnet["network_id"] == net["id"]
    neutron.ok("subnet-update", "nc-sub", "--name", "nc-sub2")
    assert neutron.json("subnet-show", "nc-sub2")["id"] == subnet["id"]
    neutron.ok("subnet-update", "nc-sub2", "--name", "nc-sub")

    pool = neutron.json("lb-pool-create", "--name", "nc-pool", "--lb-method", "ROUND_ROBIN",
                        "--protocol", "HTTP", "--subnet-id", "nc-sub", "--description", "d")
    assert pool["subnet_id"] == subnet["id"]
    neutron.ok("lb-pool-update", "nc-pool", "--lb-method", "LEAST_CONNECTIONS")
    assert neutron.json("lb-pool-show", "nc-pool")["lb_method"] == "LEAST_CONNECTIONS"
    members = [neutron.json("lb-member-create", "--address", f"10.50.0.{n}",
                            "--protocol-port", "80", "--weight", "2", "nc-pool")
               for n in (3, 4)]
    neutron.ok("lb-member-update", members[0]["id"], "--weight", "5")
    assert neutron.json("lb-member-show", members[0]["id"])["weight"] == 5
    listed = neutron.json("lb-member-list")
    assert sorted(m["address"] for m in listed) == ["10.50.0.3", "10.50.0.4"]

    monitor = neutron.json("lb-healthmonitor-create", "--type", "HTTP", "--delay", "5",
                           "--timeout", "3", "--max-retries", "2", "--url-path", "/health",
                           "--expected-codes", "200-204", "--http-method", "GET")
    neutron.ok("lb-healthmonitor-update", monitor["id"], "--delay", "6")
    assert neutron.json("lb-healthmonitor-show", monitor["id"])["delay"] == 6
    assert "Associated" in neutron.ok("lb-healthmonitor-associate", monitor["id"], "nc-pool")
    assert neutron.json("lb-pool-show", "nc-pool")["health_monitors"] == [monitor["id"]]

    vip = neutron.json("lb-vip-create", "--name", "nc-vip", "--protocol-port", "80",
                       "--protocol", "HTTP", "--subnet-id", "nc-sub", "--connection-limit",
                       "100", "nc-pool")
    assert vip["pool_id"] == pool["id"]
    neutron.ok("lb-vip-update", "nc-vip", "--connection-limit", "50")
    assert neutron.json("lb-vip-show", "nc-vip")["connection_limit"] == 50
    assert [v["name"] for v in neutron.json("lb-vip-list")] == ["nc-vip"]
    stats = neutron.json("lb-pool-stats", "nc-pool")
    assert stats["total_connections"] == 0 and stats["bytes_in"] == 0

    # Refusals come back as Neutron errors that neutronclient prints as they are.
    refused = neutron.run("lb-pool-delete", "nc-pool")
    assert refused.returncode == 1 and "in use" in refused.stderr + refused.stdout

    neutron.ok("lb-healthmonitor-disassociate", monitor["id"], "nc-pool")
    neutron.ok("lb-vip-delete", "nc-vip")
    neutron.ok("lb-healthmonitor-delete", monitor["id"])
    for member in members:
        neutron.ok("lb-member-delete", member["id"])
    neutron.ok("lb-pool-delete", "nc-pool")
    assert neutron.json("lb-pool-list") == []

    port = neutron.json("port-create", "nc-net", "--name", "nc-port")
    assert port["fixed_ips"][0]["subnet_id"] == subnet["id"]
    neutron.ok("port-delete", "nc-port")
    neutron.ok("subnet-delete", "nc-sub")
    neutron.ok("net-delete", "nc-net")
    vlan = neutron.json("net-create", "nc-vlan", "--provider:network_type", "vlan",
                        "--provider:physical_network", "physnet1",
                        "--provider:segmentation_id", "100")
    assert vlan["provider:segmentation_id"] == 100
    neutron.ok("net-delete", "nc-vlan")


def test_tokens_of_two_projects_in_token_mode(neutron_exe: str) -> None:
    tokens = [("tok-a", "proj-a", "member"), ("tok-b", "proj-b", "member")]
    with ServerProcess(auth_strategy="token", tokens=tokens) as server:
        a = Neutron(neutron_exe, server.url, "tok-a")
        b = Neutron(neutron_exe, server.url, "tok-b")
        a.ok("net-create", "net-a")
        a.ok("subnet-create", "net-a", "10.80.0.0/24", "--name", "sub-a")
        pool = a.json("lb-pool-create", "--name", "pa", "--lb-method", "ROUND_ROBIN",
                      "--protocol", "HTTP", "--subnet-id", "sub-a")
        assert pool["tenant_id"] == "proj-a"
        assert b.json("lb-pool-list") == []
        hidden = b.run("lb-pool-show", pool["id"])
        assert hidden.returncode == 1 and "Unable to find pool" in hidden.stderr
        unknown = Neutron(neutron_exe, server.url, "nope").run("lb-pool-list")
        assert unknown.returncode == 1


def _register_agent(server: ServerProcess, host: str) -> None:
    resp = httpx.post(f"{server.url}/agent/v1/agents", timeout=30, json={
        "host": host, "start_flag": True,
        "configurations": {"bridge_mappings": {"default": "br-x"},
                           "device_drivers": ["haproxy_ns"]}})
    assert resp.status_code in (200, 201), resp.text


def test_agent_commands_show_the_pool_binding(neutron_exe: str, server: ServerProcess) -> None:
    neutron = Neutron(neutron_exe, server.url)
    _register_agent(server, "nc-host")
    neutron.ok("net-create", "nc-net")
    neutron.ok("subnet-create", "nc-net", "10.50.0.0/24", "--name", "nc-sub")
    pool = neutron.json("lb-pool-create", "--name", "nc-pool", "--lb-method", "ROUND_ROBIN",
                        "--protocol", "HTTP", "--subnet-id", "nc-sub")
    (agent,) = neutron.json("agent-list")
    assert (agent["host"], agent["agent_type"]) == ("nc-host", "Loadbalancer agent")
    assert neutron.json("agent-show", agent["id"])["host"] == "nc-host"
    neutron.ok("agent-update", agent["id"], "--admin-state-down")
    assert neutron.json("agent-show", agent["id"])["admin_state_up"] is False
    neutron.ok("agent-update", agent["id"], "--admin-state-up")
    (hosting,) = neutron.json("lb-agent-hosting-pool", "nc-pool")
    assert hosting["id"] == agent["id"]
    (on_agent,) = neutron.json("lb-pool-list-on-agent", agent["id"])
    assert on_agent["id"] == pool["id"]


def test_agent_hosting_an_unbound_pool_is_a_clean_error(
        neutron_exe: str, server: ServerProcess) -> None:
    neutron = Neutron(neutron_exe, server.url)
    neutron.ok("net-create", "nc-net")
    neutron.ok("subnet-create", "nc-net", "10.50.0.0/24", "--name", "nc-sub")
    neutron.ok("lb-pool-create", "--name", "nc-pool", "--lb-method", "ROUND_ROBIN",
               "--protocol", "HTTP", "--subnet-id", "nc-sub")
    proc = neutron.run("lb-agent-hosting-pool", "nc-pool")
    assert "NoneType" not in proc.stdout + proc.stderr


def test_extensions_and_quotas(neutron_exe: str, server: ServerProcess) -> None:
    neutron = Neutron(neutron_exe, server.url)
    aliases = {e["alias"] for e in neutron.json("ext-list")}
    assert {"lbaas", "agent", "lbaas_agent_scheduler", "quotas", "provider"} <= aliases
    assert neutron.json("ext-show", "quotas")["alias"] == "quotas"
    assert neutron.run("ext-show", "router").returncode == 1

    # No tenant given: the client asks /v2.0/quotas/tenant (noauth: "admin").
    defaults = {"network": -1, "subnet": -1, "port": 50, "pool": 10, "member": -1,
                "health_monitor": -1, "vip": 10}
    assert neutron.json("quota-show") == defaults
    assert neutron.json("quota-default-show", "--tenant-id", "nc-other") == defaults
    updated = neutron.json("quota-update", "--pool", "1", "--health-monitor", "4",
                           "--network", "5")
    assert updated == {**defaults, "pool": 1, "health_monitor": 4, "network": 5}
    assert neutron.json("quota-show", "--tenant-id", "admin")["pool"] == 1
    (listed,) = neutron.json("quota-list")
    assert (listed["tenant_id"], listed["pool"]) == ("admin", 1)
    refused = neutron.run("quota-update", "--router", "3")
    assert refused.returncode == 1 and "router" in refused.stderr

    neutron.ok("net-create", "nc-net")
    neutron.ok("subnet-create", "nc-net", "10.50.0.0/24", "--name", "nc-sub")
    pool = ("lb-pool-create", "--lb-method", "ROUND_ROBIN", "--protocol", "HTTP",
            "--subnet-id", "nc-sub")
    neutron.ok(*pool, "--name", "p1")
    over = neutron.run(*pool, "--name", "p2")
    assert over.returncode == 1 and "Quota exceeded for resources: ['pool']" in over.stderr

    assert "Deleted quota: admin" in neutron.ok("quota-delete")
    assert neutron.json("quota-show") == defaults
    assert neutron.json("quota-list") == []
    neutron.ok(*pool, "--name", "p2")
