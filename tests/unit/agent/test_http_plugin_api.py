"""HttpPluginApi against a small HTTP server on 127.0.0.1 that records each request."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from lbaas.agent.http_plugin_api import HttpPluginApi
from lbaas.common import request_id
from lbaas.common.logical_device import LogicalDevice, from_v1
from lbaas.common.plugin_api import Events, PluginApiError, PoolNotFound


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # (method, path) -> (status, body, delay seconds)
        self.routes: dict[tuple[str, str], tuple[int, Any, float]] = {}
        self.lock = threading.Lock()


def _handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with state.lock:
                state.requests.append({
                    "method": self.command, "path": url.path,
                    "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                    "headers": dict(self.headers),
                    "body": json.loads(raw) if raw else None,
                    "client_port": self.client_address[1],
                })
                status, body, delay = state.routes.get(
                    (self.command, url.path),
                    (404, {"NeutronError": {"type": "NotFound",
                                            "message": "no route"}}, 0.0))
            if delay:
                time.sleep(delay)
            payload = b"" if body is None else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout under test)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[FakeServer, str]]:
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def api(server) -> Iterator[HttpPluginApi]:
    client = HttpPluginApi(server[1] + "/", token="tok-agent", timeout=5)
    try:
        yield client
    finally:
        client.close()


def test_every_call_uses_the_agent_api_paths_and_bodies(server, api):
    state, _ = server
    for method, path in [("POST", "/agent/v1/agents"),
                         ("POST", "/agent/v1/pools/p1/deployed"),
                         ("POST", "/agent/v1/pools/p1/destroyed"),
                         ("POST", "/agent/v1/status"),
                         ("POST", "/agent/v1/ports/port1/plug"),
                         ("POST", "/agent/v1/ports/port1/unplug"),
                         ("POST", "/agent/v1/pools/p1/stats")]:
        state.routes[(method, path)] = (200, {}, 0.0)
    state.routes[("POST", "/agent/v1/agents")] = (200, {"agent": {"id": "a1"}}, 0.0)
    stats = {"bytes_in": 1, "bytes_out": 2, "active_connections": 0,
             "total_connections": 4, "epoch": "e", "members": {"m1": {"status": "ACTIVE"}}}

    assert api.report_state("host-a", {"instances": 2}, start_flag=True) == {"id": "a1"}
    api.pool_deployed("p1")
    api.pool_destroyed("p1")
    api.update_status("vip", "v1", "ERROR", "bad config")
    api.plug_vip_port("port1", "host-a")
    api.unplug_vip_port("port1", "host-a")
    api.update_pool_stats("p1", stats, "host-a")

    seen = [(r["method"], r["path"], r["body"]) for r in state.requests]
    assert seen == [
        ("POST", "/agent/v1/agents",
         {"host": "host-a", "configurations": {"instances": 2}, "start_flag": True,
          "agent_type": "Loadbalancer agent"}),
        ("POST", "/agent/v1/pools/p1/deployed", {}),
        ("POST", "/agent/v1/pools/p1/destroyed", {}),
        ("POST", "/agent/v1/status",
         {"obj_type": "vip", "obj_id": "v1", "status": "ERROR",
          "status_description": "bad config"}),
        ("POST", "/agent/v1/ports/port1/plug", {"host": "host-a"}),
        ("POST", "/agent/v1/ports/port1/unplug", {"host": "host-a"}),
        ("POST", "/agent/v1/pools/p1/stats", {"stats": stats, "host": "host-a"}),
    ]
    assert {r["headers"].get("X-Auth-Token") for r in state.requests} == {"tok-agent"}
    # One kept-alive connection for all of them.
    assert len({r["client_port"] for r in state.requests}) == 1


def test_no_token_sends_no_auth_header(server):
    state, url = server
    state.routes[("GET", "/agent/v1/hosts/h/ready_devices")] = (200, {"pool_ids": []}, 0)
    with HttpPluginApi(url) as api:
        assert api.get_ready_devices("h") == []
    assert "X-Auth-Token" not in state.requests[0]["headers"]


def test_the_current_request_id_goes_with_each_call(server, api):
    # While the agent applies a change it sends the change's id, so the server logs the
    # call under it; with no id, no header (the server makes one).
    state, _ = server
    state.routes[("POST", "/agent/v1/pools/p1/deployed")] = (200, {}, 0.0)
    rid = request_id.generate()
    with request_id.bound(rid):
        api.pool_deployed("p1")
    api.pool_deployed("p1")
    first, second = (r["headers"] for r in state.requests)
    assert first.get("x-openstack-request-id") == rid
    assert "x-openstack-request-id" not in {k.lower() for k in second}


def test_ready_devices_and_logical_device(server, api):
    state, _ = server
    device = {"pool": {"id": "p1"}, "vip": None, "members": [], "healthmonitors": [],
              "driver": "haproxy_ns", "revision": 3, "pending": False}
    state.routes[("GET", "/agent/v1/hosts/host-a/ready_devices")] = (
        200, {"pool_ids": ["p1", "p2"]}, 0)
    # The typed device, as the server's /agent/v2 route sends it.
    state.routes[("GET", "/agent/v2/logical_devices/p1")] = (
        200, from_v1(device).model_dump(by_alias=True), 0)

    assert api.get_ready_devices("host-a") == ["p1", "p2"]
    assert api.get_logical_device("p1") == LogicalDevice(id="p1", loadbalancer=None,
                                                         revision=3, pending=False)


def test_logical_device_with_a_load_balancer_survives_the_wire(server, api):
    from tests.unit.haproxy.haproxy_sample_device import POOL_ID, sample_logical_device

    state, _ = server
    device = from_v1(sample_logical_device())
    state.routes[("GET", f"/agent/v2/logical_devices/{POOL_ID}")] = (
        200, device.model_dump(by_alias=True), 0)
    got = api.get_logical_device(POOL_ID)
    assert got == device
    assert got.loadbalancer is not None
    assert got.loadbalancer.vip_port.network.physical_network == "default"


def test_malformed_logical_device_is_plugin_api_error(server, api):
    state, _ = server
    state.routes[("GET", "/agent/v2/logical_devices/p1")] = (
        200, {"id": "p1", "loadbalancer": {"id": "p1"}}, 0)
    with pytest.raises(PluginApiError, match="malformed"):
        api.get_logical_device("p1")


def test_unknown_pool_is_pool_not_found(server, api):
    with pytest.raises(PoolNotFound, match="p404"):
        api.get_logical_device("p404")


def test_a_server_without_the_route_is_not_a_missing_pool(server, api):
    # A server older than the agent answers /agent/v2 with HTTPNotFound: the pools are
    # still there, and must not be destroyed.
    state, _ = server
    state.routes[("GET", "/agent/v2/logical_devices/p1")] = (
        404, {"NeutronError": {"type": "HTTPNotFound", "message": "Not Found",
                               "detail": ""}}, 0)
    with pytest.raises(PluginApiError) as info:
        api.get_logical_device("p1")
    assert not isinstance(info.value, PoolNotFound)
    assert "HTTP 404" in str(info.value)


def test_events_long_poll_waits_past_the_ordinary_timeout(server):
    state, url = server
    state.routes[("GET", "/agent/v1/hosts/host-a/events")] = (
        200, {"revision": 8, "pool_ids": ["p3"]}, 1.0)
    # Ordinary calls give up after 0.3 s; the poll may take its timeout plus margin.
    with HttpPluginApi(url, timeout=0.3) as api:
        assert api.get_events("host-a", after=7, timeout=1.0) == Events(8, ["p3"])
        with pytest.raises(PluginApiError, match="no answer in time"):
            state.routes[("GET", "/agent/v1/hosts/host-a/ready_devices")] = (
                200, {"pool_ids": []}, 1.0)
            api.get_ready_devices("host-a")
    assert state.requests[0]["query"] == {"after": "7", "timeout": "1"}


def test_server_error_names_the_call_and_the_servers_message(server, api):
    state, url = server
    state.routes[("POST", "/agent/v1/pools/p1/deployed")] = (
        500, {"NeutronError": {"type": "InternalError", "message": "db is locked"}}, 0)
    with pytest.raises(PluginApiError) as info:
        api.pool_deployed("p1")
    assert not isinstance(info.value, PoolNotFound)
    message = str(info.value)
    assert "HTTP 500" in message
    assert "db is locked" in message
    assert "/agent/v1/pools/p1/deployed" in message


def test_refused_token_says_to_check_agent_token(server, api):
    state, _ = server
    state.routes[("GET", "/agent/v1/hosts/h/ready_devices")] = (401, {"detail": "no"}, 0)
    with pytest.raises(PluginApiError, match="agent_token"):
        api.get_ready_devices("h")


def test_malformed_answer_is_plugin_api_error(server, api):
    state, _ = server
    state.routes[("GET", "/agent/v1/hosts/h/ready_devices")] = (200, {"pools": []}, 0)
    with pytest.raises(PluginApiError, match="malformed"):
        api.get_ready_devices("h")


def test_connection_refused_is_plugin_api_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on port now.
    with HttpPluginApi(f"http://127.0.0.1:{port}", timeout=2) as api:
        with pytest.raises(PluginApiError, match="cannot reach lbaas-server"):
            api.get_ready_devices("h")


def test_calls_after_close_fail_cleanly(server):
    _, url = server
    api = HttpPluginApi(url)
    api.close()
    with pytest.raises(PluginApiError):
        api.pool_deployed("p1")


@pytest.fixture
def second_server() -> Iterator[tuple[FakeServer, str]]:
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


READY = ("GET", "/agent/v1/hosts/h/ready_devices")


def test_server_url_list_is_parsed_and_checked():
    with HttpPluginApi(" http://a:9696/, http://b:9696,,http://a:9696") as api:
        assert api.server_urls == ["http://a:9696", "http://b:9696"]
        assert api.server_url == "http://a:9696"
    with pytest.raises(ValueError, match="names no server"):
        HttpPluginApi(" , ")
    with pytest.raises(ValueError, match="a:9696"):
        HttpPluginApi("http://b:9696,a:9696")


def test_a_5xx_moves_the_call_to_the_next_server_which_stays_in_use(server, second_server):
    (first, url1), (second, url2) = server, second_server
    first.routes[READY] = (503, {"NeutronError": {"type": "ServiceUnavailable",
                                                  "message": "database down"}}, 0)
    second.routes[READY] = (200, {"pool_ids": ["p2"]}, 0)
    with HttpPluginApi(f"{url1},{url2}", timeout=5) as api:
        assert api.get_ready_devices("h") == ["p2"]
        assert api.server_url == url2
        # Sticks to the server that answered, even once the first one is fine again.
        first.routes[READY] = (200, {"pool_ids": ["p1"]}, 0)
        assert api.get_ready_devices("h") == ["p2"]
    assert len(first.requests) == 1 and len(second.requests) == 2


def test_an_unreachable_server_is_skipped_and_a_4xx_is_not(server):
    state, url = server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    state.routes[READY] = (200, {"pool_ids": ["p1"]}, 0)
    with HttpPluginApi(f"{dead},{url}", timeout=2) as api:
        assert api.get_ready_devices("h") == ["p1"]
        assert api.server_url == url
        # A 4xx is the server's answer, not its failure: no other server is asked.
        with pytest.raises(PoolNotFound):
            api.pool_deployed("gone")
        assert api.server_url == url


def test_when_every_server_fails_the_error_names_each_and_the_next_call_starts_elsewhere(
        server, second_server):
    (first, url1), (second, url2) = server, second_server
    for state in (first, second):
        state.routes[READY] = (500, {"detail": "boom"}, 0)
    with HttpPluginApi([url1, url2], timeout=5) as api:
        with pytest.raises(PluginApiError) as info:
            api.get_ready_devices("h")
        assert url1 in str(info.value) and url2 in str(info.value)
        assert api.server_url == url2


def test_a_heartbeat_leaves_a_silent_server_after_its_own_timeout(server, second_server):
    """A server host gone without a word holds a call for the whole timeout: the
    heartbeat gives up on it after heartbeat_timeout and is answered by the next."""
    (first, url1), (second, url2) = server, second_server
    first.routes[("POST", "/agent/v1/agents")] = (200, {"agent": {"host": "h"}}, 5.0)
    second.routes[("POST", "/agent/v1/agents")] = (200, {"agent": {"host": "h"}}, 0)
    with HttpPluginApi(f"{url1},{url2}", timeout=30, heartbeat_timeout=0.5) as api:
        started = time.monotonic()
        assert api.report_state("h", {})["host"] == "h"
        assert time.monotonic() - started < 3
        assert api.server_url == url2


def test_a_lone_server_gets_the_whole_timeout_for_a_heartbeat(server):
    """With nobody to ask instead, a slow answer is better than none."""
    state, url = server
    state.routes[("POST", "/agent/v1/agents")] = (200, {"agent": {"host": "h"}}, 1.0)
    with HttpPluginApi(url, timeout=10, heartbeat_timeout=0.2) as api:
        assert api.report_state("h", {})["host"] == "h"
