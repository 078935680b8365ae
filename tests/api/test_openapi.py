"""/openapi.json describes every endpoint of the REST and agent APIs."""

from __future__ import annotations

import re

from tests.helpers.server import Api

# path template (parameters as {}) → methods it must list
EXPECTED = {
    "/v2.0/networks": {"get", "post"},
    "/v2.0/networks/{}": {"get", "put", "delete"},
    "/v2.0/subnets": {"get", "post"},
    "/v2.0/subnets/{}": {"get", "put", "delete"},
    "/v2.0/ports": {"get", "post"},
    "/v2.0/ports/{}": {"get", "put", "delete"},
    "/v2.0/lb/pools": {"get", "post"},
    "/v2.0/lb/pools/{}": {"get", "put", "delete"},
    "/v2.0/lb/pools/{}/stats": {"get"},
    "/v2.0/lb/pools/{}/health_monitors": {"post"},
    "/v2.0/lb/pools/{}/health_monitors/{}": {"delete"},
    "/v2.0/lb/pools/{}/loadbalancer-agent": {"get"},
    "/v2.0/lb/members": {"get", "post"},
    "/v2.0/lb/members/{}": {"get", "put", "delete"},
    "/v2.0/lb/health_monitors": {"get", "post"},
    "/v2.0/lb/health_monitors/{}": {"get", "put", "delete"},
    "/v2.0/lb/vips": {"get", "post"},
    "/v2.0/lb/vips/{}": {"get", "put", "delete"},
    "/v2.0/agents": {"get"},
    "/v2.0/agents/{}": {"get", "put"},
    "/v2.0/agents/{}/loadbalancer-pools": {"get"},
    "/v2.0/agents/{}/agent-loadbalancers": {"get"},
    "/v2.0/lbaas/loadbalancers/{}/loadbalancer-hosting-agent": {"get"},
    "/ui/api/overview": {"get"},
    "/agent/v1/agents": {"post"},
    "/agent/v1/hosts/{}/ready_devices": {"get"},
    "/agent/v1/hosts/{}/events": {"get"},
    "/agent/v1/logical_devices/{}": {"get"},
    "/agent/v1/pools/{}/deployed": {"post"},
    "/agent/v1/pools/{}/destroyed": {"post"},
    "/agent/v1/pools/{}/stats": {"post"},
    "/agent/v1/status": {"post"},
    "/agent/v1/ports/{}/plug": {"post"},
    "/agent/v1/ports/{}/unplug": {"post"},
}


def documented(api: Api) -> dict[str, set[str]]:
    resp = api.get("/openapi.json")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"]
    paths: dict[str, set[str]] = {}
    for path, item in doc["paths"].items():
        template = re.sub(r"\{[^}]+\}", "{}", path)
        paths.setdefault(template, set()).update(
            m for m in item if m in ("get", "post", "put", "delete", "patch"))
    return paths


def test_every_endpoint_is_documented(api: Api) -> None:
    paths = documented(api)
    missing = {p: sorted(m - paths.get(p, set())) for p, m in EXPECTED.items()
               if not m <= paths.get(p, set())}
    assert missing == {}


OCTAVIA = {
    "/v2/lbaas/loadbalancers": {"get", "post"},
    "/v2/lbaas/loadbalancers/{}": {"get", "put", "delete"},
    "/v2/lbaas/loadbalancers/{}/status": {"get"},
    "/v2/lbaas/loadbalancers/{}/stats": {"get"},
    "/v2/lbaas/loadbalancers/{}/failover": {"put"},
    "/v2/lbaas/listeners": {"get", "post"},
    "/v2/lbaas/listeners/{}": {"get", "put", "delete"},
    "/v2/lbaas/listeners/{}/stats": {"get"},
    "/v2/lbaas/pools": {"get", "post"},
    "/v2/lbaas/pools/{}": {"get", "put", "delete"},
    "/v2/lbaas/pools/{}/members": {"get", "post", "put"},
    "/v2/lbaas/pools/{}/members/{}": {"get", "put", "delete"},
    "/v2/lbaas/healthmonitors": {"get", "post"},
    "/v2/lbaas/healthmonitors/{}": {"get", "put", "delete"},
    "/v2/lbaas/quotas": {"get"},
    "/v2/lbaas/quotas/{}": {"get", "put", "delete"},
    "/v2/lbaas/providers": {"get"},
    "/v2/lbaas/flavors": {"get", "post"},
    "/v2/lbaas/flavorprofiles": {"get", "post"},
    "/v2/lbaas/availabilityzones": {"get"},
}


def test_both_apis_are_documented_under_both_octavia_prefixes(api: Api) -> None:
    paths = documented(api)
    for path, methods in OCTAVIA.items():
        for prefix in ("/v2/lbaas", "/v2.0/lbaas"):
            here = prefix + path[len("/v2/lbaas"):]
            assert methods <= paths.get(here, set()), (here, paths.get(here))


def test_documented_errors_are_the_real_ones(api: Api) -> None:
    doc = api.get("/openapi.json").json()
    for path, item in doc["paths"].items():
        # neutron-lbaas v2's hosting-agent route lives under /v2.0/lbaas, with
        # Neutron's errors.
        body = "OctaviaFault" if path.startswith(("/v2/lbaas", "/v2.0/lbaas", "/v2/octavia",
                                                  "/v2.0/octavia")) \
            and not path.endswith("/loadbalancer-hosting-agent") else "NeutronError"
        for method, operation in item.items():
            responses = operation["responses"]
            # The API answers bad input with 400 and its own body, never FastAPI's 422.
            assert "422" not in responses, (method, path)
            assert responses["400"]["content"]["application/json"]["schema"]["$ref"] \
                .endswith("/" + body), (method, path)
            assert "404" in responses, (method, path)
