"""Octavia v2 response bodies, attribute for attribute as Octavia answers (clients read
fields such as ``vip_qos_policy_id`` or ``l7policies`` even when they are empty)."""

from __future__ import annotations

from typing import Any

from lbaas.server.api.v2.common import ids, timestamp
from lbaas.server.db import models as m


def _common(obj: Any) -> dict[str, Any]:
    return {"id": obj.id, "project_id": obj.tenant_id, "tenant_id": obj.tenant_id,
            "provisioning_status": obj.provisioning_status,
            "operating_status": obj.operating_status,
            "created_at": timestamp(obj.created_at), "updated_at": timestamp(obj.updated_at),
            "tags": list(obj.tags or [])}


def loadbalancer(lb: m.LoadBalancer) -> dict[str, Any]:
    return {**_common(lb), "name": lb.name, "description": lb.description,
            "admin_state_up": lb.admin_state_up, "vip_address": lb.vip_address,
            "vip_port_id": lb.vip_port_id, "vip_subnet_id": lb.vip_subnet_id,
            "vip_network_id": lb.vip_network_id, "vip_qos_policy_id": None,
            "vip_vnic_type": "normal", "vip_sg_ids": [], "additional_vips": [],
            "listeners": ids(lb.listeners), "pools": ids(lb.pools),
            "provider": lb.provider, "flavor_id": lb.flavor_id,
            "availability_zone": lb.availability_zone}


def listener(li: m.Listener) -> dict[str, Any]:
    return {**_common(li), "name": li.name, "description": li.description,
            "admin_state_up": li.admin_state_up, "protocol": li.protocol,
            "protocol_port": li.protocol_port, "connection_limit": li.connection_limit,
            "default_pool_id": li.default_pool_id,
            "default_tls_container_ref": li.default_tls_container_ref,
            "sni_container_refs": list(li.sni_container_refs or []),
            "l7policies": ids(_live(li.l7policies)),
            "insert_headers": dict(li.insert_headers or {}),
            "loadbalancers": [{"id": li.loadbalancer_id}],
            "timeout_client_data": li.timeout_client_data,
            "timeout_member_connect": li.timeout_member_connect,
            "timeout_member_data": li.timeout_member_data,
            "timeout_tcp_inspect": li.timeout_tcp_inspect,
            "client_ca_tls_container_ref": li.client_ca_tls_container_ref,
            "client_authentication": li.client_authentication or "NONE",
            "client_crl_container_ref": li.client_crl_container_ref,
            "allowed_cidrs": list(li.allowed_cidrs) if li.allowed_cidrs else None,
            "tls_ciphers": li.tls_ciphers, "tls_versions": _list(li.tls_versions),
            "alpn_protocols": _list(li.alpn_protocols), "hsts_max_age": li.hsts_max_age,
            "hsts_include_subdomains": bool(li.hsts_include_subdomains),
            "hsts_preload": bool(li.hsts_preload)}


def _list(value: list[Any] | None) -> list[Any] | None:
    return None if value is None else list(value)


def _live(objs: list[Any]) -> list[Any]:
    return [o for o in objs if o.provisioning_status != "PENDING_DELETE"]


def pool(p: m.LbPool) -> dict[str, Any]:
    # Octavia lists the listeners that send traffic to the pool: as their default pool
    # or through an L7 policy.
    listeners = [li for li in p.loadbalancer.listeners if li.default_pool_id == p.id or any(
        pol.redirect_pool_id == p.id for pol in _live(li.l7policies))]
    sp = dict(p.session_persistence) if p.session_persistence else None
    if sp is not None:
        sp.setdefault("cookie_name", None)
        sp.setdefault("persistence_timeout", None)
        sp.setdefault("persistence_granularity", None)
    return {**_common(p), "name": p.name, "description": p.description,
            "admin_state_up": p.admin_state_up, "protocol": p.protocol,
            "lb_algorithm": p.lb_algorithm, "session_persistence": sp,
            "loadbalancers": [{"id": p.loadbalancer_id}], "listeners": ids(listeners),
            "members": ids(p.members),
            "healthmonitor_id": p.healthmonitor.id if p.healthmonitor else None,
            "tls_container_ref": p.tls_container_ref,
            "ca_tls_container_ref": p.ca_tls_container_ref,
            "crl_container_ref": p.crl_container_ref, "tls_enabled": bool(p.tls_enabled),
            "tls_ciphers": p.tls_ciphers, "tls_versions": _list(p.tls_versions),
            "alpn_protocols": _list(p.alpn_protocols)}


