"""The HAProxy namespace driver: one network namespace and one HAProxy per load balancer.

It deploys the typed logical device (lbaas.common.logical_device): a load balancer with
its listeners (one frontend each) and pools (one backend each); a v1 pool with its VIP is
a load balancer whose id is the pool's, so namespaces and state directories of instances
deployed before load balancers existed keep their names and are adopted as they are.

v1's ``HaproxyNSDriver`` with its path kept (``deploy_instance`` → ``create`` =
``_plug`` + ``_spawn``, or ``update``) and its weaknesses fixed: a config is checked
before it replaces a running one, reloads hand the listening sockets over (no refused
connection), member weight and admin state go through the runtime API without a
reload, and everything the driver must remember is on disk under
``<loadbalancer_state_path>/<loadbalancer_id>/`` so that a restarted agent adopts its
instances.

Concurrency: the manager serializes calls for one device id (one lock each); calls for
different ones run in parallel and share nothing here but read-only options.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lbaas.agent.drivers.haproxy import cfg, keepalived, process
from lbaas.agent.drivers.haproxy.runtime import RuntimeApi, RuntimeApiError
from lbaas.agent.linux import arping, interface, ip_lib
from lbaas.common import constants, limits
from lbaas.common import plugin_api as plugin_api_mod
from lbaas.common.logical_device import Amphora, LoadBalancer, LogicalDevice, Port

LOG = logging.getLogger(__name__)

NS_PREFIX = "qlbaas-"
DRIVER_NAME = constants.DRIVER_HAPROXY_NS
# srv_admin_state bits meaning "in maintenance" (forced, inherited, resolver): the
# CMAINT bit alone only records that the config said ``disabled``.
_ADMIN_MAINT_MASK = 0x01 | 0x02 | 0x20
SOCKET_WAIT = 5.0
_ACTIVE_STANDBY = "ACTIVE_STANDBY"
# After a MASTER resigned: time for the peer to become MASTER (its skew time, a few ms)
# and for its gratuitous ARPs to reach the clients, during which this amphora still
# serves what reaches it. 0.3 s lost a request now and then on a loaded 2-core machine
# (a drain under the full test suite); an undeploy can afford a second.
RESIGN_GRACE = 1.0


class DeployError(Exception):
    """The load balancer's configuration cannot be served. ``reason`` is HAProxy's own message
    when ``haproxy -c`` rejected the config (the old config keeps serving)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _port_l3(port: Port) -> tuple[list[tuple[str, int]], str | None, list[dict[str, str]]]:
    """(addresses with prefix lengths, default gateway, other host routes) of a VIP port,
    every value checked with the API's own rules (lbaas.common.limits) before it reaches
    netlink or arping's command line. Raises :class:`DeployError`."""
    try:
        fixed_ips = []
        host_routes: list[dict[str, str]] = []
        for fixed_ip in port.fixed_ips:
            subnet = fixed_ip.subnet
            cidr = limits.canonical_cidr(subnet.cidr)
            ip = limits.canonical_ip(fixed_ip.ip_address)
            fixed_ips.append((ip, int(cidr.rsplit("/", 1)[1])))
            for route in subnet.host_routes:
                checked = {"destination": limits.canonical_cidr(route.destination),
                           "nexthop": limits.canonical_ip(route.nexthop)}
                if checked not in host_routes:
                    host_routes.append(checked)
        gateway = port.fixed_ips[0].subnet.gateway_ip if fixed_ips else None
        if gateway is not None:
            gateway = limits.canonical_ip(gateway)
    except (TypeError, ValueError) as exc:
        raise DeployError(f"VIP port {port.id}: {exc}") from None
    default_routes = [r for r in host_routes if r["destination"].endswith("/0")]
    if not gateway and default_routes:
        gateway = default_routes[0]["nexthop"]
    return fixed_ips, gateway, [r for r in host_routes if r not in default_routes]


def member_port_l3(port: Port) -> tuple[list[tuple[str, int]], list[dict[str, str]]]:
    """(addresses with prefix lengths, host routes) of a member port: the connected
    route comes with the address, the subnet's host routes are added, and nothing
    else. No default route through it, from the gateway or a 0/0 host route: replies
    to clients leave by the VIP's (docs/architecture.md, "Member ports")."""
    fixed_ips, _gateway, routes = _port_l3(port)
    return fixed_ips, routes


def member_ports_of(lb: LoadBalancer, host: str) -> list[Port]:
    """The member ports this host plugs: a SINGLE load balancer's set (key ""), or for
    ACTIVE_STANDBY the set of this host's amphora."""
    if lb.topology != "ACTIVE_STANDBY":
        return list(lb.member_ports.get("", []))
    for amphora in lb.amphorae:
        if amphora.host == host:
            return list(lb.member_ports.get(amphora.id, []))
    return []


@dataclass
class HaproxyOptions:
    loadbalancer_state_path: str
    user_group: str = "nogroup"
    send_gratuitous_arp: int = 3
    hard_stop_after: int = 300
    haproxy_binary: str = "haproxy"
    # [haproxy] access_log / access_log_facility; None: no access log.
    access_log: str | None = None
    access_log_facility: str = "local0"
    # Several agents on one kernel (tests) each use their own (docs/architecture.md,
    # "High availability").
    namespace_prefix: str = NS_PREFIX
    keepalived_binary: str = "keepalived"


@dataclass(frozen=True)
class InstancePaths:
    """The state files of one load balancer."""

    dir: Path

    @property
    def conf(self) -> Path:
        return self.dir / "conf"

    @property
    def pid(self) -> Path:
        return self.dir / "pid"

    @property
    def sock(self) -> Path:
        return self.dir / "sock"

    @property
    def server_state(self) -> Path:
        return self.dir / "servers-state"

    @property
    def view(self) -> Path:
        """The view model the running ``conf`` was rendered from, to tell a runtime-only
        change from one that needs a reload."""
        return self.dir / "view.json"

    @property
    def certs(self) -> Path:
        """Certificates with their keys, CA and CRL bundles and crt-lists, mode 0600 in
        a 0700 directory: only what the running configuration names."""
        return self.dir / "certs"

    @property
    def instance(self) -> Path:
        """VIP port id, device and namespace, for the unplug after an agent restart, the
        failover generation the instance realizes, and the member ports plugged
        (``member_ports``: port id → device name)."""
        return self.dir / "instance.json"


