"""The wheel, installed the way docs/deploy.md says, run the way the units run it.

The wheel is built from the repository's files alone (copied out, so nothing of the
checkout is at hand), installed with ``pip install -c constraints.txt`` into a fresh venv
(pip takes the dependencies from the package index), and then, from a directory
that is not the repository and without PYTHONPATH: ``lbaas-server --upgrade-only`` on a
new PostgreSQL database, two servers started with the exact ExecStart line of
``lbaas-server.service`` on that database, and an agent with the ExecStart line of
``lbaas-agent.service`` that heartbeats to one of them; the other sees it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import free_port

REPO = Path(__file__).resolve().parents[2]
PG_PORT = int(os.environ.get("LBAAS_TEST_PG_PORT", "5432"))
PG_ADMIN_DSN = (f"host=127.0.0.1 port={PG_PORT} user=lbaas password=lbaas dbname=postgres "
                "connect_timeout=5")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path


def _clean_env() -> dict[str, str]:
    """The environment of a new operator's shell: no PYTHONPATH pointing at a checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(Path(sys.executable).parent)))
    return env


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=_clean_env(), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{shlex.join(argv)}: {done.stdout[-3000:]}" \
                                 f"{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    # The repository's own files (tracked, or new and not ignored): no venv, no caches.
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=REPO, capture_output=True,
                           check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / os.fsdecode(name)
        if src.is_file():
            dst = source / os.fsdecode(name)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
          str(source)], cwd=work)
    (wheel,) = dist.glob("lbaas-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    _run([str(venv / "bin" / "pip"), "install", "-q", "-c",
          str(source / "constraints.txt"), str(wheel)], cwd=work)
    run_dir = work / "run"
    run_dir.mkdir()
    return Installed(wheel=wheel, venv=venv, workdir=run_dir)


def test_the_wheel_holds_the_templates_the_migrations_and_the_kit(
        installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    migrations = {p.name for p in (REPO / "lbaas/server/db/migrations/versions").glob("*.py")}
    assert migrations
    for name in migrations:
        assert f"lbaas/server/db/migrations/versions/{name}" in names
    for name in ("lbaas/server/db/migrations/env.py",
                 "lbaas/server/db/migrations/script.py.mako",
                 "lbaas/agent/drivers/haproxy/templates/base.j2",
                 "lbaas/agent/drivers/haproxy/templates/macros.j2"):
        assert name in names
    data = f"lbaas-{installed.wheel.name.split('-')[1]}.data/data/share/lbaas"
    for name in ("systemd/lbaas-server.service", "systemd/lbaas-agent.service",
                 "sysctl.d/60-lbaas-agent.conf", "logrotate.d/lbaas", "lbaas.conf.sample"):
        assert f"{data}/{name}" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # Installed: the kit under <venv>/share/lbaas, lbaas imported from the venv.
    share = installed.venv / "share" / "lbaas"
    assert (share / "systemd" / "lbaas-agent.service").read_text() == \
        (REPO / "etc/systemd/lbaas-agent.service").read_text()
    where = _run([str(installed.venv / "bin" / "python"), "-c",
                  "import lbaas; print(lbaas.__file__)"], cwd=installed.workdir).stdout
    assert where.startswith(str(installed.venv)), where


def _exec_start(unit: str, venv: Path, config_dir: Path) -> list[str]:
    """The unit's ExecStart, with /opt/lbaas (the venv) and /etc/lbaas moved."""
    text = (REPO / "etc" / "systemd" / unit).read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")]
    argv = shlex.split(line.removeprefix("ExecStart="))
    assert argv[0].startswith("/opt/lbaas/bin/")
    return [a.replace("/opt/lbaas/", f"{venv}/").replace("/etc/lbaas/", f"{config_dir}/")
            for a in argv]


class Process:
    def __init__(self, argv: list[str], cwd: Path, log: Path) -> None:
        self.log_file = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=_clean_env(), stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        p.stop()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new database owned by the lbaas role, as docs/deploy.md creates one."""
    psycopg = pytest.importorskip("psycopg")
    name = f"lbaas_td_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg.connect(PG_ADMIN_DSN, autocommit=True)
    except psycopg.Error as exc:
        if os.environ.get("LBAAS_SKIP_PG") == "1" and not os.environ.get("CI"):
            pytest.skip("LBAAS_SKIP_PG=1")
        pytest.fail(f"PostgreSQL at 127.0.0.1:{PG_PORT} unreachable (run "
                    f"tools/ensure-postgres.sh): {exc}", pytrace=False)
    with conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER lbaas')
    try:
        yield f"postgresql+psycopg://lbaas:lbaas@127.0.0.1:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_healthy(url: str, proc: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.proc.poll() is None, f"exited {proc.proc.returncode}: {proc.log()}"
        try:
            if httpx.get(url + "/healthcheck", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, proc.log()
        time.sleep(0.2)


def test_two_servers_and_an_agent_from_the_units_command_lines(
        installed: Installed, pg_database: str, processes: list[Process],
        tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    host = f"td-wheel-{uuid.uuid4().hex[:8]}"
    ports = []
    for n in (1, 2):
        (etc / f"server{n}").mkdir()
        port = free_port()
        ports.append(port)
        (etc / f"server{n}" / "lbaas.conf").write_text(
            f"[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = {port}\n"
            f"state_path = {tmp_path}/state{n}\n"
            f"[database]\nconnection = {pg_database}\n")
    (tmp_path / "state1").mkdir()
    (tmp_path / "state2").mkdir()

    # Before starting servers of a new version: the schema, once, from one host.
    upgrade = _exec_start("lbaas-server.service", installed.venv, etc / "server1")
    done = _run([*upgrade, "--upgrade-only"], cwd=installed.workdir)
    assert done.stdout == "lbaas-server: database is up to date\n"
    done = _run([*upgrade, "--upgrade-only"], cwd=installed.workdir)  # idempotent
    assert done.stdout == "lbaas-server: database is up to date\n"

    urls = []
    for n, port in ((1, ports[0]), (2, ports[1])):
        argv = _exec_start("lbaas-server.service", installed.venv, etc / f"server{n}")
        server = Process(argv, installed.workdir, tmp_path / f"server{n}.log")
        processes.append(server)
        urls.append(f"http://127.0.0.1:{port}")
        _wait_healthy(urls[-1], server)

    agent_conf = etc / "agent"
    agent_conf.mkdir()
    (agent_conf / "agent.conf").write_text(
        f"[DEFAULT]\nhost = {host}\nserver_url = {urls[0]}\nreport_interval = 1\n"
        f"raise_kernel_limits = false\nstate_path = {tmp_path}/agent\n"
        f"[haproxy]\nloadbalancer_state_path = {tmp_path}/agent/lbaas\n")
    argv = _exec_start("lbaas-agent.service", installed.venv, agent_conf)
    agent = Process(argv, installed.workdir, tmp_path / "agent.log")
    processes.append(agent)

    deadline = time.monotonic() + 60
    while True:
        # Server 2 sees the heartbeats server 1 took: one database.
        agents = httpx.get(urls[1] + "/v2.0/agents", params={"host": host},
                           timeout=5).json()["agents"]
        if agents and agents[0]["alive"]:
            break
        assert agent.proc.poll() is None, agent.log()
        assert time.monotonic() < deadline, agent.log()
        time.sleep(0.3)
    assert "Traceback" not in agent.log()
