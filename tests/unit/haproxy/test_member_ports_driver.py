"""Member ports on the agent (docs/architecture.md, "Member ports"), with the kernel
replaced by the recorders of test_haproxy_driver_logic: one device per port of the
device's ``member_ports``, its address and host routes but no default route, removed
when the port leaves the device and with the instance, and an adopted instance's
devices reconciled, not re-plugged."""

# The fixtures come from test_haproxy_driver_logic; pytest passes them by name.
# ruff: noqa: F811
from __future__ import annotations

from typing import Any

from lbaas.agent.drivers.haproxy import namespace_driver as nd
from lbaas.common.logical_device import LoadBalancer, Port
from tests.unit.haproxy.haproxy_sample_device import POOL_ID
from tests.unit.haproxy.test_haproxy_driver_logic import (  # noqa: F401 (fixtures)
    driver,
    haproxy,
    linux,
    typed,
    with_generation,
)

PORT_B = "5b0e7a4c-1111-4d4e-9a53-0a1b2c3d4e5f"
PORT_C = "6c1f8b5d-2222-4e5f-8b64-1b2c3d4e5f60"


def member_port(port_id: str, cidr: str, address: str, mac: str,
                host_routes: list[dict[str, str]] | None = None,
                gateway: str | None = None) -> dict[str, Any]:
    subnet = {"id": "sub-" + port_id[:4], "cidr": cidr, "gateway_ip": gateway,
              "host_routes": host_routes or []}
    return {"id": port_id, "network_id": "net-" + port_id[:4], "mac_address": mac,
            "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": address,
                           "subnet": subnet}],
            "network": {"id": "net-" + port_id[:4], "provider:physical_network": "members",
                        "provider:network_type": "vlan", "provider:segmentation_id": 7}}


PORT_B_DICT = member_port(PORT_B, "10.98.101.0/24", "10.98.101.5", "fa:16:3e:00:00:0b",
                          host_routes=[{"destination": "10.98.102.0/24",
                                        "nexthop": "10.98.101.254"},
                                       {"destination": "0.0.0.0/0",
                                        "nexthop": "10.98.101.1"}],
                          gateway="10.98.101.1")
PORT_C_DICT = member_port(PORT_C, "10.98.103.0/24", "10.98.103.5", "fa:16:3e:00:00:0c")


def with_member_ports(ld: dict[str, Any], *ports: dict[str, Any]) -> LoadBalancer:
    lb = typed(ld)
    return lb.model_copy(update={"member_ports": {"": [Port.model_validate(p)
                                                       for p in ports]}})


def test_member_port_l3_has_no_default_route_whatever_the_subnet_says() -> None:
    addresses, routes = nd.member_port_l3(Port.model_validate(PORT_B_DICT))
    assert addresses == [("10.98.101.5", 24)]
    assert routes == [{"destination": "10.98.102.0/24", "nexthop": "10.98.101.254"}]


def test_member_ports_of_picks_the_single_set_or_this_hosts_amphora() -> None:
    port = Port.model_validate(PORT_B_DICT)
    lb = LoadBalancer.model_validate({
        "id": "lb", "vip_address": "10.98.100.5",
        "vip_port": {**PORT_C_DICT}, "member_ports": {"": [PORT_B_DICT]}})
    assert nd.member_ports_of(lb, "host-1") == [port]
    vrrp = {**PORT_C_DICT}
    pair = LoadBalancer.model_validate({
        **lb.model_dump(by_alias=True), "topology": "ACTIVE_STANDBY",
        "member_ports": {"amp-2": [PORT_B_DICT]},
        "amphorae": [
            {"id": "amp-1", "host": "host-1", "role": "MASTER", "vrrp_priority": 100,
             "vrrp_port": vrrp},
            {"id": "amp-2", "host": "host-2", "role": "BACKUP", "vrrp_priority": 90,
             "vrrp_port": vrrp}]})
    assert nd.member_ports_of(pair, "host-1") == []
    assert nd.member_ports_of(pair, "host-2") == [port]


def test_create_plugs_each_member_port_without_a_default_route(
        driver, logical_device, linux, monkeypatch) -> None:
    monkeypatch.setattr(driver, "_spawn", lambda lb: None)
    lb = with_member_ports(logical_device(), PORT_B_DICT, PORT_C_DICT)
    driver.create(lb)
    namespace = nd.get_ns_name(POOL_ID)
    dev_b, dev_c = "tap" + PORT_B[:11], "tap" + PORT_C[:11]
    calls = driver.vif_driver.calls
    assert ("plug", "net-5b0e", PORT_B, dev_b, "fa:16:3e:00:00:0b", namespace) in calls
    assert ("init_l3", dev_b, ["10.98.101.5/24"], namespace) in calls
    assert ("plug", "net-6c1f", PORT_C, dev_c, "fa:16:3e:00:00:0c", namespace) in calls
    assert (namespace, dev_b, None,
            [{"destination": "10.98.102.0/24", "nexthop": "10.98.101.254"}]) in linux["routes"]
    assert (namespace, dev_c, None, []) in linux["routes"]
    # Only the VIP's device has a gateway.
    assert [r[1] for r in linux["routes"] if r[2] is not None] == [
        "tap" + lb.vip_port.id[:11]]
    assert ("plug_vip_port", PORT_B, "host-1") in driver.plugin_rpc.calls
    assert driver._load_instance(POOL_ID)["member_ports"] == {PORT_B: dev_b, PORT_C: dev_c}
    # Device names are the VIP's rule, inside IFNAMSIZ.
    assert all(len(d) <= 15 for d in (dev_b, dev_c))


