"""/v2.0/ports' allowed_address_pairs, as Neutron takes and shows them (ACTIVE_STANDBY's
amphora ports carry the VIP there; tenants may set them on their own ports)."""

from __future__ import annotations

from typing import Any

from tests.api.builders import assert_error, make_subnet
from tests.helpers.server import Api


def _port(api: Api, **attrs: Any) -> Any:
    sub = make_subnet(api, cidr="10.33.0.0/24")
    return api.post("/ports", {"port": {"network_id": sub["network_id"], **attrs}})


def test_pairs_are_shown_empty_by_default(api: Api) -> None:
    resp = _port(api)
    assert resp.status_code == 201, resp.text
    assert resp.json()["port"]["allowed_address_pairs"] == []


def test_pairs_on_create_take_the_ports_mac_by_default(api: Api) -> None:
    resp = _port(api, allowed_address_pairs=[
        {"ip_address": "10.33.0.200"},
        {"ip_address": "192.168.0.0/24", "mac_address": "FA:16:3E:00:00:01"}])
    assert resp.status_code == 201, resp.text
    port = resp.json()["port"]
    assert port["allowed_address_pairs"] == [
        {"ip_address": "10.33.0.200", "mac_address": port["mac_address"]},
        {"ip_address": "192.168.0.0/24", "mac_address": "fa:16:3e:00:00:01"}]
    assert api.show("port", port["id"])["allowed_address_pairs"] == \
        port["allowed_address_pairs"]


def test_pairs_are_replaced_and_cleared_by_update(api: Api) -> None:
    port = _port(api, allowed_address_pairs=[{"ip_address": "10.33.0.200"}]).json()["port"]
    resp = api.put(f"/ports/{port['id']}", {"port": {
        "allowed_address_pairs": [{"ip_address": "10.33.0.201"}]}})
    assert resp.status_code == 200, resp.text
    assert [p["ip_address"] for p in resp.json()["port"]["allowed_address_pairs"]] == \
        ["10.33.0.201"]
    cleared_values: tuple[list[Any] | None, ...] = ([], None)
    for cleared in cleared_values:
        resp = api.put(f"/ports/{port['id']}", {"port": {"allowed_address_pairs": cleared}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["port"]["allowed_address_pairs"] == []
    # Other updates leave them alone.
    api.put(f"/ports/{port['id']}", {"port": {
        "allowed_address_pairs": [{"ip_address": "10.33.0.202"}]}})
    resp = api.put(f"/ports/{port['id']}", {"port": {"name": "renamed"}})
    assert len(resp.json()["port"]["allowed_address_pairs"]) == 1


def test_bad_pairs_are_a_400(api: Api) -> None:
    for pairs in ([{"ip_address": "10.33.0.200"}, {"ip_address": "10.33.0.200"}],
                  [{"ip_address": "not-an-address"}],
                  [{"mac_address": "fa:16:3e:00:00:01"}],
                  [{"ip_address": "10.33.0.1/24"}],
                  [{"ip_address": "10.33.0.9", "mac_address": "zz"}],
                  [{"ip_address": "10.33.0.9", "other": 1}],
                  [{"ip_address": f"10.33.1.{i}"} for i in range(11)]):
        body = assert_error(_port(api, allowed_address_pairs=pairs), 400)
        assert body["type"] in ("HTTPBadRequest", "InvalidInput"), pairs


def test_a_pair_may_not_be_the_ports_own_address_and_mac(api: Api) -> None:
    port = _port(api).json()["port"]
    own = port["fixed_ips"][0]["ip_address"]
    resp = api.put(f"/ports/{port['id']}", {"port": {"allowed_address_pairs": [
        {"ip_address": own}]}})
    assert_error(resp, 400)
    # The same address with another MAC is a pair Neutron accepts.
    resp = api.put(f"/ports/{port['id']}", {"port": {"allowed_address_pairs": [
        {"ip_address": own, "mac_address": "fa:16:3e:00:00:09"}]}})
    assert resp.status_code == 200, resp.text
