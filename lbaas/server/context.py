"""Who is calling: the project, user and roles of a request, from whichever
``auth_strategy`` authenticated it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Keystone's bootstrap makes admin imply member and member imply reader; a token from
# Keystone carries the implied roles. The tokens file names roles by hand, so they are
# expanded the same way (lbaas/server/auth.py).
IMPLIED_ROLES = {"admin": ("member", "reader"), "member": ("reader",)}


def with_implied(roles: frozenset[str]) -> frozenset[str]:
    return roles.union(*(IMPLIED_ROLES.get(r, ()) for r in roles))


@dataclass(frozen=True)
class Context:
    project_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    user_id: str | None = None

    @property
    def is_admin(self) -> bool:
        """Sees every project's objects (``context_is_admin`` in the policy decides what
        it may do)."""
        return "admin" in self.roles

    def owns(self, tenant_id: str) -> bool:
        return self.is_admin or tenant_id == self.project_id

    def credentials(self) -> dict[str, Any]:
        """What oslo.policy's checks read (``role:``, ``project_id:``, ``is_admin:``)."""
        return {"roles": sorted(self.roles), "project_id": self.project_id,
                "tenant_id": self.project_id, "user_id": self.user_id,
                "is_admin": self.is_admin}


ADMIN = Context(project_id="admin", roles=frozenset({"admin"}))
