"""Small builders for the situations the API tests need, and a scripted agent.

Everything goes through the public HTTP API: a builder is what a tenant (or an agent)
would send, with sensible defaults so a test only spells out what it is about.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from typing import Any

import httpx

from tests.helpers.server import Api

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


def unique(prefix: str = "n") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_error(resp: httpx.Response, status: int) -> dict[str, Any]:
    """The status, and Neutron's error body: ``{"NeutronError": {type, message, detail}}``."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: wanted {status}, "
        f"got {resp.status_code}: {resp.text[:1000]}")
    body = resp.json()
    assert set(body) == {"NeutronError"}, body
    err = body["NeutronError"]
    assert isinstance(err, dict), body
    assert isinstance(err.get("type"), str) and err["type"], body
    assert isinstance(err.get("message"), str) and err["message"], body
    assert isinstance(err.get("detail"), str), body
    return dict(err)


def make_network(api: Api, **attrs: Any) -> dict[str, Any]:
    attrs.setdefault("name", unique("net"))
    return api.create("network", **attrs)


def make_subnet(api: Api, network_id: str | None = None, cidr: str = "10.0.0.0/24",
                **attrs: Any) -> dict[str, Any]:
    if network_id is None:
        network_id = make_network(api)["id"]
    version = ipaddress.ip_network(cidr).version
    attrs.setdefault("ip_version", version)
    return api.create("subnet", network_id=network_id, cidr=cidr, **attrs)


def make_pool(api: Api, subnet_id: str | None = None, *, physnet: str | None = None,
              **attrs: Any) -> dict[str, Any]:
    """A pool on a fresh network and subnet (on ``physnet`` if given) unless
    ``subnet_id`` is given."""
    if subnet_id is None:
        net_attrs = {"provider:physical_network": physnet} if physnet else {}
        subnet_id = make_subnet(api, make_network(api, **net_attrs)["id"])["id"]
    attrs.setdefault("name", unique("pool"))
    attrs.setdefault("protocol", "HTTP")
    attrs.setdefault("lb_method", "ROUND_ROBIN")
    return api.create("pool", subnet_id=subnet_id, **attrs)


def make_member(api: Api, pool_id: str, address: str = "10.0.0.10", protocol_port: int = 80,
                **attrs: Any) -> dict[str, Any]:
    return api.create("member", pool_id=pool_id, address=address,
                      protocol_port=protocol_port, **attrs)


def make_monitor(api: Api, type: str = "HTTP", delay: int = 5, timeout: int = 3,
                 max_retries: int = 3, **attrs: Any) -> dict[str, Any]:
    return api.create("health_monitor", type=type, delay=delay, timeout=timeout,
                      max_retries=max_retries, **attrs)


def make_vip(api: Api, pool: dict[str, Any], protocol_port: int = 80,
             **attrs: Any) -> dict[str, Any]:
    attrs.setdefault("name", unique("vip"))
    attrs.setdefault("subnet_id", pool["subnet_id"])
    attrs.setdefault("protocol", pool["protocol"])
    return api.create("vip", pool_id=pool["id"], protocol_port=protocol_port, **attrs)


def associate(api: Api, pool_id: str, monitor_id: str) -> httpx.Response:
    return api.post(f"/lb/pools/{pool_id}/health_monitors",
                    {"health_monitor": {"id": monitor_id}})


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Polls until ``predicate()`` is truthy; returns its value or fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout}s")
        time.sleep(interval)


