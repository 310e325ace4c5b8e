"""A sweep over the gold driver-day features: predict a high-fare day from the day's activity.

Run from Python (see quickstart.py) or ``raylake sweep run examples/rides_training.py``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from ray import tune

from raylake.training import define_sweep, report

FEATURES = ["rides", "total_km", "avg_duration_min", "avg_rating"]
HIGH_FARE = 9.0


def train_high_fare(config: dict[str, Any], data: pd.DataFrame) -> None:
    """One trial: gradient boosting with ``config``, scored on a held-out fifth of the days."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    x = data[FEATURES].astype("float64")
    y = (data["avg_fare"] > HIGH_FARE).astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    model = GradientBoostingClassifier(random_state=0, **config).fit(x_train, y_train)
    report(
        {"accuracy": float(model.score(x_test, y_test))},
        model=model,
        input_example=x_train.head(5),
    )


SEARCH_SPACE = {
    "n_estimators": tune.choice([25, 50, 100]),
    "max_depth": tune.randint(2, 5),
    "learning_rate": tune.loguniform(0.03, 0.3),
}

high_fare_sweep = define_sweep(
    train_high_fare,
    SEARCH_SPACE,
    metric="accuracy",
    mode="max",
    num_samples=6,
    experiment="rides-high-fare",
    data="main.gold.driver_daily_stats",
    register_as="main.models.high_fare_day",
)
