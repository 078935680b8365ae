"""Wake-ups for agents' long-polls when a commit in this process bumped a host revision.

Waiters read ``generation`` before they look at the database and wait only if it has not
moved since: a commit between the look and the wait is never missed. Threads wait on a
condition (the in-process agent of the all-in-one); the HTTP long-poll awaits an asyncio
event, so fifty waiting agents hold no worker thread that the API needs. Changes that
other server processes commit are seen by the waiters' periodic re-read.
"""

from __future__ import annotations

import asyncio
import threading


class ChangeNotifier:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def generation(self) -> int:
        with self._cond:
            return self._generation

    def notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
            waiters = list(self._async_waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def wait(self, seen: int, timeout: float) -> None:
        with self._cond:
            if self._generation == seen:
                self._cond.wait(timeout)

    async def wait_async(self, seen: int, timeout: float) -> None:
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._cond:
            if self._generation != seen:
                return
            self._async_waiters.add(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._cond:
                self._async_waiters.discard(entry)
