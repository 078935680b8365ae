"""Neutron's quotas for the v1 objects: a project's limit per resource.

The limit is the project's override (the ``quotas`` table, set through ``PUT
/v2.0/quotas/{project_id}``), else the configured default ``[quotas] quota_<resource>``;
-1 is unlimited. ``base.check_quota`` asks :func:`effective_limit` on every create, so an
override takes effect on the next request of any server sharing the database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lbaas.server.db.quota_models import Quota

# Neutron's resource names, in the order Neutron lists them.
RESOURCES = ("network", "subnet", "port", "pool", "member", "health_monitor", "vip")
# python-neutronclient 9.0.0's ``quota-update --health-monitor`` sends LBaaS v2's name.
ALIASES = {"healthmonitor": "health_monitor"}
LIMIT_MIN = -1
LIMIT_MAX = 2**31 - 1  # the column is a 32-bit integer everywhere


def default_limit(conf: Any, resource: str) -> int:
    limit: int = getattr(conf.quotas, f"quota_{resource}")
    return limit


def defaults(conf: Any) -> dict[str, int]:
    return {r: default_limit(conf, r) for r in RESOURCES}


def effective_limit(session: Session, conf: Any, project_id: str, resource: str) -> int:
    """The limit ``check_quota`` enforces for ``project_id``'s ``resource``."""
    row = session.get(Quota, (project_id, resource))
    return row.limit if row is not None else default_limit(conf, resource)


def project_limits(session: Session, conf: Any, project_id: str) -> dict[str, int]:
    limits = defaults(conf)
    for row in session.scalars(select(Quota).where(Quota.project_id == project_id)):
        if row.resource in limits:
            limits[row.resource] = row.limit
    return limits


def list_overridden(session: Session, conf: Any) -> list[dict[str, Any]]:
    """Every project with an override, with all its limits (Neutron's quota list)."""
    rows = session.scalars(select(Quota).order_by(Quota.project_id, Quota.resource))
    projects: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = projects.setdefault(row.project_id, {
            "tenant_id": row.project_id, "project_id": row.project_id, **defaults(conf)})
        if row.resource in RESOURCES:
            entry[row.resource] = row.limit
    return list(projects.values())


def set_limits(session: Session, conf: Any, project_id: str,
               limits: dict[str, int]) -> dict[str, int]:
    """Store ``limits`` (checked names and values) for ``project_id``; its limits after."""
    for resource, limit in limits.items():
        row = session.get(Quota, (project_id, resource))
        if row is None:
            session.add(Quota(project_id=project_id, resource=resource, limit=limit))
        else:
            row.limit = limit
    session.flush()
    return project_limits(session, conf, project_id)


def reset(session: Session, project_id: str) -> None:
    """Back to the defaults."""
    session.execute(delete(Quota).where(Quota.project_id == project_id))
