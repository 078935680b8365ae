"""/v2.0/lb/vips"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import selectinload

from lbaas.common import limits
from lbaas.server.api.common import (
    Body,
    Bool,
    CookieName,
    Description,
    Int,
    IpAddress,
    Name,
    Port,
    TenantId,
    Uuid,
)
from lbaas.server.api.listing import Listing
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.api.sql_list import BOOL, INT, col
from lbaas.server.db import models as m
from lbaas.server.plugin import loadbalancer as lb


class SessionPersistence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
    # lbaas.common.limits: a cookie token HAProxy's parser reads as one plain word.
    cookie_name: CookieName | None = None

    @model_validator(mode="after")
    def _cookie_rules(self) -> SessionPersistence:
        if self.type == "APP_COOKIE" and not self.cookie_name:
            raise ValueError("APP_COOKIE session persistence requires a cookie_name")
        if self.type != "APP_COOKIE" and self.cookie_name is not None:
            raise ValueError(f"{self.type} session persistence does not take a cookie_name")
        return self


ConnectionLimit = Field(-1, ge=-1, le=limits.CONNECTION_LIMIT_MAX)


class VipCreate(Body):
    subnet_id: Uuid
    protocol_port: Port
    protocol: Literal["TCP", "HTTP", "HTTPS"]
    pool_id: Uuid
    name: Name = ""
    description: Description = ""
    address: IpAddress | None = None
    session_persistence: SessionPersistence | None = None
    connection_limit: Int = ConnectionLimit
    admin_state_up: Bool = True
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None

    @model_validator(mode="after")
    def _limit(self) -> VipCreate:
        _check_limit(self.connection_limit)
        return self


class VipUpdate(Body):
    name: Name = ""
    description: Description = ""
    session_persistence: SessionPersistence | None = None
    connection_limit: Int = ConnectionLimit
    admin_state_up: Bool = True

    @model_validator(mode="after")
    def _limit(self) -> VipUpdate:
        _check_limit(self.connection_limit)
        return self


def _check_limit(limit: int) -> None:
    if limit == 0:
        raise ValueError("connection_limit must be -1 (unlimited) or at least 1")


class VipCreateRequest(Body):
    vip: VipCreate


class VipUpdateRequest(Body):
    vip: VipUpdate


def _plain_sp(data: dict[str, Any]) -> dict[str, Any]:
    sp = data.get("session_persistence")
    if sp is not None:
        data["session_persistence"] = {k: v for k, v in sp.items() if v is not None}
    return data


router = crud_router(Resource(
    member="vip", collection="vips", path="/lb/vips", to_dict=lb.vip_dict,
    create=lb.create_vip, get=lb.get_vip, update=lb.update_vip,
    delete=lb.delete_vip, prepare=_plain_sp,
    listing=Listing(
        m.Listener, lambda ctx: lb.v1_query(ctx, m.Listener),
        attrs={"id": col(m.Listener.id), "tenant_id": col(m.Listener.tenant_id),
               "project_id": col(m.Listener.tenant_id), "name": col(m.Listener.name),
               "description": col(m.Listener.description),
               "subnet_id": col(m.LoadBalancer.vip_subnet_id),
               "address": col(m.LoadBalancer.vip_address),
               "port_id": col(m.LoadBalancer.vip_port_id),
               "protocol_port": col(m.Listener.protocol_port, INT),
               "protocol": col(m.Listener.protocol), "pool_id": col(m.LoadBalancer.id),
               "connection_limit": col(m.Listener.connection_limit, INT),
               "admin_state_up": col(m.Listener.admin_state_up, BOOL),
               "status": col(lb.v1_status_sql(m.Listener)),
               "status_description": col(m.Listener.status_description, nullable=True)},
        other=frozenset({"session_persistence"}),
        load=(selectinload(m.Listener.loadbalancer),
              selectinload(m.Listener.default_pool))),
), VipCreateRequest, VipUpdateRequest)
