"""The agent logs its work on a change under the change's request id (the logical
device's ``request_id``), the driver's lines included, and calls the server with it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from lbaas.common import request_id
from lbaas.common.log import TextFormatter
from lbaas.common.logical_device import from_v1
from tests.unit.agent.conftest import FakeDriver, FakePluginApi, Recorder, logical_device

DRIVER_LOG = logging.getLogger("lbaas.agent.drivers.haproxy.fake")


class LoggingDriver(FakeDriver):
    """Logs from inside deploy_instance as HaproxyNSDriver's _spawn does, and notes the
    request id its thread has there."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.seen_ids: list[str | None] = []

    def deploy_instance(self, device):  # type: ignore[no-untyped-def]
        self.seen_ids.append(request_id.current())
        DRIVER_LOG.info("_spawn: haproxy started for %s", device.id)
        return super().deploy_instance(device)


class IdNotingApi(FakePluginApi):
    """Notes the request id current in each pool_deployed call (what HttpPluginApi
    would send as x-openstack-request-id)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.deployed_ids: list[str | None] = []

    def pool_deployed(self, pool_id: str, revision: int | None = None,
                      host: str | None = None) -> None:
        self.deployed_ids.append(request_id.current())
        super().pool_deployed(pool_id, revision)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The agent's lines as lbaas-agent writes them (TextFormatter, thread names)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(request_id.RequestIdFilter())
    handler.setFormatter(TextFormatter(thread_names=True))
    logger = logging.getLogger("lbaas.agent")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def rpc(recorder: Recorder) -> IdNotingApi:
    return IdNotingApi(recorder)


@pytest.fixture
def driver(recorder: Recorder) -> LoggingDriver:
    return LoggingDriver(recorder)


def test_a_devices_request_id_is_on_the_agents_and_the_drivers_lines(
        make_manager, rpc: IdNotingApi, driver: LoggingDriver,
        log_lines: io.StringIO) -> None:
    rid = request_id.generate()
    rpc.devices = {"p1": {**logical_device("p1"), "request_id": rid, "revision": 7}}
    make_manager().refresh_device("p1")

    lines = log_lines.getvalue().splitlines()
    spawn = [line for line in lines if "_spawn: haproxy started for p1" in line]
    done = [line for line in lines if "pool p1: revision 7 deployed" in line]
    assert len(spawn) == 1 and f"[{rid}] _spawn" in spawn[0]
    assert len(done) == 1 and f"[{rid}] pool p1" in done[0]
    assert driver.seen_ids == [rid]
    # The confirmation goes to the server under the same id.
    assert rpc.deployed_ids == [rid]
    # And the id ends with the refresh: the next line of this thread has none.
    assert request_id.current() is None


def test_without_an_id_the_lines_say_dash_and_no_id_leaks_between_pools(
        make_manager, rpc: IdNotingApi, driver: LoggingDriver,
        log_lines: io.StringIO) -> None:
    rid = request_id.generate()
    rpc.devices = {"p1": {**logical_device("p1"), "request_id": rid},
                   "p2": logical_device("p2")}
    manager = make_manager()  # both refreshes run in this thread, one after the other
    manager.refresh_device("p1")
    manager.refresh_device("p2")

    assert driver.seen_ids == [rid, None]
    assert rpc.deployed_ids == [rid, None]
    (p2_line,) = [line for line in log_lines.getvalue().splitlines()
                  if "_spawn: haproxy started for p2" in line]
    assert "[-] _spawn" in p2_line


def test_a_malformed_id_in_a_device_is_dropped_not_fatal() -> None:
    device = from_v1({**logical_device("p1"), "request_id": "req-x\nforged line"})
    assert device.request_id is None
    assert device.loadbalancer is not None
    rid = request_id.generate()
    assert from_v1({**logical_device("p1"), "request_id": rid}).request_id == rid
    assert from_v1(logical_device("p1")).request_id is None
