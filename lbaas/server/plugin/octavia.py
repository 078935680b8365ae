"""Octavia v2's rules over the load balancer model: load balancers, listeners, pools,
members and health monitors, and the status machine the agent drives.

Octavia's locking, which clients depend on: a change to any object of a load balancer
needs the load balancer ACTIVE (else 409 "Load Balancer <id> is immutable and cannot be
updated."), and puts it in PENDING_UPDATE (PENDING_CREATE / PENDING_DELETE for itself)
with the changed object PENDING_*; the agent's ``deployed`` makes everything ACTIVE again
and removes what was PENDING_DELETE. So at most one change per load balancer is in
flight, and a client that waits for ACTIVE knows its change is on the data plane.

The API layer (lbaas/server/api/v2/) validates shapes; this module holds the rules that
need the database. Errors are :class:`lbaas.server.errors.OctaviaFault` subclasses.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.common import request_id
from lbaas.server import errors
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import agents, amphorae, core, member_ports, scheduler, tls

PENDING = (c.PENDING_CREATE, c.PENDING_UPDATE, c.PENDING_DELETE)

QUOTA_RESOURCES: dict[str, tuple[Any, str, str]] = {
    "load_balancer": (m.LoadBalancer, "default_load_balancer_quota", "Load Balancer"),
    "listener": (m.Listener, "default_listener_quota", "Listener"),
    "pool": (m.LbPool, "default_pool_quota", "Pool"),
    "member": (m.LbMember, "default_member_quota", "Member"),
    "healthmonitor": (m.LbHealthMonitor, "default_health_monitor_quota", "Health Monitor"),
}


# --- lookups ----------------------------------------------------------------------------

OCTAVIA = 2  # LoadBalancer.api_version of the load balancers this API manages


def _lb_of(obj: Any) -> m.LoadBalancer:
    if isinstance(obj, m.LoadBalancer):
        return obj
    if isinstance(obj, (m.LbMember, m.LbHealthMonitor)):
        return obj.pool.loadbalancer
    if isinstance(obj, m.L7Policy):
        return obj.listener.loadbalancer
    if isinstance(obj, m.L7Rule):
        return obj.l7policy.listener.loadbalancer
    lb: m.LoadBalancer = obj.loadbalancer
    return lb


def _ours(obj: Any, ctx: Context) -> bool:
    """Visible to the caller through this API: the caller's (or an admin), and made
    through Octavia's API. v1's pools are load balancers of the same model, but with
    v1's statuses, shared monitors and per-object locking they stay v1's to manage."""
    return obj is not None and ctx.owns(obj.tenant_id) and \
        _lb_of(obj).api_version == OCTAVIA


def _visible(session: Session, ctx: Context, model: Any, obj_id: str, what: str) -> Any:
    obj = session.get(model, obj_id)
    if not _ours(obj, ctx):
        raise errors.OctaviaNotFound(what, obj_id)
    return obj


def get_loadbalancer(session: Session, ctx: Context, lb_id: str) -> m.LoadBalancer:
    lb: m.LoadBalancer = _visible(session, ctx, m.LoadBalancer, lb_id, "Load Balancer")
    return lb


def get_listener(session: Session, ctx: Context, listener_id: str) -> m.Listener:
    obj: m.Listener = _visible(session, ctx, m.Listener, listener_id, "Listener")
    return obj


def get_pool(session: Session, ctx: Context, pool_id: str) -> m.LbPool:
    obj: m.LbPool = _visible(session, ctx, m.LbPool, pool_id, "Pool")
    return obj


def get_member(session: Session, ctx: Context, pool_id: str, member_id: str) -> m.LbMember:
    pool = get_pool(session, ctx, pool_id)
    member = session.get(m.LbMember, member_id)
    if member is None or member.pool_id != pool.id:
        raise errors.OctaviaNotFound("Member", member_id)
    return member


def get_healthmonitor(session: Session, ctx: Context, hm_id: str) -> m.LbHealthMonitor:
    obj: m.LbHealthMonitor = _visible(session, ctx, m.LbHealthMonitor, hm_id,
                                      "Health Monitor")
    return obj


def octavia_only(q: Any, model: Any) -> Any:
    """``q`` (a select of ``model``) restricted to objects made through this API."""
    if model is m.LoadBalancer:
        return q.where(m.LoadBalancer.api_version == OCTAVIA)
    if model in (m.LbMember, m.LbHealthMonitor):
        q = q.join(m.LbPool, m.LbPool.id == model.pool_id)
        model = m.LbPool
    return q.join(m.LoadBalancer, m.LoadBalancer.id == model.loadbalancer_id).where(
        m.LoadBalancer.api_version == OCTAVIA)


# --- quotas -----------------------------------------------------------------------------

def quota_limits(session: Session, conf: Any, project_id: str) -> dict[str, int]:
    row = session.get(m.LbQuota, project_id)
    limits = {}
    for name, (_, option, _label) in QUOTA_RESOURCES.items():
        value = getattr(row, name) if row is not None else None
        limits[name] = value if value is not None else getattr(conf.quotas, option)
    return limits


def quota_usage(session: Session, project_id: str) -> dict[str, int]:
    usage = {}
    for name, (model, _, _label) in QUOTA_RESOURCES.items():
        usage[name] = session.scalar(octavia_only(
            select(func.count()).select_from(model), model).where(
                model.tenant_id == project_id,
                model.provisioning_status != c.PENDING_DELETE)) or 0
    return usage


def _check_quota(session: Session, conf: Any, project_id: str,
                 wanted: dict[str, int]) -> None:
    """Octavia answers an exceeded quota with a 403."""
    limits = quota_limits(session, conf, project_id)
    if all(limits[name] < 0 for name in wanted):
        return
    usage = quota_usage(session, project_id)
    for name, extra in wanted.items():
        if extra and limits[name] >= 0 and usage[name] + extra > limits[name]:
            raise errors.OctaviaQuotaExceeded(QUOTA_RESOURCES[name][2])


# --- the status machine -----------------------------------------------------------------

def _lock(lb: m.LoadBalancer) -> None:
    """Octavia's lock: the load balancer must be ACTIVE; it becomes PENDING_UPDATE."""
    if lb.provisioning_status not in c.MUTABLE_STATUSES:
        raise errors.OctaviaImmutable("Load Balancer", lb.id)
    lb.provisioning_status = c.PENDING_UPDATE


def _notify(session: Session, s: Any, lb: m.LoadBalancer) -> None:
    """Tell the load balancer's host it changed, scheduling it first if it has none
    (Octavia shows no reason while it waits: the load balancer stays PENDING_*), and
    give it a port on each member subnet that has none yet (in this transaction: a
    subnet without a free address fails the change)."""
    scheduler.touch(session, lb, s.agent_down_time)
    if lb.topology != "ACTIVE_STANDBY":
        member_ports.ensure(session, lb, member_ports.SINGLE_KEY)
        return
    # ACTIVE_STANDBY: each amphora plugs a set of its own (its agent binds them).
    for amp in lb.amphorae:
        member_ports.ensure(session, lb, amp.id)


