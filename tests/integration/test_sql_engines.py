"""ws.sql on DuckDB, DataFusion and Spark SQL (on Ray) gives the same answers on raylake
tables."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

import raylake

ENGINES = ("duckdb", "datafusion", "spark")


@pytest.fixture(scope="module")
def sales(ws: raylake.Workspace) -> str:
    """orders (two versions, NULLs in keys and values) and customers, in a fresh schema."""
    name = "sql_engines"
    ws.catalog.create_schema(name)
    ws.write_table(
        f"{name}.orders",
        pd.DataFrame(
            {
                "order_id": [1, 2, 3, 4, 5, 6],
                "customer_id": pd.array([10, 20, 10, None, 30, 20], dtype="Int64"),
                "amount": [5.0, None, 7.5, 1.0, 3.25, 4.0],
                "status": ["paid", "paid", None, "open", "open", "paid"],
                "ordered_at": pd.to_datetime(
                    [
                        "2026-01-01 10:00",
                        "2026-01-01 11:00",
                        "2026-01-02 09:30",
                        "2026-01-02 12:00",
                        "2026-01-03 08:00",
                        "2026-01-03 18:45",
                    ]
                ).as_unit("us"),
            }
        ),
    )
    ws.write_table(
        f"{name}.orders",
        pd.DataFrame(
            {
                "order_id": [7, 8],
                "customer_id": pd.array([30, 40], dtype="Int64"),
                "amount": [10.0, 2.5],
                "status": ["paid", None],
                "ordered_at": pd.to_datetime(["2026-01-04 10:00", "2026-01-04 11:00"]).as_unit(
                    "us"
                ),
            }
        ),
    )
    ws.write_table(
        f"{name}.customers",
        pd.DataFrame(
            {
                "customer_id": pd.array([10, 20, 30, 50], dtype="Int64"),
                "name": ["ann", "bob", None, "eve"],
                "country": ["FR", "DE", "FR", None],
            }
        ),
    )
    return name


def both(ws: raylake.Workspace, query: str, params: dict | None = None) -> pd.DataFrame:
    """Run on every engine, check the answers agree, return the first engine's."""
    left, *others = [ws.sql(query, params, engine=e).to_pandas() for e in ENGINES]
    for right in others:
        assert list(left.columns) == list(right.columns)
        pd.testing.assert_frame_equal(
            left.reset_index(drop=True), right.reset_index(drop=True), check_dtype=False
        )
    return left


def test_join_and_aggregate(ws: raylake.Workspace, sales: str) -> None:
    got = both(
        ws,
        f"""SELECT c.country, count(*) AS n, sum(o.amount) AS total, avg(o.amount) AS mean,
                   count(DISTINCT o.customer_id) AS customers
            FROM main.{sales}.orders o JOIN {sales}.customers AS c ON o.customer_id = c.customer_id
            GROUP BY c.country ORDER BY c.country""",
    )
    assert got.to_dict("list") == {
        "country": ["DE", "FR"],
        "n": [2, 4],
        "total": [4.0, 25.75],
        "mean": [4.0, 25.75 / 4],
        "customers": [1, 2],
    }


def test_outer_joins_and_nulls(ws: raylake.Workspace, sales: str) -> None:
    got = both(
        ws,
        f"""SELECT o.order_id, c.name, coalesce(c.country, 'none') AS country,
                   o.amount IS NULL AS no_amount, o.status
            FROM {sales}.orders o LEFT JOIN {sales}.customers c
              ON o.customer_id = c.customer_id
            ORDER BY o.order_id""",
    )
    assert got["name"].isna().tolist() == [False, False, False, True, True, False, True, True]
    assert got["country"].tolist()[3] == "none"
    both(
        ws,
        f"""SELECT c.customer_id, count(o.order_id) AS orders FROM {sales}.customers c
            FULL OUTER JOIN {sales}.orders o ON o.customer_id = c.customer_id
            GROUP BY c.customer_id ORDER BY c.customer_id""",
    )


def test_null_semantics(ws: raylake.Workspace, sales: str) -> None:
    got = both(
        ws,
        f"""SELECT status, count(*) AS n, count(amount) AS with_amount, sum(amount) AS total,
                   max(customer_id) AS top
            FROM {sales}.orders GROUP BY status ORDER BY status""",
    )
    assert got["status"].isna().tolist() == [True, False, False]  # NULLs first, as in Spark
    both(ws, f"SELECT order_id FROM {sales}.orders WHERE status <> 'paid' ORDER BY order_id")
    both(
        ws,
        f"SELECT order_id, amount FROM {sales}.orders ORDER BY amount DESC NULLS LAST, order_id",
    )


def test_time_travel(ws: raylake.Workspace, sales: str) -> None:
    totals = "SELECT count(*) AS n, sum(amount) AS total FROM"
    old = both(ws, f"{totals} {sales}.orders VERSION AS OF 0")
    short = both(ws, f"{totals} {sales}.orders@v0")
    now = both(ws, f"SELECT count(*) AS n FROM {sales}.orders")
    assert old.equals(short) and old["n"][0] == 6 and now["n"][0] == 8
    both(
        ws,
        f"""SELECT new.order_id FROM {sales}.orders new
            LEFT JOIN {sales}.orders@v0 old ON new.order_id = old.order_id
            WHERE old.order_id IS NULL ORDER BY new.order_id""",
    )


