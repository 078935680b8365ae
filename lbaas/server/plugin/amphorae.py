"""ACTIVE_STANDBY load balancers on the server: their two instances (Octavia's
amphorae), where they run, their VRRP roles and ports, and the host revisions that tell
both agents of a change (docs/architecture.md, "ACTIVE_STANDBY").

An ACTIVE_STANDBY load balancer has two ``lb_amphorae`` rows, MASTER and BACKUP, each on
its own agent (never the same one: a host failure must leave one) and with its own port
on the VIP subnet, which allows the VIP address (Neutron's allowed_address_pairs): the
agents plug those ports and keepalived moves the VIP between them. The load balancer's
``agent_id`` names the MASTER's agent, so that everything that asks "is it bound?"
(deletes, the v1 agent views) keeps working; which hosts run it is the amphorae's.

Revisions: each amphora keeps the revision of its host at which it last changed
(``revision``, what its agent's long-poll compares), and the load balancer's own
``revision`` is the device's, above every such stamp, so that ``deployed`` can be
compared with it whichever host confirms. ``confirmed_revision`` is what the amphora's
agent confirmed; the load balancer settles once every amphora on a live agent did.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.common import logical_device as ld
from lbaas.server import errors
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import agents, core

LOG = logging.getLogger(__name__)

SINGLE = "SINGLE"
ACTIVE_STANDBY = "ACTIVE_STANDBY"
TOPOLOGIES = (SINGLE, ACTIVE_STANDBY)
MASTER = "MASTER"
BACKUP = "BACKUP"
STANDALONE = "STANDALONE"
# Octavia's keepalived priorities.
MASTER_PRIORITY = 100
BACKUP_PRIORITY = 90
PRIORITY = {MASTER: MASTER_PRIORITY, BACKUP: BACKUP_PRIORITY}
VRRP_STATES = ("MASTER", "BACKUP", "FAULT")
# Octavia's amphora statuses.
PENDING_CREATE = "PENDING_CREATE"
ALLOCATED = "ALLOCATED"
ERROR = "ERROR"
MAX_VRID = 255
VRRP_PORT_NAME = "octavia-lb-vrrp-{}"

# The server makes these ports for itself, whoever the load balancer's owner is.
_SERVER = Context(project_id="admin", roles=frozenset({"admin"}))


class NoVrrpId(Exception):
    """Every VRRP group id of the VIP's network is taken."""


def is_active_standby(lb: m.LoadBalancer) -> bool:
    return lb.topology == ACTIVE_STANDBY


def v2_topology(flavor_topology: str | None, conf_default: str) -> str:
    """A flavor profile's topology wins; without a flavor, the configured default."""
    topology = flavor_topology or conf_default
    return topology if topology in TOPOLOGIES else SINGLE


# --- rows, ports and the VRRP group ------------------------------------------------------

def ensure_rows(lb: m.LoadBalancer) -> None:
    """The two amphorae of a new ACTIVE_STANDBY load balancer, not yet placed."""
    if lb.amphorae:
        return
    for role in (MASTER, BACKUP):
        lb.amphorae.append(m.Amphora(id=m.new_id(), role=role, vrrp_priority=PRIORITY[role],
                                     status=PENDING_CREATE, revision=0,
                                     confirmed_revision=0, created_at=m.utcnow()))


def _vip_going(lb: m.LoadBalancer) -> bool:
    """The load balancer, or a v1 pool's VIP, is being deleted: no new ports for it."""
    if lb.provisioning_status == c.PENDING_DELETE:
        return True
    return lb.api_version == 1 and any(li.provisioning_status == c.PENDING_DELETE
                                       for li in lb.listeners)


def allocate_vrrp_id(session: Session, lb: m.LoadBalancer) -> None:
    """The lowest VRRP group id no other load balancer on the VIP's network uses (the
    database's unique constraint backs this against a concurrent create)."""
    if lb.vrrp_id is not None or lb.vip_port is None:
        return
    network_id = lb.vip_network_id = lb.vip_port.network_id
    used = set(session.scalars(select(m.LoadBalancer.vrrp_id).where(
        m.LoadBalancer.vip_network_id == network_id,
        m.LoadBalancer.vrrp_id.is_not(None), m.LoadBalancer.id != lb.id)))
    free = next((vrid for vrid in range(1, MAX_VRID + 1) if vrid not in used), None)
    if free is None:
        raise NoVrrpId(network_id)
    lb.vrrp_id = free


