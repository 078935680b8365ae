"""What agents call (v1's LoadBalancerCallbacks): ready devices, logical devices, and the
confirmations that move objects out of PENDING_*."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.common.logical_device import LogicalDevice, from_v1, v1_pool_deleting
from lbaas.server import errors
from lbaas.server.db import models as m
from lbaas.server.plugin import (
    agents,
    amphorae,
    core,
    loadbalancer,
    octavia,
    octavia_agent,
)

LOG = logging.getLogger(__name__)

def _single_on(agent: m.Agent) -> Any:
    return select(m.LoadBalancer.id).where(
        m.LoadBalancer.agent_id == agent.id,
        m.LoadBalancer.topology != amphorae.ACTIVE_STANDBY)


def _amphorae_on(agent: m.Agent) -> Any:
    return select(m.Amphora.loadbalancer_id).where(m.Amphora.agent_id == agent.id)


def get_ready_devices(session: Session, host: str) -> list[str]:
    """The ids of the load balancers (v1 pools and v2 load balancers) bound to the host:
    SINGLE ones by their binding, ACTIVE_STANDBY ones by an amphora on it."""
    agent = agents.agent_by_host(session, host)
    return sorted(set(session.scalars(_single_on(agent)))
                  | set(session.scalars(_amphorae_on(agent))))


def changes_since(session: Session, host: str, after: int) -> tuple[int, list[str]] | None:
    """(revision, changed device ids) when the host is past ``after``; None otherwise.
    A caller ahead of the server (its database was replaced) gets every bound one. An
    ACTIVE_STANDBY load balancer changed for this host when its amphora here did."""
    agent = agents.agent_by_host(session, host)
    if agent.revision == after:
        return None
    single, amps = _single_on(agent), _amphorae_on(agent)
    if after < agent.revision:
        single = single.where(m.LoadBalancer.revision > after)
        amps = amps.where(m.Amphora.revision > after)
    return agent.revision, sorted(set(session.scalars(single)) | set(session.scalars(amps)))


def _v1_pool(session: Session, pool_id: str) -> m.LbPool | None:
    lb = session.get(m.LoadBalancer, pool_id)
    if lb is None or lb.api_version != loadbalancer.V1 or not lb.pools:
        return None
    return lb.pools[0]


def get_logical_device(session: Session, pool_id: str) -> dict[str, Any]:
    """v1's logical device of a v1 pool (docs/architecture.md, "The logical device")."""
    pool = _v1_pool(session, pool_id)
    if pool is None:
        raise errors.PoolNotFound(id=pool_id)
    lb = pool.loadbalancer
    vip = None
    listener = loadbalancer.vip_of(pool)
    if listener is not None and lb.vip_port is not None:
        port = lb.vip_port
        vip = loadbalancer.vip_dict(listener)
        port_d = core.port_dict(port)
        # Not a key of v1's device: /agent/v1 answers what it always did.
        port_d.pop("allowed_address_pairs", None)
        port_d["fixed_ips"] = [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address,
             "subnet": core.subnet_dict(a.subnet)} for a in port.fixed_ips]
        port_d["network"] = core.network_dict(port.network)
        vip["port"] = port_d
    members = [loadbalancer.member_dict(mem) for mem in pool.members
               if mem.provisioning_status != c.PENDING_DELETE]
    monitors = []
    for assoc in pool.monitors:
        if assoc.status == c.PENDING_DELETE:
            continue
        hm = loadbalancer.health_monitor_dict(assoc.monitor)
        hm.update(http_method=assoc.monitor.http_method, url_path=assoc.monitor.url_path,
                  expected_codes=assoc.monitor.expected_codes, status=assoc.status,
                  status_description=assoc.status_description)
        monitors.append(hm)
    return {"pool": loadbalancer.pool_dict(pool), "vip": vip, "members": members,
            "healthmonitors": monitors, "driver": c.DRIVER_HAPROXY_NS,
            # pool_deployed echoes it, so a confirmation of an older device can't mark
            # a newer change done.
            "revision": lb.revision if lb.agent_id is not None else 0,
            # Whether a pool_deployed would change anything (deletes to confirm
            # included): an agent adopting a thousand settled pools skips a thousand
            # writes.
            "pending": _pending(pool)}


