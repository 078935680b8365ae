"""What the Octavia v2 routers share: the two URL prefixes, field types, the caller's
project, and Octavia's list query (filters, ``fields``, ``sort``, ``limit``/``marker``
with links, ``tags``/``tags-any``/``not-tags``/``not-tags-any``) over serialized objects,
with the pieces ``listing.py`` shares to answer it in SQL.

Octavia is served under ``/v2/lbaas`` (openstacksdk) and ``/v2.0/lbaas``
(python-octaviaclient); every router here is mounted under both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Request
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from lbaas.common import limits
from lbaas.server import errors
from lbaas.server.api.common import (
    Name,
    _no_control,
    _not_bool,
    checked_by,
    ctx_of,
    in_session,
    page_link,
    settings_of,
)
from lbaas.server.api.sql_list import text_of

PREFIXES = ("/v2/lbaas", "/v2.0/lbaas")

T = TypeVar("T")

Tag = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_no_control)]
Tags = Annotated[list[Tag], Field(max_length=64)]
ProjectId = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_no_control)]
Text = Name
# Listener timeouts, timeout_tcp_inspect among them: the renderer checks the same range.
MilliSeconds = Annotated[int, BeforeValidator(_not_bool),
                         Field(ge=limits.LISTENER_TIMEOUT_MIN, le=limits.LISTENER_TIMEOUT_MAX)]
HostName = Annotated[str, Field(max_length=255), AfterValidator(checked_by(limits.domain_name))]


class V2Body(BaseModel):
    """An Octavia request object: unknown attributes are a 400."""

    model_config = ConfigDict(extra="forbid")


def ids(objs: list[Any]) -> list[dict[str, str]]:
    return [{"id": o.id} for o in objs]


def timestamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat()


def project_of(request: Request, body: dict[str, Any]) -> str:
    """The project of a new object: the caller's own, or any when the caller is admin."""
    ctx = ctx_of(request)
    wanted = body.pop("project_id", None) or body.pop("tenant_id", None)
    body.pop("tenant_id", None)
    if wanted is None or wanted == ctx.project_id:
        return ctx.project_id
    if not ctx.is_admin:
        raise errors.OctaviaForbidden()
    return str(wanted)


def run(request: Request, fn: Callable[..., T], *args: Any, read_only: bool = False) -> T:
    """``fn(session, ctx, settings, *args)`` in one transaction."""
    ctx, settings = ctx_of(request), settings_of(request)
    return in_session(request, lambda s: fn(s, ctx, settings, *args), read_only=read_only)


RESERVED = {"fields", "sort", "sort_key", "sort_dir", "limit", "marker", "page_reverse",
            "tags", "tags-any", "not-tags", "not-tags-any"}


