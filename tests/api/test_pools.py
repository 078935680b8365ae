"""/v2.0/lb/pools: attributes, rules, the status machine and stats."""

from __future__ import annotations

import re

import pytest

from tests.api.builders import (
    UUID_RE,
    FakeAgent,
    assert_error,
    associate,
    make_member,
    make_monitor,
    make_pool,
    make_subnet,
    make_vip,
)
from tests.helpers.server import Api


@pytest.fixture
def subnet(api: Api) -> dict:
    return make_subnet(api, cidr="10.50.0.0/24")


def test_pool_created_with_defaults(api: Api, project: str, subnet: dict) -> None:
    resp = api.post("/lb/pools", {"pool": {"subnet_id": subnet["id"], "protocol": "HTTP",
                                           "lb_method": "ROUND_ROBIN"}})
    assert resp.status_code == 201, resp.text
    pool = resp.json()["pool"]
    assert re.match(UUID_RE, pool["id"])
    assert pool["tenant_id"] == project
    assert pool["subnet_id"] == subnet["id"]
    assert pool["protocol"] == "HTTP"
    assert pool["lb_method"] == "ROUND_ROBIN"
    assert pool["name"] == ""
    assert pool["description"] == ""
    assert pool["provider"] == "haproxy"
    assert pool["admin_state_up"] is True
    assert pool["vip_id"] is None
    assert pool["members"] == []
    assert pool["health_monitors"] == []
    assert pool["health_monitors_status"] == []
    assert pool["status"] == "PENDING_CREATE"
    assert isinstance(pool["status_description"], str | None)
    assert api.show("pool", pool["id"])["id"] == pool["id"]