def test_ctes_windows_and_params(ws: raylake.Workspace, sales: str) -> None:
    got = both(
        ws,
        f"""WITH paid AS (SELECT * FROM {sales}.orders WHERE status = :status)
            SELECT order_id, row_number() OVER (PARTITION BY customer_id ORDER BY order_id) AS k
            FROM paid WHERE ordered_at >= :since ORDER BY order_id""",
        {"status": "paid", "since": dt.datetime(2026, 1, 1, 10, 30)},
    )
    assert got["order_id"].tolist() == [2, 6, 7]


@pytest.mark.parametrize("value", ["x' OR '1'='1", "1; DROP TABLE orders", "paid' --"])
def test_injection_is_a_value(ws: raylake.Workspace, sales: str, value: str) -> None:
    for engine in ENGINES:
        got = ws.sql(
            f"SELECT count(*) AS n FROM {sales}.orders WHERE status = :s", {"s": value}, engine
        )
        assert got.column("n").to_pylist() == [0]
    assert ws.sql(f"SELECT count(*) AS n FROM {sales}.orders").column("n").to_pylist() == [8]


def test_spark_errors_are_named(ws: raylake.Workspace, sales: str) -> None:
    with pytest.raises(raylake.SqlError, match="nope"):
        ws.sql(f"SELECT nope FROM {sales}.orders", engine="spark")
    with pytest.raises(raylake.TableNotFoundError, match="missing"):
        ws.sql(f"SELECT * FROM {sales}.missing", engine="spark")


def test_ctas_on_spark_records_lineage(ws: raylake.Workspace, sales: str) -> None:
    out = ws.sql(
        f"""CREATE TABLE {sales}.paid AS SELECT o.order_id, c.name FROM {sales}.orders@v0 o
            JOIN {sales}.customers c USING (customer_id) WHERE o.status = 'paid'""",
        engine="spark",
        read_only=False,
    )
    assert out.to_pylist() == [{"table": f"main.{sales}.paid", "version": 0, "num_rows": 3}]
    assert sorted(ws.table(f"{sales}.paid").to_pandas()["order_id"]) == [1, 2, 6]
    sources = {(e.source_name, e.source_version) for e in ws.lineage(f"{sales}.paid").upstream}
    assert sources == {(f"main.{sales}.orders", 0), (f"main.{sales}.customers", 0)}


def test_expressions_agree(ws: raylake.Workspace, sales: str) -> None:
    got = both(
        ws,
        f"""SELECT order_id / 4 AS quarter, order_id % 3 AS m, upper(status) AS s,
                   concat(status, '-', CAST(order_id AS STRING)) AS label,
                   CASE WHEN amount > 4 THEN 'big' WHEN amount IS NULL THEN 'none' ELSE 'small' END
                     AS size,
                   CAST(ordered_at AS DATE) AS day, year(ordered_at) AS y,
                   round(amount * 1.1, 2) AS taxed
            FROM {sales}.orders ORDER BY order_id""",
    )
    assert got["quarter"].tolist()[:2] == [0.25, 0.5]  # true division on both engines
    both(
        ws,
        f"""SELECT CAST(ordered_at AS DATE) AS day, count(*) AS n FROM {sales}.orders
            WHERE ordered_at BETWEEN :a AND :b GROUP BY CAST(ordered_at AS DATE) ORDER BY day""",
        {"a": dt.datetime(2026, 1, 1), "b": dt.datetime(2026, 1, 3, 12)},
    )
    both(ws, f"SELECT DISTINCT status FROM {sales}.orders ORDER BY status")
    both(
        ws,
        f"""SELECT customer_id FROM {sales}.orders WHERE customer_id IS NOT NULL
            UNION SELECT customer_id FROM {sales}.customers ORDER BY customer_id""",
    )


def test_insert_on_spark_casts_and_appends(ws: raylake.Workspace, sales: str) -> None:
    ws.sql(f"CREATE TABLE {sales}.totals AS SELECT 'x' AS k, 1.5 AS v", read_only=False)
    out = ws.sql(
        f"INSERT INTO {sales}.totals SELECT status, count(*) FROM {sales}.orders@v1 "
        "WHERE status IS NOT NULL GROUP BY status",
        engine="spark",
        read_only=False,
    )
    assert out.column("version").to_pylist() == [1]
    got = ws.sql(f"SELECT k, v FROM {sales}.totals ORDER BY k").to_pylist()
    assert got == [{"k": "open", "v": 2.0}, {"k": "paid", "v": 4.0}, {"k": "x", "v": 1.5}]
    upstream = {(e.source_name, e.source_version) for e in ws.lineage(f"{sales}.totals").upstream}
    assert (f"main.{sales}.orders", 1) in upstream and (f"main.{sales}.totals", 0) in upstream
