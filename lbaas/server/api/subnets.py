"""/v2.0/subnets"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from lbaas.server.api.common import (
    Body,
    Bool,
    Cidr,
    IpAddress,
    Name,
    TenantId,
    Uuid,
)
from lbaas.server.api.listing import Listing
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.api.sql_list import BOOL, INT, col
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import core
from lbaas.server.plugin.base import check_quota


class AllocationPool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: IpAddress
    end: IpAddress


class HostRoute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destination: Cidr
    nexthop: IpAddress


class SubnetCreate(Body):
    network_id: Uuid
    cidr: Cidr
    ip_version: Literal[4, 6] = 4
    name: Name = ""
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None
    gateway_ip: IpAddress | None = None
    allocation_pools: list[AllocationPool] | None = Field(None, max_length=64)
    host_routes: list[HostRoute] = Field(default_factory=list, max_length=64)
    dns_nameservers: list[IpAddress] = Field(default_factory=list, max_length=16)
    enable_dhcp: Bool = True


class SubnetUpdate(Body):
    name: Name = ""
    gateway_ip: IpAddress | None = None
    host_routes: list[HostRoute] = Field(default_factory=list, max_length=64)
    dns_nameservers: list[IpAddress] = Field(default_factory=list, max_length=16)
    enable_dhcp: Bool = True


class SubnetCreateRequest(Body):
    subnet: SubnetCreate


class SubnetUpdateRequest(Body):
    subnet: SubnetUpdate


def _create(session: Session, ctx: Context, settings: Any,
            body: dict[str, Any]) -> m.Subnet:
    # The subnet quota ([quotas] quota_subnet, or the project's override) is checked here:
    # core.create_subnet takes no configuration.
    check_quota(session, settings.conf, m.Subnet, body["tenant_id"], "subnet")
    return core.create_subnet(session, ctx, body)


router = crud_router(Resource(
    member="subnet", collection="subnets", path="/subnets", to_dict=core.subnet_dict,
    create=_create,
    get=core.get_subnet,
    update=lambda s, ctx, _, obj_id, body: core.update_subnet(s, ctx, obj_id, body),
    delete=lambda s, ctx, _, obj_id: core.delete_subnet(s, ctx, obj_id),
    listing=Listing(
        m.Subnet, core.subnet_query,
        attrs={"id": col(m.Subnet.id), "tenant_id": col(m.Subnet.tenant_id),
               "project_id": col(m.Subnet.tenant_id), "name": col(m.Subnet.name),
               "network_id": col(m.Subnet.network_id),
               "ip_version": col(m.Subnet.ip_version, INT), "cidr": col(m.Subnet.cidr),
               "gateway_ip": col(m.Subnet.gateway_ip, nullable=True),
               "enable_dhcp": col(m.Subnet.enable_dhcp, BOOL)},
        other=frozenset({"allocation_pools", "host_routes", "dns_nameservers"})),
), SubnetCreateRequest, SubnetUpdateRequest)
