"""Octavia's v2 API rules, by Octavia's names (``os_load-balancer_api:<object>:<action>``)."""

from __future__ import annotations

from oslo_policy import policy

from lbaas.server.policies.base import READ, READ_GLOBAL, WRITE

PREFIX = "os_load-balancer_api"
ADMIN = "rule:load-balancer:admin"
READ_QUOTA = "rule:load-balancer:read-quota"
READ_QUOTA_GLOBAL = "rule:load-balancer:read-quota-global"
WRITE_QUOTA = "rule:load-balancer:write-quota"

# object: {action: (rule, HTTP method, path under /v2/lbaas)}
_OPERATIONS: dict[str, dict[str, tuple[str, str, str]]] = {
    "loadbalancer": {
        "get_all": (READ, "GET", "/loadbalancers"),
        "get_all-global": (READ_GLOBAL, "GET", "/loadbalancers"),
        "post": (WRITE, "POST", "/loadbalancers"),
        "get_one": (READ, "GET", "/loadbalancers/{loadbalancer_id}"),
        "put": (WRITE, "PUT", "/loadbalancers/{loadbalancer_id}"),
        "delete": (WRITE, "DELETE", "/loadbalancers/{loadbalancer_id}"),
        "get_stats": (READ, "GET", "/loadbalancers/{loadbalancer_id}/stats"),
        "get_status": (READ, "GET", "/loadbalancers/{loadbalancer_id}/status"),
        "put_failover": (ADMIN, "PUT", "/loadbalancers/{loadbalancer_id}/failover"),
    },
    "listener": {
        "get_all": (READ, "GET", "/listeners"),
        "get_all-global": (READ_GLOBAL, "GET", "/listeners"),
        "post": (WRITE, "POST", "/listeners"),
        "get_one": (READ, "GET", "/listeners/{listener_id}"),
        "put": (WRITE, "PUT", "/listeners/{listener_id}"),
        "delete": (WRITE, "DELETE", "/listeners/{listener_id}"),
        "get_stats": (READ, "GET", "/listeners/{listener_id}/stats"),
    },
    "l7policy": {
        "get_all": (READ, "GET", "/l7policies"),
        "get_all-global": (READ_GLOBAL, "GET", "/l7policies"),
        "post": (WRITE, "POST", "/l7policies"),
        "get_one": (READ, "GET", "/l7policies/{l7policy_id}"),
        "put": (WRITE, "PUT", "/l7policies/{l7policy_id}"),
        "delete": (WRITE, "DELETE", "/l7policies/{l7policy_id}"),
    },
    "l7rule": {
        "get_all": (READ, "GET", "/l7policies/{l7policy_id}/rules"),
        "post": (WRITE, "POST", "/l7policies/{l7policy_id}/rules"),
        "get_one": (READ, "GET", "/l7policies/{l7policy_id}/rules/{l7rule_id}"),
        "put": (WRITE, "PUT", "/l7policies/{l7policy_id}/rules/{l7rule_id}"),
        "delete": (WRITE, "DELETE", "/l7policies/{l7policy_id}/rules/{l7rule_id}"),
    },
    "pool": {
        "get_all": (READ, "GET", "/pools"),
        "get_all-global": (READ_GLOBAL, "GET", "/pools"),
        "post": (WRITE, "POST", "/pools"),
        "get_one": (READ, "GET", "/pools/{pool_id}"),
        "put": (WRITE, "PUT", "/pools/{pool_id}"),
        "delete": (WRITE, "DELETE", "/pools/{pool_id}"),
    },
    "member": {
        "get_all": (READ, "GET", "/pools/{pool_id}/members"),
        "post": (WRITE, "POST", "/pools/{pool_id}/members"),
        "put": (WRITE, "PUT", "/pools/{pool_id}/members/{member_id}"),
        "get_one": (READ, "GET", "/pools/{pool_id}/members/{member_id}"),
        "delete": (WRITE, "DELETE", "/pools/{pool_id}/members/{member_id}"),
    },
    "healthmonitor": {
        "get_all": (READ, "GET", "/healthmonitors"),
        "get_all-global": (READ_GLOBAL, "GET", "/healthmonitors"),
        "post": (WRITE, "POST", "/healthmonitors"),
        "get_one": (READ, "GET", "/healthmonitors/{healthmonitor_id}"),
        "put": (WRITE, "PUT", "/healthmonitors/{healthmonitor_id}"),
        "delete": (WRITE, "DELETE", "/healthmonitors/{healthmonitor_id}"),
    },
    "provider": {"get_all": (READ, "GET", "/providers")},
    "provider-flavor": {
        "get_all": (ADMIN, "GET", "/providers/{provider}/flavor_capabilities")},
    "provider-availability-zone": {
        "get_all": (ADMIN, "GET", "/providers/{provider}/availability_zone_capabilities")},
    "flavor-profile": {
        "get_all": (ADMIN, "GET", "/flavorprofiles"),
        "post": (ADMIN, "POST", "/flavorprofiles"),
        "get_one": (ADMIN, "GET", "/flavorprofiles/{flavorprofile_id}"),
        "put": (ADMIN, "PUT", "/flavorprofiles/{flavorprofile_id}"),
        "delete": (ADMIN, "DELETE", "/flavorprofiles/{flavorprofile_id}"),
    },
    "flavor": {
        "get_all": (READ, "GET", "/flavors"),
        "post": (ADMIN, "POST", "/flavors"),
        "get_one": (READ, "GET", "/flavors/{flavor_id}"),
        "put": (ADMIN, "PUT", "/flavors/{flavor_id}"),
        "delete": (ADMIN, "DELETE", "/flavors/{flavor_id}"),
    },
    "availability-zone": {"get_all": (READ, "GET", "/availabilityzones")},
    "availability-zone-profile": {"get_all": (ADMIN, "GET", "/availabilityzoneprofiles")},
    "quota": {
        "get_all": (READ_QUOTA, "GET", "/quotas"),
        "get_all-global": (READ_QUOTA_GLOBAL, "GET", "/quotas"),
        "get_defaults": (READ_QUOTA, "GET", "/quotas/defaults"),
        "get_one": (READ_QUOTA, "GET", "/quotas/{project_id}"),
        "put": (WRITE_QUOTA, "PUT", "/quotas/{project_id}"),
        "delete": (WRITE_QUOTA, "DELETE", "/quotas/{project_id}"),
    },
}


