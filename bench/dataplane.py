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

``--tls``: the TLS contest instead (``dataplane_tls``, see :func:`tls_main`): a
TERMINATED_HTTPS listener as lbaas renders it against a hand-tuned HAProxy with the same
certificate, keep-alive requests/s and new-connection (one full handshake per request)
handshakes/s, in a small lab of its own (``--prefix``, ``--subnet``).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
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
    median,
    netlab,
    netns,
    parse_args,
    plot,
    print_table,
    rnd,
    run_haproxy,
    sh,
    stop_pids,
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


# ------------------------------------------------------------------ TLS

TLS_NAME = "dataplane_tls"
# The member: one HAProxy answering every request itself, as the main contest's backends.
TLS_BACKEND_CONF = """global
    daemon
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend be
    bind {address}:80
    http-request return status 200 content-type text/plain string ok
"""
# Hand-tuned TLS termination with the same function as lbaas's listener (same
# certificate, versions and ALPN; X-Forwarded-For; the member checked): one PEM given
# with ``crt`` instead of a crt-list, no logging, a global maxconn, server connections
# reused for every request.
TLS_TUNED_CONF = """global
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
    bind {address}:443 ssl crt {pem} ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 alpn h2,http/1.1
    option forwardfor
    default_backend pool
backend pool
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
    server m1 {member}:80 check inter 2s fall 3 rise 3
"""