def ensure_ports(session: Session, lb: m.LoadBalancer) -> None:
    """Each amphora's own port on the VIP subnet, once the load balancer has its VIP
    (a v1 pool gets it with ``POST /lb/vips``): its own address and MAC, the VIP in its
    allowed address pairs, bound to the amphora's host."""
    if lb.vip_port is None or lb.vip_subnet_id is None or _vip_going(lb):
        return
    allocate_vrrp_id(session, lb)
    for amp in lb.amphorae:
        if amp.vrrp_port_id is not None:
            continue
        port = core.create_port(session, _SERVER, {
            "tenant_id": lb.tenant_id, "network_id": lb.vip_port.network_id,
            "name": VRRP_PORT_NAME.format(amp.id),
            "fixed_ips": [{"subnet_id": lb.vip_subnet_id}], "admin_state_up": False,
            "device_id": amp.id, "device_owner": c.DEVICE_OWNER_LOADBALANCERV2,
            "binding:host_id": amp.agent.host if amp.agent is not None else ""},
            forbid_gateway=True)
        port.allowed_address_pairs = [{"ip_address": lb.vip_address,
                                       "mac_address": port.mac_address}]
        amp.vrrp_port_id, amp.vrrp_port = port.id, port
        amp.vrrp_ip = port.fixed_ips[0].ip_address


def free_ports(session: Session, lb: m.LoadBalancer) -> None:
    """The amphorae's ports go with the VIP (v1's VIP delete) or the load balancer."""
    ports = [amp.vrrp_port for amp in lb.amphorae if amp.vrrp_port is not None]
    for amp in lb.amphorae:
        amp.vrrp_port_id, amp.vrrp_port, amp.vrrp_ip = None, None, None
    lb.vrrp_id = None
    session.flush()
    for port in ports:
        session.delete(port)


# --- placement and revisions --------------------------------------------------------------

def load_by_agent(session: Session) -> dict[str, int]:
    """Amphorae on each agent (each counts as a load balancer for the scheduler)."""
    return {agent_id: n for agent_id, n in session.execute(
        select(m.Amphora.agent_id, func.count()).where(m.Amphora.agent_id.is_not(None))
        .group_by(m.Amphora.agent_id)) if agent_id is not None}


def _bind(amp: m.Amphora, agent: m.Agent) -> None:
    amp.agent_id, amp.agent = agent.id, agent
    amp.status = ALLOCATED
    if amp.vrrp_port is not None:
        amp.vrrp_port.binding_host_id = agent.host


def master(lb: m.LoadBalancer) -> m.Amphora | None:
    return next((a for a in lb.amphorae if a.role == MASTER), None)


def rebind_lb(lb: m.LoadBalancer) -> None:
    """The load balancer's ``agent_id``: the MASTER's agent, else any amphora's."""
    top = master(lb)
    chosen = top if top is not None and top.agent_id is not None else next(
        (a for a in lb.amphorae if a.agent_id is not None), None)
    lb.agent_id = chosen.agent_id if chosen is not None else None
    lb.agent = chosen.agent if chosen is not None else None


def place(session: Session, lb: m.LoadBalancer, candidates: list[m.Agent],
          load: dict[str, int]) -> bool:
    """Give every amphora without an agent one of ``candidates`` (live, admin-up, mapping
    the network: the caller's choice), least loaded first, never the agent of the
    other amphora. A new load balancer is placed only when both amphorae can be (with
    one agent it waits, as a SINGLE one waits for its first). Returns whether every
    amphora has an agent."""
    missing = [a for a in lb.amphorae if a.agent_id is None]
    if not missing:
        return True
    held = {a.agent_id for a in lb.amphorae if a.agent_id is not None}
    free = sorted((a for a in candidates if a.id not in held),
                  key=lambda a: (load.get(a.id, 0), a.created_at, a.id))
    if len(free) < len(missing) and not held:
        return False
    for amp, agent in zip(missing, free, strict=False):
        _bind(amp, agent)
        load[agent.id] = load.get(agent.id, 0) + 1
    rebind_lb(lb)
    return all(a.agent_id is not None for a in lb.amphorae)


