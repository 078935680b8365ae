"""End-to-end fixtures for the OVS interface driver: a private Open vSwitch in userspace
mode (this host has no OVS kernel module, and no 802.1Q for Linux bridges: vlan networks
can only be tested through OVS here), one bridge ``tobr0`` standing for the tenant
network, backends and clients as namespaces on OVS ports, and ``lbaas all-in-one`` with
``interface_driver = ovs`` pointed at the private switch through ``ovs_db``.

Private range: namespaces ``to-…``, links ``to…``, bridge ``tobr0``, 10.94.0.0/16::

    flat network (untagged)       10.94.0.0/24  f1 f2 f3 .11-.13, client fcl .200
    vlan 101 (provider vlan)      10.94.1.0/24  v1 v2 .11 .12,    client vcl .200
    vlan 102 (another tenant)     10.94.1.13    x1: same subnet, other VLAN, unreachable

Everything (service, HAProxys, namespaces, veths, OVS ports and bridge, both OVS
daemons, temp files) is removed when the package's tests end, even when they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lbaas.agent.linux import ip_lib, ovs_lib
from tests.functional.e2e.conftest import Api
from tests.functional.linux.topology import PrivateOVS
from tests.helpers import netlab
from tests.helpers.netlab import PY, Service, netns, sh, wait_until

__all__ = ["Api", "Service", "netns", "wait_until"]

if os.geteuid() != 0 or not all(shutil.which(tool) for tool in
                                ("haproxy", "ovs-vswitchd", "ovsdb-server", "ethtool")):
    pytest.skip("OVS end-to-end tests need root, haproxy, openvswitch and ethtool",
                allow_module_level=True)

SPEC = netlab.LabSpec(prefix="to", net="10.94")
BRIDGE = SPEC.bridge  # tobr0
VLAN_PHYSNET = "tovlan"
VLAN_ID, OTHER_VLAN_ID = 101, 102
FLAT_CIDR, VLAN_CIDR = "10.94.0.0/24", "10.94.1.0/24"
FLAT_VIPS = ("10.94.0.100", "10.94.0.149")
VLAN_VIPS = ("10.94.1.100", "10.94.1.149")

# name → (address, OVS tag); the name is the namespace suffix, the OVS port's suffix
# and what the host's web server answers.
BACKENDS: dict[str, tuple[str, int | None]] = {
    "f1": ("10.94.0.11", None), "f2": ("10.94.0.12", None), "f3": ("10.94.0.13", None),
    "v1": ("10.94.1.11", VLAN_ID), "v2": ("10.94.1.12", VLAN_ID),
    "x1": ("10.94.1.13", OTHER_VLAN_ID),
}
CLIENTS: dict[str, tuple[str, int | None]] = {
    "fcl": ("10.94.0.200", None), "vcl": ("10.94.1.200", VLAN_ID),
}


def ns_name(host: str) -> str:
    return f"to-{host}"


def client_get(client: str, url: str, n: int = 1, timeout: float = 5.0) -> list[str]:
    return netlab.client_get(SPEC, url, n, ns=ns_name(client), timeout=timeout)


@dataclass
class OvsLab:
    """The private switch and the hosts on it; ``teardown`` removes what ``build`` made,
    by name and PID, including whatever part a failed ``build`` got to."""

    root: Path
    ovs: PrivateOVS
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    bridge_made: bool = False

    @property
    def db(self) -> str:
        return self.ovs.db

    def build(self) -> OvsLab:
        self.ovs.start()
        ovs_lib.ensure_bridge(BRIDGE, self.db, datapath_type="netdev")
        self.bridge_made = True
        for name, (address, tag) in {**BACKENDS, **CLIENTS}.items():
            self._host(name, address, tag)
        for name, (address, _tag) in BACKENDS.items():
            self.start_backend(name, address)
        return self

    def _host(self, name: str, address: str, tag: int | None) -> None:
        ns, outer = ns_name(name), f"to{name}"
        # A previous run killed before its teardown may have left these names behind;
        # they are ours (our prefix), so start clean rather than fail.
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", outer, check=False)
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self.links.append(outer)
        sh("ip", "link", "set", outer, "up")
        ovs_lib.add_port(BRIDGE, outer, db=self.db, tag=tag)
        netns(ns, "ip", "link", "set", "lo", "up")
        netns(ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        netns(ns, "ip", "link", "set", "eth0", "up")
        # The userspace datapath does not fill in checksums the kernel left to the NIC:
        # without this, TCP through the bridge stalls.
        netns(ns, "ethtool", "-K", "eth0", "tx", "off")

    def start_backend(self, name: str, address: str, port: int = 80) -> None:
        ns = ns_name(name)
        self.processes[name] = subprocess.Popen(
            ["ip", "netns", "exec", ns, PY, str(netlab.HELPERS / "backend.py"), name,
             address, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: netns(ns, "ss", "-ltnH", f"sport = :{port}").stdout.strip(),
                   timeout=10, interval=0.05, message=f"backend {name} listening")

    def teardown(self) -> None:
        try:
            for proc in self.processes.values():
                proc.kill()
                proc.wait(10)
            self.processes.clear()
            for ns in reversed(self.namespaces):
                sh("ip", "netns", "del", ns, check=False)
            self.namespaces.clear()
            for link in self.links:
                sh("ip", "link", "del", link, check=False)
            self.links.clear()
            if self.bridge_made:
                # The private switch only holds our hosts' ports and the VIP ports of
                # our service: a VIP veth the agent did not unplug goes too.
                for port in ovs_lib.list_ports(BRIDGE, self.db):
                    ip_lib.delete_device(port)
                ovs_lib.delete_bridge(BRIDGE, self.db)
                self.bridge_made = False
        finally:
            # Signal both daemons before waiting for either, so an interrupted wait
            # (a test timeout) cannot leave the second one running.
            for pid in self.ovs.pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            self.ovs.stop()


@pytest.fixture(scope="package")
def lab() -> Iterator[OvsLab]:
    # Unix socket paths are limited to 108 bytes: a short directory under /tmp.
    root = Path(tempfile.mkdtemp(prefix="toovs-", dir="/tmp"))
    lab = OvsLab(root, PrivateOVS(root))
    try:
        yield lab.build()
    finally:
        try:
            lab.teardown()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def service(lab: OvsLab) -> Iterator[Service]:
    root = Path(tempfile.mkdtemp(prefix="to-lbaas-"))
    extra = (f"ovs_use_veth = true\novs_db = {lab.db}\n"
             "[quotas]\nquota_pool = -1\nquota_vip = -1\n")
    svc = Service(root, SPEC, host="to-host", extra_conf=extra, interface_driver="ovs",
                  bridge_mappings=f"default:{BRIDGE},{VLAN_PHYSNET}:{BRIDGE}")
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


@dataclass
class LoadBalancer:
    pool_id: str
    vip_id: str
    port_id: str
    address: str
    members: dict[str, str]  # backend name → member id

    @property
    def url(self) -> str:
        return f"http://{self.address}/"


class Tenant:
    """A tenant network (flat, or vlan with a segmentation id) with one subnet, and load
    balancers built on it through the REST API; ``cleanup`` deletes what it made."""

    def __init__(self, api: Api, cidr: str, vips: tuple[str, str],
                 **provider: Any) -> None:
        self.api = api
        self.network = api.post("/networks", {"network": {"name": "to-net",
                                                          **provider}})["network"]
        self.subnet = api.post("/subnets", {"subnet": {
            "network_id": self.network["id"], "cidr": cidr,
            "allocation_pools": [{"start": vips[0], "end": vips[1]}]}})["subnet"]
        self.lbs: list[LoadBalancer] = []
        self.monitors: list[str] = []

    def create_lb(self, backends: tuple[str, ...],
                  monitor: dict[str, Any] | None = None) -> LoadBalancer:
        pool = self.api.post("/lb/pools", {"pool": {
            "name": "to-pool", "subnet_id": self.subnet["id"], "protocol": "HTTP",
            "lb_method": "ROUND_ROBIN"}})["pool"]
        members = {name: self.api.post("/lb/members", {"member": {
            "pool_id": pool["id"], "address": BACKENDS[name][0],
            "protocol_port": 80}})["member"]["id"] for name in backends}
        if monitor:
            hm = self.api.post("/lb/health_monitors", {"health_monitor": monitor})
            self.monitors.append(hm["health_monitor"]["id"])
            self.api.post(f"/lb/pools/{pool['id']}/health_monitors",
                          {"health_monitor": {"id": hm["health_monitor"]["id"]}})
        vip = self.api.post("/lb/vips", {"vip": {
            "name": "to-vip", "subnet_id": self.subnet["id"], "protocol": "HTTP",
            "protocol_port": 80, "pool_id": pool["id"]}})["vip"]
        lb = LoadBalancer(pool["id"], vip["id"], vip["port_id"], vip["address"], members)
        self.lbs.append(lb)
        self.api.wait(f"/lb/vips/{vip['id']}", "vip", "ACTIVE")
        return lb

    def delete_vip(self, lb: LoadBalancer) -> None:
        self.api.delete(f"/lb/vips/{lb.vip_id}")
        self.api.wait(f"/lb/vips/{lb.vip_id}", "vip", "GONE")

    def cleanup(self) -> None:
        """Best effort: the service's own teardown removes its data plane anyway."""
        http = self.api.http
        for lb in self.lbs:
            http.delete(f"/lb/vips/{lb.vip_id}")
            pool = http.get(f"/lb/pools/{lb.pool_id}")
            if pool.status_code == 200:
                for hm_id in pool.json()["pool"]["health_monitors"]:
                    http.delete(f"/lb/pools/{lb.pool_id}/health_monitors/{hm_id}")
            http.delete(f"/lb/pools/{lb.pool_id}")
        for hm_id in self.monitors:
            for _ in range(50):
                if http.delete(f"/lb/health_monitors/{hm_id}").status_code != 409:
                    break
                time.sleep(0.2)
        http.delete(f"/subnets/{self.subnet['id']}")
        http.delete(f"/networks/{self.network['id']}")


@pytest.fixture(scope="package")
def api(service: Service) -> Api:
    return Api(service.url)


@pytest.fixture(scope="package")
def flat_tenant(api: Api) -> Iterator[Tenant]:
    tenant = Tenant(api, FLAT_CIDR, FLAT_VIPS)
    try:
        yield tenant
    finally:
        tenant.cleanup()


@pytest.fixture(scope="package")
def vlan_tenant(api: Api) -> Iterator[Tenant]:
    tenant = Tenant(api, VLAN_CIDR, VLAN_VIPS, **{
        "provider:network_type": "vlan", "provider:physical_network": VLAN_PHYSNET,
        "provider:segmentation_id": VLAN_ID})
    try:
        yield tenant
    finally:
        tenant.cleanup()


@pytest.fixture(scope="package")
def vlan_lb(vlan_tenant: Tenant) -> LoadBalancer:
    """v1 and v2 on the network's VLAN, x1 on another VLAN: its member can never be
    reached, and the TCP monitor must say so."""
    return vlan_tenant.create_lb(("v1", "v2", "x1"), monitor={
        "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1})


def vip_device(lb: LoadBalancer) -> str:
    """The VIP's OVS port: the interface driver names it from the port id."""
    return "tap" + lb.port_id[:11]
