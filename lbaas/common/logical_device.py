"""The logical device: what the server tells an agent to build for one load balancer.

This is the server↔agent contract's main type (docs/architecture.md, "Logical device"),
shared by both sides as typed models: the server builds it (from a v1 pool with its VIP,
or from an Octavia v2 load balancer), sends it as JSON over the agent API
(``GET /agent/v2/logical_devices/{id}``), and the agent parses it back and renders it.

The unit is the load balancer: one namespace ``qlbaas-<loadbalancer.id>``, one HAProxy with
a frontend per listener and a backend per pool. A v1 pool with its VIP is a load balancer
whose id is the pool's id, with one listener (the VIP's id) whose default pool is that pool.

Values here are *not* trusted by the agent because they are typed: the renderer checks
every one that reaches a configuration again (lbaas.common.limits).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lbaas.common import constants as c
from lbaas.common.request_id import is_valid as is_request_id

DEVICE_VERSION = 2


class _Model(BaseModel):
    # Unknown keys from a newer server are ignored, not fatal; missing ones are.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class HostRoute(_Model):
    destination: str
    nexthop: str


class Subnet(_Model):
    id: str
    cidr: str
    ip_version: int = 4
    gateway_ip: str | None = None
    host_routes: list[HostRoute] = Field(default_factory=list)


class FixedIp(_Model):
    subnet_id: str
    ip_address: str
    subnet: Subnet


class Network(_Model):
    id: str
    physical_network: str | None = Field(None, alias="provider:physical_network")
    network_type: str = Field("flat", alias="provider:network_type")
    segmentation_id: int | None = Field(None, alias="provider:segmentation_id")
    mtu: int | None = None


class Port(_Model):
    """The VIP port the agent plugs into the namespace."""

    id: str
    network_id: str
    mac_address: str
    admin_state_up: bool = True
    fixed_ips: list[FixedIp] = Field(default_factory=list)
    network: Network


class TlsCertificate(_Model):
    """A certificate with its key, resolved by the server from a Barbican-style ref
    (a certificate container, or a secret holding a PKCS#12 bundle) into PEM. Only the
    agent role reads it; the agent writes it under the instance's state path, mode 0600.
    ``id`` is the ref's last path segment (a UUID), safe as a file name."""

    id: str
    certificate: str
    # Unencrypted PEM: the server removed any passphrase. Never in a repr (a log line).
    private_key: str = Field(repr=False)
    intermediates: list[str] = Field(default_factory=list)
    # The names the certificate serves (subject CN and DNS SANs), for the SNI list.
    names: list[str] = Field(default_factory=list)


class HealthMonitor(_Model):
    id: str
    type: str  # PING, TCP, HTTP, HTTPS, TLS-HELLO
    delay: int
    timeout: int
    max_retries: int
    # Octavia's: checks failed before a member is marked down (v1: max_retries).
    max_retries_down: int = 3
    http_method: str = "GET"
    http_version: float | None = None
    domain_name: str | None = None
    url_path: str = "/"
    expected_codes: str = "200"
    admin_state_up: bool = True


class SessionPersistence(_Model):
    type: str  # SOURCE_IP, HTTP_COOKIE, APP_COOKIE
    cookie_name: str | None = None


class Member(_Model):
    id: str
    address: str
    protocol_port: int
    weight: int = 1
    backup: bool = False
    admin_state_up: bool = True
    monitor_address: str | None = None
    monitor_port: int | None = None
    provisioning_status: str = c.ACTIVE


class Pool(_Model):
    id: str
    protocol: str  # HTTP, HTTPS, TCP
    lb_algorithm: str  # ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP
    admin_state_up: bool = True
    session_persistence: SessionPersistence | None = None
    members: list[Member] = Field(default_factory=list)
    healthmonitor: HealthMonitor | None = None
    provisioning_status: str = c.ACTIVE
    # Octavia's re-encryption to the members (HTTPS to them): a client certificate, the
    # CA bundle (PEM) that verifies them and its CRL, the versions, ciphers and ALPN.
    tls_enabled: bool = False
    tls_container: TlsCertificate | None = None
    ca_tls_container: str | None = None
    crl_container: str | None = None
    tls_versions: list[str] = Field(default_factory=list)
    tls_ciphers: str | None = None
    alpn_protocols: list[str] = Field(default_factory=list)


class L7Rule(_Model):
    """Octavia's L7 rule (lbaas.common.l7 says what each field may hold)."""

    id: str
    type: str
    compare_type: str
    key: str | None = None
    value: str
    invert: bool = False
    admin_state_up: bool = True


class L7Policy(_Model):
    """Octavia's L7 policy; a listener's are tried in ``position`` order."""

    id: str
    action: str  # REJECT, REDIRECT_TO_URL, REDIRECT_PREFIX, REDIRECT_TO_POOL
    position: int
    redirect_pool_id: str | None = None
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_http_code: int | None = None
    admin_state_up: bool = True
    rules: list[L7Rule] = Field(default_factory=list)


class Listener(_Model):
    id: str
    protocol: str  # HTTP, HTTPS (passthrough), TCP, TERMINATED_HTTPS
    protocol_port: int
    # -1: unlimited.
    connection_limit: int = -1
    default_pool_id: str | None = None
    admin_state_up: bool = True
    # Milliseconds, Octavia's names and defaults (v1's were the same values).
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    # Octavia's insert_headers: {"X-Forwarded-For": "true", ...}.
    insert_headers: dict[str, str] = Field(default_factory=dict)
    allowed_cidrs: list[str] = Field(default_factory=list)
    provisioning_status: str = c.ACTIVE
    # Octavia's L7 policies (none for v1, and from a server older than them).
    l7policies: list[L7Policy] = Field(default_factory=list)
    # TERMINATED_HTTPS: the default certificate, the SNI ones (chosen by the client's
    # server name), versions, ciphers, ALPN, HSTS and client authentication (CA and CRL
    # as PEM bundles).
    default_tls_container: TlsCertificate | None = None
    sni_containers: list[TlsCertificate] = Field(default_factory=list)
    tls_versions: list[str] = Field(default_factory=list)
    tls_ciphers: str | None = None
    alpn_protocols: list[str] = Field(default_factory=list)
    hsts_max_age: int | None = None
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False
    client_authentication: Literal["NONE", "OPTIONAL", "MANDATORY"] = "NONE"
    client_ca_tls_container: str | None = None
    client_crl_container: str | None = None


class Amphora(_Model):
    """One instance of an ACTIVE_STANDBY load balancer (Octavia's amphora): the host
    whose agent runs it, its configured VRRP role and priority, and its own port on the
    VIP network, which the agent plugs instead of the VIP port. The VIP address is then
    held by keepalived on that port's device, moving between the two instances."""

    id: str
    host: str = Field(max_length=255)
    role: Literal["MASTER", "BACKUP"]
    vrrp_priority: int = Field(ge=1, le=254)
    vrrp_port: Port


class Vrrp(_Model):
    """The VRRP group of an ACTIVE_STANDBY load balancer (keepalived, VRRPv3 unicast
    between the amphorae's own addresses)."""

    vrid: int = Field(ge=1, le=255)
    # keepalived's advert_int, in milliseconds (VRRPv3 counts centiseconds).
    advert_int_ms: int = Field(ge=10, le=40950)
    # False: an instance that comes back stays BACKUP (no failback black hole).
    preempt: bool = False


class LoadBalancer(_Model):
    id: str
    vip_address: str
    vip_port: Port
    admin_state_up: bool = True
    provisioning_status: str = c.ACTIVE
    topology: Literal["SINGLE", "ACTIVE_STANDBY"] = "SINGLE"
    # Raised by each Octavia failover. The agent rebuilds the data plane (VIP device
    # re-plugged, a fresh HAProxy) when this is higher than the generation it recorded
    # for its instance; equal means "keep what runs", which is what makes an adopted
    # instance survive an agent restart untouched. v1 pools have no failover: 0.
    failover_generation: int = 0
    listeners: list[Listener] = Field(default_factory=list)
    pools: list[Pool] = Field(default_factory=list)
    # ACTIVE_STANDBY only: both instances (each agent finds its own by ``host``; the
    # device's ``host`` is then None) and their VRRP group.
    amphorae: list[Amphora] = Field(default_factory=list)
    vrrp: Vrrp | None = None
    # Ports on member subnets other than the VIP's (Octavia plugs member networks into the
    # amphora): one per subnet, its own address, no default route through it. For
    # ACTIVE_STANDBY, one set per amphora: keyed by amphora id ("" for SINGLE).
    member_ports: dict[str, list[Port]] = Field(default_factory=dict)


class LogicalDevice(_Model):
    """``loadbalancer`` is None when there is nothing to serve (a v1 pool without a VIP,
    or the same gate v1's ``deploy_instance`` applied): the agent then removes whatever it
    runs for this id."""

    version: int = DEVICE_VERSION
    id: str
    loadbalancer: LoadBalancer | None
    driver: str = c.DRIVER_HAPROXY_NS
    # deployed() echoes it, so a confirmation of an older device can't mark a newer
    # change done.
    revision: int = 0
    # Whether a deployed() would change anything on the server.
    pending: bool = True
    # The id of the API request that caused this change (lbaas.common.request_id): the
    # agent logs its work under it and sends it back with its calls, so one grep follows
    # the change. A value not of the exact form req-<uuid> is dropped, not fatal: it is
    # only for the log, and never reaches it unchecked.
    request_id: str | None = None
    # The host the load balancer is bound to (None: unbound). An agent that is handed a
    # device bound elsewhere (it moved while this agent was cut off) removes its own
    # instance without telling the server anything: the port is the other host's now.
    host: str | None = Field(default=None, max_length=255)

    @field_validator("request_id", mode="before")
    @classmethod
    def _only_a_request_id(cls, value: Any) -> str | None:
        return value if is_request_id(value) else None


# ----------------------------------------------------------------- from a v1 pool

# The statuses a v1 object may carry that are provisioning statuses too; INACTIVE and
# DOWN are v1's health words (a member HAProxy found down), not a provisioning state.
_PROVISIONING_STATUSES = (c.ACTIVE, c.PENDING_CREATE, c.PENDING_UPDATE, c.PENDING_DELETE,
                          c.ERROR)


def _provisioning(obj: dict[str, Any]) -> str:
    status = obj.get("status")
    return status if status in _PROVISIONING_STATUSES else c.ACTIVE


def _or(value: Any, default: Any) -> Any:
    # v1 dicts carry explicit nulls (connection_limit, weight) where the model wants a
    # value; the renderer checks the result again either way.
    return default if value is None else value


def v1_deployable(device: dict[str, Any]) -> bool:
    """v1's gate, as ``HaproxyNSDriver.deployable`` applied it to the v1 dict: a VIP,
    and neither the VIP nor the pool being deleted. Admin-down objects and ERROR ones
    stay deployed (rendered ``disabled``, or serving the last config)."""
    vip = device.get("vip")
    pool = device.get("pool") or {}
    if not vip or not pool:
        return False
    return (vip.get("status") != c.PENDING_DELETE
            and pool.get("status") != c.PENDING_DELETE)


def v1_pool_deleting(device: dict[str, Any]) -> bool:
    """The v1 pool itself is being deleted: the agent must remove everything and confirm
    with ``pool_destroyed`` (``pool_deployed`` ignores a PENDING_DELETE pool)."""
    return (device.get("pool") or {}).get("status") == c.PENDING_DELETE


def from_v1(device: dict[str, Any]) -> LogicalDevice:
    """The typed device for the v1 logical device of ``callbacks.get_logical_device``
    (docs/architecture.md, "The logical device").

    The load balancer's id is the pool's, its single listener is the VIP (whose id it
    keeps, so the frontend and the VIP status reports keep their names) and its single
    pool is the pool. ``loadbalancer`` is None when :func:`v1_deployable` says there is
    nothing to serve. Raises pydantic's ValidationError on a malformed device."""
    pool = device["pool"]
    vip = device.get("vip")
    common = {"id": pool["id"], "driver": device.get("driver") or c.DRIVER_HAPROXY_NS,
              "revision": _or(device.get("revision"), 0),
              "pending": _or(device.get("pending"), True),
              "request_id": device.get("request_id")}
    if not v1_deployable(device):
        return LogicalDevice(loadbalancer=None, **common)
    assert vip is not None  # v1_deployable

    # HAProxy checks with one monitor: the first admin-up one, in association order
    # (callbacks.pool_deployed marks exactly that association ACTIVE).
    monitor = next((m for m in device.get("healthmonitors") or []
                    if m.get("admin_state_up", True) and m.get("status") != c.PENDING_DELETE),
                   None)
    healthmonitor = None
    if monitor is not None:
        healthmonitor = HealthMonitor(
            id=monitor["id"], type=monitor.get("type"), delay=monitor.get("delay"),
            timeout=monitor.get("timeout"), max_retries=monitor.get("max_retries"),
            # v1 has one threshold for both directions.
            max_retries_down=monitor.get("max_retries"),
            http_method=_or(monitor.get("http_method"), "GET"),
            url_path=_or(monitor.get("url_path"), "/"),
            expected_codes=_or(monitor.get("expected_codes"), "200"),
            admin_state_up=_or(monitor.get("admin_state_up"), True))
    persistence = vip.get("session_persistence") or None
    members = [
        Member(id=m["id"], address=m.get("address"), protocol_port=m.get("protocol_port"),
               weight=_or(m.get("weight"), 1),
               admin_state_up=_or(m.get("admin_state_up"), True),
               provisioning_status=_provisioning(m))
        # The server leaves them out already; should one slip through, it is on its
        # way out and must not be served.
        for m in device.get("members") or [] if m.get("status") != c.PENDING_DELETE]
    v1_pool = Pool(
        id=pool["id"], protocol=pool.get("protocol"), lb_algorithm=pool.get("lb_method"),
        admin_state_up=_or(pool.get("admin_state_up"), True),
        session_persistence=(SessionPersistence(type=persistence.get("type"),
                                                cookie_name=persistence.get("cookie_name"))
                             if persistence else None),
        members=members, healthmonitor=healthmonitor, provisioning_status=_provisioning(pool))
    listener = Listener(
        id=vip["id"], protocol=vip.get("protocol"), protocol_port=vip.get("protocol_port"),
        connection_limit=_or(vip.get("connection_limit"), -1), default_pool_id=pool["id"],
        admin_state_up=_or(vip.get("admin_state_up"), True),
        # v1 rendered "option forwardfor" on every HTTP VIP.
        insert_headers={"X-Forwarded-For": "true"} if vip.get("protocol") == "HTTP" else {},
        provisioning_status=_provisioning(vip))
    loadbalancer = LoadBalancer(
        id=pool["id"], vip_address=vip.get("address"), vip_port=Port.model_validate(vip["port"]),
        listeners=[listener], pools=[v1_pool], provisioning_status=_provisioning(pool))
    return LogicalDevice(loadbalancer=loadbalancer, **common)
