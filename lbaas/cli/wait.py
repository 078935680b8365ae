"""``--wait``: follow an object until the agent has settled it.

The server answers a create at once with PENDING_CREATE; the load balancer exists only
when the agent reports ACTIVE. A script that goes on before then races the data plane,
so ``--wait`` polls until the status leaves PENDING_*, the object is gone (delete), or
the time is up. ERROR ends the wait with the object's ``status_description``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TextIO

from lbaas.cli.client import ClientError, one_line
from lbaas.common import constants

Fetch = Callable[[], "dict[str, Any] | None"]

SPINNER = "|/-\\"


class Progress:
    """A status line rewritten in place on a terminal; plain lines on changes otherwise."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        isatty = getattr(stream, "isatty", None)
        self._tty = bool(isatty and isatty())
        self._tick = 0
        self._last: tuple[str, str] | None = None

    def update(self, status: str, description: str, elapsed: float) -> None:
        text = f"{self._label}: {status}"
        if description:
            text += f" ({description})"
        if self._tty:
            frame = SPINNER[self._tick % len(SPINNER)]
            self._tick += 1
            line = _fit(f"{frame} {text}", f" [{elapsed:.0f}s]", self._width())
            self._stream.write(f"\r\x1b[K{line}")
            self._stream.flush()
        elif self._last != (status, description):
            self._stream.write(f"waiting: {text}\n")
            self._stream.flush()
        self._last = (status, description)

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return columns or 80   # a pty nobody sized says 0

    def clear(self) -> None:
        """Before an error line: on a terminal the status line goes, the error says it all."""
        if self._tty:
            self._stream.write("\r\x1b[K")
            self._stream.flush()

    def done(self, status: str) -> None:
        if self._tty:
            self._stream.write(f"\r\x1b[K{self._label}: {status}\n")
        else:
            self._stream.write(f"{self._label}: {status}\n")
        self._stream.flush()


def _fit(text: str, suffix: str, width: int) -> str:
    """One terminal row: a wrapped line could not be rewritten in place by ``\\r``."""
    room = max(width - 1 - len(suffix), 10)
    if len(text) > room:
        text = text[: room - 3] + "..."
    return text + suffix


def follow(fetch: Fetch, label: str, *, until_gone: bool, timeout: float, stream: TextIO,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, Any] | None:
    """Poll ``fetch`` (the object, or None once it is gone) until settled.

    Returns the settled object (None when it is gone); raises ClientError on ERROR or
    when ``timeout`` seconds pass first.
    """
    progress = Progress(stream, label)
    start = time.monotonic()
    interval = 0.2
    while True:
        obj = fetch()
        elapsed = time.monotonic() - start
        if obj is None:
            if until_gone:
                progress.done("deleted")
                return None
            raise ClientError(f"{label} disappeared while waiting for it")
        status = str(obj.get("status") or "")
        description = one_line(obj.get("status_description") or "")
        if status == constants.ERROR:
            progress.clear()
            raise ClientError(f"{label} is in ERROR: {description or 'no reason given'}")
        if not until_gone and status not in constants.PENDING_STATUSES:
            # No status at all (networks, monitors) means nothing to wait for.
            progress.done(status or "done")
            return obj
        if elapsed >= timeout:
            progress.clear()
            why = f" ({description})" if description else ""
            raise ClientError(f"timed out after {timeout:g} s waiting for {label}: "
                              f"still {status}{why}")
        progress.update(status, description, elapsed)
        sleep(min(interval, max(timeout - elapsed, 0.05)))
        interval = min(interval * 1.5, 1.0)
