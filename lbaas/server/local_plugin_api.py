"""The agent's PluginApi served in-process: what ``lbaas all-in-one`` hands its agent, and
what the HTTP agent API (/agent/v1, /agent/v2) calls for agents on other hosts."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool

from lbaas.common import constants as c
from lbaas.common import plugin_api
from lbaas.common.logical_device import LogicalDevice
from lbaas.server import errors
from lbaas.server.db.session import Database
from lbaas.server.metrics import Waiters
from lbaas.server.plugin import agents, callbacks, scheduler
from lbaas.server.plugin.loadbalancer import Settings

# A long-poll re-reads the revision at least this often, to see changes committed by
# other server processes sharing the database; SAFETY_POLL_SECONDS while those wake it
# (PostgreSQL's LISTEN/NOTIFY, lbaas/server/db/listener.py): a fallback only.
POLL_SECONDS = 1.0
SAFETY_POLL_SECONDS = 30.0


class LocalPluginApi(plugin_api.PluginApi):
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        # Long-polls waiting now, for /metrics.
        self.waiters = Waiters()

    def report_state(self, host: str, configurations: dict[str, Any],
                     start_flag: bool = False) -> dict[str, Any]:
        with self.db.session() as s:
            agent = agents.report_state(s, host, configurations, start_flag,
                                        c.AGENT_TYPE_LOADBALANCER, c.AGENT_BINARY)
            down = self.settings.agent_down_time
            scheduler.schedule_waiting(s, agent, down)
            answer = agents.agent_dict(agent, down)
            # What the agent needs to fence itself in a partition (lbaas/agent/manager.py, "fence"):
            # its load balancers can only move if failover is on and another agent lives.
            answer["fencing"] = {
                "agent_down_time": down,
                "failover": self.settings.allow_failover and agents.has_live_peer(
                    s, agent, down)}
            return answer

    def get_ready_devices(self, host: str) -> list[str]:
        try:
            with self.db.session(read_only=True) as s:
                return callbacks.get_ready_devices(s, host)
        except errors.AgentNotFound:
            raise plugin_api.HostNotFound(host) from None

    def get_events(self, host: str, after: int, timeout: float) -> plugin_api.Events:
        with self.waiters:
            return self._get_events(host, after, timeout)

    def _get_events(self, host: str, after: int, timeout: float) -> plugin_api.Events:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.db.changed.generation
            found = self._changes_since(host, after)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return plugin_api.Events(revision=after, pool_ids=[])
            self.db.changed.wait(seen, min(remaining, self._poll_seconds()))

    async def get_events_async(self, host: str, after: int,
                               timeout: float) -> plugin_api.Events:
        """get_events for the HTTP long-poll: waits without holding a worker thread."""
        with self.waiters:
            return await self._get_events_async(host, after, timeout)

    async def _get_events_async(self, host: str, after: int,
                                timeout: float) -> plugin_api.Events:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.db.changed.generation
            found = await run_in_threadpool(self._changes_since, host, after)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return plugin_api.Events(revision=after, pool_ids=[])
            await self.db.changed.wait_async(seen, min(remaining, self._poll_seconds()))

    def _poll_seconds(self) -> float:
        return SAFETY_POLL_SECONDS if self.db.listening else POLL_SECONDS

    def _changes_since(self, host: str, after: int) -> plugin_api.Events | None:
        with self.db.session(read_only=True) as s:
            found = callbacks.changes_since(s, host, after)
        return None if found is None else plugin_api.Events(revision=found[0],
                                                            pool_ids=found[1])

    def logical_device(self, pool_id: str) -> dict[str, Any]:
        with self.db.session(read_only=True) as s:
            return callbacks.get_logical_device(s, pool_id)

    def typed_logical_device(self, pool_id: str) -> LogicalDevice:
        """The typed device the agent deploys (GET /agent/v2/logical_devices/{id}): a
        v2 load balancer or a v1 pool; one being deleted is PoolNotFound (see
        callbacks.get_typed_device)."""
        with self.db.session(read_only=True) as s:
            return callbacks.get_typed_device(s, pool_id, vault=self.settings.vault,
                                              advert_int_ms=self.settings.vrrp_advert_int_ms)

    def get_logical_device(self, pool_id: str) -> LogicalDevice:
        try:
            return self.typed_logical_device(pool_id)
        except errors.PoolNotFound:
            raise plugin_api.PoolNotFound(pool_id) from None

    def pool_deployed(self, pool_id: str, revision: int | None = None,
                      host: str | None = None) -> None:
        """``host``: the confirming agent's (beyond the PluginApi contract, optional):
        an ACTIVE_STANDBY load balancer waits for both of its amphorae's agents."""
        with self.db.session() as s:
            callbacks.pool_deployed(s, pool_id, revision, host, self.settings.agent_down_time)

    def pool_destroyed(self, pool_id: str) -> None:
        with self.db.session() as s:
            callbacks.pool_destroyed(s, pool_id)

    def strict_update_status(self, obj_type: str, obj_id: str, status: str,
                             status_description: str | None = None) -> None:
        with self.db.session() as s:
            callbacks.update_status(s, obj_type, obj_id, status, status_description)

    def update_status(self, obj_type: str, obj_id: str, status: str,
                      status_description: str | None = None) -> None:
        try:
            self.strict_update_status(obj_type, obj_id, status, status_description)
        except errors.NotFound:
            pass  # deleted meanwhile: nothing left to report on

    def plug_vip_port(self, port_id: str, host: str) -> None:
        with self.db.session() as s:
            callbacks.plug_vip_port(s, port_id, host)

    def unplug_vip_port(self, port_id: str, host: str) -> None:
        with self.db.session() as s:
            callbacks.unplug_vip_port(s, port_id, host)

    def update_pool_stats(self, pool_id: str, stats: dict[str, Any], host: str) -> None:
        try:
            with self.db.session() as s:
                callbacks.update_pool_stats(s, pool_id, stats, host)
        except errors.PoolNotFound:
            pass  # the pool was deleted since the agent collected its stats
