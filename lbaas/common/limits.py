"""One definition of every value that reaches an HAProxy configuration or a command line.

The API checks requests against these rules (a 400 when one fails) and the agent's
renderer checks the logical device against the same rules again before it writes a line
(defence in depth: the agent never writes a line it did not build, even if a database
was edited by hand or an older server let something through). Keeping them in one module
is what keeps the two sides from disagreeing: a value the API takes and the agent refuses
would put a load balancer in ERROR long after the request that caused it returned 201.

Every pattern here is ASCII-only on purpose: Python's ``\\d`` and ``int()`` take
"٢٠٠" or "２００" as 200, which HAProxy would then compare byte for byte and never
match. See docs/security.md for the threat model these rules serve.
"""

from __future__ import annotations

import ipaddress
import re

# Health monitors, in seconds: HAProxy takes larger values, but a check less often than
# once a day is a mistake, and one bound on both sides is what matters.
DELAY_MIN, DELAY_MAX = 1, 86400
TIMEOUT_MIN, TIMEOUT_MAX = 1, 86400
MAX_RETRIES_MIN, MAX_RETRIES_MAX = 1, 10
# A frontend's maxconn: -1 means unlimited; HAProxy's own ceiling is far above this.
CONNECTION_LIMIT_MAX = 10_000_000
# HAProxy's server weight range (0 drains the server without marking it down).
WEIGHT_MIN, WEIGHT_MAX = 0, 256
PORT_MIN, PORT_MAX = 1, 65535
# Listener timeouts (Octavia's timeout_client_data, timeout_member_connect,
# timeout_member_data, timeout_tcp_inspect), in milliseconds: Octavia's range, 0 (no
# timeout; for timeout_tcp_inspect, no inspection delay) to a day.
LISTENER_TIMEOUT_MIN, LISTENER_TIMEOUT_MAX = 0, 86_400_000

HTTP_METHOD_MAX = 16
URL_PATH_MAX = 255
COOKIE_NAME_MAX = 128
EXPECTED_CODES_MAX = 64
DOMAIN_NAME_MAX = 253

