"""Evaluate expectations in one pass: violations per rule, rows in and rows kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from raylake.errors import PipelineError
from raylake.pipelines.definition import Expectation

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


@dataclass(frozen=True)
class Checked:
    rows_in: int
    rows_out: int
    violations: dict[str, int]

    def by_action(self, expectations: list[Expectation], action: str) -> dict[str, int]:
        return {e.name: self.violations[e.name] for e in expectations if e.action == action}


def _passes(e: Expectation) -> Column:
    from pyspark.sql import functions as F

    # A null result (e.g. a comparison with a null column) counts as a violation, as in DLT.
    return F.coalesce(F.expr(e.condition).cast("boolean"), F.lit(False))


def kept_rows(expectations: list[Expectation]) -> Column | None:
    """The filter leaving out rows that violate any ``drop`` expectation."""
    cond = None
    for e in expectations:
        if e.action == "drop":
            cond = _passes(e) if cond is None else cond & _passes(e)
    return cond


def check(df: DataFrame, expectations: list[Expectation]) -> Checked:
    from pyspark.errors import AnalysisException, ParseException
    from pyspark.sql import functions as F

    try:
        aggs = [F.count(F.lit(1)).alias("__rows_in")]
        keep = kept_rows(expectations)
        kept = F.when(keep, 1).otherwise(0) if keep is not None else F.lit(1)
        aggs.append(F.sum(kept).alias("__rows_out"))
        for i, e in enumerate(expectations):
            aggs.append(F.sum(F.when(_passes(e), 0).otherwise(1)).alias(f"__e{i}"))
        row = df.agg(*aggs).collect()[0]
    except (AnalysisException, ParseException) as exc:
        raise PipelineError(f"invalid expectation condition: {exc}") from exc
    violations = {e.name: int(row[f"__e{i}"] or 0) for i, e in enumerate(expectations)}
    return Checked(int(row["__rows_in"]), int(row["__rows_out"] or 0), violations)
