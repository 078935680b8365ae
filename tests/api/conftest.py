"""The API suite runs against a real lbaas-server, once over SQLite and once over
PostgreSQL (test ids ``[sqlite]`` and ``[pg]``).

One server per backend per session keeps the suite fast; tests stay independent because
each one acts in its own random project (``X-Project-Id``) and, when it needs agents,
on its own physical network name with its own agent host names. Tests that need another
configuration (token auth, small quotas, a short agent_down_time) get their own server
from ``server_factory``.

PostgreSQL: ``tools/ensure-postgres.sh`` (run by ``make test``) provides the role
lbaas/lbaas on 127.0.0.1:5432; each server gets a fresh ``lbaas_test_<random>`` database,
dropped at the end. When PostgreSQL is unreachable the pg tests fail; they are skipped
only when ``LBAAS_SKIP_PG=1`` is set explicitly (and never under CI or make).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.builders import FakeAgent
from tests.helpers.server import Api, ServerProcess

# LBAAS_TEST_PG_PORT: another local cluster than tools/ensure-postgres.sh's.
PG_PORT = int(os.environ.get("LBAAS_TEST_PG_PORT", "5432"))
PG_ADMIN_DSN = f"host=127.0.0.1 port={PG_PORT} user=lbaas password=lbaas dbname=postgres " \
               "connect_timeout=5"
PG_URL = f"postgresql+psycopg://lbaas:lbaas@127.0.0.1:{PG_PORT}/{{db}}"


def _pg_skip_allowed() -> bool:
    strict = bool(os.environ.get("CI")) or "MAKELEVEL" in os.environ
    return os.environ.get("LBAAS_SKIP_PG") == "1" and not strict


class PgDatabases:
    """Creates and drops the per-server test databases through the ``postgres`` db."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.error: str | None = None

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(PG_ADMIN_DSN, autocommit=True)

    def check(self) -> None:
        try:
            with self._connect():
                pass
        except Exception as exc:  # any reason it is unusable is reported the same way
            self.error = f"PostgreSQL at 127.0.0.1:{PG_PORT} (role lbaas) unreachable: {exc}"

    def create(self) -> str:
        name = f"lbaas_test_{uuid.uuid4().hex[:12]}"
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return PG_URL.format(db=name)

    def drop_all(self) -> None:
        if not self.created:
            return
        with self._connect() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    dbs.check()
    yield dbs
    if dbs.error is None:
        dbs.drop_all()


@pytest.fixture(scope="session", params=["sqlite", "pg"])
def backend(request: pytest.FixtureRequest, pg_databases: PgDatabases) -> str:
    if request.param == "pg":
        if _pg_skip_allowed():
            pytest.skip("LBAAS_SKIP_PG=1")
        if pg_databases.error:
            pytest.fail(pg_databases.error + " (run tools/ensure-postgres.sh as root, or "
                        "set LBAAS_SKIP_PG=1 to skip these tests)", pytrace=False)
    return str(request.param)


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture(scope="session")
def server_factory(pg_databases: PgDatabases) -> Iterator[Callable[..., ServerProcess]]:
    """``server_factory(backend, auth_strategy=..., tokens=..., conf=...)`` → a started
    server with its own fresh database (or ``database_url``'s, to run several servers
    over one database); every one is cleaned up at session end (a fixture may call
    ``.cleanup()`` earlier)."""
    servers: list[ServerProcess] = []

    def make(backend: str, *, database_url: str | None = None,
             **kwargs: Any) -> ServerProcess:
        url = database_url or (pg_databases.create() if backend == "pg" else None)
        server = ServerProcess(database_url=url, **kwargs)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.cleanup()


@pytest.fixture(scope="session")
def server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    """The shared noauth server of this backend (default configuration)."""
    srv = server_factory(backend)
    yield srv
    srv.cleanup()


@pytest.fixture(scope="session")
def tuned_server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    """A second noauth server with small quotas and a 2 s agent_down_time, shared by the
    tests that need either (each in its own project or on its own physnet)."""
    srv = server_factory(backend, conf={
        "quotas": {"quota_pool": 3, "quota_vip": 2, "quota_member": 2,
                   "quota_health_monitor": 1},
        "agent": {"agent_down_time": 2}})
    yield srv
    srv.cleanup()


@pytest.fixture
def project() -> str:
    return "proj-" + uuid.uuid4().hex[:10]


@pytest.fixture
def api(server: ServerProcess, project: str) -> Iterator[Api]:
    """A client acting in this test's own project (noauth: an admin of it)."""
    client = Api(server.url, project=project)
    yield client
    client.close()


@pytest.fixture
def physnet() -> str:
    """A physical network name no other test uses, so agents registered for it see
    only this test's pools."""
    return "phys-" + uuid.uuid4().hex[:8]


@pytest.fixture
def agent(api: Api, physnet: str) -> FakeAgent:
    """A live agent (registered by heartbeat) mapping this test's own physnet."""
    return FakeAgent(api, [physnet]).register()
