"""Members on other subnets (docs/architecture.md, "Member ports"): the load balancer's
own port on each member subnet other than the VIP's, allocated with the first member
there, shared by the next, freed after the last one's delete is confirmed and with the
load balancer; Octavia's answer to a subnet that does not exist; the port in the
logical device and in /v2.0/ports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.builders import FakeAgent, make_network, make_subnet, wait_for
from tests.api.conftest import ServerFactory
from tests.api.test_octavia import Octavia
from tests.helpers.server import Api, ServerProcess

UNKNOWN = "8f1c0b52-5f43-4a8f-9d59-0d6a3c3c9f11"


@pytest.fixture
def octavia(api: Api, physnet: str) -> Octavia:
    agent = FakeAgent(api, [physnet]).register()
    net = make_network(api, **{"provider:physical_network": physnet})
    subnet = make_subnet(api, net["id"], cidr="10.61.0.0/24")
    return Octavia(api, agent, subnet)


@pytest.fixture
def subnet_b(api: Api, physnet: str) -> dict[str, Any]:
    net = make_network(api, **{"provider:physical_network": physnet})
    return make_subnet(api, net["id"], cidr="10.62.0.0/24",
                       host_routes=[{"destination": "10.63.0.0/24",
                                     "nexthop": "10.62.0.254"}])


def _lb_with_pool(octavia: Octavia) -> tuple[dict[str, Any], str]:
    lb = octavia.active_lb()
    pool = octavia.ok("POST", "/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
        201)["pool"]
    octavia.deploy(lb["id"])
    return lb, pool["id"]


def _member_ports(api: Api, lb_id: str) -> list[dict[str, Any]]:
    return [p for p in api.list("port", device_id=lb_id)
            if p["name"].startswith("octavia-lb-member-")]


def _add_member(octavia: Octavia, lb_id: str, pool_id: str, address: str,
                subnet_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"address": address, "protocol_port": 80}
    if subnet_id is not None:
        body["subnet_id"] = subnet_id
    member = octavia.ok("POST", f"/pools/{pool_id}/members", {"member": body}, 201)["member"]
    octavia.deploy(lb_id)
    return dict(member)


def _delete_member(octavia: Octavia, lb_id: str, pool_id: str, member_id: str) -> None:
    octavia.ok("DELETE", f"/pools/{pool_id}/members/{member_id}", status=204)


def test_a_member_on_another_subnet_gets_one_port_shared_and_freed(
        octavia: Octavia, subnet_b: dict[str, Any]) -> None:
    api = octavia.api
    lb, pool_id = _lb_with_pool(octavia)
    # A member on the VIP's subnet (or naming none) needs no port.
    _add_member(octavia, lb["id"], pool_id, "10.61.0.50", octavia.subnet["id"])
    _add_member(octavia, lb["id"], pool_id, "10.61.0.51", None)
    assert _member_ports(api, lb["id"]) == []
    first = _add_member(octavia, lb["id"], pool_id, "10.62.0.10", subnet_b["id"])
    ports = _member_ports(api, lb["id"])
    assert len(ports) == 1
    port = ports[0]
    assert port["fixed_ips"][0]["subnet_id"] == subnet_b["id"]
    assert port["fixed_ips"][0]["ip_address"] != subnet_b["gateway_ip"]
    assert port["device_owner"] == "Octavia" and port["device_id"] == lb["id"]
    assert port["binding:host_id"] == octavia.agent.host
    assert port["mac_address"] != api.get(f"/ports/{lb['vip_port_id']}").json()[
        "port"]["mac_address"]
    # The device carries it whole, as the VIP port.
    device = octavia.agent.typed_logical_device(lb["id"])["loadbalancer"]
    carried = device["member_ports"][""]
    assert [p["id"] for p in carried] == [port["id"]]
    assert carried[0]["fixed_ips"][0]["subnet"]["cidr"] == "10.62.0.0/24"
    assert carried[0]["fixed_ips"][0]["subnet"]["host_routes"] == subnet_b["host_routes"]
    assert carried[0]["network"]["id"] == subnet_b["network_id"]
    # A second member on the subnet reuses it.
    second = _add_member(octavia, lb["id"], pool_id, "10.62.0.11", subnet_b["id"])
    assert [p["id"] for p in _member_ports(api, lb["id"])] == [port["id"]]
    # The port is the load balancer's: no one deletes it by hand.
    resp = api.delete(f"/ports/{port['id']}")
    assert resp.status_code == 409, resp.text
    _delete_member(octavia, lb["id"], pool_id, first["id"])
    octavia.deploy(lb["id"])
    assert [p["id"] for p in _member_ports(api, lb["id"])] == [port["id"]]
    # The last member's delete: the port leaves the device at once (the agent unplugs
    # it), and is freed when the agent confirms.
    _delete_member(octavia, lb["id"], pool_id, second["id"])
    device = octavia.agent.typed_logical_device(lb["id"])["loadbalancer"]
    assert device["member_ports"] == {}
    assert len(_member_ports(api, lb["id"])) == 1
    octavia.deploy(lb["id"])
    assert _member_ports(api, lb["id"]) == []
    assert api.get(f"/ports/{port['id']}").status_code == 404


def test_deleting_the_load_balancer_frees_its_member_ports(
        octavia: Octavia, subnet_b: dict[str, Any]) -> None:
    api = octavia.api
    lb, pool_id = _lb_with_pool(octavia)
    _add_member(octavia, lb["id"], pool_id, "10.62.0.20", subnet_b["id"])
    [port] = _member_ports(api, lb["id"])
    octavia.ok("DELETE", f"/loadbalancers/{lb['id']}", params={"cascade": "true"},
               status=204)
    octavia.agent.destroyed(lb["id"])
    assert api.get(f"/ports/{port['id']}").status_code == 404
    assert api.get(f"/ports/{lb['vip_port_id']}").status_code == 404
    # The subnet is free again.
    assert api.delete(f"/subnets/{subnet_b['id']}").status_code == 204


def test_single_call_create_and_batch_update_allocate_per_subnet(
        octavia: Octavia, subnet_b: dict[str, Any], api: Api, physnet: str) -> None:
    net_c = make_network(api, **{"provider:physical_network": physnet})
    subnet_c = make_subnet(api, net_c["id"], cidr="10.64.0.0/24")
    lb = octavia.create_lb(listeners=[{
        "protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                {"address": "10.62.0.30", "protocol_port": 80, "subnet_id": subnet_b["id"]},
                {"address": "10.62.0.31", "protocol_port": 80, "subnet_id": subnet_b["id"]},
            ]}}])
    octavia.deploy(lb["id"])
    ports = _member_ports(api, lb["id"])
    assert [p["fixed_ips"][0]["subnet_id"] for p in ports] == [subnet_b["id"]]
    pool_id = octavia.show("loadbalancer", lb["id"])["pools"][0]["id"]
    # The batch moves both members to subnet C: a port there, B's freed once confirmed.
    octavia.ok("PUT", f"/pools/{pool_id}/members", {"members": [
        {"address": "10.62.0.30", "protocol_port": 80, "subnet_id": subnet_c["id"]},
        {"address": "10.64.0.32", "protocol_port": 80, "subnet_id": subnet_c["id"]}]},
        status=202)
    octavia.deploy(lb["id"])
    ports = _member_ports(api, lb["id"])
    assert [p["fixed_ips"][0]["subnet_id"] for p in ports] == [subnet_c["id"]]


def test_unknown_member_subnet_is_octavias_400(octavia: Octavia) -> None:
    lb, pool_id = _lb_with_pool(octavia)
    for subnet_id in (UNKNOWN, "not-a-uuid"):
        resp = octavia.request("POST", f"/pools/{pool_id}/members", {"member": {
            "address": "10.62.0.40", "protocol_port": 80, "subnet_id": subnet_id}})
        if subnet_id == UNKNOWN:
            assert octavia.fault(resp, 400) == f"Subnet {UNKNOWN} not found."
        else:
            octavia.fault(resp, 400)
    resp = octavia.request("PUT", f"/pools/{pool_id}/members", {"members": [
        {"address": "10.62.0.40", "protocol_port": 80, "subnet_id": UNKNOWN}]})
    assert octavia.fault(resp, 400) == f"Subnet {UNKNOWN} not found."
    # Nothing was left behind, the load balancer still takes changes.
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"
    assert _member_ports(octavia.api, lb["id"]) == []


def test_a_full_member_subnet_fails_the_change_and_leaves_nothing(
        octavia: Octavia, api: Api, physnet: str) -> None:
    net = make_network(api, **{"provider:physical_network": physnet})
    # A /30 with its gateway: one address to give, taken here by a tenant port.
    tiny = make_subnet(api, net["id"], cidr="10.66.0.0/30")
    api.create("port", network_id=net["id"])
    lb, pool_id = _lb_with_pool(octavia)
    ports_before = len(api.list("port"))
    resp = octavia.request("POST", f"/pools/{pool_id}/members", {"member": {
        "address": "10.66.0.2", "protocol_port": 80, "subnet_id": tiny["id"]}})
    assert resp.status_code == 409, resp.text
    assert len(api.list("port")) == ports_before
    assert octavia.ok("GET", f"/pools/{pool_id}/members")["members"] == []
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"


def test_a_member_subnet_the_agent_does_not_map_is_refused(
        octavia: Octavia, api: Api, physnet: str) -> None:
    net = make_network(api, **{"provider:physical_network": physnet + "-unmapped"})
    far = make_subnet(api, net["id"], cidr="10.67.0.0/24")
    lb, pool_id = _lb_with_pool(octavia)
    resp = octavia.request("POST", f"/pools/{pool_id}/members", {"member": {
        "address": "10.67.0.2", "protocol_port": 80, "subnet_id": far["id"]}})
    assert "does not map" in octavia.fault(resp, 400)
    assert _member_ports(api, lb["id"]) == []


def test_scheduling_picks_an_agent_that_maps_the_member_networks_too(
        api: Api, physnet: str) -> None:
    member_physnet = physnet + "-members"
    both = FakeAgent(api, [physnet, member_physnet]).register()
    vip_only = FakeAgent(api, [physnet]).register()
    # The agent that maps both is the busier one: only its networks make it the choice.
    net = make_network(api, **{"provider:physical_network": physnet})
    subnet = make_subnet(api, net["id"], cidr="10.70.0.0/24")
    busy = Octavia(api, both, subnet).create_lb()
    assert busy["id"] in both.ready_devices()
    net_b = make_network(api, **{"provider:physical_network": member_physnet})
    subnet_b = make_subnet(api, net_b["id"], cidr="10.71.0.0/24")
    octavia = Octavia(api, both, subnet)
    lb = octavia.create_lb(listeners=[{
        "protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                {"address": "10.71.0.10", "protocol_port": 80,
                 "subnet_id": subnet_b["id"]}]}}])
    assert lb["id"] in both.ready_devices()
    assert lb["id"] not in vip_only.ready_devices()
    [port] = _member_ports(api, lb["id"])
    assert port["binding:host_id"] == both.host


# --- rescheduling -----------------------------------------------------------------------

DOWN_TIME = 2


@pytest.fixture(scope="module")
def ha_server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    srv = server_factory(backend, conf={"agent": {"agent_down_time": DOWN_TIME}})
    yield srv
    srv.cleanup()


def test_rescheduling_rebinds_member_ports_to_a_host_that_maps_their_network(
        ha_server: ServerProcess, physnet: str) -> None:
    with Api(ha_server.url) as ha:
        member_physnet = physnet + "-members"
        dying = FakeAgent(ha, [physnet, member_physnet]).register()
        net = make_network(ha, **{"provider:physical_network": physnet})
        subnet = make_subnet(ha, net["id"], cidr="10.68.0.0/24")
        net_b = make_network(ha, **{"provider:physical_network": member_physnet})
        subnet_b = make_subnet(ha, net_b["id"], cidr="10.69.0.0/24")
        octavia = Octavia(ha, dying, subnet, prefix="/v2/lbaas")
        lb, pool_id = _lb_with_pool(octavia)
        _add_member(octavia, lb["id"], pool_id, "10.69.0.10", subnet_b["id"])
        [port] = _member_ports(ha, lb["id"])
        assert port["binding:host_id"] == dying.host
        # Maps the VIP's network only: it cannot take the load balancer.
        partial = FakeAgent(ha, [physnet]).register()
        survivor = FakeAgent(ha, [physnet, member_physnet]).register()

        def moved() -> bool:
            for agent in (partial, survivor):
                agent.heartbeat()
            return lb["id"] in survivor.ready_devices()

        wait_for(moved, timeout=DOWN_TIME + 8)
        assert lb["id"] not in partial.ready_devices()
        assert ha.get(f"/ports/{port['id']}").json()["port"]["binding:host_id"] == \
            survivor.host
        assert ha.get(f"/ports/{lb['vip_port_id']}").json()["port"][
            "binding:host_id"] == survivor.host
