"""The server's periodic task that runs lbaas/server/plugin/failover.py: once a second,
in every server process (their passes cannot move one load balancer twice). Admin-down
agents are always drained; dead ones are emptied only with
``allow_automatic_lbaas_agent_failover``, and not in the server's first
``agent_down_time`` (``failover.startup_grace_over``)."""

from __future__ import annotations

import logging
import threading

from lbaas.server.db import models as m
from lbaas.server.db.session import Database
from lbaas.server.plugin import failover

LOG = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0


class Rescheduler:
    def __init__(self, db: Database, down_time: int, enabled: bool,
                 interval: float = CHECK_INTERVAL) -> None:
        self.db = db
        self.down_time = down_time
        self.enabled = enabled
        self.interval = interval
        self.started = m.utcnow()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[failover.Moved]:
        """One pass (also what the tests call, without the thread)."""
        dead_too = self.enabled and failover.startup_grace_over(self.started,
                                                                self.down_time)
        with self.db.session() as s:
            return failover.reschedule(s, self.down_time, dead_too)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="lbaas-rescheduler",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the next pass retries
                LOG.exception("rescheduling pass failed")
