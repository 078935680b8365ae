"""The Linux bridge interface driver, against a real bridge and real namespaces."""

from __future__ import annotations

import os

import pytest

from lbaas.agent.linux import arping, bridge_lib, interface, ip_lib

from .topology import can_arp, port_id, tcp_exchange

MAC = "fa:16:3e:91:00:01"


def flat_network(physnet: str = "physnet1", mtu: int = 1450) -> dict:
    return {"id": "net-flat", "provider:physical_network": physnet,
            "provider:network_type": "flat", "provider:segmentation_id": None, "mtu": mtu}


def vlan_network(vid: int) -> dict:
    return {"id": f"net-vlan{vid}", "provider:physical_network": "physnet1",
            "provider:network_type": "vlan", "provider:segmentation_id": vid, "mtu": 1500}


@pytest.fixture
def driver(bridge: str) -> interface.LinuxInterfaceDriver:
    opts = interface.InterfaceOptions(interface_driver="linuxbridge",
                                      bridge_mappings={"physnet1": bridge})
    return interface.get_interface_driver(opts)


@pytest.fixture
def plugged(driver, namespaces):
    """A VIP port plugged into a fresh namespace; unplugged at teardown."""
    made = []

    def plug(network: dict | None = None, mac: str = MAC, cidrs=("10.91.1.10/24",)):
        pid = port_id()
        ns = namespaces.add(f"tl-q{pid[2:10]}")
        dev = driver.get_device_name({"id": pid})
        driver.plug(network or flat_network(), pid, dev, mac, ns)
        made.append((dev, ns))
        driver.init_l3(dev, list(cidrs), ns)
        return pid, dev, ns

    yield plug
    for dev, ns in made:
        driver.unplug(dev, ns)


def test_device_name_is_tap_and_eleven_characters_of_the_port_id(driver):
    assert driver.get_device_name({"id": "0123456789abcdef"}) == "tap0123456789a"


def test_plug_puts_a_veth_between_bridge_and_namespace(driver, plugged, bridge):
    _, dev, ns = plugged()
    ns_dev = "ns-" + dev[3:]
    tap = ip_lib.get_device(dev)
    inner = ip_lib.get_device(ns_dev, ns)
    assert tap is not None and inner is not None
    assert tap.master == ip_lib.get_device(bridge).index
    assert tap.up and inner.up
    assert inner.mac == MAC
    assert tap.mtu == inner.mtu == 1450
    assert ip_lib.get_device("lo", ns).up
    assert not ip_lib.device_exists(ns_dev)  # the ns end is not left in the root namespace


def test_network_device_mtu_overrides_the_network_mtu(bridge, namespaces):
    opts = interface.InterfaceOptions(bridge_mappings={"physnet1": bridge},
                                      network_device_mtu=1300)
    drv = interface.get_interface_driver(opts)
    pid = port_id()
    ns = namespaces.add(f"tl-q{pid[2:10]}")
    dev = drv.get_device_name({"id": pid})
    try:
        drv.plug(flat_network(mtu=1450), pid, dev, MAC, ns)
        assert ip_lib.get_device(dev).mtu == 1300
        assert ip_lib.get_device("ns-" + dev[3:], ns).mtu == 1300
    finally:
        drv.unplug(dev, ns)


def test_plugging_twice_changes_nothing_and_repairs_drift(driver, plugged):
    pid, dev, ns = plugged()
    ns_dev = "ns-" + dev[3:]
    before = ip_lib.get_device(ns_dev, ns)
    driver.plug(flat_network(), pid, dev, MAC, ns)
    assert ip_lib.get_device(ns_dev, ns) == before

    ip_lib.set_device(ns_dev, ns, mac="fa:16:3e:91:00:99", mtu=1280, up=False)
    driver.plug(flat_network(), pid, dev, MAC, ns)
    assert ip_lib.get_device(ns_dev, ns) == before


def test_init_l3_reconciles_addresses(driver, plugged):
    _, dev, ns = plugged(cidrs=["10.91.1.10/24", "10.91.1.11/24"])
    ns_dev = "ns-" + dev[3:]
    assert ip_lib.list_addresses(ns_dev, ns) == ["10.91.1.10/24", "10.91.1.11/24"]

    driver.init_l3(dev, ["10.91.1.11/24", "fd00:91:1::11/64"], ns)
    assert ip_lib.list_addresses(ns_dev, ns) == ["10.91.1.11/24", "fd00:91:1::11/64"]
    driver.init_l3(dev, ["10.91.1.11/24", "fd00:91:1::11/64"], ns)
    assert ip_lib.list_addresses(ns_dev, ns) == ["10.91.1.11/24", "fd00:91:1::11/64"]


