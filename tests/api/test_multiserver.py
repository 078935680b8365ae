"""Two lbaas-server processes on one PostgreSQL database, no broker: a change made through
one wakes an agent long-polling the other (LISTEN/NOTIFY), and an agent given both URLs
fails over when its server dies, losing no change a client was told succeeded
(docs/architecture.md, "Several servers")."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from lbaas.agent.http_plugin_api import HttpPluginApi
from lbaas.agent.manager import AgentOptions, LbaasAgentManager
from tests.api.conftest import PgDatabases
from tests.helpers.server import ServerProcess
from tests.unit.agent.conftest import FakeDriver, Recorder

PHYSNET = "ms-physnet"
CONFIGURATIONS = {"device_drivers": ["haproxy_ns"], "bridge_mappings": {PHYSNET: "br-ms"},
                  "interface_driver": "linuxbridge"}


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.fixture
def two_servers(pg_databases: PgDatabases) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    if pg_databases.error:
        pytest.fail(pg_databases.error, pytrace=False)
    url = pg_databases.create()
    conf = {"quotas": {"quota_pool": -1, "quota_vip": -1, "quota_member": -1}}
    a = ServerProcess(database_url=url, conf=conf)
    b = ServerProcess(database_url=url, conf=conf)
    try:
        a.start()
        b.start()
        for s in (a, b):
            assert _eventually(lambda s=s: "listening for other servers" in s.log_tail(),
                               timeout=15), s.log_tail()
        yield a, b
    finally:
        a.cleanup()
        b.cleanup()


def _subnet(client: httpx.Client) -> str:
    net = client.post("/networks", json={"network": {
        "name": "ms-net", "provider:physical_network": PHYSNET,
        "provider:network_type": "flat"}})
    assert net.status_code == 201, net.text
    sub = client.post("/subnets", json={"subnet": {
        "network_id": net.json()["network"]["id"], "cidr": "10.98.40.0/24",
        "ip_version": 4}})
    assert sub.status_code == 201, sub.text
    return str(sub.json()["subnet"]["id"])


def _pool(client: httpx.Client, subnet_id: str, name: str) -> httpx.Response:
    return client.post("/lb/pools", json={"pool": {
        "name": name, "subnet_id": subnet_id, "protocol": "HTTP",
        "lb_method": "ROUND_ROBIN"}})


def _vip(client: httpx.Client, subnet_id: str, pool_id: str) -> httpx.Response:
    return client.post("/lb/vips", json={"vip": {
        "name": f"v-{pool_id[:8]}", "subnet_id": subnet_id, "protocol": "HTTP",
        "protocol_port": 80, "pool_id": pool_id}})


def _load_balancer(client: httpx.Client, subnet_id: str, name: str) -> str:
    """A v1 pool with its VIP (what the agent deploys); the pool's id."""
    pool = _pool(client, subnet_id, name)
    assert pool.status_code == 201, pool.text
    pool_id = str(pool.json()["pool"]["id"])
    vip = _vip(client, subnet_id, pool_id)
    assert vip.status_code == 201, vip.text
    return pool_id


def _agent(urls: list[str], driver: FakeDriver) -> tuple[HttpPluginApi, LbaasAgentManager]:
    api = HttpPluginApi(urls, timeout=5)
    manager = LbaasAgentManager(api, driver, f"ms-host-{uuid.uuid4().hex[:6]}",
                                AgentOptions(periodic_interval=0.5, report_interval=1,
                                             poll_timeout=20, error_backoff=0.2,
                                             error_backoff_max=1.0,
                                             configurations=CONFIGURATIONS))
    return api, manager


def test_a_change_through_one_server_wakes_a_long_poll_on_the_other(two_servers):
    a, b = two_servers
    host = "ms-poller"
    with httpx.Client(base_url=a.url, timeout=10) as ca:
        assert ca.post("/agent/v1/agents", json={
            "host": host, "configurations": CONFIGURATIONS}).status_code == 200
    subnet_id = _subnet(httpx.Client(base_url=a.url + "/v2.0", timeout=10))
    answer, pool_id = _poll_and_change(a, b, host, subnet_id, "woken")
    # B answered with A's change before the poll's own timeout: with the long-polls'
    # fallback re-read at 30 s, only the NOTIFY can have woken it.
    assert answer["body"]["pool_ids"] == [pool_id]
    assert answer["seconds"] < 20


