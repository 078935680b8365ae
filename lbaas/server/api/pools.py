"""/v2.0/lb/pools, with stats and health monitor associations."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request, Response
from sqlalchemy.orm import selectinload

from lbaas.server.api.common import (
    Body,
    Bool,
    Description,
    Name,
    TenantId,
    Uuid,
    ctx_of,
    in_session,
    settings_of,
)
from lbaas.server.api.listing import Listing
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.api.sql_list import BOOL, col
from lbaas.server.db import models as m
from lbaas.server.plugin import loadbalancer as lb

Protocol = Literal["TCP", "HTTP", "HTTPS"]
LbMethod = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"]


class PoolCreate(Body):
    subnet_id: Uuid
    protocol: Protocol
    lb_method: LbMethod
    name: Name = ""
    description: Description = ""
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None
    # Only the HAProxy namespace driver exists; anything else is a 400.
    provider: Literal["haproxy"] = "haproxy"
    admin_state_up: Bool = True


class PoolUpdate(Body):
    name: Name = ""
    description: Description = ""
    lb_method: LbMethod = "ROUND_ROBIN"
    admin_state_up: Bool = True


class PoolCreateRequest(Body):
    pool: PoolCreate


class PoolUpdateRequest(Body):
    pool: PoolUpdate


class MonitorRef(Body):
    id: Uuid


class AssociateRequest(Body):
    health_monitor: MonitorRef


router = crud_router(Resource(
    member="pool", collection="pools", path="/lb/pools", to_dict=lb.pool_dict,
    create=lb.create_pool, get=lb.get_pool, update=lb.update_pool,
    delete=lb.delete_pool,
    listing=Listing(
        m.LbPool, lambda ctx: lb.v1_query(ctx, m.LbPool),
        attrs={"id": col(m.LbPool.id), "tenant_id": col(m.LbPool.tenant_id),
               "project_id": col(m.LbPool.tenant_id), "name": col(m.LbPool.name),
               "description": col(m.LbPool.description),
               "subnet_id": col(m.LbPool.subnet_id), "protocol": col(m.LbPool.protocol),
               "lb_method": col(m.LbPool.lb_algorithm),
               "provider": col(m.LoadBalancer.provider),
               "admin_state_up": col(m.LbPool.admin_state_up, BOOL),
               "status": col(lb.v1_status_sql(m.LbPool)),
               "status_description": col(m.LbPool.status_description, nullable=True)},
        other=frozenset({"vip_id", "members", "health_monitors",
                         "health_monitors_status"}),
        load=(selectinload(m.LbPool.loadbalancer).selectinload(m.LoadBalancer.listeners),
              selectinload(m.LbPool.members), selectinload(m.LbPool.monitors))),
), PoolCreateRequest, PoolUpdateRequest)


@router.get("/lb/pools/{pool_id}/stats")
def pool_stats(request: Request, pool_id: str) -> dict[str, Any]:
    return {"stats": in_session(request, lambda s: lb.pool_stats(s, ctx_of(request),
                                                                 pool_id), True)}


@router.post("/lb/pools/{pool_id}/health_monitors", status_code=201)
def associate_health_monitor(request: Request, pool_id: str,
                             body: AssociateRequest) -> dict[str, Any]:
    hm_id = body.health_monitor.id
    in_session(request, lambda s: lb.associate(s, ctx_of(request), settings_of(request),
                                               pool_id, hm_id))
    # Neutron answers with the association: the monitor's id.
    return {"health_monitor": {"id": hm_id}}


@router.delete("/lb/pools/{pool_id}/health_monitors/{hm_id}", status_code=204)
def disassociate_health_monitor(request: Request, pool_id: str, hm_id: str) -> Response:
    in_session(request, lambda s: lb.disassociate(s, ctx_of(request), settings_of(request),
                                                  pool_id, hm_id))
    return Response(status_code=204)
