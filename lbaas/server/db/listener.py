"""Wake-ups across servers sharing one PostgreSQL database: LISTEN/NOTIFY.

A commit that bumped a host revision also sends ``NOTIFY lbaas_changes`` (from inside
its transaction, so PostgreSQL delivers it at the commit and never for a rollback;
lbaas/server/db/session.py). Each server process keeps one connection that LISTENs, in a
thread, and wakes its own long-polls through the ChangeNotifier on every notification:
an agent long-polling server B learns of a change made through server A at once.

When the connection drops, the listener reconnects (doubling its wait up to
``RETRY_MAX``) and wakes every waiter once it listens again, for what it may have missed.
While it does not listen, ``listening`` is false and the long-polls fall back to reading
the database every second (lbaas/server/local_plugin_api.py).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import make_url

from lbaas.server.db.notifier import ChangeNotifier

LOG = logging.getLogger(__name__)

CHANNEL = "lbaas_changes"
# How often the thread looks up from an idle connection to see whether it should stop.
STOP_CHECK_SECONDS = 1.0
RETRY_MIN = 0.5
RETRY_MAX = 10.0


def conninfo(url: str) -> str:
    """The SQLAlchemy URL (``postgresql+psycopg://...``) as libpq's URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    def __init__(self, url: str, changed: ChangeNotifier) -> None:
        self._conninfo = conninfo(url)
        self._changed = changed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()
        # Notifications received, for tests and the log.
        self.received = 0

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(STOP_CHECK_SECONDS * 5)

    def _run(self) -> None:
        import psycopg

        delay = RETRY_MIN
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True,
                                     connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    delay = RETRY_MIN
                    LOG.info("listening for other servers' changes (%s)", CHANNEL)
                    # Whatever was committed while this was not listening.
                    self._changed.notify()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=STOP_CHECK_SECONDS):
                            self.received += 1
                            self._changed.notify()
            except Exception as exc:  # noqa: BLE001 - the thread must live on
                if self._stop.is_set():
                    break
                if self._listening.is_set():
                    LOG.warning("LISTEN %s connection lost (%s): reconnecting; long-polls "
                                "read the database every second meanwhile", CHANNEL,
                                " ".join(str(exc).split()))
                self._listening.clear()
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX)
        self._listening.clear()
