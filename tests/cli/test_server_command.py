"""The commands as an operator runs them: ``--version``, a bad configuration (one line,
exit code 2, nothing opened), and what a server prints on stderr with no log option."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lbaas.common.version import version_string
from tests.helpers.server import free_port

BIN = Path(sys.executable).parent


def _run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("command", [
    ["lbaas-server", "--version"],
    ["lbaas-agent", "--version"],
    ["lbaas", "--version"],
    ["lbaas", "all-in-one", "--version"],
])
def test_version(command: list[str]) -> None:
    done = _run(str(BIN / command[0]), *command[1:])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(version_string())
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\S*", version_string())


SERVER_ONLY = [
    ("[DEFAULT]\nbind_port = abc\n",
     "Value for option bind_port in {conf} is not valid: invalid literal for int() "
     "with base 10: 'abc'"),
    ("[quotas]\nquota_pool = ten\n", "Value for option quota_pool in {conf} is not valid"),
    ("[DEFAULT]\nauth_strategy = kerberos\n", "Value for option auth_strategy"),
]
COMMON = [
    ("[DEFAULT]\nuse_json = perhaps\n", "Value for option use_json in {conf} is not valid"),
    ("[DEFAULT\nstate_path = x\n", "Failed to parse {conf}"),
    ("[DEFAULT]\nlog_file = {tmp}/no/such/dir/x.log\n",
     "cannot open the log file {tmp}/no/such/dir/x.log: No such file or directory"),
]


@pytest.mark.parametrize("program, ini, expected",
                         [("lbaas-server", *case) for case in SERVER_ONLY + COMMON]
                         + [("lbaas-agent", *case) for case in COMMON])
def test_a_bad_configuration_is_one_line_and_exit_2_before_anything_is_opened(
        tmp_path: Path, program: str, ini: str, expected: str) -> None:
    conf = tmp_path / "lbaas.conf"
    state = tmp_path / "state"
    conf.write_text(ini.format(tmp=tmp_path) + f"\n[DEFAULT]\nstate_path = {state}\n")
    done = _run(str(BIN / program), "--config-file", str(conf))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"{program}: configuration error: ")
    assert expected.format(conf=conf, tmp=tmp_path) in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""
    # Nothing was opened: no database, no state directory.
    assert not state.exists()


@pytest.mark.parametrize("program", ["lbaas-server", "lbaas-agent"])
def test_an_unreadable_or_missing_config_file_is_one_line(tmp_path: Path,
                                                          program: str) -> None:
    # As root every file is readable; a directory given as the file is not.
    for conf, expected in ((tmp_path, f"Is a directory: '{tmp_path}'"),
                           (tmp_path / "absent.conf",
                            f"Failed to find some config files: {tmp_path}/absent.conf")):
        done = _run(str(BIN / program), "--config-file", str(conf))
        assert done.returncode == 2
        assert done.stderr.startswith(f"{program}: configuration error: ")
        assert expected in done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_without_log_options_start_access_and_stop_go_to_stderr(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "server.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}/state\nbind_port = {port}\n"
                    "debug = false\n")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([str(BIN / "lbaas-server"), "--config-file", str(conf)],
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, err.read_text()
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/v2.0/lb/pools", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.1)
        rid = resp.headers["x-openstack-request-id"]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    assert proc.returncode in (0, -signal.SIGTERM)
    lines = err.read_text().splitlines()
    assert re.search(r" INFO lbaas\.server \[-\] lbaas-server \S+ starting: database "
                     rf"sqlite:///{tmp_path}/state/lbaas\.sqlite, API on "
                     rf"http://127\.0\.0\.1:{port}, auth_strategy noauth$", lines[0])
    assert any(f" INFO lbaas.access [{rid}] 127.0.0.1 \"GET /v2.0/lb/pools\" status 200 "
               in line for line in lines)
    assert lines[-1].endswith(" INFO lbaas.server [-] lbaas-server stopped")
    assert not [line for line in lines if " DEBUG " in line or "Traceback" in line]
    assert out.read_text() == ""


def test_the_database_url_is_logged_without_its_password(tmp_path: Path) -> None:
    # Nothing listens on this port: the server says so and exits 1, having logged its
    # start line with the password masked.
    conf = tmp_path / "server.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}/state\n[database]\n"
                    f"connection = postgresql+psycopg://lbaas:s3cret@127.0.0.1:{free_port()}"
                    "/lbaas?connect_timeout=2\n")
    done = _run(str(BIN / "lbaas-server"), "--config-file", str(conf))
    assert done.returncode == 1
    assert "s3cret" not in done.stderr
    assert "database postgresql+psycopg://lbaas:***@127.0.0.1:" in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("lbaas-server: cannot open the database: connection failed: ")
    assert "Connection refused" in last


@pytest.mark.parametrize("argv, program", [(["lbaas-agent"], "lbaas-agent"),
                                           (["lbaas", "all-in-one"], "lbaas all-in-one")])
def test_a_bad_access_log_target_is_one_line_and_exit_2(tmp_path: Path, argv: list[str],
                                                        program: str) -> None:
    conf = tmp_path / "lbaas.conf"
    state = tmp_path / "state"
    conf.write_text(f"[DEFAULT]\nstate_path = {state}\n"
                    "[haproxy]\naccess_log = syslog.example.com:514\n")
    done = _run(str(BIN / argv[0]), *argv[1:], "--config-file", str(conf))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"{program}: configuration error: [haproxy] access_log: "
                                  "'syslog.example.com:514' is not a log target")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not state.exists()
