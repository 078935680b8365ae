"""Open vSwitch through ``ovs-vsctl``.

Every function takes ``db``: the ovsdb-server socket path (``unix:<path>`` or a plain
path). None means the host's default switch; tests and side-by-side setups pass the
socket of a private ovsdb-server so they never touch someone else's switch.

This host has no OVS kernel module, so bridges we create use the userspace datapath
(``datapath_type=netdev``).
"""

from __future__ import annotations

import subprocess

VSCTL_TIMEOUT = 10


class OVSError(Exception):
    """ovs-vsctl failed (the message carries its stderr)."""


def _db_arg(db: str | None) -> list[str]:
    if db is None:
        return []
    return [f"--db={db if ':' in db else 'unix:' + db}"]


def vsctl(args: list[str], db: str | None = None, *, timeout: int = VSCTL_TIMEOUT) -> str:
    """Run one ovs-vsctl transaction and return its stdout (stripped)."""
    argv = ["ovs-vsctl", f"--timeout={timeout}", *_db_arg(db), *args]
    try:
        result = subprocess.run(argv, capture_output=True, text=True,
                                timeout=timeout + 5, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OVSError(f"{' '.join(argv)} timed out") from exc
    if result.returncode != 0:
        raise OVSError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def bridge_exists(name: str, db: str | None = None) -> bool:
    try:
        vsctl(["br-exists", name], db)
    except OVSError:
        return False
    return True


def ensure_bridge(name: str, db: str | None = None, datapath_type: str = "netdev") -> None:
    vsctl(["--may-exist", "add-br", name, "--", "set", "Bridge", name,
           f"datapath_type={datapath_type}"], db)


def delete_bridge(name: str, db: str | None = None) -> None:
    vsctl(["--if-exists", "del-br", name], db)


def get_datapath_type(bridge: str, db: str | None = None) -> str | None:
    """The bridge's datapath type ("" is the kernel's, "netdev" userspace); None if absent."""
    try:
        return vsctl(["get", "Bridge", bridge, "datapath_type"], db).strip('"')
    except OVSError as exc:
        if "no row" in str(exc):
            return None
        raise


def list_ports(bridge: str, db: str | None = None) -> list[str]:
    out = vsctl(["list-ports", bridge], db)
    return [line for line in out.splitlines() if line]


def port_bridge(port: str, db: str | None = None) -> str | None:
    """The bridge holding ``port``, or None when no bridge has it."""
    try:
        return vsctl(["port-to-br", port], db) or None
    except OVSError:
        return None


def add_port(
    bridge: str,
    port: str,
    *,
    db: str | None = None,
    internal: bool = False,
    external_ids: dict[str, str] | None = None,
    tag: int | None = None,
) -> None:
    """Add (or update) ``port`` on ``bridge`` in one transaction; idempotent.

    A port already on another bridge is moved, so a network remapped to a new bridge
    converges on the next plug instead of failing. (That case is detected from the
    error rather than asked first: one ovs-vsctl exec less on every plug.)
    """
    args = ["--may-exist", "add-port", bridge, port]
    iface: list[str] = []
    if internal:
        iface.append("type=internal")
    for key, value in (external_ids or {}).items():
        iface.append(f"external-ids:{key}={value}")
    if iface:
        args += ["--", "set", "Interface", port, *iface]
    if tag is not None:
        args += ["--", "set", "Port", port, f"tag={tag}"]
    else:
        args += ["--", "clear", "Port", port, "tag"]
    try:
        vsctl(args, db)
    except OVSError:
        current = port_bridge(port, db)
        if current is None or current == bridge:
            raise
        vsctl(["del-port", current, port, "--", *args], db)


def delete_port(port: str, db: str | None = None) -> None:
    vsctl(["--if-exists", "del-port", port], db)


def get_port_tag(port: str, db: str | None = None) -> int | None:
    out = vsctl(["get", "Port", port, "tag"], db)
    return None if out in ("[]", "") else int(out)


def get_interface_external_ids(port: str, db: str | None = None) -> dict[str, str]:
    out = vsctl(["get", "Interface", port, "external_ids"], db)
    ids: dict[str, str] = {}
    for item in out.strip("{}").split(", "):
        if "=" in item:
            key, value = item.split("=", 1)
            ids[key.strip('"')] = value.strip('"')
    return ids
