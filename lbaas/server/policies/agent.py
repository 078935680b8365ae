"""The agent API (/agent/v1, /agent/v2): for the lbaas agents' own service users."""

from __future__ import annotations

from oslo_policy import policy

AGENT = "lbaas:agent"


def rules() -> list[policy.RuleDefault]:
    return [policy.RuleDefault(
        AGENT, "role:service or role:agent or rule:context_is_admin",
        "Speak the agent API (heartbeats, logical devices, status and stats). Keystone's "
        "'service' role, or 'agent' in a tokens file.")]
