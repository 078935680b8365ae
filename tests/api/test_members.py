"""/v2.0/lb/members: backends of a pool."""

from __future__ import annotations

import pytest

from tests.api.builders import FakeAgent, assert_error, make_member, make_pool, make_subnet
from tests.helpers.server import Api


@pytest.fixture
def pool(api: Api) -> dict:
    return make_pool(api, make_subnet(api, cidr="10.60.0.0/24")["id"])


def test_member_created_with_defaults(api: Api, project: str, pool: dict) -> None:
    resp = api.post("/lb/members", {"member": {"pool_id": pool["id"], "address": "10.60.0.5",
                                               "protocol_port": 8080}})
    assert resp.status_code == 201, resp.text
    member = resp.json()["member"]
    assert member["pool_id"] == pool["id"]
    assert member["tenant_id"] == project
    assert member["address"] == "10.60.0.5"
    assert member["protocol_port"] == 8080
    assert member["weight"] == 1
    assert member["admin_state_up"] is True
    assert member["status"] == "PENDING_CREATE"
    assert "status_description" in member
    assert api.show("member", member["id"]) == member
    assert api.show("pool", pool["id"])["members"] == [member["id"]]


@pytest.mark.parametrize("missing", ["pool_id", "address", "protocol_port"])
def test_required_member_attributes(api: Api, pool: dict, missing: str) -> None:
    body = {"pool_id": pool["id"], "address": "10.60.0.5", "protocol_port": 80}
    del body[missing]
    assert_error(api.post("/lb/members", {"member": body}), 400)


@pytest.mark.parametrize("attr,value", [
    ("protocol_port", 0), ("protocol_port", 65536), ("protocol_port", -1),
    ("protocol_port", "http"), ("weight", -1), ("weight", 257), ("weight", "heavy"),
    ("address", "10.60.0.256"), ("address", "backend.example"), ("address", ""),
    ("admin_state_up", "sometimes"), ("pool_id", "not-a-uuid"),
])
def test_bad_member_attribute_rejected(api: Api, pool: dict, attr: str,
                                       value: object) -> None:
    body = {"pool_id": pool["id"], "address": "10.60.0.5", "protocol_port": 80, attr: value}
    assert_error(api.post("/lb/members", {"member": body}), 400)


@pytest.mark.parametrize("port,weight", [(1, 0), (65535, 256)])
def test_member_bounds_accepted(api: Api, pool: dict, port: int, weight: int) -> None:
    member = make_member(api, pool["id"], protocol_port=port, weight=weight)
    assert (member["protocol_port"], member["weight"]) == (port, weight)


def test_ipv6_member_address(api: Api, pool: dict) -> None:
    assert make_member(api, pool["id"], address="fd00::10")["address"] == "fd00::10"


def test_duplicate_member_conflicts(api: Api, pool: dict) -> None:
    make_member(api, pool["id"], address="10.60.0.7", protocol_port=80)
    resp = api.post("/lb/members", {"member": {"pool_id": pool["id"], "address": "10.60.0.7",
                                               "protocol_port": 80}})
    assert_error(resp, 409)
    # Another port on the same address, or the same backend in another pool, is fine.
    make_member(api, pool["id"], address="10.60.0.7", protocol_port=81)
    other = make_pool(api, pool["subnet_id"])
    make_member(api, other["id"], address="10.60.0.7", protocol_port=80)
    assert len(api.list("member", pool_id=pool["id"])) == 2


def test_member_on_missing_pool_is_404(api: Api) -> None:
    resp = api.post("/lb/members", {"member": {
        "pool_id": "1c0b9f8c-0000-4000-8000-000000000000", "address": "10.60.0.5",
        "protocol_port": 80}})
    assert_error(resp, 404)


def test_member_update(api: Api, pool: dict) -> None:
    member = make_member(api, pool["id"])
    updated = api.update("member", member["id"], weight=10, admin_state_up=False)
    assert updated["weight"] == 10
    assert updated["admin_state_up"] is False
    assert api.show("member", member["id"])["weight"] == 10


