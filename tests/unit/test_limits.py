"""The one definition of every value that reaches an HAProxy configuration
(lbaas/common/limits.py): what each rule takes and what it refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lbaas.common import limits

RULES: list[tuple[Callable[[Any], Any], str]] = [
    (limits.canonical_ip, "10.0.0.1"), (limits.canonical_ip, "fd00::1"),
    (limits.canonical_cidr, "10.0.0.0/24"), (limits.http_method, "GET"),
    (limits.url_path, "/health?x=1"), (limits.cookie_name, "JSESSIONID"),
    (limits.expected_codes, "200-204"), (limits.domain_name, "www.example.com"),
]


@pytest.mark.parametrize("rule, good", RULES, ids=[f"{r.__name__}-{g}" for r, g in RULES])
@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\n    option external-check",
                                    "\x00", "\u2028", " ", "#", '"'])
def test_no_rule_takes_a_trailing_line_or_word(rule: Callable[[Any], Any], good: str,
                                               suffix: str) -> None:
    rule(good)
    with pytest.raises(ValueError):
        rule(good + suffix)


@pytest.mark.parametrize("value", ["fe80::1%1", "fe80::1%eth0\n global", "FE80::1",
                                   "::FFFF:10.0.0.1", "10.0.0.01", "", "10.0.0.1/32", 3])
def test_only_canonical_addresses(value: Any) -> None:
    with pytest.raises(ValueError):
        limits.canonical_ip(value)


@pytest.mark.parametrize("value", ["٢٠٠", "２００", "200-٢٠٤", "99", "600", "204-200"])
def test_expected_codes_are_ascii_http_codes(value: str) -> None:
    with pytest.raises(ValueError):
        limits.expected_codes(value)


def test_expected_codes_name_their_codes() -> None:
    assert limits.expected_codes("200,202") == [200, 202]
    assert limits.expected_codes("200-202") == [200, 201, 202]


@pytest.mark.parametrize("value, ok", [(-1, True), (0, True), (10_000_000, True),
                                       (10_000_001, False), (-2, False), (True, False)])
def test_connection_limit(value: Any, ok: bool) -> None:
    if ok:
        assert limits.connection_limit(value) == value
    else:
        with pytest.raises(ValueError):
            limits.connection_limit(value)
