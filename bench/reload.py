"""reload: failed requests while the pool changes under steady new-connection load.

A client in the client namespace opens a new connection for every request, at a steady
rate, through the VIP for 30 s (--quick: 10 s), while the pool is changed 50 times
(--quick: 15): member b3 added, removed, added... Every change makes HAProxy reload
(a new server is not something the runtime API can add in HAProxy 2.6's config model).

- ``lbaas``: the changes go through the REST API (POST / DELETE /lb/members); the agent
  reloads with the listening sockets handed over (``-x`` + ``-sf``).
- ``v1``: the same configurations (rendered by lbaas's own templates) in a namespace
  plumbed the same way on the same bridge, reloaded as v1's driver did:
  ``ip netns exec … haproxy -f conf -p pid -sf <old pids>``, no socket transfer: the old
  process closes its listeners while connections wait in their accept queues, and those
  are reset.

A request fails when it gets no HTTP 200 (refused, reset, timeout, or a 5xx).
"""

from __future__ import annotations

import time
from typing import Any

from common import (
    DOCS,
    SPEC,
    Api,
    HandMadeLB,
    Lab,
    Tenant,
    benchmark,
    netlab,
    parse_args,
    plot,
    print_table,
    render_lbaas_conf,
    sh,
    summary,
    write_results,
)

NAME = "reload"
# Four clients at 100 new connections/s each: several connections can be in flight at
# once, as with real clients (one sequential client is almost never caught in an
# accept queue at the moment a listener closes).
CLIENTS = 4
RATE = 100.0
MONITOR = {"type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 3, "url_path": "/",
           "http_method": "GET", "expected_codes": "200", "admin_state_up": True}


def pace(start: float, k: int, period: float) -> None:
    delay = start + (k + 1) * period - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def start_loads(url: str, seconds: float) -> list[Any]:
    return [netlab.start_load(SPEC, url, seconds, RATE) for _ in range(CLIENTS)]


def load_results(loads: list[Any], seconds: float) -> dict[str, Any]:
    total: dict[str, Any] = {"requests": 0, "failed": 0, "errors": [], "bodies": {}}
    for load in loads:
        r = netlab.load_result(load, timeout=seconds + 60)
        total["requests"] += r["requests"]
        total["failed"] += r["failed"]
        total["errors"] += r["errors"]
        for body, count in r["bodies"].items():
            total["bodies"][body] = total["bodies"].get(body, 0) + count
    return total


def run_lbaas(lab: Lab, api: Api, seconds: float, changes: int) -> dict[str, Any]:
    tenant = Tenant(api)
    pool_id, _ = tenant.pool(("b1", "b2"))
    vip = tenant.vip(pool_id)
    api.wait_status(f"/lb/vips/{vip['id']}", "vip", "ACTIVE")
    url = f"http://{vip['address']}/"
    netlab.wait_until(lambda: netlab.client_get(SPEC, url)[0] in ("b1", "b2"), timeout=30,
                      message="the lbaas VIP to serve")
    assert lab.service is not None
    pids = [lab.service.haproxy_pids()[pool_id]]
    loads = start_loads(url, seconds)
    try:
        # A moment of steady load before the first change, and after the last one.
        period = (seconds - 1.0) / (changes + 1)
        start = time.monotonic() + 0.5
        time.sleep(0.5)
        member: str | None = None
        for k in range(changes):
            if member is None:
                member = tenant.add_member(pool_id, "b3")
                api.wait_status(f"/lb/members/{member}", "member", "ACTIVE", timeout=10)
            else:
                api.delete(f"/lb/members/{member}")
                api.wait_status(f"/lb/members/{member}", "member", "GONE", timeout=10)
                member = None
            pid = lab.service.haproxy_pids().get(pool_id)
            if pid and pid != pids[-1]:
                pids.append(pid)
            pace(start, k, period)
    finally:
        result = load_results(loads, seconds)
    result["reloads_seen"] = len(pids) - 1
    return result


