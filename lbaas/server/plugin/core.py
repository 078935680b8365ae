"""The small part of Neutron's core API that VIPs need: networks, subnets, ports, IPAM."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.server import errors
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import ipam
from lbaas.server.plugin.base import check_quota, get_visible, visible_query

# --- networks ---------------------------------------------------------------------------

def network_dict(n: m.Network) -> dict[str, Any]:
    return {
        "id": n.id, "tenant_id": n.tenant_id, "project_id": n.tenant_id, "name": n.name,
        "admin_state_up": n.admin_state_up, "shared": n.shared, "status": n.status,
        "subnets": [s.id for s in n.subnets], "mtu": n.mtu,
        "provider:physical_network": n.provider_physical_network,
        "provider:network_type": n.provider_network_type,
        "provider:segmentation_id": n.provider_segmentation_id,
    }


# Neutron's policy: only an admin shares a network or says where it is on the wire (a
# tenant choosing the physical network and VLAN could join or squat anyone's segment).
ADMIN_ONLY_NETWORK_ATTRIBUTES = ("shared", "provider:network_type",
                                 "provider:physical_network", "provider:segmentation_id")


def _refuse_admin_only(ctx: Context, action: str, body: dict[str, Any]) -> None:
    """403 when a non-admin sets an admin-only attribute. ``shared: false`` is the
    default, which Neutron's policy lets anyone state."""
    if ctx.is_admin:
        return
    for attr in ADMIN_ONLY_NETWORK_ATTRIBUTES:
        if attr in body and not (attr == "shared" and body[attr] is False):
            raise errors.PolicyNotAuthorized(rule=f"{action}:{attr}")


def create_network(session: Session, ctx: Context, body: dict[str, Any]) -> m.Network:
    _refuse_admin_only(ctx, "create_network", body)
    net_type = body.get("provider:network_type", "flat")
    physnet = body.get("provider:physical_network", "default")
    seg = body.get("provider:segmentation_id")
    if net_type == "vlan" and seg is None:
        raise errors.InvalidInput(error_message="provider:segmentation_id is required for "
                                                "a vlan network")
    if net_type == "flat" and seg is not None:
        raise errors.InvalidInput(error_message="provider:segmentation_id is not allowed "
                                                "for a flat network")
    if seg is not None and session.scalar(select(m.Network.id).where(
            m.Network.provider_physical_network == physnet,
            m.Network.provider_segmentation_id == seg)):
        raise errors.VlanIdInUse(vlan_id=seg, physical_network=physnet)
    net = m.Network(tenant_id=body["tenant_id"], name=body.get("name", ""),
                    admin_state_up=body.get("admin_state_up", True),
                    shared=body.get("shared", False), status=c.ACTIVE,
                    provider_physical_network=physnet, provider_network_type=net_type,
                    provider_segmentation_id=seg, mtu=body.get("mtu", 1500))
    session.add(net)
    try:
        session.flush()
    except IntegrityError:
        raise errors.VlanIdInUse(vlan_id=seg, physical_network=physnet) from None
    return net


def get_network(session: Session, ctx: Context, net_id: str) -> m.Network:
    return get_visible(session, ctx, m.Network, net_id, errors.NetworkNotFound,
                       shared_ok=True)


def network_query(ctx: Context) -> Any:
    """The networks ``ctx`` may see (its own and shared ones), as a query to refine."""
    q = select(m.Network)
    if not ctx.is_admin:
        q = q.where((m.Network.tenant_id == ctx.project_id) | m.Network.shared.is_(True))
    return q


def update_network(session: Session, ctx: Context, net_id: str,
                   body: dict[str, Any]) -> m.Network:
    net = get_visible(session, ctx, m.Network, net_id, errors.NetworkNotFound)
    _refuse_admin_only(ctx, "update_network", body)
    for key in ("name", "admin_state_up", "shared", "mtu"):
        if key in body:
            setattr(net, key, body[key])
    return net


def delete_network(session: Session, ctx: Context, net_id: str) -> None:
    net = get_visible(session, ctx, m.Network, net_id, errors.NetworkNotFound)
    if session.scalar(select(m.Port.id).where(m.Port.network_id == net.id).limit(1)):
        raise errors.NetworkInUse(id=net.id)
    for subnet in list(net.subnets):
        _refuse_subnet_in_use(session, subnet)
        session.delete(subnet)
    session.delete(net)


# --- subnets ----------------------------------------------------------------------------

