"""Benchmark 4, ``scale``: N load balancers on one host, created through the REST API of
``lbaas all-in-one`` as fast as it takes them; then the agent restarted under them.

Measured, in this order:

* ``create_per_s`` — N / the time from the first POST until every VIP answers HTTP 200
  from the client namespace. A few concurrent clients POST a pool, one member and a
  VIP per load balancer (no health monitor: N HAProxys checking three backends would
  measure the backends); a checker inside the client namespace (this file, ``check``
  mode: asyncio, a bounded number of connections in flight) is handed each VIP as soon
  as its POST returns and reports when it first answers 200.
* ``pss_mib_per_lb`` — the sum of ``Pss`` in ``/proc/<pid>/smaps_rollup`` of every
  HAProxy, / N. That is what the 6 MiB target refers to (process.py's single process
  per load balancer). The kernel's side of a load balancer (namespace, veth pair,
  sockets, neighbour entries) is not in any process's PSS; it is estimated from
  ``/proc/meminfo`` deltas over the run (Slab + Percpu + KernelStack + PageTables,
  and the drop of MemAvailable) and reported beside it. The machine is shared, so
  those are approximate.
* ``agent_restart_s`` — the service stopped with SIGTERM (HAProxys keep running) and
  started again: the time from the new process's start until its first full
  ``sync_state`` is complete, that is until every refresh that sync asked for has
  finished (nothing left to adopt). lbaas logs the sync's start ("sync_state: N pools
  ready") but not its end, so the service runs behind a thin wrapper (``serve`` mode)
  that wraps ``LbaasAgentManager.sync_state`` and logs one line when the first full
  sync's refreshes are done (``wait_idle``); nothing else changes.
* ``haproxy_restarted`` — HAProxy processes whose (pid, start time) differ after the
  restart: an adopted load balancer keeps its process.

Then every VIP is checked again, the neighbour table counters (``table_fulls``,
gc_thresh, which the agent's host checks raise) are read, and everything is removed:
the service stopped, its HAProxys killed by PID and namespaces deleted
(``Service.cleanup_data_plane``), the lab torn down, temp dirs removed, also on
failure and on Ctrl-C/SIGTERM. A run killed with SIGKILL is swept by the next one.

The lab: tests/helpers/netlab.py with prefix ``bs`` and 10.96.0.0/16 (VIPs from
10.96.1.0 on), its backends replaced by small HAProxys that answer every request
themselves (bench/common.py's). Needs root, and ~6 GB free for N=1000.

    .venv/bin/python bench/scale.py [--quick] [--n N]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

NAME = "scale"
SYNC_MARK = "BENCH-SCALE first full sync_state complete"


# ------------------------------------------------------------------ check mode
# Runs inside the client namespace; kept free of the lab's imports so it starts fast.

# A VIP that is not up yet swallows the SYN (the gateway's ARP gets no answer): a short
# connect timeout and a short pause keep the time of the first 200 within ~0.4 s of
# the moment the VIP could answer.
CHECK_CONCURRENCY = 64
CHECK_CONNECT_TIMEOUT = 0.3
CHECK_READ_TIMEOUT = 3.0
CHECK_PAUSE = 0.1


async def _get_status(host: str, port: int) -> int | str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                CHECK_CONNECT_TIMEOUT)
    except (TimeoutError, OSError) as exc:
        return type(exc).__name__
    try:
        writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), CHECK_READ_TIMEOUT)
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else f"bad:{line!r}"
    except (TimeoutError, OSError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


async def _check_main(deadline_s: float) -> None:
    """Reads ``host:port`` lines on stdin until EOF; prints ``ok host:port T`` (T:
    CLOCK_MONOTONIC of the first 200) or ``fail host:port reason`` for each, then
    ``done``."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + deadline_s
    gate = asyncio.Semaphore(CHECK_CONCURRENCY)
    tasks: list[asyncio.Task[None]] = []

    async def watch(target: str) -> None:
        host, _, port = target.rpartition(":")
        last: int | str = "never tried"
        while time.monotonic() < deadline:
            async with gate:
                last = await _get_status(host, int(port))
            if last == 200:
                print(f"ok {target} {time.monotonic():.6f}", flush=True)
                return
            await asyncio.sleep(CHECK_PAUSE)
        print(f"fail {target} {last}", flush=True)

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        if line.strip():
            tasks.append(asyncio.create_task(watch(line.strip())))
    await asyncio.gather(*tasks)
    print("done", flush=True)


