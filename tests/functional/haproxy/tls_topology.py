"""Real topology for the TLS functional tests: HAProxy in a namespace made by the driver,
real TLS clients in a client namespace, plain and TLS backends in theirs.

Everything carries this test's prefix ``tc`` and lives in 10.98.90.0/24; the driver's
namespace prefix is ``tcq-`` and the VIP port id starts with ``tcp``, so the load
balancer's namespace and device are recognisably ours too.

    tccl (client 10.98.90.100) ──────┐
    tcbe1 (10.98.90.11:8080, HTTP) ──┤
    tcbe2 (10.98.90.12:8443, TLS, certificate from the test CA) ──┼── tcbr0
    tcbe3 (10.98.90.13:8443, TLS, certificate from another CA) ───┤
    tcq-<lb> (VIP 10.98.90.10) ──────┘  plugged by the driver
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lbaas.common import logical_device as ld
from tests.helpers.tls_material import Authority, Issued

BRIDGE = "tcbr0"
PHYSNET = "tcnet"
SUBNET_CIDR = "10.98.90.0/24"
GATEWAY = "10.98.90.1"
VIP_ADDRESS = "10.98.90.10"
CLIENT = ("tccl", "10.98.90.100")
BACKENDS = {"tcbe1": "10.98.90.11", "tcbe2": "10.98.90.12", "tcbe3": "10.98.90.13"}
HTTP_PORT, TLS_PORT = 8080, 8443
NS_PREFIX = "tcq-"
NAMES = ("www.tc.test", "one.tc.test", "two.tc.test")

# argv: name address port [bundle.pem]. Answers every request with its name and the
# request's headers as JSON (so a test sees what HAProxy inserted).
SERVER_SCRIPT = r'''
import http.server, json, ssl, sys
name = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = json.dumps({"name": name, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
server = Server((sys.argv[2], int(sys.argv[3])), Handler)
if len(sys.argv) > 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4])
    context.set_alpn_protocols(["http/1.1"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
'''

# One HTTPS request (or a loop of them, each on a new connection) with python's ssl.
# argv: a JSON object of options. Prints a JSON result; never raises.
CLIENT_SCRIPT = r'''
import hashlib, json, socket, ssl, sys, time
opts = json.loads(sys.argv[1])
def once():
    ctx = ssl.create_default_context(cafile=opts["ca"])
    ctx.check_hostname = False
    if opts.get("max_version"):
        ctx.maximum_version = getattr(ssl.TLSVersion, opts["max_version"])
    if opts.get("alpn"):
        ctx.set_alpn_protocols(opts["alpn"])
    if opts.get("cert"):
        ctx.load_cert_chain(opts["cert"])
    with socket.create_connection((opts["host"], opts["port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=opts.get("sni")) as tls:
            der = tls.getpeercert(binary_form=True)
            peer = tls.getpeercert()
            cn = [v for rdn in peer["subject"] for k, v in rdn if k == "commonName"][0]
            out = {"ok": True, "cn": cn, "version": tls.version(),
                   "alpn": tls.selected_alpn_protocol(),
                   "sha256": hashlib.sha256(der).hexdigest()}
            if opts.get("handshake_only"):
                return out
            tls.sendall(f"GET {opts.get('path', '/')} HTTP/1.1\r\nHost: x\r\n"
                        "Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    out["status"] = int(lines[0].split()[1])
    out["headers"] = {k.lower(): v.strip() for k, _, v in
                      (line.partition(":") for line in lines[1:])}
    out["body"] = body
    return out
def keepalive_loop():
    """Requests over kept connections (HTTP/1.1 keep-alive, http.client). A request the
    server closed a kept connection under before answering (RemoteDisconnected: the
    reload's old process letting go of an idle connection) is retried once on a new
    connection, as clients do for idempotent requests; ``closed`` counts those."""
    import http.client
    ctx = ssl.create_default_context(cafile=opts["ca"])
    ctx.check_hostname = False
    seen, failures, errors, done, closed = {}, 0, [], 0, 0
    conn = None
    deadline = time.monotonic() + opts["loop_seconds"]
    while time.monotonic() < deadline:
        done += 1
        for attempt in (0, 1):
            fresh = conn is None
            if fresh:
                conn = http.client.HTTPSConnection(opts["host"], opts["port"],
                                                   context=ctx, timeout=5)
            try:
                conn.request("GET", "/")
                # Before the answer: http.client drops the socket of a response that
                # says "Connection: close".
                sha = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                seen[sha] = seen.get(sha, 0) + 1
                if resp.will_close:
                    conn.close()
                    conn = None
                break
            except http.client.RemoteDisconnected as exc:
                conn.close()
                conn = None
                if fresh or attempt:
                    failures += 1
                    errors = (errors + [repr(exc)])[:5]
                    break
                closed += 1
            except Exception as exc:
                if conn is not None:
                    conn.close()
                conn = None
                failures += 1
                errors = (errors + [repr(exc)])[:5]
                break
    return {"requests": done, "seen": seen, "failures": failures, "errors": errors,
            "closed": closed}
if opts.get("keepalive"):
    print(json.dumps(keepalive_loop()))
    sys.exit(0)
if "loop_seconds" not in opts:
    try:
        print(json.dumps(once()))
    except Exception as exc:
        print(json.dumps({"ok": False, "error": repr(exc)}))
    sys.exit(0)
seen, failures, errors, done = {}, 0, [], 0
deadline = time.monotonic() + opts["loop_seconds"]
while time.monotonic() < deadline and done < opts.get("loop_max", 100000):
    done += 1
    try:
        result = once()
        if result["status"] != 200:
            raise RuntimeError(f"HTTP {result['status']}")
        seen[result["sha256"]] = seen.get(result["sha256"], 0) + 1
    except Exception as exc:
        failures += 1
        errors = (errors + [repr(exc)])[:5]
print(json.dumps({"requests": done, "seen": seen, "failures": failures, "errors": errors}))
'''


def run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check)


def cleanup_netns(name: str) -> None:
    if not os.path.exists(f"/run/netns/{name}"):
        return
    for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    run("ip", "netns", "del", name, check=False)


def cleanup_link(name: str) -> None:
    run("ip", "link", "del", name, check=False)


def _add_host(name: str, address: str) -> None:
    outer, inner = f"{name}o", f"{name}i"
    run("ip", "netns", "add", name)
    run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
    run("ip", "link", "set", inner, "netns", name)
    run("ip", "link", "set", outer, "master", BRIDGE, "up")
    run("ip", "netns", "exec", name, "ip", "addr", "add", f"{address}/24", "dev", inner)
    run("ip", "netns", "exec", name, "ip", "link", "set", inner, "up")


@dataclass
class TlsTopology:
    dir: Path
    ca: Authority
    other_ca: Authority
    leafs: dict[str, Issued]
    clients: dict[str, Issued]
    servers: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def file(self, name: str, content: str) -> str:
        path = self.dir / name
        path.write_text(content)
        return str(path)

    def start_backend(self, name: str, port: int, bundle: str | None = None) -> None:
        argv = ["ip", "netns", "exec", name, sys.executable, str(self.dir / "server.py"),
                name, BACKENDS[name], str(port)]
        if bundle is not None:
            argv.append(bundle)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        self.servers[f"{name}:{port}"] = proc
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"backend {name} did not start: {line}"

    def https(self, port: int, sni: str | None = None, timeout: float = 30,
              **opts: Any) -> dict[str, Any]:
        """One HTTPS request from the client namespace (python's ssl), trusting the CA."""
        args = {"host": VIP_ADDRESS, "port": port, "sni": sni,
                "ca": str(self.dir / "ca.pem"), **opts}
        out = run("ip", "netns", "exec", CLIENT[0], sys.executable,
                  str(self.dir / "client.py"), json.dumps(args), timeout=timeout).stdout
        result: dict[str, Any] = json.loads(out)
        return result

    def client_loop(self, port: int, seconds: float,
                    keepalive: bool = False) -> subprocess.Popen[str]:
        """A bounded loop of HTTPS requests: each on a new connection (each a full
        handshake), or with ``keepalive`` over kept connections."""
        args = {"host": VIP_ADDRESS, "port": port, "ca": str(self.dir / "ca.pem"),
                "loop_seconds": seconds, "keepalive": keepalive}
        return subprocess.Popen(["ip", "netns", "exec", CLIENT[0], sys.executable,
                                 str(self.dir / "client.py"), json.dumps(args)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def in_client(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", CLIENT[0], *argv, check=False, timeout=timeout)


def tls_certificate(cid: str, issued: Issued) -> ld.TlsCertificate:
    return ld.TlsCertificate(id=cid, certificate=issued.certificate,
                             private_key=issued.private_key, names=list(issued.names))


def vip_port(lb_id: str) -> ld.Port:
    subnet = {"id": "tc-subnet", "cidr": SUBNET_CIDR, "ip_version": 4,
              "gateway_ip": GATEWAY, "host_routes": []}
    return ld.Port.model_validate({
        "id": f"tcp{lb_id[-8:]}-0000-4000-8000-000000000000", "network_id": "tc-net",
        "mac_address": "fa:16:3e:98:90:10",
        "fixed_ips": [{"subnet_id": "tc-subnet", "ip_address": VIP_ADDRESS,
                       "subnet": subnet}],
        "network": {"id": "tc-net", "provider:physical_network": PHYSNET,
                    "provider:network_type": "flat", "provider:segmentation_id": None}})


@pytest.fixture(scope="module")
def tls_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsTopology]:
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces and links")
    for tool in ("haproxy", "openssl", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    directory = tmp_path_factory.mktemp("tc-tls")
    os.chmod(directory, 0o755)
    (directory / "server.py").write_text(SERVER_SCRIPT)
    (directory / "client.py").write_text(CLIENT_SCRIPT)
    ca, other = Authority("tc test CA"), Authority("tc other CA")
    leafs = {name: ca.issue(name, (name,)) for name in NAMES}
    clients = {"a": ca.issue("tc-client-a", client=True, organization="tc-org"),
               "b": ca.issue("tc-client-b", client=True, organization="tc-other"),
               "c": ca.issue("tc-client-c", client=True, organization="tc-org"),
               "revoked": ca.issue("tc-client-revoked", client=True),
               "stranger": other.issue("tc-client-a", client=True, organization="tc-org")}
    ca.revoked.append(clients["revoked"].serial)
    topo = TlsTopology(directory, ca, other, leafs, clients)
    topo.file("ca.pem", ca.pem)
    for name, issued in clients.items():
        topo.file(f"client-{name}.pem", issued.bundle)
    hosts = {**BACKENDS, CLIENT[0]: CLIENT[1]}
    try:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "link", "set", BRIDGE, "up")
        for name, address in hosts.items():
            _add_host(name, address)
        topo.start_backend("tcbe1", HTTP_PORT)
        topo.start_backend("tcbe2", TLS_PORT, topo.file(
            "tcbe2.pem", ca.issue("tcbe2.tc.test", ("tcbe2.tc.test",)).bundle))
        topo.start_backend("tcbe3", TLS_PORT, topo.file(
            "tcbe3.pem", other.issue("tcbe3.tc.test", ("tcbe3.tc.test",)).bundle))
        yield topo
    finally:
        for proc in topo.servers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for name in hosts:
            cleanup_netns(name)
            cleanup_link(f"{name}o")
        cleanup_link(BRIDGE)


class FakePluginApi:
    def plug_vip_port(self, port_id: str, host: str) -> None:
        pass

    def unplug_vip_port(self, port_id: str, host: str) -> None:
        pass


@dataclass
class Driver:
    driver: Any
    state_path: Path
    deployed: set[str] = field(default_factory=set)

    def deploy(self, lb: ld.LoadBalancer) -> None:
        self.deployed.add(lb.id)
        assert self.driver.deploy_instance(ld.LogicalDevice(id=lb.id, loadbalancer=lb))


@contextlib.contextmanager
def tls_driver(state_path: Path) -> Iterator[Driver]:
    from lbaas.agent.drivers.haproxy.namespace_driver import HaproxyNSDriver, HaproxyOptions
    from lbaas.agent.linux.interface import InterfaceOptions, get_interface_driver

    vif_driver = get_interface_driver(InterfaceOptions(
        interface_driver="linuxbridge", bridge_mappings={PHYSNET: BRIDGE}))
    options = HaproxyOptions(loadbalancer_state_path=str(state_path), send_gratuitous_arp=1,
                             hard_stop_after=30, namespace_prefix=NS_PREFIX)
    d = Driver(HaproxyNSDriver(options, FakePluginApi(), vif_driver, host="tc-host"),  # type: ignore[arg-type]
               state_path)
    try:
        yield d
    finally:
        for lb_id in sorted(d.deployed):
            with contextlib.suppress(Exception):
                d.driver.undeploy_instance(lb_id)
            cleanup_netns(NS_PREFIX + lb_id)
        for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
            dev = line.split(":")[1].strip().split("@")[0]
            if dev.startswith("taptcp"):
                cleanup_link(dev)
        shutil.rmtree(state_path, ignore_errors=True)
