"""``raylake sweep run`` and ``raylake models`` on real Ray Tune and MLflow.

The CLI opens a second workspace on the session workspace's home; in the same process it
joins the session's Ray and leaves it running when it closes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import raylake
from raylake.cli import app

pytestmark = pytest.mark.integration

ENV = {"COLUMNS": "250"}

SWEEP_FILE = """
from ray import tune

from raylake.training import define_sweep, report


def train(config, data):
    from sklearn.linear_model import LogisticRegression

    X, y = data[["x1", "x2"]], data["label"]
    model = LogisticRegression(C=config["C"]).fit(X, y)
    report({{"accuracy": float(model.score(X, y))}}, model=model, input_example=X[:2])


churn = define_sweep(
    train,
    {{"C": tune.grid_search([0.01, 1.0])}},
    metric="accuracy",
    data="{table}",
    experiment="cli-sweep",
)
"""


def cli(ws: raylake.Workspace, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(ws.settings.home), *args], env=ENV)


@pytest.fixture(scope="module")
def sweep_file(ws: raylake.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws.catalog.create_schema("cli_sweeps")
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x1": rng.normal(size=80), "x2": rng.normal(size=80)})
    df["label"] = (df.x1 > 0).astype("int64")
    ws.write_table("main.cli_sweeps.data", df, mode="overwrite")
    path = tmp_path_factory.mktemp("sweeps") / "churn_sweep.py"
    path.write_text(SWEEP_FILE.format(table="main.cli_sweeps.data"))
    return path


def test_sweep_run_registers_and_the_models_commands_show_it(
    ws: raylake.Workspace, sweep_file: Path
) -> None:
    out = cli(
        ws,
        "sweep",
        "run",
        str(sweep_file),
        "--register",
        "cli_churn",
        "--alias",
        "champion",
        "--json",
    )
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["sweep"]["best_params"] == {"C": 1.0}
    assert len(payload["sweep"]["trials"]) == 2
    assert payload["registered"]["name"] == "main.models.cli_churn"
    assert payload["registered"]["aliases"] == ["champion"]

    listed = json.loads(cli(ws, "models", "list", "models", "--json").stdout)
    entry = next(m for m in listed if m["name"] == "main.models.cli_churn")
    assert (entry["latest_version"], entry["aliases"]) == (1, {"champion": 1})

    shown = cli(ws, "models", "show", "cli_churn", "champion")
    assert shown.exit_code == 0, shown.output
    assert "main.cli_sweeps.data v0" in shown.stdout  # lineage back to the table version
    assert "x1: double" in shown.stdout

    again = cli(
        ws, "sweep", "run", f"{sweep_file}:churn", "--num-samples", "1", "--register", "cli_churn"
    )
    assert again.exit_code == 0, again.output
    assert "registered main.models.cli_churn version 2" in again.stdout

    moved = cli(ws, "models", "alias", "cli_churn", "champion", "2")
    assert moved.exit_code == 0 and "version 2" in moved.stdout
    compared = cli(ws, "models", "compare", "cli_churn", "1", "champion")
    assert compared.exit_code == 0 and "accuracy" in compared.stdout
    assert cli(ws, "models", "alias", "cli_churn", "champion", "--delete").exit_code == 0


def test_errors_are_one_line(ws: raylake.Workspace, sweep_file: Path, tmp_path: Path) -> None:
    missing = cli(ws, "models", "show", "main.models.nope")
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines() == ["error: model main.models.nope does not exist"]

    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    none = cli(ws, "sweep", "run", str(empty))
    assert none.exit_code == 1 and "defines no sweep" in none.stderr

    named = cli(ws, "sweep", "run", f"{sweep_file}:other")
    assert named.exit_code == 1 and "no sweep named 'other'" in named.stderr
