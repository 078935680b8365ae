"""lbaas.server.plugin.ipam: the IPAM rules on their own, no server and no database."""

from __future__ import annotations

import ipaddress
import time

import pytest

from lbaas.server.plugin import ipam
from lbaas.server.plugin.ipam import GatewayConflict, IpamError

NET4 = ipaddress.IPv4Network("10.0.0.0/24")
NET6 = ipaddress.IPv6Network("2001:db8::/64")


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def pool(start: str, end: str) -> dict[str, str]:
    return {"start": start, "end": end}


# --- parse_cidr -------------------------------------------------------------------------

def test_parse_cidr_returns_the_network() -> None:
    assert ipam.parse_cidr("10.0.0.0/24", 4) == NET4
    assert ipam.parse_cidr("2001:db8::/64", 6) == NET6


def test_parse_cidr_refuses_text_that_is_not_a_cidr() -> None:
    with pytest.raises(IpamError, match=r"^'not-a-cidr' is not a valid CIDR \("):
        ipam.parse_cidr("not-a-cidr", 4)


def test_parse_cidr_refuses_host_bits() -> None:
    with pytest.raises(IpamError, match=r"^'10\.0\.0\.1/24' is not a valid CIDR "
                                        r"\(.*has host bits set\)$"):
        ipam.parse_cidr("10.0.0.1/24", 4)


def test_parse_cidr_refuses_a_version_mismatch() -> None:
    with pytest.raises(IpamError) as exc:
        ipam.parse_cidr("10.0.0.0/24", 6)
    assert exc.value.message == "cidr 10.0.0.0/24 does not match ip_version 6"
    with pytest.raises(IpamError, match="does not match ip_version 4"):
        ipam.parse_cidr("2001:db8::/64", 4)


@pytest.mark.parametrize("cidr", ["10.0.0.0/31", "10.0.0.0/32"])
def test_parse_cidr_refuses_an_ipv4_network_with_no_address_to_allocate(cidr: str) -> None:
    with pytest.raises(IpamError) as exc:
        ipam.parse_cidr(cidr, 4)
    assert str(exc.value) == f"cidr {cidr} is too small: it leaves no address to allocate"


def test_parse_cidr_takes_the_smallest_usable_ipv4_and_tiny_ipv6_networks() -> None:
    assert ipam.parse_cidr("10.0.0.0/30", 4).num_addresses == 4
    assert ipam.parse_cidr("2001:db8::/127", 6).num_addresses == 2


def test_ipam_error_is_a_value_error_and_gateway_conflict_an_ipam_error() -> None:
    assert issubclass(IpamError, ValueError)
    assert issubclass(GatewayConflict, IpamError)


# --- check_gateway ----------------------------------------------------------------------

def test_check_gateway_takes_a_host_address() -> None:
    ipam.check_gateway(NET4, ip("10.0.0.1"))
    ipam.check_gateway(NET4, ip("10.0.0.254"))


@pytest.mark.parametrize("gateway", ["10.0.0.0", "10.0.0.255", "10.0.1.1"],
                         ids=["network-address", "broadcast", "outside"])
def test_check_gateway_refuses_a_non_host_address_of_ipv4(gateway: str) -> None:
    with pytest.raises(IpamError) as exc:
        ipam.check_gateway(NET4, ip(gateway))
    assert exc.value.message == f"gateway_ip {gateway} is not a host address of 10.0.0.0/24"
    assert not isinstance(exc.value, GatewayConflict)


def test_check_gateway_takes_the_last_ipv6_address_there_is_no_broadcast() -> None:
    ipam.check_gateway(NET6, ip("2001:db8::ffff:ffff:ffff:ffff"))


def test_check_gateway_refuses_the_ipv6_network_address_and_another_version() -> None:
    with pytest.raises(IpamError, match="is not a host address of 2001:db8::/64"):
        ipam.check_gateway(NET6, ip("2001:db8::"))
    with pytest.raises(IpamError, match="is not a host address"):
        ipam.check_gateway(NET6, ip("10.0.0.1"))


# --- host_range and default_allocation_pools --------------------------------------------

