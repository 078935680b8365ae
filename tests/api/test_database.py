"""The database under the API: migrations on start and by ``--upgrade-only``, SQLite's
WAL mode. (Data surviving a crash: test_pools.py; two servers on one database:
test_agents.py.)"""

from __future__ import annotations

import sqlite3
import subprocess
from typing import Any

import pytest

from tests.helpers.server import Api, ServerProcess


def test_upgrade_only_migrates_and_exits(backend: str, pg_databases: Any) -> None:
    url = pg_databases.create() if backend == "pg" else None
    srv = ServerProcess(database_url=url)
    try:
        done = subprocess.run([srv.executable, "--config-file", str(srv.config_file),
                               "--upgrade-only"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr
        if backend == "sqlite":
            db = sqlite3.connect(srv.state_path / "lbaas.sqlite")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")}
            db.close()
            assert "alembic_version" in tables
            assert len(tables) > 5, tables
        # Running it again on an up-to-date database changes nothing and succeeds.
        again = subprocess.run([srv.executable, "--config-file", str(srv.config_file),
                                "--upgrade-only"], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL)
        assert again.returncode == 0, again.stdout + again.stderr
        srv.start()
        with Api(srv.url, project="migrated") as api:
            assert api.list("pool") == []
    finally:
        srv.cleanup()


def test_sqlite_runs_in_wal_mode(server: ServerProcess, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("a SQLite setting")
    db = sqlite3.connect(server.state_path / "lbaas.sqlite")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    finally:
        db.close()
