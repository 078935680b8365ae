"""The deployment kit as files: the systemd units, the sysctl.d file, the logrotate file
and the dependency pins. Each is checked for what it promises the operator, with the
tools that will read it (systemd-analyze, logrotate) where the machine has them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from lbaas.agent.host_checks import KERNEL_MINIMUMS
from tests.helpers.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "etc" / "systemd"
BIN = Path(sys.executable).parent

# Options that give a service a mount namespace of its own: network namespaces the agent
# bind-mounts under /run/netns would then be invisible to the host.
MOUNT_NAMESPACE_OPTIONS = {
    "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
    "ProtectControlGroups", "ProtectProc", "ReadWritePaths", "ReadOnlyPaths",
    "InaccessiblePaths", "TemporaryFileSystem", "BindPaths", "MountFlags",
}


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_stopping_the_agent_leaves_every_haproxy_serving() -> None:
    service = unit("lbaas-agent.service")["Service"]
    assert service["KillMode"] == ["process"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"]
    assert service["TasksMax"] == ["infinity"]
    assert "User" not in service  # root: namespaces, links, HAProxy
    assert service["NoNewPrivileges"] == ["yes"]
    assert MOUNT_NAMESPACE_OPTIONS.isdisjoint(service)


def test_the_server_runs_unprivileged_and_confined() -> None:
    service = unit("lbaas-server.service")["Service"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"]
    assert service["User"] == ["lbaas"]
    # The default KillMode (control-group): a stopped server leaves nothing behind.
    assert "KillMode" not in service
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("PrivateTmp", "yes"), ("CapabilityBoundingSet", ""),
                       ("StateDirectory", "lbaas"), ("LogsDirectory", "lbaas")):
        assert service[key] == [value], key


@pytest.mark.parametrize("name", ["lbaas-server.service", "lbaas-agent.service"])
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path, name: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # The unit as installed, its /opt/lbaas venv being the one running the tests:
    # verify checks that ExecStart's program exists.
    text = (UNITS / name).read_text().replace("/opt/lbaas/bin/", f"{BIN}/")
    (tmp_path / name).write_text(text)
    done = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    # systemd-analyze exits 0 on an unknown key; it only says so.
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_the_sysctl_file_sets_exactly_what_the_agent_raises() -> None:
    text = (REPO / "etc" / "sysctl.d" / "60-lbaas-agent.conf").read_text()
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = int(value)
    assert values == KERNEL_MINIMUMS


def test_logrotate_moves_a_running_servers_log_and_it_goes_on_in_a_new_file(
        tmp_path: Path) -> None:
    logrotate = shutil.which("logrotate")
    if logrotate is None:
        pytest.skip("logrotate is not installed (Debian package logrotate)")
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    conf = tmp_path / "logrotate.conf"
    conf.write_text((REPO / "etc" / "logrotate.d" / "lbaas").read_text()
                    .replace("/var/log/lbaas/", f"{log_dir}/"))
    with ServerProcess(conf={"DEFAULT": {"log_dir": log_dir}}) as server:
        log = log_dir / "lbaas-server.log"
        assert httpx.get(server.url + "/healthcheck?before").status_code == 200
        _wait_for(log, "/healthcheck?before")

        done = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(conf)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "/healthcheck?before" in (log_dir / "lbaas-server.log.1").read_text()

        assert httpx.get(server.url + "/healthcheck?after").status_code == 200
        _wait_for(log, "/healthcheck?after")
        assert "/healthcheck?before" not in log.read_text()


def _wait_for(path: Path, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text()):
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        time.sleep(0.1)


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not name==version"
            pins[_canonical(name)] = version
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_is_a_range_with_its_exact_pin_in_constraints() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    pins = _pins()
    for text in requirements:
        req = Requirement(text)
        assert not any(spec.operator == "==" for spec in req.specifier), \
            f"{text}: pyproject.toml takes a range; the pin goes in constraints.txt"
        assert _canonical(req.name) in pins, f"{req.name} has no pin in constraints.txt"
        assert req.specifier.contains(pins[_canonical(req.name)]), \
            f"{req.name}=={pins[_canonical(req.name)]} is outside {text}"


def test_the_sample_configuration_is_installed_beside_the_units() -> None:
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["data-files"]
    shipped = {path for paths in data_files.values() for path in paths}
    kit = {str(p.relative_to(REPO)) for p in (REPO / "etc").rglob("*") if p.is_file()}
    # The all-in-one's config is for `make run` in a checkout, not for a package.
    assert shipped == kit - {"etc/all-in-one.conf"}
