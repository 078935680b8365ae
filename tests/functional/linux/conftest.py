"""Topologies for the Linux layer's functional tests: namespaces, bridges, a private OVS.

Everything here is named in this suite's private range (namespaces ``tl-…``, bridges
``tlbr…``/``tlovs…``, other links ``tl…``; ports get ids starting with ``tl`` so their
devices are ``taptl…``/``ns-tl…``; addresses in 10.91.0.0/16) and is removed at teardown,
even when the test fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.agent.linux import bridge_lib, ip_lib, ovs_lib

from .topology import Namespaces, PrivateOVS, Wires, unique


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.functional)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="needs root (namespaces, links)"))


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    ns = Namespaces()
    try:
        yield ns
    finally:
        ns.cleanup()


@pytest.fixture
def bridge() -> Iterator[str]:
    name = unique("tlbr")
    bridge_lib.ensure_bridge(name)
    try:
        yield name
    finally:
        ip_lib.delete_device(name)


@pytest.fixture
def wires(namespaces: Namespaces) -> Iterator[Wires]:
    w = Wires(namespaces)
    try:
        yield w
    finally:
        w.cleanup()


@pytest.fixture(scope="session")
def private_ovs() -> Iterator[PrivateOVS]:
    if not shutil.which("ovs-vswitchd"):
        pytest.skip("openvswitch is not installed")
    # Unix socket paths are limited to 108 bytes: keep the directory short.
    root = Path(tempfile.mkdtemp(prefix="tlovs-", dir="/tmp"))
    ovs = PrivateOVS(root)
    try:
        ovs.start()
        yield ovs
    finally:
        ovs.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ovs_bridge(private_ovs: PrivateOVS) -> Iterator[str]:
    name = unique("tlovs")
    ovs_lib.ensure_bridge(name, private_ovs.db)
    try:
        yield name
    finally:
        ovs_lib.delete_bridge(name, private_ovs.db)
