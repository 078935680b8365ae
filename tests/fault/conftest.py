"""Fault-test fixtures: the lab network of tests/helpers/netlab.py (prefix ``tf``,
10.97.0.0/16) with ``lbaas-server`` + ``lbaas-agent`` on it as two processes, so the
agent can be killed while the API keeps taking changes, and a tenant that builds load
balancers through the REST API.

The agent finds ``haproxy`` through a PATH that starts with a wrapper of ours: it runs
the real HAProxy untouched, except while a test has created the *trigger file*; then
``haproxy -c`` is handed a candidate whose ``balance`` line names an algorithm HAProxy
does not know. That is the one test-only path into the data plane: a config the real
HAProxy rejects, with its own reason, without a line of test code in lbaas/.

Everything is removed when the package's tests end, even when they fail: the service,
every HAProxy it started (by PID), every namespace, link and file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import netlab
from tests.helpers.netlab import LabApi as Api
from tests.helpers.netlab import SplitService, Topology, sh

SPEC = netlab.LabSpec(prefix="tf", net="10.97")
BACKENDS = SPEC.backend_ips
REAL_HAPROXY = shutil.which("haproxy")


WRAPPER = """#!/bin/sh
# Test-only HAProxy (tests/fault/conftest.py): the real one, except that while
# {trigger} exists the config given to `haproxy -c` gets an unknown balance algorithm.
if [ "$1" = "-c" ] && [ -e {trigger} ]; then
    sed -i 's/^\\( *balance\\) .*/\\1 no-such-algorithm/' "$3"
fi
exec {real} "$@"
"""


class FaultService(SplitService):
    """SplitService whose processes find the wrapper above as ``haproxy``."""

    def __init__(self, root: Path, spec: netlab.LabSpec, host: str,
                 extra_conf: str = "") -> None:
        super().__init__(root, spec, host=host, extra_conf=extra_conf)
        self.bin = root / "bin"
        self.bin.mkdir()
        self.trigger = root / "reject-configs"
        wrapper = self.bin / "haproxy"
        wrapper.write_text(WRAPPER.format(trigger=self.trigger, real=REAL_HAPROXY))
        wrapper.chmod(0o755)

    def _spawn(self, module: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ.get('PATH', '')}"}
        with open(self.log, "ab") as log:
            return subprocess.Popen([netlab.PY, "-m", module, "--config-file", str(self.conf)],
                                    cwd=netlab.REPO, stdout=log, stderr=subprocess.STDOUT,
                                    env=env)


@pytest.fixture(scope="package")
def topology() -> Iterator[Topology]:
    # The server-only tests (crash of the server, fuzzing) run without root.
    if os.geteuid() != 0 or REAL_HAPROXY is None:
        pytest.skip("fault tests with a data plane need root and haproxy")
    topo = Topology(SPEC)
    try:
        yield topo.build()
    finally:
        topo.teardown()
    # Checked, not assumed: the package's teardown left nothing of the lab.
    left = [ns for ns in _namespaces() if ns.startswith(f"{SPEC.prefix}-")]
    left += [link for link in _links() if link.startswith(SPEC.prefix)]
    assert not left, f"fault tests left {left} behind"


@pytest.fixture(scope="package")
def service(topology: Topology) -> Iterator[FaultService]:
    root = Path(tempfile.mkdtemp(prefix="lbaas-fault-"))
    svc = FaultService(root, SPEC, host="tf-host",
                       extra_conf="[quotas]\nquota_pool = -1\nquota_vip = -1\n")
    try:
        svc.start()
        yield svc
    finally:
        try:
            svc.stop()
            svc.stop_server()
        finally:
            pools = ({d.name for d in svc.state.iterdir()} if svc.state.is_dir() else set())
            svc.cleanup_data_plane()
            if os.environ.get("LBAAS_FAULT_KEEP_LOG"):
                shutil.copy(svc.log, os.environ["LBAAS_FAULT_KEEP_LOG"])
            shutil.rmtree(root, ignore_errors=True)
    left = [ns for ns in _namespaces() if ns.startswith("qlbaas-") and ns[7:] in pools]
    left += [" ".join(argv) for _, argv in _processes() if any(str(root) in a for a in argv)]
    assert not left, f"the fault tests' service left {left} behind"


def _namespaces() -> list[str]:
    return [line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines()
            if line.strip()]


def _links() -> list[str]:
    return [line.split(":")[1].strip().split("@")[0]
            for line in sh("ip", "-o", "link", "show").stdout.splitlines()]


def _processes() -> Iterator[tuple[int, list[str]]]:
    """Every process's pid and argv (those that vanish while we look are skipped)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if argv:
                yield int(proc.name), argv.rstrip("\0").split("\0")


@dataclass
class LoadBalancer:
    pool_id: str
    vip_id: str | None = None
    address: str = ""
    port: int = 80
    members: dict[str, str] | None = None  # backend name → member id

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"


