"""ACTIVE_STANDBY on the server (docs/architecture.md, "ACTIVE_STANDBY"): two amphorae on
two agents with their own VRRP ports, both hosts told of every change, the typed device
with its amphorae and VRRP group, per-amphora confirmations, the VRRP state from the
stats, the amphora API, failover (role swap) and host failure, against a real server
whose default topology is ACTIVE_STANDBY and whose agent_down_time is 2 s.

Every test maps its own physical network, so only its own load balancers are placed on
its agents.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.builders import (
    FakeAgent,
    assert_error,
    make_network,
    make_pool,
    make_subnet,
    make_vip,
    wait_for,
)
from tests.api.conftest import ServerFactory
from tests.helpers.server import Api, ServerProcess

DOWN_TIME = 2
LBS = "/v2/lbaas/loadbalancers"
AMPHORAE = "/v2/octavia/amphorae"


@pytest.fixture(scope="module")
def as_server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    srv = server_factory(backend, conf={
        "DEFAULT": {"loadbalancer_topology": "ACTIVE_STANDBY"},
        "keepalived_vrrp": {"vrrp_advert_int_ms": 200},
        "agent": {"agent_down_time": DOWN_TIME},
        "quotas": {"quota_pool": -1, "quota_vip": -1}})
    yield srv
    srv.cleanup()


@pytest.fixture
def asa(as_server: ServerProcess) -> Iterator[Api]:
    with Api(as_server.url) as api:
        yield api


def _subnet(api: Api, physnet: str, cidr: str = "10.1.0.0/24") -> dict[str, Any]:
    net = make_network(api, **{"provider:physical_network": physnet})
    return make_subnet(api, net["id"], cidr=cidr)


def _lb(api: Api, subnet: dict[str, Any], **extra: Any) -> dict[str, Any]:
    resp = api.post(LBS, {"loadbalancer": {"vip_subnet_id": subnet["id"], **extra}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["loadbalancer"])


def _get_lb(api: Api, lb_id: str) -> dict[str, Any]:
    resp = api.get(f"{LBS}/{lb_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["loadbalancer"])


def _device(api: Api, lb_id: str) -> dict[str, Any]:
    resp = api.get(f"/agent/v2/logical_devices/{lb_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _amphorae(api: Api, lb_id: str) -> list[dict[str, Any]]:
    resp = api.get(AMPHORAE, params={"loadbalancer_id": lb_id})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["amphorae"])


def _by_role(amps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["role"]: a for a in amps}


def _deployed(agent: FakeAgent, lb_id: str, revision: int) -> None:
    resp = agent.api.post(f"/agent/v1/pools/{lb_id}/deployed",
                          {"revision": revision, "host": agent.host})
    assert resp.status_code == 204, resp.text


def _confirm_both(api: Api, lb_id: str, *agents: FakeAgent) -> None:
    rev = _device(api, lb_id)["revision"]
    for agent in agents:
        _deployed(agent, lb_id, rev)


def _keep_alive(*agents: FakeAgent) -> None:
    for agent in agents:
        assert agent.heartbeat().status_code in (200, 201)


def _two_agents(api: Api, physnet: str) -> tuple[FakeAgent, FakeAgent]:
    return FakeAgent(api, [physnet]).register(), FakeAgent(api, [physnet]).register()


def test_two_amphorae_on_two_agents_with_their_own_ports(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    subnet = _subnet(asa, physnet)
    lb = _lb(asa, subnet)
    assert lb["provisioning_status"] == "PENDING_CREATE"
    device = _device(asa, lb["id"])
    assert device["host"] is None
    got = device["loadbalancer"]
    assert got["topology"] == "ACTIVE_STANDBY"
    assert got["vrrp"] == {"vrid": 1, "advert_int_ms": 200, "preempt": False}
    amps = {amp["role"]: amp for amp in got["amphorae"]}
    assert {amp["host"] for amp in amps.values()} == {a.host, b.host}
    assert (amps["MASTER"]["vrrp_priority"], amps["BACKUP"]["vrrp_priority"]) == (100, 90)
    vip = got["vip_address"]
    macs = {got["vip_port"]["mac_address"]}
    addresses = {vip}
    for amp in amps.values():
        port = asa.get(f"/ports/{amp['vrrp_port']['id']}").json()["port"]
        assert port["name"] == f"octavia-lb-vrrp-{amp['id']}"
        assert port["device_id"] == amp["id"]
        assert port["binding:host_id"] == amp["host"]
        assert port["allowed_address_pairs"] == [
            {"ip_address": vip, "mac_address": port["mac_address"]}]
        assert port["fixed_ips"][0]["subnet_id"] == subnet["id"]
        macs.add(port["mac_address"])
        addresses.add(port["fixed_ips"][0]["ip_address"])
    assert len(macs) == 3 and len(addresses) == 3
    # Both hosts list it.
    assert lb["id"] in a.ready_devices() and lb["id"] in b.ready_devices()
    # A tenant may not delete an amphora's port.
    port_id = amps["MASTER"]["vrrp_port"]["id"]
    assert_error(asa.delete(f"/ports/{port_id}"), 409)


def test_active_after_both_amphorae_confirmed(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    rev = _device(asa, lb["id"])["revision"]
    _deployed(a, lb["id"], rev)
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "PENDING_CREATE"
    _deployed(b, lb["id"], rev)
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "ACTIVE"


def test_a_confirmation_without_host_settles_as_for_single(asa: Api, physnet: str) -> None:
    a, _ = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    a.deployed(lb["id"], _device(asa, lb["id"])["revision"])
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "ACTIVE"


def test_a_dead_agents_amphora_does_not_hold_the_load_balancer(
        asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    time.sleep(DOWN_TIME + 0.5)
    _keep_alive(a)
    # b is dead (and, with a single live agent, nowhere to go): a's word is enough.
    _deployed(a, lb["id"], _device(asa, lb["id"])["revision"])
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "ACTIVE"


def test_every_change_wakes_both_hosts(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    before = {ag.host: ag.events(0, 0)["revision"] for ag in (a, b)}
    resp = asa.put(f"{LBS}/{lb['id']}", {"loadbalancer": {"name": "x"}})
    assert resp.status_code == 200, resp.text
    for agent in (a, b):
        ev = agent.events(before[agent.host], 5)
        assert ev["pool_ids"] == [lb["id"]]
        assert ev["revision"] > before[agent.host]
    # Device revision above both stamps: a confirmation of it settles.
    _confirm_both(asa, lb["id"], a, b)
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "ACTIVE"


def test_one_agent_is_not_enough(asa: Api, physnet: str) -> None:
    only = FakeAgent(asa, [physnet]).register()
    lb = _lb(asa, _subnet(asa, physnet))
    assert only.ready_devices() == []
    amps = _amphorae(asa, lb["id"])
    assert {a["status"] for a in amps} == {"PENDING_CREATE"}
    # A second agent's heartbeat places both.
    second = FakeAgent(asa, [physnet]).register()
    assert only.ready_devices() == [lb["id"]] and second.ready_devices() == [lb["id"]]
    assert {a["status"] for a in _amphorae(asa, lb["id"])} == {"ALLOCATED"}


def test_delete_frees_the_amphora_ports(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    ports = [amp["vrrp_port_id"] for amp in _amphorae(asa, lb["id"])]
    assert asa.delete(f"{LBS}/{lb['id']}").status_code == 204
    a.destroyed(lb["id"])
    assert asa.get(f"{LBS}/{lb['id']}").status_code == 404
    for port_id in ports:
        assert asa.get(f"/ports/{port_id}").status_code == 404
    assert _amphorae(asa, lb["id"]) == []


def test_vrrp_ids_differ_per_network(asa: Api, physnet: str) -> None:
    _two_agents(asa, physnet)
    subnet = _subnet(asa, physnet)
    first, second = _lb(asa, subnet), _lb(asa, subnet)
    vrids = {_device(asa, lb["id"])["loadbalancer"]["vrrp"]["vrid"]
             for lb in (first, second)}
    assert vrids == {1, 2}
    other = _lb(asa, _subnet(asa, physnet, cidr="10.2.0.0/24"))
    assert _device(asa, other["id"])["loadbalancer"]["vrrp"]["vrid"] == 1


def test_a_flavor_says_single(asa: Api, physnet: str) -> None:
    a, _ = _two_agents(asa, physnet)
    profile = asa.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": f"p-{physnet}", "provider_name": "amphora",
        "flavor_data": '{"loadbalancer_topology": "SINGLE"}'}}).json()["flavorprofile"]
    flavor = asa.post("/v2/lbaas/flavors", {"flavor": {
        "name": f"f-{physnet}", "flavor_profile_id": profile["id"]}}).json()["flavor"]
    lb = _lb(asa, _subnet(asa, physnet), flavor_id=flavor["id"])
    device = _device(asa, lb["id"])
    assert device["loadbalancer"]["topology"] == "SINGLE"
    assert device["host"] is not None and device["loadbalancer"]["amphorae"] == []
    amps = _amphorae(asa, lb["id"])
    assert [(x["role"], x["status"]) for x in amps] == [("STANDALONE", "ALLOCATED")]


def _report(api: Api, agent: FakeAgent, lb_id: str, amphora_id: str, state: str,
            listener_id: str, bytes_in: int) -> Any:
    return api.post(f"/agent/v1/pools/{lb_id}/stats", {"host": agent.host, "stats": {
        "epoch": agent.host, "listeners": {listener_id: {"bytes_in": bytes_in}},
        "amphora": {"id": amphora_id, "vrrp_state": state}}})


def test_stats_record_the_vrrp_state_and_count_the_master_only(
        asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    resp = asa.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 80}})
    assert resp.status_code == 201, resp.text
    listener_id = resp.json()["listener"]["id"]
    _confirm_both(asa, lb["id"], a, b)
    agent_of = {a.host: a, b.host: b}
    for amp in _amphorae(asa, lb["id"]):
        state = amp["role"]
        resp = _report(asa, agent_of[amp["compute_id"]], lb["id"], amp["id"], state,
                       listener_id, 100 if state == "MASTER" else 7)
        assert resp.status_code == 204, resp.text
    stats = asa.get(f"{LBS}/{lb['id']}/stats").json()["stats"]
    assert stats["bytes_in"] == 100  # the BACKUP's counters are not added
    shown = _by_role(_amphorae(asa, lb["id"]))
    assert shown["MASTER"]["vrrp_state"] == "MASTER"
    assert shown["BACKUP"]["vrrp_state"] == "BACKUP"
    bad = _report(asa, a, lb["id"], shown["MASTER"]["id"], "SOMETHING", listener_id, 1)
    assert bad.status_code == 400


def test_v1_pool_is_active_standby_too(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    pool = make_pool(asa, physnet=physnet)
    assert pool["id"] in a.ready_devices() and pool["id"] in b.ready_devices()
    vip = make_vip(asa, pool)
    device = _device(asa, pool["id"])
    assert device["host"] is None
    got = device["loadbalancer"]
    assert got["topology"] == "ACTIVE_STANDBY" and len(got["amphorae"]) == 2
    assert got["vrrp"]["vrid"] >= 1
    rev = device["revision"]
    _deployed(a, pool["id"], rev)
    assert asa.get(f"/lb/vips/{vip['id']}").json()["vip"]["status"] == "PENDING_CREATE"
    _deployed(b, pool["id"], rev)
    assert asa.get(f"/lb/vips/{vip['id']}").json()["vip"]["status"] == "ACTIVE"
    ports = [amp["vrrp_port"]["id"] for amp in got["amphorae"]]
    # The VIP's delete frees the amphorae's ports with the VIP's.
    assert asa.delete(f"/lb/vips/{vip['id']}").status_code == 204
    _confirm_both(asa, pool["id"], a, b)
    wait_for(lambda: asa.get(f"/lb/vips/{vip['id']}").status_code == 404)
    for port_id in ports:
        assert asa.get(f"/ports/{port_id}").status_code == 404
