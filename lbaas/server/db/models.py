"""The database schema: networks, subnets and ports (Neutron's), and one load balancer
model, Octavia's (load balancer → listeners → pools → members, one monitor per pool),
that both APIs are views of (docs/architecture.md, "One model, two APIs").

A v1 pool is a load balancer (``api_version`` 1) and a pool sharing one id, its VIP the
load balancer's one listener; v1's shared health monitors, their associations and its
per-pool statistics are the only v1-only tables. Rules the schema itself guarantees (not
only Python): one port per load balancer, members unique on (pool, address, port),
listeners on (load balancer, port), a MAC address and an IP address per subnet used
once, a VLAN id used once per physical network, and 64-bit stats counters.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ID_LEN = 36
NAME_LEN = 255
DESCRIPTION_LEN = 255


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class HasId:
    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class HasStatus:
    status: Mapped[str] = mapped_column(String(16))
    status_description: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Network(HasId, Base):
    __tablename__ = "networks"
    __table_args__ = (
        UniqueConstraint("provider_physical_network", "provider_segmentation_id",
                         name="uniq_networks_segment"),
    )
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    provider_physical_network: Mapped[str] = mapped_column(String(64))
    provider_network_type: Mapped[str] = mapped_column(String(16))
    provider_segmentation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mtu: Mapped[int] = mapped_column(Integer, default=1500)

    subnets: Mapped[list[Subnet]] = relationship(back_populates="network",
                                                 order_by="Subnet.created_at")


class Subnet(HasId, Base):
    __tablename__ = "subnets"
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="RESTRICT"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    allocation_pools: Mapped[list[Any]] = mapped_column(default=list)
    host_routes: Mapped[list[Any]] = mapped_column(default=list)
    dns_nameservers: Mapped[list[Any]] = mapped_column(default=list)

    network: Mapped[Network] = relationship(back_populates="subnets")


class Port(HasId, Base):
    __tablename__ = "ports"
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id", ondelete="RESTRICT"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    mac_address: Mapped[str] = mapped_column(String(32), unique=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="")
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    binding_host_id: Mapped[str] = mapped_column(String(255), default="")
    # Neutron's allowed_address_pairs: [{"ip_address": ..., "mac_address": ...}], the
    # addresses besides its own the port may send from (an amphora's VRRP port: the VIP).
    allowed_address_pairs: Mapped[list[Any]] = mapped_column(default=list,
                                                             server_default="[]")

    network: Mapped[Network] = relationship()
    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        back_populates="port", cascade="all, delete-orphan", order_by="IPAllocation.position")


class IPAllocation(Base):
    __tablename__ = "ipallocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address", name="uniq_ip_per_subnet"),)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"),
                                         primary_key=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id", ondelete="RESTRICT"),
                                           primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    port: Mapped[Port] = relationship(back_populates="fixed_ips")
    subnet: Mapped[Subnet] = relationship()


class HealthMonitor(HasId, Base):
    """v1's health monitor: an object of its own that several pools use, in association
    order (Octavia's is one per pool: LbHealthMonitor)."""

    __tablename__ = "healthmonitors"
    type: Mapped[str] = mapped_column(String(16))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    http_method: Mapped[str] = mapped_column(String(16), default="GET")
    url_path: Mapped[str] = mapped_column(String(255), default="/")
    expected_codes: Mapped[str] = mapped_column(String(64), default="200")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)

    pools: Mapped[list[PoolMonitorAssociation]] = relationship(
        back_populates="monitor", order_by="PoolMonitorAssociation.position")


class PoolMonitorAssociation(HasStatus, Base):
    __tablename__ = "poolmonitorassociations"
    pool_id: Mapped[str] = mapped_column(ForeignKey("lb_pools.id", ondelete="CASCADE"),
                                         primary_key=True)
    monitor_id: Mapped[str] = mapped_column(ForeignKey("healthmonitors.id",
                                                       ondelete="RESTRICT"),
                                            primary_key=True)
    # Association order decides which monitor HAProxy uses (the first admin-up one).
    position: Mapped[int] = mapped_column(BigInteger, default=0)

    pool: Mapped[LbPool] = relationship(back_populates="monitors")
    monitor: Mapped[HealthMonitor] = relationship(back_populates="pools")


