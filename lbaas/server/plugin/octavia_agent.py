"""What the agents tell the server about Octavia v2 load balancers, and the logical
device the server gives them for one (lbaas.common.logical_device).

The agent API is keyed by device id: a v1 pool's id or a v2 load balancer's id
(lbaas/server/plugin/callbacks.py dispatches here when the id is a load balancer's).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.common import logical_device as ld
from lbaas.server import errors
from lbaas.server.db import models as m
from lbaas.server.plugin import amphorae, core, member_ports, octavia, tls
from lbaas.server.plugin.key_manager import Vault

LOG = logging.getLogger(__name__)


def _live(objs: list[Any]) -> list[Any]:
    return [o for o in objs if o.provisioning_status != c.PENDING_DELETE]


def _policy(policy: m.L7Policy) -> ld.L7Policy:
    pool = policy.redirect_pool
    return ld.L7Policy(
        id=policy.id, action=policy.action, position=policy.position,
        # A pool on its way out is no target: the policy then matches nothing.
        redirect_pool_id=policy.redirect_pool_id if pool is not None
        and pool.provisioning_status != c.PENDING_DELETE else None,
        redirect_url=policy.redirect_url, redirect_prefix=policy.redirect_prefix,
        redirect_http_code=policy.redirect_http_code,
        admin_state_up=policy.admin_state_up,
        rules=[ld.L7Rule(id=r.id, type=r.type, compare_type=r.compare_type, key=r.key,
                         value=r.value, invert=r.invert, admin_state_up=r.admin_state_up)
               for r in _live(policy.rules)])


def _port(port: m.Port) -> ld.Port:
    """A port as the agent plugs it: with its subnets and its network."""
    port_d = core.port_dict(port)
    port_d["fixed_ips"] = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address,
                            "subnet": core.subnet_dict(a.subnet)} for a in port.fixed_ips]
    port_d["network"] = core.network_dict(port.network)
    return ld.Port.model_validate(port_d)


class _Certificates:
    """Resolves a load balancer's refs into what the agent renders, each once. The API
    checked every ref when it was set and a secret in use can't be deleted; should one
    still fail (an expired secret, another encryption key), it is left out with a
    warning naming it, and the renderer then refuses the listener or pool: its status
    says so."""

    def __init__(self, session: Session, vault: Vault | None, project_id: str) -> None:
        self.session, self.vault, self.project_id = session, vault, project_id

    def _resolve(self, what: str, ref: str, load: Any) -> Any:
        if self.vault is None:
            LOG.warning("no key manager: %s %s left out of the device", what, ref)
            return None
        try:
            return load()
        except (tls.TlsRefError, errors.BarbicanFault) as exc:
            LOG.warning("%s %s left out of the device: %s", what, ref, exc)
            return None

    def certificate(self, ref: str | None) -> ld.TlsCertificate | None:
        if not ref:
            return None
        cert = self._resolve("certificate", ref, lambda: tls.load_certificate(
            self.session, self.vault, self.project_id, ref))  # type: ignore[arg-type]
        if cert is None:
            return None
        return ld.TlsCertificate(id=cert.id, certificate=cert.certificate,
                                 private_key=cert.private_key,
                                 intermediates=cert.intermediates, names=cert.names)

    def ca(self, ref: str | None) -> str | None:
        if not ref:
            return None
        ca: str | None = self._resolve("CA", ref, lambda: tls.load_ca(
            self.session, self.vault, self.project_id, ref))  # type: ignore[arg-type]
        return ca

    def crl(self, ref: str | None, ca: str | None) -> str | None:
        if not ref or not ca:
            return None
        crl: str | None = self._resolve("CRL", ref, lambda: tls.load_crl(
            self.session, self.vault, self.project_id, ref, ca))  # type: ignore[arg-type]
        return crl


def _listener_tls(li: m.Listener, certs: _Certificates) -> dict[str, Any]:
    if li.protocol != "TERMINATED_HTTPS":
        return {}
    ca = certs.ca(li.client_ca_tls_container_ref)
    sni = [certs.certificate(ref) for ref in li.sni_container_refs or []]
    return {"default_tls_container": certs.certificate(li.default_tls_container_ref),
            "sni_containers": [cert for cert in sni if cert is not None],
            "tls_versions": list(li.tls_versions or []), "tls_ciphers": li.tls_ciphers,
            "alpn_protocols": list(li.alpn_protocols or []),
            "hsts_max_age": li.hsts_max_age,
            "hsts_include_subdomains": bool(li.hsts_include_subdomains),
            "hsts_preload": bool(li.hsts_preload),
            "client_authentication": li.client_authentication or "NONE",
            "client_ca_tls_container": ca,
            "client_crl_container": certs.crl(li.client_crl_container_ref, ca)}


def _pool_tls(pool: m.LbPool, certs: _Certificates) -> dict[str, Any]:
    ca = certs.ca(pool.ca_tls_container_ref)
    return {"tls_enabled": bool(pool.tls_enabled),
            "tls_container": certs.certificate(pool.tls_container_ref),
            "ca_tls_container": ca, "crl_container": certs.crl(pool.crl_container_ref, ca),
            "tls_versions": list(pool.tls_versions or []) if pool.tls_enabled else [],
            "tls_ciphers": pool.tls_ciphers if pool.tls_enabled else None,
            "alpn_protocols": list(pool.alpn_protocols or []) if pool.tls_enabled else []}


def logical_device(session: Session, lb: m.LoadBalancer, vault: Vault | None = None,
                   advert_int_ms: int = 100) -> ld.LogicalDevice:
    """The device of a load balancer that is not being deleted (callbacks answers a
    deleted or deleting one as not found). Certificates are resolved with ``vault``
    into PEM (docs/tls.md): only the agent API serves this."""
    certs = _Certificates(session, vault, lb.tenant_id)
    pending = octavia.lb_pending(lb) or amphorae.unconfirmed(lb)
    port = lb.vip_port
    assert port is not None and lb.vip_address is not None  # an Octavia LB has its VIP
    listeners = [ld.Listener(
        id=li.id, protocol=li.protocol, protocol_port=li.protocol_port,
        connection_limit=li.connection_limit,
        default_pool_id=li.default_pool_id if li.default_pool is not None
        and li.default_pool.provisioning_status != c.PENDING_DELETE else None,
        admin_state_up=li.admin_state_up, timeout_client_data=li.timeout_client_data,
        timeout_member_connect=li.timeout_member_connect,
        timeout_member_data=li.timeout_member_data,
        timeout_tcp_inspect=li.timeout_tcp_inspect,
        insert_headers={k: str(v) for k, v in (li.insert_headers or {}).items()},
        allowed_cidrs=list(li.allowed_cidrs or []),
        provisioning_status=li.provisioning_status,
        l7policies=[_policy(p) for p in _live(li.l7policies)], **_listener_tls(li, certs))
        for li in _live(lb.listeners)]
    pools = []
    for pool in _live(lb.pools):
        hm = pool.healthmonitor
        monitor = None
        if hm is not None and hm.provisioning_status != c.PENDING_DELETE:
            monitor = ld.HealthMonitor(
                id=hm.id, type=hm.type, delay=hm.delay, timeout=hm.timeout,
                max_retries=hm.max_retries, max_retries_down=hm.max_retries_down,
                http_method=hm.http_method or "GET", http_version=hm.http_version,
                domain_name=hm.domain_name, url_path=hm.url_path or "/",
                expected_codes=hm.expected_codes or "200", admin_state_up=hm.admin_state_up)
        sp = pool.session_persistence
        pools.append(ld.Pool(
            id=pool.id, protocol=pool.protocol, lb_algorithm=pool.lb_algorithm,
            admin_state_up=pool.admin_state_up,
            session_persistence=ld.SessionPersistence(
                type=sp["type"], cookie_name=sp.get("cookie_name")) if sp else None,
            members=[ld.Member(
                id=mem.id, address=mem.address, protocol_port=mem.protocol_port,
                weight=mem.weight, backup=mem.backup, admin_state_up=mem.admin_state_up,
                monitor_address=mem.monitor_address, monitor_port=mem.monitor_port,
                provisioning_status=mem.provisioning_status)
                for mem in _live(pool.members)],
            healthmonitor=monitor, provisioning_status=pool.provisioning_status,
            **_pool_tls(pool, certs)))
    return ld.LogicalDevice(
        id=lb.id, revision=lb.revision, pending=pending, request_id=lb.request_id,
        loadbalancer=ld.LoadBalancer(
            id=lb.id, vip_address=lb.vip_address,
            vip_port=_port(port), admin_state_up=lb.admin_state_up,
            provisioning_status=lb.provisioning_status,
            topology="ACTIVE_STANDBY" if lb.topology == "ACTIVE_STANDBY" else "SINGLE",
            failover_generation=lb.failover_generation or 0,
            listeners=listeners, pools=pools,
            member_ports={key: [_port(p) for p in ports]
                          for key, ports in member_ports.live(lb).items()},
            **amphorae.device_parts(lb, advert_int_ms)))


def deployed(session: Session, lb: m.LoadBalancer, revision: int | None,
             host: str | None = None, down_time: int = 75) -> None:
    if lb.provisioning_status == c.PENDING_DELETE:
        return
    if revision is not None and lb.revision > revision:
        return  # a newer change is on its way; its own confirmation will settle it
    if amphorae.is_active_standby(lb) and not amphorae.confirm(session, lb, revision,
                                                                host, down_time):
        return  # the other amphora's agent has still to realize it
    octavia.settle(session, lb, error=False)


def destroyed(session: Session, lb: m.LoadBalancer) -> None:
    if lb.provisioning_status == c.PENDING_DELETE:
        octavia.delete_loadbalancer_rows(session, lb)


def failed(session: Session, lb: m.LoadBalancer) -> None:
    """The agent could not realize the load balancer (``update_status`` ERROR)."""
    if lb.provisioning_status != c.PENDING_DELETE:
        octavia.settle(session, lb, error=True)


def member_status(session: Session, member: m.LbMember, status: str) -> None:
    lb = member.pool.loadbalancer
    octavia.refresh_operating_status(lb, {member.id: status})


def stats(session: Session, lb: m.LoadBalancer, report: dict[str, Any],
          counting: bool = True) -> None:
    """A stats report: per-listener counters (``listeners``, keyed by listener id),
    per-pool and per-member counters (``pools``, ``member_counters``) and member
    health (``members``: id → {"status": ACTIVE|INACTIVE|DOWN}). Without ``counting``
    (an ACTIVE_STANDBY BACKUP's report) only the health is taken."""
    epoch = str(report.get("epoch", ""))
    if counting:
        octavia.record_stats(session, lb, report.get("listeners") or {}, epoch)
        octavia.record_pool_and_member_stats(session, lb, report.get("pools") or {},
                                             report.get("member_counters") or {}, epoch)
    health = {member_id: info.get("status") for member_id, info in
              (report.get("members") or {}).items() if isinstance(info, dict)}
    octavia.refresh_operating_status(lb, {k: v for k, v in health.items() if v})