def subnet_dict(s: m.Subnet) -> dict[str, Any]:
    return {
        "id": s.id, "tenant_id": s.tenant_id, "project_id": s.tenant_id, "name": s.name,
        "network_id": s.network_id, "ip_version": s.ip_version, "cidr": s.cidr,
        "gateway_ip": s.gateway_ip, "allocation_pools": s.allocation_pools,
        "host_routes": s.host_routes, "dns_nameservers": s.dns_nameservers,
        "enable_dhcp": s.enable_dhcp,
    }


def _bad(msg: str) -> errors.InvalidInput:
    return errors.InvalidInput(error_message=msg)


@contextmanager
def _ipam_errors() -> Iterator[None]:
    """Turn ipam's refusals into the API's errors: a gateway inside an allocation pool is a
    409 Conflict, any other rule broken a 400 Invalid input; same message."""
    try:
        yield
    except ipam.GatewayConflict as e:
        raise errors.Conflict(e.message) from None
    except ipam.IpamError as e:
        raise _bad(e.message) from None


def create_subnet(session: Session, ctx: Context, body: dict[str, Any]) -> m.Subnet:
    net = get_visible(session, ctx, m.Network, body["network_id"], errors.NetworkNotFound)
    with _ipam_errors():
        cidr = ipam.parse_cidr(body["cidr"], body.get("ip_version", 4))
    for other in net.subnets:
        if ipaddress.ip_network(other.cidr).overlaps(cidr):
            raise _bad(f"Requested subnet with cidr: {cidr} for network: {net.id} "
                       f"overlaps with another subnet")
    gateway: ipam.IPAddr | None
    if "gateway_ip" in body:
        gateway = None if body["gateway_ip"] is None else ipaddress.ip_address(
            body["gateway_ip"])
        if gateway is not None:
            with _ipam_errors():
                ipam.check_gateway(cidr, gateway)
    else:
        gateway = cidr.network_address + 1
    with _ipam_errors():
        if "allocation_pools" in body and body["allocation_pools"] is not None:
            pools = ipam.validate_allocation_pools(cidr, body["allocation_pools"], gateway)
        else:
            pools = ipam.default_allocation_pools(cidr, gateway)
        host_routes = ipam.validate_host_routes(cidr, body.get("host_routes") or [])
    subnet = m.Subnet(
        tenant_id=body["tenant_id"], network_id=net.id, name=body.get("name", ""),
        ip_version=cidr.version, cidr=str(cidr),
        gateway_ip=None if gateway is None else str(gateway),
        enable_dhcp=body.get("enable_dhcp", True), allocation_pools=pools,
        host_routes=host_routes,
        dns_nameservers=list(body.get("dns_nameservers") or []))
    session.add(subnet)
    session.flush()
    return subnet


def get_subnet(session: Session, ctx: Context, subnet_id: str) -> m.Subnet:
    return get_visible(session, ctx, m.Subnet, subnet_id, errors.SubnetNotFound,
                       shared_ok=True)


def subnet_query(ctx: Context) -> Any:
    """The subnets ``ctx`` may see (its own and those of shared networks)."""
    q = select(m.Subnet)
    if not ctx.is_admin:
        q = q.join(m.Network).where((m.Subnet.tenant_id == ctx.project_id)
                                    | m.Network.shared.is_(True))
    return q


def update_subnet(session: Session, ctx: Context, subnet_id: str,
                  body: dict[str, Any]) -> m.Subnet:
    subnet = get_visible(session, ctx, m.Subnet, subnet_id, errors.SubnetNotFound)
    cidr = ipaddress.ip_network(subnet.cidr)
    for key in ("name", "enable_dhcp"):
        if key in body:
            setattr(subnet, key, body[key])
    if "dns_nameservers" in body:
        subnet.dns_nameservers = list(body["dns_nameservers"] or [])
    if "host_routes" in body:
        with _ipam_errors():
            subnet.host_routes = ipam.validate_host_routes(cidr, body["host_routes"] or [])
    if "gateway_ip" in body and body["gateway_ip"] != subnet.gateway_ip:
        gw = body["gateway_ip"]
        if gw is not None:
            # The rules of create, and one more: the address must be free (a gateway
            # moved onto a VIP's address would take its traffic).
            gateway = ipaddress.ip_address(gw)
            with _ipam_errors():
                ipam.check_gateway(cidr, gateway)
                ipam.validate_allocation_pools(cidr, subnet.allocation_pools, gateway)
            if session.scalar(select(m.IPAllocation.port_id).where(
                    m.IPAllocation.subnet_id == subnet.id,
                    m.IPAllocation.ip_address == gw)):
                raise errors.IpAddressInUse(net_id=subnet.network_id, ip=gw)
        subnet.gateway_ip = gw
    return subnet


