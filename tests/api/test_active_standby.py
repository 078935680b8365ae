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


def test_the_roles_follow_the_vip_where_keepalived_put_it(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    resp = asa.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 80}})
    assert resp.status_code == 201, resp.text
    listener_id = resp.json()["listener"]["id"]
    _confirm_both(asa, lb["id"], a, b)
    agent_of = {a.host: a, b.host: b}
    roles = _by_role(_amphorae(asa, lb["id"]))
    revision = _device(asa, lb["id"])["revision"]
    # The BACKUP's keepalived holds the VIP (it started first; no preemption).
    backup = roles["BACKUP"]
    resp = _report(asa, agent_of[backup["compute_id"]], lb["id"], backup["id"], "MASTER",
                   listener_id, 5)
    assert resp.status_code == 204, resp.text
    now = _by_role(_amphorae(asa, lb["id"]))
    assert now["MASTER"]["id"] == backup["id"] and now["MASTER"]["vrrp_priority"] == 100
    assert now["BACKUP"]["id"] == roles["MASTER"]["id"]
    # Both hosts are told (a new revision), so a failover then moves the VIP away.
    assert _device(asa, lb["id"])["revision"] > revision
    _confirm_both(asa, lb["id"], a, b)
    assert asa.put(f"{LBS}/{lb['id']}/failover", {}).status_code == 202
    assert _by_role(_amphorae(asa, lb["id"]))["MASTER"]["id"] == roles["MASTER"]["id"]


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


# --- the amphora API ------------------------------------------------------------------

OCTAVIA_FIELDS = {"id", "loadbalancer_id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip",
                  "vrrp_port_id", "ha_port_id", "cert_expiration", "cert_busy", "role",
                  "status", "vrrp_interface", "vrrp_id", "vrrp_priority", "cached_zone",
                  "created_at", "updated_at", "image_id", "compute_flavor"}


