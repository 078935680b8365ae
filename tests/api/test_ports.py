"""/v2.0/ports: addresses from the allocation pools, MACs, and VIP-owned ports."""

from __future__ import annotations

import ipaddress
import re

import pytest

from tests.api.builders import assert_error, make_network, make_pool, make_subnet, make_vip
from tests.helpers.server import Api

MAC_RE = r"^fa:16:3e(:[0-9a-f]{2}){3}$"


def test_port_gets_an_address_and_a_mac(api: Api, project: str) -> None:
    sub = make_subnet(api, cidr="10.30.0.0/24")
    resp = api.post("/ports", {"port": {"network_id": sub["network_id"], "name": "p"}})
    assert resp.status_code == 201, resp.text
    port = resp.json()["port"]
    assert port["tenant_id"] == project
    assert port["name"] == "p"
    assert port["network_id"] == sub["network_id"]
    assert re.match(MAC_RE, port["mac_address"]), port["mac_address"]
    assert len(port["fixed_ips"]) == 1
    fixed = port["fixed_ips"][0]
    assert fixed["subnet_id"] == sub["id"]
    addr = ipaddress.IPv4Address(fixed["ip_address"])
    assert ipaddress.IPv4Address("10.30.0.2") <= addr <= ipaddress.IPv4Address("10.30.0.254")
    assert port["admin_state_up"] is True
    assert port["device_id"] == ""
    assert port["device_owner"] == ""
    assert port["binding:host_id"] in ("", None)
    assert isinstance(port["status"], str)
    assert api.show("port", port["id"]) == port


def test_ports_get_distinct_addresses_and_macs(api: Api) -> None:
    sub = make_subnet(api, cidr="10.31.0.0/24")
    ports = [api.create("port", network_id=sub["network_id"]) for _ in range(5)]
    assert len({p["fixed_ips"][0]["ip_address"] for p in ports}) == 5
    assert len({p["mac_address"] for p in ports}) == 5


