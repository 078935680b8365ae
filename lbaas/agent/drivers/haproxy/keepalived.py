"""keepalived for ACTIVE_STANDBY load balancers (docs/architecture.md, "ACTIVE_STANDBY").

Each amphora's namespace runs one keepalived (VRRP subsystem only) next to its HAProxy.
The two keepalived processes of a load balancer speak VRRPv3 by unicast between the
amphorae's own addresses, and the one that is MASTER holds the VIP on its device.

Like ``cfg`` for HAProxy: :func:`build_view` makes and checks every decision
(lbaas.common.limits) into a frozen view, the Jinja2 templates only place the values.
The process side mirrors ``process``: started behind the namespace's exec prefix with
its own config and pid files under the instance's state path (never the distribution's
``/etc/keepalived``), reloaded by SIGHUP, stopped by PID.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from lbaas.agent.drivers.haproxy import process
from lbaas.common import limits
from lbaas.common import logical_device as ld

TEMPLATES_DIR = Path(__file__).parent / "templates"
START_TIMEOUT = 10.0
# The HAProxy check: keepalived starts the script once a second (its smallest
# interval); the script itself watches HAProxy for most of that second, so a dead
# HAProxy is seen within a poll, not within a second.
CHECK_INTERVAL_S = 1
CHECK_TIMEOUT_S = 2
CHECK_WATCH_MS = 850
CHECK_POLL_MS = 50
# Gratuitous ARPs of the VIP on becoming MASTER: the first burst at once, another
# after a second (a switch that missed the first).
GARP_REPEAT = 3
GARP_DELAY_S = 1
# Octavia's advert interval (its vrrp_advert_int default, 1 s): the bench's baseline.
OCTAVIA_ADVERT_INT_MS = 1000

VRRP_STATES = ("MASTER", "BACKUP", "FAULT")
# keepalived's own names, and the files' names (paths are validated before a template
# sees them: no quote, space or '#').
_PATH_RE = re.compile(r"^/[A-Za-z0-9_./+-]{1,4000}$", re.ASCII)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$", re.ASCII)


class KeepalivedError(Exception):
    """keepalived refused its config or did not start; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Paths:
    """keepalived's files in one instance's state directory."""

    dir: Path

    @property
    def conf(self) -> Path:
        return self.dir / "keepalived.conf"

    @property
    def pid(self) -> Path:
        return self.dir / "keepalived.pid"

    @property
    def vrrp_pid(self) -> Path:
        return self.dir / "keepalived-vrrp.pid"

    @property
    def check_script(self) -> Path:
        return self.dir / "check-haproxy.sh"

    @property
    def check_fifo(self) -> Path:
        # The check script's clock: ``read -t`` on a FIFO nobody writes to sleeps
        # without forking.
        return self.dir / "check.fifo"

    @property
    def notify_script(self) -> Path:
        return self.dir / "notify.sh"

    @property
    def state(self) -> Path:
        """The VRRP state keepalived last entered (written by the notify script)."""
        return self.dir / "vrrp-state"

    @property
    def resign(self) -> Path:
        """A track_file: a value other than 0 puts the instance in FAULT, which makes a
        MASTER give the VIP up at once (a priority 0 advert) - the role swap's lever."""
        return self.dir / "resign"

    @property
    def view(self) -> Path:
        """The view the config was rendered from (the VIP a restart must clear)."""
        return self.dir / "keepalived-view.json"


@dataclass(frozen=True)
class KeepalivedView:
    loadbalancer_id: str
    amphora_id: str
    instance_name: str
    interface: str
    vrid: int
    priority: int
    nopreempt: bool
    # Seconds, as keepalived writes them ("0.1"): VRRPv3 counts centiseconds.
    advert_int_s: str
    src_ip: str
    peer_ip: str
    vip: str
    vip_prefixlen: int
    check_name: str
    check_script: str
    check_fifo: str
    check_interval_s: int
    check_timeout_s: int
    check_watch_ms: int
    check_poll_ms: int
    check_poll_s: str
    resign_name: str
    resign_file: str
    notify_script: str
    state_file: str
    haproxy_conf: str
    haproxy_pid: str
    garp_repeat: int
    garp_delay_s: int


def _checked(rule: Any, value: Any, *args: Any) -> Any:
    try:
        return rule(value, *args)
    except ValueError as exc:
        raise KeepalivedError(str(exc)) from None


