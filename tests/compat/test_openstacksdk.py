"""openstacksdk's ``conn.load_balancer`` works unchanged against lbaas (current release).

The SDK is installed (every dependency pinned, below) into a throwaway venv under
``.client-venvs/`` (``tests/helpers/clients.py``), and ``tests/compat/sdk_driver.py``
runs with that venv's Python: create a load balancer on a subnet found by name, wait for
ACTIVE, find it by name, add a listener, a pool and a member (waiting in between, as
Octavia's locking requires), replace the members with the batch update, delete it with
``cascade=True`` and wait for the delete. It prints what it saw as JSON; the test
asserts on that. ``LBAAS_OPENSTACKSDK_PYTHON=/path/to/python`` uses that interpreter
(one with openstacksdk installed) instead.

The Connection needs no Keystone:
``Connection(auth_type="admin_token", auth={"token": T, "endpoint": URL},
load_balancer_endpoint_override=URL)``: the SDK discovers Octavia's version document at
URL and uses ``URL/v2/lbaas``. Also found to work with openstacksdk 4.22.0:
admin_token without the override (discovery then settles on ``URL/v2.0``, which lbaas
serves too), and ``auth_type="none"`` with ``load_balancer_endpoint_override=URL`` (plus
``network_endpoint_override=URL`` for the subnet lookup). An override ending in ``/v2``
does not: the SDK insists on a version document there.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.cloud import Cloud, octavia_cloud
from tests.helpers.clients import ClientVenvError, client_venv

DRIVER = Path(__file__).with_name("sdk_driver.py")

# The current release, and every dependency exactly (a pip freeze of a working install).
OPENSTACKSDK_REQUIREMENTS = [
    "certifi==2026.10.19.post1",
    "cffi==2.1.1",
    "charset-normalizer==3.5.3",
    "cryptography==50.0.2",
    "decorator==5.3.1",
    "dogpile.cache==1.5.0",
    "idna==3.20",
    "iso8601==2.1.0",
    "jmespath==1.1.0",
    "jsonpatch==1.48",
    "jsonpointer==3.12",
    "keystoneauth1==5.18.1",
    "openstacksdk==4.22.0",
    "os-service-types==1.9.0",
    "pbr==7.1.3",
    "platformdirs==4.14.9",
    "psutil==7.2.2",
    "pycparser==3.12",
    "PyYAML==6.0.4",
    "requests==2.34.2",
    "stevedore==5.10.0",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",]


@pytest.fixture(scope="session")
def sdk_python() -> str:
    """A Python with openstacksdk: ``LBAAS_OPENSTACKSDK_PYTHON``, else the client venv's."""
    exe = os.environ.get("LBAAS_OPENSTACKSDK_PYTHON", "")
    if exe:
        if not os.access(exe, os.X_OK):
            pytest.fail(f"LBAAS_OPENSTACKSDK_PYTHON={exe!r} is not an executable",
                        pytrace=False)
    else:
        try:
            exe = str(client_venv("openstacksdk", OPENSTACKSDK_REQUIREMENTS) / "python")
        except ClientVenvError as exc:  # a failure with pip's words, not a skip
            raise pytest.fail.Exception(
                f"could not install openstacksdk into a throwaway venv for the "
                f"compatibility tests:\n{exc}", pytrace=False) from None
    return exe


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with octavia_cloud("sdk-sub", "10.72.0.0/24") as c:
        yield c


def test_the_octavia_workflow_with_openstacksdk(sdk_python: str, cloud: Cloud) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([sdk_python, str(DRIVER), cloud.url, "sdk-sub"], env=env,
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (f"sdk_driver.py → {proc.returncode}:\n{proc.stdout}\n"
                                  f"{proc.stderr[-6000:]}\n{cloud.agent_report()}")
    seen = json.loads(proc.stdout.strip().splitlines()[-1])

    assert seen["endpoint"].rstrip("/") == f"{cloud.url}/v2"
    assert seen["created"]["provisioning_status"] == "PENDING_CREATE"
    lb_id = seen["created"]["id"]
    assert seen["active"]["provisioning_status"] == "ACTIVE"
    assert seen["active"]["operating_status"] == "ONLINE"
    assert seen["active"]["vip_address"].startswith("10.72.0.")
    assert seen["found_id"] == lb_id

    listener, pool, member = seen["listener"], seen["pool"], seen["member"]
    assert (listener["name"], listener["protocol_port"]) == ("sdk-l", 80)
    assert listener["provisioning_status"] == "ACTIVE"
    assert listener["default_pool_id"] == pool["id"]
    assert listener["load_balancers"] == [{"id": lb_id}]
    assert (pool["name"], pool["provisioning_status"]) == ("sdk-p", "ACTIVE")
    assert pool["listeners"] == [{"id": listener["id"]}]
    assert (member["address"], member["weight"]) == ("10.72.0.21", 2)
    assert member["provisioning_status"] == "ACTIVE"

    assert seen["batch_status"] == 202
    assert [tuple(m) for m in seen["members_after_batch"]] == [
        ("10.72.0.21", 5, "ACTIVE"), ("10.72.0.22", 1, "ACTIVE")]
    before = seen["lb_before_delete"]
    assert before["provisioning_status"] == "ACTIVE"
    assert before["listeners"] == [{"id": listener["id"]}]
    assert before["pools"] == [{"id": pool["id"]}]

    assert seen["found_after_delete"] is False
    assert seen["listeners_after_delete"] == []
    assert cloud.api.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 404
    assert cloud.agent.errors == []
