"""Benchmark ``wake``: how long an agent long-polling one server waits to learn of a
change made through another server on the same PostgreSQL database, with the servers'
LISTEN/NOTIFY and without it (``[database] listen_for_changes = false``: the long-poll
re-reads the database every second, as every server did before), side by side in one run.

Three real ``lbaas-server`` processes on one database (loopback only, no agent, no
namespace): A takes the changes, B1 listens, B2 does not. Each round starts one
long-poll on B1 and one on B2 for the same host, waits a random 0.2-1.2 s (so the
change lands anywhere in B2's polling period), creates a v1 pool through A, and times
each poll's answer from the moment the create was sent (so both include the POST's own
round trip, reported beside them). Every round also checks that both polls answered with
the new pool's id.

PostgreSQL comes from tools/ensure-postgres.sh; the benchmark creates its own
``lbaas_bench_<random>`` database and drops it at the end. Bounded: ``ROUNDS`` rounds
(``--quick``: 5), each at most the poll timeout.

    .venv/bin/python bench/wake.py [--quick]
"""

from __future__ import annotations

import random
import secrets
import sys
import threading
import time
from typing import Any

import httpx
import psycopg
from common import (
    REPO,
    install_signal_handlers,
    parse_args,
    percentile,
    print_table,
    summary,
    write_results,
)

from tests.helpers.server import ServerProcess

NAME = "wake"
ROUNDS = 30
POLL_TIMEOUT = 10
HOST = "bench-wake-host"
PG_ADMIN_DSN = ("host=127.0.0.1 port=5432 user=lbaas password=lbaas dbname=postgres "
                "connect_timeout=5")
PG_URL = "postgresql+psycopg://lbaas:lbaas@127.0.0.1:5432/{db}"
CONFIGURATIONS = {"device_drivers": ["haproxy_ns"],
                  "bridge_mappings": {"bench-wake": "br-x"}}


def _poll(url: str, after: int, out: dict[str, Any]) -> None:
    with httpx.Client(base_url=url, timeout=POLL_TIMEOUT + 10) as client:
        body = client.get(f"/agent/v1/hosts/{HOST}/events",
                          params={"after": after, "timeout": POLL_TIMEOUT}).json()
    out["at"] = time.perf_counter()
    out["pool_ids"] = body["pool_ids"]


def run(rounds: int) -> dict[str, list[float]]:
    db = "lbaas_bench_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = PG_URL.format(db=db)
    conf = {"quotas": {"quota_pool": -1}}
    a = ServerProcess(database_url=url, conf=conf)
    b_listen = ServerProcess(database_url=url, conf=conf)
    b_poll = ServerProcess(database_url=url,
                           conf={**conf, "database": {"listen_for_changes": False}})
    servers = [a, b_listen, b_poll]
    # "create": the POST's own round trip, which the wake-ups include (the commit is
    # at its end).
    latencies: dict[str, list[float]] = {"notify": [], "poll": [], "create": []}
    try:
        for s in servers:
            s.start()
        deadline = time.monotonic() + 20
        while "listening for other servers" not in b_listen.log_tail():
            if time.monotonic() > deadline:
                raise RuntimeError("B1 does not listen: " + b_listen.log_tail())
            time.sleep(0.1)
        with httpx.Client(base_url=a.url, timeout=10) as ca:
            ca.post("/agent/v1/agents", json={"host": HOST,
                                              "configurations": CONFIGURATIONS})
            net = ca.post("/v2.0/networks", json={"network": {
                "name": "wake", "provider:physical_network": "bench-wake"}}).json()
            subnet = ca.post("/v2.0/subnets", json={"subnet": {
                "network_id": net["network"]["id"], "cidr": "10.98.40.0/24",
                "ip_version": 4}}).json()["subnet"]
            for i in range(rounds):
                after = ca.get(f"/agent/v1/hosts/{HOST}/events",
                               params={"after": 0, "timeout": 0}).json()["revision"]
                outs: dict[str, dict[str, Any]] = {"notify": {}, "poll": {}}
                threads = [threading.Thread(target=_poll, args=(s.url, after,
                                                                outs[k]))
                           for k, s in (("notify", b_listen), ("poll", b_poll))]
                for t in threads:
                    t.start()
                time.sleep(random.uniform(0.2, 1.2))
                t0 = time.perf_counter()
                r = ca.post("/v2.0/lb/pools", json={"pool": {
                    "name": f"w{i}", "subnet_id": subnet["id"], "protocol": "HTTP",
                    "lb_method": "ROUND_ROBIN"}})
                r.raise_for_status()
                latencies["create"].append((time.perf_counter() - t0) * 1000)
                pool_id = r.json()["pool"]["id"]
                for t in threads:
                    t.join(POLL_TIMEOUT + 15)
                for k, out in outs.items():
                    if out.get("pool_ids") != [pool_id]:
                        raise RuntimeError(f"round {i}: {k} poll answered {out!r}")
                    latencies[k].append((out["at"] - t0) * 1000)
    finally:
        for s in servers:
            s.cleanup()
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return latencies


def main(argv: list[str] | None = None) -> int:
    args = parse_args((__doc__ or "").split("\n\n")[0], argv)
    install_signal_handlers()
    rounds = 5 if args.quick else ROUNDS
    lat = run(rounds)
    rows = []
    result: dict[str, Any] = {"rounds": rounds}
    for k, label in (("notify", "LISTEN/NOTIFY"), ("poll", "1 s re-read (before)"),
                     ("create", "(the POST to A itself)")):
        values = lat[k]
        p50, p90, worst = (percentile(values, 50), percentile(values, 90), max(values))
        rows.append([label, p50, p90, worst])
        result[f"{k}_p50_ms"] = round(p50, 1)
        result[f"{k}_p90_ms"] = round(p90, 1)
        result[f"{k}_max_ms"] = round(worst, 1)
    ratio = result["poll_p50_ms"] / max(result["notify_p50_ms"], 0.1)
    result["p50_ratio_poll_over_notify"] = round(ratio, 1)
    print_table(["wake-up of a long-poll on B, change via A", "p50 ms", "p90 ms", "max ms"],
                rows, title=f"{rounds} rounds, side by side")
    path = write_results(NAME, args.quick, result, {"latencies_ms": lat})
    print(f"results: {path.relative_to(REPO)}")
    summary(NAME, f"change on A -> long-poll on B answered in p50 "
                  f"{result['notify_p50_ms']:.0f} ms with LISTEN/NOTIFY, "
                  f"{result['poll_p50_ms']:.0f} ms with the 1 s re-read ({ratio:.0f}x)", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
