"""The request id: one ``req-<uuid4>`` per API request, in every log line it causes.

An operator holding the id from a client's error (the ``x-openstack-request-id`` response
header, as every OpenStack API sends it) greps the server's log for it and finds the
access line, the audit line and whatever the request logged on the way; the agent logs
the id of the change it is applying (the logical device carries it) and sends it back with
its own calls to the server, so one grep follows a change from the API to the data plane.

The id lives in a :class:`contextvars.ContextVar`: it follows the request through
``await`` and into the worker threads Starlette runs sync endpoints in (both copy the
context), and never leaks into another request the way a thread-local would between the
tasks of one event loop. An agent's deploy worker sets it for the length of one refresh.

This module is shared by server and agent and imports nothing of either.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Iterator
from typing import TypeGuard

HEADER = "x-openstack-request-id"

# The form generate() makes (oslo.context's too). An id from outside (an agent's
# header, a logical device) is adopted only in this form: anything else could carry
# text into log lines.
_FORM = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "lbaas_request_id", default=None)


def generate() -> str:
    return f"req-{uuid.uuid4()}"


def is_valid(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a request id of the exact form ``req-<uuid>`` (lower case)."""
    return isinstance(value, str) and _FORM.fullmatch(value) is not None


def current() -> str | None:
    """The id of the request (or the agent's change) being handled here, if any; the
    server stores it in what it hands the agent."""
    return _current.get()


def adopt(value: str | None) -> None:
    """Make ``value`` the current id (None: no id) until the enclosing :func:`bound`
    ends. An id not of the exact form is dropped (None)."""
    _current.set(value if is_valid(value) else None)


@contextlib.contextmanager
def bound(value: str | None) -> Iterator[str | None]:
    """The current id is ``value`` (None, or dropped when not of the exact form) inside
    the block, and what it was before after it."""
    token = _current.set(value if is_valid(value) else None)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current id on every record as ``record.request_id`` (``-`` when there
    is none), for the formatters: a handler's filter, so records propagated from any
    logger get it. The id is read when the record is emitted, in the thread and context
    that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get() or "-"
        return True
