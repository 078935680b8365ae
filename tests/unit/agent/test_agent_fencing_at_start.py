"""An agent that (re)starts while no server answers, with instances on the host from
before: the server may have moved them while the agent was away, so after its own
configuration's agent_down_time (counted from the start) it stops serving them, as an
agent cut off after a heartbeat did (docs/architecture.md, "High availability")."""

from __future__ import annotations

import time

from lbaas.common.plugin_api import PluginApiError


def _unreachable(rpc) -> None:
    error = PluginApiError("cannot reach lbaas-server")
    rpc.report_error = error

    def refuse() -> None:
        raise error
    rpc.on_get_ready = refuse


def test_fence_after_uses_the_configured_down_time_until_a_server_answers(
        make_manager, rpc):
    assert make_manager(report_interval=2).fence_after() is None  # not configured
    manager = make_manager(report_interval=2, agent_down_time=8)
    assert manager.fence_after() == 5.0  # 8 - 1.5 x 2, as with the server's word
    # Failover off in the configuration: nothing ever moves, nothing to fence.
    assert make_manager(report_interval=2, agent_down_time=8,
                        allow_failover=False).fence_after() is None
    # Once a heartbeat was answered, the server's word decides.
    manager._last_contact = time.monotonic()
    manager._fencing = {"agent_down_time": 20, "failover": True}
    assert manager.fence_after() == 17.0
    manager._fencing = {"agent_down_time": 20, "failover": False}
    assert manager.fence_after() is None


def test_restart_without_a_server_removes_the_instances_it_found(
        make_manager, rpc, driver, recorder, device):
    _unreachable(rpc)
    driver.instances = {"p1", "p2"}
    manager = make_manager(report_interval=0.2, periodic_interval=0.1, agent_down_time=1)
    started = time.monotonic()
    manager.start()

    # 1 - 1.5 x 0.2 = 0.7 s after the start.
    recorder.wait_for(lambda: driver.instances == set(), timeout=10)
    assert time.monotonic() - started >= 0.7
    assert sorted(recorder.named("undeploy_instance")) == [
        ("p1", "without telling the server"), ("p2", "without telling the server")]
    assert recorder.named("pool_destroyed") == []

    # A server answers: what is still bound here comes back, the rest stays away.
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    rpc.fencing = {"agent_down_time": 1, "failover": True}
    rpc.report_error = None
    rpc.on_get_ready = None
    recorder.wait_for(lambda: driver.instances == {"p1"}, timeout=10)


def test_restart_without_a_server_keeps_serving_before_the_limit(
        make_manager, rpc, driver, recorder):
    _unreachable(rpc)
    driver.instances = {"p1"}
    manager = make_manager(report_interval=0.2, periodic_interval=0.1,
                           agent_down_time=30)
    manager.start()
    time.sleep(1.0)  # several heartbeat attempts (each fence first fails)
    assert len(recorder.named("get_ready_devices")) >= 3
    assert driver.instances == {"p1"}
    assert recorder.named("undeploy_instance") == []


def test_a_server_that_answers_at_start_keeps_a_lone_agent_serving(
        make_manager, rpc, driver, recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    rpc.fencing = {"agent_down_time": 1, "failover": False}  # nobody could take over
    driver.instances = {"p1"}
    manager = make_manager(report_interval=0.2, periodic_interval=0.1, agent_down_time=1)
    manager.start()
    recorder.wait_for(lambda: bool(recorder.named("report_state")))
    rpc.report_error = PluginApiError("cannot reach lbaas-server")
    time.sleep(1.5)  # past the configured limit: the server's word (no failover) rules
    assert driver.instances == {"p1"}
    assert recorder.named("undeploy_instance") == []


def test_a_server_that_answered_the_fence_stops_the_count_from_the_start(
        make_manager, rpc, driver):
    """The fence before the first heartbeat got the ready list: a server is there, and
    what was not bound here is gone; a long fence is not silence."""
    rpc.ready = ["p1"]
    driver.instances = {"p1", "moved"}
    manager = make_manager(report_interval=2, agent_down_time=8)
    assert manager.fence_after() == 5.0
    assert manager.fence() == ["moved"]
    assert manager.fence_after() is None  # until a heartbeat brings the server's word
