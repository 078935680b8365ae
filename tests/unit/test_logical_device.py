"""from_v1: the v1 logical device (callbacks.get_logical_device's dict) as the typed
load balancer the agent deploys, with v1's deploy gate."""

from __future__ import annotations

from typing import Any

import pytest

from lbaas.common import limits
from lbaas.common.logical_device import LogicalDevice, from_v1, v1_deployable, v1_pool_deleting
from tests.unit.haproxy.haproxy_sample_device import (
    MEMBER_IDS,
    POOL_ID,
    PORT_ID,
    VIP_ID,
    sample_logical_device,
)


def monitor(**overrides: Any) -> dict[str, Any]:
    hm = {"id": "hm-1", "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 4,
          "admin_state_up": True, "http_method": "HEAD", "url_path": "/status",
          "expected_codes": "200-202", "status": "ACTIVE", "pools": []}
    hm.update(overrides)
    return hm


def test_pool_and_vip_become_a_load_balancer_with_one_listener():
    d = sample_logical_device()
    d.update(revision=12, pending=False)
    device = from_v1(d)
    assert (device.id, device.revision, device.pending, device.driver) == (
        POOL_ID, 12, False, "haproxy_ns")
    lb = device.loadbalancer
    assert lb is not None
    assert (lb.id, lb.vip_address, lb.vip_port.id) == (POOL_ID, "10.92.0.10", PORT_ID)
    assert lb.vip_port.network.physical_network == "default"
    assert lb.vip_port.fixed_ips[0].subnet.gateway_ip == "10.92.0.1"
    (listener,) = lb.listeners
    assert (listener.id, listener.protocol, listener.protocol_port,
            listener.connection_limit, listener.default_pool_id,
            listener.admin_state_up) == (VIP_ID, "HTTP", 80, -1, POOL_ID, True)
    # v1 rendered "option forwardfor" on every HTTP VIP.
    assert listener.insert_headers == {"X-Forwarded-For": "true"}
    (pool,) = lb.pools
    assert (pool.id, pool.protocol, pool.lb_algorithm, pool.session_persistence,
            pool.healthmonitor) == (POOL_ID, "HTTP", "ROUND_ROBIN", None, None)
    assert [(m.id, m.address, m.protocol_port, m.weight) for m in pool.members] == [
        (MEMBER_IDS[0], "10.92.1.2", 8080, 1), (MEMBER_IDS[1], "10.92.1.3", 8080, 3)]


@pytest.mark.parametrize("protocol", ["TCP", "HTTPS"])
def test_no_forwarded_for_on_tcp_vips(protocol):
    d = sample_logical_device()
    d["vip"]["protocol"] = d["pool"]["protocol"] = protocol
    lb = from_v1(d).loadbalancer
    assert lb is not None
    assert lb.listeners[0].insert_headers == {}


def test_vip_settings_reach_listener_and_pool():
    d = sample_logical_device()
    d["vip"].update(connection_limit=1000, admin_state_up=False,
                    session_persistence={"type": "APP_COOKIE", "cookie_name": "sid"})
    d["pool"].update(admin_state_up=False, lb_method="LEAST_CONNECTIONS")
    lb = from_v1(d).loadbalancer
    assert lb is not None
    assert lb.listeners[0].connection_limit == 1000
    assert lb.listeners[0].admin_state_up is False
    assert lb.pools[0].admin_state_up is False
    assert lb.pools[0].lb_algorithm == "LEAST_CONNECTIONS"
    persistence = lb.pools[0].session_persistence
    assert persistence is not None
    assert (persistence.type, persistence.cookie_name) == ("APP_COOKIE", "sid")


def test_explicit_nulls_take_the_defaults():
    d = sample_logical_device()
    d["vip"]["connection_limit"] = None
    d["members"][0]["weight"] = None
    lb = from_v1(d).loadbalancer
    assert lb is not None
    assert lb.listeners[0].connection_limit == -1
    assert lb.pools[0].members[0].weight == 1


