"""/v2/lbaas/pools and their members (with the batch ``PUT /pools/{id}/members``)."""

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from lbaas.server.api.common import update_body
from lbaas.server.api.v2 import listing
from lbaas.server.api.v2 import serializers as ser
from lbaas.server.api.v2.common import V2Body, project_of, run, show_fields
from lbaas.server.api.v2.schemas import (
    MemberCreate,
    MemberUpdate,
    PoolCreate,
    PoolUpdate,
    wrap,
)
from lbaas.server.plugin import octavia

router = APIRouter(tags=["v2 pools"])
CreateRequest = wrap("pool", PoolCreate)
UpdateRequest = wrap("pool", PoolUpdate)
MemberCreateRequest = wrap("member", MemberCreate)
MemberUpdateRequest = wrap("member", MemberUpdate)


class MembersBatch(V2Body):
    members: list[MemberCreate] = Field(max_length=1000)


@router.post("/pools", status_code=201)
def create(request: Request, body: CreateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.pool)  # type: ignore[attr-defined]
    data["tenant_id"] = project_of(request, data)
    return {"pool": run(request, lambda s, ctx, st: ser.pool(
        octavia.create_pool(s, ctx, st, data)))}


@router.get("/pools")
def list_all(request: Request) -> dict[str, Any]:
    return listing.list_response(request, listing.POOLS, "v2/lbaas/pools")


@router.get("/pools/{pool_id}")
def show(request: Request, pool_id: str) -> dict[str, Any]:
    item = run(request, lambda s, ctx, st: ser.pool(octavia.get_pool(s, ctx, pool_id)),
               read_only=True)
    return {"pool": show_fields(request, item)}


@router.put("/pools/{pool_id}")
def update(request: Request, pool_id: str,
           body: UpdateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.pool)  # type: ignore[attr-defined]
    return {"pool": run(request, lambda s, ctx, st: ser.pool(
        octavia.update_pool(s, ctx, st, pool_id, data)))}


@router.delete("/pools/{pool_id}", status_code=204)
def delete(request: Request, pool_id: str) -> Response:
    run(request, lambda s, ctx, st: octavia.delete_pool(s, ctx, st, pool_id))
    return Response(status_code=204)


@router.post("/pools/{pool_id}/members", status_code=201)
def create_member(request: Request, pool_id: str,
                  body: MemberCreateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.member)  # type: ignore[attr-defined]
    project_of(request, data)
    return {"member": run(request, lambda s, ctx, st: ser.member(
        octavia.create_member(s, ctx, st, pool_id, data)))}


@router.get("/pools/{pool_id}/members")
def list_members(request: Request, pool_id: str) -> dict[str, Any]:
    # The pool's visibility is the members' (404 for someone else's pool).
    return listing.list_response(
        request, listing.MEMBERS, f"v2/lbaas/pools/{pool_id}/members",
        scope=lambda s, ctx: listing.ME.pool_id == octavia.get_pool(s, ctx, pool_id).id)


@router.put("/pools/{pool_id}/members", status_code=202)
def batch_update_members(request: Request, pool_id: str, body: MembersBatch) -> Response:
    members = [update_body(mem) for mem in body.members]
    for mem in members:
        mem.pop("project_id", None)
        mem.pop("tenant_id", None)
    run(request, lambda s, ctx, st: octavia.batch_update_members(s, ctx, st, pool_id,
                                                                 members))
    return Response(status_code=202)


@router.get("/pools/{pool_id}/members/{member_id}")
def show_member(request: Request, pool_id: str, member_id: str) -> dict[str, Any]:
    item = run(request, lambda s, ctx, st: ser.member(
        octavia.get_member(s, ctx, pool_id, member_id)), read_only=True)
    return {"member": show_fields(request, item)}


@router.put("/pools/{pool_id}/members/{member_id}")
def update_member(request: Request, pool_id: str, member_id: str,
                  body: MemberUpdateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.member)  # type: ignore[attr-defined]
    return {"member": run(request, lambda s, ctx, st: ser.member(
        octavia.update_member(s, ctx, st, pool_id, member_id, data)))}


@router.delete("/pools/{pool_id}/members/{member_id}", status_code=204)
def delete_member(request: Request, pool_id: str, member_id: str) -> Response:
    run(request, lambda s, ctx, st: octavia.delete_member(s, ctx, st, pool_id, member_id))
    return Response(status_code=204)
