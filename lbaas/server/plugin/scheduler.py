"""Which host runs a load balancer: choosing an agent, telling it that one of its load
balancers changed, and placing the ones that waited for an agent when one reports.

A load balancer (v1 pool or Octavia's) is bound to one agent (``agent_id``) and carries
the host revision at which it last changed (``revision``); agents long-poll for ids whose
revision passed their own (docs/architecture.md, "The path of one change").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.common import request_id
from lbaas.server.db import models as m
from lbaas.server.plugin import amphorae, member_ports
from lbaas.server.plugin.agents import bump, is_alive, maps_physnet

WAITING = "waiting for a live lbaas agent"


def physnet_of(lb: m.LoadBalancer) -> str:
    """The physical network a load balancer is scheduled by: its VIP's network, or for a
    v1 pool (which may have no VIP yet) the pool's subnet's, as v1 did."""
    subnet = lb.vip_subnet
    if lb.api_version == 1 and lb.pools and lb.pools[0].subnet is not None:
        subnet = lb.pools[0].subnet
    assert subnet is not None  # a v2 load balancer always has its VIP subnet
    return subnet.network.provider_physical_network


def waiting_reason(physnet: str) -> str:
    return f"{WAITING} that maps physical network '{physnet}'"


def load_by_agent(session: Session) -> dict[str, int]:
    """Instances on each agent (agents with none are absent): SINGLE load balancers
    bound to it, and amphorae of ACTIVE_STANDBY ones."""
    counts = {agent_id: n for agent_id, n in session.execute(
        select(m.LoadBalancer.agent_id, func.count())
        .where(m.LoadBalancer.agent_id.is_not(None),
               m.LoadBalancer.topology != amphorae.ACTIVE_STANDBY)
        .group_by(m.LoadBalancer.agent_id)) if agent_id is not None}
    for agent_id, n in amphorae.load_by_agent(session).items():
        counts[agent_id] = counts.get(agent_id, 0) + n
    return counts


def live_agents(session: Session, physnet: str, down_time: int) -> list[m.Agent]:
    """The alive, admin-up agents that map ``physnet``."""
    return [a for a in session.scalars(select(m.Agent).where(
        m.Agent.admin_state_up.is_(True), m.Agent.agent_type == c.AGENT_TYPE_LOADBALANCER))
        if is_alive(a, down_time) and maps_physnet(a, physnet)]


def pick_agent(session: Session, physnet: str, down_time: int,
               member_physnets: set[str] | frozenset[str] = frozenset()) -> m.Agent | None:
    """The alive, admin-up agent that maps ``physnet`` (and the members' networks'
    ``member_physnets``) and has the fewest load balancers; None when there is none."""
    counts = load_by_agent(session)
    candidates = [a for a in live_agents(session, physnet, down_time)
                  if all(maps_physnet(a, other) for other in member_physnets)]
    if not candidates:
        return None
    return min(candidates, key=lambda a: (counts.get(a.id, 0), a.created_at, a.id))


def _touch_active_standby(session: Session, lb: m.LoadBalancer,
                          down_time: int) -> str | None:
    """touch() for ACTIVE_STANDBY: amphorae placed on two agents (both, or it waits
    like a SINGLE one with no agent), their ports made once there is a VIP, and every
    amphora's host told."""
    amphorae.ensure_rows(lb)
    physnet = physnet_of(lb)
    if any(a.agent_id is None for a in lb.amphorae):
        amphorae.place(session, lb, live_agents(session, physnet, down_time),
                       load_by_agent(session))
    try:
        amphorae.ensure_ports(session, lb)
    except amphorae.NoVrrpId as exc:
        raise amphorae.conflict_for(lb, exc) from None
    if lb.agent_id is None:
        return waiting_reason(physnet) + " (ACTIVE_STANDBY: two agents)"
    amphorae.bump(session, lb)
    if not any(amphorae.live(a, down_time) for a in lb.amphorae):
        return "waiting for the lbaas agents of its amphorae, which are down"
    return None


