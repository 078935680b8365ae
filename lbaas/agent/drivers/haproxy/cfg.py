"""The HAProxy view model: a load balancer, validated and mapped to HAProxy's words.

v1's ``cfg.py`` concatenated strings and made its decisions while printing. Here every
decision is made once, in :func:`build_view`, into small frozen dataclasses; the Jinja2
templates (``templates/base.j2``, ``templates/macros.j2``) only place the values. That
split is what lets the driver compare two configurations *semantically*
(:func:`runtime_only_difference`) to tell a weight change, which HAProxy's runtime API
applies without a reload, from a change that needs a new process.

The input is the typed load balancer of ``lbaas.common.logical_device`` (a v1 pool with
its VIP arrives through ``from_v1``). Mapping (v1's, with its defects fixed, plus
Octavia's per-listener and per-pool features):

- one frontend per listener, named by the listener id (a v1 VIP's id); one backend per
  pool, named by the pool id; servers by member id, so the stats (``show stat``) map
  back to our objects without a lookup table;
- admin-down members are rendered ``disabled`` instead of dropped (v1 dropped them), so
  toggling ``admin_state_up`` is a runtime ``set server ... state`` and not a reload;
- HTTPS monitors run the HTTP check over TLS (``check-ssl``), v1 only did a TLS hello;
  TLS-HELLO monitors do that hello (``option ssl-hello-chk``);
- PING monitors are TCP connect checks: HAProxy cannot send ICMP, and Octavia's amphora
  runs an external ``ping`` script for them, which would need ``external-check`` (a
  process fork per check, and ``insecure-fork-wanted``). A connect to the member's port
  says at least as much about whether it can serve; v1's driver did the same;
- APP_COOKIE uses a stick table on the cookie (``appsession`` is gone since HAProxy 1.6);
- a listener's timeout_tcp_inspect is ``tcp-request inspect-delay`` in its frontend,
  on TCP-mode frontends only (see :func:`_inspect_delay_ms`);
- a listener's timeouts are rendered only where they differ from the ``defaults``
  section (v1's values, Octavia's defaults), so a v1 load balancer renders byte for byte
  as it did before listeners existed: an agent adopting running HAProxies reloads none
  whose text is unchanged (docs/architecture.md, "The path of one change", ``_apply``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from lbaas.common import constants, l7, limits
from lbaas.common import logical_device as ld

T = TypeVar("T")

TEMPLATES_DIR = Path(__file__).parent / "templates"

# v1's timeouts, in milliseconds (Octavia's listener defaults are the same).
TIMEOUT_CONNECT_MS = 5000
TIMEOUT_CLIENT_MS = 50000
TIMEOUT_SERVER_MS = 50000
RETRIES = 3
STICK_TABLE_SIZE = "10k"
# ACTIVE_STANDBY: the stick tables' peers section, on Octavia's port for it.
PEERS_SECTION = "amphorae"
PEERS_PORT = 1025
APP_COOKIE_MAX_LEN = 64
PERSISTENCE_COOKIE = "SRV"
# The access log's line format by frontend mode (HAProxy's "option httplog"/"tcplog").
LOG_FORMATS = {"http": "httplog", "tcp": "tcplog"}
# CIDRs per "acl" line of allowed_cidrs: HAProxy splits a line into at most 64 words
# (MAX_LINE_ARGS), so a long list spreads over several lines of one ACL (lines with
# the same ACL name are ORed).
ALLOWED_CIDRS_PER_LINE = 32
ALLOWED_CIDRS_ACL = "allowed_cidr"

# TERMINATED_HTTPS: HAProxy ends TLS and sees HTTP (Octavia's amphora does the same).
TERMINATED_HTTPS = "TERMINATED_HTTPS"
PROTOCOL_MODES = {"HTTP": "http", "HTTPS": "tcp", "TCP": "tcp", TERMINATED_HTTPS: "http"}
BALANCE_ALGORITHMS = {
    "ROUND_ROBIN": "roundrobin",
    "LEAST_CONNECTIONS": "leastconn",
    "SOURCE_IP": "source",
}
# v1's types plus Octavia's TLS-HELLO (UDP-CONNECT and SCTP need UDP/SCTP listeners,
# which HAProxy does not serve).
MONITOR_TYPES = (*constants.HEALTH_MONITOR_TYPES, "TLS-HELLO")
# Octavia's insert_headers this driver renders, for HTTP listeners only (a TCP or
# HTTPS-passthrough frontend sees no HTTP to add a header to). The value is ours,
# never the tenant's: they only say "true".
HEADER_X_FORWARDED_FOR = "X-Forwarded-For"
HEADER_X_FORWARDED_PORT = "X-Forwarded-Port"
HEADER_X_FORWARDED_PROTO = "X-Forwarded-Proto"
# The client certificate headers Octavia inserts on TERMINATED_HTTPS listeners, and
# HAProxy's log-format expression for each (ssl_c_* fetches of the client's certificate;
# empty, or 0, when it sent none).
SSL_CLIENT_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%[ssl_c_notafter]",
}
HEADER_HSTS = "Strict-Transport-Security"
# Octavia's versions in HAProxy's words: ssl-min-ver/ssl-max-ver values, and the no-*
# flag that leaves one out (for a set with a hole, such as TLSv1 and TLSv1.2).
TLS_VERSION_NAMES = {"SSLv3": "SSLv3", "TLSv1": "TLSv1.0", "TLSv1.1": "TLSv1.1",
                     "TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}
TLS_VERSION_FLAGS = {"SSLv3": "no-sslv3", "TLSv1": "no-tlsv10", "TLSv1.1": "no-tlsv11",
                     "TLSv1.2": "no-tlsv12", "TLSv1.3": "no-tlsv13"}
# OpenSSL names TLS 1.3's suites TLS_*; they go to "ciphersuites", the rest to "ciphers".
TLS13_SUITE_PREFIX = "TLS_"
CLIENT_VERIFY = {"OPTIONAL": "optional", "MANDATORY": "required"}
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
    # The operator's access log target ([haproxy] access_log); None: no logging.
    log_target: str | None
    log_facility: str = "local0"
    # ACTIVE_STANDBY: this amphora's name in the peers section (HAProxy's localpeer).
    localpeer: str | None = None


@dataclass(frozen=True)
class DefaultsView:
    retries: int = RETRIES
    timeout_connect_ms: int = TIMEOUT_CONNECT_MS
    timeout_client_ms: int = TIMEOUT_CLIENT_MS
    timeout_server_ms: int = TIMEOUT_SERVER_MS


@dataclass(frozen=True)
class HeaderView:
    """``http-request set-header <name> <value>``: both built by us."""

    name: str
    value: str


@dataclass(frozen=True)
class FrontendView:
    name: str
    bind: str
    mode: str
    # None: no default pool; HAProxy answers 503 (HTTP) or closes the connection (TCP).
    default_backend: str | None
    maxconn: int | None
    forwardfor: bool
    disabled: bool
    # Only when it differs from the defaults section.
    timeout_client_ms: int | None = None
    # ``tcp-request inspect-delay``: TCP-mode frontends with a timeout_tcp_inspect only.
    tcp_inspect_delay_ms: int | None = None
    # allowed_cidrs in lines of at most ALLOWED_CIDRS_PER_LINE; () admits every source.
    allowed_cidrs: tuple[tuple[str, ...], ...] = ()
    set_headers: tuple[HeaderView, ...] = ()
    # "httplog" or "tcplog" when the access log is on, None otherwise.
    log_format: str | None = None
    # Octavia's L7 policies (see _l7): "acl" lines, "http-request" lines and
    # "use_backend" lines, each without its keyword, in order.
    acls: tuple[str, ...] = ()
    l7_requests: tuple[str, ...] = ()
    use_backends: tuple[str, ...] = ()
    # TERMINATED_HTTPS: the words after the bind address ("ssl crt-list <file> ...").
    bind_options: tuple[str, ...] = ()
    # ``http-response set-header <name> <value>`` (HSTS).
    response_headers: tuple[HeaderView, ...] = ()


@dataclass(frozen=True)
class HealthCheckView:
    inter_s: int
    fall: int
    rise: int
    timeout_s: int
    # "GET /status" for HTTP(S) monitors sent as HTTP/1.0 (``option httpchk GET /status``),
    # None otherwise.
    httpchk: str | None
    expect_rstatus: str | None
    ssl: bool
    # The arguments of ``http-check send`` for HTTP/1.1 monitors
    # ("meth GET uri /status ver HTTP/1.1 hdr Host example.com"), None otherwise.
    http_send: str | None = None
    # TLS-HELLO: ``option ssl-hello-chk``.
    ssl_hello: bool = False


@dataclass(frozen=True)
class ServerView:
    name: str
    address: str
    weight: int
    disabled: bool
    check: bool
    check_ssl: bool
    cookie: str | None
    backup: bool = False
    # Where the health check goes when not to the member's own address and port.
    check_addr: str | None = None
    check_port: int | None = None
    # A pool with tls_enabled: "ssl verify required ca-file <file> ..." (and
    # "check-ssl" when checked); () for plain members. check_ssl above is the HTTPS
    # monitor of a passthrough pool, rendered "check-ssl verify none".
    ssl_options: tuple[str, ...] = ()


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
    # The member timeouts of the listener whose default pool this is, only when they
    # differ from the defaults section.
    timeout_connect_ms: int | None = None
    timeout_server_ms: int | None = None


@dataclass(frozen=True)
class PeerView:
    name: str
    address: str  # "ip:port"


@dataclass(frozen=True)
class PeersView:
    """ACTIVE_STANDBY: the two amphorae's HAProxys push their stick tables to each other
    (session persistence survives a VRRP takeover)."""

    name: str
    peers: tuple[PeerView, ...]


@dataclass(frozen=True)
class ConfigView:
    # What the header comment names: "pool <id>" for a v1 load balancer (whose id is
    # its pool's), "load balancer <id>" otherwise.
    subject: str
    global_: GlobalView
    defaults: DefaultsView
    frontends: tuple[FrontendView, ...]
    backends: tuple[BackendView, ...]
    # The files of certs_dir the configuration names (certificates, CA and CRL bundles,
    # crt-lists), by name: what the driver keeps there, nothing else.
    tls_files: tuple[str, ...] = ()
    peers: PeersView | None = None


@dataclass(frozen=True)
class StatePaths:
    """Where one instance's HAProxy finds its socket, server state file and TLS files."""

    stats_socket: str
    server_state_file: str
    # None: the load balancer may not use TLS (a ConfigError if it does).
    certs_dir: str | None = None


class TlsFiles:
    """The TLS files a configuration names, gathered while its view is built: name ->
    content. A file's name carries a digest of its content, so new material is a new
    name and a new configuration text (the driver then reloads; an unchanged text would
    leave HAProxy serving what it loaded before)."""

    def __init__(self, certs_dir: str | None) -> None:
        self.certs_dir = certs_dir
        self.files: dict[str, str] = {}

    def add(self, stem: str, suffix: str, content: str) -> str:
        """The path of the file holding ``content``."""
        if self.certs_dir is None:
            raise ConfigError("TLS needs a certificate directory")
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        name = f"{_name(stem, 'TLS file')}-{digest}.{suffix}"
        self.files[name] = content
        return f"{self.certs_dir}/{name}"


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
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


def _port(value: Any, what: str) -> int:
    return _int(value, what + " port", limits.PORT_MIN, limits.PORT_MAX)


def _address(value: Any, port: Any, what: str) -> str:
    # Canonical only: ipaddress alone accepts "fe80::1%<anything>" and prints it back,
    # newlines and '#' included.
    ip = _checked(limits.canonical_ip, value)
    return f"{ip}:{_port(port, what)}"


def _mode(protocol: Any, what: str) -> str:
    try:
        return PROTOCOL_MODES[protocol]
    except KeyError:
        raise ConfigError(f"{what} protocol {protocol!r} is not one of "
                          f"{', '.join(constants.PROTOCOLS)}") from None