# An HTTP method token as HAProxy's "option httpchk" takes it: upper-case letters only
# ("X-Y" or "A_B" are valid RFC 9110 tokens but not methods HAProxy will send).
HTTP_METHOD_PATTERN = r"^[A-Z]{1,16}$"
# An absolute path with RFC 3986 characters; no space, quote, backslash or '#', which
# HAProxy's parser would split on, open a quote with, escape, or start a comment with.
URL_PATH_PATTERN = r"^/[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*$"
# An RFC 6265 cookie-name token without the characters HAProxy's parser treats
# specially ('#', quotes, '$', '%', backslash).
COOKIE_NAME_PATTERN = r"^[A-Za-z0-9!&*+\-.^_`|~]{1,128}$"
# "200", "200,202" or "200-204": three ASCII digits each.
EXPECTED_CODES_PATTERN = r"^([0-9]{3}(,[0-9]{3})*|[0-9]{3}-[0-9]{3})$"
# A DNS host name as a health check's Host header: dot-separated RFC 1123 labels of
# letters, digits and inner hyphens, 1 to 63 characters each. No '%' (HAProxy reads
# "http-check send ... hdr" values as log-format), no space, quote, backslash or '#'.
DOMAIN_NAME_PATTERN = (r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# A CIDR as text: address characters, one slash, a prefix length.
CIDR_PATTERN = r"^[0-9a-fA-F.:]+/[0-9]{1,3}$"

_HTTP_METHOD_RE = re.compile(HTTP_METHOD_PATTERN, re.ASCII)
_URL_PATH_RE = re.compile(URL_PATH_PATTERN, re.ASCII)
_COOKIE_NAME_RE = re.compile(COOKIE_NAME_PATTERN, re.ASCII)
_EXPECTED_CODES_RE = re.compile(EXPECTED_CODES_PATTERN, re.ASCII)
_CIDR_RE = re.compile(CIDR_PATTERN, re.ASCII)
_DOMAIN_NAME_RE = re.compile(DOMAIN_NAME_PATTERN, re.ASCII)
# What an IP address may contain before ipaddress looks at it: hex digits, dots and
# colons. ipaddress itself accepts an IPv6 scope id ("fe80::1%<anything>"), newlines and
# '#' included, and prints it back: that was a configuration injection.
_IP_CHARS_RE = re.compile(r"^[0-9a-fA-F.:]{2,45}$", re.ASCII)


def canonical_ip(value: object) -> str:
    """``value`` if it is an IPv4 or IPv6 address written the one way Python prints it
    (no scope id, no leading zeros, lower-case, '::' compressed); ValueError otherwise."""
    if not isinstance(value, str) or not _IP_CHARS_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid IP address")
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IP address") from None
    if str(ip) != value:
        raise ValueError(f"{value!r} is not written canonically (write {str(ip)!r})")
    return value


def canonical_cidr(value: object) -> str:
    """``value`` if it is a network in CIDR notation, host bits clear, written as Python
    prints it; ValueError otherwise."""
    if not isinstance(value, str) or not _CIDR_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid CIDR")
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR ({exc})") from None
    if str(net) != value:
        raise ValueError(f"{value!r} is not written canonically (write {str(net)!r})")
    return value


def http_method(value: object) -> str:
    if not isinstance(value, str) or not _HTTP_METHOD_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an HTTP method (1 to {HTTP_METHOD_MAX} "
                         "upper-case letters)")
    return value


def url_path(value: object) -> str:
    if (not isinstance(value, str) or len(value) > URL_PATH_MAX
            or not _URL_PATH_RE.fullmatch(value)):
        raise ValueError(f"{value!r} is not an absolute URL path of at most {URL_PATH_MAX} "
                         "characters without spaces, quotes, backslashes or '#'")
    return value


def cookie_name(value: object) -> str:
    if not isinstance(value, str) or not _COOKIE_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a cookie name (1 to {COOKIE_NAME_MAX} letters, "
                         "digits or !&*+-.^_`|~)")
    return value


def domain_name(value: object) -> str:
    """A host name for a health check's ``Host`` header (Octavia's ``domain_name``)."""
    # fullmatch: "$" alone would let a trailing newline through.
    if not isinstance(value, str) or not _DOMAIN_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a host name (dot-separated labels of at most "
                         f"63 letters, digits or inner hyphens, {DOMAIN_NAME_MAX} "
                         "characters in all)")
    return value


def expected_codes(value: object) -> list[int]:
    """The HTTP status codes that ``value`` ("200", "200,202", "200-204") names."""
    if (not isinstance(value, str) or len(value) > EXPECTED_CODES_MAX
            or not _EXPECTED_CODES_RE.fullmatch(value)):
        raise ValueError(f"{value!r} is not N, N,M,... or N-M with three-digit HTTP codes")
    if "-" in value:
        low, high = (int(c) for c in value.split("-"))
        if low > high:
            raise ValueError(f"range {value} is empty")
        codes = list(range(low, high + 1))
    else:
        codes = [int(c) for c in value.split(",")]
    for code in codes:
        if not 100 <= code <= 599:
            raise ValueError(f"{code} is not an HTTP status code")
    return codes


def int_in(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} {value!r} is not an integer in [{low}, {high}]")
    return value


def connection_limit(value: object) -> int:
    """-1 (unlimited) or 0..CONNECTION_LIMIT_MAX (0 takes no connection; the v1 API
    refuses it as v1 did, Octavia's takes it)."""
    return int_in(value, "connection_limit", -1, CONNECTION_LIMIT_MAX)


# HAProxy access logs (the agent's [haproxy] access_log and access_log_facility).
# The syslog facilities HAProxy's "log" keyword knows.
LOG_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
                  "uucp", "cron", "auth2", "ftp", "ntp", "audit", "alert", "cron2",
                  *(f"local{i}" for i in range(8)))
