"""A throwaway tenant network on this host, and lbaas running on it.

Used by the end-to-end tests, the fault tests, the benchmarks and the demo, each with its
own name prefix and address block so that several can exist side by side::

    client 10.N.200.10 ── gw 10.N.200.1|10.N.0.1 ── <p>br0 ── <p>-b1..bK 10.N.0.11..
                                                └── qlbaas-<pool>  VIPs 10.N.1.0-10.N.127.254

``Topology`` builds it (a Linux bridge for the tenant network, a gateway namespace routing
to a client namespace on another subnet, backend namespaces whose web servers answer
with their names); ``Service`` runs ``lbaas all-in-one`` on it, ``SplitService``
``lbaas-server`` + ``lbaas-agent`` as two processes. Every ``teardown``/``stop`` +
``cleanup_data_plane`` removes what was made, by name and PID, nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HELPERS = Path(__file__).parent
REPO = HELPERS.parents[1]
PY = sys.executable


@dataclass(frozen=True)
class LabSpec:
    prefix: str           # namespaces "<prefix>-gw", "<prefix>-cl", "<prefix>-b1"...
    net: str              # "10.93": tenant 10.93.0.0/17, client 10.93.200.0/24
    backends: int = 3

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br0"

    @property
    def gw_ns(self) -> str:
        return f"{self.prefix}-gw"

    @property
    def client_ns(self) -> str:
        return f"{self.prefix}-cl"

    @property
    def tenant_cidr(self) -> str:
        return f"{self.net}.0.0/17"

    @property
    def tenant_gw(self) -> str:
        return f"{self.net}.0.1"

    @property
    def client_ip(self) -> str:
        return f"{self.net}.200.10"

    @property
    def vip_range(self) -> tuple[str, str]:
        return f"{self.net}.1.0", f"{self.net}.127.254"

    def backend_ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    @property
    def backend_ips(self) -> dict[str, str]:
        return {f"b{i}": f"{self.net}.0.{10 + i}" for i in range(1, self.backends + 1)}


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout)


def netns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *args, check=check)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.2,
               message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@dataclass
class Topology:
    spec: LabSpec
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def build(self, backend_args: tuple[str, ...] = ()) -> Topology:
        """Create everything; on any failure the caller's teardown() removes the part
        that was made."""
        s = self.spec
        sh("ip", "link", "add", s.bridge, "type", "bridge")
        self.links.append(s.bridge)
        sh("ip", "link", "set", s.bridge, "up")
        self._add_ns(s.gw_ns)
        self._wire(s.gw_ns, f"{s.prefix}-gw0", f"{s.tenant_gw}/17", None)
        self._add_ns(s.client_ns)
        sh("ip", "link", "add", "eth1", "netns", s.gw_ns, "type", "veth", "peer", "name",
           "eth0", "netns", s.client_ns)
        netns(s.gw_ns, "ip", "addr", "add", f"{s.net}.200.1/24", "dev", "eth1")
        netns(s.gw_ns, "ip", "link", "set", "eth1", "up")
        netns(s.gw_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        netns(s.client_ns, "ip", "addr", "add", f"{s.client_ip}/24", "dev", "eth0")
        netns(s.client_ns, "ip", "link", "set", "eth0", "up")
        netns(s.client_ns, "ip", "route", "add", "default", "via", f"{s.net}.200.1")
        for name, address in s.backend_ips.items():
            self._add_ns(s.backend_ns(name))
            self._wire(s.backend_ns(name), f"{s.prefix}-{name}h", f"{address}/17",
                       s.tenant_gw)
            self.start_backend(name, 80, *backend_args)
        return self

    def _add_ns(self, ns: str) -> None:
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        netns(ns, "ip", "link", "set", "lo", "up")

    def _wire(self, ns: str, outer: str, address: str, gateway: str | None) -> None:
        """A veth from ``ns`` (eth0) to the bridge."""
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self.links.append(outer)
        sh("ip", "link", "set", outer, "master", self.spec.bridge, "up")
        netns(ns, "ip", "addr", "add", address, "dev", "eth0")
        netns(ns, "ip", "link", "set", "eth0", "up")
        if gateway:
            netns(ns, "ip", "route", "add", "default", "via", gateway)

    def start_backend(self, name: str, port: int = 80, *extra: str,
                      env: dict[str, str] | None = None) -> None:
        """(Re)start backend ``name``'s web server on ``port``; extra: backend.py flags."""
        self.stop_backend(name, port)
        ns, address = self.spec.backend_ns(name), self.spec.backend_ips[name]
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, PY, str(HELPERS / "backend.py"), name, address,
             str(port), *extra],
            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.processes[f"{name}:{port}"] = proc
        wait_until(lambda: netns(ns, "ss", "-ltnH", f"sport = :{port}").stdout.strip(),
                   timeout=10, interval=0.05, message=f"backend {name} on port {port}")

    def stop_backend(self, name: str, port: int = 80) -> None:
        proc = self.processes.pop(f"{name}:{port}", None)
        if proc is not None:
            proc.kill()
            proc.wait(10)

    def teardown(self) -> None:
        for key in list(self.processes):
            name, port = key.split(":")
            self.stop_backend(name, int(port))
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
        # A deleted namespace can outlive its name for minutes (orphaned sockets of a
        # killed backend still hold it), and with it the host end of its veth, which
        # would make the next build fail: delete the pairs from this side. Only what
        # this build made: a build that failed because the names are taken (the same
        # suite running twice on the host) must not remove the other run's bridge.
        for link in reversed(self.links):
            sh("ip", "link", "del", link, check=False)
        self.links.clear()


