"""End-to-end fixtures: the lab network of tests/helpers/netlab.py (prefix ``te``,
10.93.0.0/16) with ``lbaas all-in-one`` on it, and a tenant that builds load balancers
through the REST API. Everything is torn down when the package's tests end, even when
they fail: the service, every HAProxy it started, every namespace and link.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import netlab
from tests.helpers.netlab import LabApi as Api
from tests.helpers.netlab import Service, SplitService, Topology, netns, wait_until

SPEC = netlab.LabSpec(prefix="te", net="10.93")
BACKENDS = SPEC.backend_ips
GW_NS, CLIENT_NS = SPEC.gw_ns, SPEC.client_ns
MAIN_VIPS = ("10.93.1.0", "10.93.63.255")
SPLIT_VIPS = ("10.93.64.0", "10.93.127.254")

__all__ = ["BACKENDS", "GW_NS", "CLIENT_NS", "Service", "SplitService", "Topology", "netns",
           "wait_until", "client_get", "start_load", "load_result"]

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.skip("end-to-end tests need root and haproxy", allow_module_level=True)


def client_get(url: str, n: int = 1, ns: str | None = None, cookie_jar: bool = False,
               timeout: float = 5.0) -> list[str]:
    return netlab.client_get(SPEC, url, n, ns, cookie_jar, timeout)


def start_load(url: str, seconds: float, rate: float) -> Any:
    return netlab.start_load(SPEC, url, seconds, rate)


load_result = netlab.load_result


@pytest.fixture(scope="package")
def topology() -> Iterator[Topology]:
    topo = Topology(SPEC)
    try:
        yield topo.build()
    finally:
        topo.teardown()


def _service_fixture(cls: type[Service], topology: Topology, prefix: str,
                     host: str) -> Iterator[Service]:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    svc = cls(root, SPEC, host=host)
    try:
        svc.start()
        yield svc
    finally:
        try:
            svc.stop()
            if isinstance(svc, SplitService):
                svc.stop_server()
        finally:
            svc.cleanup_data_plane()
            if os.environ.get("LBAAS_E2E_KEEP_LOG"):
                shutil.copy(svc.log, os.environ["LBAAS_E2E_KEEP_LOG"])
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def service(topology: Topology) -> Iterator[Service]:
    yield from _service_fixture(Service, topology, "lbaas-e2e-", "te-host")


@pytest.fixture
def split_service(topology: Topology) -> Iterator[SplitService]:
    for svc in _service_fixture(SplitService, topology, "lbaas-e2e-split-", "te-host2"):
        assert isinstance(svc, SplitService)
        yield svc


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
                 pool_range: tuple[str, str] = MAIN_VIPS) -> None:
        self.api = api
        self.service = service
        self.pool_range = pool_range
        self.network = api.post("/networks", {"network": {"name": "te-net"}})["network"]
        self.subnets: list[dict[str, Any]] = []
        self.subnet = self.add_subnet(SPEC.tenant_cidr)
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


