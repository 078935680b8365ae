"""Several lbaas "hosts" on one kernel, for the high-availability tests and the failover
benchmark (docs/architecture.md, "High availability")::

    root namespace:  lbaas-server on <net>.120.1 (bridge <p>mgmt)
                     bridge <p>lan ── <p>-cl client <net>.64.5 ── <p>-b1 backend <net>.64.11
    host X (namespace <p>h-X): its lbaas-agent (host <p>X, namespace_prefix <p>X-), bridge
                     br-phys; "wire" veth <p>Xw ── <p>lan, "mgmt" veth <p>Xm ── <p>mgmt

Each agent runs inside its own host namespace, as on a real host: the root end of a VIP
veth (``tap`` + the port id) lives there, so two hosts plugging the same port after a
failover never fight over one name. The load balancers' namespaces are named globally
(``ip netns``), hence each agent's own ``namespace_prefix``. Killing a host is SIGKILL
of its agent and of every HAProxy of its instances, and its wire cut; a partition is its
mgmt link cut (tenants still reach it, the servers do not).

Everything built is removed by ``teardown`` (by name and PID), even after a failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.netlab import HELPERS, PY, REPO, free_port, netns, sh, wait_until


@dataclass
class Host:
    name: str                 # "a"
    lab: MultiHostLab
    index: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"{self.lab.prefix}{self.name}"

    @property
    def netns(self) -> str:
        return f"{self.lab.prefix}h-{self.name}"

    @property
    def ns_prefix(self) -> str:
        return f"{self.lab.prefix}{self.name}-"

    @property
    def wire(self) -> str:
        return f"{self.lab.prefix}{self.name}w"

    @property
    def mgmt(self) -> str:
        return f"{self.lab.prefix}{self.name}m"

    @property
    def root(self) -> Path:
        return self.lab.root / self.host

    @property
    def state(self) -> Path:
        return self.root / "haproxy"

    @property
    def log(self) -> Path:
        return self.root / "agent.log"

    def write_conf(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "agent.conf"
        conf.write_text(f"""[DEFAULT]