def _check_member_subnets(session: Session, ctx: Context,
                          bodies: Iterable[dict[str, Any]]) -> None:
    """Octavia's check of a member's ``subnet_id``: one the caller cannot see is a 400
    "Subnet <id> not found."."""
    for body in bodies:
        if body.get("subnet_id"):
            _subnet(session, ctx, body["subnet_id"])


def _operating_default(admin_state_up: bool) -> str:
    return c.OFFLINE if not admin_state_up else c.OFFLINE


def _tags(value: Iterable[str] | None) -> list[str]:
    return sorted(set(value or []))


# Octavia's update semantics: an attribute sent as null is reset to its default (that is
# what ``openstack loadbalancer ... unset --name/--description/--weight/...`` sends);
# these are the defaults, per resource. Attributes not listed keep their value on null.
LB_DEFAULTS: dict[str, Any] = {"name": "", "description": ""}
LISTENER_DEFAULTS: dict[str, Any] = {
    "name": "", "description": "", "connection_limit": -1,
    "timeout_client_data": 50000, "timeout_member_connect": 5000,
    "timeout_member_data": 50000, "timeout_tcp_inspect": 0, "insert_headers": {}}
POOL_DEFAULTS: dict[str, Any] = {"name": "", "description": ""}

# Octavia's TLS defaults ([api_settings] default_listener_tls_versions, ..._ciphers,
# ..._alpn_protocols and the pool's): what a TERMINATED_HTTPS listener, or a pool with
# tls_enabled, gets when the request names none (docs/tls.md).
TLS_VERSIONS_DEFAULT = ["TLSv1.2", "TLSv1.3"]
TLS_CIPHERS_DEFAULT = (
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
    "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA256:DHE-RSA-AES128-SHA256:"
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256:"
    "ECDHE-RSA-AES128-SHA256")
LISTENER_ALPN_DEFAULT = ["h2", "http/1.1", "http/1.0"]
POOL_ALPN_DEFAULT = ["http/1.1", "http/1.0"]
LISTENER_TLS_KEYS = ("default_tls_container_ref", "sni_container_refs",
                     "client_authentication", "client_ca_tls_container_ref",
                     "client_crl_container_ref", "tls_versions", "tls_ciphers",
                     "alpn_protocols", "hsts_max_age", "hsts_include_subdomains",
                     "hsts_preload")
POOL_TLS_KEYS = ("tls_enabled", "tls_container_ref", "ca_tls_container_ref",
                 "crl_container_ref", "tls_versions", "tls_ciphers", "alpn_protocols")


def _listener_tls_defaults(listener: m.Listener) -> None:
    if listener.protocol != "TERMINATED_HTTPS":
        return
    if not listener.tls_versions:
        listener.tls_versions = list(TLS_VERSIONS_DEFAULT)
    if listener.tls_ciphers is None:
        listener.tls_ciphers = TLS_CIPHERS_DEFAULT
    if not listener.alpn_protocols:
        listener.alpn_protocols = list(LISTENER_ALPN_DEFAULT)


def _pool_tls_defaults(pool: m.LbPool) -> None:
    if not pool.tls_enabled:
        return
    if not pool.tls_versions:
        pool.tls_versions = list(TLS_VERSIONS_DEFAULT)
    if pool.tls_ciphers is None:
        pool.tls_ciphers = TLS_CIPHERS_DEFAULT
    if not pool.alpn_protocols:
        pool.alpn_protocols = list(POOL_ALPN_DEFAULT)


def _check_tls(session: Session, s: Any, obj: m.Listener | m.LbPool) -> None:
    """The refs of a listener or pool resolve in its project to what Octavia accepts
    (lbaas/server/plugin/tls.py): a 400 naming the ref otherwise."""
    try:
        tls.check_refs(session, s.vault, obj.tenant_id, obj)
    except tls.TlsRefError as exc:
        raise errors.OctaviaBadRequest(str(exc)) from None
MEMBER_DEFAULTS: dict[str, Any] = {"name": "", "weight": 1, "backup": False,
                                   "monitor_address": None, "monitor_port": None}


def _apply(obj: Any, body: dict[str, Any], keys: Iterable[str],
           defaults: dict[str, Any]) -> None:
    """Set ``keys`` present in ``body`` on ``obj``; null means the default when there is
    one (``defaults``), else no change."""
    for key in keys:
        if key not in body:
            continue
        value = body[key]
        if value is None:
            if key not in defaults:
                continue
            value = defaults[key]
            value = dict(value) if isinstance(value, dict) else value
        setattr(obj, key, value)


# --- load balancers ---------------------------------------------------------------------

def resolve_provider(name: str | None) -> str:
    if name is None:
        return c.PROVIDER_HAPROXY_NS
    name = c.PROVIDER_ALIASES.get(name, name)
    if name != c.PROVIDER_HAPROXY_NS:
        raise errors.OctaviaBadRequest(
            f"Provider '{name}' is not enabled.")
    return name


