"""Neutron's LBaaS v1 rules, by Neutron's names (``create_pool``, ``get_vip``, ...).

A v1 object of another project stays a 404 (the plugin never finds it); these rules
decide what the caller's roles allow within its own project.
"""

from __future__ import annotations

from oslo_policy import policy

from lbaas.server.policies.base import V1_ADMIN, V1_READ, V1_WRITE

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
        # Neutron's agent and quota rules.
        policy.RuleDefault("get_agent", V1_ADMIN, "List or show agents."),
        policy.RuleDefault("update_agent", V1_ADMIN,
                           "Set an agent's admin_state_up (false drains it)."),
        policy.RuleDefault("delete_agent", V1_ADMIN, "Delete a dead agent."),
        policy.RuleDefault("get_loadbalancer-pools", V1_ADMIN,
                           "The v1 pools an agent hosts."),
        policy.RuleDefault("get_loadbalancer-agent", V1_ADMIN,
                           "The agent hosting a v1 pool."),
        policy.RuleDefault("get_agent-loadbalancers", V1_ADMIN,
                           "The Octavia load balancers an agent hosts."),
        policy.RuleDefault("get_loadbalancer-hosting-agent", V1_ADMIN,
                           "The agent hosting an Octavia load balancer."),
        policy.RuleDefault("get_quota", V1_READ,
                           "A project's quotas (a reader of that project, or an admin)."),
        policy.RuleDefault("get_quotas", V1_ADMIN, "Every project's quotas."),
        policy.RuleDefault("update_quota", V1_ADMIN, "Change a project's quotas."),
        policy.RuleDefault("delete_quota", V1_ADMIN, "Reset a project's quotas."),
    ]
    return out
