"""What every benchmark shares: the command line, timing, percentiles, the results file,
the table, the one-line summary, the plots, and the lab they run in.

The lab is tests/helpers/netlab.py's with this directory's own prefix (``bp``, bridge
``bpbr0``, 10.95.0.0/16), so a benchmark can run while the tests run. Its backends are
not Python's http.server but one small HAProxy per backend namespace answering every
request itself (``http-request return``): tens of thousands of requests per second, so
that what a benchmark measures is the load balancer and not the backend.

Everything a benchmark starts is stopped in ``finally`` blocks, by PID; SIGTERM is turned
into KeyboardInterrupt so that ``kill <pid>`` cleans up like Ctrl-C does. A run killed
with SIGKILL leaves things behind: the next run's :func:`sweep_leftovers` removes them
(``bp-*`` namespaces, ``bpbr0``, and service state directories under /tmp/bp-bench-*).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
DOCS = REPO / "docs"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.helpers import netlab  # noqa: E402
from tests.helpers.netlab import LabSpec, Service, Topology, netns, sh  # noqa: E402

SPEC = LabSpec("bp", "10.95")
# lbaas allocates its VIPs from 10.95.1.x; the other contestants use their own blocks of
# the same tenant network, so that nothing but the thing measured differs.
LBAAS_POOL = ("10.95.1.1", "10.95.1.254")
TMP_PREFIX = "bp-bench-"
PY = sys.executable

# ------------------------------------------------------------------ command line


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="a short run (under 60 s) that checks the benchmark works")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    return p.parse_args(argv)


def require_root() -> None:
    if os.geteuid() != 0:
        sys.exit("benchmarks need root (namespaces, veths, HAProxy)")
    for tool in ("haproxy", "ip", "arping"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: run `make setup`")


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _sigterm)


# ------------------------------------------------------------------ numbers


def now() -> float:
    """CLOCK_MONOTONIC: the same clock in every namespace, so a time taken by the probe
    inside the client namespace compares with one taken here."""
    return time.monotonic()


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linear between closest ranks; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    low, high = math.floor(k), math.ceil(k)
    if low == high:
        return ordered[int(k)]
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def rnd(value: float, digits: int = 1) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


# ------------------------------------------------------------------ output


def machine() -> dict[str, Any]:
    haproxy = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
    return {"cpus": os.cpu_count(), "kernel": platform.release(),
            "haproxy": haproxy.split("\n", 1)[0].replace("HAProxy version ", "").split()[0],
            "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}


def write_results(name: str, quick: bool, results: dict[str, Any],
                  details: dict[str, Any] | None = None) -> Path:
    """bench/results/<name>.json (``<name>.quick.json`` for --quick, so a quick check
    never overwrites the numbers of a real run): the issue's keys at the top level."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (f"{name}.quick.json" if quick else f"{name}.json")
    doc = {"benchmark": name, "quick": quick,
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": machine(), **results}
    if details:
        doc["details"] = details
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return path


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                title: str | None = None) -> None:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:,.1f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h)
              for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in text:
        print("  ".join(c.rjust(w) if i else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))


def summary(name: str, text: str, target_met: bool | None) -> None:
    """The last line of a benchmark's output (run_all.py collects these)."""
    verdict = "" if target_met is None else (" [target met]" if target_met
                                              else " [TARGET MISSED]")
    print(f"\nSUMMARY {name}: {text}{verdict}", flush=True)


def _colour(name: str) -> str:
    """One colour per contestant across every plot."""
    for prefix, colour in (("lbaas+", "tab:purple"), ("lbaas-", "tab:purple"),
                           ("lbaas", "tab:blue"),
                           ("v1", "tab:orange"), ("limit", "tab:green"),
                           ("tuned", "tab:green")):
        if name.startswith(prefix):
            return colour
    return "tab:gray"