def test_first_admin_up_monitor_with_both_thresholds_from_max_retries():
    d = sample_logical_device()
    d["healthmonitors"] = [monitor(id="hm-down", admin_state_up=False),
                           monitor(id="hm-gone", status="PENDING_DELETE"),
                           monitor(id="hm-used", max_retries=6),
                           monitor(id="hm-second")]
    lb = from_v1(d).loadbalancer
    assert lb is not None
    hm = lb.pools[0].healthmonitor
    assert hm is not None
    assert (hm.id, hm.type, hm.delay, hm.timeout, hm.max_retries, hm.max_retries_down,
            hm.http_method, hm.url_path, hm.expected_codes, hm.http_version,
            hm.domain_name) == ("hm-used", "HTTP", 5, 3, 6, 6, "HEAD", "/status",
                                "200-202", None, None)


def test_only_admin_down_monitors_means_none():
    d = sample_logical_device()
    d["healthmonitors"] = [monitor(admin_state_up=False)]
    lb = from_v1(d).loadbalancer
    assert lb is not None
    assert lb.pools[0].healthmonitor is None


def test_members_being_deleted_are_left_out():
    d = sample_logical_device()
    d["members"][0]["status"] = "PENDING_DELETE"
    d["members"][1]["status"] = "INACTIVE"
    lb = from_v1(d).loadbalancer
    assert lb is not None
    assert [(m.id, m.provisioning_status) for m in lb.pools[0].members] == [
        (MEMBER_IDS[1], "ACTIVE")]


@pytest.mark.parametrize("mutate, served", [
    (lambda d: None, True),
    (lambda d: d.update(vip=None), False),
    (lambda d: d["vip"].update(status="PENDING_DELETE"), False),
    (lambda d: d["pool"].update(status="PENDING_DELETE"), False),
    (lambda d: d["pool"].update(status="ERROR"), True),
    (lambda d: d["vip"].update(status="ERROR"), True),
    (lambda d: d["vip"].update(status="PENDING_CREATE"), True),
    (lambda d: d["vip"].update(admin_state_up=False), True),
    (lambda d: d["pool"].update(admin_state_up=False), True),
], ids=["active", "no-vip", "vip-deleting", "pool-deleting", "pool-error", "vip-error",
        "vip-pending", "vip-admin-down", "pool-admin-down"])
def test_v1_gate(mutate, served):
    d = sample_logical_device()
    mutate(d)
    assert v1_deployable(d) is served
    device = from_v1(d)
    assert (device.loadbalancer is not None) is served
    assert device.id == POOL_ID


def test_pool_being_deleted_is_told_apart():
    d = sample_logical_device()
    assert not v1_pool_deleting(d)
    d["vip"]["status"] = "PENDING_DELETE"
    assert not v1_pool_deleting(d)
    d.update(vip=None)
    d["pool"]["status"] = "PENDING_DELETE"
    assert v1_pool_deleting(d)


def test_typed_device_survives_its_json_form():
    d = sample_logical_device()
    d["healthmonitors"] = [monitor()]
    d["vip"]["session_persistence"] = {"type": "SOURCE_IP"}
    device = from_v1(d)
    wire = device.model_dump(by_alias=True)
    assert wire["loadbalancer"]["vip_port"]["network"]["provider:physical_network"] \
        == "default"
    assert LogicalDevice.model_validate(wire) == device
    assert LogicalDevice.model_validate_json(device.model_dump_json(by_alias=True)) == device


def test_unknown_keys_from_a_newer_server_are_ignored():
    wire = from_v1(sample_logical_device()).model_dump(by_alias=True)
    wire["future"] = 1
    wire["loadbalancer"]["listeners"][0]["future_listener_field"] = "x"
    assert LogicalDevice.model_validate(wire) == from_v1(sample_logical_device())


# ------------------------------------------------------------------ limits.domain_name


@pytest.mark.parametrize("name", ["example.com", "a", "www.ex-ample.org", "1.example.com",
                                  "a" * 63 + ".com", ".".join(["a" * 63] * 3) + ".abcdefghi"])
def test_domain_name_accepts_host_names(name):
    assert limits.domain_name(name) == name


@pytest.mark.parametrize("name", ["", "ex ample.com", "-a.com", "a-.com", "a..b", "a.com.",
                                  "example.com\n", "%[src]", "a" * 64, "ex_ample.com",
                                  "é.com", "ｅxample.com", "a\\b", 'a"b', "a#b",
                                  ".".join(["a" * 63] * 4), None, 5])
def test_domain_name_refuses_the_rest(name):
    with pytest.raises(ValueError):
        limits.domain_name(name)
