"""Fakes for the agent's unit tests: a server (PluginApi) and a device driver that
record what the agent asked of them, with hooks to block or fail a call."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lbaas.agent.manager import AgentOptions, LbaasAgentManager
from lbaas.common import constants
from lbaas.common.logical_device import LogicalDevice, from_v1, v1_pool_deleting
from lbaas.common.plugin_api import Events, PluginApi, PoolNotFound

HOST = "host-a"


class FakeDeployError(Exception):
    """Stands in for HaproxyNSDriver's DeployError (HAProxy rejected the config)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def logical_device(pool_id: str, *, vip: bool = True,
                   pool_status: str = constants.ACTIVE,
                   vip_status: str = constants.PENDING_CREATE) -> dict[str, Any]:
    """A v1 logical device (the server's dict); FakePluginApi hands it out typed."""
    device: dict[str, Any] = {
        "pool": {"id": pool_id, "status": pool_status, "admin_state_up": True,
                 "protocol": "HTTP", "lb_method": "ROUND_ROBIN"},
        "vip": None,
        "members": [],
        "healthmonitors": [],
        "driver": constants.DRIVER_HAPROXY_NS,
    }
    if vip:
        device["vip"] = {"id": f"vip-{pool_id}", "status": vip_status,
                         "admin_state_up": True, "protocol": "HTTP", "protocol_port": 80,
                         "address": "10.0.0.10",
                         "port": {"id": f"port-{pool_id}", "network_id": "net",
                                  "mac_address": "fa:16:3e:00:00:01",
                                  "network": {"id": "net"}}}
    return device