def plot(path: Path, title: str, ylabel: str, series: Mapping[str, Sequence[float]],
         kind: str = "box", log: bool = False) -> Path | None:
    """A PNG in docs/: ``box`` = one box (with the points) per series, ``bar`` = one bar
    per series (its first value). None when matplotlib is missing (pip install -e
    '.[bench]'), since the numbers matter more than the picture."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib not installed: {path.name} not drawn)")
        return None
    names = list(series)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    if kind == "box":
        data = [list(series[n]) for n in names]
        ax.boxplot(data, tick_labels=names, showfliers=False)
        for i, (name, values) in enumerate(zip(names, data, strict=True), start=1):
            jitter = [i + 0.08 * ((j % 5) - 2) / 2 for j in range(len(values))]
            ax.scatter(jitter, values, s=10, alpha=0.6, color=_colour(name))
    else:
        values = [series[n][0] for n in names]
        bars = ax.bar(names, values, color=[_colour(n) for n in names])
        for bar, v in zip(bars, values, strict=True):
            ax.annotate(f"{v:g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom")
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ the lab

BACKEND_CONF = """global
    maxconn 4000
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend www
    bind {address}:{port}
    http-request return status 200 content-type text/plain string "{name}\\n"
"""


class Lab:
    """The bridge, gateway, client and backend namespaces, the fast backends, and (with
    :meth:`start_service`) lbaas all-in-one. Use as a context manager."""

    def __init__(self, extra_conf: str = "") -> None:
        self.spec = SPEC
        self.topology = Topology(SPEC)
        self.root = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
        self.extra_conf = extra_conf
        self.service: Service | None = None
        self.extra_services: list[Service] = []
        self.backend_pids: dict[str, int] = {}
        self.pids: list[int] = []            # other processes to stop at the end
        self.namespaces: list[str] = []      # other namespaces (limit, v1, tuned)
        self.links: list[str] = []           # root-namespace links

    def __enter__(self) -> Lab:
        try:
            self.topology.build()
            # The client opens tens of thousands of connections per run and closes them
            # first, so their TIME_WAITs pile up in its namespace; with the default port
            # range the kernel then hunts for a free port on every connect() and the
            # client, not the load balancer, sets the pace (measured: 7,000 -> 400
            # req/s by the fourth 5 s run). A real VIP has many clients; so let this
            # one reuse its TIME_WAIT ports. The load balancers' namespaces are left
            # as they are.
            netns(self.spec.client_ns, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1",
                  "net.ipv4.ip_local_port_range=1024 65535")
            for name in self.spec.backend_ips:
                self.topology.stop_backend(name)
                self.start_fast_backend(name)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            # The state directory goes with the lab; the service's log is what explains
            # a failure, so it stays.
            for svc in ([self.service] if self.service else []) + self.extra_services:
                if svc.log.exists():
                    kept = Path(tempfile.gettempdir()) / f"bp-bench-failed-{svc.host}.log"
                    shutil.copyfile(svc.log, kept)
                    print(f"service log kept in {kept}", file=sys.stderr)
        self.close()

    def start_fast_backend(self, name: str, port: int = 80) -> None:
        ns, address = self.spec.backend_ns(name), self.spec.backend_ips[name]
        conf = self.root / f"backend-{name}.cfg"
        pid_file = self.root / f"backend-{name}.pid"
        conf.write_text(BACKEND_CONF.format(address=address, port=port, name=name))
        run_haproxy(ns, conf, pid_file)
        self.backend_pids[name] = int(pid_file.read_text().split()[0])

    def start_service(self, timeout: float = 60) -> Service:
        self.service = self._service(self.root, "bp-host", timeout)
        return self.service

    def start_extra_service(self, name: str, path_prefix: str | None = None,
                            timeout: float = 60) -> Service:
        """A second all-in-one on the same bridge (its own database, state directory
        and agent host), e.g. with ``path_prefix`` put first on its PATH."""
        root = self.root / name
        root.mkdir()
        old_path = os.environ["PATH"]
        if path_prefix:
            os.environ["PATH"] = f"{path_prefix}:{old_path}"
        try:
            svc = self._service(root, f"bp-{name}", timeout, started=self.extra_services)
        finally:
            os.environ["PATH"] = old_path
        return svc

    def _service(self, root: Path, host: str, timeout: float,
                 started: list[Service] | None = None) -> Service:
        # Service writes extra_conf between [DEFAULT] and [haproxy]: DEFAULT options
        # first, then the quotas section.
        conf = self.extra_conf + "\n[quotas]\nquota_pool = -1\nquota_vip = -1\n"
        svc = Service(root, self.spec, host=host, extra_conf=conf)
        if started is not None:
            started.append(svc)   # before start(): a failed start is cleaned up too
        svc.start(timeout)
        return svc

    def close(self) -> None:
        """Stop and remove everything, each step on its own so one failure does not
        leave the rest behind."""
        steps: list[Callable[[], object]] = []
        for svc in ([self.service] if self.service else []) + self.extra_services:
            steps += [svc.stop, svc.cleanup_data_plane]
        steps.append(lambda: stop_pids(self.pids + list(self.backend_pids.values())))
        steps.append(lambda: [sh("ip", "netns", "del", ns, check=False)
                              for ns in self.namespaces])
        steps.append(lambda: [sh("ip", "link", "del", link, check=False)
                              for link in self.links])
        steps.append(self.topology.teardown)
        steps.append(lambda: shutil.rmtree(self.root, ignore_errors=True))
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - keep cleaning
                print(f"cleanup step failed: {exc!r}", file=sys.stderr)
        self.service = None
        self.extra_services.clear()
        self.pids.clear()
        self.backend_pids.clear()
        self.namespaces.clear()
        self.links.clear()


def run_haproxy(ns: str, conf: Path, pid_file: Path, *extra: str) -> None:
    """``haproxy -D`` in ``ns``; its own message when it refuses."""
    proc = sh("ip", "netns", "exec", ns, "haproxy", "-D", "-f", str(conf), "-p", str(pid_file),
              *extra, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"haproxy -f {conf} in {ns} failed: {proc.stdout}{proc.stderr}")


def stop_pids(pids: Sequence[int], timeout: float = 5.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.02)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def sweep_leftovers() -> None:
    """What a benchmark killed with SIGKILL left: processes in ``bp-*`` namespaces, the
    namespaces, the bridge, and the HAProxys and ``qlbaas-*`` namespaces of a service
    whose state directory is under /tmp/bp-bench-*."""
    for root in Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
        if not root.is_dir():
            continue
        # The lab's service, and any extra one (start_extra_service) one level down.
        for state in [root / "haproxy", *root.glob("*/haproxy")]:
            if state.is_dir():
                Service(state.parent, SPEC).cleanup_data_plane()
        shutil.rmtree(root, ignore_errors=True)
    listed = sh("ip", "netns", "list", check=False).stdout.split("\n")
    for line in listed:
        ns = line.split(" ", 1)[0]
        if ns.startswith(SPEC.prefix + "-"):
            pids = [int(t) for t in sh("ip", "netns", "pids", ns, check=False).stdout.split()
                    if t.isdigit()]
            stop_pids(pids, 2)
            sh("ip", "netns", "del", ns, check=False)
    for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(SPEC.prefix) and (name == SPEC.bridge or name.startswith("bp-")):
            sh("ip", "link", "del", name, check=False)


@contextmanager
def benchmark(name: str) -> Iterator[None]:
    """The frame of one benchmark's main(): root check, leftovers swept, SIGTERM as
    Ctrl-C, and a clear line when interrupted."""
    require_root()
    install_signal_handlers()
    sweep_leftovers()
    try:
        yield
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted; everything it started was stopped", file=sys.stderr)
        sys.exit(130)


# ------------------------------------------------------------------ plumbing by hand


class HandMadeLB:
    """A load balancer plumbed without lbaas, as a script would: a namespace, a veth
    to the bridge, an address, a default route, HAProxy in the namespace. ``limit``
    (provision) and the tuned HAProxy (dataplane) use it; ``v1`` steps are in
    provision.py, which times them one by one."""

    def __init__(self, lab: Lab, tag: str, address: str, prefixlen: int = 17) -> None:
        self.lab = lab
        self.ns = f"{SPEC.prefix}-{tag}"
        self.outer = f"bp-{tag}o"[:15]
        self.address = address
        self.prefixlen = prefixlen
        self.dir = lab.root / tag
        self.conf = self.dir / "haproxy.cfg"
        self.pid_file = self.dir / "haproxy.pid"
        self.pid: int | None = None

    def plumb(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        sh("ip", "netns", "add", self.ns)
        self.lab.namespaces.append(self.ns)
        sh("ip", "link", "add", self.outer, "type", "veth", "peer", "name", "eth0",
           "netns", self.ns)
        self.lab.links.append(self.outer)
        sh("ip", "link", "set", self.outer, "master", SPEC.bridge, "up")
        sh("ip", "-n", self.ns, "addr", "add", f"{self.address}/{self.prefixlen}",
           "dev", "eth0")
        sh("ip", "-n", self.ns, "link", "set", "eth0", "up")
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.ns, "route", "add", "default", "via", SPEC.tenant_gw)

    def start(self, conf_text: str) -> None:
        self.conf.write_text(conf_text)
        run_haproxy(self.ns, self.conf, self.pid_file)
        self.pid = int(self.pid_file.read_text().split()[0])
        self.lab.pids.append(self.pid)

    def destroy(self) -> None:
        pids = [int(t) for t in sh("ip", "netns", "pids", self.ns, check=False).stdout.split()
                if t.isdigit()]
        stop_pids(pids)
        sh("ip", "netns", "del", self.ns, check=False)
        sh("ip", "link", "del", self.outer, check=False)
        if self.ns in self.lab.namespaces:
            self.lab.namespaces.remove(self.ns)
        if self.outer in self.lab.links:
            self.lab.links.remove(self.outer)


def render_lbaas_conf(lb_dir: Path, address: str, port: int = 80,
                      members: Sequence[tuple[str, int]] = (),
                      monitor: dict[str, Any] | None = None) -> str:
    """The configuration lbaas itself would render for this VIP, pool and members
    (lbaas's own view model and templates), with state files under ``lb_dir``."""
    from lbaas.agent.drivers.haproxy import cfg
    from lbaas.common.logical_device import from_v1

    logical = {
        "pool": {"id": "pool-" + lb_dir.name, "protocol": "HTTP",
                 "lb_method": "ROUND_ROBIN", "admin_state_up": True},
        "vip": {"id": "vip-" + lb_dir.name, "address": address, "protocol_port": port,
                "protocol": "HTTP", "connection_limit": -1, "admin_state_up": True,
                "session_persistence": None,
                # Only the renderer reads this device: the port is never plugged.
                "port": {"id": "port-" + lb_dir.name, "network_id": "net",
                         "mac_address": "fa:16:3e:00:00:01", "network": {"id": "net"}}},
        "members": [{"id": f"m{i}", "address": a, "protocol_port": p, "weight": 1,
                     "admin_state_up": True} for i, (a, p) in enumerate(members)],
        "healthmonitors": [{"id": "hm", **monitor}] if monitor else [],
    }
    paths = cfg.StatePaths(stats_socket=str(lb_dir / "sock"),
                           server_state_file=str(lb_dir / "state"))
    view = cfg.build_view(from_v1(logical).loadbalancer, paths,
                          user_group="nogroup", hard_stop_after=300)
    return cfg.render(view)


# ------------------------------------------------------------------ the REST API


class Api:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url + "/v2.0", timeout=60)

    def close(self) -> None:
        self.http.close()

    def _check(self, r: httpx.Response, code: int) -> dict[str, Any]:
        if r.status_code != code:
            raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text}")
        return dict(r.json()) if r.content else {}

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._check(self.http.post(path, json=body), 201)

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._check(self.http.put(path, json=body), 200)

    def get(self, path: str) -> dict[str, Any]:
        return self._check(self.http.get(path), 200)

    def delete(self, path: str) -> None:
        self._check(self.http.delete(path), 204)

    def wait_status(self, path: str, key: str, want: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            r = self.http.get(path)
            if want == "GONE" and r.status_code == 404:
                return
            if r.status_code == 200:
                last = r.json()[key].get("status")
                if last == want:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{path} did not reach {want} in {timeout}s (last {last})")


class Tenant:
    """A network and subnet on the lab's bridge, and pools/VIPs built through the API."""

    def __init__(self, api: Api, pool_range: tuple[str, str] = LBAAS_POOL) -> None:
        self.api = api
        self.network = api.post("/networks", {"network": {"name": "bp-net"}})["network"]
        self.subnet = api.post("/subnets", {"subnet": {
            "network_id": self.network["id"], "cidr": SPEC.tenant_cidr,
            "gateway_ip": SPEC.tenant_gw,
            "allocation_pools": [{"start": pool_range[0], "end": pool_range[1]}]}})["subnet"]
        self.monitor = api.post("/lb/health_monitors", {"health_monitor": {
            "type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 3,
            "url_path": "/"}})["health_monitor"]

    def pool(self, backends: Sequence[str] = ("b1", "b2", "b3"),
             monitor: bool = True) -> tuple[str, dict[str, str]]:
        """A pool with members (and the monitor): everything but the VIP."""
        pool = self.api.post("/lb/pools", {"pool": {
            "name": "bp-pool", "subnet_id": self.subnet["id"], "protocol": "HTTP",
            "lb_method": "ROUND_ROBIN"}})["pool"]
        members = {name: self.add_member(pool["id"], name) for name in backends}
        if monitor:
            self.api.post(f"/lb/pools/{pool['id']}/health_monitors",
                          {"health_monitor": {"id": self.monitor["id"]}})
        return pool["id"], members

    def add_member(self, pool_id: str, name: str, weight: int = 1) -> str:
        return str(self.api.post("/lb/members", {"member": {
            "pool_id": pool_id, "address": SPEC.backend_ips[name], "protocol_port": 80,
            "weight": weight}})["member"]["id"])

    def vip(self, pool_id: str, port: int = 80) -> dict[str, Any]:
        return self.api.post("/lb/vips", {"vip": {
            "name": "bp-vip", "subnet_id": self.subnet["id"], "protocol": "HTTP",
            "protocol_port": port, "pool_id": pool_id}})["vip"]


# ------------------------------------------------------------------ the client side


class Probe:
    """bench/probe.py running in the client namespace, driven line by line, so that no
    process start sits inside a measured interval."""

    def __init__(self, ns: str = SPEC.client_ns) -> None:
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, PY, str(BENCH / "probe.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, *words: object) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(" ".join(map(str, words)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("probe exited")
        return line.split()

    def first_200(self, url: str, timeout: float = 60) -> float:
        """Monotonic time of the first HTTP 200 from ``url``."""
        reply = self.ask("first200", url, timeout)
        if reply[0] != "ok":
            raise RuntimeError(f"no 200 from {url} within {timeout}s: {' '.join(reply)}")
        return float(reply[1])

    def until(self, url: str, body: str, consecutive: int, timeout: float = 30) -> float:
        """Monotonic time of the first of ``consecutive`` answers in a row that are
        ``body``."""
        reply = self.ask("until", url, body, consecutive, timeout)
        if reply[0] != "ok":
            raise RuntimeError(f"{url} did not answer {body} x{consecutive}: {' '.join(reply)}")
        return float(reply[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wrk(url: str, seconds: float, connections: int, new_connections: bool,
        threads: int = 1, client_ns: str | None = None) -> dict[str, Any]:
    """wrk from the client namespace: {"rps", "requests", "errors", "non2xx"}; with
    ``new_connections`` every request has ``Connection: close`` (wrk reconnects)."""
    argv = ["ip", "netns", "exec", client_ns or SPEC.client_ns, "wrk", f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    if new_connections:
        argv += ["-H", "Connection: close"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rps is None or done is None:
        raise RuntimeError(f"wrk said:\n{out}")
    return {"rps": float(rps.group(1)), "requests": int(done.group(1)),
            "errors": sum(map(int, errors.groups())) if errors else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


__all__ = ["Api", "HandMadeLB", "Lab", "Probe", "SPEC", "Tenant", "benchmark", "median",
           "netlab", "netns", "now", "parse_args", "percentile", "plot", "print_table",
           "render_lbaas_conf", "rnd", "sh", "stop_pids", "summary", "sweep_leftovers",
           "wrk", "write_results"]
