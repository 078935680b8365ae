"""/v2.0/quotas: Neutron's quota API for the v1 objects (python-neutronclient's
``quota-list``, ``quota-show``, ``quota-default-show``, ``quota-update``,
``quota-delete``).

Resources: ``network``, ``subnet``, ``port``, ``pool``, ``member``, ``health_monitor``,
``vip``; -1 is unlimited. Reading a project's quotas is for that project and for admins;
listing, changing and resetting them is for admins (403 otherwise, as in Neutron).
``GET /v2.0/quotas/tenant`` tells the caller its own project, which is how the client
finds the project to show when none is given. (Octavia's quotas are /v2/lbaas/quotas.)
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from lbaas.server import errors
from lbaas.server.api.common import ctx_of, in_session, settings_of
from lbaas.server.plugin import quotas

router = APIRouter(tags=["quotas"])

_INT = re.compile(r"-?[0-9]{1,10}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _admin(request: Request, rule: str) -> None:
    """The policy's ``rule`` (Neutron's names; by default admins only) allows it."""
    ctx = ctx_of(request)
    if not request.app.state.policy.allows(ctx, rule, ctx.project_id):
        raise errors.Forbidden("Only an administrator may list or change quotas.")


def _readable(request: Request, project_id: str) -> str:
    """The project's id, when the caller may read its quotas (``get_quota``)."""
    if not project_id or len(project_id) > 255 or _CONTROL.search(project_id):
        raise errors.HTTPBadRequest(f"Invalid project id {project_id!r}")
    if not request.app.state.policy.allows(ctx_of(request), "get_quota", project_id):
        raise errors.Forbidden("Only an administrator may see another project's quotas.")
    return project_id


def _limit(resource: str, value: Any) -> int:
    """An integer of at least -1, or a string of one (the CLI sends what it was given)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        number = None
    elif isinstance(value, str):
        number = int(value) if _INT.fullmatch(value.strip()) else None
    else:
        number = value
    if number is None or not quotas.LIMIT_MIN <= number <= quotas.LIMIT_MAX:
        raise errors.HTTPBadRequest(
            f"Invalid input for {resource}. Reason: {value!r} is not an integer from "
            f"{quotas.LIMIT_MIN} (unlimited) to {quotas.LIMIT_MAX}")
    return number


def _checked_body(body: Any) -> dict[str, int]:
    quota = body.get("quota") if isinstance(body, dict) else None
    if not isinstance(quota, dict) or set(body) != {"quota"}:
        raise errors.HTTPBadRequest('Resource body required: expected {"quota": {...}}')
    unknown = sorted(k for k in quota if quotas.ALIASES.get(k, k) not in quotas.RESOURCES)
    if unknown:
        raise errors.HTTPBadRequest("Unrecognized attribute(s) '"
                                    + ", ".join(str(k)[:64] for k in unknown) + "'")
    if not quota:
        raise errors.HTTPBadRequest("Nothing to update: name at least one of "
                                    + ", ".join(quotas.RESOURCES))
    limits: dict[str, int] = {}
    for key, value in quota.items():
        resource = quotas.ALIASES.get(str(key), str(key))
        limits[resource] = _limit(resource, value)
    return limits


@router.get("/quotas")
def list_quotas(request: Request) -> dict[str, Any]:
    _admin(request, "get_quotas")
    conf = settings_of(request).conf
    return {"quotas": in_session(request, lambda s: quotas.list_overridden(s, conf),
                                 read_only=True)}


@router.get("/quotas/tenant")
def my_project(request: Request) -> dict[str, Any]:
    return {"tenant": {"tenant_id": ctx_of(request).project_id}}


@router.get("/quotas/{project_id}")
def show_quota(request: Request, project_id: str) -> dict[str, Any]:
    project_id = _readable(request, project_id)
    conf = settings_of(request).conf
    return {"quota": in_session(request, lambda s: quotas.project_limits(s, conf, project_id),
                                read_only=True)}


@router.get("/quotas/{project_id}/default")
def show_default_quota(request: Request, project_id: str) -> dict[str, Any]:
    _readable(request, project_id)
    return {"quota": quotas.defaults(settings_of(request).conf)}


@router.put("/quotas/{project_id}")
def update_quota(request: Request, project_id: str,
                 body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    # The body is any object here and checked by _checked_body, for Neutron's messages
    # (its names and limits are data, not a model's fields).
    _admin(request, "update_quota")
    project_id = _readable(request, project_id)
    limits = _checked_body(body)
    conf = settings_of(request).conf
    return {"quota": in_session(request,
                                lambda s: quotas.set_limits(s, conf, project_id, limits))}


@router.delete("/quotas/{project_id}", status_code=204)
def delete_quota(request: Request, project_id: str) -> Response:
    _admin(request, "delete_quota")
    project_id = _readable(request, project_id)
    in_session(request, lambda s: quotas.reset(s, project_id))
    return Response(status_code=204)
