"""Every string field a tenant (or an admin) can send, fed the characters that change the
meaning of an HAProxy configuration line or a command: newline, CR, '#', space, quotes,
backslash, '%', tab, NUL and the Unicode line separators. Each attempt is either refused
with a 400 and changes nothing, or accepted and leaves what the agent renders identical:
the HAProxy configuration (built by the agent's own renderer from the logical device the
server hands out) and the addresses and routes that reach netlink and arping.

A field whose value is placed in the configuration (an address, a URL path, a method,
codes, a cookie name) may only ever be accepted without any of those characters ('%'
is fine in a URL path: it is percent-encoding, and HAProxy reads it as a plain byte).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lbaas.agent.drivers.haproxy import cfg
from lbaas.agent.drivers.haproxy.namespace_driver import _port_l3
from lbaas.common.logical_device import LogicalDevice
from tests.api.builders import FakeAgent, make_network, make_pool, make_subnet
from tests.helpers.server import Api

PIECES = ["\n", "\r", "#", " ", '"', "'", "\\", "%", "\t", "\x00", "\u2028", "\u2029",
          "\x85", "\r\n    option external-check #"]
# What may never stand inside a value that is placed in the configuration.
STRUCTURAL = [p for p in PIECES if p != "%"]

SUBNET = "10.50.0.0/24"


class Lab:
    """One load balancer with every object, and a way to see what the agent renders."""

    def __init__(self, api: Api, physnet: str) -> None:
        self.api = api
        self.agent = FakeAgent(api, [physnet]).register()
        self.net = make_network(api, **{"provider:physical_network": physnet})
        self.subnet = make_subnet(api, self.net["id"], cidr=SUBNET,
                                  host_routes=[{"destination": "10.51.0.0/24",
                                                "nexthop": "10.50.0.254"}],
                                  dns_nameservers=["10.50.0.253"])
        self.pool = make_pool(api, self.subnet["id"])
        self.spare = make_pool(api, self.subnet["id"])
        self.member = api.create("member", pool_id=self.pool["id"], address="10.50.0.9",
                                 protocol_port=80)
        self.monitor = api.create("health_monitor", type="HTTP", delay=5, timeout=5,
                                  max_retries=3, url_path="/health", http_method="GET",
                                  expected_codes="200")
        api.post(f"/lb/pools/{self.pool['id']}/health_monitors",
                 {"health_monitor": {"id": self.monitor["id"]}})
        self.vip = api.create("vip", subnet_id=self.subnet["id"], protocol="HTTP",
                              protocol_port=80, pool_id=self.pool["id"],
                              session_persistence={"type": "APP_COOKIE",
                                                   "cookie_name": "APPSESSION"})
        self.port = api.create("port", network_id=self.net["id"], name="side")

    def rendered(self) -> tuple[str, Any]:
        # The typed device, as the agent gets it (/agent/v2).
        lb = LogicalDevice.model_validate(self.agent.typed_logical_device(
            self.pool["id"])).loadbalancer
        assert lb is not None
        view = cfg.build_view(lb, cfg.StatePaths("/state/sock", "/state/servers"),
                              user_group="nogroup", hard_stop_after=300)
        return cfg.render(view), _port_l3(lb.vip_port)


@pytest.fixture
def lab(api: Api, physnet: str) -> Lab:
    return Lab(api, physnet)


# (label, reaches the configuration, benign value, how to send a value)
Sender = Callable[[Lab, Any], Any]


def _put(kind: str, path: str, build: Callable[[Any], dict[str, Any]]) -> Sender:
    def send(lab: Lab, value: Any) -> Any:
        obj_id = {"network": lab.net, "subnet": lab.subnet, "pool": lab.pool,
                  "member": lab.member, "health_monitor": lab.monitor, "vip": lab.vip,
                  "port": lab.port}[kind]["id"]
        return lab.api.put(f"{path}/{obj_id}", {kind: build(value)})
    return send


def _post(kind: str, path: str, build: Callable[[Lab, Any], dict[str, Any]]) -> Sender:
    def send(lab: Lab, value: Any) -> Any:
        return lab.api.post(path, {kind: build(lab, value)})
    return send


FIELDS: list[tuple[str, bool, str, Sender]] = [
    ("network.name", False, "net", _put("network", "/networks", lambda v: {"name": v})),
    ("network.tenant_id", False, "proj", _post("network", "/networks",
                                               lambda lab, v: {"tenant_id": v})),
    ("network.provider:physical_network", False, "physnet", _post(
        "network", "/networks", lambda lab, v: {"provider:physical_network": v})),
    ("subnet.name", False, "sub", _put("subnet", "/subnets", lambda v: {"name": v})),
    ("subnet.cidr", True, "10.52.0.0/24", _post("subnet", "/subnets", lambda lab, v: {
        "network_id": lab.net["id"], "cidr": v})),
    ("subnet.gateway_ip", True, "10.50.0.1", _put("subnet", "/subnets",
                                                  lambda v: {"gateway_ip": v})),
    ("subnet.dns_nameservers", True, "10.50.0.253", _put(
        "subnet", "/subnets", lambda v: {"dns_nameservers": [v]})),
    ("subnet.host_routes.nexthop", True, "10.50.0.254", _put(
        "subnet", "/subnets",
        lambda v: {"host_routes": [{"destination": "10.51.0.0/24", "nexthop": v}]})),
    ("subnet.host_routes.destination", True, "10.51.0.0/24", _put(
        "subnet", "/subnets",
        lambda v: {"host_routes": [{"destination": v, "nexthop": "10.50.0.254"}]})),
    ("subnet.allocation_pools.start", True, "10.53.0.10", _post(
        "subnet", "/subnets", lambda lab, v: {
            "network_id": lab.net["id"], "cidr": "10.53.0.0/24",
            "allocation_pools": [{"start": v, "end": "10.53.0.20"}]})),
    ("port.name", False, "side", _put("port", "/ports", lambda v: {"name": v})),
    ("port.device_id", False, "dev", _put("port", "/ports", lambda v: {"device_id": v})),
    ("port.device_owner", False, "compute:x", _put("port", "/ports",
                                                   lambda v: {"device_owner": v})),
    ("port.binding:host_id", False, "host", _put("port", "/ports",
                                                 lambda v: {"binding:host_id": v})),
    ("port.fixed_ips.ip_address", True, "10.50.0.77", _put(
        "port", "/ports", lambda v: {"fixed_ips": [{"ip_address": v}]})),
    ("port.mac_address", True, "fa:16:3e:00:00:77", _post(
        "port", "/ports", lambda lab, v: {"network_id": lab.net["id"], "mac_address": v})),
    ("pool.name", False, "pool", _put("pool", "/lb/pools", lambda v: {"name": v})),
    ("pool.description", False, "desc", _put("pool", "/lb/pools",
                                             lambda v: {"description": v})),
    ("pool.provider", True, "haproxy", _post("pool", "/lb/pools", lambda lab, v: {
        "subnet_id": lab.subnet["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN",
        "provider": v})),
    ("pool.lb_method", True, "ROUND_ROBIN", _put("pool", "/lb/pools",
                                                 lambda v: {"lb_method": v})),
    ("member.address", True, "10.50.0.10", _post("member", "/lb/members", lambda lab, v: {
        "pool_id": lab.pool["id"], "address": v, "protocol_port": 80})),
    # IPv6: ipaddress alone takes a scope id ("fd00::10%<anything>") and prints it back.
    ("member.address.ipv6", True, "fd00::10", _post("member", "/lb/members", lambda lab, v: {
        "pool_id": lab.pool["id"], "address": v, "protocol_port": 80})),
    ("health_monitor.http_method", True, "GET", _put(
        "health_monitor", "/lb/health_monitors", lambda v: {"http_method": v})),
    ("health_monitor.url_path", True, "/health", _put(
        "health_monitor", "/lb/health_monitors", lambda v: {"url_path": v})),
    ("health_monitor.expected_codes", True, "200", _put(
        "health_monitor", "/lb/health_monitors", lambda v: {"expected_codes": v})),
    ("health_monitor.type", True, "HTTP", _post(
        "health_monitor", "/lb/health_monitors",
        lambda lab, v: {"type": v, "delay": 5, "timeout": 5, "max_retries": 3})),
    ("vip.name", False, "vip", _put("vip", "/lb/vips", lambda v: {"name": v})),
    ("vip.description", False, "desc", _put("vip", "/lb/vips",
                                            lambda v: {"description": v})),
    ("vip.session_persistence.cookie_name", True, "APPSESSION", _put(
        "vip", "/lb/vips", lambda v: {"session_persistence": {"type": "APP_COOKIE",
                                                              "cookie_name": v}})),
    ("vip.session_persistence.type", True, "APP_COOKIE", _put(
        "vip", "/lb/vips", lambda v: {"session_persistence": {"type": v,
                                                              "cookie_name": "APPSESSION"}})),
    ("vip.address", True, "10.50.0.88", _post("vip", "/lb/vips", lambda lab, v: {
        "subnet_id": lab.subnet["id"], "protocol": "HTTP", "protocol_port": 80,
        "pool_id": lab.spare["id"], "address": v})),
]


def _hostile(benign: str) -> list[str]:
    """The benign value with each piece appended, prepended and put in the middle."""
    middle = len(benign) // 2
    out = []
    for piece in PIECES:
        out += [benign + piece + "injected", benign + piece, piece + benign,
                benign[:middle] + piece + benign[middle:]]
    return out


def _undo(lab: Lab, label: str, send: Sender, benign: str, resp: Any) -> None:
    """Put an accepted change back, so the next attempt starts from the same config."""
    method = resp.request.method
    if method == "PUT":
        assert send(lab, benign).status_code == 200
    elif method == "POST":
        kind = label.split(".")[0]
        body = resp.json()[kind]
        path = {"network": "/networks", "subnet": "/subnets", "port": "/ports",
                "pool": "/lb/pools", "member": "/lb/members",
                "health_monitor": "/lb/health_monitors", "vip": "/lb/vips"}[kind]
        assert lab.api.delete(f"{path}/{body['id']}").status_code == 204


@pytest.mark.parametrize("label, reaches, benign, send", FIELDS,
                         ids=[f[0] for f in FIELDS])
def test_hostile_values_are_refused_or_change_nothing(lab: Lab, label: str, reaches: bool,
                                                      benign: str, send: Sender) -> None:
    baseline = lab.rendered()
    for value in _hostile(benign):
        resp = send(lab, value)
        if resp.status_code == 400:
            body = resp.json()
            assert body["NeutronError"]["type"] and body["NeutronError"]["message"], body
        else:
            assert resp.status_code in (200, 201), (label, value, resp.status_code, resp.text)
            if reaches:
                bad = [p for p in STRUCTURAL if p in value]
                assert not bad, f"{label} accepted {value!r} (contains {bad})"
            config, l3 = lab.rendered()
            # A value kept out of the configuration leaves it identical; one placed in it
            # stands as one value in its own place.
            if reaches:
                config = config.replace(value, benign)
            assert config == baseline[0], (label, value, config)
            assert l3 == baseline[1], (label, value)
            _undo(lab, label, send, benign, resp)
        assert lab.rendered() == baseline, (label, value)


# -- the Octavia v2 API ------------------------------------------------------------------

class V2Lab:
    """One v2 load balancer with every kind of object; the agent confirms each change, so
    the next one is not refused as "immutable"."""

    def __init__(self, api: Api, physnet: str) -> None:
        self.api = api
        self.agent = FakeAgent(api, [physnet]).register()
        net = make_network(api, **{"provider:physical_network": physnet})
        self.subnet = make_subnet(api, net["id"], cidr="10.54.0.0/24")
        lb = self.ok("POST", "/loadbalancers", {"loadbalancer": {
            "vip_subnet_id": self.subnet["id"], "name": "lb", "listeners": [{
                "protocol": "HTTP", "protocol_port": 80, "name": "l",
                "insert_headers": {"X-Forwarded-For": "true"},
                "allowed_cidrs": ["10.54.0.0/24"],
                "default_pool": {
                    "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "name": "p",
                    "session_persistence": {"type": "APP_COOKIE", "cookie_name": "APPS"},
                    "members": [{"address": "10.54.0.9", "protocol_port": 80, "name": "m",
                                 "monitor_address": "10.54.0.19"}],
                    "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 5,
                                      "max_retries": 3, "url_path": "/health",
                                      "http_method": "GET", "expected_codes": "200",
                                      "http_version": 1.1,
                                      "domain_name": "app.example.com"}}}]}})[
            "loadbalancer"]
        self.lb_id = lb["id"]
        self.settle()
        self.listener = self.ok("GET", f"/listeners/{lb['listeners'][0]['id']}")["listener"]
        self.pool = self.ok("GET", f"/pools/{self.listener['default_pool_id']}")["pool"]
        self.member = self.ok("GET", f"/pools/{self.pool['id']}/members")["members"][0]
        self.monitor = self.ok("GET", f"/healthmonitors/{self.pool['healthmonitor_id']}")[
            "healthmonitor"]

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.api.request(method, "/v2.0/lbaas" + path, body)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else None

    def send(self, method: str, path: str, body: Any) -> Any:
        return self.api.request(method, "/v2.0/lbaas" + path, body)

    def settle(self) -> None:
        self.agent.deployed(self.lb_id)

    def rendered(self) -> tuple[str, Any]:
        lb = LogicalDevice.model_validate(self.agent.typed_logical_device(
            self.lb_id)).loadbalancer
        assert lb is not None
        view = cfg.build_view(lb, cfg.StatePaths("/state/sock", "/state/servers"),
                              user_group="nogroup", hard_stop_after=300)
        return cfg.render(view), _port_l3(lb.vip_port)


@pytest.fixture
def v2lab(api: Api, physnet: str) -> V2Lab:
    return V2Lab(api, physnet)


V2Sender = Callable[[V2Lab, Any], Any]


def _v2_put(kind: str, build: Callable[[Any], dict[str, Any]],
            path: Callable[[V2Lab], str] | None = None) -> V2Sender:
    def send(lab: V2Lab, value: Any) -> Any:
        obj = {"loadbalancer": {"id": lab.lb_id}, "listener": lab.listener,
               "pool": lab.pool, "healthmonitor": lab.monitor}.get(kind)
        where = path(lab) if path else f"/{kind}s/{obj['id'] if obj else ''}"
        return lab.send("PUT", where, {kind: build(value)})
    return send


def _member_path(lab: V2Lab) -> str:
    return f"/pools/{lab.pool['id']}/members/{lab.member['id']}"


V2_FIELDS: list[tuple[str, bool, str, V2Sender]] = [
    ("loadbalancer.name", False, "lb", _v2_put("loadbalancer", lambda v: {"name": v})),
    ("loadbalancer.description", False, "d",
     _v2_put("loadbalancer", lambda v: {"description": v})),
    ("loadbalancer.tags", False, "t", _v2_put("loadbalancer", lambda v: {"tags": [v]})),
    ("listener.name", False, "l", _v2_put("listener", lambda v: {"name": v})),
    ("listener.allowed_cidrs", True, "10.54.0.0/24",
     _v2_put("listener", lambda v: {"allowed_cidrs": [v]})),
    ("listener.insert_headers.name", True, "X-Forwarded-For",
     _v2_put("listener", lambda v: {"insert_headers": {v: "true"}})),
    ("listener.insert_headers.value", True, "true",
     _v2_put("listener", lambda v: {"insert_headers": {"X-Forwarded-For": v}})),
    ("pool.name", False, "p", _v2_put("pool", lambda v: {"name": v})),
    ("pool.lb_algorithm", True, "ROUND_ROBIN", _v2_put("pool", lambda v: {"lb_algorithm": v})),
    ("pool.session_persistence.cookie_name", True, "APPS", _v2_put(
        "pool", lambda v: {"session_persistence": {"type": "APP_COOKIE", "cookie_name": v}})),
    ("member.name", False, "m", _v2_put("member", lambda v: {"name": v}, _member_path)),
    ("member.monitor_address", True, "10.54.0.19",
     _v2_put("member", lambda v: {"monitor_address": v}, _member_path)),
    ("healthmonitor.http_method", True, "GET",
     _v2_put("healthmonitor", lambda v: {"http_method": v})),
    ("healthmonitor.url_path", True, "/health",
     _v2_put("healthmonitor", lambda v: {"url_path": v})),
    ("healthmonitor.expected_codes", True, "200",
     _v2_put("healthmonitor", lambda v: {"expected_codes": v})),
    ("healthmonitor.domain_name", True, "app.example.com",
     _v2_put("healthmonitor", lambda v: {"domain_name": v})),
    ("healthmonitor.name", False, "h", _v2_put("healthmonitor", lambda v: {"name": v})),
    ("member.address", True, "10.54.0.10", lambda lab, v: lab.send(
        "POST", f"/pools/{lab.pool['id']}/members",
        {"member": {"address": v, "protocol_port": 80}})),
    ("listener.protocol", True, "TCP", lambda lab, v: lab.send("POST", "/listeners", {
        "listener": {"loadbalancer_id": lab.lb_id, "protocol": v, "protocol_port": 81}})),
    ("loadbalancer.vip_address", True, "10.54.0.77", lambda lab, v: lab.send(
        "POST", "/loadbalancers", {"loadbalancer": {"vip_subnet_id": lab.subnet["id"],
                                                    "vip_address": v}})),
]


@pytest.mark.parametrize("label, reaches, benign, send", V2_FIELDS,
                         ids=[f[0] for f in V2_FIELDS])
def test_v2_hostile_values_are_refused_or_change_nothing(
        v2lab: V2Lab, label: str, reaches: bool, benign: str, send: V2Sender) -> None:
    baseline = v2lab.rendered()
    for value in _hostile(benign):
        resp = send(v2lab, value)
        if resp.status_code == 400:
            body = resp.json()
            assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
            assert body["faultstring"], body
            assert v2lab.rendered() == baseline, (label, value)
            continue
        # Accepted: only a value without structure may be, and it stands in its place.
        assert resp.status_code in (200, 201, 202), (label, value, resp.text)
        if reaches:
            bad = [p for p in STRUCTURAL if p in value]
            assert not bad, f"{label} accepted {value!r} (contains {bad})"
        if resp.request.method == "POST":
            created = next(iter(resp.json().values()))
            if label == "loadbalancer.vip_address":
                v2lab.ok("DELETE", f"/loadbalancers/{created['id']}")
                continue
            v2lab.settle()
            config, l3 = v2lab.rendered()
            assert l3 == baseline[1]
            path = (f"/pools/{v2lab.pool['id']}/members/{created['id']}"
                    if label.startswith("member") else f"/listeners/{created['id']}")
            v2lab.ok("DELETE", path)
        else:
            v2lab.settle()
            config, l3 = v2lab.rendered()
            if reaches:
                config = config.replace(value, benign)
            assert config == baseline[0], (label, value, config)
            assert l3 == baseline[1], (label, value)
            assert send(v2lab, benign).status_code < 300
        v2lab.settle()
        assert v2lab.rendered() == baseline, (label, value)
