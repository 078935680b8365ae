"""Benchmark ``failover``: a host with N load balancers dies; how long until every one of
them answers again from the other host.

Two lbaas hosts on one kernel (tests/helpers/multihost.py, prefix ``thq``, 10.98.64.0/18),
one server with the default timings (``report_interval`` 2 s, ``agent_down_time`` 8 s,
a rescheduling pass every second). Only host a runs while the N load balancers (v1 pool,
one member, VIP) are created through the REST API and until every VIP answers; then host
b starts, and host a is killed (its agent and every HAProxy SIGKILLed, its wire and
management link cut) at T0. A checker in the client namespace (this file's ``check``
mode: asyncio, a bounded number of connections in flight, 0.3 s connect timeout) then
tries every VIP until it answers HTTP 200, and prints the monotonic time of that answer.

Reported per N: ``last_s`` (T0 until the last VIP answered: the goal is 15 s for one
load balancer, 60 s for 500), ``p50_s``, ``moved_s`` (T0 until the server had moved all
of them), ``failed`` (VIPs that never answered within the deadline), ``serving_s`` (each
VIP's time from T0 to its first answer, sorted: what bench/plot.py draws) and
``series`` (how the load balancers came back: ``rebuild``, a SINGLE load balancer built
anew on the other host). Everything is removed at the end, also on failure and
Ctrl-C/SIGTERM. ``--prefix``/``--subnet24`` move the lab to other names and one /24
(at most 90 load balancers then), for a run beside another lab.

    .venv/bin/python bench/failover.py [--quick] [--n 1 --n 500]

``--vrrp``: the ACTIVE_STANDBY takeover instead (tests/helpers/active_standby.py: two
hosts' drivers, one hand-built load balancer, real HAProxy and keepalived, prefix
``tkq``, 10.98.80.0/24). Under continuous new-connection traffic from the client
namespace (50 requests/s, open loop, 3 s timeout each), the MASTER host dies (its wire
cut, HAProxy and keepalived SIGKILLed), or only its HAProxy; reported per advert
interval, lbaas' fast one beside Octavia's default 1 s, in one run: ``serving_again_s``
(the kill until the first request started after it is served without a retransmit),
``failed`` (all failed requests, those in flight at the kill included) and
``failed_after_kill`` (failed requests started after the kill). Results in
bench/results/failover_vrrp.json.

    .venv/bin/python bench/failover.py --vrrp [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

NAME = "failover"
CHECK_CONCURRENCY = 64
CHECK_CONNECT_TIMEOUT = 0.3
CHECK_READ_TIMEOUT = 3.0
CHECK_PAUSE = 0.1
# Octavia's vrrp_advert_int default (lbaas' agent keepalived module keeps it too).
OCTAVIA_ADVERT_MS = 1000


# ------------------------------------------------------------------ check mode
# Runs inside the client namespace: kept free of the lab's imports.

async def _status(host: str, port: int) -> int | str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                CHECK_CONNECT_TIMEOUT)
    except (TimeoutError, OSError) as exc:
        return type(exc).__name__
    try:
        writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), CHECK_READ_TIMEOUT)
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else "bad"
    except (TimeoutError, OSError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


async def _check(deadline_s: float, targets: list[str]) -> None:
    """Prints ``ok <target> <monotonic time of its first 200>`` or ``fail <target>
    <last reason>`` for each target."""
    deadline = time.monotonic() + deadline_s
    gate = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def watch(target: str) -> None:
        host, _, port = target.rpartition(":")
        last: int | str = "never tried"
        while time.monotonic() < deadline:
            async with gate:
                last = await _status(host, int(port))
            if last == 200:
                print(f"ok {target} {time.monotonic():.6f}", flush=True)
                return
            await asyncio.sleep(CHECK_PAUSE)
        print(f"fail {target} {last}", flush=True)

    await asyncio.gather(*(watch(t) for t in targets))


# ------------------------------------------------------------------ the run

def check_all(lab: Any, targets: list[str], deadline_s: float) -> tuple[dict[str, float],
                                                                        dict[str, str]]:
    """Every target's first 200 (monotonic time), run in the client namespace."""
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.client_ns, sys.executable, str(Path(__file__).resolve()),
         "check", str(deadline_s)], input="\n".join(targets), capture_output=True,
        text=True, timeout=deadline_s + 60)
    ok: dict[str, float] = {}
    failed: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        words = line.split()
        if words[:1] == ["ok"]:
            ok[words[1]] = float(words[2])
        elif words[:1] == ["fail"]:
            failed[words[1]] = " ".join(words[2:])
    if proc.returncode != 0:
        raise RuntimeError(f"checker failed: {proc.stderr[-2000:]}")
    return ok, failed


