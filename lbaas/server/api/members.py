"""/v2.0/lb/members"""

from __future__ import annotations

from pydantic import Field

from lbaas.common import limits
from lbaas.server.api.common import (
    Body,
    Bool,
    Int,
    IpAddress,
    Port,
    TenantId,
    Uuid,
)
from lbaas.server.api.listing import Listing
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.api.sql_list import BOOL, INT, col
from lbaas.server.db import models as m
from lbaas.server.plugin import loadbalancer as lb

Weight = Field(1, ge=limits.WEIGHT_MIN, le=limits.WEIGHT_MAX)


class MemberCreate(Body):
    pool_id: Uuid
    address: IpAddress
    protocol_port: Port
    weight: Int = Weight
    admin_state_up: Bool = True
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None


class MemberUpdate(Body):
    pool_id: Uuid = ""
    weight: Int = Weight
    admin_state_up: Bool = True


class MemberCreateRequest(Body):
    member: MemberCreate


class MemberUpdateRequest(Body):
    member: MemberUpdate


router = crud_router(Resource(
    member="member", collection="members", path="/lb/members", to_dict=lb.member_dict,
    create=lb.create_member, get=lb.get_member, update=lb.update_member, delete=lb.delete_member,
    listing=Listing(
        m.LbMember, lambda ctx: lb.v1_query(ctx, m.LbMember),
        attrs={"id": col(m.LbMember.id), "tenant_id": col(m.LbMember.tenant_id),
               "project_id": col(m.LbMember.tenant_id), "pool_id": col(m.LbMember.pool_id),
               "address": col(m.LbMember.address),
               "protocol_port": col(m.LbMember.protocol_port, INT),
               "weight": col(m.LbMember.weight, INT),
               "admin_state_up": col(m.LbMember.admin_state_up, BOOL),
               "status": col(lb.v1_status_sql(m.LbMember)),
               "status_description": col(m.LbMember.status_description, nullable=True)},
        other=frozenset()),
), MemberCreateRequest, MemberUpdateRequest)
