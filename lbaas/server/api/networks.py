"""/v2.0/networks"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlalchemy.orm import Session, selectinload

from lbaas.server.api.common import (
    Body,
    Bool,
    Int,
    Name,
    TenantId,
)
from lbaas.server.api.listing import Listing
from lbaas.server.api.resource import Resource, crud_router
from lbaas.server.api.sql_list import BOOL, INT, col
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import core
from lbaas.server.plugin.base import check_quota


class NetworkCreate(Body):
    name: Name = ""
    admin_state_up: Bool = True
    shared: Bool = False
    tenant_id: TenantId | None = None
    project_id: TenantId | None = None
    provider_physical_network: Name = Field("default", alias="provider:physical_network",
                                            min_length=1, max_length=64)
    provider_network_type: Literal["flat", "vlan"] = Field("flat",
                                                           alias="provider:network_type")
    provider_segmentation_id: Int | None = Field(None, alias="provider:segmentation_id",
                                                 ge=1, le=4094)
    mtu: Int = Field(1500, ge=68, le=65535)


class NetworkUpdate(Body):
    # Defaults only stand for "absent" (bodies are read with exclude_unset); an explicit
    # null is a 400.
    name: Name = ""
    admin_state_up: Bool = True
    shared: Bool = False
    mtu: Int = Field(1500, ge=68, le=65535)


class NetworkCreateRequest(Body):
    network: NetworkCreate


class NetworkUpdateRequest(Body):
    network: NetworkUpdate


def _create(session: Session, ctx: Context, settings: Any,
            body: dict[str, Any]) -> m.Network:
    # The network quota ([quotas] quota_network, or the project's override) is checked here:
    # core.create_network takes no configuration.
    check_quota(session, settings.conf, m.Network, body["tenant_id"], "network")
    return core.create_network(session, ctx, body)


router = crud_router(Resource(
    member="network", collection="networks", path="/networks", to_dict=core.network_dict,
    create=_create,
    get=core.get_network,
    update=lambda s, ctx, _, obj_id, body: core.update_network(s, ctx, obj_id, body),
    delete=lambda s, ctx, _, obj_id: core.delete_network(s, ctx, obj_id),
    listing=Listing(
        m.Network, core.network_query,
        attrs={"id": col(m.Network.id), "tenant_id": col(m.Network.tenant_id),
               "project_id": col(m.Network.tenant_id), "name": col(m.Network.name),
               "admin_state_up": col(m.Network.admin_state_up, BOOL),
               "shared": col(m.Network.shared, BOOL), "status": col(m.Network.status),
               "mtu": col(m.Network.mtu, INT),
               "provider:physical_network": col(m.Network.provider_physical_network),
               "provider:network_type": col(m.Network.provider_network_type),
               "provider:segmentation_id": col(m.Network.provider_segmentation_id, INT,
                                               nullable=True)},
        other=frozenset({"subnets"}), load=(selectinload(m.Network.subnets),)),
), NetworkCreateRequest, NetworkUpdateRequest)
