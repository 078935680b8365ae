"""/v2.0/subnets: addressing, gateway and allocation pools."""

from __future__ import annotations

import pytest

from tests.api.builders import assert_error, make_network, make_pool, make_subnet, make_vip
from tests.helpers.server import Api


def test_subnet_defaults_gateway_and_pools(api: Api, project: str) -> None:
    net = make_network(api)
    resp = api.post("/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                            "cidr": "10.10.0.0/24"}})
    assert resp.status_code == 201, resp.text
    sub = resp.json()["subnet"]
    assert sub["network_id"] == net["id"]
    assert sub["tenant_id"] == project
    assert sub["ip_version"] == 4
    assert sub["cidr"] == "10.10.0.0/24"
    assert sub["gateway_ip"] == "10.10.0.1"
    assert sub["allocation_pools"] == [{"start": "10.10.0.2", "end": "10.10.0.254"}]
    assert sub["host_routes"] == []
    assert sub["dns_nameservers"] == []
    assert isinstance(sub["enable_dhcp"], bool)
    assert api.show("subnet", sub["id"]) == sub


def test_subnet_without_gateway(api: Api) -> None:
    sub = make_subnet(api, cidr="10.11.0.0/24", gateway_ip=None)
    assert sub["gateway_ip"] is None
    assert sub["allocation_pools"] == [{"start": "10.11.0.1", "end": "10.11.0.254"}]


def test_gateway_at_the_end_is_left_out_of_the_pool(api: Api) -> None:
    sub = make_subnet(api, cidr="10.12.0.0/24", gateway_ip="10.12.0.254")
    assert sub["gateway_ip"] == "10.12.0.254"
    assert sub["allocation_pools"] == [{"start": "10.12.0.1", "end": "10.12.0.253"}]


def test_gateway_outside_cidr_rejected(api: Api) -> None:
    net = make_network(api)
    resp = api.post("/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                            "cidr": "10.13.0.0/24",
                                            "gateway_ip": "10.14.0.1"}})
    assert_error(resp, 400)


def test_explicit_allocation_pools_kept(api: Api) -> None:
    pools = [{"start": "10.15.0.10", "end": "10.15.0.19"},
             {"start": "10.15.0.100", "end": "10.15.0.199"}]
    sub = make_subnet(api, cidr="10.15.0.0/24", allocation_pools=pools)
    assert sorted(sub["allocation_pools"], key=lambda p: p["start"]) == pools


@pytest.mark.parametrize("pools", [
    [{"start": "10.16.0.10", "end": "10.16.0.50"}, {"start": "10.16.0.40", "end": "10.16.0.60"}],
    [{"start": "10.16.0.10", "end": "10.16.0.50"}, {"start": "10.16.0.50", "end": "10.16.0.50"}],
], ids=["overlap", "shared-address"])
def test_overlapping_allocation_pools_rejected(api: Api, pools: list[dict[str, str]]) -> None:
    net = make_network(api)
    resp = api.post("/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                            "cidr": "10.16.0.0/24",
                                            "allocation_pools": pools}})
    assert_error(resp, 400)


@pytest.mark.parametrize("pool", [
    {"start": "10.17.0.200", "end": "10.17.1.10"},
    {"start": "192.168.0.1", "end": "192.168.0.9"},
    {"start": "10.17.0.50", "end": "10.17.0.40"},
    {"start": "not-an-ip", "end": "10.17.0.40"},
], ids=["crosses-end", "outside", "reversed", "garbage"])
def test_allocation_pool_outside_cidr_rejected(api: Api, pool: dict[str, str]) -> None:
    net = make_network(api)
    resp = api.post("/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                            "cidr": "10.17.0.0/24",
                                            "allocation_pools": [pool]}})
    assert_error(resp, 400)


@pytest.mark.parametrize("body", [
    {"cidr": "10.18.0.0/33"},
    {"cidr": "banana"},
    {"cidr": "fd00::/64", "ip_version": 4},
    {"cidr": "10.18.0.0/24", "ip_version": 5},
    {"cidr": "10.18.0.0/24", "gateway_ip": "fd00::1"},
    {"cidr": "10.18.0.0/24", "host_routes": [{"destination": "0.0.0.0/0"}]},
    {"cidr": "10.18.0.0/24", "host_routes": [{"destination": "bad", "nexthop": "10.18.0.1"}]},
    {"cidr": "10.18.0.0/24", "dns_nameservers": ["not-an-ip"]},
], ids=["prefix", "garbage", "version-mismatch", "version", "gw-family", "route-missing",
        "route-bad", "dns-bad"])
