"""/v2/lbaas/loadbalancers: create (with a full tree in one call), list, show, update,
delete (``?cascade=true``), status tree, stats, failover."""

from typing import Any

from fastapi import APIRouter, Request, Response

from lbaas.server.api.common import update_body
from lbaas.server.api.v2 import listing
from lbaas.server.api.v2 import serializers as ser
from lbaas.server.api.v2.common import project_of, run, show_fields
from lbaas.server.api.v2.schemas import LoadBalancerCreate, LoadBalancerUpdate, wrap
from lbaas.server.plugin import octavia

router = APIRouter(tags=["v2 loadbalancers"])
CreateRequest = wrap("loadbalancer", LoadBalancerCreate)
UpdateRequest = wrap("loadbalancer", LoadBalancerUpdate)


@router.post("/loadbalancers", status_code=201)
def create(request: Request, body: CreateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.loadbalancer)  # type: ignore[attr-defined]
    data["tenant_id"] = project_of(request, data)
    return {"loadbalancer": run(request, lambda s, ctx, st: ser.loadbalancer(
        octavia.create_loadbalancer(s, ctx, st, data)))}


@router.get("/loadbalancers")
def list_all(request: Request) -> dict[str, Any]:
    return listing.list_response(request, listing.LOADBALANCERS, "v2/lbaas/loadbalancers")


@router.get("/loadbalancers/{lb_id}")
def show(request: Request, lb_id: str) -> dict[str, Any]:
    item = run(request, lambda s, ctx, st: ser.loadbalancer(
        octavia.get_loadbalancer(s, ctx, lb_id)), read_only=True)
    return {"loadbalancer": show_fields(request, item)}


@router.put("/loadbalancers/{lb_id}")
def update(request: Request, lb_id: str,
           body: UpdateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.loadbalancer)  # type: ignore[attr-defined]
    return {"loadbalancer": run(request, lambda s, ctx, st: ser.loadbalancer(
        octavia.update_loadbalancer(s, ctx, st, lb_id, data)))}


@router.delete("/loadbalancers/{lb_id}", status_code=204)
def delete(request: Request, lb_id: str, cascade: bool = False) -> Response:
    run(request, lambda s, ctx, st: octavia.delete_loadbalancer(s, ctx, st, lb_id, cascade))
    return Response(status_code=204)


@router.get("/loadbalancers/{lb_id}/status")
def status(request: Request, lb_id: str) -> dict[str, Any]:
    return run(request, lambda s, ctx, st: ser.status_tree(
        octavia.get_loadbalancer(s, ctx, lb_id)), read_only=True)


@router.get("/loadbalancers/{lb_id}/stats")
def stats(request: Request, lb_id: str) -> dict[str, Any]:
    return {"stats": run(request, lambda s, ctx, st: octavia.loadbalancer_stats(
        s, octavia.get_loadbalancer(s, ctx, lb_id)), read_only=True)}


@router.put("/loadbalancers/{lb_id}/failover", status_code=202)
def failover(request: Request, lb_id: str) -> Response:
    run(request, lambda s, ctx, st: octavia.failover_loadbalancer(s, ctx, st, lb_id))
    return Response(status_code=202)
