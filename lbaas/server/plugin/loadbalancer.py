"""Neutron LBaaS v1's business rules: pools, members, health monitors, VIPs, and the
status machine the agent drives.

Every change marks the object PENDING_* and tells the pool's host (agents.touch_pool);
the agent realizes it and confirms with pool_deployed / pool_destroyed / update_status.
A pool that no live agent can take keeps its objects pending, saying why.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.server import errors
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import agents, core
from lbaas.server.plugin.base import (
    check_quota,
    get_visible,
    refuse_pending_delete,
    visible_query,
)


class Settings:
    """What the rules need from the configuration."""

    def __init__(self, conf: Any) -> None:
        self.conf = conf
        self.agent_down_time: int = conf.agent.agent_down_time


def _notify(session: Session, s: Settings, pool: m.Pool, *objs: Any) -> None:
    reason = agents.touch_pool(session, pool, s.agent_down_time)
    if reason:
        for obj in objs:
            obj.status_description = reason


def _pending(obj: Any, status: str) -> None:
    obj.status = status
    obj.status_description = None


# --- pools ------------------------------------------------------------------------------

def pool_dict(p: m.Pool) -> dict[str, Any]:
    return {
        "id": p.id, "tenant_id": p.tenant_id, "project_id": p.tenant_id, "name": p.name,
        "description": p.description, "subnet_id": p.subnet_id, "protocol": p.protocol,
        "lb_method": p.lb_method, "provider": p.provider,
        "admin_state_up": p.admin_state_up, "status": p.status,
        "status_description": p.status_description,
        "vip_id": p.vip.id if p.vip else None,
        "members": [mem.id for mem in p.members],
        "health_monitors": [a.monitor_id for a in p.monitors],
        "health_monitors_status": [{"monitor_id": a.monitor_id, "status": a.status,
                                    "status_description": a.status_description}
                                   for a in p.monitors],
    }


def create_pool(session: Session, ctx: Context, s: Settings, body: dict[str, Any]) -> m.Pool:
    subnet = core.get_subnet(session, ctx, body["subnet_id"])
    check_quota(session, s.conf, m.Pool, body["tenant_id"], "pool")
    pool = m.Pool(tenant_id=body["tenant_id"], name=body.get("name", ""),
                  description=body.get("description", ""), subnet_id=subnet.id,
                  protocol=body["protocol"], lb_method=body["lb_method"],
                  provider=body.get("provider", "haproxy"),
                  admin_state_up=body.get("admin_state_up", True),
                  status=c.PENDING_CREATE)
    session.add(pool)
    session.flush()
    _notify(session, s, pool, pool)
    return pool


def get_pool(session: Session, ctx: Context, pool_id: str) -> m.Pool:
    return get_visible(session, ctx, m.Pool, pool_id, errors.PoolNotFound)


def list_pools(session: Session, ctx: Context) -> list[m.Pool]:
    return list(session.scalars(visible_query(ctx, m.Pool)))


def update_pool(session: Session, ctx: Context, s: Settings, pool_id: str,
                body: dict[str, Any]) -> m.Pool:
    pool = get_pool(session, ctx, pool_id)
    refuse_pending_delete(pool)
    for key in ("name", "description", "lb_method", "admin_state_up"):
        if key in body:
            setattr(pool, key, body[key])
    _pending(pool, c.PENDING_UPDATE)
    _notify(session, s, pool, pool)
    return pool


def delete_pool(session: Session, ctx: Context, s: Settings, pool_id: str) -> None:
    pool = get_pool(session, ctx, pool_id)
    if pool.vip is not None:
        raise errors.PoolInUse(pool_id=pool.id)
    if pool.binding is None:
        delete_pool_rows(session, pool)
        return
    _pending(pool, c.PENDING_DELETE)
    _notify(session, s, pool, pool)


def delete_pool_rows(session: Session, pool: m.Pool) -> None:
    for member in list(pool.members):
        session.delete(member)
    session.flush()
    session.delete(pool)


# --- members ----------------------------------------------------------------------------

def member_dict(mem: m.Member) -> dict[str, Any]:
    return {
        "id": mem.id, "tenant_id": mem.tenant_id, "project_id": mem.tenant_id,
        "pool_id": mem.pool_id, "address": mem.address,
        "protocol_port": mem.protocol_port, "weight": mem.weight,
        "admin_state_up": mem.admin_state_up, "status": mem.status,
        "status_description": mem.status_description,
    }


def _refuse_duplicate_member(session: Session, pool_id: str, address: str, port: int,
                             exclude: str | None = None) -> None:
    q = select(m.Member.id).where(m.Member.pool_id == pool_id, m.Member.address == address,
                                  m.Member.protocol_port == port)
    if exclude:
        q = q.where(m.Member.id != exclude)
    if session.scalar(q):
        raise errors.MemberExists(address=address, port=port, pool=pool_id)


def create_member(session: Session, ctx: Context, s: Settings,
                  body: dict[str, Any]) -> m.Member:
    pool = get_pool(session, ctx, body["pool_id"])
    refuse_pending_delete(pool)
    address = str(ipaddress.ip_address(body["address"]))
    _refuse_duplicate_member(session, pool.id, address, body["protocol_port"])
    check_quota(session, s.conf, m.Member, body["tenant_id"], "member")
    pool_id = pool.id
    member = m.Member(tenant_id=body["tenant_id"], pool_id=pool_id, address=address,
                      protocol_port=body["protocol_port"], weight=body.get("weight", 1),
                      admin_state_up=body.get("admin_state_up", True),
                      status=c.PENDING_CREATE)
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


def get_member(session: Session, ctx: Context, member_id: str) -> m.Member:
    return get_visible(session, ctx, m.Member, member_id, errors.MemberNotFound)


def list_members(session: Session, ctx: Context) -> list[m.Member]:
    return list(session.scalars(visible_query(ctx, m.Member)))


def update_member(session: Session, ctx: Context, s: Settings, member_id: str,
                  body: dict[str, Any]) -> m.Member:
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
        agents.touch_pool(session, old_pool, s.agent_down_time)
    for key in ("weight", "admin_state_up"):
        if key in body:
            setattr(member, key, body[key])
    _pending(member, c.PENDING_UPDATE)
    _notify(session, s, member.pool, member)
    return member


def delete_member(session: Session, ctx: Context, s: Settings, member_id: str) -> None:
    member = get_member(session, ctx, member_id)
    pool = member.pool
    if pool.binding is None:
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


def list_health_monitors(session: Session, ctx: Context) -> list[m.HealthMonitor]:
    return list(session.scalars(visible_query(ctx, m.HealthMonitor)))


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
            _pending(assoc, c.PENDING_UPDATE)
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
    if pool.binding is None:
        session.delete(assoc)
        return
    _pending(assoc, c.PENDING_DELETE)
    _notify(session, s, pool, assoc)


# --- VIPs -------------------------------------------------------------------------------

def vip_dict(v: m.Vip) -> dict[str, Any]:
    sp = None
    if v.session_persistence_type:
        sp = {"type": v.session_persistence_type}
        if v.session_persistence_cookie_name:
            sp["cookie_name"] = v.session_persistence_cookie_name
    return {
        "id": v.id, "tenant_id": v.tenant_id, "project_id": v.tenant_id, "name": v.name,
        "description": v.description, "subnet_id": v.subnet_id, "address": v.address,
        "port_id": v.port_id, "protocol_port": v.protocol_port, "protocol": v.protocol,
        "pool_id": v.pool_id, "session_persistence": sp,
        "connection_limit": v.connection_limit, "admin_state_up": v.admin_state_up,
        "status": v.status, "status_description": v.status_description,
    }


def _set_session_persistence(vip: m.Vip, sp: dict[str, Any] | None) -> None:
    vip.session_persistence_type = sp["type"] if sp else None
    vip.session_persistence_cookie_name = sp.get("cookie_name") if sp else None


def create_vip(session: Session, ctx: Context, s: Settings, body: dict[str, Any]) -> m.Vip:
    pool = get_pool(session, ctx, body["pool_id"])
    refuse_pending_delete(pool)
    subnet = core.get_subnet(session, ctx, body["subnet_id"])
    if body["protocol"] != pool.protocol:
        raise errors.InvalidInput(error_message=f"protocol {body['protocol']} of the VIP "
                                  f"does not match protocol {pool.protocol} of the pool")
    if pool.vip is not None:
        raise errors.VipExists(pool_id=pool.id)
    check_quota(session, s.conf, m.Vip, body["tenant_id"], "vip")
    vip_id = m.new_id()
    fixed_ip: dict[str, Any] = {"subnet_id": subnet.id}
    if body.get("address"):
        fixed_ip["ip_address"] = body["address"]
    port = core.create_port(session, ctx, {
        "tenant_id": body["tenant_id"], "network_id": subnet.network_id,
        "name": f"vip-{vip_id}", "fixed_ips": [fixed_ip], "admin_state_up": False,
        "device_id": vip_id, "device_owner": c.DEVICE_OWNER_LOADBALANCER,
    }, forbid_gateway=True)
    vip = m.Vip(id=vip_id, tenant_id=body["tenant_id"], name=body.get("name", ""),
                description=body.get("description", ""), subnet_id=subnet.id,
                port_id=port.id, address=port.fixed_ips[0].ip_address,
                protocol_port=body["protocol_port"], protocol=body["protocol"],
                pool_id=pool.id, connection_limit=body.get("connection_limit", -1),
                admin_state_up=body.get("admin_state_up", True), status=c.PENDING_CREATE)
    _set_session_persistence(vip, body.get("session_persistence"))
    pool_id = pool.id
    try:
        with session.begin_nested():
            session.add(vip)
            session.flush()
    except IntegrityError:
        raise errors.VipExists(pool_id=pool_id) from None
    session.refresh(pool, ["vip"])
    _notify(session, s, pool, vip)
    return vip


def get_vip(session: Session, ctx: Context, vip_id: str) -> m.Vip:
    return get_visible(session, ctx, m.Vip, vip_id, errors.VipNotFound)


def list_vips(session: Session, ctx: Context) -> list[m.Vip]:
    return list(session.scalars(visible_query(ctx, m.Vip)))


def update_vip(session: Session, ctx: Context, s: Settings, vip_id: str,
               body: dict[str, Any]) -> m.Vip:
    vip = get_vip(session, ctx, vip_id)
    refuse_pending_delete(vip)
    for key in ("name", "description", "connection_limit", "admin_state_up"):
        if key in body:
            setattr(vip, key, body[key])
    if "session_persistence" in body:
        _set_session_persistence(vip, body["session_persistence"])
    _pending(vip, c.PENDING_UPDATE)
    _notify(session, s, vip.pool, vip)
    return vip


def delete_vip(session: Session, ctx: Context, s: Settings, vip_id: str) -> None:
    vip = get_vip(session, ctx, vip_id)
    pool = vip.pool
    if pool.binding is None:
        _delete_vip_rows(session, vip)
        return
    _pending(vip, c.PENDING_DELETE)
    _notify(session, s, pool, vip)


def _delete_vip_rows(session: Session, vip: m.Vip) -> None:
    port = vip.port
    session.delete(vip)
    session.flush()
    session.delete(port)


# --- stats ------------------------------------------------------------------------------

STATS_KEYS = ("bytes_in", "bytes_out", "active_connections", "total_connections")


def pool_stats(session: Session, ctx: Context, pool_id: str) -> dict[str, int]:
    pool = get_pool(session, ctx, pool_id)
    st = pool.stats
    return {k: (getattr(st, k) if st else 0) for k in STATS_KEYS}
