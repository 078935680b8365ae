"""Octavia's L7 policies and rules: their words, and the checks every value passes
before it may reach an HAProxy configuration.

As with lbaas.common.limits, the API refuses a value that fails one of these rules (a
400) and the agent's renderer checks the logical device against the same rules again
before it writes a line. Values are rendered single-quoted (HAProxy expands nothing
inside single quotes and has no escape there), so a value may hold no single quote;
redirect targets are log-format strings, where the renderer doubles '%'. See
docs/octavia.md ("L7 policies and rules") for what the API accepts.
"""

from __future__ import annotations

import re

REJECT = "REJECT"
REDIRECT_TO_URL = "REDIRECT_TO_URL"
REDIRECT_PREFIX = "REDIRECT_PREFIX"
REDIRECT_TO_POOL = "REDIRECT_TO_POOL"
ACTIONS = (REJECT, REDIRECT_TO_URL, REDIRECT_PREFIX, REDIRECT_TO_POOL)
REDIRECT_ACTIONS = (REDIRECT_TO_URL, REDIRECT_PREFIX)
REDIRECT_CODES = (301, 302, 303, 307, 308)
DEFAULT_REDIRECT_CODE = 302

RULE_TYPES = ("HOST_NAME", "PATH", "FILE_TYPE", "HEADER", "COOKIE", "SSL_CONN_HAS_CERT",
              "SSL_VERIFY_RESULT", "SSL_DN_FIELD")
# Rule types about the client's certificate: they need a TLS-terminating listener.
SSL_RULE_TYPES = ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT", "SSL_DN_FIELD")
COMPARE_TYPES = ("REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO")
# HAProxy's match method per compare type.
MATCH = {"REGEX": "reg", "STARTS_WITH": "beg", "ENDS_WITH": "end", "CONTAINS": "sub",
         "EQUAL_TO": "str"}
KEYED_TYPES = ("HEADER", "COOKIE")
# Octavia's limits: rule values and keys are at most 255 characters, 50 rules a policy.
VALUE_MAX = 255
URL_MAX = 255
MAX_RULES_PER_POLICY = 50
POSITION_MAX = 2147483647

# A literal to compare with: visible ASCII without space, quotes, backslash or '#'.
_VALUE_RE = re.compile(r"^[!$-&(-\[\]-~]{1,255}$", re.ASCII)
# A regex: visible ASCII and spaces, no single quote (the renderer's quote).
_REGEX_RE = re.compile(r"^[ !-&(-~]{1,255}$", re.ASCII)
# An HTTP header or cookie name: RFC 9110 token characters, less those HAProxy's parser
# or a sample fetch's argument list treat specially ('#', quotes, '$', '%', ',', '(',
# ')', backslash).
_KEY_RE = re.compile(r"^[A-Za-z0-9!&*+\-.^_`|~]{1,255}$", re.ASCII)
# An absolute http(s) URL of RFC 3986 characters, less quotes; '%' only as %XX.
_URL_RE = re.compile(
    r"^https?://[A-Za-z0-9\-._~!$&()*+,;=:@\[\]]+"
    r"(/[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*)?$", re.ASCII)
_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# An SSL_DN_FIELD key: an attribute name of a Distinguished Name as HAProxy's
# ssl_c_s_dn(<entry>) takes it ("CN", "OU", "emailAddress") or its dotted OID.
_DN_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]{0,63}|[0-9]{1,9}(\.[0-9]{1,9}){1,15})$",
                          re.ASCII)
# An SSL_VERIFY_RESULT value: an X509 verify result code (0: verified).
_VERIFY_RESULT_RE = re.compile(r"^[0-9]{1,9}$", re.ASCII)


def regex(value: object) -> str:
    if not isinstance(value, str) or not _REGEX_RE.fullmatch(value):
        raise ValueError("a regex is 1 to 255 printable ASCII characters, without a "
                         "single quote")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"Unable to parse regular expression: {exc}") from None
    return value


def literal(value: object) -> str:
    if not isinstance(value, str) or not _VALUE_RE.fullmatch(value):
        raise ValueError("a value is 1 to 255 printable ASCII characters, without "
                         "spaces, quotes, backslashes or '#'")
    return value


def key(value: object) -> str:
    if not isinstance(value, str) or not _KEY_RE.fullmatch(value):
        raise ValueError("a key is an HTTP header or cookie name: 1 to 255 token "
                         "characters")
    return value