class Service:
    """``lbaas all-in-one`` as a subprocess with its own state directory, its agent
    mapping the physical network ``default`` to the lab's bridge."""

    command = ["-m", "lbaas.cmd.all_in_one"]

    def __init__(self, root: Path, spec: LabSpec, host: str | None = None,
                 extra_conf: str = "", *, interface_driver: str = "linuxbridge",
                 bridge_mappings: str | None = None) -> None:
        """``bridge_mappings`` defaults to ``default:<the lab's bridge>``."""
        self.root = root
        self.spec = spec
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = root / "haproxy"
        self.conf = root / "lbaas.conf"
        self.host = host or f"{spec.prefix}-host"
        self.conf.write_text(f"""[DEFAULT]
state_path = {root}
bind_port = {self.port}
host = {self.host}
server_url = {self.url}
interface_driver = {interface_driver}
bridge_mappings = {bridge_mappings or f"default:{spec.bridge}"}
periodic_interval = 1
report_interval = 2
debug = true
{extra_conf}
[haproxy]
loadbalancer_state_path = {self.state}
send_gratuitous_arp = 3
""")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "service.log"

    def _spawn(self, module: str) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            return subprocess.Popen([PY, "-m", module, "--config-file", str(self.conf)],
                                    cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    def start(self, timeout: float = 30) -> None:
        self.proc = self._spawn("lbaas.cmd.all_in_one")
        self._wait_agent(timeout)

    def _wait_agent(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("lbaas exited:\n" + self.log_tail())
            try:
                r = httpx.get(f"{self.url}/v2.0/agents", timeout=2)
                if r.status_code == 200 and any(a["alive"] and a["host"] == self.host
                                                for a in r.json()["agents"]):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("lbaas did not come up:\n" + self.log_tail())

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the agent (and, for the all-in-one, the API): HAProxys keep running."""
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def haproxy_pids(self) -> dict[str, int]:
        """pool id → pid of its running HAProxy (from the pid files)."""
        pids = {}
        if self.state.is_dir():
            for d in self.state.iterdir():
                pid_file = d / "pid"
                if pid_file.exists():
                    for tok in pid_file.read_text().split():
                        if tok.isdigit() and Path(f"/proc/{tok}").exists():
                            pids[d.name] = int(tok)
        return pids

    def cleanup_data_plane(self) -> None:
        """Whatever the service left: its HAProxys (by PID, and only if their command
        line names our state directory) and its namespaces."""
        if not self.state.is_dir():
            return
        for d in self.state.iterdir():
            ns = f"qlbaas-{d.name}"
            pids = set()
            pid_file = d / "pid"
            if pid_file.exists():
                pids |= {int(t) for t in pid_file.read_text().split() if t.isdigit()}
            listed = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            pids |= {int(t) for t in listed if t.isdigit()}
            for pid in pids:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if str(self.state).encode() in cmdline:
                    os.kill(pid, signal.SIGKILL)
            sh("ip", "netns", "del", ns, check=False)


class SplitService(Service):
    """``lbaas-server`` and ``lbaas-agent`` as two processes talking HTTP, as on two
    hosts: the agent can die and come back while the API takes changes."""

    def __init__(self, root: Path, spec: LabSpec, host: str | None = None,
                 extra_conf: str = "", **options: Any) -> None:
        super().__init__(root, spec, host, extra_conf, **options)
        self.server: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        if self.server is None:
            self.server = self._spawn("lbaas.cmd.server")
        self.proc = self._spawn("lbaas.cmd.agent")
        self._wait_agent(timeout)

    def stop_server(self, sig: int = signal.SIGTERM) -> None:
        if self.server is not None:
            self.server.send_signal(sig)
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
            self.server = None


def client_get(spec: LabSpec, url: str, n: int = 1, ns: str | None = None,
               cookie_jar: bool = False, timeout: float = 5.0) -> list[str]:
    """``n`` requests from the client namespace, each on a new connection; each
    result is the body, or ``ERR:<reason>``."""
    args = ["ip", "netns", "exec", ns or spec.client_ns, PY, str(HELPERS / "netclient.py"),
            "once", url, str(n), "--timeout", str(timeout)]
    if cookie_jar:
        args.append("--cookie-jar")
    out = subprocess.run(args, check=True, capture_output=True, text=True,
                         timeout=30 + n * timeout)
    return list(json.loads(out.stdout))


def start_load(spec: LabSpec, url: str, seconds: float, rate: float,
               ns: str | None = None) -> subprocess.Popen[str]:
    """New-connection requests at ``rate``/s for ``seconds`` (bounded), in the
    background; read the result with :func:`load_result`."""
    return subprocess.Popen(["ip", "netns", "exec", ns or spec.client_ns, PY,
                             str(HELPERS / "netclient.py"), "load", url, str(seconds),
                             str(rate)], stdout=subprocess.PIPE, text=True)


def load_result(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    """{"requests", "failed", "errors" (first 10), "bodies": {body: count}}"""
    out, _ = proc.communicate(timeout=timeout)
    return dict(json.loads(out))


class LabApi:
    """The REST API (/v2.0) as set-up steps use it: each call asserts the status it
    expects, and ``wait`` follows an object's status."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url + "/v2.0", timeout=30)

    def call(self, method: str, path: str, body: Any = None, want: int = 200) -> Any:
        r = self.http.request(method, path, json=body)
        assert r.status_code == want, f"{method} {path} → {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", path, body, 201))

    def get(self, path: str) -> dict[str, Any]:
        return dict(self.call("GET", path))

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("PUT", path, body))

    def delete(self, path: str) -> None:
        self.call("DELETE", path, want=204)

    def wait(self, path: str, key: str, want: str, timeout: float = 30) -> dict[str, Any]:
        """Poll until ``obj["status"] == want`` (or 404, for want="GONE")."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            r = self.http.get(path)
            if want == "GONE" and r.status_code == 404:
                return {}
            if r.status_code == 200:
                last = r.json()[key]
                if last.get("status") == want:
                    return dict(last)
            time.sleep(0.2)
        raise AssertionError(f"{path} did not reach {want} in {timeout}s: {last}")
