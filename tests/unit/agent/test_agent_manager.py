"""LbaasAgentManager against a fake server and a fake driver."""

from __future__ import annotations

import threading
import time

from lbaas.common import constants
from lbaas.common.plugin_api import Events, PluginApiError


def _wait(event: threading.Event, what: str) -> None:
    assert event.wait(10), f"timed out waiting for {what}"


# -- sync_state -----------------------------------------------------------------------

def test_sync_state_deploys_ready_destroys_unready_and_removes_orphans(
        make_manager, rpc, driver, recorder, device):
    rpc.ready = ["p1", "p2"]
    rpc.devices = {"p1": device("p1"), "p2": device("p2")}
    driver.instances = {"p2", "p3"}
    manager = make_manager()

    manager.sync_state()
    assert manager.wait_idle(10)

    assert sorted(driver.instances) == ["p1", "p2"]
    assert sorted(recorder.named("pool_deployed")) == [("p1",), ("p2",)]
    assert recorder.named("undeploy_instance") == [("p3",)]
    assert recorder.named("pool_destroyed") == [("p3",)]
    assert recorder.named("remove_orphans") == [(["p1", "p2"],)]


def test_sync_state_spares_a_pool_asked_for_while_the_ready_list_was_fetched(
        make_manager, rpc, driver, recorder, device):
    # The ready list is older than the event that deployed p9: destroying p9 on
    # its word would undo a newer change.
    rpc.ready = []
    rpc.devices = {"p9": device("p9")}
    driver.instances = {"p9"}
    manager = make_manager()
    rpc.on_get_ready = lambda: manager.request_refresh("p9")

    manager.sync_state()
    assert manager.wait_idle(10)

    assert recorder.named("undeploy_instance") == []
    assert recorder.named("pool_deployed") == [("p9",)]
    assert driver.instances == {"p9"}


# -- refresh_device -------------------------------------------------------------------

def test_pool_gone_from_server_is_undeployed_and_reported_destroyed(
        make_manager, driver, recorder):
    driver.instances = {"p1"}
    make_manager().refresh_device("p1")

    assert recorder.named("undeploy_instance") == [("p1",)]
    assert recorder.named("pool_destroyed") == [("p1",)]
    assert driver.instances == set()


def test_pool_gone_without_instance_is_only_reported_destroyed(
        make_manager, recorder):
    make_manager().refresh_device("p1")

    assert recorder.named("undeploy_instance") == []
    assert recorder.named("pool_destroyed") == [("p1",)]


def test_pending_delete_pool_is_destroyed_without_deploying(
        make_manager, rpc, driver, recorder, device):
    rpc.devices = {"p1": device("p1", pool_status=constants.PENDING_DELETE)}
    driver.instances = {"p1"}
    make_manager().refresh_device("p1")

    assert recorder.named("deploy_instance") == []
    assert recorder.named("undeploy_instance") == [("p1",)]
    assert recorder.named("pool_destroyed") == [("p1",)]
    assert recorder.named("pool_deployed") == []


def test_deleted_vip_undeploys_and_confirms_with_pool_deployed(
        make_manager, rpc, driver, recorder, device):
    rpc.devices = {"p1": device("p1", vip_status=constants.PENDING_DELETE)}
    driver.instances = {"p1"}
    make_manager().refresh_device("p1")

    assert recorder.named("undeploy_instance") == [("p1",)]
    assert recorder.named("pool_deployed") == [("p1",)]
    assert recorder.named("pool_destroyed") == []
    assert driver.instances == set()


def test_pool_without_vip_is_confirmed_without_undeploying_anything(
        make_manager, rpc, recorder, device):
    rpc.devices = {"p1": device("p1", vip=False, pool_status=constants.PENDING_CREATE)}
    make_manager().refresh_device("p1")

    assert recorder.named("undeploy_instance") == []
    assert recorder.named("pool_deployed") == [("p1",)]


def test_settled_pool_is_not_confirmed_again(make_manager, rpc, driver, recorder, device):
    # An adoption after a restart or a periodic resync: everything is ACTIVE already.
    rpc.devices = {"p1": {**device("p1", vip_status=constants.ACTIVE), "pending": False}}
    make_manager().refresh_device("p1")

    assert driver.instances == {"p1"}
    assert recorder.named("pool_deployed") == []


def test_successful_deploy_reports_pool_deployed(make_manager, rpc, driver, recorder,
                                                 device):
    rpc.devices = {"p1": device("p1")}
    make_manager().refresh_device("p1")

    assert driver.instances == {"p1"}
    assert recorder.named("pool_deployed") == [("p1",)]
    assert recorder.named("update_status") == []


