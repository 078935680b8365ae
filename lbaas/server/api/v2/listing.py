"""Octavia's list query for the load balancer model, answered by the database.

``GET /loadbalancers``, ``/listeners``, ``/pools``, ``/pools/{id}/members`` and
``/healthmonitors`` take attribute filters, ``tags``/``tags-any``/``not-tags``/
``not-tags-any``, ``sort`` (or ``sort_key``/``sort_dir``) and ``limit``/``marker``. The
semantics are those of :func:`lbaas.server.api.v2.common.list_query`, which applies them
to serialized objects in Python (and still does for the small catalog lists); here they
become one ``SELECT`` per page, so a page of a project with ten thousand load balancers
reads one page of rows, not ten thousand.

What "the same semantics" takes, attribute by attribute (an :class:`Attr` each):

- a filter matches the attribute *as the API shows it*: ``true``/``false`` for booleans,
  ``80`` but not ``080`` for integers, ``2026-12-04T09:00:00`` for times (whole seconds),
  and an empty value matches a null; several values of one filter are alternatives;
  an attribute the objects don't have matches nothing;
- sorting compares what the API shows too: strings by code point (``COLLATE "C"`` on
  PostgreSQL, whose default collation would sort "b" before "C"), times to the second,
  nulls last ascending and first descending; ties keep the base order (creation time,
  then id, ascending) whatever the direction, as Python's stable sort did;
- a marker is looked up among the filtered objects (404 when it is not one of them) and
  the page starts after it in the sort order: a keyset condition on the sort values of
  the marker's row, so no row before it is read;
- an unknown sort key is a 400, but only when something matched the filters.

Attributes that are lists or objects (``listeners``, ``insert_headers``, ``tags``...)
have no SQL form here: nobody filters or sorts on their text, and a request that does
is answered the old way, every visible object through ``list_query``, with the same
result. So is a database other than SQLite or PostgreSQL.

Tags are JSON lists in the object's row: ``json_each`` on SQLite, ``jsonb`` containment
(``@>``) on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, selectinload

from lbaas.server import errors
from lbaas.server.api.sql_list import (
    BOOL,
    CONST,
    FLOAT,
    INT,
    LIMIT_CAP,
    SQL_DIALECTS,
    TIME,
    Attr,
    Term,
    after_marker,
    col,
    const,
    matches,
    shown,
)
from lbaas.server.api.v2 import serializers as ser
from lbaas.server.api.v2.common import (
    RESERVED,
    fields_of,
    list_query,
    page_links,
    parse_limit,
    parse_sorts,
    run,
    tag_sets,
)
from lbaas.server.context import Context
from lbaas.server.db import models as m
from lbaas.server.plugin import octavia


@dataclass(frozen=True)
class Resource:
    """A listed collection: the model, its serializer, the scalar attributes of what the
    serializer returns (``attrs``) and the others (``other``: lists and objects), and
    the relationships the serializer reads (loaded for the page in one query each)."""

    collection: str
    model: Any
    serialize: Callable[[Any], dict[str, Any]]
    attrs: dict[str, Attr]
    other: frozenset[str]
    load: tuple[Any, ...] = field(default=())

    @property
    def keys(self) -> frozenset[str]:
        """Every attribute of a serialized object."""
        return frozenset(self.attrs) | self.other


def _common(model: Any) -> dict[str, Attr]:
    return {"id": col(model.id), "project_id": col(model.tenant_id),
            "tenant_id": col(model.tenant_id),
            "provisioning_status": col(model.provisioning_status),
            "operating_status": col(model.operating_status),
            "created_at": col(model.created_at, TIME),
            "updated_at": col(model.updated_at, TIME, nullable=True),
            "name": col(model.name), "admin_state_up": col(model.admin_state_up, BOOL)}


LB = m.LoadBalancer
LOADBALANCERS = Resource(
    "loadbalancers", LB, ser.loadbalancer,
    attrs={**_common(LB), "description": col(LB.description),
           "vip_address": col(LB.vip_address), "vip_port_id": col(LB.vip_port_id),
           "vip_subnet_id": col(LB.vip_subnet_id),
           "vip_network_id": col(LB.vip_network_id), "vip_qos_policy_id": const(None),
           "vip_vnic_type": const("normal"), "provider": col(LB.provider),
           "flavor_id": col(LB.flavor_id, nullable=True),
           "availability_zone": col(LB.availability_zone, nullable=True)},
    other=frozenset({"tags", "vip_sg_ids", "additional_vips", "listeners", "pools"}),
    load=(selectinload(LB.listeners), selectinload(LB.pools)))

LI = m.Listener
LISTENERS = Resource(
    "listeners", LI, ser.listener,
    attrs={**_common(LI), "description": col(LI.description),
           "protocol": col(LI.protocol), "protocol_port": col(LI.protocol_port, INT),
           "connection_limit": col(LI.connection_limit, INT),
           "default_pool_id": col(LI.default_pool_id, nullable=True),
           "timeout_client_data": col(LI.timeout_client_data, INT),
           "timeout_member_connect": col(LI.timeout_member_connect, INT),
           "timeout_member_data": col(LI.timeout_member_data, INT),
           "timeout_tcp_inspect": col(LI.timeout_tcp_inspect, INT),
           **{key: col(getattr(LI, key), nullable=True) for key in (
               "default_tls_container_ref", "client_ca_tls_container_ref",
               "client_crl_container_ref", "tls_ciphers")},
           "hsts_max_age": col(LI.hsts_max_age, INT, nullable=True),
           "hsts_include_subdomains": col(LI.hsts_include_subdomains, BOOL),
           "hsts_preload": col(LI.hsts_preload, BOOL),
           "client_authentication": col(LI.client_authentication)},
    other=frozenset({"tags", "sni_container_refs", "l7policies", "insert_headers",
                     "loadbalancers", "allowed_cidrs", "tls_versions", "alpn_protocols"}),
    load=(selectinload(LI.l7policies),))

PO = m.LbPool
_POOL_MONITOR = select(m.LbHealthMonitor.id).where(
    m.LbHealthMonitor.pool_id == PO.id).scalar_subquery()
POOLS = Resource(
    "pools", PO, ser.pool,
    attrs={**_common(PO), "description": col(PO.description),
           "protocol": col(PO.protocol), "lb_algorithm": col(PO.lb_algorithm),
           "healthmonitor_id": col(_POOL_MONITOR, nullable=True),
           **{key: col(getattr(PO, key), nullable=True) for key in (
               "tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
               "tls_ciphers")},
           "tls_enabled": col(PO.tls_enabled, BOOL)},
    other=frozenset({"tags", "session_persistence", "loadbalancers", "listeners",
                     "members", "tls_versions", "alpn_protocols"}),
    load=(selectinload(PO.loadbalancer).selectinload(LB.listeners).selectinload(
              LI.l7policies),
          selectinload(PO.members), selectinload(PO.healthmonitor)))

ME = m.LbMember
MEMBERS = Resource(
    "members", ME, ser.member,
    attrs={**_common(ME), "address": col(ME.address),
           "protocol_port": col(ME.protocol_port, INT), "weight": col(ME.weight, INT),
           "backup": col(ME.backup, BOOL), "subnet_id": col(ME.subnet_id, nullable=True),
           "monitor_address": col(ME.monitor_address, nullable=True),
           "monitor_port": col(ME.monitor_port, INT, nullable=True),
           "vnic_type": const("normal")},
    other=frozenset({"tags"}))

HM = m.LbHealthMonitor
HEALTHMONITORS = Resource(
    "healthmonitors", HM, ser.healthmonitor,
    attrs={**_common(HM), "type": col(HM.type), "delay": col(HM.delay, INT),
           "timeout": col(HM.timeout, INT), "max_retries": col(HM.max_retries, INT),
           "max_retries_down": col(HM.max_retries_down, INT),
           "http_method": col(HM.http_method, nullable=True),
           "http_version": col(HM.http_version, FLOAT, nullable=True),
           "domain_name": col(HM.domain_name, nullable=True),
           "url_path": col(HM.url_path, nullable=True),
           "expected_codes": col(HM.expected_codes, nullable=True)},
    other=frozenset({"tags", "pools"}))


def _has_tag(model: Any, tag: str, dialect: str) -> ColumnElement[bool]:
    if "\x00" in tag:
        return false()  # no stored tag holds a NUL (PostgreSQL's jsonb refuses it)
    if dialect == "sqlite":
        elements = func.json_each(model.tags).table_valued("value")
        return select(literal(1)).select_from(elements).where(
            elements.c.value == tag).exists()
    return cast(model.tags, JSONB).contains([tag])


def _tag_clauses(model: Any, q: Any, dialect: str) -> list[ColumnElement[bool]]:
    """``tags`` (every one), ``tags-any`` (one at least), ``not-tags`` (not every one),
    ``not-tags-any`` (none); an empty list of tags is what ``common`` makes of it."""
    all_of, any_of, none_of, not_any = tag_sets(q)
    out: list[ColumnElement[bool]] = []
    if all_of is not None:
        out.append(and_(true(), *(_has_tag(model, t, dialect) for t in sorted(all_of))))
    if any_of is not None:
        out.append(or_(false(), *(_has_tag(model, t, dialect) for t in sorted(any_of))))
    if none_of is not None:
        out.append(~and_(true(), *(_has_tag(model, t, dialect) for t in sorted(none_of))))
    if not_any is not None:
        out.append(~or_(false(), *(_has_tag(model, t, dialect) for t in sorted(not_any))))
    return out


# ----------------------------------------------------------------- order and pages


@dataclass
class _Answer:
    """What the session gives back: a page (``items``, whether more follow), or, for the
    requests answered the old way, ``everything`` visible."""

    items: list[dict[str, Any]]
    more: bool = False
    everything: bool = False


def _base(resource: Resource, ctx: Context, scope: Any, all_projects: bool) -> Select[Any]:
    model = resource.model
    # Only the load balancers made through this API (v1's pools share the model).
    q = octavia.octavia_only(select(model), model)
    if scope is not None:
        q = q.where(scope)
    elif not all_projects:
        q = q.where(model.tenant_id == ctx.project_id)
    return q


def _everything(session: Session, resource: Resource, base: Select[Any]) -> _Answer:
    model = resource.model
    rows = session.scalars(base.options(*resource.load).order_by(model.created_at, model.id))
    return _Answer([resource.serialize(o) for o in rows], everything=True)


def _answer(session: Session, ctx: Context, resource: Resource, q: Any,
            scope: Any, all_projects: bool) -> _Answer:
    model = resource.model
    base = _base(resource, ctx, scope, all_projects)
    dialect = session.get_bind().dialect.name
    filters = [k for k in q.keys() if k not in RESERVED]
    sorts = parse_sorts(q)
    if dialect not in SQL_DIALECTS or any(
            key in resource.other for key in [*filters, *(k for k, _ in sorts)]):
        return _everything(session, resource, base)

    where: list[ColumnElement[bool]] = []
    for key in sorted(set(filters)):
        attr = resource.attrs.get(key)
        if attr is None:
            # No object has the attribute: nothing matches, and list_query gives the
            # answer of an empty list (a 400 for a bad sort direction, say).
            return _Answer([], everything=True)
        wanted = {v.lower() if v.lower() in ("true", "false") else v for v in q.getlist(key)}
        where.append(matches(attr, wanted, dialect))
    where += _tag_clauses(model, q, dialect)
    selected = base.where(*where)

    for key, direction in reversed(sorts):
        if direction not in ("asc", "desc"):
            raise errors.OctaviaBadRequest(f"Invalid sort direction '{direction}'")
        if key not in resource.keys:
            if session.scalar(selected.with_only_columns(model.id).limit(1)) is None:
                # Nothing to sort: list_query answers it (an empty list, or the 404 of
                # a marker, or the 400 of a limit).
                return _Answer([], everything=True)
            raise errors.OctaviaBadRequest(f"'{key}' is not a valid option for sort_key")

    terms = [Term(shown(resource.attrs[key], dialect), direction == "desc",
                   resource.attrs[key].nullable)
             for key, direction in sorts if resource.attrs[key].kind != CONST]
    terms += [Term(model.created_at, False, False), Term(model.id, False, False)]

    page = selected
    marker = q.get("marker")
    if marker:
        values = session.execute(selected.with_only_columns(
            *(t.expr for t in terms), maintain_column_froms=True).where(
            model.id == marker)).first()
        if values is None:
            raise errors.OctaviaNotFound("Marker", marker)
        page = page.where(after_marker(terms, values))
    limit = parse_limit(q)
    page = page.options(*resource.load).order_by(*(t.order() for t in terms))
    if limit:
        page = page.limit(min(limit, LIMIT_CAP) + 1)
    rows = list(session.scalars(page))
    more = limit is not None and 0 < limit < len(rows)
    return _Answer([resource.serialize(o) for o in rows[:limit or None]], more=more)


def list_response(request: Request, resource: Resource, path: str,
                  scope: Callable[[Session, Context], Any] | None = None) -> dict[str, Any]:
    """The list of ``resource`` for this request, wrapped as
    ``{collection: [...], collection_links: [...]}``. ``scope``: a condition on the rows
    (members: their pool's, after the pool's own visibility check) instead of the
    caller's project."""
    q = request.query_params
    # Set by the policy check (api/authorize.py); without one (no policy), admins.
    all_projects = getattr(request.state, "all_projects", None)

    def answer(session: Session, ctx: Context, _settings: Any) -> _Answer:
        where = scope(session, ctx) if scope is not None else None
        everyone = ctx.is_admin if all_projects is None else bool(all_projects)
        return _answer(session, ctx, resource, q, where, everyone)

    result = run(request, answer, read_only=True)
    if result.everything:
        return list_query(request, resource.collection, result.items, path)
    links = []
    if q.get("limit") is not None:
        links = page_links(request, path, result.items, more=result.more,
                           after_marker=bool(q.get("marker")))
    return {resource.collection: fields_of(q, result.items),
            f"{resource.collection}_links": links}
