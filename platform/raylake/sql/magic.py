"""``%%sql`` / ``%sql`` for IPython and Jupyter: ``%load_ext raylake.sql.magic``.

    %%sql --engine spark -o paid
    SELECT * FROM main.sales.orders WHERE status = :status

The result is a pandas DataFrame (also stored in ``-o NAME``). ``:name`` placeholders take the
notebook variable of that name, bound as a value. The workspace is the one set with
``use(ws)``, else a ``raylake.connect()`` opened on first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from raylake.errors import SqlError

if TYPE_CHECKING:
    import pandas as pd

    from raylake.workspace import Workspace

_workspace: Workspace | None = None


def use(workspace: Workspace | None) -> None:
    """Run the magics on ``workspace`` (None: a ``raylake.connect()`` of their own)."""
    global _workspace
    _workspace = workspace


def _current() -> Workspace:
    global _workspace
    if _workspace is None:
        import raylake

        _workspace = raylake.connect()
    return _workspace


_OPTION = re.compile(r"\s*(--engine|-o|--out)\s+(\S+)|\s*(--write)(?=\s|$)")


@dataclass
class _Options:
    engine: str | None = None
    out: str | None = None
    write: bool = False
    query: str = ""


def _options(line: str) -> _Options:
    """Leading options, then (for the line magic) the query, left exactly as written."""
    opts = _Options()
    rest = line
    while match := _OPTION.match(rest):
        if match.group(3):
            opts.write = True
        elif match.group(1) == "--engine":
            opts.engine = match.group(2)
        else:
            opts.out = match.group(2)
        rest = rest[match.end() :]
    if rest.strip().startswith("-"):
        raise SqlError(f"%%sql: unknown option in {rest.strip()!r} (use --engine, -o, --write)")
    opts.query = rest.strip()
    return opts


def _params(query: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """The notebook variables the query's ``:name`` placeholders name."""
    from raylake.sql._parse import parse

    names = {p.name for p in parse(query).find_all(exp.Placeholder) if p.name}
    missing = sorted(n for n in names if n not in namespace)
    if missing:
        raise SqlError(f"no notebook variable for parameter(s) {', '.join(missing)}")
    return {n: namespace[n] for n in names}


def run(line: str, cell: str | None, namespace: dict[str, Any]) -> pd.DataFrame:
    opts = _options(line)
    query = cell if cell is not None else opts.query
    params = _params(query, namespace)
    result = _current().sql(query, params or None, engine=opts.engine, read_only=not opts.write)
    frame = result.to_pandas()
    if opts.out:
        namespace[opts.out] = frame
    return frame


def load_ipython_extension(ipython: Any) -> None:

    def sql(line: str, cell: str | None = None) -> pd.DataFrame:
        return run(line, cell, ipython.user_ns)

    sql.__doc__ = __doc__
    ipython.register_magic_function(sql, magic_kind="line_cell", magic_name="sql")


def unload_ipython_extension(ipython: Any) -> None:
    ipython.magics_manager.magics["line"].pop("sql", None)
    ipython.magics_manager.magics["cell"].pop("sql", None)
