"""How objects are printed: tables for people; JSON, YAML, CSV or bare values for
scripts (the formats and flags of OpenStack's clients: ``-f``, ``-c``, ``--long``,
``--max-width``)."""

from __future__ import annotations

import csv
import json
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

FORMATS = ("table", "json", "yaml", "csv", "value")
# A column is not narrowed below this many characters by --max-width.
MIN_COLUMN_WIDTH = 8


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


def _fit(widths: list[int], max_width: int) -> list[int]:
    """Column widths for a table at most ``max_width`` characters wide: the widest
    column gives up a character at a time, none below MIN_COLUMN_WIDTH (or its own
    width); a table that cannot fit stays wider."""
    fitted = list(widths)
    overhead = 3 * len(fitted) + 1   # "| " + " | " between + " |"
    while sum(fitted) + overhead > max_width:
        i = max(range(len(fitted)), key=lambda n: fitted[n])
        if fitted[i] <= MIN_COLUMN_WIDTH:
            break
        fitted[i] -= 1
    return fitted


def _wrap(lines: list[str], width: int) -> list[str]:
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, width, break_long_words=True,
                                     break_on_hyphens=False) or [""])
    return wrapped


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 max_width: int = 0) -> str:
    """A boxed table; cells may hold several lines. ``max_width`` > 0: narrower
    columns, their cells wrapped."""
    split_rows = [[cell.split("\n") for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in split_rows:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in lines))
    if max_width > 0:
        fitted = _fit(widths, max_width)
        if fitted != widths:
            headers = [h[:w] for h, w in zip(headers, fitted, strict=True)]
            split_rows = [[_wrap(lines, w) for lines, w in zip(row, fitted, strict=True)]
                          for row in split_rows]
            widths = fitted
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


def _yaml(data: Any, out: TextIO) -> None:
    yaml.safe_dump(data, out, default_flow_style=False, sort_keys=False,
                   allow_unicode=True)


def _csv_cell(value: Any) -> str:
    return format_value(value).replace("\n", ",")


def _csv(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO) -> None:
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])


def print_object(obj: dict[str, Any], fmt: str, wanted: Sequence[str], out: TextIO, *,
                 strict: bool = True, max_width: int = 0) -> None:
    columns = columns_of_object(obj, wanted, strict=strict)
    picked = {c: obj[c] for c in columns} if wanted else obj
    if fmt == "json":
        print(json.dumps(picked, indent=2), file=out)
    elif fmt == "yaml":
        _yaml(picked, out)
    elif fmt == "csv":
        # One header line and one line of values, as a spreadsheet reads a record.
        _csv(columns, [[obj[c] for c in columns]], out)
    elif fmt == "value":
        for c in columns:
            print(format_value(obj[c]), file=out)
    else:
        print(render_table(["Field", "Value"], [[c, format_value(obj[c])] for c in columns],
                           max_width), file=out)


def print_list(objs: list[dict[str, Any]], default_columns: Sequence[str], fmt: str,
               wanted: Sequence[str], out: TextIO, *, long: bool = False,
               max_width: int = 0) -> None:
    """``long``: every attribute the objects have, the default columns first."""
    if long and not wanted:
        default_columns = list(default_columns)
        for obj in objs:
            default_columns.extend(k for k in obj if k not in default_columns)
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
    if fmt in ("json", "yaml"):
        rows: Any = [{c: o.get(c) for c in columns} for o in objs] if wanted else objs
        if fmt == "json":
            print(json.dumps(rows, indent=2), file=out)
        else:
            _yaml(rows, out)
    elif fmt == "csv":
        _csv(columns, [[o.get(c) for c in columns] for o in objs], out)
    elif fmt == "value":
        for o in objs:
            print(" ".join(format_value(o.get(c)).replace("\n", ",") for c in columns), file=out)
    else:
        # An empty list still gets its header: the user sees the command worked.
        print(render_table(columns, [[format_value(o.get(c)) for c in columns] for o in objs],
                           max_width), file=out)
