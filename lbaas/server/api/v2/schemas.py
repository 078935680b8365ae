"""Octavia v2 request bodies: every field with Octavia's defaults and validation, and a
clear 400 for what this provider can't serve (UDP, SCTP, PROXY, SOURCE_IP_PORT).
TLS fields (docs/tls.md) are checked here for their shapes and Octavia's rules between
them; the refs themselves are resolved by lbaas/server/plugin/tls.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from lbaas.common import constants as c
from lbaas.common import l7, limits
from lbaas.server.api.common import (
    Bool,
    Cidr,
    CookieName,
    Description,
    ExpectedCodes,
    HttpMethod,
    Int,
    IpAddress,
    Name,
    Port,
    UrlPath,
    Uuid,
)
from lbaas.server.api.v2.common import HostName, MilliSeconds, ProjectId, Tags, V2Body
from lbaas.server.plugin.tls import (
    SSL_HEADERS,
    TERMINATED_HTTPS,
    listener_tls_rules,
    pool_tls_rules,
)

PROVIDER = c.PROVIDER_HAPROXY_NS


def _supported(kind: str, supported: tuple[str, ...]) -> Any:
    def check(value: str) -> str:
        if value not in supported:
            raise ValueError(f"{kind} {value} is not supported by provider '{PROVIDER}' "
                             f"(supported: {', '.join(supported)})")
        return value
    return AfterValidator(check)


Protocol = Annotated[str, Field(max_length=32), _supported("protocol", c.V2_PROTOCOLS)]
ListenerProtocol = Annotated[str, Field(max_length=32),
                             _supported("protocol", (*c.V2_PROTOCOLS, TERMINATED_HTTPS))]
# A key manager ref as Octavia stores it (255 characters); resolved by the plugin.
Ref = Annotated[str, Field(min_length=1, max_length=255)]
def _tls_versions(value: list[str]) -> list[str]:
    # Octavia's words first; then the renderer's own rule (each name once).
    if not value:
        raise ValueError("Empty TLS version list. Either specify at least one TLS version "
                         "or remove this parameter to use the default.")
    invalid = [v for v in value if v not in limits.TLS_VERSIONS]
    if invalid:
        raise ValueError(f"Invalid TLS versions: {', '.join(invalid)}")
    return limits.tls_versions(value)


def _alpn_protocols(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("Empty ALPN protocol list. Either specify at least one ALPN "
                         "protocol or remove this parameter to use the default.")
    invalid = [p for p in value if p not in limits.ALPN_PROTOCOLS]
    if invalid:
        raise ValueError(f"Invalid ALPN protocol: {', '.join(invalid)}")
    return limits.alpn_protocols(value)


TlsVersions = Annotated[list[Annotated[str, Field(max_length=16)]],
                        Field(max_length=len(limits.TLS_VERSIONS)),
                        AfterValidator(_tls_versions)]
AlpnProtocols = Annotated[list[Annotated[str, Field(max_length=16)]],
                          Field(max_length=len(limits.ALPN_PROTOCOLS)),
                          AfterValidator(_alpn_protocols)]
TlsCiphers = Annotated[str, Field(max_length=limits.TLS_CIPHERS_MAX),
                       AfterValidator(limits.tls_ciphers)]
HstsMaxAge = Annotated[Int, Field(ge=limits.HSTS_MAX_AGE_MIN, le=limits.HSTS_MAX_AGE_MAX)]
ClientAuthentication = Literal["NONE", "OPTIONAL", "MANDATORY"]
Algorithm = Annotated[str, Field(max_length=32),
                      _supported("lb_algorithm", c.V2_LB_ALGORITHMS)]
MonitorType = Annotated[str, Field(max_length=32),
                        _supported("health monitor type", c.V2_HEALTH_MONITOR_TYPES)]
Weight = Annotated[int, Field(ge=limits.WEIGHT_MIN, le=limits.WEIGHT_MAX)]
ConnectionLimit = Annotated[int, Field(ge=-1, le=limits.CONNECTION_LIMIT_MAX)]
def _http_version(value: float) -> float:
    if value not in (1.0, 1.1):
        raise ValueError("http_version must be 1.0 or 1.1")
    return value


HttpVersion = Annotated[float, AfterValidator(_http_version)]
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT",
                "PATCH")
INSERT_HEADERS = ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")


class SessionPersistence(BaseModel):
    model_config = {"extra": "forbid"}
    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
    cookie_name: CookieName | None = None
    persistence_timeout: int | None = Field(None, ge=0)
    persistence_granularity: IpAddress | None = None

    @model_validator(mode="after")
    def _cookie(self) -> SessionPersistence:
        if self.type == "APP_COOKIE" and not self.cookie_name:
            raise ValueError("Field 'cookie_name' must be specified when using the "
                             "APP_COOKIE session persistence type.")
        if self.type != "APP_COOKIE" and self.cookie_name is not None:
            raise ValueError(f"Field 'cookie_name' can only be specified when using the "
                             f"APP_COOKIE session persistence type (not {self.type}).")
        return self


class _Monitor(V2Body):
    name: Name | None = None
    delay: Int = Field(ge=limits.DELAY_MIN, le=limits.DELAY_MAX)
    timeout: Int = Field(ge=limits.TIMEOUT_MIN, le=limits.TIMEOUT_MAX)
    max_retries: Int = Field(ge=limits.MAX_RETRIES_MIN, le=limits.MAX_RETRIES_MAX)
    max_retries_down: Int = Field(3, ge=limits.MAX_RETRIES_MIN, le=limits.MAX_RETRIES_MAX)
    http_method: HttpMethod | None = None
    http_version: HttpVersion | None = None
    domain_name: HostName | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: Bool = True
    tags: Tags | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


def _monitor_rules(hm: Any) -> None:
    if hm.http_method is not None and hm.http_method not in HTTP_METHODS:
        raise ValueError(f"http_method {hm.http_method} is not one of "
                         f"{', '.join(HTTP_METHODS)}")
    if hm.type not in ("HTTP", "HTTPS"):
        for field in ("http_method", "url_path", "expected_codes", "http_version",
                      "domain_name"):
            if getattr(hm, field) is not None:
                raise ValueError(f"{field} is not a valid option for health monitors of "
                                 f"type {hm.type}")
    if hm.domain_name is not None and hm.http_version != 1.1:
        raise ValueError("http_version 1.1 is required when domain_name is given")


class MonitorInPool(_Monitor):
    type: MonitorType

    @model_validator(mode="after")
    def _rules(self) -> MonitorInPool:
        _monitor_rules(self)
        return self


class HealthMonitorCreate(MonitorInPool):
    pool_id: Uuid


class HealthMonitorUpdate(V2Body):
    name: Name | None = None
    delay: Int | None = Field(None, ge=limits.DELAY_MIN, le=limits.DELAY_MAX)
    timeout: Int | None = Field(None, ge=limits.TIMEOUT_MIN, le=limits.TIMEOUT_MAX)
    max_retries: Int | None = Field(None, ge=limits.MAX_RETRIES_MIN,
                                    le=limits.MAX_RETRIES_MAX)
    max_retries_down: Int | None = Field(None, ge=limits.MAX_RETRIES_MIN,
                                         le=limits.MAX_RETRIES_MAX)
    http_method: HttpMethod | None = None
    http_version: HttpVersion | None = None
    domain_name: HostName | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    admin_state_up: Bool | None = None
    tags: Tags | None = None


class MemberCreate(V2Body):
    address: IpAddress
    protocol_port: Port
    name: Name | None = None
    weight: Weight = 1
    backup: Bool = False
    admin_state_up: Bool = True
    subnet_id: Uuid | None = None
    monitor_address: IpAddress | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class MemberUpdate(V2Body):
    name: Name | None = None
    weight: Weight | None = None
    backup: Bool | None = None
    admin_state_up: Bool | None = None
    monitor_address: IpAddress | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None


class PoolInLb(V2Body):
    protocol: Protocol
    lb_algorithm: Algorithm
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool = True
    session_persistence: SessionPersistence | None = None
    tags: Tags | None = None
    members: list[MemberCreate] | None = Field(None, max_length=1000)
    healthmonitor: MonitorInPool | None = None
    tls_enabled: Bool = False
    tls_container_ref: Ref | None = None
    ca_tls_container_ref: Ref | None = None
    crl_container_ref: Ref | None = None
    tls_versions: TlsVersions | None = None
    tls_ciphers: TlsCiphers | None = None
    alpn_protocols: AlpnProtocols | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None

    @model_validator(mode="after")
    def _tls(self) -> PoolInLb:
        pool_tls_rules(self.crl_container_ref, self.ca_tls_container_ref)
        return self


class PoolCreate(PoolInLb):
    listener_id: Uuid | None = None
    loadbalancer_id: Uuid | None = None


class PoolUpdate(V2Body):
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool | None = None
    lb_algorithm: Algorithm | None = None
    session_persistence: SessionPersistence | None = None
    tags: Tags | None = None
    tls_enabled: Bool | None = None
    tls_container_ref: Ref | None = None
    ca_tls_container_ref: Ref | None = None
    crl_container_ref: Ref | None = None
    tls_versions: TlsVersions | None = None
    tls_ciphers: TlsCiphers | None = None
    alpn_protocols: AlpnProtocols | None = None


def _insert_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    for key, flag in value.items():
        if key not in INSERT_HEADERS + SSL_HEADERS:
            raise ValueError(f"insert_headers: {key} is not supported by provider "
                             f"'{PROVIDER}' (supported: "
                             f"{', '.join(INSERT_HEADERS + SSL_HEADERS)})")
        if str(flag).lower() not in ("true", "false"):
            raise ValueError(f"insert_headers: {key} must be 'true' or 'false'")
    return {k: str(v).lower() for k, v in value.items()}


InsertHeaders = Annotated[dict[str, str] | None, AfterValidator(_insert_headers)]


class _ListenerFields(V2Body):
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool = True
    connection_limit: ConnectionLimit = -1
    timeout_client_data: MilliSeconds | None = None
    timeout_member_connect: MilliSeconds | None = None
    timeout_member_data: MilliSeconds | None = None
    timeout_tcp_inspect: MilliSeconds | None = None
    insert_headers: InsertHeaders = None
    allowed_cidrs: list[Cidr] | None = Field(None, max_length=256)
    tags: Tags | None = None
    default_tls_container_ref: Ref | None = None
    sni_container_refs: list[Ref] | None = Field(None, max_length=64)
    client_ca_tls_container_ref: Ref | None = None
    client_crl_container_ref: Ref | None = None
    client_authentication: ClientAuthentication | None = None
    tls_versions: TlsVersions | None = None
    tls_ciphers: TlsCiphers | None = None
    alpn_protocols: AlpnProtocols | None = None
    hsts_max_age: HstsMaxAge | None = None
    hsts_include_subdomains: Bool = False
    hsts_preload: Bool = False
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None

    @model_validator(mode="after")
    def _tls(self) -> _ListenerFields:
        listener_tls_rules(getattr(self, "protocol", "HTTP"), self.model_dump())
        return self


class ListenerInLb(_ListenerFields):
    protocol: ListenerProtocol
    protocol_port: Port
    default_pool: PoolInLb | None = None
    default_pool_id: Uuid | None = None
    default_pool_name: Name | None = None
    # Octavia's single-call create (defined with the L7 models below).
    l7policies: list[L7PolicyInLb] | None = Field(None, max_length=64)


class ListenerCreate(_ListenerFields):
    loadbalancer_id: Uuid
    protocol: ListenerProtocol
    protocol_port: Port
    default_pool_id: Uuid | None = None


class ListenerUpdate(V2Body):
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool | None = None
    connection_limit: ConnectionLimit | None = None
    default_pool_id: Uuid | None = None
    timeout_client_data: MilliSeconds | None = None
    timeout_member_connect: MilliSeconds | None = None
    timeout_member_data: MilliSeconds | None = None
    timeout_tcp_inspect: MilliSeconds | None = None
    insert_headers: InsertHeaders = None
    allowed_cidrs: list[Cidr] | None = Field(None, max_length=256)
    tags: Tags | None = None
    default_tls_container_ref: Ref | None = None
    sni_container_refs: list[Ref] | None = Field(None, max_length=64)
    client_ca_tls_container_ref: Ref | None = None
    client_crl_container_ref: Ref | None = None
    client_authentication: ClientAuthentication | None = None
    tls_versions: TlsVersions | None = None
    tls_ciphers: TlsCiphers | None = None
    alpn_protocols: AlpnProtocols | None = None
    hsts_max_age: HstsMaxAge | None = None
    hsts_include_subdomains: Bool | None = None
    hsts_preload: Bool | None = None


class LoadBalancerCreate(V2Body):
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool = True
    vip_subnet_id: Uuid | None = None
    vip_network_id: Uuid | None = None
    vip_port_id: Uuid | None = None
    vip_address: IpAddress | None = None
    vip_qos_policy_id: None = None
    provider: Annotated[str, Field(max_length=64)] | None = None
    flavor_id: Uuid | None = None
    availability_zone: Annotated[str, Field(max_length=255)] | None = None
    tags: Tags | None = None
    listeners: list[ListenerInLb] | None = Field(None, max_length=64)
    pools: list[PoolInLb] | None = Field(None, max_length=64)
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class LoadBalancerUpdate(V2Body):
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool | None = None
    vip_qos_policy_id: None = None
    tags: Tags | None = None


def wrap(name: str, model: type[BaseModel]) -> type[BaseModel]:
    """``{"loadbalancer": {...}}``: the request as Octavia wraps it."""
    from pydantic import create_model

    fields: Any = {name: (model, ...)}
    return create_model(f"{model.__name__}Request", __base__=V2Body, **fields)


# --- L7 policies and rules (lbaas.common.l7 holds the checks the renderer repeats) ------

Position = Annotated[int, Field(ge=1, le=l7.POSITION_MAX)]
RedirectCode = Annotated[int, Field(ge=300, le=399)]
L7Url = Annotated[str, Field(max_length=l7.URL_MAX)]


class L7RuleFields(V2Body):
    admin_state_up: Bool = True
    invert: Bool = False
    tags: Tags | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class L7RuleCreate(L7RuleFields):
    type: Annotated[str, Field(max_length=32)]
    compare_type: Annotated[str, Field(max_length=32)]
    key: Annotated[str, Field(max_length=l7.VALUE_MAX)] | None = None
    value: Annotated[str, Field(max_length=l7.VALUE_MAX)]


class L7RuleUpdate(V2Body):
    type: Annotated[str, Field(max_length=32)] | None = None
    compare_type: Annotated[str, Field(max_length=32)] | None = None
    key: Annotated[str, Field(max_length=l7.VALUE_MAX)] | None = None
    value: Annotated[str, Field(max_length=l7.VALUE_MAX)] | None = None
    invert: Bool | None = None
    admin_state_up: Bool | None = None
    tags: Tags | None = None


class L7PolicyCreate(V2Body):
    listener_id: Uuid
    action: Annotated[str, Field(max_length=32)]
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool = True
    position: Position | None = None
    redirect_pool_id: Uuid | None = None
    redirect_url: L7Url | None = None
    redirect_prefix: L7Url | None = None
    redirect_http_code: RedirectCode | None = None
    rules: list[L7RuleCreate] | None = Field(None, max_length=l7.MAX_RULES_PER_POLICY)
    tags: Tags | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class L7PolicyUpdate(V2Body):
    action: Annotated[str, Field(max_length=32)] | None = None
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool | None = None
    position: Position | None = None
    redirect_pool_id: Uuid | None = None
    redirect_url: L7Url | None = None
    redirect_prefix: L7Url | None = None
    redirect_http_code: RedirectCode | None = None
    tags: Tags | None = None


class PoolNameRef(V2Body):
    """A pool of the same single-call create body, named (Octavia: a redirect_pool of
    only a name refers to a pool defined elsewhere in the body)."""
    name: Name


class L7PolicyInLb(V2Body):
    """Octavia's L7PolicySingleCreate: a listener's policy in a load balancer's
    single-call create; ``redirect_pool`` is a whole pool (named) or a name."""
    action: Annotated[str, Field(max_length=32)]
    name: Name | None = None
    description: Description | None = None
    admin_state_up: Bool = True
    position: Position | None = None
    redirect_pool: PoolInLb | PoolNameRef | None = None
    redirect_url: L7Url | None = None
    redirect_prefix: L7Url | None = None
    redirect_http_code: RedirectCode | None = None
    rules: list[L7RuleCreate] | None = Field(None, max_length=l7.MAX_RULES_PER_POLICY)
    tags: Tags | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


# ListenerInLb names L7PolicyInLb before it is defined.
ListenerInLb.model_rebuild()
LoadBalancerCreate.model_rebuild()
