"""keepalived's view model and templates for ACTIVE_STANDBY amphorae, and the HAProxy
peers section (docs/architecture.md, "ACTIVE_STANDBY"). Rendered configs are checked by
the installed ``keepalived -t`` and ``haproxy -c`` when present."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lbaas.agent.drivers.haproxy import cfg, keepalived
from lbaas.common.logical_device import LoadBalancer

VIP = "10.98.80.100"


def _port(port_id: str, ip: str) -> dict[str, Any]:
    subnet = {"id": "s", "cidr": "10.98.80.0/24", "gateway_ip": "10.98.80.1"}
    return {"id": port_id, "network_id": "n", "mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"subnet_id": "s", "ip_address": ip, "subnet": subnet}],
            "network": {"id": "n"}}


def _lb(**vrrp: Any) -> dict[str, Any]:
    return {
        "id": "lb-1", "vip_address": VIP, "vip_port": _port("vip", VIP),
        "topology": "ACTIVE_STANDBY",
        "listeners": [{"id": "l1", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool_id": "p1"}],
        "pools": [{"id": "p1", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "session_persistence": {"type": "SOURCE_IP"},
                   "members": [{"id": "m1", "address": "10.98.80.11",
                                "protocol_port": 80}]}],
        "amphorae": [
            {"id": "amp-a", "host": "host-a", "role": "MASTER", "vrrp_priority": 200,
             "vrrp_port": _port("pa", "10.98.80.21")},
            {"id": "amp-b", "host": "host-b", "role": "BACKUP", "vrrp_priority": 100,
             "vrrp_port": _port("pb", "10.98.80.22")}],
        "vrrp": {"vrid": 7, "advert_int_ms": 100, **vrrp},
    }


def _view(tmp_path: Path, lb: dict[str, Any], host: str = "host-a",
          interface: str = "ns-pa") -> keepalived.KeepalivedView:
    model = LoadBalancer.model_validate(lb)
    pair = keepalived.own_and_peer(model, host)
    assert pair is not None
    return keepalived.build_view(model, pair[0], pair[1], interface,
                                 keepalived.Paths(tmp_path), tmp_path / "conf",
                                 tmp_path / "pid")


def test_keepalived_config_holds_the_vip_by_unicast_vrrpv3(tmp_path: Path) -> None:
    conf = keepalived.render(_view(tmp_path, _lb()))["conf"]
    assert "vrrp_version 3" in conf
    assert "state BACKUP\n    nopreempt\n" in conf
    assert "virtual_router_id 7" in conf and "priority 200" in conf
    assert "advert_int 0.1" in conf
    assert "unicast_src_ip 10.98.80.21" in conf
    assert "unicast_peer {\n        10.98.80.22\n    }" in conf
    assert f"{VIP}/32 dev ns-pa" in conf
    assert f'script "{tmp_path}/check-haproxy.sh"' in conf
    assert f'notify "{tmp_path}/notify.sh"' in conf
    assert "/etc/keepalived" not in conf


def test_the_backup_side_is_the_mirror(tmp_path: Path) -> None:
    conf = keepalived.render(_view(tmp_path, _lb(), host="host-b", interface="ns-pb"))
    assert "unicast_src_ip 10.98.80.22" in conf["conf"]
    assert "priority 100" in conf["conf"]


def test_preempt_drops_nopreempt_and_intervals_are_fractional(tmp_path: Path) -> None:
    conf = keepalived.render(_view(tmp_path, _lb(preempt=True, advert_int_ms=1000)))
    assert "    nopreempt\n" not in conf["conf"]
    assert "advert_int 1\n" in conf["conf"]


@pytest.mark.parametrize("change,message", [
    (lambda lb: lb["vrrp"].update(advert_int_ms=105), "multiple of 10"),
    (lambda lb: lb.update(vip_address="10.98.80.100 dev lo"), "not a valid IP"),
    (lambda lb: lb["amphorae"][1]["vrrp_port"]["fixed_ips"][0].update(
        ip_address="10.98.80.21"), "three addresses"),
    (lambda lb: lb["amphorae"][1]["vrrp_port"]["fixed_ips"][0].update(
        ip_address="fe80::1"), "one IP version"),
    (lambda lb: lb["amphorae"][0].update(id="amp a"), "amphora id"),
    (lambda lb: lb["amphorae"].pop(), "needs two"),
])
def test_bad_values_never_reach_the_file(tmp_path: Path, change: Any, message: str) -> None:
    lb = _lb()
    change(lb)
    with pytest.raises(keepalived.KeepalivedError, match=message):
        _view(tmp_path, lb)


@pytest.mark.parametrize("interface", ["eth 0", "a" * 16, "x\ny", ""])
def test_bad_interface_names_are_refused(tmp_path: Path, interface: str) -> None:
    with pytest.raises(keepalived.KeepalivedError):
        _view(tmp_path, _lb(), interface=interface)


def test_no_amphora_here_is_none() -> None:
    assert keepalived.own_and_peer(LoadBalancer.model_validate(_lb()), "host-c") is None


def test_rendered_config_passes_keepalived_check(tmp_path: Path) -> None:
    if shutil.which("keepalived") is None:
        pytest.skip("keepalived is not installed")
    paths = keepalived.Paths(tmp_path)
    keepalived.write_files(paths, keepalived.render(_view(tmp_path, _lb(),
                                                          interface="lo")))
    proc = subprocess.run(["keepalived", "-t", "-f", str(paths.conf), "-l", "-P"],
                          capture_output=True, text=True, timeout=30)
    # lo cannot carry VRRP, which keepalived -t reports without failing; nothing
    # else may be wrong.
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if ("Line" in line or "unknown keyword" in line.lower())
                and "loopback" not in line]
    assert problems == [], proc.stdout + proc.stderr


def test_haproxy_peers_sync_stick_tables(haproxy_check: Any) -> None:
    model = LoadBalancer.model_validate(_lb())
    view = cfg.build_view(model, cfg.StatePaths("/run/x/sock", "/run/x/state"),
                          "nogroup", 300, own_amphora_id="amp-a")
    text = cfg.render(view)
    assert "    localpeer amp-a\n" in text
    assert "peers amphorae\n    peer amp-a 10.98.80.21:1025\n" \
           "    peer amp-b 10.98.80.22:1025\n" in text
    assert "stick-table type ip size 10k peers amphorae" in text
    assert cfg.view_from_dict(cfg.view_to_dict(view)) == view
    result = haproxy_check(text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_single_topology_has_no_peers() -> None:
    lb = _lb()
    lb.update(topology="SINGLE", amphorae=[], vrrp=None)
    view = cfg.build_view(LoadBalancer.model_validate(lb),
                          cfg.StatePaths("/run/x/sock", "/run/x/state"), "nogroup", 300)
    assert view.peers is None and "peers" not in cfg.render(view)
