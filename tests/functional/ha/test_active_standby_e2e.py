"""ACTIVE_STANDBY end to end (docs/architecture.md, "ACTIVE_STANDBY"): a real server, three
lbaas hosts on one kernel (tests/helpers/multihost.py), keepalived and HAProxy in each
amphora's namespace, a client on the wire. What the tenant's client sees when the MASTER's
host dies, when only its HAProxy dies, on ``loadbalancer failover``, and what the admin's
amphora view says before and after."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.functional.ha.conftest import running_lab
from tests.helpers.multihost import Host, MultiHostLab, wait_serving
from tests.helpers.netlab import HELPERS, PY, netns, wait_until

if shutil.which("keepalived") is None:
    pytest.skip("ACTIVE_STANDBY tests need keepalived", allow_module_level=True)

LAN = "10.98.84"
LBS = "/v2/lbaas/loadbalancers"
AMPHORAE = "/v2/octavia/amphorae"


@pytest.fixture
def lab() -> Iterator[MultiHostLab]:
    """Three hosts (a dead one's amphora moves to the third), ACTIVE_STANDBY by default."""
    with running_lab("lbaas-as-", prefix="tv", lan_base=LAN, mgmt_base="10.98.85",
                     hosts=["a", "b", "c"], server_conf={
                         "DEFAULT": {"loadbalancer_topology": "ACTIVE_STANDBY"},
                         "keepalived_vrrp": {"vrrp_advert_int_ms": 100}}) as built:
        yield built


class Cloud:
    """The tenant's and the admin's calls (noauth: one caller, admin)."""

    def __init__(self, lab: MultiHostLab) -> None:
        self.lab = lab
        self.http = httpx.Client(base_url=lab.server_url, timeout=30)
        net = self.post("/v2.0/networks", {"network": {
            "name": "as", "provider:physical_network": "default",
            "provider:network_type": "flat"}})
        self.subnet = self.post("/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "cidr": f"{LAN}.0/24", "ip_version": 4,
            "gateway_ip": f"{LAN}.1",
            "allocation_pools": [{"start": f"{LAN}.100", "end": f"{LAN}.200"}]}})

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, json=body)
        assert r.status_code == 201, r.text
        return dict(next(iter(r.json().values())))

    def create_lb(self) -> dict[str, Any]:
        """An HTTP load balancer with the lab's backend as its one member, ACTIVE."""
        lb = self.post(LBS, {"loadbalancer": {
            "name": "tv-web", "vip_subnet_id": self.subnet["id"],
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": self.lab.backend_ip, "protocol_port": 80}]}}]}})
        wait_until(lambda: self.lb(lb["id"])["provisioning_status"] == "ACTIVE",
                   timeout=60, message="the load balancer ACTIVE")
        return lb

    def lb(self, lb_id: str) -> dict[str, Any]:
        return dict(self.http.get(f"{LBS}/{lb_id}").json()["loadbalancer"])

    def amphorae(self, lb_id: str) -> list[dict[str, Any]]:
        r = self.http.get(AMPHORAE, params={"loadbalancer_id": lb_id})
        assert r.status_code == 200, r.text
        return list(r.json()["amphorae"])

    def by_state(self, lb_id: str) -> dict[str, str]:
        """keepalived's state as the agents reported it: vrrp_state → host."""
        return {a["vrrp_state"]: a["compute_id"] for a in self.amphorae(lb_id)
                if a.get("vrrp_state")}


@pytest.fixture
def cloud(lab: MultiHostLab) -> Iterator[Cloud]:
    c = Cloud(lab)
    yield c
    c.http.close()


def _host(lab: MultiHostLab, name: str) -> Host:
    return next(h for h in lab.agents.values() if h.host == name)


def _both_states(cloud: Cloud, lb_id: str) -> dict[str, str]:
    """vrrp_state → host, once a MASTER and a BACKUP are both reported."""
    return dict(wait_until(lambda: (s := cloud.by_state(lb_id)).keys() >= {"MASTER",
                                                                          "BACKUP"} and s,
                           timeout=30, message="both VRRP states reported"))


def _master(cloud: Cloud, lb_id: str) -> tuple[Host, Host]:
    """(the host whose keepalived holds the VIP, the BACKUP's host), as reported."""
    states = _both_states(cloud, lb_id)
    return _host(cloud.lab, states["MASTER"]), _host(cloud.lab, states["BACKUP"])


def _port_addresses(ns: str) -> str:
    """``ip -o addr`` of the namespace's devices but lo."""
    return "\n".join(line for line in netns(ns, "ip", "-o", "addr").stdout.splitlines()
                     if line.split()[1] != "lo")


def _load(lab: MultiHostLab, url: str, seconds: float, rate: int) -> subprocess.Popen[str]:
    """Continuous new-connection traffic from the client namespace, bounded in time."""
    return subprocess.Popen(
        ["ip", "netns", "exec", lab.client_ns, PY, str(HELPERS / "netclient.py"), "load",
         url, str(seconds), str(rate), "--timeout", "1"],
        stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=120)
    return dict(json.loads(out))


def test_two_amphorae_serve_the_vip_from_the_master_only(lab: MultiHostLab,
                                                         cloud: Cloud) -> None:
    lb = cloud.create_lb()
    url = f"http://{lb['vip_address']}/"
    wait_serving(lab, url, timeout=30)
    master, backup = _master(cloud, lb["id"])
    amps = cloud.amphorae(lb["id"])
    assert sorted(a["role"] for a in amps) == ["BACKUP", "MASTER"]
    assert {a["compute_id"] for a in amps} == {master.host, backup.host}
    # Each amphora's own namespace; the VIP address on the MASTER's only.
    for host in (master, backup):
        assert host.namespaces() == [host.ns_prefix + lb["id"]]
    # (Both have it on lo, with arp_ignore: the one keepalived puts on the port counts.)
    addrs = {h.host: _port_addresses(h.namespaces()[0]) for h in (master, backup)}
    assert f" {lb['vip_address']}/" in addrs[master.host]
    assert f" {lb['vip_address']}/" not in addrs[backup.host]
    assert lab.client_get(url, 5) == ["b1"] * 5


def test_masters_host_dies_the_backup_serves_within_a_second_then_a_third_host_joins(
        lab: MultiHostLab, cloud: Cloud) -> None:
    lb = cloud.create_lb()
    url = f"http://{lb['vip_address']}/"
    wait_serving(lab, url, timeout=30)
    master, backup = _master(cloud, lb["id"])
    third = next(h for h in lab.agents.values() if h not in (master, backup))

    load = _load(lab, url, seconds=6, rate=50)
    time.sleep(2)
    master.kill()  # agent, HAProxy and keepalived SIGKILLed, wire and mgmt cut
    result = _result(load)
    # 50 requests/s with a 1 s client timeout: a takeover within a second costs at
    # most ~50 + the requests in flight (bench/failover.py measures it precisely).
    assert result["failed"] <= 75, result
    assert result["bodies"].get("b1", 0) >= result["requests"] - result["failed"]

    # The dead host's amphora moves to the third host as BACKUP; the survivor is MASTER.
    def moved() -> bool:
        hosts = {a["compute_id"]: a for a in cloud.amphorae(lb["id"])}
        return set(hosts) == {backup.host, third.host}
    wait_until(moved, timeout=30, message="the amphora moved to the third host")
    states = _both_states(cloud, lb["id"])
    assert states == {"MASTER": backup.host, "BACKUP": third.host}
    assert third.namespaces() == [third.ns_prefix + lb["id"]]
    assert lab.client_get(url, 5) == ["b1"] * 5


def test_masters_haproxy_dies_the_backup_takes_the_vip(lab: MultiHostLab,
                                                       cloud: Cloud) -> None:
    lb = cloud.create_lb()
    url = f"http://{lb['vip_address']}/"
    wait_serving(lab, url, timeout=30)
    master, backup = _master(cloud, lb["id"])
    ns = master.namespaces()[0]
    pid_file = master.state / lb["id"] / "pid"
    pids = [int(p) for p in pid_file.read_text().split() if p.isdigit()]
    assert pids

    load = _load(lab, url, seconds=5, rate=50)
    time.sleep(1.5)
    for pid in pids:
        subprocess.run(["kill", "-9", str(pid)], check=False)
    result = _result(load)
    assert result["failed"] <= 75, result
    # The VIP left the namespace whose HAProxy died (its agent restarts that HAProxy;
    # without preemption the VIP stays where it went: no failback black hole).
    wait_until(lambda: f" {lb['vip_address']}/" in _port_addresses(backup.namespaces()[0]),
               timeout=5, message="the VIP on the backup")
    assert lab.client_get(url, 10) == ["b1"] * 10
    del ns


def test_loadbalancer_failover_swaps_roles_without_a_failed_request(
        lab: MultiHostLab, cloud: Cloud) -> None:
    lb = cloud.create_lb()
    url = f"http://{lb['vip_address']}/"
    wait_serving(lab, url, timeout=30)
    master, backup = _master(cloud, lb["id"])

    load = _load(lab, url, seconds=8, rate=20)
    time.sleep(2)
    r = cloud.http.put(f"{LBS}/{lb['id']}/failover")
    assert r.status_code == 202, r.text
    wait_until(lambda: cloud.by_state(lb["id"]).get("MASTER") == backup.host,
               timeout=15, message="the roles swapped")
    result = _result(load)
    assert result["failed"] == 0, result
    assert cloud.lb(lb["id"])["provisioning_status"] == "ACTIVE"


def test_draining_the_masters_host_moves_its_amphora_without_a_failed_request(
        lab: MultiHostLab, cloud: Cloud) -> None:
    lb = cloud.create_lb()
    url = f"http://{lb['vip_address']}/"
    wait_serving(lab, url, timeout=30)
    master, backup = _master(cloud, lb["id"])
    third = next(h for h in lab.agents.values() if h not in (master, backup))
    agent_id = cloud.http.get("/v2.0/agents", params={"host": master.host}).json()[
        "agents"][0]["id"]

    load = _load(lab, url, seconds=10, rate=20)
    time.sleep(2)
    r = cloud.http.put(f"/v2.0/agents/{agent_id}", json={"agent": {"admin_state_up": False}})
    assert r.status_code == 200, r.text
    wait_until(lambda: {a["compute_id"] for a in cloud.amphorae(lb["id"])}
               == {backup.host, third.host}, timeout=20, message="the drain")
    wait_until(lambda: master.namespaces() == [], timeout=20,
               message="the drained host letting go")
    result = _result(load)
    assert result["failed"] == 0, result
    states = _both_states(cloud, lb["id"])
    assert states == {"MASTER": backup.host, "BACKUP": third.host}
