"""Octavia's L7 policies and rules as HAProxy ACLs, ``http-request`` rules and
``use_backend`` lines: every rendered variant is checked by the installed
``haproxy -c``, and hostile values either render inertly or are refused."""

from __future__ import annotations

from typing import Any

import pytest

from lbaas.agent.drivers.haproxy import cfg
from tests.unit.haproxy.haproxy_sample_device import sample_multi_listener_device
from tests.unit.haproxy.test_haproxy_cfg import assert_valid, section
from tests.unit.haproxy.test_haproxy_cfg_loadbalancer import (
    HTTP_LISTENER,
    build,
    lb_of,
    listener,
    render,
)

IMAGES = "7a0c1d9e-0000-4000-8000-00000000aa01"
P1, P2, P3, P4 = (f"7a0c1d9e-0000-4000-8000-0000000001{i:02d}" for i in range(1, 5))


def rule(i: int, type_: str, compare: str, value: str, key: str | None = None,
         invert: bool = False, admin_state_up: bool = True) -> dict[str, Any]:
    return {"id": f"7a0c1d9e-0000-4000-8000-0000000002{i:02d}", "type": type_,
            "compare_type": compare, "key": key, "value": value, "invert": invert,
            "admin_state_up": admin_state_up}


def device_with(*policies: dict[str, Any]) -> dict[str, Any]:
    d = sample_multi_listener_device()
    lb_of(d)["pools"].append({
        "id": IMAGES, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": [{"id": "7a0c1d9e-0000-4000-8000-0000000003aa", "address": "10.92.1.9",
                     "protocol_port": 8080}]})
    listener(d, 0)["l7policies"] = list(policies)
    return d


def frontend(d: dict[str, Any]) -> str:
    return "\n".join(section(render(d), f"frontend {HTTP_LISTENER}"))


def test_each_action_renders_in_position_order_and_is_valid(haproxy_check):
    d = device_with(
        {"id": P3, "action": "REJECT", "position": 3,
         "rules": [rule(3, "HEADER", "CONTAINS", "evil", key="User-Agent")]},
        {"id": P1, "action": "REDIRECT_TO_POOL", "position": 1, "redirect_pool_id": IMAGES,
         "rules": [rule(1, "HOST_NAME", "EQUAL_TO", "images.example.com"),
                   rule(2, "PATH", "STARTS_WITH", "/private", invert=True)]},
        {"id": P2, "action": "REDIRECT_PREFIX", "position": 2,
         "redirect_prefix": "https://new.example.com", "redirect_http_code": 301,
         "rules": [rule(4, "PATH", "REGEX", r"^/old/[a-z]+\.html$")]},
        {"id": P4, "action": "REDIRECT_TO_URL", "position": 4,
         "redirect_url": "http://example.com/moved?x=%41",
         "rules": [rule(5, "COOKIE", "EQUAL_TO", "beta", key="channel"),
                   rule(6, "FILE_TYPE", "EQUAL_TO", "php"),
                   rule(7, "FILE_TYPE", "REGEX", "jpe?g|png")]})
    text = render(d)
    assert_valid(haproxy_check, text)
    fe = section(text, f"frontend {HTTP_LISTENER}")
    order = [line.split("str(")[1].split(")")[0] for line in fe if "set-var" in line]
    assert order == [P1, P2, P3, P4]
    body = "\n".join(fe)
    r = "7a0c1d9e-0000-4000-8000-0000000002"
    assert f"acl {r}01 req.hdr(host) -i -m str -- 'images.example.com'" in body
    assert f"http-request set-var(txn.l7policy) str({P1}) if {r}01 !{r}02 " \
           "!{ var(txn.l7policy) -m found }" in body
    assert f"acl {r}04 path -m reg -- '^/old/[a-z]+\\.html$'" in body
    assert f"acl {r}03 req.hdr(User-Agent) -m sub -- 'evil'" in body
    assert f"acl {r}05 req.cook(channel) -m str -- 'beta'" in body
    assert f"acl {r}06 path -m end -- '.php'" in body
    assert f"acl {r}07 path -m reg -- '\\.(jpe?g|png)$'" in body
    assert f"http-request deny if {{ var(txn.l7policy) -m str {P3} }}" in body
    assert "http-request redirect prefix 'https://new.example.com' code 301 if " \
           f"{{ var(txn.l7policy) -m str {P2} }}" in body
    # Log-format: a literal '%' is doubled.
    assert "redirect location 'http://example.com/moved?x=%%41' code 302" in body
    assert f"use_backend {IMAGES} if {{ var(txn.l7policy) -m str {P1} }}" in body
    # use_backend lines come before the default.
    assert body.index("use_backend") < body.index("default_backend")
    # The L7-only pool is a backend of its own.
    assert f"backend {IMAGES}" in text


