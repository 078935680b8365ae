"""The database under the API: migrations on start and by ``--upgrade-only``, SQLite's
WAL mode. (Data surviving a crash: test_pools.py; two servers on one database:
test_agents.py.)"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lbaas.agent.drivers.haproxy import cfg
from lbaas.common.logical_device import LogicalDevice, from_v1
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


# A database the v1 tables held, as the server before the façade wrote it and what that
# server answered about it (tests/api/data/make_v1_database.py made the file).
V1_DATABASE = Path(__file__).parent / "data" / "v1_database.json"
# Parents before children, as the foreign keys want them.
V1_TABLES = ("networks", "subnets", "ports", "ipallocations", "agents", "pools",
             "healthmonitors", "members", "vips", "poolmonitorassociations",
             "poolstatistics", "poolloadbalanceragentbindings")


def _load_v1_rows(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    from sqlalchemy import DateTime, MetaData, Table, create_engine

    engine = create_engine(url)
    try:
        meta = MetaData()
        with engine.begin() as conn:
            for name in V1_TABLES:
                table = Table(name, meta, autoload_with=conn)
                dates = [c.name for c in table.columns if isinstance(c.type, DateTime)]
                values = [{**r, **{d: dt.datetime.fromisoformat(r[d]) for d in dates
                                   if r[d] is not None}} for r in rows[name]]
                if values:
                    conn.execute(table.insert(), values)
    finally:
        engine.dispose()


def _rendered(device: LogicalDevice) -> str | None:
    if device.loadbalancer is None:
        return None
    paths = cfg.StatePaths(stats_socket="/run/x/sock", server_state_file="/run/x/state")
    return cfg.render(cfg.build_view(device.loadbalancer, paths, user_group="nogroup",
                                     hard_stop_after=300))


@pytest.mark.parametrize("schema", ["0001", "0002"])
def test_a_v1_database_moves_onto_the_loadbalancer_model_with_nothing_lost(
        backend: str, pg_databases: Any, schema: str) -> None:
    """A database whose v1 objects live in the v1 tables (the v1-only schema 0001, or
    0002 with the Octavia tables beside them) upgrades on start: every v1 object reads
    back through the v1 API exactly as the old server served it, agents get the same
    logical devices (so the same HAProxy configuration, byte for byte: an agent adopts
    the running HAProxy without a reload), and the Octavia API shows none of them."""
    data = json.loads(V1_DATABASE.read_text())
    url = pg_databases.create() if backend == "pg" else None
    srv = ServerProcess(database_url=url)
    db_url = url or f"sqlite:///{srv.state_path / 'lbaas.sqlite'}"
    try:
        _alembic(db_url, "upgrade", schema)
        _load_v1_rows(db_url, data["rows"])
        srv.start()
        old = data["served"]
        with Api(srv.url, project="alpha") as api:
            for kind, items in old["lists"].items():
                if kind == "port":
                    # Shown since migration 0008 (Neutron's attribute); none were set.
                    items = [{**item, "allowed_address_pairs": []} for item in items]
                assert api.list(kind) == items, kind
            pools = [p["id"] for p in old["lists"]["pool"]]
            assert len(pools) == 5
            for pool_id in pools:
                assert api.get(f"/lb/pools/{pool_id}/stats").json() == old["stats"][pool_id]
                agent = api.get(f"/lb/pools/{pool_id}/loadbalancer-agent").json()
                was = old["pool_agents"][pool_id]
                assert agent.get("agent", {}).get("host") == was.get("agent", {}).get("host")
                device = api.get(f"/agent/v1/logical_devices/{pool_id}").json()
                assert device == old["devices"][pool_id]
                typed = api.get(f"/agent/v2/logical_devices/{pool_id}")
                assert typed.status_code == 200, typed.text
                assert _rendered(LogicalDevice.model_validate(typed.json())) == \
                    _rendered(from_v1(old["devices"][pool_id]))
            agent_id = next(a["id"] for a in api.list("agent") if a["host"] == "host-a")
            assert api.get(f"/agents/{agent_id}/loadbalancer-pools").json() == \
                old["agent_pools"]
            assert api.get("/agent/v1/hosts/host-a/ready_devices").json() == \
                old["ready_devices"]
            assert api.get("/v2.0/lbaas/loadbalancers").json()["loadbalancers"] == []
            assert api.get("/v2.0/lbaas/pools").json()["pools"] == []
            # And the migrated objects keep working: the VIP-less pool gets a VIP, the
            # deployed one loses a member.
            pool_c = next(p for p in old["lists"]["pool"] if p["name"] == "c")
            vip = api.create("vip", subnet_id=pool_c["subnet_id"], protocol="HTTPS",
                             protocol_port=443, pool_id=pool_c["id"])
            assert api.show("pool", pool_c["id"])["vip_id"] == vip["id"]
            member = old["lists"]["member"][0]
            api.remove("member", member["id"])
            assert api.show("member", member["id"])["status"] == "PENDING_DELETE"
    finally:
        srv.cleanup()


def test_the_migrations_build_exactly_the_models_schema(backend: str, pg_databases: Any,
                                                        tmp_path: Path) -> None:
    """What Alembic's migrations build is what the models describe: a column, index,
    constraint or nullability in one and not the other would work in tests made from the
    models and fail on an upgraded database (or the other way round)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    import lbaas.server.db.quota_models  # noqa: F401  (its table in the metadata)
    from lbaas.server.db.models import Base

    url = pg_databases.create() if backend == "pg" else f"sqlite:///{tmp_path / 'm.sqlite'}"
    _alembic(url, "upgrade", "head")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_writers_of_one_process_queue_without_sqlite_busy_waits(tmp_path: Path) -> None:
    """Two write transactions of one process at once, on SQLite with its own wait for the
    lock turned off (busy_timeout 0): the second waits for the first's commit in the
    process (lbaas/server/db/session.py) instead of failing with "database is locked",
    and both rows are there."""
    import threading

    from sqlalchemy import event, text

    from lbaas.server.db.session import Database

    db = Database(f"sqlite:///{tmp_path}/queue.sqlite")

    @event.listens_for(db.engine, "connect")
    def _no_busy_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    try:
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (who TEXT)"))
        first_in = threading.Event()
        errors: list[BaseException] = []

        def second() -> None:
            first_in.wait(10)
            try:
                with db.session() as s:
                    s.execute(text("INSERT INTO t VALUES ('second')"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        with db.session() as s:
            s.execute(text("INSERT INTO t VALUES ('first')"))
            first_in.set()
            # The second writer is now at the lock (or about to be): hold on to it.
            thread.join(0.3)
        thread.join(10)
        assert not errors, errors
        with db.session(read_only=True) as s:
            assert sorted(s.scalars(text("SELECT who FROM t"))) == ["first", "second"]
    finally:
        db.engine.dispose()
