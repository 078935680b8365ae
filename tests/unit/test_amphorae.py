"""The ACTIVE_STANDBY rules of lbaas/server/plugin/amphorae.py on objects that are not in
a database: placement, role changes, confirmations, VRRP reports and the amphora view."""

from __future__ import annotations

import datetime as dt

from oslo_config import cfg

from lbaas.common import config
from lbaas.server.db import models as m
from lbaas.server.plugin import amphorae, octavia


def _agent(host: str, alive: bool = True, admin_up: bool = True) -> m.Agent:
    beat = m.utcnow() - dt.timedelta(seconds=0 if alive else 3600)
    return m.Agent(id=m.new_id(), host=host, admin_state_up=admin_up,
                   heartbeat_timestamp=beat, created_at=m.utcnow(), configurations={})


def _lb() -> m.LoadBalancer:
    lb = m.LoadBalancer(id=m.new_id(), topology="ACTIVE_STANDBY", api_version=2,
                        revision=0, provisioning_status="PENDING_CREATE",
                        vip_address="10.0.0.5", vip_port_id="vip-port",
                        created_at=m.utcnow())
    amphorae.ensure_rows(lb)
    return lb


def test_topology_option_and_vrrp_interval_defaults() -> None:
    conf = cfg.ConfigOpts()
    config.register_server_opts(conf)
    conf([])
    assert conf.loadbalancer_topology == "SINGLE"
    assert conf.keepalived_vrrp.vrrp_advert_int_ms == 100


def test_a_flavor_topology_wins_over_the_default() -> None:
    assert amphorae.v2_topology(None, "ACTIVE_STANDBY") == "ACTIVE_STANDBY"
    assert amphorae.v2_topology("SINGLE", "ACTIVE_STANDBY") == "SINGLE"
    assert amphorae.v2_topology("ACTIVE_STANDBY", "SINGLE") == "ACTIVE_STANDBY"
    assert octavia.flavor_topology('{"loadbalancer_topology": "ACTIVE_STANDBY"}') == \
        "ACTIVE_STANDBY"
    assert octavia.flavor_topology("{}") is None
    assert octavia.flavor_topology("not json") is None


def test_new_rows_are_master_and_backup_with_octavias_priorities() -> None:
    lb = _lb()
    assert [(a.role, a.vrrp_priority, a.status) for a in lb.amphorae] == [
        ("MASTER", 100, "PENDING_CREATE"), ("BACKUP", 90, "PENDING_CREATE")]
    amphorae.ensure_rows(lb)
    assert len(lb.amphorae) == 2


def test_placement_needs_two_different_agents_least_loaded_first() -> None:
    lb = _lb()
    only = _agent("h1")
    assert not amphorae.place(None, lb, [only], {})  # type: ignore[arg-type]
    assert all(a.agent_id is None for a in lb.amphorae) and lb.agent_id is None
    busy, idle, idler = _agent("busy"), _agent("idle"), _agent("idler")
    load = {busy.id: 5, idle.id: 1}
    assert amphorae.place(None, lb, [busy, idle, idler], load)  # type: ignore[arg-type]
    assert [a.agent.host if a.agent else None for a in lb.amphorae] == ["idler", "idle"]
    assert lb.agent_id == idler.id  # the MASTER's
    assert {a.status for a in lb.amphorae} == {"ALLOCATED"}


def test_a_missing_amphora_is_placed_beside_the_other_one() -> None:
    lb = _lb()
    a, b = _agent("a"), _agent("b")
    amphorae.place(None, lb, [a, b], {})  # type: ignore[arg-type]
    lb.amphorae[1].agent_id, lb.amphorae[1].agent = None, None
    # Never on the agent of the other amphora, even when it is the only one.
    assert not amphorae.place(None, lb, [a], {})  # type: ignore[arg-type]
    c = _agent("c")
    assert amphorae.place(None, lb, [a, c], {})  # type: ignore[arg-type]
    assert lb.amphorae[1].agent is c


