"""Existing Neutron tooling works unchanged: python-neutronclient 9.0.0's ``neutron``.

neutronclient is not a dependency (it pulls in half of OpenStack), so these tests run
only when ``LBAAS_NEUTRONCLIENT`` names a ``neutron`` executable, e.g. from a throwaway
venv::

    python3.11 -m venv /tmp/nc && /tmp/nc/bin/pip install python-neutronclient==9.0.0
    LBAAS_NEUTRONCLIENT=/tmp/nc/bin/neutron .venv/bin/pytest tests/compat

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

from tests.helpers.server import ServerProcess

NEUTRON = os.environ.get("LBAAS_NEUTRONCLIENT", "")

pytestmark = pytest.mark.skipif(
    not NEUTRON, reason="set LBAAS_NEUTRONCLIENT to a python-neutronclient 9.0.0 `neutron`")


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as proc:
        yield proc


class Neutron:
    def __init__(self, url: str, token: str = "x") -> None:
        self.url, self.token = url, token
        # Only admin_token: an operator's OS_* variables must not send us to keystone.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env["OS_AUTH_TYPE"] = "admin_token"

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([NEUTRON, "--os-url", self.url, "--os-token", self.token, *argv],
                              env=self.env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def ok(self, *argv: str) -> str:
        proc = self.run(*argv)
        assert proc.returncode == 0, f"neutron {' '.join(argv)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "-f", "json"))


def test_the_v1_workflow_from_network_to_vip_and_back(server: ServerProcess) -> None:
    neutron = Neutron(server.url)
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


def test_tokens_of_two_projects_in_token_mode() -> None:
    tokens = [("tok-a", "proj-a", "member"), ("tok-b", "proj-b", "member")]
    with ServerProcess(auth_strategy="token", tokens=tokens) as server:
        a, b = Neutron(server.url, "tok-a"), Neutron(server.url, "tok-b")
        a.ok("net-create", "net-a")
        a.ok("subnet-create", "net-a", "10.80.0.0/24", "--name", "sub-a")
        pool = a.json("lb-pool-create", "--name", "pa", "--lb-method", "ROUND_ROBIN",
                      "--protocol", "HTTP", "--subnet-id", "sub-a")
        assert pool["tenant_id"] == "proj-a"
        assert b.json("lb-pool-list") == []
        hidden = b.run("lb-pool-show", pool["id"])
        assert hidden.returncode == 1 and "Unable to find pool" in hidden.stderr
        unknown = Neutron(server.url, "nope").run("lb-pool-list")
        assert unknown.returncode == 1


def _register_agent(server: ServerProcess, host: str) -> None:
    resp = httpx.post(f"{server.url}/agent/v1/agents", timeout=30, json={
        "host": host, "start_flag": True,
        "configurations": {"bridge_mappings": {"default": "br-x"},
                           "device_drivers": ["haproxy_ns"]}})
    assert resp.status_code in (200, 201), resp.text


def test_agent_commands_show_the_pool_binding(server: ServerProcess) -> None:
    neutron = Neutron(server.url)
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


def test_agent_hosting_an_unbound_pool_is_a_clean_error(server: ServerProcess) -> None:
    neutron = Neutron(server.url)
    neutron.ok("net-create", "nc-net")
    neutron.ok("subnet-create", "nc-net", "10.50.0.0/24", "--name", "nc-sub")
    neutron.ok("lb-pool-create", "--name", "nc-pool", "--lb-method", "ROUND_ROBIN",
               "--protocol", "HTTP", "--subnet-id", "nc-sub")
    proc = neutron.run("lb-agent-hosting-pool", "nc-pool")
    assert "NoneType" not in proc.stdout + proc.stderr
