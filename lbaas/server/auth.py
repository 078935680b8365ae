"""auth_strategy: ``noauth`` (every caller is admin) or ``token`` (a tokens file)."""

from __future__ import annotations

import logging
import os
import threading

from lbaas.server import errors
from lbaas.server.context import Context

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
                tokens[token] = Context(project_id=project,
                                        roles=frozenset(r for r in roles.split(",") if r))
        self._tokens, self._mtime = tokens, mtime

    def lookup(self, token: str) -> Context | None:
        with self._lock:
            self._load()
            return self._tokens.get(token)


class Authenticator:
    def __init__(self, strategy: str, tokens_file: str) -> None:
        self.strategy = strategy
        self.tokens = TokenStore(tokens_file) if strategy == "token" else None

    def authenticate(self, token: str | None, project_header: str | None) -> Context:
        if self.tokens is None:
            return Context(project_id=project_header or "admin", roles=frozenset({"admin"}))
        if not token:
            raise errors.NotAuthorized()
        ctx = self.tokens.lookup(token)
        if ctx is None:
            raise errors.NotAuthorized("Authentication required: the token is not valid.")
        return ctx