def get_typed_device(session: Session, device_id: str,
                     vault: Any = None, advert_int_ms: int = 100) -> LogicalDevice:
    """What ``GET /agent/v2/logical_devices/{id}`` answers: a v2 load balancer, or a v1
    pool with its VIP (through ``from_v1``). Being deleted is PoolNotFound, as gone: the
    agent then removes the instance and confirms with pool_destroyed, which is what
    deletes it (pool_deployed ignores what is being deleted)."""
    lb = session.get(m.LoadBalancer, device_id)
    if lb is not None and lb.api_version != loadbalancer.V1:
        if lb.provisioning_status == c.PENDING_DELETE:
            raise errors.PoolNotFound(id=device_id)
        return octavia_agent.logical_device(
            session, lb, vault=vault, advert_int_ms=advert_int_ms).model_copy(
            update={"host": _host_of(lb)})
    device = get_logical_device(session, device_id)
    if v1_pool_deleting(device):
        raise errors.PoolNotFound(id=device_id)
    # (Not in the v1 dict itself: /agent/v1 answers exactly what it always did.)
    assert lb is not None
    typed = from_v1(device)
    if typed.loadbalancer is not None and lb.failover_generation:
        # Raised when the pool moved to another host (failover.py): an instance of it
        # left behind anywhere is rebuilt, not reused.
        typed = typed.model_copy(update={"loadbalancer": typed.loadbalancer.model_copy(
            update={"failover_generation": lb.failover_generation})})
    if typed.loadbalancer is not None and amphorae.is_active_standby(lb):
        typed = typed.model_copy(update={"loadbalancer": typed.loadbalancer.model_copy(
            update={"topology": amphorae.ACTIVE_STANDBY,
                    **amphorae.device_parts(lb, advert_int_ms)})})
        if amphorae.unconfirmed(lb):
            typed = typed.model_copy(update={"pending": True})
    return typed.model_copy(update={"request_id": lb.request_id, "host": _host_of(lb)})


def _host_of(lb: m.LoadBalancer) -> str | None:
    """SINGLE: the host it is bound to. ACTIVE_STANDBY: None (each agent finds its own
    instance among the device's amphorae)."""
    if amphorae.is_active_standby(lb):
        return None
    return lb.agent.host if lb.agent is not None else None


def _pending(pool: m.LbPool) -> bool:
    unsettled = (*c.PENDING_STATUSES, c.ERROR)
    vip = loadbalancer.vip_of(pool)
    objs: list[Any] = [pool, *pool.members, *([vip] if vip else [])]
    return (any(o.provisioning_status in unsettled or o.status_description for o in objs)
            or any(a.status in unsettled for a in pool.monitors))


def _activate(obj: Any) -> None:
    # INACTIVE is HAProxy's word on a member's health: the deploy doesn't overrule it.
    if obj.provisioning_status in (c.PENDING_CREATE, c.PENDING_UPDATE, c.ERROR):
        loadbalancer.set_v1_status(obj, c.ACTIVE)
    obj.status_description = None