def _path(value: Path | str) -> str:
    text = str(value)
    if not _PATH_RE.fullmatch(text) or "/../" in text or text.endswith("/.."):
        raise KeepalivedError(f"{text!r} cannot be written into a keepalived file "
                              "(absolute, letters, digits and ._/+- only)")
    return text


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise KeepalivedError(f"{what} {value!r} is not a usable keepalived name")
    return value


def own_address(port: ld.Port) -> str:
    """An amphora's own address: the first fixed IP of its VRRP port."""
    if not port.fixed_ips:
        raise KeepalivedError(f"VRRP port {port.id} has no fixed IP")
    return str(_checked(limits.canonical_ip, port.fixed_ips[0].ip_address))


def own_and_peer(lb: ld.LoadBalancer, host: str) -> tuple[ld.Amphora, ld.Amphora] | None:
    """(this host's amphora, the other one), None when this host has none. Raises
    :class:`KeepalivedError` when the amphorae are not a pair."""
    own = [a for a in lb.amphorae if a.host == host]
    if not own:
        return None
    others = [a for a in lb.amphorae if a.host != host]
    if len(own) != 1 or len(others) != 1:
        raise KeepalivedError(f"load balancer {lb.id} has {len(lb.amphorae)} amphorae "
                              f"({len(own)} on {host}); ACTIVE_STANDBY needs two on "
                              "two hosts")
    return own[0], others[0]


def build_view(lb: ld.LoadBalancer, own: ld.Amphora, peer: ld.Amphora, interface: str,
               paths: Paths, haproxy_conf: Path, haproxy_pid: Path) -> KeepalivedView:
    """keepalived's view for ``own``. Raises :class:`KeepalivedError`."""
    vrrp = lb.vrrp
    if vrrp is None:
        raise KeepalivedError(f"ACTIVE_STANDBY load balancer {lb.id} has no VRRP group")
    vip = _checked(limits.canonical_ip, lb.vip_address)
    src_ip, peer_ip = own_address(own.vrrp_port), own_address(peer.vrrp_port)
    versions = {ipaddress.ip_address(a).version for a in (vip, src_ip, peer_ip)}
    if len(versions) != 1:
        raise KeepalivedError("the VIP and the amphorae's addresses must be of one IP "
                              "version")
    if src_ip == peer_ip or vip in (src_ip, peer_ip):
        raise KeepalivedError("the VIP and the two amphorae need three addresses")
    advert_ms = _checked(limits.vrrp_advert_int_ms, vrrp.advert_int_ms)
    return KeepalivedView(
        loadbalancer_id=_name(lb.id, "load balancer id"),
        amphora_id=_name(own.id, "amphora id"),
        instance_name="vip",
        interface=_checked(limits.interface_name, interface),
        vrid=_checked(limits.int_in, vrrp.vrid, "VRRP vrid", limits.VRRP_VRID_MIN,
                      limits.VRRP_VRID_MAX),
        priority=_checked(limits.int_in, own.vrrp_priority, "VRRP priority",
                          limits.VRRP_PRIORITY_MIN, limits.VRRP_PRIORITY_MAX),
        nopreempt=not vrrp.preempt,
        advert_int_s=f"{advert_ms / 1000:g}",
        src_ip=src_ip,
        peer_ip=peer_ip,
        vip=vip,
        vip_prefixlen=32 if ":" not in vip else 128,
        check_name="haproxy",
        check_script=_path(paths.check_script),
        check_fifo=_path(paths.check_fifo),
        check_interval_s=CHECK_INTERVAL_S,
        check_timeout_s=CHECK_TIMEOUT_S,
        check_watch_ms=CHECK_WATCH_MS,
        check_poll_ms=CHECK_POLL_MS,
        check_poll_s=f"{CHECK_POLL_MS / 1000:g}",
        resign_name="resign",
        resign_file=_path(paths.resign),
        notify_script=_path(paths.notify_script),
        state_file=_path(paths.state),
        haproxy_conf=_path(haproxy_conf),
        haproxy_pid=_path(haproxy_pid),
        garp_repeat=GARP_REPEAT,
        garp_delay_s=GARP_DELAY_S,
    )


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


def render(view: KeepalivedView) -> dict[str, str]:
    """{"conf", "check", "notify"}: the config and its two scripts."""
    return {name: _environment.get_template(template).render(k=view)
            for name, template in (("conf", "keepalived.conf.j2"),
                                   ("check", "keepalived_check.sh.j2"),
                                   ("notify", "keepalived_notify.sh.j2"))}


