"""Neutron's list query for v1's collections (pools, members, VIPs, health monitors),
answered by the database.

``GET /v2.0/lb/pools`` (and the others) take attribute filters (``?name=a&name=b``),
``sort_key``/``sort_dir`` pairs, ``limit``/``marker`` with a ``next`` link, and
``fields``. :func:`lbaas.server.api.common.list_query` gives their semantics over
serialized objects; here they become one ``SELECT`` per page with the same answer (the
shared rules of comparison and order are in ``sql_list.py``):

- sort and limit errors are checked first, as Neutron does (the number of sort_dirs
  must match the sort_keys; a direction is ``asc`` or ``desc``; a limit is an integer 0
  or more); an unknown sort key is a 400 only when something matched the filters;
- a marker counts only with a limit, and must be one of the filtered objects (a 400
  "Marker ... could not be found" otherwise); ``limit=0`` means every object after it.

Attributes that are lists or objects (``members``, ``session_persistence``...) and the
health monitor's HTTP attributes (absent from a TCP monitor's answer, which no SQL
column says) have no SQL form here: a request that filters or sorts on one is answered
the old way, every visible object through ``list_query``, with the same result. So is a
database other than SQLite or PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy import Select
from sqlalchemy.orm import Session

from lbaas.server import errors
from lbaas.server.api.common import RESERVED, list_query, page_link, parse_limit, parse_sorts
from lbaas.server.api.sql_list import (
    CONST,
    LIMIT_CAP,
    SQL_DIALECTS,
    Attr,
    Term,
    after_marker,
    matches,
    shown,
)
from lbaas.server.context import Context


@dataclass(frozen=True)
class Listing:
    """How a v1 collection is listed in SQL: the visible rows (``query``), the scalar
    attributes of the serialized object (``attrs``) and the others (``other``), and the
    relationships the serializer reads (loaded for the page in one query each)."""

    model: Any
    query: Callable[[Context], Select[Any]]
    attrs: Mapping[str, Attr]
    other: frozenset[str]
    load: tuple[Any, ...] = field(default=())


@dataclass
class _Answer:
    items: list[dict[str, Any]]
    more: bool = False
    everything: bool = False  # every visible object: list_query answers


def _answer(session: Session, ctx: Context, listing: Listing,
            to_dict: Callable[[Any], dict[str, Any]], q: Any) -> _Answer:
    model = listing.model
    base = listing.query(ctx)
    dialect = session.get_bind().dialect.name
    sorts = parse_sorts(q)
    filters = sorted({k for k in q.keys() if k not in RESERVED})

    def everything() -> _Answer:
        rows = session.scalars(base.options(*listing.load).order_by(model.created_at,
                                                                     model.id))
        return _Answer([to_dict(o) for o in rows], everything=True)

    if dialect not in SQL_DIALECTS or any(
            key in listing.other for key in [*filters, *(k for k, _ in sorts)]):
        return everything()
    where = []
    for key in filters:
        attr = listing.attrs.get(key)
        if attr is None:
            return _Answer([], everything=True)  # no object has it: nothing matches
        wanted = {v.lower() if v.lower() in ("true", "false") else v for v in q.getlist(key)}
        where.append(matches(attr, wanted, dialect))
    selected = base.where(*where)
    for key, _desc in sorts:
        if key not in listing.attrs:
            if session.scalar(selected.with_only_columns(model.id).limit(1)) is None:
                return _Answer([], everything=True)  # nothing to sort: list_query answers
            raise errors.HTTPBadRequest(f"{key} is invalid attribute for sort_key")

    terms = [Term(shown(listing.attrs[key], dialect), desc, listing.attrs[key].nullable)
             for key, desc in sorts if listing.attrs[key].kind != CONST]
    terms += [Term(model.created_at, False, False), Term(model.id, False, False)]
    page = selected
    limit = parse_limit(q)
    marker = q.get("marker")
    if limit is not None and marker:
        values = session.execute(selected.with_only_columns(
            *(t.expr for t in terms), maintain_column_froms=True).where(
            model.id == marker)).first()
        if values is None:
            raise errors.HTTPBadRequest(f"Marker {marker} could not be found")
        page = page.where(after_marker(terms, values))
    page = page.options(*listing.load).order_by(*(t.order() for t in terms))
    if limit:
        page = page.limit(min(limit, LIMIT_CAP) + 1)
    rows = list(session.scalars(page))
    more = bool(limit) and len(rows) > (limit or 0)
    return _Answer([to_dict(o) for o in rows[:limit or None]], more=more)


def list_response(request: Request, session_run: Callable[[Callable[[Session], _Answer]],
                                                          _Answer],
                  ctx: Context, listing: Listing, to_dict: Callable[[Any], dict[str, Any]],
                  collection: str, path: str) -> dict[str, Any]:
    """The list for this request, wrapped as ``{collection: [...]}`` with a
    ``{collection}_links`` ``next`` link when a page of ``limit`` has more after it."""
    q = request.query_params
    result = session_run(lambda s: _answer(s, ctx, listing, to_dict, q))
    if result.everything:
        return list_query(request, collection, result.items, path)
    items = result.items
    out: dict[str, Any] = {}
    if result.more and items:
        params = [(k, v) for k, v in q.multi_items() if k != "marker"]
        params.append(("marker", items[-1]["id"]))
        out[f"{collection}_links"] = [{"rel": "next",
                                       "href": page_link(request, f"v2.0/{path}", params)}]
    fields = q.getlist("fields")
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]
    return {collection: items, **out}
