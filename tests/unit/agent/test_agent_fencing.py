"""The agent's side of failover (docs/architecture.md, "High availability"): what moved
away is removed before the agent announces anything, without a word to the server, and
a partition longer than the server waits makes the agent stop serving."""

from __future__ import annotations

import time

from lbaas.common.logical_device import LogicalDevice
from lbaas.common.plugin_api import HostNotFound, PluginApiError
from tests.unit.agent.conftest import HOST


def test_fence_removes_what_is_not_bound_here_without_telling_the_server(
        make_manager, rpc, driver, recorder):
    rpc.ready = ["mine"]
    driver.instances = {"mine", "moved"}
    manager = make_manager()

    assert manager.fence() == ["moved"]

    assert driver.instances == {"mine"}
    assert recorder.named("undeploy_instance") == [("moved", "without telling the server")]
    assert recorder.named("pool_destroyed") == []
    assert recorder.named("unplug_vip_port") == []


def test_a_host_the_server_forgot_keeps_nothing(make_manager, rpc, driver):
    def forgotten() -> None:
        raise HostNotFound(HOST)
    rpc.on_get_ready = forgotten
    driver.instances = {"p1", "p2"}

    assert make_manager().fence() == ["p1", "p2"]
    assert driver.instances == set()


def test_the_first_heartbeat_comes_after_the_fence(make_manager, rpc, driver, recorder):
    rpc.ready = []
    driver.instances = {"moved"}
    manager = make_manager()
    manager.start()
    recorder.wait_for(lambda: bool(recorder.named("report_state")))

    names = [call[0] for call in recorder.calls]
    assert names.index("undeploy_instance") < names.index("report_state")
    assert driver.instances == set()


def test_a_device_bound_to_another_host_is_removed_not_served(make_manager, rpc, driver,
                                                              recorder, device):
    rpc.devices = {"p1": device("p1")}
    rpc.hosts = {"p1": "host-b"}
    driver.instances = {"p1"}
    manager = make_manager()

    manager.refresh_device("p1")

    assert driver.instances == set()
    assert recorder.named("deploy_instance") == []
    assert recorder.named("undeploy_instance") == [("p1", "without telling the server")]
    assert recorder.named("pool_deployed") == []


def test_fence_after_follows_the_servers_down_time(make_manager, rpc):
    manager = make_manager(report_interval=2)
    assert manager.fence_after() is None  # no heartbeat answered yet
    rpc.fencing = {"agent_down_time": 8, "failover": True}
    manager.report_state()
    manager._last_contact = time.monotonic()  # as the heartbeat loop records it
    manager._fencing = rpc.fencing
    assert manager.fence_after() == 5.0  # 8 - 1.5 x 2
    manager._fencing = {"agent_down_time": 8, "failover": False}
    assert manager.fence_after() is None  # nobody could take over: keep serving


def test_cut_off_agent_stops_serving_and_serves_again_once_back(make_manager, rpc, driver,
                                                                recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    rpc.fencing = {"agent_down_time": 2, "failover": True}
    manager = make_manager(report_interval=0.2, periodic_interval=0.1)
    manager.start()
    recorder.wait_for(lambda: driver.instances == {"p1"})

    rpc.report_error = PluginApiError("cannot reach lbaas-server")
    # 2 - 1.5 x 0.2 = 1.7 s after the last answered heartbeat.
    recorder.wait_for(lambda: driver.instances == set(), timeout=10)
    assert ("p1", "without telling the server") in recorder.named("undeploy_instance")

    rpc.report_error = None
    recorder.wait_for(lambda: driver.instances == {"p1"}, timeout=10)


def test_self_fence_leaves_active_standby_halves_to_vrrp(make_manager, driver, recorder):
    driver.instances = {"single", "pair"}
    driver.arbitrated = {"pair"}
    manager = make_manager()

    assert manager.self_fence() == ["single"]

    assert driver.instances == {"pair"}
    assert recorder.named("undeploy_instance") == [("single",
                                                    "without telling the server")]


def _active_standby(pool_id: str, hosts: tuple[str, str]) -> LogicalDevice:
    port = {"id": "vip-port", "network_id": "net", "mac_address": "fa:16:3e:00:00:01",
            "network": {"id": "net"}}
    amphorae = [{"id": f"amp-{i}", "host": host, "role": role, "vrrp_priority": prio,
                 "vrrp_port": {**port, "id": f"vrrp-{i}"}}
                for i, (host, role, prio) in enumerate(zip(hosts, ("MASTER", "BACKUP"),
                                                           (200, 100), strict=True))]
    return LogicalDevice.model_validate({
        "id": pool_id, "host": None, "loadbalancer": {
            "id": pool_id, "vip_address": "10.0.0.10", "vip_port": port,
            "topology": "ACTIVE_STANDBY", "amphorae": amphorae,
            "vrrp": {"vrid": 1, "advert_int_ms": 100}}})


def test_active_standby_without_an_amphora_here_is_removed_not_served(
        make_manager, rpc, driver, recorder, monkeypatch):
    monkeypatch.setattr(rpc, "get_logical_device",
                        lambda pool_id: _active_standby(pool_id, ("host-b", "host-c")))
    driver.instances = {"p1"}

    make_manager().refresh_device("p1")

    assert driver.instances == set()
    assert recorder.named("deploy_instance") == []
    assert recorder.named("undeploy_instance") == [("p1", "without telling the server")]
    assert recorder.named("pool_deployed") == []


def test_active_standby_with_an_amphora_here_is_deployed(make_manager, rpc, driver,
                                                         recorder, monkeypatch):
    monkeypatch.setattr(rpc, "get_logical_device",
                        lambda pool_id: _active_standby(pool_id, (HOST, "host-b")))

    make_manager().refresh_device("p1")

    assert driver.instances == {"p1"}
    assert recorder.named("pool_deployed") == [("p1",)]
