"""VIPs plugged by the OVS interface driver, built through the REST API with the agent
running: a flat network and a vlan network on a userspace Open vSwitch (conftest.py)."""

from __future__ import annotations

from collections import Counter

from lbaas.agent.linux import ip_lib, ovs_lib
from tests.functional.e2e.conftest import Api
from tests.functional.e2e_ovs.conftest import (
    BACKENDS,
    BRIDGE,
    VLAN_ID,
    LoadBalancer,
    OvsLab,
    Service,
    Tenant,
    client_get,
    netns,
    vip_device,
    wait_until,
)


def test_flat_vip_via_ovs_answers_and_round_robins(flat_tenant: Tenant, api: Api,
                                                    lab: OvsLab) -> None:
    lb = flat_tenant.create_lb(("f1", "f2", "f3"))

    bodies = client_get("fcl", lb.url, 30)

    assert Counter(bodies) == {"f1": 10, "f2": 10, "f3": 10}
    port = api.get(f"/ports/{lb.port_id}")["port"]
    assert port["status"] == "ACTIVE"
    assert port["binding:host_id"] == "to-host"
    device = vip_device(lb)
    assert ovs_lib.port_bridge(device, lab.db) == BRIDGE
    assert ovs_lib.get_port_tag(device, lab.db) is None  # flat: untagged
    # What lets TCP through the userspace datapath: checksums filled in by the kernel.
    features = netns(f"qlbaas-{lb.pool_id}", "ethtool", "-k", "ns-" + device[3:]).stdout
    assert "tx-checksumming: off" in features


def test_vlan_vip_answers_a_client_on_its_vlan(vlan_lb: LoadBalancer, api: Api) -> None:
    for name in ("v1", "v2"):
        api.wait(f"/lb/members/{vlan_lb.members[name]}", "member", "ACTIVE", timeout=20)
    api.wait(f"/lb/members/{vlan_lb.members['x1']}", "member", "INACTIVE", timeout=20)

    bodies = client_get("vcl", vlan_lb.url, 12)

    assert Counter(bodies) == {"v1": 6, "v2": 6}


def test_vlan_vip_port_is_tagged_and_carries_the_neutron_port(vlan_lb: LoadBalancer,
                                                              api: Api,
                                                              lab: OvsLab) -> None:
    port = api.get(f"/ports/{vlan_lb.port_id}")["port"]
    network = api.get(f"/networks/{port['network_id']}")["network"]
    device = vip_device(vlan_lb)

    assert network["provider:segmentation_id"] == VLAN_ID
    assert ovs_lib.port_bridge(device, lab.db) == BRIDGE
    assert ovs_lib.get_port_tag(device, lab.db) == VLAN_ID
    external_ids = ovs_lib.get_interface_external_ids(device, lab.db)
    assert external_ids["iface-id"] == vlan_lb.port_id
    assert external_ids["iface-status"] == "active"
    assert external_ids["attached-mac"] == port["mac_address"]


def test_backend_on_another_vlan_is_unreachable_through_the_vip(
        vlan_lb: LoadBalancer, api: Api) -> None:
    # x1 is alive and serving on its own VLAN: only the VLAN keeps it from the VIP.
    assert client_get("x1", f"http://{BACKENDS['x1'][0]}/") == ["x1"]

    api.wait(f"/lb/members/{vlan_lb.members['x1']}", "member", "INACTIVE", timeout=20)
    bodies = client_get("vcl", vlan_lb.url, 12)

    assert "x1" not in bodies
    assert not [b for b in bodies if b.startswith("ERR")], bodies


def test_vlan_vip_is_unreachable_from_another_vlan(vlan_lb: LoadBalancer) -> None:
    # Same subnet, VLAN 102: ARP for the VIP never reaches VLAN 101.
    bodies = client_get("x1", vlan_lb.url, 2, timeout=2)

    assert all(b.startswith("ERR") for b in bodies), bodies


def test_vip_delete_removes_ovs_port_veth_and_namespace(vlan_tenant: Tenant, api: Api,
                                                        lab: OvsLab,
                                                        service: Service) -> None:
    lb = vlan_tenant.create_lb(("v1",))
    device, namespace = vip_device(lb), f"qlbaas-{lb.pool_id}"
    assert client_get("vcl", lb.url, 2) == ["v1", "v1"]
    assert device in ovs_lib.list_ports(BRIDGE, lab.db)
    assert ip_lib.device_exists(device)
    assert ip_lib.namespace_exists(namespace)

    vlan_tenant.delete_vip(lb)

    wait_until(lambda: not ip_lib.namespace_exists(namespace), timeout=20,
               message=f"{namespace} removed")
    assert device not in ovs_lib.list_ports(BRIDGE, lab.db)
    assert not ip_lib.device_exists(device)
    assert not (service.state / lb.pool_id).exists()
    assert api.http.get(f"/ports/{lb.port_id}").status_code == 404
    assert all(b.startswith("ERR") for b in client_get("vcl", lb.url, 2, timeout=2))