def test_plugged_namespace_talks_to_a_host_on_the_same_bridge(plugged, bridge, wires):
    _, dev, ns = plugged(cidrs=["10.91.1.10/24"])
    host_ns, host_dev = wires.host_on_linux_bridge(bridge, "10.91.1.20/24")
    assert can_arp(host_ns, host_dev, "10.91.1.10")
    out = tcp_exchange(ns, host_ns, "10.91.1.10")
    assert out.startswith(f"{200_000 + len('hello from 10.91.1.10 ')} hello from 10.91.1.10")


def test_unplug_removes_both_ends_and_tolerates_absence(driver, plugged):
    _, dev, ns = plugged()
    driver.unplug(dev, ns)
    assert not ip_lib.device_exists(dev)
    assert not ip_lib.device_exists("ns-" + dev[3:], ns)
    driver.unplug(dev, ns)
    driver.unplug(dev, "tl-never-made")


def test_unmapped_physical_network_is_a_clear_error(driver, namespaces):
    with pytest.raises(interface.InterfaceDriverError, match="physnet9"):
        driver.plug(flat_network(physnet="physnet9"), port_id(), "taptlnomap", MAC,
                    "tl-never-made")
    assert not ip_lib.namespace_exists("tl-never-made")


def test_missing_bridge_is_a_clear_error(namespaces):
    opts = interface.InterfaceOptions(bridge_mappings={"physnet1": "tlbrmissing"})
    drv = interface.get_interface_driver(opts)
    with pytest.raises(interface.InterfaceDriverError, match="tlbrmissing"):
        drv.plug(flat_network(), port_id(), "taptlnobr", MAC, "tl-never-made")


def test_unknown_driver_name_is_a_clear_error():
    with pytest.raises(interface.InterfaceDriverError, match="linuxbridge"):
        interface.get_interface_driver(interface.InterfaceOptions(interface_driver="hub"))


VLAN_FILTERING = os.geteuid() == 0 and bridge_lib.bridge_vlan_filtering_supported("tlvprobe")


@pytest.mark.skipif(not VLAN_FILTERING, reason="kernel without bridge VLAN filtering")
def test_vlan_ports_reach_their_vlan_only(plugged, bridge, wires):
    _, dev, ns = plugged(network=vlan_network(100), cidrs=["10.91.3.10/24"])
    assert bridge_lib.list_bridge_vlans(dev) == {100: 6}
    same_ns, same = wires.host_on_linux_bridge(bridge, "10.91.3.20/24")
    other_ns, other = wires.host_on_linux_bridge(bridge, "10.91.3.30/24")
    bridge_lib.set_port_access_vlan(wires.links[0], 100)
    bridge_lib.set_port_access_vlan(wires.links[1], 200)
    assert can_arp(same_ns, same, "10.91.3.10")
    assert not can_arp(other_ns, other, "10.91.3.10")


@pytest.mark.skipif(VLAN_FILTERING, reason="kernel has bridge VLAN filtering")
def test_vlan_network_without_kernel_support_fails_clearly(driver, namespaces):
    pid = port_id()
    ns = namespaces.add(f"tl-q{pid[2:10]}")
    dev = driver.get_device_name({"id": pid})
    try:
        with pytest.raises(interface.InterfaceDriverError, match="VLAN filtering"):
            driver.plug(vlan_network(100), pid, dev, MAC, ns)
    finally:
        driver.unplug(dev, ns)


def test_routes_and_garp_accept_the_tap_name_of_a_veth_port(plugged, bridge, wires):
    _, dev, ns = plugged(cidrs=["10.91.1.10/24"])
    ns_dev = "ns-" + dev[3:]
    peer_ns, peer_dev = wires.host_on_linux_bridge(bridge, "10.91.1.20/24")
    ip_lib.set_neighbour(peer_ns, peer_dev, "10.91.1.10", "fa:16:3e:de:ad:01")

    ip_lib.set_l3_routes(ns, dev, "10.91.1.1", [])
    thread = arping.send_garp(ns, dev, ["10.91.1.10"], count=1)
    assert thread is not None
    thread.join(timeout=10)

    assert ip_lib.list_routes(ns_dev, ns) == [{"destination": "0.0.0.0/0", "nexthop": "10.91.1.1"}]
    entries = {e["ip"]: e["mac"] for e in ip_lib.list_neighbours(peer_ns, peer_dev)}
    assert entries["10.91.1.10"] == MAC
