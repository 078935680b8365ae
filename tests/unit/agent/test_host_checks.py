"""check_host against a temporary /proc/sys tree."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lbaas.agent.host_checks import HostCheckError, check_host


def _which_all(name: str) -> str | None:
    return f"/usr/sbin/{name}"


def _make_tree(root: Path, values: dict[str, dict[str, int]]) -> None:
    for family, thresholds in values.items():
        d = root / "net" / family / "neigh" / "default"
        d.mkdir(parents=True)
        for name, value in thresholds.items():
            (d / name).write_text(f"{value}\n")


def _read(root: Path, family: str, name: str) -> int:
    return int((root / "net" / family / "neigh" / "default" / name).read_text())


DEFAULTS = {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024}


def test_low_neighbour_limits_are_raised_and_logged(tmp_path, caplog):
    _make_tree(tmp_path, {"ipv4": DEFAULTS, "ipv6": DEFAULTS})
    with caplog.at_level(logging.INFO, logger="lbaas.agent.host_checks"):
        check_host(proc_sys=str(tmp_path), which=_which_all)

    for family in ("ipv4", "ipv6"):
        assert _read(tmp_path, family, "gc_thresh1") == 1024
        assert _read(tmp_path, family, "gc_thresh2") == 4096
        assert _read(tmp_path, family, "gc_thresh3") == 8192
    assert "net.ipv4.neigh.default.gc_thresh3: 1024 -> 8192" in caplog.text


def test_higher_limits_are_never_lowered(tmp_path):
    _make_tree(tmp_path, {"ipv4": {"gc_thresh1": 4000, "gc_thresh2": 16000,
                                   "gc_thresh3": 100},
                          "ipv6": {"gc_thresh1": 2048, "gc_thresh2": 8192,
                                   "gc_thresh3": 16384}})
    check_host(proc_sys=str(tmp_path), which=_which_all)

    assert [_read(tmp_path, "ipv4", f"gc_thresh{i}") for i in (1, 2, 3)] == [
        4000, 16000, 8192]
    assert [_read(tmp_path, "ipv6", f"gc_thresh{i}") for i in (1, 2, 3)] == [
        2048, 8192, 16384]


def test_host_without_ipv6_is_fine(tmp_path):
    _make_tree(tmp_path, {"ipv4": DEFAULTS})
    check_host(proc_sys=str(tmp_path), which=_which_all)
    assert _read(tmp_path, "ipv4", "gc_thresh2") == 4096


def test_limits_left_alone_when_not_asked_and_the_low_ones_named(tmp_path, caplog):
    _make_tree(tmp_path, {"ipv4": {**DEFAULTS, "gc_thresh1": 2048}})
    with caplog.at_level(logging.INFO, logger="lbaas.agent.host_checks"):
        check_host(raise_neighbour_limits=False, proc_sys=str(tmp_path), which=_which_all)
    assert _read(tmp_path, "ipv4", "gc_thresh3") == 1024
    # raise_kernel_limits = false: the operator set them (etc/sysctl.d) or chose not to;
    # each one still too low is one warning, the ones high enough say nothing.
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"net.ipv4.neigh.default.{name} is {value}, below the {minimum} a "
                    "host of many load balancers needs (raise_kernel_limits is false: not "
                    "raised; see etc/sysctl.d/60-lbaas-agent.conf)")
        for name, value, minimum in (("gc_thresh3", 1024, 8192), ("gc_thresh2", 512, 4096))]


@pytest.mark.parametrize("missing, hint", [
    ("haproxy", "haproxy not found: apt-get install haproxy"),
    ("arping", "arping not found: apt-get install iputils-arping"),
])
def test_missing_binary_says_what_to_install(tmp_path, missing, hint):
    def which(name: str) -> str | None:
        return None if name == missing else f"/usr/bin/{name}"

    _make_tree(tmp_path, {"ipv4": DEFAULTS})
    with pytest.raises(HostCheckError) as info:
        check_host(proc_sys=str(tmp_path), which=which)
    assert str(info.value) == hint
    # Nothing was changed on a host that cannot run the agent anyway.
    assert _read(tmp_path, "ipv4", "gc_thresh3") == 1024


def test_low_backlog_is_raised_for_bridges_with_many_ports(tmp_path):
    _make_tree(tmp_path, {"ipv4": DEFAULTS})
    core = tmp_path / "net" / "core"
    core.mkdir(parents=True)
    (core / "netdev_max_backlog").write_text("1000\n")

    check_host(proc_sys=str(tmp_path), which=_which_all)

    assert (core / "netdev_max_backlog").read_text() == "8192\n"
