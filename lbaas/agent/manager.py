"""The agent: reconciles the pools the server binds to this host into driver instances.

v1's ``LbaasAgentManager``, level-triggered. Events from the server only say *which*
pools to look at; what to do is always decided from the pool's current logical device
and from what is on the host. A lost event, a crash in the middle of a deploy or an
agent restart therefore only delay convergence until the next ``sync_state``.

Threads:

* heartbeat — ``report_state`` every ``report_interval`` (``start_flag`` on the first
  report that gets through, so the server reschedules what it must). Before the first
  one, and before the first one after any failed one, ``fence``: the instances of load
  balancers that are not bound here any more (they moved while this agent was dead or
  cut off) are removed, without a word to the server, before anything is announced;
* fence — while the server cannot be reached for longer than it waits before moving
  this host's load balancers away (``agent_down_time``, learnt from the heartbeats'
  answers), every instance is removed locally (``self_fence``): a SINGLE VIP must never
  be on two hosts. The first heartbeat that gets through again redeploys what is still
  bound here (docs/architecture.md, "High availability"). An agent that no server has
  answered since it started counts from the last heartbeat answered before its restart
  (``contact_file``, with the server's word then), else from its start with its own
  configuration's: the instances it found on the host may have moved meanwhile. The
  halves of ACTIVE_STANDBY pairs stay: VRRP, not the server, decides where their VIP is
  (docs/architecture.md, "ACTIVE_STANDBY");
* events — waits for the first heartbeat attempt, then long-polls ``get_events`` and
  refreshes exactly the pools that changed; a full ``sync_state`` at start, when the
  server's revision goes back (its database was replaced) and after an unexpected
  error; after a failed server call a cheap one, polling on from the same revision;
* periodic — every ``periodic_interval``: restart a dead HAProxy (``ensure_running``)
  and report changed stats (in parallel); retry pools whose refresh failed (with
  backoff); a cheap ``sync_state(full=False)`` after a failure and every
  ``resync_periods`` periods as a safety net;
* deploy workers — a bounded pool (``deploy_workers``); one pool's refreshes never run
  in parallel, and refreshes asked for while that pool's refresh runs are coalesced
  into one more run; different pools run in parallel.

Stopping the agent never stops a load balancer: ``stop()`` ends the threads and leaves
every instance serving, so an agent upgrade or restart is invisible to clients.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from lbaas.agent.metrics import AgentMetrics
from lbaas.common import constants, request_id
from lbaas.common.logical_device import LogicalDevice
from lbaas.common.plugin_api import HostNotFound, PluginApi, PluginApiError, PoolNotFound

LOG = logging.getLogger(__name__)

STATUS_DESCRIPTION_MAX = 255
# How often the fence thread compares the time since the last answered heartbeat with
# the limit (fence_after).
FENCE_CHECK_INTERVAL = 0.5


class Driver(Protocol):
    """What the manager needs from a device driver (HaproxyNSDriver)."""

    def deploy_instance(self, device: LogicalDevice) -> bool: ...
    def undeploy_instance(self, pool_id: str, cleanup_namespace: bool = True,
                          notify_server: bool = True) -> None: ...
    def exists(self, pool_id: str) -> bool: ...
    def get_stats(self, pool_id: str) -> dict[str, Any]: ...
    def remove_orphans(self, known_pool_ids: list[str]) -> object: ...
    def list_instances(self) -> list[str]: ...
    def ensure_running(self, pool_id: str) -> bool: ...
    def vrrp_arbitrated(self, pool_id: str) -> bool: ...


@dataclass
class AgentOptions:
    periodic_interval: float = 5.0
    report_interval: float = 30.0
    deploy_workers: int = 4
    # Sent with every heartbeat (device_drivers, bridge_mappings, interface_driver);
    # "instances" is added, counted at each heartbeat.
    configurations: dict[str, Any] = field(default_factory=dict)
    # Below a proxy's or load balancer's idle timeout (commonly 30-60 s), so an
    # unanswered long-poll is never cut in the middle.
    poll_timeout: float = 25.0
    # A cheap resync (ready list against the instances on the host) every this many
    # periods even when nothing went wrong: 60 s at 5 s.
    resync_periods: int = 12
    # Unchanged stats (an idle load balancer) are sent again only after this long.
    stats_resend_interval: float = 60.0
    # A pool whose refresh failed is retried after this long, doubling to the maximum.
    retry_delay: float = 5.0
    retry_delay_max: float = 60.0
    # Exception types the driver raises when the backend rejects a configuration
    # (HaproxyNSDriver's DeployError): the object goes ERROR with the exception's
    # ``reason`` and the old configuration keeps serving.
    deploy_errors: tuple[type[BaseException], ...] = ()
    # Waits after a failed long-poll or sync, doubling up to the maximum.
    error_backoff: float = 1.0
    error_backoff_max: float = 30.0
    # The servers' agent_down_time as this host's configuration says ([agent]
    # agent_down_time): the fence limit until a heartbeat's answer gives the server's
    # own word. None: an agent no server answered never stops serving.
    agent_down_time: float | None = None
    # allow_automatic_lbaas_agent_failover, as this host's configuration says: false,
    # and an agent no server answered never stops serving either.
    allow_failover: bool = True
    # A file that keeps, across restarts, when the last heartbeat was answered and the
    # server's word in that answer (None: not kept). A restarted agent no server answers
    # counts from there, as the servers do, instead of from its own start.
    contact_file: str | None = None


class _PoolState:
    """Per-pool scheduling state. ``lock`` is held while the pool is being changed;
    ``scheduled`` is true from the request until the last coalesced run ended."""

    __slots__ = ("lock", "scheduled", "again")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scheduled = False
        self.again = False


class LbaasAgentManager:
    def __init__(self, plugin_rpc: PluginApi, driver: Driver, host: str,
                 options: AgentOptions | None = None,
                 metrics: AgentMetrics | None = None) -> None:
        self.plugin_rpc = plugin_rpc
        self.metrics = metrics or AgentMetrics()
        self.driver = driver
        self.host = host
        self.options = options or AgentOptions()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.options.deploy_workers, thread_name_prefix="lbaas-deploy")
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._resync = threading.Event()
        self._first_report_done = threading.Event()

        # Guards _pools, _requested, _pruning; _gate is signalled when pruning ends
        # and when a pool's refreshes end.
        self._mutex = threading.Lock()
        self._gate = threading.Condition(self._mutex)
        self._pools: dict[str, _PoolState] = {}
        self._requested: dict[str, int] = {}
        self._sequence = itertools.count(1)
        self._pruning = False
        self._sync_lock = threading.Lock()
        # Pools whose last refresh failed: pool -> (monotonic time of the retry, delay).
        self._retry: dict[str, tuple[float, float]] = {}
        # Ready pools confirmed as not to be served (no VIP...): no instance is right.
        self._not_served: set[str] = set()
        # Last stats reported per pool, and when.
        self._last_stats: dict[str, tuple[dict[str, Any], float]] = {}
        # Pools with an instance here, as far as this agent knows (the last liveness
        # check's list, and its own deploys since): a deploy of one is a reload.
        self._hosted: set[str] = set()
        self._stats_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.options.deploy_workers, thread_name_prefix="lbaas-stats")
        # Fencing (see the module docstring). _fenced: the first fence went through,
        # so liveness checks may restart HAProxys. _last_contact: monotonic time at
        # which the last heartbeat that got an answer was sent; _fencing: the server's
        # word in that answer ({"agent_down_time", "failover"}); _self_fenced: every
        # instance was removed for a partition and nothing is redeployed until a
        # heartbeat gets through.
        self._fenced = threading.Event()
        # _started: monotonic time of start(); _answered: a server answered this agent
        # since (the fence's ready list), so its configuration's down time is not what
        # fences it (the server's word in the heartbeats' answers is).
        self._started: float | None = None
        self._answered = False
        # From contact_file at start: (wall-clock time of the last answered heartbeat
        # before this process, the server's word then), or None.
        self._previous_contact: tuple[float, dict[str, Any]] | None = None
        self._contact_write_failed = False
        self._last_contact: float | None = None
        self._fencing: dict[str, Any] = {}
        self._self_fenced = False

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        self._previous_contact = self._read_contact()
        for name, target in (("heartbeat", self._heartbeat_loop),
                             ("events", self._event_loop),
                             ("periodic", self._periodic_loop),
                             ("fence", self._fence_loop)):
            # Daemon: a long-poll blocked in the events thread must not keep the
            # process alive after stop().
            thread = threading.Thread(target=target, name=f"lbaas-agent-{name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """End the threads. Load balancers keep running; a deploy in progress is
        allowed to finish (half a namespace is worse than a slow stop), queued ones
        are dropped: the next agent's sync_state does them."""
        if self._stopped.is_set():
            return
        self._stop.set()
        deadline = time.monotonic() + timeout
        events_thread = None
        for thread in self._threads:
            if thread.name.endswith("-events"):
                events_thread = thread
            elif thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._stats_executor.shutdown(wait=True, cancel_futures=True)
        if events_thread is not None:
            # It may sit in a long-poll for poll_timeout more seconds; whatever comes
            # back is dropped, so give it only a moment (it is a daemon thread).
            events_thread.join(min(1.0, max(0.0, deadline - time.monotonic())))
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stop() has finished; True if it did."""
        return self._stopped.wait(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no refresh is queued or running; True if so within timeout."""
        with self._gate:
            return self._gate.wait_for(
                lambda: not any(s.scheduled for s in self._pools.values()), timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- reconcile ----------------------------------------------------------------------

    def sync_state(self, full: bool = True) -> None:
        """Make the host match the server: refresh the ready pools, destroy every
        instance of a pool that is not ready here, remove orphaned leftovers.

        ``full`` refreshes every ready pool (at start and after the event stream
        broke: anything may have changed). Otherwise only ready pools without an
        instance are refreshed: the event stream carries changes, this only catches
        drift on the host, and costs one call however many pools there are.

        A pool asked for (by an event) after ``get_ready_devices`` answered may be
        newer than that answer; it is protected from the destroy phase and its own
        refresh decides."""
        with self._sync_lock:
            with self._mutex:
                mark = next(self._sequence)
            ready = self.plugin_rpc.get_ready_devices(self.host)
            instances = set(self.driver.list_instances())
            LOG.log(logging.INFO if full else logging.DEBUG,
                    "sync_state: %d pools ready on %s, %d instances", len(ready),
                    self.host, len(instances))
            with self._mutex:
                self._not_served.intersection_update(ready)
                skip = set() if full else instances | self._not_served
            for pool_id in ready:
                if pool_id not in skip:
                    self.request_refresh(pool_id)
            with self._pruning_gate():
                with self._mutex:
                    protected = set(ready)
                    protected.update(p for p, s in self._pools.items() if s.scheduled)
                    protected.update(p for p, seq in self._requested.items() if seq > mark)
                    self._forget_requests_before(mark)
                for pool_id in sorted(set(self.driver.list_instances()) - protected):
                    LOG.info("pool %s is not ready on this host any more: destroying",
                             pool_id)
                    self._destroy_reporting_errors(pool_id)
                self.driver.remove_orphans(sorted(protected))

    def fence(self) -> list[str]:
        """Remove, without telling the server, every instance of a load balancer that
        is not bound to this host any more; returns their ids. Runs before the first
        heartbeat and before the first one after a failed one, so a host that comes
        back never re-announces a VIP that moved away (the liveness check, which would
        restart its HAProxy, waits for the first fence too). A host the server does not
        know (its agent was deleted) has nothing of its own."""
        try:
            ready = set(self.plugin_rpc.get_ready_devices(self.host))
        except HostNotFound:
            ready = set()
        self._answered = True
        removed = []
        with self._sync_lock:
            for pool_id in sorted(set(self.driver.list_instances()) - ready):
                with self._pool_state(pool_id).lock:
                    LOG.warning("fencing: load balancer %s is not bound to %s any more: "
                                "removing its instance", pool_id, self.host)
                    self._undeploy(pool_id, notify_server=False)
                    with self._mutex:
                        self._retry.pop(pool_id, None)
                removed.append(pool_id)
        self._fenced.set()
        return removed

    def self_fence(self) -> list[str]:
        """The servers have been out of reach for so long that this host's load
        balancers may already serve from another host: remove every instance here.
        Returns their ids.

        Except the halves of ACTIVE_STANDBY pairs: their VIP never moves by the
        server's word but by VRRP between the two amphorae, on the tenant's network.
        A host cut off from the servers only is still the right one to serve if its
        keepalived holds the VIP; removing it would leave the VIP to the other half
        alone, and removing both (both cut off) would kill it (docs/architecture.md,
        "ACTIVE_STANDBY")."""
        self._self_fenced = True
        removed = []
        for pool_id in self.driver.list_instances():
            if self.driver.vrrp_arbitrated(pool_id):
                LOG.warning("fencing: load balancer %s is ACTIVE_STANDBY: left to VRRP",
                            pool_id)
                continue
            with self._pool_state(pool_id).lock:
                try:
                    self._undeploy(pool_id, notify_server=False)
                    removed.append(pool_id)
                except Exception:
                    LOG.exception("fencing: cannot remove load balancer %s", pool_id)
        LOG.warning("no lbaas-server reachable for %.1f s: stopped serving %d load "
                    "balancer(s) so that none is on two hosts; they come back when a "
                    "server answers", self._since_contact(), len(removed))
        return removed

    def fence_after(self) -> float | None:
        """Seconds without an answer from any server after which this agent stops
        serving; None when it never does (failover is off, or no other agent could
        take over). Below the server's agent_down_time by a heartbeat and a half, so
        the VIPs are gone here before the server moves them.

        Before any heartbeat was answered the agent cannot know whether a move is
        possible: its configuration says (another agent may already serve what it
        found on the host after a restart), with the servers' down time."""
        if self._last_contact is None:
            if self._answered:
                # The fence removed what was not bound here any more; a fence that
                # takes long (many instances moved away) must not be taken for silence.
                return None
            if self._previous_contact is not None:
                # The server's word before the restart: the best there is.
                down = self._previous_contact[1].get("agent_down_time")
                failover = bool(self._previous_contact[1].get("failover"))
            else:
                down = self.options.agent_down_time
                failover = self.options.allow_failover
        else:
            down = self._fencing.get("agent_down_time")
            failover = bool(self._fencing.get("failover"))
        if not failover or not isinstance(down, (int, float)):
            return None
        return max(down - 1.5 * self.options.report_interval, down / 2)

    def _since_contact(self) -> float:
        """Seconds since the last answered heartbeat was sent; before one was in this
        process, since the last one before the restart (contact_file), else since the
        start (0 before the start)."""
        if self._last_contact is None and self._previous_contact is not None:
            return max(0.0, time.time() - self._previous_contact[0])
        since = self._last_contact if self._last_contact is not None else self._started
        if since is None:
            return 0.0
        return time.monotonic() - since

    def _read_contact(self) -> tuple[float, dict[str, Any]] | None:
        path = self.options.contact_file
        if not path:
            return None
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            when, fencing = data["time"], data["fencing"]
            if isinstance(when, (int, float)) and isinstance(fencing, dict):
                return float(when), fencing
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            LOG.warning("ignoring %s: %s", path, exc)
        return None

    def _write_contact(self, wall_time: float) -> None:
        """Keep the answered heartbeat's time and the server's word for the next start
        (written aside and renamed: a crash never leaves half a file)."""
        path = self.options.contact_file
        if not path:
            return
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"time": wall_time, "fencing": self._fencing}, f)
            os.replace(tmp, path)
        except OSError as exc:
            if not self._contact_write_failed:  # once, not every heartbeat
                LOG.warning("cannot write %s: %s", path, exc)
            self._contact_write_failed = True

    def request_refresh(self, pool_id: str) -> None:
        """Schedule refresh_device(pool_id) on the deploy workers, coalesced with a
        refresh of the same pool that is queued or running."""
        with self._mutex:
            self._requested[pool_id] = next(self._sequence)
            state = self._pools.setdefault(pool_id, _PoolState())
            if state.scheduled:
                state.again = True
                return
            state.scheduled = True
        try:
            self._executor.submit(self._refresh_worker, pool_id, state)
        except RuntimeError:
            # Executor shut down: the agent is stopping.
            with self._mutex:
                state.scheduled = False
                self._gate.notify_all()

    def refresh_device(self, pool_id: str) -> None:
        """v1's ``_refresh_device``: fetch the pool's logical device, make the host
        match it, confirm to the server. Never raises: a failure is logged, reported
        as the object's ERROR status when the pool is at fault, and schedules a
        resync.

        From the moment the device is fetched, the device's ``request_id`` (the API
        request that caused the change) is this thread's request id: the lines logged
        while deploying or destroying carry it, the driver's included, and the calls
        to the server send it back. It is cleared again when the refresh ends."""
        with self._pool_state(pool_id).lock, request_id.bound(None):
            self._refresh_reporting_errors(pool_id)

    def _refresh_locked(self, pool_id: str) -> None:
        try:
            device = self.plugin_rpc.get_logical_device(pool_id)
        except PoolNotFound:
            # Also a pool being deleted: the server answers PoolNotFound for it, so
            # that the confirmation is pool_destroyed (plugin_api.get_logical_device).
            LOG.info("pool %s is gone from the server: destroying", pool_id)
            self._destroy_pool(pool_id)
            return
        request_id.adopt(device.request_id)
        if device.host is not None and device.host != self.host:
            # Moved to another host while we were cut off or dead: not ours to serve,
            # nor to confirm; the port is the other host's.
            if self._has_instance(pool_id):
                LOG.warning("pool %s now lives on %s: removing it here", pool_id,
                            device.host)
                self._undeploy(pool_id, notify_server=False)
            return
        if not _has_amphora_here(device, self.host):
            # ACTIVE_STANDBY without an amphora of this host (its amphora was moved):
            # the other two agents serve and confirm it; the port is theirs.
            if self._has_instance(pool_id):
                LOG.warning("load balancer %s has no amphora on %s: removing it here",
                            pool_id, self.host)
                self._undeploy(pool_id, notify_server=False)
            return
        if self._self_fenced:
            return  # cut off from the servers: nothing is deployed until we are back
        # A deploy failure is the VIP's status in v1 (the listener of from_v1 keeps the
        # VIP's id); with nothing to serve, the pool's.
        lb = device.loadbalancer
        obj_type, obj_id = ((constants.OBJ_VIP, lb.listeners[0].id)
                            if lb is not None and lb.listeners
                            else (constants.OBJ_POOL, pool_id))
        with self._mutex:
            kind = "reload" if pool_id in self._hosted else "create"
        started = time.monotonic()
        try:
            deployed = self.driver.deploy_instance(device)
        except self.options.deploy_errors as exc:
            self.metrics.deployed(kind, "rejected", time.monotonic() - started)
            reason = str(getattr(exc, "reason", None) or exc)
            LOG.warning("pool %s: configuration rejected, old one keeps serving: %s",
                        pool_id, reason)
            self.plugin_rpc.update_status(obj_type, obj_id, constants.ERROR,
                                          _short(reason))
            return
        except PluginApiError:
            raise
        except Exception as exc:
            self.metrics.deployed(kind, "failed", time.monotonic() - started)
            LOG.exception("pool %s: deploy failed", pool_id)
            self._failed(pool_id)
            self.plugin_rpc.update_status(
                obj_type, obj_id, constants.ERROR,
                _short(f"agent on {self.host}: {exc.__class__.__name__}: {exc}"))
            return
        self.metrics.deployed(kind, "deployed" if deployed else "not_served",
                              time.monotonic() - started)
        with self._mutex:
            self._retry.pop(pool_id, None)
            if deployed:
                self._hosted.add(pool_id)
                self._not_served.discard(pool_id)
            else:
                self._not_served.add(pool_id)
        if not deployed:
            # v1's gate said no (no VIP, VIP PENDING_DELETE, something admin down):
            # nothing may serve, and pool_deployed confirms the pending states
            # (the VIP's delete among them).
            if self._has_instance(pool_id):
                LOG.info("pool %s is not to be served: undeploying", pool_id)
                self._undeploy(pool_id)
        if not device.pending:
            # Nothing to confirm (an adoption after a restart, a periodic resync): no
            # write for the server to make, a thousand times over.
            return
        # A change was applied: one line for it (with its request id).
        LOG.info("pool %s: revision %d %s", pool_id, device.revision,
                 "deployed" if deployed else "applied, nothing to serve")
        self._confirm(self.plugin_rpc.pool_deployed, pool_id, device.revision, self.host)

    def _has_instance(self, pool_id: str) -> bool:
        # exists() is true only while HAProxy answers; a dead one's namespace and
        # state files are an instance too, and must go with it.
        return self.driver.exists(pool_id) or pool_id in self.driver.list_instances()

    def _undeploy(self, pool_id: str, notify_server: bool = True) -> None:
        try:
            if notify_server:
                self.driver.undeploy_instance(pool_id)
            else:
                self.driver.undeploy_instance(pool_id, notify_server=False)
        except Exception:
            self.metrics.failures.labels("undeploy").inc()
            raise
        self.metrics.undeploys.inc()
        with self._mutex:
            self._hosted.discard(pool_id)

    def _destroy_pool(self, pool_id: str) -> None:
        if self._has_instance(pool_id):
            self._undeploy(pool_id)
        with self._mutex:
            self._retry.pop(pool_id, None)
            self._not_served.discard(pool_id)
        self._confirm(self.plugin_rpc.pool_destroyed, pool_id)

    def _failed(self, pool_id: str) -> None:
        """Schedule a retry of the pool's refresh, later each time it fails again,
        and a resync of the host."""
        with self._mutex:
            _, delay = self._retry.get(pool_id, (0.0, 0.0))
            delay = (min(delay * 2, self.options.retry_delay_max) if delay
                     else self.options.retry_delay)
            self._retry[pool_id] = (time.monotonic() + delay, delay)
        self._resync.set()

    def _retry_due(self) -> list[str]:
        """Pools to retry now; each is not due again before its next failure or
        its delay, so a retry still queued is not asked for twice."""
        now = time.monotonic()
        with self._mutex:
            due = sorted(p for p, (when, _) in self._retry.items() if when <= now)
            for pool_id in due:
                _, delay = self._retry[pool_id]
                self._retry[pool_id] = (now + delay, delay)
            return due

    def _destroy_reporting_errors(self, pool_id: str) -> None:
        with self._pool_state(pool_id).lock:
            try:
                self._destroy_pool(pool_id)
            except PluginApiError as exc:
                LOG.warning("pool %s: server not told of the destroy: %s", pool_id, exc)
                self._resync.set()
            except Exception:
                LOG.exception("pool %s: destroy failed", pool_id)
                self._resync.set()

    def _confirm(self, call: Any, pool_id: str, *args: Any) -> None:
        try:
            call(pool_id, *args)
        except PoolNotFound:
            # Deleted on the server while we worked: nothing left to confirm.
            LOG.debug("pool %s gone before %s", pool_id, call.__name__)

    def _refresh_worker(self, pool_id: str, state: _PoolState) -> None:
        # Runs until no refresh was asked for during the last run: requests that
        # arrive while the pool is busy collapse into one more run.
        while True:
            with self._gate:
                while self._pruning:
                    self._gate.wait()
                state.again = False
            if not self._stop.is_set():
                self.refresh_device(pool_id)
            with self._mutex:
                if not state.again or self._stop.is_set():
                    state.scheduled = False
                    self._gate.notify_all()
                    return

    def _refresh_reporting_errors(self, pool_id: str) -> None:
        try:
            self._refresh_locked(pool_id)
        except PluginApiError as exc:
            # The server, not the pool, is the problem: no ERROR status (it would not
            # get through either); the resync retries once the server answers.
            LOG.warning("pool %s: refresh failed, server call failed: %s", pool_id, exc)
            self._failed(pool_id)
        except Exception as exc:
            LOG.exception("pool %s: refresh failed", pool_id)
            self._failed(pool_id)
            try:
                self.plugin_rpc.update_status(
                    constants.OBJ_POOL, pool_id, constants.ERROR,
                    _short(f"agent on {self.host}: {exc.__class__.__name__}: {exc}"))
            except Exception as report_exc:
                LOG.warning("pool %s: ERROR status not reported: %s", pool_id, report_exc)

    def _pool_state(self, pool_id: str) -> _PoolState:
        with self._mutex:
            return self._pools.setdefault(pool_id, _PoolState())

    @contextmanager
    def _pruning_gate(self) -> Iterator[None]:
        """No refresh starts while instances are being destroyed as not ready."""
        with self._gate:
            self._pruning = True
        try:
            yield
        finally:
            with self._gate:
                self._pruning = False
                self._gate.notify_all()

    def _forget_requests_before(self, mark: int) -> None:
        for pool_id in [p for p, seq in self._requested.items() if seq <= mark]:
            del self._requested[pool_id]

    # -- threads ------------------------------------------------------------------------

    def report_state(self, start_flag: bool = False) -> dict[str, Any]:
        configurations = dict(self.options.configurations)
        try:
            configurations["instances"] = len(self.driver.list_instances())
        except Exception:
            # A heartbeat that does not go out makes the server think the agent is
            # dead and move its pools: never let the count stop it.
            LOG.exception("cannot count instances for the heartbeat")
        return self.plugin_rpc.report_state(self.host, configurations,
                                            start_flag=start_flag)

    def _heartbeat_loop(self) -> None:
        start_flag = True
        need_fence = True
        while not self._stop.is_set():
            try:
                if need_fence:
                    self.fence()
                    need_fence = False
                sent, sent_wall = time.monotonic(), time.time()
                answer = self.report_state(start_flag=start_flag)
                self._last_contact = sent
                fencing = answer.get("fencing") if isinstance(answer, dict) else None
                self._fencing = fencing if isinstance(fencing, dict) else {}
                self._write_contact(sent_wall)
                start_flag = False
                if self._self_fenced:
                    LOG.warning("lbaas-server reachable again: redeploying what is "
                                "still bound to %s", self.host)
                    self._self_fenced = False
                    self._resync.set()
            except Exception as exc:
                LOG.warning("heartbeat failed: %s", exc)
                need_fence = True
            self._first_report_done.set()
            if self._stop.wait(self.options.report_interval):
                return

    def _fence_loop(self) -> None:
        while not self._stop.wait(FENCE_CHECK_INTERVAL):
            limit = self.fence_after()
            if limit is not None and not self._self_fenced and \
                    self._since_contact() > limit:
                try:
                    self.self_fence()
                except Exception:
                    LOG.exception("fencing failed")

    def _event_loop(self) -> None:
        # The server knows a host once it has reported; asking for its pools before
        # that only fails. Waits for the first attempt, not its success.
        while not self._first_report_done.wait(0.2):
            if self._stop.is_set():
                return
        # The poll is by revision: the server answers with every pool changed since
        # ``after``, so a failed call loses nothing and the next one resumes from the
        # same revision; a cheap sync then only catches what the outage hid (pools
        # rebound elsewhere). A full sync is for what the revision cannot tell: the
        # start, a revision that went back, an error of the agent's own.
        revision = 0
        need_sync: str | None = "full"
        backoff = self.options.error_backoff
        while not self._stop.is_set():
            try:
                if need_sync == "full":
                    # Learn the revision *before* the sync, so nothing that changes
                    # during the sync is missed by the poll after it.
                    revision = self.plugin_rpc.get_events(self.host, after=0,
                                                          timeout=0).revision
                    self.sync_state(full=True)
                elif need_sync == "cheap":
                    self.sync_state(full=False)
                need_sync = None
                events = self.plugin_rpc.get_events(self.host, after=revision,
                                                    timeout=self.options.poll_timeout)
                if self._stop.is_set():
                    return
                if events.revision < revision:
                    LOG.warning("server revision went back (%d < %d): full resync",
                                events.revision, revision)
                    need_sync = "full"
                    continue
                if events.revision > revision and not events.pool_ids:
                    # A bump naming nothing bound here: a load balancer left this host
                    # (drained to another agent, or the agent row was emptied).
                    need_sync = "cheap"
                revision = events.revision
                for pool_id in events.pool_ids:
                    self.request_refresh(pool_id)
                backoff = self.options.error_backoff
            except Exception as exc:
                if self._stop.is_set():
                    return
                if isinstance(exc, PluginApiError):
                    LOG.warning("event loop: %s; retry in %.0f s", exc, backoff)
                    need_sync = need_sync or "cheap"
                else:
                    LOG.exception("event loop failed; full resync in %.0f s", backoff)
                    need_sync = "full"
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, self.options.error_backoff_max)

    def _periodic_loop(self) -> None:
        periods = 0
        while not self._stop.wait(self.options.periodic_interval):
            periods += 1
            if self._fenced.is_set() and not self._self_fenced:
                # Not before the first fence: it would restart the HAProxy of a load
                # balancer that moved away while this host was down.
                self.collect_stats()
            for pool_id in self._retry_due():
                self.request_refresh(pool_id)
            if self._resync.is_set() or periods % self.options.resync_periods == 0:
                self._resync.clear()
                try:
                    self.sync_state(full=False)
                except Exception as exc:
                    LOG.warning("periodic resync failed: %s", exc)
                    self._resync.set()

    def collect_stats(self) -> None:
        """v1's ``collect_stats`` plus liveness: for every instance, restart a dead
        HAProxy, then report the pool's counters and member health. Pools are done
        in parallel (it is socket and HTTP waiting): done one after the other, a
        thousand pools would take longer than the period."""
        pool_ids = self.driver.list_instances()
        self.metrics.instances.set(len(pool_ids))
        with self._mutex:
            self._hosted = set(pool_ids)
            for gone in set(self._last_stats) - set(pool_ids):
                del self._last_stats[gone]
        try:
            for _ in self._stats_executor.map(self._collect_pool_stats, pool_ids):
                pass
        except (RuntimeError, concurrent.futures.CancelledError):
            # Stopping: the executor was shut down under us.
            return

    def _collect_pool_stats(self, pool_id: str) -> None:
        if self._stop.is_set():
            return
        state = self._pool_state(pool_id)
        # A pool being deployed right now is skipped: its HAProxy may be between
        # processes, and stats come next period.
        if not state.lock.acquire(blocking=False):
            return
        try:
            if self.driver.ensure_running(pool_id):
                self.metrics.restarts.inc()
                LOG.warning("pool %s: HAProxy was not running, restarted", pool_id)
            stats = self.driver.get_stats(pool_id)
        except self.options.deploy_errors as exc:
            self.metrics.failures.labels("restart").inc()
            LOG.warning("pool %s: HAProxy cannot be restarted: %s", pool_id,
                        getattr(exc, "reason", exc))
            return
        except Exception:
            self.metrics.failures.labels("stats").inc()
            LOG.exception("pool %s: liveness check or stats failed", pool_id)
            return
        finally:
            state.lock.release()
        if not stats:
            # HAProxy did not answer: nothing to report this period.
            self.metrics.failures.labels("stats").inc()
            return
        now = time.monotonic()
        with self._mutex:
            last = self._last_stats.get(pool_id)
        if (last is not None and last[0] == stats
                and now - last[1] < self.options.stats_resend_interval):
            # An idle load balancer: the server has these numbers already.
            return
        try:
            self.plugin_rpc.update_pool_stats(pool_id, stats, self.host)
        except PoolNotFound:
            self._resync.set()
            return
        except PluginApiError as exc:
            LOG.warning("pool %s: stats not reported: %s", pool_id, exc)
            return
        with self._mutex:
            self._last_stats[pool_id] = (stats, now)


def _has_amphora_here(device: LogicalDevice, host: str) -> bool:
    """False only for an ACTIVE_STANDBY device none of whose amphorae is on ``host``."""
    lb = device.loadbalancer
    if lb is None or lb.topology != "ACTIVE_STANDBY":
        return True
    return any(amphora.host == host for amphora in lb.amphorae)


def _short(text: str, limit: int = STATUS_DESCRIPTION_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

