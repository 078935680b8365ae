"""dataplane: requests per second through the VIP, lbaas's rendered configuration against
a hand-tuned one, on the same three fast backends (HAProxy answering by itself).

- ``lbaas``: a load balancer made through the API (3 members, HTTP monitor); HAProxy runs
  the configuration the agent rendered.
- ``tuned``: a namespace plumbed the same way on the same bridge, HAProxy with the
  configuration below, written by hand for throughput (same members, same checks).

The client is wrk in the client namespace (one thread, CONNECTIONS connections), so the
path is the one a tenant's client takes: client -> gateway -> bridge -> VIP -> backends.
Two runs per contestant: keep-alive (many requests per connection) and new-connection
(``Connection: close``, one request per connection). Contestants run back to back in
each round (6 rounds of 5 s; --quick: 1 of 4 s); a ratio is taken within each round, as
the machine's other load drifts, and the median of the rounds' ratios counts. Everything
shares the machine's two cores (client, load balancer, backends), alike for all.

Keys: ``lbaas_rps``/``tuned_rps`` are the keep-alive medians; ``ratio`` is the *lower* of
the keep-alive and new-connection ratios (lbaas / tuned), so a loss in either shows.
"""

from __future__ import annotations

from typing import Any

from common import (
    DOCS,
    SPEC,
    Api,
    HandMadeLB,
    Lab,
    Tenant,
    benchmark,
    median,
    netlab,
    parse_args,
    plot,
    print_table,
    rnd,
    summary,
    write_results,
    wrk,
)

NAME = "dataplane"
TARGET = 0.95
CONNECTIONS = 16
TUNED_ADDRESS = f"{SPEC.net}.4.1"
WHO = ("lbaas", "tuned")
MODES = ("keepalive", "close")

# Hand-tuned for throughput, with the same function as lbaas's (backends still get
# X-Forwarded-For, members still have health checks): no logging; nbthread left at its
# default (one thread per CPU); server connections kept and reused for every request
# (``http-reuse always``), so that a new client connection does not cost a new backend
# connection; a global maxconn instead of the one derived from the fd limit.
TUNED_CONF = """global
    daemon
    maxconn 8000
    stats socket {dir}/sock mode 0600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
    timeout http-keep-alive 10s
    http-reuse always
frontend tuned
    bind {address}:80
    option forwardfor
    default_backend pool
backend pool
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
{servers}
"""


def tuned_conf(lb: HandMadeLB) -> str:
    servers = "\n".join(f"    server {name} {ip}:80 check inter 2s fall 3 rise 3"
                        for name, ip in SPEC.backend_ips.items())
    return TUNED_CONF.format(dir=lb.dir, address=lb.address, servers=servers)


def run_wrk(url: str, mode: str, seconds: int) -> dict[str, Any]:
    return wrk(url, seconds, CONNECTIONS, new_connections=mode == "close")


def main() -> None:
    args = parse_args(__doc__ or NAME)
    rounds, seconds = (1, 4) if args.quick else (6, 5)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {w: [] for w in WHO} for m in MODES}
    with benchmark(NAME), Lab(extra_conf="debug = false") as lab:
        service = lab.start_service()
        api = Api(service.url)
        try:
            tenant = Tenant(api)
            pool_id, _ = tenant.pool()
            vip = tenant.vip(pool_id)
            api.wait_status(f"/lb/vips/{vip['id']}", "vip", "ACTIVE")
        finally:
            api.close()
        tuned = HandMadeLB(lab, "tun", TUNED_ADDRESS)
        tuned.plumb()
        tuned.dir.mkdir(parents=True, exist_ok=True)
        tuned.start(tuned_conf(tuned))
        rendered = (lab.root / "haproxy" / pool_id / "conf").read_text()
        urls = {"lbaas": f"http://{vip['address']}/", "tuned": f"http://{TUNED_ADDRESS}/"}
        for url in urls.values():
            netlab.wait_until(lambda u=url: netlab.client_get(SPEC, u)[0].startswith("b"),
                              timeout=30, message=f"{url} to serve")
        for mode in MODES:
            for r in range(rounds):
                order = list(WHO)[r % len(WHO):] + list(WHO)[:r % len(WHO)]
                for who in order:
                    runs[mode][who].append(run_wrk(urls[who], mode, seconds))
                print(f"  {mode} round {r + 1}/{rounds}: " + ", ".join(
                    f"{w} {runs[mode][w][-1]['rps']:,.0f}/s" for w in WHO),
                    flush=True)

    rps = {m: {w: median([x["rps"] for x in runs[m][w]]) for w in WHO}
           for m in MODES}
    # The machine's other load drifts during a run: a ratio is taken within each round
    # (contestants back to back), and the median of those ratios counts.
    ratios = {m: median([a["rps"] / b["rps"]
                         for a, b in zip(runs[m]["lbaas"], runs[m]["tuned"], strict=True)])
              for m in MODES}
    ratio = min(ratios.values())
    rows = [[m, rps[m]["lbaas"], rps[m]["tuned"], f"{ratios[m]:.3f}",
             sum(x["errors"] + x["non2xx"] for w in runs[m].values() for x in w)]
            for m in MODES]
    print_table(["run", "lbaas req/s", "tuned req/s", "ratio", "errors"], rows,
                title=f"dataplane: wrk -t1 -c{CONNECTIONS}, {seconds} s per run; req/s: "
                      f"median of {rounds} rounds; ratio: median of the rounds' ratios")
    results = {"lbaas_rps": rnd(rps["keepalive"]["lbaas"], 0),
               "tuned_rps": rnd(rps["keepalive"]["tuned"], 0),
               "ratio": rnd(ratio, 3),
               "lbaas_close_rps": rnd(rps["close"]["lbaas"], 0),
               "tuned_close_rps": rnd(rps["close"]["tuned"], 0),
               "ratio_keepalive": rnd(ratios["keepalive"], 3),
               "ratio_close": rnd(ratios["close"], 3),
               "connections": CONNECTIONS, "seconds": seconds, "rounds": rounds}
    path = write_results(NAME, args.quick, results,
                         {"runs": runs, "lbaas_config": rendered,
                          "tuned_config": tuned_conf(tuned)})
    print(f"wrote {path}")
    if not args.no_plot and not args.quick:
        plot(DOCS / "dataplane.png", "Requests/s through the VIP (median of rounds)",
             "requests per second",
             {"lbaas keep-alive": [round(rps["keepalive"]["lbaas"])],
              "tuned keep-alive": [round(rps["keepalive"]["tuned"])],
              "lbaas new-conn": [round(rps["close"]["lbaas"])],
              "tuned new-conn": [round(rps["close"]["tuned"])]}, kind="bar")
    summary(NAME, f"keep-alive lbaas {rps['keepalive']['lbaas']:,.0f}/s vs tuned "
            f"{rps['keepalive']['tuned']:,.0f}/s ({ratios['keepalive']:.2f}); new-connection "
            f"{rps['close']['lbaas']:,.0f}/s vs {rps['close']['tuned']:,.0f}/s "
            f"({ratios['close']:.2f}); ratio {ratio:.2f} (target >= {TARGET})", ratio >= TARGET)


if __name__ == "__main__":
    main()