class Recorder:
    """Calls in order, and a way to wait until some have happened."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def record(self, *call: Any) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def named(self, name: str) -> list[tuple[Any, ...]]:
        with self._cond:
            return [c[1:] for c in self.calls if c[0] == name]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"timed out; calls so far: {self.calls}")


class FakePluginApi(PluginApi):
    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self.devices: dict[str, dict[str, Any]] = {}
        self.ready: list[str] = []
        self.revision = 0
        # What long-polls return, in order; an Exception instance is raised.
        self.events: queue.Queue[Events | Exception] = queue.Queue()
        self.on_get_ready: Callable[[], None] | None = None
        # pool_id -> the host the server has it bound to (absent: None, not said).
        self.hosts: dict[str, str] = {}
        # What the heartbeat answers under "fencing"; an exception instance is raised.
        self.fencing: dict[str, Any] | None = None
        self.report_error: Exception | None = None

    def report_state(self, host: str, configurations: dict[str, Any],
                     start_flag: bool = False) -> dict[str, Any]:
        self.rec.record("report_state", host, configurations, start_flag)
        if self.report_error is not None:
            raise self.report_error
        answer: dict[str, Any] = {"host": host}
        if self.fencing is not None:
            answer["fencing"] = self.fencing
        return answer

    def get_ready_devices(self, host: str) -> list[str]:
        self.rec.record("get_ready_devices", host)
        if self.on_get_ready is not None:
            self.on_get_ready()
        return list(self.ready)

    def get_events(self, host: str, after: int, timeout: float) -> Events:
        self.rec.record("get_events", host, after, timeout)
        if timeout == 0:
            return Events(self.revision, [])
        try:
            item = self.events.get(timeout=timeout)
        except queue.Empty:
            return Events(self.revision, [])
        if isinstance(item, Exception):
            raise item
        self.revision = item.revision
        return item

    def get_logical_device(self, pool_id: str) -> LogicalDevice:
        # What LocalPluginApi does: a pool being deleted is gone for the agent.
        self.rec.record("get_logical_device", pool_id)
        if pool_id not in self.devices or v1_pool_deleting(self.devices[pool_id]):
            raise PoolNotFound(pool_id)
        return from_v1(self.devices[pool_id]).model_copy(
            update={"host": self.hosts.get(pool_id)})

    def pool_deployed(self, pool_id: str, revision: int | None = None,
                      host: str | None = None) -> None:
        self.rec.record("pool_deployed", pool_id)

    def pool_destroyed(self, pool_id: str) -> None:
        self.rec.record("pool_destroyed", pool_id)

    def update_status(self, obj_type: str, obj_id: str, status: str,
                      status_description: str | None = None) -> None:
        self.rec.record("update_status", obj_type, obj_id, status, status_description)

    def plug_vip_port(self, port_id: str, host: str) -> None:
        self.rec.record("plug_vip_port", port_id, host)

    def unplug_vip_port(self, port_id: str, host: str) -> None:
        self.rec.record("unplug_vip_port", port_id, host)

    def update_pool_stats(self, pool_id: str, stats: dict[str, Any], host: str) -> None:
        self.rec.record("update_pool_stats", pool_id, stats, host)


class FakeDriver:
    """HaproxyNSDriver's interface over a set of pool ids, with its gate."""

    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self.instances: set[str] = set()
        # pool_id -> called inside deploy_instance (may block or raise).
        self.deploy_hooks: dict[str, Callable[[], None]] = {}
        self.dead: set[str] = set()
        # Instances that are one half of an ACTIVE_STANDBY pair.
        self.arbitrated: set[str] = set()
        self._lock = threading.Lock()

    def deploy_instance(self, device: LogicalDevice) -> bool:
        self.rec.record("deploy_instance", device.id)
        hook = self.deploy_hooks.get(device.id)
        if hook is not None:
            hook()
        if device.loadbalancer is None:
            return False
        with self._lock:
            self.instances.add(device.id)
        return True

    def undeploy_instance(self, pool_id: str, cleanup_namespace: bool = True,
                          notify_server: bool = True) -> None:
        if notify_server:
            self.rec.record("undeploy_instance", pool_id)
        else:
            self.rec.record("undeploy_instance", pool_id, "without telling the server")
        with self._lock:
            self.instances.discard(pool_id)

    def exists(self, pool_id: str) -> bool:
        with self._lock:
            return pool_id in self.instances

    def get_stats(self, pool_id: str) -> dict[str, Any]:
        self.rec.record("get_stats", pool_id)
        return {"bytes_in": 10, "bytes_out": 20, "active_connections": 1,
                "total_connections": 3, "epoch": "e1",
                "members": {f"m-{pool_id}": {"status": constants.ACTIVE}}}

    def remove_orphans(self, known_pool_ids: list[str]) -> None:
        self.rec.record("remove_orphans", sorted(known_pool_ids))

    def list_instances(self) -> list[str]:
        with self._lock:
            return sorted(self.instances)

    def vrrp_arbitrated(self, pool_id: str) -> bool:
        return pool_id in self.arbitrated

    def ensure_running(self, pool_id: str) -> bool:
        self.rec.record("ensure_running", pool_id)
        restarted = pool_id in self.dead
        self.dead.discard(pool_id)
        return restarted


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def rpc(recorder: Recorder) -> FakePluginApi:
    return FakePluginApi(recorder)


@pytest.fixture
def driver(recorder: Recorder) -> FakeDriver:
    return FakeDriver(recorder)


@pytest.fixture
def make_manager(rpc: FakePluginApi, driver: FakeDriver
                 ) -> Iterator[Callable[..., LbaasAgentManager]]:
    """Builds managers with fast intervals; every one is stopped at teardown."""
    made: list[LbaasAgentManager] = []

    def make(**overrides: Any) -> LbaasAgentManager:
        values: dict[str, Any] = {
            "periodic_interval": 3600, "report_interval": 3600, "deploy_workers": 4,
            "configurations": {"device_drivers": [constants.DRIVER_HAPROXY_NS]},
            "poll_timeout": 0.2, "resync_periods": 10_000,
            "deploy_errors": (FakeDeployError,), "error_backoff": 0.01,
            "error_backoff_max": 0.05, "retry_delay": 0.01, "retry_delay_max": 0.05,
        }
        values.update(overrides)
        manager = LbaasAgentManager(rpc, driver, HOST, AgentOptions(**values))
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.stop(timeout=5)


@pytest.fixture
def device() -> Callable[..., dict[str, Any]]:
    """logical_device(pool_id, vip=True, pool_status=..., vip_status=...)."""
    return logical_device


@pytest.fixture
def deploy_error() -> type[FakeDeployError]:
    return FakeDeployError
