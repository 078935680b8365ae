"""Neutron's LBaaS v1 rules, by Neutron's names (``create_pool``, ``get_vip``, ...).

A v1 object of another project stays a 404 (the plugin never finds it); these rules
decide what the caller's roles allow within its own project.
"""

from __future__ import annotations

from oslo_policy import policy

from lbaas.server.policies.base import V1_READ, V1_WRITE

RESOURCES = ("pool", "member", "health_monitor", "vip", "network", "subnet", "port")


def rules() -> list[policy.RuleDefault]:
    out: list[policy.RuleDefault] = []
    for res in RESOURCES:
        for action, check in (("create", V1_WRITE), ("get", V1_READ), ("update", V1_WRITE),
                              ("delete", V1_WRITE)):
            out.append(policy.RuleDefault(f"{action}_{res}", check,
                                          f"v1: {action} a {res}."))
    out += [
        policy.RuleDefault("create_pool_health_monitor", V1_WRITE,
                           "v1: associate a health monitor with a pool."),
        policy.RuleDefault("delete_pool_health_monitor", V1_WRITE,
                           "v1: disassociate a health monitor from a pool."),
        policy.RuleDefault("get_pool_stats", V1_READ, "v1: a pool's statistics."),
    ]
    return out
