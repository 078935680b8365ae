"""The version of lbaas, as installed (``--version`` of every command, the start line)."""

from __future__ import annotations

import importlib.metadata


def version_string() -> str:
    try:
        return importlib.metadata.version("lbaas")
    except importlib.metadata.PackageNotFoundError:
        # Run from a source tree that was never installed.
        return "unknown"
