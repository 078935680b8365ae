"""``--wait`` and the agent commands against a real server, with an agent played by the test.

The test speaks the agent API itself (heartbeat, ``deployed``, ``status``, ``destroyed``)
from a thread, a moment after the CLI has started waiting, so ``--wait`` is seen to
follow the real status machine: PENDING_* → ACTIVE, → ERROR with its reason, → gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Cli
from tests.helpers.server import ServerProcess

HOST = "cli-net-host"


class Agent:
    """Just enough of lbaas-agent, over its HTTP API."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url + "/agent/v1", timeout=30)

    def heartbeat(self) -> None:
        resp = self.http.post("/agents", json={
            "host": HOST, "start_flag": True,
            "configurations": {"bridge_mappings": {"default": "br-x"},
                               "device_drivers": ["haproxy_ns"]}})
        assert resp.status_code in (200, 201), resp.text

    def deployed(self, pool_id: str) -> None:
        assert self.http.post(f"/pools/{pool_id}/deployed").status_code == 204

    def destroyed(self, pool_id: str) -> None:
        assert self.http.post(f"/pools/{pool_id}/destroyed").status_code == 204

    def status(self, obj_type: str, obj_id: str, status: str, description: str) -> None:
        resp = self.http.post("/status", json={"obj_type": obj_type, "obj_id": obj_id,
                                               "status": status,
                                               "status_description": description})
        assert resp.status_code == 204, resp.text


@pytest.fixture
def agent(server: ServerProcess) -> Iterator[Agent]:
    a = Agent(server.url)
    a.heartbeat()
    yield a
    a.http.close()


def later(server: ServerProcess, pool_name: str, statuses: tuple[str, ...],
          act: Callable[[dict[str, Any]], None]) -> threading.Thread:
    """Run ``act(pool)`` once the pool is in one of ``statuses`` and the CLI had time to
    start waiting. Bounded: gives up after 30 s."""
    def run() -> None:
        with httpx.Client(base_url=server.url + "/v2.0", timeout=10) as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                pools = http.get("/lb/pools", params={"name": pool_name}).json()["pools"]
                if pools and pools[0]["status"] in statuses:
                    time.sleep(1.0)
                    act(pools[0])
                    return
                time.sleep(0.1)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _pool_args(name: str) -> list[str]:
    return ["pool", "create", "--name", name, "--lb-method", "ROUND_ROBIN", "--protocol",
            "HTTP", "--subnet", "s1"]


def _network(lbaas: Cli) -> None:
    lbaas.ok("network", "create", "n1")
    lbaas.ok("subnet", "create", "n1", "10.60.0.0/24", "--name", "s1")


def test_create_wait_returns_once_the_agent_reports_the_pool_deployed(
        server: ServerProcess, lbaas: Cli, agent: Agent) -> None:
    _network(lbaas)
    thread = later(server, "p1", ("PENDING_CREATE",), lambda p: agent.deployed(p["id"]))
    try:
        rc, out, err = lbaas(*_pool_args("p1"), "--wait", "-c", "status", "-f", "value")
    finally:
        thread.join(35)
    assert (rc, out) == (0, "ACTIVE\n"), err
    *waiting, last = err.splitlines()
    assert waiting and all(w.startswith("waiting: pool p1 (") and "PENDING_CREATE" in w
                           for w in waiting)
    assert last.startswith("pool p1 (") and last.endswith("): ACTIVE")


def test_update_wait_fails_with_the_reason_the_agent_gave(
        server: ServerProcess, lbaas: Cli, agent: Agent) -> None:
    _network(lbaas)
    pool = lbaas.json(*_pool_args("p1"))
    agent.deployed(pool["id"])
    thread = later(server, "p1", ("PENDING_UPDATE",), lambda p: agent.status(
        "pool", p["id"], "ERROR", "haproxy -c refused the configuration"))
    try:
        message = lbaas.fails("pool", "update", "p1", "--lb-method", "SOURCE_IP", "--wait")
    finally:
        thread.join(35)
    assert message == (f"pool p1 ({pool['id']}) is in ERROR: haproxy -c refused the "
                       "configuration")


def test_delete_wait_returns_only_when_the_agent_has_destroyed_the_pool(
        server: ServerProcess, lbaas: Cli, agent: Agent) -> None:
    _network(lbaas)
    pool = lbaas.json(*_pool_args("p1"))
    agent.deployed(pool["id"])
    thread = later(server, "p1", ("PENDING_DELETE",), lambda p: agent.destroyed(p["id"]))
    try:
        rc, out, err = lbaas("pool", "delete", "p1", "--wait")
    finally:
        thread.join(35)
    assert rc == 0, err
    assert out == f"Deleted pool p1 ({pool['id']})\n"
    assert "PENDING_DELETE" in err and err.endswith(": deleted\n")
    assert lbaas.json("pool", "list") == []


def test_agent_commands_show_hosts_and_bindings(lbaas: Cli, agent: Agent) -> None:
    _network(lbaas)
    pool = lbaas.json(*_pool_args("p1"))
    (listed,) = lbaas.json("agent", "list")
    assert (listed["host"], listed["alive"]) == (HOST, True)
    # An agent is named by its host, as pools are by their names.
    assert lbaas.json("agent", "show", HOST)["id"] == listed["id"]
    assert lbaas.ok("pool", "agent", "p1", "-c", "host", "-f", "value") == f"{HOST}\n"
    assert lbaas.ok("agent", "pools", HOST, "-c", "id", "-f", "value") == f"{pool['id']}\n"
    down = lbaas.json("agent", "update", HOST, "--admin-state-down")
    assert down["admin_state_up"] is False
    assert "agent_type" in lbaas.ok("agent", "list")
