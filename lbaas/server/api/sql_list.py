"""The building blocks of a list query answered by the database, shared by both APIs'
lists (Neutron's v1 in ``resource.py``, Octavia's in ``v2/listing.py``).

An :class:`Attr` is one scalar attribute of a serialized object as SQL sees it. A filter
matches the attribute *as the API shows it* (``true``/``false``, ``80`` but not ``080``,
times to the second, an empty value matches a null); sorting compares what the API shows
too (strings by code point, nulls last ascending and first descending) and ends with
the base order (creation time, then id), so ties keep the order Python's stable sort
gave; a page after a marker is a keyset condition on the marker row's sort values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, true
from sqlalchemy.sql.elements import UnaryExpression

STR, INT, BOOL, FLOAT, TIME, CONST = "str", "int", "bool", "float", "time", "const"
# LIMIT takes a 64-bit integer; a larger limit than this asks for every row anyway.
LIMIT_CAP = 2**62
INT_RE = re.compile(r"-?[0-9]+", re.ASCII)
SQL_DIALECTS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Attr:
    """One scalar attribute of a serialized object: its SQL expression (None for a
    constant), how the API writes its values (``kind``), and whether it can be null.
    ``value`` is a constant's value."""

    kind: str
    expr: Any = None
    nullable: bool = False
    value: Any = None


def col(expr: Any, kind: str = STR, nullable: bool = False) -> Attr:
    return Attr(kind, expr, nullable)


def const(value: Any) -> Attr:
    return Attr(CONST, value=value)


def text_of(value: Any) -> str:
    """An attribute's value as a filter compares it: what the client wrote to ask."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def shown(attr: Attr, dialect: str) -> Any:
    """The attribute's SQL expression as the API shows (and so compares) it."""
    expr = attr.expr
    if attr.kind == TIME:
        # The API shows times to the second (serializers' timestamp()).
        if dialect == "sqlite":
            return func.strftime("%Y-%m-%dT%H:%M:%S", expr)
        expr = func.to_char(expr, 'YYYY-MM-DD"T"HH24:MI:SS')
    if attr.kind in (STR, TIME) and dialect == "postgresql":
        return expr.collate("C")
    return expr


def matches(attr: Attr, wanted: set[str], dialect: str) -> ColumnElement[bool]:
    """The attribute shown as text (``text_of``) is one of ``wanted``."""
    if attr.kind == CONST:
        return true() if text_of(attr.value) in wanted else false()
    values: list[Any] = []
    for text in wanted:
        if "\x00" in text:
            continue  # no stored value holds a NUL (PostgreSQL's text refuses it)
        if attr.kind in (STR, TIME):
            values.append(text)
        elif attr.kind == BOOL and text in ("true", "false"):
            values.append(text == "true")
        elif attr.kind == INT and INT_RE.fullmatch(text) and str(int(text)) == text \
                and -2**31 <= int(text) < 2**31:
            # (No stored number is wider than 32 bits; SQLite overflows past 64.)
            values.append(int(text))
        elif attr.kind == FLOAT:
            try:
                number = float(text)
            except ValueError:
                continue
            if math.isfinite(number) and str(number) == text:
                values.append(number)
    expr = shown(attr, dialect)
    clauses: list[ColumnElement[bool]] = [expr.in_(values)] if values else []
    if attr.nullable and "" in wanted:
        clauses.append(attr.expr.is_(None))
    return or_(*clauses) if clauses else false()


@dataclass(frozen=True)
class Term:
    expr: Any
    desc: bool
    nullable: bool

    def order(self) -> UnaryExpression[Any]:
        # Python's sort key (value is None, value): nulls after every value ascending,
        # before them descending.
        return self.expr.desc().nulls_first() if self.desc else \
            self.expr.asc().nulls_last()

    def equal(self, value: Any) -> ColumnElement[bool]:
        return self.expr.is_(None) if value is None else self.expr == value

    def after(self, value: Any) -> ColumnElement[bool]:
        """Rows this term puts after a row whose value is ``value``."""
        if value is None:
            return self.expr.is_not(None) if self.desc else false()
        if self.desc:
            return self.expr < value
        beyond = self.expr > value
        return or_(beyond, self.expr.is_(None)) if self.nullable else beyond


def after_marker(terms: list[Term], values: Iterable[Any]) -> ColumnElement[bool]:
    """Rows after the marker's in the order of ``terms`` (which end with a unique one):
    equal on the first i terms and after it on term i, for some i."""
    cases: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for term, value in zip(terms, values, strict=True):
        cases.append(and_(*equal, term.after(value)))
        equal.append(term.equal(value))
    return or_(*cases)
