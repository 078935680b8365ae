"""The gate every HTTP request passes before the application sees it (ASGI middleware).

Two things happen here, in this order, and neither reads the request body:

1. The caller is authenticated from the headers alone. A request without a valid token
   is answered 401 at once; its body is never read. (FastAPI reads and parses a JSON
   body *before* it runs dependencies: with authentication as a dependency, a 25 MB body
   without a token took the server from 92 MB to 734 MB.)
2. The body is capped at ``max_request_body_size``: a declared ``Content-Length`` over
   the cap is answered 413 at once; a chunked body is counted as it streams in and
   refused (413) as soon as it passes the cap, before the rest is buffered.

A refused request therefore costs no more memory than its headers: uvicorn stops reading
from a socket whose body nobody receives, and closes it after the answer.
"""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
from starlette.exceptions import HTTPException

from lbaas.server import errors
from lbaas.server.auth import Authenticator

# Served to anyone: the API's description and its browser, which hold no tenant data,
# the health check (load balancers and monitors probe it without a token) and the
# Prometheus metrics (scrapers send no token; metrics_enabled = false turns them off),
# and the dashboard's page, which asks for the token and sends it with every call.
PUBLIC_PATHS = frozenset({"/", "/openapi.json", "/docs", "/docs/oauth2-redirect",
                          "/healthcheck", "/metrics", "/ui",
                          # The key manager's version documents (Barbican's are open).
                          "/key-manager", "/key-manager/", "/key-manager/v1",
                          "/key-manager/v1/"})
# Octavia's API, and its amphora API (docs/architecture.md): Octavia's error body.
OCTAVIA_PREFIXES = ("/v2/lbaas", "/v2.0/lbaas", "/v2/octavia", "/v2.0/octavia")
# Neutron's resources under an Octavia prefix (neutron-lbaas v2's agent scheduler,
# lbaas/server/api/agents.py): their errors carry Neutron's body.
NEUTRON_SUFFIXES = ("/loadbalancer-hosting-agent",)
PUBLIC_PREFIXES = ("/static/",)
KEY_MANAGER = "/key-manager"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the cap. An HTTPException, so
    FastAPI passes it through its body parsing unchanged and it is answered as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, errors.RequestEntityTooLarge(limit=limit).msg)


class RequestGate:
    def __init__(self, app: Any, authenticator: Authenticator, max_body: int) -> None:
        self.app = app
        self.authenticator = authenticator
        self.max_body = max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        path = scope.get("path", "")
        ctx = None
        if path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            try:
                args = (headers.get("x-auth-token"), headers.get("x-project-id"))
                if self.authenticator.blocks:
                    ctx = await anyio.to_thread.run_sync(self.authenticator.authenticate,
                                                         *args)
                else:
                    ctx = self.authenticator.authenticate(*args)
            except errors.NeutronError as exc:
                await _answer(send, exc, path)
                return
        scope.setdefault("state", {})["ctx"] = ctx

        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _answer(send, errors.HTTPBadRequest("Content-Length is not a number"),
                              path)
                return
            if size > self.max_body:
                await _answer(send, errors.RequestEntityTooLarge(limit=self.max_body), path)
                return

        received = 0

        async def capped_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        await self.app(scope, capped_receive, send)


def octavia_path(path: str) -> bool:
    """Whether the path's errors carry Octavia's body (else Neutron's)."""
    return path.startswith(OCTAVIA_PREFIXES) and not path.rstrip("/").endswith(
        NEUTRON_SUFFIXES)


async def _answer(send: Any, exc: errors.NeutronError, path: str) -> None:
    # The API's own error body: Octavia's for its paths, Neutron's for the rest.
    content: object
    if octavia_path(path):
        content = errors.octavia_body(exc.status_code, exc.msg)
    elif path == KEY_MANAGER or path.startswith(KEY_MANAGER + "/"):
        content = errors.barbican_body(exc.status_code, exc.msg)
    else:
        content = exc.body()
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()),
               # The body was not read: the connection can't carry another request.
               (b"connection", b"close")]
    if isinstance(exc, errors.NotAuthorized):
        challenge = exc.www_authenticate or 'Token realm="lbaas"'
        headers.append((b"www-authenticate", challenge.encode("latin-1")))
    await send({"type": "http.response.start", "status": exc.status_code,
                "headers": headers})
    await send({"type": "http.response.body", "body": body})
