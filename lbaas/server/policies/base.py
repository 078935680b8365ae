"""The rules the others are made of: Keystone's standard roles within the token's
project (``reader`` reads, ``member`` writes) and ``admin`` across projects.

These are current Octavia's defaults. Octavia's older roles (``load-balancer_observer``,
``load-balancer_member``, ``load-balancer_admin``, ...) grant nothing here; a
``policy.yaml`` that names them in these rules brings them back, as Octavia's sample
files do (docs/keystone.md has an example).
"""

from __future__ import annotations

from oslo_policy import policy

ADMIN = "rule:context_is_admin"
READ = "rule:load-balancer:read"
READ_GLOBAL = "rule:load-balancer:read-global"
WRITE = "rule:load-balancer:write"
V1_READ = "rule:admin_or_project_reader"
V1_WRITE = "rule:admin_or_project_member"
V1_ADMIN = "rule:admin_only"


def rules() -> list[policy.RuleDefault]:
    return [
        policy.RuleDefault("context_is_admin", "role:admin",
                           "Who is an administrator: sees and changes every project's "
                           "objects."),
        policy.RuleDefault("project_reader", "role:reader and project_id:%(project_id)s",
                           "A reader of the object's project."),
        policy.RuleDefault("project_member", "role:member and project_id:%(project_id)s",
                           "A member of the object's project."),
        # Octavia's API rules (v2).
        policy.RuleDefault("load-balancer:read", f"{ADMIN} or rule:project_reader",
                           "Read the v2 objects of a project."),
        policy.RuleDefault("load-balancer:read-global", ADMIN,
                           "Read the v2 objects of every project."),
        policy.RuleDefault("load-balancer:write", f"{ADMIN} or rule:project_member",
                           "Create, change and delete the v2 objects of a project."),
        policy.RuleDefault("load-balancer:admin", ADMIN,
                           "Operator-only v2 actions (failover, flavors, profiles)."),
        policy.RuleDefault("load-balancer:read-quota", f"{ADMIN} or rule:project_reader",
                           "Read a project's quota."),
        policy.RuleDefault("load-balancer:read-quota-global", ADMIN,
                           "Read every project's quota."),
        policy.RuleDefault("load-balancer:write-quota", ADMIN, "Change a project's quota."),
        # Neutron's rules (v1). ``tenant_id`` is the object's project.
        policy.RuleDefault("admin_only", ADMIN, "Neutron's admin_only."),
        policy.RuleDefault("owner", "tenant_id:%(tenant_id)s",
                           "The object belongs to the token's project."),
        policy.RuleDefault("admin_or_owner", f"{ADMIN} or rule:owner",
                           "Neutron's admin_or_owner: any role in the object's project. "
                           "Not used by default (readers would write); name it in a "
                           "policy.yaml for Neutron's old behaviour."),
        policy.RuleDefault("admin_or_project_reader", f"{ADMIN} or (role:reader and "
                                                      "rule:owner)",
                           "A v1 read: a reader of the object's project, or an admin."),
        policy.RuleDefault("admin_or_project_member", f"{ADMIN} or (role:member and "
                                                      "rule:owner)",
                           "A v1 change: a member of the object's project, or an admin."),
    ]
