"""What an operator sees of the data plane, through a real HAProxy in a real namespace:
its access log arriving at the syslog socket the operator named (and nothing logged
without one), and the HTTP responses by class and the member health check counters
that reach ``/metrics`` from the agent's stats reports, never going backwards across a
reload.

Names and addresses are this module's own: links and namespaces ``tl*``, addresses in
10.98.20.0/24; the load balancers' namespaces are ``qlbaas-<uuid>``.

    tlcl (client 10.98.20.100) ─┐
    tlbe1 (10.98.20.11:8080) ───┼── tlbr0 (Linux bridge)
    tlbe2 (10.98.20.12:8080) ───┤
    qlbaas-… (VIP 10.98.20.50-60) ┘ plugged by the driver
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lbaas.agent.drivers.haproxy.namespace_driver import HaproxyNSDriver, HaproxyOptions
from lbaas.agent.http_plugin_api import HttpPluginApi
from lbaas.agent.linux.interface import InterfaceOptions, get_interface_driver
from lbaas.common.logical_device import from_v1
from tests.api.test_metrics import promtool_check, scrape, value
from tests.helpers.server import Api, ServerProcess

BRIDGE = "tlbr0"
PHYSNET = "tlnet"
CIDR = "10.98.20.0/24"
GATEWAY = "10.98.20.1"
VIP = "10.98.20.10"
CLIENT = ("tlcl", "10.98.20.100")
BACKENDS = {"tlbe1": "10.98.20.11", "tlbe2": "10.98.20.12"}
BACKEND_PORT = 8080
HOST = "tl-host"

# argv: name address port. /status/<code> answers that code, anything else 200.
SERVER_SCRIPT = r'''
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        code = int(self.path[8:]) if self.path.startswith("/status/") else 200
        body = sys.argv[1].encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_HEAD = do_GET
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
server = Server((sys.argv[2], int(sys.argv[3])), Handler)
print("ready", flush=True)
server.serve_forever()
'''

# argv: address port path... ; one connection per request; prints the statuses.
CLIENT_SCRIPT = r'''
import http.client, json, sys
statuses = []
for path in sys.argv[3:]:
    try:
        conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=5)
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        statuses.append(resp.status)
    except Exception as exc:
        statuses.append(repr(exc))
print(json.dumps(statuses))
'''

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.skip("needs root and haproxy", allow_module_level=True)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30,
                          check=check)


def _del_netns(name: str) -> None:
    if not os.path.exists(f"/run/netns/{name}"):
        return
    for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    run("ip", "netns", "del", name, check=False)


class Lab:
    def __init__(self, scripts: Path) -> None:
        self.scripts = scripts
        self.backends: dict[str, subprocess.Popen[str]] = {}

    def start_backend(self, name: str) -> None:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, str(self.scripts / "server.py"),
             name, BACKENDS[name], str(BACKEND_PORT)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.backends[name] = proc
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"backend {name} did not start: {line}"

    def stop_backend(self, name: str) -> None:
        proc = self.backends.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def _client(self, address: str, *paths: str) -> list[str]:
        return ["ip", "netns", "exec", CLIENT[0], sys.executable,
                str(self.scripts / "client.py"), address, "80", *paths]

    def start_load(self, address: str, count: int) -> subprocess.Popen[str]:
        """``count`` requests for / one after another, each on a new connection."""
        return subprocess.Popen(self._client(address, *["/"] * count),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def load_result(proc: subprocess.Popen[str]) -> list[Any]:
        out, _ = proc.communicate(timeout=60)
        result: list[Any] = json.loads(out)
        return result

    def get(self, address: str, *paths: str) -> list[Any]:
        out = run(*self._client(address, *paths))
        result: list[Any] = json.loads(out.stdout)
        return result


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    scripts = Path(tempfile.mkdtemp(prefix="tl-scripts-"))
    (scripts / "server.py").write_text(SERVER_SCRIPT)
    (scripts / "client.py").write_text(CLIENT_SCRIPT)
    hosts = {**BACKENDS, CLIENT[0]: CLIENT[1]}
    lab = Lab(scripts)
    try:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "link", "set", BRIDGE, "up")
        for name, address in hosts.items():
            run("ip", "netns", "add", name)
            run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
            run("ip", "link", "add", f"{name}o", "type", "veth", "peer", "name", f"{name}i")
            run("ip", "link", "set", f"{name}i", "netns", name)
            run("ip", "link", "set", f"{name}o", "master", BRIDGE, "up")
            run("ip", "netns", "exec", name, "ip", "addr", "add", f"{address}/24", "dev",
                f"{name}i")
            run("ip", "netns", "exec", name, "ip", "link", "set", f"{name}i", "up")
        for name in BACKENDS:
            lab.start_backend(name)
        yield lab
    finally:
        for name in list(lab.backends):
            lab.stop_backend(name)
        for name in hosts:
            _del_netns(name)
            run("ip", "link", "del", f"{name}o", check=False)
        run("ip", "link", "del", BRIDGE, check=False)
        shutil.rmtree(scripts, ignore_errors=True)


class Drivers:
    """Makes drivers (one per agent "start") over one state directory; removes every
    instance they deployed, its namespace and its device at the end."""

    def __init__(self, plugin_rpc: Any) -> None:
        self.plugin_rpc = plugin_rpc
        self.state = Path(tempfile.mkdtemp(prefix="tl-state-"))
        self.deployed: dict[str, str] = {}  # load balancer id → VIP device

    def make(self, access_log: str | None = None) -> HaproxyNSDriver:
        vif_driver = get_interface_driver(InterfaceOptions(
            interface_driver="linuxbridge", bridge_mappings={PHYSNET: BRIDGE}))
        options = HaproxyOptions(loadbalancer_state_path=str(self.state),
                                 send_gratuitous_arp=0, hard_stop_after=30,
                                 access_log=access_log)
        return HaproxyNSDriver(options, self.plugin_rpc, vif_driver, host=HOST)

    def cleanup(self) -> None:
        # The server may be gone already: the port calls of the undeploy go nowhere.
        self.plugin_rpc = PortCalls()
        driver = self.make()
        for lb_id, device in self.deployed.items():
            with contextlib.suppress(Exception):
                driver.undeploy_instance(lb_id)
            _del_netns(f"qlbaas-{lb_id}")
            run("ip", "link", "del", device, check=False)
        shutil.rmtree(self.state, ignore_errors=True)


class PortCalls:
    def plug_vip_port(self, port_id: str, host: str) -> None:
        pass

    def unplug_vip_port(self, port_id: str, host: str) -> None:
        pass


@pytest.fixture
def drivers() -> Iterator[Drivers]:
    d = Drivers(PortCalls())
    try:
        yield d
    finally:
        d.cleanup()


def v1_device(pool_id: str) -> dict[str, Any]:
    port_id = f"tlp{uuid.uuid4().hex[:8]}-0000-4000-8000-000000000000"
    subnet = {"id": "tl-subnet", "cidr": CIDR, "ip_version": 4, "gateway_ip": GATEWAY,
              "host_routes": []}
    return {
        "pool": {"id": pool_id, "tenant_id": "tl", "name": "tl", "protocol": "HTTP",
                 "lb_method": "ROUND_ROBIN", "admin_state_up": True, "status": "ACTIVE",
                 "subnet_id": "tl-subnet", "vip_id": f"{pool_id}-vip"},
        "vip": {"id": f"{pool_id}-vip", "address": VIP, "protocol_port": 80,
                "protocol": "HTTP", "connection_limit": -1, "session_persistence": None,
                "admin_state_up": True, "status": "ACTIVE", "port_id": port_id,
                "port": {"id": port_id, "network_id": "tl-net",
                         "mac_address": "fa:16:3e:98:20:10", "admin_state_up": True,
                         "fixed_ips": [{"subnet_id": "tl-subnet", "ip_address": VIP,
                                        "subnet": subnet}],
                         "network": {"id": "tl-net", "provider:physical_network": PHYSNET,
                                     "provider:network_type": "flat",
                                     "provider:segmentation_id": None}}},
        "members": [{"id": name, "address": address, "protocol_port": BACKEND_PORT,
                     "weight": 1, "admin_state_up": True, "status": "ACTIVE"}
                    for name, address in BACKENDS.items()],
        "healthmonitors": [],
        "driver": "haproxy_ns",
    }


@pytest.fixture
def syslog_socket() -> Iterator[tuple[str, socket.socket]]:
    """A unix datagram socket standing in for the host's syslog (/dev/log): HAProxy
    writes to it as user nobody, so the directory is searchable and the socket
    writable by all."""
    directory = tempfile.mkdtemp(prefix="tl-log-")
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "log.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
        sock.settimeout(0.5)
        yield path, sock
    finally:
        sock.close()
        shutil.rmtree(directory, ignore_errors=True)


def received(sock: socket.socket, until: Callable[[list[str]], bool],
             timeout: float = 10.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(lines):
        with contextlib.suppress(TimeoutError):
            lines.append(sock.recv(65536).decode(errors="replace"))
    return lines


def test_access_log_reaches_the_socket_the_operator_named_and_stops_without_it(
        lab: Lab, drivers: Drivers, syslog_socket: tuple[str, socket.socket]) -> None:
    path, sock = syslog_socket
    pool_id = f"tl-{uuid.uuid4().hex[:12]}"
    device = from_v1(v1_device(pool_id))
    drivers.deployed[pool_id] = "tap" + device.loadbalancer.vip_port.id[:11]  # type: ignore[union-attr]
    driver = drivers.make(access_log=path)
    assert driver.deploy_instance(device)
    conf = (drivers.state / pool_id / "conf").read_text()
    assert f"log {path} local0" in conf and "option httplog" in conf

    assert lab.get(VIP, "/status/404", "/") == [404, 200]
    lines = received(sock, lambda got: sum("HTTP/1.1" in g for g in got) >= 2)
    requests = [line for line in lines if "HTTP/1.1" in line]
    missing = [line for line in requests if '"GET /status/404 HTTP/1.1"' in line]
    assert len(missing) == 1, lines
    # <134>: facility local0 (16), level info (6); the client, the listener (frontend
    # named by the VIP's id), the pool and member, the status.
    assert missing[0].startswith("<134>")
    assert f"{CLIENT[1]}:" in missing[0] and f"{pool_id}-vip {pool_id}/" in missing[0]
    assert " 404 " in missing[0]
    assert any('"GET / HTTP/1.1"' in line and " 200 " in line for line in requests)

    # The operator removes the option and restarts the agent: one hitless reload, no
    # log line in the configuration, nothing more on the socket.
    plain = drivers.make(access_log=None)
    load = lab.start_load(VIP, 1000)
    time.sleep(0.3)
    assert plain.deploy_instance(device)
    assert load.poll() is None, "the requests ended before the reload"
    assert set(lab.load_result(load)) == {200}
    conf = (drivers.state / pool_id / "conf").read_text()
    assert not [line for line in conf.splitlines()
                if line.strip().startswith(("log ", "option httplog", "option tcplog"))]
    received(sock, lambda got: False, timeout=1.0)  # drain what the old process sent
    assert lab.get(VIP, "/", "/status/404") == [200, 404]
    assert received(sock, lambda got: bool(got), timeout=2.0) == []


# ------------------------------------------------------------------ traffic counters


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    srv = ServerProcess()
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def plugin(server: ServerProcess) -> Iterator[HttpPluginApi]:
    client = HttpPluginApi(server.url)
    try:
        yield client
    finally:
        client.close()


def _ok(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code < 300, resp.text
    return dict(resp.json()) if resp.content else {}


def test_http_responses_and_member_check_failures_reach_metrics(
        lab: Lab, drivers: Drivers, server: ServerProcess, plugin: HttpPluginApi) -> None:
    api = Api(server.url, project="tl-project")
    drivers.plugin_rpc = plugin
    plugin.report_state(HOST, {"device_drivers": ["haproxy_ns"],
                               "bridge_mappings": {PHYSNET: BRIDGE}}, start_flag=True)
    net = _ok(api.post("/networks", {"network": {
        "name": "tl-net", "provider:physical_network": PHYSNET,
        "provider:network_type": "flat"}}))["network"]
    subnet = _ok(api.post("/subnets", {"subnet": {
        "network_id": net["id"], "cidr": CIDR, "ip_version": 4, "gateway_ip": GATEWAY,
        "allocation_pools": [{"start": "10.98.20.50", "end": "10.98.20.60"}]}}))["subnet"]
    lb = _ok(api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": subnet["id"], "listeners": [{
            "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": a, "protocol_port": BACKEND_PORT}
                            for a in BACKENDS.values()],
                "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1,
                                  "max_retries": 1, "max_retries_down": 1}}}]}}))[
        "loadbalancer"]
    lb_id = lb["id"]
    device = plugin.get_logical_device(lb_id)
    assert device.loadbalancer is not None
    drivers.deployed[lb_id] = "tap" + device.loadbalancer.vip_port.id[:11]
    driver = drivers.make()
    assert driver.deploy_instance(device)
    plugin.pool_deployed(lb_id, device.revision)
    listener_id = device.loadbalancer.listeners[0].id
    pool_id = device.loadbalancer.pools[0].id
    members = {mb.address: mb.id for mb in device.loadbalancer.pools[0].members}
    vip = device.loadbalancer.vip_address

    def report() -> dict[str, Any]:
        stats = driver.get_stats(lb_id)
        plugin.update_pool_stats(lb_id, stats, HOST)
        text, samples = scrape(server.url)
        promtool_check(text)
        return samples

    # Wait for the first health checks, so they do not flap the member statuses.
    assert _wait(lambda: len(driver.get_stats(lb_id).get("members", {})) == 2)
    statuses = lab.get(vip, *["/"] * 5, *["/status/404"] * 3, *["/status/503"] * 2)
    assert statuses == [200] * 5 + [404] * 3 + [503] * 2
    samples = report()
    listener = {"project_id": "tl-project", "loadbalancer_id": lb_id,
                "listener_id": listener_id}
    pool = {"project_id": "tl-project", "loadbalancer_id": lb_id, "pool_id": pool_id}
    by_class = {code: value(samples, "octavia_listener_http_responses_total", **listener,
                            code=code) for code in ("2xx", "4xx", "5xx")}
    assert by_class == {"2xx": 5, "4xx": 3, "5xx": 2}
    assert {code: value(samples, "octavia_pool_http_responses_total", **pool, code=code)
            for code in ("2xx", "4xx", "5xx")} == by_class

    # A change that needs a new HAProxy process: its counters start again from zero,
    # the exported ones go on.
    _ok(api.put(f"/v2/lbaas/listeners/{listener_id}",
                {"listener": {"connection_limit": 5000}}))
    device = plugin.get_logical_device(lb_id)
    epoch = driver.get_stats(lb_id)["epoch"]
    assert driver.deploy_instance(device)
    plugin.pool_deployed(lb_id, device.revision)
    assert driver.get_stats(lb_id)["epoch"] != epoch
    assert lab.get(vip, "/status/404") == [404]
    samples = report()
    assert value(samples, "octavia_listener_http_responses_total", **listener,
                 code="4xx") == 4
    assert value(samples, "octavia_listener_http_responses_total", **listener,
                 code="2xx") == 5

    # A member's backend dies: its checks fail, it goes down.
    dead = members[BACKENDS["tlbe2"]]
    lab.stop_backend("tlbe2")
    try:
        assert _wait(lambda: driver.get_stats(lb_id)["members"].get(dead, {}).get(
            "status") == "INACTIVE")
        samples = report()
        member = {**pool, "member_id": dead}
        assert value(samples, "octavia_member_status", **member) == 0
        assert (value(samples, "octavia_member_check_failures_total", **member) or 0) >= 1
        assert value(samples, "octavia_member_check_up_down_total", **member) == 1
        alive = {**pool, "member_id": members[BACKENDS["tlbe1"]]}
        assert value(samples, "octavia_member_status", **alive) == 1
        assert value(samples, "octavia_member_check_failures_total", **alive) == 0
    finally:
        lab.start_backend("tlbe2")
    # Octavia's stats body keeps its fields.
    body = _ok(api.get(f"/v2/lbaas/listeners/{listener_id}/stats"))
    assert set(body["stats"]) == {"bytes_in", "bytes_out", "active_connections",
                                  "total_connections", "request_errors"}
    assert body["stats"]["total_connections"] == 11


def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()
