"""Real topology for the HAProxy namespace driver's functional tests.

Everything is in this test's private range: links and namespaces prefixed ``th``,
addresses in 10.92.0.0/16. The driver itself names the load balancer's namespace
``qlbaas-<pool_id>`` and its device ``tap<port_id[:11]>``; the pool and port ids used
here start with ``th`` so that those stay recognisably ours too.

    thcl (client 10.92.0.100) ─┐
    thbe1 (10.92.0.11:8080) ───┤
    thbe2 (10.92.0.12:8080) ───┼── thbr0 (Linux bridge, root namespace)
    thbe3 (10.92.0.13:8080) ───┤
    qlbaas-th-… (VIP 10.92.0.10) ┘  plugged by the driver (BridgeInterfaceDriver)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BRIDGE = "thbr0"
PHYSNET = "thnet"
SUBNET_CIDR = "10.92.0.0/24"
GATEWAY = "10.92.0.1"
VIP_ADDRESS = "10.92.0.10"
CLIENT = ("thcl", "10.92.0.100")
BACKENDS = {"thbe1": "10.92.0.11", "thbe2": "10.92.0.12", "thbe3": "10.92.0.13"}
BACKEND_PORT = 8080

# argv: name address port [certfile health_status]. With a certfile it speaks TLS and
# answers /health with health_status: a check that only completed the TLS handshake
# could not tell the two apart.
SERVER_SCRIPT = r'''
import http.server, ssl, sys
name = sys.argv[1]
health_status = int(sys.argv[5]) if len(sys.argv) > 5 else 200
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = name.encode()
        self.send_response(health_status if self.path == "/health" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_HEAD = do_GET
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
server = Server((sys.argv[2], int(sys.argv[3])), Handler)
if len(sys.argv) > 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
'''

# New TCP connection per request: a reload that dropped listeners would show as a
# refused or reset connection here.
CLIENT_SCRIPT = r'''
import http.client, json, sys, time
host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
keep_cookies = len(sys.argv) > 5 and sys.argv[5] == "cookies"
cookie = None
counts, failures, errors = {}, 0, []
deadline = time.monotonic() + seconds
done = 0
while done < count and time.monotonic() < deadline:
    done += 1
    try:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/", headers={"Cookie": cookie} if cookie else {})
        resp = conn.getresponse()
        if keep_cookies and resp.getheader("Set-Cookie"):
            cookie = resp.getheader("Set-Cookie").split(";")[0]
        body = resp.read().decode()
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body[:80]}")
        counts[body] = counts.get(body, 0) + 1
    except Exception as exc:
        failures += 1
        if len(errors) < 5:
            errors.append(repr(exc))
print(json.dumps({"requests": done, "counts": counts, "failures": failures,
                  "errors": errors}))
'''


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30,
                          check=check)


def _cleanup_link(name: str) -> None:
    run("ip", "link", "del", name, check=False)


def _cleanup_netns(name: str) -> None:
    if not os.path.exists(f"/run/netns/{name}"):
        return
    pids = run("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    run("ip", "netns", "del", name, check=False)


def _add_host(name: str, address: str, scripts: Path) -> None:
    outer, inner = f"{name}o", f"{name}i"
    run("ip", "netns", "add", name)
    run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
    run("ip", "link", "set", inner, "netns", name)
    run("ip", "link", "set", outer, "master", BRIDGE, "up")
    run("ip", "netns", "exec", name, "ip", "addr", "add", f"{address}/24", "dev", inner)
    run("ip", "netns", "exec", name, "ip", "link", "set", inner, "up")


@dataclass
class Topology:
    scripts: Path
    servers: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def start_backend(self, name: str, port: int = BACKEND_PORT,
                      tls_health_status: int | None = None) -> str:
        """Start the HTTP server of backend ``name``; with ``tls_health_status``, an
        HTTPS one whose /health answers that status. Returns the key to stop it."""
        argv = ["ip", "netns", "exec", name, sys.executable, str(self.scripts / "server.py"),
                name, BACKENDS[name], str(port)]
        if tls_health_status is not None:
            argv += [str(self.certificate()), str(tls_health_status)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        key = name if port == BACKEND_PORT else f"{name}:{port}"
        self.servers[key] = proc
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            self.stop_backend(key)
            raise AssertionError(f"backend {key} did not start: {line}")
        return key

    def certificate(self) -> Path:
        """A self-signed certificate and key in one PEM file (made once)."""
        pem = self.scripts / "backend.pem"
        if not pem.exists():
            key = self.scripts / "backend.key"
            crt = self.scripts / "backend.crt"
            run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=th-backend", "-keyout", str(key), "-out", str(crt))
            pem.write_text(crt.read_text() + key.read_text())
        return pem

    def stop_backend(self, name: str) -> None:
        proc = self.servers.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def client_cmd(self, count: int, seconds: float, address: str = VIP_ADDRESS,
                   port: int = 80, cookies: bool = False) -> list[str]:
        return ["ip", "netns", "exec", CLIENT[0], sys.executable,
                str(self.scripts / "client.py"), address, str(port), str(count),
                str(seconds), "cookies" if cookies else "no-cookies"]

    def requests(self, count: int, seconds: float = 30.0, address: str = VIP_ADDRESS,
                 cookies: bool = False, port: int = 80) -> dict[str, Any]:
        """``count`` requests from the client namespace, each on a new connection;
        with ``cookies``, sending back the last cookie the VIP set, like a browser."""
        out = subprocess.run(self.client_cmd(count, seconds, address, port, cookies=cookies),
                             capture_output=True,
                             text=True, timeout=seconds + 30, check=True)
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def start_client_loop(self, count: int, seconds: float) -> subprocess.Popen[str]:
        return subprocess.Popen(self.client_cmd(count, seconds), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces and links")
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    scripts = tmp_path_factory.mktemp("th-scripts")
    (scripts / "server.py").write_text(SERVER_SCRIPT)
    (scripts / "client.py").write_text(CLIENT_SCRIPT)
    topo = Topology(scripts)
    hosts = {**BACKENDS, CLIENT[0]: CLIENT[1]}
    try:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "link", "set", BRIDGE, "up")
        for name, address in hosts.items():
            _add_host(name, address, scripts)
        for name in BACKENDS:
            topo.start_backend(name)
        yield topo
    finally:
        for name in list(topo.servers):
            topo.stop_backend(name)
        for name in hosts:
            _cleanup_netns(name)
            _cleanup_link(f"{name}o")
        _cleanup_link(BRIDGE)


class FakePluginApi:
    """Records the port calls the driver makes; the rest of PluginApi is the manager's."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def plug_vip_port(self, port_id: str, host: str) -> None:
        self.calls.append(("plug", port_id, host))

    def unplug_vip_port(self, port_id: str, host: str) -> None:
        self.calls.append(("unplug", port_id, host))