# sun_path holds 108 bytes with the terminating NUL.
UNIX_SOCKET_PATH_MAX = 107
# An absolute path of plain characters: no space (HAProxy splits words on it), no '#'
# (a comment), no quote, backslash or '@' (HAProxy reads "<family>@" as an address).
LOG_SOCKET_PATH_PATTERN = r"^/[A-Za-z0-9._/+-]*$"
_LOG_SOCKET_PATH_RE = re.compile(LOG_SOCKET_PATH_PATTERN, re.ASCII)
_LOG_UDP_RE = re.compile(r"^(\[(?P<v6>[0-9a-fA-F.:]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})$",
                         re.ASCII)


def log_target(value: object) -> str:
    """Where HAProxy sends its access log, as its ``log`` keyword takes it: the absolute
    path of a unix datagram socket (``/dev/log``), or a syslog server over UDP as
    ``a.b.c.d:port`` or ``[v6 address]:port`` (canonical addresses). ValueError
    otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a log target")
    if value.startswith("/"):
        if len(value) > UNIX_SOCKET_PATH_MAX or not _LOG_SOCKET_PATH_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a unix socket path (absolute, at most "
                             f"{UNIX_SOCKET_PATH_MAX} characters, letters, digits and "
                             "._/+- only)")
        return value
    match = _LOG_UDP_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a log target: give a unix socket path "
                         "(/dev/log) or a UDP address as a.b.c.d:port or [v6]:port")
    ip = canonical_ip(match["v6"] or match["v4"])
    if (":" in ip) != (match["v6"] is not None):
        raise ValueError(f"{value!r}: write an IPv6 address in brackets, an IPv4 one "
                         "without")
    int_in(int(match["port"]), "log target port", PORT_MIN, PORT_MAX)
    return value


def log_facility(value: object) -> str:
    if value not in LOG_FACILITIES:
        raise ValueError(f"{value!r} is not a syslog facility HAProxy knows "
                         f"({', '.join(LOG_FACILITIES)})")
    assert isinstance(value, str)
    return value


# TLS (Octavia's TERMINATED_HTTPS listeners and pools with tls_enabled). Octavia's
# version names, oldest first; the agent maps them to HAProxy's.
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# The ALPN protocol names Octavia accepts (and HAProxy 2.6 can speak to either side).
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")
# Octavia's hsts_max_age: seconds, 0 (the browser forgets the host) to 2^31 - 1.
HSTS_MAX_AGE_MIN, HSTS_MAX_AGE_MAX = 0, 2_147_483_647
TLS_CIPHERS_MAX = 2048
# An OpenSSL cipher string: names joined by ':' with OpenSSL's operators (!, +, -, @=).
# No space, quote, backslash or '#', which HAProxy's parser would split on, open a quote
# with, escape, or start a comment with; no ',' (HAProxy's list separator elsewhere).
TLS_CIPHERS_PATTERN = r"^[A-Za-z0-9_.:+!@=-]{1,2048}$"
# A name a certificate serves, as an SNI filter of a crt-list: a host name, or a
# wildcard one ("*.example.com"). No '!' (a crt-list's negative filter), no space or '#'.
SNI_NAME_PATTERN = (r"^(\*\.)?(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_TLS_CIPHERS_RE = re.compile(TLS_CIPHERS_PATTERN, re.ASCII)
_SNI_NAME_RE = re.compile(SNI_NAME_PATTERN, re.ASCII)
# One PEM block: a label of upper-case words, base64 lines (RFC 7468's strict form, plus
# the "Proc-Type"-less bodies OpenSSL writes). Nothing outside the blocks is kept.
_PEM_BLOCK_RE = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{1,40})-----\r?\n"
    r"(?P<body>(?:[A-Za-z0-9+/=]{1,76}\r?\n)+)"
    r"-----END (?P=label)-----", re.ASCII)
PEM_MAX = 1_000_000
CERTIFICATE_LABELS = ("CERTIFICATE",)
PRIVATE_KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
CRL_LABELS = ("X509 CRL",)


def tls_versions(value: object) -> list[str]:
    """Octavia's tls_versions: a non-empty list of distinct names of TLS_VERSIONS."""
    if (not isinstance(value, list) or not value
            or any(v not in TLS_VERSIONS for v in value) or len(set(value)) != len(value)):
        raise ValueError(f"tls_versions {value!r} must be distinct names out of "
                         f"{', '.join(TLS_VERSIONS)}")
    return value


