"""Linux bridges through netlink: the bridge itself, its ports, 802.1Q filtering.

A VIP tap on a vlan network is an access port (pvid N, untagged, no other VLAN) of a
VLAN-filtering bridge. Kernels built without CONFIG_BRIDGE_VLAN_FILTERING answer
EOPNOTSUPP; that becomes an IpLibError naming the missing option.
"""

from __future__ import annotations

import errno
import os

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

# Shared plumbing of the namespace layer (one way to reach netlink in this package).
from lbaas.agent.linux.ip_lib import (
    _MAX_IFNAME,
    DeviceNotFound,
    IpLibError,
    _device,
    _get_link,
    _ignore,
    _lookup,
    _require,
    _require_device,
    delete_device,
    get_device,
    run_in_namespace,
)

_BRIDGE_VLAN_INFO_PVID = 0x2
_BRIDGE_VLAN_INFO_UNTAGGED = 0x4


def bridge_exists(name: str) -> bool:
    dev = get_device(name)
    return dev is not None and dev.kind == "bridge"


def ensure_bridge(name: str) -> None:
    """Create the Linux bridge ``name`` if missing, and bring it up."""

    def apply(ipr: IPRoute) -> None:
        index = _lookup(ipr, name)
        if index is None:
            with _ignore(errno.EEXIST):
                ipr.link("add", ifname=name, kind="bridge")
            index = _require(ipr, name, None)
        dev = _device(ipr, index)
        if dev.kind != "bridge":
            raise IpLibError(f"{name} exists and is a {dev.kind}, not a bridge")
        if not dev.up:
            ipr.link("set", index=index, state="up")

    run_in_namespace(None, apply)


def delete_bridge(name: str) -> None:
    delete_device(name)


def set_bridge_vlan_filtering(bridge: str, enabled: bool = True) -> None:
    """Turn the bridge's 802.1Q filtering on (kernel CONFIG_BRIDGE_VLAN_FILTERING)."""

    def apply(ipr: IPRoute) -> None:
        index = _require(ipr, bridge, None)
        msg = ipr.link("get", index=index)[0]
        current = msg.get(("linkinfo", "data", "br_vlan_filtering"))
        if current is not None and bool(current) == enabled:
            return
        try:
            ipr.link("set", index=index, kind="bridge", br_vlan_filtering=int(enabled))
        except NetlinkError as exc:
            if exc.code == errno.EOPNOTSUPP:
                raise IpLibError(
                    f"bridge {bridge}: this kernel has no bridge VLAN filtering "
                    "(CONFIG_BRIDGE_VLAN_FILTERING); vlan networks need it"
                ) from exc
            raise

    run_in_namespace(None, apply)


def bridge_vlan_filtering_supported(probe_prefix: str = "lbvprobe") -> bool:
    """Probe with a throwaway bridge: some kernels are built without VLAN filtering."""
    probe = f"{probe_prefix}{os.getpid() % 100000}"[:_MAX_IFNAME]
    try:
        ensure_bridge(probe)
        set_bridge_vlan_filtering(probe, True)
        return True
    except IpLibError:
        return False
    finally:
        delete_device(probe)


def attach_to_bridge(port: str, bridge: str, access_vlan: int | None = None) -> None:
    """Enslave ``port`` to ``bridge``, up, as an access port of ``access_vlan``.

    None means an untagged port of the bridge's default VLAN 1 (what a port gets when
    it joins; re-asserted when the bridge filters VLANs, e.g. after a vlan→flat change).
    One netlink handle for the whole step: this is on every plug's path.
    """

    def apply(ipr: IPRoute) -> None:
        # One link message each for the port and the bridge (index, state, master,
        # VLAN filtering): three requests for a new port, five before.
        dev = _require_device(ipr, port, None)
        index = dev.index
        bridge_msg = _get_link(ipr, bridge)
        if bridge_msg is None:
            raise DeviceNotFound(f"device {bridge} not found in the root namespace")
        br_index = bridge_msg["index"]
        if dev.master != br_index or not dev.up:
            ipr.link("set", index=index, master=br_index, state="up")
        filtering = bridge_msg.get(("linkinfo", "data", "br_vlan_filtering"))
        if access_vlan is None and not filtering:
            return
        if access_vlan is not None and not filtering:
            try:
                ipr.link("set", index=br_index, kind="bridge", br_vlan_filtering=1)
            except NetlinkError as exc:
                if exc.code == errno.EOPNOTSUPP:
                    raise IpLibError(
                        f"bridge {bridge}: this kernel has no bridge VLAN filtering "
                        "(CONFIG_BRIDGE_VLAN_FILTERING); vlan networks need it") from exc
                raise
        _set_access_vlan(ipr, index, access_vlan or 1)

    run_in_namespace(None, apply)


def _port_vlans(ipr: IPRoute, index: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for msg in ipr.get_vlans():
        if msg["index"] != index:
            continue
        spec = msg.get("af_spec")
        for name, value in (spec["attrs"] if spec else []):
            if name == "IFLA_BRIDGE_VLAN_INFO":
                out[value["vid"]] = value["flags"]
    return out


def _set_access_vlan(ipr: IPRoute, index: int, vid: int) -> None:
    wanted_flags = _BRIDGE_VLAN_INFO_PVID | _BRIDGE_VLAN_INFO_UNTAGGED
    current = _port_vlans(ipr, index)
    if current == {vid: wanted_flags}:
        return
    ipr.vlan_filter("add", index=index, vlan_info={"vid": vid, "flags": wanted_flags})
    for other in current:
        if other != vid:
            with _ignore(errno.ENOENT, errno.EINVAL):
                ipr.vlan_filter("del", index=index, vlan_info={"vid": other})


def list_bridge_vlans(port: str) -> dict[int, int]:
    """VLANs of a bridge port: ``{vid: flags}`` (flags: 2 = pvid, 4 = untagged)."""

    return run_in_namespace(None, lambda ipr: _port_vlans(ipr, _require(ipr, port, None)))


def bridge_vlan_add(port: str, vid: int, *, pvid: bool = False, untagged: bool = False) -> None:
    flags = _BRIDGE_VLAN_INFO_PVID if pvid else 0
    flags |= _BRIDGE_VLAN_INFO_UNTAGGED if untagged else 0

    def apply(ipr: IPRoute) -> None:
        index = _require(ipr, port, None)
        ipr.vlan_filter("add", index=index, vlan_info={"vid": vid, "flags": flags})

    run_in_namespace(None, apply)


def set_port_access_vlan(port: str, vid: int) -> None:
    """Make ``port`` an access port of VLAN ``vid``: pvid, untagged, and no other VLAN."""
    run_in_namespace(None, lambda ipr: _set_access_vlan(ipr, _require(ipr, port, None), vid))