def parse_sorts(q: Any) -> list[tuple[str, str]]:
    """``sort=key:dir,...``, else ``sort_key``/``sort_dir`` pairs; directions unchecked."""
    sorts: list[tuple[str, str]] = []
    if q.get("sort"):
        for part in q["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            sorts.append((key, direction or "asc"))
    else:
        keys, dirs = q.getlist("sort_key"), q.getlist("sort_dir")
        sorts = [(k, dirs[i] if i < len(dirs) else "asc") for i, k in enumerate(keys)]
    return sorts


def parse_limit(q: Any) -> int | None:
    limit_raw = q.get("limit")
    if limit_raw is None:
        return None
    try:
        limit = int(limit_raw)
        if limit < 0:
            raise ValueError
    except ValueError:
        raise errors.OctaviaBadRequest(
            f"Limit must be a non-negative integer, not '{limit_raw}'") from None
    return limit


def tag_sets(q: Any) -> tuple[set[str] | None, ...]:
    """(``tags``, ``tags-any``, ``not-tags``, ``not-tags-any``): the comma-separated
    tags of each, None when it is not asked for."""
    def tag_set(name: str) -> set[str] | None:
        values = q.getlist(name)
        return {t for v in values for t in v.split(",") if t} if values else None

    return (tag_set("tags"), tag_set("tags-any"), tag_set("not-tags"),
            tag_set("not-tags-any"))


def page_links(request: Request, path: str, page: list[dict[str, Any]], more: bool,
               after_marker: bool) -> list[dict[str, str]]:
    """Octavia's ``next`` (when objects follow the page) and ``previous`` (when the page
    started after a marker) links, with every other query parameter kept."""
    links: list[dict[str, str]] = []
    q = request.query_params
    if more and page:
        params = [(k, v) for k, v in q.multi_items() if k != "marker"]
        params.append(("marker", page[-1]["id"]))
        links.append({"href": page_link(request, path.lstrip("/"), params), "rel": "next"})
    if after_marker and page:
        params = [(k, v) for k, v in q.multi_items() if k != "marker"]
        params += [("marker", page[0]["id"]), ("page_reverse", "True")]
        links.append({"href": page_link(request, path.lstrip("/"), params),
                      "rel": "previous"})
    return links


def fields_of(q: Any, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``fields=a,b``: only those attributes of each object."""
    fields = q.getlist("fields")
    if not fields:
        return items
    wanted_fields = {f for value in fields for f in value.split(",")}
    return [{k: v for k, v in i.items() if k in wanted_fields} for i in items]


def list_query(request: Request, collection: str, items: list[dict[str, Any]],
               path: str) -> dict[str, Any]:
    """Octavia's list semantics over serialized items, wrapped as
    ``{collection: [...], collection_links: [...]}``.

    The load balancer model's lists are answered in SQL by ``listing.py`` with these
    same semantics (it falls back to this function for what has no SQL form); the
    catalog's short lists (providers, flavors, quotas...) are answered here."""
    q = request.query_params
    for key in {k for k in q.keys() if k not in RESERVED}:
        wanted = {v.lower() if v.lower() in ("true", "false") else v for v in q.getlist(key)}
        items = [i for i in items if key in i and text_of(i[key]) in wanted]
    items = _filter_tags(q, items)

    known = set(items[0]) if items else None
    for key, direction in reversed(parse_sorts(q)):
        if direction not in ("asc", "desc"):
            raise errors.OctaviaBadRequest(f"Invalid sort direction '{direction}'")
        if known is not None and key not in known:
            raise errors.OctaviaBadRequest(f"'{key}' is not a valid option for sort_key")
        def sort_key(item: dict[str, Any], k: str = key) -> tuple[bool, Any]:
            return item.get(k) is None, _sortable(item.get(k))
        items.sort(key=sort_key, reverse=direction == "desc")

    links: list[dict[str, str]] = []
    marker = q.get("marker")
    start = 0
    if marker:
        positions = [i.get("id") for i in items]
        if marker not in positions:
            raise errors.OctaviaNotFound("Marker", marker)
        start = positions.index(marker) + 1
    limit = parse_limit(q)
    if limit is not None:
        page = items[start:start + limit] if limit else items[start:]
        links = page_links(request, path, page,
                           more=bool(limit) and start + limit < len(items),
                           after_marker=bool(start))
        items = page
    else:
        items = items[start:]
    return {collection: fields_of(q, items), f"{collection}_links": links}


def _filter_tags(q: Any, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    all_of, any_of, none_of, not_any = tag_sets(q)
    out = []
    for item in items:
        tags = set(item.get("tags") or [])
        if all_of is not None and not all_of <= tags:
            continue
        if any_of is not None and not any_of & tags:
            continue
        if none_of is not None and none_of <= tags:
            continue
        if not_any is not None and not_any & tags:
            continue
        out.append(item)
    return out


def _sortable(value: Any) -> Any:
    return str(value) if isinstance(value, (dict, list)) else value


def show_fields(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    fields = {f for v in request.query_params.getlist("fields") for f in v.split(",")}
    return {k: v for k, v in item.items() if k in fields} if fields else item
