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
from lbaas.server.api.resource import Resource, crud_router
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
    create=lb.create_member, get=lb.get_member, list=lb.list_members,
    update=lb.update_member, delete=lb.delete_member,
    filter_columns={
        "id": m.LbMember.id, "tenant_id": m.LbMember.tenant_id,
        "project_id": m.LbMember.tenant_id, "pool_id": m.LbMember.pool_id,
        "address": m.LbMember.address, "protocol_port": m.LbMember.protocol_port,
        "weight": m.LbMember.weight, "admin_state_up": m.LbMember.admin_state_up},
), MemberCreateRequest, MemberUpdateRequest)