def _refuse_subnet_in_use(session: Session, subnet: m.Subnet) -> None:
    if session.scalar(select(m.IPAllocation.port_id)
                      .where(m.IPAllocation.subnet_id == subnet.id).limit(1)):
        raise errors.SubnetInUse(id=subnet.id, reason="one or more ports have an IP "
                                                      "allocation from this subnet")
    for column, what in ((m.LbPool.subnet_id, "pools"),
                         (m.LoadBalancer.vip_subnet_id, "VIPs")):
        if session.scalar(select(column).where(column == subnet.id).limit(1)):
            raise errors.SubnetInUse(id=subnet.id, reason=f"{what} use this subnet")


def delete_subnet(session: Session, ctx: Context, subnet_id: str) -> None:
    subnet = get_visible(session, ctx, m.Subnet, subnet_id, errors.SubnetNotFound)
    _refuse_subnet_in_use(session, subnet)
    session.delete(subnet)


# --- ports and IPAM ---------------------------------------------------------------------

def port_dict(p: m.Port) -> dict[str, Any]:
    return {
        "id": p.id, "tenant_id": p.tenant_id, "project_id": p.tenant_id, "name": p.name,
        "network_id": p.network_id, "mac_address": p.mac_address,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                      for a in p.fixed_ips],
        "admin_state_up": p.admin_state_up, "status": p.status, "device_id": p.device_id,
        "device_owner": p.device_owner, "binding:host_id": p.binding_host_id,
        "allowed_address_pairs": [dict(pair) for pair in p.allowed_address_pairs or []],
    }