def test_a_port_leaving_the_device_is_unplugged_and_the_rest_left_alone(
        driver, logical_device, linux, monkeypatch) -> None:
    monkeypatch.setattr(driver, "_spawn", lambda lb: None)
    ld = logical_device()
    driver.create(with_member_ports(ld, PORT_B_DICT, PORT_C_DICT))
    linux["devices"].extend(["tap" + PORT_B[:11], "tap" + PORT_C[:11],
                             "tap" + typed(ld).vip_port.id[:11]])
    driver.vif_driver.calls.clear()
    driver.plugin_rpc.calls.clear()
    driver.update(with_member_ports(ld, PORT_B_DICT))
    namespace = nd.get_ns_name(POOL_ID)
    calls = driver.vif_driver.calls
    assert ("unplug", "tap" + PORT_C[:11], namespace) in calls
    assert not [c for c in calls if c[0] == "plug"]
    assert ("unplug_vip_port", PORT_C, "host-1") in driver.plugin_rpc.calls
    assert driver._load_instance(POOL_ID)["member_ports"] == {PORT_B: "tap" + PORT_B[:11]}


def test_an_adopted_instance_is_reconciled_not_replugged(
        driver, logical_device, linux, monkeypatch) -> None:
    monkeypatch.setattr(driver, "_spawn", lambda lb: None)
    ld = logical_device()
    lb = with_member_ports(ld, PORT_B_DICT)
    driver.create(lb)
    linux["devices"].extend(["tap" + PORT_B[:11], "tap" + lb.vip_port.id[:11]])
    driver.vif_driver.calls.clear()
    driver.plugin_rpc.calls.clear()
    # A new driver over the same state directory: the agent restarted.
    again = nd.HaproxyNSDriver(driver.options, driver.plugin_rpc, driver.vif_driver,
                               "host-1")
    monkeypatch.setattr(again, "_spawn", lambda lb: None)
    again.update(lb)
    assert not [c for c in driver.vif_driver.calls if c[0] in ("plug", "unplug")]
    assert driver.plugin_rpc.calls == []
    # A device that vanished behind the agent's back is plugged again.
    linux["devices"].remove("tap" + PORT_B[:11])
    again.update(lb)
    assert [c[0] for c in driver.vif_driver.calls].count("plug") == 1


def test_undeploy_unplugs_member_ports_too(driver, logical_device, linux,
                                           monkeypatch) -> None:
    monkeypatch.setattr(driver, "_spawn", lambda lb: None)
    monkeypatch.setattr(nd.process, "namespace_pids", lambda ns: [])
    driver.create(with_member_ports(logical_device(), PORT_B_DICT))
    driver.undeploy_instance(POOL_ID)
    assert ("unplug", "tap" + PORT_B[:11], nd.get_ns_name(POOL_ID)) in \
        driver.vif_driver.calls
    assert ("unplug_vip_port", PORT_B, "host-1") in driver.plugin_rpc.calls


def test_a_vip_replug_keeps_the_member_record(driver, logical_device, linux,
                                              monkeypatch) -> None:
    monkeypatch.setattr(driver, "_spawn", lambda lb: None)
    ld = logical_device()
    lb = with_member_ports(ld, PORT_B_DICT)
    driver.create(lb)
    driver._plug(nd.get_ns_name(POOL_ID), lb.vip_port)
    assert driver._load_instance(POOL_ID)["member_ports"] == {PORT_B: "tap" + PORT_B[:11]}


def test_a_failover_replugs_member_ports_with_the_vip(driver, logical_device, linux,
                                                     haproxy) -> None:
    ld = logical_device()

    def device(generation: int) -> Any:
        plain = with_generation(ld, generation)
        return plain.model_copy(update={"loadbalancer": plain.loadbalancer.model_copy(
            update={"member_ports": {"": [Port.model_validate(PORT_B_DICT)]}})})

    assert driver.deploy_instance(device(0))
    driver.vif_driver.calls.clear()
    assert driver.deploy_instance(device(1))
    vip_dev, member_dev = "tap" + ld["vip"]["port"]["id"][:11], "tap" + PORT_B[:11]
    assert [c for c in driver.vif_driver.calls if c[0] != "init_l3"] == [
        ("stop", (101,)), ("unplug", member_dev), ("unplug", vip_dev), ("plug", vip_dev),
        ("plug", member_dev), ("spawn", 102)]
    assert driver._load_instance(POOL_ID)["member_ports"] == {PORT_B: member_dev}