def member(mem: m.LbMember) -> dict[str, Any]:
    return {**_common(mem), "name": mem.name, "admin_state_up": mem.admin_state_up,
            "address": mem.address, "protocol_port": mem.protocol_port,
            "weight": mem.weight, "backup": mem.backup, "subnet_id": mem.subnet_id,
            "monitor_address": mem.monitor_address, "monitor_port": mem.monitor_port,
            "vnic_type": "normal"}


def healthmonitor(hm: m.LbHealthMonitor) -> dict[str, Any]:
    return {**_common(hm), "name": hm.name, "type": hm.type, "delay": hm.delay,
            "timeout": hm.timeout, "max_retries": hm.max_retries,
            "max_retries_down": hm.max_retries_down, "http_method": hm.http_method,
            "http_version": hm.http_version, "domain_name": hm.domain_name,
            "url_path": hm.url_path, "expected_codes": hm.expected_codes,
            "admin_state_up": hm.admin_state_up, "pools": [{"id": hm.pool_id}]}


def l7policy(pol: m.L7Policy) -> dict[str, Any]:
    return {**_common(pol), "name": pol.name, "description": pol.description,
            "admin_state_up": pol.admin_state_up, "listener_id": pol.listener_id,
            "action": pol.action, "position": pol.position,
            "redirect_pool_id": pol.redirect_pool_id, "redirect_url": pol.redirect_url,
            "redirect_prefix": pol.redirect_prefix,
            "redirect_http_code": pol.redirect_http_code, "rules": ids(_live(pol.rules))}


def l7rule(rule: m.L7Rule) -> dict[str, Any]:
    return {**_common(rule), "type": rule.type, "compare_type": rule.compare_type,
            "key": rule.key, "value": rule.value, "invert": rule.invert,
            "admin_state_up": rule.admin_state_up}


def status_tree(lb: m.LoadBalancer) -> dict[str, Any]:
    """``GET /loadbalancers/{id}/status``: names, ids and both statuses, nested."""
    def statuses(obj: Any) -> dict[str, Any]:
        return {"id": obj.id, "name": obj.name,
                "provisioning_status": obj.provisioning_status,
                "operating_status": obj.operating_status}

    def pool_tree(p: m.LbPool) -> dict[str, Any]:
        tree = {**statuses(p), "members": [
            {**statuses(mem), "address": mem.address, "protocol_port": mem.protocol_port}
            for mem in p.members]}
        if p.healthmonitor is not None:
            tree["health_monitor"] = {**statuses(p.healthmonitor),
                                      "type": p.healthmonitor.type}
        return tree

    listeners = []
    for li in lb.listeners:
        used = {li.default_pool_id} | {pol.redirect_pool_id for pol in li.l7policies}
        pools = [pool_tree(p) for p in lb.pools if p.id in used]
        policies = [{**statuses(pol), "action": pol.action, "rules": [
            {"id": rule.id, "type": rule.type,
             "provisioning_status": rule.provisioning_status,
             "operating_status": rule.operating_status} for rule in pol.rules]}
            for pol in li.l7policies]
        listeners.append({**statuses(li), "pools": pools, "l7policies": policies})
    return {"statuses": {"loadbalancer": {**statuses(lb), "listeners": listeners}}}
