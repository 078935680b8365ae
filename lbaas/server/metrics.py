"""``GET /metrics``: the server's Prometheus metrics (docs/operations.md, "Metrics").

Two kinds, in one registry per application:

* **API traffic**, counted in this process by :class:`RequestLog`'s hook: requests by
  route template (``/v2.0/lb/pools/{pool_id}``, never the raw path: an id in a label
  would make a new time series per object), method and status, and their latency.
  These restart at zero with the process, as Prometheus counters may.
* **State**, read from the database at scrape time by :class:`DatabaseCollector`:
  objects by type and status, agents, and the traffic totals the agents reported. The
  totals are the stored ones, which the server accumulates across HAProxy restarts
  (``record_stats``): they never go backwards, whichever server process is scraped and
  however often the server restarted. A scrape costs a few ``GROUP BY`` queries and
  one row per listener and member; nothing is kept between scrapes.

Listener and load balancer traffic carry Octavia's names (its amphora's Prometheus
listener, ``octavia_listener_*``, ``octavia_loadbalancer_*``, ``octavia_member_status``)
so that dashboards made for Octavia read them; everything else is ``lbaas_*``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from lbaas.common import constants as c
from lbaas.server.db import models as m
from lbaas.server.db.session import Database

# The route label of a request that matched no route (a 404 on an unknown path): the
# path itself would let any caller make new time series.
UNMATCHED = "unmatched"

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# HAProxy's hrsp_* counters and the code label Octavia's (HAProxy's) exporter gives them.
HRSP_KEYS = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
HTTP_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")

# octavia_member_status's values, as Octavia's Prometheus proxy defines them.
MEMBER_STATUS = {c.ONLINE: 1, c.NO_MONITOR: 1, c.OFFLINE: 2, c.DRAINING: 3}

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's full path template (``/v2.0/lb/pools/{pool_id}``);
    :data:`UNMATCHED` for none.

    The router leaves the matched route in the scope, but an included router's route
    knows only its own part (``/lb/pools/{pool_id}``; Octavia's routers are included
    under two prefixes). The prefix is the path's text before the part the route
    matches: routers are included under fixed prefixes, never under ids."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str) or not template:
        return UNMATCHED
    regex = getattr(route, "path_regex", None)
    path = scope.get("path", "")
    if regex is None or regex.match(path):
        return template
    start = path.find("/", 1)
    while start != -1:
        if regex.match(path[start:]):
            return path[:start] + template
        start = path.find("/", start + 1)
    return template


class ApiMetrics:
    """The in-process API counters and the registry ``/metrics`` renders."""

    def __init__(self, db: Database, agent_down_time: int,
                 waiting: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # The process' own (memory, CPU, open files; Python's GC and version), as the
        # default registry would have them.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "lbaas_api_requests", "API requests answered, by route template, method and "
            "status.", ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "lbaas_api_request_duration_seconds", "Time from a request's arrival to its "
            "answer, by route template and method.", ["route", "method"],
            buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(DatabaseCollector(db, agent_down_time, waiting))
        # (route, method, status) → its counter and histogram: labels() takes a lock
        # and builds a key at every call, twice the cost of the counting itself. A few
        # hundred entries at most (routes × methods × statuses).
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, scope: dict[str, Any], method: str, status: int | None,
                seconds: float) -> None:
        # No status: the client went away before an answer started. A method is the
        # client's word: an unknown one is "other", or anyone could add series.
        key = (route_template(scope), method if method in METHODS else "other",
               str(status) if status else "none")
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(*key[:2]))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class Waiters:
    """How many agents' long-polls are waiting right now (threads and coroutines)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def __call__(self) -> int:
        return self._count

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._count -= 1


