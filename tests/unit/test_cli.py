"""The ``raylake`` CLI against a real workspace on disk (pandas writes: no Ray, no Spark)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import raylake
from raylake.cli import app

# Wide enough that Rich never wraps the values the tests look for.
ENV = {"COLUMNS": "250"}


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["--home", str(home), *args], env={**ENV, **(env or {})})


def ok(home: Path, *args: str) -> str:
    result = cli(home, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


@pytest.fixture
def filled(home: Path) -> Path:
    """``bronze.x`` with two versions (3 rows, then 4), a tag and a comment."""
    with raylake.connect(home=home) as ws:
        ws.catalog.create_schema("bronze")
        ws.catalog.create_schema("silver", comment="cleaned data")
        ws.write_table("bronze.x", pd.DataFrame({"id": [1, 2, 3], "v": ["a", "b", "[c]"]}))
        ws.write_table("bronze.x", pd.DataFrame({"id": [4], "v": ["d"]}))
        ws.write_table("silver.y", pd.DataFrame({"k": [1.5]}))
        ws.catalog.set_tags("bronze.x", {"team": "data"})
        ws.catalog.set_comment("bronze.x", "raw events")
    return home


# -- help --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ([], "tables"),
        (["info"], "Ray and Spark"),
        (["tables"], "restore"),
        (["tables", "list"], "one schema"),
        (["tables", "show"], "--rows"),
        (["tables", "history"], "--limit"),
        (["tables", "restore"], "ISO timestamp"),
        (["tables", "vacuum"], "--retention-hours"),
        (["tables", "optimize"], "--zorder-by"),
        (["schemas"], "create"),
        (["schemas", "list"], "catalog"),
        (["schemas", "create"], "--comment"),
        (["pipeline"], "runs"),
        (["pipeline", "run"], "FILE.py[:NAME]"),
        (["pipeline", "runs"], "--limit"),
        (["lineage"], "upstream"),
    ],
)
def test_help_of_every_command(command: list[str], mentions: str) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env=ENV)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    assert mentions in result.stdout


# -- info --------------------------------------------------------------------------------------
def test_info_shows_settings_versions_and_idle_compute(home: Path) -> None:
    out = ok(home, "info")
    assert str(home) in out
    assert f"sqlite:///{home / 'catalog.db'}" in out
    assert str(home / "tables") in out
    assert metadata.version("deltalake") in out
    assert "not started" in out
    assert not home.exists()  # info reads settings only: it creates no workspace


def test_info_json_and_hidden_password(home: Path) -> None:
    result = cli(
        home, "info", "--json", env={"RAYLAKE_CATALOG_URL": "postgresql://bob:s3cret@db/cat"}
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["settings"]["home"] == str(home)
    assert report["settings"]["catalog URL"] == "postgresql://bob:***@db/cat"
    assert "s3cret" not in result.stdout
    assert report["versions"]["raylake"] == raylake.__version__
    assert report["versions"]["pyspark"] == metadata.version("pyspark")
    assert report["compute"]["ray"].startswith("not started")
    assert report["compute"]["spark"].startswith("not started")


# -- tables ------------------------------------------------------------------------------------
def test_tables_list_all_and_by_schema(filled: Path) -> None:
    out = ok(filled, "tables", "list")
    assert "main.bronze.x" in out and "main.silver.y" in out
    assert "team=data" in out
    only = ok(filled, "tables", "list", "silver")
    assert "main.silver.y" in only and "main.bronze.x" not in only
    listed = json.loads(ok(filled, "tables", "list", "--json"))
    assert {t["full_name"]: t["last_version"] for t in listed} == {
        "main.bronze.x": 1,
        "main.silver.y": 0,
    }
    assert "no tables in default" in ok(filled, "tables", "list", "default")


def test_tables_list_uses_raylake_home_from_the_environment(filled: Path) -> None:
    result = CliRunner().invoke(app, ["tables", "list"], env={**ENV, "RAYLAKE_HOME": str(filled)})
    assert result.exit_code == 0, result.stderr
    assert "main.bronze.x" in result.stdout


def test_tables_show(filled: Path) -> None:
    out = ok(filled, "tables", "show", "bronze.x")
    assert str(filled / "tables" / "main" / "bronze" / "x") in out
    assert "raw events" in out and "team=data" in out
    assert "int64" in out and "string" in out
    data = json.loads(ok(filled, "tables", "show", "bronze.x", "--json"))
    assert data["full_name"] == "main.bronze.x"
    assert (data["version"], data["rows"], data["files"]) == (1, 4, 2)
    assert data["schema"] == [{"name": "id", "type": "int64"}, {"name": "v", "type": "string"}]
    assert "sample" not in data


def test_tables_show_sample_rows(filled: Path) -> None:
    data = json.loads(ok(filled, "tables", "show", "bronze.x", "--rows", "2", "--json"))
    assert len(data["sample"]) == 2
    assert set(data["sample"][0]) == {"id", "v"}
    all_rows = json.loads(ok(filled, "tables", "show", "bronze.x", "-n", "10", "--json"))
    assert sorted(r["v"] for r in all_rows["sample"]) == ["[c]", "a", "b", "d"]
    out = ok(filled, "tables", "show", "bronze.x", "--rows", "10")
    assert "First 4 rows" in out
    assert "[c]" in out  # data is printed as text, not read as Rich markup


def test_tables_history(filled: Path) -> None:
    out = ok(filled, "tables", "history", "bronze.x")
    assert "WRITE" in out and "mode=Append" in out
    entries = json.loads(ok(filled, "tables", "history", "bronze.x", "--json"))
    assert [(e["version"], e["operation"], e["rows_added"]) for e in entries] == [
        (1, "WRITE", 1),
        (0, "WRITE", 3),
    ]
    limited = json.loads(ok(filled, "tables", "history", "bronze.x", "--limit", "1", "--json"))
    assert [e["version"] for e in limited] == [1]


def test_tables_restore_changes_the_table(filled: Path) -> None:
    out = ok(filled, "tables", "restore", "bronze.x", "0")
    assert "restored main.bronze.x to 0: new version 2" in out
    with raylake.connect(home=filled) as ws:
        table = ws.table("bronze.x")
        assert table.version == 2
        assert sorted(table.to_pandas()["id"]) == [1, 2, 3]
        assert table.history(1)[0].operation == "RESTORE"
        assert ws.catalog.list_tables("bronze")[0].last_version == 2


def test_tables_optimize_and_vacuum(filled: Path) -> None:
    out = ok(filled, "tables", "optimize", "bronze.x")
    assert "2 file(s) rewritten into 1; version 2" in out
    dry = ok(
        filled, "tables", "vacuum", "bronze.x", "--retention-hours", "0", "--force", "--dry-run"
    )
    assert "would delete 2 file(s)" in dry
    assert "would delete 2 file(s)" in ok(
        filled, "tables", "vacuum", "bronze.x", "--retention-hours", "0", "--force", "--dry-run"
    )  # a dry run deleted nothing
    assert "deleted 2 file(s)" in ok(
        filled, "tables", "vacuum", "bronze.x", "--retention-hours", "0", "--force"
    )
    with raylake.connect(home=filled) as ws:
        table = ws.table("bronze.x")
        assert len(table.files()) == 1
        assert sorted(table.to_pandas()["id"]) == [1, 2, 3, 4]


# -- schemas -----------------------------------------------------------------------------------
def test_schemas_create_and_list(home: Path) -> None:
    assert "schema main.gold ready" in ok(home, "schemas", "create", "gold", "--comment", "KPIs")
    out = ok(home, "schemas", "list")
    assert "main.gold" in out and "KPIs" in out and "main.default" in out
    listed = json.loads(ok(home, "schemas", "list", "--json"))
    assert [(s["catalog"], s["name"], s["comment"]) for s in listed] == [
        ("main", "default", None),
        ("main", "gold", "KPIs"),
    ]


# -- lineage -----------------------------------------------------------------------------------
@pytest.fixture
def with_lineage(filled: Path) -> Path:
    # Edges come from pipeline runs (Spark); record two directly so no Spark is needed.
    with raylake.connect(home=filled) as ws:
        ws._store.add_edge("/landing/raw", None, "main.bronze.x", 0, "aaaa1111", "files")
        ws._store.add_edge("main.bronze.x", 0, "main.silver.y", 0, "bbbb2222")
        # A later bronze version that silver.y v0 never read: not part of its lineage.
        ws._store.add_edge("/landing/late", None, "main.bronze.x", 1, "cccc3333", "files")
    return filled


def test_lineage_tree(with_lineage: Path) -> None:
    out = ok(with_lineage, "lineage", "silver.y")
    assert "main.silver.y" in out
    assert "upstream" in out and "downstream" not in out
    assert "main.bronze.x v0 → main.silver.y v0  run bbbb2222" in out
    # Transitive and version-exact: what bronze.x v0 was built from, not bronze.x v1.
    assert "/landing/raw (files) → main.bronze.x v0  run aaaa1111" in out
    assert "/landing/late" not in out
    middle = ok(with_lineage, "lineage", "main.bronze.x")
    assert "upstream" in middle and "downstream" in middle
    from_files = ok(with_lineage, "lineage", "/landing/raw")
    assert "main.silver.y v0" in from_files


def test_lineage_json(with_lineage: Path) -> None:
    data = json.loads(ok(with_lineage, "lineage", "bronze.x", "--json"))
    assert data["name"] == "main.bronze.x"
    assert [(e["source_name"], e["run_id"]) for e in data["upstream"]] == [
        ("/landing/raw", "aaaa1111"),
        ("/landing/late", "cccc3333"),
    ]
    assert [(e["target_name"], e["target_version"]) for e in data["downstream"]] == [
        ("main.silver.y", 0)
    ]


def test_lineage_of_a_table_without_edges(filled: Path) -> None:
    assert "no lineage recorded" in ok(filled, "lineage", "silver.y")


# -- pipelines (what needs no Spark) ----------------------------------------------------------
def test_pipeline_runs_when_there_are_none(home: Path) -> None:
    assert "no runs of daily" in ok(home, "pipeline", "runs", "daily")
    assert json.loads(ok(home, "pipeline", "runs", "--json")) == []


PIPELINE_FILE = """
import raylake

