"""Neutron LBaaS v1's rules, as a façade over the load balancer model: pools, members,
health monitors, VIPs, and the status machine the agent drives.

A v1 pool is a load balancer (``api_version`` 1) and a pool with the pool's id; its VIP
is the load balancer's one listener (the VIP's id), the VIP's port and address the load
balancer's; its members are the pool's members (docs/architecture.md, "One model, two
APIs"). v1's health monitors stay objects of their own, associated with pools in order.

v1's status machine is per object, not Octavia's per load balancer lock: every change
marks the object PENDING_* and tells the load balancer's host (scheduler.touch); the agent
realizes it and confirms with pool_deployed / pool_destroyed / update_status. A pool that
no live agent can take keeps its objects pending, saying why. v1's one ``status`` word is
kept as Octavia's pair (:func:`v1_status`, :func:`set_v1_status`).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from lbaas.common import constants as c
from lbaas.server import errors
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import amphorae, core, scheduler
from lbaas.server.plugin.base import check_quota, get_visible

V1 = 1


class Settings:
    """What the rules need from the configuration."""

    def __init__(self, conf: Any) -> None:
        self.conf = conf
        self.agent_down_time: int = conf.agent.agent_down_time
        self.allow_failover: bool = conf.allow_automatic_lbaas_agent_failover
        # The key manager's (lbaas/server/plugin/key_manager.py); set by the app.
        self.vault: Any = None
        # ACTIVE_STANDBY (docs/architecture.md): the topology of v1 pools and of v2
        # load balancers without a flavor, and the VRRP advert interval.
        self.topology: str = conf.loadbalancer_topology
        self.vrrp_advert_int_ms: int = conf.keepalived_vrrp.vrrp_advert_int_ms


# --- v1's status word over Octavia's pair -----------------------------------------------

# v1 words that mean "provisioned": which operating status each one is.
_SETTLED = {c.ACTIVE: c.ONLINE, c.INACTIVE: c.ERROR, c.DOWN: c.OFFLINE}
_SETTLED_BACK = {c.ERROR: c.INACTIVE, c.OFFLINE: c.DOWN}


def v1_status(obj: Any) -> str:
    """The v1 ``status`` of a load balancer object: PENDING_* and ERROR are the
    provisioning status; once provisioned, INACTIVE (HAProxy's health checks say down)
    and DOWN come from the operating status, everything else is ACTIVE."""
    status: str = obj.provisioning_status
    if status == c.ACTIVE:
        return _SETTLED_BACK.get(obj.operating_status, c.ACTIVE)
    return status


def v1_status_sql(model: Any) -> Any:
    """:func:`v1_status` as an SQL expression on ``model``'s columns (lists sort and
    filter on it in the database)."""
    settled = case(*((model.operating_status == op, word)
                     for op, word in _SETTLED_BACK.items()), else_=c.ACTIVE)
    return case((model.provisioning_status != c.ACTIVE, model.provisioning_status),
                else_=settled)


def set_v1_status(obj: Any, status: str, description: str | None = None) -> None:
    """Store a v1 status word (and its reason) as the object's pair of statuses."""
    if status in _SETTLED:
        obj.provisioning_status, obj.operating_status = c.ACTIVE, _SETTLED[status]
    else:
        obj.provisioning_status = status
    obj.status_description = description
    if isinstance(obj, m.LbPool) and obj.loadbalancer is not None:
        # The load balancer row says what its v1 pool says (its provisioning status is
        # what other views and the scheduler read).
        obj.loadbalancer.provisioning_status = obj.provisioning_status
        obj.loadbalancer.operating_status = obj.operating_status


def _pending(obj: Any, status: str) -> None:
    set_v1_status(obj, status)


def refuse_pending_delete(obj: Any) -> None:
    if v1_status(obj) == c.PENDING_DELETE:
        raise errors.StateConflict(state=c.PENDING_DELETE, id=obj.id)


def _notify(session: Session, s: Settings, pool: m.LbPool, *objs: Any) -> None:
    reason = scheduler.touch(session, pool.loadbalancer, s.agent_down_time)
    if reason:
        for obj in objs:
            obj.status_description = reason


