"""/key-manager/v1: Barbican's secrets and containers, the subset TLS listeners and pools
need (docs/tls.md), with Barbican's bodies, refs, pages and errors, so that
python-barbicanclient (``openstack secret ...``) works unchanged.

The rules are in lbaas/server/plugin/key_manager.py; this layer parses, authorizes
(Barbican's rule names, lbaas/server/policies/key_manager.py) and answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from lbaas.server import errors
from lbaas.server.api.common import Int, ctx_of, in_session, settings_of
from lbaas.server.db import models as m
from lbaas.server.plugin import key_manager as km
from lbaas.server.policies import key_manager as rules

PREFIX = "/key-manager"
router = APIRouter(prefix=PREFIX, tags=["key manager"], include_in_schema=True)

Text255 = Annotated[str, Field(max_length=255)]
# A certificate bundle with its chain fits easily; the request body cap applies too.
PAYLOAD_MAX = 64 * 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecretCreate(_Body):
    name: Text255 | None = None
    secret_type: Literal[km.SECRET_TYPES] = "opaque"  # type: ignore[valid-type]
    algorithm: Text255 | None = None
    bit_length: Annotated[Int, Field(ge=0, le=1 << 20)] | None = None
    mode: Text255 | None = None
    expiration: dt.datetime | None = None
    payload: Annotated[str, Field(max_length=PAYLOAD_MAX)] | None = None
    payload_content_type: Text255 | None = None
    payload_content_encoding: Text255 | None = None


class SecretRef(_Body):
    name: Text255 | None = None
    secret_ref: Annotated[str, Field(max_length=1024)]


class ContainerCreate(_Body):
    name: Text255 | None = None
    type: Literal[km.CONTAINER_TYPES]  # type: ignore[valid-type]
    secret_refs: Annotated[list[SecretRef], Field(max_length=64)] = []


def _authorize(request: Request, rule: str) -> None:
    ctx = ctx_of(request)
    if not request.app.state.policy.allows(ctx, rule, ctx.project_id):
        raise errors.BarbicanFault(f"Forbidden: rule {rule} is disallowed by policy",
                                   403)


def _base(request: Request) -> str:
    return km.base_url(str(request.base_url), settings_of(request).conf.public_endpoint)


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _vault(request: Request) -> km.Vault:
    vault: km.Vault = request.app.state.vault
    return vault


# --- the version document ---------------------------------------------------------------

@router.get("")
@router.get("/")
def versions(request: Request) -> dict[str, Any]:
    """Barbican's version document: a client given this URL finds v1 here."""
    return {"versions": {"values": [{
        "id": "v1", "status": "stable", "min_version": "1.0", "max_version": "1.0",
        "links": [{"rel": "self", "href": _base(request) + "/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.key-manager-v1+json"}]}]}}


@router.get("/v1")
@router.get("/v1/")
def version(request: Request) -> dict[str, Any]:
    return {"version": {
        "id": "v1", "status": "stable", "min_version": "1.0", "max_version": "1.0",
        "links": [{"rel": "self", "href": _base(request) + "/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.key-manager-v1+json"}]}}


# --- secrets ----------------------------------------------------------------------------

def secret_body(base: str, secret: m.KmSecret) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "ACTIVE", "created": _time(secret.created_at),
        "updated": _time(secret.updated_at or secret.created_at),
        "expiration": _time(secret.expiration), "algorithm": secret.algorithm,
        "bit_length": secret.bit_length, "mode": secret.mode, "name": secret.name,
        "secret_ref": f"{base}/secrets/{secret.id}", "secret_type": secret.secret_type,
        "creator_id": secret.creator_id}
    if secret.payload_content_type:
        body["content_types"] = {"default": secret.payload_content_type}
    return body


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@router.post("/v1/secrets", status_code=201)
def create_secret(request: Request, body: SecretCreate) -> dict[str, str]:
    _authorize(request, rules.SECRETS_POST)
    new = km.NewSecret(name=body.name, secret_type=body.secret_type,
                       algorithm=body.algorithm, bit_length=body.bit_length,
                       mode=body.mode, expiration=_utc(body.expiration),
                       payload=body.payload, payload_content_type=body.payload_content_type,
                       payload_content_encoding=body.payload_content_encoding)
    ctx, vault, base = ctx_of(request), _vault(request), _base(request)
    secret_id = in_session(request, lambda s: km.create_secret(s, ctx, vault, new).id)
    return {"secret_ref": f"{base}/secrets/{secret_id}"}


def _paging(request: Request) -> tuple[int, int]:
    q = request.query_params
    try:
        offset = int(q.get("offset", 0))
        limit = int(q.get("limit", km.PAGE_DEFAULT))
    except ValueError:
        raise errors.BarbicanFault("limit and offset must be integers") from None
    if offset < 0 or limit < 0:
        raise errors.BarbicanFault("limit and offset must not be negative")
    return offset, min(limit, km.PAGE_MAX)


def _page_links(request: Request, offset: int, limit: int, count: int,
                total: int, path: str) -> dict[str, str]:
    from urllib.parse import urlencode

    others = [(k, v) for k, v in request.query_params.multi_items()
              if k not in ("offset", "limit")]
    url = f"{_base(request)}/{path}"

    def at(start: int) -> str:
        return f"{url}?{urlencode([*others, ('limit', limit), ('offset', start)])}"

    links = {}
    if offset + count < total:
        links["next"] = at(offset + limit)
    if offset > 0:
        links["previous"] = at(max(0, offset - limit))
    return links


