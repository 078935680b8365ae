"""Neutron's list features on every collection: filters, fields=, sorting, pagination.

noauth makes every caller admin, and admins see every project, so each list below is
filtered on this test's own tenant_id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.builders import (
    assert_error,
    make_member,
    make_monitor,
    make_network,
    make_pool,
    make_subnet,
    make_vip,
)
from tests.helpers.server import COLLECTIONS, Api, ServerProcess

N = 5
Maker = Callable[[Api, dict[str, Any], int], dict[str, Any]]


def _subnet(api: Api, ctx: dict[str, Any]) -> dict[str, Any]:
    if "subnet" not in ctx:
        ctx["subnet"] = make_subnet(api, cidr="10.130.0.0/24")
    return dict(ctx["subnet"])


def _pool(api: Api, ctx: dict[str, Any]) -> dict[str, Any]:
    if "pool" not in ctx:
        ctx["pool"] = make_pool(api, _subnet(api, ctx)["id"])
    return dict(ctx["pool"])


# resource → (maker(api, ctx, i), sort/filter attribute, value of item i)
MAKERS: dict[str, tuple[Maker, str, Callable[[int], Any]]] = {
    "network": (lambda api, ctx, i: make_network(api, name=f"item-{i}"),
                "name", lambda i: f"item-{i}"),
    "subnet": (lambda api, ctx, i: make_subnet(api, cidr=f"10.131.{i}.0/24", name=f"item-{i}"),
               "name", lambda i: f"item-{i}"),
    "port": (lambda api, ctx, i: api.create("port", network_id=_subnet(api, ctx)["network_id"],
                                            name=f"item-{i}"),
             "name", lambda i: f"item-{i}"),
    "pool": (lambda api, ctx, i: make_pool(api, _subnet(api, ctx)["id"], name=f"item-{i}"),
             "name", lambda i: f"item-{i}"),
    "vip": (lambda api, ctx, i: make_vip(api, make_pool(api, _subnet(api, ctx)["id"]),
                                         name=f"item-{i}"),
            "name", lambda i: f"item-{i}"),
    "member": (lambda api, ctx, i: make_member(api, _pool(api, ctx)["id"],
                                               protocol_port=8000 + i),
               "protocol_port", lambda i: 8000 + i),
    "health_monitor": (lambda api, ctx, i: make_monitor(api, delay=10 + i, timeout=1),
                       "delay", lambda i: 10 + i),
}


def plural(resource: str) -> str:
    return COLLECTIONS[resource].rsplit("/", 1)[1]


@pytest.fixture(scope="module", params=list(MAKERS))
def items(request: pytest.FixtureRequest,
          server: ServerProcess) -> Iterator[tuple[str, str, list[dict[str, Any]], Api]]:
    """Five objects of one resource, made once per module in a project of their own
    (tests only read them), in a shuffled creation order so that sorting is not
    creation order by luck; and the client of that project."""
    resource = request.param
    maker, key, _ = MAKERS[resource]
    with Api(server.url, project="list-" + uuid.uuid4().hex[:10]) as reader:
        ctx: dict[str, Any] = {}
        made = {i: maker(reader, ctx, i) for i in (3, 0, 4, 1, 2)}
        yield resource, key, [made[i] for i in range(N)], reader


def listing(api: Api, resource: str, params: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    resp = api.get(COLLECTIONS[resource], params=[("tenant_id", api.project), *params])
    assert resp.status_code == 200, resp.text
    return list(resp.json()[plural(resource)])


def test_filter_by_attribute(items: tuple) -> None:
    resource, key, objs, reader = items
    got = listing(reader, resource, [(key, objs[2][key])])
    assert [o["id"] for o in got] == [objs[2]["id"]]


def test_filter_with_several_values(items: tuple) -> None:
    resource, key, objs, reader = items
    got = listing(reader, resource, [(key, objs[1][key]), (key, objs[3][key])])
    assert sorted(o["id"] for o in got) == sorted([objs[1]["id"], objs[3]["id"]])


def test_filter_matching_nothing(items: tuple) -> None:
    resource, key, objs, reader = items
    value = "nothing-like-this" if key == "name" else 1
    assert listing(reader, resource, [(key, value)]) == []


def test_fields_select_attributes(items: tuple) -> None:
    resource, key, objs, reader = items
    got = listing(reader, resource, [("fields", "id"), ("fields", key)])
    assert len(got) == N
    for o in got:
        assert set(o) == {"id", key}, o
    resp = reader.get(f"{COLLECTIONS[resource]}/{objs[0]['id']}", params={"fields": key})
    assert resp.status_code == 200, resp.text
    assert resp.json()[resource] == {key: objs[0][key]}


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sorting(items: tuple, direction: str) -> None:
    resource, key, objs, reader = items
    got = listing(reader, resource, [("sort_key", key), ("sort_dir", direction)])
    expected = [o["id"] for o in objs]
    if direction == "desc":
        expected.reverse()
    assert [o["id"] for o in got] == expected


def test_limit_and_marker_page_through(items: tuple) -> None:
    resource, key, objs, reader = items
    sort = [("sort_key", key), ("sort_dir", "asc")]
    page1 = listing(reader, resource, [*sort, ("limit", 2)])
    assert [o["id"] for o in page1] == [objs[0]["id"], objs[1]["id"]]
    page2 = listing(reader, resource, [*sort, ("limit", 2), ("marker", page1[-1]["id"])])
    assert [o["id"] for o in page2] == [objs[2]["id"], objs[3]["id"]]
    page3 = listing(reader, resource, [*sort, ("limit", 2), ("marker", page2[-1]["id"])])
    assert [o["id"] for o in page3] == [objs[4]["id"]]


def test_next_link_on_a_full_page(items: tuple) -> None:
    resource, key, objs, reader = items
    resp = reader.get(COLLECTIONS[resource], params=[
        ("tenant_id", reader.project), ("sort_key", key), ("limit", 2)])
    assert resp.status_code == 200, resp.text
    links = resp.json().get(f"{plural(resource)}_links")
    assert links, resp.json()
    [nxt] = [link for link in links if link["rel"] == "next"]
    assert f"marker={objs[1]['id']}" in nxt["href"]


def test_limit_without_sort_key_is_stable(items: tuple) -> None:
    resource, _, objs, reader = items
    seen: list[str] = []
    marker: list[tuple[str, Any]] = []
    for _ in range(N + 1):
        page = listing(reader, resource, [("limit", 2), *marker])
        if not page:
            break
        seen.extend(o["id"] for o in page)
        marker = [("marker", page[-1]["id"])]
    assert sorted(seen) == sorted(o["id"] for o in objs)


@pytest.mark.parametrize("params", [
    {"sort_key": "no_such_attribute"}, {"sort_key": "name", "sort_dir": "sideways"},
    {"limit": "many"}, {"limit": -1},
], ids=["sort-key", "sort-dir", "limit-text", "limit-negative"])
def test_bad_list_parameters_rejected(api: Api, params: dict) -> None:
    assert_error(api.get("/lb/pools", params=params), 400)


def test_filter_on_boolean_and_enum(api: Api) -> None:
    sub = make_subnet(api, cidr="10.132.0.0/24")
    tcp = make_pool(api, sub["id"], protocol="TCP", admin_state_up=False)
    http = make_pool(api, sub["id"], protocol="HTTP")
    assert [p["id"] for p in api.list("pool", tenant_id=api.project,
                                      protocol="TCP")] == [tcp["id"]]
    assert [p["id"] for p in api.list("pool", tenant_id=api.project,
                                      admin_state_up="false")] == [tcp["id"]]
    assert [p["id"] for p in api.list("pool", tenant_id=api.project,
                                      admin_state_up="true")] == [http["id"]]


def test_members_filtered_by_pool(api: Api) -> None:
    sub = make_subnet(api, cidr="10.133.0.0/24")
    p1, p2 = make_pool(api, sub["id"]), make_pool(api, sub["id"])
    m1 = make_member(api, p1["id"])
    make_member(api, p2["id"])
    assert [m["id"] for m in api.list("member", pool_id=p1["id"])] == [m1["id"]]


def test_filters_on_numbers_text_and_joined_attributes(api: Api) -> None:
    """Filters are applied in SQL where they name a stored attribute: numbers,
    booleans in any case, the VIP's address and port (held by the load balancer row)
    and the pool's provider answer as Neutron's text comparison does."""
    sub = make_subnet(api, cidr="10.135.0.0/24")
    pool = make_pool(api, sub["id"], lb_method="LEAST_CONNECTIONS")
    other = make_pool(api, sub["id"])
    m80 = make_member(api, pool["id"], address="10.135.0.10", protocol_port=80)
    make_member(api, pool["id"], address="10.135.0.11", protocol_port=8080,
                admin_state_up=False)
    vip = make_vip(api, pool, protocol_port=80)

    def ids(resource: str, **params: Any) -> list[str]:
        return [o["id"] for o in api.list(resource, tenant_id=api.project, **params)]

    assert ids("member", protocol_port="80") == [m80["id"]]
    assert ids("member", protocol_port="080") == []  # text, as Neutron compares
    assert ids("member", protocol_port="eighty") == []
    assert ids("member", admin_state_up="TRUE") == [m80["id"]]
    assert ids("member", weight="1", address="10.135.0.10") == [m80["id"]]
    assert ids("pool", lb_method="LEAST_CONNECTIONS") == [pool["id"]]
    assert ids("pool", provider="haproxy") == [pool["id"], other["id"]]
    assert ids("pool", provider="octavia") == []
    assert ids("vip", address=vip["address"]) == [vip["id"]]
    assert ids("vip", port_id=vip["port_id"], pool_id=pool["id"]) == [vip["id"]]
    assert ids("vip", pool_id=other["id"]) == []
    assert ids("vip", connection_limit="-1") == [vip["id"]]


def test_descending_pages(items: tuple) -> None:
    resource, key, objs, reader = items
    sort = [("sort_key", key), ("sort_dir", "desc"), ("limit", 3)]
    page1 = listing(reader, resource, sort)
    page2 = listing(reader, resource, [*sort, ("marker", page1[-1]["id"])])
    assert [o["id"] for o in page1 + page2] == [o["id"] for o in reversed(objs)]


def test_pages_through_ties(api: Api) -> None:
    # Five pools with one name: the pages still cover each exactly once.
    sub = make_subnet(api, cidr="10.134.0.0/24")
    ids = {make_pool(api, sub["id"], name="same")["id"] for _ in range(5)}
    seen: list[str] = []
    marker: list[tuple[str, Any]] = []
    for _ in range(6):
        page = listing(api, "pool", [("sort_key", "name"), ("limit", 2), *marker])
        if not page:
            break
        seen.extend(p["id"] for p in page)
        marker = [("marker", page[-1]["id"])]
    assert sorted(seen) == sorted(ids)


# --- the v1 lists answered by the database (lbaas/server/api/listing.py) -------------

# In creation order. Names repeat (ties keep the creation order in both directions),
# differ only in case, and go beyond ASCII: code point order is "" < "C" < "a" < "b" < "é".
NAMES = ["b", "a", "C", "b", "a", "é", "b", ""]


def _code_point_order(names: list[str], desc: bool) -> list[int]:
    # Python's sort is stable both ways: ties stay in creation order.
    return sorted(range(len(names)), key=lambda i: names[i], reverse=desc)


def test_v1_lists_sort_by_code_point_and_pages_cover_each_once(api: Api) -> None:
    sub = make_subnet(api, cidr="10.135.0.0/24")
    made = [make_pool(api, sub["id"], name=name)["id"] for name in NAMES]
    for direction in ("asc", "desc"):
        sort = [("sort_key", "name"), ("sort_dir", direction)]
        whole = [p["id"] for p in listing(api, "pool", sort)]
        assert whole == [made[i] for i in _code_point_order(NAMES, direction == "desc")]
        # Pages of three, following the next links, give the same order.
        resp = api.get(COLLECTIONS["pool"],
                       params=[("tenant_id", api.project), *sort, ("limit", 3)])
        paged: list[str] = []
        while True:
            assert resp.status_code == 200, resp.text
            body = resp.json()
            paged += [p["id"] for p in body["pools"]]
            links = body.get("pools_links", [])
            if not links:
                break
            assert [link["rel"] for link in links] == ["next"]
            resp = api.client.get(links[0]["href"],
                                  headers={"X-Project-Id": api.project or ""})
        assert paged == whole


def test_v1_lists_sort_and_filter_on_the_status_they_show(api: Api, agent: Any,
                                                          physnet: str) -> None:
    """``status`` is v1's one word made of the stored pair of statuses: sorting and
    filtering use the word the list shows."""
    pool = make_pool(api, physnet=physnet)
    members = [make_member(api, pool["id"], protocol_port=9000 + i)["id"] for i in range(5)]
    agent.deployed(pool["id"])
    agent.update_status("member", members[1], "INACTIVE", "down")
    agent.update_status("member", members[3], "DOWN")
    make_member(api, pool["id"], protocol_port=9100)  # PENDING_CREATE

    def shown(*params: tuple[str, Any]) -> list[tuple[str, str, str | None]]:
        got = listing(api, "member", [("pool_id", pool["id"]), *params])
        return [(m["id"], m["status"], m["status_description"]) for m in got]

    everyone = shown()
    assert len({status for _, status, _ in everyone}) == 4, everyone
    for direction in ("asc", "desc"):
        # (Python's sort is stable both ways: ties stay in creation order.)
        assert shown(("sort_key", "status"), ("sort_dir", direction)) == sorted(
            everyone, key=lambda m: m[1], reverse=direction == "desc")
        assert shown(("sort_key", "status_description"), ("sort_dir", direction)) == \
            sorted(everyone, key=lambda m: (m[2] is None, m[2] or ""),
                   reverse=direction == "desc")
    assert shown(("status", "INACTIVE"), ("status", "DOWN")) == [
        m for m in everyone if m[1] in ("INACTIVE", "DOWN")]
    assert [m[0] for m in shown(("status", "INACTIVE"))] == [members[1]]
    assert shown(("status_description", "down")) == [m for m in everyone if m[2] == "down"]
    # A null status_description matches the empty filter.
    assert shown(("status_description", "")) == [m for m in everyone if not m[2]]


def test_v1_list_errors_come_before_and_after_matching_as_neutron_says(api: Api) -> None:
    sub = make_subnet(api, cidr="10.136.0.0/24")
    make_pool(api, sub["id"], name="one")
    base = [("tenant_id", api.project)]
    for params, message in [
        ([("sort_key", "name"), ("sort_dir", "up")], "up is invalid attribute for sort_dir"),
        ([("sort_key", "nope")], "nope is invalid attribute for sort_key"),
        ([("limit", "-1")], "Limit must be an integer 0 or greater and not '-1'"),
        ([("limit", "1"), ("marker", "x")], "Marker x could not be found"),
    ]:
        resp = api.get(COLLECTIONS["pool"], params=[*base, *params])
        assert assert_error(resp, 400)["message"] == message, params
    # An unknown sort key is no error when nothing matched; a marker without a limit
    # is ignored.
    assert listing(api, "pool", [("name", "none"), ("sort_key", "nope")]) == []
    assert [p["name"] for p in listing(api, "pool", [("marker", "x")])] == ["one"]