def test_host_range_leaves_out_network_and_ipv4_broadcast() -> None:
    assert ipam.host_range(NET4) == (ip("10.0.0.1"), ip("10.0.0.254"))
    assert ipam.host_range(NET6) == (ip("2001:db8::1"), ip("2001:db8::ffff:ffff:ffff:ffff"))


def test_default_pools_with_the_gateway_at_the_start_of_the_range() -> None:
    assert ipam.default_allocation_pools(NET4, ip("10.0.0.1")) == [
        pool("10.0.0.2", "10.0.0.254")]


def test_default_pools_split_around_a_gateway_in_the_middle() -> None:
    assert ipam.default_allocation_pools(NET4, ip("10.0.0.100")) == [
        pool("10.0.0.1", "10.0.0.99"), pool("10.0.0.101", "10.0.0.254")]


def test_default_pools_with_the_gateway_at_the_end_of_the_range() -> None:
    assert ipam.default_allocation_pools(NET4, ip("10.0.0.254")) == [
        pool("10.0.0.1", "10.0.0.253")]


def test_default_pools_without_a_gateway_cover_every_host_address() -> None:
    assert ipam.default_allocation_pools(NET4, None) == [pool("10.0.0.1", "10.0.0.254")]
    assert ipam.default_allocation_pools(NET6, None) == [
        pool("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff")]


def test_default_pools_ignore_a_gateway_outside_the_host_range() -> None:
    assert ipam.default_allocation_pools(NET4, ip("192.168.0.1")) == [
        pool("10.0.0.1", "10.0.0.254")]


def test_default_pools_of_a_slash_30_whose_gateway_takes_one_of_two_hosts() -> None:
    net = ipaddress.IPv4Network("10.0.0.0/30")
    assert ipam.default_allocation_pools(net, ip("10.0.0.1")) == [
        pool("10.0.0.2", "10.0.0.2")]


# --- validate_allocation_pools ----------------------------------------------------------

def test_validate_pools_sorts_and_canonicalises() -> None:
    pools = [pool("2001:db8::0:10", "2001:db8::20"), pool("2001:db8::2", "2001:db8::5")]
    assert ipam.validate_allocation_pools(NET6, pools, ip("2001:db8::1")) == [
        pool("2001:db8::2", "2001:db8::5"), pool("2001:db8::10", "2001:db8::20")]


def test_validate_pools_takes_no_pools() -> None:
    assert ipam.validate_allocation_pools(NET4, [], ip("10.0.0.1")) == []


@pytest.mark.parametrize("bad", [{"start": "10.0.0.2"}, pool("10.0.0.2", "nope")])
def test_validate_pools_refuses_a_pool_without_valid_addresses(bad: dict[str, str]) -> None:
    with pytest.raises(IpamError) as exc:
        ipam.validate_allocation_pools(NET4, [bad], None)
    assert exc.value.message == (f"allocation pool {bad} needs valid 'start' and 'end' "
                                 "addresses")


def test_validate_pools_refuses_a_pool_outside_the_subnet() -> None:
    with pytest.raises(IpamError) as exc:
        ipam.validate_allocation_pools(NET4, [pool("10.0.0.10", "10.0.1.5")], None)
    assert exc.value.message == "allocation pool 10.0.0.10-10.0.1.5 is not inside 10.0.0.0/24"


def test_validate_pools_refuses_a_reversed_pool() -> None:
    with pytest.raises(IpamError) as exc:
        ipam.validate_allocation_pools(NET4, [pool("10.0.0.20", "10.0.0.10")], None)
    assert exc.value.message == "allocation pool 10.0.0.20-10.0.0.10: start is after end"


def test_validate_pools_refuses_overlapping_pools_whatever_their_order() -> None:
    pools = [pool("10.0.0.50", "10.0.0.60"), pool("10.0.0.10", "10.0.0.50")]
    with pytest.raises(IpamError) as exc:
        ipam.validate_allocation_pools(NET4, pools, None)
    assert exc.value.message == ("allocation pools 10.0.0.10-10.0.0.50 and "
                                 "10.0.0.50-10.0.0.60 overlap")
    assert not isinstance(exc.value, GatewayConflict)


