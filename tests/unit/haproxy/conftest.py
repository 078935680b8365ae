"""Fixtures for the HAProxy view-model and rendering tests: a logical device factory
and ``haproxy -c`` on a rendered config."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.haproxy.haproxy_sample_device import sample_logical_device


@pytest.fixture
def logical_device() -> Callable[[], dict[str, Any]]:
    """A fresh, mutable HTTP round-robin pool with two members and no monitor."""
    template = sample_logical_device()
    return lambda: copy.deepcopy(template)


@pytest.fixture
def haproxy_check(tmp_path: Path) -> Callable[[str], subprocess.CompletedProcess[str]]:
    """Run ``haproxy -c`` on a config text; returns the completed process."""
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    counter = iter(range(1000))

    def check(text: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / f"check-{next(counter)}.cfg"
        path.write_text(text)
        return subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True,
                              text=True, timeout=30)

    return check
