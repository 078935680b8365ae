"""Agents: heartbeats, liveness, and the host revision that agents long-poll on (which
agent runs what is lbaas/server/plugin/scheduler.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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


def maps_physnet(agent: m.Agent, physnet: str) -> bool:
    mappings = agent.configurations.get("bridge_mappings") or {}
    if isinstance(mappings, list):  # ["physnet:bridge", ...]
        mappings = dict(e.split(":", 1) for e in mappings if ":" in e)
    # An OVS agent plugs unmapped networks into its integration bridge.
    return physnet in mappings or agent.configurations.get("interface_driver") == "ovs"


def has_live_peer(session: Session, agent: m.Agent, down_time: int) -> bool:
    """Another alive, admin-up agent exists (one that could take this one's load
    balancers)."""
    return any(is_alive(a, down_time) for a in session.scalars(select(m.Agent).where(
        m.Agent.id != agent.id, m.Agent.admin_state_up.is_(True))))


def bump(session: Session, agent_id: str) -> int:
    """Next revision of the host: every change to one of its load balancers gets one."""
    stmt = update(m.Agent).where(m.Agent.id == agent_id).values(
        revision=m.Agent.revision + 1)
    if session.get_bind().dialect.update_returning:
        # One statement (UPDATE ... RETURNING: SQLite >= 3.35, PostgreSQL) where an
        # UPDATE and a SELECT were two: every write request of both APIs bumps at least
        # once, and each statement through the ORM cost ~0.5-1 ms on the bench's host.
        rev = session.scalar(stmt.returning(m.Agent.revision))
    else:
        session.execute(stmt)
        rev = session.scalar(select(m.Agent.revision).where(m.Agent.id == agent_id))
    assert rev is not None
    session.info.setdefault("changed_hosts", set()).add(agent_id)
    return rev


def report_state(session: Session, host: str, configurations: dict[str, Any],
                 start_flag: bool, agent_type: str, binary: str) -> m.Agent:
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
    return agent


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
