"""/v2.0/lb/vips: the address clients connect to, with the port it owns."""

from __future__ import annotations

import ipaddress
import re

import pytest

from tests.api.builders import (
    FakeAgent,
    assert_error,
    make_network,
    make_pool,
    make_subnet,
    make_vip,
)
from tests.helpers.server import Api


@pytest.fixture
def subnet(api: Api) -> dict:
    return make_subnet(api, cidr="10.80.0.0/24")


@pytest.fixture
def pool(api: Api, subnet: dict) -> dict:
    return make_pool(api, subnet["id"])


def vip_body(pool: dict, **attrs: object) -> dict:
    body = {"subnet_id": pool["subnet_id"], "protocol": pool["protocol"],
            "protocol_port": 80, "pool_id": pool["id"]}
    body.update(attrs)
    return {"vip": body}


def test_vip_created_with_defaults_and_port(api: Api, project: str, pool: dict) -> None:
    resp = api.post("/lb/vips", vip_body(pool))
    assert resp.status_code == 201, resp.text
    vip = resp.json()["vip"]
    assert vip["tenant_id"] == project
    assert vip["pool_id"] == pool["id"]
    assert vip["subnet_id"] == pool["subnet_id"]
    assert vip["protocol"] == "HTTP"
    assert vip["protocol_port"] == 80
    assert vip["name"] == ""
    assert vip["description"] == ""
    assert vip["connection_limit"] == -1
    assert vip["session_persistence"] is None
    assert vip["admin_state_up"] is True
    assert vip["status"] == "PENDING_CREATE"
    assert "status_description" in vip
    addr = ipaddress.ip_address(vip["address"])
    assert addr in ipaddress.ip_network("10.80.0.0/24")
    assert addr != ipaddress.ip_address("10.80.0.1")  # the gateway

    port = api.show("port", vip["port_id"])
    assert port["name"] == f"vip-{vip['id']}"
    assert port["device_owner"] == "neutron:LOADBALANCER"
    assert port["network_id"] == api.show("subnet", pool["subnet_id"])["network_id"]
    assert port["fixed_ips"] == [{"subnet_id": pool["subnet_id"], "ip_address": vip["address"]}]
    assert re.match(r"^fa:16:3e(:[0-9a-f]{2}){3}$", port["mac_address"])
    assert api.show("pool", pool["id"])["vip_id"] == vip["id"]
    assert api.show("vip", vip["id"]) == vip


def test_vip_with_requested_address(api: Api, pool: dict) -> None:
    vip = api.create("vip", **vip_body(pool, address="10.80.0.100")["vip"])
    assert vip["address"] == "10.80.0.100"
    assert api.show("port", vip["port_id"])["fixed_ips"][0]["ip_address"] == "10.80.0.100"


def test_vip_address_outside_subnet_rejected(api: Api, pool: dict) -> None:
    assert_error(api.post("/lb/vips", vip_body(pool, address="10.81.0.100")), 400)
    assert api.show("pool", pool["id"])["vip_id"] is None


