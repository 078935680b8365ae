"""``allow_automatic_lbaas_agent_failover = false``: a dead agent's load balancers stay
where they are (docs/architecture.md, "High availability"), and the heartbeats' answer
tells the agents that nothing can move, so none of them ever fences itself. A drain by
``admin_state_up=false`` still moves them (an admin's explicit order)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.api.builders import (
    FakeAgent,
    bound_host,
    hosting_agent,
    make_pool,
    make_v2_lb,
    make_vip,
    wait_for,
)
from tests.api.conftest import ServerFactory
from tests.helpers.server import Api, ServerProcess

DOWN_TIME = 2


@pytest.fixture(scope="module")
def off_server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    srv = server_factory(backend, conf={
        "DEFAULT": {"allow_automatic_lbaas_agent_failover": "false"},
        "agent": {"agent_down_time": DOWN_TIME}})
    yield srv
    srv.cleanup()


@pytest.fixture
def off(off_server: ServerProcess) -> Iterator[Api]:
    with Api(off_server.url) as api:
        yield api


def _generation(api: Api, lb_id: str) -> int:
    resp = api.get(f"/agent/v2/logical_devices/{lb_id}")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["loadbalancer"]["failover_generation"])


def test_dead_agents_load_balancers_stay_where_they_are(off: Api, physnet: str) -> None:
    dying = FakeAgent(off, [physnet]).register()
    pool = make_pool(off, physnet=physnet)
    make_vip(off, pool)
    v2_lb = make_v2_lb(off, physnet)
    generations = {i: _generation(off, i) for i in (pool["id"], v2_lb["id"])}
    survivor = FakeAgent(off, [physnet]).register()
    # dying sends nothing more: dead after DOWN_TIME; the passes run every second.
    deadline = time.monotonic() + DOWN_TIME + 4
    while time.monotonic() < deadline:
        resp = survivor.heartbeat()
        assert resp.status_code in (200, 201), resp.text
        # The agents are told nothing can move: none fences itself in a partition.
        assert resp.json()["agent"]["fencing"]["failover"] is False
        time.sleep(0.3)
    wait_for(lambda: not dying.record["alive"], timeout=5)
    assert bound_host(off, pool["id"]) == dying.host
    assert hosting_agent(off, v2_lb["id"])["host"] == dying.host  # type: ignore[index]
    assert set(dying.ready_devices()) == {pool["id"], v2_lb["id"]}
    assert survivor.ready_devices() == []
    assert {i: _generation(off, i) for i in generations} == generations


def test_drain_still_moves_them(off: Api, physnet: str) -> None:
    old = FakeAgent(off, [physnet]).register()
    lb = make_v2_lb(off, physnet)
    new = FakeAgent(off, [physnet]).register()
    resp = off.put(f"/agents/{old.record['id']}", {"agent": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text

    def drained() -> bool:
        for agent in (old, new):
            assert agent.heartbeat().status_code in (200, 201)
        found = hosting_agent(off, lb["id"])
        return found is not None and found["host"] == new.host

    wait_for(drained, timeout=10)
    assert old.ready_devices() == []
