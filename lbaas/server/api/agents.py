"""/v2.0/agents and the load balancer ↔ agent bindings (admin only).

v1's pools: ``/agents/{id}/loadbalancer-pools`` and ``/lb/pools/{id}/loadbalancer-agent``
(Neutron's lbaas_agent_scheduler). Octavia's load balancers, by neutron-lbaas v2's
lbaas_agent_schedulerv2 names (python-neutronclient's paths):
``/agents/{id}/agent-loadbalancers`` and
``/lbaas/loadbalancers/{id}/loadbalancer-hosting-agent``. The latter lies under the
Octavia prefix /v2.0/lbaas, but is Neutron's resource: its errors carry Neutron's body
(``gate.octavia_path``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lbaas.server import errors
from lbaas.server.api.common import (
    Body,
    Bool,
    ctx_of,
    in_session,
    list_query,
    settings_of,
    show_fields,
    update_body,
)
from lbaas.server.api.v2 import serializers as ser
from lbaas.server.db import models as m
from lbaas.server.plugin import agents, failover, loadbalancer, octavia

router = APIRouter(tags=["agents"])


class AgentUpdate(Body):
    admin_state_up: Bool = True


class AgentUpdateRequest(Body):
    agent: AgentUpdate


def _admin(request: Request, rule: str = "get_agent") -> int:
    """The policy's ``rule`` (Neutron's names; by default admins only) allows the
    caller; returns the agents' down time."""
    ctx = ctx_of(request)
    if not request.app.state.policy.allows(ctx, rule, ctx.project_id):
        raise errors.Forbidden("Agents are visible to administrators only.")
    down_time: int = settings_of(request).agent_down_time
    return down_time


@router.get("/agents")
def list_agents(request: Request) -> dict[str, Any]:
    down = _admin(request)
    items = in_session(request, lambda s: [
        agents.agent_dict(a, down) for a in s.scalars(select(m.Agent)
                                                      .order_by(m.Agent.created_at))], True)
    return list_query(request, "agents", items, "agents")


@router.get("/agents/{agent_id}")
def show_agent(request: Request, agent_id: str) -> dict[str, Any]:
    down = _admin(request)
    return {"agent": show_fields(request, in_session(request, lambda s: agents.agent_dict(
        agents.get_agent(s, agent_id), down), True))}


@router.put("/agents/{agent_id}")
def update_agent(request: Request, agent_id: str, body: AgentUpdateRequest) -> dict[str, Any]:
    down = _admin(request, "update_agent")
    data = update_body(body.agent)

    def run(s: Session) -> dict[str, Any]:
        agent = agents.get_agent(s, agent_id)
        if "admin_state_up" in data:
            agent.admin_state_up = data["admin_state_up"]
        return agents.agent_dict(agent, down)
    return {"agent": in_session(request, run)}


@router.delete("/agents/{agent_id}", status_code=204)
def delete_agent(request: Request, agent_id: str) -> None:
    """Neutron's agent delete, for a dead agent only (409 AgentInUse for a live one):
    its load balancers move to live agents first; those no agent can take wait unbound
    for one that maps their network."""
    down = _admin(request, "delete_agent")

    def run(s: Session) -> None:
        agent = agents.get_agent(s, agent_id)
        if agents.is_alive(agent, down):
            raise errors.AgentInUse(id=agent_id)
        failover.move_away(s, agent, down, unbind_when_stuck=True)
        failover.move_amphorae_away(s, agent, down, unbind_when_stuck=True)
        s.delete(agent)
    in_session(request, run)


@router.get("/agents/{agent_id}/loadbalancer-pools")
def agent_pools(request: Request, agent_id: str) -> dict[str, Any]:
    _admin(request, "get_loadbalancer-pools")

    def run(s: Session) -> list[dict[str, Any]]:
        agent = agents.get_agent(s, agent_id)
        pools = s.scalars(select(m.LbPool).join(m.LoadBalancer, m.LoadBalancer.id ==
                                                m.LbPool.loadbalancer_id)
                          .where(or_(m.LoadBalancer.agent_id == agent.id,
                                     # ACTIVE_STANDBY: either instance's agent
                                     m.LoadBalancer.amphorae.any(
                                         m.Amphora.agent_id == agent.id)),
                                 m.LoadBalancer.api_version == loadbalancer.V1)
                          .order_by(m.LbPool.created_at, m.LbPool.id))
        return [loadbalancer.pool_dict(p) for p in pools]
    return {"pools": in_session(request, run, True)}


@router.get("/lb/pools/{pool_id}/loadbalancer-agent")
def pool_agent(request: Request, pool_id: str) -> dict[str, Any]:
    down = _admin(request, "get_loadbalancer-agent")

    def run(s: Session) -> dict[str, Any]:
        pool = loadbalancer.get_pool(s, ctx_of(request), pool_id)
        agent = pool.loadbalancer.agent
        if agent is None:
            return {}  # Neutron's answer for a pool no agent hosts (yet)
        return {"agent": agents.agent_dict(agent, down)}
    return in_session(request, run, True)


@router.get("/agents/{agent_id}/agent-loadbalancers")
def agent_loadbalancers(request: Request, agent_id: str) -> dict[str, Any]:
    """The Octavia load balancers bound to the agent, as Octavia's API shows them."""
    _admin(request, "get_agent-loadbalancers")

    def run(s: Session) -> list[dict[str, Any]]:
        agent = agents.get_agent(s, agent_id)
        lbs = s.scalars(select(m.LoadBalancer)
                        .where(m.LoadBalancer.agent_id == agent.id,
                               m.LoadBalancer.api_version == octavia.OCTAVIA)
                        .order_by(m.LoadBalancer.created_at, m.LoadBalancer.id))
        return [ser.loadbalancer(lb) for lb in lbs]
    return {"loadbalancers": in_session(request, run, True)}


@router.get("/lbaas/loadbalancers/{lb_id}/loadbalancer-hosting-agent")
def loadbalancer_hosting_agent(request: Request, lb_id: str) -> dict[str, Any]:
    """The agent an Octavia load balancer is bound to; ``{"agent": null}`` while none
    is (no live agent maps its network yet)."""
    down = _admin(request, "get_loadbalancer-hosting-agent")
    ctx = ctx_of(request)

    def run(s: Session) -> dict[str, Any]:
        lb = s.get(m.LoadBalancer, lb_id)
        # v1's pools are load balancers of the same model: not this API's (a 404).
        if lb is None or lb.api_version != octavia.OCTAVIA or not ctx.owns(lb.tenant_id):
            raise errors.EntityNotFound(name="LoadBalancer", id=lb_id)
        agent = lb.agent
        return {"agent": None if agent is None else agents.agent_dict(agent, down)}
    return in_session(request, run, True)
