"""Fixtures of the HAProxy driver's functional tests (topology in haproxy_topology.py)."""

from tests.functional.haproxy.haproxy_topology import harness, topology

__all__ = ["harness", "topology"]
