"""/v2.0/lb/health_monitors"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from sqlalchemy.orm import selectinload

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
from lbaas.server.api.listing import Listing
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.api.sql_list import BOOL, INT, col
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
    get=lb.get_health_monitor, update=lb.update_health_monitor, delete=lb.delete_health_monitor,
    # (http_method, url_path and expected_codes are absent from a TCP monitor's
    # answer, which its columns don't say: lists filtering or sorting on them are
    # answered in Python.)
    listing=Listing(
        m.HealthMonitor, lambda ctx: lb.v1_query(ctx, m.HealthMonitor),
        attrs={"id": col(m.HealthMonitor.id), "tenant_id": col(m.HealthMonitor.tenant_id),
               "project_id": col(m.HealthMonitor.tenant_id),
               "type": col(m.HealthMonitor.type), "delay": col(m.HealthMonitor.delay, INT),
               "timeout": col(m.HealthMonitor.timeout, INT),
               "max_retries": col(m.HealthMonitor.max_retries, INT),
               "admin_state_up": col(m.HealthMonitor.admin_state_up, BOOL)},
        other=frozenset({"pools", "http_method", "url_path", "expected_codes"}),
        load=(selectinload(m.HealthMonitor.pools),)),
), HealthMonitorCreateRequest, HealthMonitorUpdateRequest)
