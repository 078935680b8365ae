"""Interface drivers: how a VIP port becomes a NIC inside ``qlbaas-<pool_id>``.

CONTRACT (used by the HAProxy namespace driver; the helper building this module fills in
the bodies and may add private helpers, but keeps these signatures):

    class LinuxInterfaceDriver(abc.ABC):
        DEV_NAME_PREFIX = "tap"
        def __init__(self, options: InterfaceOptions) -> None
        def get_device_name(self, port: dict) -> str          # "tap" + port id[:11]
        def plug(self, network: dict, port_id: str, device_name: str, mac_address: str,
                 namespace: str, mtu: int | None = None) -> None   # plug_new if absent
        def unplug(self, device_name: str, namespace: str) -> None  # idempotent
        def init_l3(self, device_name: str, cidrs: list[str], namespace: str) -> None

    network: the logical device's vip.port.network dict (provider:* keys, mtu).
    get_interface_driver(options) -> LinuxInterfaceDriver  ("linuxbridge" | "ovs")

Beyond the contract: ``namespace_device_name(device_name)`` is the device's name inside
the namespace (``ns-…`` for a veth end; ip_lib and arping also accept the ``tap…`` name),
``ensure_bridge(name)`` creates the switch the all-in-one plugs into, and
``OVSInterfaceDriver(options, ovsdb=<socket>)`` (or ``InterfaceOptions.ovsdb``, the agent's
``ovs_db`` option) talks to a private ovsdb-server.

VLAN networks on Linux bridges: the bridge runs with 802.1Q filtering; each VIP tap is an
access port (pvid N, untagged, nothing else). The uplink is the operator's: make it a
trunk for the tenant VLANs (``bridge vlan add dev <uplink> vid N``); the driver never
touches ports it did not create, so it cannot break a hand-made uplink. Kernels built
without CONFIG_BRIDGE_VLAN_FILTERING get a clear InterfaceDriverError for vlan networks.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field

from lbaas.agent.linux import bridge_lib, ip_lib, ovs_lib

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class InterfaceOptions:
    interface_driver: str = "linuxbridge"
    bridge_mappings: dict[str, str] = field(default_factory=dict)
    ovs_integration_bridge: str = "br-int"
    ovs_use_veth: bool = True
    network_device_mtu: int | None = None
    # ovs driver: the ovsdb-server socket; None is ovs-vsctl's default (the host's).
    ovsdb: str | None = None


class InterfaceDriverError(Exception):
    """The port cannot be plugged as asked (unmapped network, missing bridge...)."""


class PreexistingDeviceFailure(InterfaceDriverError):
    """The device already exists in the namespace and reusing it was refused."""


def _vlan_id(network: dict) -> int | None:
    if network.get("provider:network_type") != "vlan":
        return None
    vid = network.get("provider:segmentation_id")
    if not isinstance(vid, int) or not 1 <= vid <= 4094:
        raise InterfaceDriverError(
            f"network {network.get('id')}: vlan network without a valid segmentation_id"
        )
    return vid


class LinuxInterfaceDriver(abc.ABC):
    """Shared verbs; one subclass per switch technology."""

    DEV_NAME_PREFIX = ip_lib.TAP_PREFIX
    NS_DEV_NAME_PREFIX = ip_lib.NS_PREFIX
    DEV_NAME_ID_LEN = 11

    def __init__(self, options: InterfaceOptions) -> None:
        self.options = options

    # names -------------------------------------------------------------------------
    def get_device_name(self, port: dict) -> str:
        return self.DEV_NAME_PREFIX + port["id"][: self.DEV_NAME_ID_LEN]

    @property
    def uses_veth(self) -> bool:
        return True

    def namespace_device_name(self, device_name: str) -> str:
        """Name of the port's device inside the namespace."""
        if self.uses_veth and device_name.startswith(self.DEV_NAME_PREFIX):
            return self.NS_DEV_NAME_PREFIX + device_name[len(self.DEV_NAME_PREFIX):]
        return device_name

    def _mtu(self, network: dict, mtu: int | None) -> int | None:
        return mtu or self.options.network_device_mtu or network.get("mtu") or None

    # verbs -------------------------------------------------------------------------
    def plug(self, network: dict, port_id: str, device_name: str, mac_address: str,
             namespace: str, mtu: int | None = None) -> None:
        """plug_new when the device is absent, else converge MAC, MTU, switch port, up."""
        bridge = self.get_bridge(network)
        mtu = self._mtu(network, mtu)
        created = ip_lib.ensure_namespace(namespace)
        if not created and ip_lib.device_exists(self.namespace_device_name(device_name),
                                                namespace):
            self.plug_existing(network, port_id, device_name, mac_address, namespace,
                               bridge, mtu)
        else:
            self.plug_new(network, port_id, device_name, mac_address, namespace, bridge, mtu)

    def init_l3(self, device_name: str, cidrs: list[str], namespace: str,
                keep: list[str] | None = None) -> None:
        """Reconcile the device's addresses to exactly ``cidrs`` (idempotent), leaving
        ``keep`` alone (a VIP keepalived holds)."""
        ip_lib.sync_addresses(self.namespace_device_name(device_name), cidrs, namespace,
                              keep=keep or ())

    @abc.abstractmethod
    def get_bridge(self, network: dict) -> str:
        """The switch this network's ports go to; raises if unmapped or missing."""

    @abc.abstractmethod
    def plug_new(self, network: dict, port_id: str, device_name: str, mac_address: str,
                 namespace: str, bridge: str, mtu: int | None) -> None:
        """Create and wire the device; only called when it is absent from the namespace."""

    @abc.abstractmethod
    def plug_existing(self, network: dict, port_id: str, device_name: str, mac_address: str,
                      namespace: str, bridge: str, mtu: int | None) -> None:
        """Bring an already present device to the wanted state."""

    @abc.abstractmethod
    def unplug(self, device_name: str, namespace: str) -> None:
        """Remove the device and its switch port; absent ones are fine."""

    @abc.abstractmethod
    def ensure_bridge(self, name: str) -> None:
        """Create the switch ``name`` if missing (the all-in-one's default bridge)."""

    # shared helpers ----------------------------------------------------------------
    def _converge_ns_end(self, ns_dev: str, namespace: str, mac: str, mtu: int | None) -> None:
        ip_lib.set_device(ns_dev, namespace, mac=mac, mtu=mtu, up=True)

    def _new_veth(self, device_name: str, namespace: str, mac: str, mtu: int | None) -> str:
        ns_dev = self.namespace_device_name(device_name)
        ip_lib.create_veth(device_name, ns_dev, namespace, peer_mac=mac, mtu=mtu)
        return ns_dev