class TlsLab:
    """A bridge, a client, a member and two load balancer namespaces in one subnet, all
    named ``<prefix>t...``: contestants plumbed exactly alike."""

    def __init__(self, prefix: str, subnet: str) -> None:
        net = ipaddress.ip_network(subnet)
        host = [str(ip) for ip in net.hosts()]
        self.prefix = prefix
        self.prefixlen = net.prefixlen
        self.bridge = f"{prefix}tbr0"
        self.hosts = {"cl": host[99], "be": host[10], "lb": host[9], "tu": host[19]}
        self.root = Path(tempfile.mkdtemp(prefix=f"{prefix}-tls-bench-"))
        self.pids: list[int] = []

    def ns(self, tag: str) -> str:
        return f"{self.prefix}t-{tag}"

    def __enter__(self) -> TlsLab:
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            sh("ip", "link", "set", self.bridge, "up")
            for tag, address in self.hosts.items():
                ns, outer = self.ns(tag), f"{self.prefix}t-{tag}o"
                sh("ip", "netns", "add", ns)
                sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0",
                   "netns", ns)
                sh("ip", "link", "set", outer, "master", self.bridge, "up")
                sh("ip", "-n", ns, "addr", "add", f"{address}/{self.prefixlen}", "dev", "eth0")
                sh("ip", "-n", ns, "link", "set", "eth0", "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            # As in the main lab: the client's TIME_WAITs must not set the pace.
            netns(self.ns("cl"), "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1",
                  "net.ipv4.ip_local_port_range=1024 65535")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def haproxy(self, tag: str, conf: str) -> Path:
        directory = self.root / tag
        directory.mkdir(exist_ok=True)
        path = directory / "haproxy.cfg"
        path.write_text(conf)
        run_haproxy(self.ns(tag), path, directory / "pid")
        self.pids += [int(t) for t in (directory / "pid").read_text().split()]
        return path

    def close(self) -> None:
        stop_pids(self.pids)
        for tag in self.hosts:
            sh("ip", "netns", "del", self.ns(tag), check=False)
            sh("ip", "link", "del", f"{self.prefix}t-{tag}o", check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def lbaas_tls_conf(lab: TlsLab, certificate: Any) -> str:
    """What the agent renders for a TERMINATED_HTTPS listener (X-Forwarded-For, TLS 1.2
    and 1.3, ALPN h2 and http/1.1) with an HTTP pool of one member and an HTTP monitor,
    its certificate files written as the driver writes them."""
    from lbaas.agent.drivers.haproxy import cfg
    from lbaas.agent.drivers.haproxy.namespace_driver import _write_tls_files
    from lbaas.common import logical_device as ld

    directory = lab.root / "lb"
    directory.mkdir(exist_ok=True)
    port = ld.Port.model_validate({"id": "bench-port", "network_id": "n",
                                   "mac_address": "fa:16:3e:00:00:01", "network": {"id": "n"}})
    lb = ld.LoadBalancer(
        id="bench-tls", vip_address=lab.hosts["lb"], vip_port=port,
        listeners=[ld.Listener(
            id="bench-listener", protocol="TERMINATED_HTTPS", protocol_port=443,
            default_pool_id="bench-pool", insert_headers={"X-Forwarded-For": "true"},
            default_tls_container=certificate, tls_versions=["TLSv1.2", "TLSv1.3"],
            alpn_protocols=["h2", "http/1.1"])],
        pools=[ld.Pool(id="bench-pool", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                       healthmonitor=ld.HealthMonitor(id="bench-hm", type="HTTP", delay=2,
                                                      timeout=2, max_retries=3),
                       members=[ld.Member(id="m1", address=lab.hosts["be"],
                                          protocol_port=80)])])
    files = cfg.TlsFiles(str(directory / "certs"))
    view = cfg.build_view(lb, cfg.StatePaths(str(directory / "sock"),
                                             str(directory / "servers-state"),
                                             str(directory / "certs")),
                          user_group="nogroup", hard_stop_after=30, tls_files=files)
    _write_tls_files(directory / "certs", files.files)
    return cfg.render(view)


def _tls_args() -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--prefix", default="bp", help="TLS lab's name prefix (default bp)")
    p.add_argument("--subnet", default="10.95.240.0/24", help="TLS lab's subnet")
    return p.parse_known_args()


@contextlib.contextmanager
def _tls_frame() -> Iterator[None]:
    if os.geteuid() != 0 or shutil.which("wrk") is None:
        sys.exit("the TLS contest needs root and wrk")
    try:
        yield
    except KeyboardInterrupt:
        sys.exit(130)


def tls_main(tls: argparse.Namespace, argv: list[str]) -> None:
    """lbaas's TERMINATED_HTTPS listener against hand-tuned TLS termination, same
    certificate (EC P-256, from a test CA), same member, contestants back to back in
    each round as in the main contest. ``keepalive``: requests/s over kept connections;
    ``close``: one request per connection, each a full handshake (wrk keeps no session
    to offer for resumption), i.e. handshakes/s. Keys: ``lbaas_rps``/``tuned_rps``,
    ``lbaas_handshakes``/``tuned_handshakes``, ``ratio`` the lower of the two ratios."""
    from lbaas.common import logical_device as ld
    from tests.helpers.tls_material import Authority

    args = parse_args(tls_main.__doc__ or TLS_NAME, argv)
    rounds, seconds = (1, 4) if args.quick else (6, 5)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {w: [] for w in WHO} for m in MODES}
    leaf = Authority("bench CA").issue("bench.tls.test", ("bench.tls.test",))
    certificate = ld.TlsCertificate(id="bench-cert", certificate=leaf.certificate,
                                    private_key=leaf.private_key)
    with _tls_frame(), TlsLab(tls.prefix, tls.subnet) as lab:
        lab.haproxy("be", TLS_BACKEND_CONF.format(address=lab.hosts["be"]))
        rendered = lbaas_tls_conf(lab, certificate)
        lab.haproxy("lb", rendered)
        pem = lab.root / "tu" / "bench.pem"
        (lab.root / "tu").mkdir(exist_ok=True)
        pem.write_text(leaf.bundle)
        os.chmod(pem, 0o600)
        tuned = TLS_TUNED_CONF.format(dir=lab.root / "tu", address=lab.hosts["tu"],
                                      pem=pem, member=lab.hosts["be"])
        lab.haproxy("tu", tuned)
        urls = {"lbaas": f"https://{lab.hosts['lb']}/", "tuned": f"https://{lab.hosts['tu']}/"}
        time.sleep(1)
        for mode in MODES:
            for r in range(rounds):
                order = list(WHO)[r % len(WHO):] + list(WHO)[:r % len(WHO)]
                for who in order:
                    runs[mode][who].append(wrk(urls[who], seconds, CONNECTIONS,
                                               new_connections=mode == "close",
                                               client_ns=lab.ns("cl")))
                print(f"  tls {mode} round {r + 1}/{rounds}: " + ", ".join(
                    f"{w} {runs[mode][w][-1]['rps']:,.0f}/s" for w in WHO), flush=True)
    rps = {m: {w: median([x["rps"] for x in runs[m][w]]) for w in WHO} for m in MODES}
    ratios = {m: median([a["rps"] / b["rps"]
                         for a, b in zip(runs[m]["lbaas"], runs[m]["tuned"], strict=True)])
              for m in MODES}
    ratio = min(ratios.values())
    errors = {m: sum(x["errors"] + x["non2xx"] for w in runs[m].values() for x in w)
              for m in MODES}
    print_table(["run", "lbaas /s", "tuned /s", "ratio", "errors"],
                [[m, rps[m]["lbaas"], rps[m]["tuned"], f"{ratios[m]:.3f}", errors[m]]
                 for m in MODES],
                title=f"dataplane TLS: wrk -t1 -c{CONNECTIONS}, {seconds} s per run; "
                      f"median of {rounds} rounds; keepalive = requests/s, close = "
                      "handshakes/s")
    results = {"lbaas_rps": rnd(rps["keepalive"]["lbaas"], 0),
               "tuned_rps": rnd(rps["keepalive"]["tuned"], 0),
               "lbaas_handshakes": rnd(rps["close"]["lbaas"], 0),
               "tuned_handshakes": rnd(rps["close"]["tuned"], 0),
               "ratio": rnd(ratio, 3),
               "ratio_keepalive": rnd(ratios["keepalive"], 3),
               "ratio_close": rnd(ratios["close"], 3),
               "errors": errors,
               "connections": CONNECTIONS, "seconds": seconds, "rounds": rounds}
    path = write_results(TLS_NAME, args.quick, results,
                         {"runs": runs, "lbaas_config": rendered, "tuned_config": tuned})
    print(f"wrote {path}")
    summary(TLS_NAME, f"keep-alive lbaas {rps['keepalive']['lbaas']:,.0f} req/s vs tuned "
            f"{rps['keepalive']['tuned']:,.0f} ({ratios['keepalive']:.2f}); handshakes "
            f"{rps['close']['lbaas']:,.0f}/s vs {rps['close']['tuned']:,.0f}/s "
            f"({ratios['close']:.2f}); ratio {ratio:.2f} (target >= {TARGET})",
            ratio >= TARGET)


if __name__ == "__main__":
    _tls, _rest = _tls_args()
    if _tls.tls:
        tls_main(_tls, _rest)
    else:
        main()
