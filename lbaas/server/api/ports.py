"""/v2.0/ports"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import selectinload

from lbaas.server.api.common import (
    Body,
    Bool,
    IpAddress,
    Name,
    TenantId,
    Uuid,
)
from lbaas.server.api.listing import Listing
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.api.sql_list import BOOL, col
from lbaas.server.db import models as m
from lbaas.server.plugin import core


class FixedIp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subnet_id: Uuid | None = None
    ip_address: IpAddress | None = None


class PortCreate(Body):
    network_id: Uuid
    name: Name = ""
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None
    mac_address: str | None = Field(None, pattern=r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
    fixed_ips: list[FixedIp] = Field(default_factory=list, max_length=16)
    admin_state_up: Bool = True
    device_id: Name = ""
    device_owner: Name = ""
    binding_host_id: Name = Field("", alias="binding:host_id")


class PortUpdate(Body):
    name: Name = ""
    fixed_ips: list[FixedIp] = Field(default_factory=list, max_length=16)
    admin_state_up: Bool = True
    device_id: Name = ""
    device_owner: Name = ""
    binding_host_id: Name = Field("", alias="binding:host_id")


class PortCreateRequest(Body):
    port: PortCreate


class PortUpdateRequest(Body):
    port: PortUpdate


def _fixed_ips_plain(data: dict[str, Any]) -> dict[str, Any]:
    if "fixed_ips" in data:
        data["fixed_ips"] = [{k: v for k, v in f.items() if v is not None}
                             for f in data["fixed_ips"]]
    if data.get("mac_address") is not None:
        data["mac_address"] = data["mac_address"].lower()
    return data


router = crud_router(Resource(
    member="port", collection="ports", path="/ports", to_dict=core.port_dict,
    create=lambda s, ctx, settings, body: core.create_tenant_port(s, ctx, settings.conf,
                                                                  body),
    get=core.get_port,
    update=lambda s, ctx, _, obj_id, body: core.update_port(s, ctx, obj_id, body),
    delete=lambda s, ctx, _, obj_id: core.delete_port(s, ctx, obj_id),
    prepare=_fixed_ips_plain,
    listing=Listing(
        m.Port, core.port_query,
        attrs={"id": col(m.Port.id), "tenant_id": col(m.Port.tenant_id),
               "project_id": col(m.Port.tenant_id), "name": col(m.Port.name),
               "network_id": col(m.Port.network_id),
               "mac_address": col(m.Port.mac_address),
               "admin_state_up": col(m.Port.admin_state_up, BOOL),
               "status": col(m.Port.status), "device_id": col(m.Port.device_id),
               "device_owner": col(m.Port.device_owner),
               "binding:host_id": col(m.Port.binding_host_id)},
        other=frozenset({"fixed_ips"}), load=(selectinload(m.Port.fixed_ips),)),
), PortCreateRequest, PortUpdateRequest)
