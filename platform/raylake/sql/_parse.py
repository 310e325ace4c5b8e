"""SQL text to a classified statement: the ``@vN`` suffix, parsing, and what kind it is.

Queries are parsed in the Databricks (Spark SQL) dialect, the one lakehouse users write, and
regenerated per engine from the tree, so no user text is ever pasted into engine SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.databricks import Databricks
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from raylake.errors import ReadOnlyError, SqlError

DIALECT = "databricks"

_NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER}

Kind = Literal["query", "create", "insert"]
WriteMode = Literal["append", "overwrite", "create", "create_if_missing"]


@dataclass
class Statement:
    """One statement: a query, or a query whose result is written to ``target``."""

    kind: Kind
    query: exp.Expression  # the SELECT (or VALUES) part; rewritten in place later
    target: exp.Table | None = None
    mode: WriteMode | None = None
    columns: list[str] | None = None  # INSERT INTO t (a, b) ...


def _version_suffixes(text: str) -> str:
    """Rewrite ``name@v3`` into ``name VERSION AS OF 3`` (Databricks' short form).

    Found with sqlglot's tokenizer, so an ``@v3`` inside a string literal or comment stays.
    """
    try:
        tokens = Databricks().tokenize(text)
    except TokenError as exc:
        raise SqlError(f"SQL syntax error: {exc}") from exc
    edits: list[tuple[int, int, str]] = []
    for before, at, after in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if (
            at.token_type == TokenType.PARAMETER
            and before.token_type in _NAME_TOKENS
            and after.token_type == TokenType.VAR
            and before.end + 1 == at.start
            and at.end + 1 == after.start
        ):
            version = after.text[1:]
            if after.text[:1].lower() != "v" or not version.isdigit():
                raise SqlError(f"bad version suffix @{after.text}: use @v<number>, e.g. @v3")
            edits.append((at.start, after.end + 1, f" VERSION AS OF {int(version)}"))
    for start, end, replacement in reversed(edits):
        text = text[:start] + replacement + text[end:]
    return text


def parse(text: str) -> exp.Expression:
    """Exactly one statement, or :class:`SqlError` saying what is wrong with the text."""
    if not isinstance(text, str) or not text.strip():
        raise SqlError("empty SQL: pass one SELECT statement")
    try:
        statements = [s for s in sqlglot.parse(_version_suffixes(text), read=DIALECT) if s]
    except ParseError as exc:
        raise SqlError(f"SQL syntax error: {_first_error(exc)}") from exc
    except TokenError as exc:
        raise SqlError(f"SQL syntax error: {exc}") from exc
    if not statements:
        raise SqlError("empty SQL: pass one SELECT statement")
    if len(statements) > 1:
        raise SqlError(f"one statement at a time, got {len(statements)}")
    return statements[0]


def _first_error(exc: ParseError) -> str:
    errors = exc.errors or []
    if not errors:
        return str(exc).splitlines()[0]
    e = errors[0]
    near = (e.get("highlight") or "").strip()
    where = f" at line {e.get('line')}, column {e.get('col')}"
    return f"{e.get('description')}{where}" + (f" near {near!r}" if near else "")


def _is_query(node: exp.Expression) -> bool:
    return isinstance(node, exp.Query | exp.Values)


def classify(tree: exp.Expression, read_only: bool) -> Statement:
    """Which statement this is; writes are refused when ``read_only``."""
    if _is_query(tree):
        return Statement("query", tree)
    verb = tree.key.upper() if not isinstance(tree, exp.Command) else str(tree.this).upper()
    if read_only:
        raise ReadOnlyError(
            f"{verb} is not allowed: SQL is read-only here (SELECT/WITH only); "
            "CREATE TABLE ... AS SELECT and INSERT INTO need read_only=False (CLI: --write)"
        )
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
        query = tree.expression
        if not _is_query(query) or not isinstance(tree.this, exp.Table):
            raise SqlError("CREATE TABLE needs AS SELECT ...: column definitions are not supported")
        mode: WriteMode = (
            "overwrite"
            if tree.args.get("replace")
            else "create_if_missing"
            if tree.args.get("exists")
            else "create"
        )
        return Statement("create", query, tree.this, mode)
    if isinstance(tree, exp.Insert):
        target = tree.this
        columns = None
        if isinstance(target, exp.Schema):
            columns = [c.name for c in target.expressions]
            target = target.this
        if not isinstance(target, exp.Table) or not _is_query(tree.expression):
            raise SqlError("INSERT needs a table and a SELECT or VALUES")
        mode = "overwrite" if tree.args.get("overwrite") else "append"
        return Statement("insert", tree.expression, target, mode, columns)
    raise SqlError(
        f"{verb} is not supported in SQL: use SELECT, CREATE TABLE ... AS SELECT or INSERT INTO "
        "(and ws.catalog / ws.table(...) for other changes)"
    )
