"""The agent's own metrics: what its manager counts (deploys by kind and result with
their durations, undeploys, HAProxy restarts, failures, instances) against the fake
driver, and ``/metrics`` served over HTTP on ``metrics_bind`` until stopped."""

from __future__ import annotations

import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lbaas.agent.metrics import AgentMetrics, MetricsServer, parse_bind


def sample(metrics: AgentMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_deploys_reloads_rejections_restarts_and_undeploys_are_counted(
        make_manager, rpc, driver, device, deploy_error):
    rpc.devices = {"p1": device("p1"), "p2": device("p2"), "bad": device("bad")}
    manager = make_manager()
    metrics = manager.metrics

    manager.refresh_device("p1")
    manager.refresh_device("p1")  # the same pool again: a reload of its HAProxy
    manager.refresh_device("p2")

    def reject() -> None:
        raise deploy_error("[ALERT] parsing: unknown keyword")

    driver.deploy_hooks["bad"] = reject
    manager.refresh_device("bad")

    assert sample(metrics, "lbaas_agent_deploys_total", kind="create",
                  result="deployed") == 2
    assert sample(metrics, "lbaas_agent_deploys_total", kind="reload",
                  result="deployed") == 1
    assert sample(metrics, "lbaas_agent_deploys_total", kind="create",
                  result="rejected") == 1
    assert sample(metrics, "lbaas_agent_deploy_duration_seconds_count", kind="create") == 3
    assert sample(metrics, "lbaas_agent_failures_total", operation="deploy") == 1

    driver.dead = {"p2"}
    manager.collect_stats()
    assert sample(metrics, "lbaas_agent_haproxy_restarts_total") == 1
    assert sample(metrics, "lbaas_agent_instances") == 2

    del rpc.devices["p1"]  # deleted on the server: the agent removes it
    manager.refresh_device("p1")
    assert sample(metrics, "lbaas_agent_undeploys_total") == 1
    # After a liveness check the agent knows its instances: p2 is a reload.
    manager.refresh_device("p2")
    assert sample(metrics, "lbaas_agent_deploys_total", kind="reload",
                  result="deployed") == 2


@pytest.mark.parametrize("value, expected", [("127.0.0.1:9101", ("127.0.0.1", 9101)),
                                             ("[::1]:9101", ("::1", 9101))])
def test_metrics_bind_is_host_and_port(value, expected):
    assert parse_bind(value) == expected


@pytest.mark.parametrize("value", ["9101", "127.0.0.1", "127.0.0.1:x", ":9101",
                                   "127.0.0.1:70000"])
def test_a_bad_metrics_bind_is_refused(value):
    with pytest.raises(ValueError, match="metrics_bind"):
        parse_bind(value)


def test_metrics_are_served_over_http_until_stopped():
    metrics = AgentMetrics()
    metrics.deployed("create", "deployed", 0.3)
    metrics.restarts.inc()
    server = MetricsServer("127.0.0.1:0", metrics.registry)
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        resp = httpx.get(url, timeout=10)
        assert resp.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(resp.text)}
        deploys = {(s.labels["kind"], s.labels["result"]): s.value
                   for s in families["lbaas_agent_deploys"].samples
                   if s.name == "lbaas_agent_deploys_total"}
        assert deploys[("create", "deployed")] == 1
        assert deploys[("reload", "failed")] == 0
        assert families["lbaas_agent_haproxy_restarts"].samples[0].value == 1
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)
    # Nothing listens on the port any more (SO_REUSEADDR: the closed connection's
    # TIME_WAIT does not count; a listening socket still would).
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", server.port))