def test_bad_subnet_rejected(api: Api, body: dict[str, object]) -> None:
    net = make_network(api)
    full = {"network_id": net["id"], "ip_version": 4, **body}
    assert_error(api.post("/subnets", {"subnet": full}), 400)


def test_subnet_requires_cidr_and_network(api: Api) -> None:
    net = make_network(api)
    assert_error(api.post("/subnets", {"subnet": {"network_id": net["id"],
                                                  "ip_version": 4}}), 400)
    assert_error(api.post("/subnets", {"subnet": {"cidr": "10.19.0.0/24",
                                                  "ip_version": 4}}), 400)


def test_subnet_on_missing_network_is_404(api: Api) -> None:
    resp = api.post("/subnets", {"subnet": {
        "network_id": "5d7a3e1c-0000-4000-8000-000000000000", "ip_version": 4,
        "cidr": "10.20.0.0/24"}})
    assert_error(resp, 404)


def test_host_routes_and_dns_stored(api: Api) -> None:
    routes = [{"destination": "0.0.0.0/0", "nexthop": "10.21.0.254"},
              {"destination": "192.168.5.0/24", "nexthop": "10.21.0.253"}]
    sub = make_subnet(api, cidr="10.21.0.0/24", gateway_ip=None, host_routes=routes,
                      dns_nameservers=["10.21.0.53", "10.21.0.54"])
    shown = api.show("subnet", sub["id"])
    key = lambda r: r["destination"]  # noqa: E731
    assert sorted(shown["host_routes"], key=key) == sorted(routes, key=key)
    assert shown["dns_nameservers"] == ["10.21.0.53", "10.21.0.54"]


def test_ipv6_subnet(api: Api) -> None:
    sub = make_subnet(api, cidr="fd00:22::/64")
    assert sub["ip_version"] == 6
    assert sub["gateway_ip"] == "fd00:22::1"
    assert sub["allocation_pools"][0]["start"] == "fd00:22::2"


def test_subnet_update_name(api: Api) -> None:
    sub = make_subnet(api, cidr="10.23.0.0/24")
    assert api.update("subnet", sub["id"], name="renamed")["name"] == "renamed"


@pytest.mark.parametrize("attr,value", [
    ("cidr", "10.99.0.0/24"), ("network_id", "5d7a3e1c-0000-4000-8000-000000000000"),
    ("ip_version", 6), ("id", "5d7a3e1c-0000-4000-8000-000000000001")])
def test_immutable_subnet_attributes_rejected(api: Api, attr: str, value: object) -> None:
    sub = make_subnet(api, cidr="10.24.0.0/24")
    assert_error(api.put(f"/subnets/{sub['id']}", {"subnet": {attr: value}}), 400)


def test_subnet_delete(api: Api) -> None:
    sub = make_subnet(api, cidr="10.25.0.0/24")
    api.remove("subnet", sub["id"])
    assert_error(api.get(f"/subnets/{sub['id']}"), 404)
    assert sub["id"] not in api.show("network", sub["network_id"])["subnets"]


def test_subnet_used_by_vip_port_cannot_be_deleted(api: Api) -> None:
    pool = make_pool(api)
    vip = make_vip(api, pool)
    assert_error(api.delete(f"/subnets/{pool['subnet_id']}"), 409)
    assert api.show("subnet", pool["subnet_id"])["id"] == pool["subnet_id"]
    # Once the VIP (and with it its port) is gone the subnet can go.
    api.remove("vip", vip["id"])
    api.remove("pool", pool["id"])
    api.remove("subnet", pool["subnet_id"])


def test_enable_dhcp_is_stored(api: Api) -> None:
    sub = make_subnet(api, cidr="10.26.0.0/24", enable_dhcp=False)
    assert sub["enable_dhcp"] is False
    assert api.update("subnet", sub["id"], enable_dhcp=True)["enable_dhcp"] is True


def test_updates_keep_the_subnet_consistent(api: Api) -> None:
    sub = make_subnet(api, cidr="10.27.0.0/24")
    path = f"/subnets/{sub['id']}"
    assert_error(api.put(path, {"subnet": {"gateway_ip": "10.28.0.1"}}), 400)
    overlapping = [{"start": "10.27.0.10", "end": "10.27.0.20"},
                   {"start": "10.27.0.15", "end": "10.27.0.30"}]
    assert_error(api.put(path, {"subnet": {"allocation_pools": overlapping}}), 400)
    outside = [{"start": "10.28.0.10", "end": "10.28.0.20"}]
    assert_error(api.put(path, {"subnet": {"allocation_pools": outside}}), 400)
    shown = api.show("subnet", sub["id"])
    assert shown["gateway_ip"] == "10.27.0.1"
    assert shown["allocation_pools"] == sub["allocation_pools"]
