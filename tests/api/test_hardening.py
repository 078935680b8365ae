"""The holes found by probing the API as an attacker would, each closed and kept closed:
configuration injection through IPv6 scope ids, unauthenticated memory exhaustion,
admin-only network attributes, squatted ports and the port quota, limits the API and the
agent disagreed on, subnet updates that skipped create's checks, pagination links built
from raw input, and two fixed_ips on one subnet. (docs/security.md)"""

from __future__ import annotations

import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.builders import FakeAgent, assert_error, make_network, make_pool, make_subnet
from tests.helpers.server import Api, ServerProcess

TOKENS = [("admin-token", "admin", "admin"), ("alice-token", "project-a", "member")]


@pytest.fixture(scope="module")
def token_server(backend: str, server_factory: Any) -> Iterator[ServerProcess]:
    srv = server_factory(backend, auth_strategy="token", tokens=TOKENS,
                         conf={"quotas": {"quota_pool": -1, "quota_vip": -1,
                                          "quota_port": 3}})
    yield srv
    srv.cleanup()


@pytest.fixture
def admin(token_server: ServerProcess) -> Iterator[Api]:
    with Api(token_server.url, token="admin-token") as api:
        yield api


@pytest.fixture
def alice(token_server: ServerProcess) -> Iterator[Api]:
    with Api(token_server.url, token="alice-token") as api:
        yield api


def _pool_with_vip(api: Api, cidr: str = "10.0.0.0/24", **net: Any) -> dict[str, Any]:
    subnet = make_subnet(api, make_network(api, **net)["id"], cidr=cidr)
    pool = make_pool(api, subnet["id"])
    api.create("vip", subnet_id=subnet["id"], protocol="HTTP", protocol_port=80,
               pool_id=pool["id"])
    return {"subnet": subnet, "pool": pool}


# -- 1. IPv6 scope ids and non-canonical addresses ----------------------------------------

INJECTED = "fe80::1%1\n    option external-check #"
NOT_CANONICAL = [INJECTED, "fe80::1%1", "fe80::1%eth0", "FE80::1", "fe80:0:0:0:0:0:0:1",
                 "::FFFF:10.0.0.1", "10.0.0.1\n", " 10.0.0.1", "10.0.0.1 ", "٢.0.0.1",
                 "10.0.0.1#x", "10.0.0.1\x00"]


@pytest.mark.parametrize("address", NOT_CANONICAL)
def test_member_address_must_be_canonical(api: Api, address: str) -> None:
    pool = make_pool(api, make_subnet(api, cidr="fe80::/64", gateway_ip=None)["id"])
    resp = api.post("/lb/members", {"member": {"pool_id": pool["id"], "address": address,
                                               "protocol_port": 80}})
    assert_error(resp, 400)
    assert api.show("pool", pool["id"])["members"] == []


def test_every_address_field_refuses_a_scope_id(api: Api) -> None:
    net = make_network(api)
    subnet = make_subnet(api, net["id"], cidr="fe80::/64", gateway_ip=None)
    pool = make_pool(api, subnet["id"])
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/lb/vips", {"vip": {"subnet_id": subnet["id"], "protocol": "HTTP",
                                      "protocol_port": 80, "pool_id": pool["id"],
                                      "address": INJECTED}}),
        ("PUT", f"/subnets/{subnet['id']}", {"subnet": {"gateway_ip": INJECTED}}),
        ("PUT", f"/subnets/{subnet['id']}", {"subnet": {"dns_nameservers": [INJECTED]}}),
        ("PUT", f"/subnets/{subnet['id']}", {"subnet": {"host_routes": [
            {"destination": "fd00::/64", "nexthop": INJECTED}]}}),
        ("POST", "/subnets", {"subnet": {"network_id": net["id"], "cidr": "fd00:1::/64",
                                         "ip_version": 6, "gateway_ip": INJECTED}}),
        ("POST", "/subnets", {"subnet": {"network_id": net["id"], "cidr": "fd00:2::/64",
                                         "ip_version": 6, "allocation_pools": [
                                             {"start": INJECTED, "end": "fd00:2::9"}]}}),
        ("POST", "/ports", {"port": {"network_id": net["id"], "fixed_ips": [
            {"subnet_id": subnet["id"], "ip_address": INJECTED}]}}),
    ]
    for method, path, body in attempts:
        err = assert_error(api.request(method, path, body), 400)
        assert "IP address" in err["message"], err
    assert api.show("subnet", subnet["id"])["gateway_ip"] is None
    assert api.list("vip", pool_id=pool["id"]) == []
    assert api.list("port", network_id=net["id"]) == []


