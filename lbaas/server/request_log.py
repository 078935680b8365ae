"""Every request's id, its access line, and an audit line for every change (ASGI).

The outermost layer of the application (``LbaasApp.build_middleware_stack`` puts it
around Starlette's error middleware too), so that every answer, the gate's 401/413 and the
500 of an unexpected error included, carries ``x-openstack-request-id``, and every line
logged while a request is handled, the error handlers' included, carries its id.

* **Request id**: ``req-<uuid4>``, or the caller's ``x-openstack-request-id`` when it has
  exactly that form (the agent sends the id of the change it applies, so its calls
  join the change's trail; anything else is replaced, never logged).
* **Access line** (logger ``lbaas.access``, INFO, one per request, written when the answer
  has been sent): client, method, path and query (values of secret-looking parameters
  masked), status, duration in ms, project.
* **Audit line** (logger ``lbaas.audit``, INFO): a POST, PUT or DELETE on the REST API
  (``/v2.0``, ``/v2``; not the agent API) answered 2xx: who (project and roles; lbaas
  knows no users), what (create, update, delete), the path and the created object's id.

Paths and queries are logged escaped (``%0A`` stays ``%0A``): a request must not be able
to write a line of its own into the log.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from lbaas.common import request_id

ACCESS = logging.getLogger("lbaas.access")
AUDIT = logging.getLogger("lbaas.audit")
LOG = logging.getLogger(__name__)

_HEADER = request_id.HEADER.encode("latin-1")
_AUDITED_PREFIXES = ("/v2.0/", "/v2/", "/key-manager/")
_ACTIONS = {"POST": "create", "PUT": "update", "DELETE": "delete"}
# A created object's answer is small; anything bigger is not looked at for its id.
_CREATED_BODY_MAX = 256 * 1024
_SECRET_PARAM = re.compile(r"pass|secret|token|credential|signature|api_?key|access_?key|auth",
                           re.I)
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def _printable(text: str) -> str:
    """Percent-escape anything but printable ASCII (spaces, control characters,
    non-ASCII), so the logged path is one token of one line."""
    return _UNPRINTABLE.sub(lambda m: urllib.parse.quote(m.group(), safe=""), text)


def loggable_target(scope: dict[str, Any]) -> str:
    """The path as the client sent it (still percent-encoded) with its query, the
    values of secret-looking parameters (``token``, ``password``, ...) as ``***``."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else \
        urllib.parse.quote(scope.get("path", ""))
    path = path.split("?", 1)[0]
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        parts = []
        for part in query.split("&"):
            name, sep, _value = part.partition("=")
            if sep and _SECRET_PARAM.search(urllib.parse.unquote_plus(name)):
                part = f"{name}=***"
            parts.append(part)
        path += "?" + "&".join(parts)
    return _printable(path)


def _created_id(body: bytes) -> str | None:
    """``{"pool": {"id": ...}}`` → the id; None for anything else."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and len(data) == 1:
        (obj,) = data.values()
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            return _printable(obj["id"])
        # The key manager's {"secret_ref": "<url>/secrets/<id>"} (never a payload).
        if isinstance(obj, str) and "/" in obj:
            return _printable(obj.rsplit("/", 1)[-1])
    return None


class RequestLog:
    """ASGI middleware; see the module's docstring."""

    def __init__(self, app: Any,
                 on_done: Callable[[dict[str, Any], str, int | None, float], None]
                 | None = None) -> None:
        self.app = app
        # Called with (scope, method, status, seconds) once a request was answered: the
        # API metrics (lbaas/server/metrics.py).
        self.on_done = on_done

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope.get("headers", ()):
            if key.lower() == _HEADER:
                incoming = value.decode("latin-1")
                break
        rid = incoming if request_id.is_valid(incoming) else request_id.generate()
        method = scope.get("method", "")
        audited = (method in _ACTIONS
                   and scope.get("path", "").startswith(_AUDITED_PREFIXES))
        started = time.monotonic()
        status: int | None = None
        body = bytearray()
        keep_body = False

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status, keep_body
            if message["type"] == "http.response.start":
                status = int(message["status"])
                keep_body = audited and method == "POST" and 200 <= status < 300
                headers = [(k, v) for k, v in message.get("headers", ())
                           if k.lower() != _HEADER]
                headers.append((_HEADER, rid.encode("latin-1")))
                message = dict(message, headers=headers)
            elif message["type"] == "http.response.body" and keep_body:
                body.extend(message.get("body", b""))
                if len(body) > _CREATED_BODY_MAX:
                    keep_body = False
                    body.clear()
            await send(message)

        with request_id.bound(rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                # The app's handler for unexpected errors logged it and answered 500
                # (Starlette re-raises after that, for servers to log it once more).
                if status is None:
                    LOG.exception("unhandled error on %s %s", method, loggable_target(scope))
                    await _internal_error(send_with_id)
            finally:
                self._access(scope, method, status, started)
                if self.on_done is not None:
                    self.on_done(scope, method, status, time.monotonic() - started)
            if audited and status is not None and 200 <= status < 300:
                self._audit(scope, method, status, bytes(body) if keep_body else b"")

    @staticmethod
    def _access(scope: dict[str, Any], method: str, status: int | None,
                started: float) -> None:
        ms = (time.monotonic() - started) * 1000
        client = scope.get("client") or ("-", 0)
        ctx = (scope.get("state") or {}).get("ctx")
        project = getattr(ctx, "project_id", None) or "-"
        target = loggable_target(scope)
        ACCESS.info('%s "%s %s" status %s %.1f ms project %s', client[0], method, target,
                    status if status is not None else "-", ms, _printable(project),
                    extra={"fields": {"method": method, "path": target, "status": status,
                                      "duration_ms": round(ms, 1), "project_id": project,
                                      "client": client[0]}})

    @staticmethod
    def _audit(scope: dict[str, Any], method: str, status: int, body: bytes) -> None:
        ctx = (scope.get("state") or {}).get("ctx")
        project = getattr(ctx, "project_id", None) or "-"
        roles = ",".join(sorted(getattr(ctx, "roles", ()) or ())) or "-"
        target = loggable_target(scope)
        created = _created_id(body) if body else None
        action = _ACTIONS[method]
        AUDIT.info("project %s (roles %s) %s %s%s: %s", _printable(project),
                   _printable(roles), action, target,
                   f" id {created}" if created else "", status,
                   extra={"fields": {"project_id": project, "roles": roles,
                                     "action": action, "path": target, "status": status,
                                     "object_id": created}})


async def _internal_error(send: Any) -> None:
    body = json.dumps({"NeutronError": {
        "type": "InternalError", "message": "Request failed: internal server error.",
        "detail": ""}}).encode()
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
