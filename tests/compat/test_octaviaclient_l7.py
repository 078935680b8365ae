"""``openstack loadbalancer l7policy ...`` and ``l7rule ...`` work unchanged against
lbaas (python-openstackclient with python-octaviaclient, the versions and the client venv
of tests/compat/test_octaviaclient.py; an AutoAgent confirms every change)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compat.cloud import Cloud, octavia_cloud
from tests.compat.test_octaviaclient import OpenStack, openstack_exe  # noqa: F401


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with octavia_cloud("osc-l7-sub", "10.72.0.0/24") as c:
        yield c


def test_l7_policies_and_rules_with_openstack_loadbalancer(
        openstack_exe: str, cloud: Cloud) -> None:  # noqa: F811
    osc = OpenStack(openstack_exe, cloud)
    osc.json("loadbalancer", "create", "--name", "l7-lb", "--vip-subnet-id", "osc-l7-sub",
             "--wait")
    listener = osc.json("loadbalancer", "listener", "create", "--name", "l7-l",
                        "--protocol", "HTTP", "--protocol-port", "80", "--wait", "l7-lb")
    pool = osc.json("loadbalancer", "pool", "create", "--name", "images", "--protocol",
                    "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--loadbalancer", "l7-lb",
                    "--wait")

    to_pool = osc.json("loadbalancer", "l7policy", "create", "--name", "to-images",
                       "--action", "REDIRECT_TO_POOL", "--redirect-pool", "images",
                       "--wait", "l7-l")
    assert to_pool["action"] == "REDIRECT_TO_POOL"
    assert to_pool["redirect_pool_id"] == pool["id"] and str(to_pool["position"]) == "1"
    moved = osc.json("loadbalancer", "l7policy", "create", "--name", "moved", "--action",
                     "REDIRECT_TO_URL", "--redirect-url", "http://new.example.com/",
                     "--redirect-http-code", "301", "--position", "1", "--wait", "l7-l")
    assert str(moved["redirect_http_code"]) == "301" and str(moved["position"]) == "1"
    assert str(osc.json("loadbalancer", "l7policy", "show", "to-images")["position"]) == "2"

    rule = osc.json("loadbalancer", "l7rule", "create", "--type", "HOST_NAME",
                    "--compare-type", "EQUAL_TO", "--value", "images.example.com",
                    "--wait", "to-images")
    assert rule["type"] == "HOST_NAME" and rule["provisioning_status"] == "ACTIVE"
    rules = osc.json("loadbalancer", "l7rule", "list", "to-images")
    assert [r["id"] for r in rules] == [rule["id"]]
    osc.ok("loadbalancer", "l7rule", "set", "--value", "img.example.com", "--wait",
           "to-images", rule["id"])
    shown = osc.json("loadbalancer", "l7rule", "show", "to-images", rule["id"])
    assert shown["value"] == "img.example.com"

    # Octavia's validation reaches the user as the CLI's error.
    proc = osc.run("loadbalancer", "l7rule", "create", "--type", "PATH",
                   "--compare-type", "REGEX", "--value", "(unclosed", "to-images")
    assert proc.returncode != 0
    assert "Unable to parse regular expression" in proc.stdout + proc.stderr

    osc.ok("loadbalancer", "l7policy", "set", "--position", "1", "--wait", "to-images")
    listed = osc.json("loadbalancer", "l7policy", "list")
    assert {p["name"]: str(p["position"]) for p in listed} == {"to-images": "1",
                                                               "moved": "2"}
    assert osc.json("loadbalancer", "l7policy", "show", "moved")["listener_id"] == \
        listener["id"]

    osc.ok("loadbalancer", "l7rule", "delete", "--wait", "to-images", rule["id"])
    assert osc.json("loadbalancer", "l7rule", "list", "to-images") == []
    osc.ok("loadbalancer", "l7policy", "delete", "--wait", "moved")
    osc.ok("loadbalancer", "l7policy", "delete", "--wait", "to-images")
    assert osc.json("loadbalancer", "l7policy", "list") == []
    osc.ok("loadbalancer", "delete", "--cascade", "--wait", "l7-lb")
