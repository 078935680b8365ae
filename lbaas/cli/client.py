"""The REST client behind the ``lbaas`` command: Neutron's wire format over httpx.

Every failure a user can meet (the server said no, the server is not there, the name
matches nothing or several objects) becomes a ``ClientError`` whose text is one line,
so the command can print it as ``lbaas: error: <text>`` and never a traceback.
"""

from __future__ import annotations

import json
import ssl
import uuid
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import quote

import httpx

from lbaas.common import tls

API_PREFIX = "/v2.0"


class ClientError(Exception):
    """A failure to show the user as it is, on one line."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(one_line(message))
        self.status_code = status_code


class NotFound(ClientError):
    pass


def one_line(text: str) -> str:
    """Collapse whitespace: a server message with a newline must not break the error line."""
    return " ".join(str(text).split())


@dataclass(frozen=True)
class Resource:
    """Where one kind of object lives on the wire and how the CLI names it."""

    word: str                 # the CLI word: "healthmonitor"
    singular: str             # the JSON wrapper: "health_monitor"
    plural: str               # the list wrapper: "health_monitors"
    path: str                 # under /v2.0: "lb/health_monitors"
    lookup_attr: str | None = "name"   # attribute a name is looked up by; None: ids only

    @property
    def label(self) -> str:
        return self.singular.replace("_", " ")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _error_message(response: httpx.Response) -> str:
    """The server's own words: NeutronError's message, else whatever the body says."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("NeutronError")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        detail = body.get("detail")
        if isinstance(detail, str) and detail:
            return detail
        if isinstance(detail, list) and detail:
            # FastAPI's validation shape, in case a route answers before Neutron's mapping.
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                    parts.append(f"{where}: {item.get('msg', '')}" if where else
                                 str(item.get("msg", "")))
                else:
                    parts.append(str(item))
            return "; ".join(parts)
        if body.get("message"):
            return str(body["message"])
    text = response.text.strip()
    if text and len(text) <= 300:
        return f"HTTP {response.status_code}: {text}"
    return f"HTTP {response.status_code} {response.reason_phrase}"


class Client:
    """One connection to lbaas-server; ``close()`` when done."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        project_id: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        debug: TextIO | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify``: what an https:// server's certificate is checked against
        (``lbaas.common.tls.client_verify``)."""
        base = url.rstrip("/")
        # neutronclient's --os-url is the endpoint without the version; accept either.
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        self.url = base
        self._debug = debug
        headers = {"Accept": "application/json", "User-Agent": "lbaas-cli"}
        if token:
            headers["X-Auth-Token"] = token
        if project_id:
            headers["X-Project-Id"] = project_id
        self._timeout = timeout
        self._http = httpx.Client(base_url=base, headers=headers, timeout=timeout,
                                  transport=transport, verify=verify)

    def close(self) -> None:
        self._http.close()

    # -- raw requests --------------------------------------------------------------

    def request(self, method: str, path: str, *, body: Any = None,
                params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        url = f"{API_PREFIX}/{path}"
        self._log(f"REQ: {method} {self.url}{url} params={params!r} body={json.dumps(body)}")
        try:
            response = self._http.request(method, url, json=body, params=params)
        except httpx.ConnectError as exc:
            hint = (" (is the CA that signed the server's certificate given with "
                    "--os-cacert?)" if tls.is_verify_failure(exc) else "")
            raise ClientError(f"cannot connect to lbaas-server at {self.url}: "
                              f"{_reason(exc)}{hint}") from exc
        except httpx.TimeoutException as exc:
            raise ClientError(f"lbaas-server at {self.url} did not answer within "
                              f"{self._timeout:g} s") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ClientError(f"request to {self.url} failed: {_reason(exc)}") from exc
        self._log(f"RESP: {response.status_code} {response.text}")
        if response.status_code == 404:
            raise NotFound(_error_message(response), 404)
        if response.status_code >= 400:
            raise ClientError(_error_message(response), response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ClientError(f"lbaas-server at {self.url} answered {method} {url} with "
                              f"something that is not JSON") from exc

    def _log(self, line: str) -> None:
        if self._debug is not None:
            print(line, file=self._debug)

    # -- resources -----------------------------------------------------------------

    def list(self, res: Resource, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        body = self.request("GET", res.path, params=params)
        return _unwrap(body, res.plural, list)

    def show(self, res: Resource, obj_id: str) -> dict[str, Any]:
        body = self.request("GET", f"{res.path}/{quote(obj_id, safe='')}")
        return _unwrap(body, res.singular, dict)

    def create(self, res: Resource, attrs: dict[str, Any]) -> dict[str, Any]:
        body = self.request("POST", res.path, body={res.singular: attrs})
        return _unwrap(body, res.singular, dict)

    def update(self, res: Resource, obj_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
        body = self.request("PUT", f"{res.path}/{quote(obj_id, safe='')}",
                            body={res.singular: attrs})
        return _unwrap(body, res.singular, dict)

    def delete(self, res: Resource, obj_id: str) -> None:
        self.request("DELETE", f"{res.path}/{quote(obj_id, safe='')}")

    def find(self, res: Resource, name_or_id: str) -> dict[str, Any]:
        """The one object ``name_or_id`` designates, as Neutron's CLI resolved names.

        An id wins over a name (a name may look like an id); a name matching several
        objects is refused, since acting on an arbitrary one of them would surprise.
        """
        if is_uuid(name_or_id) or res.lookup_attr is None:
            try:
                return self.show(res, name_or_id)
            except NotFound:
                if res.lookup_attr is None:
                    raise NotFound(f"{res.label} '{name_or_id}' not found", 404) from None
        attr = res.lookup_attr
        assert attr is not None
        # Keep only exact matches: a server that ignored the filter must not make us
        # pick the wrong object.
        matches = [o for o in self.list(res, {attr: name_or_id}) if o.get(attr) == name_or_id]
        if not matches:
            raise NotFound(f"{res.label} '{name_or_id}' not found "
                           f"(no {res.label} has that {attr} or id)", 404)
        if len(matches) > 1:
            ids = ", ".join(str(o.get("id")) for o in matches)
            raise ClientError(f"{len(matches)} {res.plural.replace('_', ' ')} have the "
                              f"{attr} '{name_or_id}' ({ids}): give the id instead")
        return matches[0]


def _unwrap(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise ClientError(f"unexpected answer from lbaas-server: no '{key}' in "
                          f"{one_line(json.dumps(body))[:200]}")
    return body[key]


def _reason(exc: Exception) -> str:
    text = one_line(str(exc)) or type(exc).__name__
    # httpx words a refused connection as "[Errno 111] Connection refused"; the errno
    # helps nobody.
    if text.startswith("[Errno") and "]" in text:
        text = text.split("]", 1)[1].strip()
    return text

