"""A VIP built through the REST API answers a client on another subnet, balanced as the
pool says. Real namespaces, bridge, HAProxy and web servers (see conftest.py)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter

from tests.functional.e2e.conftest import (
    BACKENDS,
    GW_NS,
    Tenant,
    Topology,
    client_get,
    netns,
    wait_until,
)


def test_vip_answers_and_round_robin_spreads_evenly(tenant: Tenant) -> None:
    lb = tenant.create_lb()

    bodies = client_get(lb.url, 30)

    assert Counter(bodies) == {"b1": 10, "b2": 10, "b3": 10}
    pool = tenant.api.get(f"/lb/pools/{lb.pool_id}")["pool"]
    assert pool["status"] == "ACTIVE"
    port = tenant.api.get(f"/ports/{tenant.api.get(f'/lb/vips/{lb.vip_id}')['vip']['port_id']}")
    assert port["port"]["status"] == "ACTIVE"
    assert port["port"]["binding:host_id"] == "te-host"


def test_source_ip_method_sends_a_client_to_one_backend(tenant: Tenant) -> None:
    lb = tenant.create_lb(lb_method="SOURCE_IP")

    bodies = client_get(lb.url, 12)

    assert len(set(bodies)) == 1 and bodies[0] in ("b1", "b2", "b3")


def test_least_connections_avoids_the_busy_backend(tenant: Tenant,
                                                   topology: Topology) -> None:
    for name in BACKENDS:
        topology.start_backend(name, 80, "--slow", "6")
    try:
        lb = tenant.create_lb(lb_method="LEAST_CONNECTIONS")
        busy: list[str] = []
        hold = threading.Thread(target=lambda: busy.extend(
            client_get(lb.url + "slow", 1, timeout=15)))
        hold.start()
        time.sleep(1.0)  # the slow request is now held by one backend

        bodies = client_get(lb.url, 6)
        hold.join(20)

        assert busy and busy[0] in ("b1", "b2", "b3")
        assert busy[0] not in bodies, (busy, bodies)
        assert set(bodies) == {"b1", "b2", "b3"} - {busy[0]}
    finally:
        for name in BACKENDS:
            topology.start_backend(name)


def test_member_marked_inactive_when_backend_dies_and_active_when_back(
        tenant: Tenant, topology: Topology) -> None:
    lb = tenant.create_lb(monitor={"type": "TCP", "delay": 1, "timeout": 1,
                                   "max_retries": 1})
    member = f"/lb/members/{lb.members['b2']}"
    tenant.api.wait(member, "member", "ACTIVE")
    topology.stop_backend("b2")
    try:
        tenant.api.wait(member, "member", "INACTIVE", timeout=20)

        bodies = client_get(lb.url, 12)

        assert Counter(bodies) == {"b1": 6, "b3": 6}
    finally:
        topology.start_backend("b2")
    tenant.api.wait(member, "member", "ACTIVE", timeout=20)
    assert "b2" in client_get(lb.url, 6)


def test_no_client_error_while_a_backend_dies(tenant: Tenant, topology: Topology) -> None:
    lb = tenant.create_lb(monitor={"type": "TCP", "delay": 2, "timeout": 1,
                                   "max_retries": 3})
    topology.stop_backend("b1")
    try:
        # Before the monitor notices, HAProxy's retries and redispatch hide the dead one.
        bodies = client_get(lb.url, 15)
        assert not [b for b in bodies if b.startswith("ERR")], bodies
        assert "b1" not in bodies
    finally:
        topology.start_backend("b1")


def test_admin_down_vip_stops_serving_and_comes_back(tenant: Tenant) -> None:
    lb = tenant.create_lb()
    tenant.api.put(f"/lb/vips/{lb.vip_id}", {"vip": {"admin_state_up": False}})
    vip = tenant.api.wait(f"/lb/vips/{lb.vip_id}", "vip", "ACTIVE")
    assert vip["admin_state_up"] is False

    assert all(b.startswith("ERR") for b in client_get(lb.url, 3, timeout=2))

    tenant.api.put(f"/lb/vips/{lb.vip_id}", {"vip": {"admin_state_up": True}})
    tenant.api.wait(f"/lb/vips/{lb.vip_id}", "vip", "ACTIVE")
    assert set(client_get(lb.url, 3)) == {"b1", "b2", "b3"}


def test_admin_down_pool_stops_serving(tenant: Tenant) -> None:
    lb = tenant.create_lb()
    tenant.api.put(f"/lb/pools/{lb.pool_id}", {"pool": {"admin_state_up": False}})
    pool = tenant.api.wait(f"/lb/pools/{lb.pool_id}", "pool", "ACTIVE")
    assert pool["admin_state_up"] is False

    assert all(b.startswith("ERR") for b in client_get(lb.url, 3, timeout=2))

    tenant.api.put(f"/lb/pools/{lb.pool_id}", {"pool": {"admin_state_up": True}})
    tenant.api.wait(f"/lb/pools/{lb.pool_id}", "pool", "ACTIVE")
    assert set(client_get(lb.url, 3)) == {"b1", "b2", "b3"}


def test_source_ip_persistence_keeps_a_client_on_one_backend(tenant: Tenant) -> None:
    lb = tenant.create_lb(session_persistence={"type": "SOURCE_IP"})

    bodies = client_get(lb.url, 9)

    assert len(set(bodies)) == 1


def test_http_cookie_persistence_follows_the_cookie(tenant: Tenant) -> None:
    lb = tenant.create_lb(session_persistence={"type": "HTTP_COOKIE"})

    with_cookie = client_get(lb.url, 9, cookie_jar=True)
    without = client_get(lb.url, 9)

    assert len(set(with_cookie)) == 1
    assert set(without) == {"b1", "b2", "b3"}


def test_app_cookie_persistence_follows_the_application_cookie(tenant: Tenant) -> None:
    lb = tenant.create_lb(session_persistence={"type": "APP_COOKIE",
                                               "cookie_name": "APPSESSION"})
    # /setcookie makes the backend set APPSESSION=s-<name>; HAProxy learns it from the
    # response and sends later requests carrying it to the same backend.
    first = client_get(lb.url + "setcookie", 1, cookie_jar=True)
    followers = []
    for _ in range(3):
        followers += client_get(lb.url + "setcookie", 3, cookie_jar=True)

    assert first[0] in ("b1", "b2", "b3")
    for group in (followers[i:i + 3] for i in range(0, 9, 3)):
        assert len(set(group)) == 1, followers


def test_connection_limit_queues_beyond_the_limit(tenant: Tenant,
                                                  topology: Topology) -> None:
    topology.start_backend("b1", 80, "--slow", "2")
    try:
        lb = tenant.create_lb(backends=("b1",), connection_limit=1)
        results: list[list[str]] = []
        threads = [threading.Thread(target=lambda: results.append(
            client_get(lb.url + "slow", 1, timeout=15))) for _ in range(2)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - start

        assert [r[0] for r in results] == ["b1", "b1"]
        assert elapsed >= 3.5, f"two 2 s requests through maxconn 1 took {elapsed:.1f}s"
    finally:
        topology.start_backend("b1")


def test_default_route_from_a_host_route_when_the_subnet_has_no_gateway(
        tenant: Tenant) -> None:
    # Subnets of one network can't overlap: this variant gets a network of its own.
    net = tenant.api.post("/networks", {"network": {"name": "te-net2"}})["network"]
    subnet = tenant.api.post("/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.93.0.0/24", "gateway_ip": None,
        "allocation_pools": [{"start": "10.93.0.50", "end": "10.93.0.99"}],
        "host_routes": [{"destination": "0.0.0.0/0", "nexthop": "10.93.0.1"}]}})["subnet"]
    tenant.subnets.append(subnet)
    try:
        lb = tenant.create_lb(subnet=subnet)
        routes = netns(f"qlbaas-{lb.pool_id}", "ip", "route", "show", "default").stdout
        assert "via 10.93.0.1" in routes
        assert set(client_get(lb.url, 3)) == {"b1", "b2", "b3"}
    finally:
        for lb in list(tenant.lbs):
            tenant.delete_lb(lb)
        tenant.api.http.delete(f"/subnets/{subnet['id']}")
        tenant.subnets.remove(subnet)
        tenant.api.http.delete(f"/networks/{net['id']}")


def test_no_default_route_without_gateway_or_host_route(tenant: Tenant) -> None:
    net = tenant.api.post("/networks", {"network": {"name": "te-net3"}})["network"]
    subnet = tenant.api.post("/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.93.0.0/24", "gateway_ip": None,
        "allocation_pools": [{"start": "10.93.0.50", "end": "10.93.0.99"}]}})["subnet"]
    tenant.subnets.append(subnet)
    try:
        lb = tenant.create_lb(subnet=subnet)
        ns = f"qlbaas-{lb.pool_id}"
        assert netns(ns, "ip", "route", "show", "default").stdout.strip() == ""
        # Same-subnet clients still reach it (the gateway namespace is on the subnet)...
        assert client_get(lb.url, 1, ns=GW_NS)[0] in ("b1", "b2", "b3")
        # ...but replies to the client's subnet have no way back.
        assert client_get(lb.url, 1, timeout=2)[0].startswith("ERR")
    finally:
        for lb in list(tenant.lbs):
            tenant.delete_lb(lb)
        tenant.api.http.delete(f"/subnets/{subnet['id']}")
        tenant.subnets.remove(subnet)
        tenant.api.http.delete(f"/networks/{net['id']}")


def test_gratuitous_arp_updates_a_stale_neighbour_entry(tenant: Tenant) -> None:
    address = "10.93.0.77"
    # The router still remembers an old MAC for the address (a deleted VIP's).
    netns(GW_NS, "ip", "neigh", "replace", address, "lladdr", "fa:16:3e:00:00:01",
          "dev", "eth0", "nud", "stale")
    lb = tenant.create_lb(address=address)
    vip = tenant.api.get(f"/lb/vips/{lb.vip_id}")["vip"]
    mac = tenant.api.get(f"/ports/{vip['port_id']}")["port"]["mac_address"]

    def neighbour_has_new_mac() -> bool:
        out = netns(GW_NS, "ip", "neigh", "show", address, "dev", "eth0").stdout
        return mac in out

    wait_until(neighbour_has_new_mac, timeout=10, message=f"{address} → {mac} in {GW_NS}")


def test_vip_delete_removes_namespace_veth_state_and_port(tenant: Tenant) -> None:
    lb = tenant.create_lb()
    vip = tenant.api.get(f"/lb/vips/{lb.vip_id}")["vip"]
    ns = f"qlbaas-{lb.pool_id}"
    tap = "tap" + vip["port_id"][:11]
    assert ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                text=True).stdout

    tenant.api.delete(f"/lb/vips/{lb.vip_id}")
    tenant.api.wait(f"/lb/vips/{lb.vip_id}", "vip", "GONE")

    assert ns not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                    text=True).stdout
    assert subprocess.run(["ip", "link", "show", tap], capture_output=True).returncode != 0
    assert not (tenant.service.state / lb.pool_id).exists()
    assert tenant.api.http.get(f"/ports/{vip['port_id']}").status_code == 404
    assert lb.pool_id not in tenant.service.haproxy_pids()
    tenant.lbs.remove(lb)
    tenant.api.delete(f"/lb/pools/{lb.pool_id}")
    tenant.api.wait(f"/lb/pools/{lb.pool_id}", "pool", "GONE")
