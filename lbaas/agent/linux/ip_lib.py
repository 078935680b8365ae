"""Namespaces, links, addresses, routes and neighbours, through netlink (pyroute2).

How we reach a namespace, and why: pyroute2 0.9's ``IPRoute(netns=name)`` forks a child
process for every handle just to open a socket inside the namespace (~4-5 ms here, more
in a large agent process). Instead, every namespaced call runs in a short-lived thread
that ``setns()``-es itself into the namespace (network namespaces are per thread), opens
an ordinary ``IPRoute()`` there and goes back. That costs ~0.6 ms, keeps no file
descriptors open between calls (1000 namespaces per host would otherwise mean 1000
cached sockets and event loops), and is safe to call from several agent threads at once.
Namespaces are created the same way: ``unshare(CLONE_NEWNET)`` in a thread instead of a
forked child.

A caller that makes several calls for one namespace in a row (plugging a VIP: the
namespace's ``lo``, the device, its addresses, its routes) opens a
:func:`namespace_session`: for its duration that thread's calls for the namespace go to
one worker thread that entered it once and keeps one ``IPRoute`` (pyroute2 keeps a socket
per thread, made in the thread's namespace, so the handle cannot simply be handed back to
the caller). Measured on the provision bench's host (2 cores, loaded): a thread +
``setns`` + ``IPRoute()`` hop cost 1.5-3 ms, and a new load balancer's ``_plug`` made six
of them; a call through an open session costs the queue hand-off (~0.1 ms).

Devices inside a namespace may be named by the port's ``tap…`` name even when the device
there is the ``ns-…`` end of a veth: the HAProxy driver knows a port by
``get_device_name(port)`` only, so the functions below look for ``ns-`` + the same
suffix when ``tap…`` is not in the namespace (``resolve_device``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import logging
import os
import queue
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from socket import AF_INET, AF_INET6
from typing import Any, TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

LOG = logging.getLogger(__name__)

T = TypeVar("T")

_CLONE_NEWNET = 0x40000000
_IFF_UP = 0x1
_IFA_F_NODAD = 0x02
_RT_TABLE_MAIN = 254
_RT_SCOPE_LINK = 253
_MAX_IFNAME = 15

NETNS_RUN_DIR = netns.NETNS_RUN_DIR
TAP_PREFIX = "tap"
NS_PREFIX = "ns-"

_libc = ctypes.CDLL(None, use_errno=True)
# The namespace this process started in: worker threads return to it, and devices
# addressed with namespace=None live in it.
_ROOT_NS_FD = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


class IpLibError(Exception):
    """A netlink operation failed in a way the caller should report."""


class NamespaceNotFound(IpLibError):
    pass


class DeviceNotFound(IpLibError):
    pass


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    mac: str | None
    mtu: int
    up: bool
    kind: str | None
    master: int | None


# --------------------------------------------------------------------------- plumbing


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _netns_path(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"bad namespace name {name!r}")
    return os.path.join(NETNS_RUN_DIR, name)


def _in_thread(target: Callable[[], T]) -> T:
    """Run target in a fresh thread and hand back its result or exception."""
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["result"] = target()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=runner, name="ip_lib-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


_local = threading.local()


def _root_ipr() -> IPRoute:
    # One handle per calling thread for our own namespace: opening one costs ~0.3 ms,
    # a third of a typical call, and the agent has few, long-lived threads.
    ipr = getattr(_local, "ipr", None)
    if ipr is None:
        ipr = _local.ipr = IPRoute()
    return ipr


class _NamespaceWorker:
    """A thread that entered one namespace and runs calls there with one IPRoute, for
    a :func:`namespace_session`."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.path = _netns_path(namespace)
        self.inode: int | None = None
        # Per-session memo: ensure_namespace already brought lo up in this session.
        self.ensured = False
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ip_lib-session",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def _run(self) -> None:
        try:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise NamespaceNotFound(
                    f"namespace {self.namespace} does not exist") from None
            try:
                self.inode = os.fstat(fd).st_ino
                _setns(fd)
            finally:
                os.close(fd)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        try:
            with IPRoute() as ipr:
                self._ready.set()
                while True:
                    job = self._jobs.get()
                    if job is None:
                        return
                    fn, box, done = job
                    try:
                        box["result"] = fn(ipr)
                    except BaseException as exc:  # re-raised in the caller's thread
                        box["error"] = exc
                    done.set()
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            _setns(_ROOT_NS_FD)

    def is_current(self) -> bool:
        """Whether the namespace mounted at the path is still the one this worker sits
        in (not deleted, nor deleted and made anew under the same name)."""
        try:
            return self._thread.is_alive() and os.stat(self.path).st_ino == self.inode
        except FileNotFoundError:
            return False

    def call(self, fn: Callable[[IPRoute], T]) -> T:
        box: dict[str, Any] = {}
        done = threading.Event()
        self._jobs.put((fn, box, done))
        while not done.wait(1.0):
            if not self._thread.is_alive():
                raise IpLibError(f"namespace worker for {self.namespace} died: "
                                 f"{self._error!r}")
        if "error" in box:
            raise box["error"]
        return box["result"]  # type: ignore[no-any-return]

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()


