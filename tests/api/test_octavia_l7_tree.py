"""Octavia's single-call create with L7 policies inside the listeners
(``listeners[].l7policies[]`` with ``rules[]``; ``redirect_pool`` a whole named pool or
``{"name": ...}`` of a pool of the same body), what reaches the agent, and Octavia's
refusals, after which nothing was made."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_octavia import Octavia, octavia  # noqa: F401  (fixture)

POOL = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
IMAGES_RULE = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/images"}


def tree(l7policies: list[dict[str, Any]], protocol: str = "HTTP",
         pools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"listeners": [{"protocol": protocol, "protocol_port": 80,
                           "default_pool": {**POOL, "name": "web"},
                           "l7policies": l7policies}],
            "pools": pools if pools is not None else [{**POOL, "name": "images"}]}


def lb_pools(octavia: Octavia, lb_id: str) -> dict[str, str]:  # noqa: F811
    return {p["name"]: p["id"] for p in octavia.ok("GET", "/pools")["pools"]
            if p["loadbalancers"][0]["id"] == lb_id}


def test_single_call_create_with_policies_rules_and_named_pools(
        octavia: Octavia) -> None:  # noqa: F811
    lb = octavia.create_lb(**tree([
        {"action": "REDIRECT_TO_POOL", "name": "to-images",
         "redirect_pool": {"name": "images"}, "rules": [IMAGES_RULE]},
        {"action": "REDIRECT_TO_POOL", "redirect_pool": {**POOL, "name": "api",
                                                         "members": [
            {"address": "10.60.0.21", "protocol_port": 8080}]},
         "rules": [{"type": "HOST_NAME", "compare_type": "EQUAL_TO",
                    "value": "api.example.com"},
                   {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Api",
                    "value": "1", "invert": True}]},
        {"action": "REDIRECT_TO_URL", "redirect_url": "https://example.com/",
         "rules": [{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/old"}]},
        # Another listener's default pool is a pool of the body too.
        {"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "web"},
         "rules": [{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/web"}]},
        {"action": "REJECT", "rules": [{"type": "PATH", "compare_type": "STARTS_WITH",
                                        "value": "/admin"}]},
    ]))
    assert lb["provisioning_status"] == "PENDING_CREATE"
    pools = lb_pools(octavia, lb["id"])
    assert set(pools) == {"web", "images", "api"}
    [listener] = lb["listeners"]
    listed = octavia.ok("GET", f"/l7policies?listener_id={listener['id']}")["l7policies"]
    listed.sort(key=lambda p: p["position"])
    # Positions in the body's order; a redirect to a URL has Octavia's default code.
    assert [(p["position"], p["action"], p["redirect_pool_id"]) for p in listed] == [
        (1, "REDIRECT_TO_POOL", pools["images"]), (2, "REDIRECT_TO_POOL", pools["api"]),
        (3, "REDIRECT_TO_URL", None), (4, "REDIRECT_TO_POOL", pools["web"]),
        (5, "REJECT", None)]
    assert listed[0]["name"] == "to-images" and listed[0]["redirect_http_code"] is None
    assert listed[2]["redirect_url"] == "https://example.com/"
    assert listed[2]["redirect_http_code"] == 302
    assert all(p["provisioning_status"] == "PENDING_CREATE" for p in listed)
    assert [len(p["rules"]) for p in listed] == [1, 2, 1, 1, 1]
    # The whole redirect pool came with its member.
    members = octavia.ok("GET", f"/pools/{pools['api']}/members")["members"]
    assert [m["address"] for m in members] == ["10.60.0.21"]
    # The agent gets all of it with the device, and its confirmation settles the tree.
    device = octavia.agent.typed_logical_device(lb["id"])
    rendered = device["loadbalancer"]["listeners"][0]["l7policies"]
    assert [(p["position"], p["redirect_pool_id"]) for p in rendered] == [
        (1, pools["images"]), (2, pools["api"]), (3, None), (4, pools["web"]), (5, None)]
    assert rendered[1]["rules"][1] == {**rendered[1]["rules"][1], "type": "HEADER",
                                       "key": "X-Api", "invert": True}
    octavia.deploy(lb["id"])
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"
    tree_ = octavia.ok("GET", f"/loadbalancers/{lb['id']}/status")["statuses"]
    policies = tree_["loadbalancer"]["listeners"][0]["l7policies"]
    assert len(policies) == 5
    assert all(p["provisioning_status"] == "ACTIVE" for p in policies)
    rule_id = listed[1]["rules"][0]["id"]
    rule = octavia.ok("GET", f"/l7policies/{listed[1]['id']}/rules/{rule_id}")["rule"]
    assert rule["provisioning_status"] == "ACTIVE" and rule["value"] == "api.example.com"


def _lb_count(octavia: Octavia) -> int:  # noqa: F811
    return len(octavia.ok("GET", "/loadbalancers")["loadbalancers"])


@pytest.mark.parametrize("body, message", [
    (tree([{"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "nowhere"}}]),
     "Pool 'nowhere' was referenced but no full definition was found."),
    (tree([{"action": "REDIRECT_TO_POOL", "redirect_pool": POOL}]),
     "Pools must be named when creating a fully populated loadbalancer."),
    (tree([{"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "images"}}],
          pools=[{**POOL, "name": "images"}, {**POOL, "name": "images"}]),
     "Pool names must be unique when creating a fully populated loadbalancer."),
    (tree([{"action": "REDIRECT_TO_POOL"}]),
     "Invalid L7 Policy arguments: redirect_pool_id must not be None"),
    (tree([{"action": "DANCE"}]), "Invalid L7 Policy action specified: DANCE"),
    (tree([{"action": "REJECT"}], protocol="TCP"), "HTTP listeners"),
    (tree([{"action": "REJECT", "rules": [{"type": "PATH", "compare_type": "EQUAL_TO",
                                           "value": "/a\nacl x always_true"}]}]),
     "Error parsing L7Rule"),
    (tree([{"action": "REJECT", "rules": [{"type": "HEADER", "compare_type": "EQUAL_TO",
                                           "value": "x"}]}]),
     "key must not be None"),
    (tree([{"action": "REDIRECT_TO_URL", "redirect_url": "http://a.example/\nx"}]),
     "redirect_url"),
    # Octavia's single-call create names pools, never ids.
    (tree([{"action": "REDIRECT_TO_POOL",
            "redirect_pool_id": "00000000-0000-4000-8000-000000000000"}]),
     "redirect_pool_id"),
    (tree([{"action": "REDIRECT_TO_POOL",
            "redirect_pool": {"name": "x", "protocol": "UDP",
                              "lb_algorithm": "ROUND_ROBIN"}}]),
     "UDP"),
])
def test_refused_single_call_creates_make_nothing(octavia: Octavia,  # noqa: F811
                                                  body: dict[str, Any],
                                                  message: str) -> None:
    before = _lb_count(octavia)
    resp = octavia.request("POST", "/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": octavia.subnet["id"], **body}})
    assert message in octavia.fault(resp, 400)
    assert _lb_count(octavia) == before
