"""/v2.0/extensions: which of Neutron's API extensions this server speaks.

Clients look here before they use an extension (python-neutronclient's ``ext-list`` and
``ext-show``, scripts checking for ``lbaas`` or ``quotas``), so the list names exactly
what the routes serve: the LBaaS v1 resources, the agents, the pool ↔ agent scheduler
routes, the quota API and the provider network attributes. Authenticated like the rest
of /v2.0; the same for every caller.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from lbaas.server import errors
from lbaas.server.api.common import list_query, show_fields

router = APIRouter(tags=["extensions"])

_UPDATED = "2026-12-02T00:00:00-00:00"


def _ext(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description,
            "updated": _UPDATED, "links": []}


EXTENSIONS: tuple[dict[str, Any], ...] = (
    _ext("lbaas", "LoadBalancing service",
         "Load balancer pools, members, health monitors and VIPs (LBaaS v1) under "
         "/v2.0/lb, with pool statistics and monitor associations."),
    _ext("agent", "agent",
         "The load balancer agents: list, show, enable or disable them (/v2.0/agents)."),
    _ext("lbaas_agent_scheduler", "Loadbalancer Agent Scheduler",
         "Which agent hosts a pool (/v2.0/lb/pools/{id}/loadbalancer-agent) and which "
         "pools an agent hosts (/v2.0/agents/{id}/loadbalancer-pools)."),
    _ext("lbaas_agent_schedulerv2", "Loadbalancer Agent Scheduler V2",
         "Which agent hosts an Octavia load balancer "
         "(/v2.0/lbaas/loadbalancers/{id}/loadbalancer-hosting-agent) and which load "
         "balancers an agent hosts (/v2.0/agents/{id}/agent-loadbalancers)."),
    _ext("quotas", "Quota management support",
         "Per-project limits on pools, members, health monitors, VIPs, networks, subnets "
         "and ports (/v2.0/quotas)."),
    _ext("provider", "Provider Network",
         "A network's physical network, network type (flat, vlan) and segmentation id: "
         "the provider:* attributes of /v2.0/networks."),
)


@router.get("/extensions")
def list_extensions(request: Request) -> dict[str, Any]:
    return list_query(request, "extensions", [dict(e) for e in EXTENSIONS], "extensions")


@router.get("/extensions/{alias}")
def show_extension(request: Request, alias: str) -> dict[str, Any]:
    for ext in EXTENSIONS:
        if ext["alias"] == alias:
            return {"extension": show_fields(request, dict(ext))}
    raise errors.ExtensionNotFound(alias=alias)
