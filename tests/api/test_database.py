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


def _alembic(url: str, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from lbaas.server.db.session import MIGRATIONS

    engine = create_engine(url)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)
    finally:
        engine.dispose()


def test_a_v1_database_upgrades_to_the_v2_model_with_nothing_lost(
        backend: str, pg_databases: Any) -> None:
    """A database as the v1-only schema (revision 0001) left it, full of v1 objects,
    upgrades on start and serves every object back through the v1 API unchanged, with
    the Octavia v2 API empty beside it."""
    url = pg_databases.create() if backend == "pg" else None
    srv = ServerProcess(database_url=url)
    db_url = url or f"sqlite:///{srv.state_path / 'lbaas.sqlite'}"
    try:
        srv.start()
        with Api(srv.url, project="migrated") as api:
            net = api.create("network", name="n")
            subnet = api.create("subnet", network_id=net["id"], cidr="10.70.0.0/24")
            pool = api.create("pool", subnet_id=subnet["id"], protocol="HTTP",
                              lb_method="ROUND_ROBIN", name="p")
            api.create("member", pool_id=pool["id"], address="10.70.0.9", protocol_port=80)
            hm = api.create("health_monitor", type="HTTP", delay=3, timeout=2,
                            max_retries=2)
            api.post(f"/lb/pools/{pool['id']}/health_monitors",
                     {"health_monitor": {"id": hm["id"]}})
            api.create("vip", subnet_id=subnet["id"], protocol="HTTP", protocol_port=80,
                       pool_id=pool["id"], name="v")
            before = {kind: api.list(kind) for kind in
                      ("network", "subnet", "port", "pool", "member", "health_monitor",
                       "vip")}
        srv.stop()
        # Back to the v1-only schema, the way today's databases are.
        _alembic(db_url, "downgrade", "0001")
        srv.start()
        with Api(srv.url, project="migrated") as api:
            after = {kind: api.list(kind) for kind in before}
            assert after == before
            assert api.get("/v2.0/lbaas/loadbalancers").json()["loadbalancers"] == []
    finally:
        srv.cleanup()