def make_logical_device(members: list[str], weights: dict[str, int] | None = None,
                        pool_id: str | None = None, vip_address: str = VIP_ADDRESS,
                        mac_address: str = "fa:16:3e:92:00:10") -> dict[str, Any]:
    """The logical device of an HTTP round-robin pool whose members are ``members``
    (backend namespace names, used as member ids too so responses name the member)."""
    pool_id = pool_id or f"th-{uuid.uuid4().hex[:12]}"
    # The same pool keeps its VIP port across calls, as on the server.
    port_id = f"thp{uuid.uuid5(uuid.NAMESPACE_URL, pool_id).hex[:8]}-0000-4000-8000-0000000000"
    weights = weights or {}
    subnet = {"id": "th-subnet", "cidr": SUBNET_CIDR, "ip_version": 4,
              "gateway_ip": GATEWAY, "host_routes": []}
    return {
        "pool": {"id": pool_id, "tenant_id": "th", "name": "th", "protocol": "HTTP",
                 "lb_method": "ROUND_ROBIN", "admin_state_up": True, "status": "ACTIVE",
                 "subnet_id": "th-subnet", "vip_id": f"{pool_id}-vip"},
        "vip": {"id": f"{pool_id}-vip", "address": vip_address, "protocol_port": 80,
                "protocol": "HTTP", "connection_limit": -1, "session_persistence": None,
                "admin_state_up": True, "status": "ACTIVE", "port_id": port_id,
                "port": {"id": port_id, "network_id": "th-net",
                         "mac_address": mac_address, "admin_state_up": True,
                         "fixed_ips": [{"subnet_id": "th-subnet",
                                        "ip_address": vip_address, "subnet": subnet}],
                         "network": {"id": "th-net", "provider:physical_network": PHYSNET,
                                     "provider:network_type": "flat",
                                     "provider:segmentation_id": None}}},
        "members": [{"id": name, "address": BACKENDS[name], "protocol_port": BACKEND_PORT,
                     "weight": weights.get(name, 1), "admin_state_up": True,
                     "status": "ACTIVE"} for name in members],
        "healthmonitors": [],
        "driver": "haproxy_ns",
    }


@dataclass
class DriverHarness:
    driver: Any
    plugin_rpc: FakePluginApi
    state_path: Path
    make_driver: Callable[[], Any]
    deployed: set[str] = field(default_factory=set)


@pytest.fixture
def harness(topology: Topology, tmp_path: Path) -> Iterator[DriverHarness]:
    from lbaas.agent.drivers.haproxy.namespace_driver import HaproxyNSDriver, HaproxyOptions
    from lbaas.agent.linux.interface import InterfaceOptions, get_interface_driver

    state_path = tmp_path / "lbaas-state"
    plugin_rpc = FakePluginApi()

    def make_driver() -> Any:
        vif_driver = get_interface_driver(InterfaceOptions(
            interface_driver="linuxbridge", bridge_mappings={PHYSNET: BRIDGE}))
        options = HaproxyOptions(loadbalancer_state_path=str(state_path),
                                 send_gratuitous_arp=1, hard_stop_after=30)
        return HaproxyNSDriver(options, plugin_rpc, vif_driver, host="th-host")  # type: ignore[arg-type]

    h = DriverHarness(make_driver(), plugin_rpc, state_path, make_driver)
    try:
        yield h
    finally:
        for pool_id in sorted(h.deployed):
            with contextlib.suppress(Exception):
                h.driver.undeploy_instance(pool_id)
            # Safety net when the driver's own undeploy failed.
            _cleanup_netns(f"qlbaas-{pool_id}")
        for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
            dev = line.split(":")[1].strip().split("@")[0]
            if dev.startswith("tapthp"):
                _cleanup_link(dev)
        shutil.rmtree(state_path, ignore_errors=True)


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()
