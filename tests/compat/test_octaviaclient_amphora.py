"""``openstack loadbalancer amphora list/show/failover`` and ``loadbalancer failover``
work unchanged against lbaas's amphora API (python-openstackclient with
python-octaviaclient, the versions and client venv of tests/compat/test_octaviaclient.py),
on a server whose load balancers are ACTIVE_STANDBY by default, with two AutoAgents (they
confirm without naming their host, which settles as for SINGLE)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.compat.cloud import Cloud, wait_lb
from tests.compat.test_octaviaclient import OpenStack, openstack_exe  # noqa: F401
from tests.helpers.auto_agent import AutoAgent
from tests.helpers.server import Api, ServerProcess


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    physnet = f"phys-{uuid.uuid4().hex[:8]}"
    conf = {"DEFAULT": {"loadbalancer_topology": "ACTIVE_STANDBY"}}
    with ServerProcess(conf=conf) as server, Api(server.url) as api:
        network = api.create("network", name="osc-amp-net",
                             **{"provider:physical_network": physnet})
        subnet = api.create("subnet", network_id=network["id"], cidr="10.98.70.0/24",
                            ip_version=4, name="osc-amp-sub")
        with AutoAgent(server.url, [physnet]) as first, \
                AutoAgent(server.url, [physnet]) as second:
            del second
            yield Cloud(server, api, first, network, subnet)


def test_amphorae_with_openstack_loadbalancer(
        openstack_exe: str, cloud: Cloud) -> None:  # noqa: F811
    osc = OpenStack(openstack_exe, cloud)
    lb = osc.json("loadbalancer", "create", "--name", "as-lb", "--vip-subnet-id",
                  "osc-amp-sub", "--wait")
    listed = osc.json("loadbalancer", "amphora", "list", "--loadbalancer", "as-lb")
    assert sorted(a["role"] for a in listed) == ["BACKUP", "MASTER"]
    assert {a["loadbalancer_id"] for a in listed} == {lb["id"]}
    assert {a["status"] for a in listed} == {"ALLOCATED"}
    assert {a["ha_ip"] for a in listed} == {lb["vip_address"]}
    backup = next(a for a in listed if a["role"] == "BACKUP")
    shown = osc.json("loadbalancer", "amphora", "show", backup["id"])
    assert shown["role"] == "BACKUP" and str(shown["vrrp_priority"]) == "90"
    assert shown["loadbalancer_id"] == lb["id"] and shown["vrrp_ip"]
    masters = osc.json("loadbalancer", "amphora", "list", "--role", "MASTER")
    assert len(masters) == 1 and masters[0]["id"] != backup["id"]
    # compute_id: the agents' hosts, two different ones.
    long = osc.json("loadbalancer", "amphora", "list", "--long")
    assert len({a["compute_id"] for a in long}) == 2

    # The load balancer's failover swaps the roles.
    osc.ok("loadbalancer", "failover", "--wait", "as-lb")
    assert osc.json("loadbalancer", "amphora", "show", backup["id"])["role"] == "MASTER"
    # The amphora's failover (no third agent: the MASTER hands its role over).
    osc.ok("loadbalancer", "amphora", "failover", backup["id"])
    wait_lb(cloud.api, lb["id"], "ACTIVE")
    assert osc.json("loadbalancer", "amphora", "show", backup["id"])["role"] == "BACKUP"
    osc.ok("loadbalancer", "delete", "--wait", "as-lb")
    assert osc.json("loadbalancer", "amphora", "list") == []
