"""IP address management rules: subnet CIDRs, gateways, allocation pools, host routes and
picking a free address.

Pure functions over ``ipaddress`` values and the plain dicts the API stores
(``{"start", "end"}`` pools, ``{"destination", "nexthop"}`` routes): no database, no
session, no models. The caller (``lbaas.server.plugin.core``) reads what is already
allocated, passes it in, and turns :class:`IpamError` into the API's 400 and
:class:`GatewayConflict` into its 409; the messages here are the API's messages.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


class IpamError(ValueError):
    """A request breaks an IPAM rule; ``message`` says which (a 400 Invalid input)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GatewayConflict(IpamError):
    """The gateway address lies inside an allocation pool (a 409 Conflict)."""


def parse_cidr(cidr: str, ip_version: int) -> IPNetwork:
    """The network ``cidr`` names, checked for a subnet of IP version ``ip_version``.

    Refused: text that is not a CIDR or has host bits set, a version other than
    ``ip_version``, and an IPv4 network smaller than a /30 (no address left to allocate
    once the network and broadcast addresses are taken out)."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as e:
        raise IpamError(f"'{cidr}' is not a valid CIDR ({e})") from None
    if net.version != ip_version:
        raise IpamError(f"cidr {cidr} does not match ip_version {ip_version}")
    if net.num_addresses < 4 and net.version == 4:
        raise IpamError(f"cidr {cidr} is too small: it leaves no address to allocate")
    return net


def check_gateway(net: IPNetwork, gateway: IPAddr) -> None:
    """Refuse a gateway that is not a host address of ``net``: outside it, its network
    address, or (IPv4) its broadcast address."""
    if gateway not in net or gateway == net.network_address or (
            net.version == 4 and gateway == net.broadcast_address):
        raise IpamError(f"gateway_ip {gateway} is not a host address of {net}")


def host_range(net: IPNetwork) -> tuple[IPAddr, IPAddr]:
    """The first and last host addresses of ``net``: the network address is never one;
    the last address is one in IPv6 (it has no broadcast address), not in IPv4."""
    first = net.network_address + 1
    last = net.broadcast_address - 1 if net.version == 4 else net.broadcast_address
    return first, last


def default_allocation_pools(net: IPNetwork, gateway: IPAddr | None) -> list[dict[str, str]]:
    """The pools of a subnet created without ``allocation_pools``: every host address of
    ``net`` but the gateway, as one range, or two when the gateway splits it.

    A gateway of None or outside the host range leaves the whole range."""
    first, last = host_range(net)
    if gateway is None or not int(first) <= int(gateway) <= int(last):
        return [{"start": str(first), "end": str(last)}]
    pools = []
    if int(gateway) > int(first):
        pools.append({"start": str(first), "end": str(gateway - 1)})
    if int(gateway) < int(last):
        pools.append({"start": str(gateway + 1), "end": str(last)})
    return pools


def validate_allocation_pools(net: IPNetwork, pools: list[dict[str, str]],
                              gateway: IPAddr | None) -> list[dict[str, str]]:
    """Check requested allocation pools and return them sorted by start address, written
    as ``ipaddress`` prints them.

    Each pool needs valid ``start`` and ``end`` addresses inside ``net`` with start not
    after end, and no two pools may overlap (IpamError). A pool holding ``gateway`` raises
    GatewayConflict."""
    ranges: list[tuple[IPAddr, IPAddr]] = []
    for p in pools:
        try:
            start, end = ipaddress.ip_address(p["start"]), ipaddress.ip_address(p["end"])
        except (KeyError, ValueError):
            raise IpamError(f"allocation pool {p} needs valid 'start' and 'end' "
                            "addresses") from None
        if start not in net or end not in net:
            raise IpamError(f"allocation pool {start}-{end} is not inside {net}")
        if int(start) > int(end):
            raise IpamError(f"allocation pool {start}-{end}: start is after end")
        if gateway is not None and int(start) <= int(gateway) <= int(end):
            raise GatewayConflict(f"Gateway ip {gateway} conflicts with allocation pool "
                                  f"{start}-{end}.")
        ranges.append((start, end))
    ranges.sort(key=lambda r: int(r[0]))
    for (s1, e1), (s2, e2) in zip(ranges, ranges[1:], strict=False):
        if int(s2) <= int(e1):
            raise IpamError(f"allocation pools {s1}-{e1} and {s2}-{e2} overlap")
    return [{"start": str(s), "end": str(e)} for s, e in ranges]


def validate_host_routes(net: IPNetwork,
                         routes: list[dict[str, str]]) -> list[dict[str, str]]:
    """Check host routes (a ``destination`` network and a ``nexthop`` address, both of
    ``net``'s IP version) and return them written as ``ipaddress`` prints them."""
    out = []
    for r in routes:
        try:
            dest = ipaddress.ip_network(r["destination"], strict=True)
            nexthop = ipaddress.ip_address(r["nexthop"])
        except (KeyError, ValueError):
            raise IpamError(f"host route {r} needs a valid 'destination' cidr and "
                            "'nexthop' address") from None
        if dest.version != net.version or nexthop.version != net.version:
            raise IpamError(f"host route {r} is not IPv{net.version}")
        out.append({"destination": str(dest), "nexthop": str(nexthop)})
    return out


def check_host_address(net: IPNetwork, addr: IPAddr) -> None:
    """Refuse ``addr`` as a port's fixed address on subnet ``net``: outside it, or its
    network or (IPv4) broadcast address."""
    if addr not in net:
        raise IpamError(f"IP address {addr} is not a valid IP for the specified subnet")
    if addr == net.network_address or (net.version == 4
                                       and addr == net.broadcast_address):
        raise IpamError(f"IP address {addr} is the network or broadcast address of {net}")


def _ipv4_text(value: int) -> str:
    """``str(IPv4Address(value))`` without building the object (the walk's hot path)."""
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def _ipv6_text(value: int) -> str:
    return str(ipaddress.IPv6Address(value))


def first_free_address(pools: Iterable[Mapping[str, str]],
                       used: AbstractSet[str]) -> str | None:
    """The lowest address not in ``used`` of the first pool (in the given order) that has
    one, as text; None when every pool is full.

    ``pools`` are ``{"start", "end"}`` ranges, both ends included; ``used`` holds the
    addresses already taken, written as ``ipaddress`` prints them (an address is taken
    when its printed form is in ``used``).

    The walk from a pool's start only passes used addresses: each costs one set lookup of
    its text, made from an int without an ``ipaddress`` object for IPv4. So a call costs
    at most one step per used address plus one per pool, whatever the size of the pools
    (an IPv6 /64 with few addresses used answers at once). Sorting the used addresses as
    ints instead would first have to parse every one of them, which costs more than this
    walk."""
    for pool in pools:
        start = ipaddress.ip_address(pool["start"])
        end = int(ipaddress.ip_address(pool["end"]))
        text = _ipv4_text if start.version == 4 else _ipv6_text
        candidate = int(start)
        while candidate <= end:
            address = text(candidate)
            if address not in used:
                return address
            candidate += 1
    return None
