"""An agent restarted while it cannot reach any server, with its load balancers still
on the host: the server moves them after agent_down_time, so the agent stops serving
them first: it counts from the last heartbeat answered before its restart, as the
server does (docs/ha.md, "An agent that starts without a server"). Prefix ``tr``,
10.98.110.0/24."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.ha.conftest import Tenant
from tests.helpers.multihost import MultiHostLab, wait_serving
from tests.helpers.netlab import wait_until


@pytest.fixture
def rlab() -> Iterator[MultiHostLab]:
    root = Path(tempfile.mkdtemp(prefix="lbaas-ha-tr-"))
    lab = MultiHostLab(root, prefix="tr", subnet24="10.98.110")
    try:
        lab.build()
        lab.start()
        yield lab
    finally:
        try:
            lab.teardown()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def test_agent_restarted_without_a_server_stops_serving_what_it_found(
        rlab: MultiHostLab) -> None:
    tenant = Tenant(rlab)
    try:
        pool, vip = tenant.create_lb()
        url = f"http://{vip['address']}/"
        wait_serving(rlab, url, timeout=30)
        bound = wait_until(lambda: tenant.host_of(pool["id"]), timeout=10, message="bound")
        first, second = rlab.agents.values()
        victim, survivor = (first, second) if bound == first.host else (second, first)

        # The agent dies and comes back cut off from the server; its HAProxy served on.
        victim.kill_agent()
        victim.cut_mgmt()
        victim.start_agent()
        started = time.monotonic()
        assert victim.namespaces() == [victim.ns_prefix + pool["id"]]

        # agent_down_time 4 s, report_interval 1 s: 4 - 1.5 = 2.5 s after the last
        # heartbeat answered before the restart (kept in its state path), before the
        # server moves the load balancer (4 s after that heartbeat, and its pass).
        wait_until(lambda: victim.namespaces() == [], timeout=20,
                   message="the restarted agent removing its instance")
        print(f"removed {time.monotonic() - started:.1f} s after the restart")
        assert "stopped serving 1 load balancer" in victim.log.read_text(errors="replace")
        # Meanwhile the server moved it: served from the other host only.
        wait_serving(rlab, url, timeout=20)
        assert tenant.host_of(pool["id"]) == survivor.host

        # The server is back: nothing returns to the host it left.
        victim.cut_mgmt(up=True)
        rlab.wait_alive(victim)
        time.sleep(3)
        assert victim.namespaces() == []
        assert tenant.host_of(pool["id"]) == survivor.host
    finally:
        tenant.http.close()