def test_validate_pools_takes_adjacent_pools() -> None:
    pools = [pool("10.0.0.10", "10.0.0.19"), pool("10.0.0.20", "10.0.0.29")]
    assert ipam.validate_allocation_pools(NET4, pools, None) == pools


@pytest.mark.parametrize("gateway", ["10.0.0.10", "10.0.0.15", "10.0.0.20"])
def test_validate_pools_raises_gateway_conflict_for_a_gateway_inside_a_pool(
        gateway: str) -> None:
    with pytest.raises(GatewayConflict) as exc:
        ipam.validate_allocation_pools(NET4, [pool("10.0.0.10", "10.0.0.20")], ip(gateway))
    assert exc.value.message == (f"Gateway ip {gateway} conflicts with allocation pool "
                                 "10.0.0.10-10.0.0.20.")


def test_validate_pools_takes_a_gateway_just_outside_the_pools() -> None:
    pools = [pool("10.0.0.2", "10.0.0.254")]
    assert ipam.validate_allocation_pools(NET4, pools, ip("10.0.0.1")) == pools


# --- validate_host_routes ---------------------------------------------------------------

def test_validate_routes_canonicalises() -> None:
    routes = [{"destination": "2001:DB8:1::/64", "nexthop": "2001:db8::0:1"}]
    assert ipam.validate_host_routes(NET6, routes) == [
        {"destination": "2001:db8:1::/64", "nexthop": "2001:db8::1"}]


@pytest.mark.parametrize("route", [
    {"destination": "192.168.0.0/16", "nexthop": "2001:db8::1"},
    {"destination": "2001:db8:1::/64", "nexthop": "10.0.0.1"},
], ids=["ipv4-destination", "ipv4-nexthop"])
def test_validate_routes_refuses_another_ip_version(route: dict[str, str]) -> None:
    with pytest.raises(IpamError) as exc:
        ipam.validate_host_routes(NET6, [route])
    assert exc.value.message == f"host route {route} is not IPv6"


@pytest.mark.parametrize("route", [
    {"destination": "192.168.0.1/16", "nexthop": "10.0.0.1"},
    {"destination": "192.168.0.0/16", "nexthop": "10.0.0.300"},
    {"nexthop": "10.0.0.1"},
], ids=["host-bits", "bad-nexthop", "no-destination"])
def test_validate_routes_refuses_a_bad_route(route: dict[str, str]) -> None:
    with pytest.raises(IpamError) as exc:
        ipam.validate_host_routes(NET4, [route])
    assert exc.value.message == (f"host route {route} needs a valid 'destination' cidr and "
                                 "'nexthop' address")


# --- first_free_address -----------------------------------------------------------------

def test_first_free_address_is_the_pool_start_when_nothing_is_used() -> None:
    assert ipam.first_free_address([pool("10.0.0.2", "10.0.0.254")], set()) == "10.0.0.2"


def test_first_free_address_skips_used_addresses() -> None:
    used = {"10.0.0.2", "10.0.0.3", "10.0.0.5", "10.0.0.1", "10.0.0.200"}
    assert ipam.first_free_address([pool("10.0.0.2", "10.0.0.254")], used) == "10.0.0.4"


def test_first_free_address_moves_to_the_next_pool_when_one_is_full() -> None:
    pools = [pool("10.0.0.10", "10.0.0.11"), pool("10.0.0.2", "10.0.0.5")]
    assert ipam.first_free_address(pools, {"10.0.0.10", "10.0.0.11", "10.0.0.2"}) == \
        "10.0.0.3"


def test_first_free_address_keeps_the_pools_in_the_order_given() -> None:
    pools = [pool("10.0.0.100", "10.0.0.110"), pool("10.0.0.2", "10.0.0.5")]
    assert ipam.first_free_address(pools, set()) == "10.0.0.100"


def test_first_free_address_is_none_when_every_pool_is_full() -> None:
    pools = [pool("10.0.0.2", "10.0.0.3"), pool("10.0.0.7", "10.0.0.7")]
    assert ipam.first_free_address(pools, {"10.0.0.2", "10.0.0.3", "10.0.0.7"}) is None
    assert ipam.first_free_address([], set()) is None


