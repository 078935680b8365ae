"""Two amphorae of ACTIVE_STANDBY load balancers on two lbaas "hosts" of one kernel
(tests/helpers/multihost.py, no server): each host's HAProxy namespace driver runs in
its host namespace (tests/helpers/amphora_driver.py) and is handed logical devices built
here. For tests/functional/ha/test_active_standby.py and bench/failover.py.

Addresses: one /24 for the tenant wire (client .5-.9, backends .11/.12, VIP .100,
amphorae .21/.22), another for mgmt (unused without a server).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.multihost import Host, MultiHostLab
from tests.helpers.netlab import HELPERS, PY, REPO, netns, sh, wait_until

HTTP_TIMEOUT = 3.0


class DriverProcess:
    """One host's driver (what its agent would run), a process in its host namespace."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.log = host.root / "driver.log"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> DriverProcess:
        self.host.root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.host.netns}", "--", PY,
                 str(HELPERS / "amphora_driver.py"), self.host.host, str(self.host.state),
                 self.host.ns_prefix],
                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        return self

    def call(self, op: str, **kwargs: Any) -> Any:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"driver of {self.host.host} exited:\n"
                               + self.log.read_text(errors="replace")[-3000:])
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"{op} on {self.host.host}: {answer['error']}")
        return answer["result"]

    def stop(self) -> None:
        """The "agent" stops; its instances keep running."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@dataclass
class ActiveStandbyLab:
    root: Path
    prefix: str = "tk"
    lan_base: str = "10.98.80"
    mgmt_base: str = "10.98.81"
    lab: MultiHostLab = field(init=False)
    drivers: dict[str, DriverProcess] = field(default_factory=dict)
    backend2: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.lab = MultiHostLab(self.root, prefix=self.prefix, lan_base=self.lan_base,
                                mgmt_base=self.mgmt_base)
        self.vip = f"{self.lan_base}.100"
        self.url = f"http://{self.vip}/"
        self.backend2_ip = f"{self.lan_base}.12"
        self.amphora_ips = {"a": f"{self.lan_base}.21", "b": f"{self.lan_base}.22"}

    @property
    def hosts(self) -> dict[str, Host]:
        return self.lab.agents

    def build(self) -> ActiveStandbyLab:
        self.lab.build()
        ns = f"{self.prefix}-b2"
        self.lab._leaf(ns, f"{self.prefix}b2h", f"{self.backend2_ip}/24")
        self.backend2 = subprocess.Popen(
            ["ip", "netns", "exec", ns, PY, str(HELPERS / "backend.py"), "b2",
             self.backend2_ip, "80"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: netns(ns, "ss", "-ltnH", "sport = :80").stdout.strip(),
                   timeout=10, message="backend b2")
        for name, host in self.hosts.items():
            self.drivers[name] = DriverProcess(host).start()
        return self

    def teardown(self) -> None:
        for driver in list(self.drivers.values()):
            driver.stop()
        for host in self.hosts.values():
            if _link_exists(host.wire):
                host.cut_wire(up=True)
        if self.backend2 is not None:
            self.backend2.kill()
            self.backend2.wait(10)
            self.backend2 = None
        # Every process in an instance's namespace (HAProxy, keepalived) by PID, then
        # the namespaces, the hosts and the wire (MultiHostLab.teardown).
        self.lab.teardown()

    # -- the logical device ------------------------------------------------------------

    def device(self, lb_id: str, *, priorities: dict[str, int] | None = None,
               roles: dict[str, str] | None = None, advert_int_ms: int = 100,
               persistence: str | None = None, members: tuple[str, ...] = ("b1",),
               revision: int = 1, amphora_ids: dict[str, str] | None = None,
               vrid: int = 1) -> dict[str, Any]:
        roles = roles or {"a": "MASTER", "b": "BACKUP"}
        priorities = priorities or {name: 200 if role == "MASTER" else 100
                                    for name, role in roles.items()}
        amphora_ids = amphora_ids or {name: str(uuid.uuid5(uuid.UUID(lb_id), name))
                                      for name in self.hosts}
        subnet = {"id": "subnet-1", "cidr": f"{self.lan_base}.0/24",
                  "gateway_ip": f"{self.lan_base}.1"}
        network = {"id": "net-1", "provider:physical_network": "default",
                   "provider:network_type": "flat"}

        def port(port_id: str, ip: str, mac_tail: int) -> dict[str, Any]:
            return {"id": port_id, "network_id": "net-1",
                    "mac_address": f"fa:16:3e:80:{mac_tail // 256:02x}:{mac_tail % 256:02x}",
                    "fixed_ips": [{"subnet_id": "subnet-1", "ip_address": ip,
                                   "subnet": subnet}],
                    "network": network}

        ips = {"b1": self.lab.backend_ip, "b2": self.backend2_ip}
        pool: dict[str, Any] = {
            "id": str(uuid.uuid5(uuid.UUID(lb_id), "pool")), "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "members": [{"id": str(uuid.uuid5(uuid.UUID(lb_id), m)), "address": ips[m],
                         "protocol_port": 80} for m in members]}
        if persistence:
            pool["session_persistence"] = {"type": persistence}
        amphorae = [{"id": amphora_ids[name], "host": host.host, "role": roles[name],
                     "vrrp_priority": priorities[name],
                     "vrrp_port": port(f"vrrp-port-{name}-{lb_id[:8]}",
                                       self.amphora_ips[name], 21 + host.index)}
                    for name, host in self.hosts.items()]
        return {
            "id": lb_id, "revision": revision, "host": None,
            "loadbalancer": {
                "id": lb_id, "vip_address": self.vip,
                "vip_port": port(f"vip-port-{lb_id[:8]}", self.vip, 100),
                "topology": "ACTIVE_STANDBY",
                "listeners": [{"id": str(uuid.uuid5(uuid.UUID(lb_id), "listener")),
                               "protocol": "HTTP", "protocol_port": 80,
                               "default_pool_id": pool["id"]}],
                "pools": [pool],
                "amphorae": amphorae,
                "vrrp": {"vrid": vrid, "advert_int_ms": advert_int_ms, "preempt": False},
            }}

    def deploy(self, device: dict[str, Any], names: tuple[str, ...] = ("a", "b")) -> None:
        for name in names:
            assert self.drivers[name].call("deploy", device=device) is True

    # -- what runs where ---------------------------------------------------------------

    def ns(self, name: str, lb_id: str) -> str:
        return self.hosts[name].ns_prefix + lb_id

    def holds_vip(self, name: str, lb_id: str) -> bool:
        """Whether keepalived put the VIP on the amphora's device (both have it on lo,
        where it is not announced)."""
        out = netns(self.ns(name, lb_id), "ip", "-o", "-4", "addr", "show", check=False)
        return any(f" {self.vip}/" in line and line.split()[1] != "lo"
                   for line in out.stdout.splitlines())

    def holder(self, lb_id: str) -> str | None:
        holders = [name for name in self.hosts if self.holds_vip(name, lb_id)]
        assert len(holders) <= 1, f"the VIP is on {holders}"
        return holders[0] if holders else None

    def wait_holder(self, lb_id: str, name: str, timeout: float = 10) -> None:
        wait_until(lambda: self.holder(lb_id) == name, timeout=timeout, interval=0.05,
                   message=f"VIP on {name}")

    def pids(self, name: str, lb_id: str, program: str) -> list[int]:
        out = sh("ip", "netns", "pids", self.ns(name, lb_id), check=False).stdout
        found = []
        for tok in out.split():
            try:
                comm = Path(f"/proc/{tok}/comm").read_text().strip()
            except OSError:
                continue
            if comm == program:
                found.append(int(tok))
        return sorted(found)

    def kill(self, name: str, lb_id: str, programs: tuple[str, ...] = ("haproxy",
                                                                      "keepalived")) -> None:
        for program in programs:
            for pid in self.pids(name, lb_id, program):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def kill_host(self, name: str, lb_id: str) -> float:
        """The host dies: its wire cut, its HAProxy and keepalived SIGKILLed. Returns
        when it was cut off (epoch s)."""
        self.hosts[name].cut_wire()
        at = time.time()
        self.kill(name, lb_id)
        return at

    # -- the client --------------------------------------------------------------------

    def get(self, n: int = 1, source: str | None = None) -> list[str]:
        args = ["ip", "netns", "exec", self.lab.client_ns, PY,
                str(HELPERS / "netclient.py"), "once", self.url, str(n), "--timeout",
                str(HTTP_TIMEOUT)]
        out = subprocess.run(args, check=True, capture_output=True, text=True,
                             timeout=30 + n * HTTP_TIMEOUT)
        return list(json.loads(out.stdout))

    def start_trace(self, seconds: float, rate: float) -> subprocess.Popen[str]:
        """Open-loop new-connection requests (bounded: seconds x rate of them, each
        HTTP_TIMEOUT at most)."""
        return subprocess.Popen(["ip", "netns", "exec", self.lab.client_ns, PY,
                                 str(HELPERS / "netclient.py"), "trace", self.url,
                                 str(seconds), str(rate), "--timeout", str(HTTP_TIMEOUT)],
                                stdout=subprocess.PIPE, text=True)


def trace_result(proc: subprocess.Popen[str], timeout: float = 120) -> list[list[Any]]:
    out, _ = proc.communicate(timeout=timeout)
    return list(json.loads(out))


@dataclass
class Takeover:
    """What the client saw around one event (a kill at ``at``, epoch seconds)."""

    requests: int
    failed: int
    # From the event until the VIP serves again: the first request served without a
    # retransmission (< FAST_S) that started after the event and after the last
    # request that failed or was slow; None if none was.
    serving_again_s: float | None
    # Requests that were served, but late (a SYN lost in the switch-over and resent).
    slow: int
    # Failed requests that started after the event (not in flight when it happened),
    # and after the VIP served again.
    failed_after_event: int
    failed_after_serving: int
    errors: list[str]


FAST_S = 0.5


def takeover(trace: list[list[Any]], at: float) -> Takeover:
    failed = [f"{start - at:+.3f}s {took:.3f}s {body}" for start, took, body in trace
              if str(body).startswith("ERR")]
    bad = [start for start, took, body in trace
           if start >= at and (str(body).startswith("ERR") or took >= FAST_S)]
    after = [(start, took) for start, took, body in trace
             if start >= max([at, *bad]) and not str(body).startswith("ERR")
             and took < FAST_S]
    slow = sum(1 for _, took, body in trace
               if not str(body).startswith("ERR") and took >= FAST_S)
    serving = (after[0][0] - at) if after else None
    failed_starts = [start for start, _, body in trace if str(body).startswith("ERR")]
    return Takeover(requests=len(trace), failed=len(failed), serving_again_s=serving,
                    slow=slow,
                    failed_after_event=sum(1 for t in failed_starts if t >= at),
                    failed_after_serving=sum(1 for t in failed_starts
                                             if serving is None or t >= at + serving),
                    errors=failed[:5])


def _link_exists(name: str) -> bool:
    return sh("ip", "link", "show", name, check=False).returncode == 0


def measure(aslab: ActiveStandbyLab, event: Any, seconds: float = 5.0, rate: float = 50,
            lead: float = 1.5) -> Takeover:
    """Run ``event()`` ``lead`` s into ``seconds`` of traffic; what the client saw.
    ``event`` may return the moment it took effect (epoch s)."""
    proc = aslab.start_trace(seconds, rate)
    time.sleep(lead)
    at = time.time()
    effective = event()
    if isinstance(effective, float):
        at = effective
    return takeover(trace_result(proc, timeout=seconds + HTTP_TIMEOUT + 60), at)