def url(value: object, what: str = "redirect_url") -> str:
    if not isinstance(value, str) or len(value) > URL_MAX or not _URL_RE.fullmatch(value) \
            or _PERCENT_RE.search(value):
        raise ValueError(f"{what} must be an absolute http or https URL of at most "
                         f"{URL_MAX} characters (RFC 3986, no quotes or spaces; '%' only "
                         "as %XX)")
    return value


def rule(rule_type: object, compare_type: object, rule_key: object, value: object,
         tls_listener: bool = False) -> None:
    """Octavia's checks of one rule; ValueError says what is wrong."""
    if rule_type not in RULE_TYPES:
        raise ValueError(f"type {rule_type} is not one of {', '.join(RULE_TYPES)}")
    if compare_type not in COMPARE_TYPES:
        raise ValueError(f"compare_type {compare_type} is not one of "
                         f"{', '.join(COMPARE_TYPES)}")
    if rule_type in SSL_RULE_TYPES and not tls_listener:
        raise ValueError(f"L7 rule type {rule_type} needs a TERMINATED_HTTPS listener, "
                         "which this provider does not serve yet")
    if rule_type in SSL_RULE_TYPES:
        _ssl_rule(rule_type, compare_type, rule_key, value)
        return
    if rule_type in KEYED_TYPES:
        if rule_key is None:
            raise ValueError("key must not be None for HEADER and COOKIE rules")
        key(rule_key)
    elif rule_key is not None:
        raise ValueError(f"key is not a valid option for {rule_type} rules")
    if rule_type == "FILE_TYPE" and compare_type not in ("REGEX", "EQUAL_TO"):
        raise ValueError("compare_type must be REGEX or EQUAL_TO for FILE_TYPE rules")
    if compare_type == "REGEX":
        regex(value)
    else:
        literal(value)


def dn_field(value: object) -> str:
    if not isinstance(value, str) or not _DN_FIELD_RE.fullmatch(value):
        raise ValueError("an SSL_DN_FIELD key is a Distinguished Name attribute (CN, OU, "
                         "emailAddress...) or its dotted OID")
    return value


def _ssl_rule(rule_type: object, compare_type: object, rule_key: object,
              value: object) -> None:
    """The client certificate rules: SSL_CONN_HAS_CERT (value "True": a certificate was
    presented, valid or not), SSL_VERIFY_RESULT (value an X509 verify result code, 0 for
    verified), both EQUAL_TO without a key; SSL_DN_FIELD (key a subject DN attribute,
    any compare type)."""
    if rule_type == "SSL_DN_FIELD":
        if rule_key is None:
            raise ValueError("key must not be None for SSL_DN_FIELD rules")
        dn_field(rule_key)
        if compare_type == "REGEX":
            regex(value)
        else:
            literal(value)
        return
    if rule_key is not None:
        raise ValueError(f"key is not a valid option for {rule_type} rules")
    if compare_type != "EQUAL_TO":
        raise ValueError(f"compare_type must be EQUAL_TO for {rule_type} rules")
    if rule_type == "SSL_CONN_HAS_CERT":
        if not isinstance(value, str) or value.lower() != "true":
            raise ValueError("the value of an SSL_CONN_HAS_CERT rule must be True")
    elif not isinstance(value, str) or not _VERIFY_RESULT_RE.fullmatch(value):
        raise ValueError("the value of an SSL_VERIFY_RESULT rule must be a verify result "
                         "code (0 to 999999999)")


def policy(action: object, redirect_pool_id: object, redirect_url: object,
           redirect_prefix: object, redirect_http_code: object) -> None:
    """Octavia's checks of a policy's action and its arguments."""
    if action not in ACTIONS:
        raise ValueError(f"Invalid L7 Policy action specified: {action}")
    needed = {REDIRECT_TO_POOL: ("redirect_pool_id", redirect_pool_id),
              REDIRECT_TO_URL: ("redirect_url", redirect_url),
              REDIRECT_PREFIX: ("redirect_prefix", redirect_prefix)}.get(str(action))
    if needed is not None and needed[1] is None:
        raise ValueError(f"Invalid L7 Policy arguments: {needed[0]} must not be None")
    if redirect_url is not None:
        url(redirect_url)
    if redirect_prefix is not None:
        url(redirect_prefix, "redirect_prefix")
    if redirect_http_code is not None and redirect_http_code not in REDIRECT_CODES:
        raise ValueError(f"redirect_http_code must be one of "
                         f"{', '.join(str(c) for c in REDIRECT_CODES)}")