def vip_of(pool: m.LbPool) -> m.Listener | None:
    """The v1 pool's VIP: its load balancer's listener (a v1 load balancer has at most
    one)."""
    listeners = pool.loadbalancer.listeners
    return listeners[0] if listeners else None


def _v1(q: Any, model: Any) -> Any:
    """Restrict a query of ``model`` to v1's objects."""
    if model is m.LbPool:
        return q.join(m.LoadBalancer, m.LoadBalancer.id == m.LbPool.loadbalancer_id).where(
            m.LoadBalancer.api_version == V1)
    if model is m.Listener:
        return q.join(m.LoadBalancer, m.LoadBalancer.id == m.Listener.loadbalancer_id).where(
            m.LoadBalancer.api_version == V1)
    if model is m.LbMember:
        return q.join(m.LbPool, m.LbPool.id == m.LbMember.pool_id).join(
            m.LoadBalancer, m.LoadBalancer.id == m.LbPool.loadbalancer_id).where(
            m.LoadBalancer.api_version == V1)
    return q


def v1_query(ctx: Context, model: Any) -> Any:
    """The ``model`` objects of v1 that ``ctx`` may see, as a query to refine."""
    q = _v1(select(model), model)
    if not ctx.is_admin:
        q = q.where(model.tenant_id == ctx.project_id)
    return q


def _get_v1(session: Session, ctx: Context, model: Any, obj_id: str,
            not_found: type[errors.NotFound], for_delete: bool = False) -> Any:
    if for_delete:
        # Racing deletes of one object queue on its row (PostgreSQL; SQLite serializes
        # write transactions already): the second sees it gone, a 404, instead of
        # deleting what the first deleted.
        session.execute(select(model.id).where(model.id == obj_id).with_for_update())
    obj = get_visible(session, ctx, model, obj_id, not_found)
    if _lb_of(obj).api_version != V1:
        raise not_found(id=obj_id)  # an Octavia object: not v1's to show
    return obj


def _lb_of(obj: Any) -> m.LoadBalancer:
    if isinstance(obj, m.LbMember):
        return obj.pool.loadbalancer
    lb: m.LoadBalancer = obj.loadbalancer
    return lb


def _v1_count(model: Any) -> Any:
    """The condition check_quota counts v1's objects of ``model`` with."""
    v1_lbs = select(m.LoadBalancer.id).where(m.LoadBalancer.api_version == V1)
    if model is m.LbMember:
        return model.pool_id.in_(select(m.LbPool.id).where(
            m.LbPool.loadbalancer_id.in_(v1_lbs)))
    return model.loadbalancer_id.in_(v1_lbs)


# --- pools ------------------------------------------------------------------------------

def pool_dict(p: m.LbPool) -> dict[str, Any]:
    vip = vip_of(p)
    return {
        "id": p.id, "tenant_id": p.tenant_id, "project_id": p.tenant_id, "name": p.name,
        "description": p.description, "subnet_id": p.subnet_id, "protocol": p.protocol,
        "lb_method": p.lb_algorithm, "provider": p.loadbalancer.provider,
        "admin_state_up": p.admin_state_up, "status": v1_status(p),
        "status_description": p.status_description,
        "vip_id": vip.id if vip else None,
        "members": [mem.id for mem in p.members],
        "health_monitors": [a.monitor_id for a in p.monitors],
        "health_monitors_status": [{"monitor_id": a.monitor_id, "status": a.status,
                                    "status_description": a.status_description}
                                   for a in p.monitors],
    }


def create_pool(session: Session, ctx: Context, s: Settings,
                body: dict[str, Any]) -> m.LbPool:
    subnet = core.get_subnet(session, ctx, body["subnet_id"])
    check_quota(session, s.conf, m.LbPool, body["tenant_id"], "pool", _v1_count(m.LbPool))
    pool_id = m.new_id()
    lb = m.LoadBalancer(
        id=pool_id, tenant_id=body["tenant_id"], api_version=V1,
        provider=body.get("provider", "haproxy"), topology=s.topology, revision=0,
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE)
    pool = m.LbPool(
        id=pool_id, tenant_id=body["tenant_id"], loadbalancer=lb,
        name=body.get("name", ""), description=body.get("description", ""),
        subnet_id=subnet.id, protocol=body["protocol"], lb_algorithm=body["lb_method"],
        admin_state_up=body.get("admin_state_up", True),
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE)
    if amphorae.is_active_standby(lb):
        amphorae.ensure_rows(lb)
    session.add_all([lb, pool])
    session.flush()
    _notify(session, s, pool, pool)
    return pool


