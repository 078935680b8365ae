"""`make demo`: lbaas in ninety seconds, on a throwaway network on this machine.

Starts ``lbaas all-in-one``, builds a small tenant network (a Linux bridge, three
backend namespaces whose web servers answer with their names, a client namespace behind
a router), then walks through what a tenant does with the ``lbaas`` command line,
printing every command before running it: a pool, three members, a health monitor, a
VIP. Then it shows requests spreading over the members, kills one backend under steady
traffic (the member goes INACTIVE and no request fails) and prints the pool's stats.

At the end, or on Ctrl-C, it removes everything it made: the load balancer (through the
CLI), the service, its HAProxy processes, every namespace and link (prefix ``dm``,
addresses 10.98.0.0/16). Run as root (namespaces and bridges need it).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import netlab  # noqa: E402  (the repo root is on the path only now)

SPEC = netlab.LabSpec(prefix="dm", net="10.98")
LBAAS = str(Path(sys.executable).parent / "lbaas")
BOLD, DIM, GREEN, RED, RESET = ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m") \
    if sys.stdout.isatty() else ("", "", "", "", "")


def out(text: str = "") -> None:
    """print, but a reader who closed the pipe (``make demo | head``) must not stop the
    cleanup half-way: the rest goes nowhere."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the run


def step(title: str) -> None:
    out(f"\n{BOLD}== {title}{RESET}")


def say(text: str) -> None:
    out(f"{DIM}# {text}{RESET}")


