"""End-to-end topology: the all-in-one service, a Linux bridge standing for the tenant
network, a gateway namespace routing to a client namespace on another subnet, and three
backend namespaces whose web servers answer with their names.

    te-cl 10.93.1.10 ── te-gw 10.93.1.1|10.93.0.1 ── tebr0 ── te-b1..3 10.93.0.11-13
                                                       └── qlbaas-<pool> VIPs .50-.99

Everything here is torn down at the end of the package, even when tests fail: the
service, every HAProxy it started (by the PIDs in its state directory), every namespace
and link this file made.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[2]
PY = sys.executable
BRIDGE = "tebr0"
GW_NS, CLIENT_NS = "te-gw", "te-cl"
BACKENDS = {"b1": "10.93.0.11", "b2": "10.93.0.12", "b3": "10.93.0.13"}
TENANT_CIDR, TENANT_GW = "10.93.0.0/24", "10.93.0.1"
CLIENT_IP = "10.93.1.10"

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.skip("end-to-end tests need root and haproxy", allow_module_level=True)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


def netns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *args, check=check)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Topology:
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)

    def add_ns(self, ns: str) -> None:
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        netns(ns, "ip", "link", "set", "lo", "up")

    def wire(self, ns: str, outer: str, address: str, gateway: str | None) -> None:
        """A veth from ``ns`` (eth0) to the bridge."""
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", outer, "master", BRIDGE, "up")
        netns(ns, "ip", "addr", "add", address, "dev", "eth0")
        netns(ns, "ip", "link", "set", "eth0", "up")
        if gateway:
            netns(ns, "ip", "route", "add", "default", "via", gateway)

    def start_backend(self, name: str, address: str, port: int = 80, *extra: str,
                      env: dict[str, str] | None = None) -> None:
        key = f"{name}:{port}"
        self.stop_backend(name, port)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", f"te-{name}", PY, str(HERE / "backend.py"), name,
             address, str(port), *extra],
            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.processes[key] = proc
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if netns(f"te-{name}", "ss", "-ltnH", f"sport = :{port}").stdout.strip():
                return
            time.sleep(0.05)
        raise RuntimeError(f"backend {name} did not start listening on {port}")

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
        sh("ip", "link", "del", BRIDGE, check=False)


@pytest.fixture(scope="package")
def topology() -> Iterator[Topology]:
    topo = Topology()
    try:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BRIDGE, "up")
        topo.add_ns(GW_NS)
        topo.wire(GW_NS, "te-gw0", f"{TENANT_GW}/24", None)
        topo.add_ns(CLIENT_NS)
        sh("ip", "link", "add", "eth1", "netns", GW_NS, "type", "veth", "peer", "name",
           "eth0", "netns", CLIENT_NS)
        netns(GW_NS, "ip", "addr", "add", "10.93.1.1/24", "dev", "eth1")
        netns(GW_NS, "ip", "link", "set", "eth1", "up")
        netns(GW_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        netns(CLIENT_NS, "ip", "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        netns(CLIENT_NS, "ip", "link", "set", "eth0", "up")
        netns(CLIENT_NS, "ip", "route", "add", "default", "via", "10.93.1.1")
        for name, address in BACKENDS.items():
            topo.add_ns(f"te-{name}")
            topo.wire(f"te-{name}", f"te-{name}h", f"{address}/24", TENANT_GW)
            topo.start_backend(name, address)
        yield topo
    finally:
        topo.teardown()


class Service:
    """``lbaas all-in-one`` as a subprocess with its own state directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = root / "haproxy"
        self.conf = root / "lbaas.conf"
        self.conf.write_text(f"""[DEFAULT]
state_path = {root}
bind_port = {self.port}
host = te-host
interface_driver = linuxbridge
bridge_mappings = default:{BRIDGE}
periodic_interval = 1
report_interval = 5
debug = true
[haproxy]
loadbalancer_state_path = {self.state}
send_gratuitous_arp = 3
""")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "service.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [PY, "-m", "lbaas.cmd.all_in_one", "--config-file", str(self.conf)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("all-in-one exited:\n" + self.log.read_text()[-3000:])
            try:
                r = httpx.get(f"{self.url}/v2.0/agents", timeout=2)
                if r.status_code == 200 and r.json()["agents"]:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("all-in-one did not come up:\n" + self.log.read_text()[-3000:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
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
        pids = {}
        if self.state.is_dir():
            for d in self.state.iterdir():
                pid_file = d / "pid"
                if pid_file.exists():
                    for line in pid_file.read_text().split():
                        if line.isdigit() and Path(f"/proc/{line}").exists():
                            pids[d.name] = int(line)
        return pids

    def cleanup_data_plane(self) -> None:
        """Whatever the service left: its HAProxys (by PID, only ours: their command
        line names our state directory) and its namespaces."""
        if self.state.is_dir():
            for d in self.state.iterdir():
                pid_file = d / "pid"
                for pid in (pid_file.read_text().split() if pid_file.exists() else []):
                    try:
                        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if str(self.state).encode() in cmdline:
                        os.kill(int(pid), signal.SIGKILL)
                sh("ip", "netns", "del", f"qlbaas-{d.name}", check=False)


class SplitService(Service):
    """``lbaas-server`` and ``lbaas-agent`` as two processes talking HTTP, as on two
    hosts: the agent can die and come back while the API takes changes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.conf.write_text(self.conf.read_text().replace(
            "host = te-host", f"host = te-host2\nserver_url = {self.url}"))
        self.server: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.server is None:
            with open(self.log, "ab") as log:
                self.server = subprocess.Popen(
                    [PY, "-m", "lbaas.cmd.server", "--config-file", str(self.conf)],
                    cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [PY, "-m", "lbaas.cmd.agent", "--config-file", str(self.conf)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited:\n" + self.log.read_text()[-3000:])
            try:
                r = httpx.get(f"{self.url}/v2.0/agents", timeout=2)
                if r.status_code == 200 and any(a["alive"] for a in r.json()["agents"]):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("split service did not come up:\n" + self.log.read_text()[-3000:])

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
            self.server = None


@pytest.fixture
def split_service(topology: Topology) -> Iterator[SplitService]:
    root = Path(tempfile.mkdtemp(prefix="lbaas-e2e-split-"))
    svc = SplitService(root)
    try:
        svc.start()
        yield svc
    finally:
        try:
            svc.stop()
            svc.stop_server()
        finally:
            svc.cleanup_data_plane()
            if os.environ.get("LBAAS_E2E_KEEP_LOG"):
                shutil.copy(svc.log, os.environ["LBAAS_E2E_KEEP_LOG"])
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def service(topology: Topology) -> Iterator[Service]:
    root = Path(tempfile.mkdtemp(prefix="lbaas-e2e-"))
    svc = Service(root)
    try:
        svc.start()
        yield svc
    finally:
        try:
            svc.stop()
        finally:
            svc.cleanup_data_plane()
            if os.environ.get("LBAAS_E2E_KEEP_LOG"):
                shutil.copy(svc.log, os.environ["LBAAS_E2E_KEEP_LOG"])
            shutil.rmtree(root, ignore_errors=True)


class Api:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url + "/v2.0", timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.put(path, json=body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def get(self, path: str) -> dict[str, Any]:
        r = self.http.get(path)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def delete(self, path: str) -> None:
        r = self.http.delete(path)
        assert r.status_code == 204, r.text

    def wait(self, path: str, key: str, want: str, timeout: float = 30) -> dict[str, Any]:
        """Poll ``path`` until ``obj[status]`` is ``want`` (or gone, for want="GONE")."""
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


@dataclass
class LoadBalancer:
    pool_id: str
    vip_id: str
    address: str
    port: int
    members: dict[str, str]  # backend name → member id

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"


class Tenant:
    """The tenant's view: the network, a subnet, and load balancers built through the
    REST API; everything it made is deleted at the end of the test."""

    def __init__(self, api: Api, service: Service,
                 pool_range: tuple[str, str] = ("10.93.0.50", "10.93.0.99")) -> None:
        self.api = api
        self.service = service
        self.pool_range = pool_range
        self.network = api.post("/networks", {"network": {"name": "te-net"}})["network"]
        self.subnets: list[dict[str, Any]] = []
        self.subnet = self.add_subnet(TENANT_CIDR)
        self.lbs: list[LoadBalancer] = []
        self.monitors: list[str] = []

    def add_subnet(self, cidr: str, **extra: Any) -> dict[str, Any]:
        body = {"network_id": self.network["id"], "cidr": cidr,
                "allocation_pools": [{"start": self.pool_range[0], "end": self.pool_range[1]}],
                **extra}
        subnet = self.api.post("/subnets", {"subnet": body})["subnet"]
        self.subnets.append(subnet)
        return subnet

    def create_lb(self, protocol: str = "HTTP", lb_method: str = "ROUND_ROBIN",
                  backends: tuple[str, ...] = ("b1", "b2", "b3"), port: int = 80,
                  member_port: int = 80, monitor: dict[str, Any] | None = None,
                  subnet: dict[str, Any] | None = None, wait: bool = True,
                  **vip: Any) -> LoadBalancer:
        subnet = subnet or self.subnet
        pool = self.api.post("/lb/pools", {"pool": {
            "name": "te-pool", "subnet_id": subnet["id"], "protocol": protocol,
            "lb_method": lb_method}})["pool"]
        members = {}
        for name in backends:
            members[name] = self.api.post("/lb/members", {"member": {
                "pool_id": pool["id"], "address": BACKENDS[name],
                "protocol_port": member_port}})["member"]["id"]
        if monitor:
            hm = self.api.post("/lb/health_monitors", {"health_monitor": monitor})
            self.monitors.append(hm["health_monitor"]["id"])
            self.api.post(f"/lb/pools/{pool['id']}/health_monitors",
                          {"health_monitor": {"id": hm["health_monitor"]["id"]}})
        v = self.api.post("/lb/vips", {"vip": {
            "name": "te-vip", "subnet_id": subnet["id"], "protocol": protocol,
            "protocol_port": port, "pool_id": pool["id"], **vip}})["vip"]
        lb = LoadBalancer(pool["id"], v["id"], v["address"], port, members)
        self.lbs.append(lb)
        if wait:
            self.api.wait(f"/lb/vips/{v['id']}", "vip", "ACTIVE")
        return lb

    def delete_lb(self, lb: LoadBalancer) -> None:
        self.api.delete(f"/lb/vips/{lb.vip_id}")
        self.api.wait(f"/lb/vips/{lb.vip_id}", "vip", "GONE")
        pool = self.api.get(f"/lb/pools/{lb.pool_id}")["pool"]
        for hm_id in pool["health_monitors"]:
            self.api.http.delete(f"/lb/pools/{lb.pool_id}/health_monitors/{hm_id}")
        self.api.delete(f"/lb/pools/{lb.pool_id}")
        self.api.wait(f"/lb/pools/{lb.pool_id}", "pool", "GONE")
        self.lbs.remove(lb)

    def cleanup(self) -> None:
        for lb in list(self.lbs):
            try:
                self.delete_lb(lb)
            except AssertionError:
                pass
        for hm_id in self.monitors:
            for _ in range(50):
                if self.api.http.delete(f"/lb/health_monitors/{hm_id}").status_code != 409:
                    break
                time.sleep(0.2)
        for subnet in self.subnets:
            self.api.http.delete(f"/subnets/{subnet['id']}")
        self.api.http.delete(f"/networks/{self.network['id']}")


@pytest.fixture
def api(service: Service) -> Api:
    return Api(service.url)


@pytest.fixture
def tenant(api: Api, service: Service) -> Iterator[Tenant]:
    t = Tenant(api, service)
    try:
        yield t
    finally:
        t.cleanup()


def client_get(url: str, n: int = 1, ns: str = CLIENT_NS, cookie_jar: bool = False,
               timeout: float = 5.0) -> list[str]:
    """``n`` requests from the client namespace, each on a new connection."""
    args = ["ip", "netns", "exec", ns, PY, str(HERE / "netclient.py"), "once", url, str(n),
            "--timeout", str(timeout)]
    if cookie_jar:
        args.append("--cookie-jar")
    out = subprocess.run(args, check=True, capture_output=True, text=True,
                         timeout=30 + n * timeout)
    return list(json.loads(out.stdout))


def start_load(url: str, seconds: float, rate: float,
               ns: str = CLIENT_NS) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", ns, PY, str(HERE / "netclient.py"),
                             "load", url, str(seconds), str(rate)],
                            stdout=subprocess.PIPE, text=True)


def load_result(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    return dict(json.loads(out))


def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.2,
               message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
