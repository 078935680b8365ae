"""/v2.0/ports"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import selectinload

from lbaas.common import limits
from lbaas.server.api.common import (
    Body,
    Bool,
    IpAddress,
    Name,
    TenantId,
    Uuid,
    checked_by,
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


def _address_or_cidr(value: str) -> str:
    # Neutron takes an address or a network ("10.0.0.0/24", "0.0.0.0/0").
    return limits.canonical_cidr(value) if "/" in value else limits.canonical_ip(value)


class AddressPair(BaseModel):
    """Neutron's allowed address pair: the MAC defaults to the port's own."""

    model_config = ConfigDict(extra="forbid")
    ip_address: Annotated[str, Field(max_length=49),
                          AfterValidator(checked_by(_address_or_cidr))]
    mac_address: str | None = Field(None, pattern=r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")


# Neutron's max_allowed_address_pair default.
MAX_ADDRESS_PAIRS = 10
AddressPairs = Annotated[list[AddressPair], Field(max_length=MAX_ADDRESS_PAIRS)]


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
    allowed_address_pairs: AddressPairs = Field(default_factory=list)


class PortUpdate(Body):
    name: Name = ""
    fixed_ips: list[FixedIp] = Field(default_factory=list, max_length=16)
    admin_state_up: Bool = True
    device_id: Name = ""
    device_owner: Name = ""
    binding_host_id: Name = Field("", alias="binding:host_id")
    # null clears them, as Neutron takes it.
    allowed_address_pairs: AddressPairs | None = None


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
    if "allowed_address_pairs" in data:
        data["allowed_address_pairs"] = [
            {k: v.lower() if k == "mac_address" else v for k, v in p.items()
             if v is not None} for p in data["allowed_address_pairs"] or []]
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
