"""Octavia's L7 policies serve real HTTP: built through the v2 API on the e2e lab (real
namespaces, bridge, HAProxy and web servers; see conftest.py): host-based routing to two
pools, a path prefix redirect, a REJECT, positions deciding which policy wins, and a
policy added under load without one failed request."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.functional.e2e.conftest import (
    BACKENDS,
    CLIENT_NS,
    load_result,
    start_load,
)
from tests.functional.e2e.test_octavia_dataplane import V2Lab, v2  # noqa: F401
from tests.helpers.netlab import PY

# One request with a Host header, from the client namespace: (status, Location, body).
_REQUEST = """
import http.client, json, sys
host, port, path, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection(host, port, timeout=5)
c.request("GET", path, headers={"Host": name})
r = c.getresponse()
print(json.dumps([r.status, r.getheader("Location"), r.read().decode().strip()]))
"""


def request(vip: str, path: str = "/", host: str = "www.example.com") -> tuple[Any, ...]:
    out = subprocess.run(["ip", "netns", "exec", CLIENT_NS, PY, "-c", _REQUEST, vip, "80",
                          path, host], check=True, capture_output=True, text=True,
                         timeout=30)
    return tuple(json.loads(out.stdout))


def _member(name: str) -> dict[str, Any]:
    return {"address": BACKENDS[name], "protocol_port": 80}


def test_l7_policies_route_redirect_and_reject(v2: V2Lab) -> None:  # noqa: F811
    lb = v2.create(
        listeners=[{"protocol": "HTTP", "protocol_port": 80, "default_pool_name": "web"}],
        pools=[{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [_member("b1")]},
               {"name": "images", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [_member("b2")]}])
    lb_id, vip, listener_id = lb["id"], lb["vip_address"], lb["listeners"][0]["id"]
    pools = {v2.call("GET", f"/pools/{p['id']}")["pool"]["name"]: p["id"]
             for p in lb["pools"]}
    assert request(vip, host="images.example.com") == (200, None, "b1")

    def add(**attrs: Any) -> str:
        return str(v2.change(lb_id, "POST", "/l7policies", {"l7policy": {
            "listener_id": listener_id, **attrs}}, 201)["l7policy"]["id"])

    # Host-based routing, added under light load: no request fails.
    load = start_load(f"http://{vip}/", seconds=6, rate=40)
    to_images = add(action="REDIRECT_TO_POOL", redirect_pool_id=pools["images"], rules=[
        {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "images.example.com"}])
    result = load_result(load)
    assert result["requests"] > 100 and result["failed"] == 0, result
    assert request(vip, host="images.example.com") == (200, None, "b2")
    assert request(vip, host="IMAGES.example.com") == (200, None, "b2")
    assert request(vip, host="www.example.com") == (200, None, "b1")

    # A path prefix redirect keeps the rest of the path.
    add(action="REDIRECT_PREFIX", redirect_prefix="https://new.example.com",
        rules=[{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old/"}])
    status, location, _ = request(vip, "/old/page?q=1")
    assert (status, location) == (302, "https://new.example.com/old/page?q=1")

    # REJECT: 403 for the admin paths, others untouched.
    add(action="REJECT", rules=[{"type": "PATH", "compare_type": "STARTS_WITH",
                                 "value": "/admin"}])
    assert request(vip, "/admin/x")[0] == 403
    assert request(vip, "/public") == (200, None, "b1")

    # Positions: a REJECT of the images host placed after the pool policy changes
    # nothing; moved before it, it wins.
    block = add(action="REJECT", position=99, rules=[
        {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".example.com"},
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}])
    assert request(vip, host="images.example.com") == (200, None, "b2")
    assert request(vip, host="www.example.com")[0] == 403
    v2.change(lb_id, "PUT", f"/l7policies/{block}", {"l7policy": {"position": 1}})
    assert request(vip, host="images.example.com")[0] == 403
    # Deleting it restores the routing; the pool policy's admin-down sends all to b1.
    v2.change(lb_id, "DELETE", f"/l7policies/{block}", want=204)
    assert request(vip, host="images.example.com") == (200, None, "b2")
    v2.change(lb_id, "PUT", f"/l7policies/{to_images}",
              {"l7policy": {"admin_state_up": False}})
    assert request(vip, host="images.example.com") == (200, None, "b1")