class BridgeInterfaceDriver(LinuxInterfaceDriver):
    """A veth pair: ``tap…`` enslaved to a Linux bridge, ``ns-…`` in the namespace."""

    def get_bridge(self, network: dict) -> str:
        physnet = network.get("provider:physical_network")
        bridge = self.options.bridge_mappings.get(physnet) if physnet else None
        if bridge is None:
            raise InterfaceDriverError(
                f"network {network.get('id')}: physical network {physnet!r} is not in "
                f"bridge_mappings {self.options.bridge_mappings}"
            )
        if not bridge_lib.bridge_exists(bridge):
            raise InterfaceDriverError(f"Linux bridge {bridge} does not exist")
        return bridge

    def ensure_bridge(self, name: str) -> None:
        bridge_lib.ensure_bridge(name)

    def plug_new(self, network: dict, port_id: str, device_name: str, mac_address: str,
                 namespace: str, bridge: str, mtu: int | None) -> None:
        ns_dev = self._new_veth(device_name, namespace, mac_address, mtu)
        self._attach(network, device_name, bridge)
        ip_lib.set_device(ns_dev, namespace, up=True)

    def plug_existing(self, network: dict, port_id: str, device_name: str, mac_address: str,
                      namespace: str, bridge: str, mtu: int | None) -> None:
        ns_dev = self.namespace_device_name(device_name)
        if not ip_lib.device_exists(device_name):
            raise InterfaceDriverError(
                f"{ns_dev} is in {namespace} but its peer {device_name} is not in the root "
                "namespace; unplug it first"
            )
        ip_lib.set_device(device_name, mtu=mtu)
        self._attach(network, device_name, bridge)
        self._converge_ns_end(ns_dev, namespace, mac_address, mtu)

    def _attach(self, network: dict, tap: str, bridge: str) -> None:
        try:
            bridge_lib.attach_to_bridge(tap, bridge, access_vlan=_vlan_id(network))
        except ip_lib.IpLibError as exc:
            raise InterfaceDriverError(str(exc)) from exc

    def unplug(self, device_name: str, namespace: str) -> None:
        # Deleting either end deletes the pair; both are tried in case it was broken.
        ip_lib.delete_device(device_name)
        ip_lib.delete_device(self.namespace_device_name(device_name), namespace)