def create_loadbalancer(session: Session, ctx: Context, s: Any,
                        body: dict[str, Any]) -> m.LoadBalancer:
    """``body``: the validated request, tenant decided. Listeners and pools given in the
    body (Octavia's single-call create) are made in the same transaction."""
    provider = resolve_provider(body.get("provider"))
    topology = amphorae.v2_topology(None, s.topology)
    flavor_id = body.get("flavor_id")
    if flavor_id is not None:
        flavor = session.get(m.Flavor, flavor_id)
        if flavor is None:
            raise errors.OctaviaBadRequest(f"Flavor {flavor_id} not found.")
        if not flavor.enabled:
            raise errors.OctaviaBadRequest(f"The selected flavor is not allowed in this "
                                           f"deployment: {flavor_id}")
        topology = amphorae.v2_topology(flavor_topology(flavor.profile.flavor_data),
                                        s.topology)
    if body.get("availability_zone"):
        raise errors.OctaviaBadRequest(
            f"Availability zone {body['availability_zone']} not found.")
    subnet, network_id, port = _vip(session, ctx, body)
    wanted = {"load_balancer": 1, "listener": len(body.get("listeners") or []),
              "pool": len(_all_pool_bodies(body)),
              "member": 0, "healthmonitor": 0}
    for pool in _all_pool_bodies(body):
        wanted["member"] += len(pool.get("members") or [])
        wanted["healthmonitor"] += 1 if pool.get("healthmonitor") else 0
        _check_member_subnets(session, ctx, pool.get("members") or [])
    _check_quota(session, s.conf, body["tenant_id"], wanted)
    batch = _Batch()
    lb = m.LoadBalancer(
        id=m.new_id(), created_at=batch.stamp(),
        tenant_id=body["tenant_id"], name=body.get("name") or "",
        description=body.get("description") or "",
        admin_state_up=body.get("admin_state_up", True), tags=_tags(body.get("tags")),
        vip_subnet_id=subnet.id, vip_network_id=network_id, vip_port_id=port.id,
        vip_address=port.fixed_ips[0].ip_address, provider=provider, flavor_id=flavor_id,
        topology=topology, provisioning_status=c.PENDING_CREATE,
        operating_status=c.OFFLINE, revision=0)
    if amphorae.is_active_standby(lb):
        amphorae.ensure_rows(lb)
    session.add(lb)
    port.device_id = lb.id
    port.name = f"octavia-lb-{lb.id}"
    pools_by_name: dict[str, m.LbPool] = {}
    for pool_body in body.get("pools") or []:
        named = _new_pool(session, lb, pool_body, batch)
        if pool_body.get("name"):
            pools_by_name[pool_body["name"]] = named
    made: list[tuple[m.Listener, dict[str, Any]]] = []
    for listener_body in body.get("listeners") or []:
        listener = _new_listener(session, lb, listener_body, batch)
        made.append((listener, listener_body))
        default = listener_body.get("default_pool")
        if default is not None:
            default_pool = _new_pool(session, lb, default, batch)
            _check_pool_for_listener(default_pool, listener)
            listener.default_pool_id = default_pool.id
        elif listener_body.get("default_pool_id") is not None:
            raise errors.OctaviaBadRequest(
                "default_pool_id can't be given in a load balancer's single-call create; "
                "use default_pool")
        for named in pools_by_name.values():
            if listener_body.get("default_pool_name") == named.name:
                _check_pool_for_listener(named, listener)
                listener.default_pool_id = named.id
    if any(li.get("l7policies") for li in body.get("listeners") or []):
        _l7_in_tree(session, lb, body, made, batch)
    session.flush()
    for listener in lb.listeners:
        _check_tls(session, s, listener)
    for lb_pool in lb.pools:
        _check_tls(session, s, lb_pool)
    _notify(session, s, lb)
    return lb


