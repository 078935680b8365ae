"""The HAProxy view model: a logical device, validated and mapped to HAProxy's words.

v1's ``cfg.py`` concatenated strings and made its decisions while printing. Here every
decision is made once, in :func:`build_view`, into small frozen dataclasses; the Jinja2
templates (``templates/base.j2``, ``templates/macros.j2``) only place the values. That
split is what lets the driver compare two configurations *semantically*
(:func:`runtime_only_difference`) to tell a weight change, which HAProxy's runtime API
applies without a reload, from a change that needs a new process.

Mapping (v1's, with its defects fixed):

- frontend named by the VIP id, backend by the pool id, servers by member id, so the
  stats (``show stat``) map back to our objects without a lookup table;
- admin-down members are rendered ``disabled`` instead of dropped (v1 dropped them), so
  toggling ``admin_state_up`` is a runtime ``set server ... state`` and not a reload;
- HTTPS monitors run the HTTP check over TLS (``check-ssl``), v1 only did a TLS hello;
- APP_COOKIE uses a stick table on the cookie (``appsession`` is gone since HAProxy 1.6).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from lbaas.common import constants, limits

T = TypeVar("T")

TEMPLATES_DIR = Path(__file__).parent / "templates"

# v1's timeouts, in milliseconds.
TIMEOUT_CONNECT_MS = 5000
TIMEOUT_CLIENT_MS = 50000
TIMEOUT_SERVER_MS = 50000
RETRIES = 3
STICK_TABLE_SIZE = "10k"
APP_COOKIE_MAX_LEN = 64
PERSISTENCE_COOKIE = "SRV"
SYSLOG_SOCKET = "/dev/log"

PROTOCOL_MODES = {"HTTP": "http", "HTTPS": "tcp", "TCP": "tcp"}
BALANCE_ALGORITHMS = {
    "ROUND_ROBIN": "roundrobin",
    "LEAST_CONNECTIONS": "leastconn",
    "SOURCE_IP": "source",
}
# Names go into the config unquoted and into runtime API commands; ids are UUIDs, but a
# space or a '#' in one would silently change the meaning of the line.
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$", re.ASCII)


class ConfigError(ValueError):
    """The logical device cannot be expressed as a valid HAProxy configuration."""


@dataclass(frozen=True)
class GlobalView:
    user: str
    group: str
    stats_socket: str
    server_state_file: str
    hard_stop_after_s: int
    log_target: str | None


@dataclass(frozen=True)
class DefaultsView:
    retries: int = RETRIES
    timeout_connect_ms: int = TIMEOUT_CONNECT_MS
    timeout_client_ms: int = TIMEOUT_CLIENT_MS
    timeout_server_ms: int = TIMEOUT_SERVER_MS


@dataclass(frozen=True)
class FrontendView:
    name: str
    bind: str
    mode: str
    default_backend: str
    maxconn: int | None
    forwardfor: bool
    disabled: bool


@dataclass(frozen=True)
class HealthCheckView:
    inter_s: int
    fall: int
    rise: int
    timeout_s: int
    # "GET /status" for HTTP(S) monitors, None for a plain TCP connect check.
    httpchk: str | None
    expect_rstatus: str | None
    ssl: bool


@dataclass(frozen=True)
class ServerView:
    name: str
    address: str
    weight: int
    disabled: bool
    check: bool
    check_ssl: bool
    cookie: str | None


@dataclass(frozen=True)
class BackendView:
    name: str
    mode: str
    balance: str
    disabled: bool
    health_check: HealthCheckView | None
    # Session persistence, already in HAProxy's words.
    cookie: str | None
    stick_table: str | None
    stick_rules: tuple[str, ...]
    servers: tuple[ServerView, ...]
    # HTTP backends send a request over any idle server connection (HAProxy's default
    # "safe" opens a new one for the first request of every client connection: with
    # one request per client connection that's a second TCP handshake per request, and
    # 28% fewer requests/s in bench/dataplane). HAProxy keeps connections it must not
    # share (NTLM, "Connection: close") private by itself.
    http_reuse: str | None = None


@dataclass(frozen=True)
class ConfigView:
    global_: GlobalView
    defaults: DefaultsView
    frontend: FrontendView
    backend: BackendView


@dataclass(frozen=True)
class StatePaths:
    """Where one instance's HAProxy finds its socket and server state file."""

    stats_socket: str
    server_state_file: str


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ConfigError(f"{what} {value!r} is not a usable HAProxy name")
    return value