class OVSInterfaceDriver(LinuxInterfaceDriver):
    """An OVS port: a veth (``ovs_use_veth``) or an internal port moved into the namespace."""

    def __init__(self, options: InterfaceOptions, *, ovsdb: str | None = None) -> None:
        super().__init__(options)
        self.ovsdb = ovsdb if ovsdb is not None else options.ovsdb
        # bridge -> datapath type, refreshed by every get_bridge (the existence check
        # and the userspace-datapath question are one ovs-vsctl exec).
        self._datapath_types: dict[str, str] = {}

    @property
    def uses_veth(self) -> bool:
        return self.options.ovs_use_veth

    def get_bridge(self, network: dict) -> str:
        physnet = network.get("provider:physical_network")
        bridge = self.options.bridge_mappings.get(physnet) if physnet else None
        bridge = bridge or self.options.ovs_integration_bridge
        try:
            datapath_type = ovs_lib.get_datapath_type(bridge, self.ovsdb)
        except ovs_lib.OVSError as exc:
            raise InterfaceDriverError(str(exc)) from exc
        if datapath_type is None:
            raise InterfaceDriverError(f"OVS bridge {bridge} does not exist")
        self._datapath_types[bridge] = datapath_type
        return bridge

    def ensure_bridge(self, name: str) -> None:
        ovs_lib.ensure_bridge(name, self.ovsdb, datapath_type="netdev")

    def _add_port(self, network: dict, port_id: str, device_name: str, mac: str,
                  bridge: str) -> None:
        ovs_lib.add_port(
            bridge, device_name, db=self.ovsdb, internal=not self.uses_veth,
            external_ids={"iface-id": port_id, "iface-status": "active", "attached-mac": mac},
            tag=_vlan_id(network),
        )

    def _userspace_fixups(self, bridge: str, ns_dev: str, namespace: str) -> None:
        datapath_type = self._datapath_types.get(bridge)
        if datapath_type is None:
            datapath_type = ovs_lib.get_datapath_type(bridge, self.ovsdb)
        if datapath_type == "netdev":
            ip_lib.set_tx_checksum_offload(ns_dev, namespace, enabled=False)

    def plug_new(self, network: dict, port_id: str, device_name: str, mac_address: str,
                 namespace: str, bridge: str, mtu: int | None) -> None:
        if self.uses_veth:
            ns_dev = self._new_veth(device_name, namespace, mac_address, mtu)
            self._add_port(network, port_id, device_name, mac_address, bridge)
            ip_lib.set_device(device_name, up=True)
        else:
            ns_dev = device_name
            self._add_port(network, port_id, device_name, mac_address, bridge)
            # ovs-vsctl returns once vswitchd has created the device, so it is there now.
            ip_lib.set_device(device_name, mac=mac_address, mtu=mtu, to_namespace=namespace)
        self._converge_ns_end(ns_dev, namespace, mac_address, mtu)
        self._userspace_fixups(bridge, ns_dev, namespace)

    def plug_existing(self, network: dict, port_id: str, device_name: str, mac_address: str,
                      namespace: str, bridge: str, mtu: int | None) -> None:
        ns_dev = self.namespace_device_name(device_name)
        self._add_port(network, port_id, device_name, mac_address, bridge)
        if self.uses_veth:
            ip_lib.set_device(device_name, mtu=mtu, up=True)
        self._converge_ns_end(ns_dev, namespace, mac_address, mtu)

    def unplug(self, device_name: str, namespace: str) -> None:
        ovs_lib.delete_port(device_name, self.ovsdb)
        ip_lib.delete_device(device_name)
        ip_lib.delete_device(self.namespace_device_name(device_name), namespace)


_DRIVERS: dict[str, type[LinuxInterfaceDriver]] = {
    "linuxbridge": BridgeInterfaceDriver,
    "ovs": OVSInterfaceDriver,
}


def get_interface_driver(options: InterfaceOptions, *,
                         ovsdb: str | None = None) -> LinuxInterfaceDriver:
    """The driver named by ``options.interface_driver`` ("linuxbridge" | "ovs")."""
    cls = _DRIVERS.get(options.interface_driver)
    if cls is None:
        raise InterfaceDriverError(
            f"unknown interface_driver {options.interface_driver!r}; "
            f"choose one of {sorted(_DRIVERS)}"
        )
    if cls is OVSInterfaceDriver:
        return OVSInterfaceDriver(options, ovsdb=ovsdb)
    return cls(options)