class Demo:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lbaas-demo-"))
        self.topology = netlab.Topology(SPEC)
        self.service = netlab.Service(self.root, SPEC, host="dm-host")
        self.made: list[tuple[str, str]] = []   # (CLI resource, id), in creation order
        self.problems: list[str] = []           # what the demo claims and did not see
        self.load: subprocess.Popen[str] | None = None

    # ------------------------------------------------------------------ helpers

    def lbaas(self, *args: str, show: bool = True, check: bool = True) -> str:
        """Run the CLI as a user would, printing the command (and its output)."""
        argv = [LBAAS, "--os-url", self.service.url, *args]
        if show:
            out(f"{GREEN}$ lbaas --os-url {self.service.url} "
                f"{' '.join(shlex.quote(a) for a in args)}{RESET}")
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        if show and proc.stdout.strip():
            out(proc.stdout.rstrip())
        if check and proc.returncode != 0:
            raise RuntimeError(f"lbaas {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def create(self, resource: str, *args: str, columns: tuple[str, ...] = ()) -> str:
        """``lbaas <resource> create``, its table shown (``columns`` only, and the id);
        returns the new object's id, read from the table as a user would."""
        picked = [a for c in ("id", *columns) for a in ("-c", c)]
        out = self.lbaas(resource, "create", *args, *picked)
        obj_id = next(line.split("|")[2].strip() for line in out.splitlines()
                      if line.startswith("| id "))
        self.made.append((resource, obj_id))
        return obj_id

    def requests(self, url: str, n: int) -> list[str]:
        return netlab.client_get(SPEC, url, n, timeout=3)

    # ------------------------------------------------------------------ the walk-through

    def run(self) -> None:
        t0 = time.monotonic()
        sweep_earlier_run()
        step("1. A throwaway tenant network on this machine")
        say(f"bridge {SPEC.bridge}; backends {', '.join(SPEC.backend_ips)} at "
            f"{', '.join(SPEC.backend_ips.values())} (each web server answers its name);")
        say(f"a client at {SPEC.client_ip} behind a router ({SPEC.gw_ns})")
        self.topology.build()

        step("2. Start lbaas (the REST API and the agent, in one process)")
        say(f"lbaas all-in-one --config-file {self.service.conf}")
        self.service.start()
        say(f"API at {self.service.url}; the agent maps physical network 'default' to "
            f"{SPEC.bridge}")

        step("3. The tenant's network and subnet, as Neutron would have them")
        self.create("network", "demo-net", columns=("name", "provider:physical_network",
                                                    "provider:network_type"))
        first, last = f"{SPEC.net}.1.10", SPEC.vip_range[1]
        self.create("subnet", "--name", "demo-subnet", "--gateway-ip", SPEC.tenant_gw,
                    "--allocation-pool", f"start={first},end={last}", "demo-net",
                    SPEC.tenant_cidr, columns=("name", "cidr", "gateway_ip",
                                               "allocation_pools"))

        step("4. A load balancer: pool, members, health monitor, VIP")
        pool = self.create("pool", "--name", "demo-pool", "--lb-method", "ROUND_ROBIN",
                           "--protocol", "HTTP", "--subnet-id", "demo-subnet",
                           columns=("name", "protocol", "lb_method", "status"))
        members = {}
        for name, address in SPEC.backend_ips.items():
            members[name] = self.create("member", "--address", address,
                                        "--protocol-port", "80", "demo-pool",
                                        columns=("address", "protocol_port", "status"))
        monitor = self.create("healthmonitor", "--type", "HTTP", "--delay", "1",
                              "--timeout", "1", "--max-retries", "1", "--url-path",
                              "/health", columns=("type", "delay", "url_path"))
        self.lbaas("healthmonitor", "associate", monitor, "demo-pool")
        say("--wait follows the VIP until the agent has it serving (ACTIVE)")
        vip = self.create("vip", "--name", "demo-vip", "--protocol", "HTTP",
                          "--protocol-port", "80", "--subnet-id", "demo-subnet", "--wait",
                          "demo-pool", columns=("name", "address", "protocol_port",
                                                "status"))
        address = self.lbaas("vip", "show", vip, "-f", "value", "-c", "address", show=False)
        url = f"http://{address}/"
        say(f"inside: namespace qlbaas-{pool}, one HAProxy, the VIP {address} on "
            f"{SPEC.bridge}")

        step("5. Requests from the client spread over the members")
        say(f"9 requests to {url} from the client namespace, a new connection each:")
        bodies = self.requests(url, 9)
        out("   " + " ".join(bodies))
        out(f"   {dict(sorted(Counter(bodies).items()))}")
        if Counter(bodies) != {"b1": 3, "b2": 3, "b3": 3}:
            self.problems.append(f"requests did not spread evenly: {bodies}")

        step("6. A backend dies under traffic")
        say("a client sends 20 requests/s for 8 s; after 2 s we kill b2's web server")
        self.load = load = netlab.start_load(SPEC, url, seconds=8, rate=20)
        time.sleep(2)
        self.topology.stop_backend("b2")
        say("killed b2; HAProxy's checks mark it down, the agent reports it:")
        deadline = time.monotonic() + 20
        status = ""
        while time.monotonic() < deadline:
            status = self.lbaas("member", "show", members["b2"], "-f", "value", "-c",
                                "status", show=False)
            if status == "INACTIVE":
                break
            time.sleep(0.3)
        self.lbaas("member", "list", "--pool", pool, "-c", "address", "-c", "status")
        result = netlab.load_result(load)
        failed = result["failed"]
        colour = GREEN if failed == 0 else RED
        out(f"   {colour}{result['requests']} requests, {failed} failed{RESET}; "
            f"answered by {dict(sorted(result['bodies'].items()))}")
        if failed:
            self.problems.append(f"{failed} requests failed: {result['errors']}")
        if status != "INACTIVE":
            self.problems.append(f"b2 is {status!r}, not INACTIVE, after 20 s")
        say("and now nothing goes to b2:")
        after = self.requests(url, 6)
        out("   " + " ".join(after))
        if set(after) != {"b1", "b3"}:
            self.problems.append(f"after b2 died: {after}")

        step("7. The pool's traffic counters")
        say("HAProxy's counters, collected by the agent every periodic_interval")
        time.sleep(1.5)
        self.lbaas("pool", "stats", "demo-pool")
        out(f"\n{BOLD}Done in {time.monotonic() - t0:.0f} s.{RESET}")

    # ------------------------------------------------------------------ cleanup

    def cleanup(self) -> None:
        """Everything the demo made, whatever state it got to; never raises."""
        step("Cleaning up")
        if self.load is not None and self.load.poll() is None:
            self.load.kill()
            self.load.wait(10)
        try:
            if self.service.proc is not None and self.made:
                # The load balancer the way it came, backwards (the VIP first).
                for resource, obj_id in reversed(self.made):
                    if resource == "healthmonitor":
                        pool = next(i for r, i in self.made if r == "pool")
                        self.lbaas("healthmonitor", "disassociate", obj_id, pool,
                                   check=False)
                    if resource == "member":
                        continue  # a pool's delete takes its members with it
                    extra = ("--wait",) if resource in ("vip", "pool") else ()
                    self.lbaas(resource, "delete", *extra, obj_id, check=False)
        except Exception as exc:  # the service may be the thing that broke
            out(f"   (API cleanup incomplete: {exc})")
        finally:
            self.service.stop()
            self.service.cleanup_data_plane()
            self.topology.teardown()
            shutil.rmtree(self.root, ignore_errors=True)
            say("removed the service, its HAProxy processes, namespaces "
                f"({SPEC.prefix}-*, qlbaas-*), links and {SPEC.bridge}")
            left = self.leftovers()
            out(f"   left behind: {', '.join(left) if left else 'nothing'}")
            if left:
                self.problems.append(f"left behind: {left}")

    def leftovers(self) -> list[str]:
        """Namespaces, links and processes of this demo still on the host."""
        pools = {i for r, i in self.made if r == "pool"}
        namespaces = netlab.sh("ip", "netns", "list").stdout.split()
        links = [line.split(":")[1].strip().split("@")[0] for line in
                 netlab.sh("ip", "-o", "link", "show").stdout.splitlines()]
        procs = netlab.sh("ps", "-eo", "args").stdout.splitlines()
        return ([ns for ns in namespaces
                 if ns.startswith(f"{SPEC.prefix}-") or ns[len("qlbaas-"):] in pools]
                + [link for link in links if link.startswith(SPEC.prefix)]
                + [p for p in procs if str(self.root) in p and "ps -eo" not in p])


def sweep_earlier_run() -> None:
    """What a demo killed with SIGKILL (no cleanup) left: its web servers, service and
    HAProxys (found by a demo state directory in their command line: two demos cannot
    run at once, they would share every name), its state directory, the ``dm-*``
    namespaces and links."""
    others = [int(p.name) for p in Path("/proc").iterdir()
              if p.name.isdigit() and int(p.name) != os.getpid() and _is_demo(p)]
    if others:
        raise RuntimeError(f"another demo is running (pid {', '.join(map(str, others))}): "
                           "they would share every name; stop it first")
    namespaces = [ns for ns in netlab.sh("ip", "netns", "list").stdout.split()
                  if ns.startswith(f"{SPEC.prefix}-")]
    links = [line.split(":")[1].strip().split("@")[0] for line in
             netlab.sh("ip", "-o", "link", "show").stdout.splitlines()]
    links = [link for link in links if link.startswith(SPEC.prefix)]
    stale: list[int] = []
    for ns in namespaces:
        stale += [int(p) for p in netlab.sh("ip", "netns", "pids", ns,
                                            check=False).stdout.split()]
    pools: list[str] = []
    dirs: set[Path] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        roots = [a for a in argv if a.startswith(f"{tempfile.gettempdir()}/lbaas-demo-")]
        if roots:
            stale.append(int(proc.name))
            dirs |= {Path(*Path(r).parts[:3]) for r in roots}
            pools += [Path(a).parent.name for a in argv if a.endswith("/conf")]
    if not (namespaces or links or stale):
        return
    say("removing what an earlier, interrupted demo left behind")
    for pid in stale:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for ns in namespaces + [f"qlbaas-{p}" for p in pools]:
        netlab.sh("ip", "netns", "del", ns, check=False)
    for link in links:
        netlab.sh("ip", "link", "del", link, check=False)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def _is_demo(proc: Path) -> bool:
    """A process running this script (``python tools/demo.py``, however spelled)."""
    try:
        argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        if len(argv) < 2 or not argv[1]:
            return False
        script = ((proc / "cwd").resolve() / argv[1]).resolve()
    except OSError:
        return False
    return script == Path(__file__).resolve()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    if os.geteuid() != 0:
        print("make demo needs root: namespaces, bridges and veths are made for real.",
              file=sys.stderr)
        return 2
    if shutil.which("haproxy") is None:
        print("make demo needs haproxy (make setup installs it).", file=sys.stderr)
        return 2
    # Ctrl-C and kill both end in the cleanup (SIGINT explicitly: a shell starting us in
    # the background would have it ignored).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    demo = Demo()
    code = 0
    try:
        demo.run()
    except KeyboardInterrupt:
        out("\ninterrupted")
        code = 130
    except Exception as exc:
        out(f"\n{RED}demo failed: {exc}{RESET}\n{demo.service.log_tail(1500)}")
        code = 1
    finally:
        # A second Ctrl-C must not leave half the network behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.cleanup()
    for problem in demo.problems:
        out(f"{RED}demo problem: {problem}{RESET}")
    return code or (1 if demo.problems else 0)


if __name__ == "__main__":
    sys.exit(main())
