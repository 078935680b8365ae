"""An agent's identity when the server uses ``auth_strategy = keystone``: a Keystone
user with the ``service`` role, logged in with keystoneauth from ``[service_auth]``
(``auth_type = password``, ``auth_url``, ``username``, ...; docs/keystone.md).

keystoneauth keeps the token and fetches a new one before it expires. A token that the
server refuses (401: revoked in Keystone, say) is dropped and the request sent once more
with a new one, so a revocation costs the agent one retried call, not a restart.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session

from lbaas.common.config import SERVICE_AUTH_GROUP as GROUP


class KeystoneAuth(httpx.Auth):
    def __init__(self, plugin: Any) -> None:
        self.plugin = plugin
        self.session = ks_session.Session(auth=plugin)

    @classmethod
    def from_conf(cls, conf: Any) -> KeystoneAuth | None:
        """None when ``[service_auth] auth_type`` is not set (a tokens-file token, or
        none at all, is used instead)."""
        if not conf[GROUP].auth_type:
            return None
        return cls(ks_loading.load_auth_from_conf_options(conf, GROUP))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                               None]:
        request.headers["X-Auth-Token"] = self.plugin.get_token(self.session)
        response = yield request
        if response.status_code == 401:
            self.plugin.invalidate()
            request.headers["X-Auth-Token"] = self.plugin.get_token(self.session)
            yield request
