"""The view model and its rendering: every mapping of a v1 logical device (through
``from_v1``) to HAProxy, and every rendered variant accepted by the installed
``haproxy -c``. The load balancer's own features (several listeners, Octavia's options)
are in test_haproxy_cfg_loadbalancer.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lbaas.agent.drivers.haproxy import cfg
from lbaas.common.logical_device import from_v1
from tests.unit.haproxy.haproxy_sample_device import MEMBER_IDS, POOL_ID, VIP_ID

PATHS = cfg.StatePaths(stats_socket="/run/lbaas-test/sock",
                       server_state_file="/run/lbaas-test/servers-state")


def build(ld: dict[str, Any], log_target: str | None = None,
          user_group: str = "nogroup") -> cfg.ConfigView:
    return cfg.build_view(from_v1(ld).loadbalancer, PATHS, user_group=user_group,
                          hard_stop_after=300, log_target=log_target)


def render(ld: dict[str, Any], **kwargs: Any) -> str:
    return cfg.render(build(ld, **kwargs))


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def section(text: str, header: str) -> list[str]:
    """The stripped lines of one section (``frontend <id>``, ``global``...)."""
    out: list[str] = []
    inside = False
    for raw in text.splitlines():
        if raw and not raw[0].isspace():
            inside = raw.strip() == header
            continue
        if inside and raw.strip():
            out.append(raw.strip())
    return out


def server_line(text: str, member_id: str) -> str:
    return next(line for line in lines(text) if line.startswith(f"server {member_id} "))


def assert_valid(haproxy_check: Any, text: str) -> None:
    result = haproxy_check(text)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------ global, defaults


def test_global_runs_unprivileged_with_admin_socket_and_state_file(logical_device):
    glob = section(render(logical_device(), user_group="nogroup"), "global")
    assert "user nobody" in glob
    assert "group nogroup" in glob
    assert "daemon" in glob
    assert ("stats socket /run/lbaas-test/sock mode 0600 level admin expose-fd listeners"
            in glob)
    assert "server-state-file /run/lbaas-test/servers-state" in glob
    assert "hard-stop-after 300s" in glob


def test_access_log_only_when_the_operator_sets_a_target(logical_device):
    with_log = render(logical_device(), log_target="/dev/log")
    assert "log /dev/log local0" in section(with_log, "global")
    assert "log global" in section(with_log, "defaults")
    assert "option httplog" in section(with_log, f"frontend {VIP_ID}")
    without = render(logical_device(), log_target=None)
    assert not [line for line in lines(without)
                if line.startswith("log") or line.endswith("log")]


def test_defaults_keep_v1_timeouts_and_load_server_state(logical_device):
    defaults = section(render(logical_device()), "defaults")
    for expected in ("retries 3", "option redispatch", "timeout connect 5000",
                     "timeout client 50000", "timeout server 50000",
                     "load-server-state-from-file global"):
        assert expected in defaults


# ------------------------------------------------------------------ frontend


def test_http_frontend_named_by_vip(logical_device, haproxy_check):
    text = render(logical_device())
    frontend = section(text, f"frontend {VIP_ID}")
    assert "bind 10.92.0.10:80" in frontend
    assert "mode http" in frontend
    assert f"default_backend {POOL_ID}" in frontend
    assert "option forwardfor" in frontend
    assert not any(line.startswith("maxconn") for line in frontend)
    assert "disabled" not in frontend
    assert_valid(haproxy_check, text)


@pytest.mark.parametrize("protocol", ["TCP", "HTTPS"])
def test_tcp_and_https_are_tcp_mode_without_forwardfor(logical_device, haproxy_check,
                                                       protocol):
    ld = logical_device()
    ld["vip"]["protocol"] = ld["pool"]["protocol"] = protocol
    text = render(ld)
    frontend = section(text, f"frontend {VIP_ID}")
    assert "mode tcp" in frontend
    assert "option forwardfor" not in frontend
    assert "mode tcp" in section(text, f"backend {POOL_ID}")
    assert_valid(haproxy_check, text)


@pytest.mark.parametrize("limit, expected", [(-1, None), (None, None), (0, "maxconn 0"),
                                             (1000, "maxconn 1000")])
def test_connection_limit_becomes_maxconn(logical_device, haproxy_check, limit, expected):
    ld = logical_device()
    ld["vip"]["connection_limit"] = limit
    text = render(ld)
    maxconn = [line for line in section(text, f"frontend {VIP_ID}")
               if line.startswith("maxconn")]
    assert maxconn == ([expected] if expected else [])
    assert_valid(haproxy_check, text)


def test_admin_down_vip_disables_frontend(logical_device, haproxy_check):
    ld = logical_device()
    ld["vip"]["admin_state_up"] = False
    text = render(ld)
    assert "disabled" in section(text, f"frontend {VIP_ID}")
    assert "disabled" not in section(text, f"backend {POOL_ID}")
    assert_valid(haproxy_check, text)


def test_ipv6_vip_and_members(logical_device, haproxy_check):
    ld = logical_device()
    ld["vip"]["address"] = "fd00:92::10"
    ld["members"][0]["address"] = "fd00:92::2"
    ld["vip"]["session_persistence"] = {"type": "SOURCE_IP"}
    text = render(ld)
    assert "bind fd00:92::10:80" in section(text, f"frontend {VIP_ID}")
    assert "stick-table type ipv6 size 10k" in section(text, f"backend {POOL_ID}")
    assert_valid(haproxy_check, text)


# ------------------------------------------------------------------ backend, servers


@pytest.mark.parametrize("method, balance", [("ROUND_ROBIN", "roundrobin"),
                                             ("LEAST_CONNECTIONS", "leastconn"),
                                             ("SOURCE_IP", "source")])
def test_lb_method_becomes_balance(logical_device, haproxy_check, method, balance):
    ld = logical_device()
    ld["pool"]["lb_method"] = method
    text = render(ld)
    assert f"balance {balance}" in section(text, f"backend {POOL_ID}")
    assert_valid(haproxy_check, text)


def test_servers_named_by_member_with_weight(logical_device):
    text = render(logical_device())
    assert server_line(text, MEMBER_IDS[0]) == f"server {MEMBER_IDS[0]} 10.92.1.2:8080 weight 1"
    assert server_line(text, MEMBER_IDS[1]) == f"server {MEMBER_IDS[1]} 10.92.1.3:8080 weight 3"


def test_admin_down_member_is_rendered_disabled_not_dropped(logical_device, haproxy_check):
    ld = logical_device()
    ld["members"][1]["admin_state_up"] = False
    text = render(ld)
    assert server_line(text, MEMBER_IDS[1]).endswith(" disabled")
    assert not server_line(text, MEMBER_IDS[0]).endswith(" disabled")
    assert_valid(haproxy_check, text)


def test_admin_down_pool_disables_backend(logical_device, haproxy_check):
    ld = logical_device()
    ld["pool"]["admin_state_up"] = False
    text = render(ld)
    assert "disabled" in section(text, f"backend {POOL_ID}")
    assert_valid(haproxy_check, text)


def test_pool_without_members_is_valid(logical_device, haproxy_check):
    ld = logical_device()
    ld["members"] = []
    ld["vip"]["session_persistence"] = {"type": "HTTP_COOKIE"}
    text = render(ld)
    assert not [line for line in section(text, f"backend {POOL_ID}")
                if line.startswith(("server ", "cookie "))]
    assert_valid(haproxy_check, text)


# ------------------------------------------------------------------ health monitors


def monitor(mtype: str, **overrides: Any) -> dict[str, Any]:
    base = {"id": f"hm-{mtype.lower()}", "type": mtype, "delay": 5, "timeout": 3,
            "max_retries": 2, "http_method": "GET", "url_path": "/health",
            "expected_codes": "200", "admin_state_up": True, "status": "ACTIVE"}
    base.update(overrides)
    return base


@pytest.mark.parametrize("mtype", ["TCP", "PING"])
def test_tcp_and_ping_monitors_are_connect_checks(logical_device, haproxy_check, mtype):
    ld = logical_device()
    ld["healthmonitors"] = [monitor(mtype)]
    text = render(ld)
    backend = section(text, f"backend {POOL_ID}")
    assert "timeout check 3s" in backend
    assert not any("httpchk" in line or "http-check" in line for line in backend)
    assert server_line(text, MEMBER_IDS[0]).endswith("weight 1 check inter 5s fall 2 rise 2")
    assert_valid(haproxy_check, text)


def test_http_monitor_checks_method_path_and_codes(logical_device, haproxy_check):
    ld = logical_device()
    ld["healthmonitors"] = [monitor("HTTP", http_method="HEAD", url_path="/ping",
                                    expected_codes="200,202")]
    text = render(ld)
    backend = section(text, f"backend {POOL_ID}")
    assert "option httpchk HEAD /ping" in backend
    assert "http-check expect rstatus ^(200|202)$" in backend
    assert "check-ssl" not in server_line(text, MEMBER_IDS[0])
    assert_valid(haproxy_check, text)


@pytest.mark.parametrize("pool_protocol", ["HTTPS", "HTTP", "TCP"])
def test_https_monitor_runs_the_http_check_over_tls(logical_device, haproxy_check,
                                                    pool_protocol):
    ld = logical_device()
    ld["pool"]["protocol"] = ld["vip"]["protocol"] = pool_protocol
    ld["healthmonitors"] = [monitor("HTTPS")]
    text = render(ld)
    assert "option httpchk GET /health" in section(text, f"backend {POOL_ID}")
    assert server_line(text, MEMBER_IDS[1]).endswith(
        "check inter 5s fall 2 rise 2 check-ssl verify none")
    assert_valid(haproxy_check, text)


@pytest.mark.parametrize("codes, regex", [("200", "^(200)$"), ("200,202", "^(200|202)$"),
                                          ("200-204", "^(200|201|202|203|204)$"),
                                          ("", "^(200)$")])
def test_expected_codes_become_anchored_regex(codes, regex):
    assert cfg.expected_codes_regex(codes) == regex


@pytest.mark.parametrize("codes", ["20", "abc", "204-200", "200;reboot", "200 -"])
def test_bad_expected_codes_are_rejected(codes):
    with pytest.raises(cfg.ConfigError):
        cfg.expected_codes_regex(codes)


def test_first_admin_up_monitor_wins(logical_device):
    ld = logical_device()
    ld["healthmonitors"] = [monitor("HTTP", admin_state_up=False, url_path="/off"),
                            monitor("TCP", delay=7), monitor("HTTP", url_path="/late")]
    text = render(ld)
    assert not any("httpchk" in line for line in lines(text))
    assert "check inter 7s" in server_line(text, MEMBER_IDS[0])


def test_objects_being_deleted_are_not_served(logical_device):
    ld = logical_device()
    ld["members"][1]["status"] = "PENDING_DELETE"
    ld["healthmonitors"] = [monitor("HTTP", status="PENDING_DELETE"), monitor("TCP")]
    text = render(ld)
    assert [line for line in lines(text) if line.startswith("server ")] == [
        server_line(text, MEMBER_IDS[0])]
    assert not any("httpchk" in line for line in lines(text))
    assert " check inter 5s" in server_line(text, MEMBER_IDS[0])


def test_only_admin_down_monitors_means_no_check(logical_device):
    ld = logical_device()
    ld["healthmonitors"] = [monitor("HTTP", admin_state_up=False)]
    text = render(ld)
    assert " check" not in server_line(text, MEMBER_IDS[0])
    assert not any(line.startswith("timeout check") for line in lines(text))


# ------------------------------------------------------------------ session persistence


def test_source_ip_persistence_uses_stick_table(logical_device, haproxy_check):
    ld = logical_device()
    ld["vip"]["session_persistence"] = {"type": "SOURCE_IP", "cookie_name": None}
    text = render(ld)
    backend = section(text, f"backend {POOL_ID}")
    assert "stick-table type ip size 10k" in backend
    assert "stick on src" in backend
    assert_valid(haproxy_check, text)


def test_http_cookie_persistence_inserts_cookie_per_member(logical_device, haproxy_check):
    ld = logical_device()
    ld["vip"]["session_persistence"] = {"type": "HTTP_COOKIE"}
    text = render(ld)
    assert "cookie SRV insert indirect nocache" in section(text, f"backend {POOL_ID}")
    for member_id in MEMBER_IDS:
        assert f" cookie {member_id}" in server_line(text, member_id)
    assert_valid(haproxy_check, text)


def test_app_cookie_persistence_sticks_on_the_application_cookie(logical_device,
                                                                 haproxy_check):
    ld = logical_device()
    ld["vip"]["session_persistence"] = {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}
    text = render(ld)
    backend = section(text, f"backend {POOL_ID}")
    assert "stick-table type string len 64 size 10k" in backend
    assert "stick store-response res.cook(JSESSIONID)" in backend
    assert "stick match req.cook(JSESSIONID)" in backend
    assert not any("appsession" in line for line in backend)
    assert_valid(haproxy_check, text)


@pytest.mark.parametrize("ptype", ["HTTP_COOKIE", "APP_COOKIE"])
def test_cookie_persistence_is_not_rendered_on_tcp_pools(logical_device, haproxy_check,
                                                         ptype):
    ld = logical_device()
    ld["vip"]["protocol"] = ld["pool"]["protocol"] = "TCP"
    ld["vip"]["session_persistence"] = {"type": ptype, "cookie_name": "sid"}
    text = render(ld)
    assert not any(line.startswith(("cookie", "stick")) for line in lines(text))
    assert_valid(haproxy_check, text)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("mutate", [
    lambda ld: ld["members"][0].update(address="10.92.1.300"),
    lambda ld: ld["members"][0].update(protocol_port=0),
    lambda ld: ld["members"][0].update(weight=257),
    lambda ld: ld["members"][0].update(id="m 1"),
    lambda ld: ld["vip"].update(protocol_port=70000),
    lambda ld: ld["vip"].update(protocol="UDP"),
    lambda ld: ld["vip"].update(protocol="TCP"),  # pool is HTTP: mismatch
    lambda ld: ld["pool"].update(lb_method="RANDOM"),
    lambda ld: ld["vip"].update(session_persistence={"type": "APP_COOKIE",
                                                     "cookie_name": "a b"}),
    lambda ld: ld["vip"].update(session_persistence={"type": "STICKY"}),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", url_path="/a b")]),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", http_method="get\n")]),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", delay=0)]),
    lambda ld: ld.update(healthmonitors=[monitor("UDP")]),
    lambda ld: ld.update(vip=None),
], ids=["address", "member-port", "weight", "member-id", "vip-port", "protocol",
        "protocol-mismatch", "lb-method", "cookie-name", "persistence-type", "url-path",
        "http-method", "delay", "monitor-type", "no-vip"])
def test_invalid_logical_device_is_rejected_before_haproxy(logical_device, mutate):
    ld = logical_device()
    mutate(ld)
    with pytest.raises(cfg.ConfigError):
        build(ld)


# ------------------------------------------------------------------ change classification


def test_weight_and_member_admin_changes_are_runtime_only(logical_device):
    old = build(logical_device())
    ld = logical_device()
    ld["members"][0]["weight"] = 10
    ld["members"][1]["admin_state_up"] = False
    assert cfg.runtime_only_difference(old, build(ld))


@pytest.mark.parametrize("mutate", [
    lambda ld: ld["members"].append({"id": "m3", "address": "10.92.1.4",
                                     "protocol_port": 80, "weight": 1,
                                     "admin_state_up": True}),
    lambda ld: ld["members"].pop(),
    lambda ld: ld["members"][0].update(protocol_port=81),
    lambda ld: ld["pool"].update(lb_method="LEAST_CONNECTIONS"),
    lambda ld: ld["pool"].update(admin_state_up=False),
    lambda ld: ld["vip"].update(connection_limit=5),
], ids=["member-added", "member-removed", "member-port", "lb-method", "pool-admin-down",
        "connection-limit"])
def test_other_changes_need_a_reload(logical_device, mutate):
    old = build(logical_device())
    ld = logical_device()
    ld["members"][0]["weight"] = 10
    mutate(ld)
    assert not cfg.runtime_only_difference(old, build(ld))


def test_identical_config_is_not_a_runtime_change(logical_device):
    assert not cfg.runtime_only_difference(build(logical_device()), build(logical_device()))


def test_view_survives_its_json_form(logical_device):
    ld = logical_device()
    ld["healthmonitors"] = [monitor("HTTPS")]
    ld["vip"]["session_persistence"] = {"type": "APP_COOKIE", "cookie_name": "sid"}
    view = build(ld, log_target="/dev/log")
    import json
    assert cfg.view_from_dict(json.loads(json.dumps(cfg.view_to_dict(view)))) == view


def test_template_places_values_the_view_holds(logical_device):
    # The template decides nothing: a value forced into the view appears verbatim.
    view = build(logical_device())
    forced = dataclasses.replace(view, frontends=(dataclasses.replace(view.frontends[0],
                                                                      maxconn=12345),))
    assert "maxconn 12345" in section(cfg.render(forced), f"frontend {VIP_ID}")


# ------------------------------------------------------- defence in depth (the API's limits)

INJECTED = "fe80::1%1\n    option external-check #"


@pytest.mark.parametrize("mutate", [
    lambda ld: ld["members"][0].update(address=INJECTED),
    lambda ld: ld["members"][0].update(address="fe80::1%eth0"),
    lambda ld: ld["members"][0].update(address="FE80::1"),
    lambda ld: ld["vip"].update(address="fe80::1%1\nglobal"),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", http_method="X-Y")]),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", http_method="A_B")]),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", delay=86401)]),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", timeout=86401)]),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", expected_codes="٢٠٠")]),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", expected_codes="２００")]),
    lambda ld: ld.update(healthmonitors=[monitor("HTTP", url_path="/a#b")]),
    lambda ld: ld["vip"].update(connection_limit=10_000_001),
    lambda ld: ld["vip"].update(session_persistence={"type": "APP_COOKIE",
                                                     "cookie_name": "c" * 129}),
    lambda ld: ld["vip"].update(session_persistence={"type": "APP_COOKIE",
                                                     "cookie_name": "a%b"}),
], ids=["scope-id-injection", "scope-id", "upper-case-ipv6", "vip-scope-id",
        "method-dash", "method-underscore", "delay", "timeout", "arabic-digits",
        "fullwidth-digits", "url-path-hash", "connection-limit", "cookie-129", "cookie-%"])
def test_renderer_refuses_what_the_api_refuses(logical_device, mutate):
    ld = logical_device()
    mutate(ld)
    with pytest.raises(cfg.ConfigError):
        build(ld)


def test_renderer_takes_the_api_limits_themselves(logical_device, haproxy_check):
    ld = logical_device()
    ld["healthmonitors"] = [monitor("HTTP", delay=86400, timeout=86400, max_retries=10,
                                    http_method="OPTIONS", expected_codes="200-299")]
    ld["vip"]["connection_limit"] = 10_000_000
    ld["vip"]["session_persistence"] = {"type": "APP_COOKIE", "cookie_name": "c" * 128}
    ld["members"][0]["weight"] = 256
    assert_valid(haproxy_check, render(ld))
