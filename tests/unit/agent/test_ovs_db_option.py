"""``[DEFAULT] ovs_db``: the agent's OVS driver talks to the ovsdb-server it names (a
private switch next to the host's), and to ovs-vsctl's default when it is empty."""

from __future__ import annotations

import pytest

from lbaas.agent.linux import ovs_lib
from lbaas.agent.linux.interface import (
    InterfaceOptions,
    OVSInterfaceDriver,
    get_interface_driver,
)
from lbaas.cmd import agent as cmd_agent


def _settings(tmp_path, text: str):
    ini = tmp_path / "agent.ini"
    ini.write_text(text)
    return cmd_agent.read_settings(cmd_agent.load_config(["--config-file", str(ini)]))


def test_ovs_db_reaches_the_interface_options(tmp_path):
    settings = _settings(tmp_path, "[DEFAULT]\ninterface_driver = ovs\n"
                                   "ovs_db = /tmp/x/db.sock\n")
    assert settings.interface.ovsdb == "/tmp/x/db.sock"


def test_empty_ovs_db_means_the_default_switch(tmp_path):
    assert _settings(tmp_path, "[DEFAULT]\ninterface_driver = ovs\n").interface.ovsdb is None


@pytest.mark.parametrize("explicit, expected", [(None, "unix:/tmp/x/db.sock"),
                                                ("/tmp/y.sock", "unix:/tmp/y.sock")])
def test_driver_sends_every_vsctl_call_to_the_configured_db(monkeypatch, explicit,
                                                             expected):
    calls: list[list[str]] = []

    def fake_run(argv, **_kwargs):
        calls.append(argv)

        class Done:
            returncode, stdout, stderr = 0, "netdev\n", ""
        return Done()

    monkeypatch.setattr(ovs_lib.subprocess, "run", fake_run)
    options = InterfaceOptions(interface_driver="ovs", ovsdb="/tmp/x/db.sock",
                               bridge_mappings={"default": "br-x"})
    driver = OVSInterfaceDriver(options, ovsdb=explicit)

    driver.ensure_bridge("br-x")
    assert driver.get_bridge({"provider:physical_network": "default"}) == "br-x"
    driver.unplug("tapdoesnotexist", "qlbaas-absent-namespace")

    vsctl_calls = [argv for argv in calls if argv[0] == "ovs-vsctl"]
    assert len(vsctl_calls) == 3
    assert all(f"--db={expected}" in argv for argv in vsctl_calls), vsctl_calls


def test_interface_driver_from_the_configuration_uses_the_db(tmp_path):
    settings = _settings(tmp_path, "[DEFAULT]\ninterface_driver = ovs\n"
                                   "ovs_db = unix:/tmp/z.sock\n")

    driver = get_interface_driver(settings.interface)
    assert isinstance(driver, OVSInterfaceDriver)
    assert driver.ovsdb == "unix:/tmp/z.sock"