def create(lab: Any, n: int, clients: int = 4) -> list[tuple[str, str]]:
    """N load balancers through the REST API: [(pool id, "vip:80")]."""
    import httpx

    base = lab.server_url + "/v2.0"
    with httpx.Client(base_url=base, timeout=120) as http:
        net = http.post("/networks", json={"network": {
            "name": "bench", "provider:physical_network": "default"}}).json()["network"]
        subnet = http.post("/subnets", json={"subnet": {
            "network_id": net["id"], **lab.tenant_subnet()}}).json()["subnet"]
    made: list[tuple[str, str]] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            for i in counter:
                def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
                    r = http.post(path, json=body)
                    if r.status_code != 201:
                        raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
                    return dict(next(iter(r.json().values())))
                pool = post("/lb/pools", {"pool": {"name": f"thq-{i}",
                                                   "subnet_id": subnet["id"],
                                                   "protocol": "HTTP",
                                                   "lb_method": "ROUND_ROBIN"}})
                post("/lb/members", {"member": {"pool_id": pool["id"], "protocol_port": 80,
                                                "address": lab.backend_ip}})
                vip = post("/lb/vips", {"vip": {"pool_id": pool["id"], "protocol": "HTTP",
                                                "protocol_port": 80,
                                                "subnet_id": subnet["id"]}})
                with lock:
                    made.append((pool["id"], f"{vip['address']}:80"))

    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        for f in [ex.submit(worker) for _ in range(clients)]:
            f.result()
    return made


def bound_elsewhere(lab: Any, host: str) -> int:
    import httpx

    r = httpx.get(f"{lab.server_url}/v2.0/agents", params={"host": host}, timeout=10)
    agent_id = r.json()["agents"][0]["id"]
    r = httpx.get(f"{lab.server_url}/v2.0/agents/{agent_id}/loadbalancer-pools",
                  timeout=30)
    return len(r.json()["pools"])