@raylake.pipeline(target="bronze.out", inputs={"src": "bronze.x"})
def first(src):
    return src

second = raylake.Pipeline("second", "bronze.out2", lambda src: src, {"src": "bronze.x"})
"""


@pytest.mark.parametrize(
    ("content", "spec_suffix", "message"),
    [
        ("x = 1\n", "", "defines no raylake.Pipeline"),
        ("def broken(:\n", "", "cannot load"),
        ("import no_such_module_here\n", "", "ModuleNotFoundError"),
        (PIPELINE_FILE, ":third", "has no pipeline named 'third' (it has: first, second)"),
        (
            'import raylake\np = raylake.Pipeline("p", "a.b.c.d", lambda: 1, {})\n',
            "",
            "invalid table name 'a.b.c.d'",
        ),
    ],
)
def test_pipeline_run_bad_files(
    home: Path, tmp_path: Path, content: str, spec_suffix: str, message: str
) -> None:
    path = tmp_path / "pipes.py"
    path.write_text(content)
    assert_one_line_error(cli(home, "pipeline", "run", f"{path}{spec_suffix}"), message)
    assert not home.exists()  # rejected before the workspace was opened


# -- errors ------------------------------------------------------------------------------------
def assert_one_line_error(result: Result, message: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tables", "show", "nope"], "table main.default.nope does not exist"),
        (["tables", "show", "Bad-Name"], "invalid table name 'Bad-Name'"),
        (["tables", "show", "a.b.c.d"], "at most three parts"),
        (["tables", "list", "nope"], "schema main.nope does not exist"),
        (["tables", "history", "bronze.nope"], "table main.bronze.nope does not exist"),
        (["tables", "restore", "bronze.x", "9"], "main.bronze.x has no version 9"),
        (["tables", "restore", "bronze.x", "yesterday"], "not an ISO timestamp: 'yesterday'"),
        (["tables", "restore", "nope", "0"], "table main.default.nope does not exist"),
        (["tables", "vacuum", "bronze.x", "--retention-hours", "0"], "retention"),
        (["tables", "optimize", "bronze.x", "--zorder-by", "zzz"], "unknown columns ['zzz']"),
        (["schemas", "create", "Bad"], "invalid schema name 'Bad'"),
        (["lineage", "nope"], "table main.default.nope does not exist"),
        (["lineage", "No Such"], "invalid table name 'No Such'"),
        (["pipeline", "runs", "Bad-Name"], "invalid pipeline name 'Bad-Name'"),
        (["pipeline", "run", "/no/such/file.py"], "no such file: /no/such/file.py"),
        (["pipeline", "run", "/no/such/file.py:name"], "no such file: /no/such/file.py"),
    ],
)
def test_errors_are_one_line_without_traceback(filled: Path, args: list[str], message: str) -> None:
    assert_one_line_error(cli(filled, *args), message)


def test_invalid_settings_are_one_line(home: Path) -> None:
    result = cli(home, "tables", "list", env={"RAYLAKE_SPARK_EXECUTORS": "0"})
    assert_one_line_error(result, "invalid settings: spark_executors")


def test_traceback_option_shows_the_real_exception(filled: Path) -> None:
    result = cli(filled, "--traceback", "tables", "show", "nope")
    assert result.exit_code != 0
    assert isinstance(result.exception, raylake.TableNotFoundError)


@pytest.mark.parametrize(
    "args",
    [["tables", "show"], ["tables", "history", "bronze.x", "--limit", "0"], ["no-such-command"]],
)
def test_usage_errors_exit_2_without_traceback(filled: Path, args: list[str]) -> None:
    result = cli(filled, *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["tables", "show"], "Missing argument"),
        (["tables", "history", "x", "--limit", "0"], "--limit"),
        (["no-such-command"], "No such command"),
    ],
)
def test_console_script_usage_errors_are_one_line(
    home: Path, args: list[str], message: str
) -> None:
    # The installed entry point (not CliRunner), as a user's shell runs it.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "raylake"), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_console_script_errors_and_success_exit_codes(home: Path) -> None:
    exe = str(Path(sys.executable).parent / "raylake")
    bad = subprocess.run(
        [exe, "--home", str(home), "tables", "show", "nope"], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == ["error: table main.default.nope does not exist"]
    good = subprocess.run([exe, "--home", str(home), "schemas", "list"], capture_output=True)
    assert good.returncode == 0