# ------------------------------------------------------------------ serve mode

def _serve(argv: list[str]) -> int:
    """``lbaas all-in-one`` with one log line added: when the first full sync_state's
    refreshes have all finished."""
    from lbaas.agent import manager as manager_mod
    from lbaas.cmd import all_in_one

    original = manager_mod.LbaasAgentManager.sync_state

    def sync_state(self: Any, full: bool = True) -> None:
        started = time.monotonic()
        original(self, full)
        if full and not getattr(self, "_bench_synced", False):
            self._bench_synced = True

            def report() -> None:
                self.wait_idle()
                print(f"{SYNC_MARK} started={started:.6f} done={time.monotonic():.6f}",
                      flush=True)

            threading.Thread(target=report, name="bench-sync-report", daemon=True).start()

    manager_mod.LbaasAgentManager.sync_state = sync_state  # type: ignore[method-assign]
    return all_in_one.main(argv)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] in ("check", "serve"):
    if sys.argv[1] == "check":
        asyncio.run(_check_main(float(sys.argv[2])))
        sys.exit(0)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(_serve(sys.argv[2:]))


# ------------------------------------------------------------------ the benchmark

import httpx  # noqa: E402
from common import (  # noqa: E402
    BACKEND_CONF,
    PY,
    REPO,
    install_signal_handlers,
    parse_args,
    percentile,
    print_table,
    require_root,
    rnd,
    run_haproxy,
    stop_pids,
    summary,
    write_results,
)

from tests.helpers.netlab import LabSpec, Service, Topology, sh  # noqa: E402

SPEC = LabSpec("bs", "10.96")
TMP_PREFIX = "bs-bench-"
HOST = "bs-host"
# Service writes its own [DEFAULT] lines, then these (the last value of an option wins):
# an operator's settings rather than the e2e tests' fast ones (periodic_interval 1,
# debug), then unlimited quotas.
EXTRA_CONF = """periodic_interval = 5
report_interval = 2
debug = false
[quotas]
quota_pool = -1
quota_vip = -1
quota_member = -1
quota_health_monitor = -1
"""
CLIENTS = 4
TARGETS = {"pss_mib_per_lb": 6.0, "agent_restart_s": 15.0, "haproxy_restarted": 0}
MIB = 1024 * 1024
# What the kernel spends on a namespace, its veth pair, sockets and neighbour entries,
# and on the page tables and stacks of its HAProxy: none of it is in any process's PSS.
KERNEL_MEMINFO = ("Slab", "Percpu", "KernelStack", "PageTables")