def bump(session: Session, lb: m.LoadBalancer) -> None:
    """Tell every host of the load balancer that it changed: each amphora takes its
    host's next revision; the device's revision goes above all of them (and above its
    own last one, whichever host it came from)."""
    stamps = [lb.revision + 1]
    for amp in lb.amphorae:
        if amp.agent_id is not None:
            amp.revision = agents.bump(session, amp.agent_id)
            stamps.append(amp.revision)
    lb.revision = max(stamps)


def swap_roles(lb: m.LoadBalancer) -> None:
    """MASTER becomes BACKUP and the reverse, priorities with them."""
    for amp in lb.amphorae:
        amp.role = BACKUP if amp.role == MASTER else MASTER
        amp.vrrp_priority = PRIORITY[amp.role]
    rebind_lb(lb)


def unconfirmed(lb: m.LoadBalancer) -> bool:
    """Whether an amphora's agent has yet to confirm the load balancer's revision: the
    device then asks for a confirmation even when nothing else is pending, so that a
    change made by the server alone (a role swap of a drain, a move) is known to be
    applied on both hosts."""
    return is_active_standby(lb) and any(
        a.agent_id is not None and (a.confirmed_revision or 0) < lb.revision
        for a in lb.amphorae)


def live(amp: m.Amphora, down_time: int) -> bool:
    return amp.agent is not None and amp.agent.admin_state_up and agents.is_alive(
        amp.agent, down_time)


def confirm(session: Session, lb: m.LoadBalancer, revision: int | None, host: str | None,
            down_time: int) -> bool:
    """An agent's ``deployed``: record the revision on its amphora (every amphora when
    the agent did not say which host it is: an agent from before ACTIVE_STANDBY, which
    confirms as for SINGLE). Returns whether the load balancer is now realized: every
    amphora on a live agent confirmed the current revision (with none live, the
    confirmation itself is enough)."""
    rev = lb.revision if revision is None else revision
    for amp in lb.amphorae:
        if host is None or (amp.agent is not None and amp.agent.host == host):
            amp.confirmed_revision = max(amp.confirmed_revision or 0, rev)
    waiting = [a for a in lb.amphorae if live(a, down_time)
               and (a.confirmed_revision or 0) < lb.revision]
    return not waiting


# --- the agent's reports -----------------------------------------------------------------

def record_vrrp_state(session: Session, lb: m.LoadBalancer,
                      report: dict[str, Any] | None) -> bool:
    """A stats report's ``amphora`` part: keepalived's state on the reporting host,
    stored on the amphora. Returns whether the report's traffic counters are to be
    taken: only the instance holding the VIP (MASTER) counts, as the BACKUP's HAProxy
    sees no traffic and two hosts' counters under one total would add each other's
    values at every report (their epochs differ)."""
    if not report or not is_active_standby(lb):
        return True
    amp = next((a for a in lb.amphorae if a.id == report.get("id")), None)
    state = report.get("vrrp_state")
    if amp is None or state not in VRRP_STATES:
        return True
    if amp.vrrp_state != state:
        LOG.info("load balancer %s: amphora %s on %s reports VRRP %s (was %s)", lb.id,
                 amp.id, amp.agent.host if amp.agent else None, state, amp.vrrp_state)
    amp.vrrp_state, amp.vrrp_state_at = state, m.utcnow()
    other = other_of(lb, amp)
    # Only from a load balancer whose hosts both applied its last change: a report sent
    # between a role swap and its agent's resignation would undo the swap.
    settled = all((a.confirmed_revision or 0) >= lb.revision for a in lb.amphorae
                  if a.agent_id is not None)
    if state == MASTER and amp.role != MASTER and settled and (
            other is None or other.vrrp_state != MASTER):
        # keepalived decided otherwise than the roles say (the BACKUP's keepalived
        # started first and, without preemption, kept the VIP; or it took over from a
        # dead HAProxy): the roles follow the VIP, and both hosts learn them, so that a
        # failover moves the VIP away from where it really is.
        LOG.info("load balancer %s: amphora %s holds the VIP: it is the MASTER now",
                 lb.id, amp.id)
        make_master(lb, amp)
        bump(session, lb)
    return bool(state == MASTER)


