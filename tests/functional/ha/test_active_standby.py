"""ACTIVE_STANDBY on the agent side (docs/architecture.md, "ACTIVE_STANDBY"): two hosts'
drivers handed one hand-built logical device, keepalived deciding which amphora holds
the VIP, a client on the wire sending new-connection requests throughout.

Real namespaces, veths, bridges, HAProxy, keepalived and HTTP; prefix ``tk``, addresses
10.98.80.0/24 (wire) and 10.98.81.0/24 (mgmt). Every load loop is bounded in count
and time (tests/helpers/active_standby.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.active_standby import ActiveStandbyLab, DriverProcess, measure
from tests.helpers.netlab import netns, wait_until

if (os.geteuid() != 0 or shutil.which("haproxy") is None
        or shutil.which("keepalived") is None):
    pytest.skip("ACTIVE_STANDBY tests need root, haproxy and keepalived",
                allow_module_level=True)


@pytest.fixture
def aslab() -> Iterator[ActiveStandbyLab]:
    root = Path(tempfile.mkdtemp(prefix="lbaas-as-"))
    lab = ActiveStandbyLab(root)
    try:
        lab.build()
        yield lab
    finally:
        try:
            lab.teardown()
        finally:
            if os.environ.get("LBAAS_HA_KEEP_LOGS"):
                shutil.copytree(root, os.environ["LBAAS_HA_KEEP_LOGS"], dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("sock", "*.fifo"))
            shutil.rmtree(root, ignore_errors=True)


def _deployed(aslab: ActiveStandbyLab, **kwargs: object) -> tuple[str, dict]:
    lb_id = str(uuid.uuid4())
    device = aslab.device(lb_id, **kwargs)  # type: ignore[arg-type]
    aslab.deploy(device)
    # Neither holds the VIP at first (both start BACKUP); a's higher priority wins
    # once the master-down timer ran out on both.
    aslab.wait_holder(lb_id, "a")
    wait_until(lambda: aslab.get(1) == ["b1"], timeout=10, interval=0.1,
               message="the VIP serving")
    return lb_id, device


def _states(aslab: ActiveStandbyLab, lb_id: str) -> dict[str, str]:
    states = {}
    for name, driver in aslab.drivers.items():
        amphora = driver.call("stats", id=lb_id)["amphora"]
        states[name] = amphora["vrrp_state"]
    return states


def test_master_holds_the_vip_backup_stands_by(aslab: ActiveStandbyLab) -> None:
    lb_id, device = _deployed(aslab)

    assert aslab.get(5) == ["b1"] * 5
    wait_until(lambda: _states(aslab, lb_id) == {"a": "MASTER", "b": "BACKUP"},
               timeout=5, message="states reported")
    stats = aslab.drivers["a"].call("stats", id=lb_id)
    own = next(a for a in device["loadbalancer"]["amphorae"] if a["host"] == "tka")
    assert stats["amphora"] == {"id": own["id"], "vrrp_state": "MASTER"}
    # Each amphora plugged its own port, not the VIP's; both HAProxys bind the VIP.
    for name in ("a", "b"):
        addrs = netns(aslab.ns(name, lb_id), "ip", "-o", "-4", "addr").stdout
        assert f"{aslab.amphora_ips[name]}/24" in addrs
        listening = netns(aslab.ns(name, lb_id), "ss", "-ltnH").stdout
        assert f"{aslab.vip}:80" in listening
        assert f"{aslab.amphora_ips[name]}:1025" in listening  # HAProxy peers
    conf = (aslab.hosts["a"].state / lb_id / "keepalived.conf").read_text()
    assert "nopreempt" in conf and "advert_int 0.1" in conf
    assert f"unicast_peer {{\n        {aslab.amphora_ips['b']}" in conf


def test_takeover_when_the_active_host_dies(aslab: ActiveStandbyLab) -> None:
    lb_id, _ = _deployed(aslab)

    seen = measure(aslab, lambda: aslab.kill_host("a", lb_id))

    print(f"host died: {seen}")
    assert seen.serving_again_s is not None and seen.serving_again_s < 1.0, seen
    # Only requests in flight when the host died may fail (their HAProxy died under
    # them); every new connection after it is served, some late (a lost SYN resent).
    assert seen.failed_after_event == 0, seen
    assert aslab.holds_vip("b", lb_id)
    assert aslab.get(3) == ["b1"] * 3


def test_takeover_when_only_haproxy_dies(aslab: ActiveStandbyLab) -> None:
    lb_id, _ = _deployed(aslab)

    seen = measure(aslab, lambda: aslab.kill("a", lb_id, ("haproxy",)))

    print(f"HAProxy died: {seen}")
    assert seen.serving_again_s is not None and seen.serving_again_s < 1.0, seen
    # Until keepalived sees it (a poll of its check) the dead HAProxy's port refuses
    # connections; none fails once the VIP moved.
    assert seen.failed_after_serving == 0, seen
    aslab.wait_holder(lb_id, "b", timeout=2)
    # The agent's liveness check restarts it; it comes back BACKUP (nopreempt).
    assert aslab.drivers["a"].call("ensure", id=lb_id) is True
    time.sleep(1.5)
    assert aslab.holder(lb_id) == "b"
    assert _states(aslab, lb_id) == {"a": "BACKUP", "b": "MASTER"}


def _stick_table(aslab: ActiveStandbyLab, name: str, lb_id: str, backend: str) -> str:
    sock = aslab.hosts[name].state / lb_id / "sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(f"show table {backend}\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def _get_from(aslab: ActiveStandbyLab, source: str) -> str:
    return subprocess.run(["ip", "netns", "exec", aslab.lab.client_ns, "curl", "-s",
                           "-m", "3", "--interface", source, aslab.url],
                          capture_output=True, text=True, timeout=10).stdout.strip()


def test_sticky_session_survives_takeover(aslab: ActiveStandbyLab) -> None:
    lb_id, device = _deployed(aslab, persistence="SOURCE_IP", members=("b1", "b2"))
    pool_id = device["loadbalancer"]["pools"][0]["id"]
    other = f"{aslab.lan_base}.6"
    netns(aslab.lab.client_ns, "ip", "addr", "add", f"{other}/24", "dev", "eth0")
    # The master's round robin moves on with every new source; the backup never saw
    # one. So the client's member is the master's choice, which the backup's own
    # first pick would not repeat: only a synchronised table keeps it.
    first = _get_from(aslab, other)
    mine = _get_from(aslab, f"{aslab.lan_base}.5")
    assert {first, mine} == {"b1", "b2"}
    wait_until(lambda: f"key={aslab.lan_base}.5 " in _stick_table(aslab, "b", lb_id,
                                                                   pool_id),
               timeout=5, message="the entry pushed to the backup")

    aslab.kill_host("a", lb_id)
    # The dead host's killed keepalived left the VIP on its device: look at b only.
    wait_until(lambda: aslab.holds_vip("b", lb_id), timeout=5, interval=0.05,
               message="the VIP on b")

    assert [_get_from(aslab, f"{aslab.lan_base}.5") for _ in range(5)] == [mine] * 5


def test_failback_does_not_black_hole(aslab: ActiveStandbyLab) -> None:
    lb_id, device = _deployed(aslab)
    aslab.kill_host("a", lb_id)
    # The dead host's killed keepalived left the VIP on its device: look at b only.
    wait_until(lambda: aslab.holds_vip("b", lb_id), timeout=5, interval=0.05,
               message="the VIP on b")

    def comes_back() -> None:
        # The wire is back, then the agent: it restarts HAProxy and keepalived,
        # removing the VIP the killed keepalived left behind first.
        aslab.hosts["a"].cut_wire(up=True)
        aslab.drivers["a"].stop()
        aslab.drivers["a"] = DriverProcess(aslab.hosts["a"]).start()
        assert aslab.drivers["a"].call("ensure", id=lb_id) is True
        aslab.drivers["a"].call("deploy", device=device)

    seen = measure(aslab, comes_back, seconds=6)

    print(f"failback: {seen}")
    assert seen.failed == 0, seen
    assert seen.slow == 0, seen
    assert aslab.holder(lb_id) == "b"
    assert _states(aslab, lb_id) == {"a": "BACKUP", "b": "MASTER"}


def test_role_swap_moves_the_vip_without_a_failed_request(aslab: ActiveStandbyLab) -> None:
    lb_id, device = _deployed(aslab)
    ids = {a["host"][-1]: a["id"] for a in device["loadbalancer"]["amphorae"]}
    swapped = aslab.device(lb_id, roles={"a": "BACKUP", "b": "MASTER"}, revision=2,
                           amphora_ids=ids)

    # Each agent applies the new device when it gets it: b (promoted) first here.
    seen = measure(aslab, lambda: aslab.deploy(swapped, names=("b", "a")))

    print(f"role swap: {seen}")
    assert seen.failed == 0, seen
    aslab.wait_holder(lb_id, "b", timeout=2)
    assert _states(aslab, lb_id) == {"a": "BACKUP", "b": "MASTER"}


@pytest.mark.xfail(strict=False, reason=(
    "known race, open: when the demoted amphora applies the swap first and the machine "
    "is loaded, the VIP was seen to end on it again (the promoted one's keepalived "
    "reload right after the takeover); once in the full suite, never alone"))
def test_role_swap_back_with_the_demoted_one_applying_first(
        aslab: ActiveStandbyLab) -> None:
    lb_id, device = _deployed(aslab)
    ids = {a["host"][-1]: a["id"] for a in device["loadbalancer"]["amphorae"]}
    swapped = aslab.device(lb_id, roles={"a": "BACKUP", "b": "MASTER"}, revision=2,
                           amphora_ids=ids)
    aslab.deploy(swapped, names=("b", "a"))
    aslab.wait_holder(lb_id, "b", timeout=5)
    seen = measure(aslab, lambda: aslab.deploy(device | {"revision": 3},
                                                names=("b", "a")))
    assert seen.failed == 0, seen
    aslab.wait_holder(lb_id, "a", timeout=5)


def test_keepalived_adopted_across_agent_restart_and_restarted_when_killed(
        aslab: ActiveStandbyLab) -> None:
    lb_id, device = _deployed(aslab)
    conf = aslab.hosts["a"].state / lb_id / "keepalived.conf"
    pids = aslab.pids("a", lb_id, "keepalived")
    written = conf.stat().st_mtime_ns

    aslab.drivers["a"].stop()
    aslab.drivers["a"] = DriverProcess(aslab.hosts["a"]).start()
    assert aslab.drivers["a"].call("deploy", device=device) is True
    assert aslab.drivers["a"].call("ensure", id=lb_id) is False

    assert aslab.pids("a", lb_id, "keepalived") == pids
    assert conf.stat().st_mtime_ns == written  # nothing rewritten, nothing reloaded
    assert aslab.holder(lb_id) == "a"

    # A changed priority is a reload (SIGHUP): same processes, the VIP stays.
    aslab.deploy(aslab.device(lb_id, priorities={"a": 150, "b": 100}, revision=2,
                              amphora_ids={a["host"][-1]: a["id"] for a in
                                           device["loadbalancer"]["amphorae"]}),
                 names=("a",))
    assert "priority 150" in conf.read_text()
    assert aslab.pids("a", lb_id, "keepalived") == pids
    time.sleep(0.5)
    assert aslab.holder(lb_id) == "a"

    aslab.kill("a", lb_id, ("keepalived",))
    wait_until(lambda: not aslab.pids("a", lb_id, "keepalived"), timeout=5,
               message="keepalived gone")
    # b takes the VIP after its master-down interval; a's leftovers go at the restart.
    assert aslab.drivers["a"].call("ensure", id=lb_id) is True
    new = aslab.pids("a", lb_id, "keepalived")
    assert new and not set(new) & set(pids)
    aslab.wait_holder(lb_id, "b", timeout=5)
    assert aslab.get(3) == ["b1"] * 3


def test_undeploy_stops_keepalived_and_hands_over(aslab: ActiveStandbyLab) -> None:
    lb_id, _ = _deployed(aslab)

    seen = measure(aslab, lambda: aslab.drivers["a"].call("undeploy", id=lb_id))

    assert seen.failed == 0, seen
    assert aslab.holder(lb_id) == "b"
    assert not (aslab.hosts["a"].state / lb_id).exists()
    assert aslab.ns("a", lb_id) not in aslab.hosts["a"].namespaces()


def test_an_agent_without_an_amphora_removes_its_instance(aslab: ActiveStandbyLab) -> None:
    lb_id, device = _deployed(aslab)
    moved = {**device, "loadbalancer": {**device["loadbalancer"], "amphorae": [
        {**amp, "host": "elsewhere"} if amp["host"] == "tkb" else amp
        for amp in device["loadbalancer"]["amphorae"]]}}

    # The driver refuses it; the manager then removes the instance (without telling
    # the server: the amphora is another host's now), as here.
    assert aslab.drivers["b"].call("deploy", device=moved) is False
    aslab.drivers["b"].call("undeploy", id=lb_id)
    assert aslab.ns("b", lb_id) not in aslab.hosts["b"].namespaces()
    assert aslab.holder(lb_id) == "a"
    assert aslab.get(3) == ["b1"] * 3


def test_haproxy_reload_keeps_the_vip_and_its_peers(aslab: ActiveStandbyLab) -> None:
    lb_id, device = _deployed(aslab, persistence="SOURCE_IP")
    ids = {a["host"][-1]: a["id"] for a in device["loadbalancer"]["amphorae"]}
    keepalived_pids = aslab.pids("a", lb_id, "keepalived")
    grown = aslab.device(lb_id, persistence="SOURCE_IP", members=("b1", "b2"),
                         revision=2, amphora_ids=ids)

    # A new member is a reload of both HAProxys (the check script must not take the
    # pid file's rewrite for a death), nothing for keepalived.
    seen = measure(aslab, lambda: aslab.deploy(grown))

    assert seen.failed == 0, seen
    assert aslab.holder(lb_id) == "a"
    assert aslab.pids("a", lb_id, "keepalived") == keepalived_pids
    assert _states(aslab, lb_id) == {"a": "MASTER", "b": "BACKUP"}
    # The client's entry still reaches the backup through the new processes' peers.
    pool_id = device["loadbalancer"]["pools"][0]["id"]
    aslab.get(1)
    wait_until(lambda: f"key={aslab.lan_base}.5 " in _stick_table(aslab, "b", lb_id,
                                                                   pool_id),
               timeout=5, message="the entry pushed to the backup")
