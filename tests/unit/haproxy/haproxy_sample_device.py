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