def get_pool(session: Session, ctx: Context, pool_id: str,
             for_delete: bool = False) -> m.LbPool:
    pool: m.LbPool = _get_v1(session, ctx, m.LbPool, pool_id, errors.PoolNotFound,
                             for_delete)
    return pool


def update_pool(session: Session, ctx: Context, s: Settings, pool_id: str,
                body: dict[str, Any]) -> m.LbPool:
    pool = get_pool(session, ctx, pool_id)
    refuse_pending_delete(pool)
    for key, column in (("name", "name"), ("description", "description"),
                        ("lb_method", "lb_algorithm"), ("admin_state_up", "admin_state_up")):
        if key in body:
            setattr(pool, column, body[key])
    _pending(pool, c.PENDING_UPDATE)
    _notify(session, s, pool, pool)
    return pool


def delete_pool(session: Session, ctx: Context, s: Settings, pool_id: str) -> None:
    pool = get_pool(session, ctx, pool_id, for_delete=True)
    if vip_of(pool) is not None:
        raise errors.PoolInUse(pool_id=pool.id)
    if pool.loadbalancer.agent_id is None:
        delete_pool_rows(session, pool)
        return
    _pending(pool, c.PENDING_DELETE)
    _notify(session, s, pool, pool)


def delete_pool_rows(session: Session, pool: m.LbPool) -> None:
    """The pool, its members, associations and statistics, and its load balancer (whose
    delete cascades to the rest)."""
    amphorae.free_ports(session, pool.loadbalancer)
    session.delete(pool.loadbalancer)


# --- members ----------------------------------------------------------------------------

def member_dict(mem: m.LbMember) -> dict[str, Any]:
    return {
        "id": mem.id, "tenant_id": mem.tenant_id, "project_id": mem.tenant_id,
        "pool_id": mem.pool_id, "address": mem.address,
        "protocol_port": mem.protocol_port, "weight": mem.weight,
        "admin_state_up": mem.admin_state_up, "status": v1_status(mem),
        "status_description": mem.status_description,
    }


def _refuse_duplicate_member(session: Session, pool_id: str, address: str, port: int,
                             exclude: str | None = None) -> None:
    q = select(m.LbMember.id).where(m.LbMember.pool_id == pool_id,
                                    m.LbMember.address == address,
                                    m.LbMember.protocol_port == port)
    if exclude:
        q = q.where(m.LbMember.id != exclude)
    if session.scalar(q):
        raise errors.MemberExists(address=address, port=port, pool=pool_id)


def create_member(session: Session, ctx: Context, s: Settings,
                  body: dict[str, Any]) -> m.LbMember:
    pool = get_pool(session, ctx, body["pool_id"])
    refuse_pending_delete(pool)
    address = str(ipaddress.ip_address(body["address"]))
    _refuse_duplicate_member(session, pool.id, address, body["protocol_port"])
    check_quota(session, s.conf, m.LbMember, body["tenant_id"], "member",
                _v1_count(m.LbMember))
    pool_id = pool.id
    member = m.LbMember(tenant_id=body["tenant_id"], pool_id=pool_id, address=address,
                        protocol_port=body["protocol_port"], weight=body.get("weight", 1),
                        admin_state_up=body.get("admin_state_up", True),
                        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE)
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError:
        # Two requests for the same member raced past the check: the schema decides.
        raise errors.MemberExists(address=address, port=body["protocol_port"],
                                  pool=pool_id) from None
    # (No refresh of pool.members: at a thousand members that reload was half the cost
    # of a create, and nothing here reads them.)
    _notify(session, s, pool, member)
    return member


def get_member(session: Session, ctx: Context, member_id: str,
               for_delete: bool = False) -> m.LbMember:
    member: m.LbMember = _get_v1(session, ctx, m.LbMember, member_id,
                                 errors.MemberNotFound, for_delete)
    return member


