"""/v2.0/lb/members"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from lbaas.server.api.common import (
    Body,
    Bool,
    Int,
    IpAddress,
    Port,
    TenantId,
    Uuid,
    creation_body,
    ctx_of,
    in_session,
    list_query,
    settings_of,
    show_fields,
    update_body,
)
from lbaas.server.plugin import loadbalancer as lb

router = APIRouter(tags=["members"])

Weight = Field(1, ge=0, le=256)


class MemberCreate(Body):
    pool_id: Uuid
    address: IpAddress
    protocol_port: Port
    weight: Int = Weight
    admin_state_up: Bool = True
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None


class MemberUpdate(Body):
    pool_id: Uuid = ""
    weight: Int = Weight
    admin_state_up: Bool = True


class MemberCreateRequest(Body):
    member: MemberCreate


class MemberUpdateRequest(Body):
    member: MemberUpdate


@router.post("/lb/members", status_code=201)
def create_member(request: Request, body: MemberCreateRequest) -> dict[str, Any]:
    data = creation_body(request, body.member)
    return {"member": in_session(request, lambda s: lb.member_dict(
        lb.create_member(s, ctx_of(request), settings_of(request), data)))}


@router.get("/lb/members")
def list_members(request: Request) -> dict[str, Any]:
    items = in_session(request, lambda s: [lb.member_dict(x) for x in
                                           lb.list_members(s, ctx_of(request))], True)
    return list_query(request, "members", items, "lb/members")


@router.get("/lb/members/{member_id}")
def show_member(request: Request, member_id: str) -> dict[str, Any]:
    return {"member": show_fields(request, in_session(request, lambda s: lb.member_dict(
        lb.get_member(s, ctx_of(request), member_id)), True))}


@router.put("/lb/members/{member_id}")
def update_member(request: Request, member_id: str,
                  body: MemberUpdateRequest) -> dict[str, Any]:
    data = update_body(body.member)
    return {"member": in_session(request, lambda s: lb.member_dict(
        lb.update_member(s, ctx_of(request), settings_of(request), member_id, data)))}


@router.delete("/lb/members/{member_id}", status_code=204)
def delete_member(request: Request, member_id: str) -> Response:
    in_session(request, lambda s: lb.delete_member(s, ctx_of(request), settings_of(request),
                                                   member_id))
    return Response(status_code=204)
