"""Evaluate expectations during the write: violations per rule, rows in and rows kept."""

from __future__ import annotations

from collections.abc import Callable
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


def _aggregates(expectations: list[Expectation]) -> list[Column]:
    from pyspark.sql import functions as F

    keep = kept_rows(expectations)
    kept = F.when(keep, 1).otherwise(0) if keep is not None else F.lit(1)
    aggs = [F.count(F.lit(1)).alias("__rows_in"), F.sum(kept).alias("__rows_out")]
    for i, e in enumerate(expectations):
        aggs.append(F.sum(F.when(_passes(e), 0).otherwise(1)).alias(f"__e{i}"))
    return aggs


def observe(
    df: DataFrame, expectations: list[Expectation], name: str
) -> tuple[DataFrame, Callable[[], Checked]]:
    """``df`` with the expectation counts attached, and a function reading them.

    The counts are gathered while the write itself runs (Spark's ``Observation``), so the data
    is read once; a separate counting pass cost as much as the write. Call the reader only
    after an action on the returned frame has completed.
    """
    from pyspark.errors import AnalysisException, ParseException
    from pyspark.sql import Observation

    observation = Observation(name)
    try:
        observed = df.observe(observation, *_aggregates(expectations))
    except (AnalysisException, ParseException) as exc:
        raise PipelineError(f"invalid expectation condition: {exc}") from exc

    def read() -> Checked:
        row = observation.get
        violations = {e.name: int(row.get(f"__e{i}") or 0) for i, e in enumerate(expectations)}
        return Checked(int(row["__rows_in"]), int(row.get("__rows_out") or 0), violations)

    return observed, read
