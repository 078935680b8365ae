"""PluginApi over HTTP: what an agent on another host uses to talk to lbaas-server.

One ``httpx.Client`` per server for the life of the agent, so every call after the first
reuses a kept-alive connection (the agent makes several calls per pool per period; a TCP
handshake each time would be most of the cost at a thousand pools).

Several servers (``server_url = http://a:9696,http://b:9696``, all on one database): the
agent sticks to one while it answers. A call that cannot reach it, times out, or gets a
5xx is made again on the next one, each server at most once per call; when none answers
the call fails (PluginApiError) and the manager backs off. Every call of the agent API is
safe to make twice: reads, heartbeats, statuses set to a value, ``deployed`` with the
revision deployed, ``destroyed`` of a pool already gone (a no-op), stats as raw counters
with their epoch (the server adds only the difference). The long-poll resumes from the
agent's revision on whichever server it reaches (docs/architecture.md, "Several servers").
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

import httpx
import pydantic

from lbaas.common import constants, request_id, tls
from lbaas.common.logical_device import LogicalDevice
from lbaas.common.plugin_api import (
    Events,
    HostNotFound,
    PluginApi,
    PluginApiError,
    PoolNotFound,
)

LOG = logging.getLogger(__name__)

# The long-poll's HTTP read timeout is the poll timeout plus this much: the server
# answers at the poll timeout at the latest, and a slow answer must not look like a
# dead server.
POLL_MARGIN = 10.0


def parse_server_urls(server_url: str | list[str]) -> list[str]:
    """``"http://a:9696, http://b:9696/"`` (or a list) → ``["http://a:9696",
    "http://b:9696"]``: without blanks, trailing slashes and repeats; ValueError when
    nothing is left or an entry is not an http(s) URL."""
    entries = server_url.split(",") if isinstance(server_url, str) else server_url
    urls: list[str] = []
    for entry in entries:
        url = entry.strip().rstrip("/")
        if not url:
            continue
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"server_url entry {entry.strip()!r} is not an http(s) URL")
        if url not in urls:
            urls.append(url)
    if not urls:
        raise ValueError("server_url names no server")
    return urls


class HttpPluginApi(PluginApi):
    def __init__(self, server_url: str | list[str], token: str | None = None,
                 timeout: float = 30.0, verify: ssl.SSLContext | bool = True,
                 auth: httpx.Auth | None = None,
                 heartbeat_timeout: float | None = None) -> None:
        """``server_url``: one URL, or several (a list, or comma-separated).
        ``verify``: for an https:// server, what its certificate is checked against
        (``tls.client_verify``: a context with the CA file, or False for none).
        ``token``: a fixed token (tokens file); ``auth``: one that sets it per request
        (Keystone, lbaas/agent/keystone_auth.py). ``heartbeat_timeout``: how long a
        heartbeat waits for one server before it asks the next (the last one asked
        gets ``timeout``). A server host that died without a word (no RST) holds a
        call for the whole timeout: a heartbeat held for 30 s would let the servers
        call this agent dead after agent_down_time, and the agent fence itself, while
        the other server was there all along."""
        self.server_urls = parse_server_urls(server_url)
        self._timeout = timeout
        self._heartbeat_timeout = heartbeat_timeout
        headers = {"X-Auth-Token": token} if token and auth is None else {}
        self._clients = [httpx.Client(base_url=url, headers=headers, timeout=timeout,
                                      verify=verify, auth=auth)
                         for url in self.server_urls]
        # The server in use: calls go there until one fails.
        self._current = 0
        self._lock = threading.Lock()

    @property
    def server_url(self) -> str:
        """The server the agent talks to now."""
        return self.server_urls[self._current]

    def close(self) -> None:
        """Close the connections. A call blocked in another thread (the long-poll) is
        not woken by this: it fails with PluginApiError when its read times out, which
        is why the manager does not wait for its events thread on stop."""
        for client in self._clients:
            client.close()

    def __enter__(self) -> HttpPluginApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the v1 RPCs ------------------------------------------------------------------

    def report_state(self, host: str, configurations: dict[str, Any],
                     start_flag: bool = False) -> dict[str, Any]:
        body = self._call("POST", "/agent/v1/agents", json={
            "host": host,
            "configurations": configurations,
            "start_flag": start_flag,
            "agent_type": constants.AGENT_TYPE_LOADBALANCER,
        }, next_after=None if self._heartbeat_timeout is None
            else httpx.Timeout(self._heartbeat_timeout))
        if isinstance(body, dict):
            agent = body.get("agent", body)
            return agent if isinstance(agent, dict) else {}
        return {}

    def get_ready_devices(self, host: str) -> list[str]:
        body = self._call("GET", f"/agent/v1/hosts/{host}/ready_devices", host=host)
        return self._pool_ids(body, "ready_devices")

    def get_events(self, host: str, after: int, timeout: float) -> Events:
        read_timeout = timeout + POLL_MARGIN
        body = self._call(
            "GET", f"/agent/v1/hosts/{host}/events",
            # An integral timeout goes as "25", not "25.0": a server declaring the
            # parameter as int must not answer 422.
            params={"after": after,
                    "timeout": int(timeout) if float(timeout).is_integer() else timeout},
            timeout=httpx.Timeout(self._timeout, read=read_timeout))
        try:
            revision = int(body["revision"])
        except (TypeError, KeyError, ValueError) as exc:
            raise PluginApiError(f"events: malformed answer from {self.server_url}: "
                                 f"{body!r:.200}") from exc
        return Events(revision=revision, pool_ids=self._pool_ids(body, "events"))

    def get_logical_device(self, pool_id: str) -> LogicalDevice:
        # The typed device (/agent/v2); the rest of the agent API is still v1's.
        body = self._call("GET", f"/agent/v2/logical_devices/{pool_id}",
                          pool_id=pool_id)
        try:
            return LogicalDevice.model_validate(body)
        except pydantic.ValidationError as exc:
            raise PluginApiError(f"logical device {pool_id}: malformed answer from "
                                 f"{self.server_url}: {exc.error_count()} errors, first: "
                                 f"{exc.errors()[0]['loc']} {exc.errors()[0]['msg']}"
                                 ) from exc

    def pool_deployed(self, pool_id: str, revision: int | None = None,
                      host: str | None = None) -> None:
        body: dict[str, Any] = {} if revision is None else {"revision": revision}
        if host is not None:
            body["host"] = host
        self._call("POST", f"/agent/v1/pools/{pool_id}/deployed", json=body,
                   pool_id=pool_id)

    def pool_destroyed(self, pool_id: str) -> None:
        self._call("POST", f"/agent/v1/pools/{pool_id}/destroyed", json={},
                   pool_id=pool_id)

    def update_status(self, obj_type: str, obj_id: str, status: str,
                      status_description: str | None = None) -> None:
        self._call("POST", "/agent/v1/status", json={
            "obj_type": obj_type,
            "obj_id": obj_id,
            "status": status,
            "status_description": status_description,
        })

    def plug_vip_port(self, port_id: str, host: str) -> None:
        self._call("POST", f"/agent/v1/ports/{port_id}/plug", json={"host": host})

    def unplug_vip_port(self, port_id: str, host: str) -> None:
        self._call("POST", f"/agent/v1/ports/{port_id}/unplug", json={"host": host})

    def update_pool_stats(self, pool_id: str, stats: dict[str, Any], host: str) -> None:
        self._call("POST", f"/agent/v1/pools/{pool_id}/stats",
                   json={"stats": stats, "host": host}, pool_id=pool_id)

    # -- plumbing -----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, json: Any = None,
              params: dict[str, Any] | None = None,
              timeout: httpx.Timeout | None = None,
              next_after: httpx.Timeout | None = None,
              pool_id: str | None = None, host: str | None = None) -> Any:
        """One request, on the current server and, when that one is unreachable, slow
        or answers 5xx, on each other server in turn (the one that answers becomes the
        current one). Every failure becomes PluginApiError with a message that names
        the server(s) and the call, so the agent's log says what to fix. A 404 on a
        pool's own path is PoolNotFound: the pool is gone from the server.

        While the agent applies a change, the change's request id goes along
        (``x-openstack-request-id``): the server logs the call under the same id.

        ``next_after``: how long to wait for a server before asking the next one; the
        last server asked gets the whole timeout (with one server, nothing changes)."""
        rid = request_id.current()
        with self._lock:
            first = self._current
        failures: list[str] = []
        for step in range(len(self._clients)):
            index = (first + step) % len(self._clients)
            url = self.server_urls[index]
            what = f"{method} {url}{path}"
            try:
                wait: httpx.Timeout | float = timeout if timeout is not None \
                    else self._timeout
                if next_after is not None and step < len(self._clients) - 1:
                    wait = next_after
                response = self._clients[index].request(
                    method, path, json=json, params=params,
                    headers={request_id.HEADER: rid} if rid else None, timeout=wait)
            except httpx.TimeoutException as exc:
                failures.append(f"{what}: no answer in time ({exc.__class__.__name__})")
            except httpx.HTTPError as exc:
                hint = (" (the server's certificate is not signed by a CA of ca_file, or "
                        "names another host: set ca_file to the CA that signed it)"
                        if tls.is_verify_failure(exc) else "")
                failures.append(f"{what}: cannot reach lbaas-server: {exc}{hint}")
            except RuntimeError as exc:
                # The client was closed (agent shutting down): no other server either.
                raise PluginApiError(f"{what}: cannot reach lbaas-server: {exc}") from exc
            else:
                if response.status_code < 500:
                    if index != first:
                        self._switch(first, index, failures)
                    return self._answer(what, response, pool_id, host)
                failures.append(f"{what}: HTTP {response.status_code} "
                                f"{_error_message(response)}")
        with self._lock:
            if self._current == first and len(self._clients) > 1:
                # Start the next call on the next server: the one that failed last
                # time is the likeliest to fail again.
                self._current = (first + 1) % len(self._clients)
        raise PluginApiError("; ".join(failures))

    def _switch(self, old: int, new: int, failures: list[str]) -> None:
        with self._lock:
            if self._current != old:
                return  # another thread switched already
            self._current = new
        LOG.warning("lbaas-server %s failed (%s): now using %s", self.server_urls[old],
                    failures[0], self.server_urls[new])

    def _answer(self, what: str, response: httpx.Response, pool_id: str | None,
                host: str | None = None) -> Any:
        if response.status_code == 404 and pool_id is not None and not _no_route(response):
            raise PoolNotFound(f"pool {pool_id} not found on the server "
                               f"({_error_message(response)})")
        if (response.status_code == 404 and host is not None
                and _error_type(response) == "AgentNotFound"):
            raise HostNotFound(f"{what}: the server knows no agent on {host}")
        if response.status_code in (401, 403):
            raise PluginApiError(f"{what}: HTTP {response.status_code} "
                                 f"{_error_message(response)} (check agent_token)")
        if response.status_code >= 400:
            raise PluginApiError(f"{what}: HTTP {response.status_code} "
                                 f"{_error_message(response)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise PluginApiError(f"{what}: answer is not JSON: "
                                 f"{response.text[:200]!r}") from exc

    def _pool_ids(self, body: Any, what: str) -> list[str]:
        pool_ids = body.get("pool_ids") if isinstance(body, dict) else None
        if not isinstance(pool_ids, list):
            raise PluginApiError(f"{what}: malformed answer from {self.server_url}: "
                                 f"{body!r:.200}")
        return [str(p) for p in pool_ids]


def _error_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    err = body.get("NeutronError") if isinstance(body, dict) else None
    return err.get("type") if isinstance(err, dict) else None


def _no_route(response: httpx.Response) -> bool:
    """The server has no such route (lbaas-server answers an unknown path with Neutron's
    ``HTTPNotFound``): a server older than this agent, without /agent/v2. Taking that for
    "the pool is gone" would destroy every load balancer of the host."""
    try:
        body = response.json()
    except ValueError:
        return False
    err = body.get("NeutronError") if isinstance(body, dict) else None
    return isinstance(err, dict) and err.get("type") == "HTTPNotFound"


def _error_message(response: httpx.Response) -> str:
    """The server's words for the error: Neutron's NeutronError body, FastAPI's
    ``detail``, else the start of the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        err = body.get("NeutronError")
        if isinstance(err, dict):
            return f"{err.get('type', '')}: {err.get('message', '')}".strip(": ")
        if "detail" in body:
            return str(body["detail"])[:200]
    return str(body)[:200]
