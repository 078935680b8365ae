"""/v2.0/networks"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field

from lbaas.server.api.common import (
    Body,
    Bool,
    Int,
    Name,
    TenantId,
    creation_body,
    ctx_of,
    in_session,
    list_query,
    show_fields,
    update_body,
)
from lbaas.server.plugin import core

router = APIRouter(tags=["networks"])


class NetworkCreate(Body):
    name: Name = ""
    admin_state_up: Bool = True
    shared: Bool = False
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None
    provider_physical_network: Name = Field("default", alias="provider:physical_network",
                                            min_length=1, max_length=64)
    provider_network_type: Literal["flat", "vlan"] = Field("flat",
                                                           alias="provider:network_type")
    provider_segmentation_id: Int | None = Field(None, alias="provider:segmentation_id",
                                                 ge=1, le=4094)
    mtu: Int = Field(1500, ge=68, le=65535)


class NetworkUpdate(Body):
    # Defaults only stand for "absent" (bodies are read with exclude_unset); an explicit
    # null is a 400.
    name: Name = ""
    admin_state_up: Bool = True
    shared: Bool = False
    mtu: Int = Field(1500, ge=68, le=65535)


class NetworkCreateRequest(Body):
    network: NetworkCreate


class NetworkUpdateRequest(Body):
    network: NetworkUpdate


@router.post("/networks", status_code=201)
def create_network(request: Request, body: NetworkCreateRequest) -> dict[str, Any]:
    data = creation_body(request, body.network)
    return {"network": in_session(request, lambda s: core.network_dict(
        core.create_network(s, ctx_of(request), data)))}


@router.get("/networks")
def list_networks(request: Request) -> dict[str, Any]:
    items = in_session(request, lambda s: [core.network_dict(n) for n in
                                           core.list_networks(s, ctx_of(request))], True)
    return list_query(request, "networks", items, "networks")


@router.get("/networks/{network_id}")
def show_network(request: Request, network_id: str) -> dict[str, Any]:
    return {"network": show_fields(request, in_session(request, lambda s: core.network_dict(
        core.get_network(s, ctx_of(request), network_id)), True))}


@router.put("/networks/{network_id}")
def update_network(request: Request, network_id: str,
                   body: NetworkUpdateRequest) -> dict[str, Any]:
    data = update_body(body.network)
    return {"network": in_session(request, lambda s: core.network_dict(
        core.update_network(s, ctx_of(request), network_id, data)))}


@router.delete("/networks/{network_id}", status_code=204)
def delete_network(request: Request, network_id: str) -> Response:
    in_session(request, lambda s: core.delete_network(s, ctx_of(request), network_id))
    return Response(status_code=204)
