"""``raylake sql`` formats and errors, against a real workspace on disk (DataFusion, no Ray)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

import raylake
from raylake.cli import app
from raylake.cli.sql import parse_param


@pytest.fixture
def filled(home: Path) -> Path:
    with raylake.connect(home=home) as ws:
        ws.catalog.create_schema("s")
        ws.write_table("s.t", pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "[z]"]}))
        ws.write_table("s.t", pd.DataFrame({"a": [4], "b": ["w"]}))
    return home


def cli(home: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        app, ["--home", str(home), "sql", *args], input=stdin, env={"COLUMNS": "200"}
    )


def ok(home: Path, *args: str, stdin: str | None = None) -> str:
    result = cli(home, *args, stdin=stdin)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_rich_table_by_default(filled: Path) -> None:
    out = ok(filled, "SELECT a, b FROM s.t@v0 ORDER BY a")
    assert out.splitlines()[1].split() == ["┃", "a", "┃", "b", "┃"]
    assert "[z]" in out and "—" in out  # data is text, never markup; NULL shows as a dash
    assert "w" not in out.replace("─", "")  # v0 has no row 4


def test_csv_json_and_params(filled: Path) -> None:
    out = ok(filled, "SELECT a, b FROM s.t WHERE a > :n ORDER BY a", "--param", "n=2", "-f", "csv")
    assert list(csv.reader(io.StringIO(out))) == [["a", "b"], ["3", "[z]"], ["4", "w"]]
    out = ok(filled, "SELECT a FROM s.t WHERE b = :b", "-p", "b=x' OR '1'='1", "-f", "json")
    assert json.loads(out) == []
    out = ok(filled, "SELECT a, b FROM s.t ORDER BY a", "--format", "json")
    assert json.loads(out)[1] == {"a": 2, "b": None}


def test_output_files(filled: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    result = cli(filled, "SELECT * FROM s.t", "-f", "parquet", "-o", str(target))
    assert result.exit_code == 0 and "4 rows written" in result.stderr
    assert pq.read_table(target).num_rows == 4
    ok(filled, "SELECT * FROM s.t ORDER BY a", "-f", "csv", "-o", str(tmp_path / "o.csv"))
    assert (tmp_path / "o.csv").read_text().splitlines()[1] == '1,"x"'
    ok(filled, "SELECT count(*) AS n FROM s.t", "-o", str(tmp_path / "o.txt"))
    assert "4" in (tmp_path / "o.txt").read_text()


def test_stdin_and_max_rows(filled: Path) -> None:
    out = ok(filled, "-", "-f", "csv", stdin="SELECT a FROM s.t ORDER BY a")
    assert out.split() == ['"a"', "1", "2", "3", "4"]
    out = ok(filled, "SELECT a FROM s.t ORDER BY a", "--max-rows", "2")
    assert "2 more rows" in out


def test_writes_need_the_flag(filled: Path) -> None:
    result = cli(filled, "CREATE TABLE s.u AS SELECT a FROM s.t")
    assert result.exit_code == 1 and "--write" in result.stderr
    assert "main.s.u" in ok(filled, "CREATE TABLE s.u AS SELECT a FROM s.t", "--write")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SELECT nope FROM s.t"], "nope"),
        (["SELECT * FROM s.missing"], "main.s.missing does not exist"),
        (["SELEC 1"], "syntax error"),
        (["SELECT * FROM s.t", "-f", "parquet"], "needs --output"),
        (["SELECT * FROM s.t WHERE a = :n", "-p", "n"], "NAME=VALUE"),
        (["SELECT 1 AS x", "--engine", "nope"], "unknown SQL engine"),
    ],
)
def test_errors_are_one_line(filled: Path, args: list[str], message: str) -> None:
    result = cli(filled, *args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_param_values() -> None:
    assert parse_param("n=3") == ("n", 3)
    assert parse_param("x=1.5") == ("x", 1.5)
    assert parse_param("f=true") == ("f", True)
    assert parse_param("z=null") == ("z", None)
    assert parse_param("zip=01234") == ("zip", "01234")  # not a JSON number: text
    assert parse_param('s="5"') == ("s", "5")
    assert parse_param("w=a=b") == ("w", "a=b")