def _sessions() -> dict[str, _NamespaceWorker | None]:
    """This thread's open sessions: namespace -> its worker (None until first used)."""
    sessions: dict[str, _NamespaceWorker | None] | None = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    return sessions


@contextlib.contextmanager
def namespace_session(namespace: str) -> Iterator[None]:
    """Within the block, this thread's calls for ``namespace`` run in one worker thread
    that entered the namespace once (started at the first such call, so the namespace
    may be created inside the block). Calls from other threads are not affected.
    Nested sessions for the same namespace share the outer one."""
    _netns_path(namespace)
    sessions = _sessions()
    if namespace in sessions:
        yield
        return
    sessions[namespace] = None
    try:
        yield
    finally:
        worker = sessions.pop(namespace, None)
        if worker is not None:
            worker.close()


def _session_worker(namespace: str) -> _NamespaceWorker | None:
    """The open session's worker for ``namespace`` in this thread (started if needed),
    or None when there is no session. Raises NamespaceNotFound when it does not exist."""
    sessions = _sessions()
    if namespace not in sessions:
        return None
    worker = sessions[namespace]
    if worker is not None and not worker.is_current():
        sessions[namespace] = None
        worker.close()
        worker = None
    if worker is None:
        worker = sessions[namespace] = _NamespaceWorker(namespace)
    return worker


def _close_session_worker(namespace: str) -> None:
    """Before ``namespace`` is deleted: its session worker (if any) leaves it."""
    sessions = _sessions()
    worker = sessions.get(namespace)
    if worker is not None:
        sessions[namespace] = None
        worker.close()


def run_in_namespace(namespace: str | None, fn: Callable[[IPRoute], T]) -> T:
    """Call ``fn(ipr)`` with an IPRoute opened inside ``namespace`` (None: our own)."""
    if namespace is None:
        return fn(_root_ipr())

    worker = _session_worker(namespace)
    if worker is not None:
        return worker.call(fn)

    path = _netns_path(namespace)

    def target() -> T:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NamespaceNotFound(f"namespace {namespace} does not exist") from None
        try:
            _setns(fd)
        finally:
            os.close(fd)
        try:
            with IPRoute() as ipr:
                return fn(ipr)
        finally:
            _setns(_ROOT_NS_FD)

    return _in_thread(target)


def _ignore(*codes: int) -> contextlib.AbstractContextManager[None]:
    """Suppress a NetlinkError carrying one of these errnos (the "already so" answers)."""

    @contextlib.contextmanager
    def cm() -> Any:
        try:
            yield
        except NetlinkError as exc:
            if exc.code not in codes:
                raise

    return cm()


