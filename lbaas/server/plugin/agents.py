"""Agents: heartbeats, liveness, scheduling pools to hosts, and the host revision that
agents long-poll on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.server import errors
from lbaas.server.db import models as m


def is_alive(agent: m.Agent, down_time: int) -> bool:
    return agent.heartbeat_timestamp > m.utcnow() - dt.timedelta(seconds=down_time)


def agent_dict(agent: m.Agent, down_time: int) -> dict[str, Any]:
    return {
        "id": agent.id, "host": agent.host, "agent_type": agent.agent_type,
        "binary": agent.binary, "topic": agent.topic,
        "admin_state_up": agent.admin_state_up, "alive": is_alive(agent, down_time),
        "configurations": agent.configurations,
        "created_at": agent.created_at.isoformat(sep=" ", timespec="seconds"),
        "started_at": agent.started_at.isoformat(sep=" ", timespec="seconds"),
        "heartbeat_timestamp": agent.heartbeat_timestamp.isoformat(sep=" ",
                                                                   timespec="seconds"),
        "description": None,
    }


def physnet_of(pool: m.Pool) -> str:
    return pool.subnet.network.provider_physical_network


def maps_physnet(agent: m.Agent, physnet: str) -> bool:
    mappings = agent.configurations.get("bridge_mappings") or {}
    if isinstance(mappings, list):  # ["physnet:bridge", ...]
        mappings = dict(e.split(":", 1) for e in mappings if ":" in e)
    # An OVS agent plugs unmapped networks into its integration bridge.
    return physnet in mappings or agent.configurations.get("interface_driver") == "ovs"


def bump(session: Session, agent_id: str) -> int:
    """Next revision of the host: every change to one of its pools gets one."""
    session.execute(update(m.Agent).where(m.Agent.id == agent_id)
                    .values(revision=m.Agent.revision + 1))
    rev = session.scalar(select(m.Agent.revision).where(m.Agent.id == agent_id))
    assert rev is not None
    session.info.setdefault("changed_hosts", set()).add(agent_id)
    return rev


def waiting_reason(physnet: str) -> str:
    return (f"waiting for a live lbaas agent that maps physical network '{physnet}'")


def pick_agent(session: Session, physnet: str, down_time: int) -> m.Agent | None:
    """The alive, admin-up agent that maps ``physnet`` and has the fewest load balancers
    (v1 pools and v2 load balancers alike); None when there is none."""
    counts: dict[str, int] = {agent_id: n for agent_id, n in session.execute(
        select(m.PoolAgentBinding.agent_id, func.count())
        .group_by(m.PoolAgentBinding.agent_id))}
    for lb_agent_id, n in session.execute(
            select(m.LoadBalancer.agent_id, func.count())
            .where(m.LoadBalancer.agent_id.is_not(None))
            .group_by(m.LoadBalancer.agent_id)):
        if lb_agent_id is not None:
            counts[lb_agent_id] = counts.get(lb_agent_id, 0) + n
    candidates = [a for a in session.scalars(select(m.Agent).where(
        m.Agent.admin_state_up.is_(True), m.Agent.agent_type == c.AGENT_TYPE_LOADBALANCER))
        if is_alive(a, down_time) and maps_physnet(a, physnet)]
    if not candidates:
        return None
    return min(candidates, key=lambda a: (counts.get(a.id, 0), a.created_at, a.id))


def schedule(session: Session, pool: m.Pool, down_time: int) -> m.Agent | None:
    """Bind the pool to the agent :func:`pick_agent` chooses; None when there is none
    (the pool waits for one)."""
    agent = pick_agent(session, physnet_of(pool), down_time)
    if agent is None:
        return None
    binding = m.PoolAgentBinding(pool_id=pool.id, agent_id=agent.id, revision=0)
    session.add(binding)
    pool.binding = binding
    session.flush()
    binding.revision = bump(session, agent.id)
    return agent


def touch_pool(session: Session, pool: m.Pool, down_time: int) -> str | None:
    """Tell the pool's host that it changed (scheduling it first if it has none yet).
    Returns why nothing will happen soon (no agent can take the pool, or its agent is
    down), for the caller to show in the objects' status_description; None when the
    pool's agent is alive and will act."""
    if pool.binding is None:
        if schedule(session, pool, down_time) is None:
            return waiting_reason(physnet_of(pool))
        return None
    pool.binding.revision = bump(session, pool.binding.agent_id)
    agent = pool.binding.agent
    if not is_alive(agent, down_time):
        return f"waiting for the lbaas agent on {agent.host}, which is down"
    if not agent.admin_state_up:
        return f"waiting for the lbaas agent on {agent.host}, which is admin-down"
    return None


