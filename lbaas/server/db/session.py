"""Engine and sessions: SQLite (WAL, foreign keys, immediate write locks) or PostgreSQL."""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from lbaas.server.db.listener import CHANNEL, PgListener
from lbaas.server.db.notifier import ChangeNotifier

MIGRATIONS = Path(__file__).parent / "migrations"

# SQLite: a deferred transaction that reads and then writes fails at once with
# SQLITE_BUSY when another writer committed in between (WAL snapshots can't upgrade), so
# write transactions take the lock up front (BEGIN IMMEDIATE) and wait for it instead.
# Read-only requests set this to False and run beside writers.
_sqlite_immediate: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sqlite_immediate", default=True)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=10, max_overflow=20)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE" if _sqlite_immediate.get() else "BEGIN")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration (idempotent).

    SQLite changes a column by copying its table to a new one and dropping the old: with
    foreign keys enforced, that drop deletes (cascades to) every row that references the
    table, so the migrations run with enforcement off, as SQLite's documentation says to
    alter a table, and the result is checked before enforcement comes back on."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if sqlite and raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction: takes effect
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Notified after every commit that bumped a host revision, so long-polls in this
        # process return at once. On PostgreSQL such a commit also NOTIFYs the other
        # servers, whose listener (started with the app: start_listener) wakes theirs;
        # on SQLite, other processes' changes are seen by polling.
        self.changed = ChangeNotifier()
        # SQLite has one writer at a time, and a writer that finds the lock taken polls
        # for it, sleeping 1, 2, 5, 10, 15, 20, 25... ms between tries (its busy
        # handler): one waiting behind a 20 ms transaction got it ~12 ms after the
        # commit. Writers of this process (API requests, the all-in-one's agent) queue
        # on this lock instead and go on as soon as the one before has committed; other
        # processes sharing the file still meet SQLite's own lock. Reentrant: a nested
        # write session of the same thread waits on SQLite, as it did before.
        self._write_lock: threading.RLock | None = (
            threading.RLock() if url.startswith("sqlite") else None)
        self.postgres = self.engine.dialect.name == "postgresql"
        self.listener: PgListener | None = None

    def start_listener(self) -> None:
        """PostgreSQL: listen for the changes other servers commit (one connection and
        one thread for this process). Nothing on SQLite."""
        if self.postgres and self.listener is None:
            self.listener = PgListener(self.url, self.changed)
            self.listener.start()

    def stop_listener(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.stop()

    @property
    def listening(self) -> bool:
        """Other servers' changes wake this process's long-polls at once."""
        return self.listener is not None and self.listener.listening

    @contextlib.contextmanager
    def session(self, read_only: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on error."""
        token = _sqlite_immediate.set(not read_only)
        lock = None if read_only else self._write_lock
        try:
            with lock if lock is not None else contextlib.nullcontext():
                with self.sessionmaker() as session:
                    with session.begin():
                        yield session
                        hosts = session.info.get("changed_hosts")
                        if hosts and self.postgres:
                            # Sent by PostgreSQL at the commit, never for a rollback.
                            session.execute(text("SELECT pg_notify(:c, :p)"),
                                            {"c": CHANNEL, "p": _payload(hosts)})
            if session.info.get("changed_hosts"):
                self.changed.notify()
        finally:
            _sqlite_immediate.reset(token)


def _payload(hosts: set[str]) -> str:
    """The agents whose revision moved, for a reader of the notifications (listeners
    wake every long-poll whatever it says); empty when the list would pass
    PostgreSQL's 8000-byte limit."""
    payload = ",".join(sorted(hosts))
    return payload if len(payload) < 7900 else ""