def _lookup(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _device(ipr: IPRoute, index: int) -> Device:
    return _to_device(ipr.link("get", index=index)[0])


def _get_link(ipr: IPRoute, name: str) -> Any | None:
    """The link message of the device called ``name``, or None. One request: pyroute2's
    ``link_lookup(ifname=)`` is itself a full ``link get``, so a lookup followed by
    ``_device`` asked the kernel twice for the same message."""
    try:
        return ipr.link("get", ifname=name)[0]
    except (NetlinkError, KeyError, IndexError):
        return None  # what link_lookup answers for a missing device: []


def _to_device(msg: Any) -> Device:
    return Device(
        index=msg["index"],
        name=msg.get("ifname"),
        mac=msg.get("address"),
        mtu=msg.get("mtu"),
        up=bool(msg["flags"] & _IFF_UP),
        kind=msg.get(("linkinfo", "kind")),
        master=msg.get("master"),
    )


def _alt_names(name: str) -> list[str]:
    if name.startswith(TAP_PREFIX):
        return [name, NS_PREFIX + name[len(TAP_PREFIX):]]
    return [name]


def _resolve(ipr: IPRoute, name: str) -> int | None:
    for candidate in _alt_names(name):
        index = _lookup(ipr, candidate)
        if index is not None:
            return index
    return None


def _require(ipr: IPRoute, name: str, namespace: str | None) -> int:
    index = _resolve(ipr, name)
    if index is None:
        raise _not_found(name, namespace)
    return index


def _require_device(ipr: IPRoute, name: str, namespace: str | None) -> Device:
    """``_device(ipr, _require(...))`` in one request per name tried."""
    for candidate in _alt_names(name):
        msg = _get_link(ipr, candidate)
        if msg is not None:
            return _to_device(msg)
    raise _not_found(name, namespace)


def _not_found(name: str, namespace: str | None) -> DeviceNotFound:
    where = f"namespace {namespace}" if namespace else "the root namespace"
    return DeviceNotFound(f"device {name} not found in {where}")


def netns_exec_argv(namespace: str | None, argv: list[str]) -> list[str]:
    """argv that runs a program inside ``namespace`` (nsenter: one exec, no remounts)."""
    if namespace is None:
        return list(argv)
    return ["nsenter", f"--net={_netns_path(namespace)}", "--", *argv]


# --------------------------------------------------------------------------- namespaces


def namespace_exists(name: str) -> bool:
    return os.path.exists(_netns_path(name))


def list_namespaces() -> list[str]:
    return sorted(netns.listnetns())


def ensure_namespace(name: str) -> bool:
    """Create ``name`` if missing and make sure its ``lo`` is up (idempotent).

    Returns True when the namespace was created (so it is empty: callers skip lookups).
    """
    path = _netns_path(name)

    def lo_up(ipr: IPRoute) -> None:
        ipr.link("set", index=_lookup(ipr, "lo"), state="up")

    if os.path.exists(path):
        worker = _session_worker(name)
        if worker is not None and worker.ensured:
            # Already ensured in this session (the driver's _plug and the interface
            # driver's plug both ask, a few milliseconds apart).
            return False
        run_in_namespace(name, lo_up)
        if worker is not None:
            worker.ensured = True
        return False

    def create() -> None:
        if _libc.unshare(_CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare: {os.strerror(err)}")
        try:
            # The thread now sits in the new namespace: bind-mount *this thread's*
            # namespace (/proc/self is the process leader's) and set lo up while here.
            netns.attach(name, "thread-self")
            with IPRoute() as ipr:
                lo_up(ipr)
        finally:
            _setns(_ROOT_NS_FD)

    try:
        _in_thread(create)
    except FileExistsError:
        # Another caller created it between our check and the mount.
        run_in_namespace(name, lo_up)
        return False
    worker = _session_worker(name)
    if worker is not None:
        worker.ensured = True
    return True


def delete_namespace(name: str) -> None:
    """Delete ``name`` and the devices in it (idempotent).

    Devices are deleted before the namespace goes: the kernel tears a namespace down
    asynchronously, so a veth whose ns end was in it would linger in the root namespace
    for a while and collide with a quick re-plug of the same port.
    """
    path = _netns_path(name)
    if not os.path.exists(path):
        return

    def drop_devices(ipr: IPRoute) -> None:
        for link in ipr.get_links():
            if link.get("ifname") == "lo":
                continue
            with _ignore(errno.ENODEV, errno.EOPNOTSUPP):
                ipr.link("del", index=link["index"])

    with contextlib.suppress(NamespaceNotFound):
        run_in_namespace(name, drop_devices)
    _close_session_worker(name)
    with contextlib.suppress(FileNotFoundError):
        netns.remove(name)


# --------------------------------------------------------------------------- devices


def get_device(name: str, namespace: str | None = None) -> Device | None:
    """The device called ``name`` (exactly) in ``namespace``, or None."""
    if namespace is not None and not namespace_exists(namespace):
        return None

    def get(ipr: IPRoute) -> Device | None:
        msg = _get_link(ipr, name)
        return None if msg is None else _to_device(msg)

    try:
        return run_in_namespace(namespace, get)
    except NamespaceNotFound:
        return None


def device_exists(name: str, namespace: str | None = None) -> bool:
    return get_device(name, namespace) is not None


def delete_device(name: str, namespace: str | None = None) -> None:
    """Delete ``name`` if present (deleting one end of a veth deletes both)."""
    if namespace is not None and not namespace_exists(namespace):
        return

    def delete(ipr: IPRoute) -> None:
        index = _lookup(ipr, name)
        if index is not None:
            with _ignore(errno.ENODEV):
                ipr.link("del", index=index)

    with contextlib.suppress(NamespaceNotFound):
        run_in_namespace(namespace, delete)


def list_devices(namespace: str | None = None) -> list[str]:
    return run_in_namespace(namespace, lambda ipr: [x.get("ifname") for x in ipr.get_links()])


def create_veth(
    name: str,
    peer_name: str,
    peer_namespace: str | None = None,
    *,
    peer_mac: str | None = None,
    mtu: int | None = None,
) -> None:
    """Create a veth pair with ``name`` here and ``peer_name`` directly in the namespace.

    The peer is born inside the namespace (one netlink request) rather than moved there
    afterwards, which saves a round trip and never leaves an ``ns-…`` in the root
    namespace if we crash in between.
    """
    for dev in (name, peer_name):
        if len(dev) > _MAX_IFNAME:
            raise ValueError(f"device name {dev!r} is longer than {_MAX_IFNAME}")
    peer: dict[str, Any] = {"ifname": peer_name}
    if peer_namespace is not None:
        peer["net_ns_fd"] = peer_namespace
    if peer_mac:
        peer["address"] = peer_mac
    if mtu:
        peer["mtu"] = mtu
    spec: dict[str, Any] = {"ifname": name, "kind": "veth", "peer": peer}
    if mtu:
        spec["mtu"] = mtu

    def create(ipr: IPRoute) -> None:
        try:
            ipr.link("add", **spec)
        except NetlinkError as exc:
            stale = _lookup(ipr, name)
            if exc.code != errno.EEXIST or stale is None:
                raise
            # A root-side end left without its peer (crash mid-plug, namespace deleted
            # behind our back): replace it.
            ipr.link("del", index=stale)
            ipr.link("add", **spec)

    run_in_namespace(None, create)


def set_device(
    name: str,
    namespace: str | None = None,
    *,
    mac: str | None = None,
    mtu: int | None = None,
    up: bool | None = None,
    master: str | None = None,
    to_namespace: str | None = None,
) -> None:
    """Change only what differs from the wanted state (a no-op when all is right)."""

    def apply(ipr: IPRoute) -> None:
        dev = _require_device(ipr, name, namespace)
        index = dev.index
        changes: dict[str, Any] = {}
        if mac and (dev.mac or "").lower() != mac.lower():
            changes["address"] = mac
        if mtu and dev.mtu != mtu:
            changes["mtu"] = mtu
        if master is not None:
            master_index = _lookup(ipr, master)
            if master_index is None:
                raise DeviceNotFound(f"bridge {master} not found")
            if dev.master != master_index:
                changes["master"] = master_index
        if changes:
            ipr.link("set", index=index, **changes)
        if to_namespace is not None:
            ipr.link("set", index=index, net_ns_fd=to_namespace)
        elif up is not None and dev.up != up:
            ipr.link("set", index=index, state="up" if up else "down")

    run_in_namespace(namespace, apply)


def set_tx_checksum_offload(device: str, namespace: str | None, enabled: bool) -> None:
    """``ethtool -K <dev> tx on|off`` inside the namespace.

    OVS's userspace datapath forwards veth frames as they are; with TX checksum offload
    the kernel leaves TCP checksums for "the hardware" to fill, nobody does, and TCP
    through the bridge stalls while ping works.
    """
    argv = netns_exec_argv(namespace, ["ethtool", "-K", device, "tx", "on" if enabled else "off"])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        raise IpLibError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def resolve_device(name: str, namespace: str | None) -> str:
    """The name under which the port's device exists in ``namespace`` (tap… or ns-…)."""
    return run_in_namespace(
        namespace, lambda ipr: _require_device(ipr, name, namespace).name
    )


# --------------------------------------------------------------------------- addresses


_Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _global_addresses(ipr: IPRoute, index: int) -> set[_Interface]:
    present = set()
    for msg in ipr.get_addr(index=index):
        # Link-local (fe80::/64) addresses are the kernel's, not ours to reconcile.
        if msg["scope"] == _RT_SCOPE_LINK:
            continue
        present.add(ipaddress.ip_interface(f"{msg.get('address')}/{msg['prefixlen']}"))
    return present


def list_addresses(device: str, namespace: str | None = None) -> list[str]:
    """Global addresses of the device as ``address/prefixlen``."""

    def get(ipr: IPRoute) -> list[str]:
        return sorted(str(a) for a in _global_addresses(ipr, _require(ipr, device, namespace)))

    return run_in_namespace(namespace, get)


def sync_addresses(device: str, cidrs: Iterable[str], namespace: str | None = None,
                   keep: Iterable[str] = ()) -> None:
    """Make the device's global addresses exactly ``cidrs``: remove extras, add missing.
    ``keep``: addresses left alone whether present or not (a VIP that keepalived
    holds and takes away by itself)."""
    wanted = {ipaddress.ip_interface(c) for c in cidrs}
    kept = {ipaddress.ip_interface(c) for c in keep}

    def reconcile(ipr: IPRoute) -> None:
        index = _require(ipr, device, namespace)
        present = _global_addresses(ipr, index)
        stale = present - wanted - kept
        for addr in stale:
            with _ignore(errno.EADDRNOTAVAIL):
                ipr.addr("del", index=index, address=str(addr.ip),
                         prefixlen=addr.network.prefixlen)
        if stale:
            # Deleting a primary IPv4 address takes its secondaries with it (unless
            # promote_secondaries is set), so look again before adding.
            present = _global_addresses(ipr, index)
        for addr in sorted(wanted - present, key=str):
            spec: dict[str, Any] = {"address": str(addr.ip), "prefixlen": addr.network.prefixlen}
            if addr.version == 4:
                if addr.network.prefixlen < 31:
                    spec["broadcast"] = str(addr.network.broadcast_address)
            else:
                # The VIP address was allocated by IPAM; duplicate address detection
                # would only keep it "tentative" for a second, during which HAProxy
                # cannot bind it.
                spec["flags"] = _IFA_F_NODAD
            with _ignore(errno.EEXIST):
                ipr.addr("add", index=index, **spec)

    run_in_namespace(namespace, reconcile)


def add_address(device: str, cidr: str, namespace: str | None = None) -> None:
    """Add one address to the device (idempotent), leaving its others alone."""
    addr = ipaddress.ip_interface(cidr)

    def add(ipr: IPRoute) -> None:
        index = _require(ipr, device, namespace)
        with _ignore(errno.EEXIST):
            ipr.addr("add", index=index, address=str(addr.ip),
                     prefixlen=addr.network.prefixlen)

    run_in_namespace(namespace, add)


def delete_address(device: str, cidr: str, namespace: str | None = None) -> bool:
    """Remove one address from the device; False when it was not there."""
    addr = ipaddress.ip_interface(cidr)

    def delete(ipr: IPRoute) -> bool:
        index = _require(ipr, device, namespace)
        if addr not in _global_addresses(ipr, index):
            return False
        with _ignore(errno.EADDRNOTAVAIL):
            ipr.addr("del", index=index, address=str(addr.ip),
                     prefixlen=addr.network.prefixlen)
        return True

    return run_in_namespace(namespace, delete)


# --------------------------------------------------------------------------- routes

_DEFAULTS = {"0.0.0.0/0", "::/0"}


def _route_key(destination: str, nexthop: str) -> tuple[str, str]:
    network = ipaddress.ip_network(destination, strict=False)
    return (str(network), str(ipaddress.ip_address(nexthop)))


def _gateway_routes(ipr: IPRoute, index: int) -> set[tuple[str, str]]:
    present = set()
    for family, default in ((AF_INET, "0.0.0.0"), (AF_INET6, "::")):
        for msg in ipr.get_routes(family=family):
            gateway = msg.get("gateway")
            if gateway is None or msg.get("oif") != index:
                continue
            if msg.get("table") != _RT_TABLE_MAIN:
                continue
            dst = msg.get("dst") or default
            present.add(_route_key(f"{dst}/{msg['dst_len']}", gateway))
    return present


def list_routes(device: str, namespace: str | None = None) -> list[dict[str, str]]:
    """Routes through a gateway via the device: ``{"destination", "nexthop"}``."""

    def get(ipr: IPRoute) -> list[dict[str, str]]:
        routes = _gateway_routes(ipr, _require(ipr, device, namespace))
        return [{"destination": d, "nexthop": n} for d, n in sorted(routes)]

    return run_in_namespace(namespace, get)


def set_l3_routes(
    namespace: str, device: str, gateway: str | None, host_routes: list[dict]
) -> None:
    """Reconcile the namespace's gateway routes via ``device``.

    Wanted: a default route via ``gateway`` (none when it is None) plus every host route
    except a default one (the caller already chose the gateway, possibly from that very
    host route). Present gateway routes via the device that are not wanted are removed,
    so a gateway or host route deleted on the subnet disappears here too.
    """
    wanted: set[tuple[str, str]] = set()
    if gateway:
        default = "0.0.0.0/0" if ipaddress.ip_address(gateway).version == 4 else "::/0"
        wanted.add(_route_key(default, gateway))
    for route in host_routes:
        key = _route_key(route["destination"], route["nexthop"])
        if key[0] not in _DEFAULTS:
            wanted.add(key)

    def reconcile(ipr: IPRoute) -> None:
        index = _require(ipr, device, namespace)
        present = _gateway_routes(ipr, index)
        for dst, nexthop in present - wanted:
            with _ignore(errno.ESRCH):
                ipr.route("del", dst=dst, gateway=nexthop, oif=index, table=_RT_TABLE_MAIN,
                          family=AF_INET6 if ":" in dst else AF_INET)
        for dst, nexthop in sorted(wanted - present):
            try:
                # replace: a route to the same destination via another hop is updated.
                ipr.route("replace", dst=dst, gateway=nexthop, oif=index,
                          table=_RT_TABLE_MAIN, family=AF_INET6 if ":" in dst else AF_INET)
            except NetlinkError as exc:
                if exc.code != errno.ENETUNREACH:
                    raise
                # A host route whose next hop is off the VIP's subnet is bad subnet data;
                # it must not keep the load balancer from coming up.
                LOG.warning("namespace %s: skipping route %s via %s: next hop not on link",
                            namespace, dst, nexthop)

    run_in_namespace(namespace, reconcile)


def gateway_from_subnet(subnet: dict) -> str | None:
    """v1's choice: the subnet's gateway_ip, else the next hop of its default host route."""
    if subnet.get("gateway_ip"):
        return str(subnet["gateway_ip"])
    for route in subnet.get("host_routes") or []:
        if str(ipaddress.ip_network(route["destination"], strict=False)) in _DEFAULTS:
            return str(route["nexthop"])
    return None


# --------------------------------------------------------------------------- neighbours


def list_neighbours(namespace: str | None = None, device: str | None = None) -> list[dict]:
    """Neighbour entries: ``{"ip", "mac", "state", "device"}`` (state is the NUD bitmask)."""

    def get(ipr: IPRoute) -> list[dict]:
        names = {x["index"]: x.get("ifname") for x in ipr.get_links()}
        index = _require(ipr, device, namespace) if device else None
        out = []
        for msg in ipr.get_neighbours():
            if index is not None and msg["ifindex"] != index:
                continue
            out.append({"ip": msg.get("dst"), "mac": msg.get("lladdr"),
                        "state": msg["state"], "device": names.get(msg["ifindex"])})
        return out

    return run_in_namespace(namespace, get)


def set_neighbour(namespace: str | None, device: str, ip: str, mac: str) -> None:
    """Set a STALE entry ip → mac (what a peer holds for a VIP that moved to a new MAC)."""
    nud_stale = 0x04

    def apply(ipr: IPRoute) -> None:
        index = _require(ipr, device, namespace)
        ipr.neigh("replace", dst=ip, lladdr=mac, ifindex=index, state=nud_stale)

    run_in_namespace(namespace, apply)