class PoolStatistics(Base):
    """Totals the API shows, plus the last raw counters an agent reported: HAProxy's
    counters restart at every new process, so the server adds deltas (``epoch`` tells a
    new process from an old one)."""

    __tablename__ = "poolstatistics"
    pool_id: Mapped[str] = mapped_column(ForeignKey("lb_pools.id", ondelete="CASCADE"),
                                         primary_key=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    last_epoch: Mapped[str] = mapped_column(String(255), default="")
    last_raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The VIP's (frontend's) HTTP responses by class; not part of the v1 stats body.
    hrsp_1xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_2xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_3xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_4xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_5xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_other: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Agent(Base):
    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True, default=new_id)
    host: Mapped[str] = mapped_column(String(255), unique=True)
    agent_type: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255), default="n-lbaas_agent")
    configurations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Bumped by every change to a load balancer bound here; agents long-poll on it.
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


# --- the load balancer model: load balancer → listeners → pools → members ---------------
# Both APIs are views of it (docs/architecture.md, "One model, two APIs"). Every object
# carries Octavia's two statuses: provisioning_status (what the control plane is doing)
# and operating_status (what the data plane observes); v1's one ``status`` word is read
# from and written to the pair (lbaas/server/plugin/loadbalancer.py, ``v1_status``), and
# ``status_description`` holds v1's reason (also why a v2 object waits or failed).


class HasV2Status:
    provisioning_status: Mapped[str] = mapped_column(String(16))
    operating_status: Mapped[str] = mapped_column(String(16))
    status_description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True,
                                                           onupdate=utcnow)


class HasNameAndTags:
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LEN), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)


class FlavorProfile(Base):
    __tablename__ = "lb_flavorprofiles"
    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    provider_name: Mapped[str] = mapped_column(String(64))
    flavor_data: Mapped[str] = mapped_column(String(4096))


class Flavor(Base):
    __tablename__ = "lb_flavors"
    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LEN), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(
        ForeignKey("lb_flavorprofiles.id", ondelete="RESTRICT"))

    profile: Mapped[FlavorProfile] = relationship()


class LoadBalancer(HasId, HasV2Status, HasNameAndTags, Base):
    __tablename__ = "lb_loadbalancers"
    # Two ACTIVE_STANDBY load balancers on one network must not share a VRRP group:
    # their advertisements would be taken for each other's (NULLs are distinct).
    __table_args__ = (UniqueConstraint("vip_network_id", "vrrp_id",
                                       name="uniq_lb_vrrp_id_per_network"),)
    # 2: made through the Octavia API; 1: a v1 pool (same id as its LbPool), which has
    # no VIP until v1's ``POST /lb/vips`` gives it one (the vip_* columns are then null).
    api_version: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    vip_subnet_id: Mapped[str | None] = mapped_column(
        ForeignKey("subnets.id", ondelete="RESTRICT"), nullable=True)
    vip_network_id: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    vip_port_id: Mapped[str | None] = mapped_column(
        ForeignKey("ports.id", ondelete="RESTRICT"), unique=True, nullable=True)
    vip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider: Mapped[str] = mapped_column(String(64))
    flavor_id: Mapped[str | None] = mapped_column(ForeignKey("lb_flavors.id",
                                                             ondelete="RESTRICT"),
                                                  nullable=True)
    topology: Mapped[str] = mapped_column(String(16), default="SINGLE")
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The agent this load balancer is deployed by, and the host revision at which it
    # last changed (the agent long-polls for ids whose revision passed its own).
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"),
                                                 nullable=True, index=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    # The API request that made the last change (x-openstack-request-id), handed to the
    # agent with the device so that its log lines carry it too.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failover_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # ACTIVE_STANDBY: the VRRP group id (vrid, 1..255), given with the VIP.
    vrrp_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    listeners: Mapped[list[Listener]] = relationship(
        back_populates="loadbalancer", order_by="Listener.created_at",
        cascade="all, delete-orphan")
    pools: Mapped[list[LbPool]] = relationship(
        back_populates="loadbalancer", order_by="LbPool.created_at",
        cascade="all, delete-orphan")
    vip_port: Mapped[Port | None] = relationship()
    vip_subnet: Mapped[Subnet | None] = relationship()
    agent: Mapped[Agent | None] = relationship()
    stats: Mapped[list[ListenerStatistics]] = relationship(cascade="all, delete-orphan")
    member_ports: Mapped[list[LbMemberPort]] = relationship(
        back_populates="loadbalancer", order_by="LbMemberPort.subnet_id",
        cascade="all, delete-orphan")
    amphorae: Mapped[list[Amphora]] = relationship(
        back_populates="loadbalancer", order_by="(Amphora.created_at, Amphora.id)",
        cascade="all, delete-orphan")