def get_ns_name(loadbalancer_id: str, prefix: str = NS_PREFIX) -> str:
    return prefix + loadbalancer_id


def _port_dict(port: Port) -> dict[str, Any]:
    """The port as the interface drivers take it (Neutron's names: ``provider:...``)."""
    return port.model_dump(by_alias=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_secret(path: Path, text: str) -> None:
    """``text`` in ``path``, owned by the agent (root), mode 0600 from its creation on
    (never briefly readable by others), replaced atomically: HAProxy reading it during
    a reload sees the old file or the new one, whole."""
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _write_tls_files(certs: Path, files: dict[str, str]) -> None:
    """The TLS files a configuration names (never logged: they hold private keys)."""
    if not files:
        return
    certs.mkdir(mode=0o700, exist_ok=True)
    os.chmod(certs, 0o700)
    for name, content in files.items():
        path = certs / name
        # A name carries its content's digest: an existing file is the same material.
        if path.exists() and path.stat().st_mode & 0o777 == 0o600:
            continue
        _write_secret(path, content)


def _prune_tls_files(certs: Path, keep: set[str]) -> None:
    """Remove what no configuration of the instance names any more (old certificates
    after a rotation, those of a deleted listener): key material does not linger."""
    if not certs.is_dir():
        return
    for entry in certs.iterdir():
        if entry.name not in keep:
            entry.unlink(missing_ok=True)
    if not keep:
        certs.rmdir()


class HaproxyNSDriver:
    def __init__(self, options: HaproxyOptions, plugin_rpc: plugin_api_mod.PluginApi,
                 vif_driver: interface.LinuxInterfaceDriver, host: str) -> None:
        self.options = options
        self.plugin_rpc = plugin_rpc
        self.vif_driver = vif_driver
        self.host = host
        self.state_path = Path(options.loadbalancer_state_path)
        cfg.preload_templates()

    # ----------------------------------------------------------------- paths, state

    def _ns(self, lb_id: str) -> str:
        return get_ns_name(lb_id, self.options.namespace_prefix)

    def _paths(self, lb_id: str) -> InstancePaths:
        if not lb_id or "/" in lb_id or lb_id.startswith("."):
            raise ValueError(f"load balancer id {lb_id!r} cannot name a state directory")
        return InstancePaths(self.state_path / lb_id)

    def _runtime(self, lb_id: str) -> RuntimeApi:
        return RuntimeApi(str(self._paths(lb_id).sock))

    def _load_instance(self, lb_id: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._paths(lb_id).instance.read_text())
            return data
        except (FileNotFoundError, ValueError):
            return None

    def _save_instance(self, lb_id: str, port_id: str, device_name: str) -> None:
        paths = self._paths(lb_id)
        paths.dir.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {
            "loadbalancer_id": lb_id, "port_id": port_id, "device_name": device_name,
            "namespace": self._ns(lb_id)}
        # A re-plug keeps the generation: it is raised only once the whole failover
        # (plug and fresh HAProxy) is done, so one cut short is redone.
        previous = self._load_instance(lb_id) or {}
        generation = _generation(previous)
        if generation:
            record["failover_generation"] = generation
        # The member ports' devices are recorded on their own (_set_member_record).
        if _member_record(previous):
            record["member_ports"] = _member_record(previous)
        # ACTIVE_STANDBY: which amphora this is, and the VRRP role last applied.
        for key in ("amphora_id", "role"):
            if key in previous:
                record[key] = previous[key]
        _write_atomic(paths.instance, json.dumps(record))

    def _set_member_record(self, lb_id: str, devices: dict[str, str]) -> None:
        self._update_instance(lb_id, member_ports=devices)

    def _update_instance(self, lb_id: str, **fields: Any) -> None:
        instance = self._load_instance(lb_id)
        if instance is None or all(instance.get(k) == v for k, v in fields.items()):
            return
        instance.update(fields)
        _write_atomic(self._paths(lb_id).instance, json.dumps(instance))

    def _record_generation(self, lb_id: str, generation: int) -> None:
        """Remember the failover generation the instance now realizes (the device's,
        also when it went down, as after a database restore: the next failover must
        then still count as one)."""
        instance = self._load_instance(lb_id)
        if instance is None or _generation(instance) == generation:
            return
        instance["failover_generation"] = generation
        _write_atomic(self._paths(lb_id).instance, json.dumps(instance))

    def _load_view(self, paths: InstancePaths) -> cfg.ConfigView | None:
        try:
            return cfg.view_from_dict(json.loads(paths.view.read_text()))
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            return None

    def _alive_pids(self, paths: InstancePaths) -> list[int]:
        """The pid file's processes that are alive and really our HAProxy."""
        return [p for p in process.read_pids(paths.pid)
                if process.pid_alive(p) and process.runs_config(p, paths.conf)]

    # ----------------------------------------------------------------- the gate

    @staticmethod
    def deployable(device: LogicalDevice) -> bool:
        """The server's gate, carried by the device: no load balancer means nothing to
        serve. For a v1 pool ``from_v1`` applies v1's gate, loosened where v1 was wrong
        (an ERROR pool may be serving an older config and stays deployed; admin-down
        VIPs and pools stay deployed too and stop serving through ``disabled``): only a
        missing VIP or a pending delete undeploys. A load balancer being deleted is not
        served either."""
        lb = device.loadbalancer
        return lb is not None and lb.provisioning_status != constants.PENDING_DELETE

    def deploy_instance(self, device: LogicalDevice) -> bool:
        """Make the host serve ``device``. False when the gate says the load balancer
        should not be on the host (the manager then undeploys). Raises
        :class:`DeployError` when the config cannot be served.

        A device whose ``failover_generation`` is above the one recorded for the
        instance asks for a failover (:meth:`failover`); an equal one (an instance
        adopted after an agent restart, any ordinary change) never restarts anything
        by itself."""
        if not self.deployable(device):
            return False
        lb = device.loadbalancer
        assert lb is not None  # deployable
        if not self.serves_here(lb):
            # ACTIVE_STANDBY without an amphora on this host: not ours.
            return False
        instance = self._load_instance(lb.id)
        if instance is not None and lb.failover_generation > _generation(instance):
            self.failover(lb)
        elif self.exists(lb.id):
            self.update(lb)
        else:
            self.create(lb)
        self._record_generation(lb.id, lb.failover_generation)
        return True

    def serves_here(self, lb: LoadBalancer) -> bool:
        """SINGLE: always (the device's host is the server's word). ACTIVE_STANDBY: when
        one of the amphorae is this host's."""
        return (lb.topology != _ACTIVE_STANDBY
                or any(a.host == self.host for a in lb.amphorae))

    def _pair(self, lb: LoadBalancer) -> tuple[Amphora, Amphora] | None:
        """(own amphora, peer) of an ACTIVE_STANDBY load balancer, None for SINGLE.
        Raises :class:`DeployError`."""
        if lb.topology != _ACTIVE_STANDBY:
            return None
        try:
            pair = keepalived.own_and_peer(lb, self.host)
        except keepalived.KeepalivedError as exc:
            raise DeployError(exc.reason) from exc
        if pair is None:
            raise DeployError(f"load balancer {lb.id} has no amphora on {self.host}")
        return pair

    def _data_port(self, lb: LoadBalancer) -> Port:
        """The port this host plugs: the VIP port (SINGLE), or this amphora's own VRRP
        port (ACTIVE_STANDBY: keepalived holds the VIP on it)."""
        pair = self._pair(lb)
        return lb.vip_port if pair is None else pair[0].vrrp_port

    # ----------------------------------------------------------------- create/update

    def create(self, lb: LoadBalancer) -> None:
        namespace = self._ns(lb.id)
        port = self._data_port(lb)
        self._unplug_replaced_port(lb.id, port)
        self._plug(namespace, port, vrrp_vip=_vrrp_vip(lb))
        self._sync_member_ports(lb)
        self._spawn(lb)

    def update(self, lb: LoadBalancer) -> None:
        namespace = self._ns(lb.id)
        port = self._data_port(lb)
        instance = self._load_instance(lb.id)
        # One namespace hop for the device check and the L3 reconcile (see _plug).
        with ip_lib.namespace_session(namespace):
            if (instance is None or instance.get("port_id") != port.id
                    or not _device_present(instance["device_name"], namespace)):
                # A new VIP port, or the device vanished behind our back: plug again.
                self._unplug_replaced_port(lb.id, port)
                self._plug(namespace, port, vrrp_vip=_vrrp_vip(lb))
            else:
                # Reconcile L3 (addresses, routes): cheap and idempotent.
                self._configure_l3(namespace, instance["device_name"], port,
                                   announce=False, keep=_vrrp_vips(lb))
            self._sync_member_ports(lb)
        self._spawn(lb)

    def failover(self, lb: LoadBalancer) -> None:
        """Octavia's failover on one host: rebuild the data plane, not just the config.

        Every HAProxy process of the instance is stopped (not reloaded: a process
        that misbehaves with a good config would hand its sockets to the next one),
        the VIP device is unplugged and a new one plugged with the port's MAC,
        addresses, routes and gratuitous ARPs, and a fresh HAProxy starts from the
        rendered config without the old one's saved server state (health is checked
        anew, as after any start). Connections through the old process are cut, as
        Octavia's failover of an amphora cuts them. The caller records the new
        generation once this returned."""
        namespace = self._ns(lb.id)
        paths = self._paths(lb.id)
        pids = set(self._alive_pids(paths))
        if ip_lib.namespace_exists(namespace):
            # Also old processes still finishing connections after a reload.
            pids.update(process.namespace_pids(namespace))
        LOG.info("failover of load balancer %s: stopping HAProxy %s, re-plugging the "
                 "VIP port", lb.id, sorted(pids))
        process.stop(sorted(p for p in pids if process.pid_alive(p)))
        instance = self._load_instance(lb.id)
        if instance is not None:
            self._unplug_member_ports(lb.id, set(_member_record(instance)))
            self._unplug(namespace, instance["port_id"], instance["device_name"])
        paths.server_state.unlink(missing_ok=True)
        self._plug(namespace, self._data_port(lb), reuse_existing=False,
                   vrrp_vip=_vrrp_vip(lb))
        self._sync_member_ports(lb)
        self._spawn(lb)

    def _unplug_replaced_port(self, lb_id: str, port: Port) -> None:
        """The VIP was replaced (deleted and re-created) while the load balancer stayed:
        the old port's device, which may hold the same address, goes before the new one
        comes."""
        instance = self._load_instance(lb_id)
        if instance is not None and instance.get("port_id") != port.id:
            self._unplug(self._ns(lb_id), instance["port_id"], instance["device_name"])

    def _plug(self, namespace: str, port: Port, reuse_existing: bool = True,
              vrrp_vip: str | None = None) -> str:
        self.plugin_rpc.plug_vip_port(port.id, self.host)
        port_dict = _port_dict(port)
        interface_name = self.vif_driver.get_device_name(port_dict)
        # Recorded before the namespace and device exist, so that an undeploy (or the
        # orphan sweep after a crash right here) finds and unplugs them.
        self._save_instance(namespace[len(self.options.namespace_prefix):], port.id,
                            interface_name)
        # Every netlink call for the namespace below (lo, the device, addresses, routes)
        # goes through one thread that entered it once: a new load balancer's plug made
        # six thread + setns + IPRoute hops, 1.5-3 ms each on the provision bench's host.
        with ip_lib.namespace_session(namespace):
            ip_lib.ensure_namespace(namespace)
            if not reuse_existing and _device_present(interface_name, namespace):
                raise interface.PreexistingDeviceFailure(
                    f"device {interface_name} already exists in {namespace}")
            # plug() creates the device when absent and converges a reused one (MAC,
            # MTU, bridge, VLAN). The MTU is the interface driver's choice:
            # network_device_mtu, else the network's.
            self.vif_driver.plug(port_dict["network"], port.id, interface_name,
                                 port.mac_address, namespace=namespace)
            self._configure_l3(namespace, interface_name, port, announce=True)
        if vrrp_vip is not None:
            _prepare_vrrp_namespace(namespace, vrrp_vip)
        return interface_name

    # ----------------------------------------------------------------- member ports

    def _sync_member_ports(self, lb: LoadBalancer) -> None:
        """Make the namespace hold one device per member port of the device, each with
        its address and its subnet's host routes: new ones plugged, gone ones unplugged,
        present ones (an update, an instance adopted after a restart) only reconciled
        at L3, never re-plugged."""
        namespace = self._ns(lb.id)
        instance = self._load_instance(lb.id) or {}
        recorded = _member_record(instance)
        wanted = {port.id: port for port in member_ports_of(lb, self.host)}
        self._unplug_member_ports(lb.id, set(recorded) - set(wanted))
        recorded = _member_record(self._load_instance(lb.id))
        with ip_lib.namespace_session(namespace):
            for port_id in sorted(wanted):
                port = wanted[port_id]
                device = recorded.get(port_id)
                if device is not None and _device_present(device, namespace):
                    self._configure_member_l3(namespace, device, port, announce=False)
                    continue
                self.plugin_rpc.plug_vip_port(port.id, self.host)
                device = self.vif_driver.get_device_name(_port_dict(port))
                # Recorded before the device exists, as the VIP's: an undeploy after a
                # crash right here still finds it.
                recorded[port_id] = device
                self._set_member_record(lb.id, recorded)
                self.vif_driver.plug(_port_dict(port)["network"], port.id, device,
                                     port.mac_address, namespace=namespace)
                self._configure_member_l3(namespace, device, port, announce=True)

    def _unplug_member_ports(self, lb_id: str, port_ids: set[str],
                             notify_server: bool = True) -> None:
        if not port_ids:
            return
        namespace = self._ns(lb_id)
        recorded = _member_record(self._load_instance(lb_id))
        for port_id in sorted(port_ids):
            device = recorded.get(port_id)
            if device is not None:
                LOG.info("load balancer %s: unplugging member port %s (%s)", lb_id,
                         port_id, device)
                self._unplug(namespace, port_id, device, notify_server)
            recorded.pop(port_id, None)
        self._set_member_record(lb_id, recorded)

    def _configure_member_l3(self, namespace: str, device: str, port: Port,
                             announce: bool) -> None:
        fixed_ips, routes = member_port_l3(port)
        self.vif_driver.init_l3(device, [f"{ip}/{prefixlen}" for ip, prefixlen in fixed_ips],
                                namespace=namespace)
        ip_lib.set_l3_routes(namespace, device, None, routes)
        if announce and self.options.send_gratuitous_arp > 0:
            # The members' neighbour caches may hold another MAC for the address.
            addresses = [ip for ip, _ in fixed_ips if ":" not in ip]
            if addresses:
                arping.send_garp(namespace, device, addresses,
                                 self.options.send_gratuitous_arp)

    def _configure_l3(self, namespace: str, device: str, port: Port,
                      announce: bool, keep: list[str] | None = None) -> None:
        fixed_ips, gateway, routes = _port_l3(port)
        cidrs = [f"{ip}/{prefixlen}" for ip, prefixlen in fixed_ips]
        if keep:
            self.vif_driver.init_l3(device, cidrs, namespace=namespace, keep=keep)
        else:
            self.vif_driver.init_l3(device, cidrs, namespace=namespace)
        ip_lib.set_l3_routes(namespace, device, gateway, routes)

        if announce and self.options.send_gratuitous_arp > 0:
            # So a router that knew the MAC of a deleted and re-created VIP learns the
            # new one at once instead of when its ARP entry expires.
            addresses = [ip for ip, _ in fixed_ips if ":" not in ip]
            if addresses:
                arping.send_garp(namespace, device, addresses,
                                 self.options.send_gratuitous_arp)

    def _build_view(self, lb: LoadBalancer, paths: InstancePaths,
                    tls_files: cfg.TlsFiles | None = None) -> cfg.ConfigView:
        pair = self._pair(lb)
        try:
            return cfg.build_view(
                lb,
                cfg.StatePaths(stats_socket=str(paths.sock),
                               server_state_file=str(paths.server_state),
                               certs_dir=str(paths.certs)),
                user_group=self.options.user_group,
                hard_stop_after=self.options.hard_stop_after,
                log_target=self.options.access_log,
                log_facility=self.options.access_log_facility,
                tls_files=tls_files,
                own_amphora_id=pair[0].id if pair is not None else None,
            )
        except cfg.ConfigError as exc:
            raise DeployError(str(exc)) from exc

    def _spawn(self, lb: LoadBalancer) -> None:
        """Make the load balancer's HAProxy run ``lb``, as cheaply as possible: nothing
        when it already does, the runtime API when only weights or member admin states
        changed, else a checked, seamless reload (or a first start)."""
        namespace = self._ns(lb.id)
        paths = self._paths(lb.id)
        paths.dir.mkdir(parents=True, exist_ok=True)
        tls_files = cfg.TlsFiles(str(paths.certs))
        view = self._build_view(lb, paths, tls_files)
        # A certificate change is a change of file names, hence of the configuration's
        # text: the checked, seamless reload below, which is hitless for TLS listeners
        # as for any (docs/architecture.md, "TLS").
        _write_tls_files(paths.certs, tls_files.files)
        try:
            self._apply(namespace, paths, view, cfg.render(view))
        except BaseException:
            # The configuration that still runs (if any) names its own files.
            running = self._load_view(paths) if paths.conf.exists() else None
            _prune_tls_files(paths.certs, set(running.tls_files) if running else set())
            raise
        _prune_tls_files(paths.certs, set(view.tls_files))
        pair = self._pair(lb)
        if pair is not None:
            self._apply_keepalived(lb, pair[0], pair[1], namespace, paths)
        elif keepalived.Paths(paths.dir).conf.exists():
            # No longer ACTIVE_STANDBY: nothing may hold the VIP by VRRP here.
            self._remove_keepalived(paths)

    # ----------------------------------------------------------------- keepalived

    def _apply_keepalived(self, lb: LoadBalancer, own: Amphora, peer: Amphora,
                          namespace: str, paths: InstancePaths) -> None:
        """Make this amphora's keepalived run the rendered config: started when none
        runs, SIGHUP when the file changed, nothing otherwise (an adopted keepalived
        keeps its PID and its VRRP state). Then, if this amphora was just demoted from
        MASTER while holding the VIP, it resigns (see :meth:`_resign`)."""
        instance = self._load_instance(lb.id) or {}
        kpaths = keepalived.Paths(paths.dir)
        try:
            device = ip_lib.resolve_device(instance.get("device_name", ""), namespace)
            view = keepalived.build_view(lb, own, peer, device, kpaths, paths.conf,
                                         paths.pid)
            changed = keepalived.write_files(kpaths, keepalived.render(view))
            _write_atomic(kpaths.view, json.dumps(keepalived.view_to_dict(view)))
            if keepalived.parent_pid(kpaths) is None:
                self._start_keepalived(namespace, device, kpaths, view.vip)
            elif changed:
                LOG.info("load balancer %s: keepalived config changed, reloading", lb.id)
                keepalived.reload(kpaths)
        except (keepalived.KeepalivedError, ip_lib.IpLibError) as exc:
            raise DeployError(str(getattr(exc, "reason", exc))) from exc
        previous_role = instance.get("role")
        self._update_instance(lb.id, amphora_id=own.id, role=own.role)
        if (previous_role == "MASTER" and own.role == "BACKUP"
                and keepalived.vrrp_state(kpaths) == "MASTER"):
            self._resign(lb, kpaths)

    def _resign(self, lb: LoadBalancer, kpaths: keepalived.Paths) -> None:
        """Hand the VIP to the peer now (a role swap): with nopreempt the peer, now of
        higher priority, would never take it by itself. The resign file puts this
        instance in FAULT, which sends a priority 0 advert (the peer becomes MASTER
        after its skew time, a few ms) and drops the VIP; once the peer has had time
        to announce itself, the file is cleared and this instance stays BACKUP."""
        assert lb.vrrp is not None
        advert = lb.vrrp.advert_int_ms / 1000
        LOG.info("load balancer %s: demoted to BACKUP while MASTER: resigning", lb.id)
        keepalived.set_resign(kpaths, True)
        try:
            deadline = time.monotonic() + 5.0
            while (keepalived.vrrp_state(kpaths) == "MASTER"
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            # The peer's first adverts as MASTER reach us within two intervals.
            time.sleep(2 * advert + 0.05)
        finally:
            keepalived.set_resign(kpaths, False)

    def _remove_keepalived(self, paths: InstancePaths) -> None:
        kpaths = keepalived.Paths(paths.dir)
        keepalived.stop(kpaths)
        for path in (kpaths.conf, kpaths.pid, kpaths.vrrp_pid, kpaths.state):
            path.unlink(missing_ok=True)

    def ensure_keepalived(self, lb_id: str) -> bool:
        """Restart a dead keepalived of an ACTIVE_STANDBY instance from its config.
        True if it restarted."""
        paths = self._paths(lb_id)
        kpaths = keepalived.Paths(paths.dir)
        namespace = self._ns(lb_id)
        if not kpaths.conf.exists() or keepalived.parent_pid(kpaths) is not None:
            return False
        if not ip_lib.namespace_exists(namespace):
            return False
        LOG.warning("keepalived of load balancer %s is not running; restarting it", lb_id)
        instance = self._load_instance(lb_id) or {}
        view = self._load_keepalived_vip(kpaths)
        try:
            device = ip_lib.resolve_device(instance.get("device_name", ""), namespace)
            self._start_keepalived(namespace, device, kpaths, view)
        except (keepalived.KeepalivedError, ip_lib.IpLibError) as exc:
            raise DeployError(str(getattr(exc, "reason", exc))) from exc
        return True

    @staticmethod
    def _load_keepalived_vip(kpaths: keepalived.Paths) -> str | None:
        try:
            vip = json.loads(kpaths.view.read_text()).get("vip")
        except (FileNotFoundError, ValueError, AttributeError):
            return None
        return vip if isinstance(vip, str) else None

    def _start_keepalived(self, namespace: str, device: str, kpaths: keepalived.Paths,
                          vip: str | None) -> None:
        """Start keepalived afresh: leftovers of a dead one go first. A keepalived that
        was killed leaves the VIP on the device, where it would answer ARP next to the
        MASTER on the other host (a black hole once the wire is back): removed before
        the new one starts BACKUP."""
        process.stop(keepalived.running_pids(kpaths))
        if vip is not None:
            prefixlen = 128 if ":" in vip else 32
            if ip_lib.delete_address(device, f"{vip}/{prefixlen}", namespace):
                LOG.warning("removed the VIP %s a dead keepalived left on %s", vip, device)
        kpaths.state.unlink(missing_ok=True)
        keepalived.set_resign(kpaths, False)
        keepalived.start(self.options.keepalived_binary,
                         ip_lib.netns_exec_argv(namespace, []), kpaths)

    def vrrp_arbitrated(self, lb_id: str) -> bool:
        """Whether the instance is one half of an ACTIVE_STANDBY pair (keepalived decides
        on the wire which half holds the VIP)."""
        return bool((self._load_instance(lb_id) or {}).get("amphora_id"))

    def _apply(self, namespace: str, paths: InstancePaths, view: cfg.ConfigView,
               text: str) -> None:
        runtime = RuntimeApi(str(paths.sock))
        old_text = paths.conf.read_text() if paths.conf.exists() else None
        pids = self._alive_pids(paths)
        running = bool(pids) and runtime.alive()
        if pids and not running:
            # Alive but deaf: no socket to hand the listeners over; start afresh.
            LOG.warning("HAProxy %s of %s does not answer; restarting it", pids, namespace)
            process.stop(pids)
            pids = []

        view_json = json.dumps(cfg.view_to_dict(view))
        if running and old_text == text:
            # An instance adopted from an agent that kept its view in another shape
            # (one frontend and one backend) gets this one, so the next weight change
            # is still a runtime change.
            if not paths.view.exists() or paths.view.read_text() != view_json:
                _write_atomic(paths.view, view_json)
            return
        old_view = self._load_view(paths)
        if running and old_view is not None and cfg.runtime_only_difference(old_view, view):
            try:
                self._apply_runtime_state(runtime, view)
            except RuntimeApiError as exc:
                LOG.warning("runtime API update of %s failed (%s); reloading", namespace, exc)
            else:
                _write_atomic(paths.conf, text)
                _write_atomic(paths.view, view_json)
                return

        candidate = paths.dir / "conf.new"
        candidate.write_text(text)
        if running:
            # A running HAProxy is only replaced by a config HAProxy accepts. With none
            # running there is nothing to protect, and the start itself refuses a bad
            # config with the same message: checking first would start HAProxy twice
            # (the dearest step of provisioning a load balancer).
            try:
                process.check_config(self.options.haproxy_binary, candidate)
            except process.HaproxyError as exc:
                candidate.unlink(missing_ok=True)
                # The reason reaches the tenant as the status description: name the
                # file as HAProxy knows it, not by the host's state path.
                raise DeployError(_public_reason(exc.reason, candidate)) from exc

        if running:
            try:
                # Health, weights and admin states survive the new process.
                _write_atomic(paths.server_state, runtime.show_servers_state())
            except RuntimeApiError as exc:
                LOG.warning("could not save server state of %s: %s", namespace, exc)
        previous = paths.dir / "conf.prev"
        if old_text is not None:
            shutil.copyfile(paths.conf, previous)
        os.replace(candidate, paths.conf)
        try:
            process.start(self.options.haproxy_binary, ip_lib.netns_exec_argv(namespace, []),
                          paths.conf, paths.pid,
                          socket_path=paths.sock, old_pids=pids if running else None)
        except process.HaproxyError as exc:
            # A refused config, a bind failure and the like: the old process (if any)
            # was not told to stop, so put back the config it runs; with none, leave no
            # config that ensure_running would keep retrying.
            if old_text is not None:
                os.replace(previous, paths.conf)
            else:
                paths.conf.unlink(missing_ok=True)
            raise DeployError(_public_reason(exc.reason, paths.conf)) from exc
        previous.unlink(missing_ok=True)
        _write_atomic(paths.view, view_json)
        self._wait_socket(runtime)
        try:
            # The server state file restores runtime-set maintenance even where the new
            # config says the member is up: make the process match the config.
            self._apply_runtime_state(runtime, view)
        except RuntimeApiError as exc:
            LOG.warning("could not align runtime state of %s: %s", namespace, exc)

    @staticmethod
    def _wait_socket(runtime: RuntimeApi) -> None:
        deadline = time.monotonic() + SOCKET_WAIT
        while not runtime.alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    @staticmethod
    def _apply_runtime_state(runtime: RuntimeApi, view: cfg.ConfigView) -> None:
        # Servers are addressed as <backend>/<server>: each member in its own pool's
        # backend (member ids are unique, but the runtime API wants both names).
        current = runtime.servers_state()
        for backend_view in view.backends:
            backend = backend_view.name
            for server in backend_view.servers:
                state = current.get((backend, server.name))
                if state is None:
                    raise RuntimeApiError(f"server {backend}/{server.name} is not running")
                if state["weight"] != server.weight:
                    runtime.set_server_weight(backend, server.name, server.weight)
                in_maintenance = bool(state["admin_state"] & _ADMIN_MAINT_MASK)
                if in_maintenance != server.disabled:
                    runtime.set_server_state(backend, server.name,
                                             enabled=not server.disabled)

    # ----------------------------------------------------------------- liveness

    def exists(self, lb_id: str) -> bool:
        paths = self._paths(lb_id)
        return (ip_lib.namespace_exists(self._ns(lb_id)) and paths.sock.exists()
                and self._runtime(lb_id).alive())

    def ensure_running(self, lb_id: str) -> bool:
        """Restart a dead HAProxy (and a dead keepalived) from its last good config.
        True if one restarted."""
        restarted = self._ensure_haproxy(lb_id)
        return self.ensure_keepalived(lb_id) or restarted

    def _ensure_haproxy(self, lb_id: str) -> bool:
        paths = self._paths(lb_id)
        namespace = self._ns(lb_id)
        if not paths.conf.exists():
            return False
        pids = self._alive_pids(paths)
        if pids and self._runtime(lb_id).alive():
            return False
        if not ip_lib.namespace_exists(namespace):
            # Nothing to run in: the manager's next sync re-creates the instance.
            LOG.warning("namespace %s is gone; cannot restart HAProxy", namespace)
            return False
        if pids:
            process.stop(pids)
        LOG.warning("HAProxy of load balancer %s is not running; restarting it", lb_id)
        # The saved server state is from the last reload, not from the process that
        # died: stale health would mislead until the next checks. Start clean.
        paths.server_state.unlink(missing_ok=True)
        try:
            process.start(self.options.haproxy_binary, ip_lib.netns_exec_argv(namespace, []),
                          paths.conf, paths.pid)
        except process.HaproxyError as exc:
            raise DeployError(exc.reason) from exc
        runtime = self._runtime(lb_id)
        self._wait_socket(runtime)
        view = self._load_view(paths)
        if view is not None:
            try:
                self._apply_runtime_state(runtime, view)
            except RuntimeApiError as exc:
                LOG.warning("could not align runtime state of %s: %s", namespace, exc)
        return True

    # ----------------------------------------------------------------- teardown

    def undeploy_instance(self, lb_id: str, cleanup_namespace: bool = True,
                          notify_server: bool = True) -> None:
        """Stop HAProxy, unplug the VIP device, remove the namespace and the state
        directory. ``notify_server=False`` (fencing: the server is unreachable, or the
        load balancer is another host's now) leaves the port's binding alone."""
        namespace = self._ns(lb_id)
        paths = self._paths(lb_id)
        # keepalived first: it resigns (the peer takes the VIP at once) while this
        # HAProxy still serves what reaches it, until the peer's gratuitous ARPs
        # turned the clients to it.
        kpaths = keepalived.Paths(paths.dir)
        if keepalived.vrrp_state(kpaths) == "MASTER":
            keepalived.stop(kpaths)
            time.sleep(RESIGN_GRACE)
        keepalived.stop(kpaths)
        ns_exists = ip_lib.namespace_exists(namespace)
        pids = set(self._alive_pids(paths))
        if ns_exists:
            # Also the old processes still finishing connections after a reload.
            pids.update(process.namespace_pids(namespace))
        process.stop(sorted(p for p in pids if process.pid_alive(p)))
        instance = self._load_instance(lb_id)
        if instance is not None:
            self._unplug_member_ports(lb_id, set(_member_record(instance)), notify_server)
            self._unplug(namespace, instance["port_id"], instance["device_name"],
                         notify_server)
        if cleanup_namespace and ns_exists:
            ip_lib.delete_namespace(namespace)
        shutil.rmtree(paths.dir, ignore_errors=True)

    def _unplug(self, namespace: str, port_id: str, device_name: str,
                notify_server: bool = True) -> None:
        self.vif_driver.unplug(device_name, namespace=namespace)
        if not notify_server:
            return
        try:
            self.plugin_rpc.unplug_vip_port(port_id, self.host)
        except plugin_api_mod.PluginApiError as exc:
            # The local side is gone either way; the server's next sync fixes the port.
            LOG.warning("unplug_vip_port(%s) failed: %s", port_id, exc)

    def list_instances(self) -> list[str]:
        """Pools with a state directory here.

        The state directory is the instance's record: ``_plug`` writes it before the
        namespace exists and ``undeploy_instance`` removes it after the namespace is
        gone, so no namespace this driver made is ever without one. A ``<namespace_prefix>*``
        namespace without a state directory under *our* state path belongs to another
        agent on the host (a test, an all-in-one next to an agent): v1 would have
        destroyed it as an orphan; we leave it to its owner."""
        if not self.state_path.is_dir():
            return []
        return sorted(entry.name for entry in self.state_path.iterdir()
                      if entry.is_dir() and not entry.name.startswith("."))

    def remove_orphans(self, known_ids: list[str] | set[str]) -> list[str]:
        """Undeploy instances on this host that the server no longer knows; returns
        their ids."""
        known = set(known_ids)
        removed = []
        for lb_id in self.list_instances():
            if lb_id in known:
                continue
            try:
                self.undeploy_instance(lb_id)
                removed.append(lb_id)
            except Exception:
                LOG.exception("failed to remove orphan instance %s", lb_id)
        return removed

    # ----------------------------------------------------------------- stats

    def get_stats(self, lb_id: str) -> dict[str, Any]:
        """The load balancer's raw HAProxy counters and member health; {} when HAProxy
        does not answer.

        The top-level counters (v1's pool stats, which the server's stats endpoint
        reads) are the sums over every frontend: a v1 load balancer's single VIP. Per
        listener (frontend rows) and per pool (backend rows) the same four counters are
        under ``listeners`` and ``pools``, keyed by id, with the HTTP responses by class
        (``hrsp_1xx`` ... ``hrsp_5xx``, ``hrsp_other``; also summed at the top); a
        listener's also carry Octavia's ``request_errors`` (HAProxy's ``ereq``). Per
        member, whatever its health, ``member_counters``: ``check_failures``
        (``chkfail``) and ``check_up_down`` (``chkdown``).

        Member status, over every backend: UP (also going down, draining, "no check") →
        ACTIVE; DOWN (also coming up) → INACTIVE. Members in maintenance (admin down)
        are left out: their status is the admin's, not a health verdict; so are members
        whose first check has not run yet."""
        runtime = self._runtime(lb_id)
        try:
            rows = runtime.show_stat()
            info = runtime.show_info()
        except RuntimeApiError as exc:
            LOG.warning("no stats for load balancer %s: %s", lb_id, exc)
            return {}
        listeners: dict[str, dict[str, int]] = {}
        pools: dict[str, dict[str, int]] = {}
        members: dict[str, dict[str, str]] = {}
        member_counters: dict[str, dict[str, int]] = {}
        for row in rows:
            svname = row.get("svname")
            if svname == "FRONTEND":
                listeners[row.get("pxname", "")] = {**_counters(row, _COUNTERS),
                                                    **_counters(row, _RESPONSES),
                                                    "request_errors": _int(row.get("ereq"))}
            elif svname == "BACKEND":
                pools[row.get("pxname", "")] = {**_counters(row, _COUNTERS),
                                                **_counters(row, _RESPONSES)}
            elif svname:
                status = member_status(row.get("status", ""), row.get("check_status", ""))
                if status is not None:
                    members[svname] = {"status": status}
                member_counters[svname] = _counters(row, _CHECKS)
        pid = info.get("Pid", "0")
        totals = {key: sum(c[key] for c in listeners.values())
                  for key in (*_COUNTERS, *_RESPONSES)}
        amphora = self._amphora_report(lb_id)
        return {
            **amphora,
            **totals,
            "epoch": f"{pid}-{process.process_start_time(int(pid)) if pid.isdigit() else 0}",
            "members": members,
            "member_counters": member_counters,
            "listeners": listeners,
            "pools": pools,
        }


    def _amphora_report(self, lb_id: str) -> dict[str, Any]:
        """ACTIVE_STANDBY: {"amphora": {"id", "vrrp_state"}}, the state keepalived is in
        (MASTER holds the VIP); {} for SINGLE."""
        amphora_id = (self._load_instance(lb_id) or {}).get("amphora_id")
        if not amphora_id:
            return {}
        state = keepalived.vrrp_state(keepalived.Paths(self._paths(lb_id).dir))
        return {"amphora": {"id": amphora_id, "vrrp_state": state}}


# Our names for HAProxy's "show stat" columns.
_COUNTERS = {"bytes_in": "bin", "bytes_out": "bout", "active_connections": "scur",
             "total_connections": "stot"}
# HTTP responses by class (empty, so 0, on TCP proxies).
_RESPONSES = {key: key for key in ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx",
                                   "hrsp_5xx", "hrsp_other")}
# A server's failed checks (counted while it is up) and UP->DOWN transitions.
_CHECKS = {"check_failures": "chkfail", "check_up_down": "chkdown"}


def _counters(row: dict[str, str], columns: dict[str, str]) -> dict[str, int]:
    return {key: _int(row.get(column)) for key, column in columns.items()}


def _generation(instance: dict[str, Any] | None) -> int:
    """The failover generation an instance record realizes: 0 for a record written
    before failovers existed, or a value that is not a count."""
    value = (instance or {}).get("failover_generation", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _member_record(instance: dict[str, Any] | None) -> dict[str, str]:
    """The member ports an instance record says are plugged: port id → device name
    (none in a record written before member ports existed, or a malformed one)."""
    value = (instance or {}).get("member_ports") or {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _vrrp_vip(lb: LoadBalancer) -> str | None:
    """The VIP of an ACTIVE_STANDBY load balancer, checked; None for SINGLE."""
    if lb.topology != _ACTIVE_STANDBY:
        return None
    try:
        return limits.canonical_ip(lb.vip_address)
    except ValueError as exc:
        raise DeployError(str(exc)) from None


def _vrrp_vips(lb: LoadBalancer) -> list[str] | None:
    """The VIP as an address keepalived may hold on an ACTIVE_STANDBY amphora's device
    (the L3 reconcile leaves it alone); None for SINGLE."""
    if lb.topology != _ACTIVE_STANDBY:
        return None
    return [f"{lb.vip_address}/{128 if ':' in lb.vip_address else 32}"]


def _prepare_vrrp_namespace(namespace: str, vip: str) -> None:
    """An ACTIVE_STANDBY amphora's namespace (docs/architecture.md, "ACTIVE_STANDBY"):

    * ``ip_nonlocal_bind``: HAProxy binds the VIP on both amphorae, also where
      keepalived does not hold it, so a takeover needs no HAProxy change;
    * the VIP on ``lo`` with ``arp_ignore=1`` / ``arp_announce=2``: only the device that
      keepalived put the VIP on answers ARP for it (the MASTER), but both amphorae
      accept what is sent to it. An amphora that just lost the VIP (a role swap, an
      undeploy) keeps serving the clients that still have its MAC until the new
      MASTER's gratuitous ARPs reach them, instead of dropping their packets."""
    argv = ip_lib.netns_exec_argv(namespace, [
        "sysctl", "-e", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1",
        "net.ipv6.ip_nonlocal_bind=1", "net.ipv4.conf.all.arp_ignore=1",
        "net.ipv4.conf.all.arp_announce=2"])
    try:
        subprocess.run(argv, check=True, capture_output=True, timeout=10)
        ip_lib.add_address("lo", f"{vip}/{128 if ':' in vip else 32}", namespace)
    except (OSError, subprocess.SubprocessError, ip_lib.IpLibError) as exc:
        raise DeployError(f"cannot prepare {namespace} for VRRP: {exc}") from exc


def _public_reason(reason: str, conf_path: Path) -> str:
    """HAProxy's message as a tenant may read it: the file named as HAProxy users know
    it, not by the host's state path."""
    # Certificate files by their name under the instance (certs/<name>).
    return reason.replace(str(conf_path), "haproxy.cfg").replace(
        str(conf_path.parent) + "/", "")


def _device_present(name: str, namespace: str) -> bool:
    # The port's device may sit in the namespace as the ns-… end of a veth although
    # the port knows it by its tap… name; resolve_device looks for both.
    try:
        ip_lib.resolve_device(name, namespace)
    except ip_lib.IpLibError:
        return False
    return True


def member_status(haproxy_status: str, check_status: str = "") -> str | None:
    """ACTIVE, INACTIVE, or None when HAProxy has no verdict to give. A freshly
    (re)started HAProxy shows every checked server UP with check_status INI until its
    first check has run: reporting that as ACTIVE would flap a dead member to ACTIVE
    for a moment after every restart."""
    status = haproxy_status.strip()
    if status.startswith("MAINT") or check_status.strip().startswith("INI"):
        return None
    if status.startswith("DOWN"):
        return constants.INACTIVE
    return constants.ACTIVE


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
