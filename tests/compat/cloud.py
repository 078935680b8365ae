"""What the Octavia client tests share: a real lbaas-server with a network and subnet an
agent can serve, and an :class:`~tests.helpers.auto_agent.AutoAgent` that makes load
balancers ACTIVE (the clients' ``--wait`` and ``wait_for_status`` need that)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.helpers.auto_agent import AutoAgent
from tests.helpers.server import Api, ServerProcess


@dataclass
class Cloud:
    server: ServerProcess
    api: Api
    agent: AutoAgent
    network: dict[str, Any]
    subnet: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url

    def agent_report(self) -> str:
        """For assertion messages: what the agent did and what went wrong in it."""
        return (f"agent {self.agent.host}: errors {self.agent.errors[-5:]}, last "
                f"confirmations {self.agent.confirmed[-5:]}; server log:\n"
                f"{self.server.log_tail(2000)}")


@contextmanager
def octavia_cloud(subnet_name: str, cidr: str) -> Iterator[Cloud]:
    """A server (noauth: every caller is admin), a network on a physnet of its own (as
    admin: ``provider:physical_network``), a subnet named ``subnet_name`` and a running
    AutoAgent mapping that physnet. Everything is stopped on exit."""
    physnet = f"phys-{uuid.uuid4().hex[:8]}"
    with ServerProcess() as server, Api(server.url) as api:
        network = api.create("network", name=f"{subnet_name}-net",
                             **{"provider:physical_network": physnet})
        subnet = api.create("subnet", network_id=network["id"], cidr=cidr, ip_version=4,
                            name=subnet_name)
        with AutoAgent(server.url, [physnet]) as agent:
            yield Cloud(server, api, agent, network, subnet)


def wait_lb(api: Api, lb_id: str, status: str | None, timeout: float = 30.0) -> Any:
    """Polls ``GET /v2/lbaas/loadbalancers/{id}`` until its provisioning status is
    ``status`` (None: until it is gone, a 404). Returns the last body."""
    deadline = time.monotonic() + timeout
    while True:
        resp = api.get(f"/v2/lbaas/loadbalancers/{lb_id}")
        if status is None and resp.status_code == 404:
            return None
        assert resp.status_code == 200 or status is None, resp.text
        if resp.status_code == 200 and \
                resp.json()["loadbalancer"]["provisioning_status"] == status:
            return resp.json()["loadbalancer"]
        if time.monotonic() > deadline:
            raise AssertionError(f"load balancer {lb_id} not {status or 'gone'} after "
                                 f"{timeout}s: {resp.status_code} {resp.text[:500]}")
        time.sleep(0.1)