def test_first_free_address_skips_a_reversed_pool() -> None:
    pools = [pool("10.0.0.9", "10.0.0.2"), pool("10.0.0.20", "10.0.0.21")]
    assert ipam.first_free_address(pools, set()) == "10.0.0.20"


def test_first_free_address_counts_only_addresses_written_canonically() -> None:
    # The text "2001:db8::0:1" does not take 2001:db8::1 (the old string comparison).
    pools = [pool("2001:db8::1", "2001:db8::ff")]
    assert ipam.first_free_address(pools, {"2001:db8::0:1", "junk"}) == "2001:db8::1"


def test_first_free_address_ignores_used_addresses_of_the_other_version() -> None:
    # ::a00:2 and 10.0.0.2 are the same integer.
    pools = [pool("::a00:2", "::a00:9")]
    assert ipam.first_free_address(pools, {"10.0.0.2"}) == "::a00:2"


def test_first_free_address_carries_across_octets_as_ipaddress_writes_it() -> None:
    used = {"10.0.0.254", "10.0.0.255", "10.0.1.0"}
    assert ipam.first_free_address([pool("10.0.0.254", "10.0.2.0")], used) == "10.0.1.1"
    assert ipam.first_free_address([pool("255.255.255.254", "255.255.255.255")],
                                   {"255.255.255.254"}) == "255.255.255.255"


def test_first_free_address_of_a_full_pool_at_the_top_of_the_space_is_none() -> None:
    assert ipam.first_free_address([pool("255.255.255.255", "255.255.255.255")],
                                   {"255.255.255.255"}) is None
    top = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    assert ipam.first_free_address([pool(top, top)], {top}) is None


def test_first_free_address_keeps_ipv6_for_small_integers() -> None:
    assert ipam.first_free_address([pool("::1", "::ff")], {"::1"}) == "::2"


def test_first_free_address_in_an_ipv6_slash_64_pool_returns_at_once() -> None:
    pools = [pool("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")]
    used = {f"2001:db8::{i:x}" for i in range(2, 1002)} | {"2001:db8::ffff:0:0"}
    began = time.perf_counter()
    assert ipam.first_free_address(pools, used) == "2001:db8::3ea"
    assert time.perf_counter() - began < 0.5


def test_first_free_address_of_a_full_big_pool_is_none_quickly() -> None:
    pools = [pool("10.1.0.1", "10.1.255.254")]
    used = {str(ipaddress.IPv4Address(i)) for i in range(int(ip("10.1.0.1")),
                                                          int(ip("10.1.255.254")) + 1)}
    began = time.perf_counter()
    assert ipam.first_free_address(pools, used) is None
    assert time.perf_counter() - began < 2


# --- check_host_address -----------------------------------------------------------------

def test_check_host_address_takes_a_host_address() -> None:
    ipam.check_host_address(NET4, ip("10.0.0.1"))
    ipam.check_host_address(NET4, ip("10.0.0.254"))
    ipam.check_host_address(NET6, ip("2001:db8::ffff:ffff:ffff:ffff"))


@pytest.mark.parametrize("addr", ["10.0.1.1", "2001:db8::1"])
def test_check_host_address_refuses_an_address_outside_the_subnet(addr: str) -> None:
    with pytest.raises(IpamError) as exc:
        ipam.check_host_address(NET4, ip(addr))
    assert exc.value.message == f"IP address {addr} is not a valid IP for the specified subnet"


@pytest.mark.parametrize("net, addr", [
    (NET4, "10.0.0.0"), (NET4, "10.0.0.255"), (NET6, "2001:db8::"),
], ids=["ipv4-network", "ipv4-broadcast", "ipv6-network"])
def test_check_host_address_refuses_network_and_broadcast_addresses(
        net: ipam.IPNetwork, addr: str) -> None:
    with pytest.raises(IpamError) as exc:
        ipam.check_host_address(net, ip(addr))
    assert exc.value.message == f"IP address {addr} is the network or broadcast address of {net}"