def _timeout_ms(value: Any, what: str, default: int) -> int | None:
    """A listener timeout, or None when the defaults section already says it."""
    ms = _int(value, what, limits.LISTENER_TIMEOUT_MIN, limits.LISTENER_TIMEOUT_MAX)
    return None if ms == default else ms


def _inspect_delay_ms(listener: ld.Listener, mode: str) -> int | None:
    """Octavia's timeout_tcp_inspect as ``tcp-request inspect-delay``, or None.

    Checked on every listener, rendered only on TCP-mode frontends (TCP and HTTPS
    passthrough listeners). HAProxy takes the keyword in an HTTP frontend too, but
    there it governs nothing: an HTTP frontend parses the request before any content
    rule runs (HAProxy 2.6 configuration manual, "tcp-request content"), and the wait
    for a request is ``timeout http-request``'s. 0 is Octavia's "no delay": no line.

    The delay bounds how long ``tcp-request content`` rules wait for data; a frontend
    without such rules forwards at once. It is rendered all the same, so that the
    configuration says what the listener says and a content rule added to the frontend
    later waits as the tenant asked."""
    ms = _int(listener.timeout_tcp_inspect, "timeout_tcp_inspect",
              limits.LISTENER_TIMEOUT_MIN, limits.LISTENER_TIMEOUT_MAX)
    return ms if ms and mode == "tcp" else None


def _enabled(value: Any) -> bool:
    # Octavia's insert_headers values are strings; it takes "true" in any case.
    return isinstance(value, str) and value.lower() == "true"


def expected_codes_regex(expected_codes: str) -> str:
    """Neutron's ``expected_codes`` ("200", "200,202", "200-204") as the anchored regex
    of ``http-check expect rstatus``."""
    codes = _checked(limits.expected_codes, expected_codes or "200")
    return "^(" + "|".join(str(code) for code in codes) + ")$"


def _health_check(monitor: ld.HealthMonitor | None) -> HealthCheckView | None:
    if monitor is None or not monitor.admin_state_up:
        return None
    mtype = monitor.type
    if mtype not in MONITOR_TYPES:
        raise ConfigError(f"health monitor type {mtype!r} is not one of "
                          f"{', '.join(MONITOR_TYPES)}")
    # Octavia's thresholds: max_retries_down failed checks mark a member down
    # (HAProxy's fall), max_retries good ones bring it back (rise). from_v1 sets both
    # to v1's max_retries.
    fall = _int(monitor.max_retries_down, "max_retries_down", limits.MAX_RETRIES_MIN,
                limits.MAX_RETRIES_MAX)
    rise = _int(monitor.max_retries, "max_retries", limits.MAX_RETRIES_MIN,
                limits.MAX_RETRIES_MAX)
    httpchk = expect = http_send = None
    if mtype in ("HTTP", "HTTPS"):
        method = _checked(limits.http_method, monitor.http_method or "GET")
        path = _checked(limits.url_path, monitor.url_path or "/")
        expect = expected_codes_regex(monitor.expected_codes or "200")
        if monitor.http_version in (None, 1.0):
            # HAProxy's default request line is HTTP/1.0: v1's exact line.
            httpchk = f"{method} {path}"
        elif monitor.http_version == 1.1:
            # HAProxy 2.2+'s form; Octavia's amphora still writes the legacy
            # "option httpchk GET / HTTP/1.1\r\nHost:\ name" escape sequence.
            http_send = f"meth {method} uri {path} ver HTTP/1.1"
            if monitor.domain_name is not None:
                http_send += f" hdr Host {_checked(limits.domain_name, monitor.domain_name)}"
        else:
            raise ConfigError(f"http_version {monitor.http_version!r} is not 1.0 or 1.1")
    return HealthCheckView(
        inter_s=_int(monitor.delay, "delay", limits.DELAY_MIN, limits.DELAY_MAX),
        fall=fall,
        rise=rise,
        timeout_s=_int(monitor.timeout, "timeout", limits.TIMEOUT_MIN, limits.TIMEOUT_MAX),
        httpchk=httpchk,
        expect_rstatus=expect,
        ssl=mtype == "HTTPS",
        http_send=http_send,
        ssl_hello=mtype == "TLS-HELLO",
    )


