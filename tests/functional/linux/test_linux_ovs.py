"""The OVS interface driver against a private userspace Open vSwitch."""

from __future__ import annotations

import pytest

from lbaas.agent.linux import interface, ip_lib, ovs_lib

from .topology import port_id, tcp_exchange

FLAT = {"id": "net-flat", "provider:physical_network": "physnet1",
        "provider:network_type": "flat", "provider:segmentation_id": None, "mtu": 1500}
VLAN = {"id": "net-vlan", "provider:physical_network": "physnet1",
        "provider:network_type": "vlan", "provider:segmentation_id": 42, "mtu": 1500}


@pytest.fixture
def make_driver(private_ovs, ovs_bridge):
    def make(**overrides) -> interface.OVSInterfaceDriver:
        fields = {"interface_driver": "ovs", "bridge_mappings": {"physnet1": ovs_bridge},
                  "ovs_use_veth": True, **overrides}
        drv = interface.get_interface_driver(interface.InterfaceOptions(**fields),
                                             ovsdb=private_ovs.db)
        assert isinstance(drv, interface.OVSInterfaceDriver)
        return drv
    return make


@pytest.fixture
def plugged(make_driver, namespaces):
    made = []

    def plug(network=FLAT, cidr="10.91.10.10/24", mac="fa:16:3e:91:10:01", **overrides):
        drv = make_driver(**overrides)
        pid = port_id()
        ns = namespaces.add(f"tl-o{pid[2:10]}")
        dev = drv.get_device_name({"id": pid})
        made.append((drv, dev, ns))
        drv.plug(network, pid, dev, mac, ns)
        drv.init_l3(dev, [cidr], ns)
        return drv, pid, dev, ns

    yield plug
    for drv, dev, ns in made:
        drv.unplug(dev, ns)


def test_veth_port_is_on_the_bridge_with_neutron_external_ids(plugged, ovs_bridge, private_ovs):
    _, pid, dev, ns = plugged()
    assert ovs_lib.list_ports(ovs_bridge, private_ovs.db) == [dev]
    ids = ovs_lib.get_interface_external_ids(dev, private_ovs.db)
    assert ids == {"iface-id": pid, "iface-status": "active",
                   "attached-mac": "fa:16:3e:91:10:01"}
    assert ovs_lib.get_port_tag(dev, private_ovs.db) is None
    inner = ip_lib.get_device("ns-" + dev[3:], ns)
    assert inner is not None and inner.up and inner.mac == "fa:16:3e:91:10:01"
    assert ip_lib.get_device(dev).up


def test_vlan_network_port_is_tagged(plugged, private_ovs):
    _, _, dev, _ = plugged(network=VLAN)
    assert ovs_lib.get_port_tag(dev, private_ovs.db) == 42


def test_tcp_flows_between_two_namespaces_through_the_userspace_switch(plugged):
    _, _, _, vip_ns = plugged(cidr="10.91.10.10/24", mac="fa:16:3e:91:10:01")
    _, _, _, client_ns = plugged(cidr="10.91.10.20/24", mac="fa:16:3e:91:10:02")
    out = tcp_exchange(vip_ns, client_ns, "10.91.10.10")
    assert out.startswith(f"{200_000 + len('hello from 10.91.10.10 ')} hello from 10.91.10.10")


def test_plugging_twice_changes_nothing(plugged, ovs_bridge, private_ovs):
    drv, pid, dev, ns = plugged()
    before = (ip_lib.get_device(dev), ip_lib.get_device("ns-" + dev[3:], ns))
    drv.plug(FLAT, pid, dev, "fa:16:3e:91:10:01", ns)
    assert (ip_lib.get_device(dev), ip_lib.get_device("ns-" + dev[3:], ns)) == before
    assert ovs_lib.list_ports(ovs_bridge, private_ovs.db) == [dev]


def test_unplug_removes_port_and_veth(plugged, ovs_bridge, private_ovs):
    drv, _, dev, ns = plugged()
    drv.unplug(dev, ns)
    assert ovs_lib.list_ports(ovs_bridge, private_ovs.db) == []
    assert not ip_lib.device_exists(dev)
    assert not ip_lib.device_exists("ns-" + dev[3:], ns)
    drv.unplug(dev, ns)


def test_unmapped_network_falls_back_to_the_integration_bridge(make_driver, ovs_bridge):
    drv = make_driver(bridge_mappings={}, ovs_integration_bridge=ovs_bridge)
    assert drv.get_bridge({"provider:physical_network": "physnet7"}) == ovs_bridge


def test_missing_bridge_is_a_clear_error(make_driver):
    drv = make_driver(bridge_mappings={}, ovs_integration_bridge="tlovsmissing")
    with pytest.raises(interface.InterfaceDriverError, match="tlovsmissing"):
        drv.plug(FLAT, port_id(), "taptlmissing", "fa:16:3e:91:10:09", "tl-never-made")


def test_internal_port_is_moved_into_the_namespace(plugged, ovs_bridge, private_ovs):
    _, _, dev, ns = plugged(ovs_use_veth=False)
    assert ovs_lib.list_ports(ovs_bridge, private_ovs.db) == [dev]
    inner = ip_lib.get_device(dev, ns)
    assert inner is not None and inner.up and inner.mac == "fa:16:3e:91:10:01"
    assert not ip_lib.device_exists(dev)


def test_tcp_reaches_an_internal_port_namespace(plugged):
    _, _, _, vip_ns = plugged(cidr="10.91.11.10/24", mac="fa:16:3e:91:11:01",
                              ovs_use_veth=False)
    _, _, _, client_ns = plugged(cidr="10.91.11.20/24", mac="fa:16:3e:91:11:02")
    out = tcp_exchange(vip_ns, client_ns, "10.91.11.10")
    assert out.startswith(f"{200_000 + len('hello from 10.91.11.10 ')} hello from 10.91.11.10")


def test_port_follows_its_network_to_a_new_bridge(plugged, private_ovs, ovs_bridge):
    other = ovs_bridge + "b"
    ovs_lib.ensure_bridge(other, private_ovs.db)
    try:
        drv, pid, dev, ns = plugged()
        moved = interface.OVSInterfaceDriver(
            interface.InterfaceOptions(interface_driver="ovs", bridge_mappings={},
                                       ovs_integration_bridge=other), ovsdb=private_ovs.db)
        moved.plug(FLAT, pid, dev, "fa:16:3e:91:10:01", ns)
        assert ovs_lib.port_bridge(dev, private_ovs.db) == other
        assert ovs_lib.list_ports(ovs_bridge, private_ovs.db) == []
    finally:
        ovs_lib.delete_bridge(other, private_ovs.db)
