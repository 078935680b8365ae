"""The agent killed with SIGKILL in the middle of thirty creates (and three deletes made
while it is dead): once restarted, it converges (reconcile, don't replay), and leaves
nothing behind that no pool owns."""

from __future__ import annotations

import signal
import threading
import time

from tests.fault.conftest import (
    LAB_BRIDGE_PORTS,
    Api,
    FaultService,
    LoadBalancer,
    Tenant,
    client_get,
    data_plane,
)
from tests.helpers.netlab import wait_until

N = 30


def _statuses(api: Api, lbs: list[LoadBalancer]) -> dict[str, str]:
    ours = {lb.vip_id for lb in lbs}
    return {v["id"]: v["status"] for v in api.get("/lb/vips")["vips"] if v["id"] in ours}


def test_agent_killed_during_creates_converges_without_orphans(
        tenant: Tenant, api: Api, service: FaultService) -> None:
    pools = [tenant.create_pool(backends=("b1", "b2")) for _ in range(N)]
    created: list[LoadBalancer] = []
    errors: list[BaseException] = []

    def create_vips() -> None:
        try:
            for lb in pools:
                created.append(tenant.create_vip(lb, wait=False))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    creator = threading.Thread(target=create_vips)
    creator.start()
    try:
        # Kill it once it has deployed some: others are then mid-deploy or not started.
        wait_until(lambda: list(_statuses(api, created).values()).count("ACTIVE") >= 5,
                   timeout=60, interval=0.05, message="five load balancers ACTIVE")
        service.stop(signal.SIGKILL)
        killed_at = _statuses(api, created)
    finally:
        creator.join(60)
    assert not errors, errors
    assert len(created) == N
    # The API took every create with the agent dead.
    assert "ACTIVE" in killed_at.values()
    # Three that were serving are deleted while no agent runs: the restarted agent must
    # take their namespaces, devices and HAProxys away (the orphans v1 left).
    deleted = [lb for lb in created if killed_at.get(lb.vip_id or "") == "ACTIVE"][:3]
    assert len(deleted) == 3
    for lb in deleted:
        api.call("DELETE", f"/lb/vips/{lb.vip_id}", want=204)

    service.start()

    for lb in deleted:
        api.wait(f"/lb/vips/{lb.vip_id}", "vip", "GONE", timeout=60)
        lb.vip_id = None
    remaining = [lb for lb in created if lb not in deleted]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        statuses = _statuses(api, remaining)
        if set(statuses.values()) == {"ACTIVE"} and len(statuses) == len(remaining):
            break
        time.sleep(0.5)
    assert set(statuses.values()) == {"ACTIVE"}, (killed_at, statuses, service.log_tail())
    for lb in remaining:
        assert set(client_get(lb.url, 2)) <= {"b1", "b2"}, lb

    # Exactly one namespace, state directory, HAProxy process and bridge port per pool
    # with a VIP (the whole server's: other tests' pools share this agent).
    served = {v["pool_id"] for v in api.get("/lb/vips")["vips"]}
    vip_devices = {"tap" + v["port_id"][:11] for v in api.get("/lb/vips")["vips"]}
    all_pools = {p["id"] for p in api.get("/lb/pools")["pools"]} | {lb.pool_id for lb in pools}
    plane = wait_until(lambda: (p := data_plane(service, all_pools))
                       and all(len(v) == 1 for v in p["haproxies"].values()) and p,
                       timeout=20, message="one HAProxy per pool")
    assert plane["namespaces"] == served
    assert plane["state_dirs"] == served
    assert set(plane["haproxies"]) == served
    assert plane["bridge_ports"] == LAB_BRIDGE_PORTS | vip_devices

