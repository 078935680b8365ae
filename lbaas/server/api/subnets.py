"""/v2.0/subnets"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from lbaas.server.api.common import (
    Body,
    Bool,
    IpAddress,
    Name,
    TenantId,
    Uuid,
    creation_body,
    ctx_of,
    in_session,
    list_query,
    show_fields,
    update_body,
)
from lbaas.server.plugin import core

router = APIRouter(tags=["subnets"])


class AllocationPool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: IpAddress
    end: IpAddress


class HostRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destination: str = Field(max_length=64, pattern=r"^[0-9a-fA-F.:]+/\d{1,3}$")
    nexthop: IpAddress


class SubnetCreate(Body):
    network_id: Uuid
    cidr: str = Field(max_length=64, pattern=r"^[0-9a-fA-F.:]+/\d{1,3}$")
    ip_version: Literal[4, 6] = 4
    name: Name = ""
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None
    gateway_ip: IpAddress | None = None
    allocation_pools: list[AllocationPool] | None = Field(None, max_length=64)
    host_routes: list[HostRoute] = Field(default_factory=list, max_length=64)
    dns_nameservers: list[IpAddress] = Field(default_factory=list, max_length=16)
    enable_dhcp: Bool = True


class SubnetUpdate(Body):
    name: Name = ""
    gateway_ip: IpAddress | None = None
    host_routes: list[HostRoute] = Field(default_factory=list, max_length=64)
    dns_nameservers: list[IpAddress] = Field(default_factory=list, max_length=16)
    enable_dhcp: Bool = True


class SubnetCreateRequest(Body):
    subnet: SubnetCreate


class SubnetUpdateRequest(Body):
    subnet: SubnetUpdate


@router.post("/subnets", status_code=201)
def create_subnet(request: Request, body: SubnetCreateRequest) -> dict[str, Any]:
    data = creation_body(request, body.subnet)
    return {"subnet": in_session(request, lambda s: core.subnet_dict(
        core.create_subnet(s, ctx_of(request), data)))}


@router.get("/subnets")
def list_subnets(request: Request) -> dict[str, Any]:
    items = in_session(request, lambda s: [core.subnet_dict(x) for x in
                                           core.list_subnets(s, ctx_of(request))], True)
    return list_query(request, "subnets", items, "subnets")


@router.get("/subnets/{subnet_id}")
def show_subnet(request: Request, subnet_id: str) -> dict[str, Any]:
    return {"subnet": show_fields(request, in_session(request, lambda s: core.subnet_dict(
        core.get_subnet(s, ctx_of(request), subnet_id)), True))}


@router.put("/subnets/{subnet_id}")
def update_subnet(request: Request, subnet_id: str,
                  body: SubnetUpdateRequest) -> dict[str, Any]:
    data = update_body(body.subnet)
    return {"subnet": in_session(request, lambda s: core.subnet_dict(
        core.update_subnet(s, ctx_of(request), subnet_id, data)))}


@router.delete("/subnets/{subnet_id}", status_code=204)
def delete_subnet(request: Request, subnet_id: str) -> Response:
    in_session(request, lambda s: core.delete_subnet(s, ctx_of(request), subnet_id))
    return Response(status_code=204)