def test_port_with_requested_address(api: Api) -> None:
    sub = make_subnet(api, cidr="10.32.0.0/24")
    port = api.create("port", network_id=sub["network_id"],
                      fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.32.0.77"}])
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.32.0.77"}]


def test_port_address_by_ip_only(api: Api) -> None:
    sub = make_subnet(api, cidr="10.33.0.0/24")
    port = api.create("port", network_id=sub["network_id"],
                      fixed_ips=[{"ip_address": "10.33.0.78"}])
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.33.0.78"}]


def test_port_address_from_named_subnet(api: Api) -> None:
    net = make_network(api)
    make_subnet(api, net["id"], cidr="10.34.0.0/24")
    second = make_subnet(api, net["id"], cidr="10.35.0.0/24")
    port = api.create("port", network_id=net["id"], fixed_ips=[{"subnet_id": second["id"]}])
    assert port["fixed_ips"][0]["subnet_id"] == second["id"]
    assert port["fixed_ips"][0]["ip_address"].startswith("10.35.0.")


def test_taken_address_conflicts(api: Api) -> None:
    sub = make_subnet(api, cidr="10.36.0.0/24")
    fixed = [{"subnet_id": sub["id"], "ip_address": "10.36.0.50"}]
    api.create("port", network_id=sub["network_id"], fixed_ips=fixed)
    assert_error(api.post("/ports", {"port": {"network_id": sub["network_id"],
                                              "fixed_ips": fixed}}), 409)


def test_address_outside_subnet_rejected(api: Api) -> None:
    sub = make_subnet(api, cidr="10.37.0.0/24")
    resp = api.post("/ports", {"port": {"network_id": sub["network_id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "10.38.0.5"}]}})
    assert_error(resp, 400)


def test_subnet_of_another_network_rejected(api: Api) -> None:
    sub = make_subnet(api, cidr="10.39.0.0/24")
    other = make_network(api)
    resp = api.post("/ports", {"port": {"network_id": other["id"],
                                        "fixed_ips": [{"subnet_id": sub["id"]}]}})
    assert_error(resp, 400)


def test_exhausted_subnet_conflicts(api: Api) -> None:
    # /30: network, gateway, one usable address, broadcast.
    sub = make_subnet(api, cidr="10.40.0.0/30")
    assert sub["allocation_pools"] == [{"start": "10.40.0.2", "end": "10.40.0.2"}]
    port = api.create("port", network_id=sub["network_id"])
    assert port["fixed_ips"][0]["ip_address"] == "10.40.0.2"
    assert_error(api.post("/ports", {"port": {"network_id": sub["network_id"]}}), 409)


def test_deleted_port_frees_its_address(api: Api) -> None:
    sub = make_subnet(api, cidr="10.41.0.0/30")
    port = api.create("port", network_id=sub["network_id"])
    api.remove("port", port["id"])
    assert_error(api.get(f"/ports/{port['id']}"), 404)
    again = api.create("port", network_id=sub["network_id"])
    assert again["fixed_ips"][0]["ip_address"] == "10.41.0.2"


def test_port_on_missing_network_is_404(api: Api) -> None:
    resp = api.post("/ports", {"port": {"network_id": "6a0e0c2f-0000-4000-8000-000000000000"}})
    assert_error(resp, 404)


def test_port_update(api: Api) -> None:
    sub = make_subnet(api, cidr="10.42.0.0/24")
    port = api.create("port", network_id=sub["network_id"])
    updated = api.update("port", port["id"], name="renamed", admin_state_up=False,
                         device_id="dev-1", device_owner="compute:test")
    assert updated["name"] == "renamed"
    assert updated["admin_state_up"] is False
    assert updated["device_id"] == "dev-1"
    assert updated["device_owner"] == "compute:test"


@pytest.mark.parametrize("attr,value", [
    ("id", "6a0e0c2f-0000-4000-8000-000000000001"), ("status", "ACTIVE"),
    ("network_id", "6a0e0c2f-0000-4000-8000-000000000002")])
def test_immutable_port_attributes_rejected(api: Api, attr: str, value: str) -> None:
    sub = make_subnet(api, cidr="10.43.0.0/24")
    port = api.create("port", network_id=sub["network_id"])
    assert_error(api.put(f"/ports/{port['id']}", {"port": {attr: value}}), 400)


@pytest.mark.parametrize("mac", ["zz:16:3e:00:00:01", "fa:16:3e:00:00", "hello"])
def test_bad_mac_rejected(api: Api, mac: str) -> None:
    sub = make_subnet(api, cidr="10.44.0.0/24")
    resp = api.post("/ports", {"port": {"network_id": sub["network_id"], "mac_address": mac}})
    assert_error(resp, 400)


def test_vip_port_cannot_be_deleted_through_ports(api: Api) -> None:
    pool = make_pool(api)
    vip = make_vip(api, pool)
    assert_error(api.delete(f"/ports/{vip['port_id']}"), 409)
    assert api.show("port", vip["port_id"])["device_owner"] == "neutron:LOADBALANCER"


def test_requested_mac_used_and_unique(api: Api) -> None:
    sub = make_subnet(api, cidr="10.45.0.0/24")
    port = api.create("port", network_id=sub["network_id"], mac_address="fa:16:3e:12:34:56")
    assert port["mac_address"] == "fa:16:3e:12:34:56"
    resp = api.post("/ports", {"port": {"network_id": sub["network_id"],
                                        "mac_address": "fa:16:3e:12:34:56"}})
    assert_error(resp, 409)


def test_address_outside_the_pools_but_inside_the_subnet(api: Api) -> None:
    # Neutron: allocation pools bound automatic allocation, not requested addresses.
    sub = make_subnet(api, cidr="10.46.0.0/24",
                      allocation_pools=[{"start": "10.46.0.100", "end": "10.46.0.110"}])
    port = api.create("port", network_id=sub["network_id"],
                      fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.46.0.5"}])
    assert port["fixed_ips"][0]["ip_address"] == "10.46.0.5"


@pytest.mark.parametrize("address", ["10.47.0.0", "10.47.0.255"], ids=["network", "broadcast"])
def test_network_and_broadcast_addresses_refused(api: Api, address: str) -> None:
    sub = make_subnet(api, cidr="10.47.0.0/24")
    resp = api.post("/ports", {"port": {"network_id": sub["network_id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": address}]}})
    assert resp.status_code in (400, 409), resp.text
    assert_error(resp, resp.status_code)
