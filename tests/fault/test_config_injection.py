"""Configuration injection: every tenant string that could reach HAProxy's configuration
either is refused with a 400 (Neutron's error body) or, when it is a legal free-text
value (a name, a description), is kept out of the configuration. The real agent renders
the pool's config all along; after the attempts, its file holds none of the text."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fault.conftest import Api, FaultService, LoadBalancer, Tenant, client_get

EVIL = "x\n    server evil 10.97.66.66:80"
# Text that must never be found in a rendered configuration.
MARKERS = ("evil", "10.97.66.66", "injected")

# Words HAProxy's parser splits, comments, quotes or continues on.
BAD_WORDS = [
    EVIL,
    "a b",
    "a#injected",
    'a"injected"',
    "a'injected'",
    "a\tinjected",
    "a\\injected",
    "a\r\ninjected",
    "a\ninjected",
]
BAD_URL_PATHS = ["/" + w for w in BAD_WORDS] + ["/ok\n", "injected", "/a b HTTP/1.0"]
BAD_METHODS = ["GET\n", "GET /injected", "G#T", "'GET'", 'G"T', "GET\\", "get injected"]
BAD_CODES = ["200\n", "200 #injected", "200,abc", "200-\n", '"200"', "2 00", "200;injected"]
BAD_COOKIES = [*BAD_WORDS, "a;injected", "a=injected", "a,injected", "a$injected"]
# Legal names: Neutron takes any text without control characters, and these go nowhere
# near the configuration.
ODD_NAMES = ['odd # "name" \'with\' spaces server evil 10.97.66.66:80 ; injected',
             "backend injected\\", "{{ injected }}", "%[injected]"]
BAD_NAMES = [EVIL, "a\ninjected", "a\rinjected", "a\x85injected", "a\u2028injected",
             "a\x00injected"]


def _assert_refused(api: Api, method: str, path: str, body: dict[str, Any]) -> None:
    r = api.http.request(method, path, json=body)
    assert r.status_code == 400, f"{method} {path} {body} → {r.status_code}: {r.text}"
    err = r.json().get("NeutronError")
    assert err and err.get("type") and err.get("message"), r.text


def _ids(api: Api) -> dict[str, set[str]]:
    return {kind: {o["id"] for o in api.get(f"/lb/{kind}")[kind]}
            for kind in ("pools", "health_monitors", "vips", "members")}


def _conf(service: FaultService, lb: LoadBalancer) -> str:
    return (service.state / lb.pool_id / "conf").read_text()


@pytest.fixture
def lb(tenant: Tenant) -> LoadBalancer:
    return tenant.create_lb(
        monitor={"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                 "url_path": "/health", "http_method": "GET", "expected_codes": "200"},
        vip={"session_persistence": {"type": "APP_COOKIE", "cookie_name": "APPSESSION"}})


def test_bad_strings_are_refused_and_never_reach_the_config(
        lb: LoadBalancer, tenant: Tenant, api: Api, service: FaultService) -> None:
    before = _conf(service, lb)
    objects = _ids(api)
    hm_id = tenant.monitors[0]
    subnet = tenant.subnet["id"]
    for value in BAD_URL_PATHS:
        _assert_refused(api, "PUT", f"/lb/health_monitors/{hm_id}",
                        {"health_monitor": {"url_path": value}})
        _assert_refused(api, "POST", "/lb/health_monitors", {"health_monitor": {
            "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1, "url_path": value}})
    for value in BAD_METHODS:
        _assert_refused(api, "PUT", f"/lb/health_monitors/{hm_id}",
                        {"health_monitor": {"http_method": value}})
        _assert_refused(api, "POST", "/lb/health_monitors", {"health_monitor": {
            "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
            "http_method": value}})
    for value in BAD_CODES:
        _assert_refused(api, "PUT", f"/lb/health_monitors/{hm_id}",
                        {"health_monitor": {"expected_codes": value}})
        _assert_refused(api, "POST", "/lb/health_monitors", {"health_monitor": {
            "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
            "expected_codes": value}})
    # Creates and updates are validated by different models: both are tried. A VIP
    # create needs a pool without one.
    spare = tenant.create_pool(backends=())
    objects["pools"].add(spare.pool_id)
    vip_body = {"subnet_id": subnet, "protocol": "HTTP", "protocol_port": 80,
                "pool_id": spare.pool_id}
    for value in BAD_COOKIES:
        persistence = {"type": "APP_COOKIE", "cookie_name": value}
        _assert_refused(api, "PUT", f"/lb/vips/{lb.vip_id}",
                        {"vip": {"session_persistence": persistence}})
        _assert_refused(api, "POST", "/lb/vips",
                        {"vip": {**vip_body, "session_persistence": persistence}})
    for value in BAD_NAMES:
        _assert_refused(api, "PUT", f"/lb/pools/{lb.pool_id}", {"pool": {"name": value}})
        _assert_refused(api, "PUT", f"/lb/pools/{lb.pool_id}",
                        {"pool": {"description": value}})
        _assert_refused(api, "PUT", f"/lb/vips/{lb.vip_id}", {"vip": {"name": value}})
        _assert_refused(api, "PUT", f"/lb/vips/{lb.vip_id}", {"vip": {"description": value}})
        _assert_refused(api, "POST", "/lb/pools", {"pool": {
            "name": value, "subnet_id": subnet, "protocol": "HTTP",
            "lb_method": "ROUND_ROBIN", "description": "ok"}})
        _assert_refused(api, "POST", "/lb/pools", {"pool": {
            "description": value, "subnet_id": subnet, "protocol": "HTTP",
            "lb_method": "ROUND_ROBIN"}})
        _assert_refused(api, "POST", "/lb/vips", {"vip": {**vip_body, "name": value}})
        _assert_refused(api, "POST", "/lb/vips",
                        {"vip": {**vip_body, "description": value}})

    # Nothing was created, nothing changed, and the load balancer serves as before.
    assert _ids(api) == objects
    assert api.get(f"/lb/health_monitors/{hm_id}")["health_monitor"]["url_path"] == "/health"
    assert api.get(f"/lb/vips/{lb.vip_id}")["vip"]["status"] == "ACTIVE"
    assert _conf(service, lb) == before
    assert set(client_get(lb.url, 3)) <= {"b1", "b2", "b3"}


def test_odd_but_valid_names_leave_the_config_whole(
        lb: LoadBalancer, api: Api, service: FaultService) -> None:
    for name in ODD_NAMES:
        api.put(f"/lb/pools/{lb.pool_id}", {"pool": {"name": name, "description": name}})
        api.put(f"/lb/vips/{lb.vip_id}", {"vip": {"name": name, "description": name}})
        assert api.get(f"/lb/pools/{lb.pool_id}")["pool"]["name"] == name
    # A change that makes the agent render and reload: the names are then current.
    api.put(f"/lb/pools/{lb.pool_id}", {"pool": {"lb_method": "LEAST_CONNECTIONS"}})
    api.wait(f"/lb/pools/{lb.pool_id}", "pool", "ACTIVE")
    vip = api.wait(f"/lb/vips/{lb.vip_id}", "vip", "ACTIVE")
    assert vip["status_description"] in (None, ""), vip
    conf = _conf(service, lb)
    assert "leastconn" in conf
    for marker in MARKERS:
        assert marker not in conf, conf
    assert set(client_get(lb.url, 3)) <= {"b1", "b2", "b3"}