def _poll_and_change(a: ServerProcess, b: ServerProcess, host: str, subnet_id: str,
                     name: str) -> tuple[dict[str, Any], str]:
    """A long-poll on B, a pool created through A while it waits: B's answer and the
    pool's id."""
    with httpx.Client(base_url=b.url, timeout=30) as cb:
        after = cb.get(f"/agent/v1/hosts/{host}/events",
                       params={"after": 0, "timeout": 0}).json()["revision"]
        answer: dict[str, Any] = {}

        def poll() -> None:
            started = time.monotonic()
            answer["body"] = cb.get(f"/agent/v1/hosts/{host}/events",
                                    params={"after": after, "timeout": 20}).json()
            answer["seconds"] = time.monotonic() - started

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)
        with httpx.Client(base_url=a.url + "/v2.0", timeout=10) as v2:
            pool = _pool(v2, subnet_id, name)
        assert pool.status_code == 201, pool.text
        poller.join(30)
    return answer, str(pool.json()["pool"]["id"])


def test_a_lost_listen_connection_is_made_again(two_servers, pg_databases: PgDatabases):
    """PostgreSQL drops B's LISTEN connection (as a restart or a failover would): B
    reconnects by itself and changes through A wake its long-polls at once again."""
    import psycopg

    from tests.api.conftest import PG_ADMIN_DSN

    a, b = two_servers
    host = "ms-relisten"
    with httpx.Client(base_url=a.url, timeout=10) as ca:
        assert ca.post("/agent/v1/agents", json={
            "host": host, "configurations": CONFIGURATIONS}).status_code == 200
    subnet_id = _subnet(httpx.Client(base_url=a.url + "/v2.0", timeout=10))
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        db = b.database_url.rsplit("/", 1)[1] if b.database_url else ""
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND query = 'LISTEN lbaas_changes'", (db,)).fetchall()
    assert len(killed) == 2  # A's and B's listeners
    assert _eventually(lambda: "connection lost" in b.log_tail(), timeout=15), b.log_tail()
    assert _eventually(lambda: b.log_tail().count("listening for other servers") == 2,
                       timeout=30), b.log_tail()
    answer, pool_id = _poll_and_change(a, b, host, subnet_id, "relisten")
    assert answer["body"]["pool_ids"] == [pool_id]
    assert answer["seconds"] < 20


def test_agent_fails_over_to_the_other_server_and_keeps_receiving_changes(two_servers):
    a, b = two_servers
    driver = FakeDriver(Recorder())
    api, manager = _agent([a.url, b.url], driver)
    manager.start()
    try:
        with httpx.Client(base_url=a.url + "/v2.0", timeout=10) as ca, \
                httpx.Client(base_url=b.url + "/v2.0", timeout=10) as cb:
            assert _eventually(lambda: ca.get("/agents").json()["agents"])
            subnet_id = _subnet(ca)
            first = _load_balancer(ca, subnet_id, "before")
            assert _eventually(lambda: first in driver.instances), driver.instances
            assert api.server_url == a.url
            a.kill()
            # Made through B, while the agent still long-polls the dead A.
            second = _load_balancer(cb, subnet_id, "after")
            assert _eventually(lambda: second in driver.instances), driver.instances
            assert _eventually(lambda: cb.get(f"/lb/pools/{second}").json()["pool"]
                               ["status"] == "ACTIVE")
            assert api.server_url == b.url
    finally:
        manager.stop(timeout=5)
        api.close()


