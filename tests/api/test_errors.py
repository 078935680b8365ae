"""Bad input is a 400 with Neutron's error body, never a 500; strings that can reach a
configuration file carry no control characters and have a bounded length."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.builders import (
    assert_error,
    make_monitor,
    make_network,
    make_pool,
    make_subnet,
    make_vip,
)
from tests.helpers.server import COLLECTIONS, Api

MISSING = "7c0b9f8c-0000-4000-8000-000000000000"


@pytest.mark.parametrize("path", ["/lb/pools", "/lb/members", "/lb/health_monitors",
                                  "/lb/vips", "/networks", "/subnets", "/ports"])
def test_404_body(api: Api, path: str) -> None:
    err = assert_error(api.get(f"{path}/{MISSING}"), 404)
    assert "NotFound" in err["type"] or "not found" in err["message"].lower(), err
    assert_error(api.put(f"{path}/{MISSING}", {path.rsplit("/", 1)[1][:-1]: {}}), 404)
    assert_error(api.delete(f"{path}/{MISSING}"), 404)


def test_404_for_a_non_uuid_id(api: Api) -> None:
    assert_error(api.get("/lb/pools/not-a-uuid"), 404)


def test_unknown_path_is_404_with_neutron_body(api: Api) -> None:
    assert_error(api.get("/lb/balloons"), 404)


def test_409_body(api: Api) -> None:
    pool = make_pool(api)
    make_vip(api, pool)
    err = assert_error(api.delete(f"/lb/pools/{pool['id']}"), 409)
    assert err["message"]


def test_400_body(api: Api) -> None:
    err = assert_error(api.post("/lb/pools", {"pool": {"protocol": "HTTP"}}), 400)
    assert err["message"]


MALFORMED = {
    "open-brace": b"{", "text": b"not json", "empty": b"", "null": b"null", "list": b"[]",
    "string": b'"pool"', "number": b"42", "truncated": b'{"pool": ',
    "bad-utf8": b'{"pool": {"name": "\xff\xfe"}}', "list-inside": b'{"pool": []}',
    "null-inside": b'{"pool": null}', "string-inside": b'{"pool": "x"}',
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_body_rejected(api: Api, kind: str) -> None:
    assert_error(api.post("/lb/pools", content=MALFORMED[kind]), 400)


@pytest.mark.parametrize("kind", ["open-brace", "empty", "list", "null-inside", "bad-utf8"])
@pytest.mark.parametrize("path", ["/lb/members", "/lb/vips", "/lb/health_monitors",
                                  "/networks", "/subnets", "/ports"])
def test_malformed_body_rejected_everywhere(api: Api, path: str, kind: str) -> None:
    wrapper = path.rsplit("/", 1)[1][:-1].encode()
    assert_error(api.post(path, content=MALFORMED[kind].replace(b"pool", wrapper)), 400)


def test_malformed_body_on_update_rejected(api: Api) -> None:
    pool = make_pool(api)
    for raw in (b"{", b"[]", b'{"pool": 5}', b'{"vip": {"name": "x"}}', b"{}"):
        assert_error(api.put(f"/lb/pools/{pool['id']}", content=raw), 400)


@pytest.mark.parametrize("wrapper", ["pools", "member", "vip", "Pool", ""])
def test_wrong_wrapper_rejected(api: Api, wrapper: str) -> None:
    sub = make_subnet(api)
    body = {wrapper: {"subnet_id": sub["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}}
    assert_error(api.post("/lb/pools", body), 400)


def test_two_wrappers_rejected(api: Api) -> None:
    sub = make_subnet(api)
    pool = {"subnet_id": sub["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}
    assert_error(api.post("/lb/pools", {"pool": pool, "extra": {}}), 400)


@pytest.mark.parametrize("resource", list(COLLECTIONS)[:-1])
def test_unknown_attribute_rejected(api: Api, resource: str) -> None:
    resp = api.post(COLLECTIONS[resource], {resource: {"colour": "blue"}})
    err = assert_error(resp, 400)
    assert "colour" in err["message"], err
    obj = _existing(api, resource) if resource != "member" else api.create(
        "member", **_valid_body(api, "member"))
    resp = api.put(f"{COLLECTIONS[resource]}/{obj['id']}", {resource: {"colour": "blue"}})
    assert "colour" in assert_error(resp, 400)["message"]


@pytest.mark.parametrize("attr,value", [
    ("protocol_port", "8O"), ("protocol_port", 80.5), ("protocol_port", True),
    ("protocol_port", None), ("protocol_port", [80]), ("connection_limit", {"max": 1}),
    ("admin_state_up", None), ("admin_state_up", 2), ("name", None), ("name", 7),
    ("description", {}), ("address", 10), ("pool_id", None), ("subnet_id", 5),
    ("protocol_port", 2**70),
])
def test_wrong_types_rejected(api: Api, attr: str, value: Any) -> None:
    pool = make_pool(api)
    body = {"pool_id": pool["id"], "subnet_id": pool["subnet_id"], "protocol": "HTTP",
            "protocol_port": 80, attr: value}
    assert_error(api.post("/lb/vips", {"vip": body}), 400)


# -- strings that end up in HAProxy's configuration or in logs -----------------------------------

BAD_STRINGS = {
    "newline": "a\nb",
    "carriage-return": "a\rb",
    "tab": "a\tb",
    "nul": "a\x00b",
    "escape": "a\x1b[31mb",
    "del": "a\x7fb",
    "c1": "a\x85b",
    "overlong": "x" * 5000,
}


def _pool_body(api: Api) -> dict[str, Any]:
    sub = make_subnet(api)
    return {"subnet_id": sub["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}


def _vip_body(api: Api) -> dict[str, Any]:
    pool = make_pool(api)
    return {"pool_id": pool["id"], "subnet_id": pool["subnet_id"], "protocol": "HTTP",
            "protocol_port": 80}


def _hm_body(api: Api) -> dict[str, Any]:
    return {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}


# (resource, attribute, base body builder, how the value sits in the body)
STRING_FIELDS = [
    ("network", "name", lambda api: {}),
    ("network", "provider:physical_network", lambda api: {}),
    ("subnet", "name", lambda api: {"network_id": make_network(api)["id"], "ip_version": 4,
                                    "cidr": "10.150.0.0/24"}),
    ("port", "name", lambda api: {"network_id": make_subnet(api)["network_id"]}),
    ("port", "device_id", lambda api: {"network_id": make_subnet(api)["network_id"]}),
    ("port", "device_owner", lambda api: {"network_id": make_subnet(api)["network_id"]}),
    ("pool", "name", _pool_body),
    ("pool", "description", _pool_body),
    ("vip", "name", _vip_body),
    ("vip", "description", _vip_body),
    ("vip", "cookie_name", _vip_body),
    ("health_monitor", "url_path", _hm_body),
    ("health_monitor", "http_method", _hm_body),
    ("health_monitor", "expected_codes", _hm_body),
]


def _with_value(resource: str, attr: str, base: dict[str, Any], value: str) -> dict[str, Any]:
    body = dict(base)
    if attr == "cookie_name":
        body["session_persistence"] = {"type": "APP_COOKIE", "cookie_name": value}
    elif attr == "url_path":
        body[attr] = "/" + value
    else:
        body[attr] = value
    return {resource: body}


@pytest.mark.parametrize("resource,attr,base", STRING_FIELDS,
                         ids=[f"{r}-{a}" for r, a, _ in STRING_FIELDS])
def test_bad_strings_rejected_on_create(api: Api, resource: str, attr: str,
                                        base: Any) -> None:
    body = base(api)
    wrong: dict[str, str] = {}
    for kind, value in BAD_STRINGS.items():
        resp = api.post(COLLECTIONS[resource], _with_value(resource, attr, body, value))
        try:
            assert_error(resp, 400)
        except AssertionError as exc:
            wrong[kind] = str(exc)[:300]
    assert wrong == {}


UPDATABLE = [("network", "name"), ("subnet", "name"), ("port", "name"), ("pool", "name"),
             ("pool", "description"), ("vip", "name"), ("vip", "description"),
             ("vip", "cookie_name"), ("health_monitor", "url_path"),
             ("health_monitor", "http_method"), ("health_monitor", "expected_codes")]


def _existing(api: Api, resource: str) -> dict[str, Any]:
    if resource == "network":
        return make_network(api)
    if resource == "subnet":
        return make_subnet(api)
    if resource == "port":
        return api.create("port", network_id=make_subnet(api)["network_id"])
    if resource == "pool":
        return make_pool(api)
    if resource == "vip":
        return make_vip(api, make_pool(api))
    return make_monitor(api)


@pytest.mark.parametrize("resource,attr", UPDATABLE, ids=[f"{r}-{a}" for r, a in UPDATABLE])
def test_bad_strings_rejected_on_update(api: Api, resource: str, attr: str) -> None:
    obj = _existing(api, resource)
    wrong: dict[str, str] = {}
    for kind in ("newline", "nul", "escape", "c1", "overlong"):
        body = _with_value(resource, attr, {}, BAD_STRINGS[kind])
        resp = api.put(f"{COLLECTIONS[resource]}/{obj['id']}", body)
        try:
            assert_error(resp, 400)
        except AssertionError as exc:
            wrong[kind] = str(exc)[:300]
    assert wrong == {}
    shown = api.show(resource, obj["id"])
    key = "session_persistence" if attr == "cookie_name" else attr
    assert shown[key] == obj[key]


def test_reasonable_strings_accepted(api: Api) -> None:
    sub = make_subnet(api)
    pool = make_pool(api, sub["id"], name="web tier: café ünïcode ✓",
                     description="x" * 255)
    assert pool["name"] == "web tier: café ünïcode ✓"
    assert pool["description"] == "x" * 255
    vip = make_vip(api, pool, name="front door", description="a VIP, with 'quotes' & more")
    assert vip["description"] == "a VIP, with 'quotes' & more"


# -- never a 500: every attribute of every resource with values of every wrong shape ----------

ODD_VALUES: list[Any] = [None, True, 1.5, -1, 2**63, "x" * 300, [], {"a": 1}]

ATTRIBUTES = {
    "network": ["name", "admin_state_up", "shared", "provider:physical_network",
                "provider:network_type", "provider:segmentation_id", "mtu", "tenant_id"],
    "subnet": ["network_id", "name", "ip_version", "cidr", "gateway_ip", "allocation_pools",
               "host_routes", "dns_nameservers", "enable_dhcp"],
    "port": ["network_id", "name", "mac_address", "fixed_ips", "admin_state_up", "device_id",
             "device_owner", "binding:host_id"],
    "pool": ["name", "description", "subnet_id", "protocol", "lb_method", "provider",
             "admin_state_up"],
    "member": ["pool_id", "address", "protocol_port", "weight", "admin_state_up"],
    "health_monitor": ["type", "delay", "timeout", "max_retries", "http_method", "url_path",
                       "expected_codes", "admin_state_up"],
    "vip": ["name", "description", "subnet_id", "address", "protocol_port", "protocol",
            "pool_id", "session_persistence", "connection_limit", "admin_state_up"],
}


def _valid_body(api: Api, resource: str) -> dict[str, Any]:
    if resource == "network":
        return {}
    if resource == "subnet":
        return {"network_id": make_network(api)["id"], "ip_version": 4,
                "cidr": "10.151.0.0/24"}
    if resource == "port":
        return {"network_id": make_subnet(api, cidr="10.152.0.0/24")["network_id"]}
    if resource == "pool":
        return _pool_body(api)
    if resource == "member":
        return {"pool_id": make_pool(api)["id"], "address": "10.0.0.9", "protocol_port": 80}
    if resource == "health_monitor":
        return _hm_body(api)
    return _vip_body(api)


@pytest.mark.parametrize("resource", list(ATTRIBUTES))
def test_odd_values_never_cause_a_500(api: Api, resource: str) -> None:
    base = _valid_body(api, resource)
    obj = _existing(api, resource) if resource != "member" else api.create("member", **base)
    path = COLLECTIONS[resource]
    bad: list[str] = []
    for attr in ATTRIBUTES[resource]:
        for value in ODD_VALUES:
            for method, url, body in (
                    ("POST", path, {resource: {**base, attr: value}}),
                    ("PUT", f"{path}/{obj['id']}", {resource: {attr: value}})):
                try:
                    resp = api.request(method, url, body)
                except httpx.TransportError as exc:
                    # A connection the server dropped (after a 500 on it, say).
                    bad.append(f"{method} {attr}={value!r:.40} → {exc!r}")
                    api.close()
                    api = api.as_(project=api.project)
                    continue
                if resp.status_code >= 500 or (resp.status_code >= 400 and set(
                        resp.json()) != {"NeutronError"}):
                    bad.append(f"{method} {attr}={value!r:.40} → {resp.status_code} "
                               f"{resp.text[:150]}")
    api.close()
    assert not bad, "\n".join(bad)


ODD_PARAMS = ["abc", str(2**70), "\x00"]


@pytest.mark.parametrize("resource", list(ATTRIBUTES))
def test_odd_list_parameters_never_cause_a_500(api: Api, resource: str) -> None:
    if resource == "member":
        api.create("member", **_valid_body(api, "member"))
    else:
        _existing(api, resource)
    bad: list[str] = []
    for attr in [*ATTRIBUTES[resource], "id", "tenant_id"]:
        for params in [{attr: v} for v in ODD_PARAMS] + [
                {"sort_key": attr, "limit": 2, "marker": "abc"}]:
            resp = api.get(COLLECTIONS[resource], params=params)
            if resp.status_code >= 500 or (resp.status_code >= 400 and set(
                    resp.json()) != {"NeutronError"}):
                bad.append(f"{params!r:.60} → {resp.status_code} {resp.text[:150]}")
    assert not bad, "\n".join(bad)