def address_pairs(port: m.Port, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutron's rules for allowed_address_pairs (shapes were checked by the API): the
    MAC defaults to the port's, a pair may not repeat, nor be the port's own address
    with its own MAC."""
    result: list[dict[str, Any]] = []
    own = {a.ip_address for a in port.fixed_ips}
    for pair in pairs:
        entry = {"ip_address": pair["ip_address"],
                 "mac_address": pair.get("mac_address") or port.mac_address}
        if entry in result:
            raise errors.InvalidInput(error_message="Request contains duplicate address "
                                      "pair: " + f"mac_address {entry['mac_address']} "
                                      f"ip_address {entry['ip_address']}.")
        if entry["ip_address"] in own and entry["mac_address"] == port.mac_address:
            raise errors.InvalidInput(error_message="Port's Fixed IP and Mac Address "
                                      "match an address pair entry.")
        result.append(entry)
    return result


def _random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def _allocate_ip(session: Session, subnet: m.Subnet, exclude: set[str]) -> str:
    used = set(session.scalars(select(m.IPAllocation.ip_address)
                               .where(m.IPAllocation.subnet_id == subnet.id))) | exclude
    addr = ipam.first_free_address(subnet.allocation_pools, used)
    if addr is None:
        raise errors.IpAddressGenerationFailure(net_id=subnet.network_id)
    return addr


def _fixed_ips(session: Session, ctx: Context, net: m.Network,
               requested: list[dict[str, Any]] | None,
               forbid_gateway: bool = False,
               exclude: set[str] | None = None) -> list[tuple[m.Subnet, str]]:
    """Resolve ``[{subnet_id?, ip_address?}]`` against the network: each address checked
    (inside the subnet, free) or allocated from the subnet's pools."""
    if not requested:
        if not net.subnets:
            raise _bad(f"network {net.id} has no subnet to allocate an address from")
        requested = [{"subnet_id": net.subnets[0].id}]
    explicit = [f["ip_address"] for f in requested if f.get("ip_address") is not None]
    if len(set(explicit)) != len(explicit):
        raise _bad("fixed_ips names the same IP address twice")
    # Addresses this request takes are not free for its other entries: two entries on
    # one subnet get two addresses.
    taken = set(exclude or ()) | set(explicit)
    result: list[tuple[m.Subnet, str]] = []
    for fip in requested:
        subnet: m.Subnet | None = None
        if fip.get("subnet_id"):
            subnet = session.get(m.Subnet, fip["subnet_id"])
            if subnet is None or subnet.network_id != net.id:
                raise _bad(f"subnet {fip['subnet_id']} is not on network {net.id}")
        ip = fip.get("ip_address")
        if ip is not None:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                raise _bad(f"'{ip}' is not a valid IP address") from None
            if subnet is None:
                subnet = next((s for s in net.subnets
                               if addr in ipaddress.ip_network(s.cidr)), None)
                if subnet is None:
                    raise _bad(f"IP address {ip} is not in any subnet of network {net.id}")
            with _ipam_errors():
                ipam.check_host_address(ipaddress.ip_network(subnet.cidr), addr)
            if forbid_gateway and subnet.gateway_ip == str(addr):
                raise errors.IpAddressInUse(net_id=net.id, ip=str(addr))
            if session.scalar(select(m.IPAllocation.port_id).where(
                    m.IPAllocation.subnet_id == subnet.id,
                    m.IPAllocation.ip_address == str(addr))):
                raise errors.IpAddressInUse(net_id=net.id, ip=str(addr))
            result.append((subnet, str(addr)))
        else:
            if subnet is None:  # {}: any address of the network
                if not net.subnets:
                    raise _bad(f"network {net.id} has no subnet to allocate an address from")
                subnet = net.subnets[0]
            picked = _allocate_ip(session, subnet, taken)
            taken.add(picked)
            result.append((subnet, picked))
    return result


# Concurrent requests can pick the same free address (neither sees the other's
# uncommitted allocation): the unique index refuses the second, which then tries the next.
ALLOCATION_ATTEMPTS = 20


def create_port(session: Session, ctx: Context, body: dict[str, Any],
                forbid_gateway: bool = False) -> m.Port:
    net = get_visible(session, ctx, m.Network, body["network_id"], errors.NetworkNotFound,
                      shared_ok=True)
    net_id = net.id
    mac = body.get("mac_address")
    if mac is not None and session.scalar(select(m.Port.id).where(m.Port.mac_address == mac)):
        raise errors.Conflict(f"Unable to complete operation for network {net_id}. The "
                              f"mac address {mac} is in use.")
    requested_ips = {f["ip_address"] for f in body.get("fixed_ips") or []
                     if f.get("ip_address")}
    tried: set[str] = set()
    for _ in range(ALLOCATION_ATTEMPTS):
        ips = _fixed_ips(session, ctx, net, body.get("fixed_ips"), forbid_gateway, tried)
        port = m.Port(tenant_id=body["tenant_id"], network_id=net_id,
                      name=body.get("name", ""), mac_address=mac or _random_mac(),
                      admin_state_up=body.get("admin_state_up", True), status=c.DOWN,
                      device_id=body.get("device_id", ""),
                      device_owner=body.get("device_owner", ""),
                      binding_host_id=body.get("binding:host_id", ""))
        port.fixed_ips = [m.IPAllocation(subnet_id=sn.id, ip_address=ip, position=i)
                          for i, (sn, ip) in enumerate(ips)]
        port.allowed_address_pairs = address_pairs(port, body.get("allowed_address_pairs")
                                                   or [])
        addresses = [ip for _, ip in ips]
        try:
            with session.begin_nested():
                session.add(port)
                session.flush()
            return port
        except IntegrityError:
            # An address (or, rarely, the random MAC) was taken meanwhile.
            if requested_ips & set(addresses) or mac is not None:
                raise errors.IpAddressInUse(net_id=net_id, ip=", ".join(addresses)) from None
            tried |= set(addresses)
    raise errors.IpAddressGenerationFailure(net_id=net_id)


def _refuse_port_policy(ctx: Context, net: m.Network, body: dict[str, Any]) -> None:
    """Neutron's port policy for callers other than the server itself: the
    load-balancer owner is the server's to give (a tenant's port with it could not be
    told from a VIP's), the binding is the admin's, and on a network the caller does not
    own a MAC or a fixed address is the network owner's choice (else a tenant could
    squat the address an admin means to give a VIP)."""
    if ctx.is_admin:
        return
    if body.get("device_owner") == c.DEVICE_OWNER_LOADBALANCER:
        raise errors.PolicyNotAuthorized(rule="create_port:device_owner")
    if body.get("binding:host_id"):
        raise errors.PolicyNotAuthorized(rule="create_port:binding:host_id")
    if net.tenant_id != ctx.project_id:
        if body.get("mac_address") is not None:
            raise errors.PolicyNotAuthorized(rule="create_port:mac_address")
        if any(f.get("ip_address") for f in body.get("fixed_ips") or []):
            raise errors.PolicyNotAuthorized(rule="create_port:fixed_ips:ip_address")


def create_tenant_port(session: Session, ctx: Context, conf: Any,
                       body: dict[str, Any]) -> m.Port:
    """POST /v2.0/ports: the caller's policy and port quota, then :func:`create_port`.
    VIP ports are the server's and count against ``quota_vip`` instead."""
    net = get_visible(session, ctx, m.Network, body["network_id"], errors.NetworkNotFound,
                      shared_ok=True)
    _refuse_port_policy(ctx, net, body)
    check_quota(session, conf, m.Port, body["tenant_id"], "port",
                m.Port.device_owner != c.DEVICE_OWNER_LOADBALANCER)
    return create_port(session, ctx, body)


def get_port(session: Session, ctx: Context, port_id: str) -> m.Port:
    return get_visible(session, ctx, m.Port, port_id, errors.PortNotFound)


def port_query(ctx: Context) -> Any:
    """The ports ``ctx`` may see, as a query to refine (in no order)."""
    return visible_query(ctx, m.Port).order_by(None)


def _is_amphora_port(session: Session, port: m.Port) -> bool:
    return session.scalar(select(m.Amphora.id).where(
        m.Amphora.vrrp_port_id == port.id)) is not None


def _refuse_vip_port(session: Session, port: m.Port) -> None:
    """A VIP's port changes only with its VIP, an amphora's (ACTIVE_STANDBY) with its
    load balancer. Whether a port is a VIP's is what the VIPs say, not what the port's
    owner field claims."""
    if _is_amphora_port(session, port):
        raise errors.PortInUse(id=port.id, owner=port.device_owner or "amphora",
                               device_id=port.device_id)
    lb = session.scalar(select(m.LoadBalancer).where(m.LoadBalancer.vip_port_id == port.id))
    if lb is not None:
        # A v1 VIP is the load balancer's listener; an Octavia load balancer owns its port.
        device_id = lb.listeners[0].id if lb.api_version == 1 and lb.listeners else lb.id
        raise errors.PortInUse(id=port.id, owner="VIP", device_id=device_id)
    member_port = session.get(m.LbMemberPort, port.id)
    if member_port is not None:
        # A load balancer's port on a member subnet goes with its last member there.
        raise errors.PortInUse(id=port.id, owner=c.DEVICE_OWNER_LOADBALANCERV2,
                               device_id=member_port.loadbalancer_id)


def update_port(session: Session, ctx: Context, port_id: str,
                body: dict[str, Any]) -> m.Port:
    port = get_visible(session, ctx, m.Port, port_id, errors.PortNotFound)
    if "fixed_ips" in body or "device_owner" in body or "device_id" in body:
        _refuse_vip_port(session, port)
    if not ctx.is_admin:
        if body.get("device_owner") == c.DEVICE_OWNER_LOADBALANCER:
            raise errors.PolicyNotAuthorized(rule="update_port:device_owner")
        if "binding:host_id" in body:
            raise errors.PolicyNotAuthorized(rule="update_port:binding:host_id")
        if (port.network.tenant_id != ctx.project_id
                and any(f.get("ip_address") for f in body.get("fixed_ips") or [])):
            raise errors.PolicyNotAuthorized(rule="update_port:fixed_ips:ip_address")
    for key, attr in (("name", "name"), ("admin_state_up", "admin_state_up"),
                      ("device_id", "device_id"), ("device_owner", "device_owner"),
                      ("binding:host_id", "binding_host_id")):
        if key in body:
            setattr(port, attr, body[key])
    if "fixed_ips" in body:
        # Release the old addresses first, so asking for one of them again works.
        port.fixed_ips = []
        session.flush()
        ips = _fixed_ips(session, ctx, port.network, body["fixed_ips"])
        port.fixed_ips = [m.IPAllocation(subnet_id=s.id, ip_address=ip, position=i)
                          for i, (s, ip) in enumerate(ips)]
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise errors.IpAddressInUse(net_id=port.network_id,
                                        ip=", ".join(ip for _, ip in ips)) from None
    if "allowed_address_pairs" in body:
        if not ctx.is_admin and _is_amphora_port(session, port):
            raise errors.PortInUse(id=port.id, owner=port.device_owner,
                                   device_id=port.device_id)
        port.allowed_address_pairs = address_pairs(port, body["allowed_address_pairs"] or [])
    return port


def delete_port(session: Session, ctx: Context, port_id: str) -> None:
    port = get_visible(session, ctx, m.Port, port_id, errors.PortNotFound)
    _refuse_vip_port(session, port)
    session.delete(port)
