"""Fixtures of the high-availability tests: two lbaas hosts on one kernel
(tests/helpers/multihost.py, prefix ``th``, addresses 10.98.64.0/18), one server, a
client and a backend on the wire. Torn down even when a test fails."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.multihost import MultiHostLab

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.skip("high-availability tests need root and haproxy", allow_module_level=True)


@contextmanager
def running_lab(root_prefix: str = "lbaas-ha-", **options: Any) -> Iterator[MultiHostLab]:
    """A MultiHostLab built and started (``options``: its fields), torn down at the end
    even when a test fails; its logs kept under $LBAAS_HA_KEEP_LOGS when that is set."""
    root = Path(tempfile.mkdtemp(prefix=root_prefix))
    lab = MultiHostLab(root, **options)
    try:
        lab.build()
        lab.start()
        yield lab
    finally:
        try:
            lab.teardown()
        finally:
            if os.environ.get("LBAAS_HA_KEEP_LOGS"):
                shutil.copytree(root, os.environ["LBAAS_HA_KEEP_LOGS"], dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("sock", "*.sqlite*", "*.fifo"))
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def lab() -> Iterator[MultiHostLab]:
    """A fresh lab per test: a test kills and partitions hosts."""
    with running_lab() as built:
        yield built


class Tenant:
    """v1 calls on the lab's server."""

    def __init__(self, lab: MultiHostLab) -> None:
        self.lab = lab
        self.http = httpx.Client(base_url=lab.server_url + "/v2.0", timeout=30)
        net = self.post("networks", {"network": {"name": "ha",
                                                 "provider:physical_network": "default",
                                                 "provider:network_type": "flat"}})
        self.subnet = self.post("subnets", {"subnet": {"network_id": net["id"],
                                                       **lab.tenant_subnet()}})

    def post(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(f"/{collection}", json=body)
        assert r.status_code == 201, r.text
        return dict(next(iter(r.json().values())))

    def create_lb(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A v1 pool with one member (the backend) and a VIP; returns (pool, vip)."""
        pool = self.post("lb/pools", {"pool": {"subnet_id": self.subnet["id"],
                                               "protocol": "HTTP",
                                               "lb_method": "ROUND_ROBIN"}})
        self.post("lb/members", {"member": {"pool_id": pool["id"], "protocol_port": 80,
                                            "address": self.lab.backend_ip}})
        vip = self.post("lb/vips", {"vip": {"pool_id": pool["id"], "protocol": "HTTP",
                                            "protocol_port": 80,
                                            "subnet_id": self.subnet["id"]}})
        return pool, vip

    def host_of(self, pool_id: str) -> str | None:
        r = self.http.get(f"/lb/pools/{pool_id}/loadbalancer-agent")
        agent = r.json().get("agent")
        return agent["host"] if agent else None

    def agent_id(self, host: str) -> str:
        r = self.http.get("/agents", params={"host": host})
        return str(r.json()["agents"][0]["id"])


@pytest.fixture
def tenant(lab: MultiHostLab) -> Iterator[Tenant]:
    t = Tenant(lab)
    yield t
    t.http.close()
