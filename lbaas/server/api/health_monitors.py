"""/v2.0/lb/health_monitors"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from lbaas.server.api.common import (
    Body,
    Bool,
    Int,
    TenantId,
)
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.plugin import loadbalancer as lb


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


router = crud_router(Resource(
    member="health_monitor", collection="health_monitors", path="/lb/health_monitors",
    to_dict=lb.health_monitor_dict, create=lb.create_health_monitor,
    get=lb.get_health_monitor, list=lb.list_health_monitors,
    update=lb.update_health_monitor, delete=lb.delete_health_monitor,
), HealthMonitorCreateRequest, HealthMonitorUpdateRequest)
