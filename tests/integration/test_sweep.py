"""Sweeps on real Ray Tune and MLflow: child runs, failures, the registry and lineage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from ray import tune

import raylake
from raylake.training import SweepResult, report

pytestmark = pytest.mark.integration

FEATURES = ["x1", "x2"]
GRID = [0.01, 0.1, 1.0, 999.0]  # 999 makes the trial raise
WS_FIXTURE = "ws"


def make_data(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    df["label"] = (df.x1 + 0.5 * df.x2 > 0).astype("int64")
    return df


def fit(config: dict[str, Any], data: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=config["C"]).fit(data[FEATURES], data["label"])


def train(config: dict[str, Any], data: pd.DataFrame) -> None:
    if config["C"] > 100:
        raise ValueError("C is far too large")
    model = fit(config, data)
    for step in (1, 2):  # two reported steps, so per-step metrics are visible
        acc = float(model.score(data[FEATURES], data["label"]))
        report({"accuracy": acc - 0.01 * (2 - step)}, model=model, input_example=data[FEATURES][:3])


@pytest.fixture(scope="module")
def table(ws: raylake.Workspace) -> tuple[str, int]:
    ws.catalog.create_schema("sweeps")
    name = "main.sweeps.train_set"
    version = ws.write_table(name, make_data(), mode="overwrite")
    return name, version


@pytest.fixture(scope="module")
def swept(ws: raylake.Workspace, table: tuple[str, int]) -> SweepResult:
    return ws.sweep(
        train,
        {"C": tune.grid_search(GRID)},
        metric="accuracy",
        mode="max",
        experiment="test-sweep",
        data=table[0],
        progress=False,
    )


@pytest.fixture
def client(ws: raylake.Workspace) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(ws.settings.mlflow_tracking_uri)


@pytest.fixture
def mlflow_uri(request: pytest.FixtureRequest) -> Iterator[str]:
    """Point MLflow's global URI at the workspace for one test, then unset it again."""
    ws = request.getfixturevalue(WS_FIXTURE)
    mlflow.set_tracking_uri(ws.settings.mlflow_tracking_uri)
    yield ws.settings.mlflow_tracking_uri
    mlflow.set_tracking_uri(None)


def child_runs(client: mlflow.MlflowClient, result: SweepResult) -> list[Any]:
    return client.search_runs(
        [result.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{result.parent_run_id}'"
    )


def test_each_trial_is_one_child_run_with_params_and_metrics(
    swept: SweepResult, client: mlflow.MlflowClient, table: tuple[str, int]
) -> None:
    runs = child_runs(client, swept)
    assert len(runs) == len(GRID) == len(swept.trials)
    assert sorted(float(r.data.params["C"]) for r in runs) == sorted(GRID)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert len(finished) == len(GRID) - 1
    for run in finished:
        assert "accuracy" in run.data.metrics
        history = client.get_metric_history(run.info.run_id, "accuracy")
        assert [m.step for m in history] == [1, 2]
        assert run.data.tags["raylake.sweep_id"] == swept.sweep_id
        assert run.data.tags["raylake.trial_id"]
        assert run.data.tags["raylake.input.0.name"] == table[0]
        assert run.data.tags["raylake.input.0.version"] == str(table[1])


def test_failing_trial_is_failed_and_the_rest_finish(
    swept: SweepResult, client: mlflow.MlflowClient
) -> None:
    failed = [r for r in child_runs(client, swept) if r.info.status == "FAILED"]
    assert len(failed) == 1
    assert float(failed[0].data.params["C"]) == 999.0
    assert "C is far too large" in failed[0].data.tags["raylake.error"]
    assert [t.params["C"] for t in swept.failed] == [999.0]
    assert "C is far too large" in (swept.failed[0].error or "")


def test_parent_run_holds_the_best_result(
    ws: raylake.Workspace, swept: SweepResult, client: mlflow.MlflowClient
) -> None:
    best = max(
        (t for t in swept.trials if t.status == "FINISHED"), key=lambda t: t.metrics["accuracy"]
    )
    assert swept.best_run_id == best.run_id
    assert swept.best_metric == pytest.approx(best.metrics["accuracy"])
    parent = client.get_run(swept.parent_run_id)
    home = (ws.settings.home / "mlartifacts").as_uri()
    assert client.get_experiment(swept.experiment_id).artifact_location.startswith(home)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_accuracy"] == pytest.approx(swept.best_metric)
    assert parent.data.metrics["num_failed"] == 1
    assert parent.data.tags["raylake.best_run_id"] == swept.best_run_id
    assert float(parent.data.params["best/C"]) == swept.best_params["C"]


def test_register_alias_load_and_predict(
    ws: raylake.Workspace, swept: SweepResult, mlflow_uri: str
) -> None:
    mv = ws.models.register(swept, "main.models.sweep_test")
    assert mv.signature is not None and mv.run_id == swept.best_run_id
    ws.models.set_alias("main.models.sweep_test", "champion", mv.version)

    loaded = mlflow.pyfunc.load_model("models:/main.models.sweep_test@champion")
    data = make_data()
    expected = fit(swept.best_params, data).predict(data[FEATURES])
    np.testing.assert_array_equal(loaded.predict(data[FEATURES]), expected)
    assert ws.models.get("main.models.sweep_test", "champion").version == mv.version


def test_lineage_from_model_version_back_to_table_version(
    ws: raylake.Workspace, swept: SweepResult, table: tuple[str, int]
) -> None:
    mv = ws.models.register(swept.best_run_id, "main.models.sweep_lineage")
    edges = ws.lineage("main.models.sweep_lineage").upstream
    into_model = [e for e in edges if e.target_name == "main.models.sweep_lineage"]
    assert into_model[0].source_name == f"runs:/{swept.best_run_id}"
    assert into_model[0].target_version == mv.version
    chain = {(e.source_name, e.target_name) for e in edges}
    assert (swept.run_uri, f"runs:/{swept.best_run_id}") in chain
    from_table = [e for e in edges if e.source_kind == "table"]
    assert [(e.source_name, e.source_version) for e in from_table] == [table]
    assert from_table[0].target_name == swept.run_uri


def test_a_metric_never_reported_is_a_clear_error(ws: raylake.Workspace) -> None:
    def reports_loss(config: dict[str, Any]) -> dict[str, float]:
        return {"loss": config["x"]}

    with pytest.raises(raylake.MetricNotReportedError, match="loss.*'accuracy'"):
        ws.sweep(reports_loss, {"x": 1.0}, metric="accuracy", progress=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"param_space": {}}, "param_space"),
        ({"param_space": {"C": tune.uniform(2.0, 1.0)}}, "lower bound"),
        ({"metric": ""}, "metric"),
        ({"metric": "training_iteration"}, "Tune adds"),
        ({"mode": "maximum"}, "mode"),
        ({"num_samples": 0}, "num_samples"),
        ({"scheduler": "hyperband"}, "scheduler"),
        ({"data": None}, "requires \\(config, data\\)"),
        ({"param_space": {"C": tune.grid_search([1.0])}, "search_alg": "optuna"}, "grid_search"),
    ],
)
def test_bad_definitions_fail_before_any_trial(
    ws: raylake.Workspace, table: tuple[str, int], kwargs: dict[str, Any], match: str
) -> None:
    args: dict[str, Any] = {
        "param_space": {"C": tune.choice([1.0])},
        "metric": "accuracy",
        "data": table[0],
        "experiment": "never-created",
        "progress": False,
    }
    args.update(kwargs)
    with pytest.raises(raylake.InvalidSweepError, match=match):
        ws.sweep(train, **args)
    client = mlflow.MlflowClient(ws.settings.mlflow_tracking_uri)
    assert client.get_experiment_by_name("never-created") is None