def test_disabled_or_empty_policies_and_disabled_rules_are_left_out(haproxy_check):
    d = device_with(
        {"id": P1, "action": "REJECT", "position": 1, "admin_state_up": False,
         "rules": [rule(1, "PATH", "EQUAL_TO", "/a")]},
        {"id": P2, "action": "REJECT", "position": 2, "rules": []},
        {"id": P3, "action": "REJECT", "position": 3,
         "rules": [rule(3, "PATH", "EQUAL_TO", "/c"),
                   rule(4, "PATH", "EQUAL_TO", "/d", admin_state_up=False)]})
    body = frontend(d)
    assert P1 not in body and P2 not in body
    assert "0000000002 04" not in body and "-- '/d'" not in body
    assert f"str({P3}) if 7a0c1d9e-0000-4000-8000-000000000203 !{{" in body
    assert_valid(haproxy_check, render(d))


@pytest.mark.parametrize("value", [
    "a'b", "a\nb", "a\rb", "x\x00y", "a b", 'a"b', "a\\b", "#x", "é", "x" * 256])
def test_hostile_literal_values_are_refused_at_render(value):
    d = device_with({"id": P1, "action": "REJECT", "position": 1,
                     "rules": [rule(1, "PATH", "EQUAL_TO", value)]})
    with pytest.raises(cfg.ConfigError):
        build(d)


@pytest.mark.parametrize("field,value", [
    ("redirect_url", "http://a.example/x'y"), ("redirect_url", "http://a.example/\nacl"),
    ("redirect_url", "http://a example/"), ("redirect_url", "javascript:alert(1)"),
    ("redirect_url", "http://a.example/%zz"), ("redirect_url", "http://a/" + "x" * 300),
    ("redirect_http_code", 200)])
def test_hostile_redirects_are_refused_at_render(field, value):
    policy = {"id": P1, "action": "REDIRECT_TO_URL", "position": 1,
              "redirect_url": "http://ok.example/", "rules": [rule(1, "PATH", "EQUAL_TO", "/")]}
    policy[field] = value
    with pytest.raises(cfg.ConfigError):
        build(device_with(policy))


@pytest.mark.parametrize("key", ["a b", "a)b", "a,b", "x'", "a\nb", "$HOME"])
def test_hostile_header_names_are_refused_at_render(key):
    d = device_with({"id": P1, "action": "REJECT", "position": 1,
                     "rules": [rule(1, "HEADER", "EQUAL_TO", "v", key=key)]})
    with pytest.raises(cfg.ConfigError):
        build(d)


def test_values_that_look_like_flags_or_syntax_stay_patterns(haproxy_check):
    # '-i', '%[...]', '${VAR}', '{', '!' and a regex with spaces and backslashes: quoted
    # after '--', they are patterns and change nothing else in the config.
    d = device_with({"id": P1, "action": "REJECT", "position": 1, "rules": [
        rule(1, "PATH", "EQUAL_TO", "-i"), rule(2, "PATH", "CONTAINS", "%[src]"),
        rule(3, "HOST_NAME", "STARTS_WITH", "${HOME}"), rule(4, "PATH", "ENDS_WITH", "}!{"),
        rule(5, "PATH", "REGEX", r"^/a b\s+\d{2,}(x|y)$")]})
    text = render(d)
    assert_valid(haproxy_check, text)
    body = "\n".join(section(text, f"frontend {HTTP_LISTENER}"))
    assert "-m str -- '-i'" in body and "-- '${HOME}'" in body
    assert r"-m reg -- '^/a b\s+\d{2,}(x|y)$'" in body


def test_ssl_rules_and_policies_on_tcp_listeners_are_refused_at_render():
    d = device_with({"id": P1, "action": "REJECT", "position": 1,
                     "rules": [rule(1, "SSL_CONN_HAS_CERT", "EQUAL_TO", "True")]})
    with pytest.raises(cfg.ConfigError):
        build(d)
    d = device_with()
    listener(d, 1)["l7policies"] = [{"id": P1, "action": "REJECT", "position": 1,
                                     "rules": [rule(1, "PATH", "EQUAL_TO", "/")]}]
    with pytest.raises(cfg.ConfigError):
        build(d)


def test_a_device_without_policies_renders_as_before(haproxy_check):
    before = render(sample_multi_listener_device())
    assert render(device_with()).split("backend " + IMAGES)[0].rstrip() == before.rstrip()
    assert "acl " not in before.replace("acl allowed_cidr", "")


def test_the_kept_view_round_trips_and_an_older_one_still_loads():
    d = device_with({"id": P1, "action": "REJECT", "position": 1,
                     "rules": [rule(1, "PATH", "EQUAL_TO", "/a")]})
    view = build(d)
    assert cfg.view_from_dict(cfg.view_to_dict(view)) == view
    older = cfg.view_to_dict(build(sample_multi_listener_device()))
    for fe in older["frontends"]:
        for key in ("acls", "l7_requests", "use_backends"):
            del fe[key]
    assert cfg.view_from_dict(older) == build(sample_multi_listener_device())
