"""Parameters become literal nodes in the parsed tree, never text in the SQL.

A value is a string, number, boolean, date, timestamp, bytes or None; whatever it contains
(``x' OR '1'='1``, ``1; DROP TABLE t``), the engine sees one literal.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from raylake.errors import SqlError


def literal(value: Any) -> exp.Expression:
    """The SQL literal for one Python value."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SqlError(f"parameter value {value!r} is not a finite number")
        return exp.Literal.number(repr(value))
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise SqlError(f"parameter value {value!r} is not a finite number")
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
        kind = "TIMESTAMP"
        if value.tzinfo is not None:
            text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        return exp.cast(exp.Literal.string(text), kind)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return literal(value.item())
    raise SqlError(
        f"parameter value of type {type(value).__name__} is not supported: use str, int, "
        "float, Decimal, bool, date, datetime or None"
    )


def bind(tree: exp.Expression, params: Mapping[str, Any] | None) -> exp.Expression:
    """Replace every ``:name`` placeholder with the literal of ``params[name]``."""
    holders = list(tree.find_all(exp.Placeholder))
    params = dict(params or {})
    if any(not h.name for h in holders):
        raise SqlError("use named placeholders (:name) with a dict of params, not '?'")
    names = {h.name for h in holders}
    missing = sorted(names - set(params))
    if missing:
        raise SqlError(f"no value for parameter(s) {', '.join(':' + m for m in missing)}")
    unused = sorted(set(params) - names)
    if unused:
        raise SqlError(f"parameter(s) {', '.join(unused)} not used in the query")
    values = {name: literal(params[name]) for name in names}
    for holder in holders:
        holder.replace(values[holder.name].copy())
    return tree
