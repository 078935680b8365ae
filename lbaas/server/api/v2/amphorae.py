"""/v2/octavia/amphorae: Octavia's admin view of the instances that run load balancers
(docs/architecture.md, "ACTIVE_STANDBY"): list, show and failover. Served under
``/v2/octavia`` and ``/v2.0/octavia`` (python-octaviaclient's endpoint plus
``/octavia``), guarded by Octavia's rules ``os_load-balancer_api:amphora:*``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lbaas.server import errors
from lbaas.server.api.common import ctx_of
from lbaas.server.api.v2.common import list_query, run, show_fields
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import amphorae, octavia
from lbaas.server.policies import octavia as octavia_rules

PREFIXES = ("/v2/octavia", "/v2.0/octavia")

router = APIRouter(tags=["v2 amphorae"])


def _allowed(request: Request, action: str) -> None:
    ctx = ctx_of(request)
    rule = octavia_rules.name("amphora", action)
    if not request.app.state.policy.allows(ctx, rule, ctx.project_id):
        raise errors.OctaviaForbidden()


def _all(session: Session, ctx: Context, settings: Any) -> list[dict[str, Any]]:
    lbs = session.scalars(
        select(m.LoadBalancer).where(m.LoadBalancer.api_version != 1)
        .options(selectinload(m.LoadBalancer.amphorae).selectinload(m.Amphora.agent),
                 selectinload(m.LoadBalancer.agent))
        .order_by(m.LoadBalancer.created_at, m.LoadBalancer.id))
    return [view for lb in lbs for view in amphorae.views(lb, settings.agent_down_time)]


def _one(session: Session, ctx: Context, settings: Any, amphora_id: str) -> dict[str, Any]:
    lb, amp = amphorae.find(session, amphora_id)
    return amphorae.amphora_dict(lb, amp, settings.agent_down_time)


@router.get("/amphorae")
def list_all(request: Request) -> dict[str, Any]:
    _allowed(request, "get_all")
    items = run(request, _all, read_only=True)
    return list_query(request, "amphorae", items, "v2/octavia/amphorae")


@router.get("/amphorae/{amphora_id}")
def show(request: Request, amphora_id: str) -> dict[str, Any]:
    _allowed(request, "get_one")
    item = run(request, _one, amphora_id, read_only=True)
    return {"amphora": show_fields(request, item)}


@router.put("/amphorae/{amphora_id}/failover", status_code=202)
def failover(request: Request, amphora_id: str) -> Response:
    _allowed(request, "put_failover")
    run(request, lambda s, ctx, st: octavia.failover_amphora(s, ctx, st, amphora_id))
    return Response(status_code=202)