class LbMemberPort(Base):
    """A port of a load balancer on a member subnet other than its VIP's (Octavia plugs
    member networks into the amphora): one per (load balancer, amphora, subnet), the
    amphora "" for a SINGLE load balancer. docs/architecture.md, "Member ports"."""

    __tablename__ = "lb_member_ports"
    __table_args__ = (UniqueConstraint("loadbalancer_id", "amphora_id", "subnet_id"),)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id", ondelete="CASCADE"),
                                         primary_key=True)
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    amphora_id: Mapped[str] = mapped_column(String(ID_LEN), default="")
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id", ondelete="RESTRICT"))

    loadbalancer: Mapped[LoadBalancer] = relationship(back_populates="member_ports")
    port: Mapped[Port] = relationship()
    subnet: Mapped[Subnet] = relationship()


class Amphora(Base):
    """One instance of an ACTIVE_STANDBY load balancer (Octavia's word): the agent that
    runs it, its configured VRRP role and priority, and its own port on the VIP subnet
    (docs/architecture.md, "ACTIVE_STANDBY"). A SINGLE load balancer has no row: the
    amphora API shows its one STANDALONE instance from the load balancer itself."""

    __tablename__ = "lb_amphorae"
    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True, default=new_id)
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(16))  # MASTER, BACKUP
    vrrp_priority: Mapped[int] = mapped_column(Integer)
    vrrp_port_id: Mapped[str | None] = mapped_column(
        ForeignKey("ports.id", ondelete="RESTRICT"), unique=True, nullable=True)
    vrrp_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Octavia's amphora status: PENDING_CREATE until it has an agent, then ALLOCATED.
    status: Mapped[str] = mapped_column(String(16))
    # What the agent last reported keepalived's state to be (MASTER, BACKUP, FAULT).
    vrrp_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    vrrp_state_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # The host revision at which this instance last changed (its agent long-polls on
    # it), and the device revision its agent confirmed with ``deployed``.
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed_revision: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True,
                                                           onupdate=utcnow)

    loadbalancer: Mapped[LoadBalancer] = relationship(back_populates="amphorae")
    agent: Mapped[Agent | None] = relationship()
    vrrp_port: Mapped[Port | None] = relationship()


class Listener(HasId, HasV2Status, HasNameAndTags, Base):
    __tablename__ = "lb_listeners"
    __table_args__ = (UniqueConstraint("loadbalancer_id", "protocol_port"),)
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("lb_pools.id", ondelete="RESTRICT"), nullable=True)
    timeout_client_data: Mapped[int] = mapped_column(Integer, default=50000)
    timeout_member_connect: Mapped[int] = mapped_column(Integer, default=5000)
    timeout_member_data: Mapped[int] = mapped_column(Integer, default=50000)
    timeout_tcp_inspect: Mapped[int] = mapped_column(Integer, default=0)
    insert_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    allowed_cidrs: Mapped[list[Any]] = mapped_column(default=list)
    # TERMINATED_HTTPS (docs/tls.md): key manager refs as the client gave them, and the
    # TLS settings, null / empty on other protocols.
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255),
                                                                  nullable=True)
    sni_container_refs: Mapped[list[Any]] = mapped_column(default=list)
    client_authentication: Mapped[str] = mapped_column(String(16), default="NONE",
                                                       server_default="NONE")
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255),
                                                                    nullable=True)
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255),
                                                                 nullable=True)
    tls_versions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    alpn_protocols: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False,
                                                          server_default="0")
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    loadbalancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped[LbPool | None] = relationship(foreign_keys=[default_pool_id])
    # Octavia's L7 policies, in the order HAProxy evaluates them.
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="listener", order_by="(L7Policy.position, L7Policy.created_at)",
        cascade="all, delete-orphan")


