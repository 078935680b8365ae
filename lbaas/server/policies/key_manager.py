"""The key manager's rules (/key-manager/v1), by Barbican's names.

The target is always the caller's own project: secrets and containers are only ever
seen by their project (lbaas/server/plugin/key_manager.py), an admin of another project
included, as in Barbican. Reading a payload is its own rule (``secret:decrypt``), as in
Barbican, so that a reader can be kept to the metadata by a policy.yaml.
"""

from __future__ import annotations

from oslo_policy import policy

READ = "rule:context_is_admin or rule:project_reader"
WRITE = "rule:context_is_admin or rule:project_member"

SECRETS_POST = "secrets:post"
SECRETS_GET = "secrets:get"
SECRET_GET = "secret:get"
SECRET_DECRYPT = "secret:decrypt"
SECRET_DELETE = "secret:delete"
CONTAINERS_POST = "containers:post"
CONTAINERS_GET = "containers:get"
CONTAINER_GET = "container:get"
CONTAINER_DELETE = "container:delete"

_RULES = (
    (SECRETS_POST, WRITE, "POST", "/secrets", "Store a secret."),
    (SECRETS_GET, READ, "GET", "/secrets", "List the project's secrets (metadata)."),
    (SECRET_GET, READ, "GET", "/secrets/{secret-id}", "Read a secret's metadata."),
    (SECRET_DECRYPT, WRITE, "GET", "/secrets/{secret-id}/payload",
     "Read a secret's payload."),
    (SECRET_DELETE, WRITE, "DELETE", "/secrets/{secret-id}", "Delete a secret."),
    (CONTAINERS_POST, WRITE, "POST", "/containers", "Create a container."),
    (CONTAINERS_GET, READ, "GET", "/containers", "List the project's containers."),
    (CONTAINER_GET, READ, "GET", "/containers/{container-id}", "Read a container."),
    (CONTAINER_DELETE, WRITE, "DELETE", "/containers/{container-id}",
     "Delete a container."),
)


def rules() -> list[policy.RuleDefault]:
    return [policy.DocumentedRuleDefault(
        name=rule, check_str=check, description=description,
        operations=[{"method": method, "path": f"/key-manager/v1{path}"}])
        for rule, check, method, path, description in _RULES]