def test_vip_address_taken_conflicts(api: Api, pool: dict, subnet: dict) -> None:
    api.create("port", network_id=subnet["network_id"],
               fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.80.0.101"}])
    assert_error(api.post("/lb/vips", vip_body(pool, address="10.80.0.101")), 409)


def test_vip_address_of_gateway_conflicts(api: Api, pool: dict) -> None:
    assert_error(api.post("/lb/vips", vip_body(pool, address="10.80.0.1")), 409)


def test_failed_vip_leaves_no_port(api: Api, pool: dict, subnet: dict) -> None:
    before = api.list("port", network_id=subnet["network_id"])
    assert_error(api.post("/lb/vips", vip_body(pool, connection_limit=0)), 400)
    assert_error(api.post("/lb/vips", vip_body(pool, address="10.80.0.1")), 409)
    assert api.list("port", network_id=subnet["network_id"]) == before


@pytest.mark.parametrize("missing", ["subnet_id", "protocol", "protocol_port", "pool_id"])
def test_required_vip_attributes(api: Api, pool: dict, missing: str) -> None:
    body = vip_body(pool)
    del body["vip"][missing]
    assert_error(api.post("/lb/vips", body), 400)


def test_vip_protocol_must_match_pool(api: Api, pool: dict) -> None:
    assert_error(api.post("/lb/vips", vip_body(pool, protocol="TCP")), 400)


def test_second_vip_on_a_pool_conflicts(api: Api, pool: dict) -> None:
    make_vip(api, pool)
    assert_error(api.post("/lb/vips", vip_body(pool, protocol_port=81)), 409)


def test_vip_on_missing_pool_is_404(api: Api, pool: dict) -> None:
    body = vip_body(pool, pool_id="3e0b9f8c-0000-4000-8000-000000000000")
    assert_error(api.post("/lb/vips", body), 404)


def test_vip_on_missing_subnet_is_404(api: Api, pool: dict) -> None:
    body = vip_body(pool, subnet_id="3e0b9f8c-0000-4000-8000-000000000001")
    assert_error(api.post("/lb/vips", body), 404)


@pytest.mark.parametrize("attr,value", [
    ("protocol_port", 0), ("protocol_port", 65536), ("protocol_port", "eighty"),
    ("protocol", "UDP"), ("connection_limit", 0), ("connection_limit", -2),
    ("connection_limit", "many"), ("address", "not-an-ip"), ("admin_state_up", "y"),
    ("session_persistence", "SOURCE_IP"), ("session_persistence", {"type": "STICKY"}),
    ("session_persistence", {}),
])
def test_bad_vip_attribute_rejected(api: Api, pool: dict, attr: str, value: object) -> None:
    assert_error(api.post("/lb/vips", vip_body(pool, **{attr: value})), 400)


@pytest.mark.parametrize("port,limit", [(1, 1), (65535, -1), (443, 100000)])
def test_vip_bounds_accepted(api: Api, pool: dict, port: int, limit: int) -> None:
    vip = api.create("vip", **vip_body(pool, protocol_port=port, connection_limit=limit)["vip"])
    assert (vip["protocol_port"], vip["connection_limit"]) == (port, limit)


@pytest.mark.parametrize("sp", [
    {"type": "SOURCE_IP"}, {"type": "HTTP_COOKIE"},
    {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
    {"type": "APP_COOKIE", "cookie_name": "my_cookie-1.x"},
])
def test_session_persistence_accepted(api: Api, pool: dict, sp: dict) -> None:
    vip = api.create("vip", **vip_body(pool, session_persistence=sp)["vip"])
    assert vip["session_persistence"]["type"] == sp["type"]
    assert vip["session_persistence"].get("cookie_name") == sp.get("cookie_name")
    assert api.show("vip", vip["id"])["session_persistence"] == vip["session_persistence"]


@pytest.mark.parametrize("sp", [
    {"type": "APP_COOKIE"},
    {"type": "APP_COOKIE", "cookie_name": ""},
    {"type": "APP_COOKIE", "cookie_name": "bad name"},
    {"type": "APP_COOKIE", "cookie_name": "a;b"},
    {"type": "APP_COOKIE", "cookie_name": "a=b"},
    {"type": "APP_COOKIE", "cookie_name": "a\nb"},
    {"type": "APP_COOKIE", "cookie_name": 'a"b'},
    {"type": "SOURCE_IP", "cookie_name": "JSESSIONID"},
    {"type": "HTTP_COOKIE", "cookie_name": "JSESSIONID"},
], ids=["app-none", "app-empty", "app-space", "app-semicolon", "app-equals", "app-newline",
        "app-quote", "source-ip-cookie", "http-cookie-cookie"])
def test_session_persistence_rules(api: Api, pool: dict, sp: dict) -> None:
    assert_error(api.post("/lb/vips", vip_body(pool, session_persistence=sp)), 400)


def test_vip_update(api: Api, pool: dict) -> None:
    vip = make_vip(api, pool)
    updated = api.update("vip", vip["id"], name="front", description="public face",
                         connection_limit=50, admin_state_up=False,
                         session_persistence={"type": "APP_COOKIE", "cookie_name": "SID"})
    assert (updated["name"], updated["description"]) == ("front", "public face")
    assert updated["connection_limit"] == 50
    assert updated["admin_state_up"] is False
    assert updated["session_persistence"] == {"type": "APP_COOKIE", "cookie_name": "SID"}
    cleared = api.update("vip", vip["id"], session_persistence=None)
    assert cleared["session_persistence"] is None
    assert api.show("vip", vip["id"])["session_persistence"] is None


def test_session_persistence_rules_on_update(api: Api, pool: dict) -> None:
    vip = make_vip(api, pool)
    resp = api.put(f"/lb/vips/{vip['id']}", {"vip": {"session_persistence": {
        "type": "APP_COOKIE"}}})
    assert_error(resp, 400)
    assert_error(api.put(f"/lb/vips/{vip['id']}", {"vip": {"connection_limit": 0}}), 400)


@pytest.mark.parametrize("attr,value", [
    ("port_id", "3e0b9f8c-0000-4000-8000-000000000002"), ("status", "ACTIVE"),
    ("status_description", "x"), ("id", "3e0b9f8c-0000-4000-8000-000000000003"),
    ("address", "10.80.0.200"), ("subnet_id", "3e0b9f8c-0000-4000-8000-000000000004"),
    ("protocol", "HTTPS"), ("protocol_port", 8080), ("tenant_id", "someone-else"),
])
def test_read_only_vip_attributes_rejected(api: Api, pool: dict, attr: str,
                                           value: object) -> None:
    vip = make_vip(api, pool)
    assert_error(api.put(f"/lb/vips/{vip['id']}", {"vip": {attr: value}}), 400)
    assert api.show("vip", vip["id"])[attr] == vip[attr]


@pytest.mark.parametrize("attr,value", [
    ("port_id", "3e0b9f8c-0000-4000-8000-000000000002"), ("status", "ACTIVE"),
    ("status_description", "x"),
])
def test_read_only_vip_attributes_rejected_on_create(api: Api, pool: dict, attr: str,
                                                     value: object) -> None:
    assert_error(api.post("/lb/vips", vip_body(pool, **{attr: value})), 400)


def test_delete_vip_without_agent_deletes_its_port(api: Api, pool: dict) -> None:
    vip = make_vip(api, pool)
    assert api.delete(f"/lb/vips/{vip['id']}").status_code == 204
    assert_error(api.get(f"/lb/vips/{vip['id']}"), 404)
    assert_error(api.get(f"/ports/{vip['port_id']}"), 404)
    assert api.show("pool", pool["id"])["vip_id"] is None
    # The pool can take a new VIP, and the address is free again.
    again = make_vip(api, pool, address=vip["address"])
    assert again["address"] == vip["address"]


def test_vip_on_another_networks_subnet(api: Api, pool: dict) -> None:
    # Neutron v1 lets the VIP live on another subnet than the pool's members.
    other = make_subnet(api, make_network(api)["id"], cidr="10.82.0.0/24")
    vip = api.create("vip", **vip_body(pool, subnet_id=other["id"])["vip"])
    assert vip["address"].startswith("10.82.0.")


def test_vip_lifecycle_confirmed_by_agent(api: Api, physnet: str, agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    vip = make_vip(api, pool)
    agent.deployed(pool["id"])
    assert api.show("vip", vip["id"])["status"] == "ACTIVE"

    assert api.update("vip", vip["id"], connection_limit=10)["status"] == "PENDING_UPDATE"
    agent.deployed(pool["id"])
    assert api.show("vip", vip["id"])["status"] == "ACTIVE"

    assert api.delete(f"/lb/vips/{vip['id']}").status_code == 204
    assert api.show("vip", vip["id"])["status"] == "PENDING_DELETE"
    assert_error(api.put(f"/lb/vips/{vip['id']}", {"vip": {"name": "late"}}), 409)
    # The pool still has it until the agent confirms.
    assert_error(api.delete(f"/lb/pools/{pool['id']}"), 409)
    agent.deployed(pool["id"])
    assert_error(api.get(f"/lb/vips/{vip['id']}"), 404)
    assert_error(api.get(f"/ports/{vip['port_id']}"), 404)
    assert api.show("pool", pool["id"])["vip_id"] is None


def test_agent_reports_vip_error_with_reason(api: Api, physnet: str,
                                             agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    vip = make_vip(api, pool)
    resp = agent.update_status("vip", vip["id"], "ERROR", "address already in use")
    assert resp.status_code in (200, 204), resp.text
    shown = api.show("vip", vip["id"])
    assert (shown["status"], shown["status_description"]) == ("ERROR",
                                                               "address already in use")


def test_vip_on_an_exhausted_subnet_conflicts(api: Api) -> None:
    sub = make_subnet(api, cidr="10.83.0.0/30")  # one usable address
    api.create("port", network_id=sub["network_id"])
    pool = make_pool(api, sub["id"])
    assert_error(api.post("/lb/vips", vip_body(pool)), 409)
    assert api.show("pool", pool["id"])["vip_id"] is None


def test_vip_cannot_move_to_a_pool_of_another_protocol(api: Api, pool: dict) -> None:
    vip = make_vip(api, pool)
    tcp = make_pool(api, pool["subnet_id"], protocol="TCP")
    assert_error(api.put(f"/lb/vips/{vip['id']}", {"vip": {"pool_id": tcp["id"]}}), 400)
    assert api.show("vip", vip["id"])["pool_id"] == pool["id"]
    assert api.show("pool", tcp["id"])["vip_id"] is None
