"""lbaas-agent's command: configuration, errors, its metrics endpoint, and stopping on a
signal."""

from __future__ import annotations

import os
import signal
import socket
import threading

import httpx
import pytest

from lbaas.agent.drivers.haproxy.namespace_driver import DeployError, HaproxyNSDriver
from lbaas.agent.host_checks import HostCheckError
from lbaas.agent.manager import AgentOptions, LbaasAgentManager
from lbaas.cmd import agent as cmd_agent


def _ini(tmp_path, text: str) -> str:
    path = tmp_path / "agent.ini"
    path.write_text(text)
    return str(path)


def _run(argv, capsys):
    code = cmd_agent.main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("ini, expected", [
    ("[DEFAULT]\nperiodic_interval = often\n", "periodic_interval"),
    ("[DEFAULT]\nbridge_mappings = physnet1\n", "physnet1"),
    ("[DEFAULT]\ninterface_driver = macvtap\n", "interface_driver"),
    ("[haproxy]\nsend_gratuitous_arp = -1\n", "send_gratuitous_arp"),
    ("[DEFAULT]\nmetrics_bind = 9101\n", "metrics_bind"),
    ("[haproxy]\naccess_log = syslog.example.com:514\n", "access_log"),
    ("[haproxy]\naccess_log = /dev/log local1\n", "access_log"),
    ("[haproxy]\naccess_log = /dev/log\naccess_log_facility = local9\n",
     "access_log_facility"),
    ("[DEFAULT\nhost = a\n", "agent.ini"),
    ("[DEFAULT]\nserver_url = http://a:9696,b:9696\n", "b:9696"),
    ("[DEFAULT]\nserver_url = ,\n", "server_url"),
])
def test_bad_configuration_is_one_line_and_exit_code_2(tmp_path, capsys, ini, expected):
    code, err = _run(["--config-file", _ini(tmp_path, ini)], capsys)

    assert code == 2
    assert err.startswith("lbaas-agent: configuration error:")
    assert expected in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_missing_config_file_is_exit_code_2(tmp_path, capsys):
    code, err = _run(["--config-file", str(tmp_path / "absent.ini")], capsys)
    assert code == 2
    assert "absent.ini" in err


def test_host_check_failure_is_reported_without_traceback(tmp_path, capsys,
                                                          monkeypatch):
    def no_haproxy(**_kwargs):
        raise HostCheckError("haproxy not found: apt-get install haproxy")

    monkeypatch.setattr(cmd_agent, "check_host", no_haproxy)
    code, err = _run(["--config-file", _ini(tmp_path, "[DEFAULT]\n")], capsys)
    assert code == 1
    assert err == "lbaas-agent: haproxy not found: apt-get install haproxy\n"


def test_settings_come_from_every_config_file_in_order(tmp_path):
    first = tmp_path / "lbaas.conf"
    first.write_text("[DEFAULT]\nhost = net-7\nperiodic_interval = 9\n")
    second = tmp_path / "agent.ini"
    second.write_text("[DEFAULT]\nperiodic_interval = 2\ndeploy_workers = 8\n"
                      "bridge_mappings = physnet1:br-eth1, default:br-lbaas\n"
                      "interface_driver = ovs\novs_use_veth = false\n"
                      "[haproxy]\nloadbalancer_state_path = /tmp/x\nuser_group = haproxy\n")
    conf = cmd_agent.load_config(["--config-file", str(first),
                                  "--config-file", str(second)])
    settings = cmd_agent.read_settings(conf)

    assert settings.host == "net-7"
    assert settings.agent.periodic_interval == 2
    assert settings.agent.deploy_workers == 8
    assert settings.agent.deploy_errors == (DeployError,)
    assert settings.agent.configurations == {
        "device_drivers": ["haproxy_ns"],
        "bridge_mappings": {"physnet1": "br-eth1", "default": "br-lbaas"},
        "interface_driver": "ovs",
    }
    assert settings.interface.interface_driver == "ovs"
    assert settings.interface.ovs_use_veth is False
    assert settings.interface.bridge_mappings == {"physnet1": "br-eth1",
                                                  "default": "br-lbaas"}
    assert settings.haproxy.loadbalancer_state_path == "/tmp/x"
    assert settings.haproxy.user_group == "haproxy"


