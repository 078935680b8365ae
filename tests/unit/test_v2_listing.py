"""The Octavia list query's description of each collection (lbaas/server/api/v2/
listing.py) names every attribute the API shows: an attribute added to a serializer
and forgotten there would make a filter on it match nothing and a sort on it a 400."""

from __future__ import annotations

import pytest

from lbaas.server.api.v2 import listing
from lbaas.server.db import models as m


def _objects() -> dict[str, object]:
    lb = m.LoadBalancer(id="lb", tenant_id="p", name="", description="", tags=[])
    # Attributes that are an object or a list when set are set.
    pool = m.LbPool(id="pool", tenant_id="p", loadbalancer=lb, tags=[],
                    session_persistence={"type": "SOURCE_IP"}, tls_versions=["TLSv1.2"],
                    alpn_protocols=["h2"])
    return {
        "loadbalancers": lb,
        "listeners": m.Listener(id="li", tenant_id="p", loadbalancer_id="lb", tags=[],
                                allowed_cidrs=["10.0.0.0/8"], tls_versions=["TLSv1.2"],
                                alpn_protocols=["h2"]),
        "pools": pool,
        "members": m.LbMember(id="me", tenant_id="p", pool=pool, tags=[]),
        "healthmonitors": m.LbHealthMonitor(id="hm", tenant_id="p", pool_id="pool",
                                            tags=[]),
    }


@pytest.mark.parametrize("resource", [
    listing.LOADBALANCERS, listing.LISTENERS, listing.POOLS, listing.MEMBERS,
    listing.HEALTHMONITORS], ids=lambda r: r.collection)
def test_every_shown_attribute_is_described(resource: listing.Resource) -> None:
    shown = resource.serialize(_objects()[resource.collection])
    assert set(shown) == resource.keys
    assert not set(resource.attrs) & resource.other
    # What has no SQL form is a list or an object; every other value is scalar.
    for key, value in shown.items():
        assert isinstance(value, (list, dict)) == (key in resource.other), key
