"""/v2.0/lb/health_monitors: checks HAProxy runs against members."""

from __future__ import annotations

import pytest

from tests.api.builders import assert_error, associate, make_monitor, make_pool, make_subnet
from tests.helpers.server import Api

HTTP_FIELDS = {"http_method", "url_path", "expected_codes"}


def test_http_monitor_created_with_defaults(api: Api, project: str) -> None:
    resp = api.post("/lb/health_monitors", {"health_monitor": {
        "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2}})
    assert resp.status_code == 201, resp.text
    hm = resp.json()["health_monitor"]
    assert hm["tenant_id"] == project
    assert (hm["type"], hm["delay"], hm["timeout"], hm["max_retries"]) == ("HTTP", 5, 3, 2)
    assert hm["http_method"] == "GET"
    assert hm["url_path"] == "/"
    assert hm["expected_codes"] == "200"
    assert hm["admin_state_up"] is True
    assert hm["pools"] == []
    assert api.show("health_monitor", hm["id"]) == hm


@pytest.mark.parametrize("type_", ["HTTP", "HTTPS"])
def test_http_fields_shown_for_http_monitors(api: Api, type_: str) -> None:
    hm = make_monitor(api, type=type_, http_method="HEAD", url_path="/health?full=1",
                      expected_codes="200-204")
    assert HTTP_FIELDS <= set(hm)
    shown = api.show("health_monitor", hm["id"])
    assert (shown["http_method"], shown["url_path"], shown["expected_codes"]) == (
        "HEAD", "/health?full=1", "200-204")


@pytest.mark.parametrize("type_", ["PING", "TCP"])
def test_http_fields_hidden_for_other_monitors(api: Api, type_: str) -> None:
    hm = make_monitor(api, type=type_)
    assert not HTTP_FIELDS & set(hm), hm
    assert not HTTP_FIELDS & set(api.show("health_monitor", hm["id"]))
    listed = [m for m in api.list("health_monitor", id=hm["id"])]
    assert len(listed) == 1 and not HTTP_FIELDS & set(listed[0])


@pytest.mark.parametrize("codes", ["200", "200,202", "200-204", "301,302,303"])
def test_expected_codes_forms_accepted(api: Api, codes: str) -> None:
    assert make_monitor(api, expected_codes=codes)["expected_codes"] == codes


@pytest.mark.parametrize("attr,value", [
    ("type", "UDP"), ("type", "http"), ("delay", 0), ("delay", -1), ("delay", "soon"),
    ("timeout", 0), ("max_retries", 0), ("max_retries", 11), ("max_retries", "x"),
    ("url_path", "health"), ("url_path", "/a b"), ("url_path", "/a\nb"), ("url_path", ""),
    ("http_method", "GE T"), ("http_method", ""), ("http_method", "GET\r\n"),
    ("expected_codes", "abc"), ("expected_codes", "200-"), ("expected_codes", "2000"),
    ("expected_codes", "200;202"), ("expected_codes", ""), ("expected_codes", "200 ok"),
    ("admin_state_up", "perhaps"),
])
def test_bad_monitor_attribute_rejected(api: Api, attr: str, value: object) -> None:
    body = {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, attr: value}
    assert_error(api.post("/lb/health_monitors", {"health_monitor": body}), 400)


@pytest.mark.parametrize("retries", [1, 10])
def test_max_retries_bounds_accepted(api: Api, retries: int) -> None:
    assert make_monitor(api, max_retries=retries)["max_retries"] == retries


def test_type_is_required(api: Api) -> None:
    body = {"delay": 5, "timeout": 3, "max_retries": 3}
    assert_error(api.post("/lb/health_monitors", {"health_monitor": body}), 400)


def test_delay_below_timeout_rejected_on_create(api: Api) -> None:
    body = {"type": "TCP", "delay": 2, "timeout": 3, "max_retries": 3}
    assert_error(api.post("/lb/health_monitors", {"health_monitor": body}), 400)
    # Equal is fine.
    assert make_monitor(api, type="TCP", delay=3, timeout=3)["delay"] == 3


@pytest.mark.parametrize("change", [{"timeout": 6}, {"delay": 4}, {"delay": 1, "timeout": 2}])
def test_delay_below_timeout_rejected_on_update(api: Api, change: dict) -> None:
    hm = make_monitor(api, delay=5, timeout=5)
    resp = api.put(f"/lb/health_monitors/{hm['id']}", {"health_monitor": change})
    assert_error(resp, 400)
    shown = api.show("health_monitor", hm["id"])
    assert (shown["delay"], shown["timeout"]) == (5, 5)


def test_monitor_update(api: Api) -> None:
    hm = make_monitor(api, delay=5, timeout=3)
    updated = api.update("health_monitor", hm["id"], delay=10, timeout=8, max_retries=5,
                         url_path="/status", http_method="POST", expected_codes="200,201",
                         admin_state_up=False)
    assert (updated["delay"], updated["timeout"], updated["max_retries"]) == (10, 8, 5)
    assert (updated["url_path"], updated["http_method"], updated["expected_codes"]) == (
        "/status", "POST", "200,201")
    assert updated["admin_state_up"] is False
    # Merged with the stored values: raising delay alone keeps the check valid.
    assert api.update("health_monitor", hm["id"], delay=20)["timeout"] == 8


@pytest.mark.parametrize("attr,value", [
    ("type", "TCP"), ("pools", []), ("id", "2d0b9f8c-0000-4000-8000-000000000000"),
    ("tenant_id", "someone-else"),
])
def test_read_only_monitor_attributes_rejected(api: Api, attr: str, value: object) -> None:
    hm = make_monitor(api)
    resp = api.put(f"/lb/health_monitors/{hm['id']}", {"health_monitor": {attr: value}})
    assert_error(resp, 400)


def test_read_only_pools_rejected_on_create(api: Api) -> None:
    body = {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, "pools": []}
    assert_error(api.post("/lb/health_monitors", {"health_monitor": body}), 400)


def test_delete_unassociated_monitor(api: Api) -> None:
    hm = make_monitor(api)
    api.remove("health_monitor", hm["id"])
    assert_error(api.get(f"/lb/health_monitors/{hm['id']}"), 404)
    assert_error(api.delete(f"/lb/health_monitors/{hm['id']}"), 404)


def test_delete_associated_monitor_conflicts(api: Api) -> None:
    pool = make_pool(api, make_subnet(api, cidr="10.70.0.0/24")["id"])
    hm = make_monitor(api)
    assert associate(api, pool["id"], hm["id"]).status_code == 201
    assert_error(api.delete(f"/lb/health_monitors/{hm['id']}"), 409)
    assert api.show("health_monitor", hm["id"])["id"] == hm["id"]
    # Disassociated (no agent: at once), it can go.
    resp = api.delete(f"/lb/pools/{pool['id']}/health_monitors/{hm['id']}")
    assert resp.status_code == 204, resp.text
    api.remove("health_monitor", hm["id"])


def test_monitor_shows_its_pools(api: Api) -> None:
    sub = make_subnet(api, cidr="10.71.0.0/24")
    p1, p2 = make_pool(api, sub["id"]), make_pool(api, sub["id"])
    hm = make_monitor(api)
    for p in (p1, p2):
        assert associate(api, p["id"], hm["id"]).status_code == 201
    pools = api.show("health_monitor", hm["id"])["pools"]
    assert sorted(p["pool_id"] for p in pools) == sorted([p1["id"], p2["id"]])
    for p in pools:
        assert p["status"] == "PENDING_CREATE"
        assert "status_description" in p


def test_missing_monitor_is_404(api: Api) -> None:
    assert_error(api.get("/lb/health_monitors/2d0b9f8c-0000-4000-8000-0000000000ff"), 404)
