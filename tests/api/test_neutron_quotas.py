"""/v2.0/quotas: Neutron's quota API for the v1 objects, and that creates obey a
project's overrides (the configured defaults are tests/api/test_quotas.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.builders import (
    assert_error,
    make_monitor,
    make_network,
    make_pool,
    make_subnet,
    unique,
)
from tests.api.conftest import ServerFactory
from tests.helpers.server import Api, ServerProcess

DEFAULTS = {"network": -1, "subnet": -1, "port": 50, "pool": 10, "member": -1,
            "health_monitor": -1, "vip": 10}


def test_a_project_without_overrides_has_the_configured_defaults(api: Api) -> None:
    assert api.get(f"/quotas/{api.project}").json() == {"quota": DEFAULTS}
    assert api.get(f"/quotas/{api.project}/default").json() == {"quota": DEFAULTS}
    assert api.get("/quotas/tenant").json() == {"tenant": {"tenant_id": api.project}}


def test_set_enforce_list_and_reset(api: Api, admin_api: Api) -> None:
    project = api.project
    resp = admin_api.put(f"/quotas/{project}", {"quota": {"pool": 1, "network": "3"}})
    assert resp.status_code == 200
    assert resp.json() == {"quota": {**DEFAULTS, "pool": 1, "network": 3}}
    assert api.get(f"/quotas/{project}").json()["quota"]["pool"] == 1
    # The defaults stay what they are.
    assert api.get(f"/quotas/{project}/default").json() == {"quota": DEFAULTS}
    listed = [q for q in admin_api.get("/quotas").json()["quotas"]
              if q["tenant_id"] == project]
    assert listed == [{"tenant_id": project, "project_id": project, **DEFAULTS,
                       "pool": 1, "network": 3}]

    sub = make_subnet(api, cidr="10.130.0.0/24")
    make_pool(api, sub["id"])
    body = {"pool": {"subnet_id": sub["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}}
    err = assert_error(api.post("/lb/pools", body), 409)
    assert (err["type"], err["message"]) == ("OverQuota",
                                             "Quota exceeded for resources: ['pool'].")
    # Only this project: another one has the default of 10.
    assert api.post("/lb/pools", body, project=unique("other")).status_code == 201

    make_network(api)
    make_network(api)
    assert_error(api.post("/networks", {"network": {"name": "fourth"}}), 409)

    assert admin_api.delete(f"/quotas/{project}").status_code == 204
    assert api.get(f"/quotas/{project}").json() == {"quota": DEFAULTS}
    assert project not in {q["tenant_id"] for q in admin_api.get("/quotas").json()["quotas"]}
    assert api.post("/lb/pools", body).status_code == 201
    assert api.post("/networks", {"network": {"name": "fourth"}}).status_code == 201


def test_every_resource_is_enforced(api: Api, admin_api: Api) -> None:
    project = api.project
    net = make_network(api)
    sub = make_subnet(api, net["id"], cidr="10.131.0.0/24")
    pool = make_pool(api, sub["id"])
    limits = {"subnet": 1, "port": 0, "member": 0, "health_monitor": 0, "vip": 0}
    assert admin_api.put(f"/quotas/{project}", {"quota": limits}).status_code == 200
    refused = {
        "subnet": api.post("/subnets", {"subnet": {"network_id": net["id"],
                                                   "cidr": "10.132.0.0/24"}}),
        "port": api.post("/ports", {"port": {"network_id": net["id"]}}),
        "member": api.post("/lb/members", {"member": {
            "pool_id": pool["id"], "address": "10.131.0.9", "protocol_port": 80}}),
        "health_monitor": api.post("/lb/health_monitors", {"health_monitor": {
            "type": "TCP", "delay": 3, "timeout": 2, "max_retries": 2}}),
        "vip": api.post("/lb/vips", {"vip": {"pool_id": pool["id"], "subnet_id": sub["id"],
                                             "protocol": "HTTP", "protocol_port": 80}}),
    }
    for resource, resp in refused.items():
        err = assert_error(resp, 409)
        assert err["message"] == f"Quota exceeded for resources: ['{resource}'].", resource
    # -1 lifts a limit again; the CLI's spelling of health monitors is accepted.
    resp = admin_api.put(f"/quotas/{project}", {"quota": {"healthmonitor": -1}})
    assert resp.json()["quota"]["health_monitor"] == -1
    make_monitor(api)


@pytest.mark.parametrize("body, message", [
    ({"quota": {"router": 5}}, "Unrecognized attribute(s) 'router'"),
    ({"quota": {"pool": -2}}, "Invalid input for pool. Reason: -2 is not an integer"),
    ({"quota": {"pool": "many"}}, "Invalid input for pool. Reason: 'many' is not an"),
    ({"quota": {"pool": True}}, "Invalid input for pool"),
    ({"quota": {"pool": 1.5}}, "Invalid input for pool"),
    ({"quota": {"pool": None}}, "Invalid input for pool"),
    ({"quota": {"pool": 2**31}}, "Invalid input for pool"),
    ({"quota": {"vip": "1e3"}}, "Invalid input for vip"),
    ({"quota": {}}, "Nothing to update"),
    ({"quota": []}, 'Resource body required: expected {"quota": {...}}'),
    ({"quotas": {"pool": 1}}, "Resource body required"),
    ({"quota": {"pool": 1}, "extra": 1}, "Resource body required"),
])
def test_bad_updates_are_400_and_change_nothing(admin_api: Api, project: str,
                                                body: Any, message: str) -> None:
    err = assert_error(admin_api.put(f"/quotas/{project}", body), 400)
    assert err["type"] == "HTTPBadRequest"
    assert message in err["message"]
    assert admin_api.get(f"/quotas/{project}").json() == {"quota": DEFAULTS}


def test_a_body_that_is_not_json_is_400(admin_api: Api, project: str) -> None:
    assert_error(admin_api.put(f"/quotas/{project}", content="{pool: 1"), 400)


@pytest.fixture
def admin_api(server: ServerProcess) -> Iterator[Api]:
    """noauth: every caller is admin; this one acts from a project of its own."""
    with Api(server.url, project=unique("admin")) as client:
        yield client


# --- token mode: who may read and write ---------------------------------------------------

TOKENS = [("q-admin", "admin", "admin"), ("q-alice", "q-project-a", "member"),
          ("q-bob", "q-project-b", "member")]


@pytest.fixture(scope="module")
def token_server(backend: str, server_factory: ServerFactory) -> Iterator[ServerProcess]:
    srv = server_factory(backend, auth_strategy="token", tokens=TOKENS)
    yield srv
    srv.cleanup()


def test_a_tenant_reads_its_own_quotas_and_writes_none(token_server: ServerProcess) -> None:
    with Api(token_server.url, token="q-alice") as alice, \
            Api(token_server.url, token="q-admin") as admin:
        assert alice.get("/quotas/q-project-a").json() == {"quota": DEFAULTS}
        assert alice.get("/quotas/tenant").json() == {"tenant": {"tenant_id": "q-project-a"}}
        for resp in (alice.get("/quotas/q-project-b"),
                     alice.get("/quotas/q-project-b/default"),
                     alice.get("/quotas"),
                     alice.put("/quotas/q-project-a", {"quota": {"pool": 100}}),
                     alice.put("/quotas/q-project-b", {"quota": {"pool": 0}}),
                     alice.delete("/quotas/q-project-a")):
            assert assert_error(resp, 403)["type"] == "Forbidden"
        assert alice.get("/quotas/q-project-a").json() == {"quota": DEFAULTS}

        # The administrator may, and the tenant lives with it.
        assert admin.put("/quotas/q-project-a", {"quota": {"pool": 1}}).status_code == 200
        assert admin.get("/quotas/q-project-a").json()["quota"]["pool"] == 1
        assert alice.get("/quotas/q-project-a").json()["quota"]["pool"] == 1
        sub = make_subnet(alice, cidr="10.133.0.0/24")
        make_pool(alice, sub["id"])
        assert_error(alice.post("/lb/pools", {"pool": {
            "subnet_id": sub["id"], "protocol": "TCP", "lb_method": "ROUND_ROBIN"}}), 409)
        assert admin.delete("/quotas/q-project-a").status_code == 204
        assert alice.get("/quotas/q-project-a").json() == {"quota": DEFAULTS}
        assert_error(httpx.get(token_server.url + "/v2.0/quotas/q-project-a", timeout=30), 401)


# --- the table and its migration ----------------------------------------------------------

def test_the_migration_makes_the_table_the_model_describes(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lbaas.server.db.models import Base
    from lbaas.server.db.quota_models import Quota
    from lbaas.server.db.session import Database, upgrade

    db = Database(f"sqlite:///{tmp_path}/lbaas.sqlite")
    try:
        upgrade(db.engine)
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        # ("'quotas'", quoted: not Octavia's lb_quotas.)
        assert [d for d in diffs if "'quotas'" in repr(d)] == []
        with db.session() as session:
            session.add(Quota(project_id="p", resource="pool", limit=3))
        with db.session() as session:
            assert session.get(Quota, ("p", "pool")).limit == 3
    finally:
        db.engine.dispose()
