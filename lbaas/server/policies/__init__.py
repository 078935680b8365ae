"""The policy defaults, in code (oslo.policy): what each role may do.

``list_rules`` is the ``oslo.policy.policies`` entry point, so
``oslopolicy-sample-generator --namespace lbaas`` writes every rule with its default and
description (docs/keystone.md). An operator overrides any of them in ``policy.yaml``
(``[oslo_policy] policy_file``).
"""

from __future__ import annotations

from oslo_policy import policy

from lbaas.server.policies import agent, base, key_manager, neutron, octavia


def list_rules() -> list[policy.RuleDefault]:
    return [*base.rules(), *octavia.rules(), *neutron.rules(), *agent.rules(),
            *key_manager.rules()]
