"""HaproxyNSDriver's decisions, with the kernel and HAProxy replaced by recorders: the
deploy gate, what _plug asks of the linux layer, stats parsing, orphan removal. Devices
are the v1 sample through ``from_v1``, as the server's /agent/v2 route sends them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lbaas.agent.drivers.haproxy import namespace_driver as nd
from lbaas.agent.drivers.haproxy.runtime import RuntimeApi
from lbaas.agent.linux import interface
from lbaas.common.logical_device import LoadBalancer, Port, from_v1
from tests.unit.haproxy.haproxy_sample_device import (
    MEMBER_IDS,
    POOL_ID,
    VIP_ID,
    sample_logical_device,
)


def typed(ld: dict[str, Any]) -> LoadBalancer:
    lb = from_v1(ld).loadbalancer
    assert lb is not None
    return lb


def vip_port(ld: dict[str, Any]) -> Port:
    return Port.model_validate(ld["vip"]["port"])


class RecordingVifDriver:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def get_device_name(self, port: dict[str, Any]) -> str:
        return "tap" + port["id"][:11]

    def plug(self, network: dict[str, Any], port_id: str, device_name: str,
             mac_address: str, namespace: str, mtu: int | None = None) -> None:
        self.calls.append(("plug", network["id"], port_id, device_name, mac_address,
                           namespace))

    def unplug(self, device_name: str, namespace: str) -> None:
        self.calls.append(("unplug", device_name, namespace))

    def init_l3(self, device_name: str, cidrs: list[str], namespace: str) -> None:
        self.calls.append(("init_l3", device_name, cidrs, namespace))


class RecordingPluginApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def plug_vip_port(self, port_id: str, host: str) -> None:
        self.calls.append(("plug_vip_port", port_id, host))

    def unplug_vip_port(self, port_id: str, host: str) -> None:
        self.calls.append(("unplug_vip_port", port_id, host))


@pytest.fixture
def linux(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """ip_lib and arping replaced by recorders."""
    rec: dict[str, list[Any]] = {"routes": [], "garp": [], "namespaces": [],
                                 "devices": [], "deleted": []}
    monkeypatch.setattr(nd.ip_lib, "ensure_namespace", rec["namespaces"].append)
    monkeypatch.setattr(nd.ip_lib, "namespace_exists", lambda ns: ns in rec["namespaces"])
    monkeypatch.setattr(nd.ip_lib, "list_namespaces", lambda: list(rec["namespaces"]))
    monkeypatch.setattr(nd.ip_lib, "delete_namespace", rec["deleted"].append)

    def resolve_device(name: str, namespace: str) -> str:
        if name not in rec["devices"]:
            raise nd.ip_lib.DeviceNotFound(name)
        return name

    monkeypatch.setattr(nd.ip_lib, "resolve_device", resolve_device)
    monkeypatch.setattr(nd.ip_lib, "set_l3_routes",
                        lambda ns, dev, gw, routes: rec["routes"].append((ns, dev, gw, routes)))
    monkeypatch.setattr(nd.arping, "send_garp",
                        lambda ns, dev, addrs, count: rec["garp"].append((ns, dev, addrs, count)))
    return rec


@pytest.fixture
def driver(tmp_path: Path, linux: dict[str, list[Any]]) -> nd.HaproxyNSDriver:
    options = nd.HaproxyOptions(loadbalancer_state_path=str(tmp_path / "state"),
                                send_gratuitous_arp=3)
    return nd.HaproxyNSDriver(options, RecordingPluginApi(),  # type: ignore[arg-type]
                              RecordingVifDriver(), "host-1")  # type: ignore[arg-type]


# ------------------------------------------------------------------ the gate


@pytest.mark.parametrize("mutate, expected", [
    (lambda ld: None, True),
    (lambda ld: ld.update(vip=None), False),
    (lambda ld: ld["vip"].update(status="PENDING_DELETE"), False),
    (lambda ld: ld["pool"].update(status="PENDING_DELETE"), False),
    (lambda ld: ld["pool"].update(status="ERROR"), True),
    (lambda ld: ld["vip"].update(status="ERROR"), True),
    (lambda ld: ld["vip"].update(status="PENDING_CREATE"), True),
    (lambda ld: ld["vip"].update(admin_state_up=False), True),
    (lambda ld: ld["pool"].update(admin_state_up=False), True),
], ids=["active", "no-vip", "vip-deleting", "pool-deleting", "pool-error", "vip-error",
        "vip-pending", "vip-admin-down", "pool-admin-down"])
def test_deploy_gate(driver, logical_device, monkeypatch, mutate, expected):
    ld = logical_device()
    mutate(ld)
    done: list[str] = []
    monkeypatch.setattr(driver, "exists", lambda pool_id: False)
    monkeypatch.setattr(driver, "create", lambda config: done.append("create"))
    assert driver.deploy_instance(from_v1(ld)) is expected
    assert done == (["create"] if expected else [])


def test_existing_instance_is_updated_not_created(driver, logical_device, monkeypatch):
    done: list[str] = []
    monkeypatch.setattr(driver, "exists", lambda pool_id: pool_id == POOL_ID)
    monkeypatch.setattr(driver, "create", lambda config: done.append("create"))
    monkeypatch.setattr(driver, "update", lambda config: done.append("update"))
    assert driver.deploy_instance(from_v1(logical_device()))
    assert done == ["update"]


def test_load_balancer_being_deleted_is_not_deployed(driver, logical_device, monkeypatch):
    device = from_v1(logical_device())
    assert device.loadbalancer is not None
    deleting = device.model_copy(update={"loadbalancer": device.loadbalancer.model_copy(
        update={"provisioning_status": "PENDING_DELETE"})})
    monkeypatch.setattr(driver, "create", lambda lb: pytest.fail("created"))
    assert driver.deploy_instance(deleting) is False


# ------------------------------------------------------------------ _plug


def test_plug_binds_port_plugs_device_and_sets_l3(driver, logical_device, linux):
    port = vip_port(logical_device())
    namespace = nd.get_ns_name(POOL_ID)
    device = driver._plug(namespace, port)

    assert namespace == f"qlbaas-{POOL_ID}"
    assert device == "tap" + port.id[:11]
    assert driver.plugin_rpc.calls == [("plug_vip_port", port.id, "host-1")]
    assert driver.vif_driver.calls == [
        ("plug", "net-1", port.id, device, "fa:16:3e:00:00:01", namespace),
        ("init_l3", device, ["10.92.0.10/24"], namespace),
    ]
    assert linux["routes"] == [(namespace, device, "10.92.0.1", [])]
    assert linux["garp"] == [(namespace, device, ["10.92.0.10"], 3)]
    # Remembered on disk for the unplug after an agent restart.
    assert driver._load_instance(POOL_ID) == {"loadbalancer_id": POOL_ID,
                                              "port_id": port.id, "device_name": device,
                                              "namespace": namespace}


def test_interface_driver_gets_the_network_with_neutron_names(driver, logical_device,
                                                              linux, monkeypatch):
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(driver.vif_driver, "plug",
                        lambda network, *args, **kwargs: seen.append(network))
    ld = logical_device()
    ld["vip"]["port"]["network"].update({"provider:network_type": "vlan",
                                         "provider:segmentation_id": 42, "mtu": 1400})
    driver._plug(nd.get_ns_name(POOL_ID), vip_port(ld))
    assert seen[0]["provider:network_type"] == "vlan"
    assert seen[0]["provider:segmentation_id"] == 42
    assert seen[0]["provider:physical_network"] == "default"
    assert seen[0]["mtu"] == 1400


def test_gateway_from_default_host_route_and_other_routes_kept(driver, logical_device,
                                                                linux):
    ld = logical_device()
    subnet = ld["vip"]["port"]["fixed_ips"][0]["subnet"]
    subnet["gateway_ip"] = None
    subnet["host_routes"] = [{"destination": "10.93.0.0/16", "nexthop": "10.92.0.254"},
                             {"destination": "0.0.0.0/0", "nexthop": "10.92.0.253"}]
    driver._plug(nd.get_ns_name(POOL_ID), vip_port(ld))
    (_, _, gateway, routes), = linux["routes"]
    assert gateway == "10.92.0.253"
    assert routes == [{"destination": "10.93.0.0/16", "nexthop": "10.92.0.254"}]


def test_every_fixed_ip_gets_its_subnet_prefix(driver, logical_device, linux):
    ld = logical_device()
    ld["vip"]["port"]["fixed_ips"].append(
        {"subnet_id": "sub-6", "ip_address": "fd00:92::10",
         "subnet": {"id": "sub-6", "cidr": "fd00:92::/64", "ip_version": 6,
                    "gateway_ip": None, "host_routes": []}})
    driver._plug(nd.get_ns_name(POOL_ID), vip_port(ld))
    init_l3 = [c for c in driver.vif_driver.calls if c[0] == "init_l3"]
    assert init_l3[0][2] == ["10.92.0.10/24", "fd00:92::10/64"]
    # No ARP for IPv6.
    assert linux["garp"][0][2] == ["10.92.0.10"]


def test_no_gratuitous_arp_when_disabled(driver, logical_device, linux):
    driver.options.send_gratuitous_arp = 0
    driver._plug(nd.get_ns_name(POOL_ID), vip_port(logical_device()))
    assert linux["garp"] == []


def test_existing_device_refused_when_reuse_is_off(driver, logical_device, linux):
    port = vip_port(logical_device())
    linux["devices"].append("tap" + port.id[:11])
    with pytest.raises(interface.PreexistingDeviceFailure):
        driver._plug(nd.get_ns_name(POOL_ID), port, reuse_existing=False)
    # Reused by default (plug converges it).
    driver._plug(nd.get_ns_name(POOL_ID), port)


def test_replaced_vip_port_unplugs_the_old_device_first(driver, logical_device, linux,
                                                        monkeypatch):
    monkeypatch.setattr(driver, "_spawn", lambda config: None)
    ld = logical_device()
    driver.create(typed(ld))
    old_port_id = ld["vip"]["port"]["id"]
    ld["vip"]["port"]["id"] = ld["vip"]["port_id"] = "77777777-0000-4000-8000-000000000000"
    driver.update(typed(ld))
    assert ("unplug", "tap" + old_port_id[:11], nd.get_ns_name(POOL_ID)) in \
        driver.vif_driver.calls
    assert ("unplug_vip_port", old_port_id, "host-1") in driver.plugin_rpc.calls
    assert driver._load_instance(POOL_ID)["port_id"] == ld["vip"]["port"]["id"]


# ------------------------------------------------------------------ failover


def with_generation(ld: dict[str, Any], generation: int) -> Any:
    device = from_v1(ld)
    assert device.loadbalancer is not None
    return device.model_copy(update={"loadbalancer": device.loadbalancer.model_copy(
        update={"failover_generation": generation})})


@pytest.fixture
def haproxy(driver, linux, monkeypatch) -> dict[str, Any]:
    """HAProxy replaced: _spawn starts a "process" when none runs (as the real one
    does; with one running it reloads only a changed config, and these tests change
    none); the recorder lists starts, stops and the order of plug/unplug/spawn."""
    rec: dict[str, Any] = {"running": [], "stopped": [], "spawned": [], "next": 100,
                           "fail_spawn": False}

    def spawn(lb: Any) -> None:
        if rec["fail_spawn"]:
            raise nd.DeployError("refused")
        if rec["running"]:
            return
        rec["next"] += 1
        rec["running"] = [rec["next"]]
        rec["spawned"].append(rec["next"])
        driver.vif_driver.calls.append(("spawn", rec["next"]))

    def stop(pids: list[int], timeout: float = 10.0) -> None:
        rec["stopped"].extend(pids)
        rec["running"] = [p for p in rec["running"] if p not in pids]
        driver.vif_driver.calls.append(("stop", tuple(pids)))

    def plug(network: Any, port_id: str, device_name: str, mac: str, namespace: str,
             mtu: Any = None) -> None:
        driver.vif_driver.calls.append(("plug", device_name))
        linux["devices"].append(device_name)

    def unplug(device_name: str, namespace: str) -> None:
        driver.vif_driver.calls.append(("unplug", device_name))
        linux["devices"].remove(device_name)

    monkeypatch.setattr(driver, "_spawn", spawn)
    monkeypatch.setattr(driver, "exists", lambda lb_id: bool(rec["running"]))
    monkeypatch.setattr(driver, "_alive_pids", lambda paths: list(rec["running"]))
    monkeypatch.setattr(nd.process, "namespace_pids", lambda ns: list(rec["running"]))
    monkeypatch.setattr(nd.process, "pid_alive", lambda pid: pid in rec["running"])
    monkeypatch.setattr(nd.process, "stop", stop)
    monkeypatch.setattr(driver.vif_driver, "plug", plug)
    monkeypatch.setattr(driver.vif_driver, "unplug", unplug)
    return rec


def test_failover_replugs_the_vip_and_starts_a_fresh_haproxy(driver, logical_device,
                                                            linux, haproxy):
    ld = logical_device()
    device_name = "tap" + ld["vip"]["port"]["id"][:11]
    assert driver.deploy_instance(with_generation(ld, 0))
    (driver.state_path / POOL_ID / "servers-state").write_text("old health")
    driver.vif_driver.calls.clear()
    linux["garp"].clear()

    assert driver.deploy_instance(with_generation(ld, 1))
    # The old process is stopped before the device goes, and the new one starts on
    # the new device: no reload of the old process.
    assert [c for c in driver.vif_driver.calls if c[0] != "init_l3"] == [
        ("stop", (101,)), ("unplug", device_name), ("plug", device_name), ("spawn", 102)]
    assert haproxy["running"] == [102]
    assert linux["garp"], "no gratuitous ARP after the re-plug"
    port_id = ld["vip"]["port"]["id"]
    assert driver.plugin_rpc.calls[-2:] == [("unplug_vip_port", port_id, "host-1"),
                                            ("plug_vip_port", port_id, "host-1")]
    assert not (driver.state_path / POOL_ID / "servers-state").exists()
    assert driver._load_instance(POOL_ID)["failover_generation"] == 1


def test_same_generation_never_restarts(driver, logical_device, haproxy):
    ld = logical_device()
    driver.deploy_instance(with_generation(ld, 3))
    assert driver._load_instance(POOL_ID)["failover_generation"] == 3
    # A rename, a member change, a periodic resync: same generation.
    driver.deploy_instance(with_generation(ld, 3))
    # An agent restart: a new driver over the same state directory adopts it.
    adopted = nd.HaproxyNSDriver(driver.options, driver.plugin_rpc, driver.vif_driver,
                                 "host-1")
    adopted._spawn = driver._spawn  # type: ignore[method-assign]
    adopted.exists = driver.exists  # type: ignore[method-assign]
    adopted.deploy_instance(with_generation(ld, 3))
    assert haproxy["spawned"] == [101] and haproxy["stopped"] == []
    assert not [c for c in driver.vif_driver.calls if c[0] == "unplug"]


def test_a_failover_cut_short_is_done_again(driver, logical_device, haproxy):
    ld = logical_device()
    driver.deploy_instance(with_generation(ld, 0))
    haproxy["fail_spawn"] = True
    with pytest.raises(nd.DeployError):
        driver.deploy_instance(with_generation(ld, 1))
    assert nd._generation(driver._load_instance(POOL_ID)) == 0
    haproxy["fail_spawn"] = False
    driver.deploy_instance(with_generation(ld, 1))
    assert haproxy["running"] == [102]
    assert driver._load_instance(POOL_ID)["failover_generation"] == 1
    unplugs = [c for c in driver.vif_driver.calls if c[0] == "unplug"]
    assert len(unplugs) == 2


def test_first_deploy_and_lower_generation_do_not_fail_over(driver, logical_device,
                                                            haproxy):
    ld = logical_device()
    # A load balancer failed over elsewhere, new on this host: a plain create.
    driver.deploy_instance(with_generation(ld, 4))
    assert haproxy["stopped"] == []
    assert driver._load_instance(POOL_ID)["failover_generation"] == 4
    # The server's database went back: follow it, so that its next failover counts.
    driver.deploy_instance(with_generation(ld, 2))
    assert haproxy["stopped"] == []
    assert driver._load_instance(POOL_ID)["failover_generation"] == 2
    driver.deploy_instance(with_generation(ld, 3))
    assert haproxy["stopped"] == [101]


@pytest.mark.parametrize("record, expected", [
    ({}, 0), ({"failover_generation": 2}, 2), ({"failover_generation": "2"}, 0),
    ({"failover_generation": True}, 0)])
def test_instance_records_without_a_generation_are_at_zero(record, expected):
    assert nd._generation({"port_id": "p", **record}) == expected
    assert nd._generation(None) == 0


# ------------------------------------------------------------------ stats

SHOW_STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
    "wretr,wredis,status,weight,chkfail,chkdown,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,"
    "hrsp_5xx,hrsp_other\n"
    f"{VIP_ID},FRONTEND,,,3,5,2000,120,4096,8192,0,0,0,,,,,OPEN,,,,0,100,1,12,7,0\n"
    f"{POOL_ID},{MEMBER_IDS[0]},0,0,1,2,,60,2048,4096,,0,,0,0,0,0,UP,1,0,0,0,60,0,0,0,0\n"
    f"{POOL_ID},{MEMBER_IDS[1]},0,0,2,3,,60,2048,4096,,0,,0,0,0,0,DOWN,3,3,1,0,40,1,12,"
    "5,0\n"
    f"{POOL_ID},m-maint,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,,,,,,,,\n"
    f"{POOL_ID},BACKEND,0,0,3,5,200,120,4096,8192,0,0,,0,0,0,0,UP,4,,1,0,100,1,12,5,0\n"
)


def test_stats_from_show_stat(driver, monkeypatch):
    answers = {"show stat": SHOW_STAT, "show info": "Name: HAProxy\nPid: 4242\n"}
    monkeypatch.setattr(RuntimeApi, "command", lambda self, line: answers[line])
    monkeypatch.setattr(nd.process, "process_start_time", lambda pid: "777")
    listener_responses = {"hrsp_1xx": 0, "hrsp_2xx": 100, "hrsp_3xx": 1, "hrsp_4xx": 12,
                          "hrsp_5xx": 7, "hrsp_other": 0}
    assert driver.get_stats(POOL_ID) == {
        "bytes_in": 4096, "bytes_out": 8192, "active_connections": 3,
        "total_connections": 120, "epoch": "4242-777", **listener_responses,
        "members": {MEMBER_IDS[0]: {"status": "ACTIVE"},
                    MEMBER_IDS[1]: {"status": "INACTIVE"}},
        # Every server, whatever its health (an empty column is 0).
        "member_counters": {
            MEMBER_IDS[0]: {"check_failures": 0, "check_up_down": 0},
            MEMBER_IDS[1]: {"check_failures": 3, "check_up_down": 1},
            "m-maint": {"check_failures": 0, "check_up_down": 0}},
        "listeners": {VIP_ID: {"bytes_in": 4096, "bytes_out": 8192,
                               "active_connections": 3, "total_connections": 120,
                               "request_errors": 0, **listener_responses}},
        "pools": {POOL_ID: {"bytes_in": 4096, "bytes_out": 8192,
                            "active_connections": 3, "total_connections": 120,
                            "hrsp_1xx": 0, "hrsp_2xx": 100, "hrsp_3xx": 1, "hrsp_4xx": 12,
                            "hrsp_5xx": 5, "hrsp_other": 0}},
    }


SHOW_STAT_TWO_LISTENERS = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
    "wretr,wredis,status,weight\n"
    "l-http,FRONTEND,,,3,5,2000,120,4096,8192,0,0,0,,,,,OPEN,\n"
    "l-tcp,FRONTEND,,,1,1,2000,10,100,200,0,0,4,,,,,OPEN,\n"
    "p-web,m1,0,0,3,3,,120,4096,8192,,0,,0,0,0,0,UP,1\n"
    "p-web,BACKEND,0,0,3,5,200,120,4096,8192,0,0,,0,0,0,0,UP,1\n"
    "p-db,m2,0,0,1,1,,10,100,200,,0,,0,0,0,0,DOWN,1\n"
    "p-db,m3,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1\n"
    "p-db,BACKEND,0,0,1,1,200,10,100,200,0,0,,0,0,0,0,UP,2\n"
)


def test_stats_add_up_listeners_and_report_every_pool(driver, monkeypatch):
    answers = {"show stat": SHOW_STAT_TWO_LISTENERS, "show info": "Pid: 7\n"}
    monkeypatch.setattr(RuntimeApi, "command", lambda self, line: answers[line])
    monkeypatch.setattr(nd.process, "process_start_time", lambda pid: "9")
    stats = driver.get_stats("lb-1")
    assert {k: stats[k] for k in ("bytes_in", "bytes_out", "active_connections",
                                  "total_connections")} == {
        "bytes_in": 4196, "bytes_out": 8392, "active_connections": 4,
        "total_connections": 130}
    assert stats["members"] == {"m1": {"status": "ACTIVE"}, "m2": {"status": "INACTIVE"},
                                "m3": {"status": "ACTIVE"}}
    # A TCP frontend has no HTTP responses: its columns are empty, so 0.
    assert stats["listeners"]["l-tcp"] == {"bytes_in": 100, "bytes_out": 200,
                                           "active_connections": 1, "total_connections": 10,
                                           "request_errors": 4,
                                           **dict.fromkeys(("hrsp_1xx", "hrsp_2xx",
                                                            "hrsp_3xx", "hrsp_4xx",
                                                            "hrsp_5xx", "hrsp_other"), 0)}
    assert "request_errors" not in stats
    assert sorted(stats["pools"]) == ["p-db", "p-web"]
    assert stats["pools"]["p-db"]["total_connections"] == 10


def test_no_stats_when_haproxy_does_not_answer(driver):
    assert driver.get_stats(POOL_ID) == {}


@pytest.mark.parametrize("status, expected", [
    ("UP", "ACTIVE"), ("UP 1/3", "ACTIVE"), ("no check", "ACTIVE"), ("NOLB", "ACTIVE"),
    ("DRAIN", "ACTIVE"), ("DOWN", "INACTIVE"), ("DOWN 1/2", "INACTIVE"),
    ("MAINT", None), ("MAINT (via b/s)", None), ("MAINT (resolution)", None)])
def test_member_status_mapping(status, expected):
    assert nd.member_status(status) == expected


# ------------------------------------------------------------------ orphans


def test_remove_orphans_undeploys_only_unknown_instances(driver, linux, monkeypatch):
    for pool_id in ("known", "gone-1", "gone-2"):
        (driver.state_path / pool_id).mkdir(parents=True)
    undeployed: list[str] = []
    monkeypatch.setattr(driver, "undeploy_instance", undeployed.append)
    assert driver.list_instances() == ["gone-1", "gone-2", "known"]
    assert driver.remove_orphans(["known"]) == ["gone-1", "gone-2"]
    assert undeployed == ["gone-1", "gone-2"]


def test_another_agents_namespaces_are_not_orphans(driver, linux, monkeypatch):
    # A qlbaas-* namespace without a state directory under our state path was made by
    # another agent on this host (tests, an all-in-one next to an agent).
    linux["namespaces"].append("qlbaas-someone-elses")
    undeployed: list[str] = []
    monkeypatch.setattr(driver, "undeploy_instance", undeployed.append)
    assert driver.list_instances() == []
    assert driver.remove_orphans([]) == []
    assert undeployed == []


def test_instance_is_recorded_before_its_namespace_exists(driver, logical_device, linux,
                                                          monkeypatch):
    seen: list[bool] = []
    monkeypatch.setattr(nd.ip_lib, "ensure_namespace",
                        lambda ns: seen.append(driver._load_instance(POOL_ID) is not None))
    driver._plug(nd.get_ns_name(POOL_ID), vip_port(logical_device()))
    assert seen == [True]


def test_undeploy_unplugs_and_removes_state(driver, logical_device, linux, monkeypatch):
    monkeypatch.setattr(driver, "_spawn", lambda config: None)
    monkeypatch.setattr(nd.process, "namespace_pids", lambda ns: [])
    ld = logical_device()
    driver.create(typed(ld))
    driver.undeploy_instance(POOL_ID)
    port_id = ld["vip"]["port"]["id"]
    assert ("unplug", "tap" + port_id[:11], nd.get_ns_name(POOL_ID)) in driver.vif_driver.calls
    assert ("unplug_vip_port", port_id, "host-1") in driver.plugin_rpc.calls
    assert linux["deleted"] == [nd.get_ns_name(POOL_ID)]
    assert not (driver.state_path / POOL_ID).exists()


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden"])
def test_pool_id_cannot_escape_the_state_path(driver, bad):
    with pytest.raises(ValueError):
        driver._paths(bad)


def test_undeploy_of_an_unknown_pool_is_a_no_op(driver, linux):
    driver.undeploy_instance("never-deployed")
    assert driver.vif_driver.calls == []
    assert driver.plugin_rpc.calls == []
    assert linux["deleted"] == []


@pytest.mark.parametrize("status", ["UP", "DOWN", "UP 1/2"])
def test_member_without_a_first_check_has_no_status_yet(status):
    # Right after a (re)start HAProxy says UP with check_status INI until it has checked.
    assert nd.member_status(status, "INI") is None
    assert nd.member_status("UP", "L7OK") == "ACTIVE"
    assert nd.member_status("DOWN", "L4CON") == "INACTIVE"


@pytest.mark.parametrize("mutate", [
    lambda port: port["fixed_ips"][0].update(ip_address="fe80::1%1\nx"),
    lambda port: port["fixed_ips"][0]["subnet"].update(gateway_ip="10.92.0.1%1"),
    lambda port: port["fixed_ips"][0]["subnet"].update(cidr="10.92.0.0/24 x"),
    lambda port: port["fixed_ips"][0]["subnet"].update(
        host_routes=[{"destination": "10.93.0.0/24", "nexthop": "fe80::1%eth0"}]),
], ids=["address", "gateway", "cidr", "nexthop"])
def test_vip_port_l3_values_are_checked_before_netlink(mutate):
    port = sample_logical_device()["vip"]["port"]
    assert nd._port_l3(Port.model_validate(port))[0] == [("10.92.0.10", 24)]
    mutate(port)
    with pytest.raises(nd.DeployError):
        nd._port_l3(Port.model_validate(port))


def test_a_process_exiting_while_its_stat_file_is_read_is_not_alive(monkeypatch):
    # /proc/<pid>/stat of a process that is exiting right then answers ESRCH on read.
    class Exiting:
        def __enter__(self) -> Exiting:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self) -> str:
            raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(nd.process, "open", lambda *a, **k: Exiting(), raising=False)
    assert nd.process.pid_alive(os.getpid()) is False
    assert nd.process.process_start_time(os.getpid()) == "0"
