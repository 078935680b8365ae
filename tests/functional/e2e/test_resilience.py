"""The data plane outlives its control plane: HAProxy restarted when it dies, load
balancers kept (and adopted, not reloaded) across agent restarts, orphans removed."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections import Counter

from tests.functional.e2e.conftest import (
    BACKENDS,
    SPLIT_VIPS,
    Api,
    Service,
    SplitService,
    Tenant,
    client_get,
    wait_until,
)


def test_killed_haproxy_is_restarted_with_member_states(tenant: Tenant,
                                                         service: Service) -> None:
    lb = tenant.create_lb(monitor={"type": "TCP", "delay": 1, "timeout": 1,
                                   "max_retries": 1})
    tenant.api.wait(f"/lb/members/{lb.members['b1']}", "member", "ACTIVE")
    pid = wait_until(lambda: service.haproxy_pids().get(lb.pool_id), timeout=10)

    os.kill(pid, signal.SIGKILL)

    new_pid = wait_until(lambda: (service.haproxy_pids().get(lb.pool_id) or pid) != pid
                         and service.haproxy_pids()[lb.pool_id], timeout=10,
                         message="HAProxy restarted")
    assert new_pid != pid
    assert Counter(client_get(lb.url, 9)) == {"b1": 3, "b2": 3, "b3": 3}
    for member_id in lb.members.values():
        assert tenant.api.get(f"/lb/members/{member_id}")["member"]["status"] == "ACTIVE"


def test_agent_restart_adopts_instances_and_applies_changes_made_meanwhile(
        split_service: SplitService) -> None:
    api = Api(split_service.url)
    # This service has its own database: its VIPs come from another part of the subnet.
    tenant = Tenant(api, split_service, pool_range=SPLIT_VIPS)
    try:
        lb1 = tenant.create_lb(backends=("b1", "b2"))
        lb2 = tenant.create_lb(backends=("b1",))
        pids = split_service.haproxy_pids()

        split_service.stop(signal.SIGKILL)
        # Load balancers keep serving with no agent, and the API takes changes.
        assert set(client_get(lb1.url, 4)) == {"b1", "b2"}
        new_member = api.post("/lb/members", {"member": {
            "pool_id": lb2.pool_id, "address": BACKENDS["b3"],
            "protocol_port": 80}})["member"]
        split_service.start()

        api.wait(f"/lb/members/{new_member['id']}", "member", "ACTIVE")
        assert set(client_get(lb2.url, 4)) == {"b1", "b3"}
        assert split_service.haproxy_pids()[lb1.pool_id] == pids[lb1.pool_id], \
            "an unchanged load balancer was restarted by the agent restart"
    finally:
        tenant.cleanup()


def test_orphan_namespace_is_removed_when_the_agent_starts(service: Service) -> None:
    orphan = str(uuid.uuid4())
    ns = f"qlbaas-{orphan}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    (service.state / orphan).mkdir(parents=True, exist_ok=True)
    try:
        service.stop()
        service.start()

        wait_until(lambda: ns not in subprocess.run(["ip", "netns", "list"],
                                                    capture_output=True,
                                                    text=True).stdout,
                   timeout=20, message=f"{ns} removed")
        assert not (service.state / orphan).exists()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_request_id_follows_the_change_into_the_agents_log(
        split_service: SplitService) -> None:
    """One grep of the request id a client got finds the server's access line and the
    agent's lines for the same change (the agent is another process, fed by HTTP)."""
    api = Api(split_service.url)
    tenant = Tenant(api, split_service, pool_range=SPLIT_VIPS)
    try:
        lb = tenant.create_lb(backends=("b1",))
        member_id = lb.members["b1"]
        asked = f"req-{uuid.uuid4()}"
        resp = api.http.put(f"/lb/members/{member_id}", json={"member": {"weight": 7}},
                            headers={"x-openstack-request-id": asked})
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-openstack-request-id"] == asked
        api.wait(f"/lb/members/{member_id}", "member", "ACTIVE")

        def lines() -> list[str]:
            return [ln for ln in split_service.log.read_text(errors="replace").splitlines()
                    if f"[{asked}]" in ln]
        wait_until(lambda: any(" lbaas.agent" in ln for ln in lines()), timeout=10,
                   message="an agent line under the request's id")
        assert any(" lbaas.access " in ln and "PUT /v2.0/lb/members/" in ln
                   for ln in lines()), lines()
        # The agent's confirmation reached the server under the same id.
        assert any(" lbaas.access " in ln and "/agent/" in ln for ln in lines()), lines()
    finally:
        tenant.cleanup()