def view_to_dict(view: KeepalivedView) -> dict[str, Any]:
    return dataclasses.asdict(view)


# --------------------------------------------------------------------------- files


def write_files(paths: Paths, rendered: dict[str, str]) -> bool:
    """Write the scripts and the config; True when the config's text changed (what
    asks a running keepalived for a reload)."""
    for path, text in ((paths.check_script, rendered["check"]),
                       (paths.notify_script, rendered["notify"])):
        if not path.exists() or path.read_text() != text:
            _write_atomic(path, text, mode=0o700)
    if not paths.check_fifo.exists():
        os.mkfifo(paths.check_fifo, 0o600)
    if not paths.resign.exists():
        _write_atomic(paths.resign, "0\n")
    if paths.conf.exists() and paths.conf.read_text() == rendered["conf"]:
        return False
    _write_atomic(paths.conf, rendered["conf"], mode=0o600)
    return True


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def set_resign(paths: Paths, resign: bool) -> None:
    _write_atomic(paths.resign, "1\n" if resign else "0\n")


def vrrp_state(paths: Paths) -> str:
    """MASTER, BACKUP or FAULT: what keepalived last said, FAULT when it does not run
    (a stopped keepalived holds nothing)."""
    if not running_pids(paths):
        return "FAULT"
    try:
        state = paths.state.read_text().strip()
    except FileNotFoundError:
        # Started, no transition yet: keepalived starts every instance as BACKUP.
        return "BACKUP"
    return state if state in VRRP_STATES else "FAULT"


# --------------------------------------------------------------------------- process


def running_pids(paths: Paths) -> list[int]:
    """keepalived's parent (pid file) and VRRP child, when alive and really started on
    this instance's config (a pid file outlives its process)."""
    pids = []
    for pid_file in (paths.pid, paths.vrrp_pid):
        pids += [p for p in process.read_pids(pid_file)
                 if process.pid_alive(p) and process.runs_config(p, paths.conf)]
    return pids


def parent_pid(paths: Paths) -> int | None:
    pids = [p for p in process.read_pids(paths.pid)
            if process.pid_alive(p) and process.runs_config(p, paths.conf)]
    return pids[0] if pids else None


def check_config(binary: str, paths: Paths) -> None:
    """``keepalived -t``: raises :class:`KeepalivedError` with its reason."""
    try:
        proc = subprocess.run([binary, "-t", "-f", str(paths.conf), "-l", "-P"],
                              capture_output=True, text=True, timeout=START_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KeepalivedError(f"cannot run {binary} -t: {exc}") from exc
    if proc.returncode != 0:
        raise KeepalivedError((proc.stdout + proc.stderr).strip()
                              or f"{binary} -t exited {proc.returncode}")


def start(binary: str, exec_prefix: list[str], paths: Paths) -> int:
    """Start keepalived (VRRP only) on the instance's files; returns the parent's pid."""
    for pid_file in (paths.pid, paths.vrrp_pid):
        pid_file.unlink(missing_ok=True)
    cmd = [*exec_prefix, binary, "--vrrp", "--use-file", str(paths.conf),
           "--pid", str(paths.pid), "--vrrp_pid", str(paths.vrrp_pid),
           # To the host's syslog, as HAProxy's access log (this build of keepalived
           # has no log file option).
           "--log-detail"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KeepalivedError(f"cannot start {binary}: {exc}") from exc
    if proc.returncode != 0:
        raise KeepalivedError((proc.stdout + proc.stderr).strip()
                              or f"{binary} exited {proc.returncode}")
    # The daemon writes its pid file after it forked: wait for it.
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        pid = parent_pid(paths)
        if pid is not None:
            return pid
        time.sleep(0.02)
    raise KeepalivedError(f"{binary} did not start (no live pid in {paths.pid.name})")


def reload(paths: Paths) -> bool:
    """SIGHUP: keepalived re-reads its config without dropping the VIP. False when
    none runs."""
    pid = parent_pid(paths)
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def stop(paths: Paths, timeout: float = 5.0) -> None:
    """SIGTERM the parent (its VRRP child resigns: a priority 0 advert makes the peer
    take the VIP at once), then make sure both are gone."""
    pids = running_pids(paths)
    process.stop(pids, timeout=timeout)