def test_build_agent_wires_the_haproxy_driver_to_the_given_plugin_api(tmp_path, rpc):
    conf = cmd_agent.load_config(["--config-file", _ini(
        tmp_path, f"[DEFAULT]\nhost = net-1\n[haproxy]\n"
                  f"loadbalancer_state_path = {tmp_path}/lbs\n")])
    manager = cmd_agent.build_agent(conf, rpc)
    try:
        assert manager.host == "net-1"
        assert manager.plugin_rpc is rpc
        assert isinstance(manager.driver, HaproxyNSDriver)
        assert manager.driver.plugin_rpc is rpc
        assert str(manager.driver.state_path) == f"{tmp_path}/lbs"
    finally:
        manager.stop(timeout=1)


def test_sigterm_stops_the_agent_and_leaves_load_balancers(tmp_path, capsys, monkeypatch,
                                                           rpc, driver, recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    built = []

    def fake_build(conf, plugin_rpc):
        manager = LbaasAgentManager(rpc, driver, conf.host,
                                    AgentOptions(poll_timeout=60, report_interval=3600))
        built.append(manager)
        return manager

    monkeypatch.setattr(cmd_agent, "check_host", lambda **_kwargs: None)
    monkeypatch.setattr(cmd_agent, "build_agent", fake_build)

    def terminate_once_deployed() -> None:
        recorder.wait_for(lambda: recorder.named("pool_deployed") == [("p1",)])
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_deployed, daemon=True)
    killer.start()
    before = signal.getsignal(signal.SIGTERM)
    code = cmd_agent.main(["--config-file", _ini(tmp_path, "[DEFAULT]\nhost = h1\n")])
    killer.join(5)

    assert code == 0
    assert built[0].wait(0)
    assert recorder.named("undeploy_instance") == []
    assert driver.instances == {"p1"}
    assert signal.getsignal(signal.SIGTERM) is before


def test_metrics_are_served_while_the_agent_runs_and_stop_with_it(
        tmp_path, capsys, monkeypatch, rpc, driver, recorder, device):
    rpc.ready = ["p1"]
    rpc.devices = {"p1": device("p1")}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/metrics"
    monkeypatch.setattr(cmd_agent, "check_host", lambda **_kwargs: None)
    monkeypatch.setattr(cmd_agent, "build_agent", lambda conf, plugin_rpc: LbaasAgentManager(
        rpc, driver, conf.host, AgentOptions(poll_timeout=60, report_interval=3600)))
    scraped: list[str] = []

    def scrape_then_terminate() -> None:
        recorder.wait_for(lambda: recorder.named("pool_deployed") == [("p1",)])
        scraped.append(httpx.get(url, timeout=10).text)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=scrape_then_terminate, daemon=True)
    killer.start()
    code = cmd_agent.main(["--config-file", _ini(
        tmp_path, f"[DEFAULT]\nhost = h1\nmetrics_bind = 127.0.0.1:{port}\n")])
    killer.join(5)

    assert code == 0
    assert 'lbaas_agent_deploys_total{kind="create",result="deployed"} 1.0' in scraped[0]
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)


def test_access_log_is_off_by_default_and_read_when_set(tmp_path):
    conf = cmd_agent.load_config(["--config-file", _ini(tmp_path, "[DEFAULT]\n")])
    assert cmd_agent.read_settings(conf).haproxy.access_log is None
    conf = cmd_agent.load_config(["--config-file", _ini(
        tmp_path, "[haproxy]\naccess_log = [fd00::98]:514\naccess_log_facility = local4\n")])
    haproxy = cmd_agent.read_settings(conf).haproxy
    assert (haproxy.access_log, haproxy.access_log_facility) == ("[fd00::98]:514", "local4")


def test_agent_down_time_is_read_for_fencing_before_any_server_answers(tmp_path):
    """The servers' [agent] agent_down_time, in the agent's own file too: its fence
    limit until a heartbeat is answered (docs/ha.md)."""
    conf = cmd_agent.load_config(["--config-file", _ini(tmp_path, "[DEFAULT]\n")])
    agent = cmd_agent.read_settings(conf).agent
    assert (agent.agent_down_time, agent.allow_failover) == (8, True)  # server defaults
    conf = cmd_agent.load_config(["--config-file", _ini(
        tmp_path, "[DEFAULT]\nallow_automatic_lbaas_agent_failover = false\n"
                  "[agent]\nagent_down_time = 8\n")])
    agent = cmd_agent.read_settings(conf).agent
    assert (agent.agent_down_time, agent.allow_failover) == (8, False)