def test_unknown_table_is_a_named_error(ws: raylake.Workspace) -> None:
    with pytest.raises(raylake.TableNotFoundError):
        ws.sweep(train, {"C": 1.0}, metric="accuracy", data="main.sweeps.nope", progress=False)


def test_autolog_inside_trials_logs_to_the_trial_run(
    ws: raylake.Workspace, client: mlflow.MlflowClient
) -> None:
    def autologged(config: dict[str, Any], data: pd.DataFrame) -> dict[str, float]:
        model = fit(config, data)
        return {"accuracy": float(model.score(data[FEATURES], data["label"]))}

    result = ws.sweep(
        autologged,
        {"C": 0.5},
        metric="accuracy",
        data=make_data(60),
        experiment="test-autolog",
        autolog=True,
        progress=False,
    )
    (run,) = child_runs(client, result)
    # max_iter is not in the config: only scikit-learn autologging records it.
    assert run.data.params["max_iter"] == "100"
    assert run.info.status == "FINISHED"
    assert len(child_runs(client, result)) == 1


def test_optuna_search_with_asha_early_stopping(
    ws: raylake.Workspace, table: tuple[str, int], client: mlflow.MlflowClient
) -> None:
    def steps(config: dict[str, Any], data: pd.DataFrame) -> None:
        model = fit(config, data)
        acc = float(model.score(data[FEATURES], data["label"]))
        for step in range(1, 5):
            report({"accuracy": acc * step / 4})

    result = ws.sweep(
        steps,
        {"C": tune.loguniform(1e-3, 10.0)},
        num_samples=3,
        metric="accuracy",
        data=table[0],
        experiment="test-optuna",
        search_alg="optuna",
        scheduler="asha",
        max_concurrent=2,
        progress=False,
    )
    runs = child_runs(client, result)
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    assert len({r.data.params["C"] for r in runs}) == 3
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["search_alg"] == "OptunaSearch"
    assert parent.data.params["scheduler"] == "AsyncHyperBandScheduler"
    assert result.best_model_uri is None  # no trial kept a model


def test_a_ray_dataset_is_read_once_and_shared(
    ws: raylake.Workspace, table: tuple[str, int], client: mlflow.MlflowClient
) -> None:
    def from_dataset(config: dict[str, Any], data: Any) -> dict[str, float]:
        frame = data.to_pandas()
        return {"accuracy": float(fit(config, frame).score(frame[FEATURES], frame["label"]))}

    result = ws.sweep(
        from_dataset,
        {"C": tune.grid_search([0.1, 1.0])},
        metric="accuracy",
        data=ws.table(table[0]).to_ray(),
        experiment="test-ray-data",
        progress=False,
    )
    assert [t.status for t in result.trials] == ["FINISHED", "FINISHED"]
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["data_rows"] == "200"