class LbPool(HasId, HasV2Status, HasNameAndTags, Base):
    __tablename__ = "lb_pools"
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # v1's pool subnet (where its members are; the network it is scheduled by).
    subnet_id: Mapped[str | None] = mapped_column(
        ForeignKey("subnets.id", ondelete="RESTRICT"), nullable=True, index=True)
    # Octavia's re-encryption to the members (docs/tls.md).
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    crl_container_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tls_versions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    alpn_protocols: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)

    loadbalancer: Mapped[LoadBalancer] = relationship(back_populates="pools")
    subnet: Mapped[Subnet | None] = relationship()
    monitors: Mapped[list[PoolMonitorAssociation]] = relationship(
        back_populates="pool", cascade="all, delete-orphan",
        order_by="PoolMonitorAssociation.position")
    stats: Mapped[PoolStatistics | None] = relationship(cascade="all, delete-orphan",
                                                        uselist=False)
    members: Mapped[list[LbMember]] = relationship(
        back_populates="pool", order_by="LbMember.created_at", cascade="all, delete-orphan")
    healthmonitor: Mapped[LbHealthMonitor | None] = relationship(
        back_populates="pool", uselist=False, cascade="all, delete-orphan")


class L7Policy(HasId, HasV2Status, HasNameAndTags, Base):
    """An Octavia L7 policy: an action (REJECT, REDIRECT_TO_URL, REDIRECT_PREFIX,
    REDIRECT_TO_POOL) taken when all its rules match, at ``position`` (1-based, dense)
    among its listener's policies."""

    __tablename__ = "lb_l7policies"
    listener_id: Mapped[str] = mapped_column(
        ForeignKey("lb_listeners.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    redirect_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("lb_pools.id", ondelete="RESTRICT"), nullable=True, index=True)
    redirect_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    redirect_prefix: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    redirect_http_code: Mapped[int | None] = mapped_column(Integer, nullable=True)

    listener: Mapped[Listener] = relationship(back_populates="l7policies")
    redirect_pool: Mapped[LbPool | None] = relationship(foreign_keys=[redirect_pool_id])
    rules: Mapped[list[L7Rule]] = relationship(
        back_populates="l7policy", order_by="L7Rule.created_at",
        cascade="all, delete-orphan")


class L7Rule(HasId, HasV2Status, Base):
    __tablename__ = "lb_l7rules"
    l7policy_id: Mapped[str] = mapped_column(
        ForeignKey("lb_l7policies.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    compare_type: Mapped[str] = mapped_column(String(32))
    key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)

    l7policy: Mapped[L7Policy] = relationship(back_populates="rules")


class LbMember(HasId, HasV2Status, Base):
    __tablename__ = "lb_members"
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port"),)
    pool_id: Mapped[str] = mapped_column(ForeignKey("lb_pools.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    subnet_id: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    monitor_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    monitor_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)

    pool: Mapped[LbPool] = relationship(back_populates="members")


class LbHealthMonitor(HasId, HasV2Status, Base):
    __tablename__ = "lb_healthmonitors"
    pool_id: Mapped[str] = mapped_column(ForeignKey("lb_pools.id", ondelete="CASCADE"),
                                         unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    type: Mapped[str] = mapped_column(String(16))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    max_retries_down: Mapped[int] = mapped_column(Integer, default=3)
    http_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    http_version: Mapped[float | None] = mapped_column(nullable=True)
    domain_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    url_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    expected_codes: Mapped[str | None] = mapped_column(String(64), nullable=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)

    pool: Mapped[LbPool] = relationship(back_populates="healthmonitor")


class ListenerStatistics(Base):
    """Totals per listener, accumulated from the agent's raw counters and ``epoch`` (the
    HAProxy process), so they never go backwards across reloads."""

    __tablename__ = "lb_listener_statistics"
    listener_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    last_epoch: Mapped[str] = mapped_column(String(255), default="")
    last_raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # HTTP responses by class (HAProxy's hrsp_*), HTTP listeners only (0 on TCP).
    hrsp_1xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_2xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_3xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_4xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_5xx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hrsp_other: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class PoolTrafficStatistics(Base):
    """Totals per pool (a backend's), accumulated like ListenerStatistics: the HTTP
    responses its members gave, by class. v1 and v2 pools alike; the row goes with its
    load balancer, or at the next report once the pool is gone."""

    __tablename__ = "lb_pool_statistics"
    pool_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    hrsp_1xx: Mapped[int] = mapped_column(BigInteger, default=0)
    hrsp_2xx: Mapped[int] = mapped_column(BigInteger, default=0)
    hrsp_3xx: Mapped[int] = mapped_column(BigInteger, default=0)
    hrsp_4xx: Mapped[int] = mapped_column(BigInteger, default=0)
    hrsp_5xx: Mapped[int] = mapped_column(BigInteger, default=0)
    hrsp_other: Mapped[int] = mapped_column(BigInteger, default=0)
    last_epoch: Mapped[str] = mapped_column(String(255), default="")
    last_raw: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MemberStatistics(Base):
    """Totals per member (a server's): failed health checks (HAProxy's chkfail, counted
    while the member is up) and UP→DOWN transitions (chkdown), accumulated like
    ListenerStatistics."""

    __tablename__ = "lb_member_statistics"
    member_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    loadbalancer_id: Mapped[str] = mapped_column(
        ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    check_failures: Mapped[int] = mapped_column(BigInteger, default=0)
    check_up_down: Mapped[int] = mapped_column(BigInteger, default=0)
    last_epoch: Mapped[str] = mapped_column(String(255), default="")
    last_raw: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LbQuota(Base):
    """A project's v2 quotas; absent values mean the configured defaults."""

    __tablename__ = "lb_quotas"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer, nullable=True)
    listener: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pool: Mapped[int | None] = mapped_column(Integer, nullable=True)
    member: Mapped[int | None] = mapped_column(Integer, nullable=True)
    healthmonitor: Mapped[int | None] = mapped_column(Integer, nullable=True)


# --- the key manager (Barbican's subset: docs/tls.md) ------------------------------------


class KmSecret(HasId, Base):
    """A Barbican secret. ``encrypted_payload`` is the payload's bytes encrypted with
    the server's key (Fernet, lbaas/server/plugin/key_manager.py); nothing else here is
    secret."""

    __tablename__ = "km_secrets"
    name: Mapped[str | None] = mapped_column(String(NAME_LEN), nullable=True)
    secret_type: Mapped[str] = mapped_column(String(32), default="opaque")
    algorithm: Mapped[str | None] = mapped_column(String(255), nullable=True)
    bit_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mode: Mapped[str | None] = mapped_column(String(255), nullable=True)
    expiration: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # None: metadata only (Barbican's two-step store); the payload can't be fetched.
    payload_content_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    encrypted_payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    creator_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True,
                                                           onupdate=utcnow)


class KmContainer(HasId, Base):
    """A Barbican container: named references to secrets of the same project
    (``secret_refs``: ``[{"name": ..., "secret_id": ...}]``)."""

    __tablename__ = "km_containers"
    name: Mapped[str | None] = mapped_column(String(NAME_LEN), nullable=True)
    type: Mapped[str] = mapped_column(String(32))
    secret_refs: Mapped[list[Any]] = mapped_column(default=list)
    creator_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True,
                                                           onupdate=utcnow)
