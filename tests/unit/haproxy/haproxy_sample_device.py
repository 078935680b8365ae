"""A sample logical device (docs/architecture.md's format) for the HAProxy driver's unit tests."""

from __future__ import annotations

from typing import Any

POOL_ID = "6b2b8d1e-0c4e-4a55-9d3b-5c1f2a9e7001"
VIP_ID = "0f4a2c3b-7d8e-4f10-a1b2-c3d4e5f60001"
PORT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b0001"
MEMBER_IDS = ("11111111-aaaa-4bbb-8ccc-000000000001",
              "22222222-aaaa-4bbb-8ccc-000000000002")


def sample_logical_device() -> dict[str, Any]:
    subnet = {"id": "sub-1", "cidr": "10.92.0.0/24", "ip_version": 4,
              "gateway_ip": "10.92.0.1", "host_routes": []}
    return {
        "pool": {"id": POOL_ID, "tenant_id": "t1", "name": "web", "protocol": "HTTP",
                 "lb_method": "ROUND_ROBIN", "admin_state_up": True, "status": "ACTIVE",
                 "subnet_id": "sub-1", "vip_id": VIP_ID},
        "vip": {"id": VIP_ID, "address": "10.92.0.10", "protocol_port": 80,
                "protocol": "HTTP", "connection_limit": -1, "session_persistence": None,
                "admin_state_up": True, "status": "ACTIVE", "port_id": PORT_ID,
                "port": {"id": PORT_ID, "network_id": "net-1",
                         "mac_address": "fa:16:3e:00:00:01", "admin_state_up": True,
                         "fixed_ips": [{"subnet_id": "sub-1", "ip_address": "10.92.0.10",
                                        "subnet": subnet}],
                         "network": {"id": "net-1", "provider:physical_network": "default",
                                     "provider:network_type": "flat",
                                     "provider:segmentation_id": None}}},
        "members": [
            {"id": MEMBER_IDS[0], "address": "10.92.1.2", "protocol_port": 8080,
             "weight": 1, "admin_state_up": True, "status": "ACTIVE"},
            {"id": MEMBER_IDS[1], "address": "10.92.1.3", "protocol_port": 8080,
             "weight": 3, "admin_state_up": True, "status": "ACTIVE"},
        ],
        "healthmonitors": [],
        "driver": "haproxy_ns",
    }


# A load balancer with several listeners and pools (the typed device's own shape, as an
# Octavia load balancer will arrive): an HTTP listener with Octavia's options, a TCP one
# on another port of the same VIP, and an HTTP one without a default pool.
LB_ID = "3c3c3c3c-0000-4000-8000-00000000lb01"
LISTENER_IDS = ("4d4d4d4d-0000-4000-8000-0000000000l1",
                "4d4d4d4d-0000-4000-8000-0000000000l2",
                "4d4d4d4d-0000-4000-8000-0000000000l3")
POOL_IDS = ("5e5e5e5e-0000-4000-8000-0000000000p1",
            "5e5e5e5e-0000-4000-8000-0000000000p2")
LB_MEMBER_IDS = ("6f6f6f6f-0000-4000-8000-0000000000m1",
                 "6f6f6f6f-0000-4000-8000-0000000000m2",
                 "6f6f6f6f-0000-4000-8000-0000000000m3",
                 "6f6f6f6f-0000-4000-8000-0000000000m4")


def sample_multi_listener_device() -> dict[str, Any]:
    """The JSON of a typed LogicalDevice (``LogicalDevice.model_validate`` takes it)."""
    port = sample_logical_device()["vip"]["port"]
    return {
        "version": 2, "id": LB_ID, "driver": "haproxy_ns", "revision": 7, "pending": True,
        "loadbalancer": {
            "id": LB_ID, "vip_address": "10.92.0.10", "vip_port": port,
            "listeners": [
                {"id": LISTENER_IDS[0], "protocol": "HTTP", "protocol_port": 80,
                 "default_pool_id": POOL_IDS[0], "connection_limit": 5000,
                 "insert_headers": {"X-Forwarded-For": "true"}},
                {"id": LISTENER_IDS[1], "protocol": "TCP", "protocol_port": 5432,
                 "default_pool_id": POOL_IDS[1]},
                {"id": LISTENER_IDS[2], "protocol": "HTTP", "protocol_port": 8080,
                 "default_pool_id": None},
            ],
            "pools": [
                {"id": POOL_IDS[0], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                 "members": [
                     {"id": LB_MEMBER_IDS[0], "address": "10.92.1.2", "protocol_port": 8080},
                     {"id": LB_MEMBER_IDS[1], "address": "10.92.1.3", "protocol_port": 8080,
                      "weight": 3}],
                 "healthmonitor": {"id": "hm-web", "type": "HTTP", "delay": 5,
                                   "timeout": 3, "max_retries": 2, "max_retries_down": 4,
                                   "url_path": "/health"}},
                {"id": POOL_IDS[1], "protocol": "TCP", "lb_algorithm": "LEAST_CONNECTIONS",
                 "members": [
                     {"id": LB_MEMBER_IDS[2], "address": "10.92.1.4", "protocol_port": 5432},
                     {"id": LB_MEMBER_IDS[3], "address": "10.92.1.5", "protocol_port": 5432,
                      "backup": True}],
                 "healthmonitor": {"id": "hm-db", "type": "TCP", "delay": 10,
                                   "timeout": 5, "max_retries": 3}},
            ],
        },
    }