def report_state(session: Session, host: str, configurations: dict[str, Any],
                 start_flag: bool, agent_type: str, binary: str,
                 down_time: int) -> m.Agent:
    agent = session.scalar(select(m.Agent).where(m.Agent.host == host))
    now = m.utcnow()
    if agent is None:
        agent = m.Agent(host=host, agent_type=agent_type, binary=binary,
                        configurations=configurations, created_at=now, started_at=now,
                        heartbeat_timestamp=now, revision=0)
        try:
            with session.begin_nested():
                session.add(agent)
                session.flush()
        except IntegrityError:
            # The same agent's first heartbeats raced (a retry after a timeout): the
            # other one registered it; this one refreshes it.
            agent = session.scalars(select(m.Agent).where(m.Agent.host == host)).one()
    if agent.heartbeat_timestamp != now:
        agent.configurations = configurations
        agent.heartbeat_timestamp = now
        if start_flag:
            agent.started_at = now
    if agent.admin_state_up:
        _schedule_waiting(session, agent, down_time)
        _schedule_waiting_loadbalancers(session, agent, down_time)
    return agent


def _schedule_waiting(session: Session, agent: m.Agent, down_time: int) -> None:
    """Pools that waited for an agent are scheduled as soon as one reports."""
    waiting = session.scalars(select(m.Pool).outerjoin(m.PoolAgentBinding)
                              .where(m.PoolAgentBinding.pool_id.is_(None))).all()
    for pool in waiting:
        if pool.status == c.PENDING_DELETE:
            _delete_pool_now(session, pool)
            continue
        if maps_physnet(agent, physnet_of(pool)) and schedule(session, pool, down_time):
            for obj in _pool_objects(pool):
                if obj.status_description and obj.status_description.startswith(
                        "waiting for a live lbaas agent"):
                    obj.status_description = None


def _schedule_waiting_loadbalancers(session: Session, agent: m.Agent,
                                    down_time: int) -> None:
    waiting = session.scalars(select(m.LoadBalancer)
                              .where(m.LoadBalancer.agent_id.is_(None))).all()
    for lb in waiting:
        physnet = lb.vip_subnet.network.provider_physical_network
        chosen = pick_agent(session, physnet, down_time) if maps_physnet(agent, physnet) \
            else None
        if chosen is not None:
            lb.agent_id = chosen.id
            lb.revision = bump(session, chosen.id)


def _pool_objects(pool: m.Pool) -> list[Any]:
    return [pool, *pool.members, *pool.monitors, *([pool.vip] if pool.vip else [])]


def _delete_pool_now(session: Session, pool: m.Pool) -> None:
    from lbaas.server.plugin import loadbalancer
    loadbalancer.delete_pool_rows(session, pool)


def get_agent(session: Session, agent_id: str) -> m.Agent:
    agent = session.get(m.Agent, agent_id)
    if agent is None:
        raise errors.AgentNotFound(id=agent_id)
    return agent


def agent_by_host(session: Session, host: str) -> m.Agent:
    agent = session.scalar(select(m.Agent).where(m.Agent.host == host))
    if agent is None:
        raise errors.AgentNotFound(id=host)
    return agent
