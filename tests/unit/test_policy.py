"""The policy's defaults (lbaas/server/policies): who may do what, decided in-process by
the same Enforcer the server builds; a policy.yaml overrides them; the sample is current."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from oslo_config import cfg
from oslo_policy import generator

from lbaas.server import policies
from lbaas.server.context import Context, with_implied
from lbaas.server.policy import Policy

REPO = Path(__file__).parents[2]


def make_policy(policy_file: Path | None = None) -> Policy:
    """As the server builds it: from a config file's ``[oslo_policy] policy_file``."""
    args: list[str] = []
    if policy_file is not None:
        conf_file = policy_file.with_name("lbaas.conf")
        conf_file.write_text(f"[oslo_policy]\npolicy_file = {policy_file}\n")
        args = ["--config-file", str(conf_file)]
    conf = cfg.ConfigOpts()
    conf(args, project="lbaas-test", default_config_files=[], default_config_dirs=[])
    return Policy(conf)


def caller(project: str, *roles: str) -> Context:
    return Context(project_id=project, roles=with_implied(frozenset(roles)))


LB = "os_load-balancer_api:loadbalancer:"
READER, MEMBER = caller("a", "reader"), caller("a", "member")
ADMIN, OLD_ROLE = caller("admin", "admin"), caller("a", "load-balancer_member")


@pytest.mark.parametrize(("who", "rule", "project", "allowed"), [
    (READER, "get_one", "a", True), (READER, "get_all", "a", True),
    (READER, "post", "a", False), (READER, "delete", "a", False),
    (MEMBER, "post", "a", True), (MEMBER, "delete", "a", True), (MEMBER, "get_one", "b", False),
    (MEMBER, "delete", "b", False), (MEMBER, "get_all-global", "a", False),
    (MEMBER, "put_failover", "a", False),
    (ADMIN, "get_one", "b", True), (ADMIN, "delete", "b", True),
    (ADMIN, "get_all-global", "admin", True), (ADMIN, "put_failover", "b", True),
    (OLD_ROLE, "get_one", "a", False), (OLD_ROLE, "post", "a", False),
])
def test_octavias_new_defaults(who: Context, rule: str, project: str, allowed: bool) -> None:
    assert make_policy().allows(who, LB + rule, project) is allowed


def test_neutron_v1_rules_and_the_agent_rule() -> None:
    policy = make_policy()
    assert policy.allows(READER, "get_pool", "a")
    assert not policy.allows(READER, "create_pool", "a")
    assert policy.allows(MEMBER, "delete_vip", "a")
    assert not policy.allows(OLD_ROLE, "get_pool", "a")
    assert not policy.allows(MEMBER, "lbaas:agent", "a")
    assert policy.allows(caller("service", "service"), "lbaas:agent", "service")
    assert policy.allows(caller("service", "agent"), "lbaas:agent", "service")


def test_policy_yaml_brings_the_old_roles_back(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(
        '"load-balancer:read": "rule:context_is_admin or rule:project_reader or '
        '(role:load-balancer_member and project_id:%(project_id)s)"\n'
        '"load-balancer:write": "rule:context_is_admin or rule:project_member or '
        '(role:load-balancer_member and project_id:%(project_id)s)"\n')
    policy = make_policy(policy_file)
    assert policy.allows(OLD_ROLE, LB + "post", "a")
    assert policy.allows(OLD_ROLE, LB + "get_one", "a")
    assert not policy.allows(OLD_ROLE, LB + "get_one", "b")


def test_policy_sample_is_up_to_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What `oslopolicy-sample-generator --namespace lbaas` writes (make sample-config),
    # with the rules taken from the code rather than from the installed entry point.
    monkeypatch.setattr(generator, "get_policies_dict",
                        lambda namespaces: {"lbaas": policies.list_rules()})
    out = tmp_path / "policy.yaml.sample"
    generator._generate_sample(["lbaas"], str(out))
    assert out.read_text() == (REPO / "etc" / "policy.yaml.sample").read_text(), \
        "policy defaults changed: run `make sample-config` and commit etc/policy.yaml.sample"


def test_entry_points_name_the_rules_and_the_enforcer() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    eps = project["entry-points"]
    assert eps["oslo.policy.policies"] == {"lbaas": "lbaas.server.policies:list_rules"}
    assert eps["oslo.policy.enforcer"] == {"lbaas": "lbaas.server.policy:get_enforcer"}
