"""Integrity under concurrent requests: the schema, not luck, keeps one of each."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.api.builders import make_pool, make_subnet
from tests.helpers.server import Api, ServerProcess

CLIENTS = 20


def race(server: ServerProcess, project: str, method: str, path: str,
         body_of: Callable[[int], Any]) -> list[tuple[int, Any]]:
    """CLIENTS requests released together, one client (connection) each."""
    barrier = threading.Barrier(CLIENTS)

    def one(i: int) -> tuple[int, Any]:
        with Api(server.url, project=project) as api:
            api.get("/lb/pools", params={"limit": 1})  # connect before the start line
            barrier.wait(timeout=30)
            resp = api.request(method, path, body_of(i))
            try:
                body = resp.json()
            except ValueError:
                body = resp.text
            return resp.status_code, body

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def assert_one_winner(results: list[tuple[int, Any]]) -> None:
    codes = Counter(code for code, _ in results)
    assert codes == Counter({201: 1, 409: CLIENTS - 1}), (codes, results)
    for code, body in results:
        if code == 409:
            assert set(body) == {"NeutronError"}, body


def test_concurrent_duplicate_members(server: ServerProcess, api: Api) -> None:
    pool = make_pool(api, make_subnet(api, cidr="10.140.0.0/24")["id"])
    body = {"member": {"pool_id": pool["id"], "address": "10.140.0.10", "protocol_port": 80}}
    results = race(server, api.project or "", "POST", "/lb/members", lambda i: body)
    assert_one_winner(results)
    assert len(api.list("member", pool_id=pool["id"])) == 1
    assert len(api.show("pool", pool["id"])["members"]) == 1


def test_concurrent_vips_on_one_pool(server: ServerProcess, api: Api) -> None:
    pool = make_pool(api, make_subnet(api, cidr="10.141.0.0/24")["id"])

    def body(i: int) -> dict[str, Any]:
        return {"vip": {"pool_id": pool["id"], "subnet_id": pool["subnet_id"],
                        "protocol": "HTTP", "protocol_port": 80 + i}}

    results = race(server, api.project or "", "POST", "/lb/vips", body)
    assert_one_winner(results)
    [vip] = api.list("vip", pool_id=pool["id"])
    assert api.show("pool", pool["id"])["vip_id"] == vip["id"]
    # The losers left no port behind.
    ports = api.list("port", network_id=api.show("subnet", pool["subnet_id"])["network_id"])
    assert [p["id"] for p in ports] == [vip["port_id"]]


def test_concurrent_ports_never_share_an_address(server: ServerProcess, api: Api) -> None:
    sub = make_subnet(api, cidr="10.142.0.0/24")
    results = race(server, api.project or "", "POST", "/ports",
                   lambda i: {"port": {"network_id": sub["network_id"]}})
    assert Counter(code for code, _ in results) == Counter({201: CLIENTS}), results
    addresses = [body["port"]["fixed_ips"][0]["ip_address"] for _, body in results]
    macs = [body["port"]["mac_address"] for _, body in results]
    assert len(set(addresses)) == CLIENTS
    assert len(set(macs)) == CLIENTS


def test_concurrent_same_address_ports(server: ServerProcess, api: Api) -> None:
    sub = make_subnet(api, cidr="10.143.0.0/24")
    body = {"port": {"network_id": sub["network_id"],
                     "fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.143.0.9"}]}}
    assert_one_winner(race(server, api.project or "", "POST", "/ports", lambda i: body))
    assert len(api.list("port", network_id=sub["network_id"])) == 1


def test_concurrent_pools_respect_the_quota(server: ServerProcess, api: Api) -> None:
    sub = make_subnet(api, cidr="10.144.0.0/24")
    body = {"pool": {"subnet_id": sub["id"], "protocol": "TCP", "lb_method": "ROUND_ROBIN"}}
    results = race(server, api.project or "", "POST", "/lb/pools", lambda i: body)
    assert Counter(code for code, _ in results) == Counter({201: 10, 409: 10}), results
    assert len(api.list("pool", tenant_id=api.project)) == 10


def test_concurrent_associations(server: ServerProcess, api: Api) -> None:
    pool = make_pool(api, make_subnet(api, cidr="10.145.0.0/24")["id"])
    hm = api.create("health_monitor", type="TCP", delay=5, timeout=3, max_retries=3)
    results = race(server, api.project or "", "POST",
                   f"/lb/pools/{pool['id']}/health_monitors",
                   lambda i: {"health_monitor": {"id": hm["id"]}})
    assert_one_winner(results)
    assert api.show("pool", pool["id"])["health_monitors"] == [hm["id"]]


def test_concurrent_deletes(server: ServerProcess, api: Api) -> None:
    pool = make_pool(api, make_subnet(api, cidr="10.146.0.0/24")["id"])
    results = race(server, api.project or "", "DELETE", f"/lb/pools/{pool['id']}",
                   lambda i: None)
    # DELETE is idempotent: racing deletes may each see the row and answer 204; what
    # matters is no 500, every answer a 204 or a 404, and the pool gone.
    codes = Counter(code for code, _ in results)
    assert set(codes) <= {204, 404} and codes[204] >= 1, results
    assert api.get(f"/lb/pools/{pool['id']}").status_code == 404


def test_concurrent_vlan_networks_with_one_segment(server: ServerProcess, api: Api) -> None:
    body = {"network": {"provider:network_type": "vlan", "provider:segmentation_id": 42,
                        "provider:physical_network": f"phys-{api.project}"}}
    assert_one_winner(race(server, api.project or "", "POST", "/networks", lambda i: body))


def test_concurrent_first_heartbeats_register_one_agent(server: ServerProcess,
                                                        api: Api) -> None:
    host = f"host-{api.project}"
    body = {"host": host, "start_flag": True,
            "configurations": {"device_drivers": ["haproxy_ns"], "bridge_mappings": {}}}
    results = race(server, api.project or "", "POST", "/agent/v1/agents", lambda i: body)
    assert {code for code, _ in results} <= {200, 201}, results
    assert len([a for a in api.list("agent") if a["host"] == host]) == 1
