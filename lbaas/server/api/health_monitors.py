"""/v2.0/lb/health_monitors"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lbaas.common import limits
from lbaas.server.api.common import (
    Body,
    Bool,
    ExpectedCodes,
    HttpMethod,
    Int,
    TenantId,
    UrlPath,
)
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.db import models as m
from lbaas.server.plugin import loadbalancer as lb

Delay = Field(ge=limits.DELAY_MIN, le=limits.DELAY_MAX)
Timeout = Field(ge=limits.TIMEOUT_MIN, le=limits.TIMEOUT_MAX)
Retries = Field(ge=limits.MAX_RETRIES_MIN, le=limits.MAX_RETRIES_MAX)


class HealthMonitorCreate(Body):
    type: Literal["PING", "TCP", "HTTP", "HTTPS"]
    delay: Int = Delay
    timeout: Int = Timeout
    max_retries: Int = Retries
    http_method: HttpMethod = "GET"
    url_path: UrlPath = "/"
    expected_codes: ExpectedCodes = "200"
    admin_state_up: Bool = True
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None


class HealthMonitorUpdate(Body):
    delay: Int = Field(1, ge=limits.DELAY_MIN, le=limits.DELAY_MAX)
    timeout: Int = Field(1, ge=limits.TIMEOUT_MIN, le=limits.TIMEOUT_MAX)
    max_retries: Int = Field(1, ge=limits.MAX_RETRIES_MIN, le=limits.MAX_RETRIES_MAX)
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
    filter_columns={
        "id": m.HealthMonitor.id, "tenant_id": m.HealthMonitor.tenant_id,
        "project_id": m.HealthMonitor.tenant_id, "type": m.HealthMonitor.type,
        "delay": m.HealthMonitor.delay, "timeout": m.HealthMonitor.timeout,
        "max_retries": m.HealthMonitor.max_retries,
        "admin_state_up": m.HealthMonitor.admin_state_up,
        "http_method": m.HealthMonitor.http_method, "url_path": m.HealthMonitor.url_path,
        "expected_codes": m.HealthMonitor.expected_codes},
), HealthMonitorCreateRequest, HealthMonitorUpdateRequest)
