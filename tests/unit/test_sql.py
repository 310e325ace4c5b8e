"""ws.sql on the embedded engines (DuckDB by default for reads, DataFusion), in-process: names,
time travel, params, errors, writes and their lineage; which engine "auto" picks. No Ray, no
Spark."""

from __future__ import annotations

import datetime as dt
import decimal
import re

import pandas as pd
import pyarrow as pa
import pytest

import raylake
from raylake.sql import SqlRunner

ENGINE_NAME = re.compile(r"rl[0-9a-f]{8}_")


@pytest.fixture
def ws(local_ws: raylake.Workspace) -> raylake.Workspace:
    """``main.default.people`` and ``main.shop.orders`` (two versions)."""
    local_ws.catalog.create_schema("shop")
    local_ws.write_table(
        "people", pd.DataFrame({"id": [1, 2, 3], "Name": ["ann", "bob", None], "age": [30, 40, 50]})
    )
    local_ws.write_table(
        "shop.orders",
        pd.DataFrame({"order_id": [1, 2, 3], "person": [1, 1, 2], "amount": [5.0, 2.5, None]}),
    )
    local_ws.write_table(
        "shop.orders", pd.DataFrame({"order_id": [4], "person": [3], "amount": [9.0]})
    )
    return local_ws


def rows(ws: raylake.Workspace, query: str, params: dict | None = None, **kw) -> list[dict]:
    return ws.sql(query, params, **kw).to_pylist()


def test_one_two_and_three_part_names(ws: raylake.Workspace) -> None:
    for name in ("people", "default.people", "main.default.people", "MAIN.Default.People"):
        assert rows(ws, f"SELECT count(*) AS n FROM {name}") == [{"n": 3}]
    assert rows(ws, "SELECT count(*) AS n FROM shop.orders") == [{"n": 4}]


def test_result_is_arrow_with_plain_types(ws: raylake.Workspace) -> None:
    result = ws.sql("SELECT id, Name FROM people ORDER BY id")
    assert str(result.schema.field("Name").type) == "string"  # not DataFusion's string_view
    assert result.to_pandas()["Name"].tolist() == ["ann", "bob", None]


def test_join_with_qualified_columns_and_mixed_case(ws: raylake.Workspace) -> None:
    got = rows(
        ws,
        """SELECT main.default.people.NAME AS who, sum(o.amount) AS Total
           FROM main.default.people JOIN main.shop.orders o ON o.person = people.id
           GROUP BY main.default.people.name ORDER BY who""",
    )
    assert got == [  # NULLs sort first, as in Spark
        {"who": None, "Total": 9.0},
        {"who": "ann", "Total": 7.5},
        {"who": "bob", "Total": None},
    ]


def test_time_travel_forms(ws: raylake.Workspace) -> None:
    count = "SELECT count(*) AS n FROM "
    assert rows(ws, count + "shop.orders VERSION AS OF 0") == [{"n": 3}]
    assert rows(ws, count + "shop.orders@v0") == [{"n": 3}]
    assert rows(ws, count + "shop.orders@v1") == [{"n": 4}]
    assert rows(ws, count + "shop.orders VERSION AS OF :v", {"v": 0}) == [{"n": 3}]
    # '@v0' inside a string stays text
    assert rows(ws, "SELECT id, 'a@v0' AS s FROM people WHERE id = 1") == [{"id": 1, "s": "a@v0"}]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert rows(ws, count + f"shop.orders TIMESTAMP AS OF '{later.isoformat()}'") == [{"n": 4}]
    # the same table at two versions in one query
    got = rows(
        ws,
        """SELECT n.order_id FROM shop.orders n LEFT JOIN shop.orders@v0 o USING (order_id)
           WHERE o.order_id IS NULL""",
    )
    assert got == [{"order_id": 4}]


def test_missing_version_is_named(ws: raylake.Workspace) -> None:
    with pytest.raises(raylake.VersionNotFoundError, match="no version 7"):
        ws.sql("SELECT * FROM shop.orders@v7")
    with pytest.raises(raylake.SqlError, match="@v"):
        ws.sql("SELECT * FROM shop.orders@latest")


