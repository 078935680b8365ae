"""[quotas]: per-project limits, 409 when exceeded, -1 unlimited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.builders import (
    assert_error,
    make_member,
    make_monitor,
    make_pool,
    make_subnet,
    make_vip,
    unique,
)
from tests.helpers.server import Api, ServerProcess


def test_default_pool_quota_is_ten(api: Api) -> None:
    sub = make_subnet(api, cidr="10.120.0.0/24")
    pools = [make_pool(api, sub["id"]) for _ in range(10)]
    body = {"subnet_id": sub["id"], "protocol": "TCP", "lb_method": "ROUND_ROBIN"}
    err = assert_error(api.post("/lb/pools", {"pool": body}), 409)
    assert "quota" in err["message"].lower()
    # Another project has its own quota.
    assert api.post("/lb/pools", {"pool": body}, project=unique("other")).status_code == 201
    # A deleted pool (no agent: at once) frees its place.
    api.remove("pool", pools[0]["id"])
    assert api.post("/lb/pools", {"pool": body}).status_code == 201


def test_members_and_monitors_unlimited_by_default(api: Api) -> None:
    pool = make_pool(api, make_subnet(api, cidr="10.121.0.0/24")["id"])
    for i in range(25):
        make_member(api, pool["id"], address=f"10.121.0.{i + 10}")
    for _ in range(25):
        make_monitor(api, type="TCP")
    assert len(api.list("member", pool_id=pool["id"])) == 25


@pytest.fixture
def qapi(tuned_server: ServerProcess, project: str) -> Iterator[Api]:
    """quota_pool=3, quota_vip=2, quota_member=2, quota_health_monitor=1."""
    with Api(tuned_server.url, project=project) as api:
        yield api


def test_configured_pool_quota(qapi: Api) -> None:
    sub = make_subnet(qapi, cidr="10.122.0.0/24")
    for _ in range(3):
        make_pool(qapi, sub["id"])
    body = {"subnet_id": sub["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN"}
    assert_error(qapi.post("/lb/pools", {"pool": body}), 409)
    assert len(qapi.list("pool", tenant_id=qapi.project)) == 3


def test_configured_vip_quota(qapi: Api) -> None:
    sub = make_subnet(qapi, cidr="10.123.0.0/24")
    pools = [make_pool(qapi, sub["id"]) for _ in range(3)]
    make_vip(qapi, pools[0])
    make_vip(qapi, pools[1])
    resp = qapi.post("/lb/vips", {"vip": {"pool_id": pools[2]["id"], "subnet_id": sub["id"],
                                          "protocol": "HTTP", "protocol_port": 80}})
    assert_error(resp, 409)
    # The refused VIP left no port behind.
    owners = [p["device_owner"] for p in qapi.list("port", network_id=sub["network_id"])]
    assert owners.count("neutron:LOADBALANCER") == 2


def test_configured_member_quota(qapi: Api) -> None:
    pool = make_pool(qapi, make_subnet(qapi, cidr="10.124.0.0/24")["id"])
    make_member(qapi, pool["id"], address="10.124.0.10")
    make_member(qapi, pool["id"], address="10.124.0.11")
    resp = qapi.post("/lb/members", {"member": {"pool_id": pool["id"], "address": "10.124.0.12",
                                                "protocol_port": 80}})
    assert_error(resp, 409)


def test_configured_monitor_quota(qapi: Api) -> None:
    make_monitor(qapi)
    body = {"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3}
    assert_error(qapi.post("/lb/health_monitors", {"health_monitor": body}), 409)
    other = qapi.as_(project=unique("other"))
    assert other.post("/lb/health_monitors", {"health_monitor": body}).status_code == 201
    other.close()


def test_quota_counts_the_owner_not_the_caller(qapi: Api) -> None:
    # An admin creating for another project uses that project's quota.
    owner = unique("owner")
    sub = make_subnet(qapi, cidr="10.125.0.0/24")
    for _ in range(3):
        make_pool(qapi, sub["id"], tenant_id=owner)
    body = {"subnet_id": sub["id"], "protocol": "HTTP", "lb_method": "ROUND_ROBIN",
            "tenant_id": owner}
    assert_error(qapi.post("/lb/pools", {"pool": body}), 409)
    assert make_pool(qapi, sub["id"])["tenant_id"] == qapi.project
