"""Automatic rescheduling: a dead agent's load balancers move to a live one.

An agent silent for ``agent_down_time`` is dead. With
``allow_automatic_lbaas_agent_failover`` every SINGLE load balancer bound to it is moved,
least loaded first, to a live admin-up agent that maps the same physical network; the
VIP port is re-bound to the new host and the load balancer's ``failover_generation``
raised, so that whichever agent holds an old instance of it rebuilds rather than
reuses it. An admin-down agent (``PUT /v2.0/agents/{id}`` with ``admin_state_up=false``)
is drained the same way while it is still alive. ACTIVE_STANDBY load balancers move one
amphora at a time, never onto the agent of the other (``move_amphorae_away``).

Several servers may run this over one database at the same moment. Each move is a
conditional UPDATE (``... WHERE id = :lb AND agent_id = :old``): the second server's
statement finds the row already moved (PostgreSQL re-reads the row after the first
transaction's lock is released) and does nothing, so no load balancer is moved twice.
docs/architecture.md, "High availability", gives the timings and the agent's side.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.server.db import models as m
from lbaas.server.plugin import agents, amphorae, member_ports, scheduler

LOG = logging.getLogger(__name__)

SINGLE = "SINGLE"
# Load balancers a drained (live, admin-down) agent gives away per pass (a second). The
# old host removes its instance as soon as it learns of the move, the new one needs a
# plug and a start for it: moved a few at a time, each is without a server for about
# one deploy; moved all at once, the last would wait for the new host to deploy all.
DRAIN_BATCH = 5
# ACTIVE_STANDBY amphorae a drained agent gives away per pass: one load balancer at a
# time. Its other instance serves meanwhile; moving a MASTER makes keepalived elect the
# other, and a few such elections at once are a few VIPs in flight at once.
AMPHORA_DRAIN_BATCH = 1


@dataclass(frozen=True)
class Moved:
    loadbalancer_id: str
    from_agent: str
    to_agent: str | None


def _live(agent: m.Agent, down_time: int) -> bool:
    return agent.admin_state_up and agents.is_alive(agent, down_time)


def agents_to_empty(session: Session, down_time: int,
                    dead_too: bool = True) -> list[m.Agent]:
    """Agents whose load balancers must go: admin-down ones (drained), and with
    ``dead_too`` the dead ones."""
    return [a for a in session.scalars(select(m.Agent).where(
        m.Agent.agent_type == c.AGENT_TYPE_LOADBALANCER).order_by(m.Agent.created_at))
        if not a.admin_state_up or (dead_too and not agents.is_alive(a, down_time))]


def move_amphorae_away(session: Session, agent: m.Agent, down_time: int,
                       unbind_when_stuck: bool = False,
                       limit: int | None = None) -> list[Moved]:
    """Move the ACTIVE_STANDBY amphorae on ``agent`` each to a live agent that maps the
    network and runs neither of the load balancer's two instances (a host failure must
    leave one). The moved one comes up BACKUP: the other kept serving, and keepalived made
    it MASTER. One no agent can take stays (its status shows ERROR while the agent is
    dead; a dead MASTER hands the role to the survivor; a drained one keeps serving),
    or with ``unbind_when_stuck`` (the
    agent is being deleted) loses its agent, to be placed by the next heartbeat of an
    agent that may take it. The row moves only while it is still on ``agent`` (see the
    module's docstring)."""
    amps = session.scalars(select(m.Amphora).where(m.Amphora.agent_id == agent.id)
                           .order_by(m.Amphora.created_at, m.Amphora.id)).all()
    amps = [a for a in amps if a.loadbalancer.provisioning_status != c.PENDING_DELETE]
    if not amps:
        return []
    live = [a for a in session.scalars(select(m.Agent).where(
        m.Agent.agent_type == c.AGENT_TYPE_LOADBALANCER, m.Agent.id != agent.id))
        if _live(a, down_time)]
    load = scheduler.load_by_agent(session)
    moved: list[Moved] = []
    changed = False
    dead = not agents.is_alive(agent, down_time)
    for amp in amps:
        if limit is not None and len(moved) >= limit:
            break
        lb = amp.loadbalancer
        physnet = scheduler.physnet_of(lb)
        fits = [a for a in live if agents.maps_physnet(a, physnet)]
        choice = amphorae.candidates_for(lb, amp, fits, load)
        target = choice[0] if choice else None
        if target is None and not unbind_when_stuck:
            if dead:
                changed = amphorae.stuck(session, lb, amp) or changed
            continue
        if not dead and target is not None and _hand_over_first(session, lb, amp,
                                                                 down_time):
            changed = True
            continue
        result = session.execute(
            update(m.Amphora).where(m.Amphora.id == amp.id, m.Amphora.agent_id == agent.id)
            .values(agent_id=target.id if target is not None else None)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue
        session.refresh(amp)
        if target is None:
            amp.status = amphorae.PENDING_CREATE
            if amp.vrrp_port is not None:
                amp.vrrp_port.binding_host_id = ""
            survivor = amphorae.other_of(lb, amp)
            if survivor is not None and survivor.agent_id is not None:
                amphorae.make_master(lb, survivor)
            amphorae.rebind_lb(lb)
            amphorae.bump(session, lb)
        else:
            amphorae.moved_to(session, lb, amp, target)
            load[target.id] = load.get(target.id, 0) + 1
        moved.append(Moved(lb.id, agent.id, target.id if target is not None else None))
    if moved or changed:
        agents.bump(session, agent.id)
    if moved:
        LOG.warning("moved %d amphora(e) away from agent %s on %s (%s): %s", len(moved),
                    agent.id, agent.host,
                    "admin-down" if agent.admin_state_up is False else "dead",
                    ", ".join(f"{mv.loadbalancer_id}->{mv.to_agent}" for mv in moved[:20])
                    + (" ..." if len(moved) > 20 else ""))
    return moved


def _hand_over_first(session: Session, lb: m.LoadBalancer, amp: m.Amphora,
                     down_time: int) -> bool:
    """A drained amphora leaves gracefully: a MASTER first gives the VIP to the other
    instance (the roles swap: its agent resigns, the peer takes the VIP in milliseconds,
    as for ``loadbalancer failover``), and it moves once its agent confirmed that.
    Moving it at once made the survivor's keepalived drop the old MASTER as its peer
    while that one still held the VIP: a request or two lost. True while waiting."""
    other = amphorae.other_of(lb, amp)
    if other is None or not amphorae.live(other, down_time):
        return False
    if amp.role == amphorae.MASTER:
        amphorae.swap_roles(lb)
        amphorae.bump(session, lb)
        return True
    return (amp.confirmed_revision or 0) < lb.revision


def move_away(session: Session, agent: m.Agent, down_time: int,
              unbind_when_stuck: bool = False, limit: int | None = None) -> list[Moved]:
    """Move the SINGLE load balancers bound to ``agent`` to live agents (least loaded
    first, counting the ones placed in this run). A load balancer no live agent can
    take stays where it is, or with ``unbind_when_stuck`` (the agent is being deleted)
    is unbound, to be placed by the next heartbeat of an agent that maps its network
    (``scheduler.schedule_waiting``)."""
    lbs = session.scalars(select(m.LoadBalancer).where(
        m.LoadBalancer.agent_id == agent.id, m.LoadBalancer.topology == SINGLE)
        .order_by(m.LoadBalancer.created_at, m.LoadBalancer.id)).all()
    if limit is not None:
        lbs = lbs[:limit]
    if not lbs:
        return []
    candidates = [a for a in session.scalars(select(m.Agent).where(
        m.Agent.agent_type == c.AGENT_TYPE_LOADBALANCER, m.Agent.id != agent.id))
        if _live(a, down_time)]
    load = scheduler.load_by_agent(session)
    revisions: dict[str, int] = {}
    moved: list[Moved] = []
    for lb in lbs:
        # The new host must reach the members' subnets too.
        physnets = {scheduler.physnet_of(lb), *member_ports.wanted_physnets(session, lb)}
        fits = [a for a in candidates
                if all(agents.maps_physnet(a, physnet) for physnet in physnets)]
        target = min(fits, key=lambda a: (load.get(a.id, 0), a.created_at, a.id),
                     default=None)
        if target is None and not unbind_when_stuck:
            continue
        if target is not None and target.id not in revisions:
            revisions[target.id] = agents.bump(session, target.id)
        new_revision = revisions[target.id] if target is not None else 0
        # The row is only ours to move while it is still bound to the agent we read:
        # another server may have moved it since (see the module's docstring).
        result = session.execute(
            update(m.LoadBalancer)
            .where(m.LoadBalancer.id == lb.id, m.LoadBalancer.agent_id == agent.id)
            .values(agent_id=target.id if target is not None else None,
                    revision=new_revision,
                    failover_generation=m.LoadBalancer.failover_generation + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue
        if lb.vip_port_id is not None:
            port = session.get(m.Port, lb.vip_port_id)
            if port is not None:
                port.binding_host_id = target.host if target is not None else ""
        for member_port in lb.member_ports:
            member_port.port.binding_host_id = target.host if target is not None else ""
        if target is not None:
            load[target.id] = load.get(target.id, 0) + 1
        moved.append(Moved(lb.id, agent.id, target.id if target is not None else None))
        session.expire(lb)
    if moved:
        # The old host learns from an event that names nothing of its own that
        # something left it (the agent then compares its instances with the server's
        # list): a drained agent removes what moved right away.
        agents.bump(session, agent.id)
        LOG.warning("moved %d load balancer(s) away from agent %s on %s (%s): %s",
                    len(moved), agent.id, agent.host,
                    "admin-down" if agent.admin_state_up is False else "dead",
                    ", ".join(f"{mv.loadbalancer_id}->{mv.to_agent}" for mv in moved[:20])
                    + (" ..." if len(moved) > 20 else ""))
    return moved


def reschedule(session: Session, down_time: int, dead_too: bool = True) -> list[Moved]:
    """One pass: every admin-down agent (and with ``dead_too`` every dead one) emptied
    as far as live agents allow."""
    moved: list[Moved] = []
    for agent in agents_to_empty(session, down_time, dead_too):
        dead = not agents.is_alive(agent, down_time)
        moved += move_away(session, agent, down_time,
                           limit=None if dead else DRAIN_BATCH)
        moved += move_amphorae_away(session, agent, down_time,
                                    limit=None if dead else AMPHORA_DRAIN_BATCH)
    return moved


def startup_grace_over(started: dt.datetime, down_time: int) -> bool:
    """A server that just started has not heard any agent yet: after an outage of the
    servers every agent's last heartbeat is old, and the first one to report would take
    the load balancers of all the others. Nothing moves before every agent has had
    ``agent_down_time`` to report to this server."""
    return m.utcnow() - started >= dt.timedelta(seconds=down_time)
