"""ip_lib against real namespaces: lifecycle, routes, gratuitous ARP."""

from __future__ import annotations

import time

import pytest

from lbaas.agent.linux import arping, ip_lib

from .topology import unique


@pytest.fixture
def vip(namespaces, bridge, wires):
    """A namespace with 10.91.20.10/24 (+ fd00:91:20::10/64) on a bridge: (ns, device)."""
    ns, dev = wires.host_on_linux_bridge(bridge, "10.91.20.10/24")
    ip_lib.sync_addresses(dev, ["10.91.20.10/24", "fd00:91:20::10/64"], ns)
    return ns, dev


def test_ensure_namespace_is_idempotent_and_brings_lo_up(namespaces):
    name = namespaces.add(unique("tl-ns"))
    ip_lib.ensure_namespace(name)
    ip_lib.ensure_namespace(name)
    assert ip_lib.namespace_exists(name)
    assert name in ip_lib.list_namespaces()
    assert ip_lib.get_device("lo", name).up


def test_delete_namespace_removes_its_devices_at_once(namespaces):
    name = namespaces.new()
    outer = unique("tlx")
    ip_lib.create_veth(outer, unique("tly"), name)
    ip_lib.delete_namespace(name)
    assert not ip_lib.namespace_exists(name)
    # The kernel destroys a namespace lazily; its veth must not linger meanwhile.
    assert not ip_lib.device_exists(outer)
    ip_lib.delete_namespace(name)


def test_deleting_absent_things_is_fine():
    ip_lib.delete_device("tlabsent0")
    ip_lib.delete_device("tlabsent0", "tl-absent")
    ip_lib.delete_namespace("tl-absent")
    assert not ip_lib.device_exists("lo", "tl-absent")


def test_default_route_follows_the_gateway(vip):
    ns, dev = vip
    ip_lib.set_l3_routes(ns, dev, "10.91.20.1", [])
    assert ip_lib.list_routes(dev, ns) == [{"destination": "0.0.0.0/0", "nexthop": "10.91.20.1"}]
    ip_lib.set_l3_routes(ns, dev, "10.91.20.2", [])
    assert ip_lib.list_routes(dev, ns) == [{"destination": "0.0.0.0/0", "nexthop": "10.91.20.2"}]
    ip_lib.set_l3_routes(ns, dev, None, [])
    assert ip_lib.list_routes(dev, ns) == []


def test_default_route_from_a_subnet_without_gateway_uses_its_default_host_route(vip):
    ns, dev = vip
    subnet = {"gateway_ip": None, "host_routes": [
        {"destination": "0.0.0.0/0", "nexthop": "10.91.20.3"},
        {"destination": "10.91.77.0/24", "nexthop": "10.91.20.4"}]}
    gateway = ip_lib.gateway_from_subnet(subnet)
    assert gateway == "10.91.20.3"
    ip_lib.set_l3_routes(ns, dev, gateway, subnet["host_routes"])
    assert ip_lib.list_routes(dev, ns) == [
        {"destination": "0.0.0.0/0", "nexthop": "10.91.20.3"},
        {"destination": "10.91.77.0/24", "nexthop": "10.91.20.4"}]


def test_host_routes_are_reconciled_for_both_families(vip):
    ns, dev = vip
    ip_lib.set_l3_routes(ns, dev, "fd00:91:20::1", [
        {"destination": "10.91.77.0/24", "nexthop": "10.91.20.4"},
        {"destination": "10.91.78.0/24", "nexthop": "10.91.20.4"},
        {"destination": "fd00:91:99::/64", "nexthop": "fd00:91:20::5"}])
    ip_lib.set_l3_routes(ns, dev, "fd00:91:20::1", [
        {"destination": "10.91.78.0/24", "nexthop": "10.91.20.6"},
        {"destination": "fd00:91:99::/64", "nexthop": "fd00:91:20::5"}])
    assert ip_lib.list_routes(dev, ns) == [
        {"destination": "10.91.78.0/24", "nexthop": "10.91.20.6"},
        {"destination": "::/0", "nexthop": "fd00:91:20::1"},
        {"destination": "fd00:91:99::/64", "nexthop": "fd00:91:20::5"}]


def test_route_via_an_unreachable_next_hop_is_skipped_not_fatal(vip):
    ns, dev = vip
    ip_lib.set_l3_routes(ns, dev, "10.91.20.1", [
        {"destination": "10.91.79.0/24", "nexthop": "10.91.200.1"}])
    assert ip_lib.list_routes(dev, ns) == [{"destination": "0.0.0.0/0", "nexthop": "10.91.20.1"}]


def test_gratuitous_arp_updates_a_stale_neighbour_without_blocking_the_caller(
        vip, bridge, wires):
    ns, dev = vip
    peer_ns, peer_dev = wires.host_on_linux_bridge(bridge, "10.91.20.20/24")
    ip_lib.set_neighbour(peer_ns, peer_dev, "10.91.20.10", "fa:16:3e:de:ad:00")

    started = time.monotonic()
    thread = arping.send_garp(ns, dev, ["10.91.20.10/24", "fd00:91:20::10"], count=2)
    assert time.monotonic() - started < 0.5  # two probes take a second; we did not wait
    assert thread is not None
    thread.join(timeout=10)
    assert not thread.is_alive()

    entries = {e["ip"]: e["mac"] for e in ip_lib.list_neighbours(peer_ns, peer_dev)}
    assert entries["10.91.20.10"] == ip_lib.get_device(dev, ns).mac


def test_gratuitous_arp_with_count_zero_or_only_ipv6_does_nothing(vip):
    ns, dev = vip
    assert arping.send_garp(ns, dev, ["10.91.20.10"], count=0) is None
    assert arping.send_garp(ns, dev, ["fd00:91:20::10/64"], count=3) is None


def test_a_namespace_session_runs_its_calls_in_one_worker_inside_the_namespace(namespaces):
    name = namespaces.add(unique("tl-ns"))
    outer, inner = unique("tlx"), unique("tly")
    seen_threads: set[int] = set()

    def whoami(ipr):  # noqa: ANN001, ANN202
        import threading
        seen_threads.add(threading.get_ident())
        return [link.get("ifname") for link in ipr.get_links()]

    with ip_lib.namespace_session(name):
        assert ip_lib.ensure_namespace(name) is True
        assert ip_lib.ensure_namespace(name) is False  # ensured once per session
        ip_lib.create_veth(outer, inner, name)
        ip_lib.set_device(inner, name, up=True)
        assert set(ip_lib.run_in_namespace(name, whoami)) == {"lo", inner}
        assert ip_lib.get_device(inner, name).up
        ip_lib.run_in_namespace(name, whoami)
        assert len(seen_threads) == 1
        # Deleted (and made anew) inside the session: calls see the namespace the
        # name stands for now, not the one the worker had entered.
        ip_lib.delete_namespace(name)
        assert ip_lib.get_device(inner, name) is None
        with pytest.raises(ip_lib.NamespaceNotFound):
            ip_lib.run_in_namespace(name, whoami)
        assert ip_lib.ensure_namespace(name) is True
        assert ip_lib.run_in_namespace(name, whoami) == ["lo"]
    assert not ip_lib.device_exists(outer)
    # Outside the session: the ordinary one-thread-per-call path, same answers.
    assert ip_lib.get_device("lo", name).up
