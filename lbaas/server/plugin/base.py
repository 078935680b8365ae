"""Helpers every part of the plugin uses: visibility, lookups, quotas, status."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from lbaas.server import errors
from lbaas.server.context import Context
from lbaas.server.db.models import HasId
from lbaas.server.plugin import quotas

M = TypeVar("M", bound=HasId)


def get_visible(session: Session, ctx: Context, model: type[M], obj_id: str,
                not_found: type[errors.NotFound], shared_ok: bool = False) -> M:
    """The object, or ``not_found`` (404) when it doesn't exist or isn't the caller's:
    a non-admin can't tell another project's object from a missing one."""
    obj = session.get(model, obj_id)
    if obj is None:
        raise not_found(id=obj_id)
    tenant_id: str = obj.tenant_id
    if not ctx.owns(tenant_id) and not (shared_ok and _is_shared(obj)):
        raise not_found(id=obj_id)
    return obj


def _is_shared(obj: Any) -> bool:
    network = getattr(obj, "network", None)
    return bool(getattr(obj, "shared", False) or (network is not None and network.shared))


def visible_query(ctx: Context, model: Any) -> Any:
    q = select(model)
    if not ctx.is_admin:
        q = q.where(model.tenant_id == ctx.project_id)
    return q.order_by(model.created_at, model.id)


def check_quota(session: Session, conf: Any, model: Any, tenant_id: str, resource: str,
                *counted: Any) -> None:
    """OverQuota (409) when ``tenant_id`` has ``quota_<resource>`` objects already (those
    matching the ``counted`` conditions, when given)."""
    limit = quotas.effective_limit(session, conf, tenant_id, resource)
    if limit < 0:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Count-then-insert is a race between concurrent transactions: one lock per
        # (project, resource) until commit makes it a queue. (SQLite's write
        # transactions are serialized already.)
        digest = hashlib.blake2b(f"quota:{resource}:{tenant_id}".encode(), digest_size=8)
        key = int.from_bytes(digest.digest(), "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    count = session.scalar(select(func.count()).select_from(model)
                           .where(model.tenant_id == tenant_id, *counted)) or 0
    if count >= limit:
        raise errors.OverQuota(resource=resource)
