"""``GET /metrics``: Prometheus' text format, valid by ``promtool check metrics``, with
the traffic that really went through the server: API requests by route template (no
ids in labels), objects by status, agents, and the load balancers' stored traffic
totals as an agent reported them (never backwards across a new HAProxy epoch)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.builders import FakeAgent, make_member, make_network, make_subnet, make_vip
from tests.api.builders import make_pool as make_v1_pool
from tests.api.conftest import ServerFactory
from tests.api.test_octavia import TREE, Octavia
from tests.helpers.server import Api, ServerProcess

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[str, Samples]:
    resp = httpx.get(url + "/metrics", timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return resp.text, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def matching(samples: Samples, name: str, **labels: str) -> dict[frozenset[Any], float]:
    want = set(labels.items())
    return {lab: v for (n, lab), v in samples.items() if n == name and want <= lab}


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: make setup installs it (Debian: prometheus)"
    done = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_requests_are_counted_by_route_template_never_by_id(api: Api,
                                                            server: ServerProcess) -> None:
    missing = "0b4d3a1e-0000-4000-8000-000000000000"
    route = "/v2.0/lb/pools/{obj_id}"
    _, before = scrape(server.url)
    count = value(before, "lbaas_api_requests_total", route=route, method="GET",
                  status="404") or 0
    for _ in range(3):
        assert api.get(f"/lb/pools/{missing}").status_code == 404
    assert api.get("/no/such/thing").status_code == 404
    # A method of the client's invention is "other": callers can't add series at will.
    assert api.request("BREW", f"/lb/pools/{missing}").status_code == 405
    text, after = scrape(server.url)
    assert value(after, "lbaas_api_requests_total", route=route, method="GET",
                 status="404") == count + 3
    assert (value(after, "lbaas_api_requests_total", route="unmatched", method="GET",
                  status="404") or 0) >= 1
    assert value(after, "lbaas_api_request_duration_seconds_count", route=route,
                 method="GET") >= count + 3
    assert (value(after, "lbaas_api_requests_total", route=route, method="other",
                  status="405") or 0) >= 1
    assert missing not in text and "/no/such/thing" not in text and "BREW" not in text
    promtool_check(text)


def test_v2_traffic_totals_and_member_status_as_reported(api: Api, server: ServerProcess,
                                                         physnet: str) -> None:
    agent = FakeAgent(api, [physnet]).register()
    net = make_network(api, **{"provider:physical_network": physnet})
    octavia = Octavia(api, agent, make_subnet(api, net["id"], cidr="10.60.0.0/24"))
    lb = octavia.active_lb(**TREE)
    lb_id, listener_id = lb["id"], lb["listeners"][0]["id"]
    pool = octavia.show("pool", lb["pools"][0]["id"])
    first, second = (m["id"] for m in pool["members"])

    def report(epoch: str, bytes_in: int, total: int, errors: int) -> None:
        resp = octavia.api.post(f"/agent/v1/pools/{lb_id}/stats", {
            "host": octavia.agent.host, "stats": {
                "epoch": epoch, "members": {first: {"status": "ACTIVE"},
                                            second: {"status": "INACTIVE"}},
                "listeners": {listener_id: {
                    "bytes_in": bytes_in, "bytes_out": 2 * bytes_in,
                    "active_connections": 3, "total_connections": total,
                    "request_errors": errors}}}})
        assert resp.status_code in (200, 204), resp.text

    report("e1", 1000, 10, 1)
    text, first_scrape = scrape(server.url)
    promtool_check(text)
    labels = {"project_id": octavia.api.project or "", "loadbalancer_id": lb_id,
              "listener_id": listener_id}
    assert value(first_scrape, "octavia_listener_bytes_in_total", **labels) == 1000
    assert value(first_scrape, "octavia_listener_bytes_out_total", **labels) == 2000
    assert value(first_scrape, "octavia_listener_sessions_total", **labels) == 10
    assert value(first_scrape, "octavia_listener_current_sessions", **labels) == 3
    assert value(first_scrape, "octavia_listener_request_errors_total", **labels) == 1
    lb_labels = {k: labels[k] for k in ("project_id", "loadbalancer_id")}
    assert value(first_scrape, "lbaas_loadbalancer_bytes_in_total", **lb_labels) == 1000
    assert value(first_scrape, "octavia_loadbalancer_connections_total", **lb_labels) == 10
    member = {**lb_labels, "pool_id": pool["id"]}
    assert value(first_scrape, "octavia_member_status", **member, member_id=first) == 1
    assert value(first_scrape, "octavia_member_status", **member, member_id=second) == 0

    # HAProxy reloaded: its counters restart from zero under a new epoch; the stored
    # totals, and so the counters, go on from where they were.
    report("e2", 300, 4, 0)
    _, second_scrape = scrape(server.url)
    for name, want in (("octavia_listener_bytes_in_total", 1300),
                       ("octavia_listener_bytes_out_total", 2600),
                       ("octavia_listener_sessions_total", 14),
                       ("octavia_listener_request_errors_total", 1)):
        assert value(second_scrape, name, **labels) == want, name
        assert value(second_scrape, name, **labels) >= value(first_scrape, name, **labels)

    objects = matching(second_scrape, "lbaas_objects", type="member", api_version="v2")
    assert sum(objects.values()) >= 2
    assert any(("operating_status", "ERROR") in lab for lab in objects)


def test_v1_pool_traffic_objects_and_agents(api: Api, server: ServerProcess,
                                           physnet: str) -> None:
    agent = FakeAgent(api, [physnet]).register()
    net = make_network(api, **{"provider:physical_network": physnet})
    subnet = make_subnet(api, net["id"], cidr="10.61.0.0/24")
    pool = make_v1_pool(api, subnet["id"])
    make_member(api, pool["id"], address="10.61.0.20")
    vip = make_vip(api, pool)
    agent.stats(pool["id"], epoch="p1", bytes_in=500, bytes_out=700,
                active_connections=2, total_connections=9)
    agent.stats(pool["id"], epoch="p2", bytes_in=5, bytes_out=7, total_connections=1)
    _, samples = scrape(server.url)
    labels = {"project_id": api.project or "", "loadbalancer_id": pool["id"],
              "listener_id": vip["id"]}
    assert value(samples, "octavia_listener_bytes_in_total", **labels) == 505
    assert value(samples, "octavia_listener_bytes_out_total", **labels) == 707
    assert value(samples, "octavia_listener_sessions_total", **labels) == 10
    assert value(samples, "lbaas_agent_up", host=agent.host) == 1
    assert value(samples, "lbaas_agent_loadbalancers", host=agent.host) == 1
    v1_lbs = matching(samples, "lbaas_objects", type="loadbalancer", api_version="v1")
    assert sum(v1_lbs.values()) >= 1
    assert value(samples, "lbaas_agent_longpolls_waiting") is not None


def test_longpoll_waiters_are_counted_while_they_wait(api: Api, server: ServerProcess,
                                                      agent: FakeAgent) -> None:
    import threading

    revision = agent.events(0, 0)["revision"]
    done = threading.Event()

    def wait() -> None:
        agent.events(revision, 3)
        done.set()

    thread = threading.Thread(target=wait)
    thread.start()
    try:
        seen = 0.0
        for _ in range(20):
            seen = value(scrape(server.url)[1], "lbaas_agent_longpolls_waiting") or 0
            if seen >= 1 or done.is_set():
                break
            done.wait(0.1)
        assert seen >= 1
    finally:
        thread.join(10)


def test_metrics_are_public_and_can_be_turned_off(backend: str,
                                                  server_factory: ServerFactory) -> None:
    srv = server_factory(backend, auth_strategy="token", tokens=[("t", "p", "member")])
    try:
        assert httpx.get(srv.url + "/v2.0/lb/pools", timeout=30).status_code == 401
        text, _ = scrape(srv.url)
        assert "lbaas_objects" in text and "process_resident_memory_bytes" in text
    finally:
        srv.cleanup()
    off = server_factory(backend, conf={"DEFAULT": {"metrics_enabled": "false"}})
    try:
        assert httpx.get(off.url + "/metrics", timeout=30).status_code == 404
    finally:
        off.cleanup()


def test_traffic_totals_survive_a_server_restart(backend: str,
                                                 server_factory: ServerFactory) -> None:
    srv = server_factory(backend)
    try:
        api = Api(srv.url, project="metrics-restart")
        agent = FakeAgent(api, ["physnet-restart"]).register()
        net = make_network(api, **{"provider:physical_network": "physnet-restart"})
        pool = make_v1_pool(api, make_subnet(api, net["id"], cidr="10.62.0.0/24")["id"])
        vip = make_vip(api, pool)
        agent.stats(pool["id"], epoch="r1", bytes_in=4096, total_connections=7)
        labels = {"project_id": "metrics-restart", "loadbalancer_id": pool["id"],
                  "listener_id": vip["id"]}
        srv.restart()
        _, samples = scrape(srv.url)
        # Not a process' counter: the stored total, whichever process answers.
        assert value(samples, "octavia_listener_bytes_in_total", **labels) == 4096
        assert value(samples, "octavia_listener_sessions_total", **labels) == 7
        api.close()
    finally:
        srv.cleanup()


def test_http_responses_and_check_failures_never_go_backwards(api: Api, server: ServerProcess,
                                                              physnet: str) -> None:
    """An agent's report with HTTP responses by class (per listener and per pool) and
    member check counters; HAProxy reloads (a new epoch) and the counters go on. The
    stats bodies of both APIs keep their exact fields."""
    agent = FakeAgent(api, [physnet]).register()
    net = make_network(api, **{"provider:physical_network": physnet})
    octavia = Octavia(api, agent, make_subnet(api, net["id"], cidr="10.62.0.0/24"))
    lb = octavia.active_lb(**TREE)
    lb_id, listener_id = lb["id"], lb["listeners"][0]["id"]
    pool = octavia.show("pool", lb["pools"][0]["id"])
    first, second = (m["id"] for m in pool["members"])

    def report(epoch: str, ok: int, missing: int, failed: int, fails: int) -> None:
        responses = {"hrsp_2xx": ok, "hrsp_4xx": missing, "hrsp_5xx": failed}
        resp = octavia.api.post(f"/agent/v1/pools/{lb_id}/stats", {
            "host": octavia.agent.host, "stats": {
                "epoch": epoch, **responses,
                "members": {first: {"status": "ACTIVE"}, second: {"status": "INACTIVE"}},
                "member_counters": {first: {"check_failures": 0, "check_up_down": 0},
                                    second: {"check_failures": fails,
                                             "check_up_down": 1}},
                "listeners": {listener_id: {"total_connections": ok + missing + failed,
                                            **responses}},
                "pools": {pool["id"]: {"hrsp_2xx": ok, "hrsp_4xx": missing,
                                       "hrsp_5xx": failed - 1}}}})
        assert resp.status_code in (200, 204), resp.text

    report("e1", 10, 3, 2, 2)
    report("e1", 12, 3, 4, 3)  # the same process, later: the differences are added
    text, first_scrape = scrape(server.url)
    promtool_check(text)
    project = octavia.api.project or ""
    listener = {"project_id": project, "loadbalancer_id": lb_id, "listener_id": listener_id}
    responses = "octavia_listener_http_responses_total"
    assert {code: value(first_scrape, responses, **listener, code=code)
            for code in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")} == \
        {"1xx": 0, "2xx": 12, "3xx": 0, "4xx": 3, "5xx": 4, "other": 0}
    pool_labels = {"project_id": project, "loadbalancer_id": lb_id, "pool_id": pool["id"]}
    assert value(first_scrape, "octavia_pool_http_responses_total", **pool_labels,
                 code="5xx") == 3
    member = {**pool_labels, "member_id": second}
    assert value(first_scrape, "octavia_member_check_failures_total", **member) == 3
    assert value(first_scrape, "octavia_member_check_up_down_total", **member) == 1
    assert value(first_scrape, "octavia_member_status", **member) == 0
    assert value(first_scrape, "octavia_member_check_failures_total", **pool_labels,
                 member_id=first) == 0

    # A reload: HAProxy's counters restart from zero under a new epoch.
    report("e2", 1, 0, 1, 1)
    text, second_scrape = scrape(server.url)
    promtool_check(text)
    assert value(second_scrape, responses, **listener, code="2xx") == 13
    assert value(second_scrape, responses, **listener, code="5xx") == 5
    assert value(second_scrape, "octavia_pool_http_responses_total", **pool_labels,
                 code="5xx") == 3
    assert value(second_scrape, "octavia_member_check_failures_total", **member) == 4
    assert value(second_scrape, "octavia_member_check_up_down_total", **member) == 2

    # Octavia's stats bodies are as they were: no new fields.
    for path in (f"/v2/lbaas/listeners/{listener_id}/stats",
                 f"/v2/lbaas/loadbalancers/{lb_id}/stats"):
        body = octavia.api.get(path).json()
        assert set(body) == {"stats"}
        assert set(body["stats"]) == {"bytes_in", "bytes_out", "active_connections",
                                      "total_connections", "request_errors"}


def test_v1_http_responses_by_class_and_an_old_agents_report(api: Api, server: ServerProcess,
                                                            physnet: str) -> None:
    agent = FakeAgent(api, [physnet]).register()
    net = make_network(api, **{"provider:physical_network": physnet})
    subnet = make_subnet(api, net["id"], cidr="10.63.0.0/24")
    pool = make_v1_pool(api, subnet["id"])
    member = make_member(api, pool["id"], address="10.63.0.20")
    vip = make_vip(api, pool)
    # An agent from before these counters: its report has none of them.
    agent.stats(pool["id"], epoch="p1", bytes_in=10, total_connections=1)
    resp = api.post(f"/agent/v1/pools/{pool['id']}/stats", {"host": agent.host, "stats": {
        "epoch": "p1", "bytes_in": 20, "total_connections": 3, "hrsp_2xx": 2,
        "hrsp_4xx": 1, "pools": {pool["id"]: {"hrsp_2xx": 2}},
        "member_counters": {member["id"]: {"check_failures": 5, "check_up_down": 1}}}})
    assert resp.status_code in (200, 204), resp.text
    text, samples = scrape(server.url)
    promtool_check(text)
    labels = {"project_id": api.project or "", "loadbalancer_id": pool["id"]}
    listener = {**labels, "listener_id": vip["id"]}
    assert value(samples, "octavia_listener_http_responses_total", **listener,
                 code="2xx") == 2
    assert value(samples, "octavia_listener_http_responses_total", **listener,
                 code="4xx") == 1
    assert value(samples, "octavia_listener_sessions_total", **listener) == 3
    assert value(samples, "octavia_pool_http_responses_total", **labels,
                 pool_id=pool["id"], code="2xx") == 2
    assert value(samples, "octavia_member_check_failures_total", **labels,
                 pool_id=pool["id"], member_id=member["id"]) == 5
    # Neutron's stats body is as it was.
    body = api.get(f"/lb/pools/{pool['id']}/stats").json()
    assert body == {"stats": {"bytes_in": 20, "bytes_out": 0, "active_connections": 0,
                              "total_connections": 3}}
