"""The HAProxy namespace driver against real namespaces, veths, a Linux bridge, real
HAProxy and real HTTP backends (see conftest.py for the topology)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lbaas.agent.drivers.haproxy import cfg, process
from lbaas.agent.drivers.haproxy.namespace_driver import DeployError
from lbaas.agent.drivers.haproxy.runtime import RuntimeApi
from lbaas.agent.linux import ip_lib
from lbaas.common.logical_device import LogicalDevice, from_v1
from tests.functional.haproxy.haproxy_topology import (
    BACKEND_PORT,
    BACKENDS,
    BRIDGE,
    VIP_ADDRESS,
    DriverHarness,
    Topology,
    make_logical_device,
    run,
    wait_for,
)

pytestmark = pytest.mark.functional


def typed(ld: dict[str, Any]) -> LogicalDevice:
    """The v1 device (what make_logical_device builds, tests mutate) as the server's
    /agent/v2 route hands it to the agent."""
    return from_v1(ld)


def deploy(h: DriverHarness, ld: dict[str, Any]) -> str:
    pool_id = ld["pool"]["id"]
    h.deployed.add(pool_id)
    assert h.driver.deploy_instance(typed(ld)) is True
    return pool_id


def haproxy_pid(h: DriverHarness, pool_id: str) -> int:
    pids = process.read_pids(h.state_path / pool_id / "pid")
    assert len(pids) == 1
    return pids[0]


def runtime(h: DriverHarness, pool_id: str) -> RuntimeApi:
    return RuntimeApi(str(h.state_path / pool_id / "sock"))


def uptime(h: DriverHarness, pool_id: str) -> int:
    return int(runtime(h, pool_id).show_info()["Uptime_sec"])


def test_vip_answers_and_round_robin_spreads(topology: Topology, harness: DriverHarness):
    ld = make_logical_device(["thbe1", "thbe2"])
    pool_id = deploy(harness, ld)

    result = topology.requests(40)
    assert result["failures"] == 0, result["errors"]
    assert result["counts"] == {"thbe1": 20, "thbe2": 20}
    assert harness.driver.exists(pool_id)
    assert ("plug", ld["vip"]["port"]["id"], "th-host") in harness.plugin_rpc.calls
    # The VIP's device sits in the pool's namespace, its peer on the bridge.
    tap = "tap" + ld["vip"]["port"]["id"][:11]
    assert f"master {BRIDGE}" in run("ip", "link", "show", tap).stdout
    routes = run("ip", "netns", "exec", f"qlbaas-{pool_id}", "ip", "route").stdout
    assert "default via 10.92.0.1" in routes


def test_new_member_is_a_seamless_reload(topology: Topology, harness: DriverHarness):
    pool_id = deploy(harness, make_logical_device(["thbe1", "thbe2"]))
    old_pid = haproxy_pid(harness, pool_id)
    # The new member, then back and forth: every step is a reload (a new process).
    member_sets = [["thbe1", "thbe2", "thbe3"], ["thbe1", "thbe3"], ["thbe2", "thbe3"]] * 2
    member_sets.append(["thbe1", "thbe2", "thbe3"])
    pids = [old_pid]

    loop = topology.start_client_loop(count=5000, seconds=15)
    try:
        time.sleep(1.0)
        for members in member_sets:
            harness.driver.deploy_instance(typed(make_logical_device(members, pool_id=pool_id)))
            pids.append(haproxy_pid(harness, pool_id))
            time.sleep(0.5)
        out, err = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    result = json.loads(out)
    assert result["requests"] > 100, result
    assert result["failures"] == 0, result["errors"]
    assert len(set(pids)) == len(member_sets) + 1
    # The old processes finished their connections and left.
    assert wait_for(lambda: not any(process.pid_alive(p) for p in pids[:-1]), timeout=30)
    assert set(topology.requests(30)["counts"]) == {"thbe1", "thbe2", "thbe3"}


def test_replaced_vip_port_is_replugged(topology: Topology, harness: DriverHarness):
    ld = make_logical_device(["thbe1"])
    pool_id = deploy(harness, ld)
    old_port_id = ld["vip"]["port"]["id"]
    old_tap = "tap" + old_port_id[:11]
    new_port_id = "thpfeed0001-0000-4000-8000-000000000000"
    ld["vip"]["port_id"] = ld["vip"]["port"]["id"] = new_port_id
    ld["vip"]["port"]["mac_address"] = "fa:16:3e:92:00:99"

    assert harness.driver.deploy_instance(typed(ld))
    assert not ip_lib.device_exists(old_tap)
    assert ip_lib.device_exists("tap" + new_port_id[:11])
    assert sorted(ip_lib.list_devices(f"qlbaas-{pool_id}")) == ["lo", "ns-" + new_port_id[:11]]
    assert topology.requests(10)["counts"] == {"thbe1": 10}
    assert ("unplug", old_port_id, "th-host") in harness.plugin_rpc.calls
    assert ("plug", new_port_id, "th-host") in harness.plugin_rpc.calls


def test_weight_change_applies_without_reload(topology: Topology, harness: DriverHarness):
    pool_id = deploy(harness, make_logical_device(["thbe1", "thbe2"]))
    pid = haproxy_pid(harness, pool_id)
    time.sleep(1.1)
    uptime_before = uptime(harness, pool_id)
    assert uptime_before >= 1

    harness.driver.deploy_instance(typed(
        make_logical_device(["thbe1", "thbe2"], weights={"thbe1": 9, "thbe2": 1},
                            pool_id=pool_id)))

    assert haproxy_pid(harness, pool_id) == pid
    assert uptime(harness, pool_id) >= uptime_before
    counts = topology.requests(100)["counts"]
    assert counts.get("thbe1", 0) >= 85, counts
    # The file on disk describes what runs, for the next reload or an agent restart.
    assert "weight 9" in (harness.state_path / pool_id / "conf").read_text()


def test_member_admin_down_applies_without_reload(topology: Topology,
                                                  harness: DriverHarness):
    ld = make_logical_device(["thbe1", "thbe2"])
    pool_id = deploy(harness, ld)
    pid = haproxy_pid(harness, pool_id)

    ld["members"][1]["admin_state_up"] = False
    harness.driver.deploy_instance(typed(ld))
    assert haproxy_pid(harness, pool_id) == pid
    assert topology.requests(20)["counts"] == {"thbe1": 20}
    assert "thbe2" not in harness.driver.get_stats(pool_id)["members"]

    ld["members"][1]["admin_state_up"] = True
    harness.driver.deploy_instance(typed(ld))
    assert haproxy_pid(harness, pool_id) == pid
    assert topology.requests(20)["counts"] == {"thbe1": 10, "thbe2": 10}


def test_runtime_admin_state_does_not_survive_a_reload_against_the_config(
        topology: Topology, harness: DriverHarness):
    # Disabled through the runtime API, then enabled together with a change that needs a
    # reload: the saved server state must not bring the maintenance back.
    ld = make_logical_device(["thbe1", "thbe2"])
    pool_id = deploy(harness, ld)
    ld["members"][1]["admin_state_up"] = False
    harness.driver.deploy_instance(typed(ld))
    pid = haproxy_pid(harness, pool_id)

    ld = make_logical_device(["thbe1", "thbe2", "thbe3"], pool_id=pool_id)
    harness.driver.deploy_instance(typed(ld))
    assert haproxy_pid(harness, pool_id) != pid
    assert set(topology.requests(30)["counts"]) == {"thbe1", "thbe2", "thbe3"}


def test_vanished_vip_device_is_plugged_again(topology: Topology, harness: DriverHarness):
    ld = make_logical_device(["thbe1"])
    pool_id = deploy(harness, ld)
    pid = haproxy_pid(harness, pool_id)
    tap = "tap" + ld["vip"]["port"]["id"][:11]
    run("ip", "link", "del", tap)  # takes its ns- peer along
    assert topology.requests(1, seconds=6)["failures"] == 1

    assert harness.driver.deploy_instance(typed(ld))
    assert ip_lib.device_exists(tap)
    assert topology.requests(10)["counts"] == {"thbe1": 10}
    # The listener survived: no new process was needed.
    assert haproxy_pid(harness, pool_id) == pid


def test_rejected_config_keeps_the_old_one_serving(topology: Topology,
                                                   harness: DriverHarness):
    ld = make_logical_device(["thbe1", "thbe2"])
    pool_id = deploy(harness, ld)
    conf = harness.state_path / pool_id / "conf"
    good = conf.read_text()
    pid = haproxy_pid(harness, pool_id)

    # A value the view model lets through but HAProxy refuses: a group that does not exist.
    harness.driver.options = dataclasses.replace(harness.driver.options,
                                                 user_group="thnosuchgroup")
    with pytest.raises(DeployError) as excinfo:
        harness.driver.deploy_instance(typed(make_logical_device(
            ["thbe1", "thbe2", "thbe3"], pool_id=pool_id)))
    assert "thnosuchgroup" in excinfo.value.reason
    assert conf.read_text() == good
    assert haproxy_pid(harness, pool_id) == pid
    assert topology.requests(20)["counts"] == {"thbe1": 10, "thbe2": 10}


def test_invalid_value_forced_into_the_view_is_rejected_by_haproxy(
        topology: Topology, harness: DriverHarness, monkeypatch: pytest.MonkeyPatch):
    ld = make_logical_device(["thbe1"])
    pool_id = deploy(harness, ld)
    conf = harness.state_path / pool_id / "conf"
    good = conf.read_text()
    real_build = cfg.build_view

    def broken_build(*args: Any, **kwargs: Any) -> cfg.ConfigView:
        view = real_build(*args, **kwargs)
        return dataclasses.replace(view, backends=(dataclasses.replace(
            view.backends[0], balance="thbogus"),))

    monkeypatch.setattr(cfg, "build_view", broken_build)
    with pytest.raises(DeployError) as excinfo:
        harness.driver.deploy_instance(typed(make_logical_device(["thbe1", "thbe2"],
                                                                 pool_id=pool_id)))
    assert "balance only supports" in excinfo.value.reason
    assert "haproxy.cfg" in excinfo.value.reason
    assert conf.read_text() == good
    assert topology.requests(10)["counts"] == {"thbe1": 10}


def test_killed_haproxy_is_restarted_by_ensure_running(topology: Topology,
                                                       harness: DriverHarness):
    pool_id = deploy(harness, make_logical_device(["thbe1", "thbe2"]))
    assert harness.driver.ensure_running(pool_id) is False
    pid = haproxy_pid(harness, pool_id)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not process.pid_alive(pid))
    assert not harness.driver.exists(pool_id)

    assert harness.driver.ensure_running(pool_id) is True
    assert haproxy_pid(harness, pool_id) != pid
    assert harness.driver.exists(pool_id)
    assert topology.requests(10)["failures"] == 0


def test_stale_pid_file_never_signals_a_stranger(topology: Topology,
                                                 harness: DriverHarness):
    # After a crash or a reboot the pid in the file may belong to another process.
    pool_id = deploy(harness, make_logical_device(["thbe1"]))
    pid = haproxy_pid(harness, pool_id)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not process.pid_alive(pid))
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (harness.state_path / pool_id / "pid").write_text(f"{stranger.pid}\n")
        assert harness.driver.ensure_running(pool_id) is True
        assert topology.requests(5)["failures"] == 0
        harness.driver.undeploy_instance(pool_id)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_restarted_agent_adopts_the_instance_without_reload(topology: Topology,
                                                            harness: DriverHarness):
    ld = make_logical_device(["thbe1", "thbe2"])
    pool_id = deploy(harness, ld)
    pid = haproxy_pid(harness, pool_id)

    fresh = harness.make_driver()
    assert fresh.list_instances() == [pool_id]
    assert fresh.deploy_instance(typed(ld)) is True
    assert haproxy_pid(harness, pool_id) == pid
    assert topology.requests(10)["failures"] == 0


def test_stats_count_traffic_and_member_health(topology: Topology, harness: DriverHarness):
    ld = make_logical_device(["thbe1", "thbe2"])
    ld["healthmonitors"] = [{"id": "th-hm", "type": "HTTP", "delay": 1, "timeout": 1,
                             "max_retries": 1, "http_method": "GET", "url_path": "/",
                             "expected_codes": "200", "admin_state_up": True,
                             "status": "ACTIVE"}]
    pool_id = deploy(harness, ld)
    assert topology.requests(10)["failures"] == 0
    stats = harness.driver.get_stats(pool_id)
    assert stats["total_connections"] >= 10
    assert stats["bytes_in"] > 0 and stats["bytes_out"] > 0
    # Members appear once their first check has run (delay 1 s here).
    assert wait_for(lambda: harness.driver.get_stats(pool_id)["members"] == {
        "thbe1": {"status": "ACTIVE"}, "thbe2": {"status": "ACTIVE"}}, timeout=10)
    epoch = stats["epoch"]

    topology.stop_backend("thbe2")
    try:
        assert wait_for(lambda: harness.driver.get_stats(pool_id)["members"]
                        .get("thbe2") == {"status": "INACTIVE"}, timeout=20)
        assert topology.requests(10)["counts"] == {"thbe1": 10}
    finally:
        topology.start_backend("thbe2")
    assert harness.driver.get_stats(pool_id)["epoch"] == epoch
    # A reload is a new process: counters restart, and the epoch says so.
    harness.driver.deploy_instance(typed(make_logical_device(["thbe1", "thbe2", "thbe3"],
                                                             pool_id=pool_id)))
    assert harness.driver.get_stats(pool_id)["epoch"] != epoch


def test_https_monitor_runs_the_http_check_over_tls(topology: Topology,
                                                    harness: DriverHarness):
    # Both backends complete the TLS handshake; only the HTTP answer inside tells the
    # healthy one (/health 200) from the sick one (/health 500).
    keys = [topology.start_backend("thbe1", port=8443, tls_health_status=200),
            topology.start_backend("thbe2", port=8443, tls_health_status=500)]
    try:
        ld = make_logical_device(["thbe1", "thbe2"])
        ld["pool"]["protocol"] = ld["vip"]["protocol"] = "HTTPS"
        ld["vip"]["protocol_port"] = 443
        for member in ld["members"]:
            member["protocol_port"] = 8443
        ld["healthmonitors"] = [{"id": "th-hm", "type": "HTTPS", "delay": 1, "timeout": 1,
                                 "max_retries": 1, "http_method": "GET",
                                 "url_path": "/health", "expected_codes": "200",
                                 "admin_state_up": True, "status": "ACTIVE"}]
        pool_id = deploy(harness, ld)
        assert wait_for(lambda: harness.driver.get_stats(pool_id)["members"] == {
            "thbe1": {"status": "ACTIVE"}, "thbe2": {"status": "INACTIVE"}}, timeout=20), \
            harness.driver.get_stats(pool_id)
    finally:
        for key in keys:
            topology.stop_backend(key)


def test_source_ip_persistence_keeps_a_client_on_one_member(topology: Topology,
                                                            harness: DriverHarness):
    ld = make_logical_device(["thbe1", "thbe2", "thbe3"])
    ld["vip"]["session_persistence"] = {"type": "SOURCE_IP", "cookie_name": None}
    deploy(harness, ld)
    counts = topology.requests(20)["counts"]
    assert list(counts.values()) == [20], counts


def test_http_cookie_persistence_keeps_a_browser_on_one_member(topology: Topology,
                                                              harness: DriverHarness):
    ld = make_logical_device(["thbe1", "thbe2", "thbe3"])
    ld["vip"]["session_persistence"] = {"type": "HTTP_COOKIE", "cookie_name": None}
    deploy(harness, ld)
    with_cookie = topology.requests(20, cookies=True)["counts"]
    assert list(with_cookie.values()) == [20], with_cookie
    # Without the cookie, round robin as before: the persistence is the cookie's doing.
    assert len(topology.requests(20)["counts"]) == 3


def test_admin_down_vip_stays_deployed_but_stops_serving(topology: Topology,
                                                         harness: DriverHarness):
    ld = make_logical_device(["thbe1"])
    pool_id = deploy(harness, ld)
    ld["vip"]["admin_state_up"] = False
    assert harness.driver.deploy_instance(typed(ld)) is True
    result = topology.requests(3, seconds=10)
    assert result["failures"] == 3
    assert ip_lib.namespace_exists(f"qlbaas-{pool_id}")


def test_undeploy_leaves_nothing_behind(topology: Topology, harness: DriverHarness):
    ld = make_logical_device(["thbe1", "thbe2"])
    pool_id = deploy(harness, ld)
    # A reload leaves an old process finishing its connections: it must go too.
    loop = topology.start_client_loop(count=200, seconds=3)
    harness.driver.deploy_instance(typed(make_logical_device(["thbe1"], pool_id=pool_id)))
    loop.communicate(timeout=30)
    pid = haproxy_pid(harness, pool_id)
    tap = "tap" + ld["vip"]["port"]["id"][:11]

    harness.driver.undeploy_instance(pool_id)

    assert not ip_lib.namespace_exists(f"qlbaas-{pool_id}")
    assert not ip_lib.device_exists(tap)
    assert not (harness.state_path / pool_id).exists()
    assert not process.pid_alive(pid)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(harness.state_path / pool_id) not in ps
    assert ("unplug", ld["vip"]["port"]["id"], "th-host") in harness.plugin_rpc.calls
    assert harness.driver.list_instances() == []
    assert topology.requests(2, seconds=10)["failures"] == 2


def test_remove_orphans_undeploys_unknown_pools(topology: Topology, harness: DriverHarness):
    pool_id = deploy(harness, make_logical_device(["thbe1"]))
    assert harness.driver.remove_orphans([pool_id]) == []
    assert harness.driver.exists(pool_id)
    assert harness.driver.remove_orphans([]) == [pool_id]
    assert not ip_lib.namespace_exists(f"qlbaas-{pool_id}")


def test_pools_deploy_in_parallel_each_in_its_own_namespace(topology: Topology,
                                                            harness: DriverHarness):
    lds = [make_logical_device([member], vip_address=f"10.92.0.{20 + i}",
                               mac_address=f"fa:16:3e:92:00:{20 + i:02x}")
           for i, member in enumerate(["thbe1", "thbe2", "thbe3"])]
    harness.deployed.update(ld["pool"]["id"] for ld in lds)
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(harness.driver.deploy_instance, map(typed, lds))) == [True] * 3

    for i, member in enumerate(["thbe1", "thbe2", "thbe3"]):
        assert topology.requests(5, address=f"10.92.0.{20 + i}")["counts"] == {member: 5}
    assert sorted(harness.driver.list_instances()) == sorted(ld["pool"]["id"] for ld in lds)


# ------------------------------------------------------------------ several listeners


def multi_listener_device(lb_id: str, weights: dict[str, int] | None = None,
                          alt_members: tuple[str, ...] = ("thbe3",)) -> LogicalDevice:
    """One VIP, three listeners: :80 → pool "web" (thbe1, thbe2, with ``weights``),
    :8080 → pool "alt" (HTTP/1.1 checks with a Host header), :8081 → no pool."""
    weights = weights or {}
    port = make_logical_device([], pool_id=lb_id)["vip"]["port"]
    web, alt = f"{lb_id}-web", f"{lb_id}-alt"

    def members(names: tuple[str, ...], weights: dict[str, int]) -> list[dict[str, Any]]:
        return [{"id": n, "address": BACKENDS[n], "protocol_port": BACKEND_PORT,
                 "weight": weights.get(n, 1)} for n in names]

    return LogicalDevice.model_validate({
        "id": lb_id, "revision": 1,
        "loadbalancer": {
            "id": lb_id, "vip_address": VIP_ADDRESS, "vip_port": port,
            "listeners": [
                {"id": f"{lb_id}-l80", "protocol": "HTTP", "protocol_port": 80,
                 "default_pool_id": web, "insert_headers": {"X-Forwarded-For": "true"}},
                {"id": f"{lb_id}-l8080", "protocol": "HTTP", "protocol_port": 8080,
                 "default_pool_id": alt, "timeout_client_data": 20000,
                 "insert_headers": {"X-Forwarded-Port": "true"}},
                {"id": f"{lb_id}-l8081", "protocol": "HTTP", "protocol_port": 8081},
            ],
            "pools": [
                {"id": web, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                 "members": members(("thbe1", "thbe2"), weights)},
                {"id": alt, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                 "members": members(alt_members, {}),
                 "healthmonitor": {"id": "th-hm", "type": "HTTP", "delay": 1,
                                   "timeout": 1, "max_retries": 1, "max_retries_down": 2,
                                   "http_version": 1.1, "domain_name": "th.example.com",
                                   "url_path": "/health"}},
            ],
        },
    })


def test_several_listeners_and_pools_in_one_haproxy(topology: Topology,
                                                     harness: DriverHarness):
    lb_id = f"th-{uuid.uuid4().hex[:12]}"
    harness.deployed.add(lb_id)
    assert harness.driver.deploy_instance(multi_listener_device(lb_id)) is True
    pid = haproxy_pid(harness, lb_id)

    assert topology.requests(20)["counts"] == {"thbe1": 10, "thbe2": 10}
    assert topology.requests(10, port=8080)["counts"] == {"thbe3": 10}
    no_pool = topology.requests(2, port=8081)
    assert no_pool["failures"] == 2 and "HTTP 503" in no_pool["errors"][0], no_pool
    # The HTTP/1.1 check (with its Host header) passes on a live member; members of
    # every backend are reported (the unchecked ones as ACTIVE, as in v1).
    assert wait_for(lambda: harness.driver.get_stats(lb_id)["members"] == {
        "thbe1": {"status": "ACTIVE"}, "thbe2": {"status": "ACTIVE"},
        "thbe3": {"status": "ACTIVE"}}, timeout=10), harness.driver.get_stats(lb_id)

    stats = harness.driver.get_stats(lb_id)
    assert sorted(stats["listeners"]) == sorted(f"{lb_id}-l{p}" for p in (80, 8080, 8081))
    assert sorted(stats["pools"]) == sorted([f"{lb_id}-web", f"{lb_id}-alt"])
    assert stats["listeners"][f"{lb_id}-l8080"]["total_connections"] >= 10
    assert stats["total_connections"] == sum(
        c["total_connections"] for c in stats["listeners"].values())

    # A weight change in the first pool is a runtime change in its own backend.
    harness.driver.deploy_instance(multi_listener_device(lb_id, weights={"thbe2": 0}))
    assert haproxy_pid(harness, lb_id) == pid
    assert topology.requests(10)["counts"] == {"thbe1": 10}
    assert topology.requests(5, port=8080)["counts"] == {"thbe3": 5}

    # A member moving between pools needs a reload, seamless for every listener.
    harness.driver.deploy_instance(multi_listener_device(lb_id, weights={"thbe2": 0},
                                                         alt_members=("thbe3", "thbe2")))
    assert haproxy_pid(harness, lb_id) != pid
    assert set(topology.requests(20, port=8080)["counts"]) == {"thbe2", "thbe3"}
    assert topology.requests(5)["counts"] == {"thbe1": 5}

    harness.driver.undeploy_instance(lb_id)
    assert not ip_lib.namespace_exists(f"qlbaas-{lb_id}")