def run_v1(lab: Lab, seconds: float, changes: int) -> dict[str, Any]:
    address = f"{SPEC.net}.3.200"
    lb = HandMadeLB(lab, "v1r", address)
    lb.plumb()
    ips = SPEC.backend_ips
    two = [(ips["b1"], 80), (ips["b2"], 80)]
    three = [*two, (ips["b3"], 80)]
    lb.start(render_lbaas_conf(lb.dir, address, 80, two, MONITOR))
    url = f"http://{address}/"
    netlab.wait_until(lambda: netlab.client_get(SPEC, url)[0] in ("b1", "b2"), timeout=30,
                      message="the v1 VIP to serve")
    pids = lb.pid_file.read_text().split()
    loads = start_loads(url, seconds)
    reloads = 0
    try:
        period = (seconds - 1.0) / (changes + 1)
        start = time.monotonic() + 0.5
        time.sleep(0.5)
        for k in range(changes):
            lb.conf.write_text(render_lbaas_conf(lb.dir, address, 80,
                                                 three if k % 2 == 0 else two, MONITOR))
            # v1's update(): _spawn(logical_config, ['-sf'] + old pids)
            sh("ip", "netns", "exec", lb.ns, "haproxy", "-f", str(lb.conf), "-p",
               str(lb.pid_file), "-sf", *pids)
            new = lb.pid_file.read_text().split()
            lab.pids += [int(p) for p in new]
            reloads += new != pids
            pids = new
            pace(start, k, period)
    finally:
        result = load_results(loads, seconds)
    result["reloads_seen"] = reloads
    lb.destroy()
    return result


def main() -> None:
    args = parse_args(__doc__ or NAME)
    seconds, changes = (10.0, 15) if args.quick else (30.0, 50)
    with benchmark(NAME), Lab(extra_conf="debug = false") as lab:
        service = lab.start_service()
        api = Api(service.url)
        try:
            lbaas = run_lbaas(lab, api, seconds, changes)
        finally:
            api.close()
        v1 = run_v1(lab, seconds, changes)

    rows = [[name, r["requests"], r["failed"], r["reloads_seen"],
             " ".join(f"{k}={v}" for k, v in sorted(r["bodies"].items()))]
            for name, r in (("lbaas", lbaas), ("v1", v1))]
    print_table(["contestant", "requests", "failed", "reloads", "answers"], rows,
                title=f"reload: {changes} pool changes in {seconds:.0f} s under {CLIENTS} x "
                      f"{RATE:.0f} new connections/s")
    for name, r in (("lbaas", lbaas), ("v1", v1)):
        if r["errors"]:
            print(f"{name} errors (first {len(r['errors'])}): {', '.join(r['errors'][:5])}")
    results = {"lbaas_failed": lbaas["failed"], "lbaas_requests": lbaas["requests"],
               "v1_failed": v1["failed"], "v1_requests": v1["requests"],
               "changes": changes, "seconds": seconds, "clients": CLIENTS,
               "rate_per_s": RATE * CLIENTS,
               "lbaas_reloads_seen": lbaas["reloads_seen"],
               "v1_reloads_seen": v1["reloads_seen"]}
    path = write_results(NAME, args.quick, results,
                         {"lbaas_errors": lbaas["errors"], "v1_errors": v1["errors"],
                          "lbaas_answers": lbaas["bodies"], "v1_answers": v1["bodies"]})
    print(f"wrote {path}")
    if not args.no_plot and not args.quick:
        plot(DOCS / "reload.png",
             f"Failed requests during {changes} reloads ({seconds:.0f} s, "
             f"{CLIENTS * RATE:.0f} new conn/s)", "failed requests",
             {"lbaas": [lbaas["failed"]], "v1 (-sf)": [v1["failed"]]}, kind="bar")
    summary(NAME, f"lbaas {lbaas['failed']} failed of {lbaas['requests']}, v1 {v1['failed']} "
            f"failed of {v1['requests']}, {changes} changes (target lbaas_failed = 0)",
            lbaas["failed"] == 0)


if __name__ == "__main__":
    main()