@router.get("/v1/secrets")
def list_secrets(request: Request) -> dict[str, Any]:
    _authorize(request, rules.SECRETS_GET)
    offset, limit = _paging(request)
    q = request.query_params
    filters: dict[str, Any] = {k: q[k] for k in ("name", "secret_type", "algorithm", "mode")
                               if q.get(k)}
    if "bits" in q:
        try:
            filters["bit_length"] = int(q["bits"])
        except ValueError:
            raise errors.BarbicanFault("bits must be an integer") from None
    project, base = ctx_of(request).project_id, _base(request)

    def answer(s: Any) -> tuple[list[dict[str, Any]], int]:
        rows, total = km.page(s, m.KmSecret, project, offset, limit, filters)
        return [secret_body(base, r) for r in rows], total

    items, total = in_session(request, answer, read_only=True)
    return {"secrets": items, "total": total,
            **_page_links(request, offset, limit, len(items), total, "secrets")}


def _wants_payload(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return bool(accept) and "json" not in accept and "*/*" not in accept


@router.get("/v1/secrets/{secret_id}", response_model=None)
def show_secret(request: Request, secret_id: str) -> dict[str, Any] | Response:
    # Barbican's older form: the payload itself when the client asks for its type.
    if _wants_payload(request):
        return secret_payload(request, secret_id)
    _authorize(request, rules.SECRET_GET)
    project, base = ctx_of(request).project_id, _base(request)
    return in_session(request, lambda s: secret_body(base, km.get_secret(s, project,
                                                                          secret_id)),
                      read_only=True)


@router.get("/v1/secrets/{secret_id}/payload")
def secret_payload(request: Request, secret_id: str) -> Response:
    _authorize(request, rules.SECRET_DECRYPT)
    project, vault = ctx_of(request).project_id, _vault(request)

    def read(s: Any) -> tuple[bytes, str]:
        secret = km.get_secret(s, project, secret_id)
        return km.payload_of(vault, secret), secret.payload_content_type or km.TEXT

    payload, stored = in_session(request, read, read_only=True)
    content_type = _served_type(request, stored, payload)
    # no-store: a payload must not stay in a cache on the way.
    return Response(payload, media_type=content_type,
                    headers={"Cache-Control": "no-store"})


def _served_type(request: Request, stored: str, payload: bytes) -> str:
    """The type the payload is answered as: the first the client accepts of text (if it
    is UTF-8) or the binary types (the bytes as stored), as Barbican converts; the
    stored one for ``*/*`` or no Accept. None of them: 406."""
    accept = [a.split(";")[0].strip().lower()
              for a in request.headers.get("accept", "").split(",") if a.strip()]
    for wanted in accept or ["*/*"]:
        if wanted == "*/*":
            return stored
        if wanted in km.BINARY:
            return wanted
        if wanted == km.TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                continue
            return wanted
    raise errors.BarbicanFault(f"Wrong payload content-type: the secret can be "
                               f"answered as {stored}", 406)


@router.delete("/v1/secrets/{secret_id}", status_code=204)
def delete_secret(request: Request, secret_id: str) -> Response:
    _authorize(request, rules.SECRET_DELETE)
    ctx = ctx_of(request)
    in_session(request, lambda s: km.delete_secret(s, ctx, secret_id))
    return Response(status_code=204)


# --- containers -------------------------------------------------------------------------

def container_body(base: str, container: m.KmContainer) -> dict[str, Any]:
    return {"status": "ACTIVE", "created": _time(container.created_at),
            "updated": _time(container.updated_at or container.created_at),
            "name": container.name, "type": container.type,
            "container_ref": f"{base}/containers/{container.id}",
            "creator_id": container.creator_id, "consumers": [],
            "secret_refs": [{"name": r.get("name"),
                             "secret_ref": f"{base}/secrets/{r.get('secret_id')}"}
                            for r in container.secret_refs or []]}


@router.post("/v1/containers", status_code=201)
def create_container(request: Request, body: ContainerCreate) -> dict[str, str]:
    _authorize(request, rules.CONTAINERS_POST)
    ctx, base = ctx_of(request), _base(request)
    refs = [r.model_dump() for r in body.secret_refs]
    container_id = in_session(request, lambda s: km.create_container(
        s, ctx, body.name, body.type, refs).id)
    return {"container_ref": f"{base}/containers/{container_id}"}


@router.get("/v1/containers")
def list_containers(request: Request) -> dict[str, Any]:
    _authorize(request, rules.CONTAINERS_GET)
    offset, limit = _paging(request)
    q = request.query_params
    filters = {k: q[k] for k in ("name", "type") if q.get(k)}
    project, base = ctx_of(request).project_id, _base(request)

    def answer(s: Any) -> tuple[list[dict[str, Any]], int]:
        rows, total = km.page(s, m.KmContainer, project, offset, limit, filters)
        return [container_body(base, r) for r in rows], total

    items, total = in_session(request, answer, read_only=True)
    return {"containers": items, "total": total,
            **_page_links(request, offset, limit, len(items), total, "containers")}


@router.get("/v1/containers/{container_id}")
def show_container(request: Request, container_id: str) -> dict[str, Any]:
    _authorize(request, rules.CONTAINER_GET)
    project, base = ctx_of(request).project_id, _base(request)
    return in_session(request, lambda s: container_body(
        base, km.get_container(s, project, container_id)), read_only=True)


@router.delete("/v1/containers/{container_id}", status_code=204)
def delete_container(request: Request, container_id: str) -> Response:
    _authorize(request, rules.CONTAINER_DELETE)
    ctx = ctx_of(request)
    in_session(request, lambda s: km.delete_container(s, ctx, container_id))
    return Response(status_code=204)