def _checked(rule: Callable[..., T], value: Any, *args: Any) -> T:
    """``rule`` (one of lbaas.common.limits, the API's own checks) or ConfigError."""
    try:
        return rule(value, *args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _int(value: Any, what: str, low: int, high: int) -> int:
    return _checked(limits.int_in, value, what, low, high)


def _address(value: Any, port: Any, what: str) -> str:
    # Canonical only: ipaddress alone accepts "fe80::1%<anything>" and prints it back,
    # newlines and '#' included.
    ip = _checked(limits.canonical_ip, value)
    return f"{ip}:{_int(port, what + ' port', limits.PORT_MIN, limits.PORT_MAX)}"


def _mode(protocol: Any, what: str) -> str:
    try:
        return PROTOCOL_MODES[protocol]
    except KeyError:
        raise ConfigError(f"{what} protocol {protocol!r} is not one of "
                          f"{', '.join(constants.PROTOCOLS)}") from None


def expected_codes_regex(expected_codes: str) -> str:
    """Neutron's ``expected_codes`` ("200", "200,202", "200-204") as the anchored regex
    of ``http-check expect rstatus``."""
    codes = _checked(limits.expected_codes, expected_codes or "200")
    return "^(" + "|".join(str(code) for code in codes) + ")$"


def _health_check(monitors: list[dict[str, Any]]) -> HealthCheckView | None:
    # HAProxy runs one check per server: v1 used the first monitor of the pool; we take
    # the first one that is administratively up, in association order.
    monitor = next((m for m in monitors if m.get("admin_state_up", True)
                    and m.get("status") != constants.PENDING_DELETE), None)
    if monitor is None:
        return None
    mtype = monitor.get("type")
    if mtype not in constants.HEALTH_MONITOR_TYPES:
        raise ConfigError(f"health monitor type {mtype!r} is not one of "
                          f"{', '.join(constants.HEALTH_MONITOR_TYPES)}")
    retries = _int(monitor.get("max_retries"), "max_retries", limits.MAX_RETRIES_MIN,
                   limits.MAX_RETRIES_MAX)
    httpchk = expect = None
    if mtype in ("HTTP", "HTTPS"):
        method = _checked(limits.http_method, monitor.get("http_method") or "GET")
        path = _checked(limits.url_path, monitor.get("url_path") or "/")
        httpchk = f"{method} {path}"
        expect = expected_codes_regex(monitor.get("expected_codes") or "200")
    return HealthCheckView(
        inter_s=_int(monitor.get("delay"), "delay", limits.DELAY_MIN, limits.DELAY_MAX),
        fall=retries,
        rise=retries,
        timeout_s=_int(monitor.get("timeout"), "timeout", limits.TIMEOUT_MIN,
                       limits.TIMEOUT_MAX),
        httpchk=httpchk,
        expect_rstatus=expect,
        ssl=mtype == "HTTPS",
    )


def _persistence(vip: dict[str, Any], mode: str,
                 has_members: bool) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(cookie, stick_table, stick_rules) for the VIP's session persistence.

    Cookie-based persistence needs HAProxy to see HTTP; on a TCP or HTTPS (passthrough)
    pool there is no cookie to read, so it is not rendered rather than rejected by
    HAProxy at reload time (the API accepts the combination, as v1's did)."""
    persistence = vip.get("session_persistence") or None
    if not persistence:
        return None, None, ()
    ptype = persistence.get("type")
    if ptype not in constants.SESSION_PERSISTENCE_TYPES:
        raise ConfigError(f"session persistence type {ptype!r} is not one of "
                          f"{', '.join(constants.SESSION_PERSISTENCE_TYPES)}")
    if ptype == "SOURCE_IP":
        ip_type = "ipv6" if ":" in _checked(limits.canonical_ip, vip.get("address")) else "ip"
        return None, f"type {ip_type} size {STICK_TABLE_SIZE}", ("on src",)
    if mode != "http":
        return None, None, ()
    if ptype == "HTTP_COOKIE":
        # A cookie directive without servers to name makes HAProxy warn on every check.
        if not has_members:
            return None, None, ()
        return f"{PERSISTENCE_COOKIE} insert indirect nocache", None, ()
    cookie_name = _checked(limits.cookie_name, persistence.get("cookie_name"))
    return (None,
            f"type string len {APP_COOKIE_MAX_LEN} size {STICK_TABLE_SIZE}",
            (f"store-response res.cook({cookie_name})", f"match req.cook({cookie_name})"))


def build_view(logical_config: dict[str, Any], paths: StatePaths, user_group: str,
               hard_stop_after: int, log_target: str | None = None) -> ConfigView:
    """The whole configuration of one pool's HAProxy. Raises :class:`ConfigError`."""
    pool = logical_config["pool"]
    vip = logical_config.get("vip")
    if not vip:
        raise ConfigError("a pool without a VIP has no HAProxy configuration")
    frontend_mode = _mode(vip.get("protocol"), "VIP")
    backend_mode = _mode(pool.get("protocol"), "pool")
    if frontend_mode != backend_mode:
        raise ConfigError(f"VIP protocol {vip.get('protocol')} and pool protocol "
                          f"{pool.get('protocol')} do not match")
    try:
        balance = BALANCE_ALGORITHMS[pool.get("lb_method")]
    except KeyError:
        raise ConfigError(f"lb_method {pool.get('lb_method')!r} is not one of "
                          f"{', '.join(constants.LB_METHODS)}") from None
    connection_limit = vip.get("connection_limit")
    maxconn = None
    if connection_limit is not None and connection_limit != -1:
        maxconn = _checked(limits.connection_limit, connection_limit)

    health_check = _health_check(logical_config.get("healthmonitors") or [])
    # The server leaves PENDING_DELETE objects out of the logical device; should one
    # slip through, it is on its way out and must not be served.
    members = [m for m in logical_config.get("members") or []
               if m.get("status") != constants.PENDING_DELETE]
    cookie, stick_table, stick_rules = _persistence(vip, backend_mode, bool(members))
    servers = tuple(
        ServerView(
            name=_name(m["id"], "member id"),
            address=_address(m.get("address"), m.get("protocol_port"), "member"),
            weight=_int(m.get("weight", 1), "member weight", limits.WEIGHT_MIN,
                        limits.WEIGHT_MAX),
            disabled=not m.get("admin_state_up", True),
            check=health_check is not None,
            check_ssl=health_check is not None and health_check.ssl,
            cookie=m["id"] if cookie else None,
        )
        for m in members
    )
    return ConfigView(
        global_=GlobalView(
            user="nobody",
            group=_name(user_group, "user_group"),
            stats_socket=paths.stats_socket,
            server_state_file=paths.server_state_file,
            hard_stop_after_s=_int(hard_stop_after, "hard_stop_after", 1, 86400 * 7),
            log_target=log_target,
        ),
        defaults=DefaultsView(),
        frontend=FrontendView(
            name=_name(vip["id"], "VIP id"),
            bind=_address(vip.get("address"), vip.get("protocol_port"), "VIP"),
            mode=frontend_mode,
            default_backend=_name(pool["id"], "pool id"),
            maxconn=maxconn,
            forwardfor=vip.get("protocol") == "HTTP",
            disabled=not vip.get("admin_state_up", True),
        ),
        backend=BackendView(
            name=_name(pool["id"], "pool id"),
            mode=backend_mode,
            balance=balance,
            disabled=not pool.get("admin_state_up", True),
            health_check=health_check,
            cookie=cookie,
            stick_table=stick_table,
            stick_rules=stick_rules,
            servers=servers,
            http_reuse="always" if backend_mode == "http" else None,
        ),
    )


def default_log_target() -> str | None:
    """/dev/log when a syslog listens there; no logging at all otherwise (HAProxy on a
    host without syslog must still start)."""
    return SYSLOG_SOCKET if os.path.exists(SYSLOG_SOCKET) else None


def runtime_only_difference(old: ConfigView, new: ConfigView) -> bool:
    """True when ``new`` differs from ``old`` only in member weights and admin states:
    what ``set server ... weight`` / ``state`` applies to a running HAProxy."""
    if old == new:
        return False

    def normalized(view: ConfigView) -> ConfigView:
        servers = tuple(dataclasses.replace(s, weight=0, disabled=False)
                        for s in view.backend.servers)
        return dataclasses.replace(view, backend=dataclasses.replace(view.backend,
                                                                     servers=servers))

    return normalized(old) == normalized(new)


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


def render(view: ConfigView) -> str:
    return _environment.get_template("base.j2").render(config=view)


def view_to_dict(view: ConfigView) -> dict[str, Any]:
    return dataclasses.asdict(view)


def view_from_dict(data: dict[str, Any]) -> ConfigView:
    """Inverse of :func:`view_to_dict`, for the copy kept next to the running config."""
    backend = dict(data["backend"])
    backend["servers"] = tuple(ServerView(**s) for s in backend["servers"])
    backend["stick_rules"] = tuple(backend["stick_rules"])
    if backend["health_check"] is not None:
        backend["health_check"] = HealthCheckView(**backend["health_check"])
    return ConfigView(
        global_=GlobalView(**data["global_"]),
        defaults=DefaultsView(**data["defaults"]),
        frontend=FrontendView(**data["frontend"]),
        backend=BackendView(**backend),
    )