def touch(session: Session, lb: m.LoadBalancer, down_time: int) -> str | None:
    """Tell the load balancer's host that it changed (binding it to an agent first if it
    has none). Returns why nothing will happen soon (no agent can take it, or its agent
    is down or admin-down), for v1 to show in its objects' status_description; None when
    its agent is alive and will act.

    The load balancer keeps the id of the request that made the change, for the agent
    to log its work under (docs/operations.md, "Following one request")."""
    lb.request_id = request_id.current() or lb.request_id
    if amphorae.is_active_standby(lb):
        return _touch_active_standby(session, lb, down_time)
    if lb.agent_id is None:
        physnet = physnet_of(lb)
        agent = pick_agent(session, physnet, down_time,
                           member_ports.wanted_physnets(session, lb))
        if agent is None:
            return waiting_reason(physnet)
        lb.agent_id, lb.agent = agent.id, agent
        lb.revision = bump(session, agent.id)
        return None
    lb.revision = bump(session, lb.agent_id)
    agent = lb.agent
    assert agent is not None
    if not is_alive(agent, down_time):
        return f"waiting for the lbaas agent on {agent.host}, which is down"
    if not agent.admin_state_up:
        return f"waiting for the lbaas agent on {agent.host}, which is admin-down"
    return None


def schedule_waiting(session: Session, agent: m.Agent, down_time: int) -> None:
    """Load balancers that waited for an agent are placed as soon as one that maps their
    network reports. A v1 pool deleted while it waited has nothing on any host to undo:
    it goes now."""
    if not agent.admin_state_up:
        return
    waiting = session.scalars(select(m.LoadBalancer)
                              .where(m.LoadBalancer.agent_id.is_(None))).all()
    for lb in waiting:
        if lb.api_version == 1 and lb.provisioning_status == c.PENDING_DELETE:
            amphorae.free_ports(session, lb)
            session.delete(lb)
            continue
        physnet = physnet_of(lb)
        if amphorae.is_active_standby(lb):
            _place_waiting_active_standby(session, lb, agent, physnet, down_time)
            continue
        if not maps_physnet(agent, physnet):
            continue
        chosen = pick_agent(session, physnet, down_time,
                            member_ports.wanted_physnets(session, lb))
        if chosen is None:
            continue
        lb.agent_id, lb.agent = chosen.id, chosen
        lb.revision = bump(session, chosen.id)
        for obj in _objects(lb):
            if obj.status_description and obj.status_description.startswith(WAITING):
                obj.status_description = None
    for lb in session.scalars(select(m.LoadBalancer).where(
            m.LoadBalancer.agent_id.is_not(None),
            m.LoadBalancer.topology == amphorae.ACTIVE_STANDBY,
            m.LoadBalancer.amphorae.any(m.Amphora.agent_id.is_(None)))).all():
        # One amphora lost its agent (deleted) while the other kept serving.
        if maps_physnet(agent, physnet_of(lb)):
            _place_waiting_active_standby(session, lb, agent, physnet_of(lb), down_time)
    session.flush()


def _place_waiting_active_standby(session: Session, lb: m.LoadBalancer, agent: m.Agent,
                                  physnet: str, down_time: int) -> None:
    if not maps_physnet(agent, physnet):
        return
    amphorae.ensure_rows(lb)
    unplaced = sum(1 for a in lb.amphorae if a.agent_id is None)
    amphorae.place(session, lb, live_agents(session, physnet, down_time),
                   load_by_agent(session))
    if sum(1 for a in lb.amphorae if a.agent_id is None) == unplaced:
        return  # nothing placed: no host to tell (every heartbeat comes here)
    amphorae.ensure_ports(session, lb)
    amphorae.bump(session, lb)
    for obj in _objects(lb):
        if obj.status_description and obj.status_description.startswith(WAITING):
            obj.status_description = None


def _objects(lb: m.LoadBalancer) -> list[Any]:
    objs: list[Any] = [lb, *lb.listeners]
    for pool in lb.pools:
        objs += [pool, *pool.members, *pool.monitors]
    return objs
