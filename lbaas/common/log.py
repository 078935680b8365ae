"""Logging of lbaas-server, lbaas-agent and the all-in-one, set from oslo.log's options.

The options keep oslo.log's names and meanings (``debug``, ``log_file``, ``log_dir``,
``use_syslog``, ``syslog_log_facility``, ``use_json``; registered in
``lbaas/common/config.py``), so an operator's Neutron logging settings carry over; the
handlers are the standard library's. oslo.log itself was tried (8.3.2 installs from the
index and works with our oslo.config 10.7.0) and not taken, because what it would do
differently is what this project needs:

* the request id: oslo.log reads it from an oslo.context ``RequestContext`` kept in a
  thread-local, which does not follow a request across the event loop's tasks and into
  Starlette's worker threads; lbaas keeps it in a ContextVar (``lbaas.common.request_id``)
  and would need a filter faking a context on every record anyway;
* ``use_json``: oslo.log's keys are its own (``asctime``, ``levelname``, ``name``, the id
  nested in ``context``); ours are ``time``, ``level``, ``logger``, ``message``,
  ``request_id``, the fields of access lines beside them;
* with no option set oslo.log writes to stdout; a service logs to stderr (systemd's
  journal and the test harness read it there);
* it brings twelve packages (itself, oslo.context, oslo.utils, oslo.serialization,
  psutil, msgpack, ...) into the server and agent, which keep OpenStack's libraries out
  (python-neutronclient lives in a venv of its own for the same reason), and thirty
  options to document and test.

Every line carries the request id: ``[req-<uuid>]``, or ``[-]`` outside a request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
import socket
import sys
from typing import Any, TextIO

from lbaas.common.request_id import RequestIdFilter

# Where use_syslog sends (the tests point it at a socket of their own).
SYSLOG_ADDRESS = "/dev/log"

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Chatty libraries stay at WARNING even with debug: httpx logs every agent call at INFO
# (the server's access line says the same), alembic every migration step.
QUIET_LOGGERS = ("alembic", "httpx", "httpcore", "sqlalchemy", "pyroute2", "asyncio")


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (as logging's last-resort
    handler does), not the one of the moment setup ran: a test capturing stderr, or a
    daemon re-pointing it, gets the lines."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


_OURS = "_lbaas_handler"


class LogSetupError(ValueError):
    """A logging option that cannot be put into effect: the message says which and why."""


class TextFormatter(logging.Formatter):
    """``2026-12-02 12:27:39.015 4217 INFO lbaas.access [req-…] message`` (the agent adds
    its thread's name before the id: which worker did what matters there)."""

    def __init__(self, thread_names: bool = False) -> None:
        thread = " %(threadName)s" if thread_names else ""
        super().__init__(f"%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s"
                         f"{thread} [%(request_id)s] %(message)s", datefmt=DATE_FORMAT)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``use_json``); a traceback is the ``exception`` string,
    so a record is still one line. Records with a ``fields`` dict (the access and audit
    lines) have those keys too."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", "-")
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created).astimezone().isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if rid == "-" else rid,
            "process": record.process,
            "thread": record.threadName,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str)


def log_file_path(conf: Any, program: str) -> str | None:
    """oslo.log's rule: ``log_file``, inside ``log_dir`` when both are set;
    ``<log_dir>/<program>.log`` with only ``log_dir``; None (stderr) with neither."""
    if conf.log_file and conf.log_dir:
        return str(os.path.join(conf.log_dir, conf.log_file))
    if conf.log_file:
        return str(conf.log_file)
    if conf.log_dir:
        return os.path.join(conf.log_dir, f"{program}.log")
    return None


def _facility(name: str) -> int:
    key = name.strip().lower().removeprefix("log_")
    try:
        return logging.handlers.SysLogHandler.facility_names[key]
    except KeyError:
        raise LogSetupError(f"syslog_log_facility {name!r} is not a syslog facility "
                            f"(LOG_USER, LOG_DAEMON, LOG_LOCAL0 ... LOG_LOCAL7)") from None


def _check_syslog(address: str) -> None:
    """SysLogHandler ignores a socket it can't reach at start and then prints a
    traceback to stderr for every line it can't send: no syslog on this host is said
    once, at start, instead."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_UNIX, kind) as probe:
            try:
                probe.connect(address)
                return
            except OSError as exc:
                error = exc
    raise LogSetupError(f"use_syslog: cannot reach syslog at {address}: "
                        f"{error.strerror or error}")


def setup(conf: Any, program: str, *, thread_names: bool = False,
          stream: TextIO | None = None) -> None:
    """Give the root logger what ``conf`` asks for: a file (``log_file``/``log_dir``,
    reopened after logrotate moves it) or else ``stream`` (default: stderr), plus syslog
    with ``use_syslog``. Handlers of an earlier setup are replaced; anyone else's (a
    test runner's) are left alone. Raises LogSetupError (one line) when the file cannot
    be opened or syslog reached: the command reports it as a configuration error before
    it opens the database."""
    handlers: list[logging.Handler] = []
    path = log_file_path(conf, program)
    if path is not None:
        try:
            handlers.append(logging.handlers.WatchedFileHandler(path, encoding="utf-8"))
        except OSError as exc:
            raise LogSetupError(f"cannot open the log file {path}: "
                                f"{exc.strerror or exc}") from None
    else:
        handlers.append(logging.StreamHandler(stream) if stream is not None else _Stderr())
    if conf.use_syslog:
        facility = _facility(conf.syslog_log_facility)
        _check_syslog(SYSLOG_ADDRESS)
        syslog = logging.handlers.SysLogHandler(address=SYSLOG_ADDRESS, facility=facility)
        # Syslog stamps the time itself; the program's name tags the line.
        syslog.ident = f"{program}[{os.getpid()}]: "
        handlers.append(syslog)

    formatter: logging.Formatter = (JsonFormatter() if conf.use_json
                                    else TextFormatter(thread_names))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _OURS, False):
            root.removeHandler(old)
            old.close()
    for handler in handlers:
        setattr(handler, _OURS, True)
        handler.addFilter(RequestIdFilter())
        if isinstance(handler, logging.handlers.SysLogHandler) and not conf.use_json:
            handler.setFormatter(logging.Formatter(
                "%(levelname)s %(name)s [%(request_id)s] %(message)s"))
        else:
            handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if conf.debug else logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)


def to_stderr(conf: Any, program: str) -> bool:
    """Whether the log is on stderr (no log file): a command that prints a fatal error
    on stderr then logs it only when the log is elsewhere, not twice."""
    return log_file_path(conf, program) is None
