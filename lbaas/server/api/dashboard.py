"""The dashboard: ``GET /ui`` (the page, public: it holds no data) and its one read-only
endpoint, ``GET /ui/api/overview``, with the caller's token like every other call.

The page reads and writes through the REST APIs (Octavia v2 under ``/v2.0/lbaas``, v1
under ``/v2.0/lb``, ``/v2.0/agents``). The overview adds only what those do not show in
one place: v1 and v2 load balancers side by side as one tree, each object's
``status_description`` (why it waits or failed), the host serving each load balancer
and each agent's heartbeat age. The same rules as the rest of the API: a tenant sees its
own project's load balancers; hosts and agents are shown to administrators only
(``/v2.0/agents`` is admin-only too). See docs/operations.md, "The dashboard".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lbaas.server.api.common import ctx_of, in_session, settings_of
from lbaas.server.api.v2.common import timestamp
from lbaas.server.db import models as m
from lbaas.server.plugin import agents as agent_rules

STATIC_DIR = Path(__file__).resolve().parent.parent / "ui"

router = APIRouter(tags=["dashboard"])


def _statuses(obj: Any) -> dict[str, Any]:
    return {"id": obj.id, "name": obj.name,
            "provisioning_status": obj.provisioning_status,
            "operating_status": obj.operating_status,
            "status_description": obj.status_description,
            "updated_at": timestamp(obj.updated_at or obj.created_at)}


def _pool(p: m.LbPool) -> dict[str, Any]:
    hm = p.healthmonitor
    return {**_statuses(p), "protocol": p.protocol, "lb_algorithm": p.lb_algorithm,
            "healthmonitor": None if hm is None else {**_statuses(hm), "type": hm.type},
            "members": [{**_statuses(mem), "address": mem.address,
                         "protocol_port": mem.protocol_port, "weight": mem.weight,
                         "admin_state_up": mem.admin_state_up} for mem in p.members]}


def _loadbalancer(lb: m.LoadBalancer, admin: bool, down_time: int) -> dict[str, Any]:
    agent = lb.agent if admin else None
    return {**_statuses(lb), "project_id": lb.tenant_id, "api_version": lb.api_version,
            "vip_address": lb.vip_address, "topology": lb.topology,
            "host": agent.host if agent else None,
            "agent_alive": agent_rules.is_alive(agent, down_time) if agent else None,
            "listeners": [{**_statuses(li), "protocol": li.protocol,
                           "protocol_port": li.protocol_port,
                           "default_pool_id": li.default_pool_id} for li in lb.listeners],
            "pools": [_pool(p) for p in lb.pools]}


# The page runs only its own script and style sheet, and cannot be framed by another site.
PAGE_HEADERS = {"Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff"}


@router.get("/ui", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


@router.get("/ui/api/overview")
def overview(request: Request) -> dict[str, Any]:
    """Every load balancer the caller may see (v1 and v2) with its tree, statuses and
    reasons; for administrators also the serving host and the agents' heartbeat age."""
    ctx = ctx_of(request)
    down_time: int = settings_of(request).agent_down_time

    def run(s: Session) -> dict[str, Any]:
        q = (select(m.LoadBalancer)
             .options(selectinload(m.LoadBalancer.listeners),
                      selectinload(m.LoadBalancer.agent),
                      selectinload(m.LoadBalancer.pools).selectinload(m.LbPool.members),
                      selectinload(m.LoadBalancer.pools).selectinload(m.LbPool.healthmonitor))
             .order_by(m.LoadBalancer.created_at, m.LoadBalancer.id))
        if not ctx.is_admin:
            q = q.where(m.LoadBalancer.tenant_id == ctx.project_id)
        lbs = [_loadbalancer(lb, ctx.is_admin, down_time) for lb in s.scalars(q)]
        agents = []
        if ctx.is_admin:
            now = m.utcnow()
            for a in s.scalars(select(m.Agent).order_by(m.Agent.host)):
                agents.append({"id": a.id, "host": a.host, "admin_state_up": a.admin_state_up,
                               "alive": agent_rules.is_alive(a, down_time),
                               "heartbeat_age": max(0, round(
                                   (now - a.heartbeat_timestamp).total_seconds()))})
        return {"caller": {"project_id": ctx.project_id, "is_admin": ctx.is_admin},
                "loadbalancers": lbs, "agents": agents}
    return in_session(request, run, read_only=True)
