"""The Octavia v2 API over HTTP, as Octavia's clients meet it: load balancers (with a
full tree in one call), listeners, pools, members (and their batch update), health
monitors, the status machine an agent drives (immutable while pending, ACTIVE when the
agent confirms, gone when it confirms a delete), status tree, stats that never go
backwards, lists (filters, fields, sort, pages, tags), quotas, providers, flavors, and
Octavia's error body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.builders import FakeAgent, make_network, make_subnet
from tests.helpers.server import Api

V2 = "/v2/lbaas"  # Api prefixes /v2.0; these paths are absolute


class Octavia:
    """A client of the v2 API in the test's project, and the test's agent."""

    def __init__(self, api: Api, agent: FakeAgent, subnet: dict[str, Any],
                 prefix: str = "/v2.0/lbaas") -> None:
        self.api, self.agent, self.subnet, self.prefix = api, agent, subnet, prefix

    def url(self, path: str) -> str:
        return self.prefix + path

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.api.request(method, self.url(path), body, **kw)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200,
           **kw: Any) -> Any:
        resp = self.request(method, path, body, **kw)
        assert resp.status_code == status, f"{method} {path} → {resp.status_code}: {resp.text}"
        return resp.json() if resp.content else None

    def fault(self, resp: httpx.Response, status: int) -> str:
        assert resp.status_code == status, f"wanted {status}, got {resp.status_code}: " \
                                           f"{resp.text}"
        body = resp.json()
        assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
        assert body["faultcode"] == "Client" and body["debuginfo"] is None, body
        return str(body["faultstring"])

    def create_lb(self, **attrs: Any) -> dict[str, Any]:
        body = {"vip_subnet_id": self.subnet["id"], **attrs}
        return dict(self.ok("POST", "/loadbalancers", {"loadbalancer": body}, 201)[
            "loadbalancer"])

    def show(self, kind: str, obj_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/{kind}s/{obj_id}")[kind])

    def deploy(self, lb_id: str) -> None:
        """The agent realized the load balancer."""
        assert lb_id in self.agent.ready_devices()
        self.agent.deployed(lb_id)

    def active_lb(self, **attrs: Any) -> dict[str, Any]:
        lb = self.create_lb(**attrs)
        self.deploy(lb["id"])
        return self.show("loadbalancer", lb["id"])


@pytest.fixture
def octavia(api: Api, physnet: str) -> Octavia:
    agent = FakeAgent(api, [physnet]).register()
    net = make_network(api, **{"provider:physical_network": physnet})
    subnet = make_subnet(api, net["id"], cidr="10.60.0.0/24")
    return Octavia(api, agent, subnet)


TREE = {"listeners": [{"protocol": "HTTP", "protocol_port": 80, "name": "web",
                       "default_pool": {
                           "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "name": "p",
                           "members": [{"address": "10.60.0.11", "protocol_port": 80},
                                       {"address": "10.60.0.12", "protocol_port": 80}],
                           "healthmonitor": {"type": "HTTP", "delay": 2, "timeout": 1,
                                             "max_retries": 2}}}]}


def test_version_document_names_v2(api: Api) -> None:
    body = api.get("/").json()
    assert body["versions"][0]["id"] == "v2.0"
    assert body["versions"][0]["status"] == "CURRENT"
    assert body["versions"][0]["links"][0]["href"].endswith("/v2")


def test_single_call_create_then_agent_makes_it_active(octavia: Octavia) -> None:
    lb = octavia.create_lb(name="lb1", **TREE)
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["provider"] == "haproxy_ns" and len(lb["listeners"]) == 1
    port = octavia.api.get(f"/ports/{lb['vip_port_id']}").json()["port"]
    assert port["fixed_ips"][0]["ip_address"] == lb["vip_address"]
    # Until the agent confirms, the load balancer is immutable.
    resp = octavia.request("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 8080}})
    assert octavia.fault(resp, 409) == \
        f"Load Balancer {lb['id']} is immutable and cannot be updated."
    octavia.deploy(lb["id"])
    tree = octavia.ok("GET", f"/loadbalancers/{lb['id']}/status")["statuses"]["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE" and tree["operating_status"] == "ONLINE"
    pool = tree["listeners"][0]["pools"][0]
    assert pool["provisioning_status"] == "ACTIVE"
    assert [m["provisioning_status"] for m in pool["members"]] == ["ACTIVE", "ACTIVE"]
    assert pool["health_monitor"]["provisioning_status"] == "ACTIVE"


def test_single_call_create_keeps_the_bodys_order(octavia: Octavia) -> None:
    # The tree is written by one flush: lists (ordered by creation time) still come
    # back in the body's order, and the listener's default pool is the one it carried.
    addresses = [f"10.60.0.{n}" for n in (31, 22, 43, 14, 25, 16)]
    body = {"pools": [{"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "name": "side"}],
            "listeners": [
                {"protocol": "HTTP", "protocol_port": port, "default_pool": {
                    "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": a, "protocol_port": port} for a in addresses]}}
                for port in (81, 80, 82)]}
    lb = octavia.create_lb(**body)
    listeners = [octavia.show("listener", li["id"]) for li in lb["listeners"]]
    assert [li["protocol_port"] for li in listeners] == [81, 80, 82]
    pools = [octavia.show("pool", p["id"]) for p in lb["pools"]]
    assert [p["name"] for p in pools][0] == "side"
    for listener in listeners:
        pool = octavia.show("pool", listener["default_pool_id"])
        assert pool["listeners"] == [{"id": listener["id"]}]
        members = octavia.ok("GET", f"/pools/{pool['id']}/members")["members"]
        assert [m["address"] for m in members] == addresses
        assert {m["protocol_port"] for m in members} == {listener["protocol_port"]}


def test_sdk_prefix_serves_the_same_objects(octavia: Octavia) -> None:
    lb = octavia.create_lb(name="both")
    other = Octavia(octavia.api, octavia.agent, octavia.subnet, prefix=V2)
    assert other.show("loadbalancer", lb["id"])["name"] == "both"


def test_child_change_locks_the_load_balancer(octavia: Octavia) -> None:
    lb = octavia.active_lb()
    listener = octavia.ok("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}}, 201)[
        "listener"]
    assert listener["provisioning_status"] == "PENDING_CREATE"
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    resp = octavia.request("PUT", f"/loadbalancers/{lb['id']}",
                           {"loadbalancer": {"name": "x"}})
    octavia.fault(resp, 409)
    octavia.deploy(lb["id"])
    assert octavia.show("listener", listener["id"])["provisioning_status"] == "ACTIVE"
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"


def test_listener_rules(octavia: Octavia) -> None:
    lb = octavia.active_lb(**TREE)
    resp = octavia.request("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})
    assert "protocol_port 80" in octavia.fault(resp, 409)
    for protocol in ("UDP", "SCTP", "PROXY"):
        resp = octavia.request("POST", "/listeners", {"listener": {
            "loadbalancer_id": lb["id"], "protocol": protocol, "protocol_port": 81}})
        assert "not supported by provider" in octavia.fault(resp, 400)
    resp = octavia.request("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 81,
        "insert_headers": {"X-Forwarded-For": "true"}}})
    octavia.fault(resp, 400)
    resp = octavia.request("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 81,
        "insert_headers": {"X-Evil": "true"}}})
    octavia.fault(resp, 400)
    listener = octavia.ok("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 81,
        "insert_headers": {"X-Forwarded-For": "true", "X-Forwarded-Proto": "true"},
        "allowed_cidrs": ["10.60.0.0/24"], "timeout_client_data": 1000,
        "connection_limit": 100}}, 201)["listener"]
    assert listener["insert_headers"] == {"X-Forwarded-For": "true",
                                          "X-Forwarded-Proto": "true"}
    assert listener["allowed_cidrs"] == ["10.60.0.0/24"]
    assert listener["timeout_client_data"] == 1000
    assert listener["timeout_member_connect"] == 5000


def test_timeout_tcp_inspect_is_checked_and_reaches_the_agent(octavia: Octavia) -> None:
    lb = octavia.active_lb()
    for bad in (-1, 86_400_001, True, 1.5):
        resp = octavia.request("POST", "/listeners", {"listener": {
            "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 81,
            "timeout_tcp_inspect": bad}})
        assert "timeout_tcp_inspect" in octavia.fault(resp, 400), bad
    listener = octavia.ok("POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 81,
        "timeout_tcp_inspect": 86_400_000}}, 201)["listener"]
    assert listener["timeout_tcp_inspect"] == 86_400_000
    device = octavia.agent.typed_logical_device(lb["id"])
    assert device["loadbalancer"]["listeners"][0]["timeout_tcp_inspect"] == 86_400_000
    octavia.deploy(lb["id"])
    resp = octavia.request("PUT", f"/listeners/{listener['id']}",
                           {"listener": {"timeout_tcp_inspect": -5}})
    octavia.fault(resp, 400)
    # null is Octavia's "back to the default": no inspection delay.
    octavia.ok("PUT", f"/listeners/{listener['id']}", {"listener": {"timeout_tcp_inspect": None}})
    assert octavia.show("listener", listener["id"])["timeout_tcp_inspect"] == 0


def test_pool_and_member_rules(octavia: Octavia) -> None:
    lb = octavia.active_lb()
    resp = octavia.request("POST", "/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "SOURCE_IP_PORT"}})
    assert "SOURCE_IP_PORT" in octavia.fault(resp, 400)
    resp = octavia.request("POST", "/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "session_persistence": {"type": "APP_COOKIE"}}})
    octavia.fault(resp, 400)
    pool = octavia.ok("POST", "/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS",
        "session_persistence": {"type": "APP_COOKIE", "cookie_name": "SESS"}}}, 201)["pool"]
    assert pool["session_persistence"]["cookie_name"] == "SESS"
    octavia.deploy(lb["id"])
    member = octavia.ok("POST", f"/pools/{pool['id']}/members", {"member": {
        "address": "10.60.0.21", "protocol_port": 80, "weight": 0, "backup": True,
        "monitor_port": 8080}}, 201)["member"]
    assert (member["weight"], member["backup"], member["monitor_port"]) == (0, True, 8080)
    octavia.deploy(lb["id"])
    resp = octavia.request("POST", f"/pools/{pool['id']}/members", {"member": {
        "address": "10.60.0.21", "protocol_port": 80}})
    octavia.fault(resp, 409)
    for bad in ({"address": "10.60.0.22", "protocol_port": 80, "weight": 257},
                {"address": "fe80::1%1", "protocol_port": 80},
                {"address": "10.60.0.22", "protocol_port": 0}):
        octavia.fault(octavia.request("POST", f"/pools/{pool['id']}/members",
                                      {"member": bad}), 400)
    octavia.ok("PUT", f"/pools/{pool['id']}/members/{member['id']}",
               {"member": {"weight": 5}})
    octavia.deploy(lb["id"])
    assert octavia.ok("GET", f"/pools/{pool['id']}/members/{member['id']}")[
        "member"]["weight"] == 5


def test_batch_member_update_replaces_the_set(octavia: Octavia) -> None:
    lb = octavia.active_lb(**TREE)
    pool_id = lb["pools"][0]["id"]
    octavia.ok("PUT", f"/pools/{pool_id}/members", {"members": [
        {"address": "10.60.0.12", "protocol_port": 80, "weight": 7},
        {"address": "10.60.0.13", "protocol_port": 80}]}, 202)
    members = octavia.ok("GET", f"/pools/{pool_id}/members")["members"]
    states = {m["address"]: m["provisioning_status"] for m in members}
    assert states == {"10.60.0.11": "PENDING_DELETE", "10.60.0.12": "PENDING_UPDATE",
                      "10.60.0.13": "PENDING_CREATE"}
    octavia.deploy(lb["id"])
    members = octavia.ok("GET", f"/pools/{pool_id}/members")["members"]
    assert {(m["address"], m["weight"]) for m in members} == {("10.60.0.12", 7),
                                                              ("10.60.0.13", 1)}


def test_health_monitor_rules(octavia: Octavia) -> None:
    lb = octavia.active_lb(**TREE)
    pool_id = lb["pools"][0]["id"]
    resp = octavia.request("POST", "/healthmonitors", {"healthmonitor": {
        "pool_id": pool_id, "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}})
    assert "already has a health monitor" in octavia.fault(resp, 409)
    other = octavia.ok("POST", "/pools", {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}},
        201)["pool"]
    octavia.deploy(lb["id"])
    for bad in ({"type": "TCP", "url_path": "/x"}, {"type": "UDP-CONNECT"},
                {"type": "HTTP", "http_method": "X-Y"}, {"type": "HTTP", "delay": 86401},
                {"type": "HTTP", "domain_name": "a b", "http_version": 1.1},
                {"type": "HTTP", "expected_codes": "٢٠٠"}):
        body = {"pool_id": other["id"], "delay": 1, "timeout": 1, "max_retries": 1, **bad}
        octavia.fault(octavia.request("POST", "/healthmonitors", {"healthmonitor": body}),
                      400)
    hm = octavia.ok("POST", "/healthmonitors", {"healthmonitor": {
        "pool_id": other["id"], "type": "TLS-HELLO", "delay": 3, "timeout": 2,
        "max_retries": 3, "max_retries_down": 2}}, 201)["healthmonitor"]
    assert hm["http_method"] is None and hm["max_retries_down"] == 2


def test_delete_needs_cascade_and_the_agent_confirms(octavia: Octavia) -> None:
    lb = octavia.active_lb(**TREE)
    resp = octavia.request("DELETE", f"/loadbalancers/{lb['id']}")
    assert "it has children" in octavia.fault(resp, 400)
    assert octavia.request("DELETE", f"/loadbalancers/{lb['id']}",
                           params={"cascade": "true"}).status_code == 204
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_DELETE"
    device = octavia.api.get(f"/agent/v1/hosts/{octavia.agent.host}/ready_devices").json()
    assert lb["id"] in device["pool_ids"]
    octavia.agent.destroyed(lb["id"])
    assert octavia.fault(octavia.request("GET", f"/loadbalancers/{lb['id']}"), 404) == \
        f"Load Balancer {lb['id']} not found."
    assert octavia.api.get(f"/ports/{lb['vip_port_id']}").status_code == 404
    assert octavia.ok("GET", "/listeners", params={"loadbalancer_id": lb["id"]}) is not None


def test_failover_asks_the_agent_for_a_new_data_plane(octavia: Octavia) -> None:
    lb = octavia.active_lb(**TREE)
    before = octavia.agent.typed_logical_device(lb["id"])
    assert before["loadbalancer"]["failover_generation"] == 0
    assert before["pending"] is False

    resp = octavia.request("PUT", f"/loadbalancers/{lb['id']}/failover")
    assert resp.status_code == 202 and not resp.content
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    # Locked like any change: a second failover, or an update, must wait.
    again = octavia.request("PUT", f"/loadbalancers/{lb['id']}/failover")
    assert octavia.fault(again, 409) == \
        f"Load Balancer {lb['id']} is immutable and cannot be updated."
    octavia.fault(octavia.request("PUT", f"/loadbalancers/{lb['id']}",
                                  {"loadbalancer": {"name": "x"}}), 409)
    # The agent is told, and sees a higher generation on an otherwise equal device.
    assert lb["id"] in octavia.agent.events(after=0, timeout=0)["pool_ids"]
    after = octavia.agent.typed_logical_device(lb["id"])
    assert after["loadbalancer"]["failover_generation"] == 1
    assert after["pending"] is True and after["revision"] > before["revision"]
    assert after["loadbalancer"]["listeners"] == before["loadbalancer"]["listeners"]

    octavia.agent.deployed(lb["id"], after["revision"])
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"
    octavia.ok("PUT", f"/loadbalancers/{lb['id']}/failover", status=202)
    assert octavia.agent.typed_logical_device(lb["id"])["loadbalancer"][
        "failover_generation"] == 2
    # A plain update does not raise the generation.
    octavia.deploy(lb["id"])
    octavia.ok("PUT", f"/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "renamed"}})
    assert octavia.agent.typed_logical_device(lb["id"])["loadbalancer"][
        "failover_generation"] == 2


def test_failover_needs_an_active_load_balancer_that_exists(octavia: Octavia) -> None:
    lb = octavia.create_lb()
    assert lb["provisioning_status"] == "PENDING_CREATE"
    octavia.fault(octavia.request("PUT", f"/loadbalancers/{lb['id']}/failover"), 409)
    missing = "00000000-0000-4000-8000-000000000000"
    assert octavia.fault(octavia.request("PUT", f"/loadbalancers/{missing}/failover"),
                         404) == f"Load Balancer {missing} not found."


def test_failover_is_for_admins(backend: str, server_factory: Any, physnet: str) -> None:
    tokens = [("alice", "project-a", "member"), ("admin", "admin", "admin")]
    srv = server_factory(backend, auth_strategy="token", tokens=tokens)
    try:
        with Api(srv.url, token="admin") as admin, Api(srv.url, token="alice") as alice:
            agent = FakeAgent(admin, [physnet]).register()
            net = make_network(admin, tenant_id="project-a", shared=True,
                               **{"provider:physical_network": physnet})
            subnet = make_subnet(admin, net["id"], cidr="10.62.0.0/24")
            resp = alice.post("/v2.0/lbaas/loadbalancers", {"loadbalancer": {
                "vip_subnet_id": subnet["id"]}})
            assert resp.status_code == 201, resp.text
            lb_id = resp.json()["loadbalancer"]["id"]
            agent.deployed(lb_id)

            resp = alice.put(f"/v2.0/lbaas/loadbalancers/{lb_id}/failover")
            assert resp.status_code == 403 and "faultstring" in resp.json(), resp.text
            lb = alice.get(f"/v2.0/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
            assert lb["provisioning_status"] == "ACTIVE"
            resp = admin.put(f"/v2.0/lbaas/loadbalancers/{lb_id}/failover")
            assert resp.status_code == 202, resp.text
            lb = alice.get(f"/v2.0/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
            assert lb["provisioning_status"] == "PENDING_UPDATE"
    finally:
        srv.cleanup()


def test_stats_never_go_backwards(octavia: Octavia) -> None:
    lb = octavia.active_lb(**TREE)
    listener_id = lb["listeners"][0]["id"]

    def report(epoch: str, total: int) -> None:
        octavia.api.post(f"/agent/v1/pools/{lb['id']}/stats", {
            "host": octavia.agent.host, "stats": {
                "epoch": epoch, "bytes_in": 0, "bytes_out": 0, "active_connections": 0,
                "total_connections": 0,
                "listeners": {listener_id: {"bytes_in": total * 10, "bytes_out": 0,
                                            "active_connections": 1,
                                            "total_connections": total}}}})
    report("e1", 5)
    report("e1", 8)
    report("e2", 2)  # a reload: counters restart
    stats = octavia.ok("GET", f"/loadbalancers/{lb['id']}/stats")["stats"]
    assert stats["total_connections"] == 10 and stats["bytes_in"] == 100
    assert octavia.ok("GET", f"/listeners/{listener_id}/stats")["stats"][
        "total_connections"] == 10


def test_member_health_drives_operating_status(octavia: Octavia) -> None:
    lb = octavia.active_lb(**TREE)
    pool = octavia.show("pool", lb["pools"][0]["id"])
    first, second = pool["members"][0]["id"], pool["members"][1]["id"]
    octavia.agent.update_status("member", first, "INACTIVE")
    assert octavia.ok("GET", f"/pools/{pool['id']}/members/{first}")["member"][
        "operating_status"] == "ERROR"
    assert octavia.show("pool", pool["id"])["operating_status"] == "DEGRADED"
    assert octavia.show("loadbalancer", lb["id"])["operating_status"] == "DEGRADED"
    octavia.agent.update_status("member", second, "INACTIVE")
    assert octavia.show("pool", pool["id"])["operating_status"] == "ERROR"
    octavia.agent.update_status("member", first, "ACTIVE")
    octavia.agent.update_status("member", second, "ACTIVE")
    assert octavia.show("loadbalancer", lb["id"])["operating_status"] == "ONLINE"


def test_lists_filter_sort_page_and_tag(octavia: Octavia) -> None:
    for name, tags in (("a", ["blue", "x"]), ("b", ["red"]), ("c", ["blue"])):
        octavia.create_lb(name=name, tags=tags)
    # noauth callers are admins, who see every project: ask for this test's own.
    mine = {"project_id": octavia.api.project}
    names = [lb["name"] for lb in octavia.ok("GET", "/loadbalancers", params={
        **mine, "sort": "name:desc"})["loadbalancers"]]
    assert names == ["c", "b", "a"]
    assert [lb["name"] for lb in octavia.ok("GET", "/loadbalancers", params={
        **mine, "tags": "blue", "sort": "name:asc"})["loadbalancers"]] == ["a", "c"]
    assert [lb["name"] for lb in octavia.ok("GET", "/loadbalancers", params={
        **mine, "not-tags": "blue"})["loadbalancers"]] == ["b"]
    page = octavia.ok("GET", "/loadbalancers", params={**mine, "limit": 2,
                                                       "sort": "name:asc"})
    assert [lb["name"] for lb in page["loadbalancers"]] == ["a", "b"]
    nxt = page["loadbalancers_links"][0]
    assert nxt["rel"] == "next"
    rest = octavia.api.client.get(nxt["href"], headers={
        "X-Project-Id": octavia.api.project or ""}).json()
    assert [lb["name"] for lb in rest["loadbalancers"]] == ["c"]
    only = octavia.ok("GET", "/loadbalancers", params={**mine, "name": "b",
                                                       "fields": "name"})
    assert only["loadbalancers"] == [{"name": "b"}]


def test_other_projects_objects_are_forbidden(backend: str, server_factory: Any) -> None:
    tokens = [("alice", "project-a", "member"), ("bob", "project-b", "member"),
              ("admin", "admin", "admin")]
    srv = server_factory(backend, auth_strategy="token", tokens=tokens)
    try:
        with Api(srv.url, token="admin") as admin, Api(srv.url, token="alice") as alice, \
                Api(srv.url, token="bob") as bob:
            net = make_network(admin, tenant_id="project-a", shared=True)
            subnet = make_subnet(admin, net["id"], cidr="10.61.0.0/24")
            resp = alice.post("/v2.0/lbaas/loadbalancers", {"loadbalancer": {
                "vip_subnet_id": subnet["id"], "name": "mine"}})
            assert resp.status_code == 201, resp.text
            lb = resp.json()["loadbalancer"]
            assert lb["project_id"] == "project-a"
            # Octavia's answer: the policy refuses another project's object.
            resp = bob.get(f"/v2.0/lbaas/loadbalancers/{lb['id']}")
            assert resp.status_code == 403, resp.text
            assert resp.json()["faultstring"] == ("Policy does not allow this request to "
                                                  "be performed.")
            assert bob.delete(f"/v2.0/lbaas/loadbalancers/{lb['id']}").status_code == 403
            assert bob.get("/v2.0/lbaas/loadbalancers").json()["loadbalancers"] == []
            resp = bob.post("/v2.0/lbaas/listeners", {"listener": {
                "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 1}})
            assert resp.status_code in (400, 404), resp.text
            resp = alice.post("/v2.0/lbaas/loadbalancers", {"loadbalancer": {
                "vip_subnet_id": subnet["id"], "project_id": "project-b"}})
            assert resp.status_code == 403, resp.text
            assert admin.get(f"/v2.0/lbaas/loadbalancers/{lb['id']}").status_code == 200
            anonymous = httpx.get(f"{srv.url}/v2.0/lbaas/loadbalancers")
            assert anonymous.status_code == 401 and "faultstring" in anonymous.json()
            assert anonymous.headers["WWW-Authenticate"]
    finally:
        srv.cleanup()


def test_quota_is_a_403(octavia: Octavia) -> None:
    project = octavia.api.project
    octavia.ok("PUT", f"/quotas/{project}", {"quota": {"load_balancer": 1}}, 202)
    assert octavia.ok("GET", f"/quotas/{project}")["quota"]["load_balancer"] == 1
    octavia.create_lb()
    resp = octavia.request("POST", "/loadbalancers",
                           {"loadbalancer": {"vip_subnet_id": octavia.subnet["id"]}})
    assert "Quota has been met" in octavia.fault(resp, 403)
    octavia.ok("DELETE", f"/quotas/{project}", status=204)
    assert octavia.ok("GET", f"/quotas/{project}")["quota"]["load_balancer"] == -1


def test_providers_and_the_amphora_alias(octavia: Octavia) -> None:
    names = [p["name"] for p in octavia.ok("GET", "/providers")["providers"]]
    assert "haproxy_ns" in names and "amphora" in names
    assert octavia.create_lb(provider="amphora")["provider"] == "haproxy_ns"
    resp = octavia.request("POST", "/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": octavia.subnet["id"], "provider": "f5"}})
    assert "not enabled" in octavia.fault(resp, 400)
    caps = octavia.ok("GET", "/providers/amphora/flavor_capabilities")
    assert caps["flavor_capabilities"][0]["name"] == "loadbalancer_topology"


def test_flavor_profile_sets_the_topology(octavia: Octavia) -> None:
    profile = octavia.ok("POST", "/flavorprofiles", {"flavorprofile": {
        "name": f"ha-{octavia.api.project}", "provider_name": "amphora",
        "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}}, 201)["flavorprofile"]
    flavor = octavia.ok("POST", "/flavors", {"flavor": {
        "name": f"ha-{octavia.api.project}", "flavor_profile_id": profile["id"]}}, 201)[
        "flavor"]
    lb = octavia.create_lb(flavor_id=flavor["id"])
    assert lb["flavor_id"] == flavor["id"]
    resp = octavia.request("POST", "/flavorprofiles", {"flavorprofile": {
        "name": "bad", "provider_name": "amphora", "flavor_data": '{"compute_flavor": 1}'}})
    octavia.fault(resp, 400)
    assert octavia.ok("GET", "/availabilityzones")["availabilityzones"] == []


def test_octavia_errors_have_octavias_body(octavia: Octavia) -> None:
    octavia.fault(octavia.request("GET", "/loadbalancers/no-such"), 404)
    octavia.fault(octavia.request("POST", "/loadbalancers", {"loadbalancer": {}}), 400)
    octavia.fault(octavia.request("POST", "/loadbalancers", {"nope": {}}), 400)
    octavia.fault(octavia.request("POST", "/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": octavia.subnet["id"], "unknown": 1}}), 400)
    octavia.fault(octavia.api.request("PATCH", "/v2.0/lbaas/loadbalancers"), 405)