state_path = {self.root}
host = {self.host}
server_url = {self.lab.server_url}
interface_driver = linuxbridge
bridge_mappings = default:br-phys
namespace_prefix = {self.ns_prefix}
periodic_interval = 1
report_interval = {self.lab.report_interval}
deploy_workers = {self.lab.deploy_workers}
debug = true
[haproxy]
loadbalancer_state_path = {self.state}
send_gratuitous_arp = 2
[agent]
agent_down_time = {self.lab.agent_down_time}
""")
        return conf

    def start_agent(self) -> None:
        conf = self.write_conf()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                # nsenter, not "ip netns exec": that one gives the process a mount
                # namespace of its own, and the namespaces the agent creates (bind
                # mounts under /run/netns) would not be visible outside it, nor to the
                # next agent of this host.
                ["nsenter", f"--net=/run/netns/{self.netns}", "--", PY, "-m",
                 "lbaas.cmd.agent", "--config-file", str(conf)], cwd=REPO, stdout=log,
                stderr=subprocess.STDOUT)

    def namespaces(self) -> list[str]:
        return [ns for ns in _netns_list() if ns.startswith(self.ns_prefix)]

    def kill(self) -> None:
        """The host dies: its agent and every HAProxy of its instances SIGKILLed, its
        wire and its management link cut. Its namespaces stay, as after a crash."""
        self.kill_agent()
        for ns in self.namespaces():
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                _kill(int(pid))
        self.cut_wire()
        self.cut_mgmt()

    def kill_agent(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def cut_wire(self, up: bool = False) -> None:
        sh("ip", "link", "set", self.wire, "up" if up else "down")

    def cut_mgmt(self, up: bool = False) -> None:
        sh("ip", "link", "set", self.mgmt, "up" if up else "down")

    def cleanup_data_plane(self) -> None:
        # Also by pid file: a namespace this host's agent made may be out of our sight
        # (made from another mount namespace), its HAProxy not.
        if self.state.is_dir():
            for pid_file in self.state.glob("*/pid"):
                for tok in pid_file.read_text().split():
                    if tok.isdigit() and _runs_from(int(tok), self.state):
                        _kill(int(tok))
        for ns in self.namespaces():
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                _kill(int(pid))
            sh("ip", "netns", "del", ns, check=False)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _runs_from(pid: int, state: Path) -> bool:
    try:
        return str(state).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _netns_list() -> list[str]:
    return [line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines()
            if line.strip()]


@dataclass
class MultiHostLab:
    root: Path
    prefix: str = "th"          # every name starts with it
    net: str = "10.98"          # tenant <net>.64.0/20, mgmt <net>.120.0/24
    # Instead of net: one /24 (its first three octets, "10.98.110") for a lab that must
    # stay in it: tenant .0/25 (addresses .32-.126), mgmt .128/25.
    subnet24: str = ""
    # Or other /24s (three octets each) for the tenant wire and mgmt: a lab that must
    # stay inside given ranges (the ACTIVE_STANDBY tests).
    lan_base: str = ""
    mgmt_base: str = ""
    hosts: list[str] = field(default_factory=lambda: ["a", "b"])
    report_interval: int = 1
    agent_down_time: int = 4
    deploy_workers: int = 4
    # More server options: {"section": {"option": value}}.
    server_conf: dict[str, dict[str, Any]] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    server: subprocess.Popen[bytes] | None = None
    backend: subprocess.Popen[bytes] | None = None
    agents: dict[str, Host] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.port = free_port()
        self.server_ip = self._mgmt_ip(1)
        self.server_url = f"http://{self.server_ip}:{self.port}"
        self.client_ns = f"{self.prefix}-cl"
        self.backend_ns = f"{self.prefix}-b1"
        self.backend_ip = self._tenant_ip(11)
        self.lan = f"{self.prefix}lan"
        self.mgmt_bridge = f"{self.prefix}mgmt"
        self.agents = {name: Host(name, self, i) for i, name in enumerate(self.hosts)}

    # -- addresses ---------------------------------------------------------------------

    def _tenant_ip(self, n: int) -> str:
        if self.lan_base:
            return f"{self.lan_base}.{n}"
        return f"{self.subnet24}.{n}" if self.subnet24 else f"{self.net}.64.{n}"

    def _mgmt_ip(self, n: int) -> str:
        if self.mgmt_base:
            return f"{self.mgmt_base}.{n}"
        return f"{self.subnet24}.{128 + n}" if self.subnet24 else f"{self.net}.120.{n}"

    @property
    def tenant_prefixlen(self) -> int:
        return 24 if self.lan_base else 25 if self.subnet24 else 20

    @property
    def mgmt_prefixlen(self) -> int:
        return 24 if self.mgmt_base else 25 if self.subnet24 else 24

    def tenant_subnet(self) -> dict[str, Any]:
        """The tenants' subnet as a v1 ``POST /subnets`` body takes it (the VIPs' and the
        members' addresses)."""
        if self.subnet24:
            cidr, pool = f"{self.subnet24}.0/25", (self._tenant_ip(32), self._tenant_ip(126))
        else:
            cidr, pool = f"{self.net}.64.0/20", (f"{self.net}.65.1", f"{self.net}.79.254")
        return {"cidr": cidr, "ip_version": 4, "gateway_ip": self._tenant_ip(1),
                "allocation_pools": [{"start": pool[0], "end": pool[1]}]}

    # -- building ----------------------------------------------------------------------

    def build(self) -> MultiHostLab:
        for bridge in (self.lan, self.mgmt_bridge):
            sh("ip", "link", "add", bridge, "type", "bridge")
            self.links.append(bridge)
            sh("ip", "link", "set", bridge, "up")
        sh("ip", "addr", "add", f"{self.server_ip}/{self.mgmt_prefixlen}", "dev",
           self.mgmt_bridge)
        self._leaf(self.client_ns, f"{self.prefix}clh",
                   f"{self._tenant_ip(5)}/{self.tenant_prefixlen}")
        self._leaf(self.backend_ns, f"{self.prefix}b1h",
                   f"{self.backend_ip}/{self.tenant_prefixlen}")
        self.backend = subprocess.Popen(
            ["ip", "netns", "exec", self.backend_ns, PY, str(HELPERS / "backend.py"), "b1",
             self.backend_ip, "80"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for host in self.agents.values():
            self._add_ns(host.netns)
            netns(host.netns, "ip", "link", "add", "br-phys", "type", "bridge")
            netns(host.netns, "ip", "link", "set", "br-phys", "up")
            self._veth(host.wire, self.lan, host.netns, "wire")
            netns(host.netns, "ip", "link", "set", "wire", "master", "br-phys", "up")
            self._veth(host.mgmt, self.mgmt_bridge, host.netns, "mgmt")
            netns(host.netns, "ip", "addr", "add",
                  f"{self._mgmt_ip(11 + host.index)}/{self.mgmt_prefixlen}", "dev", "mgmt")
            netns(host.netns, "ip", "link", "set", "mgmt", "up")
        wait_until(lambda: netns(self.backend_ns, "ss", "-ltnH", "sport = :80").stdout
                   .strip(), timeout=10, message="backend")
        return self

    def _add_ns(self, ns: str) -> None:
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        netns(ns, "ip", "link", "set", "lo", "up")

    def _veth(self, outer: str, bridge: str, ns: str, inner: str) -> None:
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        self.links.append(outer)
        sh("ip", "link", "set", outer, "master", bridge, "up")

    def _leaf(self, ns: str, outer: str, address: str) -> None:
        self._add_ns(ns)
        self._veth(outer, self.lan, ns, "eth0")
        netns(ns, "ip", "addr", "add", address, "dev", "eth0")
        netns(ns, "ip", "link", "set", "eth0", "up")

    # -- lbaas -------------------------------------------------------------------------

    def start_server(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "server.conf"
        conf.write_text(f"""[DEFAULT]
state_path = {self.root}
bind_host = {self.server_ip}
bind_port = {self.port}
debug = true
[agent]
agent_down_time = {self.agent_down_time}
[quotas]
quota_pool = -1
quota_vip = -1
""" + "".join(f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
             for section, opts in self.server_conf.items()))
        with open(self.root / "server.log", "ab") as log:
            self.server = subprocess.Popen([PY, "-m", "lbaas.cmd.server", "--config-file",
                                            str(conf)], cwd=REPO, stdout=log,
                                           stderr=subprocess.STDOUT)
        wait_until(self._server_up, timeout=30, message="lbaas-server")

    def _server_up(self) -> bool:
        try:
            return httpx.get(f"{self.server_url}/v2.0/agents", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> MultiHostLab:
        self.start_server()
        for host in self.agents.values():
            host.start_agent()
        for host in self.agents.values():
            self.wait_alive(host)
        # Every agent's heartbeat answered since all were alive: each knows another
        # could take over (what lets it fence itself in a partition).
        time.sleep(2 * self.report_interval + 0.5)
        return self

    def agent_record(self, host: Host) -> dict[str, Any] | None:
        r = httpx.get(f"{self.server_url}/v2.0/agents", params={"host": host.host},
                      timeout=5)
        found = r.json()["agents"]
        return dict(found[0]) if found else None

    def wait_alive(self, host: Host, timeout: float = 30) -> dict[str, Any]:
        def alive() -> dict[str, Any] | None:
            if host.proc is not None and host.proc.poll() is not None:
                raise RuntimeError(f"agent {host.host} exited:\n"
                                   + host.log.read_text(errors="replace")[-3000:])
            rec = self.agent_record(host)
            return rec if rec and rec["alive"] else None
        return dict(wait_until(alive, timeout=timeout, interval=0.05,
                               message=f"agent {host.host} alive"))

    # -- the tenant's side -------------------------------------------------------------

    def client_get(self, url: str, n: int = 1, timeout: float = 2.0) -> list[str]:
        out = subprocess.run(["ip", "netns", "exec", self.client_ns, PY,
                              str(HELPERS / "netclient.py"), "once", url, str(n),
                              "--timeout", str(timeout)], check=True, capture_output=True,
                             text=True, timeout=30 + n * timeout)
        return list(json.loads(out.stdout))

    # -- teardown ----------------------------------------------------------------------

    def teardown(self) -> None:
        for host in self.agents.values():
            host.kill_agent()
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
            self.server = None
        for host in self.agents.values():
            host.cleanup_data_plane()
        if self.backend is not None:
            self.backend.kill()
            self.backend.wait(10)
            self.backend = None
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces.clear()
        for link in reversed(self.links):
            sh("ip", "link", "del", link, check=False)
        self.links.clear()


def wait_serving(lab: MultiHostLab, url: str, timeout: float, want: str = "b1") -> float:
    """Seconds until one request from the client namespace gets ``want`` back."""
    started = time.monotonic()
    wait_until(lambda: lab.client_get(url, 1, timeout=1.0) == [want], timeout=timeout,
               interval=0.05, message=f"{url} answering")
    return time.monotonic() - started
