"""Ports on member subnets: a load balancer's own address on each subnet its members
name other than the VIP's (Octavia plugs member networks into the amphora).

A SINGLE load balancer has one set, keyed ``""``; an ACTIVE_STANDBY one has one set per
amphora, keyed by its id (:func:`allocate` and :func:`ensure` take the key). A port is
allocated in the transaction of the change that adds the first member on its subnet, so
a failed allocation (a full subnet) fails that change and leaves nothing behind. It
stays in the logical device while a member that is not being deleted names its subnet,
and is freed once the agent has confirmed the change that dropped it (``release_unused``
from ``octavia.settle``): freed earlier, its address could be handed to another port
while the old device still holds it. docs/architecture.md, "Member ports".
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from lbaas.common import constants as c
from lbaas.server import errors
from lbaas.server.context import ADMIN
from lbaas.server.db import models as m
from lbaas.server.plugin import agents, core

SINGLE_KEY = ""


def wanted_subnets(lb: m.LoadBalancer) -> set[str]:
    """The subnets (ids) that need a member port: those named by members not being
    deleted, of pools not being deleted, other than the VIP's."""
    return {mem.subnet_id for pool in lb.pools
            if pool.provisioning_status != c.PENDING_DELETE
            for mem in pool.members
            if mem.provisioning_status != c.PENDING_DELETE
            and mem.subnet_id and mem.subnet_id != lb.vip_subnet_id}


def port_name(lb: m.LoadBalancer, key: str) -> str:
    # Octavia names its load balancer's ports "octavia-lb-..." (the VIP's is
    # octavia-lb-<lb id>); the amphora's id tells an ACTIVE_STANDBY pair's apart.
    return f"octavia-lb-member-{key or lb.id}"


def _host(lb: m.LoadBalancer, key: str) -> str:
    """The host the port is bound to at allocation: a SINGLE load balancer's agent's
    (an amphora's port is bound by its agent's plug)."""
    if key == SINGLE_KEY and lb.agent is not None:
        return lb.agent.host
    return ""


def allocate(session: Session, lb: m.LoadBalancer, subnet: m.Subnet,
             key: str = SINGLE_KEY) -> m.LbMemberPort:
    """One port of ``lb`` on ``subnet`` for the amphora ``key`` ("" for SINGLE): its own
    address and MAC, owned like the VIP's port (the load balancer's project, Octavia's
    device owner, the load balancer as device). Raises OctaviaConflict when the subnet
    has no free address."""
    try:
        port = core.create_port(session, ADMIN, {
            "tenant_id": lb.tenant_id, "network_id": subnet.network_id,
            "name": port_name(lb, key), "fixed_ips": [{"subnet_id": subnet.id}],
            "admin_state_up": False, "device_id": lb.id,
            "device_owner": c.DEVICE_OWNER_LOADBALANCERV2,
            "binding:host_id": _host(lb, key)}, forbid_gateway=True)
    except errors.NeutronError as exc:
        raise errors.OctaviaConflict(exc.msg) if exc.status_code == 409 else \
            errors.OctaviaBadRequest(exc.msg) from None
    member_port = m.LbMemberPort(port_id=port.id, loadbalancer=lb, amphora_id=key,
                                 subnet_id=subnet.id, port=port, subnet=subnet)
    session.add(member_port)
    session.flush()
    return member_port


def ensure(session: Session, lb: m.LoadBalancer, key: str = SINGLE_KEY) -> None:
    """Allocate the missing ports of amphora ``key``: one per wanted subnet. A subnet on
    a physical network the load balancer's agent does not map is refused (400): that
    agent could not plug it."""
    have = {mp.subnet_id for mp in lb.member_ports if mp.amphora_id == key}
    for subnet_id in sorted(wanted_subnets(lb) - have):
        subnet = session.get(m.Subnet, subnet_id)
        if subnet is None:
            raise errors.OctaviaBadRequest(f"Subnet {subnet_id} not found.")
        physnet = subnet.network.provider_physical_network
        if lb.agent is not None and not agents.maps_physnet(lb.agent, physnet):
            raise errors.OctaviaBadRequest(
                f"Subnet {subnet_id} is on physical network '{physnet}', which the load "
                f"balancer's host {lb.agent.host} does not map")
        allocate(session, lb, subnet, key)


def release_unused(session: Session, lb: m.LoadBalancer) -> None:
    """Free the ports whose subnet no member wants any more (the agent has removed
    their devices: this runs once it confirmed the change)."""
    wanted = wanted_subnets(lb)
    for member_port in list(lb.member_ports):
        if member_port.subnet_id not in wanted:
            release(session, lb, member_port)


def release(session: Session, lb: m.LoadBalancer, member_port: m.LbMemberPort) -> None:
    port = member_port.port
    lb.member_ports.remove(member_port)
    session.flush()
    if port is not None:
        session.delete(port)


def release_all(session: Session, lb: m.LoadBalancer) -> None:
    for member_port in list(lb.member_ports):
        release(session, lb, member_port)


def live(lb: m.LoadBalancer) -> dict[str, list[m.Port]]:
    """The ports the logical device carries, by amphora key: those of wanted subnets."""
    wanted = wanted_subnets(lb)
    ports: dict[str, list[m.Port]] = {}
    for member_port in lb.member_ports:
        if member_port.subnet_id in wanted:
            ports.setdefault(member_port.amphora_id, []).append(member_port.port)
    return ports


def wanted_physnets(session: Session, lb: m.LoadBalancer) -> set[str]:
    """The physical networks of the wanted member subnets: an agent that runs the load
    balancer must map them all, as it maps the VIP's."""
    physnets = set()
    for subnet_id in wanted_subnets(lb):
        subnet = session.get(m.Subnet, subnet_id)
        if subnet is not None:
            physnets.add(subnet.network.provider_physical_network)
    return physnets

