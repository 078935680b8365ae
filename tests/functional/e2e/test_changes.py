"""Changes to a live load balancer: no dropped connection, no reload where the runtime API
can do it, and a monitor for each protocol."""

from __future__ import annotations

import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from tests.functional.e2e.conftest import (
    BACKENDS,
    Tenant,
    Topology,
    client_get,
    load_result,
    start_load,
    wait_until,
)


def _haproxy_pid(tenant: Tenant, pool_id: str) -> int:
    return wait_until(lambda: tenant.service.haproxy_pids().get(pool_id), timeout=10,
                      message="HAProxy pid file")


def test_member_add_and_delete_change_the_traffic(tenant: Tenant) -> None:
    lb = tenant.create_lb(backends=("b1", "b2"))
    assert set(client_get(lb.url, 6)) == {"b1", "b2"}

    m3 = tenant.api.post("/lb/members", {"member": {
        "pool_id": lb.pool_id, "address": BACKENDS["b3"], "protocol_port": 80}})["member"]
    tenant.api.wait(f"/lb/members/{m3['id']}", "member", "ACTIVE")
    assert set(client_get(lb.url, 6)) == {"b1", "b2", "b3"}

    tenant.api.delete(f"/lb/members/{lb.members['b1']}")
    tenant.api.wait(f"/lb/members/{lb.members['b1']}", "member", "GONE")
    assert set(client_get(lb.url, 6)) == {"b2", "b3"}


def test_weight_changes_apply_without_a_reload(tenant: Tenant) -> None:
    lb = tenant.create_lb()
    pid = _haproxy_pid(tenant, lb.pool_id)

    tenant.api.put(f"/lb/members/{lb.members['b1']}", {"member": {"weight": 0}})
    tenant.api.wait(f"/lb/members/{lb.members['b1']}", "member", "ACTIVE")
    assert Counter(client_get(lb.url, 10)) == {"b2": 5, "b3": 5}

    tenant.api.put(f"/lb/members/{lb.members['b2']}", {"member": {"weight": 3}})
    tenant.api.put(f"/lb/members/{lb.members['b1']}", {"member": {"weight": 1}})
    tenant.api.wait(f"/lb/members/{lb.members['b1']}", "member", "ACTIVE")
    tenant.api.wait(f"/lb/members/{lb.members['b2']}", "member", "ACTIVE")
    counts = Counter(client_get(lb.url, 25))
    assert counts["b2"] == 15 and counts["b1"] == 5 and counts["b3"] == 5, counts

    tenant.api.put(f"/lb/members/{lb.members['b3']}", {"member": {"admin_state_up": False}})
    tenant.api.wait(f"/lb/members/{lb.members['b3']}", "member", "ACTIVE")
    assert "b3" not in client_get(lb.url, 8)

    assert tenant.service.haproxy_pids()[lb.pool_id] == pid, "HAProxy was reloaded"


def test_no_failed_request_while_the_pool_changes_20_times(tenant: Tenant) -> None:
    lb = tenant.create_lb(backends=("b1", "b2"))
    load = start_load(lb.url, seconds=25, rate=40)
    extra = None
    try:
        for i in range(20):
            if i % 2 == 0:
                extra = tenant.api.post("/lb/members", {"member": {
                    "pool_id": lb.pool_id, "address": BACKENDS["b3"],
                    "protocol_port": 80}})["member"]["id"]
                tenant.api.wait(f"/lb/members/{extra}", "member", "ACTIVE")
            else:
                assert extra is not None
                tenant.api.delete(f"/lb/members/{extra}")
                tenant.api.wait(f"/lb/members/{extra}", "member", "GONE")
    finally:
        result = load_result(load)

    assert result["requests"] > 200
    assert result["failed"] == 0, result["errors"]


def test_http_monitor_with_expected_codes(tenant: Tenant, topology: Topology) -> None:
    topology.start_backend("b2", 80, env={"HEALTH_CODE": "500"})
    try:
        lb = tenant.create_lb(monitor={"type": "HTTP", "delay": 1, "timeout": 1,
                                       "max_retries": 1, "url_path": "/health",
                                       "expected_codes": "200-204"})
        tenant.api.wait(f"/lb/members/{lb.members['b2']}", "member", "INACTIVE")
        tenant.api.wait(f"/lb/members/{lb.members['b1']}", "member", "ACTIVE")
        assert "b2" not in client_get(lb.url, 6)

        hm_id = tenant.monitors[-1]
        tenant.api.put(f"/lb/health_monitors/{hm_id}",
                       {"health_monitor": {"expected_codes": "200,500"}})
        tenant.api.wait(f"/lb/members/{lb.members['b2']}", "member", "ACTIVE")
    finally:
        topology.start_backend("b2")


def test_https_monitor_sends_the_http_check_over_tls(tenant: Tenant,
                                                    topology: Topology) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-subj", "/CN=backend", "-days", "1", "-keyout", str(key),
                        "-out", str(cert)], check=True, capture_output=True)
        topology.start_backend("b1", 443, "--tls", str(cert), str(key))
        topology.start_backend("b2", 443, "--tls", str(cert), str(key),
                               env={"HEALTH_CODE": "503"})
        try:
            lb = tenant.create_lb(protocol="HTTPS", backends=("b1", "b2"), port=443,
                                  member_port=443,
                                  monitor={"type": "HTTPS", "delay": 1, "timeout": 1,
                                           "max_retries": 1, "url_path": "/health"})
            # b2 answers TLS but its HTTP check says 503: only a real HTTP check over
            # TLS tells the two apart.
            tenant.api.wait(f"/lb/members/{lb.members['b1']}", "member", "ACTIVE")
            tenant.api.wait(f"/lb/members/{lb.members['b2']}", "member", "INACTIVE")
        finally:
            topology.stop_backend("b1", 443)
            topology.stop_backend("b2", 443)


def test_tcp_monitor_marks_a_closed_port_inactive(tenant: Tenant) -> None:
    lb = tenant.create_lb(protocol="TCP", backends=("b1",), member_port=8081,
                          monitor={"type": "TCP", "delay": 1, "timeout": 1,
                                   "max_retries": 1})
    tenant.api.wait(f"/lb/members/{lb.members['b1']}", "member", "INACTIVE")
