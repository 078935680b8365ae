"""reload: failed requests while the pool changes under new-connection load.

Clients in the client namespace open a new connection for every request through the VIP
for 30 s (--quick: 10 s) while the pool is changed 50 times (--quick: 15): member b3
added, removed, added... Every change makes HAProxy reload (HAProxy 2.6 cannot add a
server at run time to a config-file backend the way lbaas renders it).

- ``lbaas``: the changes go through the REST API (POST / DELETE /lb/members); the agent
  reloads with the listening sockets handed over (``-x`` + ``-sf``).
- ``v1``: the same configurations (rendered by lbaas's own templates) in a namespace
  plumbed the same way on the same bridge, reloaded as v1's driver did:
  ``ip netns exec … haproxy -f conf -p pid -sf <old pids>``, without socket transfer: the
  old process closes its listeners, and connections still waiting in their accept
  queue are reset.

Two phases, each contestant in turn:

- ``steady`` (the issue's keys): CLIENTS clients at RATE new connections/s each.
- ``flood``: wrk, FLOOD_CONNECTIONS connections, ``Connection: close``, as fast as the
  machine goes (thousands of new connections/s): the accept queues are never empty, so
  a listener closed at the wrong moment shows.

A request fails when it gets no HTTP 200 (refused, reset, timeout, or a 5xx).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
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
    wrk,
)

NAME = "reload"
# Four clients at 100 new connections/s each: several connections can be in flight at
# once, as with real clients.
CLIENTS = 4
RATE = 100.0
FLOOD_CONNECTIONS = 8
SLOW_CHANGE_S = 20.0
MONITOR = {"type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 3, "url_path": "/",
           "http_method": "GET", "expected_codes": "200", "admin_state_up": True}


class Contestant:
    """One VIP whose pool can be changed (``change()``) and whose HAProxy pid is
    readable (to count the reloads that really happened)."""

    url: str

    def change(self) -> None:
        raise NotImplementedError

    def pid(self) -> str:
        raise NotImplementedError


class Lbaas(Contestant):
    def __init__(self, lab: Lab, api: Api) -> None:
        self.lab, self.api = lab, api
        self.tenant = Tenant(api)
        self.pool_id, _ = self.tenant.pool(("b1", "b2"))
        vip = self.tenant.vip(self.pool_id)
        api.wait_status(f"/lb/vips/{vip['id']}", "vip", "ACTIVE")
        self.url = f"http://{vip['address']}/"
        self.member: str | None = None
        self.slow: list[str] = []

    def change(self) -> None:
        if self.member is None:
            self.member = self.tenant.add_member(self.pool_id, "b3")
            self._wait(f"/lb/members/{self.member}", "ACTIVE")
        else:
            self.api.delete(f"/lb/members/{self.member}")
            self._wait(f"/lb/members/{self.member}", "GONE")
            self.member = None

    def _wait(self, path: str, want: str) -> None:
        """A change not applied within SLOW_CHANGE_S is a finding, not a reason to throw
        away the run: it is counted and the run goes on (the next change waits too)."""
        started = time.monotonic()
        try:
            self.api.wait_status(path, "member", want, timeout=SLOW_CHANGE_S)
        except RuntimeError as exc:
            self.slow.append(f"{exc} after {time.monotonic() - started:.1f} s")
            print(f"  slow change: {exc}", flush=True)

    def pid(self) -> str:
        assert self.lab.service is not None
        return str(self.lab.service.haproxy_pids().get(self.pool_id))


class V1(Contestant):
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.lb = HandMadeLB(lab, "v1r", f"{SPEC.net}.3.200")
        self.lb.plumb()
        ips = SPEC.backend_ips
        self.two = [(ips["b1"], 80), (ips["b2"], 80)]
        self.three = [*self.two, (ips["b3"], 80)]
        self.with_b3 = False
        self.lb.start(self.render())
        self.url = f"http://{self.lb.address}/"

    def render(self) -> str:
        return render_lbaas_conf(self.lb.dir, self.lb.address, 80,
                                 self.three if self.with_b3 else self.two, MONITOR)

    def change(self) -> None:
        self.with_b3 = not self.with_b3
        self.lb.conf.write_text(self.render())
        old = self.lb.pid_file.read_text().split()
        # v1's update(): _spawn(logical_config, ['-sf'] + old pids)
        sh("ip", "netns", "exec", self.lb.ns, "haproxy", "-f", str(self.lb.conf), "-p",
           str(self.lb.pid_file), "-sf", *old)
        self.lab.pids += [int(p) for p in self.lb.pid_file.read_text().split()]

    def pid(self) -> str:
        return self.lb.pid_file.read_text().strip()


def steady_load(url: str, seconds: float) -> Callable[[], dict[str, Any]]:
    loads = [netlab.start_load(SPEC, url, seconds, RATE) for _ in range(CLIENTS)]

    def result() -> dict[str, Any]:
        total: dict[str, Any] = {"requests": 0, "failed": 0, "errors": [], "bodies": {}}
        for load in loads:
            r = netlab.load_result(load, timeout=seconds + 60)
            total["requests"] += r["requests"]
            total["failed"] += r["failed"]
            total["errors"] += r["errors"]
            for body, count in r["bodies"].items():
                total["bodies"][body] = total["bodies"].get(body, 0) + count
        return total
    return result


def flood_load(url: str, seconds: float) -> Callable[[], dict[str, Any]]:
    import threading

    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.update(
        wrk(url, seconds, FLOOD_CONNECTIONS, new_connections=True)))
    thread.start()

    def result() -> dict[str, Any]:
        thread.join(seconds + 90)
        if not box:
            raise RuntimeError("wrk did not finish")
        failed = box["errors"] + box["non2xx"]
        return {"requests": box["requests"] + box["errors"], "failed": failed,
                "errors": [], "bodies": {}, "rps": box["rps"]}
    return result


def run_phase(who: Contestant, seconds: float, changes: int,
              start_load: Callable[[str, float], Callable[[], dict[str, Any]]]
              ) -> dict[str, Any]:
    """``changes`` changes evenly spread over ``seconds`` of load, with half a second of
    load alone before the first and after the last."""
    netlab.wait_until(lambda: netlab.client_get(SPEC, who.url)[0] in ("b1", "b2", "b3"),
                      timeout=30, message=f"{who.url} to serve")
    pids = [who.pid()]
    result = start_load(who.url, seconds)
    try:
        period = (seconds - 1.0) / changes
        start = time.monotonic() + 0.5
        time.sleep(0.5)
        for k in range(changes):
            who.change()
            pid = who.pid()
            if pid != pids[-1]:
                pids.append(pid)
            delay = start + (k + 1) * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        out = result()
    out["reloads_seen"] = len(pids) - 1
    return out


def main() -> None:
    args = parse_args(__doc__ or NAME)
    seconds, changes = (10.0, 15) if args.quick else (30.0, 50)
    flood_seconds, flood_changes = (5.0, 8) if args.quick else (30.0, 50)
    res: dict[str, dict[str, Any]] = {}
    with benchmark(NAME), Lab(extra_conf="debug = false") as lab:
        service = lab.start_service()
        api = Api(service.url)
        try:
            contestants: dict[str, Contestant] = {"lbaas": Lbaas(lab, api), "v1": V1(lab)}
            for name, who in contestants.items():
                res[f"{name}/steady"] = run_phase(who, seconds, changes, steady_load)
                print(f"  {name} steady: {res[f'{name}/steady']['failed']} failed", flush=True)
            for name, who in contestants.items():
                res[f"{name}/flood"] = run_phase(who, flood_seconds, flood_changes, flood_load)
                print(f"  {name} flood: {res[f'{name}/flood']['failed']} failed", flush=True)
            lbaas_contestant = contestants["lbaas"]
            assert isinstance(lbaas_contestant, Lbaas)
            slow = lbaas_contestant.slow
            if slow and service.log.exists():
                kept = Path(tempfile.gettempdir()) / "bp-bench-slow-changes-service.log"
                shutil.copyfile(service.log, kept)
                print(f"service log (slow changes) kept in {kept}")
        finally:
            api.close()

    rows = [[key.split("/")[0], key.split("/")[1], r["requests"], r["failed"],
             r["reloads_seen"],
             " ".join(f"{k}={v}" for k, v in sorted(r["bodies"].items())) or
             f"{r.get('rps', 0):,.0f} req/s"]
            for key, r in res.items()]
    print_table(["contestant", "phase", "requests", "failed", "reloads", "answers"], rows,
                title=f"reload: steady = {changes} changes in {seconds:.0f} s under {CLIENTS} "
                      f"x {RATE:.0f} new conn/s; flood = {flood_changes} changes in "
                      f"{flood_seconds:.0f} s under wrk -c{FLOOD_CONNECTIONS} Connection: close")
    for key, r in res.items():
        if r["errors"]:
            print(f"{key} errors (first {len(r['errors'])}): {', '.join(r['errors'][:5])}")
    lb, v1 = res["lbaas/steady"], res["v1/steady"]
    lbf, v1f = res["lbaas/flood"], res["v1/flood"]
    results = {"lbaas_failed": lb["failed"], "lbaas_requests": lb["requests"],
               "v1_failed": v1["failed"], "v1_requests": v1["requests"],
               "changes": changes, "seconds": seconds, "rate_per_s": RATE * CLIENTS,
               "lbaas_reloads_seen": lb["reloads_seen"], "v1_reloads_seen": v1["reloads_seen"],
               "flood_lbaas_failed": lbf["failed"], "flood_lbaas_requests": lbf["requests"],
               "flood_v1_failed": v1f["failed"], "flood_v1_requests": v1f["requests"],
               "flood_changes": flood_changes, "flood_seconds": flood_seconds,
               "flood_lbaas_reloads_seen": lbf["reloads_seen"],
               "flood_v1_reloads_seen": v1f["reloads_seen"],
               "lbaas_slow_changes": len(slow)}
    if slow:
        print(f"lbaas changes slower than {SLOW_CHANGE_S:.0f} s: {len(slow)}: {slow[0]}")
    path = write_results(NAME, args.quick, results,
                         {**{k: dict(r) for k, r in res.items()}, "lbaas_slow_changes": slow})
    print(f"wrote {path}")
    if not args.no_plot and not args.quick:
        plot(DOCS / "reload.png",
             f"Failed requests during pool reloads ({changes} changes per phase)",
             "failed requests",
             {"lbaas steady": [lb["failed"]], "v1 steady": [v1["failed"]],
              "lbaas flood": [lbf["failed"]], "v1 flood": [v1f["failed"]]}, kind="bar")
    summary(NAME, f"steady: lbaas {lb['failed']} failed of {lb['requests']}, v1 "
            f"{v1['failed']} of {v1['requests']}; flood: lbaas {lbf['failed']} of "
            f"{lbf['requests']}, v1 {v1f['failed']} of {v1f['requests']}; {changes} changes "
            "(target lbaas_failed = 0)", lb["failed"] == 0)


if __name__ == "__main__":
    main()