def run_one(n: int, deadline_s: float, prefix: str = "thq",
            subnet24: str = "") -> dict[str, Any]:
    from tests.helpers.multihost import MultiHostLab

    root = Path(tempfile.mkdtemp(prefix="lbaas-bench-failover-"))
    # The defaults of lbaas/common/config.py: what an operator gets.
    lab = MultiHostLab(root, prefix=prefix, subnet24=subnet24, report_interval=2,
                       agent_down_time=8)
    a, b = lab.agents["a"], lab.agents["b"]
    try:
        lab.build()
        lab.start_server()
        a.start_agent()
        lab.wait_alive(a)
        t_create = time.monotonic()
        made = create(lab, n)
        ok, failed = check_all(lab, [t for _, t in made], deadline_s=max(60, n * 0.5))
        if failed:
            raise RuntimeError(f"{len(failed)} of {n} never served before the failover: "
                               f"{list(failed.items())[:3]}")
        created_s = time.monotonic() - t_create
        b.start_agent()
        lab.wait_alive(b)
        time.sleep(3)  # a's heartbeat answer now says another agent could take over
        t0 = time.monotonic()
        a.kill()
        moved: dict[str, float] = {}

        def watch_moves() -> None:
            while time.monotonic() - t0 < deadline_s:
                try:
                    if bound_elsewhere(lab, b.host) == n:
                        moved["t"] = time.monotonic() - t0
                        return
                except Exception:  # noqa: BLE001 - the server is busy; ask again
                    pass
                time.sleep(0.2)

        watcher = threading.Thread(target=watch_moves, daemon=True)
        watcher.start()
        ok, failed = check_all(lab, [t for _, t in made], deadline_s)
        watcher.join(deadline_s)
        times = sorted(t - t0 for t in ok.values())
        return {
            "n": n,
            "series": "rebuild",
            "created_s": round(created_s, 1),
            "last_s": round(times[-1], 1) if times else None,
            "p50_s": round(times[len(times) // 2], 1) if times else None,
            "first_s": round(times[0], 1) if times else None,
            "moved_s": round(moved["t"], 1) if "t" in moved else None,
            "served": len(ok),
            "failed": len(failed),
            "failed_examples": list(failed.items())[:5],
            "serving_s": [round(t, 2) for t in times],
        }
    finally:
        lab.teardown()
        shutil.rmtree(root, ignore_errors=True)


VRRP_FAST_ADVERT_MS = 100
VRRP_RATE = 50.0


def run_vrrp(advert_int_ms: int, event: str, repeat: int) -> dict[str, Any]:
    """``repeat`` takeovers of a fresh ACTIVE_STANDBY load balancer each, after
    ``event`` ("host" or "haproxy") on its MASTER."""
    import uuid

    from tests.helpers.active_standby import ActiveStandbyLab, measure

    takeovers = []
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="lbaas-bench-vrrp-"))
        lab = ActiveStandbyLab(root, prefix="tkq")
        try:
            lab.build()
            lb_id = str(uuid.uuid4())
            lab.deploy(lab.device(lb_id, advert_int_ms=advert_int_ms))
            lab.wait_holder(lb_id, "a", timeout=30)
            time.sleep(1.0)
            def kill(lab: ActiveStandbyLab = lab, lb_id: str = lb_id) -> float | None:
                if event == "host":
                    return lab.kill_host("a", lb_id)
                lab.kill("a", lb_id, ("haproxy",))
                return None

            seen = measure(lab, kill, seconds=8, rate=VRRP_RATE)
            takeovers.append({"serving_again_s": seen.serving_again_s,
                              "requests": seen.requests, "failed": seen.failed,
                              "failed_after_kill": seen.failed_after_event,
                              "slow": seen.slow})
        finally:
            lab.teardown()
            shutil.rmtree(root, ignore_errors=True)
    times = sorted(t["serving_again_s"] for t in takeovers
                   if t["serving_again_s"] is not None)
    return {
        "advert_int_ms": advert_int_ms, "event": event, "repeat": repeat,
        "serving_again_p50_s": round(times[len(times) // 2], 3) if times else None,
        "serving_again_max_s": round(times[-1], 3) if times else None,
        "failed_total": sum(t["failed"] for t in takeovers),
        "failed_after_kill_total": sum(t["failed_after_kill"] for t in takeovers),
        "requests_total": sum(t["requests"] for t in takeovers),
        "takeovers": takeovers,
    }


def main_vrrp(repeat: int, quick: bool) -> int:
    from bench import common

    runs = [run_vrrp(advert, event, repeat)
            for event in ("host", "haproxy")
            for advert in (VRRP_FAST_ADVERT_MS, OCTAVIA_ADVERT_MS)]
    fast_host = runs[0]
    results = {
        "serving_again_max_s_fast": fast_host["serving_again_max_s"],
        "serving_again_max_s_octavia": runs[1]["serving_again_max_s"],
        "goal_met_1s": (fast_host["serving_again_max_s"] is not None
                        and fast_host["serving_again_max_s"] <= 1.0),
    }
    path = common.write_results(f"{NAME}_vrrp", quick, results, {"runs": runs})
    common.print_table(["kill", "advert ms", "p50 s", "max s", "requests", "failed",
                        "failed after kill"],
                       [[r["event"], r["advert_int_ms"], r["serving_again_p50_s"],
                         r["serving_again_max_s"], r["requests_total"], r["failed_total"],
                         r["failed_after_kill_total"]] for r in runs])
    print(f"results: {path}")
    common.summary(f"{NAME}_vrrp",
                   f"host death: VIP serving again {fast_host['serving_again_max_s']} s "
                   f"(max) after the kill at {VRRP_FAST_ADVERT_MS} ms adverts, "
                   f"{runs[1]['serving_again_max_s']} s at Octavia's 1 s",
                   bool(results["goal_met_1s"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["check"]:
        targets = [line.strip() for line in sys.stdin if line.strip()]
        asyncio.run(_check(float(argv[1]), targets))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import common

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one load balancer only")
    p.add_argument("--n", type=int, action="append", help="load balancers (repeatable); "
                   "default 1 and 500")
    p.add_argument("--deadline", type=float, default=180.0,
                   help="seconds after the kill to wait for every VIP")
    p.add_argument("--prefix", default="thq", help="names of the lab's namespaces, "
                   "bridges and links")
    p.add_argument("--subnet24", default="", help="keep the lab in this /24 (its first "
                   "three octets, e.g. 10.98.110); default 10.98.64.0/18")
    p.add_argument("--results-name", default=NAME, help="bench/results/<this>.json "
                   "(a run beside the main one keeps the main one's file)")
    p.add_argument("--vrrp", action="store_true",
                   help="ACTIVE_STANDBY: VRRP takeover, fast advert vs Octavia's 1 s")
    p.add_argument("--repeat", type=int, default=5,
                   help="--vrrp: takeovers per advert interval and kill")
    args = p.parse_args(argv)
    if args.vrrp:
        common.require_root()
        common.install_signal_handlers()
        try:
            return main_vrrp(1 if args.quick else args.repeat, args.quick)
        except KeyboardInterrupt:
            print(f"\n{NAME}: interrupted; everything it started was stopped",
                  file=sys.stderr)
            return 130
    sizes = [1] if args.quick else (args.n or [1, 500])
    # Not common.benchmark(): its sweep removes the other benchmarks' leftovers, which
    # may be another run's live lab; this one cleans up after itself in run_one.
    common.require_root()
    common.install_signal_handlers()
    try:
        runs = [run_one(n, args.deadline, args.prefix, args.subnet24) for n in sizes]
    except KeyboardInterrupt:
        print(f"\n{NAME}: interrupted; everything it started was stopped", file=sys.stderr)
        return 130
    goals = {1: 15.0, 500: 60.0}
    results: dict[str, Any] = {}
    for r in runs:
        results[f"last_s_{r['n']}"] = r["last_s"]
        goal = goals.get(r["n"])
        if goal is not None:
            results[f"goal_met_{r['n']}"] = (r["failed"] == 0 and r["last_s"] is not None
                                            and r["last_s"] <= goal)
    path = common.write_results(args.results_name, args.quick, results, {"runs": runs})
    common.print_table(["N", "created s", "moved s", "first s", "p50 s", "last s",
                        "served", "failed"],
                       [[r["n"], r["created_s"], r["moved_s"], r["first_s"], r["p50_s"],
                         r["last_s"], r["served"], r["failed"]] for r in runs])
    print(f"results: {path}")
    common.summary(NAME, ", ".join(f"N={r['n']}: last VIP serving {r['last_s']} s after "
                                   f"the host died, {r['failed']} never"
                                   for r in runs),
                   all(v for k, v in results.items() if k.startswith("goal_met")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