class Tenant:
    """A network, a subnet and load balancers, all deleted at the end of the test."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.network = api.post("/networks", {"network": {"name": "tf-net"}})["network"]
        self.subnet = api.post("/subnets", {"subnet": {
            "network_id": self.network["id"], "cidr": SPEC.tenant_cidr,
            "gateway_ip": SPEC.tenant_gw,
            "allocation_pools": [{"start": SPEC.vip_range[0], "end": SPEC.vip_range[1]}],
        }})["subnet"]
        self.lbs: list[LoadBalancer] = []
        self.monitors: list[str] = []

    def create_pool(self, backends: tuple[str, ...] = ("b1", "b2", "b3"),
                    monitor: dict[str, Any] | None = None, **pool: Any) -> LoadBalancer:
        p = self.api.post("/lb/pools", {"pool": {
            "name": "tf-pool", "subnet_id": self.subnet["id"], "protocol": "HTTP",
            "lb_method": "ROUND_ROBIN", **pool}})["pool"]
        lb = LoadBalancer(p["id"], members={})
        self.lbs.append(lb)
        for name in backends:
            assert lb.members is not None
            lb.members[name] = self.api.post("/lb/members", {"member": {
                "pool_id": p["id"], "address": BACKENDS[name],
                "protocol_port": 80}})["member"]["id"]
        if monitor:
            hm = self.api.post("/lb/health_monitors", {"health_monitor": monitor})
            self.monitors.append(hm["health_monitor"]["id"])
            self.api.post(f"/lb/pools/{p['id']}/health_monitors",
                          {"health_monitor": {"id": hm["health_monitor"]["id"]}})
        return lb

    def create_vip(self, lb: LoadBalancer, wait: bool = True, **vip: Any) -> LoadBalancer:
        v = self.api.post("/lb/vips", {"vip": {
            "name": "tf-vip", "subnet_id": self.subnet["id"], "protocol": "HTTP",
            "protocol_port": 80, "pool_id": lb.pool_id, **vip}})["vip"]
        lb.vip_id, lb.address, lb.port = v["id"], v["address"], v["protocol_port"]
        if wait:
            self.api.wait(f"/lb/vips/{v['id']}", "vip", "ACTIVE")
        return lb

    def create_lb(self, **kw: Any) -> LoadBalancer:
        vip = kw.pop("vip", {})
        return self.create_vip(self.create_pool(**kw), **vip)

    def delete_lb(self, lb: LoadBalancer) -> None:
        http = self.api.http
        if lb.vip_id:
            http.delete(f"/lb/vips/{lb.vip_id}")
            self.api.wait(f"/lb/vips/{lb.vip_id}", "vip", "GONE", timeout=60)
        r = http.get(f"/lb/pools/{lb.pool_id}")
        if r.status_code == 200:
            for hm_id in r.json()["pool"]["health_monitors"]:
                http.delete(f"/lb/pools/{lb.pool_id}/health_monitors/{hm_id}")
        http.delete(f"/lb/pools/{lb.pool_id}")
        self.api.wait(f"/lb/pools/{lb.pool_id}", "pool", "GONE", timeout=60)
        self.lbs.remove(lb)

    def cleanup(self) -> None:
        http = self.api.http
        # VIPs first, all at once: the agent undeploys them in parallel.
        for lb in self.lbs:
            if lb.vip_id:
                http.delete(f"/lb/vips/{lb.vip_id}")
        for lb in list(self.lbs):
            try:
                self.delete_lb(lb)
            except (AssertionError, httpx.HTTPError):
                pass
        for hm_id in self.monitors:
            for _ in range(50):
                if http.delete(f"/lb/health_monitors/{hm_id}").status_code != 409:
                    break
                time.sleep(0.2)
        http.delete(f"/subnets/{self.subnet['id']}")
        http.delete(f"/networks/{self.network['id']}")


@pytest.fixture
def api(service: FaultService) -> Api:
    return Api(service.url)


@pytest.fixture
def tenant(api: Api) -> Iterator[Tenant]:
    t = Tenant(api)
    try:
        yield t
    finally:
        t.cleanup()


def client_get(url: str, n: int = 1, timeout: float = 5.0) -> list[str]:
    return netlab.client_get(SPEC, url, n, timeout=timeout)


def start_load(url: str, seconds: float, rate: float) -> subprocess.Popen[str]:
    return netlab.start_load(SPEC, url, seconds, rate)


def data_plane(service: FaultService, pool_ids: set[str]) -> dict[str, Any]:
    """What the host has for the pools in ``pool_ids`` (every pool this test ever
    made): their namespaces, the state directories and HAProxy processes of our
    agent, and the VIP devices on the lab's bridge."""
    namespaces = set(_namespaces())
    state_dirs = ({d.name for d in service.state.iterdir() if d.is_dir()}
                  if service.state.is_dir() else set())
    haproxies: dict[str, list[int]] = {}
    for pid, argv in _processes():
        if argv[0].endswith("haproxy"):
            for arg in argv:
                if arg.startswith(str(service.state) + "/") and arg.endswith("/conf"):
                    haproxies.setdefault(Path(arg).parent.name, []).append(pid)
    bridge_ports = {line.split(":")[1].strip().split("@")[0]
                    for line in sh("ip", "-o", "link", "show", "master",
                                   SPEC.bridge).stdout.splitlines()}
    return {
        "namespaces": {ns[len("qlbaas-"):] for ns in namespaces
                       if ns.startswith("qlbaas-") and ns[len("qlbaas-"):] in pool_ids},
        "state_dirs": state_dirs,
        "haproxies": haproxies,
        "bridge_ports": bridge_ports,
    }


LAB_BRIDGE_PORTS = {f"{SPEC.prefix}-gw0", *(f"{SPEC.prefix}-{b}h" for b in BACKENDS)}
