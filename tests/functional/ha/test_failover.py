"""A host dies, comes back, is cut off from the servers, is drained: what the tenant's
client on the wire sees, and what is left on each host (docs/architecture.md, "High
availability"). Two agents, each in its own host namespace, one server."""

from __future__ import annotations

import time

from tests.functional.ha.conftest import Tenant
from tests.helpers.multihost import Host, MultiHostLab, wait_serving
from tests.helpers.netlab import wait_until


def _hosts(lab: MultiHostLab, tenant: Tenant, pool_id: str) -> tuple[Host, Host]:
    """(the host serving the pool, the other one)."""
    bound = wait_until(lambda: tenant.host_of(pool_id), timeout=10, message="binding")
    first, second = lab.agents.values()
    return (first, second) if bound == first.host else (second, first)


def test_dead_hosts_vip_serves_again_from_the_other_host(lab: MultiHostLab,
                                                         tenant: Tenant) -> None:
    pool, vip = tenant.create_lb()
    url = f"http://{vip['address']}/"
    wait_serving(lab, url, timeout=30)
    victim, survivor = _hosts(lab, tenant, pool["id"])
    assert [ns.removeprefix(victim.ns_prefix) for ns in victim.namespaces()] == [pool["id"]]

    victim.kill()
    # Detection (agent_down_time 4 s, a pass every second), the move, the new host's
    # plug with gratuitous ARPs: within the goal of 15 s (the default timings are in
    # docs/architecture.md).
    took = wait_serving(lab, url, timeout=15)
    assert tenant.host_of(pool["id"]) == survivor.host
    assert [ns.removeprefix(survivor.ns_prefix) for ns in survivor.namespaces()] == \
        [pool["id"]]
    print(f"served again {took:.1f} s after the host died")


def test_returning_host_removes_what_moved_before_it_announces_anything(
        lab: MultiHostLab, tenant: Tenant) -> None:
    pool, vip = tenant.create_lb()
    url = f"http://{vip['address']}/"
    wait_serving(lab, url, timeout=30)
    victim, survivor = _hosts(lab, tenant, pool["id"])
    victim.kill()
    wait_serving(lab, url, timeout=15)
    # The dead host's namespace with the VIP's address is still there, as after a
    # crash; its HAProxy is dead.
    assert victim.namespaces() == [victim.ns_prefix + pool["id"]]

    # It comes back: its agent starts (the wire still cut, to look before it matters).
    victim.cut_mgmt(up=True)
    victim.start_agent()
    record = lab.wait_alive(victim)
    # By the time the server has its first heartbeat, the moved VIP is gone from it.
    assert victim.namespaces() == [], record
    victim.cut_wire(up=True)
    time.sleep(3)  # its periodic liveness checks run (they would restart a HAProxy)
    assert victim.namespaces() == []
    assert tenant.host_of(pool["id"]) == survivor.host
    assert lab.client_get(url, 5) == ["b1"] * 5
    log = victim.log.read_text(errors="replace")
    assert f"fencing: load balancer {pool['id']} is not bound to {victim.host}" in log


def test_partitioned_host_stops_serving_before_its_vip_moves(lab: MultiHostLab,
                                                             tenant: Tenant) -> None:
    pool, vip = tenant.create_lb()
    url = f"http://{vip['address']}/"
    wait_serving(lab, url, timeout=30)
    cut_off, survivor = _hosts(lab, tenant, pool["id"])
    old_ns, new_ns = cut_off.ns_prefix + pool["id"], survivor.ns_prefix + pool["id"]

    # The servers cannot reach it any more, the tenants still can.
    cut_off.cut_mgmt()
    started = time.monotonic()
    seen: list[tuple[float, bool, bool]] = []

    def moved_and_serving() -> bool:
        old, new = old_ns in cut_off.namespaces(), new_ns in survivor.namespaces()
        seen.append((time.monotonic() - started, old, new))
        return not old and new

    wait_until(moved_and_serving, timeout=20, interval=0.05, message="the move")
    # Never both at once: the cut-off host had let go before the other one plugged.
    assert not any(old and new for _, old, new in seen), seen
    gone_at = next(t for t, old, _ in seen if not old)
    assert gone_at < lab.agent_down_time, seen
    wait_serving(lab, url, timeout=10)
    assert tenant.host_of(pool["id"]) == survivor.host

    # Back in touch: it redeploys nothing that moved.
    cut_off.cut_mgmt(up=True)
    lab.wait_alive(cut_off)
    time.sleep(3)
    assert cut_off.namespaces() == []
    assert lab.client_get(url, 5) == ["b1"] * 5


def test_admin_down_agent_is_drained_to_the_other_host(lab: MultiHostLab,
                                                       tenant: Tenant) -> None:
    pool, vip = tenant.create_lb()
    url = f"http://{vip['address']}/"
    wait_serving(lab, url, timeout=30)
    drained, other = _hosts(lab, tenant, pool["id"])
    r = tenant.http.put(f"/agents/{tenant.agent_id(drained.host)}",
                        json={"agent": {"admin_state_up": False}})
    assert r.status_code == 200, r.text
    wait_until(lambda: tenant.host_of(pool["id"]) == other.host, timeout=10,
               message="the drain")
    wait_until(lambda: drained.namespaces() == [], timeout=15,
               message="the drained host letting go")
    wait_serving(lab, url, timeout=10)
    assert other.namespaces() == [other.ns_prefix + pool["id"]]
    r = tenant.http.get(f"/agents/{tenant.agent_id(other.host)}/loadbalancer-pools")
    assert [p["id"] for p in r.json()["pools"]] == [pool["id"]]
