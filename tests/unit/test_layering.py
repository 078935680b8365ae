"""Layering: the server and the agent meet only in lbaas.common.

The server↔agent contract (``lbaas.common.plugin_api``) lives in ``lbaas/common``, so
nothing under ``lbaas/server`` imports ``lbaas.agent``, nothing under ``lbaas/agent``
imports ``lbaas.server``, and ``lbaas/common`` imports neither. ``lbaas/cmd`` wires the
two together and may import both.

The check reads the source with :mod:`ast` (it imports nothing of lbaas), so it sees
every import statement wherever it is: module level, inside functions, under
``if TYPE_CHECKING:``, relative imports, and ``importlib.import_module``/``__import__``
with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "lbaas"


def _module_name(path: Path, package_root: Path) -> str:
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` in ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(package):
        return target or ""
    base = package[:len(package) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imported_names(tree: ast.AST, module: str, is_package: bool):
    """Yield ``(lineno, imported module name, source text)`` for every import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            else:
                base = node.module or ""
            text = f"from {'.' * node.level}{node.module or ''} import " + ", ".join(
                a.name for a in node.names)
            yield node.lineno, base, text
            # ``from lbaas import agent`` imports the module lbaas.agent.
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}", text
        elif isinstance(node, ast.Call):
            func = node.func
            name = (func.attr if isinstance(func, ast.Attribute)
                    else func.id if isinstance(func, ast.Name) else None)
            if (name in ("import_module", "__import__") and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                yield node.lineno, node.args[0].value, f"{name}({node.args[0].value!r})"


def _is_under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def forbidden_imports_in_source(source: str, filename: str, module: str,
                                is_package: bool, forbidden: tuple[str, ...]) -> list[str]:
    tree = ast.parse(source, filename=filename)
    found = []
    seen = set()
    for lineno, name, text in _imported_names(tree, module, is_package):
        hit = next((f for f in forbidden if _is_under(name, f)), None)
        if hit is not None and (lineno, text) not in seen:
            seen.add((lineno, text))
            found.append(f"{filename}:{lineno}: imports {hit} ({text})")
    return found


def forbidden_imports(subpackage: str, forbidden: tuple[str, ...],
                      package_root: Path = PACKAGE_ROOT) -> list[str]:
    """Every import of a ``forbidden`` package by a module under lbaas/<subpackage>."""
    directory = package_root / subpackage
    files = sorted(directory.rglob("*.py"))
    assert files, f"no Python files under {directory}"
    found = []
    for path in files:
        found += forbidden_imports_in_source(
            path.read_text(encoding="utf-8"),
            str(path.relative_to(package_root.parent)),
            _module_name(path, package_root), path.name == "__init__.py", forbidden)
    return found


def test_server_does_not_import_agent():
    offenders = forbidden_imports("server", ("lbaas.agent",))
    assert not offenders, ("lbaas/server must not import lbaas.agent (the contract lives "
                           "in lbaas.common):\n" + "\n".join(offenders))


def test_agent_does_not_import_server():
    offenders = forbidden_imports("agent", ("lbaas.server",))
    assert not offenders, ("lbaas/agent must not import lbaas.server (the contract lives "
                           "in lbaas.common):\n" + "\n".join(offenders))


def test_common_imports_neither_server_nor_agent():
    offenders = forbidden_imports("common", ("lbaas.server", "lbaas.agent"))
    assert not offenders, ("lbaas/common must import neither lbaas.server nor "
                           "lbaas.agent:\n" + "\n".join(offenders))


# The checker itself: every form of import is caught, look-alikes are not.

@pytest.mark.parametrize(("source", "lineno"), [
    ("import lbaas.agent", 1),
    ("import lbaas.agent.plugin_api", 1),
    ("import lbaas.agent.plugin_api as p", 1),
    ("import os, lbaas.agent", 1),
    ("from lbaas.agent import plugin_api", 1),
    ("from lbaas.agent.plugin_api import PluginApi, PoolNotFound", 1),
    ("from lbaas import agent", 1),
    ("from lbaas import common, agent as a", 1),
    ("from ...agent import manager", 1),
    ("from ... import agent", 1),
    ("def f():\n    from lbaas.agent import manager\n", 2),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lbaas.agent\n", 3),
    ("import importlib\nimportlib.import_module('lbaas.agent.manager')", 2),
    ("__import__('lbaas.agent')", 1),
])
def test_checker_catches(source, lineno):
    # As if in lbaas/server/api/x.py: ``from ...agent`` is lbaas.agent.
    found = forbidden_imports_in_source(source, "lbaas/server/api/x.py",
                                        "lbaas.server.api.x", False, ("lbaas.agent",))
    assert len(found) == 1, found
    assert found[0].startswith(f"lbaas/server/api/x.py:{lineno}: imports lbaas.agent ("), found


@pytest.mark.parametrize("source", [
    "import lbaas.agents",
    "from lbaas.agents import x",
    "from lbaas import agents",
    "from lbaas.common import plugin_api",
    "from lbaas.server.plugin import agents",
    "from .. import agent",        # lbaas.server.agent, not lbaas.agent
    "from ..plugin import agent",
    "import agent",
    "x = 'lbaas.agent'",
])
def test_checker_ignores(source):
    assert forbidden_imports_in_source(source, "lbaas/server/api/x.py",
                                       "lbaas.server.api.x", False, ("lbaas.agent",)) == []


def test_checker_resolves_relative_imports_in_a_package_init():
    # In lbaas/server/__init__.py, ``from ..agent import x`` is lbaas.agent.
    found = forbidden_imports_in_source("from ..agent import x", "lbaas/server/__init__.py",
                                        "lbaas.server", True, ("lbaas.agent",))
    assert found == ["lbaas/server/__init__.py:1: imports lbaas.agent "
                     "(from ..agent import x)"]