def update_member(session: Session, ctx: Context, s: Settings, member_id: str,
                  body: dict[str, Any]) -> m.LbMember:
    member = get_member(session, ctx, member_id)
    refuse_pending_delete(member)
    old_pool = member.pool
    if "pool_id" in body and body["pool_id"] != member.pool_id:
        new_pool = get_pool(session, ctx, body["pool_id"])
        refuse_pending_delete(new_pool)
        _refuse_duplicate_member(session, new_pool.id, member.address, member.protocol_port)
        member.pool_id = new_pool.id
        session.flush()
        session.refresh(member, ["pool"])
        session.refresh(old_pool, ["members"])
        session.refresh(new_pool, ["members"])
        scheduler.touch(session, old_pool.loadbalancer, s.agent_down_time)
    for key in ("weight", "admin_state_up"):
        if key in body:
            setattr(member, key, body[key])
    _pending(member, c.PENDING_UPDATE)
    _notify(session, s, member.pool, member)
    return member


def delete_member(session: Session, ctx: Context, s: Settings, member_id: str) -> None:
    member = get_member(session, ctx, member_id, for_delete=True)
    pool = member.pool
    if pool.loadbalancer.agent_id is None:
        session.delete(member)
        return
    _pending(member, c.PENDING_DELETE)
    _notify(session, s, pool, member)


# --- health monitors --------------------------------------------------------------------

HTTP_MONITOR_FIELDS = ("http_method", "url_path", "expected_codes")


def health_monitor_dict(hm: m.HealthMonitor) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": hm.id, "tenant_id": hm.tenant_id, "project_id": hm.tenant_id,
        "type": hm.type, "delay": hm.delay, "timeout": hm.timeout,
        "max_retries": hm.max_retries, "admin_state_up": hm.admin_state_up,
        "pools": [{"pool_id": a.pool_id, "status": a.status,
                   "status_description": a.status_description} for a in hm.pools],
    }
    if hm.type in ("HTTP", "HTTPS"):
        d.update(http_method=hm.http_method, url_path=hm.url_path,
                 expected_codes=hm.expected_codes)
    return d


def _check_delay(delay: int, timeout: int) -> None:
    if delay < timeout:
        raise errors.InvalidInput(error_message="delay must be greater than or equal to "
                                                "timeout")


def create_health_monitor(session: Session, ctx: Context, s: Settings,
                          body: dict[str, Any]) -> m.HealthMonitor:
    _check_delay(body["delay"], body["timeout"])
    check_quota(session, s.conf, m.HealthMonitor, body["tenant_id"], "health_monitor")
    hm = m.HealthMonitor(tenant_id=body["tenant_id"], type=body["type"],
                         delay=body["delay"], timeout=body["timeout"],
                         max_retries=body["max_retries"],
                         http_method=body.get("http_method", "GET"),
                         url_path=body.get("url_path", "/"),
                         expected_codes=body.get("expected_codes", "200"),
                         admin_state_up=body.get("admin_state_up", True))
    session.add(hm)
    session.flush()
    return hm


def get_health_monitor(session: Session, ctx: Context, hm_id: str) -> m.HealthMonitor:
    return get_visible(session, ctx, m.HealthMonitor, hm_id, errors.HealthMonitorNotFound)


def update_health_monitor(session: Session, ctx: Context, s: Settings, hm_id: str,
                          body: dict[str, Any]) -> m.HealthMonitor:
    hm = get_health_monitor(session, ctx, hm_id)
    _check_delay(body.get("delay", hm.delay), body.get("timeout", hm.timeout))
    for key in ("delay", "timeout", "max_retries", "http_method", "url_path",
                "expected_codes", "admin_state_up"):
        if key in body:
            setattr(hm, key, body[key])
    for assoc in hm.pools:
        if assoc.status != c.PENDING_DELETE:
            assoc.status, assoc.status_description = c.PENDING_UPDATE, None
            _notify(session, s, assoc.pool, assoc)
    return hm


def delete_health_monitor(session: Session, ctx: Context, s: Settings, hm_id: str) -> None:
    hm = get_health_monitor(session, ctx, hm_id)
    if hm.pools:
        raise errors.HealthMonitorInUse(monitor_id=hm.id)
    session.delete(hm)