# --- the logical device --------------------------------------------------------------------

def device_port(port: m.Port) -> ld.Port:
    port_d = core.port_dict(port)
    port_d["fixed_ips"] = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address,
                            "subnet": core.subnet_dict(a.subnet)} for a in port.fixed_ips]
    port_d["network"] = core.network_dict(port.network)
    return ld.Port.model_validate(port_d)


def device_parts(lb: m.LoadBalancer, advert_int_ms: int) -> dict[str, Any]:
    """What an ACTIVE_STANDBY load balancer adds to the device: its amphorae that have
    a host and a port, and its VRRP group."""
    if not is_active_standby(lb):
        return {}
    amps = [ld.Amphora(id=a.id, host=a.agent.host, role=a.role,  # type: ignore[arg-type]
                       vrrp_priority=a.vrrp_priority, vrrp_port=device_port(a.vrrp_port))
            for a in lb.amphorae if a.agent is not None and a.vrrp_port is not None]
    vrrp = ld.Vrrp(vrid=lb.vrrp_id, advert_int_ms=advert_int_ms) \
        if lb.vrrp_id is not None else None
    return {"amphorae": amps, "vrrp": vrrp}


def conflict_for(lb: m.LoadBalancer, exc: NoVrrpId) -> errors.NeutronError | Exception:
    message = (f"Every VRRP group id (1-{MAX_VRID}) of network {exc.args[0]} is in use "
               "by another ACTIVE_STANDBY load balancer")
    if lb.api_version == 1:
        return errors.Conflict(message)
    return errors.OctaviaConflict(message)


# --- moving one amphora (host failure, drain, amphora failover) ---------------------------

def other_of(lb: m.LoadBalancer, amp: m.Amphora) -> m.Amphora | None:
    return next((a for a in lb.amphorae if a.id != amp.id), None)


def make_master(lb: m.LoadBalancer, amp: m.Amphora) -> None:
    """``amp`` MASTER, the other BACKUP, with Octavia's priorities."""
    for each in lb.amphorae:
        each.role = MASTER if each.id == amp.id else BACKUP
        each.vrrp_priority = PRIORITY[each.role]
    rebind_lb(lb)


def moved_to(session: Session, lb: m.LoadBalancer, amp: m.Amphora, target: m.Agent) -> None:
    """``amp`` now runs on ``target`` (the caller moved its row): it comes up as BACKUP,
    since the other instance is serving and holds the VIP (keepalived made it MASTER when
    this one went silent, so the database says so too); its port follows it; both hosts
    are told. The old host learns from its own revision bump (the caller's)."""
    _bind(amp, target)
    amp.confirmed_revision, amp.vrrp_state, amp.vrrp_state_at = 0, None, None
    survivor = other_of(lb, amp)
    if survivor is not None:
        make_master(lb, survivor)
    bump(session, lb)


def stuck(session: Session, lb: m.LoadBalancer, amp: m.Amphora) -> bool:
    """No agent can take ``amp`` (on a dead agent): it stays there (shown ERROR while
    its agent is dead) and the survivor serves; a MASTER that is stuck hands the role to
    the survivor, which keepalived made MASTER already. Returns whether anything
    changed (then both hosts were told)."""
    survivor = other_of(lb, amp)
    if amp.role != MASTER or survivor is None or survivor.agent_id is None:
        return False
    make_master(lb, survivor)
    bump(session, lb)
    return True