class FakeAgent:
    """An agent scripted by the test, speaking the agent API of docs/architecture.md.

    Its host name is unique; ``physnets`` are the physical networks it maps (give it the
    test's own ``physnet`` so that only the test's pools are scheduled to it).
    """

    def __init__(self, api: Api, physnets: tuple[str, ...] | list[str] = (),
                 host: str | None = None) -> None:
        self.api = api
        self.host = host or unique("host")
        self.physnets = list(physnets)

    def heartbeat(self, start_flag: bool = False, instances: int = 0) -> httpx.Response:
        body = {
            "host": self.host,
            "start_flag": start_flag,
            "agent_type": "Loadbalancer agent",
            "configurations": {
                "device_drivers": ["haproxy_ns"],
                "bridge_mappings": {p: f"br-{i}" for i, p in enumerate(self.physnets)},
                "instances": instances,
            },
        }
        return self.api.post("/agent/v1/agents", body)

    def register(self) -> FakeAgent:
        resp = self.heartbeat(start_flag=True)
        assert resp.status_code in (200, 201), resp.text
        return self

    @property
    def record(self) -> dict[str, Any]:
        """This agent as ``GET /v2.0/agents`` shows it."""
        agents = [a for a in self.api.list("agent") if a["host"] == self.host]
        assert len(agents) == 1, agents
        return agents[0]

    def ready_devices(self) -> list[str]:
        resp = self.api.get(f"/agent/v1/hosts/{self.host}/ready_devices")
        assert resp.status_code == 200, resp.text
        return list(resp.json()["pool_ids"])

    def events(self, after: int, timeout: float) -> dict[str, Any]:
        resp = self.api.get(f"/agent/v1/hosts/{self.host}/events",
                            params={"after": after, "timeout": timeout},
                            timeout=timeout + 15)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def logical_device(self, pool_id: str) -> dict[str, Any]:
        resp = self.api.get(f"/agent/v1/logical_devices/{pool_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def typed_logical_device(self, pool_id: str) -> dict[str, Any]:
        """The typed device's JSON (lbaas.common.logical_device), as agents get it."""
        resp = self.api.get(f"/agent/v2/logical_devices/{pool_id}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def _ok(self, resp: httpx.Response) -> httpx.Response:
        assert resp.status_code in (200, 201, 204), (
            f"{resp.request.method} {resp.request.url} → {resp.status_code}: {resp.text}")
        return resp

    def deployed(self, pool_id: str, revision: int | None = None) -> httpx.Response:
        """``revision``: the logical device's that was realized (None: whatever is
        current, as a v1 agent would confirm)."""
        body = {} if revision is None else {"revision": revision}
        return self._ok(self.api.post(f"/agent/v1/pools/{pool_id}/deployed", body))

    def destroyed(self, pool_id: str) -> httpx.Response:
        return self._ok(self.api.post(f"/agent/v1/pools/{pool_id}/destroyed", {}))

    def update_status(self, obj_type: str, obj_id: str, status: str,
                      status_description: str | None = None) -> httpx.Response:
        return self.api.post("/agent/v1/status", {
            "obj_type": obj_type, "obj_id": obj_id, "status": status,
            "status_description": status_description})

    def stats(self, pool_id: str, *, epoch: str, bytes_in: int = 0, bytes_out: int = 0,
              active_connections: int = 0, total_connections: int = 0,
              members: dict[str, dict[str, str]] | None = None) -> httpx.Response:
        return self._ok(self.api.post(f"/agent/v1/pools/{pool_id}/stats", {
            "host": self.host,
            "stats": {"bytes_in": bytes_in, "bytes_out": bytes_out,
                      "active_connections": active_connections,
                      "total_connections": total_connections, "epoch": epoch,
                      "members": members or {}}}))

    def plug(self, port_id: str) -> httpx.Response:
        return self._ok(self.api.post(f"/agent/v1/ports/{port_id}/plug", {"host": self.host}))

    def unplug(self, port_id: str) -> httpx.Response:
        return self._ok(self.api.post(f"/agent/v1/ports/{port_id}/unplug",
                                      {"host": self.host}))


def bound_host(api: Api, pool_id: str) -> str | None:
    """The host of the agent the pool is bound to (``/lb/pools/{id}/loadbalancer-agent``),
    None when unbound."""
    resp = api.get(f"/lb/pools/{pool_id}/loadbalancer-agent")
    assert resp.status_code == 200, resp.text
    agent = resp.json().get("agent")
    return agent["host"] if agent else None


def agent_pools(api: Api, agent: FakeAgent) -> list[str]:
    """Pool ids ``/v2.0/agents/{id}/loadbalancer-pools`` lists for the agent."""
    resp = api.get(f"/agents/{agent.record['id']}/loadbalancer-pools")
    assert resp.status_code == 200, resp.text
    return [p["id"] for p in resp.json()["pools"]]


def stats_of(api: Api, pool_id: str) -> dict[str, int]:
    """``GET /v2.0/lb/pools/{id}/stats``, unwrapped."""
    resp = api.get(f"/lb/pools/{pool_id}/stats")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["stats"])


def make_v2_lb(api: Api, physnet: str, cidr: str = "10.1.0.0/24") -> dict[str, Any]:
    """An Octavia load balancer on a new network of ``physnet``."""
    net = make_network(api, **{"provider:physical_network": physnet})
    subnet = make_subnet(api, net["id"], cidr=cidr)
    resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {"vip_subnet_id":
                                                                  subnet["id"]}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["loadbalancer"])


def hosting_agent(api: Api, lb_id: str) -> dict[str, Any] | None:
    """The agent hosting an Octavia load balancer
    (``/lbaas/loadbalancers/{id}/loadbalancer-hosting-agent``), None when unbound."""
    resp = api.get(f"/lbaas/loadbalancers/{lb_id}/loadbalancer-hosting-agent")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"agent"}, body
    return body["agent"]  # type: ignore[no-any-return]
