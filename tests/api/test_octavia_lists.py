"""Octavia's list query over many objects, as clients page through it: filters of every
kind of attribute, tags, sorting (directions, ties, nulls, several keys), pages that
follow ``next`` links and start after a marker, and the errors Octavia answers. The
database answers these (lbaas/server/api/v2/listing.py); every test runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.builders import FakeAgent, make_network, make_subnet
from tests.api.conftest import PG_URL
from tests.helpers.server import Api

PREFIX = "/v2/lbaas"

# name, tags, admin_state_up: in creation order. Names repeat (ties keep the creation
# order, in both directions), differ only in case, and go beyond ASCII (code point
# order: "" < "C" < "a" < "b" < "é").
LBS = [("b", ["blue", "x"], True), ("a", ["red"], True), ("C", [], True),
       ("b", ["blue"], False), ("a", ["blue", "red"], True), ("é", ["x"], True),
       ("b", [], True), ("", [], True)]


class Lists:
    def __init__(self, api: Api, agent: FakeAgent, subnet: dict[str, Any]) -> None:
        self.api, self.agent, self.subnet = api, agent, subnet

    def request(self, path: str, params: Any = None) -> httpx.Response:
        return self.api.request("GET", PREFIX + path, params=params)

    def get(self, path: str, params: Any = None) -> dict[str, Any]:
        resp = self.request(path, params)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def fault(self, path: str, params: Any, status: int) -> str:
        resp = self.request(path, params)
        assert resp.status_code == status, resp.text
        return str(resp.json()["faultstring"])

    def follow(self, href: str) -> dict[str, Any]:
        resp = self.api.client.get(href, headers={"X-Project-Id": self.api.project or ""})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def create(self, path: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.api.request("POST", PREFIX + path, {kind: body})
        assert resp.status_code == 201, resp.text
        return dict(resp.json()[kind])


@pytest.fixture
def lists(api: Api, physnet: str) -> Lists:
    agent = FakeAgent(api, [physnet]).register()
    net = make_network(api, **{"provider:physical_network": physnet})
    subnet = make_subnet(api, net["id"], cidr="10.63.0.0/24")
    return Lists(api, agent, subnet)


@pytest.fixture
def lbs(lists: Lists) -> list[str]:
    """The ids of LBS's load balancers, in creation order; the one named "é" is deployed
    (ACTIVE, the others PENDING_CREATE)."""
    ids = [lists.create("/loadbalancers", "loadbalancer", {
        "vip_subnet_id": lists.subnet["id"], "name": name, "tags": tags,
        "admin_state_up": up})["id"] for name, tags, up in LBS]
    lists.agent.deployed(ids[5])
    return ids


def mine(lists: Lists, **params: Any) -> dict[str, Any]:
    # noauth callers are admins, who see every project: ask for this test's own.
    return {"project_id": lists.api.project, **params}


def listed(lists: Lists, lbs: list[str], **params: Any) -> list[int]:
    """The load balancers a list answers, as indexes into LBS."""
    body = lists.get("/loadbalancers", mine(lists, **params))
    return [lbs.index(lb["id"]) for lb in body["loadbalancers"]]


def pages(lists: Lists, lbs: list[str], **params: Any) -> list[list[int]]:
    """Every page, following the next links from the first page."""
    body = lists.get("/loadbalancers", mine(lists, **params))
    out = []
    while True:
        out.append([lbs.index(lb["id"]) for lb in body["loadbalancers"]])
        nxt = [link for link in body["loadbalancers_links"] if link["rel"] == "next"]
        if not nxt:
            return out
        body = lists.follow(nxt[0]["href"])


def test_sorted_by_code_point_with_ties_in_creation_order(lists, lbs):
    assert listed(lists, lbs, sort="name:asc") == [7, 2, 1, 4, 0, 3, 6, 5]
    # Descending reverses the names, not the ties.
    assert listed(lists, lbs, sort="name:desc") == [5, 0, 3, 6, 1, 4, 2, 7]
    assert listed(lists, lbs, sort_key="name", sort_dir="desc") == [5, 0, 3, 6, 1, 4, 2, 7]
    assert listed(lists, lbs) == list(range(8))


def test_several_sort_keys(lists, lbs):
    assert listed(lists, lbs, sort="admin_state_up:asc,name:desc") == \
        [3, 5, 0, 6, 1, 4, 2, 7]
    assert listed(lists, lbs, sort_key=["admin_state_up", "name"],
                  sort_dir=["desc", "asc"]) == [7, 2, 1, 4, 0, 6, 5, 3]


def test_pages_follow_next_links_beyond_the_page_size(lists, lbs):
    assert pages(lists, lbs, sort="name:desc", limit=3) == [[5, 0, 3], [6, 1, 4], [2, 7]]
    assert pages(lists, lbs, limit=3) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    # A limit that the rows just fill has no next link.
    assert pages(lists, lbs, limit=8) == [list(range(8))]
    assert pages(lists, lbs, limit=4, sort="name:asc") == [[7, 2, 1, 4], [0, 3, 6, 5]]


def test_page_after_a_marker_in_the_middle(lists, lbs):
    body = lists.get("/loadbalancers", mine(lists, sort="name:desc", limit=2,
                                            marker=lbs[0]))
    assert [lbs.index(lb["id"]) for lb in body["loadbalancers"]] == [3, 6]
    links = {link["rel"]: link["href"] for link in body["loadbalancers_links"]}
    assert set(links) == {"next", "previous"}
    assert f"marker={lbs[6]}" in links["next"] and f"marker={lbs[3]}" in links["previous"]
    # Without a limit: everything after the marker.
    assert listed(lists, lbs, sort="name:desc", marker=lbs[4]) == [2, 7]
    assert listed(lists, lbs, sort="name:desc", marker=lbs[7]) == []


def test_nulls_sort_last_ascending_and_first_descending(lists):
    lb = lists.create("/loadbalancers", "loadbalancer", {
        "vip_subnet_id": lists.subnet["id"], "pools": [{
            "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": [
                {"address": f"10.63.0.{30 + i}", "protocol_port": 80, "name": str(i),
                 **({"monitor_port": port} if port else {})}
                for i, port in enumerate((None, 9000, None, 8000, 9000, None))]}]})
    path = f"/pools/{lb['pools'][0]['id']}/members"

    def order(**params: Any) -> list[list[int]]:
        body = lists.get(path, params)
        out = []
        while True:
            out.append([int(m["name"]) for m in body["members"]])
            nxt = [link for link in body["members_links"] if link["rel"] == "next"]
            if not nxt:
                return out
            body = lists.follow(nxt[0]["href"])

    assert order(sort="monitor_port:asc") == [[3, 1, 4, 0, 2, 5]]
    assert order(sort="monitor_port:desc") == [[0, 2, 5, 1, 4, 3]]
    # Pages whose markers are null and not null.
    assert order(sort="monitor_port:desc", limit=2) == [[0, 2], [5, 1], [4, 3]]
    assert order(sort="monitor_port:asc", limit=2) == [[3, 1], [4, 0], [2, 5]]
    assert order(monitor_port="", limit=2) == [[0, 2], [5]]


def test_attribute_filters(lists, lbs):
    assert listed(lists, lbs, name="b") == [0, 3, 6]
    assert listed(lists, lbs, name=["a", "C"]) == [1, 2, 4]
    assert listed(lists, lbs, name="") == [7]
    assert listed(lists, lbs, admin_state_up="False") == [3]
    assert listed(lists, lbs, admin_state_up="true", name="b") == [0, 6]
    assert listed(lists, lbs, admin_state_up="0") == []
    # A null shows as nothing; a constant attribute is what the API shows.
    assert listed(lists, lbs, flavor_id="") == list(range(8))
    assert listed(lists, lbs, vip_vnic_type="normal", name="C") == [2]
    assert listed(lists, lbs, vip_qos_policy_id="x") == []
    # An attribute load balancers don't have matches nothing.
    assert listed(lists, lbs, color="blue") == []
    created = lists.get(f"/loadbalancers/{lbs[2]}")["loadbalancer"]["created_at"]
    same_second = lists.get("/loadbalancers", mine(lists, created_at=created))
    assert lbs[2] in [lb["id"] for lb in same_second["loadbalancers"]]
    assert {lb["created_at"] for lb in same_second["loadbalancers"]} == {created}
    updated = lists.get(f"/loadbalancers/{lbs[5]}")["loadbalancer"]["updated_at"]
    assert 5 in listed(lists, lbs, updated_at=updated)
    assert listed(lists, lbs, provisioning_status="ACTIVE") == [5]


def test_tag_filters(lists, lbs):
    assert listed(lists, lbs, tags="blue") == [0, 3, 4]
    assert listed(lists, lbs, tags="blue,red") == [4]
    assert listed(lists, lbs, tags=["blue", "red"]) == [4]
    assert listed(lists, lbs, **{"tags-any": "red,x"}) == [0, 1, 4, 5]
    assert listed(lists, lbs, **{"not-tags": "blue,red"}) == [0, 1, 2, 3, 5, 6, 7]
    assert listed(lists, lbs, **{"not-tags-any": "blue,x"}) == [1, 2, 6, 7]
    assert listed(lists, lbs, tags="blue", **{"not-tags-any": "red"}) == [0, 3]
    assert listed(lists, lbs, **{"tags-any": ""}) == []
    assert listed(lists, lbs, tags="") == list(range(8))
    assert pages(lists, lbs, tags="blue", sort="name:asc", limit=2) == [[4, 0], [3]]


def test_errors_octavia_answers(lists, lbs):
    params = mine(lists, sort="color:asc")
    assert lists.fault("/loadbalancers", params, 400) == \
        "'color' is not a valid option for sort_key"
    # Nothing to sort: no error, as before the database answered lists.
    assert lists.get("/loadbalancers", mine(lists, sort="color", name="zzz"))[
        "loadbalancers"] == []
    assert lists.fault("/loadbalancers", mine(lists, sort="name:up"), 400) == \
        "Invalid sort direction 'up'"
    missing = str(uuid.uuid4())
    assert lists.fault("/loadbalancers", mine(lists, marker=missing), 404) == \
        f"Marker {missing} not found."
    # A marker the filters leave out is not found either.
    lists.fault("/loadbalancers", mine(lists, marker=lbs[0], name="a"), 404)
    for bad in ("-1", "x", "1.5"):
        assert "Limit must be a non-negative integer" in lists.fault(
            "/loadbalancers", mine(lists, limit=bad), 400)
    every = lists.get("/loadbalancers", mine(lists, limit=0))
    assert len(every["loadbalancers"]) == 8 and every["loadbalancers_links"] == []


def test_fields_and_lists_or_objects_as_keys(lists, lbs):
    body = lists.get("/loadbalancers", mine(lists, sort="name:desc", limit=2,
                                            fields="name,id"))
    assert body["loadbalancers"] == [{"id": lbs[5], "name": "é"}, {"id": lbs[0], "name": "b"}]
    # Sorting on a list attribute compares its text, as it always did.
    by_tags = sorted(range(8), key=lambda i: str(sorted(LBS[i][1])))
    assert listed(lists, lbs, sort="tags:asc") == by_tags
    assert [i for page in pages(lists, lbs, sort="tags:asc", limit=3) for i in page] == \
        by_tags


def test_other_collections(lists):
    lb = lists.create("/loadbalancers", "loadbalancer", {
        "vip_subnet_id": lists.subnet["id"], "listeners": [
            {"protocol": "HTTP", "protocol_port": port, "connection_limit": limit}
            for port, limit in ((80, 10), (81, 30), (8080, 20))], "pools": [
            {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "name": "with",
             "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1},
             "members": [{"address": f"10.63.0.{20 + i}", "protocol_port": 80 + i % 2,
                          "weight": i, "backup": i == 3} for i in range(5)]},
            {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "name": "without"}]})
    lists.agent.deployed(lb["id"])
    project = {"project_id": lists.api.project}
    listeners = lists.get("/listeners", {**project, "sort": "connection_limit:desc"})
    assert [li["protocol_port"] for li in listeners["listeners"]] == [81, 8080, 80]
    assert [li["protocol_port"] for li in lists.get("/listeners", {
        **project, "protocol_port": "80"})["listeners"]] == [80]
    assert lists.get("/listeners", {**project, "protocol_port": "080"})["listeners"] == []

    pools = lists.get("/pools", {**project, "healthmonitor_id": ""})["pools"]
    assert [p["name"] for p in pools] == ["without"]
    pools = lists.get("/pools", {**project, "sort": "healthmonitor_id:desc"})["pools"]
    assert [p["name"] for p in pools] == ["without", "with"]
    hms = lists.get("/healthmonitors", {**project, "type": "HTTP", "delay": "1"})
    assert len(hms["healthmonitors"]) == 1

    pool_id = next(p["id"] for p in lists.get("/pools", {**project, "name": "with"})["pools"])
    members = f"/pools/{pool_id}/members"
    page = lists.get(members, {"sort": "weight:desc", "limit": 2})
    assert [m["weight"] for m in page["members"]] == [4, 3]
    rest = lists.follow(page["members_links"][0]["href"])
    assert [m["weight"] for m in rest["members"]] == [2, 1]
    assert [m["weight"] for m in lists.get(members, {"backup": "true"})["members"]] == [3]
    assert [m["weight"] for m in lists.get(members, {
        "protocol_port": "81", "sort": "weight"})["members"]] == [1, 3]
    assert lists.fault(f"/pools/{uuid.uuid4()}/members", None, 404).startswith("Pool ")


def test_a_project_lists_only_its_own(backend: str, server_factory: Any) -> None:
    tokens = [("alice", "project-a", "member"), ("bob", "project-b", "member"),
              ("admin", "admin", "admin")]
    srv = server_factory(backend, auth_strategy="token", tokens=tokens)
    try:
        with Api(srv.url, token="admin") as admin, Api(srv.url, token="alice") as alice, \
                Api(srv.url, token="bob") as bob:
            net = make_network(admin, shared=True)
            subnet = make_subnet(admin, net["id"], cidr="10.64.0.0/24")
            made = {}
            for client, name in ((alice, "a1"), (bob, "b1"), (alice, "a2"), (bob, "b2")):
                resp = client.post(f"{PREFIX}/loadbalancers", {"loadbalancer": {
                    "vip_subnet_id": subnet["id"], "name": name}})
                assert resp.status_code == 201, resp.text
                made[name] = resp.json()["loadbalancer"]["id"]

            def names(client: Api, **params: Any) -> list[str]:
                resp = client.get(f"{PREFIX}/loadbalancers", params=params)
                assert resp.status_code == 200, resp.text
                return [lb["name"] for lb in resp.json()["loadbalancers"]]

            assert names(alice) == ["a1", "a2"]
            assert names(bob, sort="name:desc", limit=1) == ["b2"]
            assert names(bob, project_id="project-a") == []
            # Another project's object is no marker.
            resp = bob.get(f"{PREFIX}/loadbalancers", params={"marker": made["a1"]})
            assert resp.status_code == 404, resp.text
            assert names(admin, sort="name") == ["a1", "a2", "b1", "b2"]
    finally:
        srv.cleanup()


def test_postgresql_with_a_linguistic_collation_still_sorts_by_code_point(
        backend: str, server_factory: Any, pg_databases: Any, physnet: str) -> None:
    """A database created with a language's collation (en-US: "a b B C é") sorts and
    pages names as the API always did, by code point ("B C a b é")."""
    if backend != "pg":
        pytest.skip("a PostgreSQL database's collation")
    name = f"lbaas_test_{uuid.uuid4().hex[:12]}"
    with pg_databases._connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' '
                     "LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
    pg_databases.created.append(name)
    srv = server_factory(backend, database_url=PG_URL.format(db=name))
    try:
        with Api(srv.url, project="collation") as api:
            net = make_network(api, **{"provider:physical_network": physnet})
            subnet = make_subnet(api, net["id"], cidr="10.65.0.0/24")
            for lb_name in ("b", "B", "a", "C", "é"):
                resp = api.post(f"{PREFIX}/loadbalancers", {"loadbalancer": {
                    "vip_subnet_id": subnet["id"], "name": lb_name}})
                assert resp.status_code == 201, resp.text

            def names(**params: Any) -> list[str]:
                resp = api.get(f"{PREFIX}/loadbalancers", params=params)
                assert resp.status_code == 200, resp.text
                return [lb["name"] for lb in resp.json()["loadbalancers"]]

            assert names(sort="name:asc") == ["B", "C", "a", "b", "é"]
            assert names(sort="name:desc") == ["é", "b", "a", "C", "B"]
            first = api.get(f"{PREFIX}/loadbalancers", params={"sort": "name", "limit": 2})
            marker = first.json()["loadbalancers"][-1]["id"]
            assert names(sort="name", limit=2, marker=marker) == ["a", "b"]
    finally:
        srv.cleanup()


ODD_VALUES = ["\x00", "a\x00b", str(2**70), str(-2**70), "1e999", "9" * 400]
ODD_KEYS = [("/loadbalancers", "name"), ("/loadbalancers", "vip_address"),
            ("/loadbalancers", "tags"), ("/loadbalancers", "not-tags-any"),
            ("/listeners", "protocol_port"), ("/listeners", "connection_limit"),
            ("/pools", "lb_algorithm"), ("/healthmonitors", "delay"),
            ("/healthmonitors", "http_version"), ("/loadbalancers", "created_at")]


def test_odd_filter_values_match_nothing_and_never_fail(lists, lbs):
    """Values no stored attribute can hold (a NUL, which PostgreSQL's text refuses;
    numbers beyond the database's integers) are filters that match nothing, not 500s
    or 503s."""
    for path, key in ODD_KEYS:
        for value in ODD_VALUES:
            resp = lists.request(path, mine(lists, **{key: value}))
            assert resp.status_code == 200, (path, key, value, resp.text)
            if key != "not-tags-any":
                assert resp.json()[path.strip("/")] == [], (path, key, value)
