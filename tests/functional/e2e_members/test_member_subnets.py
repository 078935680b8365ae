"""A load balancer on subnet A with members on subnet B serves real HTTP through its VIP
(docs/architecture.md, "Member ports"), with either interface driver: the namespace
gets a device on B's switch (by B's physical network; on OVS B is a VLAN) with its own
address, B's host route and no default route through it; the member reached through
the host route answers too; when the last member on B goes, so does the device and
the port."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lbaas.agent.linux import ovs_lib
from tests.functional.e2e_members.conftest import (
    B1,
    B2,
    BRIDGE_B,
    CIDR_A,
    CIDR_B,
    CIDR_C,
    CLIENT,
    NS_PREFIX,
    PHYSNET_A,
    PHYSNET_B,
    ROUTER_B,
    SPEC,
    MemberLab,
    ns_name,
)
from tests.helpers import netlab
from tests.helpers.netlab import LabApi, Service, netns, wait_until

V2 = "/lbaas"


class V2Client:
    def __init__(self, api: LabApi) -> None:
        self.http = api.http

    def call(self, method: str, path: str, body: Any = None, want: int = 200) -> Any:
        r = self.http.request(method, path, json=body)
        assert r.status_code == want, f"{method} {path} → {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def wait_active(self, lb_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        lb: dict[str, Any] = {}
        while time.monotonic() < deadline:
            lb = self.call("GET", f"{V2}/loadbalancers/{lb_id}")["loadbalancer"]
            if lb["provisioning_status"] == "ACTIVE":
                return lb
            assert lb["provisioning_status"] != "ERROR", lb
            time.sleep(0.1)
        raise AssertionError(f"load balancer {lb_id} not ACTIVE in {timeout}s: {lb}")


@pytest.fixture
def networks(api: LabApi, lab: MemberLab) -> Iterator[dict[str, Any]]:
    """Subnet A (the VIP's, gateway .1) and subnet B (the members', a host route to C
    through the router), each on its own physical network."""
    made: list[tuple[str, str]] = []
    net_a = api.post("/networks", {"network": {
        "name": "tq-a", "provider:physical_network": PHYSNET_A}})["network"]
    made.append(("networks", net_a["id"]))
    subnet_a = api.post("/subnets", {"subnet": {
        "network_id": net_a["id"], "cidr": CIDR_A, "gateway_ip": "10.98.100.1",
        "allocation_pools": [{"start": "10.98.100.100", "end": "10.98.100.149"}]}})["subnet"]
    made.append(("subnets", subnet_a["id"]))
    provider_b: dict[str, Any] = {"provider:physical_network": PHYSNET_B}
    if lab.member_vlan is not None:
        provider_b.update({"provider:network_type": "vlan",
                           "provider:segmentation_id": lab.member_vlan})
    net_b = api.post("/networks", {"network": {"name": "tq-b", **provider_b}})["network"]
    made.append(("networks", net_b["id"]))
    subnet_b = api.post("/subnets", {"subnet": {
        "network_id": net_b["id"], "cidr": CIDR_B, "gateway_ip": "10.98.101.1",
        "host_routes": [{"destination": CIDR_C, "nexthop": ROUTER_B}],
        "allocation_pools": [{"start": "10.98.101.100", "end": "10.98.101.149"}]}})["subnet"]
    made.append(("subnets", subnet_b["id"]))
    try:
        yield {"a": subnet_a, "b": subnet_b}
    finally:
        for kind, obj_id in [m for m in made if m[0] == "subnets"] + \
                [m for m in made if m[0] == "networks"]:
            api.http.delete(f"/{kind}/{obj_id}")


@pytest.fixture
def v2(api: LabApi) -> Iterator[V2Client]:
    client = V2Client(api)
    made: list[str] = []
    client.made = made  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        for lb_id in made:
            client.http.delete(f"{V2}/loadbalancers/{lb_id}?cascade=true")
            wait_until(lambda lb_id=lb_id: client.http.get(
                f"{V2}/loadbalancers/{lb_id}").status_code == 404, timeout=30,
                message=f"load balancer {lb_id} deleted")


def _routes(namespace: str) -> list[dict[str, Any]]:
    return list(json.loads(netns(namespace, "ip", "-j", "-4", "route", "show").stdout))


def _addresses(namespace: str) -> dict[str, list[str]]:
    links = json.loads(netns(namespace, "ip", "-j", "-4", "addr", "show").stdout)
    return {link["ifname"]: [a["local"] for a in link.get("addr_info", [])]
            for link in links}


def _client_get(url: str, n: int) -> list[str]:
    return netlab.client_get(SPEC, url, n, ns=ns_name(CLIENT[0]))


def test_members_on_another_subnet_serve_through_the_vip(
        v2: V2Client, api: LabApi, lab: MemberLab, networks: dict[str, Any]) -> None:
    subnet_a, subnet_b = networks["a"], networks["b"]
    lb = v2.call("POST", f"{V2}/loadbalancers", {"loadbalancer": {
        "name": "tq-lb", "vip_subnet_id": subnet_a["id"], "listeners": [{
            "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                    {"address": B1[1], "protocol_port": 80, "subnet_id": subnet_b["id"]},
                    {"address": B2[1], "protocol_port": 80,
                     "subnet_id": subnet_b["id"]}]}}]}}, 201)["loadbalancer"]
    v2.made.append(lb["id"])  # type: ignore[attr-defined]
    lb = v2.wait_active(lb["id"])
    namespace = NS_PREFIX + lb["id"]
    ports = [p for p in api.get(f"/ports?device_id={lb['id']}")["ports"]
             if p["id"] != lb["vip_port_id"]]
    assert len(ports) == 1, ports
    member_port = ports[0]
    member_address = member_port["fixed_ips"][0]["ip_address"]
    assert member_port["fixed_ips"][0]["subnet_id"] == subnet_b["id"]
    assert member_port["binding:host_id"].startswith("tq-host-")
    assert member_port["status"] == "ACTIVE"

    # Both members answer through the VIP: b1 on B directly, b2 behind B's host route.
    bodies = _client_get(f"http://{lb['vip_address']}/", 8)
    assert set(bodies) == {B1[0], B2[0]}, bodies

    # The namespace: the member port's device with its own address, B's host route,
    # and the only default route via A's gateway on the VIP's device.
    addresses = _addresses(namespace)
    member_dev = next(dev for dev, addrs in addresses.items() if member_address in addrs)
    vip_dev = next(dev for dev, addrs in addresses.items() if lb["vip_address"] in addrs)
    assert member_dev != vip_dev and len(member_dev) <= 15
    assert member_dev.endswith(member_port["id"][:11])
    routes = _routes(namespace)
    defaults = [r for r in routes if r["dst"] == "default"]
    assert [(r["dev"], r.get("gateway")) for r in defaults] == [(vip_dev, "10.98.100.1")]
    assert {"dst": CIDR_C, "gateway": ROUTER_B, "dev": member_dev} in [
        {k: r.get(k) for k in ("dst", "gateway", "dev")} for r in routes]
    if lab.driver == "ovs":
        assert "tap" + member_port["id"][:11] in ovs_lib.list_ports(BRIDGE_B, lab.db)

    # The last members on B go: the device leaves the namespace, the port is freed.
    pool_id = lb["pools"][0]["id"]
    v2.call("PUT", f"{V2}/pools/{pool_id}/members", {"members": []}, 202)
    v2.wait_active(lb["id"])
    wait_until(lambda: member_dev not in _addresses(namespace), timeout=10,
               message="member device removed")
    assert vip_dev in _addresses(namespace)
    assert not [r for r in _routes(namespace) if r.get("dev") == member_dev]
    assert api.http.get(f"/ports/{member_port['id']}").status_code == 404
    if lab.driver == "ovs":
        assert "tap" + member_port["id"][:11] not in ovs_lib.list_ports(BRIDGE_B, lab.db)

    # A member on B again: a new port, plugged, serving.
    v2.call("POST", f"{V2}/pools/{pool_id}/members", {"member": {
        "address": B1[1], "protocol_port": 80, "subnet_id": subnet_b["id"]}}, 201)
    v2.wait_active(lb["id"])
    assert set(_client_get(f"http://{lb['vip_address']}/", 3)) == {B1[0]}

    # The load balancer's delete takes the namespace and every port with it.
    v2.call("DELETE", f"{V2}/loadbalancers/{lb['id']}?cascade=true", want=204)
    wait_until(lambda: v2.http.get(f"{V2}/loadbalancers/{lb['id']}").status_code == 404,
               timeout=30, message="load balancer deleted")
    v2.made.remove(lb["id"])  # type: ignore[attr-defined]
    assert api.get(f"/ports?device_id={lb['id']}")["ports"] == []
    wait_until(lambda: namespace not in netns_list(), timeout=10,
               message="namespace removed")
    if lab.driver == "ovs":
        assert not [p for p in ovs_lib.list_ports(BRIDGE_B, lab.db) if p.startswith("tap")]


def netns_list() -> list[str]:
    out = netlab.sh("ip", "netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _ifindex(namespace: str, device: str) -> int:
    link = json.loads(netns(namespace, "ip", "-j", "link", "show", "dev", device).stdout)
    return int(link[0]["ifindex"])


def test_a_restarted_agent_adopts_member_devices_and_a_failover_replugs_them(
        v2: V2Client, api: LabApi, service: Service, networks: dict[str, Any]) -> None:
    subnet_a, subnet_b = networks["a"], networks["b"]
    lb = v2.call("POST", f"{V2}/loadbalancers", {"loadbalancer": {
        "name": "tq-lb2", "vip_subnet_id": subnet_a["id"], "listeners": [{
            "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                    {"address": B1[1], "protocol_port": 80,
                     "subnet_id": subnet_b["id"]}]}}]}}, 201)["loadbalancer"]
    v2.made.append(lb["id"])  # type: ignore[attr-defined]
    lb = v2.wait_active(lb["id"])
    namespace = NS_PREFIX + lb["id"]
    [member_port] = [p for p in api.get(f"/ports?device_id={lb['id']}")["ports"]
                     if p["id"] != lb["vip_port_id"]]
    address = member_port["fixed_ips"][0]["ip_address"]
    device = next(dev for dev, addrs in _addresses(namespace).items() if address in addrs)
    before = _ifindex(namespace, device)
    assert set(_client_get(f"http://{lb['vip_address']}/", 2)) == {B1[0]}

    service.stop()
    service.start()
    # The restarted agent has looked at the instance once a change is deployed again.
    pool_id = lb["pools"][0]["id"]
    v2.call("PUT", f"{V2}/pools/{pool_id}", {"pool": {"name": "after-restart"}})
    v2.wait_active(lb["id"])
    assert _ifindex(namespace, device) == before
    assert address in _addresses(namespace)[device]
    assert set(_client_get(f"http://{lb['vip_address']}/", 2)) == {B1[0]}

    # A failover rebuilds the data plane: a new member device, serving again.
    v2.call("PUT", f"{V2}/loadbalancers/{lb['id']}/failover", want=202)
    v2.wait_active(lb["id"])
    assert address in _addresses(namespace)[device]
    assert _ifindex(namespace, device) != before
    assert set(_client_get(f"http://{lb['vip_address']}/", 2)) == {B1[0]}
