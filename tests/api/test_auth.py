"""auth_strategy = token: tokens, roles and tenant isolation between two projects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.builders import (
    FakeAgent,
    assert_error,
    associate,
    make_member,
    make_monitor,
    make_network,
    make_pool,
    make_subnet,
    make_vip,
)
from tests.helpers.server import COLLECTIONS, Api, ServerProcess

TOKENS = [("admin-token", "admin", "admin"), ("alice-token", "project-a", "member"),
          ("bob-token", "project-b", "member"), ("agent-token", "service", "agent")]


@pytest.fixture(scope="module")
def token_server(backend: str, server_factory: Any) -> Iterator[ServerProcess]:
    # Two fixed projects do everything here: no quota may get in the way.
    srv = server_factory(backend, auth_strategy="token", tokens=TOKENS,
                         conf={"quotas": {"quota_pool": -1, "quota_vip": -1}})
    yield srv
    srv.cleanup()


def client(server: ServerProcess, token: str | None) -> Iterator[Api]:
    with Api(server.url, token=token) as api:
        yield api


@pytest.fixture
def admin(token_server: ServerProcess) -> Iterator[Api]:
    yield from client(token_server, "admin-token")


@pytest.fixture
def alice(token_server: ServerProcess) -> Iterator[Api]:
    yield from client(token_server, "alice-token")


@pytest.fixture
def bob(token_server: ServerProcess) -> Iterator[Api]:
    yield from client(token_server, "bob-token")


@pytest.fixture
def anonymous(token_server: ServerProcess) -> Iterator[Api]:
    yield from client(token_server, None)


@pytest.fixture
def alice_pool(alice: Api) -> dict:
    return make_pool(alice, make_subnet(alice, cidr="10.110.0.0/24")["id"])


# -- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/lb/pools", "/networks", "/agents",
                                  "/agent/v1/hosts/h/ready_devices"])
def test_missing_token_is_401(anonymous: Api, path: str) -> None:
    assert_error(anonymous.get(path), 401)


@pytest.mark.parametrize("path", ["/lb/pools", "/lb/vips", "/agent/v1/hosts/h/ready_devices"])
def test_unknown_token_is_401(anonymous: Api, path: str) -> None:
    assert_error(anonymous.get(path, token="no-such-token"), 401)


def test_project_header_means_nothing_in_token_mode(alice: Api, bob: Api,
                                                    alice_pool: dict) -> None:
    resp = bob.get(f"/lb/pools/{alice_pool['id']}", project="project-a")
    assert_error(resp, 404)


def test_objects_belong_to_the_callers_project(alice: Api, alice_pool: dict) -> None:
    assert alice_pool["tenant_id"] == "project-a"
    member = make_member(alice, alice_pool["id"])
    assert member["tenant_id"] == "project-a"


def test_non_admin_cannot_create_for_another_project(alice: Api) -> None:
    resp = alice.post("/networks", {"network": {"name": "x", "tenant_id": "project-b"}})
    assert resp.status_code in (400, 403), resp.text
    assert_error(resp, resp.status_code)
    # Naming its own project is fine.
    assert make_network(alice, tenant_id="project-a")["tenant_id"] == "project-a"


def test_admin_creates_for_another_project(admin: Api, alice: Api) -> None:
    net = make_network(admin, tenant_id="project-a")
    assert net["tenant_id"] == "project-a"
    assert alice.show("network", net["id"])["id"] == net["id"]


# -- isolation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["pool", "member", "health_monitor", "vip", "network",
                                      "subnet", "port"])
def test_other_projects_objects_are_404(alice: Api, bob: Api, alice_pool: dict,
                                        resource: str) -> None:
    objs = {
        "pool": lambda: alice_pool,
        "member": lambda: make_member(alice, alice_pool["id"]),
        "health_monitor": lambda: make_monitor(alice),
        "vip": lambda: make_vip(alice, alice_pool),
        "network": lambda: make_network(alice),
        "subnet": lambda: alice.show("subnet", alice_pool["subnet_id"]),
        "port": lambda: alice.create("port", network_id=alice.show(
            "subnet", alice_pool["subnet_id"])["network_id"]),
    }
    obj = objs[resource]()
    path = f"{COLLECTIONS[resource]}/{obj['id']}"
    assert_error(bob.get(path), 404)
    change = {"member": {"weight": 2}, "health_monitor": {"max_retries": 2}}.get(
        resource, {"name": "mine now"})
    assert_error(bob.put(path, {resource: change}), 404)
    assert_error(bob.delete(path), 404)
    assert obj["id"] not in [o["id"] for o in bob.list(resource)]
    assert alice.get(path).status_code == 200


def test_other_projects_pool_stats_and_agent_views_are_404(bob: Api, alice_pool: dict) -> None:
    assert_error(bob.get(f"/lb/pools/{alice_pool['id']}/stats"), 404)
    hm = make_monitor(bob)
    assert_error(associate(bob, alice_pool["id"], hm["id"]), 404)


def test_cannot_attach_to_another_projects_pool(alice: Api, bob: Api,
                                                alice_pool: dict) -> None:
    resp = bob.post("/lb/members", {"member": {"pool_id": alice_pool["id"],
                                               "address": "10.110.0.5", "protocol_port": 80}})
    assert_error(resp, 404)
    hm = make_monitor(bob)
    assert_error(associate(bob, alice_pool["id"], hm["id"]), 404)
    bob_subnet = make_subnet(bob, cidr="10.111.0.0/24")
    resp = bob.post("/lb/vips", {"vip": {"pool_id": alice_pool["id"], "protocol": "HTTP",
                                         "protocol_port": 80, "subnet_id": bob_subnet["id"]}})
    assert_error(resp, 404)
    # Nothing was attached.
    shown = alice.show("pool", alice_pool["id"])
    assert (shown["members"], shown["health_monitors"], shown["vip_id"]) == ([], [], None)


def test_cannot_move_a_member_into_another_projects_pool(alice: Api, bob: Api,
                                                         alice_pool: dict) -> None:
    bob_pool = make_pool(bob, make_subnet(bob, cidr="10.112.0.0/24")["id"])
    member = make_member(bob, bob_pool["id"])
    resp = bob.put(f"/lb/members/{member['id']}", {"member": {"pool_id": alice_pool["id"]}})
    assert_error(resp, 404)


def test_cannot_associate_another_projects_monitor(alice: Api, bob: Api,
                                                   alice_pool: dict) -> None:
    bob_hm = make_monitor(bob)
    assert_error(associate(alice, alice_pool["id"], bob_hm["id"]), 404)


def test_cannot_use_another_projects_subnet(alice: Api, bob: Api, alice_pool: dict) -> None:
    body = {"subnet_id": alice_pool["subnet_id"], "protocol": "HTTP",
            "lb_method": "ROUND_ROBIN"}
    assert_error(bob.post("/lb/pools", {"pool": body}), 404)
    bob_pool = make_pool(bob, make_subnet(bob, cidr="10.113.0.0/24")["id"])
    resp = bob.post("/lb/vips", {"vip": {"pool_id": bob_pool["id"], "protocol": "HTTP",
                                         "protocol_port": 80,
                                         "subnet_id": alice_pool["subnet_id"]}})
    assert_error(resp, 404)
    net_id = alice.show("subnet", alice_pool["subnet_id"])["network_id"]
    assert_error(bob.post("/subnets", {"subnet": {"network_id": net_id, "ip_version": 4,
                                                  "cidr": "10.114.0.0/24"}}), 404)
    assert_error(bob.post("/ports", {"port": {"network_id": net_id}}), 404)


def test_shared_network_subnet_usable_by_others(admin: Api, alice: Api, bob: Api) -> None:
    net = make_network(admin, shared=True)
    sub = make_subnet(admin, net["id"], cidr="10.115.0.0/24")
    assert bob.show("network", net["id"])["shared"] is True
    assert bob.show("subnet", sub["id"])["id"] == sub["id"]
    pool = make_pool(bob, sub["id"])
    vip = make_vip(bob, pool)
    assert vip["address"].startswith("10.115.0.")
    assert pool["tenant_id"] == vip["tenant_id"] == "project-b"
    # Shared means usable, not owned: alice cannot change or delete it.
    assert alice.delete(f"/networks/{net['id']}").status_code in (403, 404)
    assert alice.delete(f"/subnets/{sub['id']}").status_code in (403, 404)
    assert admin.show("network", net["id"])["id"] == net["id"]
    # ...and alice does not see bob's pool on it, nor his VIP's port.
    assert_error(alice.get(f"/lb/pools/{pool['id']}"), 404)
    assert_error(alice.get(f"/ports/{vip['port_id']}"), 404)
    # Ports of one's own on a shared network are fine too.
    port = alice.create("port", network_id=net["id"])
    assert port["tenant_id"] == "project-a"
    assert [p["id"] for p in alice.list("port", network_id=net["id"])] == [port["id"]]


def test_admin_sees_every_project(admin: Api, alice: Api, bob: Api, alice_pool: dict) -> None:
    bob_pool = make_pool(bob, make_subnet(bob, cidr="10.116.0.0/24")["id"])
    ids = {p["id"] for p in admin.list("pool")}
    assert {alice_pool["id"], bob_pool["id"]} <= ids
    assert admin.show("pool", alice_pool["id"])["tenant_id"] == "project-a"
    assert {p["tenant_id"] for p in admin.list("pool", tenant_id="project-b")} == {"project-b"}
    # An admin may change and delete anyone's objects.
    assert admin.update("pool", bob_pool["id"], name="by-admin")["name"] == "by-admin"
    admin.remove("pool", bob_pool["id"])
    assert_error(bob.get(f"/lb/pools/{bob_pool['id']}"), 404)


# -- the agent role -----------------------------------------------------------------------------


AGENT_PATHS = [
    ("GET", "/agent/v1/hosts/some-host/ready_devices", None),
    ("GET", "/agent/v1/hosts/some-host/events?after=0&timeout=0", None),
    ("POST", "/agent/v1/agents", {"host": "some-host", "configurations": {}}),
    ("POST", "/agent/v1/status", {"obj_type": "pool", "status": "ACTIVE",
                                  "obj_id": "6b0b9f8c-0000-4000-8000-000000000000"}),
    ("GET", "/agent/v1/logical_devices/{pool}", None),
    ("POST", "/agent/v1/pools/{pool}/deployed", {}),
    ("POST", "/agent/v1/pools/{pool}/destroyed", {}),
    ("POST", "/agent/v1/pools/{pool}/stats", {"host": "some-host", "stats": {
        "bytes_in": 1, "bytes_out": 1, "active_connections": 0, "total_connections": 1,
        "epoch": "e", "members": {}}}),
    ("POST", "/agent/v1/ports/{port}/plug", {"host": "some-host"}),
    ("POST", "/agent/v1/ports/{port}/unplug", {"host": "some-host"}),
]


@pytest.mark.parametrize("method,path,body", AGENT_PATHS,
                         ids=["ready", "events", "heartbeat", "status", "logical-device",
                              "deployed", "destroyed", "stats", "plug", "unplug"])
def test_agent_api_needs_the_agent_role(alice: Api, alice_pool: dict, method: str,
                                        path: str, body: Any) -> None:
    # On the caller's own pool and port: the role is what is missing, nothing else.
    vip = make_vip(alice, alice_pool)
    path = path.format(pool=alice_pool["id"], port=vip["port_id"])
    assert_error(alice.request(method, path, body), 403)
    assert alice.show("pool", alice_pool["id"])["status"] == "PENDING_CREATE"


def test_agent_role_drives_the_agent_api(token_server: ServerProcess, admin: Api,
                                         alice: Api, physnet: str) -> None:
    # Only an admin says which physical network a network is on; alice builds on it.
    net = make_network(admin, tenant_id="project-a", **{"provider:physical_network": physnet})
    with Api(token_server.url, token="agent-token") as agent_api:
        agent = FakeAgent(agent_api, [physnet]).register()
        pool = make_pool(alice, make_subnet(alice, net["id"])["id"])
        assert agent.ready_devices() == [pool["id"]]
        assert agent.logical_device(pool["id"])["pool"]["id"] == pool["id"]
        agent.deployed(pool["id"])
    assert alice.show("pool", pool["id"])["status"] == "ACTIVE"


def test_agents_are_shown_to_admins_only(token_server: ServerProcess, admin: Api,
                                         alice: Api, physnet: str) -> None:
    with Api(token_server.url, token="agent-token") as agent_api:
        agent = FakeAgent(agent_api, [physnet]).register()
    assert agent.host in [a["host"] for a in admin.list("agent")]
    resp = alice.get("/agents")
    # Neutron's policy either refuses or filters everything out.
    if resp.status_code == 200:
        assert resp.json()["agents"] == []
    else:
        assert_error(resp, 403)


def test_other_projects_association_and_agent_view_are_hidden(alice: Api, bob: Api,
                                                               alice_pool: dict) -> None:
    hm = make_monitor(alice)
    assert associate(alice, alice_pool["id"], hm["id"]).status_code == 201
    resp = bob.delete(f"/lb/pools/{alice_pool['id']}/health_monitors/{hm['id']}")
    assert_error(resp, 404)
    assert alice.show("pool", alice_pool["id"])["health_monitors"] == [hm["id"]]
    resp = bob.get(f"/lb/pools/{alice_pool['id']}/loadbalancer-agent")
    assert_error(resp, resp.status_code)
    assert resp.status_code in (403, 404)


def test_non_admin_filtering_on_another_project_sees_nothing(alice: Api, bob: Api,
                                                             alice_pool: dict) -> None:
    assert bob.list("pool", tenant_id="project-a") == []
    assert bob.list("pool", id=alice_pool["id"]) == []


def test_only_admins_change_agents(token_server: ServerProcess, admin: Api, alice: Api,
                                   physnet: str) -> None:
    with Api(token_server.url, token="agent-token") as agent_api:
        agent = FakeAgent(agent_api, [physnet]).register()
    [record] = [a for a in admin.list("agent") if a["host"] == agent.host]
    resp = alice.put(f"/agents/{record['id']}", {"agent": {"admin_state_up": False}})
    assert resp.status_code in (403, 404), resp.text
    assert_error(resp, resp.status_code)
    assert admin.show("agent", record["id"])["admin_state_up"] is True


def test_the_agent_role_is_not_an_admin(token_server: ServerProcess,
                                        alice_pool: dict) -> None:
    # The agent role reads nothing of the tenants' API: no reader role (policy).
    with Api(token_server.url, token="agent-token") as agent_api:
        assert_error(agent_api.get("/lb/pools"), 403)
        assert_error(agent_api.get(f"/lb/pools/{alice_pool['id']}"), 403)


def test_noauth_project_defaults_to_admin(server: ServerProcess) -> None:
    with Api(server.url) as nobody:
        net = make_network(nobody)
        assert net["tenant_id"] == "admin"
        nobody.remove("network", net["id"])