def test_amphora_list_and_show_as_octavia_serves_them(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    amps = _amphorae(asa, lb["id"])
    assert len(amps) == 2
    for amp in amps:
        assert OCTAVIA_FIELDS <= set(amp)
        assert amp["loadbalancer_id"] == lb["id"]
        assert amp["ha_ip"] == lb["vip_address"] and amp["ha_port_id"] == lb["vip_port_id"]
        assert amp["status"] == "ALLOCATED" and amp["vrrp_id"] == 1
        assert amp["compute_id"] in (a.host, b.host)
        port = asa.get(f"/ports/{amp['vrrp_port_id']}").json()["port"]
        assert port["fixed_ips"][0]["ip_address"] == amp["vrrp_ip"]
    roles = _by_role(amps)
    assert (roles["MASTER"]["vrrp_priority"], roles["BACKUP"]["vrrp_priority"]) == (100, 90)
    one = asa.get(f"{AMPHORAE}/{roles['BACKUP']['id']}")
    assert one.status_code == 200 and one.json()["amphora"] == roles["BACKUP"]
    # The filters Octavia takes, on the amphorae API's fields.
    by_role = asa.get(AMPHORAE, params={"loadbalancer_id": lb["id"], "role": "BACKUP"})
    assert [x["id"] for x in by_role.json()["amphorae"]] == [roles["BACKUP"]["id"]]
    on_host = asa.get(AMPHORAE, params={"compute_id": a.host}).json()["amphorae"]
    assert [x["compute_id"] for x in on_host] == [a.host]
    assert asa.get(AMPHORAE, params={"loadbalancer_id": lb["id"],
                                     "status": "ERROR"}).json()["amphorae"] == []
    # Octavia's version path too (python-octaviaclient's endpoint + /octavia).
    assert asa.get(f"/v2.0/octavia/amphorae/{roles['MASTER']['id']}").status_code == 200
    missing = asa.get(f"{AMPHORAE}/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "faultstring" in missing.json()


TOKENS = [("admin-token", "admin", "admin"), ("member-token", "tenant", "member"),
          ("agent-token", "service", "agent")]


def test_amphorae_are_for_admins(backend: str, server_factory: ServerFactory,
                                 physnet: str) -> None:
    srv = server_factory(backend, auth_strategy="token", tokens=TOKENS,
                         conf={"DEFAULT": {"loadbalancer_topology": "ACTIVE_STANDBY"}})
    try:
        with Api(srv.url, token="admin-token") as admin, \
                Api(srv.url, token="member-token") as member, \
                Api(srv.url, token="agent-token") as agent_api:
            _two_agents(agent_api, physnet)
            lb = _lb(admin, _subnet(admin, physnet))
            amp = _amphorae(admin, lb["id"])[0]
            for resp in (member.get(AMPHORAE), member.get(f"{AMPHORAE}/{amp['id']}"),
                         member.put(f"{AMPHORAE}/{amp['id']}/failover", {})):
                assert resp.status_code == 403, resp.text
                assert resp.json()["faultstring"] == \
                    "Policy does not allow this request to be performed."
    finally:
        srv.cleanup()


def test_failover_swaps_roles_without_a_new_generation(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    before = _device(asa, lb["id"])
    roles = {x["host"]: x["role"] for x in before["loadbalancer"]["amphorae"]}
    revs = {ag.host: ag.events(0, 0)["revision"] for ag in (a, b)}
    assert asa.put(f"{LBS}/{lb['id']}/failover", {}).status_code == 202
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    after = _device(asa, lb["id"])
    assert after["loadbalancer"]["failover_generation"] == \
        before["loadbalancer"]["failover_generation"]
    assert after["revision"] > before["revision"]
    for amp in after["loadbalancer"]["amphorae"]:
        assert amp["role"] != roles[amp["host"]]
        assert amp["vrrp_priority"] == (100 if amp["role"] == "MASTER" else 90)
    for agent in (a, b):
        assert agent.events(revs[agent.host], 5)["pool_ids"] == [lb["id"]]
    _confirm_both(asa, lb["id"], a, b)
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "ACTIVE"


def test_amphora_failover_moves_it_to_a_third_agent(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    master = _by_role(_amphorae(asa, lb["id"]))["MASTER"]
    c = FakeAgent(asa, [physnet]).register()
    assert asa.put(f"{AMPHORAE}/{master['id']}/failover", {}).status_code == 202
    moved = asa.get(f"{AMPHORAE}/{master['id']}").json()["amphora"]
    assert moved["compute_id"] == c.host and moved["role"] == "BACKUP"
    port = asa.get(f"/ports/{moved['vrrp_port_id']}").json()["port"]
    assert port["binding:host_id"] == c.host
    assert lb["id"] in c.ready_devices()
    old_host = master["compute_id"]
    old = a if a.host == old_host else b
    assert lb["id"] not in old.ready_devices()
    # Not ACTIVE before the new host and the survivor confirmed.
    survivor = b if old is a else a
    rev = _device(asa, lb["id"])["revision"]
    _deployed(c, lb["id"], rev)
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    _deployed(survivor, lb["id"], rev)
    assert _get_lb(asa, lb["id"])["provisioning_status"] == "ACTIVE"


def test_single_load_balancer_amphora_failover_is_the_load_balancers(
        as_server: ServerProcess, physnet: str) -> None:
    with Api(as_server.url) as api:
        agent = FakeAgent(api, [physnet]).register()
        profile = api.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
            "name": f"s-{physnet}", "provider_name": "amphora",
            "flavor_data": '{"loadbalancer_topology": "SINGLE"}'}}).json()["flavorprofile"]
        flavor = api.post("/v2/lbaas/flavors", {"flavor": {
            "name": f"s-{physnet}", "flavor_profile_id": profile["id"]}}).json()["flavor"]
        lb = _lb(api, _subnet(api, physnet), flavor_id=flavor["id"])
        agent.deployed(lb["id"])
        (amp,) = _amphorae(api, lb["id"])
        assert amp["role"] == "STANDALONE" and amp["compute_id"] == agent.host
        assert api.get(f"{AMPHORAE}/{amp['id']}").json()["amphora"] == amp
        assert api.put(f"{AMPHORAE}/{amp['id']}/failover", {}).status_code == 202
        assert _device(api, lb["id"])["loadbalancer"]["failover_generation"] == 1


# --- host failure, drain, delete --------------------------------------------------------

def test_a_dead_agents_amphora_moves_to_a_third_agent_as_backup(
        asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    master = _by_role(_amphorae(asa, lb["id"]))["MASTER"]
    dying = a if master["compute_id"] == a.host else b
    survivor = b if dying is a else a
    c = FakeAgent(asa, [physnet]).register()
    start = time.monotonic()
    while time.monotonic() - start < DOWN_TIME + 3:
        _keep_alive(survivor, c)
        now = {x["id"]: x for x in _amphorae(asa, lb["id"])}
        if now[master["id"]]["compute_id"] == c.host:
            break
        time.sleep(0.3)
    now = {x["id"]: x for x in _amphorae(asa, lb["id"])}
    assert now[master["id"]]["compute_id"] == c.host
    assert now[master["id"]]["role"] == "BACKUP"
    assert now[master["id"]]["vrrp_priority"] == 90
    other = next(x for x in now.values() if x["id"] != master["id"])
    assert other["role"] == "MASTER" and other["compute_id"] == survivor.host
    port = asa.get(f"/ports/{master['vrrp_port_id']}").json()["port"]
    assert port["binding:host_id"] == c.host
    assert lb["id"] in c.ready_devices() and lb["id"] not in dying.ready_devices()
    # The generation is untouched: the survivor's data plane keeps running.
    assert _device(asa, lb["id"])["loadbalancer"]["failover_generation"] == 0


def test_with_no_third_agent_the_dead_amphora_stays_in_error(
        asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    master = _by_role(_amphorae(asa, lb["id"]))["MASTER"]
    dying = a if master["compute_id"] == a.host else b
    survivor = b if dying is a else a

    def settled() -> bool:
        _keep_alive(survivor)
        now = {x["id"]: x for x in _amphorae(asa, lb["id"])}
        return now[master["id"]]["status"] == "ERROR" and \
            now[master["id"]]["role"] == "BACKUP"

    wait_for(settled, timeout=DOWN_TIME + 4, interval=0.3)
    now = {x["id"]: x for x in _amphorae(asa, lb["id"])}
    assert now[master["id"]]["compute_id"] == dying.host
    other = next(x for x in now.values() if x["id"] != master["id"])
    assert other["role"] == "MASTER" and other["status"] == "ALLOCATED"
    assert lb["id"] in dying.ready_devices()  # it comes back as BACKUP


def test_draining_moves_amphorae_one_at_a_time(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    subnet = _subnet(asa, physnet)
    lbs = [_lb(asa, subnet) for _ in range(2)]
    c = FakeAgent(asa, [physnet]).register()
    resp = asa.put(f"/agents/{a.record['id']}", {"agent": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text

    def drained() -> bool:
        _keep_alive(a, b, c)
        # A drained MASTER first hands the VIP over (the roles swap) and moves once
        # its agent confirmed that: the agents confirm what they are given.
        for lb in lbs:
            _confirm_both(asa, lb["id"], *[x for x in (a, b, c)
                                           if lb["id"] in x.ready_devices()])
        return not a.ready_devices()

    wait_for(drained, timeout=12, interval=0.3)
    for lb in lbs:
        roles = {x["compute_id"]: x["role"] for x in _amphorae(asa, lb["id"])}
        assert roles == {b.host: "MASTER", c.host: "BACKUP"}


def test_deleting_a_dead_agent_unbinds_what_cannot_move(
        asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    time.sleep(DOWN_TIME + 0.5)
    _keep_alive(b)
    resp = asa.delete(f"/agents/{a.record['id']}")
    assert resp.status_code == 204, resp.text
    amps = {x["compute_id"]: x for x in _amphorae(asa, lb["id"])}
    assert amps[b.host]["role"] == "MASTER"
    assert amps[None]["status"] == "PENDING_CREATE"
    assert b.ready_devices() == [lb["id"]]
    # A new agent of the network takes the missing amphora at its first heartbeat.
    c = FakeAgent(asa, [physnet]).register()
    assert c.ready_devices() == [lb["id"]]
    amps = {x["compute_id"]: x for x in _amphorae(asa, lb["id"])}
    assert amps[c.host]["role"] == "BACKUP" and amps[c.host]["status"] == "ALLOCATED"


def test_without_automatic_failover_nothing_moves(
        backend: str, server_factory: ServerFactory, physnet: str) -> None:
    srv = server_factory(backend, conf={
        "DEFAULT": {"loadbalancer_topology": "ACTIVE_STANDBY",
                    "allow_automatic_lbaas_agent_failover": False},
        "agent": {"agent_down_time": DOWN_TIME}})
    try:
        with Api(srv.url) as api:
            a, b = _two_agents(api, physnet)
            lb = _lb(api, _subnet(api, physnet))
            before = {x["id"]: (x["compute_id"], x["role"]) for x in _amphorae(api, lb["id"])}
            c = FakeAgent(api, [physnet]).register()
            for _ in range(int((DOWN_TIME + 2) / 0.5)):
                _keep_alive(b, c)
                time.sleep(0.5)
            after = {x["id"]: (x["compute_id"], x["role"]) for x in _amphorae(api, lb["id"])}
            assert after == before
            del a
    finally:
        srv.cleanup()


def test_heartbeats_do_not_wake_the_survivor_while_nothing_can_be_placed(
        asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    _confirm_both(asa, lb["id"], a, b)
    time.sleep(DOWN_TIME + 0.5)
    _keep_alive(b)
    assert asa.delete(f"/agents/{a.record['id']}").status_code == 204
    rev = b.events(0, 0)["revision"]
    for _ in range(3):
        _keep_alive(b)
    assert b.events(rev, 0) == {"revision": rev, "pool_ids": []}


def test_a_drained_agent_with_nowhere_to_go_keeps_serving(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    lb = _lb(asa, _subnet(asa, physnet))
    before = {x["id"]: (x["compute_id"], x["role"]) for x in _amphorae(asa, lb["id"])}
    resp = asa.put(f"/agents/{a.record['id']}", {"agent": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text
    for _ in range(4):
        _keep_alive(a, b)
        time.sleep(0.5)
    after = {x["id"]: (x["compute_id"], x["role"]) for x in _amphorae(asa, lb["id"])}
    assert after == before


def test_each_amphora_gets_its_own_port_on_a_member_subnet(asa: Api, physnet: str) -> None:
    a, b = _two_agents(asa, physnet)
    subnet = _subnet(asa, physnet)
    other = make_subnet(asa, subnet["network_id"], cidr="10.2.0.0/24")
    lb = _lb(asa, subnet)
    _confirm_both(asa, lb["id"], a, b)
    wait_for(lambda: _get_lb(asa, lb["id"])["provisioning_status"] == "ACTIVE")
    resp = asa.post("/v2/lbaas/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})
    assert resp.status_code == 201, resp.text
    pool_id = resp.json()["pool"]["id"]
    _confirm_both(asa, lb["id"], a, b)
    wait_for(lambda: _get_lb(asa, lb["id"])["provisioning_status"] == "ACTIVE")
    resp = asa.post(f"/v2/lbaas/pools/{pool_id}/members", {"member": {
        "address": "10.2.0.20", "protocol_port": 80, "subnet_id": other["id"]}})
    assert resp.status_code == 201, resp.text

    got = _device(asa, lb["id"])["loadbalancer"]
    amphora_ids = {amp["id"] for amp in got["amphorae"]}
    assert set(got["member_ports"]) == amphora_ids
    ports = [p for ps in got["member_ports"].values() for p in ps]
    assert len(ports) == 2 and len({p["id"] for p in ports}) == 2
    assert {p["fixed_ips"][0]["subnet_id"] for p in ports} == {other["id"]}
