"""The policy on v2 routes beyond the role matrix of tests/keystone: which projects a list
shows is the policy's decision (``<object>:get_all-global``), as in Octavia (by default
only admins see every project's objects; a ``policy.yaml`` granting
``load-balancer:read-global`` to another role widens its lists too), and the L7 routes
are guarded like the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.builders import FakeAgent, make_network, make_subnet
from tests.helpers.server import Api

TOKENS = [("admin-token", "admin", "admin"), ("alice-token", "project-a", "member"),
          ("bob-token", "project-b", "member"),
          ("watcher-token", "project-w", "reader,load-balancer_global_observer"),
          ("carol-token", "project-a", "reader"), ("agent-token", "service", "agent")]
OBSERVER_POLICY = ('"load-balancer:read-global": '
                   '"rule:context_is_admin or role:load-balancer_global_observer"\n')


COLLECTIONS = ("loadbalancers", "listeners", "pools", "healthmonitors", "l7policies")


def _lists(url: str, token: str) -> dict[str, set[str]]:
    """The names in each v2 list the token's caller gets."""
    with Api(url, token=token) as api:
        out = {}
        for collection in COLLECTIONS:
            resp = api.get(f"/v2/lbaas/{collection}")
            assert resp.status_code == 200, resp.text
            out[collection] = {o["name"] for o in resp.json()[collection]}
        return out


def _populate(url: str, physnet: str = "physnet-policy") -> None:
    """A load balancer (with a listener, pool and monitor) in each of two projects."""
    with Api(url, token="admin-token") as admin:
        net = make_network(admin, shared=True, **{"provider:physical_network": physnet})
        subnet = make_subnet(admin, net["id"], cidr="10.137.0.0/24")
    for token, name in (("alice-token", "a"), ("bob-token", "b")):
        with Api(url, token=token) as api:
            resp = api.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
                "name": name, "vip_subnet_id": subnet["id"], "listeners": [{
                    "name": name, "protocol": "HTTP", "protocol_port": 80,
                    "default_pool": {"name": name, "protocol": "HTTP",
                                     "lb_algorithm": "ROUND_ROBIN",
                                     "healthmonitor": {"name": name, "type": "TCP",
                                                       "delay": 5, "timeout": 3,
                                                       "max_retries": 3}}}]}})
            assert resp.status_code == 201, resp.text


def _deploy_all(url: str, physnet: str) -> None:
    """An agent of the physical network realizes every load balancer waiting for it."""
    with Api(url, token="agent-token") as service:
        agent = FakeAgent(service, [physnet]).register()
        for lb_id in agent.ready_devices():
            agent.deployed(lb_id)


@pytest.mark.parametrize("widened", [False, True], ids=["defaults", "policy.yaml"])
def test_who_sees_every_projects_objects_is_the_policys_decision(
        backend: str, server_factory: Any, tmp_path: Path, physnet: str,
        widened: bool) -> None:
    conf: dict[str, Any] = {"quotas": {"quota_loadbalancer": -1}}
    if widened:
        policy_file = tmp_path / "policy.yaml"
        policy_file.write_text(OBSERVER_POLICY)
        conf["oslo_policy"] = {"policy_file": policy_file}
    srv = server_factory(backend, auth_strategy="token", tokens=TOKENS, conf=conf)
    try:
        _populate(srv.url, physnet)
        _deploy_all(srv.url, physnet)
        for token, name in (("alice-token", "a"), ("bob-token", "b")):
            with Api(srv.url, token=token) as api:
                [listener] = api.get("/v2/lbaas/listeners").json()["listeners"]
                resp = api.post("/v2/lbaas/l7policies", {"l7policy": {
                    "name": name, "listener_id": listener["id"], "action": "REJECT"}})
                assert resp.status_code == 201, resp.text
        everything = {c: {"a", "b"} for c in COLLECTIONS}
        assert _lists(srv.url, "admin-token") == everything
        assert _lists(srv.url, "alice-token") == {c: {"a"} for c in everything}
        # The watcher's own project has nothing; the policy decides whether it sees the
        # others'.
        assert _lists(srv.url, "watcher-token") == (
            everything if widened else {c: set() for c in everything})
    finally:
        srv.cleanup()


