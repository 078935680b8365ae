"""Starting, reloading, checking and stopping one pool's HAProxy.

One process per load balancer, not master-worker. Measured on the build machine
(HAProxy 2.6, 2 cores, idle, ten instances side by side, PSS summed over every process
from /proc/<pid>/smaps_rollup, repeated runs): single process 4.9-5.0 MiB per load
balancer, master-worker 7.5-7.8 MiB (the master is a second full process image with its
own copy of the parsed config). The density target is
6 MiB, so a reload is ``haproxy -f conf -p pid -x sock -sf <old pids> -D``: the new
process takes the listening sockets over the stats socket (``expose-fd listeners``), so
no connection is refused while it starts, and the old one finishes its connections
(bounded by ``hard-stop-after``).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import time
from pathlib import Path

CHECK_TIMEOUT = 30
START_TIMEOUT = 30


class HaproxyError(Exception):
    """HAProxy refused a config or did not start; ``reason`` is its own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_ALERT_RE = re.compile(r"^\[ALERT\]\s+\(\d+\)\s*:\s*")
# HAProxy's closing lines after the real reasons; they say nothing of the cause.
_ALERT_TRAILERS = ("Error(s) found in configuration file", "Fatal errors found in configuration")


def _alerts(output: str) -> str:
    """HAProxy's ALERT messages (the reason), else its whole output."""
    alerts = [_ALERT_RE.sub("", line) for line in output.splitlines()
              if _ALERT_RE.match(line)]
    causes = [a for a in alerts if not any(t in a for t in _ALERT_TRAILERS)]
    return "\n".join(causes or alerts) or output.strip()


def check_config(binary: str, conf_path: str | Path) -> None:
    """``haproxy -c``: raises :class:`HaproxyError` with HAProxy's reason."""
    try:
        proc = subprocess.run([binary, "-c", "-f", str(conf_path)],
                              capture_output=True, text=True, timeout=CHECK_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HaproxyError(f"cannot run {binary} -c: {exc}") from exc
    if proc.returncode != 0:
        raise HaproxyError(_alerts(proc.stdout + proc.stderr) or
                           f"{binary} -c exited {proc.returncode}")


def read_pids(pid_path: str | Path) -> list[int]:
    try:
        text = Path(pid_path).read_text()
    except FileNotFoundError:
        return []
    return [int(tok) for tok in text.split() if tok.isdigit()]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own unreaped child) is not serving. Reading the stat file of a
    # process that is exiting right then fails with ESRCH (ProcessLookupError): gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def runs_config(pid: int, conf_path: str | Path) -> bool:
    """Whether ``pid`` is an HAProxy started on ``conf_path``. A pid file outlives its
    process (a crash, a host reboot with the state directory on disk) and the pid may
    since belong to anything: never signal it on the pid file's word alone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return str(conf_path).encode() in argv


def process_start_time(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks since boot): with the pid, it
    names one process for the life of the host, which makes a stats epoch."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return "0"


def start(binary: str, exec_prefix: list[str], conf_path: str | Path, pid_path: str | Path,
          socket_path: str | Path | None = None, old_pids: list[int] | None = None) -> None:
    """Run HAProxy daemonized, behind ``exec_prefix`` (what enters the namespace). With
    ``old_pids``, a seamless reload: take the listeners from ``socket_path`` and tell the
    old processes to finish."""
    cmd = [*exec_prefix, binary, "-f", str(conf_path), "-p", str(pid_path), "-D"]
    if old_pids:
        if socket_path and os.path.exists(socket_path):
            cmd += ["-x", str(socket_path)]
        cmd += ["-sf", *map(str, old_pids)]
    try:
        # -D: the command returns once the daemon is forked and its sockets are bound.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HaproxyError(f"cannot start {binary}: {exc}") from exc
    if proc.returncode != 0:
        raise HaproxyError(_alerts(proc.stdout + proc.stderr) or
                           f"{binary} exited {proc.returncode}")


def namespace_pids(namespace: str) -> list[int]:
    """Every process in the namespace: the current HAProxy and any old one still
    finishing connections after a reload (the pid file names only the newest)."""
    try:
        proc = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    return [int(tok) for tok in proc.stdout.split() if tok.isdigit()]


def stop(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM (HAProxy's hard stop), then SIGKILL what is left after ``timeout``."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise
