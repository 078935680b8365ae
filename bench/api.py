"""Benchmark 6, ``api``: creates per second and the p50 of listing 1,000 members, on
SQLite and on PostgreSQL, side by side in one run.

Two real ``lbaas-server`` processes (tests/helpers/server.py's ServerProcess, loopback
only, no agent) run at the same time, one per database; every phase alternates between
them (batch by batch for the creates, request by request for the lists, the order
swapped every round), so machine noise lands on both alike.

* creates — ``POST /v2.0/lb/members`` into one pool from a few concurrent clients until
  the pool holds 1,000 members (the list phase needs them anyway): members are
  the object a tenant creates most of;
* list — ``GET /v2.0/lb/members`` with those members present, the whole collection in
  one answer, as ``neutron lb-member-list`` asks for it;
* concurrency — 200 more creates from one client and 200 from the same few concurrent
  clients, each into its own fresh pool, alternating: whether concurrent clients get
  more creates through.

Then, in-process on the SQLite database the server left: the server's own time for
the list (query, dicts, JSON) and for one more create, without HTTP; when the list p50
is over ``SLOW_LIST_MS``, a cProfile of the list's work too: where the time goes.

PostgreSQL comes from tools/ensure-postgres.sh (role lbaas/lbaas with createdb); the
benchmark creates its own ``lbaas_bench_<random>`` database and drops it at the end.
If PostgreSQL cannot be had, the run says so and reports SQLite alone.

    .venv/bin/python bench/api.py [--quick]      (root only to start PostgreSQL)
"""

from __future__ import annotations

import concurrent.futures
import cProfile
import gc
import io
import pstats
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
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

NAME = "api"
MEMBERS = 1000
CLIENTS = 4
BATCH = 100
CONCURRENCY_ROUNDS = 2
PG_ADMIN_DSN = ("host=127.0.0.1 port=5432 user=lbaas password=lbaas dbname=postgres "
                "connect_timeout=5")
PG_URL = "postgresql+psycopg://lbaas:lbaas@127.0.0.1:5432/{db}"
SLOW_LIST_MS = 100.0
SUBNET_CIDR = "10.96.0.0/16"


