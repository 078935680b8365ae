"""The agent's view of the server: v1's plugin RPC, as one interface.

This is the contract between server and agent, so it lives in ``lbaas.common``: the
server implements it and the agent uses it, and neither imports the other.

The agent codes against :class:`PluginApi` only. ``lbaas all-in-one`` passes an
in-process implementation (``lbaas.server.local_plugin_api``); an agent on another host
uses :class:`HttpPluginApi` (``lbaas.agent.http_plugin_api``), which speaks the HTTP
agent API of docs/architecture.md.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from lbaas.common.logical_device import LogicalDevice


class PluginApiError(Exception):
    """The server could not be reached or refused the call."""


class PoolNotFound(PluginApiError):
    """get_logical_device for a pool the server no longer has."""


class HostNotFound(PluginApiError):
    """The server knows no agent on this host (never registered, or deleted with
    ``DELETE /v2.0/agents/{id}``): nothing is bound to it."""


@dataclass(frozen=True)
class Events:
    revision: int
    pool_ids: list[str]


class PluginApi(abc.ABC):
    @abc.abstractmethod
    def report_state(self, host: str, configurations: dict[str, Any],
                     start_flag: bool = False) -> dict[str, Any]:
        """Heartbeat: register or refresh this agent. Returns the agent dict."""

    @abc.abstractmethod
    def get_ready_devices(self, host: str) -> list[str]:
        """Pool ids bound to ``host`` that should have an instance (or be confirmed)."""

    @abc.abstractmethod
    def get_events(self, host: str, after: int, timeout: float) -> Events:
        """Long-poll: returns once the host's revision is past ``after`` (or on timeout)
        with the new revision and the pools that changed since ``after`` (all bound
        pools when the server cannot tell)."""

    @abc.abstractmethod
    def get_logical_device(self, pool_id: str) -> LogicalDevice:
        """The typed logical device (lbaas.common.logical_device) of the load balancer
        ``pool_id`` (for v1, the pool's id). Raises :class:`PoolNotFound` when it is
        gone, and also when it is being deleted: the agent then removes everything and
        confirms with :meth:`pool_destroyed` (a ``loadbalancer`` of None instead means
        "serve nothing", confirmed with :meth:`pool_deployed`)."""

    @abc.abstractmethod
    def pool_deployed(self, pool_id: str, revision: int | None = None,
                      host: str | None = None) -> None:
        """The pool's wanted state is realized: pending objects become ACTIVE and
        PENDING_DELETE members, monitor associations and the VIP go away.

        ``revision`` is the logical device's: when the pool changed again since, the
        server confirms nothing (the newer change is still to be realized, and its own
        refresh will confirm it). ``host`` is the confirming agent's: an ACTIVE_STANDBY
        load balancer settles once both of its amphorae's agents confirmed."""

    @abc.abstractmethod
    def pool_destroyed(self, pool_id: str) -> None:
        """Nothing of the pool is left on the host; a PENDING_DELETE pool goes away."""

    @abc.abstractmethod
    def update_status(self, obj_type: str, obj_id: str, status: str,
                      status_description: str | None = None) -> None:
        """obj_type: pool | vip | member | health_monitor (for the latter, obj_id is
        ``"<pool_id>/<monitor_id>"``, the association)."""

    @abc.abstractmethod
    def plug_vip_port(self, port_id: str, host: str) -> None:
        """The port is up and bound to ``host``."""

    @abc.abstractmethod
    def unplug_vip_port(self, port_id: str, host: str) -> None:
        """The port is down and unbound."""

    @abc.abstractmethod
    def update_pool_stats(self, pool_id: str, stats: dict[str, Any], host: str) -> None:
        """stats: ``bytes_in``, ``bytes_out``, ``active_connections``,
        ``total_connections`` (HAProxy's raw counters), ``epoch`` (changes whenever the
        counters restart from zero: a new HAProxy process), and ``members``:
        ``{member_id: {"status": ACTIVE|INACTIVE}}``. The server accumulates deltas.

        Optional (a report without them is taken as before, zeros): ``hrsp_1xx`` ...
        ``hrsp_5xx``, ``hrsp_other`` (HTTP responses by class), ``listeners``
        (``{listener_id: {the counters above, request_errors, hrsp_*}}``), ``pools``
        (``{pool_id: {hrsp_*}}``) and ``member_counters`` (``{member_id:
        {"check_failures", "check_up_down"}}``). The HTTP agent API checks them with
        the models of ``lbaas/server/api/agent_api.py``."""