def test_params_are_values_never_sql(ws: raylake.Workspace) -> None:
    for evil in ("x' OR '1'='1", "1; DROP TABLE people", "ann' --", "\\'; SELECT 1"):
        assert rows(ws, "SELECT id FROM people WHERE Name = :n", {"n": evil}) == []
    assert rows(ws, "SELECT count(*) AS n FROM people") == [{"n": 3}]
    assert rows(ws, "SELECT id FROM people WHERE name = :n", {"n": "bob"}) == [{"id": 2}]
    # an integer column compared with an injection string: a type problem, not a query change
    with pytest.raises(raylake.SqlError):
        ws.sql("SELECT id FROM people WHERE id = :n", {"n": "1 OR 1=1"}).to_pylist()


def test_param_types(ws: raylake.Workspace) -> None:
    got = rows(
        ws,
        "SELECT :i AS i, :f AS f, :b AS b, :s AS s, :z AS z, :d AS d, :t AS t, :m AS m",
        {
            "i": 7,
            "f": 0.5,
            "b": True,
            "s": "it's",
            "z": None,
            "d": dt.date(2026, 1, 2),
            "t": dt.datetime(2026, 1, 2, 3, 4, 5),
            "m": decimal.Decimal("1.25"),
        },
    )[0]
    assert got["i"] == 7 and got["f"] == 0.5 and got["b"] is True and got["s"] == "it's"
    assert got["z"] is None and got["d"] == dt.date(2026, 1, 2)
    assert got["t"] == dt.datetime(2026, 1, 2, 3, 4, 5) and float(got["m"]) == 1.25


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({}, r"no value for parameter\(s\) :n"),
        ({"n": 1, "extra": 2}, "extra not used"),
        ({"n": [1, 2]}, "not supported"),
        ({"n": float("nan")}, "finite"),
    ],
)
def test_bad_params(ws: raylake.Workspace, params: dict, match: str) -> None:
    with pytest.raises(raylake.SqlError, match=match):
        ws.sql("SELECT id FROM people WHERE id = :n", params)


