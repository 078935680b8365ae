"""How objects are printed: tables for people, JSON (or bare values) for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

FORMATS = ("table", "json", "value")


class ColumnError(Exception):
    """A ``-c`` name that the objects don't have."""


def format_value(value: Any) -> str:
    """One cell: lists one item a line (as Neutron's CLI showed allocation pools)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return "\n".join(format_value(item) for item in value)
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A boxed table; cells may hold several lines."""
    split_rows = [[cell.split("\n") for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in split_rows:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in lines))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [rule, line(headers), rule]
    for row in split_rows:
        height = max(len(lines) for lines in row)
        for n in range(height):
            out.append(line([lines[n] if n < len(lines) else "" for lines in row]))
    out.append(rule)
    return "\n".join(out)


def _pick(available: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """Map ``-c`` names onto keys; ``lb-method`` finds ``lb_method``."""
    picked = []
    for name in wanted:
        if name in available:
            picked.append(name)
        elif name.replace("-", "_") in available:
            picked.append(name.replace("-", "_"))
        else:
            raise ColumnError(f"no column '{name}' (columns: {', '.join(available)})")
    return picked


def columns_of_object(obj: dict[str, Any], wanted: Sequence[str], *, strict: bool) -> list[str]:
    if not wanted:
        return sorted(obj)
    try:
        return _pick(list(obj), wanted)
    except ColumnError as exc:
        if strict:
            raise
        print(f"lbaas: warning: {exc}", file=sys.stderr)
        return _pick_lenient(list(obj), wanted)


def _pick_lenient(available: Sequence[str], wanted: Sequence[str]) -> list[str]:
    picked = []
    for name in wanted:
        try:
            picked.extend(_pick(available, [name]))
        except ColumnError:
            continue
    return picked


def print_object(obj: dict[str, Any], fmt: str, wanted: Sequence[str], out: TextIO, *,
                 strict: bool = True) -> None:
    columns = columns_of_object(obj, wanted, strict=strict)
    if fmt == "json":
        print(json.dumps({c: obj[c] for c in columns} if wanted else obj, indent=2), file=out)
    elif fmt == "value":
        for c in columns:
            print(format_value(obj[c]), file=out)
    else:
        print(render_table(["Field", "Value"], [[c, format_value(obj[c])] for c in columns]),
              file=out)


def print_list(objs: list[dict[str, Any]], default_columns: Sequence[str], fmt: str,
               wanted: Sequence[str], out: TextIO) -> None:
    if wanted and not objs:
        # Nothing to check the names against: an empty list has every column.
        columns = [c.replace("-", "_") for c in wanted]
    elif wanted:
        available: list[str] = list(default_columns)
        for obj in objs:
            available.extend(k for k in obj if k not in available)
        columns = _pick(available, wanted)
    else:
        columns = list(default_columns)
    if fmt == "json":
        rows: Any = [{c: o.get(c) for c in columns} for o in objs] if wanted else objs
        print(json.dumps(rows, indent=2), file=out)
    elif fmt == "value":
        for o in objs:
            print(" ".join(format_value(o.get(c)).replace("\n", ",") for c in columns), file=out)
    else:
        # An empty list still gets its header: the user sees the command worked.
        print(render_table(columns, [[format_value(o.get(c)) for c in columns] for o in objs]),
              file=out)
