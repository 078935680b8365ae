"""Automatic rescheduling of a dead agent's load balancers, drain by admin_state_up=false,
and DELETE of a dead agent (docs/architecture.md, "High availability"), against a real
server whose agent_down_time is 2 s: scripted agents stop heartbeating to "die".

Every test maps its own physical network, so only its own load balancers can move.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.builders import (
    FakeAgent,
    agent_pools,
    assert_error,
    bound_host,
    make_network,
    make_pool,
    make_subnet,
    make_vip,
    wait_for,
)
from tests.api.conftest import ServerFactory
from tests.helpers.server import Api, ServerProcess

DOWN_TIME = 2


@pytest.fixture(scope="module")
def ha_server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    srv = server_factory(backend, conf={"agent": {"agent_down_time": DOWN_TIME},
                                        "quotas": {"quota_pool": -1, "quota_vip": -1}})
    yield srv
    srv.cleanup()


@pytest.fixture
def ha(ha_server: ServerProcess) -> Iterator[Api]:
    with Api(ha_server.url) as api:
        yield api


def _pool_with_vip(api: Api, physnet: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pool = make_pool(api, physnet=physnet)
    vip = make_vip(api, pool)
    return pool, vip


def _keep_alive(*agents: FakeAgent) -> None:
    for agent in agents:
        assert agent.heartbeat().status_code in (200, 201)


def _device(api: Api, lb_id: str) -> dict[str, Any]:
    resp = api.get(f"/agent/v2/logical_devices/{lb_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _port_host(api: Api, port_id: str) -> str:
    resp = api.get(f"/ports/{port_id}")
    assert resp.status_code == 200, resp.text
    return str(resp.json()["port"]["binding:host_id"])


def test_dead_agents_load_balancers_move_to_a_live_agent_of_their_network(
        ha: Api, physnet: str) -> None:
    dying = FakeAgent(ha, [physnet]).register()
    pool, vip = _pool_with_vip(ha, physnet)
    net = make_network(ha, **{"provider:physical_network": physnet})
    subnet = make_subnet(ha, net["id"], cidr="10.1.0.0/24")
    resp = ha.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id":
                                                                 subnet["id"]}})
    assert resp.status_code == 201, resp.text
    v2_lb = resp.json()["loadbalancer"]
    assert bound_host(ha, pool["id"]) == dying.host
    assert _device(ha, v2_lb["id"])["host"] == dying.host
    before = _device(ha, pool["id"])["loadbalancer"]["failover_generation"]
    survivor = FakeAgent(ha, [physnet]).register()
    elsewhere = FakeAgent(ha, [physnet + "-other"]).register()

    def moved() -> bool:
        _keep_alive(survivor, elsewhere)
        return bound_host(ha, pool["id"]) == survivor.host

    # dying sends nothing more: dead after DOWN_TIME, moved by the next pass.
    wait_for(moved, timeout=DOWN_TIME + 8)
    assert set(survivor.ready_devices()) == {pool["id"], v2_lb["id"]}
    assert dying.ready_devices() == []
    assert agent_pools(ha, survivor) == [pool["id"]]  # v1 pools only
    device = _device(ha, pool["id"])
    assert device["host"] == survivor.host
    # A higher generation: an old instance of it anywhere is rebuilt, not reused.
    assert device["loadbalancer"]["failover_generation"] == before + 1
    assert _port_host(ha, vip["port_id"]) == survivor.host
    assert _device(ha, v2_lb["id"])["host"] == survivor.host
    # The returning old host cleaning up late leaves the new host's port alone.
    resp = ha.post(f"/agent/v1/ports/{vip['port_id']}/unplug", {"host": dying.host})
    assert resp.status_code in (200, 204), resp.text
    assert _port_host(ha, vip["port_id"]) == survivor.host


def test_nothing_moves_without_a_live_agent_for_the_network(ha: Api, physnet: str) -> None:
    dying = FakeAgent(ha, [physnet]).register()
    pool, _ = _pool_with_vip(ha, physnet)
    other = FakeAgent(ha, [physnet + "-other"]).register()
    deadline = time.monotonic() + DOWN_TIME + 3
    while time.monotonic() < deadline:
        _keep_alive(other)
        time.sleep(0.3)
    assert bound_host(ha, pool["id"]) == dying.host


def test_admin_down_agent_is_drained_and_told(ha: Api, physnet: str) -> None:
    old = FakeAgent(ha, [physnet]).register()
    pools = [_pool_with_vip(ha, physnet)[0]["id"] for _ in range(3)]
    new = FakeAgent(ha, [physnet]).register()
    revision = old.events(after=0, timeout=0)["revision"]
    resp = ha.put(f"/agents/{old.record['id']}", {"agent": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text

    def drained() -> bool:
        _keep_alive(old, new)
        return all(bound_host(ha, p) == new.host for p in pools)

    wait_for(drained, timeout=10)
    assert old.record["alive"] is True
    assert old.ready_devices() == []
    # The old host's revision moved on without naming anything of its own: it compares
    # its instances with its (now empty) ready list and removes them.
    events = old.events(after=revision, timeout=5)
    assert events["revision"] > revision and events["pool_ids"] == []
    # Admin-down: nothing new is scheduled to it either.
    extra, _ = _pool_with_vip(ha, physnet)
    assert bound_host(ha, extra["id"]) == new.host


def test_deleting_a_live_agent_is_refused(ha: Api, physnet: str) -> None:
    agent = FakeAgent(ha, [physnet]).register()
    err = assert_error(ha.delete(f"/agents/{agent.record['id']}"), 409)
    assert err["type"] == "AgentInUse"
    assert agent.record["alive"] is True


def test_deleting_a_dead_agent_moves_its_load_balancers_first(ha: Api, physnet: str
                                                              ) -> None:
    dead = FakeAgent(ha, [physnet]).register()
    pool, _ = _pool_with_vip(ha, physnet)
    orphan, _ = _pool_with_vip(ha, physnet)
    agent_id = dead.record["id"]
    wait_for(lambda: not dead.record["alive"], timeout=DOWN_TIME + 5)
    resp = ha.delete(f"/agents/{agent_id}")
    assert resp.status_code == 204, resp.text
    assert_error(ha.get(f"/agents/{agent_id}"), 404)
    # No agent could take them: unbound, waiting; the next agent of the network
    # that reports takes them.
    assert bound_host(ha, pool["id"]) is None
    assert_error(ha.get(f"/agent/v1/hosts/{dead.host}/ready_devices"), 404)
    newcomer = FakeAgent(ha, [physnet]).register()
    assert set(newcomer.ready_devices()) == {pool["id"], orphan["id"]}
    assert_error(ha.delete(f"/agents/{agent_id}"), 404)


def test_two_servers_never_move_one_load_balancer_twice(
        backend: str, ha_server: ServerProcess, server_factory: ServerFactory,
        physnet: str) -> None:
    if backend != "pg":
        pytest.skip("several servers share a PostgreSQL database")
    second = server_factory(backend, database_url=ha_server.database_url,
                            conf={"agent": {"agent_down_time": DOWN_TIME}})
    try:
        with Api(ha_server.url) as one, Api(second.url) as two:
            dying = FakeAgent(one, [physnet]).register()
            pools = [_pool_with_vip(one, physnet)[0]["id"] for _ in range(5)]
            generations = {p: _device(one, p)["loadbalancer"]["failover_generation"]
                           for p in pools}
            survivor = FakeAgent(two, [physnet]).register()

            def moved() -> bool:
                _keep_alive(survivor)
                return all(bound_host(one, p) == survivor.host for p in pools)

            wait_for(moved, timeout=DOWN_TIME + 10)
            time.sleep(2)  # both servers ran more passes
            for p in pools:
                assert _device(two, p)["loadbalancer"]["failover_generation"] == \
                    generations[p] + 1
            assert dying.ready_devices() == []
    finally:
        second.cleanup()