# Octavia's amphora API lives under /v2/octavia, not /v2/lbaas; the routes check these
# rules themselves (lbaas/server/api/v2/amphorae.py).
_AMPHORA_OPERATIONS: dict[str, tuple[str, str, str]] = {
    "get_all": (ADMIN, "GET", "/v2/octavia/amphorae"),
    "get_one": (ADMIN, "GET", "/v2/octavia/amphorae/{amphora_id}"),
    "put_failover": (ADMIN, "PUT", "/v2/octavia/amphorae/{amphora_id}/failover"),
}


def name(obj: str, action: str) -> str:
    return f"{PREFIX}:{obj}:{action}"


def global_rule(obj: str) -> str | None:
    """The rule that lets a list of ``obj`` show every project's, if it has one."""
    return name(obj, "get_all-global") if "get_all-global" in _OPERATIONS.get(obj, {}) \
        else None


def rules() -> list[policy.RuleDefault]:
    out: list[policy.RuleDefault] = []
    for obj, actions in _OPERATIONS.items():
        for action, (check, method, path) in actions.items():
            what = "every project's" if action.endswith("-global") else "a project's"
            out.append(policy.DocumentedRuleDefault(
                name=name(obj, action), check_str=check,
                description=f"{action} on {what} {obj}s",
                operations=[{"method": method, "path": f"/v2/lbaas{path}"}]))
    for action, (check, method, path) in _AMPHORA_OPERATIONS.items():
        out.append(policy.DocumentedRuleDefault(
            name=name("amphora", action), check_str=check,
            description=f"{action} on amphorae (the instances that run load balancers)",
            operations=[{"method": method, "path": path}]))
    return out
