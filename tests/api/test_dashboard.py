"""The dashboard's page and its read-only overview (``/ui``, ``/ui/api/overview``): the
page opens without a token and loads nothing from elsewhere; the overview keeps the API's
rules (a token, a tenant's own project only, hosts and agents for administrators)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.builders import (
    FakeAgent,
    assert_error,
    make_member,
    make_network,
    make_pool,
    make_subnet,
)
from tests.helpers.server import Api, ServerProcess

TOKENS = [("admin-token", "admin", "admin"), ("alice-token", "project-a", "member"),
          ("bob-token", "project-b", "member"), ("agent-token", "service", "agent")]


@pytest.fixture(scope="module")
def token_server(backend: str, server_factory: Any) -> Iterator[ServerProcess]:
    srv = server_factory(backend, auth_strategy="token", tokens=TOKENS,
                         conf={"quotas": {"quota_pool": -1, "quota_vip": -1}})
    yield srv
    srv.cleanup()


def _client(server: ServerProcess, token: str | None) -> Iterator[Api]:
    with Api(server.url, token=token) as api:
        yield api


@pytest.fixture
def admin(token_server: ServerProcess) -> Iterator[Api]:
    yield from _client(token_server, "admin-token")


@pytest.fixture
def alice(token_server: ServerProcess) -> Iterator[Api]:
    yield from _client(token_server, "alice-token")


@pytest.fixture
def bob(token_server: ServerProcess) -> Iterator[Api]:
    yield from _client(token_server, "bob-token")


def _get_overview(api: Api, token: str | None) -> Any:
    # Not under /v2.0: the client's own paths are.
    return api.client.get("/ui/api/overview",
                          headers={"X-Auth-Token": token} if token else {})


def _overview(api: Api) -> dict[str, Any]:
    resp = _get_overview(api, api.token)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _by_id(overview: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lb["id"]: lb for lb in overview["loadbalancers"]}


def test_page_and_its_assets_open_without_a_token_and_load_nothing_from_elsewhere(
        token_server: ServerProcess) -> None:
    with Api(token_server.url) as anonymous:
        page = anonymous.client.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        # Only its own script and styles run: no CDN, nothing inline.
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        for asset in ("/static/ui/dashboard.js", "/static/ui/dashboard.css"):
            assert asset in page.text
            assert anonymous.client.get(asset).status_code == 200
        assert "//" not in page.text.replace("<!DOCTYPE html>", "").split("<body>")[0]


def test_overview_needs_a_valid_token(token_server: ServerProcess) -> None:
    with Api(token_server.url) as anonymous:
        assert_error(_get_overview(anonymous, None), 401)
        assert_error(_get_overview(anonymous, "no-such-token"), 401)


def test_tenant_sees_its_own_v1_and_v2_load_balancers_without_hosts(
        token_server: ServerProcess, admin: Api, alice: Api, bob: Api,
        physnet: str) -> None:
    net = make_network(admin, tenant_id="project-a", **{"provider:physical_network": physnet})
    subnet = make_subnet(alice, net["id"], cidr="10.98.10.0/24")
    with Api(token_server.url, token="agent-token") as agent_api:
        agent = FakeAgent(agent_api, [physnet]).register()
        v1 = make_pool(alice, subnet["id"])
        member = make_member(alice, v1["id"], address="10.98.10.20", weight=7)
        agent.update_status("member", member["id"], "ERROR", "backend refused the check")
    resp = alice.post("/v2/lbaas/loadbalancers", {"loadbalancer": {
        "name": "alice-v2", "vip_subnet_id": subnet["id"]}})
    assert resp.status_code == 201, resp.text
    v2 = resp.json()["loadbalancer"]
    bobs = make_pool(bob, make_subnet(bob, cidr="10.98.11.0/24")["id"])

    seen = _overview(alice)
    assert seen["caller"] == {"project_id": "project-a", "is_admin": False}
    lbs = _by_id(seen)
    assert v1["id"] in lbs and v2["id"] in lbs and bobs["id"] not in lbs
    assert {lb["project_id"] for lb in seen["loadbalancers"]} == {"project-a"}
    assert lbs[v1["id"]]["api_version"] == 1 and lbs[v2["id"]]["api_version"] == 2
    assert lbs[v2["id"]]["name"] == "alice-v2"
    [shown] = lbs[v1["id"]]["pools"][0]["members"]
    assert (shown["address"], shown["weight"]) == ("10.98.10.20", 7)
    assert shown["status_description"] == "backend refused the check"
    assert shown["provisioning_status"] == "ERROR"
    # Which host serves it, and the agents, are an administrator's business.
    assert lbs[v1["id"]]["host"] is None and seen["agents"] == []
    assert agent.host not in str(seen)


def test_admin_sees_every_project_the_serving_host_and_heartbeat_age(
        token_server: ServerProcess, admin: Api, alice: Api, bob: Api,
        physnet: str) -> None:
    net = make_network(admin, tenant_id="project-a", **{"provider:physical_network": physnet})
    with Api(token_server.url, token="agent-token") as agent_api:
        agent = FakeAgent(agent_api, [physnet]).register()
        alices = make_pool(alice, make_subnet(alice, net["id"], cidr="10.98.12.0/24")["id"])
    bobs = make_pool(bob, make_subnet(bob, cidr="10.98.13.0/24")["id"])

    seen = _overview(admin)
    assert seen["caller"]["is_admin"] is True
    lbs = _by_id(seen)
    assert lbs[alices["id"]]["project_id"] == "project-a"
    assert lbs[bobs["id"]]["project_id"] == "project-b"
    assert lbs[alices["id"]]["host"] == agent.host
    assert lbs[alices["id"]]["agent_alive"] is True
    [record] = [a for a in seen["agents"] if a["host"] == agent.host]
    assert record["alive"] is True and 0 <= record["heartbeat_age"] < 60
