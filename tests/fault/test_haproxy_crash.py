"""HAProxy killed by SIGKILL: the agent's periodic check brings it back within
``periodic_interval`` (1 s here; a generous margin for this noisy machine), and the
members' health under the monitor is the same after as before (a stopped backend stays
INACTIVE, the others ACTIVE), not a fresh "everything up" or "everything down"."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

from tests.fault.conftest import Api, FaultService, Tenant, client_get
from tests.helpers.netlab import Topology, wait_until

PERIODIC_INTERVAL = 1.0
MARGIN = 9.0


def _member_statuses(api: Api, members: dict[str, str]) -> dict[str, str]:
    return {name: api.get(f"/lb/members/{mid}")["member"]["status"]
            for name, mid in members.items()}


def test_killed_haproxy_comes_back_with_member_states(
        tenant: Tenant, api: Api, service: FaultService, topology: Topology) -> None:
    lb = tenant.create_lb(monitor={"type": "HTTP", "delay": 1, "timeout": 1,
                                   "max_retries": 1, "url_path": "/health"})
    assert lb.members is not None
    want = {"b1": "ACTIVE", "b2": "INACTIVE", "b3": "ACTIVE"}
    topology.stop_backend("b2")
    try:
        wait_until(lambda: _member_statuses(api, lb.members or {}) == want, timeout=20,
                   message=f"member states {want}")
        assert Counter(client_get(lb.url, 4)) == {"b1": 2, "b3": 2}
        pid = service.haproxy_pids()[lb.pool_id]

        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()

        # Member statuses as the API shows them, every moment until a few periods
        # after the restart: a restarted HAProxy must not report the dead backend up.
        seen: list[dict[str, str]] = []
        new_pid = None
        deadline = killed + PERIODIC_INTERVAL + MARGIN
        while new_pid is None and time.monotonic() < deadline:
            p = service.haproxy_pids().get(lb.pool_id)
            new_pid = p if p and p != pid else None
            seen.append(_member_statuses(api, lb.members))
        assert new_pid is not None, "HAProxy not restarted within periodic_interval + margin"
        back_after = time.monotonic() - killed
        # Serving again, and still not sending anything to the dead backend.
        # (Sets, not counts: a request the new process sends to b2 before its first
        # check is retried on another server, which shifts the round robin.)
        assert set(client_get(lb.url, 6)) == {"b1", "b3"}, back_after
        settle = time.monotonic() + 3 * PERIODIC_INTERVAL
        while time.monotonic() < settle:
            seen.append(_member_statuses(api, lb.members))
            time.sleep(0.1)
        assert service.haproxy_pids()[lb.pool_id] == new_pid
        assert _member_statuses(api, lb.members) == want
        # Not for a moment ACTIVE: a new HAProxy says UP for every server until its
        # first check has run, and that is no verdict on the member.
        flaps = [s for s in seen if s != want]
        assert not flaps, (f"member states flapped after the restart: {flaps[:3]} "
                           f"({len(flaps)} of {len(seen)} samples)")
    finally:
        topology.start_backend("b2")
    wait_until(lambda: _member_statuses(api, lb.members or {})["b2"] == "ACTIVE",
               timeout=20, message="b2 ACTIVE again once it answers")
