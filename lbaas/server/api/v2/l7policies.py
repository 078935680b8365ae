"""/v2/lbaas/l7policies and their rules (``/l7policies/{id}/rules``)."""

from typing import Any

from fastapi import APIRouter, Request, Response

from lbaas.server.api.common import update_body
from lbaas.server.api.v2 import serializers as ser
from lbaas.server.api.v2.common import list_query, project_of, run, show_fields
from lbaas.server.api.v2.schemas import (
    L7PolicyCreate,
    L7PolicyUpdate,
    L7RuleCreate,
    L7RuleUpdate,
    wrap,
)
from lbaas.server.plugin import octavia_l7

router = APIRouter(tags=["v2 l7policies"])
CreateRequest = wrap("l7policy", L7PolicyCreate)
UpdateRequest = wrap("l7policy", L7PolicyUpdate)
RuleCreateRequest = wrap("rule", L7RuleCreate)
RuleUpdateRequest = wrap("rule", L7RuleUpdate)


def _rule_body(data: dict[str, Any]) -> dict[str, Any]:
    data.pop("project_id", None)
    data.pop("tenant_id", None)
    return data


@router.post("/l7policies", status_code=201)
def create(request: Request, body: CreateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.l7policy)  # type: ignore[attr-defined]
    project_of(request, data)
    data["rules"] = [_rule_body(r) for r in data.get("rules") or []]
    return {"l7policy": run(request, lambda s, ctx, st: ser.l7policy(
        octavia_l7.create_l7policy(s, ctx, st, data)))}


@router.get("/l7policies")
def list_all(request: Request) -> dict[str, Any]:
    # Few per listener; answered over the serialized objects (common.list_query).
    # Every project's when the policy's get_all-global allows it (api/authorize.py).
    everyone = getattr(request.state, "all_projects", None)
    items = run(request, lambda s, ctx, st: [
        ser.l7policy(p) for p in octavia_l7.visible_policies(s, ctx, everyone)],
        read_only=True)
    return list_query(request, "l7policies", items, "v2/lbaas/l7policies")


@router.get("/l7policies/{policy_id}")
def show(request: Request, policy_id: str) -> dict[str, Any]:
    item = run(request, lambda s, ctx, st: ser.l7policy(
        octavia_l7.get_l7policy(s, ctx, policy_id)), read_only=True)
    return {"l7policy": show_fields(request, item)}


@router.put("/l7policies/{policy_id}")
def update(request: Request, policy_id: str,
           body: UpdateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.l7policy)  # type: ignore[attr-defined]
    return {"l7policy": run(request, lambda s, ctx, st: ser.l7policy(
        octavia_l7.update_l7policy(s, ctx, st, policy_id, data)))}


@router.delete("/l7policies/{policy_id}", status_code=204)
def delete(request: Request, policy_id: str) -> Response:
    run(request, lambda s, ctx, st: octavia_l7.delete_l7policy(s, ctx, st, policy_id))
    return Response(status_code=204)


@router.post("/l7policies/{policy_id}/rules", status_code=201)
def create_rule(request: Request, policy_id: str,
                body: RuleCreateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.rule)  # type: ignore[attr-defined]
    project_of(request, data)
    data = _rule_body(data)
    return {"rule": run(request, lambda s, ctx, st: ser.l7rule(
        octavia_l7.create_l7rule(s, ctx, st, policy_id, data)))}


@router.get("/l7policies/{policy_id}/rules")
def list_rules(request: Request, policy_id: str) -> dict[str, Any]:
    items = run(request, lambda s, ctx, st: [
        ser.l7rule(r) for r in octavia_l7.get_l7policy(s, ctx, policy_id).rules
        if r.provisioning_status != "PENDING_DELETE"], read_only=True)
    return list_query(request, "rules", items, f"v2/lbaas/l7policies/{policy_id}/rules")


@router.get("/l7policies/{policy_id}/rules/{rule_id}")
def show_rule(request: Request, policy_id: str, rule_id: str) -> dict[str, Any]:
    item = run(request, lambda s, ctx, st: ser.l7rule(
        octavia_l7.get_l7rule(s, ctx, policy_id, rule_id)), read_only=True)
    return {"rule": show_fields(request, item)}


@router.put("/l7policies/{policy_id}/rules/{rule_id}")
def update_rule(request: Request, policy_id: str, rule_id: str,
                body: RuleUpdateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
    data = update_body(body.rule)  # type: ignore[attr-defined]
    return {"rule": run(request, lambda s, ctx, st: ser.l7rule(
        octavia_l7.update_l7rule(s, ctx, st, policy_id, rule_id, data)))}


@router.delete("/l7policies/{policy_id}/rules/{rule_id}", status_code=204)
def delete_rule(request: Request, policy_id: str, rule_id: str) -> Response:
    run(request, lambda s, ctx, st: octavia_l7.delete_l7rule(s, ctx, st, policy_id, rule_id))
    return Response(status_code=204)
