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
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InterfaceOptions:
    interface_driver: str = "linuxbridge"
    bridge_mappings: dict[str, str] = field(default_factory=dict)
    ovs_integration_bridge: str = "br-int"
    ovs_use_veth: bool = True
    network_device_mtu: int | None = None