class ScaleService(Service):
    """The all-in-one service behind this file's ``serve`` wrapper."""

    spy: Spy | None = None

    def _spawn(self, module: str) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            proc = subprocess.Popen([PY, str(Path(__file__).resolve()), "serve",
                                     "--config-file", str(self.conf)],
                                    cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        self.spy = Spy.attach(proc.pid)
        return proc


class Spy:
    """Optional: with BENCH_PYSPY=<path of a py-spy binary>, each run of the service is
    sampled (the GIL holder's stacks, 200/s) from its start until :meth:`report`, to
    say where the service's time goes. py-spy is a diagnostic tool, not a dependency:
    ``pip install --target /tmp/pyspy py-spy``."""

    def __init__(self, proc: subprocess.Popen[bytes], output: Path) -> None:
        self.proc = proc
        self.output = output
        self.started = time.monotonic()

    @classmethod
    def attach(cls, pid: int) -> Spy | None:
        binary = os.environ.get("BENCH_PYSPY")
        if not binary:
            return None
        output = Path(tempfile.mkstemp(prefix=TMP_PREFIX + "spy-", suffix=".txt")[1])
        proc = subprocess.Popen([binary, "record", "--pid", str(pid), "--format", "raw",
                                 "--gil", "--rate", "200", "--output", str(output)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return cls(proc, output)

    def report(self, title: str, top: int = 25) -> list[str]:
        """Stop sampling; the functions most often on the stack (inclusive) and on its
        top (self), in percent of the samples."""
        seconds = time.monotonic() - self.started
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        inclusive: Counter[str] = Counter()
        leaf: Counter[str] = Counter()
        total = 0
        for line in self.output.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
            total += count
            for f in set(frames):
                inclusive[f] += count
            if frames:
                leaf[frames[-1]] += count
        self.output.unlink(missing_ok=True)
        lines = [f"{title}: {seconds:.1f} s, the GIL held in {total} samples at 200/s "
                 f"({100 * total / max(1.0, 200 * seconds):.0f}% of the time); "
                 "percentages are of those samples"]
        ours = [(f, c) for f, c in inclusive.most_common() if "lbaas/" in f]
        lines += ["  inclusive: " + f"{100 * c / max(1, total):5.1f}%  {f}"
                  for f, c in ours[:top]]
        lines += ["  self:      " + f"{100 * c / max(1, total):5.1f}%  {f}"
                  for f, c in leaf.most_common(top)]
        return lines


# ------------------------------------------------------------------ host readings

def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            out[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def smaps_rollup(pid: int) -> dict[str, int]:
    """Pss and Rss of one process, in bytes (empty if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Rss"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "gone"


def neigh_stats() -> dict[str, int]:
    """The IPv4 neighbour table: entries (one table for every namespace together) and
    the summed per-CPU counters of allocation failures because it was full."""
    lines = Path("/proc/net/stat/arp_cache").read_text().split("\n")
    names = lines[0].split()
    rows = [[int(v, 16) for v in ln.split()] for ln in lines[1:] if ln.strip()]
    col = {n: i for i, n in enumerate(names)}
    softnet = [ln.split() for ln in Path("/proc/net/softnet_stat").read_text().splitlines()]
    return {"entries": rows[0][col["entries"]],
            "table_fulls": sum(r[col["table_fulls"]] for r in rows),
            "forced_gc_runs": sum(r[col["forced_gc_runs"]] for r in rows),
            "res_failed": sum(r[col["res_failed"]] for r in rows),
            "unresolved_discards": sum(r[col["unresolved_discards"]] for r in rows),
            # Packets dropped because a CPU's input backlog was full.
            "softnet_dropped": sum(int(f[1], 16) for f in softnet if len(f) > 1)}


def neigh_entries() -> dict[str, int]:
    """IPv4 neighbour entries: all of them (one table for every namespace), the lab's
    gateway and backends (in a real deployment those are other machines), the root
    namespace, and the rest: the load balancers' namespaces."""
    def count(*ns: str) -> int:
        args = ("ip", "-n", ns[0]) if ns else ("ip",)
        return len(sh(*args, "-4", "neigh", "show", check=False).stdout.splitlines())

    total = neigh_stats()["entries"]
    gateway = count(SPEC.gw_ns)
    backends = sum(count(SPEC.backend_ns(b)) for b in SPEC.backend_ips)
    root = count()
    return {"total": total, "lab_gateway": gateway, "lab_backends": backends,
            "root_namespace": root,
            "lb_namespaces": total - gateway - backends - root - count(SPEC.client_ns)}


def gc_thresh() -> dict[str, int]:
    base = Path("/proc/sys/net/ipv4/neigh/default")
    return {n: int((base / n).read_text()) for n in ("gc_thresh1", "gc_thresh2", "gc_thresh3")}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(service_pid: int, haproxy_pids: list[int], seconds: float) -> tuple[float, float]:
    """CPU used over ``seconds`` with nothing asked of anyone, in % of one core: by the
    service (its periodic liveness checks and stats of every load balancer) and by all
    the HAProxys together."""
    s0, h0 = cpu_seconds(service_pid), sum(cpu_seconds(p) for p in haproxy_pids)
    t0 = time.monotonic()
    time.sleep(seconds)
    s1, h1 = cpu_seconds(service_pid), sum(cpu_seconds(p) for p in haproxy_pids)
    elapsed = time.monotonic() - t0
    return 100 * (s1 - s0) / elapsed, 100 * (h1 - h0) / elapsed


def nofile_limit(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return "/".join(line.split()[3:5])
    except OSError:
        pass
    return "?"


# ------------------------------------------------------------------ the checker

class Checker:
    """This file's ``check`` mode in the client namespace; VIPs are handed to it as they
    are created, its answers collected by a reader thread."""

    def __init__(self, deadline_s: float) -> None:
        self.stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", SPEC.client_ns, PY, str(Path(__file__).resolve()),
             "check", str(deadline_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.ok: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def add(self, target: str) -> None:
        assert self.proc.stdin is not None
        with self._lock:
            try:
                self.proc.stdin.write(target + "\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                self.stderr.seek(0)
                raise RuntimeError(f"the checker in {SPEC.client_ns} exited (rc "
                                   f"{self.proc.wait(5)}): {self.stderr.read()[-2000:]}"
                                   ) from None

    def close_input(self) -> None:
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            words = line.split()
            if words[:1] == ["ok"]:
                self.ok[words[1]] = float(words[2])
            elif words[:1] == ["fail"]:
                self.failed[words[1]] = " ".join(words[2:])
            elif words[:1] == ["done"]:
                break
        self.finished.set()

    def wait(self, timeout: float) -> None:
        self.finished.wait(timeout)
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.stderr.close()


def check_all(targets: list[str], deadline_s: float) -> Checker:
    checker = Checker(deadline_s)
    for t in targets:
        checker.add(t)
    checker.close_input()
    checker.wait(deadline_s + 30)
    return checker


# ------------------------------------------------------------------ the API side

class Creator:
    """``CLIENTS`` threads POSTing pool, member and VIP for load balancer after load
    balancer; each VIP goes to the checker when its POST returns."""

    def __init__(self, url: str, subnet_id: str, n: int, checker: Checker) -> None:
        self.url = url
        self.subnet_id = subnet_id
        self.n = n
        self.checker = checker
        self.next = 0
        self.lock = threading.Lock()
        self.posted: dict[str, float] = {}      # target → monotonic time the VIP POST returned
        self.started: dict[str, float] = {}     # target → when its pool POST started
        self.pools: list[str] = []
        self.errors: list[str] = []
        self.backends = list(SPEC.backend_ips.values())

    def _take(self) -> int | None:
        with self.lock:
            if self.next >= self.n or self.errors:
                return None
            self.next += 1
            return self.next - 1

    def _post(self, http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = http.post(path, json=body)
        if r.status_code != 201:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
        return dict(r.json())

    def worker(self) -> None:
        with httpx.Client(base_url=self.url + "/v2.0", timeout=120) as http:
            while (i := self._take()) is not None:
                try:
                    t0 = time.monotonic()
                    pool = self._post(http, "/lb/pools", {"pool": {
                        "name": f"bs-{i}", "subnet_id": self.subnet_id, "protocol": "HTTP",
                        "lb_method": "ROUND_ROBIN"}})["pool"]
                    self._post(http, "/lb/members", {"member": {
                        "pool_id": pool["id"], "address": self.backends[i % len(self.backends)],
                        "protocol_port": 80}})
                    vip = self._post(http, "/lb/vips", {"vip": {
                        "name": f"bs-{i}", "subnet_id": self.subnet_id, "protocol": "HTTP",
                        "protocol_port": 80, "pool_id": pool["id"]}})["vip"]
                except (RuntimeError, httpx.HTTPError) as exc:
                    with self.lock:
                        self.errors.append(f"load balancer {i}: {exc}")
                    return
                target = f"{vip['address']}:80"
                with self.lock:
                    self.posted[target] = time.monotonic()
                    self.started[target] = t0
                    self.pools.append(pool["id"])
                self.checker.add(target)

    def run(self) -> None:
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
            for f in [ex.submit(self.worker) for _ in range(CLIENTS)]:
                f.result()


def statuses(url: str) -> dict[str, int]:
    """How many VIPs and pools are in each status."""
    out: Counter[str] = Counter()
    with httpx.Client(base_url=url + "/v2.0", timeout=120) as http:
        for coll in ("vips", "pools"):
            r = http.get(f"/lb/{coll}", params={"fields": "status"})
            r.raise_for_status()
            out.update(f"{coll[:-1]} {x['status']}" for x in r.json()[coll])
    return dict(sorted(out.items()))


# ------------------------------------------------------------------ leftovers

def kill_strays(marker: str) -> int:
    """SIGKILL every HAProxy whose command line names ``marker`` (a state directory of
    ours) and delete the qlbaas namespace it runs in: what outlived its service's
    cleanup, also when the state directory itself is gone. Returns how many."""
    namespaces = set()
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"haproxy") or marker.encode() not in b" ".join(argv):
            continue
        ns = sh("ip", "netns", "identify", proc.name, check=False).stdout.strip()
        try:
            os.kill(int(proc.name), signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            continue
        if ns.startswith("qlbaas-"):
            namespaces.add(ns)
    for ns in namespaces:
        sh("ip", "netns", "del", ns, check=False)
    return killed


def sweep_leftovers() -> None:
    """What a run killed with SIGKILL left behind: its service's HAProxys and qlbaas
    namespaces (by its state directory), the lab's namespaces, bridge and links."""
    kill_strays(str(Path(tempfile.gettempdir()) / TMP_PREFIX))
    for root in Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
        if root.is_file():  # a py-spy output
            root.unlink(missing_ok=True)
            continue
        if (root / "haproxy").is_dir():
            Service(root, SPEC, host=HOST).cleanup_data_plane()
        shutil.rmtree(root, ignore_errors=True)
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        ns = line.split(" ", 1)[0]
        if ns.startswith(SPEC.prefix + "-"):
            pids = [int(t) for t in sh("ip", "netns", "pids", ns, check=False).stdout.split()
                    if t.isdigit()]
            stop_pids(pids, 2)
            sh("ip", "netns", "del", ns, check=False)
    for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == SPEC.bridge or name.startswith(SPEC.prefix + "-"):
            sh("ip", "link", "del", name, check=False)


# ------------------------------------------------------------------ the run

LOG_LEVEL = re.compile(r" (WARNING|ERROR|CRITICAL) (\S+) \[[^\]]*\] (.*)")


def log_problems(log: Path, keep: int = 8) -> dict[str, Any]:
    """Warnings and errors the service logged over the run: counts, and the first few
    distinct messages (pool ids and numbers masked, so repeats of one problem count
    once)."""
    counts: Counter[str] = Counter()
    distinct: dict[str, str] = {}
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return {}
    for line in text.splitlines():
        m = LOG_LEVEL.search(line)
        if not m:
            if line.startswith("Traceback"):
                counts["traceback"] += 1
            continue
        counts[m.group(1)] += 1
        key = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "#", m.group(2) + " " + m.group(3))
        if key not in distinct and len(distinct) < keep:
            distinct[key] = f"{m.group(1)} {m.group(2)}: {m.group(3)[:300]}"
    return {"counts": dict(counts), "first": list(distinct.values())}

def wait_for_line(log: Path, offset: int, pattern: re.Pattern[str],
                  timeout: float) -> re.Match[str] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log, errors="replace") as f:
            f.seek(offset)
            m = pattern.search(f.read())
        if m:
            return m
        time.sleep(0.1)
    return None


def run(n: int, serve_timeout: float, restart_timeout: float) -> tuple[dict[str, Any],
                                                                       dict[str, Any]]:
    topology = Topology(SPEC)
    root = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    svc: ScaleService | None = None
    backend_pids: list[int] = []
    checker: Checker | None = None
    details: dict[str, Any] = {"clients": CLIENTS, "members_per_lb": 1,
                               "health_monitor": False}
    try:
        topology.build()
        for name, address in SPEC.backend_ips.items():
            topology.stop_backend(name)
            conf = root / f"backend-{name}.cfg"
            conf.write_text(BACKEND_CONF.format(address=address, port=80, name=name))
            run_haproxy(SPEC.backend_ns(name), conf, root / f"backend-{name}.pid")
            backend_pids.append(int((root / f"backend-{name}.pid").read_text().split()[0]))

        details["gc_thresh_before_service"] = gc_thresh()
        svc = ScaleService(root, SPEC, host=HOST, extra_conf=EXTRA_CONF)
        svc.start(60)
        assert svc.proc is not None
        details["gc_thresh_with_service"] = gc_thresh()
        details["service_nofile"] = nofile_limit(svc.proc.pid)
        with httpx.Client(base_url=svc.url + "/v2.0", timeout=60) as http:
            net = http.post("/networks", json={"network": {"name": "bs-net"}}).json()
            subnet = http.post("/subnets", json={"subnet": {
                "network_id": net["network"]["id"], "cidr": SPEC.tenant_cidr,
                "gateway_ip": SPEC.tenant_gw, "allocation_pools": [
                    {"start": SPEC.vip_range[0], "end": SPEC.vip_range[1]}]}}).json()
        subnet_id = subnet["subnet"]["id"]
        time.sleep(1)
        mem0, neigh0 = meminfo(), neigh_stats()

        # -- create ---------------------------------------------------------------------
        print(f"creating {n} load balancers through the API ({CLIENTS} clients)...",
              flush=True)
        checker = Checker(serve_timeout)
        creator = Creator(svc.url, subnet_id, n, checker)
        t0 = time.monotonic()
        creator.run()
        t_api = time.monotonic()
        checker.close_input()
        if creator.errors:
            raise RuntimeError(f"{len(creator.errors)} creates failed; first: "
                               f"{creator.errors[0]}")
        checker.wait(serve_timeout + 30)
        if svc.spy:
            details["profile_create"] = svc.spy.report("service while creating")
        t_end = max(checker.ok.values(), default=t_api)
        serving = len(checker.ok)
        print(f"  {serving}/{n} serving after {t_end - t0:.1f} s", flush=True)
        provision_ms = [(checker.ok[t] - creator.posted[t]) * 1000
                        for t in creator.posted if t in checker.ok]
        details.update({
            "api_seconds": round(t_api - t0, 2),
            "api_lbs_per_s": round(n / (t_api - t0), 2),
            "serve_seconds": round(t_end - t0, 2),
            "not_serving": dict(list(checker.failed.items())[:10]),
            "vip_post_to_200_p50_ms": rnd(percentile(provision_ms, 50)),
            "vip_post_to_200_p95_ms": rnd(percentile(provision_ms, 95)),
            "vip_post_to_200_max_ms": rnd(max(provision_ms, default=float("nan"))),
            "statuses_after_create": statuses(svc.url),
        })
        # The serving curve: when the k-th load balancer first answered.
        order = sorted(checker.ok.values())
        details["served_at_s"] = {str(k): round(order[k - 1] - t0, 2)
                                  for k in sorted({max(1, n // 10 * j) for j in range(1, 11)})
                                  if k <= len(order)}

        # -- memory ---------------------------------------------------------------------
        time.sleep(2)
        pids = svc.haproxy_pids()
        rollups = [smaps_rollup(p) for p in pids.values()]
        pss = sum(r.get("Pss", 0) for r in rollups)
        rss = sum(r.get("Rss", 0) for r in rollups)
        mem1, neigh1 = meminfo(), neigh_stats()
        avail_drop = mem0["MemAvailable"] - mem1["MemAvailable"]
        kernel = {k: mem1.get(k, 0) - mem0.get(k, 0) for k in KERNEL_MEMINFO}
        service_rss = smaps_rollup(svc.proc.pid).get("Rss", 0)
        details.update({
            "haproxy_processes": len(pids),
            "haproxy_pss_mib_total": round(pss / MIB, 1),
            "haproxy_rss_mib_per_lb": round(rss / MIB / max(1, len(pids)), 2),
            "kernel_mib_per_lb": round(sum(kernel.values()) / MIB / n, 2),
            "kernel_mib_per_lb_by_kind": {k: round(v / MIB / n, 3) for k, v in kernel.items()},
            "host_memavailable_drop_mib_per_lb": round(avail_drop / MIB / n, 2),
            "host_other_than_haproxy_mib_per_lb": round((avail_drop - pss) / MIB / n, 2),
            "service_rss_mib": round(service_rss / MIB, 1),
            "neigh_after_create": neigh1,
            "neigh_entries_after_create": neigh_entries(),
            "service_open_fds": len(os.listdir(f"/proc/{svc.proc.pid}/fd")),
            "neigh_table_fulls_during_create": neigh1["table_fulls"] - neigh0["table_fulls"],
        })
        pss_per_lb = pss / MIB / max(1, len(pids))
        # Two periodic_intervals of doing nothing: what N load balancers cost at rest.
        svc_cpu, haproxy_cpu = idle_cpu(svc.proc.pid, list(pids.values()), 10.0)
        details["idle_cpu_percent_of_a_core"] = {"service": round(svc_cpu, 1),
                                                 "haproxys": round(haproxy_cpu, 1)}

        # -- agent restart ----------------------------------------------------------------
        print("restarting the service (SIGTERM, start)...", flush=True)
        before = {pool: (pid, start_time(pid)) for pool, pid in pids.items()}
        t_stop = time.monotonic()
        svc.stop(signal.SIGTERM)
        stop_s = time.monotonic() - t_stop
        offset = svc.log.stat().st_size
        t_start = time.monotonic()
        svc.start(restart_timeout)
        alive_s = time.monotonic() - t_start
        mark = wait_for_line(svc.log, offset, re.compile(
            SYNC_MARK + r" started=([\d.]+) done=([\d.]+)"), restart_timeout)
        sync_line = wait_for_line(svc.log, offset, re.compile(
            r"sync_state: (\d+) pools ready on \S+, (\d+) instances"), 1)
        restart_s = float(mark.group(2)) - t_start if mark else float("nan")
        if svc.spy:
            details["profile_restart"] = svc.spy.report("service from start to adopted")
        after = {pool: (pid, start_time(pid)) for pool, pid in svc.haproxy_pids().items()}
        restarted = sum(1 for pool, ident in before.items() if after.get(pool) != ident)
        details.update({
            "service_stop_s": round(stop_s, 2),
            "restart_agent_alive_s": round(alive_s, 2),
            "restart_sync_started_s": (round(float(mark.group(1)) - t_start, 2)
                                       if mark else None),
            "restart_sync_seconds": (round(float(mark.group(2)) - float(mark.group(1)), 2)
                                     if mark else None),
            "restart_sync_line": sync_line.group(0) if sync_line else None,
            "haproxy_after_restart": len(after),
        })
        print(f"  adopted in {restart_s:.1f} s; {restarted} HAProxy restarted", flush=True)

        # -- still serving? -----------------------------------------------------------------
        neigh_r = neigh_stats()
        recheck = check_all(list(creator.posted), 120)
        details["serving_after_restart"] = len(recheck.ok)
        details["statuses_after_restart"] = statuses(svc.url)
        neigh2 = neigh_stats()
        details["neigh_table_fulls_total"] = neigh2["table_fulls"] - neigh0["table_fulls"]
        details["neigh_during_recheck"] = {k: neigh2[k] - neigh_r[k] for k in neigh2
                                           if k != "entries"}
        details["neigh_during_create"] = {k: neigh1[k] - neigh0[k] for k in neigh1
                                          if k != "entries"}
    finally:
        if checker is not None:
            checker.stop()
        steps = []
        if svc is not None:
            steps += [svc.stop, svc.cleanup_data_plane]
        steps += [lambda: stop_pids(backend_pids), topology.teardown,
                  lambda: shutil.rmtree(root, ignore_errors=True)]
        # Belt and braces: a HAProxy started while the service was being stopped would
        # have escaped cleanup_data_plane's listing.
        def strays() -> None:
            if killed := kill_strays(str(root)):
                print(f"  {killed} stray HAProxy processes killed", file=sys.stderr)

        steps.append(strays)
        if svc is not None:
            steps.insert(1, lambda: details.update(service_log=log_problems(svc.log)))
        print("cleaning up...", flush=True)
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - keep cleaning
                print(f"cleanup step failed: {exc!r}", file=sys.stderr)

    result = {
        "n": n,
        "serving": serving,
        "create_per_s": round(n / (t_end - t0), 2),
        "pss_mib_per_lb": round(pss_per_lb, 2),
        "agent_restart_s": rnd(restart_s, 2),
        "haproxy_restarted": restarted,
    }
    return result, details


def show(result: dict[str, Any], d: dict[str, Any]) -> None:
    n = result["n"]
    rows = [
        ["load balancers serving (HTTP 200 from the client namespace)",
         f"{result['serving']}/{n}", f"{n}/{n}"],
        ["created per second, first POST to all serving", result["create_per_s"], "-"],
        ["  API alone (all POSTs answered), per second", d["api_lbs_per_s"], "-"],
        ["  VIP POST to first 200, p50 / p95 ms",
         f"{d['vip_post_to_200_p50_ms']} / {d['vip_post_to_200_p95_ms']}", "-"],
        ["HAProxy PSS per load balancer, MiB", result["pss_mib_per_lb"],
         f"<= {TARGETS['pss_mib_per_lb']:g}"],
        ["  HAProxy RSS per load balancer, MiB", d["haproxy_rss_mib_per_lb"], "-"],
        ["  kernel per load balancer, MiB (approx.: Slab, Percpu, stacks, page tables)",
         d["kernel_mib_per_lb"], "-"],
        ["  MemAvailable drop per load balancer, MiB (approx.)",
         d["host_memavailable_drop_mib_per_lb"], "-"],
        ["agent restart until all adopted, s", result["agent_restart_s"],
         f"<= {TARGETS['agent_restart_s']:g}" + (" (N=1000)" if n != 1000 else "")],
        ["HAProxy processes restarted by it", result["haproxy_restarted"], "0"],
        ["serving after the restart", f"{d['serving_after_restart']}/{n}", f"{n}/{n}"],
        ["neighbour table full events", d["neigh_table_fulls_total"], "0"],
    ]
    print_table(["", "measured", "target"], rows, title=f"scale: {n} load balancers on one host")
    print(f"\nservice: SIGTERM stop {d['service_stop_s']} s, agent alive again "
          f"{d['restart_agent_alive_s']} s after start, sync began at "
          f"{d['restart_sync_started_s']} s ({d['restart_sync_line']}) and took "
          f"{d['restart_sync_seconds']} s; RSS of the "
          f"all-in-one process {d['service_rss_mib']} MiB; gc_thresh before/with service "
          f"{d['gc_thresh_before_service']} / {d['gc_thresh_with_service']}; "
          f"neighbour entries {d['neigh_entries_after_create']}; open fds of the service "
          f"{d['service_open_fds']} (limit {d['service_nofile']})")
    print(f"statuses after create {d['statuses_after_create']}, after restart "
          f"{d['statuses_after_restart']}")
    for key in ("profile_create", "profile_restart"):
        if d.get(key):
            print("\n" + "\n".join(d[key]))
    idle = d["idle_cpu_percent_of_a_core"]
    print(f"at rest over 10 s: the service used {idle['service']}% of a core (liveness "
          f"checks and stats of every load balancer each periodic_interval), the "
          f"HAProxys {idle['haproxys']}%")
    problems = d.get("service_log") or {}
    if problems.get("counts"):
        print(f"service log: {problems['counts']}")
        for line in problems["first"]:
            print(f"  {line}")
    if d["not_serving"]:
        print(f"not serving (first 10): {d['not_serving']}")


def targets_met(result: dict[str, Any], d: dict[str, Any]) -> bool:
    n = result["n"]
    ok = (result["serving"] == n and d["serving_after_restart"] == n
          and result["pss_mib_per_lb"] <= TARGETS["pss_mib_per_lb"]
          and result["haproxy_restarted"] == 0)
    if n >= 1000:
        ok = ok and (result["agent_restart_s"] or 1e9) <= TARGETS["agent_restart_s"]
    return ok


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--n", type=int, default=None, help="load balancers (default 1000)")
    known, rest = pre.parse_known_args(argv)
    args = parse_args((__doc__ or "").split("\n\n")[0] + " Also: --n N.", rest)
    n = known.n or (50 if args.quick else 1000)
    require_root()
    install_signal_handlers()
    # ~5 MiB of HAProxy and ~1-2 MiB of kernel per load balancer, and room to spare.
    need = n * 10 * MIB + 2 * 1024 * MIB
    if meminfo()["MemAvailable"] < need:
        sys.exit(f"scale: {n} load balancers need ~{need / MIB / 1024:.1f} GiB available; "
                 f"{meminfo()['MemAvailable'] / MIB / 1024:.1f} GiB is")
    try:
        sweep_leftovers()
        result, details = run(n, serve_timeout=60 + n * 0.3, restart_timeout=60 + n * 0.12)
    except KeyboardInterrupt:
        print(f"\n{NAME}: interrupted; everything it started was stopped", file=sys.stderr)
        return 130
    show(result, details)
    path = write_results(NAME, args.quick, result, details)
    print(f"\nwrote {path.relative_to(REPO)}")
    summary(NAME, f"{result['serving']}/{result['n']} serving, {result['create_per_s']:.1f} "
                  f"LB/s, HAProxy PSS {result['pss_mib_per_lb']:.1f} MiB/LB (+kernel "
                  f"~{details['kernel_mib_per_lb']:.1f} MiB kernel), agent restart "
                  f"{result['agent_restart_s']} s, {result['haproxy_restarted']} HAProxy "
                  f"restarted", targets_met(result, details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