def test_canonical_ipv6_is_accepted(api: Api) -> None:
    pool = make_pool(api, make_subnet(api, cidr="fd00:9::/64")["id"])
    member = api.create("member", pool_id=pool["id"], address="fd00:9::a", protocol_port=80)
    assert member["address"] == "fd00:9::a"


# -- 2. request bodies: capped, and never read before authentication ----------------------

def _rss_kib(server: ServerProcess) -> int:
    assert server.proc is not None
    for line in open(f"/proc/{server.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _send_raw(server: ServerProcess, head: str, body_size: int) -> bytes:
    """Send ``head`` then up to ``body_size`` bytes of body, stopping when the server
    closes; return what it answered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < body_size:
                sent += sock.send(chunk[:body_size - sent])
        except OSError:
            pass  # the server answered and closed: what we wanted
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except OSError:
            pass
        return answer


def test_big_body_without_token_is_refused_unread(token_server: ServerProcess) -> None:
    before = _rss_kib(token_server)
    size = 25 * 1024 * 1024
    for _ in range(4):
        answer = _send_raw(token_server,
                           "POST /v2.0/lb/pools HTTP/1.1\r\nHost: x\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n",
                           size)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b'"NeutronError"' in answer
    time.sleep(0.5)
    # Four 25 MB bodies cost nothing: they were never read.
    assert _rss_kib(token_server) - before < 20 * 1024


def test_big_body_with_token_is_413(token_server: ServerProcess, admin: Api) -> None:
    big = {"network": {"name": "x" * (2 * 1024 * 1024)}}
    resp = admin.post("/networks", big)
    err = assert_error(resp, 413)
    assert "1048576" in err["message"]
    assert [n for n in admin.list("network") if n["name"].startswith("xxxx")] == []


def test_chunked_body_over_the_cap_is_413(token_server: ServerProcess) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"network": {"name": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}}'
    resp = httpx.post(f"{token_server.url}/v2.0/networks", content=chunks(),
                      headers={"X-Auth-Token": "admin-token"}, timeout=30)
    assert resp.status_code == 413, resp.text
    assert resp.json()["NeutronError"]["type"] == "RequestEntityTooLarge"


def test_body_under_the_cap_works(admin: Api) -> None:
    assert admin.create("network", name="n" * 255)["name"] == "n" * 255


# -- 3. admin-only network attributes -----------------------------------------------------

@pytest.mark.parametrize("attrs", [{"shared": True},
                                   {"provider:network_type": "vlan",
                                    "provider:segmentation_id": 3001},
                                   {"provider:physical_network": "physnet-x"},
                                   {"provider:network_type": "flat"}])
def test_tenant_cannot_set_admin_only_network_attributes(alice: Api, admin: Api,
                                                         attrs: dict[str, Any]) -> None:
    resp = alice.post("/networks", {"network": {"name": "squat", **attrs}})
    err = assert_error(resp, 403)
    assert err["type"] == "PolicyNotAuthorized"
    assert [n for n in admin.list("network") if n["name"] == "squat"] == []


def test_tenant_cannot_share_its_network(alice: Api) -> None:
    net = make_network(alice, shared=False)  # stating the default is fine
    assert_error(alice.put(f"/networks/{net['id']}", {"network": {"shared": True}}), 403)
    assert alice.show("network", net["id"])["shared"] is False


def test_admin_sets_provider_attributes_for_a_tenant(admin: Api, alice: Api) -> None:
    net = make_network(admin, tenant_id="project-a", shared=True,
                       **{"provider:network_type": "vlan", "provider:segmentation_id": 3002,
                          "provider:physical_network": "physnet-y"})
    assert alice.show("network", net["id"])["provider:segmentation_id"] == 3002


# -- 4. squatted ports and the port quota -------------------------------------------------

def test_tenant_cannot_create_a_loadbalancer_port(admin: Api, alice: Api) -> None:
    net = make_network(admin, shared=True)
    make_subnet(admin, net["id"], cidr="10.40.0.0/24")
    body = {"network_id": net["id"], "device_owner": "neutron:LOADBALANCER"}
    assert_error(alice.post("/ports", {"port": body}), 403)
    port = alice.create("port", network_id=net["id"])
    assert_error(alice.put(f"/ports/{port['id']}",
                           {"port": {"device_owner": "neutron:LOADBALANCER"}}), 403)
    # On someone else's network, the address is the network owner's choice.
    assert_error(alice.post("/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"ip_address": "10.40.0.77"}]}}), 403)
    # The admin can remove the tenant's port and then the network.
    admin.remove("port", port["id"])
    admin.remove("network", net["id"])


def test_admin_deletes_a_port_that_only_claims_a_loadbalancer(admin: Api) -> None:
    net = make_network(admin)
    make_subnet(admin, net["id"], cidr="10.41.0.0/24")
    port = admin.create("port", network_id=net["id"], device_owner="neutron:LOADBALANCER")
    admin.remove("port", port["id"])
    admin.remove("network", net["id"])


def test_a_vips_port_stays_with_its_vip(api: Api) -> None:
    lb = _pool_with_vip(api, cidr="10.42.0.0/24")
    vip = api.list("vip", pool_id=lb["pool"]["id"])[0]
    assert_error(api.delete(f"/ports/{vip['port_id']}"), 409)
    assert_error(api.put(f"/ports/{vip['port_id']}", {"port": {"fixed_ips": []}}), 409)
    assert api.show("port", vip["port_id"])["device_id"] == vip["id"]


def test_ports_have_a_quota(admin: Api, alice: Api) -> None:
    net = make_network(alice)
    make_subnet(alice, net["id"], cidr="10.43.0.0/24")
    # quota_port = 3 on this server; VIP ports do not count (quota_vip does).
    lb_subnet = make_subnet(alice, make_network(alice)["id"], cidr="10.44.0.0/24")
    pool = make_pool(alice, lb_subnet["id"])
    alice.create("vip", subnet_id=lb_subnet["id"], protocol="HTTP", protocol_port=80,
                 pool_id=pool["id"])
    mine = [p for p in alice.list("port") if p["device_owner"] != "neutron:LOADBALANCER"]
    for _ in range(3 - len(mine)):
        alice.create("port", network_id=net["id"])
    err = assert_error(alice.post("/ports", {"port": {"network_id": net["id"]}}), 409)
    assert err["type"] == "OverQuota" and "port" in err["message"]


# -- 5. one definition of every limit -----------------------------------------------------

@pytest.mark.parametrize("attrs", [{"http_method": "X-Y"}, {"http_method": "A_B"},
                                   {"delay": 86401}, {"timeout": 86401},
                                   {"expected_codes": "٢٠٠"}, {"expected_codes": "２００"},
                                   {"expected_codes": "200-２０４"}])
def test_monitor_values_the_agent_would_refuse_are_400(api: Api,
                                                       attrs: dict[str, Any]) -> None:
    body = {"type": "HTTP", "delay": 5, "timeout": 5, "max_retries": 3, **attrs}
    assert_error(api.post("/lb/health_monitors", {"health_monitor": body}), 400)


@pytest.mark.parametrize("attrs", [
    {"connection_limit": 10000001},
    {"session_persistence": {"type": "APP_COOKIE", "cookie_name": "c" * 129}},
    {"session_persistence": {"type": "APP_COOKIE", "cookie_name": "c" * 255}},
])
def test_vip_values_the_agent_would_refuse_are_400(api: Api, attrs: dict[str, Any]) -> None:
    subnet = make_subnet(api, cidr="10.45.0.0/24")
    pool = make_pool(api, subnet["id"])
    body = {"subnet_id": subnet["id"], "protocol": "HTTP", "protocol_port": 80,
            "pool_id": pool["id"], **attrs}
    assert_error(api.post("/lb/vips", {"vip": body}), 400)


def test_the_limits_themselves_reach_the_agent(api: Api, physnet: str) -> None:
    """The largest values the API takes are ones the agent renders."""
    from lbaas.agent.drivers.haproxy import cfg
    from lbaas.common.logical_device import LogicalDevice

    agent = FakeAgent(api, [physnet]).register()
    subnet = make_subnet(api, make_network(api, **{"provider:physical_network": physnet})[
        "id"], cidr="10.46.0.0/24")
    pool = make_pool(api, subnet["id"])
    monitor = api.create("health_monitor", type="HTTP", delay=86400, timeout=86400,
                         max_retries=10, http_method="OPTIONS", expected_codes="200-299")
    api.post(f"/lb/pools/{pool['id']}/health_monitors",
             {"health_monitor": {"id": monitor["id"]}})
    api.create("member", pool_id=pool["id"], address="10.46.0.9", protocol_port=65535,
               weight=256)
    api.create("vip", subnet_id=subnet["id"], protocol="HTTP", protocol_port=80,
               pool_id=pool["id"], connection_limit=10_000_000,
               session_persistence={"type": "APP_COOKIE", "cookie_name": "c" * 128})
    device = LogicalDevice.model_validate(agent.typed_logical_device(pool["id"]))
    view = cfg.build_view(device.loadbalancer, cfg.StatePaths("/s", "/t"),
                          user_group="nogroup", hard_stop_after=300)
    assert view.frontends[0].maxconn == 10_000_000
    assert view.backends[0].health_check is not None
    assert view.backends[0].health_check.inter_s == 86400


# -- 6. subnet updates keep create's rules -------------------------------------------------

def test_subnet_gateway_update_is_checked(api: Api) -> None:
    net = make_network(api)
    subnet = make_subnet(api, net["id"], cidr="10.47.0.0/24",
                         allocation_pools=[{"start": "10.47.0.100", "end": "10.47.0.200"}])
    port = api.create("port", network_id=net["id"], fixed_ips=[{"ip_address": "10.47.0.5"}])
    path = f"/subnets/{subnet['id']}"
    assert_error(api.put(path, {"subnet": {"gateway_ip": "10.47.0.0"}}), 400)
    assert_error(api.put(path, {"subnet": {"gateway_ip": "10.47.0.255"}}), 400)
    assert_error(api.put(path, {"subnet": {"gateway_ip": "10.48.0.1"}}), 400)
    assert_error(api.put(path, {"subnet": {"gateway_ip": "10.47.0.5"}}), 409)
    assert_error(api.put(path, {"subnet": {"gateway_ip": "10.47.0.150"}}), 409)
    assert api.show("subnet", subnet["id"])["gateway_ip"] == "10.47.0.1"
    assert api.update("subnet", subnet["id"], gateway_ip="10.47.0.6")["gateway_ip"] == \
        "10.47.0.6"
    # A VIP never gets the gateway's address.
    pool = make_pool(api, subnet["id"])
    vip = api.create("vip", subnet_id=subnet["id"], protocol="HTTP", protocol_port=80,
                     pool_id=pool["id"])
    assert vip["address"] not in ("10.47.0.6", "10.47.0.5")
    api.remove("port", port["id"])


# -- 7. pagination links ------------------------------------------------------------------

def test_pagination_links_encode_every_value(api: Api) -> None:
    for _ in range(3):
        make_network(api)
    resp = api.get("/networks", params={"limit": 1, "fields": "x&tenant_id=other"})
    assert resp.status_code == 200, resp.text
    href = resp.json()["networks_links"][0]["href"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
    assert query["fields"] == ["x&tenant_id=other"]
    assert "tenant_id" not in query


def test_pagination_links_use_the_public_endpoint(backend: str, server_factory: Any) -> None:
    srv = server_factory(backend, conf={"DEFAULT": {
        "public_endpoint": "https://lb.example.test:9443/"}})
    try:
        with Api(srv.url, project="p-links") as api:
            for _ in range(2):
                make_network(api)
            resp = api.get("/networks", params={"limit": 1}, headers={"Host": "evil.test"})
            href = resp.json()["networks_links"][0]["href"]
            assert href.startswith("https://lb.example.test:9443/v2.0/networks?"), href
    finally:
        srv.cleanup()


# -- 8. fixed_ips on one subnet; /docs without internet -----------------------------------

def test_two_fixed_ips_on_one_subnet_get_two_addresses(api: Api) -> None:
    net = make_network(api)
    subnet = make_subnet(api, net["id"], cidr="10.49.0.0/24")
    port = api.create("port", network_id=net["id"],
                      fixed_ips=[{"subnet_id": subnet["id"]}, {"subnet_id": subnet["id"]}])
    addresses = [f["ip_address"] for f in port["fixed_ips"]]
    assert len(set(addresses)) == 2, addresses
    resp = api.post("/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"ip_address": "10.49.0.50"}, {"ip_address": "10.49.0.50"}]}})
    assert_error(resp, 400)


def test_docs_load_without_internet(server: ServerProcess) -> None:
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(u.endswith("swagger-ui-bundle.js") for u in urls), urls
    assert any(u.endswith("swagger-ui.css") for u in urls), urls
    for url in urls:
        # Everything the page loads comes from this server.
        assert url.startswith("/"), url
        resp = httpx.get(server.url + url)
        assert resp.status_code == 200 and len(resp.content) > 100, url
