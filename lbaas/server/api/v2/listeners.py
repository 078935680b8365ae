"""/v2/lbaas/listeners, with stats."""

from typing import Any

from fastapi import APIRouter, Request, Response

from lbaas.server.api.common import update_body
from lbaas.server.api.v2 import listing
from lbaas.server.api.v2 import serializers as ser
from lbaas.server.api.v2.common import project_of, run, show_fields
from lbaas.server.api.v2.schemas import ListenerCreate, ListenerUpdate, wrap
from lbaas.server.plugin import octavia

router = APIRouter(tags=["v2 listeners"])
CreateRequest = wrap("listener", ListenerCreate)
UpdateRequest = wrap("listener", ListenerUpdate)


@router.post("/listeners", status_code=201)
def create(request: Request, body: CreateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.listener)  # type: ignore[attr-defined]
    data["tenant_id"] = project_of(request, data)
    return {"listener": run(request, lambda s, ctx, st: ser.listener(
        octavia.create_listener(s, ctx, st, data)))}


@router.get("/listeners")
def list_all(request: Request) -> dict[str, Any]:
    return listing.list_response(request, listing.LISTENERS, "v2/lbaas/listeners")


@router.get("/listeners/{listener_id}")
def show(request: Request, listener_id: str) -> dict[str, Any]:
    item = run(request, lambda s, ctx, st: ser.listener(
        octavia.get_listener(s, ctx, listener_id)), read_only=True)
    return {"listener": show_fields(request, item)}


@router.put("/listeners/{listener_id}")
def update(request: Request, listener_id: str,
           body: UpdateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.listener)  # type: ignore[attr-defined]
    return {"listener": run(request, lambda s, ctx, st: ser.listener(
        octavia.update_listener(s, ctx, st, listener_id, data)))}


@router.delete("/listeners/{listener_id}", status_code=204)
def delete(request: Request, listener_id: str) -> Response:
    run(request, lambda s, ctx, st: octavia.delete_listener(s, ctx, st, listener_id))
    return Response(status_code=204)


@router.get("/listeners/{listener_id}/stats")
def stats(request: Request, listener_id: str) -> dict[str, Any]:
    return {"stats": run(request, lambda s, ctx, st: octavia.listener_stats(
        s, octavia.get_listener(s, ctx, listener_id)), read_only=True)}
