"""Which member subnets need a port of the load balancer (docs/architecture.md, "Member
ports"): pure logic over unsaved rows."""

from __future__ import annotations

from lbaas.server.db import models as m
from lbaas.server.plugin import member_ports


def _lb(*pools: m.LbPool) -> m.LoadBalancer:
    return m.LoadBalancer(id="lb-1", vip_subnet_id="sub-vip", pools=list(pools))


def _pool(*members: m.LbMember, status: str = "ACTIVE") -> m.LbPool:
    return m.LbPool(provisioning_status=status, members=list(members))


def _member(subnet_id: str | None, status: str = "ACTIVE") -> m.LbMember:
    return m.LbMember(subnet_id=subnet_id, provisioning_status=status)


def test_only_other_subnets_of_live_members_of_live_pools() -> None:
    lb = _lb(_pool(_member("sub-b"), _member("sub-b"), _member(None), _member("sub-vip"),
                   _member("sub-c", status="PENDING_DELETE"), _member("sub-d", "PENDING_CREATE")),
             _pool(_member("sub-e"), status="PENDING_DELETE"))
    assert member_ports.wanted_subnets(lb) == {"sub-b", "sub-d"}


def test_no_members_no_ports() -> None:
    assert member_ports.wanted_subnets(_lb()) == set()
    assert member_ports.wanted_subnets(_lb(_pool())) == set()


def test_port_names_tell_a_single_load_balancer_from_an_amphora() -> None:
    lb = _lb()
    assert member_ports.port_name(lb, "") == "octavia-lb-member-lb-1"
    assert member_ports.port_name(lb, "amp-2") == "octavia-lb-member-amp-2"
