"""A configuration HAProxy rejects leaves the old one serving.

No tenant input reaches HAProxy unvalidated (test_config_injection.py), so the rejection
is forced through the one test-only path, at the HAProxy binary (conftest.py's wrapper):
while the trigger file exists, the candidate config that the agent checks with
``haproxy -c`` gets a ``balance`` algorithm HAProxy does not know, and the real HAProxy
refuses it with its own message. The VIP port cannot be changed and there is one VIP per
pool, so a port taken inside the namespace is not reachable from the API: a listener
bound there is never asked for by a new config.

What a tenant sees: the change is taken (200), the VIP goes ERROR with HAProxy's reason
in ``status_description``, and the load balancer keeps serving the old configuration —
not one failed request — until a later good change makes it ACTIVE again."""

from __future__ import annotations

from collections import Counter

from tests.fault.conftest import (
    BACKENDS,
    Api,
    FaultService,
    Tenant,
    client_get,
    start_load,
)
from tests.helpers.netlab import load_result, wait_until


def test_rejected_config_keeps_the_old_one_serving(
        tenant: Tenant, api: Api, service: FaultService) -> None:
    lb = tenant.create_lb(backends=("b1", "b2"))
    conf = service.state / lb.pool_id / "conf"
    pid = service.haproxy_pids()[lb.pool_id]
    old_conf = conf.read_text()
    load = start_load(lb.url, seconds=8, rate=20)
    try:
        service.trigger.touch()
        # A new member needs a reload (a new server line): the candidate is checked.
        b3 = api.post("/lb/members", {"member": {
            "pool_id": lb.pool_id, "address": BACKENDS["b3"], "protocol_port": 80}})
        vip = api.wait(f"/lb/vips/{lb.vip_id}", "vip", "ERROR", timeout=20)
        # HAProxy's own words about the line it refused, with the file named as HAProxy
        # sees it (not the agent's state path).
        assert "balance only supports" in vip["status_description"], vip
        assert str(service.state) not in vip["status_description"]
        assert conf.read_text() == old_conf
        assert service.haproxy_pids()[lb.pool_id] == pid
        assert set(client_get(lb.url, 6)) == {"b1", "b2"}
    finally:
        service.trigger.unlink(missing_ok=True)
        result = load_result(load)
    assert result["requests"] > 50, result
    assert result["failed"] == 0, result

    # The next change, with a config HAProxy takes, applies everything.
    api.put(f"/lb/members/{b3['member']['id']}", {"member": {"weight": 2}})
    api.wait(f"/lb/vips/{lb.vip_id}", "vip", "ACTIVE", timeout=20)
    bodies = wait_until(lambda: (c := Counter(client_get(lb.url, 8))) and "b3" in c and c,
                        timeout=10, message="b3 served")
    assert set(bodies) == {"b1", "b2", "b3"}
