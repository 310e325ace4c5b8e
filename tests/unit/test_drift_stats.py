"""Drift statistics on synthetic data: PSI and KS per column, no cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raylake.errors import InvalidArgumentError
from raylake.serving._drift import (
    Thresholds,
    compare,
    compare_column,
    psi_categorical,
    psi_numeric,
    quantile_cuts,
)
from raylake.serving._monitor import parse_window

RNG = np.random.default_rng(7)


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    base = RNG.normal(0, 1, 5000)
    same = RNG.normal(0, 1, 2000)
    shifted = RNG.normal(1.5, 1, 2000)
    assert psi_numeric(base, same) < 0.05
    assert psi_numeric(base, shifted) > 0.5
    assert psi_numeric(base, base) == pytest.approx(0.0)


def test_psi_handles_constant_and_out_of_range_values() -> None:
    base = np.full(100, 3.0)
    assert quantile_cuts(base).tolist() == [3.0]
    assert psi_numeric(base, np.full(50, 3.0)) == pytest.approx(0.0)
    assert psi_numeric(base, np.full(50, -10.0)) > 1  # every value below the baseline range
    assert np.isfinite(psi_numeric(RNG.normal(0, 1, 100), np.full(10, 1e9)))


def test_categorical_psi_sees_new_and_moved_categories() -> None:
    base = pd.Series(["a"] * 50 + ["b"] * 50)
    assert psi_categorical(base, pd.Series(["a"] * 20 + ["b"] * 20)) == pytest.approx(0.0)
    assert psi_categorical(base, pd.Series(["a"] * 90 + ["b"] * 10)) > 0.2
    assert psi_categorical(base, pd.Series(["c"] * 10)) > 1


def test_compare_flags_only_the_shifted_columns() -> None:
    base = pd.DataFrame(
        {
            "x": RNG.normal(0, 1, 4000),
            "y": RNG.normal(5, 2, 4000),
            "city": RNG.choice(["a", "b", "c"], 4000, p=[0.5, 0.3, 0.2]),
        }
    )
    recent = pd.DataFrame(
        {
            "x": RNG.normal(0, 1, 1000),
            "y": RNG.normal(7, 2, 1000),  # mean shift
            "city": RNG.choice(["a", "b", "c"], 1000, p=[0.5, 0.3, 0.2]),
        }
    )
    results, skipped = compare(base, recent, ["x", "y", "city"])
    by = {r.feature: r for r in results}
    assert not skipped
    assert by["y"].drifted and by["y"].ks_pvalue < 0.01 and by["y"].psi >= 0.2
    assert not by["x"].drifted and not by["city"].drifted
    assert by["city"].kind == "categorical" and by["city"].ks_stat is None
    assert by["y"].recent_mean == pytest.approx(7, abs=0.3)


def test_json_decoded_values_are_coerced_and_empty_columns_skipped() -> None:
    base = pd.Series(np.arange(100, dtype=float))
    recent = pd.Series([1, 2.5, "3", None, "oops"], dtype=object)
    result = compare_column("v", base, recent, Thresholds())
    assert result is not None and result.n_recent == 3
    assert compare_column("v", base, pd.Series([None, None]), Thresholds()) is None


def test_thresholds_and_windows_are_checked() -> None:
    with pytest.raises(InvalidArgumentError):
        Thresholds(psi=0)
    with pytest.raises(InvalidArgumentError):
        Thresholds(ks_pvalue=1.5)
    assert parse_window("90m").total_seconds() == 5400
    assert parse_window("1h").total_seconds() == 3600
    assert parse_window("2d").days == 2
    with pytest.raises(InvalidArgumentError):
        parse_window("soon")
    with pytest.raises(InvalidArgumentError):
        parse_window("0h")