def test_member_moves_to_another_pool(api: Api, pool: dict) -> None:
    member = make_member(api, pool["id"])
    target = make_pool(api, pool["subnet_id"])
    moved = api.update("member", member["id"], pool_id=target["id"])
    assert moved["pool_id"] == target["id"]
    assert api.show("pool", pool["id"])["members"] == []
    assert api.show("pool", target["id"])["members"] == [member["id"]]


def test_member_move_onto_a_duplicate_conflicts(api: Api, pool: dict) -> None:
    member = make_member(api, pool["id"], address="10.60.0.9", protocol_port=80)
    target = make_pool(api, pool["subnet_id"])
    make_member(api, target["id"], address="10.60.0.9", protocol_port=80)
    assert_error(api.put(f"/lb/members/{member['id']}",
                         {"member": {"pool_id": target["id"]}}), 409)
    assert api.show("member", member["id"])["pool_id"] == pool["id"]


def test_member_move_to_missing_pool_is_404(api: Api, pool: dict) -> None:
    member = make_member(api, pool["id"])
    resp = api.put(f"/lb/members/{member['id']}",
                   {"member": {"pool_id": "1c0b9f8c-0000-4000-8000-000000000001"}})
    assert_error(resp, 404)


@pytest.mark.parametrize("attr,value", [
    ("address", "10.60.0.99"), ("protocol_port", 81), ("status", "ACTIVE"),
    ("status_description", "x"), ("id", "1c0b9f8c-0000-4000-8000-000000000002"),
    ("tenant_id", "someone-else"),
])
def test_read_only_member_attributes_rejected(api: Api, pool: dict, attr: str,
                                              value: object) -> None:
    member = make_member(api, pool["id"])
    assert_error(api.put(f"/lb/members/{member['id']}", {"member": {attr: value}}), 400)
    assert api.show("member", member["id"])[attr] == member[attr]


def test_read_only_member_attributes_rejected_on_create(api: Api, pool: dict) -> None:
    body = {"pool_id": pool["id"], "address": "10.60.0.5", "protocol_port": 80,
            "status": "ACTIVE"}
    assert_error(api.post("/lb/members", {"member": body}), 400)


def test_delete_member_without_agent_is_immediate(api: Api, pool: dict) -> None:
    member = make_member(api, pool["id"])
    assert api.delete(f"/lb/members/{member['id']}").status_code == 204
    assert_error(api.get(f"/lb/members/{member['id']}"), 404)
    assert api.show("pool", pool["id"])["members"] == []


def test_member_lifecycle_confirmed_by_agent(api: Api, physnet: str,
                                            agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    member = make_member(api, pool["id"])
    agent.deployed(pool["id"])
    assert api.show("member", member["id"])["status"] == "ACTIVE"

    assert api.update("member", member["id"], weight=5)["status"] == "PENDING_UPDATE"
    agent.deployed(pool["id"])
    assert api.show("member", member["id"])["status"] == "ACTIVE"

    assert api.delete(f"/lb/members/{member['id']}").status_code == 204
    assert api.show("member", member["id"])["status"] == "PENDING_DELETE"
    assert_error(api.put(f"/lb/members/{member['id']}", {"member": {"weight": 3}}), 409)
    agent.deployed(pool["id"])
    assert_error(api.get(f"/lb/members/{member['id']}"), 404)
    assert api.show("pool", pool["id"])["members"] == []


def test_agent_marks_member_inactive_and_error(api: Api, physnet: str,
                                               agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    member = make_member(api, pool["id"])
    agent.deployed(pool["id"])
    resp = agent.update_status("member", member["id"], "INACTIVE", "L4 timeout")
    assert resp.status_code in (200, 204), resp.text
    shown = api.show("member", member["id"])
    assert shown["status"] == "INACTIVE"
    resp = agent.update_status("member", member["id"], "ERROR", "cannot resolve")
    assert resp.status_code in (200, 204), resp.text
    shown = api.show("member", member["id"])
    assert (shown["status"], shown["status_description"]) == ("ERROR", "cannot resolve")
