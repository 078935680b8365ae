"""The agent over HTTP against the real lbaas-server app (SQLite, 127.0.0.1), with a
fake driver: the agent API's paths, bodies and status flow as both sides implement
them, without any namespace."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from oslo_config import cfg

from lbaas.agent.http_plugin_api import HttpPluginApi
from lbaas.agent.manager import AgentOptions, LbaasAgentManager
from lbaas.common import config

AGENT_HOST = "net-host-1"


@pytest.fixture
def server_url(tmp_path) -> Iterator[str]:
    from lbaas.server.app import create_app

    conf = cfg.ConfigOpts()
    config.register_server_opts(conf)
    config.register_agent_opts(conf)
    conf(args=[], default_config_files=[])
    conf.set_override("state_path", str(tmp_path))
    app = create_app(conf)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            assert thread.is_alive(), "server thread died"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_vip_goes_active_reports_stats_and_deletes_through_the_agent(
        server_url, driver, recorder):
    api = HttpPluginApi(server_url, timeout=10)
    manager = LbaasAgentManager(api, driver, AGENT_HOST, AgentOptions(
        periodic_interval=0.3, report_interval=1, poll_timeout=2,
        configurations={"device_drivers": ["haproxy_ns"],
                        "bridge_mappings": {"default": "br-test"},
                        "interface_driver": "linuxbridge"}))
    manager.start()
    client = httpx.Client(base_url=server_url + "/v2.0", timeout=10)
    try:
        assert _eventually(lambda: client.get("/agents").json()["agents"])
        net = client.post("/networks", json={"network": {
            "name": "n1", "provider:physical_network": "default",
            "provider:network_type": "flat"}}).json()["network"]
        subnet = client.post("/subnets", json={"subnet": {
            "network_id": net["id"], "cidr": "10.10.0.0/24",
            "ip_version": 4}}).json()["subnet"]
        pool = client.post("/lb/pools", json={"pool": {
            "name": "web", "subnet_id": subnet["id"], "protocol": "HTTP",
            "lb_method": "ROUND_ROBIN"}}).json()["pool"]
        vip = client.post("/lb/vips", json={"vip": {
            "name": "web-vip", "subnet_id": subnet["id"], "protocol": "HTTP",
            "protocol_port": 80, "pool_id": pool["id"]}}).json()["vip"]

        def vip_status() -> str:
            return str(client.get(f"/lb/vips/{vip['id']}").json()["vip"]["status"])

        # Both, in either order: pool_deployed for the pool's creation may come back
        # after the VIP was added and activate it before the VIP's own refresh ran.
        assert _eventually(lambda: vip_status() == "ACTIVE"), vip_status()
        assert _eventually(lambda: driver.instances == {pool["id"]}), recorder.calls
        assert _eventually(lambda: client.get(f"/lb/pools/{pool['id']}/stats")
                           .json()["stats"]["total_connections"] == 3)

        assert client.delete(f"/lb/vips/{vip['id']}").status_code == 204
        assert _eventually(lambda: client.get(f"/lb/vips/{vip['id']}").status_code == 404)
        assert _eventually(lambda: driver.instances == set())

        assert client.delete(f"/lb/pools/{pool['id']}").status_code == 204
        assert _eventually(
            lambda: client.get(f"/lb/pools/{pool['id']}").status_code == 404)
        assert ("undeploy_instance", pool["id"]) in recorder.calls
    finally:
        client.close()
        manager.stop(timeout=5)
        api.close()
