"""/v2/lbaas/healthmonitors"""

from typing import Any

from fastapi import APIRouter, Request, Response

from lbaas.server.api.common import update_body
from lbaas.server.api.v2 import listing
from lbaas.server.api.v2 import serializers as ser
from lbaas.server.api.v2.common import project_of, run, show_fields
from lbaas.server.api.v2.schemas import HealthMonitorCreate, HealthMonitorUpdate, wrap
from lbaas.server.plugin import octavia

router = APIRouter(tags=["v2 healthmonitors"])
CreateRequest = wrap("healthmonitor", HealthMonitorCreate)
UpdateRequest = wrap("healthmonitor", HealthMonitorUpdate)


@router.post("/healthmonitors", status_code=201)
def create(request: Request, body: CreateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.healthmonitor)  # type: ignore[attr-defined]
    data["tenant_id"] = project_of(request, data)
    return {"healthmonitor": run(request, lambda s, ctx, st: ser.healthmonitor(
        octavia.create_healthmonitor(s, ctx, st, data)))}


@router.get("/healthmonitors")
def list_all(request: Request) -> dict[str, Any]:
    return listing.list_response(request, listing.HEALTHMONITORS, "v2/lbaas/healthmonitors")


@router.get("/healthmonitors/{hm_id}")
def show(request: Request, hm_id: str) -> dict[str, Any]:
    item = run(request, lambda s, ctx, st: ser.healthmonitor(
        octavia.get_healthmonitor(s, ctx, hm_id)), read_only=True)
    return {"healthmonitor": show_fields(request, item)}


@router.put("/healthmonitors/{hm_id}")
def update(request: Request, hm_id: str,
           body: UpdateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.healthmonitor)  # type: ignore[attr-defined]
    return {"healthmonitor": run(request, lambda s, ctx, st: ser.healthmonitor(
        octavia.update_healthmonitor(s, ctx, st, hm_id, data)))}


@router.delete("/healthmonitors/{hm_id}", status_code=204)
def delete(request: Request, hm_id: str) -> Response:
    run(request, lambda s, ctx, st: octavia.delete_healthmonitor(s, ctx, st, hm_id))
    return Response(status_code=204)