@pytest.mark.parametrize("protocol", ["TCP", "HTTP", "HTTPS"])
@pytest.mark.parametrize("lb_method", ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"])
def test_every_protocol_and_method(api: Api, subnet: dict, protocol: str,
                                   lb_method: str) -> None:
    pool = make_pool(api, subnet["id"], protocol=protocol, lb_method=lb_method)
    assert (pool["protocol"], pool["lb_method"]) == (protocol, lb_method)


@pytest.mark.parametrize("missing", ["subnet_id", "protocol", "lb_method"])
def test_required_pool_attributes(api: Api, subnet: dict, missing: str) -> None:
    body = {"subnet_id": subnet["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}
    del body[missing]
    assert_error(api.post("/lb/pools", {"pool": body}), 400)


@pytest.mark.parametrize("attr,value", [
    ("protocol", "UDP"), ("protocol", "http"), ("lb_method", "RANDOM"),
    ("provider", "octavia"), ("admin_state_up", "maybe"), ("subnet_id", "not-a-uuid"),
    ("name", 42), ("description", ["x"]),
])
def test_bad_pool_attribute_rejected(api: Api, subnet: dict, attr: str,
                                     value: object) -> None:
    body = {"subnet_id": subnet["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN",
            attr: value}
    assert_error(api.post("/lb/pools", {"pool": body}), 400)


def test_pool_provider_haproxy_accepted(api: Api, subnet: dict) -> None:
    assert make_pool(api, subnet["id"], provider="haproxy")["provider"] == "haproxy"


def test_pool_on_missing_subnet_is_404(api: Api) -> None:
    resp = api.post("/lb/pools", {"pool": {
        "subnet_id": "0b9f8c52-0000-4000-8000-000000000000", "protocol": "HTTP",
        "lb_method": "ROUND_ROBIN"}})
    assert_error(resp, 404)


def test_pool_update(api: Api, subnet: dict) -> None:
    pool = make_pool(api, subnet["id"])
    updated = api.update("pool", pool["id"], lb_method="LEAST_CONNECTIONS", name="new",
                         description="the web tier", admin_state_up=False)
    assert updated["lb_method"] == "LEAST_CONNECTIONS"
    assert updated["name"] == "new"
    assert updated["description"] == "the web tier"
    assert updated["admin_state_up"] is False
    shown = api.show("pool", pool["id"])
    assert shown["lb_method"] == "LEAST_CONNECTIONS"
    assert shown["description"] == "the web tier"


@pytest.mark.parametrize("attr,value", [
    ("id", "0b9f8c52-0000-4000-8000-000000000001"), ("status", "ACTIVE"),
    ("status_description", "fine"), ("vip_id", "0b9f8c52-0000-4000-8000-000000000002"),
    ("members", []), ("health_monitors_status", []),
    ("protocol", "TCP"), ("subnet_id", "0b9f8c52-0000-4000-8000-000000000003"),
    ("tenant_id", "someone-else"), ("provider", "haproxy"),
])
def test_read_only_pool_attributes_rejected_on_update(api: Api, subnet: dict, attr: str,
                                                      value: object) -> None:
    pool = make_pool(api, subnet["id"])
    assert_error(api.put(f"/lb/pools/{pool['id']}", {"pool": {attr: value}}), 400)
    assert api.show("pool", pool["id"])[attr] == pool[attr]


@pytest.mark.parametrize("attr,value", [
    ("id", "0b9f8c52-0000-4000-8000-000000000001"), ("status", "ACTIVE"),
    ("status_description", "fine"), ("vip_id", "0b9f8c52-0000-4000-8000-000000000002"),
    ("members", []), ("health_monitors_status", []),
])
def test_read_only_pool_attributes_rejected_on_create(api: Api, subnet: dict, attr: str,
                                                      value: object) -> None:
    body = {"subnet_id": subnet["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN",
            attr: value}
    assert_error(api.post("/lb/pools", {"pool": body}), 400)


def test_admin_may_create_for_another_project(api: Api, subnet: dict) -> None:
    # noauth: every caller is admin, and an admin may set tenant_id.
    pool = make_pool(api, subnet["id"], tenant_id="project-b")
    assert pool["tenant_id"] == "project-b"
    assert api.show("pool", pool["id"])["tenant_id"] == "project-b"


def test_pool_shows_its_members_monitors_and_vip(api: Api, subnet: dict) -> None:
    pool = make_pool(api, subnet["id"])
    m1 = make_member(api, pool["id"], address="10.50.0.11")
    m2 = make_member(api, pool["id"], address="10.50.0.12")
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    vip = make_vip(api, pool)
    shown = api.show("pool", pool["id"])
    assert sorted(shown["members"]) == sorted([m1["id"], m2["id"]])
    assert shown["health_monitors"] == [hm["id"]]
    [hm_status] = shown["health_monitors_status"]
    assert hm_status["monitor_id"] == hm["id"]
    assert hm_status["status"] == "PENDING_CREATE"
    assert "status_description" in hm_status
    assert shown["vip_id"] == vip["id"]


def test_delete_pool_without_agent_is_immediate(api: Api, subnet: dict) -> None:
    pool = make_pool(api, subnet["id"])
    assert api.delete(f"/lb/pools/{pool['id']}").status_code == 204
    assert_error(api.get(f"/lb/pools/{pool['id']}"), 404)
    assert_error(api.delete(f"/lb/pools/{pool['id']}"), 404)
    assert_error(api.put(f"/lb/pools/{pool['id']}", {"pool": {"name": "x"}}), 404)


def test_delete_pool_with_vip_conflicts(api: Api, subnet: dict) -> None:
    pool = make_pool(api, subnet["id"])
    make_vip(api, pool)
    err = assert_error(api.delete(f"/lb/pools/{pool['id']}"), 409)
    assert err["type"]
    assert api.show("pool", pool["id"])["status"] == "PENDING_CREATE"


def test_delete_pool_deletes_its_members(api: Api, subnet: dict) -> None:
    pool = make_pool(api, subnet["id"])
    member = make_member(api, pool["id"])
    api.remove("pool", pool["id"])
    assert_error(api.get(f"/lb/members/{member['id']}"), 404)


def test_pool_without_live_agent_stays_pending_and_says_why(api: Api, physnet: str) -> None:
    pool = make_pool(api, physnet=physnet)
    shown = api.show("pool", pool["id"])
    assert shown["status"] == "PENDING_CREATE"
    assert "agent" in (shown["status_description"] or "").lower(), shown


def test_missing_pool_is_404(api: Api) -> None:
    assert_error(api.get("/lb/pools/0b9f8c52-0000-4000-8000-0000000000ff"), 404)


# -- status machine with an agent -------------------------------------------------------


def test_pool_lifecycle_confirmed_by_agent(api: Api, physnet: str, agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    assert api.show("pool", pool["id"])["status"] == "PENDING_CREATE"
    agent.deployed(pool["id"])
    assert api.show("pool", pool["id"])["status"] == "ACTIVE"

    assert api.update("pool", pool["id"], lb_method="SOURCE_IP")["status"] == "PENDING_UPDATE"
    assert api.show("pool", pool["id"])["status"] == "PENDING_UPDATE"
    agent.deployed(pool["id"])
    assert api.show("pool", pool["id"])["status"] == "ACTIVE"

    assert api.delete(f"/lb/pools/{pool['id']}").status_code == 204
    assert api.show("pool", pool["id"])["status"] == "PENDING_DELETE"
    # An object on its way out takes no more changes.
    assert_error(api.put(f"/lb/pools/{pool['id']}", {"pool": {"name": "late"}}), 409)
    agent.destroyed(pool["id"])
    assert_error(api.get(f"/lb/pools/{pool['id']}"), 404)


def test_agent_reports_pool_error_with_reason(api: Api, physnet: str,
                                              agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    resp = agent.update_status("pool", pool["id"], "ERROR", "haproxy -c: bad config")
    assert resp.status_code in (200, 204), resp.text
    shown = api.show("pool", pool["id"])
    assert shown["status"] == "ERROR"
    assert shown["status_description"] == "haproxy -c: bad config"


# -- stats --------------------------------------------------------------------------------


def test_new_pool_stats_are_zero(api: Api, subnet: dict) -> None:
    pool = make_pool(api, subnet["id"])
    resp = api.get(f"/lb/pools/{pool['id']}/stats")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"stats": {"bytes_in": 0, "bytes_out": 0,
                                     "active_connections": 0, "total_connections": 0}}


def test_stats_of_missing_pool_is_404(api: Api) -> None:
    assert_error(api.get("/lb/pools/0b9f8c52-0000-4000-8000-0000000000fe/stats"), 404)
