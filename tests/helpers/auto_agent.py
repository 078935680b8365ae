"""An agent that says yes to everything: it makes every v2 load balancer ACTIVE.

Clients that wait (``openstack loadbalancer create --wait``, openstacksdk's
``wait_for_status``) need a load balancer to become ACTIVE, which only an agent's
confirmation does. A real ``lbaas-agent`` would need namespaces and HAProxy; this one
speaks the agent API (docs/architecture.md) from a background thread and confirms
whatever the server asks of it, without realizing anything::

    with AutoAgent(server.url, ["physnet-x"]):
        ...  # load balancers on networks of physnet-x become ACTIVE by themselves

It heartbeats to ``POST /agent/v1/agents`` (a unique host mapping each physnet to a
bridge), long-polls ``GET /agent/v1/hosts/{host}/events``, and for each changed id that
is a v2 load balancer (``GET /v2.0/lbaas/loadbalancers/{id}`` as admin: in noauth mode
every caller is admin, with ``token`` the token must carry the admin and agent roles)
posts ``deployed`` (``{}``: whatever revision is current) or, for one in
PENDING_DELETE, ``destroyed``. v1 pools bound to it are left alone. Leaving the ``with``
block stops the thread and joins it; :attr:`errors` keeps what went wrong in the thread,
so a test can show it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx

HEARTBEAT_INTERVAL = 5.0
POLL_TIMEOUT = 5


class AutoAgent:
    def __init__(self, server_url: str, physnets: Iterable[str],
                 token: str | None = None, host: str | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self.physnets = list(physnets)
        self.host = host or f"auto-agent-{uuid.uuid4().hex[:8]}"
        headers = {"X-Auth-Token": token} if token else {}
        self.client = httpx.Client(base_url=self.server_url, headers=headers,
                                   timeout=POLL_TIMEOUT + 20)
        self.errors: list[str] = []
        self.confirmed: list[tuple[str, str]] = []  # (id, "deployed" | "destroyed")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_heartbeat = 0.0

    # --- the agent API --------------------------------------------------------------

    def heartbeat(self, start_flag: bool = False) -> None:
        resp = self.client.post("/agent/v1/agents", json={
            "host": self.host, "start_flag": start_flag,
            "agent_type": "Loadbalancer agent",
            "configurations": {
                "bridge_mappings": {p: f"br-{i}" for i, p in enumerate(self.physnets)},
                "device_drivers": ["haproxy_ns"], "instances": 0}})
        if resp.status_code not in (200, 201):
            raise RuntimeError(f"heartbeat → {resp.status_code}: {resp.text[:500]}")
        self._last_heartbeat = time.monotonic()

    def _events(self, after: int) -> tuple[int, list[str]]:
        resp = self.client.get(f"/agent/v1/hosts/{self.host}/events",
                               params={"after": after, "timeout": POLL_TIMEOUT})
        resp.raise_for_status()
        body = resp.json()
        return int(body["revision"]), list(body["pool_ids"])

    def _ready_devices(self) -> list[str]:
        resp = self.client.get(f"/agent/v1/hosts/{self.host}/ready_devices")
        resp.raise_for_status()
        return list(resp.json()["pool_ids"])

    def _confirm(self, device_id: str) -> None:
        resp = self.client.get(f"/v2.0/lbaas/loadbalancers/{device_id}")
        if resp.status_code == 404:
            return  # a v1 pool, or a load balancer already gone
        resp.raise_for_status()
        status = resp.json()["loadbalancer"]["provisioning_status"]
        what = "destroyed" if status == "PENDING_DELETE" else "deployed"
        done = self.client.post(f"/agent/v1/pools/{device_id}/{what}", json={})
        if done.status_code not in (200, 204, 404):
            raise RuntimeError(f"{what} {device_id} → {done.status_code}: {done.text[:500]}")
        self.confirmed.append((device_id, what))

    def sync(self, changed: Iterable[str] | None = None) -> None:
        """Confirm the changed devices (all of the host's when ``changed`` is None)."""
        ready = self._ready_devices()
        wanted = set(ready) if changed is None else set(changed) & set(ready)
        for device_id in sorted(wanted):
            self._confirm(device_id)

    # --- the thread ---------------------------------------------------------------

    def _run(self) -> None:
        revision = 0
        first = True
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._last_heartbeat > HEARTBEAT_INTERVAL:
                    self.heartbeat()
                if first:
                    self.sync()
                    first = False
                new_revision, changed = self._events(revision)
                if new_revision != revision or changed:
                    revision = new_revision
                    self.sync(changed)
            except Exception as exc:  # keep going: a test shows self.errors on failure
                if self._stop.is_set():
                    break
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(0.5)

    def start(self) -> AutoAgent:
        # Registered before start() returns: a load balancer created right after is
        # scheduled to this agent.
        self.heartbeat(start_flag=True)
        self._thread = threading.Thread(target=self._run, name=f"AutoAgent-{self.host}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            # The long poll returns within POLL_TIMEOUT seconds.
            self._thread.join(POLL_TIMEOUT + 25)
            self._thread = None
        self.client.close()

    def __enter__(self) -> AutoAgent:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
