"""Load balancers built through the Octavia v2 API serve real traffic: one load balancer,
an HTTP listener on 80 and a TCP listener on 8080 in front of two pools, on real
namespaces, bridge, HAProxy and web servers (see conftest.py). Every change is hitless;
weights and member admin states change without a reload. A failover is the one change
that restarts on purpose: a new VIP device and a fresh HAProxy."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.e2e.conftest import (
    BACKENDS,
    SPEC,
    Tenant,
    Topology,
    client_get,
    load_result,
    start_load,
    wait_until,
)
from tests.helpers.netlab import sh

V2 = "/lbaas"  # under the lab client's /v2.0


class V2Lab:
    """A v2 client for the tenant's subnet; deletes (cascade) what it made."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.http = tenant.api.http
        self.made: list[str] = []

    def call(self, method: str, path: str, body: Any = None, want: int = 200) -> Any:
        r = self.http.request(method, V2 + path, json=body)
        assert r.status_code == want, f"{method} {path} → {r.status_code}: {r.text}"
        return r.json() if r.content else None

    def wait_active(self, lb_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        lb: dict[str, Any] = {}
        while time.monotonic() < deadline:
            lb = self.call("GET", f"/loadbalancers/{lb_id}")["loadbalancer"]
            if lb["provisioning_status"] == "ACTIVE":
                return lb
            assert lb["provisioning_status"] != "ERROR", lb
            time.sleep(0.1)
        raise AssertionError(f"load balancer {lb_id} not ACTIVE in {timeout}s: {lb}")

    def create(self, **tree: Any) -> dict[str, Any]:
        lb = self.call("POST", "/loadbalancers", {"loadbalancer": {
            "vip_subnet_id": self.tenant.subnet["id"], **tree}}, 201)["loadbalancer"]
        self.made.append(lb["id"])
        return self.wait_active(lb["id"])

    def change(self, lb_id: str, method: str, path: str, body: Any = None,
               want: int = 200) -> Any:
        """A change under the load balancer, then wait until the agent made it real."""
        out = self.call(method, path, body, want)
        self.wait_active(lb_id)
        return out

    def delete(self, lb_id: str) -> None:
        self.call("DELETE", f"/loadbalancers/{lb_id}?cascade=true", want=204)
        wait_until(lambda: self.http.get(f"{V2}/loadbalancers/{lb_id}").status_code == 404,
                   timeout=30, message=f"load balancer {lb_id} deleted")
        self.made.remove(lb_id)

    def cleanup(self) -> None:
        for lb_id in list(self.made):
            try:
                self.delete(lb_id)
            except AssertionError:
                pass


@pytest.fixture
def v2(tenant: Tenant) -> Iterator[V2Lab]:
    lab = V2Lab(tenant)
    try:
        yield lab
    finally:
        lab.cleanup()


def _member(name: str, **extra: Any) -> dict[str, Any]:
    return {"address": BACKENDS[name], "protocol_port": 80, **extra}


def _two_listeners(**http_listener: Any) -> dict[str, Any]:
    return {"listeners": [
        {"protocol": "HTTP", "protocol_port": 80, **http_listener,
         "default_pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                          "members": [_member("b1"), _member("b2")],
                          "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1,
                                            "max_retries": 1, "max_retries_down": 1,
                                            "url_path": "/health"}}},
        {"protocol": "TCP", "protocol_port": 8080,
         "default_pool": {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
                          "members": [_member("b3")]}}]}


def _conf(tenant: Tenant, lb_id: str) -> str:
    return (tenant.service.state / lb_id / "conf").read_text()


def _pid(tenant: Tenant, lb_id: str) -> int:
    return int(wait_until(lambda: tenant.service.haproxy_pids().get(lb_id), timeout=10,
                          message="HAProxy pid"))


