"""End-to-end fixtures for members on other subnets (docs/architecture.md, "Member
ports"): a VIP network and a member network on two physical networks, each its own
switch, once with Linux bridges and once with a private Open vSwitch in userspace mode
(the member network a VLAN there), and ``lbaas all-in-one`` mapping both.

Private names: namespaces ``tq-…`` (the service's own ``tq-qlbaas-…``), links and
bridges ``tq…``, 10.98.100.0/24 – 10.98.102.0/24::

    tqbra (physnet tqa)   VIP subnet A 10.98.100.0/24: client tq-cl .10, VIPs .100-.149
    tqbrb (physnet tqb)   member subnet B 10.98.101.0/24: b1 .11 (no default route),
                          router tq-rt .254, the load balancer's member port .100-.149
    tqbrc                 10.98.102.0/24 behind tq-rt: b2 .12 (subnet B's host route)

The backends have no route to the client: they can only answer through the load
balancer's port on B. Everything (service, HAProxys, namespaces, links, bridges, OVS
daemons, temporary files) is removed when the package's tests end, even on failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lbaas.agent.linux import ip_lib, ovs_lib
from tests.functional.linux.topology import PrivateOVS
from tests.helpers import netlab
from tests.helpers.netlab import PY, LabApi, Service, netns, sh, wait_until

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.skip("end-to-end tests need root and haproxy", allow_module_level=True)

SPEC = netlab.LabSpec(prefix="tq", net="10.98")
NS_PREFIX = "tq-qlbaas-"
PHYSNET_A, PHYSNET_B = "tqa", "tqb"
BRIDGE_A, BRIDGE_B, BRIDGE_C = "tqbra", "tqbrb", "tqbrc"
CIDR_A, CIDR_B, CIDR_C = "10.98.100.0/24", "10.98.101.0/24", "10.98.102.0/24"
CLIENT = ("cl", "10.98.100.10")
B1 = ("b1", "10.98.101.11")
B2 = ("b2", "10.98.102.12")
ROUTER_B, ROUTER_C = "10.98.101.254", "10.98.102.1"
MEMBER_VLAN = 201  # OVS only: this host's Linux bridges do no 802.1Q
OVS_TOOLS = ("ovs-vswitchd", "ovsdb-server", "ethtool")


def ns_name(host: str) -> str:
    return f"tq-{host}"


@dataclass
class MemberLab:
    """The three switches and the hosts on them; ``teardown`` removes what ``build``
    made, by name and PID, including the part a failed build got to."""

    driver: str  # "linuxbridge" | "ovs"
    root: Path
    ovs: PrivateOVS | None = None
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def db(self) -> str | None:
        return self.ovs.db if self.ovs is not None else None

    @property
    def member_vlan(self) -> int | None:
        return MEMBER_VLAN if self.driver == "ovs" else None

    def build(self) -> MemberLab:
        if self.ovs is not None:
            self.ovs.start()
        for bridge in (BRIDGE_A, BRIDGE_B, BRIDGE_C):
            self._bridge(bridge)
        self._host(CLIENT[0], BRIDGE_A, f"{CLIENT[1]}/24", None)
        self._host(B1[0], BRIDGE_B, f"{B1[1]}/24", self.member_vlan)
        self._host(B2[0], BRIDGE_C, f"{B2[1]}/24", None, gateway=ROUTER_C)
        self._host("rt", BRIDGE_B, f"{ROUTER_B}/24", self.member_vlan, dev="eth0")
        self._link(ns_name("rt"), "tqrtc", BRIDGE_C, f"{ROUTER_C}/24", None, dev="eth1")
        netns(ns_name("rt"), "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for name, address in (B1, B2):
            self._backend(name, address)
        return self

    def _bridge(self, name: str) -> None:
        if self.ovs is not None:
            ovs_lib.ensure_bridge(name, self.db, datapath_type="netdev")
        else:
            sh("ip", "link", "add", name, "type", "bridge")
            sh("ip", "link", "set", name, "up")
        self.bridges.append(name)

    def _host(self, name: str, bridge: str, address: str, tag: int | None,
              gateway: str | None = None, dev: str = "eth0") -> None:
        ns = ns_name(name)
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        netns(ns, "ip", "link", "set", "lo", "up")
        self._link(ns, f"tq{name}", bridge, address, tag, dev)
        if gateway:
            netns(ns, "ip", "route", "add", "default", "via", gateway)

    def _link(self, ns: str, outer: str, bridge: str, address: str, tag: int | None,
              dev: str) -> None:
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", dev, "netns", ns)
        self.links.append(outer)
        if self.ovs is not None:
            ovs_lib.add_port(bridge, outer, db=self.db, tag=tag)
            sh("ip", "link", "set", outer, "up")
            # The userspace datapath does not fill in checksums left to the NIC.
            netns(ns, "ethtool", "-K", dev, "tx", "off")
        else:
            sh("ip", "link", "set", outer, "master", bridge, "up")
        netns(ns, "ip", "addr", "add", address, "dev", dev)
        netns(ns, "ip", "link", "set", dev, "up")

    def _backend(self, name: str, address: str) -> None:
        ns = ns_name(name)
        self.processes.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, PY, str(netlab.HELPERS / "backend.py"), name,
             address, "80"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: netns(ns, "ss", "-ltnH", "sport = :80").stdout.strip(),
                   timeout=10, interval=0.05, message=f"backend {name} listening")

    def teardown(self) -> None:
        try:
            for proc in self.processes:
                proc.kill()
                proc.wait(10)
            self.processes.clear()
            for ns in reversed(self.namespaces):
                sh("ip", "netns", "del", ns, check=False)
            self.namespaces.clear()
            for link in self.links:
                sh("ip", "link", "del", link, check=False)
            self.links.clear()
            for bridge in reversed(self.bridges):
                if self.ovs is not None:
                    # Only our hosts and our service's ports are on the private switch.
                    for port in ovs_lib.list_ports(bridge, self.db):
                        ip_lib.delete_device(port)
                    ovs_lib.delete_bridge(bridge, self.db)
                else:
                    sh("ip", "link", "del", bridge, check=False)
            self.bridges.clear()
        finally:
            if self.ovs is not None:
                for pid in self.ovs.pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                self.ovs.stop()


@pytest.fixture(scope="package", params=["linuxbridge", "ovs"])
def lab(request: pytest.FixtureRequest) -> Iterator[MemberLab]:
    driver = request.param
    if driver == "ovs" and not all(shutil.which(tool) for tool in OVS_TOOLS):
        pytest.skip("the OVS variant needs openvswitch and ethtool")
    # Unix socket paths are limited to 108 bytes: a short directory under /tmp.
    root = Path(tempfile.mkdtemp(prefix="tqlab-", dir="/tmp"))
    lab = MemberLab(driver, root, PrivateOVS(root) if driver == "ovs" else None)
    try:
        yield lab.build()
    finally:
        try:
            lab.teardown()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _cleanup_service(svc: Service) -> None:
    """What the service left: its HAProxys (by PID, only those whose command line names
    its state directory) and its namespaces."""
    if not svc.state.is_dir():
        return
    for d in svc.state.iterdir():
        ns = NS_PREFIX + d.name
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
            if str(svc.state).encode() in cmdline:
                os.kill(pid, signal.SIGKILL)
        sh("ip", "netns", "del", ns, check=False)


@pytest.fixture(scope="package")
def service(lab: MemberLab) -> Iterator[Service]:
    root = Path(tempfile.mkdtemp(prefix="tq-lbaas-"))
    extra = f"namespace_prefix = {NS_PREFIX}\n"
    if lab.driver == "ovs":
        extra += f"ovs_use_veth = true\novs_db = {lab.db}\n"
    svc = Service(root, SPEC, host=f"tq-host-{lab.driver}", extra_conf=extra,
                  interface_driver=lab.driver,
                  bridge_mappings=f"{PHYSNET_A}:{BRIDGE_A},{PHYSNET_B}:{BRIDGE_B}")
    try:
        svc.start()
        yield svc
    finally:
        try:
            svc.stop()
        finally:
            _cleanup_service(svc)
            if os.environ.get("LBAAS_E2E_KEEP_LOG"):
                shutil.copy(svc.log, os.environ["LBAAS_E2E_KEEP_LOG"])
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def api(service: Service) -> LabApi:
    return LabApi(service.url)