def _redirect_pools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The whole pools given as an L7 policy's ``redirect_pool`` (with more than a
    name) in a single-call create."""
    return [pol["redirect_pool"] for li in body.get("listeners") or []
            for pol in li.get("l7policies") or []
            if pol.get("redirect_pool") and "protocol" in pol["redirect_pool"]]


def _l7_in_tree(session: Session, lb: m.LoadBalancer, body: dict[str, Any],
                made: list[tuple[m.Listener, dict[str, Any]]], batch: _Batch) -> None:
    """The listeners' L7 policies of a single-call create. Octavia's rules: a pool a
    policy redirects to is named, whole in the ``redirect_pool`` or defined elsewhere in
    the body (top level, a listener's default pool) under that name, which no other
    pool of the body has."""
    from lbaas.server.plugin import octavia_l7  # it builds on this module

    named: dict[str, list[m.LbPool]] = {}
    for pool in lb.pools:
        if pool.name:
            named.setdefault(pool.name, []).append(pool)
    for pool_body in _redirect_pools(body):
        if not pool_body.get("name"):
            raise errors.OctaviaBadRequest(
                "Pools must be named when creating a fully populated loadbalancer.")
        named.setdefault(pool_body["name"], []).append(
            _new_pool(session, lb, pool_body, batch))

    def pool_named(name: str | None) -> m.LbPool:
        if not name:
            raise errors.OctaviaBadRequest(
                "Pools must be named when creating a fully populated loadbalancer.")
        found = named.get(name, [])
        if not found:
            raise errors.OctaviaBadRequest(
                f"Pool '{name}' was referenced but no full definition was found.")
        if len(found) > 1:
            raise errors.OctaviaBadRequest(
                "Pool names must be unique when creating a fully populated loadbalancer.")
        return found[0]

    session.flush()  # the policies refer to the pools and listeners by id
    for listener, listener_body in made:
        octavia_l7.create_in_tree(session, listener, listener_body.get("l7policies") or [],
                                  pool_named)


class _Batch:
    """The objects of one single-call create, written by one flush at its end instead of
    one flush each (a load balancer with a listener, a pool, three members and a monitor
    took ten flushes and three lazy loads of collections just flushed, measured at 2-5
    ms per flush through the ORM on the provision bench's host). Ids are set when the
    objects are made (they name each other); creation times, which order the lists,
    strictly increase in the body's order as the flush per object left them."""

    def __init__(self) -> None:
        self._last: dt.datetime | None = None

    def stamp(self) -> dt.datetime:
        now = m.utcnow()
        if self._last is not None and now <= self._last:
            now = self._last + dt.timedelta(microseconds=1)
        self._last = now
        return now


def _made(session: Session, obj: Any, batch: _Batch | None) -> None:
    """Add a new object: flushed now (its own create), or stamped for the batch's
    flush."""
    session.add(obj)
    if batch is None:
        session.flush()
    else:
        obj.created_at = batch.stamp()


def _all_pool_bodies(body: dict[str, Any]) -> list[dict[str, Any]]:
    pools = list(body.get("pools") or [])
    pools += [li["default_pool"] for li in body.get("listeners") or []
              if li.get("default_pool")]
    return pools + _redirect_pools(body)


def flavor_topology(flavor_data: str) -> str | None:
    """The profile's ``loadbalancer_topology``; None when it names none (the configured
    default then applies)."""
    import json

    try:
        data = json.loads(flavor_data or "{}")
    except ValueError:
        return None
    topology = data.get("loadbalancer_topology") if isinstance(data, dict) else None
    return topology if topology in ("SINGLE", "ACTIVE_STANDBY") else None


def _vip(session: Session, ctx: Context, body: dict[str, Any]) -> tuple[m.Subnet, str, m.Port]:
    """The VIP's subnet, network and port: Octavia takes a port, a subnet or a network
    (the network's first subnet of the address's version)."""
    address = body.get("vip_address")
    if body.get("vip_port_id"):
        port = core.get_port(session, ctx, body["vip_port_id"])
        if port.device_id or port.device_owner:
            raise errors.OctaviaBadRequest(
                f"Port {port.id} is already in use by {port.device_owner or 'a device'}")
        if not port.fixed_ips:
            raise errors.OctaviaBadRequest(f"Port {port.id} has no IP address")
        port.device_owner = c.DEVICE_OWNER_LOADBALANCERV2
        return port.fixed_ips[0].subnet, port.network_id, port
    if body.get("vip_subnet_id"):
        subnet = _subnet(session, ctx, body["vip_subnet_id"])
        if body.get("vip_network_id") and body["vip_network_id"] != subnet.network_id:
            raise errors.OctaviaBadRequest(
                f"Subnet {subnet.id} is not on network {body['vip_network_id']}")
    elif body.get("vip_network_id"):
        network = _network(session, ctx, body["vip_network_id"])
        candidates = network.subnets
        if address is not None:
            version = ipaddress.ip_address(address).version
            candidates = [sn for sn in candidates if sn.ip_version == version]
        if not candidates:
            raise errors.OctaviaBadRequest(
                f"Network {network.id} has no subnet for the VIP")
        subnet = candidates[0]
    else:
        raise errors.OctaviaBadRequest(
            "VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
    fixed_ip: dict[str, Any] = {"subnet_id": subnet.id}
    if address is not None:
        if ipaddress.ip_address(address) not in ipaddress.ip_network(subnet.cidr):
            raise errors.OctaviaBadRequest(
                f"VIP address {address} is not in subnet {subnet.id}")
        fixed_ip["ip_address"] = address
    try:
        port = core.create_port(session, ctx, {
            "tenant_id": body["tenant_id"], "network_id": subnet.network_id,
            "name": "", "fixed_ips": [fixed_ip], "admin_state_up": False,
            "device_owner": c.DEVICE_OWNER_LOADBALANCERV2}, forbid_gateway=True)
    except errors.NeutronError as exc:
        raise errors.OctaviaConflict(exc.msg) if exc.status_code == 409 else \
            errors.OctaviaBadRequest(exc.msg) from None
    return subnet, subnet.network_id, port


def _subnet(session: Session, ctx: Context, subnet_id: str) -> m.Subnet:
    try:
        return core.get_subnet(session, ctx, subnet_id)
    except errors.NotFound:
        raise errors.OctaviaBadRequest(f"Subnet {subnet_id} not found.") from None


def _network(session: Session, ctx: Context, network_id: str) -> m.Network:
    try:
        return core.get_network(session, ctx, network_id)
    except errors.NotFound:
        raise errors.OctaviaBadRequest(f"Network {network_id} not found.") from None


def update_loadbalancer(session: Session, ctx: Context, s: Any, lb_id: str,
                        body: dict[str, Any]) -> m.LoadBalancer:
    lb = get_loadbalancer(session, ctx, lb_id)
    _lock(lb)
    _apply(lb, body, ("name", "description", "admin_state_up"), LB_DEFAULTS)
    if "tags" in body:
        lb.tags = _tags(body["tags"])
    _notify(session, s, lb)
    return lb


def delete_loadbalancer(session: Session, ctx: Context, s: Any, lb_id: str,
                        cascade: bool) -> None:
    lb = get_loadbalancer(session, ctx, lb_id)
    # One that no agent ever took (none maps its network) has nothing to undo on any
    # host: it can go whatever its status, or it could never be deleted.
    if lb.provisioning_status not in c.DELETABLE_STATUSES and lb.agent_id is not None:
        raise errors.OctaviaImmutable("Load Balancer", lb.id)
    if not cascade and (lb.listeners or lb.pools):
        raise errors.OctaviaBadRequest(
            f"Cannot delete Load Balancer {lb.id} - it has children")
    lb.provisioning_status = c.PENDING_DELETE
    for obj in _children(lb):
        obj.provisioning_status = c.PENDING_DELETE
    if lb.agent_id is None:
        delete_loadbalancer_rows(session, lb)
        return
    _notify(session, s, lb)


def failover_loadbalancer(session: Session, ctx: Context, s: Any, lb_id: str) -> None:
    """Octavia's failover, which an operator asks for when the data plane is suspect
    although its configuration is right: the agent re-plugs the VIP port (a new device,
    addresses, routes, gratuitous ARP) and starts a fresh HAProxy in place of the old
    one. A new revision alone would not do it (the agent would find the same config and
    leave the process alone), so the load balancer's ``failover_generation`` goes up:
    the agent records the generation it realized and rebuilds when the device's is
    higher. Octavia's lock applies as to any change: ACTIVE only, PENDING_UPDATE until
    the agent confirms."""
    if not ctx.is_admin:
        raise errors.OctaviaForbidden()
    lb = get_loadbalancer(session, ctx, lb_id)
    _lock(lb)
    _fail_over(session, s, lb)


def _fail_over(session: Session, s: Any, lb: m.LoadBalancer) -> None:
    """SINGLE: a new data plane (``failover_generation``). ACTIVE_STANDBY: the two
    amphorae swap roles and priorities, and a new revision tells both agents, which
    re-render keepalived: the new MASTER takes the VIP from a data plane that keeps
    running (raising the generation would make both rebuild theirs, at once)."""
    if amphorae.is_active_standby(lb):
        amphorae.swap_roles(lb)
    else:
        lb.failover_generation = (lb.failover_generation or 0) + 1
    _notify(session, s, lb)


def failover_amphora(session: Session, ctx: Context, s: Any, amphora_id: str) -> None:
    """Octavia's amphora failover (``PUT /v2/octavia/amphorae/{id}/failover``) under the
    load balancer's lock. A SINGLE load balancer's one instance: the load balancer's
    failover. An ACTIVE_STANDBY amphora moves to another live agent that runs neither
    instance, when there is one, as after a host failure (it comes back BACKUP);
    otherwise it stays, and if it was MASTER the roles are swapped so that the VIP
    leaves it."""
    lb, amp = amphorae.find(session, amphora_id)
    _lock(lb)
    if amp is None:
        _fail_over(session, s, lb)
        return
    if amp.agent is not None:
        fits = scheduler.live_agents(session, scheduler.physnet_of(lb), s.agent_down_time)
        choice = amphorae.candidates_for(lb, amp, fits, scheduler.load_by_agent(session))
        if choice:
            old = amp.agent_id
            assert old is not None
            amphorae.moved_to(session, lb, amp, choice[0])
            agents.bump(session, old)
            lb.request_id = request_id.current() or lb.request_id
            return
    if amp.role == amphorae.MASTER:
        amphorae.swap_roles(lb)
    _notify(session, s, lb)


def _children(lb: m.LoadBalancer) -> list[Any]:
    objs: list[Any] = []
    for listener in lb.listeners:
        objs.append(listener)
        for policy in listener.l7policies:
            objs.append(policy)
            objs.extend(policy.rules)
    for pool in lb.pools:
        objs.append(pool)
        objs.extend(pool.members)
        if pool.healthmonitor is not None:
            objs.append(pool.healthmonitor)
    return objs


def delete_loadbalancer_rows(session: Session, lb: m.LoadBalancer) -> None:
    member_ports.release_all(session, lb)
    amphorae.free_ports(session, lb)
    port = lb.vip_port
    for listener in lb.listeners:
        listener.default_pool_id = None
        for policy in listener.l7policies:
            policy.redirect_pool_id = None
    session.flush()
    session.delete(lb)
    session.flush()
    if port is not None:
        session.delete(port)


# --- listeners --------------------------------------------------------------------------

def _new_listener(session: Session, lb: m.LoadBalancer, body: dict[str, Any],
                  batch: _Batch | None = None) -> m.Listener:
    port = body["protocol_port"]
    if any(li.protocol_port == port for li in lb.listeners
           if li.provisioning_status != c.PENDING_DELETE):
        raise errors.OctaviaConflict(
            f"Another Listener on this Load Balancer is already using protocol_port {port}")
    listener = m.Listener(
        id=m.new_id(), tenant_id=lb.tenant_id, loadbalancer=lb, name=body.get("name") or "",
        description=body.get("description") or "",
        admin_state_up=body.get("admin_state_up", True), tags=_tags(body.get("tags")),
        protocol=body["protocol"], protocol_port=port,
        connection_limit=body.get("connection_limit", -1),
        insert_headers=body.get("insert_headers") or {},
        allowed_cidrs=body.get("allowed_cidrs") or [],
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE)
    for key in ("timeout_client_data", "timeout_member_connect", "timeout_member_data",
                "timeout_tcp_inspect"):
        if body.get(key) is not None:
            setattr(listener, key, body[key])
    for key in LISTENER_TLS_KEYS:
        if body.get(key) is not None:
            setattr(listener, key, body[key])
    _listener_tls_defaults(listener)
    _made(session, listener, batch)
    return listener


def _check_pool_for_listener(pool: m.LbPool, listener: m.Listener) -> None:
    # Octavia's compatibility table, for the protocols served here.
    allowed = {"HTTP": {"HTTP"}, "HTTPS": {"HTTPS", "TCP"}, "TCP": {"TCP", "HTTP", "HTTPS"},
               "TERMINATED_HTTPS": {"HTTP"}}
    if pool.protocol not in allowed[listener.protocol]:
        raise errors.OctaviaBadRequest(
            f"The pool protocol '{pool.protocol}' is invalid while the listener protocol "
            f"is '{listener.protocol}'.")
    if pool.loadbalancer_id != listener.loadbalancer_id:
        raise errors.OctaviaBadRequest(
            f"Pool {pool.id} is on another load balancer than listener {listener.id}")


def create_listener(session: Session, ctx: Context, s: Any,
                    body: dict[str, Any]) -> m.Listener:
    lb = _parent_lb(session, ctx, body["loadbalancer_id"])
    if body.get("tenant_id") != lb.tenant_id and not ctx.is_admin:
        raise errors.OctaviaNotFound("Load Balancer", lb.id)
    _check_quota(session, s.conf, lb.tenant_id, {"listener": 1})
    _lock(lb)
    listener = _new_listener(session, lb, body)
    _check_tls(session, s, listener)
    if body.get("default_pool_id"):
        pool = get_pool(session, ctx, body["default_pool_id"])
        _check_pool_for_listener(pool, listener)
        _check_pool_unused(session, pool)
        listener.default_pool_id = pool.id
    _notify(session, s, lb)
    return listener


def _check_pool_unused(session: Session, pool: m.LbPool,
                       except_listener: str | None = None) -> None:
    other = session.scalar(select(m.Listener.id).where(
        m.Listener.default_pool_id == pool.id, m.Listener.id != (except_listener or "")))
    if other is not None:
        raise errors.OctaviaConflict(
            f"Pool {pool.id} is already in use by listener {other}")


def _parent_lb(session: Session, ctx: Context, lb_id: str) -> m.LoadBalancer:
    lb = session.get(m.LoadBalancer, lb_id)
    if lb is None or not _ours(lb, ctx):
        raise errors.OctaviaBadRequest(f"Load Balancer {lb_id} not found.")
    return lb


def update_listener(session: Session, ctx: Context, s: Any, listener_id: str,
                    body: dict[str, Any]) -> m.Listener:
    listener = get_listener(session, ctx, listener_id)
    lb = listener.loadbalancer
    _lock(lb)
    if "default_pool_id" in body:
        if body["default_pool_id"] is None:
            listener.default_pool_id = None
        else:
            pool = get_pool(session, ctx, body["default_pool_id"])
            _check_pool_for_listener(pool, listener)
            _check_pool_unused(session, pool, except_listener=listener.id)
            listener.default_pool_id = pool.id
    _apply(listener, body, ("name", "description", "admin_state_up", "connection_limit",
                            "timeout_client_data", "timeout_member_connect",
                            "timeout_member_data", "timeout_tcp_inspect", "insert_headers"),
           LISTENER_DEFAULTS)
    if "allowed_cidrs" in body:
        listener.allowed_cidrs = body["allowed_cidrs"] or []
    if "tags" in body:
        listener.tags = _tags(body["tags"])
    _update_listener_tls(session, s, listener, body)
    listener.provisioning_status = c.PENDING_UPDATE
    _notify(session, s, lb)
    return listener


def _update_listener_tls(session: Session, s: Any, listener: m.Listener,
                         body: dict[str, Any]) -> None:
    """The TLS fields of an update: null resets one (``listener unset``), to Octavia's
    default for versions, ciphers and ALPN; the result must pass the create's rules."""
    changed = [k for k in LISTENER_TLS_KEYS if k in body]
    if not changed and "insert_headers" not in body:
        return
    for key in changed:
        value = body[key]
        if value is None:
            value = {"sni_container_refs": [], "client_authentication": "NONE",
                     "hsts_include_subdomains": False, "hsts_preload": False}.get(key)
        setattr(listener, key, value)
    _listener_tls_defaults(listener)
    state = {k: getattr(listener, k) for k in LISTENER_TLS_KEYS}
    state["insert_headers"] = listener.insert_headers
    try:
        tls.listener_tls_rules(listener.protocol, state)
    except ValueError as exc:
        raise errors.OctaviaBadRequest(str(exc)) from None
    _check_tls(session, s, listener)


def delete_listener(session: Session, ctx: Context, s: Any, listener_id: str) -> None:
    listener = get_listener(session, ctx, listener_id)
    lb = listener.loadbalancer
    _lock(lb)
    listener.provisioning_status = c.PENDING_DELETE
    for policy in listener.l7policies:
        policy.provisioning_status = c.PENDING_DELETE
        for rule in policy.rules:
            rule.provisioning_status = c.PENDING_DELETE
    _finish_or_notify(session, s, lb)


def _finish_or_notify(session: Session, s: Any, lb: m.LoadBalancer) -> None:
    """With no agent to confirm, a delete under a load balancer that never deployed
    completes at once; otherwise the agent's ``deployed`` removes the rows."""
    if lb.agent_id is None:
        settle(session, lb, error=False)
        return
    _notify(session, s, lb)


# --- pools ------------------------------------------------------------------------------

def _new_pool(session: Session, lb: m.LoadBalancer, body: dict[str, Any],
              batch: _Batch | None = None) -> m.LbPool:
    pool = m.LbPool(
        id=m.new_id(), tenant_id=lb.tenant_id, loadbalancer=lb, name=body.get("name") or "",
        description=body.get("description") or "",
        admin_state_up=body.get("admin_state_up", True), tags=_tags(body.get("tags")),
        protocol=body["protocol"], lb_algorithm=body["lb_algorithm"],
        session_persistence=body.get("session_persistence"),
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE)
    for key in POOL_TLS_KEYS:
        if body.get(key) is not None:
            setattr(pool, key, body[key])
    _pool_tls_defaults(pool)
    _made(session, pool, batch)
    for member_body in body.get("members") or []:
        _new_member(session, pool, member_body, batch)
    if body.get("healthmonitor"):
        _new_healthmonitor(session, pool, body["healthmonitor"], batch)
    return pool


def create_pool(session: Session, ctx: Context, s: Any, body: dict[str, Any]) -> m.LbPool:
    listener = None
    if body.get("listener_id"):
        listener = session.get(m.Listener, body["listener_id"])
        if listener is None or not _ours(listener, ctx):
            raise errors.OctaviaBadRequest(f"Listener {body['listener_id']} not found.")
        lb = listener.loadbalancer
        if body.get("loadbalancer_id") and body["loadbalancer_id"] != lb.id:
            raise errors.OctaviaBadRequest(
                f"Listener {listener.id} is not on load balancer {body['loadbalancer_id']}")
        if listener.default_pool_id is not None:
            raise errors.OctaviaConflict(
                f"Listener {listener.id} already has default pool "
                f"{listener.default_pool_id}")
    elif body.get("loadbalancer_id"):
        lb = _parent_lb(session, ctx, body["loadbalancer_id"])
    else:
        raise errors.OctaviaBadRequest("Missing either listener_id or loadbalancer_id.")
    _check_member_subnets(session, ctx, body.get("members") or [])
    _check_quota(session, s.conf, lb.tenant_id,
                 {"pool": 1, "member": len(body.get("members") or []),
                  "healthmonitor": 1 if body.get("healthmonitor") else 0})
    _lock(lb)
    pool = _new_pool(session, lb, body)
    _check_tls(session, s, pool)
    if listener is not None:
        _check_pool_for_listener(pool, listener)
        listener.default_pool_id = pool.id
    _notify(session, s, lb)
    return pool


def update_pool(session: Session, ctx: Context, s: Any, pool_id: str,
                body: dict[str, Any]) -> m.LbPool:
    pool = get_pool(session, ctx, pool_id)
    lb = pool.loadbalancer
    _lock(lb)
    _apply(pool, body, ("name", "description", "admin_state_up", "lb_algorithm"),
           POOL_DEFAULTS)
    if "session_persistence" in body:
        pool.session_persistence = body["session_persistence"]
    if "tags" in body:
        pool.tags = _tags(body["tags"])
    _update_pool_tls(session, s, pool, body)
    pool.provisioning_status = c.PENDING_UPDATE
    _notify(session, s, lb)
    return pool


def _update_pool_tls(session: Session, s: Any, pool: m.LbPool,
                     body: dict[str, Any]) -> None:
    changed = [k for k in POOL_TLS_KEYS if k in body]
    if not changed:
        return
    for key in changed:
        value = body[key]
        setattr(pool, key, False if key == "tls_enabled" and value is None else value)
    _pool_tls_defaults(pool)
    try:
        tls.pool_tls_rules(pool.crl_container_ref, pool.ca_tls_container_ref)
    except ValueError as exc:
        raise errors.OctaviaBadRequest(str(exc)) from None
    _check_tls(session, s, pool)


def delete_pool(session: Session, ctx: Context, s: Any, pool_id: str) -> None:
    pool = get_pool(session, ctx, pool_id)
    lb = pool.loadbalancer
    for listener in lb.listeners:
        for policy in listener.l7policies:
            if policy.redirect_pool_id == pool.id and \
                    policy.provisioning_status != c.PENDING_DELETE:
                raise errors.OctaviaConflict(
                    f"Pool {pool.id} is in use by L7 policy {policy.id}")
    _lock(lb)
    # As Octavia: the listeners that used it as their default pool lose it.
    for listener in lb.listeners:
        if listener.default_pool_id == pool.id:
            listener.default_pool_id = None
            if listener.provisioning_status != c.PENDING_DELETE:
                listener.provisioning_status = c.PENDING_UPDATE
    pool.provisioning_status = c.PENDING_DELETE
    doomed: list[Any] = [*pool.members, *([pool.healthmonitor] if pool.healthmonitor else [])]
    for obj in doomed:
        obj.provisioning_status = c.PENDING_DELETE
    _finish_or_notify(session, s, lb)


# --- members ----------------------------------------------------------------------------

def _new_member(session: Session, pool: m.LbPool, body: dict[str, Any],
                batch: _Batch | None = None) -> m.LbMember:
    address, port = body["address"], body["protocol_port"]
    if any(mem.address == address and mem.protocol_port == port for mem in pool.members
           if mem.provisioning_status != c.PENDING_DELETE):
        raise errors.OctaviaConflict(
            f"Another member on this pool is already using ip address {address} on "
            f"protocol_port {port}")
    member = m.LbMember(
        id=m.new_id(), tenant_id=pool.tenant_id, pool=pool, name=body.get("name") or "",
        address=address, protocol_port=port, weight=body.get("weight", 1),
        backup=body.get("backup", False), admin_state_up=body.get("admin_state_up", True),
        subnet_id=body.get("subnet_id"), monitor_address=body.get("monitor_address"),
        monitor_port=body.get("monitor_port"), tags=_tags(body.get("tags")),
        provisioning_status=c.PENDING_CREATE, operating_status=c.NO_MONITOR)
    _made(session, member, batch)
    return member


def create_member(session: Session, ctx: Context, s: Any, pool_id: str,
                  body: dict[str, Any]) -> m.LbMember:
    pool = get_pool(session, ctx, pool_id)
    lb = pool.loadbalancer
    _check_member_subnets(session, ctx, [body])
    _check_quota(session, s.conf, lb.tenant_id, {"member": 1})
    _lock(lb)
    member = _new_member(session, pool, body)
    pool.provisioning_status = c.PENDING_UPDATE
    _notify(session, s, lb)
    return member


def update_member(session: Session, ctx: Context, s: Any, pool_id: str, member_id: str,
                  body: dict[str, Any]) -> m.LbMember:
    member = get_member(session, ctx, pool_id, member_id)
    lb = member.pool.loadbalancer
    _lock(lb)
    _apply(member, body, ("name", "weight", "backup", "admin_state_up", "monitor_address",
                          "monitor_port"), MEMBER_DEFAULTS)
    if "tags" in body:
        member.tags = _tags(body["tags"])
    member.provisioning_status = c.PENDING_UPDATE
    _notify(session, s, lb)
    return member


def delete_member(session: Session, ctx: Context, s: Any, pool_id: str,
                  member_id: str) -> None:
    member = get_member(session, ctx, pool_id, member_id)
    lb = member.pool.loadbalancer
    _lock(lb)
    member.provisioning_status = c.PENDING_DELETE
    _finish_or_notify(session, s, lb)


def batch_update_members(session: Session, ctx: Context, s: Any, pool_id: str,
                         members: list[dict[str, Any]]) -> None:
    """``PUT /pools/{id}/members``: the pool's members become exactly ``members``
    (matched on address and port): new ones created, listed ones updated, others
    deleted, all as one change."""
    pool = get_pool(session, ctx, pool_id)
    lb = pool.loadbalancer
    keys = [(b["address"], b["protocol_port"]) for b in members]
    if len(set(keys)) != len(keys):
        raise errors.OctaviaBadRequest("The member list names the same address and "
                                       "protocol_port twice")
    current = {(mem.address, mem.protocol_port): mem for mem in pool.members
               if mem.provisioning_status != c.PENDING_DELETE}
    new = [b for b in members if (b["address"], b["protocol_port"]) not in current]
    _check_member_subnets(session, ctx, members)
    _check_quota(session, s.conf, lb.tenant_id, {"member": len(new)})
    _lock(lb)
    for body in members:
        existing = current.pop((body["address"], body["protocol_port"]), None)
        if existing is None:
            _new_member(session, pool, body)
            continue
        _apply(existing, body, ("name", "weight", "backup", "admin_state_up",
                                "monitor_address", "monitor_port"), MEMBER_DEFAULTS)
        if "subnet_id" in body:
            # Octavia's batch update sets what the listed member says, subnet included.
            existing.subnet_id = body["subnet_id"]
        if "tags" in body:
            existing.tags = _tags(body["tags"])
        existing.provisioning_status = c.PENDING_UPDATE
    for gone in current.values():
        gone.provisioning_status = c.PENDING_DELETE
    pool.provisioning_status = c.PENDING_UPDATE
    _finish_or_notify(session, s, lb)


# --- health monitors --------------------------------------------------------------------

def _new_healthmonitor(session: Session, pool: m.LbPool, body: dict[str, Any],
                       batch: _Batch | None = None) -> m.LbHealthMonitor:
    if pool.healthmonitor is not None and \
            pool.healthmonitor.provisioning_status != c.PENDING_DELETE:
        raise errors.OctaviaConflict("This pool already has a health monitor")
    http = body["type"] in ("HTTP", "HTTPS")
    hm = m.LbHealthMonitor(
        id=m.new_id(), tenant_id=pool.tenant_id, pool=pool, name=body.get("name") or "",
        type=body["type"], delay=body["delay"], timeout=body["timeout"],
        max_retries=body["max_retries"], max_retries_down=body.get("max_retries_down", 3),
        http_method=body.get("http_method") or ("GET" if http else None),
        http_version=body.get("http_version"), domain_name=body.get("domain_name"),
        url_path=body.get("url_path") or ("/" if http else None),
        expected_codes=body.get("expected_codes") or ("200" if http else None),
        admin_state_up=body.get("admin_state_up", True), tags=_tags(body.get("tags")),
        provisioning_status=c.PENDING_CREATE, operating_status=c.OFFLINE)
    _made(session, hm, batch)
    return hm


def create_healthmonitor(session: Session, ctx: Context, s: Any,
                         body: dict[str, Any]) -> m.LbHealthMonitor:
    pool = session.get(m.LbPool, body["pool_id"])
    if pool is None or not _ours(pool, ctx):
        raise errors.OctaviaBadRequest(f"Pool {body['pool_id']} not found.")
    lb = pool.loadbalancer
    _check_quota(session, s.conf, lb.tenant_id, {"healthmonitor": 1})
    _lock(lb)
    hm = _new_healthmonitor(session, pool, body)
    pool.provisioning_status = c.PENDING_UPDATE
    _notify(session, s, lb)
    return hm


def update_healthmonitor(session: Session, ctx: Context, s: Any, hm_id: str,
                         body: dict[str, Any]) -> m.LbHealthMonitor:
    hm = get_healthmonitor(session, ctx, hm_id)
    lb = hm.pool.loadbalancer
    _lock(lb)
    http = hm.type in ("HTTP", "HTTPS")
    defaults: dict[str, Any] = {
        "name": "", "max_retries_down": 3, "domain_name": None, "http_version": None,
        "http_method": "GET" if http else None, "url_path": "/" if http else None,
        "expected_codes": "200" if http else None}
    if "tags" in body:
        hm.tags = _tags(body["tags"])
    _apply(hm, body, [k for k in body if k != "tags"], defaults)
    hm.provisioning_status = c.PENDING_UPDATE
    _notify(session, s, lb)
    return hm


def delete_healthmonitor(session: Session, ctx: Context, s: Any, hm_id: str) -> None:
    hm = get_healthmonitor(session, ctx, hm_id)
    lb = hm.pool.loadbalancer
    _lock(lb)
    hm.provisioning_status = c.PENDING_DELETE
    _finish_or_notify(session, s, lb)


# --- what the agent reports -------------------------------------------------------------

def settle(session: Session, lb: m.LoadBalancer, error: bool) -> None:
    """The agent realized the load balancer (or failed to): PENDING_DELETE objects go,
    every other pending object becomes ACTIVE (ERROR when ``error``)."""
    done = c.ERROR if error else c.ACTIVE
    for listener in list(lb.listeners):
        for policy in list(listener.l7policies):
            if policy.provisioning_status == c.PENDING_DELETE:
                session.delete(policy)
                continue
            for rule in list(policy.rules):
                if rule.provisioning_status == c.PENDING_DELETE:
                    session.delete(rule)
    session.flush()
    for listener in list(lb.listeners):
        if listener.provisioning_status == c.PENDING_DELETE:
            session.delete(listener)
    session.flush()
    for pool in list(lb.pools):
        if pool.provisioning_status == c.PENDING_DELETE:
            session.delete(pool)
            continue
        for member in list(pool.members):
            if member.provisioning_status == c.PENDING_DELETE:
                session.delete(member)
        if pool.healthmonitor is not None and \
                pool.healthmonitor.provisioning_status == c.PENDING_DELETE:
            session.delete(pool.healthmonitor)
    session.flush()
    session.expire(lb)
    if not error:
        # The agent has unplugged what the confirmed device no longer carried.
        member_ports.release_unused(session, lb)
    for obj in [lb, *_children(lb)]:
        if obj.provisioning_status in PENDING or obj.provisioning_status == c.ERROR:
            obj.provisioning_status = done
    refresh_operating_status(lb)


def refresh_operating_status(lb: m.LoadBalancer,
                             health: dict[str, str] | None = None) -> None:
    """Octavia's operating statuses from member health (``health``: member id →
    ACTIVE/INACTIVE/DOWN as the agent reports HAProxy's view; absent: keep)."""
    health = health or {}
    lb_up = lb.admin_state_up and lb.provisioning_status != c.PENDING_CREATE
    pool_status: dict[str, str] = {}
    for pool in lb.pools:
        monitored = pool.healthmonitor is not None and pool.healthmonitor.admin_state_up
        states = []
        for member in pool.members:
            seen = health.get(member.id)
            if not member.admin_state_up or not pool.admin_state_up or not lb_up:
                member.operating_status = c.OFFLINE
            elif not monitored:
                member.operating_status = c.NO_MONITOR
            elif seen is not None:
                member.operating_status = c.ONLINE if seen == c.ACTIVE else c.ERROR
            elif member.operating_status in (c.OFFLINE, c.NO_MONITOR):
                member.operating_status = c.ONLINE
            states.append(member.operating_status)
        if not pool.admin_state_up or not lb_up:
            status = c.OFFLINE
        elif not states or all(st in (c.ONLINE, c.NO_MONITOR, c.OFFLINE) for st in states):
            status = c.ONLINE
        elif all(st == c.ERROR for st in states if st != c.OFFLINE):
            status = c.ERROR
        else:
            status = c.DEGRADED
        pool.operating_status = status
        if pool.healthmonitor is not None:
            pool.healthmonitor.operating_status = c.ONLINE if (
                pool.healthmonitor.admin_state_up and lb_up) else c.OFFLINE
        pool_status[pool.id] = status
    listener_states = []
    for listener in lb.listeners:
        if not listener.admin_state_up or not lb_up:
            listener.operating_status = c.OFFLINE
        elif listener.default_pool_id is None:
            listener.operating_status = c.ONLINE
        else:
            listener.operating_status = pool_status.get(listener.default_pool_id, c.ONLINE)
        listener_states.append(listener.operating_status)
        for policy in listener.l7policies:
            policy_up = policy.admin_state_up and listener.operating_status != c.OFFLINE
            policy.operating_status = c.ONLINE if policy_up else c.OFFLINE
            for rule in policy.rules:
                rule.operating_status = c.ONLINE if policy_up and rule.admin_state_up \
                    else c.OFFLINE
    if not lb_up:
        lb.operating_status = c.OFFLINE
    elif any(st in (c.ERROR, c.DEGRADED) for st in listener_states):
        lb.operating_status = c.ERROR if all(st == c.ERROR for st in listener_states) \
            else c.DEGRADED
    else:
        lb.operating_status = c.ONLINE


def lb_pending(lb: m.LoadBalancer) -> bool:
    objs: list[Any] = [lb, *_children(lb)]
    return any(o.provisioning_status in PENDING or o.provisioning_status == c.ERROR
               for o in objs)


# --- statistics -------------------------------------------------------------------------

STAT_KEYS = ("bytes_in", "bytes_out", "active_connections", "total_connections",
             "request_errors")
# HTTP responses by class, HAProxy's names (frontends and backends). Not part of the
# stats bodies of either API (Octavia's has no such fields): /metrics shows them.
HRSP_KEYS = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
CHECK_KEYS = ("check_failures", "check_up_down")


def listener_stats(session: Session, listener: m.Listener) -> dict[str, int]:
    row = session.get(m.ListenerStatistics, listener.id)
    return {k: int(getattr(row, k)) if row is not None else 0 for k in STAT_KEYS}


def loadbalancer_stats(session: Session, lb: m.LoadBalancer) -> dict[str, int]:
    totals = dict.fromkeys(STAT_KEYS, 0)
    for row in session.scalars(select(m.ListenerStatistics).where(
            m.ListenerStatistics.loadbalancer_id == lb.id)):
        for key in STAT_KEYS:
            totals[key] += int(getattr(row, key))
    return totals


def record_stats(session: Session, lb: m.LoadBalancer, listeners: dict[str, Any],
                 epoch: str) -> None:
    """Raw HAProxy counters per listener (a frontend's) → totals that never go
    backwards: within one ``epoch`` (HAProxy process) the difference is added; a new
    epoch's counters started from zero, so they are added whole. Active connections are
    a gauge, taken as they are."""
    known = {li.id for li in lb.listeners}
    for listener_id, raw in listeners.items():
        if listener_id not in known or not isinstance(raw, dict):
            continue
        row = session.get(m.ListenerStatistics, listener_id)
        if row is None:
            row = m.ListenerStatistics(listener_id=listener_id, loadbalancer_id=lb.id,
                                       bytes_in=0, bytes_out=0, active_connections=0,
                                       total_connections=0, request_errors=0,
                                       last_epoch="", last_raw={})
            session.add(row)
        same = row.last_epoch == epoch and epoch != ""
        for key in ("bytes_in", "bytes_out", "total_connections", "request_errors",
                    *HRSP_KEYS):
            value = int(raw.get(key, 0) or 0)
            before = int(row.last_raw.get(key, 0)) if same else 0
            setattr(row, key, int(getattr(row, key) or 0) + max(0, value - before))
        row.active_connections = int(raw.get("active_connections", 0) or 0)
        row.last_epoch = epoch
        row.last_raw = {k: int(raw.get(k, 0) or 0) for k in (*STAT_KEYS, *HRSP_KEYS)}


def accumulate(row: Any, raw: dict[str, Any], keys: tuple[str, ...], epoch: str) -> None:
    """Add HAProxy's raw counters ``raw`` to the totals of ``row`` (columns ``keys``,
    ``last_epoch``, ``last_raw``): within one epoch the difference since the last report,
    for a new epoch (a new HAProxy process, whose counters started from zero) the whole
    value. So the totals never go backwards."""
    same = row.last_epoch == epoch and epoch != ""
    last_raw = row.last_raw or {}
    values = {}
    for key in keys:
        value = raw.get(key, 0)
        value = value if isinstance(value, int) and not isinstance(value, bool) \
            and value > 0 else 0
        before = int(last_raw.get(key, 0)) if same else 0
        setattr(row, key, int(getattr(row, key) or 0) + max(0, value - before))
        values[key] = value
    row.last_epoch, row.last_raw = epoch, values


def record_pool_and_member_stats(session: Session, lb: m.LoadBalancer,
                                 pools: dict[str, Any], members: dict[str, Any],
                                 epoch: str) -> None:
    """Per pool (a backend's HTTP responses by class) and per member (failed checks,
    UP→DOWN transitions): raw counters → totals, as :func:`accumulate` does. Rows of
    pools and members no longer in the load balancer are dropped."""
    pool_ids = {p.id for p in lb.pools}
    member_ids = {mb.id for p in lb.pools for mb in p.members}
    for model, key_name, known, reports, keys in (
            (m.PoolTrafficStatistics, "pool_id", pool_ids, pools, HRSP_KEYS),
            (m.MemberStatistics, "member_id", member_ids, members, CHECK_KEYS)):
        rows = {getattr(row, key_name): row for row in session.scalars(
            select(model).where(model.loadbalancer_id == lb.id))}
        for obj_id, row in rows.items():
            if obj_id not in known:
                session.delete(row)
        for obj_id, raw in (reports or {}).items():
            if obj_id not in known or not isinstance(raw, dict):
                continue
            found = rows.get(obj_id)
            if found is None:
                found = model(**{key_name: obj_id}, loadbalancer_id=lb.id, last_epoch="",
                              last_raw={}, **dict.fromkeys(keys, 0))
                session.add(found)
            accumulate(found, raw, keys, epoch)
