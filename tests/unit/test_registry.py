"""The model registry on a real MLflow SQLite store, without Ray: names, signatures, aliases."""

from __future__ import annotations

import json
from collections.abc import Iterator

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier

import raylake
from raylake.registry import parse_model_name
from raylake.registry.logging import log_model

WS_FIXTURE = "local_ws"


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    df["y"] = (df.a > 0).astype("int64")
    return df


@pytest.fixture
def mlflow_uri(request: pytest.FixtureRequest) -> Iterator[str]:
    """Point MLflow's global URI at the workspace for one test, then unset it again."""
    ws = request.getfixturevalue(WS_FIXTURE)
    mlflow.set_tracking_uri(ws.settings.mlflow_tracking_uri)
    yield ws.settings.mlflow_tracking_uri
    mlflow.set_tracking_uri(None)


def train(data: pd.DataFrame, n: int = 5) -> GradientBoostingClassifier:
    # A tree model on purpose: MLflow's default skops format would refuse it.
    return GradientBoostingClassifier(n_estimators=n, random_state=0).fit(data[["a", "b"]], data.y)


def test_model_names_follow_the_catalog() -> None:
    assert str(parse_model_name("churn")) == "main.models.churn"
    assert str(parse_model_name("ml.churn")) == "main.ml.churn"
    assert str(parse_model_name("prod.ml.churn")) == "prod.ml.churn"
    for bad in ("a.b.c.d", "Churn", "1churn", "", "main..churn"):
        with pytest.raises(raylake.InvalidNameError):
            parse_model_name(bad)


def test_register_alias_and_load_by_alias(
    local_ws: raylake.Workspace, data: pd.DataFrame, mlflow_uri: str
) -> None:
    model = train(data)
    X = data[["a", "b"]]
    mv = local_ws.models.register(model, "churn", input_example=X[:5], description="first")
    assert (mv.name, mv.version, mv.description) == ("main.models.churn", 1, "first")
    assert [c["name"] for c in json.loads(mv.signature["inputs"])] == ["a", "b"]

    local_ws.models.set_alias("main.models.churn", "champion", mv.version)
    loaded = mlflow.pyfunc.load_model("models:/main.models.churn@champion")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(
        local_ws.models.load("churn", "champion").predict(X), model.predict(X)
    )
    assert local_ws.models.get("churn", "champion").aliases == ["champion"]
    assert local_ws.models.uri("churn", "champion") == "models:/main.models.churn@champion"
    # Artifacts live in the workspace home, never in ./mlruns of the current folder.
    exp = mlflow.MlflowClient(mlflow_uri).get_experiment_by_name("registry")
    assert exp.artifact_location.startswith((local_ws.settings.home / "mlartifacts").as_uri())


def test_versions_list_and_compare(local_ws: raylake.Workspace, data: pd.DataFrame) -> None:
    X = data[["a", "b"]]
    client = mlflow.MlflowClient(local_ws.settings.mlflow_tracking_uri)
    home = local_ws.settings.home
    exp = client.create_experiment("manual", artifact_location=(home / "manual").as_uri())
    run_ids = []
    for n in (3, 8):
        run = client.create_run(exp)
        client.log_param(run.info.run_id, "n_estimators", n)
        client.log_metric(run.info.run_id, "accuracy", float(train(data, n).score(X, data.y)))
        uri = log_model(
            train(data, n), run.info.run_id, local_ws.settings.mlflow_tracking_uri, X[:3]
        )
        assert uri.startswith("models:/")
        client.set_terminated(run.info.run_id)
        run_ids.append(run.info.run_id)
    v1 = local_ws.models.register(run_ids[0], "main.ml.churn")
    v2 = local_ws.models.register(run_ids[1], "main.ml.churn")
    assert (v1.version, v2.version) == (1, 2)
    assert v2.run_id == run_ids[1] and v2.params == {"n_estimators": "8"}

    local_ws.models.set_alias("main.ml.churn", "champion", 2)
    assert [v.version for v in local_ws.models.versions("main.ml.churn")] == [1, 2]
    assert local_ws.models.get("main.ml.churn").version == 2  # latest
    listed = local_ws.models.list("main.ml")
    assert [(m.name, m.latest_version, m.aliases) for m in listed] == [
        ("main.ml.churn", 2, {"champion": 2})
    ]
    assert local_ws.models.list("models") == []
    assert [m.name for m in local_ws.catalog.list_models("ml")] == ["main.ml.churn"]
    # Registering also makes the model's schema exist in the catalog.
    assert "main.ml" in [s.full_name for s in local_ws.catalog.list_schemas()]

    diff = local_ws.models.compare("main.ml.churn", 1, "champion")
    assert diff.changed_params == {"n_estimators": ("3", "8")}
    assert set(diff.metrics) == {"accuracy"} and diff.same_signature

    edges = local_ws.lineage("main.ml.churn").upstream
    assert {(e.source_name, e.target_version) for e in edges} == {
        (f"runs:/{run_ids[0]}", 1),
        (f"runs:/{run_ids[1]}", 2),
    }


def test_a_model_without_signature_is_refused(
    local_ws: raylake.Workspace, data: pd.DataFrame, mlflow_uri: str
) -> None:
    model = train(data)
    with pytest.raises(raylake.SignatureMissingError, match="input_example"):
        local_ws.models.register(model, "churn")

    client = mlflow.MlflowClient(mlflow_uri)
    where = (local_ws.settings.home / "plain").as_uri()
    exp = client.create_experiment("plain", artifact_location=where)
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
    with pytest.raises(raylake.SignatureMissingError, match="no signature"):
        local_ws.models.register(run.info.run_id, "churn")
    with pytest.raises(raylake.ModelNotFoundError):
        local_ws.models.get("churn")  # nothing was registered


def test_missing_models_versions_and_aliases_are_named_errors(
    local_ws: raylake.Workspace, data: pd.DataFrame
) -> None:
    with pytest.raises(raylake.ModelNotFoundError):
        local_ws.models.get("main.models.nope")
    with pytest.raises(raylake.ModelNotFoundError):
        local_ws.models.register("0" * 32, "churn")  # no such run
    local_ws.models.register(train(data), "churn", input_example=data[["a", "b"]][:2])
    with pytest.raises(raylake.ModelNotFoundError):
        local_ws.models.get("churn", 7)
    with pytest.raises(raylake.ModelNotFoundError):
        local_ws.models.get("churn", "staging")
    with pytest.raises(raylake.ModelNotFoundError):
        local_ws.models.set_alias("churn", "champion", 9)
    with pytest.raises(raylake.InvalidArgumentError):
        local_ws.models.register("not a run", "churn")
    with pytest.raises(raylake.InvalidNameError):
        local_ws.models.register(train(data), "Bad Name", input_example=data[["a", "b"]][:2])
