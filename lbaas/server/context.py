"""Who is calling: the project and roles of a request."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Context:
    project_id: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_agent(self) -> bool:
        return "agent" in self.roles or self.is_admin

    def owns(self, tenant_id: str) -> bool:
        return self.is_admin or tenant_id == self.project_id


ADMIN = Context(project_id="admin", roles=frozenset({"admin"}))