class DatabaseCollector(Collector):
    """Reads the database at every scrape; see the module's docstring."""

    def __init__(self, db: Database, agent_down_time: int,
                 waiting: Callable[[], int]) -> None:
        self.db = db
        self.agent_down_time = agent_down_time
        self.waiting = waiting

    def describe(self) -> list[Metric]:
        # Nothing at registration: describing must not read the database.
        return []

    def collect(self) -> Iterator[Metric]:
        waiters = GaugeMetricFamily(
            "lbaas_agent_longpolls_waiting", "Agents' long-polls (GET .../events) this "
            "server process holds open right now.")
        waiters.add_metric([], self.waiting())
        yield waiters
        with self.db.session(read_only=True) as s:
            yield from self._objects(s)
            yield from self._agents(s)
            yield from self._traffic(s)
            yield from self._responses(s)
            yield from self._members(s)

    def _objects(self, s: Any) -> Iterator[Metric]:
        objects = GaugeMetricFamily(
            "lbaas_objects", "Objects by type, API (v1: made through Neutron LBaaS v1, "
            "v2: through Octavia's API) and status.",
            labels=["type", "api_version", "provisioning_status", "operating_status"])
        lb = m.LoadBalancer
        queries: list[tuple[str, Any]] = [
            ("loadbalancer", select(lb.api_version, lb.provisioning_status,
                                    lb.operating_status, func.count())
             .group_by(lb.api_version, lb.provisioning_status, lb.operating_status)),
        ]
        for name, model in (("listener", m.Listener), ("pool", m.LbPool)):
            queries.append((name, select(lb.api_version, model.provisioning_status,
                                         model.operating_status, func.count())
                            .join(lb, model.loadbalancer_id == lb.id)
                            .group_by(lb.api_version, model.provisioning_status,
                                      model.operating_status)))
        member = m.LbMember
        queries.append(("member", select(lb.api_version, member.provisioning_status,
                                         member.operating_status, func.count())
                        .join(m.LbPool, member.pool_id == m.LbPool.id)
                        .join(lb, m.LbPool.loadbalancer_id == lb.id)
                        .group_by(lb.api_version, member.provisioning_status,
                                  member.operating_status)))
        for name, query in queries:
            for version, prov, oper, count in s.execute(query):
                objects.add_metric([name, f"v{version}", prov, oper], count)
        yield objects

    def _agents(self, s: Any) -> Iterator[Metric]:
        alive_since = m.utcnow() - dt.timedelta(seconds=self.agent_down_time)
        rows = s.execute(
            select(m.Agent.host, m.Agent.heartbeat_timestamp, m.Agent.admin_state_up,
                   func.count(m.LoadBalancer.id))
            .outerjoin(m.LoadBalancer, m.LoadBalancer.agent_id == m.Agent.id)
            .group_by(m.Agent.id, m.Agent.host, m.Agent.heartbeat_timestamp,
                      m.Agent.admin_state_up)).all()
        agents = GaugeMetricFamily(
            "lbaas_agents", "Agents by liveness (a heartbeat within agent_down_time) and "
            "admin state.", labels=["alive", "admin_state_up"])
        counts: dict[tuple[str, str], int] = {}
        up = GaugeMetricFamily(
            "lbaas_agent_up", "1 if the agent's last heartbeat is within agent_down_time.",
            labels=["host"])
        bound = GaugeMetricFamily(
            "lbaas_agent_loadbalancers", "Load balancers (v1 pools included) bound to "
            "the agent.", labels=["host"])
        for host, heartbeat, admin_up, lbs in rows:
            alive = heartbeat > alive_since
            key = (str(alive).lower(), str(bool(admin_up)).lower())
            counts[key] = counts.get(key, 0) + 1
            up.add_metric([host], 1 if alive else 0)
            bound.add_metric([host], lbs)
        for key in (("true", "true"), ("false", "true"), ("true", "false"),
                    ("false", "false")):
            agents.add_metric(list(key), counts.get(key, 0))
        yield agents
        yield up
        yield bound

    def _traffic(self, s: Any) -> Iterator[Metric]:
        """Per listener, and summed per load balancer: the stored totals."""
        labels = ["project_id", "loadbalancer_id", "listener_id"]
        bytes_in = CounterMetricFamily(
            "octavia_listener_bytes_in", "Bytes received by the listener.", labels=labels)
        bytes_out = CounterMetricFamily(
            "octavia_listener_bytes_out", "Bytes sent by the listener.", labels=labels)
        current = GaugeMetricFamily(
            "octavia_listener_current_sessions", "Connections open now (at the agent's "
            "last report).", labels=labels)
        sessions = CounterMetricFamily(
            "octavia_listener_sessions", "Connections the listener accepted.",
            labels=labels)
        errors = CounterMetricFamily(
            "octavia_listener_request_errors", "Requests the listener could not read "
            "(HAProxy's ereq). Octavia v2 listeners only.", labels=labels)
        lb_labels = ["project_id", "loadbalancer_id"]
        lb_in = CounterMetricFamily(
            "lbaas_loadbalancer_bytes_in", "Bytes received by the load balancer's "
            "listeners.", labels=lb_labels)
        lb_out = CounterMetricFamily(
            "lbaas_loadbalancer_bytes_out", "Bytes sent by the load balancer's "
            "listeners.", labels=lb_labels)
        lb_current = GaugeMetricFamily(
            "octavia_loadbalancer_current_connections", "Connections open now on the "
            "load balancer (at the agent's last report).", labels=lb_labels)
        lb_total = CounterMetricFamily(
            "octavia_loadbalancer_connections", "Connections the load balancer "
            "accepted.", labels=lb_labels)
        lb_errors = CounterMetricFamily(
            "lbaas_loadbalancer_request_errors", "Requests the load balancer's listeners "
            "could not read. Octavia v2 load balancers only.", labels=lb_labels)
        sums: dict[tuple[str, str], list[int]] = {}
        st, lb = m.ListenerStatistics, m.LoadBalancer
        v2 = s.execute(
            select(lb.tenant_id, lb.id, st.listener_id, st.bytes_in, st.bytes_out,
                   st.active_connections, st.total_connections, st.request_errors)
            .join(lb, st.loadbalancer_id == lb.id)
            .join(m.Listener, m.Listener.id == st.listener_id)
            .order_by(lb.id, st.listener_id))
        for project, lb_id, listener_id, b_in, b_out, active, total, errs in v2:
            values = [project, lb_id, listener_id]
            bytes_in.add_metric(values, b_in)
            bytes_out.add_metric(values, b_out)
            current.add_metric(values, active)
            sessions.add_metric(values, total)
            errors.add_metric(values, errs)
            acc = sums.setdefault((project, lb_id), [0, 0, 0, 0, 0])
            for i, value in enumerate((b_in, b_out, active, total, errs)):
                acc[i] += value
        # A v1 pool's statistics are its VIP's, the v1 load balancer's one listener.
        ps = m.PoolStatistics
        v1 = s.execute(
            select(lb.tenant_id, lb.id, m.Listener.id, ps.bytes_in, ps.bytes_out,
                   ps.active_connections, ps.total_connections)
            .join(lb, ps.pool_id == lb.id)
            .outerjoin(m.Listener, m.Listener.loadbalancer_id == lb.id)
            .order_by(lb.id))
        v1_lbs: set[tuple[str, str]] = set()
        for project, lb_id, listener_id, b_in, b_out, active, total in v1:
            values = [project, lb_id, listener_id or ""]
            bytes_in.add_metric(values, b_in)
            bytes_out.add_metric(values, b_out)
            current.add_metric(values, active)
            sessions.add_metric(values, total)
            acc = sums.setdefault((project, lb_id), [0, 0, 0, 0, 0])
            for i, value in enumerate((b_in, b_out, active, total)):
                acc[i] += value
            v1_lbs.add((project, lb_id))
        for key, (b_in, b_out, active, total, errs) in sums.items():
            lb_in.add_metric(list(key), b_in)
            lb_out.add_metric(list(key), b_out)
            lb_current.add_metric(list(key), active)
            lb_total.add_metric(list(key), total)
            if key not in v1_lbs:
                lb_errors.add_metric(list(key), errs)
        yield from (bytes_in, bytes_out, current, sessions, errors,
                    lb_in, lb_out, lb_current, lb_total, lb_errors)

    def _responses(self, s: Any) -> Iterator[Metric]:
        """HTTP responses by class per HTTP listener and per HTTP pool (Octavia's
        ``octavia_listener_http_responses_total`` and ``octavia_pool_http_responses``
        with HAProxy's ``code`` label: 1xx ... 5xx, other)."""
        listeners = CounterMetricFamily(
            "octavia_listener_http_responses", "HTTP responses the listener sent, by "
            "class (HAProxy's own answers, such as a 503 without a member, included).",
            labels=["project_id", "loadbalancer_id", "listener_id", "code"])
        pools = CounterMetricFamily(
            "octavia_pool_http_responses", "HTTP responses the pool's members gave, by "
            "class.", labels=["project_id", "loadbalancer_id", "pool_id", "code"])
        lb, li = m.LoadBalancer, m.Listener
        http = ("HTTP",)  # HTTPS is passed through as TCP: HAProxy sees no responses
        st = m.ListenerStatistics
        hrsp = [getattr(st, key) for key in HRSP_KEYS]
        rows = list(s.execute(
            select(lb.tenant_id, lb.id, li.id, *hrsp)
            .join(lb, st.loadbalancer_id == lb.id)
            .join(li, li.id == st.listener_id)
            .where(li.protocol.in_(http))
            .order_by(lb.id, li.id)))
        # A v1 pool's statistics are its VIP's (the v1 load balancer's one listener).
        ps = m.PoolStatistics
        rows += s.execute(
            select(lb.tenant_id, lb.id, li.id, *(getattr(ps, key) for key in HRSP_KEYS))
            .join(lb, ps.pool_id == lb.id)
            .join(li, li.loadbalancer_id == lb.id)
            .where(li.protocol.in_(http))
            .order_by(lb.id))
        for project, lb_id, listener_id, *values in rows:
            for code, count in zip(HTTP_CLASSES, values, strict=True):
                listeners.add_metric([project, lb_id, listener_id, code], count or 0)
        pst = m.PoolTrafficStatistics
        for project, lb_id, pool_id, *values in s.execute(
                select(lb.tenant_id, lb.id, m.LbPool.id,
                       *(getattr(pst, key) for key in HRSP_KEYS))
                .join(lb, pst.loadbalancer_id == lb.id)
                .join(m.LbPool, m.LbPool.id == pst.pool_id)
                .where(m.LbPool.protocol.in_(http))
                .order_by(lb.id, m.LbPool.id)):
            for code, count in zip(HTTP_CLASSES, values, strict=True):
                pools.add_metric([project, lb_id, pool_id, code], count or 0)
        yield listeners
        yield pools

    def _members(self, s: Any) -> Iterator[Metric]:
        status = GaugeMetricFamily(
            "octavia_member_status", "The member's operating status as stored: 0 ERROR "
            "(its health check fails), 1 ONLINE (or NO_MONITOR), 2 OFFLINE (admin "
            "down), 3 DRAINING.",
            labels=["project_id", "loadbalancer_id", "pool_id", "member_id"])
        labels = ["project_id", "loadbalancer_id", "pool_id", "member_id"]
        failures = CounterMetricFamily(
            "octavia_member_check_failures", "Health checks of the member that failed "
            "(HAProxy counts those while the member is up: the ones that take it down).",
            labels=labels)
        up_down = CounterMetricFamily(
            "octavia_member_check_up_down", "Times the member's health checks took it "
            "from up to down.", labels=labels)
        lb, ms = m.LoadBalancer, m.MemberStatistics
        rows = s.execute(
            select(lb.tenant_id, lb.id, m.LbMember.pool_id, m.LbMember.id,
                   m.LbMember.operating_status, ms.check_failures, ms.check_up_down)
            .join(m.LbPool, m.LbMember.pool_id == m.LbPool.id)
            .join(lb, m.LbPool.loadbalancer_id == lb.id)
            .outerjoin(ms, ms.member_id == m.LbMember.id)
            .order_by(lb.id, m.LbMember.pool_id, m.LbMember.id))
        for project, lb_id, pool_id, member_id, operating, failed, downs in rows:
            values = [project, lb_id, pool_id, member_id]
            status.add_metric(values, MEMBER_STATUS.get(operating, 0))
            failures.add_metric(values, failed or 0)
            up_down.add_metric(values, downs or 0)
        yield status
        yield failures
        yield up_down