def _persistence(persistence: ld.SessionPersistence | None, vip_address: str, mode: str,
                 has_members: bool) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(cookie, stick_table, stick_rules) for the pool's session persistence.

    Cookie-based persistence needs HAProxy to see HTTP; on a TCP or HTTPS (passthrough)
    pool there is no cookie to read, so it is not rendered rather than rejected by
    HAProxy at reload time (the API accepts the combination, as v1's did)."""
    if persistence is None:
        return None, None, ()
    ptype = persistence.type
    if ptype not in constants.SESSION_PERSISTENCE_TYPES:
        raise ConfigError(f"session persistence type {ptype!r} is not one of "
                          f"{', '.join(constants.SESSION_PERSISTENCE_TYPES)}")
    if ptype == "SOURCE_IP":
        ip_type = "ipv6" if ":" in _checked(limits.canonical_ip, vip_address) else "ip"
        return None, f"type {ip_type} size {STICK_TABLE_SIZE}", ("on src",)
    if mode != "http":
        return None, None, ()
    if ptype == "HTTP_COOKIE":
        # A cookie directive without servers to name makes HAProxy warn on every check.
        if not has_members:
            return None, None, ()
        return f"{PERSISTENCE_COOKIE} insert indirect nocache", None, ()
    cookie_name = _checked(limits.cookie_name, persistence.cookie_name)
    return (None,
            f"type string len {APP_COOKIE_MAX_LEN} size {STICK_TABLE_SIZE}",
            (f"store-response res.cook({cookie_name})", f"match req.cook({cookie_name})"))


def _tls_version_words(versions: list[str], what: str) -> tuple[str, ...]:
    """tls_versions as ``ssl-min-ver``/``ssl-max-ver``, plus a ``no-*`` flag for each
    version inside that range the list leaves out. Empty: HAProxy's defaults."""
    if not versions:
        return ()
    _checked(limits.tls_versions, list(versions))
    order = [v for v in limits.TLS_VERSIONS if v in versions]
    low = limits.TLS_VERSIONS.index(order[0])
    high = limits.TLS_VERSIONS.index(order[-1])
    holes = [TLS_VERSION_FLAGS[v] for v in limits.TLS_VERSIONS[low:high + 1]
             if v not in versions]
    return ("ssl-min-ver", TLS_VERSION_NAMES[order[0]],
            "ssl-max-ver", TLS_VERSION_NAMES[order[-1]], *holes)


def _cipher_words(ciphers: str | None) -> tuple[str, ...]:
    """tls_ciphers split for OpenSSL: TLS 1.3's suites (TLS_*) as ``ciphersuites``, the
    rest (TLS 1.2 and older) as ``ciphers``."""
    if ciphers is None:
        return ()
    _checked(limits.tls_ciphers, ciphers)
    names = [n for n in ciphers.split(":") if n]
    tls13 = [n for n in names if n.startswith(TLS13_SUITE_PREFIX)]
    older = [n for n in names if not n.startswith(TLS13_SUITE_PREFIX)]
    words: tuple[str, ...] = ()
    if older:
        words += ("ciphers", ":".join(older))
    if tls13:
        words += ("ciphersuites", ":".join(tls13))
    return words


def _alpn_words(protocols: list[str]) -> tuple[str, ...]:
    if not protocols:
        return ()
    return ("alpn", ",".join(_checked(limits.alpn_protocols, list(protocols))))


def _pem(value: str | None, what: str, labels: tuple[str, ...],
         count: int | None = None) -> str:
    return _checked(limits.pem, value, what, labels, count)


def _certificate_file(cert: ld.TlsCertificate, files: TlsFiles) -> str:
    """The path of one PEM file with the certificate, its intermediates and its key
    (the form HAProxy's ``crt`` loads), named by the certificate's id."""
    what = f"certificate {_name(cert.id, 'certificate id')}"
    content = (_pem(cert.certificate, what, limits.CERTIFICATE_LABELS, 1)
               + "".join(_pem(i, what + " intermediate", limits.CERTIFICATE_LABELS)
                         for i in cert.intermediates)
               + _pem(cert.private_key, what + " key", limits.PRIVATE_KEY_LABELS, 1))
    return files.add(cert.id, "pem", content)


def _ca_words(owner: str, ca: str | None, crl: str | None,
              files: TlsFiles) -> tuple[str, ...]:
    """``ca-file <file> [crl-file <file>]``; () without a CA (a CRL alone checks
    nothing)."""
    if ca is None:
        return ()
    words: tuple[str, ...] = (
        "ca-file", files.add(owner + "-ca", "pem",
                             _pem(ca, f"CA bundle of {owner}", limits.CERTIFICATE_LABELS)))
    if crl is not None:
        words += ("crl-file", files.add(owner + "-crl", "pem",
                                        _pem(crl, f"CRL of {owner}", limits.CRL_LABELS)))
    return words


def _server_ssl(pool: ld.Pool, files: TlsFiles) -> tuple[str, ...]:
    """Octavia's re-encryption: TLS to the member, verified against the pool's CA when
    it has one (``verify none`` without: Octavia's meaning of a pool without a CA).

    No ``sni``: members are addressed by IP and Octavia names no server name for them;
    without ``sni`` (or ``verifyhost``) HAProxy verifies the chain, not a host name."""
    if not pool.tls_enabled:
        return ()
    pid = _name(pool.id, "pool id")
    words: tuple[str, ...] = ("ssl",)
    if pool.tls_container is not None:
        words += ("crt", _certificate_file(pool.tls_container, files))
    ca = _ca_words(pid, pool.ca_tls_container, pool.crl_container, files)
    words += ("verify", "required", *ca) if ca else ("verify", "none")
    words += _tls_version_words(pool.tls_versions, "pool")
    words += _cipher_words(pool.tls_ciphers)
    words += _alpn_words(pool.alpn_protocols)
    return words


def _bind_ssl(listener: ld.Listener, files: TlsFiles) -> tuple[str, ...]:
    """A TERMINATED_HTTPS listener's bind words: ``ssl crt-list <file>`` (the default
    certificate first, which HAProxy serves to a client that names no known host, then
    each SNI certificate filtered on its names), versions, ciphers, ALPN and client
    authentication."""
    lid = _name(listener.id, "listener id")
    if listener.default_tls_container is None:
        raise ConfigError(f"listener {lid}: a TERMINATED_HTTPS listener needs a "
                          "default certificate")
    lines = [_certificate_file(listener.default_tls_container, files)]
    seen = {listener.default_tls_container.id}
    for cert in listener.sni_containers:
        if cert.id in seen:
            continue
        seen.add(cert.id)
        names = [_checked(limits.sni_name, n) for n in cert.names]
        lines.append(" ".join([_certificate_file(cert, files), *names]))
    crt_list = files.add(lid, "crtlist", "".join(line + "\n" for line in lines))
    words: tuple[str, ...] = ("ssl", "crt-list", crt_list)
    words += _tls_version_words(listener.tls_versions, "listener")
    words += _cipher_words(listener.tls_ciphers)
    words += _alpn_words(listener.alpn_protocols)
    auth = listener.client_authentication
    if auth != "NONE":
        if auth not in CLIENT_VERIFY:
            raise ConfigError(f"listener {lid}: client_authentication {auth!r} is not "
                              "NONE, OPTIONAL or MANDATORY")
        if listener.client_ca_tls_container is None:
            raise ConfigError(f"listener {lid}: client authentication needs a CA")
        words += ("verify", CLIENT_VERIFY[auth],
                  *_ca_words(lid + "-client", listener.client_ca_tls_container,
                             listener.client_crl_container, files))
    return words


def _hsts(listener: ld.Listener) -> tuple[HeaderView, ...]:
    if listener.hsts_max_age is None:
        return ()
    value = f"max-age={_checked(limits.hsts_max_age, listener.hsts_max_age)}"
    if listener.hsts_include_subdomains:
        value += "; includeSubDomains"
    if listener.hsts_preload:
        value += "; preload"
    return (HeaderView(HEADER_HSTS, f'"{value}"'),)


def _server(member: ld.Member, health_check: HealthCheckView | None,
            cookie: bool, ssl_options: tuple[str, ...] = ()) -> ServerView:
    check = health_check is not None
    check_addr = check_port = None
    if check and member.monitor_address is not None:
        check_addr = _checked(limits.canonical_ip, member.monitor_address)
    if check and member.monitor_port is not None:
        check_port = _port(member.monitor_port, "member monitor")
    return ServerView(
        name=_name(member.id, "member id"),
        address=_address(member.address, member.protocol_port, "member"),
        weight=_int(member.weight, "member weight", limits.WEIGHT_MIN, limits.WEIGHT_MAX),
        disabled=not member.admin_state_up,
        check=check,
        # A TLS pool's checks take check-ssl with its verification (ssl_options).
        check_ssl=health_check is not None and health_check.ssl and not ssl_options,
        cookie=member.id if cookie else None,
        backup=member.backup is True,
        check_addr=check_addr,
        check_port=check_port,
        # Checks of a TLS member speak TLS too, with the same verification.
        ssl_options=ssl_options + (("check-ssl",) if check and ssl_options else ()),
    )


def _backend(pool: ld.Pool, vip_address: str, listener: ld.Listener | None,
             defaults: DefaultsView, files: TlsFiles) -> BackendView:
    mode = _mode(pool.protocol, "pool")
    try:
        balance = BALANCE_ALGORITHMS[pool.lb_algorithm]
    except KeyError:
        raise ConfigError(f"lb_algorithm {pool.lb_algorithm!r} is not one of "
                          f"{', '.join(constants.LB_METHODS)}") from None
    health_check = _health_check(pool.healthmonitor)
    # The server leaves PENDING_DELETE objects out of the logical device; should one
    # slip through, it is on its way out and must not be served.
    members = [m for m in pool.members if m.provisioning_status != constants.PENDING_DELETE]
    cookie, stick_table, stick_rules = _persistence(pool.session_persistence, vip_address,
                                                    mode, bool(members))
    if pool.tls_enabled and mode != "http":
        raise ConfigError(f"pool {pool.id}: tls_enabled needs an HTTP pool")
    ssl_options = _server_ssl(pool, files)
    timeout_connect = timeout_server = None
    if listener is not None:
        timeout_connect = _timeout_ms(listener.timeout_member_connect,
                                      "timeout_member_connect", defaults.timeout_connect_ms)
        timeout_server = _timeout_ms(listener.timeout_member_data, "timeout_member_data",
                                     defaults.timeout_server_ms)
    return BackendView(
        name=_name(pool.id, "pool id"),
        mode=mode,
        balance=balance,
        disabled=not pool.admin_state_up,
        health_check=health_check,
        cookie=cookie,
        stick_table=stick_table,
        stick_rules=stick_rules,
        servers=tuple(_server(m, health_check, cookie is not None, ssl_options)
                      for m in members),
        http_reuse="always" if mode == "http" else None,
        timeout_connect_ms=timeout_connect,
        timeout_server_ms=timeout_server,
    )


# The transaction variable naming the first L7 policy that matched.
L7_VAR = "txn.l7policy"
# A rule's sample fetch per type, and whether it compares case-insensitively.
L7_FETCHES = {"HOST_NAME": ("req.hdr(host)", True), "PATH": ("path", False),
              "FILE_TYPE": ("path", False), "HEADER": ("req.hdr({key})", False),
              "COOKIE": ("req.cook({key})", False)}


def _quoted(value: str) -> str:
    """``value`` single-quoted: HAProxy expands nothing there and has no escape, so a
    value holding a quote (or anything lbaas.common.l7 refuses) is a ConfigError."""
    if "'" in value or not value.isascii() or not value.isprintable():
        raise ConfigError(f"L7 value {value!r} cannot be quoted")
    return f"'{value}'"


def _acl(rule: ld.L7Rule, tls_listener: bool = False) -> str:
    """``<name> <fetch> [-i] -m <method> -- '<value>'``: ``--`` ends the flags, so a
    value such as "-i" is a pattern, never a flag."""
    _checked(l7.rule, rule.type, rule.compare_type, rule.key, rule.value, tls_listener)
    name = _name(rule.id, "L7 rule id")
    if rule.type == "SSL_CONN_HAS_CERT":
        # The value can only be "True": a certificate was presented (invert: none was).
        return f"{name} ssl_c_used"
    if rule.type == "SSL_VERIFY_RESULT":
        return f"{name} ssl_c_verify -m int eq {int(rule.value)}"
    if rule.type == "SSL_DN_FIELD":
        fetch = f"ssl_c_s_dn({_checked(l7.dn_field, rule.key)})"
        return f"{name} {fetch} -m {l7.MATCH[rule.compare_type]} -- {_quoted(rule.value)}"
    fetch, nocase = L7_FETCHES[rule.type]
    if rule.key is not None:
        fetch = fetch.format(key=_checked(l7.key, rule.key))
    match, value = l7.MATCH[rule.compare_type], rule.value
    if rule.type == "FILE_TYPE":
        # The extension: the end of the path after a dot.
        if match == "reg":
            value = f"\\.({value})$"
        else:
            match, value = "end", f".{value}"
    return (f"{name} {fetch}{' -i' if nocase else ''} -m {match} "
            f"-- {_quoted(value)}")


def _l7(listener: ld.Listener, mode: str, backends: dict[str, BackendView],
        ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(acls, http-request lines, use_backend lines) of the listener's L7 policies.

    Octavia's semantics are "the first policy by position whose rules all match takes
    its action". HAProxy runs every ``http-request`` rule before any ``use_backend``, so
    rendering the actions themselves in order would let a later REJECT win over an
    earlier REDIRECT_TO_POOL. Instead each policy, in position order, sets the
    transaction variable to its id when its rules match and no earlier one did; each
    action is then conditioned on that variable alone. A policy that is admin-down,
    has no admin-up rule, or targets a pool that is not served is left out (it
    matches nothing); a rule that is admin-down is left out of its policy."""
    policies = [p for p in listener.l7policies if p.admin_state_up]
    if not policies:
        return (), (), ()
    if mode != "http":
        raise ConfigError(f"listener {listener.id}: L7 policies need an HTTP listener")
    acls: list[str] = []
    requests: list[str] = []
    actions: list[str] = []
    use_backends: list[str] = []
    for policy in sorted(policies, key=lambda p: (p.position, p.id)):
        pid = _name(policy.id, "L7 policy id")
        _checked(l7.policy, policy.action, policy.redirect_pool_id, policy.redirect_url,
                 policy.redirect_prefix, policy.redirect_http_code)
        rules = [r for r in policy.rules if r.admin_state_up]
        if not rules:
            continue
        chosen = f"{{ var({L7_VAR}) -m str {pid} }}"
        code = policy.redirect_http_code or l7.DEFAULT_REDIRECT_CODE
        if policy.action == l7.REJECT:
            actions.append(f"deny if {chosen}")
        elif policy.action == l7.REDIRECT_TO_URL:
            target = _checked(l7.url, policy.redirect_url).replace("%", "%%")
            actions.append(f"redirect location {_quoted(target)} code {code} if {chosen}")
        elif policy.action == l7.REDIRECT_PREFIX:
            target = _checked(l7.url, policy.redirect_prefix, "redirect_prefix")
            actions.append(f"redirect prefix {_quoted(target.replace('%', '%%'))} "
                           f"code {code} if {chosen}")
        else:
            backend = backends.get(policy.redirect_pool_id or "")
            if backend is None:
                continue
            if backend.mode != mode:
                raise ConfigError(f"L7 policy {pid}: pool {backend.name} is not HTTP")
            use_backends.append(f"{backend.name} if {chosen}")
        terms = []
        for rule in rules:
            acls.append(_acl(rule, listener.protocol == TERMINATED_HTTPS))
            terms.append(("!" if rule.invert else "") + rule.id)
        requests.append(f"set-var({L7_VAR}) str({pid}) if {' '.join(terms)} "
                        f"!{{ var({L7_VAR}) -m found }}")
    return tuple(acls), tuple(requests + actions), tuple(use_backends)


def _frontend(listener: ld.Listener, lb: ld.LoadBalancer, backends: dict[str, BackendView],
              defaults: DefaultsView, files: TlsFiles,
              access_log: bool = False) -> FrontendView:
    mode = _mode(listener.protocol, "listener")
    default_backend = None
    if listener.default_pool_id is not None:
        backend = backends.get(listener.default_pool_id)
        if backend is None:
            raise ConfigError(f"listener {listener.id}: default pool "
                              f"{listener.default_pool_id!r} is not a pool of the load "
                              "balancer")
        if backend.mode != mode:
            raise ConfigError(f"listener protocol {listener.protocol} and pool protocol "
                              f"of {backend.name} do not match")
        default_backend = backend.name
    maxconn = None
    if listener.connection_limit != -1:
        maxconn = _checked(limits.connection_limit, listener.connection_limit)
    headers = {name: _enabled(value) for name, value in listener.insert_headers.items()}
    port = _port(listener.protocol_port, "listener")
    terminated = listener.protocol == TERMINATED_HTTPS
    set_headers: list[HeaderView] = []
    if mode == "http":
        if headers.get(HEADER_X_FORWARDED_PORT):
            set_headers.append(HeaderView(HEADER_X_FORWARDED_PORT, str(port)))
        if headers.get(HEADER_X_FORWARDED_PROTO):
            # HTTP or TERMINATED_HTTPS: HTTPS is passed through in TCP mode.
            set_headers.append(HeaderView(HEADER_X_FORWARDED_PROTO,
                                          "https" if terminated else "http"))
    if terminated:
        # In Octavia's order; each always set, so a client cannot send its own.
        set_headers += [HeaderView(name, fetch) for name, fetch in SSL_CLIENT_HEADERS.items()
                        if headers.get(name)]
    cidrs = [_checked(limits.canonical_cidr, cidr) for cidr in listener.allowed_cidrs]
    acls, l7_requests, use_backends = _l7(listener, mode, backends)
    return FrontendView(
        name=_name(listener.id, "listener id"),
        bind=_address(lb.vip_address, port, "listener"),
        mode=mode,
        default_backend=default_backend,
        maxconn=maxconn,
        forwardfor=mode == "http" and bool(headers.get(HEADER_X_FORWARDED_FOR)),
        disabled=not (listener.admin_state_up and lb.admin_state_up),
        timeout_client_ms=_timeout_ms(listener.timeout_client_data, "timeout_client_data",
                                      defaults.timeout_client_ms),
        tcp_inspect_delay_ms=_inspect_delay_ms(listener, mode),
        allowed_cidrs=tuple(tuple(cidrs[i:i + ALLOWED_CIDRS_PER_LINE])
                            for i in range(0, len(cidrs), ALLOWED_CIDRS_PER_LINE)),
        set_headers=tuple(set_headers),
        log_format=LOG_FORMATS[mode] if access_log else None,
        acls=acls,
        l7_requests=l7_requests,
        use_backends=use_backends,
        bind_options=_bind_ssl(listener, files) if terminated else (),
        response_headers=_hsts(listener) if terminated else (),
    )


def build_view(loadbalancer: ld.LoadBalancer | None, paths: StatePaths, user_group: str,
               hard_stop_after: int, log_target: str | None = None,
               log_facility: str = "local0", tls_files: TlsFiles | None = None,
               own_amphora_id: str | None = None) -> ConfigView:
    """The whole configuration of one load balancer's HAProxy. Raises
    :class:`ConfigError`.

    ``log_target`` is the operator's access log target (a unix socket path or a UDP
    address, ``limits.log_target``): each frontend then logs every HTTP request
    (``option httplog``) or TCP connection (``option tcplog``) there with
    ``log_facility``. None renders no ``log`` line at all.

    ``tls_files`` (for ``paths.certs_dir``) receives the content of every TLS file the
    configuration names; the view itself holds only their names, never key material."""
    if loadbalancer is None:
        raise ConfigError("a logical device without a load balancer has no HAProxy "
                          "configuration")
    lb = loadbalancer
    defaults = DefaultsView()
    files = tls_files if tls_files is not None else TlsFiles(paths.certs_dir)
    listeners = [li for li in lb.listeners
                 if li.provisioning_status != constants.PENDING_DELETE]
    pools = [p for p in lb.pools if p.provisioning_status != constants.PENDING_DELETE]
    ports = [li.protocol_port for li in listeners]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"two listeners of load balancer {lb.id} use the same port")
    for what, ids in (("listener", [li.id for li in listeners]),
                      ("pool", [p.id for p in pools])):
        if len(set(ids)) != len(ids):
            raise ConfigError(f"load balancer {lb.id} has two {what}s with the same id")
    backends = {}
    for pool in pools:
        # A pool's member timeouts are its listener's; a pool that several listeners
        # use takes the first one's (Octavia names one listener per default pool).
        listener = next((li for li in listeners if li.default_pool_id == pool.id), None)
        if listener is None:
            # A pool that only L7 policies use: the first such policy's listener.
            listener = next((li for li in listeners for p in li.l7policies
                             if p.redirect_pool_id == pool.id), None)
        backends[pool.id] = _backend(pool, lb.vip_address, listener, defaults, files)
    if log_target is not None:
        log_target = _checked(limits.log_target, log_target)
        log_facility = _checked(limits.log_facility, log_facility)
    frontends = tuple(_frontend(li, lb, backends, defaults, files, log_target is not None)
                      for li in listeners)
    v1_shaped = any(p.id == lb.id for p in lb.pools)
    peers = _peers(lb, own_amphora_id)
    if peers is not None:
        backends = {pid: dataclasses.replace(be, stick_table=f"{be.stick_table} peers "
                                             f"{peers.name}")
                    if be.stick_table else be for pid, be in backends.items()}
    return ConfigView(
        subject=f"{'pool' if v1_shaped else 'load balancer'} {_name(lb.id, 'id')}",
        global_=GlobalView(
            user="nobody",
            group=_name(user_group, "user_group"),
            stats_socket=paths.stats_socket,
            server_state_file=paths.server_state_file,
            hard_stop_after_s=_int(hard_stop_after, "hard_stop_after", 1, 86400 * 7),
            log_target=log_target,
            log_facility=log_facility,
            localpeer=own_amphora_id if peers is not None else None,
        ),
        defaults=defaults,
        frontends=frontends,
        backends=tuple(backends.values()),
        tls_files=tuple(sorted(files.files)),
        peers=peers,
    )


def _peers(lb: ld.LoadBalancer, own_amphora_id: str | None) -> PeersView | None:
    """The peers section of an ACTIVE_STANDBY amphora: both amphorae by id, on their
    own addresses (the first fixed IP of each VRRP port) and PEERS_PORT."""
    if lb.topology != "ACTIVE_STANDBY" or own_amphora_id is None:
        return None
    if own_amphora_id not in [a.id for a in lb.amphorae]:
        raise ConfigError(f"amphora {own_amphora_id!r} is not one of load balancer "
                          f"{lb.id}'s")
    peers = []
    for amphora in sorted(lb.amphorae, key=lambda a: a.id):
        if not amphora.vrrp_port.fixed_ips:
            raise ConfigError(f"VRRP port {amphora.vrrp_port.id} has no fixed IP")
        peers.append(PeerView(
            name=_name(amphora.id, "amphora id"),
            address=_address(amphora.vrrp_port.fixed_ips[0].ip_address, PEERS_PORT,
                             "peers")))
    return PeersView(name=PEERS_SECTION, peers=tuple(peers))


def runtime_only_difference(old: ConfigView, new: ConfigView) -> bool:
    """True when ``new`` differs from ``old`` only in member weights and admin states,
    in any backends: what ``set server ... weight`` / ``state`` applies to a running
    HAProxy."""
    if old == new:
        return False

    def normalized(view: ConfigView) -> ConfigView:
        backends = tuple(
            dataclasses.replace(be, servers=tuple(
                dataclasses.replace(s, weight=0, disabled=False) for s in be.servers))
            for be in view.backends)
        return dataclasses.replace(view, backends=backends)

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


def preload_templates() -> None:
    """Compile the templates now (the agent calls this when it starts). Jinja2 compiles
    a template on its first use and keeps it: that first render took 60-76 ms on the
    provision bench's host (both templates: 66 ms, against ~1 ms for a render after
    them), all of it on the path of the first load balancer the agent creates."""
    for name in ("base.j2", "macros.j2"):
        _environment.get_template(name)


def view_to_dict(view: ConfigView) -> dict[str, Any]:
    return dataclasses.asdict(view)


def _frontend_from_dict(data: dict[str, Any]) -> FrontendView:
    fe = dict(data)
    fe["allowed_cidrs"] = tuple(tuple(line) for line in fe.get("allowed_cidrs", ()))
    for key in ("set_headers", "response_headers"):
        fe[key] = tuple(HeaderView(**h) for h in fe.get(key, ()))
    for key in ("acls", "l7_requests", "use_backends", "bind_options"):
        fe[key] = tuple(fe.get(key, ()))
    return FrontendView(**fe)


def _backend_from_dict(data: dict[str, Any]) -> BackendView:
    be = dict(data)
    be["servers"] = tuple(ServerView(**{**s, "ssl_options": tuple(s.get("ssl_options", ()))})
                          for s in be["servers"])
    be["stick_rules"] = tuple(be["stick_rules"])
    if be["health_check"] is not None:
        be["health_check"] = HealthCheckView(**be["health_check"])
    return BackendView(**be)


def _peers_from_dict(data: dict[str, Any] | None) -> PeersView | None:
    if data is None:
        return None
    return PeersView(name=data["name"], peers=tuple(PeerView(**p) for p in data["peers"]))


def view_from_dict(data: dict[str, Any]) -> ConfigView:
    """Inverse of :func:`view_to_dict`, for the copy kept next to the running config."""
    return ConfigView(
        peers=_peers_from_dict(data.get("peers")),
        subject=data["subject"],
        global_=GlobalView(**data["global_"]),
        defaults=DefaultsView(**data["defaults"]),
        frontends=tuple(_frontend_from_dict(fe) for fe in data["frontends"]),
        backends=tuple(_backend_from_dict(be) for be in data["backends"]),
        tls_files=tuple(data.get("tls_files", ())),
    )
