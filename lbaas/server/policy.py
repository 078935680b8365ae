"""Authorization: oslo.policy's Enforcer over the defaults in ``lbaas/server/policies``,
built once when the app starts; ``[oslo_policy] policy_file`` (a ``policy.yaml``)
overrides any rule, and is re-read when it changes."""

from __future__ import annotations

from oslo_config import cfg
from oslo_policy import policy

from lbaas.server import policies
from lbaas.server.context import Context


class Policy:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.enforcer = policy.Enforcer(conf)
        self.enforcer.register_defaults(policies.list_rules())

    def allows(self, ctx: Context, rule: str, project_id: str) -> bool:
        """Whether ``ctx`` may do ``rule`` to an object of ``project_id``."""
        target = {"project_id": project_id, "tenant_id": project_id}
        return bool(self.enforcer.authorize(rule, target, ctx.credentials()))


def get_enforcer() -> policy.Enforcer:
    """The ``oslo.policy.enforcer`` entry point (``oslopolicy-policy-generator``,
    ``oslopolicy-checker``)."""
    conf = cfg.ConfigOpts()
    conf([], project="lbaas")
    return Policy(conf).enforcer

