"""auth_strategy: ``noauth`` (every caller is admin), ``token`` (a tokens file) or
``keystone`` (keystonemiddleware's ``auth_token`` with its ``[keystone_authtoken]``
section, caching included; docs/keystone.md)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from lbaas.server import errors
from lbaas.server.context import Context, with_implied

LOG = logging.getLogger(__name__)


class TokenStore:
    """``token project role[,role...]`` per line; ``#`` comments. Re-read when the file
    changes, so an operator adds a token without restarting the server."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._tokens: dict[str, Context] = {}

    def _load(self) -> None:
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            LOG.error("tokens_file %s does not exist: every request is refused", self.path)
            self._tokens, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        tokens: dict[str, Context] = {}
        with open(self.path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split()
                if len(parts) != 3:
                    LOG.warning("%s:%d: expected 'token project roles', ignored",
                                self.path, lineno)
                    continue
                token, project, roles = parts
                tokens[token] = Context(project_id=project, user_id=token[:8],
                                        roles=with_implied(frozenset(
                                            r for r in roles.split(",") if r)))
        self._tokens, self._mtime = tokens, mtime

    def lookup(self, token: str) -> Context | None:
        with self._lock:
            self._load()
            return self._tokens.get(token)


class KeystoneTokens:
    """Validates tokens with keystonemiddleware's ``AuthProtocol``, as it validates them
    in front of any OpenStack API: its ``[keystone_authtoken]`` options, its token cache,
    its 401 with ``WWW-Authenticate``.

    AuthProtocol is WSGI middleware and this API is ASGI: rather than run the whole app
    behind a WSGI bridge (every request body would pass through a thread), the gate hands
    AuthProtocol a body-less WSGI request carrying only the token, in a worker thread,
    and reads the identity headers it sets (X-Project-Id, X-Roles, X-User-Id) from what
    reaches the little WSGI app behind it. One AuthProtocol is built at start-up, so its
    cache and its own service token live as long as the server."""

    def __init__(self, conf: Any) -> None:
        from keystonemiddleware import auth_token

        self.protocol = auth_token.AuthProtocol(
            self._identified, {"oslo_config_config": conf, "delay_auth_decision": "false"})

    @staticmethod
    def _identified(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["lbaas.identity"] = {
            "project_id": environ.get("HTTP_X_PROJECT_ID"),
            "user_id": environ.get("HTTP_X_USER_ID"),
            "roles": environ.get("HTTP_X_ROLES", "")}
        start_response("204 No Content", [])
        return []

    def validate(self, token: str) -> Context:
        import webob

        req = webob.Request.blank("/", headers={"X-Auth-Token": token})
        try:
            resp = req.get_response(self.protocol)
        except Exception:
            LOG.exception("keystonemiddleware could not validate a token")
            raise errors.ServiceUnavailable(
                "The identity service cannot validate tokens now; retry later.") from None
        identity = req.environ.get("lbaas.identity")
        if resp.status_int >= 500:
            LOG.error("keystonemiddleware: %s", resp.status)
            raise errors.ServiceUnavailable(
                "The identity service cannot validate tokens now; retry later.")
        if resp.status_int != 204 or not identity or not identity["project_id"]:
            exc = errors.NotAuthorized("Authentication required: the token is not valid.")
            exc.www_authenticate = resp.headers.get("WWW-Authenticate")
            raise exc
        roles = frozenset(r.strip().lower() for r in identity["roles"].split(",") if r)
        return Context(project_id=identity["project_id"], user_id=identity["user_id"],
                       roles=roles)


class Authenticator:
    def __init__(self, strategy: str, tokens_file: str, conf: Any = None) -> None:
        self.strategy = strategy
        self.tokens = TokenStore(tokens_file) if strategy == "token" else None
        self.keystone = KeystoneTokens(conf) if strategy == "keystone" else None

    @property
    def blocks(self) -> bool:
        """Authenticating may wait on the network (Keystone): run it in a thread."""
        return self.keystone is not None

    def authenticate(self, token: str | None, project_header: str | None) -> Context:
        if self.tokens is None and self.keystone is None:
            return Context(project_id=project_header or "admin", roles=frozenset({"admin"}))
        if not token:
            exc = errors.NotAuthorized()
            if self.keystone is not None:
                # keystonemiddleware's answer to a missing token carries the header.
                self.keystone.validate("")
            raise exc
        if self.keystone is not None:
            return self.keystone.validate(token)
        assert self.tokens is not None
        ctx = self.tokens.lookup(token)
        if ctx is None:
            raise errors.NotAuthorized("Authentication required: the token is not valid.")
        return ctx
