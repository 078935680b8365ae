"""Where each Octavia load balancer lives: neutron-lbaas v2's agent scheduler routes
(lbaas_agent_schedulerv2, python-neutronclient's paths), admin only, Neutron's errors:
``/v2.0/agents/{id}/agent-loadbalancers`` and
``/v2.0/lbaas/loadbalancers/{id}/loadbalancer-hosting-agent``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.builders import (
    FakeAgent,
    assert_error,
    hosting_agent,
    make_network,
    make_pool,
    make_subnet,
    make_v2_lb,
    wait_for,
)
from tests.api.conftest import ServerFactory
from tests.helpers.server import Api, ServerProcess

DOWN_TIME = 2
TOKENS = [("admin-token", "admin", "admin"), ("alice-token", "project-a", "member")]


def agent_lbs(api: Api, agent: FakeAgent) -> list[dict[str, Any]]:
    resp = api.get(f"/agents/{agent.record['id']}/agent-loadbalancers")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["loadbalancers"])


def test_hosting_agent_is_the_agent_as_agents_shows_it(api: Api, agent: FakeAgent,
                                                       physnet: str) -> None:
    lb = make_v2_lb(api, physnet)
    shown = hosting_agent(api, lb["id"])
    assert shown == api.get(f"/agents/{agent.record['id']}").json()["agent"]


def test_agent_lists_its_octavia_load_balancers_only(api: Api, agent: FakeAgent,
                                                     physnet: str) -> None:
    first = make_v2_lb(api, physnet)
    second = make_v2_lb(api, physnet, cidr="10.2.0.0/24")
    make_pool(api, physnet=physnet)  # a v1 pool: /loadbalancer-pools lists it, not this
    listed = agent_lbs(api, agent)
    assert [lb["id"] for lb in listed] == [first["id"], second["id"]]
    # Octavia's body for each, as GET /v2/lbaas/loadbalancers/{id} shows it.
    shown = api.get(f"/v2/lbaas/loadbalancers/{first['id']}").json()["loadbalancer"]
    assert listed[0] == shown


def test_unbound_load_balancer_has_a_null_agent(api: Api, physnet: str) -> None:
    lb = make_v2_lb(api, physnet)  # no agent maps physnet
    assert hosting_agent(api, lb["id"]) is None


def test_agent_without_load_balancers_lists_none(api: Api, agent: FakeAgent) -> None:
    assert agent_lbs(api, agent) == []


def test_missing_ids_are_neutron_404s(api: Api, agent: FakeAgent, physnet: str) -> None:
    err = assert_error(api.get("/lbaas/loadbalancers/nope/loadbalancer-hosting-agent"), 404)
    assert err["type"] == "EntityNotFound"
    assert "nope" in err["message"]
    err = assert_error(api.get("/agents/nope/agent-loadbalancers"), 404)
    assert err["type"] == "AgentNotFound"
    # A v1 pool is a load balancer of the same model, but not one of Octavia's.
    pool = make_pool(api, physnet=physnet)
    err = assert_error(api.get(f"/lbaas/loadbalancers/{pool['id']}"
                               "/loadbalancer-hosting-agent"), 404)
    assert err["type"] == "EntityNotFound"


# -- admin only ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    srv = server_factory(backend, auth_strategy="token", tokens=TOKENS)
    yield srv
    srv.cleanup()


def test_only_admins_see_the_bindings(token_server: ServerProcess, physnet: str) -> None:
    with Api(token_server.url, token="admin-token") as admin, \
            Api(token_server.url, token="alice-token") as alice:
        agent = FakeAgent(admin, [physnet]).register()
        # Only an admin names a physical network: the network is made for project-a.
        net = make_network(admin, tenant_id="project-a",
                           **{"provider:physical_network": physnet})
        subnet = make_subnet(admin, net["id"], cidr="10.3.0.0/24", tenant_id="project-a")
        resp = alice.post("/v2/lbaas/loadbalancers",
                          {"loadbalancer": {"vip_subnet_id": subnet["id"]}})
        assert resp.status_code == 201, resp.text
        lb_id = resp.json()["loadbalancer"]["id"]
        assert hosting_agent(admin, lb_id)["host"] == agent.host  # type: ignore[index]
        assert [lb["id"] for lb in agent_lbs(admin, agent)] == [lb_id]
        # Even the load balancer's own project: Neutron's policy, admin_only.
        path = f"/lbaas/loadbalancers/{lb_id}/loadbalancer-hosting-agent"
        err = assert_error(alice.get(path), 403)
        assert err["type"] in ("Forbidden", "PolicyNotAuthorized")
        assert_error(alice.get(f"/agents/{agent.record['id']}/agent-loadbalancers"), 403)
        with Api(token_server.url) as anonymous:
            assert_error(anonymous.get(path), 401)


# -- after a failover ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ha_server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    srv = server_factory(backend, conf={"agent": {"agent_down_time": DOWN_TIME}})
    yield srv
    srv.cleanup()


def test_after_a_failover_the_answer_names_the_new_host(ha_server: ServerProcess,
                                                        physnet: str) -> None:
    with Api(ha_server.url) as ha:
        dying = FakeAgent(ha, [physnet]).register()
        lb = make_v2_lb(ha, physnet)
        assert hosting_agent(ha, lb["id"])["host"] == dying.host  # type: ignore[index]
        survivor = FakeAgent(ha, [physnet]).register()

        def moved() -> bool:
            assert survivor.heartbeat().status_code in (200, 201)
            agent = hosting_agent(ha, lb["id"])
            return agent is not None and agent["host"] == survivor.host

        # dying sends nothing more: dead after DOWN_TIME, moved by the next pass.
        wait_for(moved, timeout=DOWN_TIME + 8)
        assert hosting_agent(ha, lb["id"])["alive"] is True  # type: ignore[index]
        assert [x["id"] for x in agent_lbs(ha, survivor)] == [lb["id"]]
        assert agent_lbs(ha, dying) == []