def candidates_for(lb: m.LoadBalancer, amp: m.Amphora, live: list[m.Agent],
                   load: dict[str, int]) -> list[m.Agent]:
    """Where ``amp`` may go: a live agent (``live``: admin-up, alive, mapping the
    network) that is neither its own nor the other amphora's, least loaded first."""
    survivor = other_of(lb, amp)
    taken = {amp.agent_id, survivor.agent_id if survivor is not None else None}
    return sorted((a for a in live if a.id not in taken),
                  key=lambda a: (load.get(a.id, 0), a.created_at, a.id))


# --- the amphora API (Octavia's /v2/octavia/amphorae) ---------------------------------------

# A SINGLE load balancer's one instance has no row: its id is derived from the load
# balancer's, so that it is stable and can be asked for.
_STANDALONE_NS = uuid.UUID("5d3a1f52-8a8e-4f57-9a34-5e0d8c2b7a10")


def standalone_id(lb_id: str) -> str:
    return str(uuid.uuid5(_STANDALONE_NS, lb_id))


def _status(lb: m.LoadBalancer, stored: str, agent: m.Agent | None, down_time: int) -> str:
    if lb.provisioning_status == c.PENDING_DELETE:
        return c.PENDING_DELETE
    if agent is None:
        return PENDING_CREATE
    if not agents.is_alive(agent, down_time):
        return ERROR
    return stored


def _ts(value: Any) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat()


def amphora_dict(lb: m.LoadBalancer, amp: m.Amphora | None, down_time: int) -> dict[str, Any]:
    """Octavia's amphora body. ``compute_id`` is the host of the agent that runs it (the
    machine it runs on, as Octavia's names the VM: ``--compute-id`` then lists a host's
    instances); ``vrrp_state`` (not Octavia's) is keepalived's state as the agent last
    reported it, where ``role`` is the configured one."""
    agent = amp.agent if amp is not None else lb.agent
    body: dict[str, Any] = {
        "id": amp.id if amp is not None else standalone_id(lb.id),
        "loadbalancer_id": lb.id,
        "compute_id": agent.host if agent is not None else None,
        "lb_network_ip": None,
        "vrrp_ip": amp.vrrp_ip if amp is not None else None,
        "ha_ip": lb.vip_address,
        "vrrp_port_id": amp.vrrp_port_id if amp is not None else None,
        "ha_port_id": lb.vip_port_id,
        "cert_expiration": None,
        "cert_busy": False,
        "role": amp.role if amp is not None else STANDALONE,
        "status": _status(lb, amp.status if amp is not None else ALLOCATED, agent,
                          down_time),
        "vrrp_interface": None,
        "vrrp_id": lb.vrrp_id if amp is not None else None,
        "vrrp_priority": amp.vrrp_priority if amp is not None else None,
        "cached_zone": lb.availability_zone,
        "created_at": _ts(amp.created_at if amp is not None else lb.created_at),
        "updated_at": _ts(amp.updated_at if amp is not None else lb.updated_at),
        "image_id": None,
        "compute_flavor": None,
        "vrrp_state": amp.vrrp_state if amp is not None else None,
    }
    return body


def views(lb: m.LoadBalancer, down_time: int) -> list[dict[str, Any]]:
    if is_active_standby(lb):
        return [amphora_dict(lb, amp, down_time) for amp in lb.amphorae]
    return [amphora_dict(lb, None, down_time)]


def find(session: Session, amphora_id: str) -> tuple[m.LoadBalancer, m.Amphora | None]:
    """The load balancer and amphora row (None: a SINGLE one's) of an amphora id of an
    Octavia load balancer; OctaviaNotFound otherwise."""
    amp = session.get(m.Amphora, amphora_id)
    if amp is not None and amp.loadbalancer.api_version != 1:
        return amp.loadbalancer, amp
    if amp is None:
        for lb in session.scalars(select(m.LoadBalancer).where(
                m.LoadBalancer.api_version != 1,
                m.LoadBalancer.topology != ACTIVE_STANDBY)):
            if standalone_id(lb.id) == amphora_id:
                return lb, None
    raise errors.OctaviaNotFound("Amphora", amphora_id)
