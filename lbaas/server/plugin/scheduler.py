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
from lbaas.server.plugin import member_ports
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
    """Load balancers bound to each agent (agents with none are absent)."""
    return {agent_id: n for agent_id, n in session.execute(
        select(m.LoadBalancer.agent_id, func.count())
        .where(m.LoadBalancer.agent_id.is_not(None))
        .group_by(m.LoadBalancer.agent_id)) if agent_id is not None}


def pick_agent(session: Session, physnet: str, down_time: int,
               member_physnets: set[str] | frozenset[str] = frozenset()) -> m.Agent | None:
    """The alive, admin-up agent that maps ``physnet`` (and the members' networks'
    ``member_physnets``) and has the fewest load balancers; None when there is none."""
    counts = load_by_agent(session)
    candidates = [a for a in session.scalars(select(m.Agent).where(
        m.Agent.admin_state_up.is_(True), m.Agent.agent_type == c.AGENT_TYPE_LOADBALANCER))
        if is_alive(a, down_time) and maps_physnet(a, physnet)
        and all(maps_physnet(a, other) for other in member_physnets)]
    if not candidates:
        return None
    return min(candidates, key=lambda a: (counts.get(a.id, 0), a.created_at, a.id))


def touch(session: Session, lb: m.LoadBalancer, down_time: int) -> str | None:
    """Tell the load balancer's host that it changed (binding it to an agent first if it
    has none). Returns why nothing will happen soon (no agent can take it, or its agent
    is down or admin-down), for v1 to show in its objects' status_description; None when
    its agent is alive and will act.

    The load balancer keeps the id of the request that made the change, for the agent
    to log its work under (docs/operations.md, "Following one request")."""
    lb.request_id = request_id.current() or lb.request_id
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
            session.delete(lb)
            continue
        physnet = physnet_of(lb)
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
    session.flush()


def _objects(lb: m.LoadBalancer) -> list[Any]:
    objs: list[Any] = [lb, *lb.listeners]
    for pool in lb.pools:
        objs += [pool, *pool.members, *pool.monitors]
    return objs