def pool_deployed(session: Session, pool_id: str, revision: int | None = None,
                  host: str | None = None, down_time: int = 75) -> None:
    """The agent realized the device as the logical device of ``revision`` described
    it. ``host`` (optional) is the confirming agent's: an ACTIVE_STANDBY load balancer
    is realized once every amphora on a live agent confirmed (amphorae.confirm)."""
    lb = session.get(m.LoadBalancer, pool_id)
    if lb is None:
        return
    if lb.api_version != loadbalancer.V1:
        octavia_agent.deployed(session, lb, revision, host, down_time)
        return
    pool = lb.pools[0]
    if pool.provisioning_status == c.PENDING_DELETE:
        return
    if revision is not None and lb.agent_id is not None and lb.revision > revision:
        LOG.debug("pool %s: deployed revision %s is older than %s; not confirming",
                  pool_id, revision, lb.revision)
        return
    if amphorae.is_active_standby(lb) and not amphorae.confirm(session, lb, revision,
                                                                host, down_time):
        return  # the other amphora's agent has still to realize it
    _activate(pool)
    for member in list(pool.members):
        if member.provisioning_status == c.PENDING_DELETE:
            session.delete(member)
        else:
            _activate(member)
    used_one = False
    for assoc in list(pool.monitors):
        if assoc.status == c.PENDING_DELETE:
            session.delete(assoc)
            continue
        # HAProxy checks with one monitor: the first admin-up one.
        if assoc.monitor.admin_state_up and not used_one:
            used_one = True
            assoc.status, assoc.status_description = c.ACTIVE, None
        else:
            assoc.status = c.INACTIVE
            assoc.status_description = ("not used: HAProxy checks with the pool's first "
                                        "admin-up health monitor" if assoc.monitor
                                        .admin_state_up else "health monitor is admin-down")
    vip = loadbalancer.vip_of(pool)
    if vip is not None:
        if vip.provisioning_status == c.PENDING_DELETE:
            loadbalancer.delete_vip_rows(session, vip)
        else:
            _activate(vip)


def pool_destroyed(session: Session, pool_id: str) -> None:
    lb = session.get(m.LoadBalancer, pool_id)
    if lb is None:
        return
    if lb.api_version != loadbalancer.V1:
        octavia_agent.destroyed(session, lb)
        return
    pool = lb.pools[0]
    vip = loadbalancer.vip_of(pool)
    if pool.provisioning_status == c.PENDING_DELETE:
        loadbalancer.delete_pool_rows(session, pool)
    elif vip is not None and vip.provisioning_status == c.PENDING_DELETE:
        loadbalancer.delete_vip_rows(session, vip)


def _v1_object(session: Session, obj_type: str, obj_id: str) -> Any:
    """The v1 object an agent reports on, or None when it is a v2 one."""
    model, not_found = {c.OBJ_POOL: (m.LbPool, errors.PoolNotFound),
                        c.OBJ_VIP: (m.Listener, errors.VipNotFound),
                        c.OBJ_MEMBER: (m.LbMember, errors.MemberNotFound)}[obj_type]
    obj: Any = session.get(model, obj_id)
    if obj is None:
        lb = session.get(m.LoadBalancer, obj_id) if obj_type == c.OBJ_POOL else None
        if lb is not None:
            return None  # a v2 load balancer (reported with v1's word "pool")
        raise not_found(id=obj_id)
    lb = obj.pool.loadbalancer if isinstance(obj, m.LbMember) else obj.loadbalancer
    return obj if lb.api_version == loadbalancer.V1 else None


def update_status(session: Session, obj_type: str, obj_id: str, status: str,
                  description: str | None) -> None:
    if obj_type == c.OBJ_HEALTH_MONITOR:
        pool_id, _, monitor_id = obj_id.partition("/")
        assoc = session.get(m.PoolMonitorAssociation,
                            {"pool_id": pool_id, "monitor_id": monitor_id})
        if assoc is None:
            raise errors.PoolMonitorAssociationNotFound(monitor_id=monitor_id,
                                                        pool_id=pool_id)
        if assoc.status != c.PENDING_DELETE:
            assoc.status = status
            assoc.status_description = (description or None) and description[:255]
        return
    if obj_type not in (c.OBJ_POOL, c.OBJ_VIP, c.OBJ_MEMBER):
        raise errors.InvalidInput(error_message=f"unknown obj_type {obj_type!r}")
    obj = _v1_object(session, obj_type, obj_id)
    if obj is None:
        _update_v2_status(session, obj_type, obj_id, status)
        return
    if obj.provisioning_status == c.PENDING_DELETE:
        return  # the delete still has to be confirmed; a late report must not undo it
    loadbalancer.set_v1_status(obj, status, (description or None) and description[:255])


