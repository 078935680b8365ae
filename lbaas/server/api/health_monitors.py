"""/v2.0/lb/health_monitors"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import AfterValidator, Field

from lbaas.server.api.common import (
    Body,
    Bool,
    Int,
    TenantId,
    creation_body,
    ctx_of,
    in_session,
    list_query,
    settings_of,
    show_fields,
    update_body,
)
from lbaas.server.plugin import loadbalancer as lb

router = APIRouter(tags=["health_monitors"])


def _expected_codes(value: str) -> str:
    # "200", "200,202" or "200-204": each an HTTP status code.
    if "-" in value:
        lo, _, hi = value.partition("-")
        if int(lo) > int(hi):
            raise ValueError(f"range {value} is empty")
        codes = [lo, hi]
    else:
        codes = value.split(",")
    for code in codes:
        if not 100 <= int(code) <= 599:
            raise ValueError(f"{code} is not an HTTP status code")
    return value


# These reach HAProxy's configuration as bare words: only characters that can't end a
# word, start a comment or open a quote are allowed.
HttpMethod = Annotated[str, Field(pattern=r"^[A-Z][A-Z_-]{0,15}$")]
UrlPath = Annotated[str, Field(max_length=255,
                               pattern=r"^/[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*$")]
ExpectedCodes = Annotated[str, Field(max_length=64, pattern=r"^(\d{3}(,\d{3})*|\d{3}-\d{3})$"),
                          AfterValidator(_expected_codes)]
Delay = Field(ge=1, le=2147483)
Retries = Field(ge=1, le=10)


class HealthMonitorCreate(Body):
    type: Literal["PING", "TCP", "HTTP", "HTTPS"]
    delay: Int = Delay
    timeout: Int = Delay
    max_retries: Int = Retries
    http_method: HttpMethod = "GET"
    url_path: UrlPath = "/"
    expected_codes: ExpectedCodes = "200"
    admin_state_up: Bool = True
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None


class HealthMonitorUpdate(Body):
    delay: Int = Field(1, ge=1, le=2147483)
    timeout: Int = Field(1, ge=1, le=2147483)
    max_retries: Int = Field(1, ge=1, le=10)
    http_method: HttpMethod = "GET"
    url_path: UrlPath = "/"
    expected_codes: ExpectedCodes = "200"
    admin_state_up: Bool = True


class HealthMonitorCreateRequest(Body):
    health_monitor: HealthMonitorCreate


class HealthMonitorUpdateRequest(Body):
    health_monitor: HealthMonitorUpdate


@router.post("/lb/health_monitors", status_code=201)
def create_health_monitor(request: Request,
                          body: HealthMonitorCreateRequest) -> dict[str, Any]:
    data = creation_body(request, body.health_monitor)
    return {"health_monitor": in_session(request, lambda s: lb.health_monitor_dict(
        lb.create_health_monitor(s, ctx_of(request), settings_of(request), data)))}


@router.get("/lb/health_monitors")
def list_health_monitors(request: Request) -> dict[str, Any]:
    items = in_session(request, lambda s: [lb.health_monitor_dict(x) for x in
                                           lb.list_health_monitors(s, ctx_of(request))],
                       True)
    return list_query(request, "health_monitors", items, "lb/health_monitors")


@router.get("/lb/health_monitors/{hm_id}")
def show_health_monitor(request: Request, hm_id: str) -> dict[str, Any]:
    return {"health_monitor": show_fields(request, in_session(
        request, lambda s: lb.health_monitor_dict(
            lb.get_health_monitor(s, ctx_of(request), hm_id)), True))}


@router.put("/lb/health_monitors/{hm_id}")
def update_health_monitor(request: Request, hm_id: str,
                          body: HealthMonitorUpdateRequest) -> dict[str, Any]:
    data = update_body(body.health_monitor)
    return {"health_monitor": in_session(request, lambda s: lb.health_monitor_dict(
        lb.update_health_monitor(s, ctx_of(request), settings_of(request), hm_id, data)))}


@router.delete("/lb/health_monitors/{hm_id}", status_code=204)
def delete_health_monitor(request: Request, hm_id: str) -> Response:
    in_session(request, lambda s: lb.delete_health_monitor(s, ctx_of(request),
                                                           settings_of(request), hm_id))
    return Response(status_code=204)