def associate(session: Session, ctx: Context, s: Settings, pool_id: str,
              hm_id: str) -> m.HealthMonitor:
    pool = get_pool(session, ctx, pool_id)
    refuse_pending_delete(pool)
    hm = get_health_monitor(session, ctx, hm_id)
    if session.get(m.PoolMonitorAssociation, {"pool_id": pool.id, "monitor_id": hm.id}):
        raise errors.PoolMonitorAssociationExists(monitor_id=hm.id, pool_id=pool.id)
    position = (session.scalar(select(func.max(m.PoolMonitorAssociation.position))) or 0) + 1
    pool_id, hm_id = pool.id, hm.id
    assoc = m.PoolMonitorAssociation(pool_id=pool_id, monitor_id=hm_id,
                                     status=c.PENDING_CREATE, position=position)
    try:
        with session.begin_nested():
            session.add(assoc)
            session.flush()
    except IntegrityError:
        raise errors.PoolMonitorAssociationExists(monitor_id=hm_id, pool_id=pool_id) from None
    session.refresh(pool, ["monitors"])
    session.refresh(hm, ["pools"])
    _notify(session, s, pool, assoc)
    return hm


def disassociate(session: Session, ctx: Context, s: Settings, pool_id: str,
                 hm_id: str) -> None:
    pool = get_pool(session, ctx, pool_id)
    assoc = session.get(m.PoolMonitorAssociation, {"pool_id": pool.id, "monitor_id": hm_id})
    if assoc is None:
        raise errors.PoolMonitorAssociationNotFound(monitor_id=hm_id, pool_id=pool.id)
    if pool.loadbalancer.agent_id is None:
        session.delete(assoc)
        return
    assoc.status, assoc.status_description = c.PENDING_DELETE, None
    _notify(session, s, pool, assoc)


# --- VIPs -------------------------------------------------------------------------------

def vip_dict(v: m.Listener) -> dict[str, Any]:
    lb = v.loadbalancer
    pool = v.default_pool
    stored = pool.session_persistence if pool is not None else None
    sp = None
    if stored:
        sp = {"type": stored["type"]}
        if stored.get("cookie_name"):
            sp["cookie_name"] = stored["cookie_name"]
    return {
        "id": v.id, "tenant_id": v.tenant_id, "project_id": v.tenant_id, "name": v.name,
        "description": v.description, "subnet_id": lb.vip_subnet_id,
        "address": lb.vip_address, "port_id": lb.vip_port_id,
        "protocol_port": v.protocol_port, "protocol": v.protocol, "pool_id": lb.id,
        "session_persistence": sp, "connection_limit": v.connection_limit,
        "admin_state_up": v.admin_state_up, "status": v1_status(v),
        "status_description": v.status_description,
    }


def _set_session_persistence(pool: m.LbPool, sp: dict[str, Any] | None) -> None:
    # v1 keeps persistence on the VIP, Octavia on the pool; a v1 pool has one VIP.
    pool.session_persistence = (
        {"type": sp["type"], **({"cookie_name": sp["cookie_name"]}
                                if sp.get("cookie_name") else {})} if sp else None)


