"""/v2.0/networks: the provider attributes VIP plumbing needs."""

from __future__ import annotations

import re

import pytest

from tests.api.builders import (
    UUID_RE,
    assert_error,
    make_network,
    make_pool,
    make_subnet,
    make_vip,
    unique,
)
from tests.helpers.server import Api


def test_network_created_with_defaults(api: Api, project: str) -> None:
    resp = api.post("/networks", {"network": {"name": "web"}})
    assert resp.status_code == 201, resp.text
    net = resp.json()["network"]
    assert re.match(UUID_RE, net["id"])
    assert net["name"] == "web"
    assert net["tenant_id"] == project
    assert net["admin_state_up"] is True
    assert net["shared"] is False
    assert net["provider:physical_network"] == "default"
    assert net["provider:network_type"] == "flat"
    assert net["provider:segmentation_id"] is None
    assert net["mtu"] == 1500
    assert net["subnets"] == []
    assert isinstance(net["status"], str) and net["status"]
    assert api.show("network", net["id"]) == net


def test_network_lists_its_subnets(api: Api) -> None:
    net = make_network(api)
    s1 = make_subnet(api, net["id"], cidr="10.1.0.0/24")
    s2 = make_subnet(api, net["id"], cidr="10.2.0.0/24")
    assert sorted(api.show("network", net["id"])["subnets"]) == sorted([s1["id"], s2["id"]])


def test_vlan_network_needs_segmentation_id(api: Api, physnet: str) -> None:
    resp = api.post("/networks", {"network": {"provider:network_type": "vlan",
                                              "provider:physical_network": physnet}})
    assert_error(resp, 400)


@pytest.mark.parametrize("seg", [0, 4095, -1, "ten"])
def test_vlan_segmentation_id_out_of_range(api: Api, physnet: str, seg: object) -> None:
    resp = api.post("/networks", {"network": {"provider:network_type": "vlan",
                                              "provider:physical_network": physnet,
                                              "provider:segmentation_id": seg}})
    assert_error(resp, 400)


@pytest.mark.parametrize("seg", [1, 4094])
def test_vlan_segmentation_id_bounds_accepted(api: Api, physnet: str, seg: int) -> None:
    net = make_network(api, **{"provider:network_type": "vlan",
                               "provider:physical_network": physnet,
                               "provider:segmentation_id": seg})
    assert net["provider:network_type"] == "vlan"
    assert net["provider:segmentation_id"] == seg
    assert net["provider:physical_network"] == physnet


def test_vlan_segmentation_id_unique_per_physical_network(api: Api, physnet: str) -> None:
    vlan = {"provider:network_type": "vlan", "provider:segmentation_id": 100}
    make_network(api, **{"provider:physical_network": physnet}, **vlan)
    resp = api.post("/networks", {"network": {"provider:physical_network": physnet, **vlan}})
    assert_error(resp, 409)
    # The same VLAN id on another physical network is another segment.
    other = make_network(api, **{"provider:physical_network": physnet + "-b"}, **vlan)
    assert other["provider:segmentation_id"] == 100


def test_vlan_segmentation_id_unique_across_projects(api: Api, physnet: str) -> None:
    vlan = {"provider:network_type": "vlan", "provider:segmentation_id": 7,
            "provider:physical_network": physnet}
    make_network(api, **vlan)
    resp = api.post("/networks", {"network": vlan}, project=unique("other"))
    assert_error(resp, 409)


def test_vlan_segmentation_id_free_again_after_delete(api: Api, physnet: str) -> None:
    vlan = {"provider:network_type": "vlan", "provider:segmentation_id": 9,
            "provider:physical_network": physnet}
    net = make_network(api, **vlan)
    api.remove("network", net["id"])
    assert make_network(api, **vlan)["provider:segmentation_id"] == 9


def test_unknown_network_type_rejected(api: Api) -> None:
    assert_error(api.post("/networks", {"network": {"provider:network_type": "vxlan"}}), 400)


@pytest.mark.parametrize("mtu", [0, -5, "big", 10**9])
def test_bad_mtu_rejected(api: Api, mtu: object) -> None:
    assert_error(api.post("/networks", {"network": {"mtu": mtu}}), 400)


def test_network_update_and_delete(api: Api) -> None:
    net = make_network(api)
    updated = api.update("network", net["id"], name="renamed", admin_state_up=False)
    assert updated["name"] == "renamed"
    assert updated["admin_state_up"] is False
    api.remove("network", net["id"])
    assert_error(api.get(f"/networks/{net['id']}"), 404)
    assert_error(api.delete(f"/networks/{net['id']}"), 404)


@pytest.mark.parametrize("attr", ["id", "status", "subnets"])
def test_read_only_network_attributes_rejected(api: Api, attr: str) -> None:
    net = make_network(api)
    value = [] if attr == "subnets" else "00000000-0000-0000-0000-000000000001"
    assert_error(api.put(f"/networks/{net['id']}", {"network": {attr: value}}), 400)
    assert_error(api.post("/networks", {"network": {attr: value}}), 400)


def test_shared_network_flag_stored(api: Api) -> None:
    net = make_network(api, shared=True)
    assert net["shared"] is True
    assert api.show("network", net["id"])["shared"] is True


def test_missing_network_is_404(api: Api) -> None:
    assert_error(api.get("/networks/3f1e1c7e-0000-4000-8000-000000000000"), 404)


def test_network_with_a_vip_cannot_be_deleted(api: Api) -> None:
    net = make_network(api)
    sub = make_subnet(api, net["id"], cidr="10.3.0.0/24")
    vip = make_vip(api, make_pool(api, sub["id"]))
    assert_error(api.delete(f"/networks/{net['id']}"), 409)
    assert api.show("port", vip["port_id"])["network_id"] == net["id"]
    assert api.show("subnet", sub["id"])["id"] == sub["id"]


def test_updates_keep_vlan_segments_unique(api: Api, physnet: str) -> None:
    vlan = {"provider:network_type": "vlan", "provider:physical_network": physnet}
    make_network(api, **vlan, **{"provider:segmentation_id": 20})
    other = make_network(api, **vlan, **{"provider:segmentation_id": 21})
    resp = api.put(f"/networks/{other['id']}",
                   {"network": {"provider:segmentation_id": 20}})
    assert resp.status_code in (400, 409), resp.text
    assert_error(resp, resp.status_code)
    assert api.show("network", other["id"])["provider:segmentation_id"] == 21
