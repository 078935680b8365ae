"""Agents: registration by heartbeat, scheduling, liveness, /v2.0/agents, and the agent
API across server crashes and several servers. (What an agent calls: test_agent_api.py.)

Every test's agents map only the test's own physical network, so the pools they see are
the test's own; the other tests' pools (on physnet "default") stay unbound.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from typing import Any

import pytest

from tests.api.builders import (
    UUID_RE,
    FakeAgent,
    agent_pools,
    assert_error,
    bound_host,
    make_member,
    make_pool,
    stats_of,
    wait_for,
)
from tests.helpers.server import Api, ServerProcess

# -- registration ----------------------------------------------------------------------


def test_heartbeat_registers_an_agent(api: Api, physnet: str) -> None:
    agent = FakeAgent(api, [physnet])
    resp = agent.heartbeat(start_flag=True, instances=0)
    assert resp.status_code in (200, 201), resp.text
    record = agent.record
    assert record["host"] == agent.host
    assert record["alive"] is True
    assert record["admin_state_up"] is True
    assert record["agent_type"] == "Loadbalancer agent"
    assert record["configurations"]["bridge_mappings"] == {physnet: "br-0"}
    assert record["configurations"]["device_drivers"] == ["haproxy_ns"]
    assert re.match(UUID_RE, record["id"])
    shown = api.get(f"/agents/{record['id']}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["agent"]["host"] == agent.host


def test_heartbeat_refreshes_instead_of_duplicating(api: Api, physnet: str) -> None:
    agent = FakeAgent(api, [physnet]).register()
    first = agent.record
    assert agent.heartbeat(instances=3).status_code in (200, 201)
    again = agent.record  # asserts there is exactly one
    assert again["id"] == first["id"]
    assert again["configurations"]["instances"] == 3


def test_agents_list_filters_and_fields(api: Api, physnet: str) -> None:
    a = FakeAgent(api, [physnet]).register()
    FakeAgent(api, [physnet]).register()
    got = api.list("agent", host=a.host)
    assert [g["host"] for g in got] == [a.host]
    [only] = api.list("agent", host=a.host, fields=["id", "alive"])
    assert set(only) == {"id", "alive"}


def test_agent_admin_state_update(api: Api, agent: FakeAgent) -> None:
    resp = api.put(f"/agents/{agent.record['id']}", {"agent": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["agent"]["admin_state_up"] is False
    assert agent.record["admin_state_up"] is False


def test_missing_agent_is_404(api: Api) -> None:
    assert_error(api.get("/agents/5a0b9f8c-0000-4000-8000-000000000000"), 404)


@pytest.mark.parametrize("body", [
    {}, {"host": ""}, {"host": "h\nx", "configurations": {}},
    {"host": "ok", "configurations": "not-a-dict"}, ["host"],
    {"host": "ok", "configurations": {"bridge_mappings": "physnet1:br-eth1"}},
    {"host": "ok", "configurations": {"bridge_mappings": ["physnet1:br-eth1"]}},
], ids=["empty", "empty-host", "newline-host", "bad-configurations", "list",
        "mappings-string", "mappings-list"])
def test_bad_heartbeat_rejected(api: Api, body: Any) -> None:
    # bridge_mappings decide scheduling: anything but {physnet: bridge} is refused
    # rather than half-understood.
    assert_error(api.post("/agent/v1/agents", body), 400)


def test_mappings_are_matched_by_name_not_substring(api: Api, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    near = FakeAgent(api, [physnet + "-x", "x" + physnet]).register()
    assert bound_host(api, pool["id"]) is None
    assert near.ready_devices() == []


# -- scheduling ------------------------------------------------------------------------


def test_pool_bound_to_the_agent_mapping_its_physnet(api: Api, physnet: str) -> None:
    mine = FakeAgent(api, [physnet]).register()
    FakeAgent(api, [physnet + "-other"]).register()
    pool = make_pool(api, physnet=physnet)
    assert bound_host(api, pool["id"]) == mine.host
    assert agent_pools(api, mine) == [pool["id"]]
    assert mine.ready_devices() == [pool["id"]]


def test_pool_goes_to_the_agent_with_fewest_pools(api: Api, physnet: str) -> None:
    a = FakeAgent(api, [physnet]).register()
    busy = make_pool(api, physnet=physnet)
    first_host = bound_host(api, busy["id"])
    b = FakeAgent(api, [physnet]).register()
    idle = b if first_host == a.host else a
    # The agent without a pool takes the next one, then they alternate.
    pool2 = make_pool(api, physnet=physnet)
    assert bound_host(api, pool2["id"]) == idle.host
    for _ in range(4):
        make_pool(api, physnet=physnet)
    assert len(agent_pools(api, a)) == len(agent_pools(api, b)) == 3


def test_admin_down_agent_gets_no_pools(api: Api, physnet: str) -> None:
    down = FakeAgent(api, [physnet]).register()
    api.put(f"/agents/{down.record['id']}", {"agent": {"admin_state_up": False}})
    up = FakeAgent(api, [physnet]).register()
    for _ in range(3):
        pool = make_pool(api, physnet=physnet)
        assert bound_host(api, pool["id"]) == up.host
    assert agent_pools(api, down) == []


def test_pool_without_agent_is_scheduled_when_one_reports(api: Api, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    assert bound_host(api, pool["id"]) is None
    shown = api.show("pool", pool["id"])
    assert shown["status"] == "PENDING_CREATE"
    assert "agent" in (shown["status_description"] or "").lower(), shown
    member = make_member(api, pool["id"])
    assert "agent" in (api.show("member", member["id"])["status_description"] or "").lower()

    agent = FakeAgent(api, [physnet]).register()
    wait_for(lambda: bound_host(api, pool["id"]) == agent.host, timeout=10)
    assert pool["id"] in agent.ready_devices()
    agent.deployed(pool["id"])
    assert api.show("pool", pool["id"])["status"] == "ACTIVE"
    assert api.show("member", member["id"])["status"] == "ACTIVE"


def test_deployed_clears_the_waiting_description(api: Api, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    assert api.show("pool", pool["id"])["status_description"]
    agent = FakeAgent(api, [physnet]).register()
    wait_for(lambda: bound_host(api, pool["id"]) == agent.host, timeout=10)
    agent.deployed(pool["id"])
    assert not api.show("pool", pool["id"])["status_description"]


def test_pool_agent_and_agent_pools_views(api: Api, agent: FakeAgent, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    resp = api.get(f"/lb/pools/{pool['id']}/loadbalancer-agent")
    assert resp.status_code == 200, resp.text
    assert resp.json()["agent"]["id"] == agent.record["id"]
    resp = api.get(f"/agents/{agent.record['id']}/loadbalancer-pools")
    assert resp.status_code == 200, resp.text
    [listed] = resp.json()["pools"]
    assert listed["id"] == pool["id"] and listed["name"] == pool["name"]


def test_ready_devices_lists_only_this_hosts_pools(api: Api, physnet: str) -> None:
    a = FakeAgent(api, [physnet]).register()
    pool_a = make_pool(api, physnet=physnet)
    b = FakeAgent(api, [physnet]).register()
    pool_b = make_pool(api, physnet=physnet)
    assert a.ready_devices() == [pool_a["id"]]
    assert b.ready_devices() == [pool_b["id"]]


# -- agent_down_time -------------------------------------------------------------------


def test_agent_is_down_after_agent_down_time(tuned_server: ServerProcess,
                                             physnet: str) -> None:
    # tuned_server: agent_down_time = 2
    api = Api(tuned_server.url, project="downtime-" + uuid.uuid4().hex[:6])
    agent = FakeAgent(api, [physnet]).register()
    assert agent.record["alive"] is True
    bound = make_pool(api, physnet=physnet)
    agent.deployed(bound["id"])
    time.sleep(3.5)
    assert agent.record["alive"] is False
    # A change to a pool whose agent is down waits, and says why.
    member = make_member(api, bound["id"])
    shown = api.show("member", member["id"])
    assert shown["status"] == "PENDING_CREATE"
    assert "agent" in (shown["status_description"] or "").lower(), shown
    # A dead agent gets no new pools; they wait, saying so.
    pool = make_pool(api, physnet=physnet)
    assert bound_host(api, pool["id"]) is None
    assert "agent" in (api.show("pool", pool["id"])["status_description"] or "").lower()
    # Back to life: it is alive again and the waiting pool is scheduled to it.
    agent.heartbeat()
    assert agent.record["alive"] is True
    wait_for(lambda: bound_host(api, pool["id"]) == agent.host, timeout=10)
    api.close()


# -- restarts, several servers, many agents --------------------------------------------


def test_bindings_revision_and_stats_survive_a_server_crash(backend: str, server_factory: Any,
                                                     physnet: str) -> None:
    # An agent keeps polling with the revision it saw last; a restarted server must
    # not make it wait for numbers it already counted. And the counters it already
    # added must not be added again.
    srv = server_factory(backend)
    try:
        with Api(srv.url, project="restart") as api:
            agent = FakeAgent(api, [physnet]).register()
            pool = make_pool(api, physnet=physnet)
            for i in range(3):
                make_member(api, pool["id"], address=f"10.0.0.{30 + i}")
            rev = agent.events(after=0, timeout=0)["revision"]
            agent.stats(pool["id"], epoch="e1", bytes_in=100, total_connections=4)
            srv.kill()  # a crash: nothing gets to flush or say goodbye
            srv.start()
            agent.stats(pool["id"], epoch="e1", bytes_in=150, total_connections=5)
            got = stats_of(api, pool["id"])
            assert (got["bytes_in"], got["total_connections"]) == (150, 5)
            agent.heartbeat()
            assert bound_host(api, pool["id"]) == agent.host
            assert agent.ready_devices() == [pool["id"]]
            make_member(api, pool["id"], address="10.0.0.40")
            start = time.monotonic()
            ev = agent.events(after=rev, timeout=5)
            assert time.monotonic() - start < 4
            assert ev["revision"] > rev
            assert pool["id"] in ev["pool_ids"]
    finally:
        srv.cleanup()


def test_two_servers_over_one_database(backend: str, server_factory: Any,
                                       physnet: str) -> None:
    if backend != "pg":
        pytest.skip("several lbaas-server processes share PostgreSQL, not SQLite")
    first = server_factory(backend)
    second = server_factory(backend, database_url=first.database_url)
    try:
        with Api(first.url, project="multi") as api_a, \
                Api(second.url, project="multi") as api_b:
            agent_b = FakeAgent(api_b, [physnet]).register()
            pool = make_pool(api_a, physnet=physnet)
            assert bound_host(api_b, pool["id"]) == agent_b.host
            rev = agent_b.events(after=0, timeout=0)["revision"]
            got: dict[str, Any] = {}

            def poll() -> None:
                with Api(second.url, project="multi") as own:
                    got["ev"] = FakeAgent(own, host=agent_b.host).events(after=rev,
                                                                         timeout=20)
                got["at"] = time.monotonic()

            waiter = threading.Thread(target=poll, daemon=True)
            waiter.start()
            time.sleep(0.5)
            changed_at = time.monotonic()
            make_member(api_a, pool["id"])  # through the other server
            waiter.join(25)
            assert not waiter.is_alive()
            # A poll on one server learns of a change made through another one
            # within a few seconds, not at its timeout.
            assert got["at"] - changed_at < 10, got
            assert got["ev"]["revision"] > rev
            assert pool["id"] in got["ev"]["pool_ids"]
            agent_b.deployed(pool["id"])
            assert api_a.show("pool", pool["id"])["status"] == "ACTIVE"
            # The schema, not one process's lock, keeps a member unique: racing creates
            # through both servers give one 201.
            body = {"member": {"pool_id": pool["id"], "address": "10.0.0.99",
                               "protocol_port": 80}}
            barrier = threading.Barrier(10)
            codes: list[int] = []

            def create(url: str) -> None:
                with Api(url, project="multi") as own:
                    own.get("/lb/pools", params={"limit": 1})
                    barrier.wait(timeout=30)
                    codes.append(own.post("/lb/members", body).status_code)

            racers = [threading.Thread(target=create, args=(srv.url,))
                      for srv in (first, second) * 5]
            for t in racers:
                t.start()
            for t in racers:
                t.join(30)
            assert sorted(codes) == [201] + [409] * 9, codes
    finally:
        second.cleanup()
        first.cleanup()


def test_many_waiting_agents_do_not_block_the_api(api: Api, physnet: str) -> None:
    # One long-poll per network host is held open for its whole timeout; fifty hosts
    # waiting at once must not leave the REST API unable to answer anyone else.
    waiters = 50
    agents = [FakeAgent(api, [physnet]).register() for _ in range(waiters)]
    revs = [a.events(after=0, timeout=0)["revision"] for a in agents]
    started = threading.Barrier(waiters + 1)

    def poll(agent: FakeAgent, rev: int) -> None:
        with Api(api.base_url, project=api.project) as own:
            started.wait(timeout=30)
            FakeAgent(own, host=agent.host).events(after=rev, timeout=3)

    threads = [threading.Thread(target=poll, args=(a, r), daemon=True)
               for a, r in zip(agents, revs, strict=True)]
    for t in threads:
        t.start()
    started.wait(timeout=30)
    time.sleep(0.5)  # let every poll reach the server
    try:
        t0 = time.monotonic()
        assert api.get("/lb/pools", params={"tenant_id": api.project}).status_code == 200
        assert agents[0].heartbeat().status_code in (200, 201)
        elapsed = time.monotonic() - t0
    finally:
        for t in threads:
            t.join(20)
    assert elapsed < 2.5, f"the API waited {elapsed:.1f}s behind {waiters} long-polls"