def create_vip(session: Session, ctx: Context, s: Settings,
               body: dict[str, Any]) -> m.Listener:
    # One VIP per pool: the load balancer's row is the lock two creates queue on
    # (PostgreSQL; SQLite's write transactions are serialized already). Locked by
    # loading the load balancer itself, with its agent, and held in a variable (the
    # session holds objects weakly): get_pool's and scheduler.touch's looks at them are
    # then answered from the session instead of by two more SELECTs.
    locked = session.scalars(
        select(m.LoadBalancer).where(m.LoadBalancer.id == body["pool_id"])
        .options(joinedload(m.LoadBalancer.agent))
        .with_for_update(of=m.LoadBalancer)).first()
    pool = get_pool(session, ctx, body["pool_id"])
    refuse_pending_delete(pool)
    subnet = core.get_subnet(session, ctx, body["subnet_id"])
    if body["protocol"] != pool.protocol:
        raise errors.InvalidInput(error_message=f"protocol {body['protocol']} of the VIP "
                                  f"does not match protocol {pool.protocol} of the pool")
    lb = pool.loadbalancer
    assert locked is lb
    if vip_of(pool) is not None:
        raise errors.VipExists(pool_id=pool.id)
    check_quota(session, s.conf, m.Listener, body["tenant_id"], "vip",
                _v1_count(m.Listener))
    vip_id = m.new_id()
    fixed_ip: dict[str, Any] = {"subnet_id": subnet.id}
    if body.get("address"):
        fixed_ip["ip_address"] = body["address"]
    port = core.create_port(session, ctx, {
        "tenant_id": body["tenant_id"], "network_id": subnet.network_id,
        "name": f"vip-{vip_id}", "fixed_ips": [fixed_ip], "admin_state_up": False,
        "device_id": vip_id, "device_owner": c.DEVICE_OWNER_LOADBALANCER,
    }, forbid_gateway=True)
    lb.vip_subnet_id, lb.vip_network_id = subnet.id, subnet.network_id
    lb.vip_port_id, lb.vip_address = port.id, port.fixed_ips[0].ip_address
    vip = m.Listener(id=vip_id, tenant_id=body["tenant_id"], loadbalancer=lb,
                     name=body.get("name", ""), description=body.get("description", ""),
                     protocol_port=body["protocol_port"], protocol=body["protocol"],
                     # The object, not just its id: vip_dict reads vip.default_pool, and
                     # by then the session may have let go of the pool (it holds objects
                     # weakly), which cost a SELECT.
                     default_pool=pool,
                     connection_limit=body.get("connection_limit", -1),
                     admin_state_up=body.get("admin_state_up", True),
                     provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE)
    _set_session_persistence(pool, body.get("session_persistence"))
    session.add(vip)
    session.flush()
    _notify(session, s, pool, vip)
    return vip


def get_vip(session: Session, ctx: Context, vip_id: str,
            for_delete: bool = False) -> m.Listener:
    vip: m.Listener = _get_v1(session, ctx, m.Listener, vip_id, errors.VipNotFound,
                              for_delete)
    return vip


def _pool_of(vip: m.Listener) -> m.LbPool:
    pool = vip.default_pool
    assert pool is not None  # a v1 VIP always has its pool
    return pool


def update_vip(session: Session, ctx: Context, s: Settings, vip_id: str,
               body: dict[str, Any]) -> m.Listener:
    vip = get_vip(session, ctx, vip_id)
    refuse_pending_delete(vip)
    for key in ("name", "description", "connection_limit", "admin_state_up"):
        if key in body:
            setattr(vip, key, body[key])
    if "session_persistence" in body:
        _set_session_persistence(_pool_of(vip), body["session_persistence"])
    _pending(vip, c.PENDING_UPDATE)
    _notify(session, s, _pool_of(vip), vip)
    return vip


def delete_vip(session: Session, ctx: Context, s: Settings, vip_id: str) -> None:
    vip = get_vip(session, ctx, vip_id, for_delete=True)
    pool = _pool_of(vip)
    if pool.loadbalancer.agent_id is None:
        delete_vip_rows(session, vip)
        return
    _pending(vip, c.PENDING_DELETE)
    _notify(session, s, pool, vip)


def delete_vip_rows(session: Session, vip: m.Listener) -> None:
    """The VIP (the listener), its port and address; the pool loses the VIP's session
    persistence."""
    lb = vip.loadbalancer
    port = lb.vip_port
    amphorae.free_ports(session, lb)
    _pool_of(vip).session_persistence = None
    session.delete(vip)
    lb.vip_subnet_id = lb.vip_network_id = lb.vip_port_id = lb.vip_address = None
    session.flush()
    if port is not None:
        session.delete(port)
    session.flush()
    session.expire(lb, ["listeners", "vip_port"])


# --- stats ------------------------------------------------------------------------------

STATS_KEYS = ("bytes_in", "bytes_out", "active_connections", "total_connections")


def pool_stats(session: Session, ctx: Context, pool_id: str) -> dict[str, int]:
    pool = get_pool(session, ctx, pool_id)
    st = pool.stats
    return {k: (getattr(st, k) if st else 0) for k in STATS_KEYS}