def test_swap_and_make_master() -> None:
    lb = _lb()
    a, b = _agent("a"), _agent("b")
    amphorae.place(None, lb, [a, b], {})  # type: ignore[arg-type]
    amphorae.swap_roles(lb)
    assert [(x.role, x.vrrp_priority) for x in lb.amphorae] == [("BACKUP", 90),
                                                                 ("MASTER", 100)]
    assert lb.agent_id == b.id
    amphorae.make_master(lb, lb.amphorae[0])
    assert [x.role for x in lb.amphorae] == ["MASTER", "BACKUP"] and lb.agent_id == a.id


def test_candidates_exclude_both_instances_hosts() -> None:
    lb = _lb()
    a, b, c = _agent("a"), _agent("b"), _agent("c")
    amphorae.place(None, lb, [a, b], {})  # type: ignore[arg-type]
    got = amphorae.candidates_for(lb, lb.amphorae[0], [a, b, c], {})
    assert got == [c]


def test_confirmations_wait_for_every_live_amphora() -> None:
    lb = _lb()
    a, b = _agent("a"), _agent("b")
    amphorae.place(None, lb, [a, b], {})  # type: ignore[arg-type]
    lb.revision = 7
    assert not amphorae.confirm(None, lb, 7, "a", 75)  # type: ignore[arg-type]
    assert amphorae.confirm(None, lb, 7, "b", 75)  # type: ignore[arg-type]
    lb.revision = 8
    # b died: a's confirmation is enough.
    b.heartbeat_timestamp = m.utcnow() - dt.timedelta(hours=1)
    assert amphorae.confirm(None, lb, 8, "a", 75)  # type: ignore[arg-type]
    # An agent that does not say its host confirms for both (as for SINGLE).
    lb.revision = 9
    b.heartbeat_timestamp = m.utcnow()
    assert amphorae.confirm(None, lb, 9, None, 75)  # type: ignore[arg-type]


def test_vrrp_reports_are_stored_and_only_the_master_counts() -> None:
    lb = _lb()
    master, backup = lb.amphorae
    assert amphorae.record_vrrp_state(None, lb, {"id": master.id,  # type: ignore[arg-type]
                                                 "vrrp_state": "MASTER"})
    assert not amphorae.record_vrrp_state(None, lb, {  # type: ignore[arg-type]
        "id": backup.id, "vrrp_state": "BACKUP"})
    assert (master.vrrp_state, backup.vrrp_state) == ("MASTER", "BACKUP")
    assert backup.vrrp_state_at is not None
    # Reports that name no amphora of it (an older agent, a SINGLE one) count as before.
    assert amphorae.record_vrrp_state(None, lb, None)  # type: ignore[arg-type]
    assert amphorae.record_vrrp_state(None, lb, {  # type: ignore[arg-type]
        "id": "other", "vrrp_state": "BACKUP"})


def test_the_amphora_view() -> None:
    lb = _lb()
    a, b = _agent("a"), _agent("b", alive=False)
    amphorae.place(None, lb, [a, b], {})  # type: ignore[arg-type]
    lb.vrrp_id = 3
    master, backup = (amphorae.amphora_dict(lb, x, 75) for x in lb.amphorae)
    assert (master["role"], master["compute_id"], master["status"]) == (
        "MASTER", "a", "ALLOCATED")
    assert (backup["role"], backup["compute_id"], backup["status"]) == ("BACKUP", "b", "ERROR")
    assert master["vrrp_id"] == 3 and master["ha_ip"] == "10.0.0.5"
    single = m.LoadBalancer(id=m.new_id(), topology="SINGLE", vip_address="10.0.0.6",
                            provisioning_status="ACTIVE", created_at=m.utcnow())
    single.agent = a
    (view,) = amphorae.views(single, 75)
    assert view["role"] == "STANDALONE" and view["id"] == amphorae.standalone_id(single.id)
    assert view["vrrp_priority"] is None and view["compute_id"] == "a"
