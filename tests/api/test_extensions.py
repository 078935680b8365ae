"""/v2.0/extensions: Neutron's extension list, for clients that look before they use an
extension (python-neutronclient's ext-list and ext-show, tests/compat)."""

from __future__ import annotations

import httpx

from tests.api.builders import assert_error
from tests.api.conftest import ServerFactory
from tests.helpers.server import Api

ALIASES = {"lbaas", "agent", "lbaas_agent_scheduler", "lbaas_agent_schedulerv2", "quotas",
           "provider"}


def test_the_list_names_what_the_server_speaks(api: Api) -> None:
    resp = api.get("/extensions")
    assert resp.status_code == 200
    extensions = resp.json()["extensions"]
    assert {e["alias"] for e in extensions} == ALIASES
    for ext in extensions:
        assert set(ext) == {"name", "alias", "description", "updated", "links"}
        assert ext["name"] and ext["description"] and ext["links"] == []
        assert ext["updated"].startswith("20")


def test_one_extension_and_an_unknown_one(api: Api) -> None:
    shown = api.get("/extensions/quotas")
    assert shown.status_code == 200
    assert shown.json()["extension"]["alias"] == "quotas"
    assert api.get("/extensions/lbaas", params={"fields": "name"}).json() == {
        "extension": {"name": "LoadBalancing service"}}
    err = assert_error(api.get("/extensions/router"), 404)
    assert err == {"type": "ExtensionNotFound",
                   "message": "Extension with alias router does not exist", "detail": ""}


def test_filters_and_fields_as_every_list(api: Api) -> None:
    resp = api.get("/extensions", params={"alias": "provider", "fields": ["alias", "name"]})
    assert resp.json() == {"extensions": [{"alias": "provider", "name": "Provider Network"}]}


def test_authenticated_like_the_rest_of_v2_0(backend: str,
                                             server_factory: ServerFactory) -> None:
    srv = server_factory(backend, auth_strategy="token", tokens=[("t", "p", "member")])
    try:
        assert_error(httpx.get(srv.url + "/v2.0/extensions", timeout=30), 401)
        with Api(srv.url, token="t") as tenant:
            assert {e["alias"] for e in tenant.get("/extensions").json()["extensions"]} == \
                ALIASES
    finally:
        srv.cleanup()