@pytest.mark.parametrize(
    ("query", "error", "match"),
    [
        ("SELEC id FROM people", raylake.SqlError, "syntax error"),
        ("SELECT id FROM", raylake.SqlError, "syntax error"),
        ("", raylake.SqlError, "empty SQL"),
        ("SELECT 1; DROP TABLE people", raylake.SqlError, "one statement at a time"),
        ("SELECT * FROM nothere", raylake.TableNotFoundError, "main.default.nothere"),
        ("SELECT * FROM shop.nothere", raylake.TableNotFoundError, "main.shop.nothere"),
        ("SELECT * FROM a.b.c.d", raylake.InvalidNameError, "at most three parts"),
        ("SELECT salary FROM people", raylake.SqlError, "salary"),
        ("SELECT nope(id) FROM people", raylake.SqlError, "nope"),
        ("DROP TABLE people", raylake.ReadOnlyError, "DROP is not allowed"),
        ("DELETE FROM people", raylake.ReadOnlyError, "read-only"),
        ("INSERT INTO people SELECT * FROM people", raylake.ReadOnlyError, "INSERT"),
        ("CREATE TABLE x AS SELECT 1 AS a", raylake.ReadOnlyError, "CREATE"),
    ],
)
def test_errors_name_the_problem(
    ws: raylake.Workspace, query: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        ws.sql(query)
    assert isinstance(info.value, raylake.RaylakeError)
    assert not ENGINE_NAME.search(str(info.value))  # the user's names, not the engine's


def test_unknown_column_message_uses_the_users_names(ws: raylake.Workspace) -> None:
    with pytest.raises(raylake.SqlError) as info:
        ws.sql("SELECT salary FROM shop.orders@v0")
    assert "salary" in str(info.value) and not ENGINE_NAME.search(str(info.value))


def test_limit_of_constants(ws: raylake.Workspace) -> None:
    # delta-rs's DataFusion scan alone returns every row here; ws.sql keeps the LIMIT.
    assert rows(ws, "SELECT 'x' AS s FROM people LIMIT 1") == [{"s": "x"}]
    assert rows(ws, "SELECT 1 AS one FROM people LIMIT :n", {"n": 2}) == [{"one": 1}] * 2


def test_unknown_engine(ws: raylake.Workspace) -> None:
    with pytest.raises(raylake.InvalidArgumentError, match="unknown SQL engine"):
        ws.sql("SELECT 1 AS x", engine="sqlite")


def test_ctes_and_values(ws: raylake.Workspace) -> None:
    got = rows(
        ws,
        """WITH adults AS (SELECT * FROM people WHERE age > 35)
           SELECT a.id FROM adults a JOIN people p ON a.id > p.id ORDER BY a.id""",
    )
    assert got == [{"id": 2}, {"id": 3}, {"id": 3}]
    # a CTE named like a table hides it, as in SQL
    assert rows(ws, "WITH people AS (SELECT 7 AS id) SELECT id FROM people") == [{"id": 7}]


def test_ctas_insert_and_lineage(ws: raylake.Workspace) -> None:
    out = rows(
        ws,
        """CREATE TABLE shop.big AS SELECT o.order_id, p.Name FROM shop.orders@v0 o
           JOIN people p ON p.id = o.person WHERE o.amount > :min""",
        {"min": 1},
        read_only=False,
    )
    assert out == [{"table": "main.shop.big", "version": 0, "num_rows": 2}]
    out = rows(
        ws,
        "INSERT INTO shop.big SELECT order_id, 'late' FROM shop.orders WHERE order_id > 3",
        read_only=False,
    )
    assert out == [{"table": "main.shop.big", "version": 1, "num_rows": 1}]
    table = ws.table("shop.big").to_pandas().sort_values("order_id")
    assert table.to_dict("list") == {"order_id": [1, 2, 4], "Name": ["ann", "ann", "late"]}
    upstream = {
        (e.source_name, e.source_version, e.target_version) for e in ws.lineage("shop.big").upstream
    }
    assert upstream == {
        ("main.shop.orders", 0, 0),
        ("main.default.people", 0, 0),
        ("main.shop.orders", 1, 1),
        ("main.shop.big", 0, 1),
    }
    # columns listed, positional; overwrite; exists / if not exists
    rows(ws, "INSERT OVERWRITE shop.big (Name, order_id) SELECT 'x', 9", read_only=False)
    assert ws.table("shop.big").to_pandas().to_dict("list") == {"order_id": [9], "Name": ["x"]}
    with pytest.raises(raylake.TableExistsError):
        ws.sql("CREATE TABLE shop.big AS SELECT 1 AS order_id", read_only=False)
    again = rows(ws, "CREATE TABLE IF NOT EXISTS shop.big AS SELECT 1 AS a", read_only=False)
    assert again == [{"table": "main.shop.big", "version": 2, "num_rows": 0}]
    rows(
        ws, "CREATE OR REPLACE TABLE shop.big AS SELECT 5 AS order_id, 'r' AS Name", read_only=False
    )
    assert ws.table("shop.big").to_pandas()["order_id"].tolist() == [5]


def test_insert_casts_to_the_column_types(ws: raylake.Workspace) -> None:
    rows(ws, "INSERT INTO shop.orders (order_id, amount) SELECT 5, 3", read_only=False)
    got = rows(ws, "SELECT person, amount FROM shop.orders WHERE order_id = 5")
    assert got == [{"person": None, "amount": 3.0}]
    with pytest.raises(raylake.SqlError, match="'order_id' is int64"):
        ws.sql("INSERT INTO shop.orders (order_id) SELECT 'five'", read_only=False)


def test_bad_writes(ws: raylake.Workspace) -> None:
    with pytest.raises(raylake.SqlError, match="produces 1"):
        ws.sql("INSERT INTO people SELECT 1", read_only=False)
    with pytest.raises(raylake.TableNotFoundError):
        ws.sql("INSERT INTO shop.nope SELECT 1", read_only=False)
    with pytest.raises(raylake.SchemaNotFoundError):
        ws.sql("CREATE TABLE nowhere.t AS SELECT 1 AS a", read_only=False)
    with pytest.raises(raylake.SqlError, match="not supported"):
        ws.sql("DROP TABLE people", read_only=False)
    assert ws.table("people").version == 0


def test_auto_engine_picks_spark_for_large_data(ws: raylake.Workspace) -> None:
    runner: SqlRunner = ws._sql
    snapshots = runner.plan("SELECT * FROM people JOIN shop.orders ON true")
    assert {str(s.name) for s in snapshots} == {"main.default.people", "main.shop.orders"}
    assert runner.choose_engine("auto", snapshots) == "datafusion"  # small: no DuckDB start-up
    big = SqlRunner(ws._tables, ws._store, ws.write_table, ws.spark, auto_duckdb_bytes=100)
    assert big.choose_engine("auto", snapshots) == "duckdb"
    assert big.choose_engine("auto", snapshots, write=True) == "datafusion"
    small = SqlRunner(ws._tables, ws._store, ws.write_table, ws.spark, auto_spark_bytes=100)
    assert small.choose_engine("auto", snapshots) == "spark"
    assert small.choose_engine("datafusion", snapshots) == "datafusion"


QUERIES = [
    "SELECT p.Name, count(o.order_id) AS n, sum(o.amount) AS total FROM people p "
    "LEFT JOIN shop.orders o ON o.person = p.id GROUP BY p.Name ORDER BY p.Name",
    "SELECT order_id, amount FROM shop.orders@v0 ORDER BY amount DESC, order_id",
    "SELECT id / 2 AS half, id % 2 AS odd, upper(Name) AS n FROM people ORDER BY id",
]


@pytest.mark.parametrize("query", QUERIES)
def test_duckdb_and_datafusion_agree(ws: raylake.Workspace, query: str) -> None:
    duck, fusion = (ws.sql(query, engine=e) for e in ("duckdb", "datafusion"))
    assert duck.schema.names == fusion.schema.names
    assert duck.to_pylist() == fusion.to_pylist()


def test_integer_sums_are_bigint_on_duckdb(ws: raylake.Workspace) -> None:
    got = ws.sql("SELECT sum(age) AS s, sum(age / 10) AS f FROM people", engine="duckdb")
    assert got.schema.types[:1] == [pa.int64()] and got.to_pylist() == [{"s": 120, "f": 12.0}]
    with pytest.raises(raylake.SqlError, match="overflows BIGINT"):
        ws.sql("SELECT sum(x) AS s FROM (VALUES (9223372036854775807), (1)) v(x)", engine="duckdb")


def test_duckdb_reads_old_files_after_schema_evolution(ws: raylake.Workspace) -> None:
    ws.write_table(
        "shop.orders",
        pd.DataFrame({"order_id": [5], "person": [1], "amount": [1.0], "coupon": ["x"]}),
        schema_evolution=True,
    )
    query = "SELECT order_id, coupon FROM shop.orders ORDER BY order_id"
    got = rows(ws, query, engine="duckdb")
    assert got == rows(ws, query, engine="datafusion")
    assert [r["coupon"] for r in got] == [None, None, None, None, "x"]


def test_partitioned_tables_run_on_datafusion(ws: raylake.Workspace, tmp_path) -> None:
    from deltalake import write_deltalake

    location = tmp_path / "by_day"
    frame = pd.DataFrame({"day": ["d1", "d1", "d2"], "n": [1, 2, 3]})
    write_deltalake(str(location), frame, partition_by=["day"])
    ws.catalog.register_table("shop.by_day", str(location))
    query = "SELECT day, sum(n) AS n FROM shop.by_day GROUP BY day ORDER BY day"
    eager = SqlRunner(ws._tables, ws._store, ws.write_table, ws.spark, auto_duckdb_bytes=0)
    assert eager.choose_engine("auto", eager.plan(query)) == "datafusion"
    assert rows(ws, query) == [{"day": "d1", "n": 3}, {"day": "d2", "n": 3}]
    with pytest.raises(raylake.SqlError, match="partitioned"):
        ws.sql(query, engine="duckdb")


def test_duckdb_errors_name_the_users_tables(ws: raylake.Workspace) -> None:
    with pytest.raises(raylake.SqlError, match="DuckDB") as info:
        ws.sql("SELECT nope FROM shop.orders", engine="duckdb")
    assert not ENGINE_NAME.search(str(info.value))


def test_duckdb_spills_outside_the_working_directory(ws: raylake.Workspace) -> None:
    ws.sql("SELECT count(*) AS n FROM people", engine="duckdb")
    setting = "SELECT current_setting('temp_directory') AS d"
    spill = ws.sql(setting, engine="duckdb").column("d")[0].as_py()
    assert "raylake-duckdb" in spill and not spill.startswith(".")