def test_every_change_a_client_was_told_of_is_realized_when_a_server_dies(two_servers):
    a, b = two_servers
    driver = FakeDriver(Recorder())
    api, manager = _agent([a.url, b.url], driver)
    manager.start()
    # What the clients were told succeeded (201), through either server: pools with
    # their VIP, then a member on each.
    done: list[str] = []
    vips: list[str] = []
    members: list[str] = []
    refused: list[str] = []  # for the failure message
    lock = threading.Lock()
    stop = threading.Event()
    try:
        with httpx.Client(base_url=a.url + "/v2.0", timeout=10) as ca:
            assert _eventually(lambda: ca.get("/agents").json()["agents"])
            subnet_id = _subnet(ca)

        def writer(n: int) -> None:
            clients = [httpx.Client(base_url=s.url + "/v2.0", timeout=10) for s in (a, b)]
            i = 0
            try:
                # At most 60 load balancers: the VIPs' addresses are the test's /24.
                while not stop.is_set() and len(done) < 60:
                    i += 1
                    client = clients[(i + n) % 2]
                    try:
                        r = _pool(client, subnet_id, f"w{n}-{i}")
                        if r.status_code != 201:
                            refused.append(r.text)
                            continue
                        pool_id = r.json()["pool"]["id"]
                        r = _vip(client, subnet_id, pool_id)
                        if r.status_code != 201:
                            refused.append(r.text)
                            continue
                        with lock:
                            done.append(pool_id)
                            vips.append(r.json()["vip"]["id"])
                        r = client.post("/lb/members", json={"member": {
                            "pool_id": pool_id, "address": "10.98.40.10",
                            "protocol_port": 80}})
                        if r.status_code == 201:
                            with lock:
                                members.append(r.json()["member"]["id"])
                    except httpx.TransportError:
                        continue  # the dead server: nothing was promised
            finally:
                for c in clients:
                    c.close()

        writers = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for w in writers:
            w.start()
        try:
            assert _eventually(lambda: len(done) >= 15, timeout=30), refused[-3:]
            a.kill()
            count = len(done)
            assert _eventually(lambda: len(done) >= count + 15, timeout=30), refused[-3:]
        finally:
            stop.set()
            for w in writers:
                w.join(30)
        with httpx.Client(base_url=b.url + "/v2.0", timeout=10) as cb:
            def realized() -> list[str]:
                pools = {p["id"]: p["status"] for p in cb.get("/lb/pools").json()["pools"]}
                mem = {m["id"]: m["status"] for m in cb.get("/lb/members").json()["members"]}
                vip = {v["id"]: v["status"] for v in cb.get("/lb/vips").json()["vips"]}
                return ([p for p in done if pools.get(p) != "ACTIVE"
                         or p not in driver.instances]
                        + [v for v in vips if vip.get(v) != "ACTIVE"]
                        + [m for m in members if mem.get(m) != "ACTIVE"])

            assert _eventually(lambda: not realized(), timeout=60), realized()
        assert api.server_url == b.url
    finally:
        stop.set()
        manager.stop(timeout=5)
        api.close()


def test_api_workers_wake_the_long_polls_of_every_worker(pg_databases: PgDatabases):
    """api_workers = 2: long-polls spread over both processes; a change committed by
    either wakes them all before their timeout (the fallback re-read is at 30 s)."""
    if pg_databases.error:
        pytest.fail(pg_databases.error, pytrace=False)
    server = ServerProcess(database_url=pg_databases.create(),
                           conf={"DEFAULT": {"api_workers": 2}})
    host = "ms-workers"
    try:
        server.start()
        assert _eventually(lambda: server.log_tail().count("listening for other") == 2,
                           timeout=20), server.log_tail()
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.post("/agent/v1/agents", json={
                "host": host, "configurations": CONFIGURATIONS}).status_code == 200
            subnet_id = _subnet(httpx.Client(base_url=server.url + "/v2.0", timeout=10))
            after = c.get(f"/agent/v1/hosts/{host}/events",
                          params={"after": 0, "timeout": 0}).json()["revision"]
        answers: list[tuple[list[str], float]] = []

        def poll() -> None:
            # A client (connection) of its own each: the polls spread over the workers.
            with httpx.Client(base_url=server.url, timeout=30) as own:
                started = time.monotonic()
                body = own.get(f"/agent/v1/hosts/{host}/events",
                               params={"after": after, "timeout": 20}).json()
                answers.append((body["pool_ids"], time.monotonic() - started))

        pollers = [threading.Thread(target=poll) for _ in range(6)]
        for p in pollers:
            p.start()
        time.sleep(1.0)
        with httpx.Client(base_url=server.url + "/v2.0", timeout=10) as v2:
            pool = _pool(v2, subnet_id, "workers")
        assert pool.status_code == 201, pool.text
        for p in pollers:
            p.join(30)
        pool_id = pool.json()["pool"]["id"]
        assert [ids for ids, _ in answers] == [[pool_id]] * 6
        assert all(seconds < 20 for _, seconds in answers), answers
        # Both workers answered API requests (uvicorn's workers share the socket).
        assert server.proc is not None
    finally:
        server.cleanup()
