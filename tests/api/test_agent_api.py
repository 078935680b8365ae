"""The agent API (docs/architecture.md: v1's plugin RPC over HTTP) as an agent drives it: events,
logical devices, confirmations, status, stats and VIP port binding.

Every test's agents map only the test's own physical network, so the pools they see are
the test's own; the other tests' pools (on physnet "default") stay unbound.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.api.builders import (
    FakeAgent,
    agent_pools,
    assert_error,
    associate,
    bound_host,
    make_member,
    make_monitor,
    make_network,
    make_pool,
    make_subnet,
    make_vip,
    stats_of,
)
from tests.helpers.server import Api

# -- events long-poll ------------------------------------------------------------------


def test_events_return_at_once_when_behind(api: Api, agent: FakeAgent, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    start = time.monotonic()
    ev = agent.events(after=0, timeout=20)
    assert time.monotonic() - start < 5
    assert ev["revision"] > 0
    assert pool["id"] in ev["pool_ids"]


def test_events_wait_when_up_to_date(api: Api, agent: FakeAgent, physnet: str) -> None:
    make_pool(api, physnet=physnet)
    rev = agent.events(after=0, timeout=0)["revision"]
    start = time.monotonic()
    ev = agent.events(after=rev, timeout=1.5)
    elapsed = time.monotonic() - start
    assert 1.2 <= elapsed < 10, elapsed
    assert ev["revision"] == rev
    assert ev["pool_ids"] == []


def test_events_wake_on_a_change(api: Api, agent: FakeAgent, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    rev = agent.events(after=0, timeout=0)["revision"]
    got: dict[str, Any] = {}

    def poll() -> None:
        # Its own client: httpx clients are not shared across threads.
        other = FakeAgent(api.as_(project=api.project), host=agent.host)
        got["ev"] = other.events(after=rev, timeout=20)
        got["at"] = time.monotonic()
        other.api.close()

    waiter = threading.Thread(target=poll, daemon=True)
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive(), "the poll returned before anything changed"
    changed_at = time.monotonic()
    make_member(api, pool["id"])
    waiter.join(15)
    assert not waiter.is_alive()
    assert got["at"] - changed_at < 5
    assert got["ev"]["revision"] > rev
    assert got["ev"]["pool_ids"] == [pool["id"]]


@pytest.mark.parametrize("change", ["update_pool", "member", "monitor", "vip", "delete"])
def test_every_change_bumps_the_revision(api: Api, agent: FakeAgent, physnet: str,
                                         change: str) -> None:
    pool = make_pool(api, physnet=physnet)
    rev = agent.events(after=0, timeout=0)["revision"]
    if change == "update_pool":
        api.update("pool", pool["id"], lb_method="SOURCE_IP")
    elif change == "member":
        make_member(api, pool["id"])
    elif change == "monitor":
        assert associate(api, pool["id"], make_monitor(api)["id"]).status_code == 201
    elif change == "vip":
        make_vip(api, pool)
    else:
        api.remove("pool", pool["id"])
    ev = agent.events(after=rev, timeout=5)
    assert ev["revision"] > rev
    assert pool["id"] in ev["pool_ids"]


def test_monitor_update_bumps_the_revision_of_its_pools(api: Api, agent: FakeAgent,
                                                        physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    rev = agent.events(after=0, timeout=0)["revision"]
    api.update("health_monitor", hm["id"], delay=9)
    ev = agent.events(after=rev, timeout=5)
    assert ev["revision"] > rev and pool["id"] in ev["pool_ids"]


def test_member_move_wakes_both_hosts(api: Api, physnet: str) -> None:
    a = FakeAgent(api, [physnet]).register()
    pool_a = make_pool(api, physnet=physnet)
    b = FakeAgent(api, [physnet]).register()
    pool_b = make_pool(api, physnet=physnet)
    assert (bound_host(api, pool_a["id"]), bound_host(api, pool_b["id"])) == (a.host, b.host)
    member = make_member(api, pool_a["id"])
    rev_a = a.events(after=0, timeout=0)["revision"]
    rev_b = b.events(after=0, timeout=0)["revision"]
    api.update("member", member["id"], pool_id=pool_b["id"])
    ev_a, ev_b = a.events(after=rev_a, timeout=5), b.events(after=rev_b, timeout=5)
    assert ev_a["revision"] > rev_a and pool_a["id"] in ev_a["pool_ids"]
    assert ev_b["revision"] > rev_b and pool_b["id"] in ev_b["pool_ids"]
    assert [m["id"] for m in b.logical_device(pool_b["id"])["members"]] == [member["id"]]
    assert a.logical_device(pool_a["id"])["members"] == []


def test_the_agents_own_reports_do_not_wake_it(api: Api, agent: FakeAgent,
                                               physnet: str) -> None:
    # Confirmations, status and stats come from the agent; if they bumped its revision
    # it would re-fetch, re-confirm and spin.
    pool = make_pool(api, physnet=physnet)
    member = make_member(api, pool["id"])
    vip = make_vip(api, pool)
    agent.logical_device(pool["id"])
    agent.deployed(pool["id"])
    rev = agent.events(after=0, timeout=0)["revision"]
    agent.plug(vip["port_id"])
    agent.update_status("member", member["id"], "INACTIVE", "down")
    agent.stats(pool["id"], epoch="e", bytes_in=10, members={member["id"]: {"status": "ACTIVE"}})
    agent.heartbeat(instances=1)
    agent.ready_devices()
    start = time.monotonic()
    ev = agent.events(after=rev, timeout=1.5)
    assert (ev["revision"], ev["pool_ids"]) == (rev, [])
    assert time.monotonic() - start >= 1.2


@pytest.mark.parametrize("params", [{"after": "x", "timeout": 1}, {"after": 0, "timeout": -1},
                                    {"after": 0, "timeout": "long"}])
def test_bad_events_parameters_rejected(api: Api, agent: FakeAgent, params: dict) -> None:
    assert_error(api.get(f"/agent/v1/hosts/{agent.host}/events", params=params), 400)


# -- logical device --------------------------------------------------------------------


def test_logical_device_shape(api: Api, agent: FakeAgent, physnet: str) -> None:
    net = make_network(api, **{"provider:physical_network": physnet,
                               "provider:network_type": "vlan",
                               "provider:segmentation_id": 123})
    routes = [{"destination": "0.0.0.0/0", "nexthop": "10.100.0.254"}]
    sub = make_subnet(api, net["id"], cidr="10.100.0.0/24", host_routes=routes)
    pool = make_pool(api, sub["id"], protocol="HTTP", lb_method="LEAST_CONNECTIONS")
    m1 = make_member(api, pool["id"], address="10.100.0.11", weight=3)
    m2 = make_member(api, pool["id"], address="10.100.0.12", admin_state_up=False)
    hm = make_monitor(api, type="HTTP", url_path="/healthz")
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    vip = make_vip(api, pool, protocol_port=8080,
                   session_persistence={"type": "APP_COOKIE", "cookie_name": "SID"})

    ld = agent.logical_device(pool["id"])
    assert ld["driver"] == "haproxy_ns"
    assert ld["pool"]["id"] == pool["id"]
    assert ld["pool"]["lb_method"] == "LEAST_CONNECTIONS"
    assert ld["pool"]["protocol"] == "HTTP"

    v = ld["vip"]
    assert v["id"] == vip["id"]
    assert v["address"] == vip["address"]
    assert v["protocol_port"] == 8080
    assert v["session_persistence"] == {"type": "APP_COOKIE", "cookie_name": "SID"}
    port = v["port"]
    api_port = api.show("port", vip["port_id"])
    assert port["id"] == vip["port_id"]
    assert port["mac_address"] == api_port["mac_address"]
    assert port["network_id"] == net["id"]
    assert isinstance(port["admin_state_up"], bool)
    [fixed] = port["fixed_ips"]
    assert fixed["subnet_id"] == sub["id"]
    assert fixed["ip_address"] == vip["address"]
    assert fixed["subnet"]["id"] == sub["id"]
    assert fixed["subnet"]["cidr"] == "10.100.0.0/24"
    assert fixed["subnet"]["ip_version"] == 4
    assert fixed["subnet"]["gateway_ip"] == "10.100.0.1"
    assert fixed["subnet"]["host_routes"] == routes
    assert port["network"]["id"] == net["id"]
    assert port["network"]["provider:physical_network"] == physnet
    assert port["network"]["provider:network_type"] == "vlan"
    assert port["network"]["provider:segmentation_id"] == 123

    members = {m["id"]: m for m in ld["members"]}
    assert set(members) == {m1["id"], m2["id"]}
    assert members[m1["id"]]["weight"] == 3
    assert members[m1["id"]]["address"] == "10.100.0.11"
    assert members[m2["id"]]["admin_state_up"] is False

    [mon] = ld["healthmonitors"]
    assert mon["id"] == hm["id"]
    assert mon["type"] == "HTTP"
    assert mon["url_path"] == "/healthz"


def test_logical_device_without_vip(api: Api, agent: FakeAgent, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    ld = agent.logical_device(pool["id"])
    assert ld["pool"]["id"] == pool["id"]
    assert not ld.get("vip")
    assert ld["members"] == [] and ld["healthmonitors"] == []


def test_logical_device_leaves_out_what_is_being_deleted(api: Api, agent: FakeAgent,
                                                         physnet: str) -> None:
    # The agent realizes the device as given; a member still listed while PENDING_DELETE
    # would keep serving after the server dropped its row.
    pool = make_pool(api, physnet=physnet)
    keep = make_member(api, pool["id"], address="10.0.0.61")
    drop = make_member(api, pool["id"], address="10.0.0.62")
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    vip = make_vip(api, pool)
    agent.deployed(pool["id"])
    api.remove("member", drop["id"])
    assert api.delete(f"/lb/pools/{pool['id']}/health_monitors/{hm['id']}").status_code == 204
    ld = agent.logical_device(pool["id"])
    assert [m["id"] for m in ld["members"]] == [keep["id"]]
    assert ld["healthmonitors"] == []
    api.remove("vip", vip["id"])
    # A VIP on its way out is shown as such: the agent undeploys the instance.
    ld = agent.logical_device(pool["id"])
    assert not ld.get("vip") or ld["vip"]["status"] == "PENDING_DELETE"


def test_logical_device_of_missing_pool_is_404(api: Api) -> None:
    assert_error(api.get("/agent/v1/logical_devices/5a0b9f8c-0000-4000-8000-000000000001"), 404)


# -- confirmations ---------------------------------------------------------------------


def test_pool_deployed_activates_everything_pending(api: Api, agent: FakeAgent,
                                                    physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    member = make_member(api, pool["id"])
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    vip = make_vip(api, pool)
    agent.deployed(pool["id"])
    assert api.show("pool", pool["id"])["status"] == "ACTIVE"
    assert api.show("vip", vip["id"])["status"] == "ACTIVE"
    assert api.show("member", member["id"])["status"] == "ACTIVE"
    [st] = api.show("pool", pool["id"])["health_monitors_status"]
    assert st["status"] == "ACTIVE"


def test_confirmation_of_an_older_device_confirms_nothing(api: Api, agent: FakeAgent,
                                                          physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    ld = agent.logical_device(pool["id"])
    assert isinstance(ld["revision"], int)
    # The pool changes while the agent is realizing the device it fetched.
    member = make_member(api, pool["id"])
    agent.deployed(pool["id"], revision=ld["revision"])
    assert api.show("member", member["id"])["status"] == "PENDING_CREATE"
    assert api.show("pool", pool["id"])["status"] == "PENDING_CREATE"
    newer = agent.logical_device(pool["id"])
    assert newer["revision"] > ld["revision"]
    assert [m["id"] for m in newer["members"]] == [member["id"]]
    agent.deployed(pool["id"], revision=newer["revision"])
    assert api.show("member", member["id"])["status"] == "ACTIVE"
    assert api.show("pool", pool["id"])["status"] == "ACTIVE"


@pytest.mark.parametrize("revision", [-1, "new", [1]])
def test_bad_deployed_revision_rejected(api: Api, agent: FakeAgent, physnet: str,
                                        revision: Any) -> None:
    pool = make_pool(api, physnet=physnet)
    resp = api.post(f"/agent/v1/pools/{pool['id']}/deployed", {"revision": revision})
    assert_error(resp, 400)
    assert api.show("pool", pool["id"])["status"] == "PENDING_CREATE"


def test_pool_destroyed_deletes_a_pending_delete_pool(api: Api, agent: FakeAgent,
                                                      physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    member = make_member(api, pool["id"])
    agent.deployed(pool["id"])
    api.remove("pool", pool["id"])
    assert api.show("pool", pool["id"])["status"] == "PENDING_DELETE"
    # Still bound until it is gone: the agent must learn about it.
    assert pool["id"] in agent.ready_devices()
    agent.destroyed(pool["id"])
    assert_error(api.get(f"/lb/pools/{pool['id']}"), 404)
    assert_error(api.get(f"/lb/members/{member['id']}"), 404)
    assert pool["id"] not in agent.ready_devices()
    assert agent_pools(api, agent) == []


def test_pool_destroyed_keeps_a_live_pool(api: Api, agent: FakeAgent, physnet: str) -> None:
    # An agent reporting it has nothing left (e.g. after a host reboot) deletes nothing.
    pool = make_pool(api, physnet=physnet)
    agent.deployed(pool["id"])
    agent.destroyed(pool["id"])
    assert api.show("pool", pool["id"])["id"] == pool["id"]


def test_destroyed_pool_releases_its_monitors(api: Api, agent: FakeAgent,
                                              physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    agent.deployed(pool["id"])
    api.remove("pool", pool["id"])
    agent.destroyed(pool["id"])
    assert api.show("health_monitor", hm["id"])["pools"] == []
    api.remove("health_monitor", hm["id"])


@pytest.mark.parametrize("body", [
    {"obj_type": "listener", "obj_id": "x", "status": "ACTIVE"},
    {"obj_type": "pool", "status": "ACTIVE"},
    {"obj_type": "pool", "obj_id": "5a0b9f8c-0000-4000-8000-000000000002", "status": "HAPPY"},
], ids=["bad-type", "no-id", "bad-status"])
def test_bad_update_status_rejected(api: Api, body: dict) -> None:
    assert_error(api.post("/agent/v1/status", body), 400)


# -- stats -----------------------------------------------------------------------------


def test_stats_accumulate_across_epochs(api: Api, agent: FakeAgent, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    agent.deployed(pool["id"])
    e1, e2 = uuid.uuid4().hex, uuid.uuid4().hex
    agent.stats(pool["id"], epoch=e1, bytes_in=100, bytes_out=200, active_connections=3,
                total_connections=10)
    assert stats_of(api, pool["id"]) == {"bytes_in": 100, "bytes_out": 200,
                                         "active_connections": 3, "total_connections": 10}
    # Same epoch: HAProxy's counters grew; the server adds the difference.
    agent.stats(pool["id"], epoch=e1, bytes_in=150, bytes_out=260, active_connections=1,
                total_connections=12)
    assert stats_of(api, pool["id"]) == {"bytes_in": 150, "bytes_out": 260,
                                         "active_connections": 1, "total_connections": 12}
    # New epoch (a new HAProxy process, counters from zero): nothing is lost.
    agent.stats(pool["id"], epoch=e2, bytes_in=30, bytes_out=40, active_connections=2,
                total_connections=5)
    assert stats_of(api, pool["id"]) == {"bytes_in": 180, "bytes_out": 300,
                                         "active_connections": 2, "total_connections": 17}
    agent.stats(pool["id"], epoch=e2, bytes_in=50, bytes_out=50, active_connections=0,
                total_connections=6)
    assert stats_of(api, pool["id"]) == {"bytes_in": 200, "bytes_out": 310,
                                         "active_connections": 0, "total_connections": 18}
    # The same report twice counts once.
    agent.stats(pool["id"], epoch=e2, bytes_in=50, bytes_out=50, active_connections=0,
                total_connections=6)
    assert stats_of(api, pool["id"])["bytes_in"] == 200


def test_stats_counters_are_64_bit(api: Api, agent: FakeAgent, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    big = 2**40 + 7
    agent.stats(pool["id"], epoch="e", bytes_in=big, bytes_out=big * 2,
                total_connections=2**33)
    got = stats_of(api, pool["id"])
    assert (got["bytes_in"], got["bytes_out"], got["total_connections"]) == (
        big, big * 2, 2**33)


def test_stats_carry_member_health(api: Api, agent: FakeAgent, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    m1 = make_member(api, pool["id"], address="10.0.0.21")
    m2 = make_member(api, pool["id"], address="10.0.0.22")
    agent.deployed(pool["id"])
    agent.stats(pool["id"], epoch="e", members={m1["id"]: {"status": "INACTIVE"},
                                                  m2["id"]: {"status": "ACTIVE"}})
    assert api.show("member", m1["id"])["status"] == "INACTIVE"
    assert api.show("member", m2["id"])["status"] == "ACTIVE"
    agent.stats(pool["id"], epoch="e", members={m1["id"]: {"status": "ACTIVE"}})
    assert api.show("member", m1["id"])["status"] == "ACTIVE"


def test_member_health_in_stats_does_not_undo_a_pending_change(api: Api, agent: FakeAgent,
                                                               physnet: str) -> None:
    # Stats flow every few seconds; a member's health must not overwrite the pending
    # state the agent has still to realize (a lost PENDING_DELETE would keep the member
    # forever).
    pool = make_pool(api, physnet=physnet)
    gone = make_member(api, pool["id"], address="10.0.0.51")
    changed = make_member(api, pool["id"], address="10.0.0.52")
    agent.deployed(pool["id"])
    api.remove("member", gone["id"])
    api.update("member", changed["id"], weight=7)
    agent.stats(pool["id"], epoch="e", members={gone["id"]: {"status": "ACTIVE"},
                                                  changed["id"]: {"status": "ACTIVE"}})
    assert api.show("member", gone["id"])["status"] == "PENDING_DELETE"
    assert api.show("member", changed["id"])["status"] == "PENDING_UPDATE"
    agent.deployed(pool["id"])
    assert_error(api.get(f"/lb/members/{gone['id']}"), 404)
    assert api.show("member", changed["id"])["status"] == "ACTIVE"


@pytest.mark.parametrize("stats", [
    {"bytes_in": -1, "epoch": "e"}, {"bytes_in": "lots", "epoch": "e"}, "not-a-dict",
], ids=["negative", "string", "not-object"])
def test_bad_stats_rejected(api: Api, agent: FakeAgent, physnet: str, stats: Any) -> None:
    pool = make_pool(api, physnet=physnet)
    resp = api.post(f"/agent/v1/pools/{pool['id']}/stats", {"stats": stats, "host": agent.host})
    assert_error(resp, 400)


# -- VIP port binding ------------------------------------------------------------------


def test_plug_and_unplug_bind_the_vip_port(api: Api, agent: FakeAgent, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    vip = make_vip(api, pool)
    agent.plug(vip["port_id"])
    port = api.show("port", vip["port_id"])
    assert port["binding:host_id"] == agent.host
    assert port["admin_state_up"] is True
    agent.unplug(vip["port_id"])
    assert api.show("port", vip["port_id"])["binding:host_id"] in ("", None)


def test_plug_missing_port_is_404(api: Api, agent: FakeAgent) -> None:
    resp = api.post("/agent/v1/ports/5a0b9f8c-0000-4000-8000-000000000004/plug",
                    {"host": agent.host})
    assert_error(resp, 404)


# -- never a 500 from the agent API ----------------------------------------------------


ODD: list[Any] = [None, True, 1.5, -1, 2**63, "", "x" * 300, "\n", [], {"a": 1}]


def test_odd_agent_api_bodies_never_cause_a_500(api: Api, agent: FakeAgent,
                                                physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    member = make_member(api, pool["id"])
    vip = make_vip(api, pool)
    # A pool waiting for an agent: every heartbeat tries to schedule it.
    make_pool(api, physnet=physnet + "-unmapped")
    hb: dict[str, Any] = {"host": agent.host, "start_flag": False, "configurations": {
        "device_drivers": ["haproxy_ns"], "bridge_mappings": {physnet: "br"}, "instances": 0}}
    status = {"obj_type": "member", "obj_id": member["id"], "status": "ACTIVE",
              "status_description": None}
    stats = {"bytes_in": 1, "bytes_out": 1, "active_connections": 1, "total_connections": 1,
             "epoch": "e", "members": {}}
    cases: list[tuple[str, Any]] = []
    for v in ODD:
        cases += [("/agent/v1/agents", {**hb, k: v}) for k in hb]
        cases += [("/agent/v1/agents", {**hb, "configurations": {**hb["configurations"], k: v}})
                  for k in ("device_drivers", "bridge_mappings", "instances")]
        cases += [("/agent/v1/status", {**status, k: v}) for k in status]
        cases += [(f"/agent/v1/pools/{pool['id']}/stats", {"host": agent.host,
                                                           "stats": {**stats, k: v}})
                  for k in stats]
        cases += [(f"/agent/v1/pools/{pool['id']}/stats", {"host": agent.host, "stats": {
            **stats, "members": {member["id"]: {"status": v}}}}),
            (f"/agent/v1/ports/{vip['port_id']}/plug", {"host": v}),
            (f"/agent/v1/ports/{vip['port_id']}/unplug", {"host": v}),
            (f"/agent/v1/pools/{pool['id']}/deployed", {"revision": v}),
            (f"/agent/v1/pools/{pool['id']}/deployed", v),
            (f"/agent/v1/pools/{pool['id']}/destroyed", v)]
    for obj_id in ("x/y/z", pool["id"], "x", f"{pool['id']}/x"):
        cases.append(("/agent/v1/status", {"obj_type": "health_monitor", "obj_id": obj_id,
                                           "status": "ERROR", "status_description": "d"}))
    bad: list[str] = []
    for path, body in cases:
        try:
            resp = api.post(path, body)
        except httpx.TransportError as exc:
            # The server dropped the connection (what it does after a 500).
            bad.append(f"{path} {body!r:.100} → {exc!r}")
            api.close()
            api = api.as_(project=api.project)
            continue
        if resp.status_code >= 500 or (resp.status_code >= 400 and set(
                resp.json()) != {"NeutronError"}):
            bad.append(f"{path} {body!r:.300} → {resp.status_code} {resp.text[:120]}")
    assert not bad, "\n".join(bad)


def test_logical_device_says_whether_a_confirmation_is_due(api: Api, agent: FakeAgent,
                                                           physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    member = make_member(api, pool["id"], address="10.0.0.71")
    make_vip(api, pool)
    assert agent.logical_device(pool["id"])["pending"] is True
    agent.deployed(pool["id"])
    assert agent.logical_device(pool["id"])["pending"] is False
    # A delete waits for the agent although the member is no longer in the device.
    api.remove("member", member["id"])
    ld = agent.logical_device(pool["id"])
    assert ld["members"] == [] and ld["pending"] is True


# -- the typed logical device (/agent/v2) ------------------------------------------------


def test_typed_logical_device_is_the_pool_as_a_load_balancer(api: Api, agent: FakeAgent,
                                                             physnet: str) -> None:
    from lbaas.common.logical_device import LogicalDevice, from_v1
    from lbaas.common.request_id import is_valid as is_request_id

    net = make_network(api, **{"provider:physical_network": physnet,
                               "provider:network_type": "vlan",
                               "provider:segmentation_id": 124})
    sub = make_subnet(api, net["id"], cidr="10.101.0.0/24")
    pool = make_pool(api, sub["id"], protocol="HTTP", lb_method="LEAST_CONNECTIONS")
    m1 = make_member(api, pool["id"], address="10.101.0.11", weight=3)
    hm = make_monitor(api, type="HTTP", url_path="/healthz", max_retries=5)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    vip = make_vip(api, pool, protocol_port=8080, connection_limit=100,
                   session_persistence={"type": "HTTP_COOKIE"})

    body = agent.typed_logical_device(pool["id"])
    # Exactly the v1 device through from_v1, on the wire with Neutron's names, and the
    # id of the request that made the last change (the VIP's create), for the agent's log.
    expected = from_v1(agent.logical_device(pool["id"])).model_dump(mode="json",
                                                                    by_alias=True)
    assert expected.pop("request_id") is None  # not in the v1 dict: /agent/v1 unchanged
    assert is_request_id(body.pop("request_id"))
    # The host it is bound to (not in the v1 dict either): a host it moved away from
    # removes its instance.
    assert expected.pop("host") is None
    assert body.pop("host") == agent.host
    assert body == expected
    body["host"] = agent.host
    device = LogicalDevice.model_validate(body)
    assert device.id == pool["id"] and device.pending is True
    lb = device.loadbalancer
    assert lb is not None
    assert (lb.id, lb.vip_address, lb.vip_port.id) == (pool["id"], vip["address"],
                                                       vip["port_id"])
    assert body["loadbalancer"]["vip_port"]["network"]["provider:segmentation_id"] == 124
    [listener] = lb.listeners
    assert (listener.id, listener.protocol_port, listener.connection_limit,
            listener.default_pool_id) == (vip["id"], 8080, 100, pool["id"])
    assert listener.insert_headers == {"X-Forwarded-For": "true"}
    [lb_pool] = lb.pools
    assert (lb_pool.lb_algorithm, lb_pool.session_persistence.type) == (
        "LEAST_CONNECTIONS", "HTTP_COOKIE")
    assert [(m.id, m.weight) for m in lb_pool.members] == [(m1["id"], 3)]
    assert lb_pool.healthmonitor is not None
    assert (lb_pool.healthmonitor.id, lb_pool.healthmonitor.max_retries,
            lb_pool.healthmonitor.max_retries_down) == (hm["id"], 5, 5)


def test_typed_logical_device_without_vip_serves_nothing(api: Api, agent: FakeAgent,
                                                         physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    body = agent.typed_logical_device(pool["id"])
    assert body["id"] == pool["id"]
    assert body["loadbalancer"] is None


def test_typed_logical_device_of_a_pool_being_deleted_is_404(api: Api, agent: FakeAgent,
                                                             physnet: str) -> None:
    # The agent destroys and confirms with pool_destroyed, which deletes the pool.
    pool = make_pool(api, physnet=physnet)
    vip = make_vip(api, pool)
    agent.deployed(pool["id"])
    api.remove("vip", vip["id"])
    assert agent.typed_logical_device(pool["id"])["loadbalancer"] is None
    agent.deployed(pool["id"])
    assert api.delete(f"/lb/pools/{pool['id']}").status_code == 204
    assert agent.logical_device(pool["id"])["pool"]["status"] == "PENDING_DELETE"
    err = assert_error(api.get(f"/agent/v2/logical_devices/{pool['id']}"), 404)
    assert err["type"] == "PoolNotFound"


def test_typed_logical_device_of_missing_pool_is_404(api: Api) -> None:
    err = assert_error(
        api.get("/agent/v2/logical_devices/5a0b9f8c-0000-4000-8000-000000000002"), 404)
    assert err["type"] == "PoolNotFound"