def test_l7_routes_answer_to_the_policy(backend: str, server_factory: Any,
                                        physnet: str) -> None:
    """Another project's L7 policy and rule are a 403, as every v2 object; a reader of
    the project reads them but may not change them."""
    srv = server_factory(backend, auth_strategy="token", tokens=TOKENS,
                         conf={"quotas": {"quota_loadbalancer": -1}})
    try:
        _populate(srv.url, physnet)
        _deploy_all(srv.url, physnet)
        with Api(srv.url, token="alice-token") as alice, \
                Api(srv.url, token="bob-token") as bob, \
                Api(srv.url, token="carol-token") as carol:
            [listener] = alice.get("/v2/lbaas/listeners").json()["listeners"]
            resp = alice.post("/v2/lbaas/l7policies", {"l7policy": {
                "listener_id": listener["id"], "action": "REJECT", "rules": [
                    {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}]}})
            assert resp.status_code == 201, resp.text
            policy_id = resp.json()["l7policy"]["id"]
            rule_id = resp.json()["l7policy"]["rules"][0]["id"]
            for path in (f"/v2/lbaas/l7policies/{policy_id}",
                         f"/v2/lbaas/l7policies/{policy_id}/rules",
                         f"/v2/lbaas/l7policies/{policy_id}/rules/{rule_id}"):
                assert carol.get(path).status_code == 200, path
                resp = bob.get(path)
                assert resp.status_code == 403, (path, resp.text)
                assert resp.json()["faultstring"] == \
                    "Policy does not allow this request to be performed."
            assert bob.request("DELETE", f"/v2/lbaas/l7policies/{policy_id}"
                               ).status_code == 403
            assert {p["id"] for p in bob.get("/v2/lbaas/l7policies").json()[
                "l7policies"]} == set()
            resp = carol.request("PUT", f"/v2/lbaas/l7policies/{policy_id}",
                                 {"l7policy": {"name": "mine"}})
            assert resp.status_code == 403, resp.text
            assert alice.get(f"/v2/lbaas/l7policies/{policy_id}").json()[
                "l7policy"]["name"] == ""
    finally:
        srv.cleanup()


def test_agent_and_quota_routes_follow_neutrons_rules_and_a_policy_yaml(
        backend: str, server_factory: Any, tmp_path: Path) -> None:
    """Agents and other projects' quotas are an admin's by default (``get_agent``,
    ``get_quota``...); a ``policy.yaml`` can open agents to readers, as in Neutron."""
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"get_agent": "rule:admin_only or role:reader"\n')
    defaults = server_factory(backend, auth_strategy="token", tokens=TOKENS)
    opened = server_factory(backend, auth_strategy="token", tokens=TOKENS,
                            conf={"oslo_policy": {"policy_file": policy_file}})
    try:
        for srv, carol_sees_agents in ((defaults, False), (opened, True)):
            with Api(srv.url, token="carol-token") as carol, \
                    Api(srv.url, token="admin-token") as admin:
                assert admin.get("/v2.0/agents").status_code == 200
                resp = carol.get("/v2.0/agents")
                assert resp.status_code == (200 if carol_sees_agents else 403), resp.text
                # Changing an agent stays an admin's (update_agent), whatever get_agent
                # says.
                resp = carol.request("PUT", "/v2.0/agents/x", {"agent": {
                    "admin_state_up": False}})
                assert resp.status_code == 403, resp.text
                assert carol.get("/v2.0/quotas/project-a").status_code == 200
                assert carol.get("/v2.0/quotas/project-b").status_code == 403
                assert carol.get("/v2.0/quotas").status_code == 403
                resp = carol.request("PUT", "/v2.0/quotas/project-a",
                                     {"quota": {"pool": 5}})
                assert resp.status_code == 403, resp.text
                assert admin.request("PUT", "/v2.0/quotas/project-a",
                                     {"quota": {"pool": 5}}).status_code == 200
    finally:
        defaults.cleanup()
        opened.cleanup()
