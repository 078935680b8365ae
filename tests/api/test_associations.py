"""/v2.0/lb/pools/{id}/health_monitors: attaching monitors to pools."""

from __future__ import annotations

import pytest

from tests.api.builders import (
    FakeAgent,
    assert_error,
    associate,
    make_monitor,
    make_pool,
    make_subnet,
)
from tests.helpers.server import Api


@pytest.fixture
def pool(api: Api) -> dict:
    return make_pool(api, make_subnet(api, cidr="10.90.0.0/24")["id"])


def statuses(api: Api, pool_id: str) -> dict[str, str]:
    return {s["monitor_id"]: s["status"]
            for s in api.show("pool", pool_id)["health_monitors_status"]}


def test_associate_and_disassociate(api: Api, pool: dict) -> None:
    hm = make_monitor(api)
    resp = associate(api, pool["id"], hm["id"])
    assert resp.status_code == 201, resp.text
    assert api.show("pool", pool["id"])["health_monitors"] == [hm["id"]]
    assert [p["pool_id"] for p in api.show("health_monitor", hm["id"])["pools"]] == [pool["id"]]

    resp = api.delete(f"/lb/pools/{pool['id']}/health_monitors/{hm['id']}")
    assert resp.status_code == 204, resp.text
    assert api.show("pool", pool["id"])["health_monitors"] == []
    assert api.show("pool", pool["id"])["health_monitors_status"] == []
    assert api.show("health_monitor", hm["id"])["pools"] == []


def test_associating_twice_conflicts(api: Api, pool: dict) -> None:
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    assert_error(associate(api, pool["id"], hm["id"]), 409)
    assert api.show("pool", pool["id"])["health_monitors"] == [hm["id"]]


def test_several_monitors_on_one_pool(api: Api, pool: dict) -> None:
    hms = [make_monitor(api, type=t) for t in ("HTTP", "TCP", "PING")]
    for hm in hms:
        assert associate(api, pool["id"], hm["id"]).status_code == 201
    assert sorted(api.show("pool", pool["id"])["health_monitors"]) == sorted(
        h["id"] for h in hms)


def test_associate_missing_monitor_is_404(api: Api, pool: dict) -> None:
    assert_error(associate(api, pool["id"], "4f0b9f8c-0000-4000-8000-000000000000"), 404)


def test_associate_to_missing_pool_is_404(api: Api) -> None:
    hm = make_monitor(api)
    assert_error(associate(api, "4f0b9f8c-0000-4000-8000-000000000001", hm["id"]), 404)


def test_disassociate_not_associated_is_404(api: Api, pool: dict) -> None:
    hm = make_monitor(api)
    assert_error(api.delete(f"/lb/pools/{pool['id']}/health_monitors/{hm['id']}"), 404)


@pytest.mark.parametrize("body", [
    {}, {"health_monitor": {}}, {"health_monitor": {"id": "not-a-uuid"}},
    {"health_monitor": "x"}, {"monitor": {"id": "4f0b9f8c-0000-4000-8000-000000000002"}},
], ids=["empty", "no-id", "bad-id", "not-object", "wrong-wrapper"])
def test_bad_association_body_rejected(api: Api, pool: dict, body: dict) -> None:
    assert_error(api.post(f"/lb/pools/{pool['id']}/health_monitors", body), 400)


def test_first_admin_up_monitor_is_active_others_inactive(api: Api, physnet: str,
                                                          agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    down = make_monitor(api, type="TCP", admin_state_up=False)
    up1 = make_monitor(api, type="HTTP")
    up2 = make_monitor(api, type="PING")
    for hm in (down, up1, up2):
        assert associate(api, pool["id"], hm["id"]).status_code == 201
    assert set(statuses(api, pool["id"]).values()) == {"PENDING_CREATE"}
    agent.deployed(pool["id"])
    got = statuses(api, pool["id"])
    assert got[down["id"]] == "INACTIVE"
    # HAProxy runs one check per backend: exactly one admin-up monitor is ACTIVE.
    assert sorted([got[up1["id"]], got[up2["id"]]]) == ["ACTIVE", "INACTIVE"]
    # The monitor's own view agrees.
    [view] = api.show("health_monitor", down["id"])["pools"]
    assert view["status"] == "INACTIVE"


def test_disassociation_confirmed_by_agent(api: Api, physnet: str, agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    agent.deployed(pool["id"])
    assert statuses(api, pool["id"]) == {hm["id"]: "ACTIVE"}

    resp = api.delete(f"/lb/pools/{pool['id']}/health_monitors/{hm['id']}")
    assert resp.status_code == 204, resp.text
    assert statuses(api, pool["id"]) == {hm["id"]: "PENDING_DELETE"}
    # Still associated until the agent confirms: the monitor can't go yet.
    assert_error(api.delete(f"/lb/health_monitors/{hm['id']}"), 409)
    agent.deployed(pool["id"])
    assert statuses(api, pool["id"]) == {}
    api.remove("health_monitor", hm["id"])


def test_agent_reports_association_status(api: Api, physnet: str, agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    resp = agent.update_status("health_monitor", f"{pool['id']}/{hm['id']}", "ERROR",
                               "check failed to configure")
    assert resp.status_code in (200, 204), resp.text
    [st] = api.show("pool", pool["id"])["health_monitors_status"]
    assert (st["status"], st["status_description"]) == ("ERROR", "check failed to configure")


def test_monitor_update_puts_its_associations_pending(api: Api, physnet: str,
                                                      agent: FakeAgent) -> None:
    pool = make_pool(api, physnet=physnet)
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    agent.deployed(pool["id"])
    assert statuses(api, pool["id"]) == {hm["id"]: "ACTIVE"}
    api.update("health_monitor", hm["id"], delay=20)
    assert statuses(api, pool["id"]) == {hm["id"]: "PENDING_UPDATE"}
    agent.deployed(pool["id"])
    assert statuses(api, pool["id"]) == {hm["id"]: "ACTIVE"}