class Backend:
    """One server over one database, with the pool the members go into."""

    def __init__(self, name: str, database_url: str | None) -> None:
        self.name = name
        self.server = ServerProcess(database_url=database_url,
                                    conf={"quotas": {"quota_member": -1}})
        self.create_seconds = 0.0
        self.create_latencies: list[float] = []
        # creates/s of each batch: the pool grows by one batch each time.
        self.batch_rates: list[float] = []
        self.created = 0
        self.errors: list[str] = []
        self.list_ms: list[float] = []
        self.pool_id = ""
        self.subnet_id = ""
        # clients → (creates, seconds) into fresh pools, for the concurrency comparison.
        self.by_clients: dict[int, list[float]] = {}
        self._next = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        self.server.start()
        with httpx.Client(base_url=self.server.url + "/v2.0", timeout=30) as c:
            net = _ok(c.post("/networks", json={"network": {"name": "bench-api"}}), 201)
            subnet = _ok(c.post("/subnets", json={"subnet": {
                "network_id": net["network"]["id"], "cidr": SUBNET_CIDR}}), 201)
        self.subnet_id = subnet["subnet"]["id"]
        self.pool_id = self.new_pool()

    def new_pool(self) -> str:
        with httpx.Client(base_url=self.server.url + "/v2.0", timeout=30) as c:
            pool = _ok(c.post("/lb/pools", json={"pool": {
                "name": "bench-api", "subnet_id": self.subnet_id,
                "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}}), 201)
        return str(pool["pool"]["id"])

    def next_address(self) -> str:
        with self._lock:
            n = self._next
            self._next += 1
        return f"10.96.{1 + n // 250}.{1 + n % 250}"

    def create_batch(self, count: int, clients: int, pool_id: str | None = None) -> None:
        """``count`` member creates from ``clients`` concurrent clients (each its own
        keep-alive connection, as separate tenants' tools would have), into the main
        pool, or into ``pool_id`` for the concurrency comparison (recorded apart)."""
        target = pool_id or self.pool_id
        share = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]

        def worker(n: int) -> list[float]:
            latencies = []
            with httpx.Client(base_url=self.server.url + "/v2.0", timeout=60) as c:
                for _ in range(n):
                    body = {"member": {"pool_id": target,
                                       "address": self.next_address(),
                                       "protocol_port": 80}}
                    t0 = time.perf_counter()
                    r = c.post("/lb/members", json=body)
                    latencies.append(time.perf_counter() - t0)
                    if r.status_code != 201:
                        with self._lock:
                            self.errors.append(f"{r.status_code} {r.text[:200]}")
            return latencies

        t0 = time.perf_counter()
        latencies: list[float] = []
        with concurrent.futures.ThreadPoolExecutor(clients) as ex:
            for lat in ex.map(worker, [s for s in share if s]):
                latencies.extend(lat)
        elapsed = time.perf_counter() - t0
        if pool_id:
            done = self.by_clients.setdefault(clients, [0, 0.0])
            done[0] += count
            done[1] += elapsed
            return
        self.create_latencies.extend(latencies)
        self.create_seconds += elapsed
        self.created += count
        self.batch_rates.append(count / elapsed)

    def list_once(self, client: httpx.Client, expect: int) -> None:
        t0 = time.perf_counter()
        r = client.get("/lb/members")
        elapsed = (time.perf_counter() - t0) * 1000
        got = len(_ok(r, 200)["members"])
        if got != expect:
            raise RuntimeError(f"{self.name}: listed {got} members, expected {expect}")
        self.list_ms.append(elapsed)

    def summary(self) -> dict[str, Any]:
        if not self.created:
            return {}
        return {
            "creates": self.created,
            "create_errors": len(self.errors),
            "creates_per_s": round(self.created / self.create_seconds, 1),
            "create_p50_ms": _ms(percentile(self.create_latencies, 50)),
            "create_p95_ms": _ms(percentile(self.create_latencies, 95)),
            "batch_creates_per_s": [round(r, 1) for r in self.batch_rates],
            "creates_per_s_by_clients": {str(k): round(v[0] / v[1], 1)
                                         for k, v in sorted(self.by_clients.items())},
            "list_p50_ms": round(percentile(self.list_ms, 50), 2) if self.list_ms else None,
            "list_p95_ms": round(percentile(self.list_ms, 95), 2) if self.list_ms else None,
            "list_samples": len(self.list_ms),
        }


def _ok(resp: httpx.Response, status: int) -> dict[str, Any]:
    if resp.status_code != status:
        raise RuntimeError(f"{resp.request.method} {resp.request.url} → {resp.status_code}: "
                           f"{resp.text[:500]}")
    return dict(resp.json())


# --- PostgreSQL ------------------------------------------------------------------------

def pg_create_database() -> tuple[str | None, str]:
    """(database name, "") or (None, why not)."""
    try:
        out = subprocess.run(["bash", str(REPO / "tools" / "ensure-postgres.sh")],
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"ensure-postgres.sh: {exc}"
    if out.returncode != 0:
        return None, (out.stderr or out.stdout).strip()
    import psycopg

    name = f"lbaas_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return None, f"CREATE DATABASE: {exc}"
    return name, ""


def pg_drop_database(name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as exc:
        print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)


# --- where the time goes ----------------------------------------------------------------

def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def analyse(state_path: Path, pool_id: str, reps: int = 40,
            profile_top: int = 0) -> dict[str, Any]:
    """In-process, on the SQLite database the server left (stopped first): the server's
    own cost of the list and of one more create, split into their parts, without HTTP.
    With ``profile_top``, also the top entries of a cProfile of the list's work."""
    from pydantic import TypeAdapter
    from sqlalchemy import select

    from lbaas.cmd.server import load_config
    from lbaas.common.config import database_url
    from lbaas.server.app import create_app
    from lbaas.server.context import ADMIN
    from lbaas.server.db import models
    from lbaas.server.db.session import Database
    from lbaas.server.plugin import loadbalancer as lb

    conf_file = state_path / "analyse.conf"
    conf_file.write_text(f"[DEFAULT]\nstate_path = {state_path}\n"
                         "[quotas]\nquota_member = -1\n")
    conf = load_config(["--config-file", str(conf_file)])
    db = Database(database_url(conf))
    settings = lb.Settings(conf)
    # Built only so that this process holds what the server holds: the cost of Python's
    # full garbage collections grows with every object alive.
    app = create_app(conf, db=db, run_migrations=False)
    # What FastAPI does with the routes' ``dict[str, Any]`` return annotation.
    adapter = TypeAdapter(dict[str, Any])
    phases: dict[str, list[float]] = {"query": [], "dicts": [], "serialize": []}

    def list_work() -> bytes:
        t0 = time.perf_counter()
        with db.session(read_only=True) as s:
            objs = lb.list_members(s, ADMIN)
            t1 = time.perf_counter()
            items = [lb.member_dict(x) for x in objs]
        t2 = time.perf_counter()
        body = adapter.dump_json({"members": items})
        t3 = time.perf_counter()
        phases["query"].append(t1 - t0)
        phases["dicts"].append(t2 - t1)
        phases["serialize"].append(t3 - t2)
        return body

    # Full (generation 2) collections that happen during the lists, and how long each
    # stops the process: they make the p95 of the list.
    full_gc: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                full_gc.append(time.perf_counter() - gc_started[0])

    try:
        list_work()
        for v in phases.values():
            v.clear()
        gc.callbacks.append(on_gc)
        try:
            for _ in range(reps):
                list_work()
        finally:
            gc.callbacks.remove(on_gc)
        profile: list[str] = []
        if profile_top:
            prof = cProfile.Profile()
            prof.enable()
            list_work()
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(profile_top)
            profile = [ln for ln in buf.getvalue().splitlines() if ln.strip()]

        # One more create into the full pool, and the part of it that loads every member
        # of the pool again (create_member's session.refresh(pool, ["members"])).
        create, refresh = [], []
        for i in range(reps):
            body = {"pool_id": pool_id, "address": f"10.96.250.{1 + i}", "protocol_port": 80,
                    "tenant_id": "admin"}
            t0 = time.perf_counter()
            with db.session() as s:
                lb.member_dict(lb.create_member(s, ADMIN, settings, body))
            create.append(time.perf_counter() - t0)
            with db.session(read_only=True) as s:
                pool = s.scalar(select(models.LbPool).where(models.LbPool.id == pool_id))
                t0 = time.perf_counter()
                s.refresh(pool, ["members"])
                refresh.append(time.perf_counter() - t0)
    finally:
        db.engine.dispose()
    del app
    return {
        "list_query_ms": _ms(statistics.median(phases["query"])),
        "list_dicts_ms": _ms(statistics.median(phases["dicts"])),
        "list_serialize_ms": _ms(statistics.median(phases["serialize"])),
        "create_ms": _ms(statistics.median(create)),
        "create_refresh_pool_members_ms": _ms(statistics.median(refresh)),
        "list_reps": reps,
        "full_gc_during_lists": len(full_gc),
        "full_gc_ms": _ms(statistics.median(full_gc)) if full_gc else None,
        "objects_tracked": len(gc.get_objects()),
        "list_profile": profile or None,
    }


# --- the run -----------------------------------------------------------------------------

def run(members: int, clients: int, batch: int,
        list_reps: int) -> tuple[dict[str, Any], dict[str, Any]]:
    backends = [Backend("sqlite", None)]
    pg_db, pg_missing = pg_create_database()
    if pg_db:
        backends.append(Backend("postgresql", PG_URL.format(db=pg_db)))
    else:
        print(f"PostgreSQL unavailable, SQLite only: {pg_missing}", file=sys.stderr)
    analysis: dict[str, Any] = {}
    try:
        for b in backends:
            b.start()
        rounds = 0
        while any(b.created < members for b in backends):
            for b in (backends if rounds % 2 == 0 else backends[::-1]):
                if b.created < members:
                    b.create_batch(min(batch, members - b.created), clients)
            rounds += 1
        for b in backends:
            if b.errors:
                raise RuntimeError(f"{b.name}: {len(b.errors)} creates failed, first: "
                                   f"{b.errors[0]}")
        http = {b.name: httpx.Client(base_url=b.server.url + "/v2.0", timeout=60)
                for b in backends}
        try:
            for b in backends:  # warm-up, not measured
                b.list_once(http[b.name], members)
                b.list_ms.clear()
            for i in range(list_reps):
                for b in (backends if i % 2 == 0 else backends[::-1]):
                    b.list_once(http[b.name], members)
        finally:
            for c in http.values():
                c.close()
        # Does concurrency help? The same creates from 1 client and from CLIENTS, each
        # into its own fresh pool (so pool size is the same for both), alternating.
        pools = {b.name: {1: b.new_pool(), clients: b.new_pool()} for b in backends}
        for i in range(CONCURRENCY_ROUNDS):
            for b in (backends if i % 2 == 0 else backends[::-1]):
                for k in ((1, clients) if i % 2 == 0 else (clients, 1)):
                    b.create_batch(batch, k, pools[b.name][k])
        sqlite = backends[0]
        sqlite.server.stop()
        slow = percentile(sqlite.list_ms, 50) > SLOW_LIST_MS
        analysis = analyse(sqlite.server.state_path, sqlite.pool_id,
                           profile_top=25 if slow else 0)
    finally:
        for b in backends:
            b.server.cleanup()
        if pg_db:
            pg_drop_database(pg_db)

    per = {b.name: b.summary() for b in backends}
    pg = per.get("postgresql") or {}
    result = {
        "sqlite_creates_per_s": per["sqlite"]["creates_per_s"],
        "pg_creates_per_s": pg.get("creates_per_s"),
        # The key is one number: SQLite's, the default database.
        "list_1000_p50_ms": per["sqlite"]["list_p50_ms"],
        "sqlite_list_p50_ms": per["sqlite"]["list_p50_ms"],
        "pg_list_p50_ms": pg.get("list_p50_ms"),
        "members": members,
        "clients": clients,
    }
    details = {"backends": per, "postgresql_missing": pg_missing or None,
               "sqlite_in_process": analysis}
    return result, details


def show(result: dict[str, Any], details: dict[str, Any]) -> None:
    n = result["members"]
    rows = []
    for name, s in details["backends"].items():
        rates = s["batch_creates_per_s"]
        rows.append([name, s["creates_per_s"], rates[0], rates[-1], s["create_p50_ms"],
                     s["create_p95_ms"], s["list_p50_ms"], s["list_p95_ms"]])
    print_table(["database", "creates/s", "first 100/s", "last 100/s", "create p50 ms",
                 "create p95 ms", f"list {n} p50 ms", "list p95 ms"], rows,
                title=f"api: {n} members POSTed into one pool by {result['clients']} "
                      f"concurrent clients, then GET /v2.0/lb/members with all {n} present")
    conc = ", ".join(
        f"{name} " + " vs ".join(f"{r}/s from {k} client{'s' if k != '1' else ''}"
                                 for k, r in s["creates_per_s_by_clients"].items())
        for name, s in details["backends"].items())
    print(f"\n{CONCURRENCY_ROUNDS * BATCH} creates into a fresh pool: {conc}")
    a = details["sqlite_in_process"]
    if a:
        print(f"\nserver's own time (SQLite, in-process, no HTTP): list = query "
              f"{a['list_query_ms']:.1f} ms + dicts {a['list_dicts_ms']:.1f} ms + JSON "
              f"{a['list_serialize_ms']:.1f} ms; one create into the pool of {n} = "
              f"{a['create_ms']:.1f} ms, of which reloading the pool's members "
              f"(create_member's session.refresh(pool, ['members'])) "
              f"{a['create_refresh_pool_members_ms']:.1f} ms")
        if a["full_gc_during_lists"]:
            print(f"Python's full garbage collection ran {a['full_gc_during_lists']} times "
                  f"in {a['list_reps']} lists, {a['full_gc_ms']:.0f} ms each (over "
                  f"{a['objects_tracked']:,} objects): that, not the list, is the p95")
        if a["list_profile"]:
            print(f"\nlist slower than {SLOW_LIST_MS:.0f} ms; where the time goes:")
            print("\n".join(a["list_profile"]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args((__doc__ or "").split("\n\n")[0], argv)
    install_signal_handlers()
    try:
        result, details = run(MEMBERS, CLIENTS, BATCH, list_reps=10 if args.quick else 50)
    except KeyboardInterrupt:
        print(f"\n{NAME}: interrupted; its servers and database were removed",
              file=sys.stderr)
        return 130
    show(result, details)
    path = write_results(NAME, args.quick, result, details)
    print(f"\nwrote {path.relative_to(REPO)}")
    pg = (f"PostgreSQL {result['pg_creates_per_s']:.0f} creates/s, list p50 "
          f"{result['pg_list_p50_ms']:.0f} ms" if result["pg_creates_per_s"]
          else "PostgreSQL not measured")
    summary(NAME, f"SQLite {result['sqlite_creates_per_s']:.0f} creates/s, list of "
                  f"{result['members']} members p50 {result['sqlite_list_p50_ms']:.0f} ms; "
                  f"{pg}", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
