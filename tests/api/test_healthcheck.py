"""``GET /healthcheck``: 200 ``OK`` while the database answers at the schema's head, 503
with a short reason otherwise; open to anyone (load balancers probe it without a token).

Down is made for real: on SQLite a schema stamped behind the head and a version table
gone; on PostgreSQL the server's own throwaway database dropped under it (never the
shared cluster); in process, a database file that can't be opened and one that hangs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import PgDatabases, ServerFactory
from tests.helpers.server import ServerProcess

JSON = {"Accept": "application/json"}


def _health(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url + "/healthcheck", timeout=30, **kw)


def test_up_is_200_ok_in_plain_text_or_json(server: ServerProcess) -> None:
    resp = _health(server.url)
    assert (resp.status_code, resp.text) == (200, "OK")
    assert resp.headers["content-type"].startswith("text/plain")
    as_json = _health(server.url, headers=JSON)
    assert (as_json.status_code, as_json.json()) == (200, {"detailed": False,
                                                           "reasons": ["OK"]})
    head = httpx.head(server.url + "/healthcheck", timeout=30)
    assert (head.status_code, head.content) == (200, b"")


def test_needs_no_token_where_everything_else_does(backend: str,
                                                   server_factory: ServerFactory) -> None:
    srv = server_factory(backend, auth_strategy="token", tokens=[("t", "p", "member")])
    try:
        assert httpx.get(srv.url + "/v2.0/lb/pools", timeout=30).status_code == 401
        resp = _health(srv.url)
        assert (resp.status_code, resp.text) == (200, "OK")
    finally:
        srv.cleanup()


@pytest.fixture
def sqlite_server(server_factory: ServerFactory) -> Iterator[ServerProcess]:
    """A server of its own: these tests break its database."""
    srv = server_factory("sqlite")
    yield srv
    srv.cleanup()


def _sqlite(srv: ServerProcess, *statements: str) -> None:
    db = sqlite3.connect(srv.state_path / "lbaas.sqlite", timeout=30)
    try:
        for statement in statements:
            db.execute(statement)
        db.commit()
    finally:
        db.close()


def test_sqlite_schema_behind_head_is_503_until_upgraded(sqlite_server: ServerProcess) -> None:
    (head,) = {r for (r,) in _rows(sqlite_server)}
    _sqlite(sqlite_server, "UPDATE alembic_version SET version_num = '0001'")
    resp = _health(sqlite_server.url)
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text == (f"database schema at revision 0001, expected {head} "
                         "(run lbaas-server --upgrade-only)")
    as_json = _health(sqlite_server.url, headers=JSON)
    assert (as_json.status_code, as_json.json()) == (503, {"detailed": False,
                                                           "reasons": [resp.text]})
    _sqlite(sqlite_server, f"UPDATE alembic_version SET version_num = '{head}'")
    assert _health(sqlite_server.url).text == "OK"


def test_sqlite_without_a_version_table_is_503(sqlite_server: ServerProcess) -> None:
    _sqlite(sqlite_server, "ALTER TABLE alembic_version RENAME TO alembic_version_away")
    resp = _health(sqlite_server.url)
    assert (resp.status_code, resp.text) == (503, "database unavailable")
    # The reason is short and anonymous; the database's own words are in the log.
    assert "no such table: alembic_version" in _wait_log(sqlite_server, "no such table")
    _sqlite(sqlite_server, "ALTER TABLE alembic_version_away RENAME TO alembic_version")
    assert _health(sqlite_server.url).status_code == 200


def _rows(srv: ServerProcess) -> list[tuple[str]]:
    db = sqlite3.connect(srv.state_path / "lbaas.sqlite")
    try:
        return list(db.execute("SELECT version_num FROM alembic_version"))
    finally:
        db.close()


def _wait_log(srv: ServerProcess, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while needle not in srv.log_tail(20000) and time.monotonic() < deadline:
        time.sleep(0.05)
    return srv.log_tail(20000)


def test_postgresql_database_gone_is_503(backend: str, pg_databases: PgDatabases,
                                         server_factory: ServerFactory) -> None:
    if backend != "pg":
        pytest.skip("PostgreSQL: a database of its own, dropped under the server")
    url = pg_databases.create()
    name = url.rsplit("/", 1)[1]
    srv = server_factory("pg", database_url=url)
    try:
        assert _health(srv.url).text == "OK"
        with pg_databases._connect() as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        resp = _health(srv.url)
        assert (resp.status_code, resp.text) == (503, "database unavailable")
        assert _health(srv.url, headers=JSON).json() == {
            "detailed": False, "reasons": ["database unavailable"]}
        # The rest of the API says the same, in its own words.
        assert httpx.get(srv.url + "/v2.0/lb/pools", timeout=30).status_code == 503
    finally:
        srv.cleanup()


# --- in process: a database that can't be opened, one that hangs -------------------------

def _app(tmp_path: Path) -> Any:
    from lbaas.cmd.server import load_config
    from lbaas.server.app import create_app

    ini = tmp_path / "server.conf"
    ini.write_text(f"[DEFAULT]\nstate_path = {tmp_path}/state\n")
    return create_app(load_config(["--config-file", str(ini)]))


def _get(app: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lbaas") as client:
            return await client.get("/healthcheck", headers=headers)
    return asyncio.run(call())


def test_a_database_file_that_cannot_be_opened_is_503(tmp_path: Path) -> None:
    from lbaas.server.db.session import Database

    app = _app(tmp_path)
    assert _get(app).text == "OK"
    app.state.db.engine.dispose()
    # The database's directory replaced by a file: SQLite can open nothing there.
    broken = Database(f"sqlite:///{tmp_path}/gone/lbaas.sqlite")
    (tmp_path / "gone").rmdir()
    (tmp_path / "gone").write_text("not a directory")
    app.state.db = broken
    try:
        resp = _get(app)
    finally:
        broken.engine.dispose()
    assert (resp.status_code, resp.text) == (503, "database unavailable")


def test_a_database_that_hangs_is_503_within_the_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from lbaas.server.api import health

    release = threading.Event()

    def hanging(db: Any, heads: frozenset[str]) -> list[str]:
        release.wait(30)
        return []

    app = _app(tmp_path)
    monkeypatch.setattr(health, "TIMEOUT", 0.5)
    monkeypatch.setattr(health, "check", hanging)
    try:
        started = time.monotonic()
        resp = _get(app, JSON)
        assert time.monotonic() - started < 10
        assert (resp.status_code, resp.json()["reasons"]) == (
            503, ["database did not answer within 0.5 s"])
    finally:
        release.set()
        app.state.db.engine.dispose()
