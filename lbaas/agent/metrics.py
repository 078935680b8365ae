"""The agent's own Prometheus metrics, served at ``http://<metrics_bind>/metrics`` when
``metrics_bind`` is set (docs/operations.md, "Metrics").

What only the agent sees: how its deploys go (how many, how long, which failed) and the
HAProxy processes it had to restart. Counted in this process, so they restart at zero
with the agent, as Prometheus counters may; the traffic itself is the server's
``/metrics`` (the totals it stores never go backwards).
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

# create: a load balancer new on this host (namespace, VIP, first HAProxy);
# reload: a change to one that runs here (a new HAProxy process takes over the sockets).
KINDS = ("create", "reload")
# deployed; not_served: applied, but nothing may serve (v1: no VIP, admin down...);
# rejected: HAProxy refused the configuration (the old one keeps serving);
# failed: anything else went wrong (the refresh is retried).
RESULTS = ("deployed", "not_served", "rejected", "failed")
OPERATIONS = ("deploy", "undeploy", "restart", "stats")

_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # The process' own (memory, CPU, open files; Python's GC and version), as the
        # default registry would have them.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.deploys = Counter(
            "lbaas_agent_deploys", "Deploys of a load balancer's configuration, by kind "
            "and result.", ["kind", "result"], registry=self.registry)
        self.deploy_seconds = Histogram(
            "lbaas_agent_deploy_duration_seconds", "Time a deploy took, by kind.",
            ["kind"], buckets=_BUCKETS, registry=self.registry)
        self.undeploys = Counter(
            "lbaas_agent_undeploys", "Load balancers removed from this host.",
            registry=self.registry)
        self.failures = Counter(
            "lbaas_agent_failures", "Operations that failed, by operation (deploy: "
            "rejected or failed; undeploy; restart: a dead HAProxy that could not be "
            "started again; stats: HAProxy's counters could not be read).",
            ["operation"], registry=self.registry)
        self.restarts = Counter(
            "lbaas_agent_haproxy_restarts", "HAProxy processes found dead and started "
            "again by the liveness check.", registry=self.registry)
        self.instances = Gauge(
            "lbaas_agent_instances", "Load balancer instances on this host (at the last "
            "liveness check).", registry=self.registry)
        # Every label combination from the start: a rate() over a series that appears
        # only at its first event misses that event.
        for kind in KINDS:
            self.deploy_seconds.labels(kind)
            for result in RESULTS:
                self.deploys.labels(kind, result)
        for operation in OPERATIONS:
            self.failures.labels(operation)

    def deployed(self, kind: str, result: str, seconds: float) -> None:
        self.deploys.labels(kind, result).inc()
        self.deploy_seconds.labels(kind).observe(seconds)
        if result in ("rejected", "failed"):
            self.failures.labels("deploy").inc()


def parse_bind(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6addr]:port`` → (host, port); ValueError naming the value."""
    host, sep, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"metrics_bind {value!r} is not host:port")
    return host, int(port)


class MetricsServer:
    """``/metrics`` over HTTP on a daemon thread; :meth:`stop` closes the socket."""

    def __init__(self, bind: str, registry: CollectorRegistry) -> None:
        host, port = parse_bind(bind)
        self._server: Any
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
