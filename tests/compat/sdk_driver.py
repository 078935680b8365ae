"""Run by the openstacksdk client venv's Python (not lbaas'), from test_openstacksdk.py:
an Octavia workflow through ``conn.load_balancer``, printing one JSON document of what a
user of the SDK sees. Only openstacksdk and the standard library may be imported here.

    python sdk_driver.py URL SUBNET_NAME
"""

from __future__ import annotations

import json
import sys
from typing import Any

import openstack  # type: ignore[import-not-found]


def main(url: str, subnet_name: str) -> dict[str, Any]:
    # No Keystone: admin_token hands out URL as every service's endpoint; the explicit
    # load_balancer_endpoint_override makes the SDK discover Octavia's versions at URL
    # (it then talks to URL/v2/lbaas/...).
    conn = openstack.connection.Connection(
        auth_type="admin_token", auth={"token": "x", "endpoint": url},
        load_balancer_endpoint_override=url)
    lbs = conn.load_balancer
    out: dict[str, Any] = {"endpoint": lbs.get_endpoint()}

    subnet = conn.network.find_subnet(subnet_name, ignore_missing=False)
    lb = lbs.create_load_balancer(name="sdk-lb", vip_subnet_id=subnet.id,
                                  description="made by openstacksdk")
    out["created"] = {"id": lb.id, "provisioning_status": lb.provisioning_status}
    lb = lbs.wait_for_load_balancer(lb.id, status="ACTIVE", failures=["ERROR"],
                                    interval=0.5, wait=60)
    out["active"] = {"provisioning_status": lb.provisioning_status,
                     "operating_status": lb.operating_status,
                     "vip_address": lb.vip_address}
    found = lbs.find_load_balancer("sdk-lb")
    out["found_id"] = found.id if found is not None else None

    listener = lbs.create_listener(name="sdk-l", protocol="HTTP", protocol_port=80,
                                   load_balancer_id=lb.id)
    # The generic wait, on the attribute Octavia's resources have. It looks at the
    # object it is given before polling: give it a fresh one (``lb`` still says ACTIVE).
    lbs.wait_for_status(lbs.get_load_balancer(lb.id), status="ACTIVE", failures=["ERROR"],
                        interval=0.5, wait=60, attribute="provisioning_status")
    pool = lbs.create_pool(name="sdk-p", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                           listener_id=listener.id)
    lbs.wait_for_load_balancer(lb.id, interval=0.5, wait=60)
    member = lbs.create_member(pool, address="10.72.0.21", protocol_port=80, weight=2)
    lbs.wait_for_load_balancer(lb.id, interval=0.5, wait=60)
    out["listener"] = lbs.get_listener(listener.id).to_dict(computed=False)
    out["pool"] = lbs.get_pool(pool.id).to_dict(computed=False)
    out["member"] = lbs.get_member(member.id, pool).to_dict(computed=False)

    # Octavia's batch member update has no SDK call: the proxy is a keystoneauth Adapter
    # on Octavia's endpoint, so it is a plain PUT through it.
    resp = lbs.put(f"/lbaas/pools/{pool.id}/members", json={"members": [
        {"address": "10.72.0.21", "protocol_port": 80, "weight": 5},
        {"address": "10.72.0.22", "protocol_port": 80}]})
    out["batch_status"] = resp.status_code
    lbs.wait_for_load_balancer(lb.id, interval=0.5, wait=60)
    out["members_after_batch"] = sorted(
        (m.address, m.weight, m.provisioning_status) for m in lbs.members(pool))
    out["lb_before_delete"] = lbs.get_load_balancer(lb.id).to_dict(computed=False)

    lbs.delete_load_balancer(lb, cascade=True)
    lbs.wait_for_delete(lb, interval=0.5, wait=60)
    out["found_after_delete"] = lbs.find_load_balancer("sdk-lb") is not None
    out["listeners_after_delete"] = [li.id for li in lbs.listeners()]
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), default=str))