def _pools(v2: V2Lab, lb: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """listener port → its default pool."""
    out = {}
    for ref in lb["listeners"]:
        listener = v2.call("GET", f"/listeners/{ref['id']}")["listener"]
        out[listener["protocol_port"]] = v2.call(
            "GET", f"/pools/{listener['default_pool_id']}")["pool"]
    return out


def test_two_listeners_serve_two_pools(v2: V2Lab) -> None:
    lb = v2.create(name="two", **_two_listeners())
    vip = lb["vip_address"]

    assert Counter(client_get(f"http://{vip}/", 20)) == {"b1": 10, "b2": 10}
    assert set(client_get(f"http://{vip}:8080/", 4)) == {"b3"}
    assert v2.tenant.api.get(f"/ports/{lb['vip_port_id']}")["port"]["status"] == "ACTIVE"
    status = v2.call("GET", f"/loadbalancers/{lb['id']}/status")["statuses"]
    assert status["loadbalancer"]["operating_status"] == "ONLINE"


def test_member_down_and_back_and_operating_status(v2: V2Lab, topology: Topology) -> None:
    lb = v2.create(**_two_listeners())
    vip, pool = lb["vip_address"], _pools(v2, lb)[80]
    member_b1 = next(m["id"] for m in v2.call("GET", f"/pools/{pool['id']}/members")[
        "members"] if m["address"] == BACKENDS["b1"])
    topology.stop_backend("b1")
    try:
        wait_until(lambda: v2.call("GET", f"/pools/{pool['id']}/members/{member_b1}")[
            "member"]["operating_status"] == "ERROR", timeout=20,
            message="b1 seen down")
        assert set(client_get(f"http://{vip}/", 6)) == {"b2"}
        assert v2.call("GET", f"/loadbalancers/{lb['id']}")["loadbalancer"][
            "operating_status"] == "DEGRADED"
    finally:
        topology.start_backend("b1")
    wait_until(lambda: v2.call("GET", f"/pools/{pool['id']}/members/{member_b1}")[
        "member"]["operating_status"] == "ONLINE", timeout=20, message="b1 back")
    assert set(client_get(f"http://{vip}/", 6)) == {"b1", "b2"}


def test_weight_and_admin_state_change_without_reload(v2: V2Lab) -> None:
    lb = v2.create(**_two_listeners())
    vip, pool = lb["vip_address"], _pools(v2, lb)[80]
    pid = _pid(v2.tenant, lb["id"])
    members = {m["address"]: m["id"] for m in
               v2.call("GET", f"/pools/{pool['id']}/members")["members"]}
    v2.change(lb["id"], "PUT", f"/pools/{pool['id']}/members/{members[BACKENDS['b1']]}",
              {"member": {"weight": 0}})
    assert set(client_get(f"http://{vip}/", 6)) == {"b2"}
    v2.change(lb["id"], "PUT", f"/pools/{pool['id']}/members/{members[BACKENDS['b1']]}",
              {"member": {"weight": 1}})
    v2.change(lb["id"], "PUT", f"/pools/{pool['id']}/members/{members[BACKENDS['b2']]}",
              {"member": {"admin_state_up": False}})
    assert set(client_get(f"http://{vip}/", 6)) == {"b1"}
    assert _pid(v2.tenant, lb["id"]) == pid, "HAProxy was reloaded"


def test_backup_member_serves_only_when_the_others_are_down(v2: V2Lab,
                                                           topology: Topology) -> None:
    lb = v2.create(listeners=[{"protocol": "HTTP", "protocol_port": 80, "default_pool": {
        "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": [_member("b1"), _member("b3", backup=True)],
        "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                          "max_retries_down": 1}}}])
    vip = lb["vip_address"]
    assert set(client_get(f"http://{vip}/", 6)) == {"b1"}
    topology.stop_backend("b1")
    try:
        wait_until(lambda: set(client_get(f"http://{vip}/", 3)) == {"b3"}, timeout=20,
                   message="the backup serving")
    finally:
        topology.start_backend("b1")
    wait_until(lambda: set(client_get(f"http://{vip}/", 3)) == {"b1"}, timeout=20,
               message="b1 serving again")


def test_insert_headers_reach_the_backend(v2: V2Lab) -> None:
    lb = v2.create(**_two_listeners(insert_headers={
        "X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true"}))
    body = client_get(f"http://{lb['vip_address']}/headers", 1)[0]
    # HAProxy sends header names in lower case (HTTP/1.1 names are case-insensitive).
    headers = {k.lower(): v for k, v in (line.split("=", 1) for line in body.splitlines())}
    assert headers == {"x-forwarded-for": SPEC.client_ip, "x-forwarded-port": "80",
                       "x-forwarded-proto": "http"}


def test_allowed_cidrs_refuse_other_clients(v2: V2Lab) -> None:
    lb = v2.create(**_two_listeners(allowed_cidrs=[SPEC.tenant_cidr]))
    vip, listener_80 = lb["vip_address"], None
    for ref in lb["listeners"]:
        listener = v2.call("GET", f"/listeners/{ref['id']}")["listener"]
        if listener["protocol_port"] == 80:
            listener_80 = listener
    assert listener_80 is not None
    assert all(b.startswith("ERR") for b in client_get(f"http://{vip}/", 2, timeout=2))
    # The other listener has no list: it serves everyone.
    assert set(client_get(f"http://{vip}:8080/", 2)) == {"b3"}
    v2.change(lb["id"], "PUT", f"/listeners/{listener_80['id']}", {"listener": {
        "allowed_cidrs": [SPEC.tenant_cidr, f"{SPEC.client_ip}/32"]}})
    assert set(client_get(f"http://{vip}/", 4)) == {"b1", "b2"}


def test_limits_and_timeouts_are_rendered(v2: V2Lab) -> None:
    lb = v2.create(**_two_listeners(connection_limit=50, timeout_client_data=12000,
                                    timeout_member_connect=3000, timeout_member_data=40000))
    conf = _conf(v2.tenant, lb["id"])
    assert "maxconn 50" in conf
    assert "timeout client 12000" in conf
    assert "timeout connect 3000" in conf
    assert "timeout server 40000" in conf
    assert "inspect-delay" not in conf
    assert set(client_get(f"http://{lb['vip_address']}/", 2)) == {"b1", "b2"}
    tcp_listener = _pools(v2, lb)[8080]["listeners"][0]["id"]
    v2.change(lb["id"], "PUT", f"/listeners/{tcp_listener}",
              {"listener": {"timeout_tcp_inspect": 2000}})
    conf = _conf(v2.tenant, lb["id"])
    assert conf.count("tcp-request inspect-delay 2000") == 1
    assert set(client_get(f"http://{lb['vip_address']}:8080/", 2)) == {"b3"}


def test_admin_down_listener_stops_serving(v2: V2Lab) -> None:
    lb = v2.create(**_two_listeners())
    vip = lb["vip_address"]
    listener_80 = next(ref["id"] for ref in lb["listeners"]
                       if v2.call("GET", f"/listeners/{ref['id']}")["listener"][
                           "protocol_port"] == 80)
    v2.change(lb["id"], "PUT", f"/listeners/{listener_80}",
              {"listener": {"admin_state_up": False}})
    assert all(b.startswith("ERR") for b in client_get(f"http://{vip}/", 2, timeout=2))
    assert set(client_get(f"http://{vip}:8080/", 2)) == {"b3"}


def test_cascade_delete_removes_namespace_haproxy_and_port(v2: V2Lab) -> None:
    lb = v2.create(**_two_listeners())
    pid = _pid(v2.tenant, lb["id"])
    namespace = f"qlbaas-{lb['id']}"
    assert namespace in netns_list()
    v2.delete(lb["id"])
    wait_until(lambda: namespace not in netns_list(), timeout=20, message="namespace gone")
    wait_until(lambda: not _alive(pid), timeout=20, message="HAProxy gone")
    assert v2.tenant.api.http.get(f"/ports/{lb['vip_port_id']}").status_code == 404
    assert not (v2.tenant.service.state / lb["id"]).exists()


def test_changes_under_load_are_hitless(v2: V2Lab) -> None:
    lb = v2.create(**_two_listeners())
    vip, pool = lb["vip_address"], _pools(v2, lb)[80]
    load = start_load(f"http://{vip}/", seconds=12, rate=100)
    try:
        listener = v2.change(lb["id"], "POST", "/listeners", {"listener": {
            "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 81,
            "default_pool_id": None}}, 201)["listener"]
        member = v2.change(lb["id"], "POST", f"/pools/{pool['id']}/members",
                           {"member": _member("b3")}, 201)["member"]
        v2.change(lb["id"], "DELETE", f"/pools/{pool['id']}/members/{member['id']}",
                  want=204)
        v2.change(lb["id"], "DELETE", f"/listeners/{listener['id']}", want=204)
    finally:
        result = load_result(load)
    # 100/s for 12 s; a loaded machine sends fewer, but the load must have overlapped
    # the four changes (each waits for ACTIVE, seconds in all).
    assert result["requests"] > 200
    assert result["failed"] == 0, result["errors"]


def test_failover_replugs_the_vip_and_starts_a_fresh_haproxy(v2: V2Lab) -> None:
    lb = v2.create(**_two_listeners())
    lb_id, vip = lb["id"], lb["vip_address"]
    pid, link = _pid(v2.tenant, lb_id), _vip_link(lb_id)
    # An ordinary change that leaves the config alone touches neither.
    v2.change(lb_id, "PUT", f"/loadbalancers/{lb_id}", {"loadbalancer": {"name": "renamed"}})
    assert _pid(v2.tenant, lb_id) == pid, "a rename restarted HAProxy"
    assert _vip_link(lb_id) == link, "a rename re-plugged the VIP"

    v2.call("PUT", f"/loadbalancers/{lb_id}/failover", want=202)
    assert v2.wait_active(lb_id)["provisioning_status"] == "ACTIVE"
    new_pid = _pid(v2.tenant, lb_id)
    assert new_pid != pid
    wait_until(lambda: not _alive(pid), timeout=10, message="the old HAProxy stopped")
    new_link = _vip_link(lb_id)
    assert new_link["ifindex"] != link["ifindex"], "the VIP device was not re-created"
    assert new_link["address"] == link["address"] and vip in new_link["addresses"]
    assert new_link["default_via"] == link["default_via"] is not None
    assert v2.tenant.api.get(f"/ports/{lb['vip_port_id']}")["port"]["status"] == "ACTIVE"
    assert Counter(client_get(f"http://{vip}/", 20)) == {"b1": 10, "b2": 10}
    assert set(client_get(f"http://{vip}:8080/", 4)) == {"b3"}

    # The agent restarts and adopts the failed-over instance as it is: same generation,
    # no second failover. (The rename after the restart is refreshed after the
    # start's full sync, so waiting for it waits for the adoption too.)
    v2.tenant.service.stop()
    v2.tenant.service.start()
    v2.change(lb_id, "PUT", f"/loadbalancers/{lb_id}", {"loadbalancer": {"name": "again"}})
    assert _pid(v2.tenant, lb_id) == new_pid, "the agent restart restarted HAProxy"
    assert _vip_link(lb_id) == new_link, "the agent restart re-plugged the VIP"


def _vip_link(lb_id: str) -> dict[str, Any]:
    """The VIP device in the load balancer's namespace: ifindex, MAC, addresses and the
    default route's gateway."""
    ns = f"qlbaas-{lb_id}"
    links = [link for link in json.loads(sh("ip", "-n", ns, "-j", "addr", "show").stdout)
             if link["ifname"] != "lo"]
    assert len(links) == 1, links
    routes = json.loads(sh("ip", "-n", ns, "-j", "route", "show", "default").stdout)
    return {"ifindex": links[0]["ifindex"], "address": links[0]["address"],
            "addresses": [a["local"] for a in links[0]["addr_info"]],
            "default_via": routes[0]["gateway"] if routes else None}


def netns_list() -> str:
    return sh("ip", "netns", "list").stdout


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False