def _update_v2_status(session: Session, obj_type: str, obj_id: str, status: str) -> None:
    """A report about a v2 object: a member's health, or a load balancer (sent with the
    v1 word "pool", as the agent keys devices, or "vip" with a listener's id) that
    failed."""
    if obj_type == c.OBJ_MEMBER:
        member = session.get(m.LbMember, obj_id)
        if member is not None:
            octavia_agent.member_status(session, member, status)
        return
    lb = session.get(m.LoadBalancer, obj_id)
    if lb is None:
        listener = session.get(m.Listener, obj_id)
        lb = listener.loadbalancer if listener is not None else None
    if lb is not None and status == c.ERROR:
        octavia_agent.failed(session, lb)


def plug_vip_port(session: Session, port_id: str, host: str) -> None:
    port = session.get(m.Port, port_id)
    if port is None:
        raise errors.PortNotFound(id=port_id)
    port.admin_state_up, port.status, port.binding_host_id = True, c.ACTIVE, host


def unplug_vip_port(session: Session, port_id: str, host: str) -> None:
    port = session.get(m.Port, port_id)
    if port is None:
        return  # the VIP (and its port) went away first: nothing left to unbind
    if port.binding_host_id not in ("", None, host):
        # The load balancer moved (failover, drain) and the old host is cleaning up
        # late: the port is the new host's now.
        return
    port.status, port.binding_host_id = c.DOWN, ""


def update_pool_stats(session: Session, pool_id: str, stats: dict[str, Any],
                      host: str) -> None:
    """HAProxy's counters restart with every new process: add the delta since the last
    report of the same ``epoch``, or the whole value for a new epoch, so the totals the
    API shows never go backwards."""
    lb = session.get(m.LoadBalancer, pool_id)
    if lb is None:
        raise errors.PoolNotFound(id=pool_id)
    counting = amphorae.record_vrrp_state(session, lb, stats.get("amphora"))
    if lb.api_version != loadbalancer.V1:
        octavia_agent.stats(session, lb, stats, counting)
        return
    pool = lb.pools[0]
    if not counting:
        stats = {"members": stats.get("members") or {}}
        _v1_member_health(session, pool, stats)
        return
    st = pool.stats
    if st is None:
        st = m.PoolStatistics(pool_id=pool.id, bytes_in=0, bytes_out=0,
                              active_connections=0, total_connections=0, last_epoch="",
                              last_raw={})
        session.add(st)
        pool.stats = st
    epoch = str(stats.get("epoch", ""))
    same = epoch == st.last_epoch and epoch != ""
    raw: dict[str, int] = {}
    # An agent from before HTTP responses were counted sends no hrsp_*: 0, as before.
    for key in ("bytes_in", "bytes_out", "total_connections", *octavia.HRSP_KEYS):
        value = max(0, int(stats.get(key, 0)))
        last = int(st.last_raw.get(key, 0)) if same else 0
        delta = value - last if value >= last else value
        setattr(st, key, (getattr(st, key) or 0) + delta)
        raw[key] = value
    st.active_connections = max(0, int(stats.get("active_connections", 0)))
    st.last_epoch, st.last_raw = epoch, raw
    octavia.record_pool_and_member_stats(session, lb, stats.get("pools") or {},
                                         stats.get("member_counters") or {}, epoch)
    _v1_member_health(session, pool, stats)


def _v1_member_health(session: Session, pool: m.LbPool, stats: dict[str, Any]) -> None:
    for member_id, info in (stats.get("members") or {}).items():
        member = session.get(m.LbMember, member_id)
        if member is None or member.pool_id != pool.id:
            continue
        status = info.get("status") if isinstance(info, dict) else None
        if status in (c.ACTIVE, c.INACTIVE) and \
                loadbalancer.v1_status(member) in (c.ACTIVE, c.INACTIVE):
            loadbalancer.set_v1_status(member, status, member.status_description)