def alpn_protocols(value: object) -> list[str]:
    if (not isinstance(value, list) or not value
            or any(v not in ALPN_PROTOCOLS for v in value) or len(set(value)) != len(value)):
        raise ValueError(f"alpn_protocols {value!r} must be distinct names out of "
                         f"{', '.join(ALPN_PROTOCOLS)}")
    return value


def tls_ciphers(value: object) -> str:
    if not isinstance(value, str) or not _TLS_CIPHERS_RE.fullmatch(value):
        raise ValueError(f"tls_ciphers must be an OpenSSL cipher string of at most "
                         f"{TLS_CIPHERS_MAX} letters, digits and _.:+!@=-")
    return value


def hsts_max_age(value: object) -> int:
    return int_in(value, "hsts_max_age", HSTS_MAX_AGE_MIN, HSTS_MAX_AGE_MAX)


def sni_name(value: object) -> str:
    if not isinstance(value, str) or not _SNI_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a host name a certificate can serve")
    return value


def pem(value: object, what: str, labels: tuple[str, ...], count: int | None = None) -> str:
    """``value`` rewritten as its PEM blocks only, each ending in a newline: every block
    must carry one of ``labels`` (``count`` of them when given). The error never quotes
    the value: it may be a private key."""
    if not isinstance(value, str) or len(value) > PEM_MAX:
        raise ValueError(f"{what} is not PEM text")
    blocks = list(_PEM_BLOCK_RE.finditer(value))
    rest = _PEM_BLOCK_RE.sub("", value)
    if (not blocks or rest.strip() or any(b["label"] not in labels for b in blocks)
            or (count is not None and len(blocks) != count)):
        raise ValueError(f"{what} is not PEM of {' or '.join(labels)}"
                         + (f" ({count} block)" if count == 1 else ""))
    return "".join(b[0].replace("\r\n", "\n") + "\n" for b in blocks)


# VRRP (ACTIVE_STANDBY load balancers, keepalived): RFC 5798's ranges. Priority 255 is
# the address owner's and 0 a resignation, neither is configurable; advert intervals
# are centiseconds in VRRPv3, at most 4095 of them.
VRRP_VRID_MIN, VRRP_VRID_MAX = 1, 255
VRRP_PRIORITY_MIN, VRRP_PRIORITY_MAX = 1, 254
VRRP_ADVERT_INT_MS_MIN, VRRP_ADVERT_INT_MS_MAX = 10, 40950
# A Linux interface name (IFNAMSIZ 16 with its NUL): the characters our interface
# drivers use; no space, quote or '#' that would change a keepalived line.
INTERFACE_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,15}$"
_INTERFACE_NAME_RE = re.compile(INTERFACE_NAME_PATTERN, re.ASCII)


def interface_name(value: object) -> str:
    if not isinstance(value, str) or not _INTERFACE_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not an interface name (1-15 letters, digits, "
                         "'_', '.', '-')")
    return value


def vrrp_advert_int_ms(value: object) -> int:
    """A VRRP advert interval in milliseconds, a whole number of centiseconds."""
    ms = int_in(value, "VRRP advert interval (ms)", VRRP_ADVERT_INT_MS_MIN,
                VRRP_ADVERT_INT_MS_MAX)
    if ms % 10:
        raise ValueError(f"VRRP advert interval {ms} ms is not a multiple of 10 ms "
                         "(VRRPv3 counts centiseconds)")
    return ms
