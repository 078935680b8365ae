"""Octavia's L7 policies and rules over HTTP (SQLite and PostgreSQL): defaults,
positions, Octavia's validation and error messages, the load balancer's lock, the
status tree, what reaches the agent, cascade delete, and hostile values refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_octavia import Octavia, octavia  # noqa: F401  (fixture)

POOL = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}


def setup_lb(octavia: Octavia) -> tuple[dict[str, Any], str, str, str]:  # noqa: F811
    """An ACTIVE load balancer with an HTTP listener (default pool "web") and a second
    pool "images"; returns (lb, listener id, web pool id, images pool id)."""
    lb = octavia.active_lb(
        listeners=[{"protocol": "HTTP", "protocol_port": 80,
                    "default_pool_name": "web"}],
        pools=[{**POOL, "name": "web"}, {**POOL, "name": "images"}])
    pools = {p["name"]: p["id"] for p in octavia.ok("GET", "/pools")["pools"]
             if p["loadbalancers"][0]["id"] == lb["id"]}
    return lb, lb["listeners"][0]["id"], pools["web"], pools["images"]


def show_policy(octavia: Octavia, policy_id: str) -> dict[str, Any]:  # noqa: F811
    return dict(octavia.ok("GET", f"/l7policies/{policy_id}")["l7policy"])


def change(octavia: Octavia, lb_id: str, method: str, path: str,  # noqa: F811
           body: Any = None, status: int = 200) -> Any:
    """One change: accepted, the load balancer locked, then deployed by the agent."""
    result = octavia.ok(method, path, body, status)
    assert octavia.show("loadbalancer", lb_id)["provisioning_status"] == "PENDING_UPDATE"
    octavia.deploy(lb_id)
    return result


def policy(octavia: Octavia, lb_id: str, **attrs: Any) -> dict[str, Any]:  # noqa: F811
    return dict(change(octavia, lb_id, "POST", "/l7policies", {"l7policy": attrs},
                       201)["l7policy"])


def test_policy_defaults_rules_and_listener_ids(octavia: Octavia) -> None:  # noqa: F811
    lb, listener_id, _, images = setup_lb(octavia)
    created = policy(octavia, lb["id"], listener_id=listener_id, action="REDIRECT_TO_POOL",
                     redirect_pool_id=images, rules=[
                         {"type": "HOST_NAME", "compare_type": "EQUAL_TO",
                          "value": "images.example.com"}])
    assert created["position"] == 1 and created["admin_state_up"] is True
    assert created["redirect_http_code"] is None and created["redirect_url"] is None
    assert created["provisioning_status"] == "PENDING_CREATE"
    shown = show_policy(octavia, created["id"])
    assert shown["provisioning_status"] == "ACTIVE" and shown["operating_status"] == "ONLINE"
    assert len(shown["rules"]) == 1
    rule = octavia.ok("GET", f"/l7policies/{created['id']}/rules/{shown['rules'][0]['id']}")[
        "rule"]
    assert rule["invert"] is False and rule["key"] is None
    assert rule["provisioning_status"] == "ACTIVE"
    assert octavia.show("listener", listener_id)["l7policies"] == [{"id": created["id"]}]
    assert {"id": listener_id} in octavia.show("pool", images)["listeners"]
    # A redirect gets Octavia's default code; arguments of other actions are dropped.
    redirect = policy(octavia, lb["id"], listener_id=listener_id, action="REDIRECT_TO_URL",
                      redirect_url="http://example.com/", redirect_pool_id=images)
    assert redirect["redirect_http_code"] == 302 and redirect["redirect_pool_id"] is None
    assert redirect["position"] == 2
    # Status tree: the listener's policies with their rules, and the L7 pool.
    tree = octavia.ok("GET", f"/loadbalancers/{lb['id']}/status")["statuses"]
    li = tree["loadbalancer"]["listeners"][0]
    assert [p["id"] for p in li["l7policies"]] == [created["id"], redirect["id"]]
    assert li["l7policies"][0]["rules"][0]["type"] == "HOST_NAME"
    assert images in [p["id"] for p in li["pools"]]
    listed = octavia.ok("GET", f"/l7policies?listener_id={listener_id}")["l7policies"]
    assert {p["id"] for p in listed} == {created["id"], redirect["id"]}


def test_positions_insert_move_and_close_gaps(octavia: Octavia) -> None:  # noqa: F811
    lb, listener_id, _, _ = setup_lb(octavia)
    rule = [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}]

    def make(**attrs: Any) -> str:
        return str(policy(octavia, lb["id"], listener_id=listener_id, action="REJECT",
                          rules=rule, **attrs)["id"])

    a = make()
    b = make(position=99)  # past the end: appended
    c = make(position=1)  # inserted first

    def order() -> list[str]:
        return [p["id"] for p in sorted(
            (show_policy(octavia, i) for i in (a, b, c)
             if octavia.request("GET", f"/l7policies/{i}").status_code == 200),
            key=lambda p: p["position"])]

    assert order() == [c, a, b]
    assert sorted(show_policy(octavia, i)["position"] for i in (a, b, c)) == [1, 2, 3]
    change(octavia, lb["id"], "PUT", f"/l7policies/{b}", {"l7policy": {"position": 1}})
    assert order() == [b, c, a]
    change(octavia, lb["id"], "DELETE", f"/l7policies/{c}", status=204)
    assert order() == [b, a]
    assert show_policy(octavia, a)["position"] == 2
    device = octavia.agent.typed_logical_device(lb["id"])
    rendered = device["loadbalancer"]["listeners"][0]["l7policies"]
    assert [(p["id"], p["position"]) for p in rendered] == [(b, 1), (a, 2)]


def test_octavias_validation_and_messages(octavia: Octavia) -> None:  # noqa: F811
    lb, listener_id, _, images = setup_lb(octavia)
    other = octavia.active_lb(pools=[{**POOL, "name": "elsewhere"}])
    foreign = other["pools"][0]["id"]

    def refused(body: dict[str, Any], status: int = 400) -> str:
        return octavia.fault(octavia.request("POST", "/l7policies",
                                             {"l7policy": {"listener_id": listener_id,
                                                           **body}}), status)

    assert refused({"action": "DANCE"}) == "Invalid L7 Policy action specified: DANCE"
    assert refused({"action": "REDIRECT_TO_POOL"}) == \
        "Invalid L7 Policy arguments: redirect_pool_id must not be None"
    assert refused({"action": "REDIRECT_TO_URL"}) == \
        "Invalid L7 Policy arguments: redirect_url must not be None"
    assert refused({"action": "REDIRECT_PREFIX"}) == \
        "Invalid L7 Policy arguments: redirect_prefix must not be None"
    assert "another load balancer" in refused(
        {"action": "REDIRECT_TO_POOL", "redirect_pool_id": foreign})
    assert "redirect_http_code" in refused(
        {"action": "REDIRECT_TO_URL", "redirect_url": "http://a.example/",
         "redirect_http_code": 305})
    assert "not found" in octavia.fault(octavia.request("POST", "/l7policies", {
        "l7policy": {"listener_id": "00000000-0000-4000-8000-000000000000",
                     "action": "REJECT"}}), 404)
    # A refused request changed nothing: the load balancer is still ACTIVE.
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"

    pol = policy(octavia, lb["id"], listener_id=listener_id, action="REJECT")
    rules = f"/l7policies/{pol['id']}/rules"

    def bad_rule(body: dict[str, Any]) -> str:
        return octavia.fault(octavia.request("POST", rules, {"rule": body}), 400)

    assert bad_rule({"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"}) == \
        "Error parsing L7Rule: Invalid L7 Rule: key must not be None for HEADER and " \
        "COOKIE rules"
    assert bad_rule({"type": "PATH", "compare_type": "REGEX", "value": "(unclosed"}) \
        .startswith("Error parsing L7Rule: Unable to parse regular expression:")
    assert "FILE_TYPE" in bad_rule({"type": "FILE_TYPE", "compare_type": "CONTAINS",
                                    "value": "jpg"})
    assert "TERMINATED_HTTPS" in bad_rule({"type": "SSL_CONN_HAS_CERT",
                                           "compare_type": "EQUAL_TO", "value": "True"})
    assert "compare_type" in bad_rule({"type": "PATH", "compare_type": "LIKE", "value": "/"})
    assert "key is not a valid option" in bad_rule(
        {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/", "key": "x"})
    # Locked while a change is in flight.
    octavia.ok("POST", rules, {"rule": {"type": "PATH", "compare_type": "EQUAL_TO",
                                        "value": "/a"}}, 201)
    assert "immutable" in octavia.fault(octavia.request("POST", rules, {"rule": {
        "type": "PATH", "compare_type": "EQUAL_TO", "value": "/b"}}), 409)
    octavia.deploy(lb["id"])
    # A pool that a policy uses can't be deleted.
    target = policy(octavia, lb["id"], listener_id=listener_id, action="REDIRECT_TO_POOL",
                    redirect_pool_id=images)
    assert octavia.fault(octavia.request("DELETE", f"/pools/{images}"), 409) == \
        f"Pool {images} is in use by L7 policy {target['id']}"
    # L7 needs an HTTP listener here.
    tcp = change(octavia, lb["id"], "POST", "/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 5000}}, 201)
    assert "HTTP listeners" in octavia.fault(octavia.request("POST", "/l7policies", {
        "l7policy": {"listener_id": tcp["listener"]["id"], "action": "REJECT"}}), 400)


@pytest.mark.parametrize("rule", [
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a b"},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a'b"},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": '/a"b'},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a\nacl x always_true"},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a\\b"},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/#comment"},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/" + "a" * 300},
    {"type": "PATH", "compare_type": "REGEX", "value": "^/a'$"},
    {"type": "PATH", "compare_type": "REGEX", "value": "^/a\r\n$"},
    {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "é.example"},
    {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-A B", "value": "v"},
    {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X),req.hdr(y", "value": "v"},
    {"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "c;d", "value": "v"},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": ""},
])
def test_hostile_rule_values_are_refused(octavia: Octavia, rule: dict[str, Any]) -> None:  # noqa: F811
    lb, listener_id, _, _ = setup_lb(octavia)
    resp = octavia.request("POST", "/l7policies", {"l7policy": {
        "listener_id": listener_id, "action": "REJECT", "rules": [rule]}})
    assert resp.status_code == 400, resp.text
    octavia.fault(resp, 400)
    assert octavia.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"


@pytest.mark.parametrize("url", [
    "http://a.example/x y", "http://a.example/'", 'http://a.example/"', "http://a.example/\n",
    "http://a.example/%zz", "http://a.example/\\", "javascript:alert(1)", "/relative",
    "http://a.example/" + "x" * 300])
def test_hostile_redirect_urls_are_refused(octavia: Octavia, url: str) -> None:  # noqa: F811
    _, listener_id, _, _ = setup_lb(octavia)
    for field, action in (("redirect_url", "REDIRECT_TO_URL"),
                          ("redirect_prefix", "REDIRECT_PREFIX")):
        octavia.fault(octavia.request("POST", "/l7policies", {"l7policy": {
            "listener_id": listener_id, "action": action, field: url}}), 400)


def test_update_switches_action_and_rules_revalidate(octavia: Octavia) -> None:  # noqa: F811
    lb, listener_id, _, images = setup_lb(octavia)
    pol = policy(octavia, lb["id"], listener_id=listener_id, action="REJECT", rules=[
        {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-A", "value": "1"}])
    updated = change(octavia, lb["id"], "PUT", f"/l7policies/{pol['id']}",
                     {"l7policy": {"redirect_pool_id": images}})["l7policy"]
    assert updated["action"] == "REDIRECT_TO_POOL" and updated["redirect_pool_id"] == images
    rule_id = pol["rules"][0]["id"]
    path = f"/l7policies/{pol['id']}/rules/{rule_id}"
    assert "Invalid L7 Rule" in octavia.fault(
        octavia.request("PUT", path, {"rule": {"value": "a b"}}), 400)
    rule = change(octavia, lb["id"], "PUT", path,
                  {"rule": {"type": "PATH", "value": "/p", "invert": True}})["rule"]
    assert rule["type"] == "PATH" and rule["key"] is None and rule["invert"] is True
    # null resets to Octavia's default (what "openstack ... unset" sends).
    assert change(octavia, lb["id"], "PUT", path, {"rule": {"invert": None}})["rule"][
        "invert"] is False
    unset = change(octavia, lb["id"], "PUT", f"/l7policies/{pol['id']}", {"l7policy": {
        "action": "REDIRECT_TO_URL", "redirect_url": "http://a.example/",
        "redirect_http_code": 301}})["l7policy"]
    assert unset["redirect_http_code"] == 301 and unset["redirect_pool_id"] is None
    assert change(octavia, lb["id"], "PUT", f"/l7policies/{pol['id']}", {"l7policy": {
        "redirect_http_code": None, "name": None}})["l7policy"]["redirect_http_code"] == 302
    change(octavia, lb["id"], "DELETE", path, status=204)
    assert octavia.request("GET", path).status_code == 404
    assert show_policy(octavia, pol["id"])["rules"] == []


def test_cascade_delete_removes_policies_and_rules(octavia: Octavia) -> None:  # noqa: F811
    lb, listener_id, _, images = setup_lb(octavia)
    pol = policy(octavia, lb["id"], listener_id=listener_id, action="REDIRECT_TO_POOL",
                 redirect_pool_id=images, rules=[
                     {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/img"}])
    octavia.ok("DELETE", f"/loadbalancers/{lb['id']}?cascade=true", status=204)
    assert show_policy(octavia, pol["id"])["provisioning_status"] == "PENDING_DELETE"
    octavia.agent.destroyed(lb["id"])
    assert octavia.request("GET", f"/l7policies/{pol['id']}").status_code == 404
    assert pol["id"] not in [p["id"] for p in octavia.ok("GET", "/l7policies")["l7policies"]]


def test_listener_delete_takes_its_policies(octavia: Octavia) -> None:  # noqa: F811
    lb, listener_id, _, images = setup_lb(octavia)
    pol = policy(octavia, lb["id"], listener_id=listener_id, action="REDIRECT_TO_POOL",
                 redirect_pool_id=images, rules=[
                     {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/img"}])
    change(octavia, lb["id"], "DELETE", f"/listeners/{listener_id}", status=204)
    assert octavia.request("GET", f"/l7policies/{pol['id']}").status_code == 404
    # The pool is free again.
    change(octavia, lb["id"], "DELETE", f"/pools/{images}", status=204)
