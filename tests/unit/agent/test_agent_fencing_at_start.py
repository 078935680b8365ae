"""An agent that (re)starts while no server answers, with instances on the host from
before: the server may have moved them while the agent was away, so after its own
configuration's agent_down_time (counted from the start) it stops serving them, as an
agent cut off after a heartbeat did (docs/architecture.md, "High availability")."""

from __future__ import annotations

import json
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


def test_restart_counts_from_the_last_answer_before_it(make_manager, rpc, driver,
                                                       recorder, tmp_path):
    """The servers count from the last heartbeat they got, before the restart: the
    agent keeps that time and their word, and counts from there too."""
    contact = tmp_path / "agent-contact.json"
    rpc.fencing = {"agent_down_time": 30, "failover": True}
    first = make_manager(report_interval=0.2, periodic_interval=0.1,
                         contact_file=str(contact))
    first.start()
    recorder.wait_for(lambda: contact.exists())
    first.stop()
    kept = json.loads(contact.read_text())
    assert kept["fencing"] == rpc.fencing and kept["time"] <= time.time()

    # 29 s ago by the servers' clock: 30 - 1.5 x 0.2 = 29.7 s, so the limit passes
    # about 0.7 s after the restart, whatever the configuration says (1000 s).
    contact.write_text(json.dumps({"time": time.time() - 29, "fencing": rpc.fencing}))
    _unreachable(rpc)
    driver.instances = {"p1"}
    second = make_manager(report_interval=0.2, periodic_interval=0.1,
                          agent_down_time=1000, contact_file=str(contact))
    started = time.monotonic()
    second.start()
    recorder.wait_for(lambda: driver.instances == set(), timeout=10)
    assert time.monotonic() - started < 5


def test_a_lone_agents_word_survives_its_restart(make_manager, rpc, driver, tmp_path):
    """The server said nobody could take over: after a restart without a server the
    agent keeps serving, whatever its configuration says."""
    contact = tmp_path / "agent-contact.json"
    contact.write_text(json.dumps({"time": time.time() - 100,
                                   "fencing": {"agent_down_time": 8, "failover": False}}))
    manager = make_manager(report_interval=2, agent_down_time=8,
                           contact_file=str(contact))
    manager._previous_contact = manager._read_contact()
    assert manager.fence_after() is None


def test_a_broken_contact_file_is_ignored(make_manager, tmp_path):
    contact = tmp_path / "agent-contact.json"
    contact.write_text("{not json")
    manager = make_manager(report_interval=2, agent_down_time=8,
                           contact_file=str(contact))
    assert manager._read_contact() is None
    assert manager.fence_after() == 5.0
