"""member_update: a member's weight set to 0 and back through the API.

A pool with members b1 and b2 (round robin, weight 1 each) behind a VIP. Each round:
``PUT /lb/members/<b1> {"weight": 0}``, then the client in the client namespace polls
the VIP (a new connection per request) until ten answers in a row come from b2: the
traffic has shifted. Then ``weight 1`` again, until b1 answers again. The time is from
just before the PUT to the first request of the shifted traffic.

``reloads`` counts rounds in which the pool's HAProxy process changed (pid and kernel
start time read before and after): lbaas applies weights through HAProxy's runtime API,
so the target is 0. v1 had no runtime API path: every weight change was a ``-sf`` reload.
"""

from __future__ import annotations

from common import (
    Api,
    Lab,
    Probe,
    Tenant,
    benchmark,
    now,
    parse_args,
    percentile,
    print_table,
    rnd,
    summary,
    write_results,
)

NAME = "member_update"
IN_A_ROW = 10


def identity(lab: Lab, pool_id: str) -> tuple[int, str]:
    """(pid, start time): one process for the life of the host."""
    from lbaas.agent.drivers.haproxy import process

    assert lab.service is not None
    pid = lab.service.haproxy_pids()[pool_id]
    return pid, process.process_start_time(pid)


def main() -> None:
    args = parse_args(__doc__ or NAME)
    rounds = 5 if args.quick else 20
    drain: list[float] = []
    restore: list[float] = []
    reloads = 0
    with benchmark(NAME), Lab(extra_conf="debug = false") as lab:
        service = lab.start_service()
        api = Api(service.url)
        probe = Probe()
        try:
            tenant = Tenant(api)
            pool_id, members = tenant.pool(("b1", "b2"))
            vip = tenant.vip(pool_id)
            api.wait_status(f"/lb/vips/{vip['id']}", "vip", "ACTIVE")
            url = f"http://{vip['address']}/"
            probe.first_200(url, 30)
            probe.until(url, "b1", 1, 30)
            path = f"/lb/members/{members['b1']}"
            for k in range(rounds):
                before = identity(lab, pool_id)
                t0 = now()
                api.put(path, {"member": {"weight": 0}})
                drain.append((probe.until(url, "b2", IN_A_ROW) - t0) * 1000)
                t0 = now()
                api.put(path, {"member": {"weight": 1}})
                restore.append((probe.until(url, "b1", 1) - t0) * 1000)
                after = identity(lab, pool_id)
                reloads += before != after
                print(f"  round {k + 1}/{rounds}: drain {drain[-1]:.0f} ms, restore "
                      f"{restore[-1]:.0f} ms, {'RELOADED' if before != after else 'same process'}",
                      flush=True)
        finally:
            probe.close()
            api.close()

    both = drain + restore
    rows = [["weight 1 -> 0", len(drain), percentile(drain, 50), percentile(drain, 95)],
            ["weight 0 -> 1", len(restore), percentile(restore, 50), percentile(restore, 95)],
            ["both", len(both), percentile(both, 50), percentile(both, 95)]]
    print_table(["change", "n", "p50 ms", "p95 ms"], rows,
                title="member_update: PUT /lb/members weight -> traffic shift seen by the client")
    print(f"HAProxy reloads during {rounds} rounds ({2 * rounds} weight changes): {reloads}")
    results = {"p50_ms": rnd(percentile(both, 50)), "p95_ms": rnd(percentile(both, 95)),
               "drain_p50_ms": rnd(percentile(drain, 50)),
               "restore_p50_ms": rnd(percentile(restore, 50)),
               "reloads": reloads, "rounds": rounds}
    out = write_results(NAME, args.quick, results,
                        {"drain_ms": [round(x, 1) for x in drain],
                         "restore_ms": [round(x, 1) for x in restore]})
    print(f"wrote {out}")
    summary(NAME, f"traffic shift p50 {percentile(both, 50):.0f} ms after the PUT, "
            f"{reloads} reloads in {2 * rounds} weight changes (target 0)", reloads == 0)


if __name__ == "__main__":
    main()
