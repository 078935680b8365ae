"""/v2.0/ports"""

from __future__ import annotations

from typing import Any

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

router = APIRouter(tags=["ports"])



class FixedIp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subnet_id: Uuid | None = None
    ip_address: IpAddress | None = None


class PortCreate(Body):
    network_id: Uuid
    name: Name = ""
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None
    mac_address: str | None = Field(None, pattern=r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
    fixed_ips: list[FixedIp] = Field(default_factory=list, max_length=16)
    admin_state_up: Bool = True
    device_id: Name = ""
    device_owner: Name = ""
    binding_host_id: Name = Field("", alias="binding:host_id")


class PortUpdate(Body):
    name: Name = ""
    fixed_ips: list[FixedIp] = Field(default_factory=list, max_length=16)
    admin_state_up: Bool = True
    device_id: Name = ""
    device_owner: Name = ""
    binding_host_id: Name = Field("", alias="binding:host_id")


class PortCreateRequest(Body):
    port: PortCreate


class PortUpdateRequest(Body):
    port: PortUpdate


def _fixed_ips_plain(data: dict[str, Any]) -> dict[str, Any]:
    if "fixed_ips" in data:
        data["fixed_ips"] = [{k: v for k, v in f.items() if v is not None}
                             for f in data["fixed_ips"]]
    if "mac_address" in data:
        data["mac_address"] = data["mac_address"].lower()
    return data


@router.post("/ports", status_code=201)
def create_port(request: Request, body: PortCreateRequest) -> dict[str, Any]:
    data = _fixed_ips_plain(creation_body(request, body.port))
    return {"port": in_session(request, lambda s: core.port_dict(
        core.create_port(s, ctx_of(request), data)))}


@router.get("/ports")
def list_ports(request: Request) -> dict[str, Any]:
    items = in_session(request, lambda s: [core.port_dict(p) for p in
                                           core.list_ports(s, ctx_of(request))], True)
    return list_query(request, "ports", items, "ports")


@router.get("/ports/{port_id}")
def show_port(request: Request, port_id: str) -> dict[str, Any]:
    return {"port": show_fields(request, in_session(request, lambda s: core.port_dict(
        core.get_port(s, ctx_of(request), port_id)), True))}


@router.put("/ports/{port_id}")
def update_port(request: Request, port_id: str, body: PortUpdateRequest) -> dict[str, Any]:
    data = _fixed_ips_plain(update_body(body.port))
    return {"port": in_session(request, lambda s: core.port_dict(
        core.update_port(s, ctx_of(request), port_id, data)))}


@router.delete("/ports/{port_id}", status_code=204)
def delete_port(request: Request, port_id: str) -> Response:
    in_session(request, lambda s: core.delete_port(s, ctx_of(request), port_id))
    return Response(status_code=204)
