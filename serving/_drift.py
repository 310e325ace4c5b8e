"""Drift statistics, per column: PSI (numeric and categorical) and two-sample Kolmogorov–Smirnov.

Pure functions over pandas/numpy, no I/O: the monitor reads the data, this compares it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from raylake.errors import InvalidArgumentError

EPSILON = 1e-4  # stands in for an empty bin's share, so PSI stays finite
DEFAULT_BINS = 10
MAX_CATEGORIES = 50  # rarer categories are pooled, so an id-like column cannot explode PSI
OTHER = "__other__"

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Thresholds:
    """A column drifted when PSI >= ``psi`` or the KS p-value < ``ks_pvalue``."""

    psi: float = 0.2
    ks_pvalue: float = 0.01

    def __post_init__(self) -> None:
        if self.psi <= 0 or not 0 < self.ks_pvalue < 1:
            raise InvalidArgumentError("thresholds: psi must be > 0 and 0 < ks_pvalue < 1")


@dataclass(frozen=True)
class FeatureDrift:
    """How one input column (or one prediction output) moved from the baseline."""

    feature: str
    kind: Kind
    is_prediction: bool
    n_baseline: int
    n_recent: int
    psi: float
    ks_stat: float | None
    ks_pvalue: float | None
    drifted: bool
    baseline_mean: float | None = None
    recent_mean: float | None = None


def _shares(counts: np.ndarray) -> np.ndarray:
    shares = counts / max(counts.sum(), 1)
    return np.where(shares == 0, EPSILON, shares)


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def quantile_cuts(baseline: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Interior cut points at the baseline's quantiles (ties collapse: fewer, wider bins).

    The outer bins are open-ended, so recent values beyond the baseline's range still count.
    """
    inner = np.quantile(baseline, np.linspace(0, 1, bins + 1)[1:-1])
    cuts = np.unique(inner)
    return cuts if cuts.size else np.unique(baseline[:1])


def psi_numeric(baseline: np.ndarray, recent: np.ndarray, bins: int = DEFAULT_BINS) -> float:
    cuts = quantile_cuts(baseline, bins)
    size = cuts.size + 1
    expected = np.bincount(np.searchsorted(cuts, baseline, side="right"), minlength=size)
    actual = np.bincount(np.searchsorted(cuts, recent, side="right"), minlength=size)
    return _psi(_shares(expected), _shares(actual))


def top_categories(baseline: pd.Series, limit: int = MAX_CATEGORIES) -> list[str]:
    return [str(c) for c in baseline.astype(str).value_counts().index[:limit]]


def pool(values: pd.Series, keep: list[str]) -> pd.Series:
    """Values as strings, the ones outside ``keep`` pooled into one ``__other__`` category."""
    text = values.astype(str)
    return text.where(text.isin(keep), OTHER)


def psi_categorical(baseline: pd.Series, recent: pd.Series) -> float:
    keep = top_categories(baseline)
    base, now = pool(baseline, keep), pool(recent, keep)
    categories = sorted(set(base) | set(now))
    expected = base.value_counts().reindex(categories, fill_value=0).to_numpy()
    actual = now.value_counts().reindex(categories, fill_value=0).to_numpy()
    return _psi(_shares(expected), _shares(actual))


def kind_of(baseline: pd.Series) -> Kind:
    numeric = pd.api.types.is_numeric_dtype(baseline) and not pd.api.types.is_bool_dtype(baseline)
    return "numeric" if numeric else "categorical"


def compare_column(
    name: str,
    baseline: pd.Series,
    recent: pd.Series,
    thresholds: Thresholds,
    is_prediction: bool = False,
    bins: int = DEFAULT_BINS,
) -> FeatureDrift | None:
    """Compare one column; None when either side has no values to compare."""
    base = baseline.dropna()
    kind = kind_of(base)
    if kind == "numeric":
        # JSON-decoded request values can be mixed (ints, floats, the odd string): coerce.
        now = pd.to_numeric(recent, errors="coerce").dropna()
    else:
        now = recent.dropna()
    if base.empty or now.empty:
        return None
    ks_stat = ks_pvalue = None
    base_mean = now_mean = None
    if kind == "numeric":
        b, r = base.to_numpy(dtype=float), now.to_numpy(dtype=float)
        psi = psi_numeric(b, r, bins)
        ks = stats.ks_2samp(b, r)
        ks_stat, ks_pvalue = float(ks.statistic), float(ks.pvalue)
        base_mean, now_mean = float(b.mean()), float(r.mean())
    else:
        psi = psi_categorical(base, now)
    drifted = psi >= thresholds.psi or (ks_pvalue is not None and ks_pvalue < thresholds.ks_pvalue)
    return FeatureDrift(
        feature=name,
        kind=kind,
        is_prediction=is_prediction,
        n_baseline=len(base),
        n_recent=len(now),
        psi=psi,
        ks_stat=ks_stat,
        ks_pvalue=ks_pvalue,
        drifted=bool(drifted),
        baseline_mean=base_mean,
        recent_mean=now_mean,
    )


def compare(
    baseline: pd.DataFrame,
    recent: pd.DataFrame,
    columns: list[str],
    thresholds: Thresholds | None = None,
    prediction_columns: frozenset[str] = frozenset(),
    bins: int = DEFAULT_BINS,
) -> tuple[list[FeatureDrift], list[str]]:
    """Compare ``columns`` of both frames; returns the results and the columns skipped."""
    thresholds = thresholds or Thresholds()
    results: list[FeatureDrift] = []
    skipped: list[str] = []
    for column in columns:
        result = compare_column(
            column,
            baseline[column],
            recent[column],
            thresholds,
            column in prediction_columns,
            bins,
        )
        if result is None:
            skipped.append(column)
        else:
            results.append(result)
    return results, skipped
