"""Neutron's per-project quota overrides for the v1 API (``/v2.0/quotas``).

One row per project and resource that differs from the configured default
(``[quotas] quota_<resource>``); a project without rows has the defaults, and
``DELETE /v2.0/quotas/{project}`` removes its rows. Neutron's own table, shape and name.
(Octavia's v2 quotas are ``lb_quotas`` in models.py.) Imported by the migrations'
environment, so Base.metadata knows it.
"""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lbaas.server.db.models import Base

RESOURCE_LEN = 255


class Quota(Base):
    __tablename__ = "quotas"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(RESOURCE_LEN), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)