def test_rejected_config_marks_vip_error_with_reason_and_keeps_old_instance(
        make_manager, rpc, driver, recorder, device, deploy_error):
    rpc.devices = {"p1": device("p1")}
    driver.instances = {"p1"}

    def reject() -> None:
        raise deploy_error("[ALERT] parsing [conf:12]: unknown keyword 'balanc'")

    driver.deploy_hooks["p1"] = reject
    make_manager().refresh_device("p1")

    assert recorder.named("update_status") == [
        ("vip", "vip-p1", "ERROR", "[ALERT] parsing [conf:12]: unknown keyword 'balanc'")]
    assert recorder.named("pool_deployed") == []
    assert recorder.named("undeploy_instance") == []
    assert driver.instances == {"p1"}


def test_unexpected_deploy_failure_marks_error_and_is_retried_by_a_resync(
        make_manager, rpc, driver, recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    failures = iter([RuntimeError("mkdir /var/lib/lbaas/p1: No space left on device")])

    def fail_once() -> None:
        exc = next(failures, None)
        if exc is not None:
            raise exc

    driver.deploy_hooks["p1"] = fail_once
    manager = make_manager(periodic_interval=0.05)
    manager.start()

    recorder.wait_for(lambda: recorder.named("pool_deployed") == [("p1",)])
    (status,) = recorder.named("update_status")
    assert status[:3] == ("vip", "vip-p1", "ERROR")
    assert "No space left on device" in status[3]
    assert len(recorder.named("get_ready_devices")) >= 2
    assert driver.instances == {"p1"}


def test_status_description_is_kept_short(make_manager, rpc, driver, recorder, device,
                                          deploy_error):
    rpc.devices = {"p1": device("p1")}

    def reject() -> None:
        raise deploy_error("x" * 5000)

    driver.deploy_hooks["p1"] = reject
    make_manager().refresh_device("p1")

    (status,) = recorder.named("update_status")
    assert 0 < len(status[3]) <= 255


# -- concurrency ----------------------------------------------------------------------

def test_refreshes_of_one_pool_are_coalesced_never_parallel(
        make_manager, rpc, driver, recorder, device):
    rpc.devices = {"p1": device("p1")}
    entered = threading.Event()
    release = threading.Event()
    active = []
    overlaps = []

    def block_first_run() -> None:
        active.append(1)
        if len(active) > 1:
            overlaps.append(len(active))
        try:
            if not entered.is_set():
                entered.set()
                _wait(release, "release")
        finally:
            active.pop()

    driver.deploy_hooks["p1"] = block_first_run
    manager = make_manager(deploy_workers=4)

    manager.request_refresh("p1")
    _wait(entered, "first refresh")
    for _ in range(3):
        manager.request_refresh("p1")
    release.set()
    assert manager.wait_idle(10)

    assert recorder.named("deploy_instance") == [("p1",), ("p1",)]
    assert overlaps == []


def test_different_pools_refresh_in_parallel(make_manager, rpc, recorder, driver,
                                             device):
    rpc.devices = {"p1": device("p1"), "p2": device("p2")}
    # Each deploy waits for the other to have started: serialized deploys would
    # break the barrier and end in ERROR.
    barrier = threading.Barrier(2, timeout=10)
    driver.deploy_hooks["p1"] = barrier.wait
    driver.deploy_hooks["p2"] = barrier.wait
    manager = make_manager(deploy_workers=2)

    manager.request_refresh("p1")
    manager.request_refresh("p2")
    assert manager.wait_idle(20)

    assert sorted(recorder.named("pool_deployed")) == [("p1",), ("p2",)]
    assert recorder.named("update_status") == []


def test_deploy_workers_bound_the_parallelism(make_manager, rpc, driver, device):
    pools = [f"p{i}" for i in range(6)]
    rpc.devices = {p: device(p) for p in pools}
    lock = threading.Lock()
    running = [0]
    peak = [0]
    two_in = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            if running[0] == 2:
                two_in.set()
        _wait(release, "release")
        with lock:
            running[0] -= 1

    for p in pools:
        driver.deploy_hooks[p] = hold
    manager = make_manager(deploy_workers=2)
    for p in pools:
        manager.request_refresh(p)
    _wait(two_in, "two deploys")
    release.set()
    assert manager.wait_idle(20)

    assert peak[0] == 2
    assert driver.instances == set(pools)


# -- threads --------------------------------------------------------------------------

def test_events_refresh_exactly_the_pools_that_changed(make_manager, rpc, recorder,
                                                       device):
    rpc.revision = 5
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1"), "p2": device("p2"), "p3": device("p3")}
    manager = make_manager(poll_timeout=0.2)
    manager.start()
    recorder.wait_for(lambda: recorder.named("pool_deployed") == [("p1",)])

    rpc.events.put(Events(6, ["p2"]))
    recorder.wait_for(lambda: ("p2",) in recorder.named("pool_deployed"))
    recorder.wait_for(lambda: any(c[1] == 6 for c in recorder.named("get_events")))

    assert recorder.named("get_logical_device") == [("p1",), ("p2",)]
    polled_after = [c[1] for c in recorder.named("get_events")]
    assert polled_after[:2] == [0, 5]
    assert 6 in polled_after


def test_failed_poll_resyncs_and_resumes_from_the_same_revision(make_manager, rpc,
                                                                recorder, device):
    rpc.revision = 7
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1"), "p2": device("p2")}
    rpc.events.put(PluginApiError("server restarting"))
    manager = make_manager()
    manager.start()
    recorder.wait_for(lambda: len(recorder.named("get_ready_devices")) >= 2)

    rpc.events.put(Events(8, ["p2"]))
    recorder.wait_for(lambda: ("p2",) in recorder.named("pool_deployed"))

    # p1 was deployed by the first sync and is not fetched again by the cheap one.
    assert recorder.named("get_logical_device") == [("p1",), ("p2",)]
    polled_after = [c[1] for c in recorder.named("get_events")]
    assert polled_after[:3] == [0, 7, 7]


def test_unexpected_event_loop_error_triggers_a_full_resync(make_manager, rpc,
                                                            recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    rpc.events.put(KeyError("revision"))
    manager = make_manager()
    manager.start()

    recorder.wait_for(lambda: len(recorder.named("get_ready_devices")) >= 2)
    recorder.wait_for(lambda: len(recorder.named("pool_deployed")) >= 2)


def test_stop_is_prompt_and_leaves_every_load_balancer_running(
        make_manager, rpc, driver, recorder, device):
    rpc.ready = ["p1", "p2"]
    rpc.devices = {"p1": device("p1"), "p2": device("p2")}
    # A long-poll that will not return for a minute.
    manager = make_manager(poll_timeout=60, periodic_interval=0.05)
    manager.start()
    recorder.wait_for(lambda: len(recorder.named("pool_deployed")) == 2)
    recorder.wait_for(lambda: any(c[2] == 60 for c in recorder.named("get_events")))

    started = time.monotonic()
    manager.stop(timeout=5)

    assert time.monotonic() - started < 5
    assert manager.wait(0)
    assert recorder.named("undeploy_instance") == []
    assert driver.instances == {"p1", "p2"}


def test_periodic_task_restarts_dead_haproxy_and_reports_stats(
        make_manager, rpc, driver, recorder, device):
    rpc.ready = ["p1", "p2"]
    rpc.devices = {"p1": device("p1"), "p2": device("p2")}
    driver.instances = {"p1", "p2"}
    driver.dead = {"p2"}
    manager = make_manager(periodic_interval=0.05)
    manager.start()

    recorder.wait_for(lambda: {c[0] for c in recorder.named("update_pool_stats")}
                      == {"p1", "p2"})
    assert {c[0] for c in recorder.named("ensure_running")} == {"p1", "p2"}
    assert driver.dead == set()
    pool_id, stats, host = recorder.named("update_pool_stats")[0]
    assert host == "host-a"
    assert stats["members"] == {f"m-{pool_id}": {"status": "ACTIVE"}}
    assert stats["total_connections"] == 3


def test_periodic_task_skips_a_pool_being_deployed(make_manager, rpc, driver, recorder,
                                                   device):
    rpc.devices = {"p1": device("p1")}
    driver.instances = {"p1", "p2"}
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        entered.set()
        _wait(release, "release")

    driver.deploy_hooks["p1"] = hold
    manager = make_manager()
    manager.request_refresh("p1")
    _wait(entered, "deploy")
    try:
        manager.collect_stats()
    finally:
        release.set()

    assert recorder.named("ensure_running") == [("p2",)]
    assert manager.wait_idle(10)


def test_heartbeat_says_start_first_then_counts_instances(make_manager, rpc, driver,
                                                          recorder, device):
    rpc.ready = ["p1", "p2", "p3"]
    rpc.devices = {p: device(p) for p in rpc.ready}
    driver.instances = {"p1", "p2", "p3"}
    manager = make_manager(report_interval=0.05)
    manager.start()

    recorder.wait_for(lambda: len(recorder.named("report_state")) >= 2)
    reports = recorder.named("report_state")
    assert [r[2] for r in reports[:2]] == [True, False]
    host, configurations, _ = reports[0]
    assert host == "host-a"
    assert configurations["instances"] == 3
    assert configurations["device_drivers"] == ["haproxy_ns"]


def test_cheap_resync_only_refreshes_ready_pools_missing_on_the_host(
        make_manager, rpc, driver, recorder, device):
    rpc.ready = ["p1", "p2"]
    rpc.devices = {"p1": device("p1"), "p2": device("p2")}
    driver.instances = {"p1", "p3"}
    manager = make_manager()

    manager.sync_state(full=False)
    assert manager.wait_idle(10)

    assert recorder.named("get_logical_device") == [("p2",)]
    assert recorder.named("undeploy_instance") == [("p3",)]
    assert driver.instances == {"p1", "p2"}


def test_cheap_resync_does_not_refetch_pools_confirmed_as_not_served(
        make_manager, rpc, recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1", vip=False)}
    manager = make_manager()
    manager.sync_state()
    assert manager.wait_idle(10)

    manager.sync_state(full=False)
    assert manager.wait_idle(10)

    assert recorder.named("get_logical_device") == [("p1",)]


def test_failed_refresh_of_a_running_pool_is_retried(make_manager, rpc, driver,
                                                     recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    driver.instances = {"p1"}
    failures = iter([OSError("netlink: Device or resource busy")])

    def fail_once() -> None:
        exc = next(failures, None)
        if exc is not None:
            raise exc

    driver.deploy_hooks["p1"] = fail_once
    manager = make_manager(periodic_interval=0.05)
    manager.start()

    recorder.wait_for(lambda: recorder.named("pool_deployed") == [("p1",)])
    assert len(recorder.named("deploy_instance")) >= 2
    assert [s[:3] for s in recorder.named("update_status")] == [("vip", "vip-p1", "ERROR")]


def test_first_heartbeat_precedes_the_first_sync(make_manager, rpc, recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    manager = make_manager()
    manager.start()
    recorder.wait_for(lambda: recorder.named("pool_deployed") == [("p1",)])

    names = [c[0] for c in recorder.calls]
    assert names.index("report_state") < names.index("get_events")


def test_server_revision_going_back_triggers_a_full_resync(make_manager, rpc, recorder,
                                                           device):
    # The server's database was replaced: its revision restarts below ours.
    rpc.revision = 40
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    manager = make_manager()
    manager.start()
    recorder.wait_for(lambda: recorder.named("pool_deployed") == [("p1",)])

    rpc.events.put(Events(3, ["p1"]))
    recorder.wait_for(lambda: len(recorder.named("get_ready_devices")) >= 2)
    recorder.wait_for(lambda: any(c[1] == 3 for c in recorder.named("get_events")))


def test_unchanged_stats_are_not_sent_again_until_the_resend_interval(
        make_manager, driver, recorder):
    driver.instances = {"p1"}
    manager = make_manager(stats_resend_interval=3600)

    manager.collect_stats()
    manager.collect_stats()
    assert len(recorder.named("update_pool_stats")) == 1
    assert len(recorder.named("ensure_running")) == 2

    original = driver.get_stats
    driver.get_stats = lambda pool_id: {**original(pool_id), "total_connections": 4}
    manager.collect_stats()
    sent = recorder.named("update_pool_stats")
    assert [s[1]["total_connections"] for s in sent] == [3, 4]


def test_unchanged_stats_are_resent_after_the_interval(make_manager, driver, recorder):
    driver.instances = {"p1"}
    manager = make_manager(stats_resend_interval=0)

    manager.collect_stats()
    manager.collect_stats()
    assert len(recorder.named("update_pool_stats")) == 2


def test_heartbeat_goes_out_even_when_instances_cannot_be_counted(make_manager, driver,
                                                                  recorder):
    def broken() -> list[str]:
        raise PermissionError("/var/lib/lbaas/lbaas")

    driver.list_instances = broken
    make_manager().report_state(start_flag=True)

    (report,) = recorder.named("report_state")
    assert report[2] is True
    assert "instances" not in report[1]
