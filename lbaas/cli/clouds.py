"""``--os-cloud NAME``: the connection settings of a cloud in ``clouds.yaml``, the file
openstacksdk and the ``openstack`` client read, found where they find it.

What the lbaas client takes from a cloud (openstacksdk's keys):

    clouds:
      lbaas-prod:
        auth_type: admin_token        # a token and an endpoint, no Keystone
        auth:
          endpoint: https://lbaas.example.com:9696
          token: 3f1c...e9
        cacert: /etc/lbaas/ca.pem     # or verify: false

``network_endpoint_override`` (the v1 API is Neutron's network service) is taken for the
endpoint too, and ``auth.project_id`` (or ``project_id``) for the noauth project. A cloud
whose ``auth_type`` needs Keystone (``password``, ``v3password``, ...) is refused with a
line that says so: this client sends tokens, it does not get them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# openstacksdk's order: the first file that exists is read.
SEARCH_PATH = ("clouds.yaml", "~/.config/openstack/clouds.yaml",
               "/etc/openstack/clouds.yaml")
TOKEN_AUTH_TYPES = (None, "admin_token", "none", "noauth")


class CloudError(Exception):
    """A cloud that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Cloud:
    url: str | None = None
    token: str | None = None
    project_id: str | None = None
    cacert: str | None = None
    insecure: bool = False


def config_file() -> Path | None:
    explicit = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    for candidate in SEARCH_PATH:
        path = Path(candidate).expanduser()
        if path.is_file():
            return path
    return None


def load(name: str, path: Path | None = None) -> Cloud:
    path = path or config_file()
    if path is None:
        raise CloudError(f"--os-cloud {name}: no clouds.yaml (looked in "
                         f"{', '.join(SEARCH_PATH)}; OS_CLIENT_CONFIG_FILE names another)")
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CloudError(f"{path}: {' '.join(str(exc).split())}") from None
    clouds = document.get("clouds") if isinstance(document, dict) else None
    entry = clouds.get(name) if isinstance(clouds, dict) else None
    if not isinstance(entry, dict):
        known = ", ".join(clouds) if isinstance(clouds, dict) else "none"
        raise CloudError(f"{path}: no cloud '{name}' (clouds: {known})")
    auth = entry.get("auth") or {}
    if not isinstance(auth, dict):
        raise CloudError(f"{path}: cloud '{name}': auth is not a mapping")
    auth_type = entry.get("auth_type")
    if auth_type not in TOKEN_AUTH_TYPES:
        raise CloudError(f"{path}: cloud '{name}': auth_type {auth_type} needs Keystone, "
                         "which the lbaas client does not speak; use auth_type "
                         "admin_token with auth.token and auth.endpoint")
    verify = entry.get("verify", True)
    return Cloud(url=_text(entry.get("network_endpoint_override") or auth.get("endpoint")),
                 token=_text(auth.get("token")),
                 project_id=_text(auth.get("project_id") or entry.get("project_id")),
                 cacert=_text(entry.get("cacert")),
                 insecure=verify is False or str(verify).lower() == "false")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
