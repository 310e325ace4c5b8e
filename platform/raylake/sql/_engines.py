"""The engines: DuckDB and delta-rs's DataFusion in-process, and Spark SQL on Ray.

Each gets the rewritten tree and the pinned snapshots, generates its own dialect from the
tree and turns engine failures into :class:`SqlError` messages that name the user's tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
from deltalake import QueryBuilder
from sqlglot import exp

from raylake.errors import SqlError
from raylake.sql import _duckdb
from raylake.sql._resolve import Snapshot
from raylake.tables import spark_io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# DataFusion's SQL is PostgreSQL-like: sqlglot's postgres output gives Spark's semantics
# (true division, NULLS FIRST on ascending sorts) spelled the way DataFusion reads them.
DATAFUSION_DIALECT = "postgres"
SPARK_DIALECT = "spark"

_VIEW_TYPES = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}


def engine_error(exc: BaseException, snapshots: Iterable[Snapshot], what: str) -> SqlError:
    """A one-paragraph message, engine names swapped back for the query's table names."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    message = lines[0] if lines else type(exc).__name__
    for line in lines[1:3]:  # DataFusion puts its 'Did you mean' hints on the next lines
        if line.startswith(("Did you mean", "Valid fields")):
            message += f" {line}"
    for snap in snapshots:
        message = message.replace(snap.engine_name, snap.label)
    return SqlError(f"{what} rejected the query: {message}")


def _plain_types(table: pa.Table) -> pa.Table:
    """string_view/binary_view (DataFusion's) to string/binary, as Spark and pandas expect."""
    fields = [
        pa.field(f.name, _VIEW_TYPES.get(f.type, f.type), f.nullable, f.metadata)
        for f in table.schema
    ]
    target = pa.schema(fields, metadata=table.schema.metadata)
    return table if target == table.schema else table.cast(target)


def _engine_sql(tree: exp.Expression, snapshots: list[Snapshot], dialect: str) -> str:
    # DataFusion folds unquoted identifiers to lower case; Spark matches names ignoring case.
    # Quote each identifier with the case of the column or alias it names, so every engine
    # reads the same query the same way (and output columns keep the case written).
    canonical: dict[str, str] = {}
    for node in tree.find_all(exp.Alias, exp.TableAlias, exp.CTE):
        ident = node.args.get("alias")
        if isinstance(ident, exp.TableAlias):
            ident = ident.this
        if isinstance(ident, exp.Identifier):
            canonical.setdefault(ident.this.lower(), ident.this)
    for snap in snapshots:
        for name in snap.schema.names:
            canonical[name.lower()] = name
    tree = tree.copy()
    for ident in tree.find_all(exp.Identifier):
        if not ident.quoted and ident.this.lower() in canonical:
            ident.set("this", canonical[ident.this.lower()])
            ident.set("quoted", True)
    return tree.sql(dialect=dialect)


def run_duckdb(tree: exp.Expression, snapshots: list[Snapshot]) -> pa.Table:
    return _plain_types(_duckdb.run(_engine_sql(tree, snapshots, _duckdb.DIALECT), snapshots))


def run_datafusion(tree: exp.Expression, snapshots: list[Snapshot]) -> pa.Table:
    builder = QueryBuilder()
    for snap in snapshots:
        builder.register(snap.engine_name, snap.delta)
    sql = _engine_sql(tree, snapshots, DATAFUSION_DIALECT)
    try:
        result = _plain_types(pa.table(builder.execute(sql)))
    except Exception as exc:  # delta-rs raises DeltaError or a bare Exception
        raise engine_error(exc, snapshots, "DataFusion") from exc
    limit = _outer_limit(tree)
    # delta-rs 1.6 drops the LIMIT of a query that projects only constants from a Delta scan
    # (SELECT 1 FROM t LIMIT 1 gives every row); a query's result never exceeds its LIMIT.
    return result.slice(0, limit) if limit is not None and result.num_rows > limit else result


def _outer_limit(tree: exp.Expression) -> int | None:
    limit = tree.args.get("limit") if isinstance(tree, exp.Query) else None
    value = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    return None


def spark_dataframe(
    spark: SparkSession, tree: exp.Expression, snapshots: list[Snapshot]
) -> DataFrame:
    """The query as a Spark DataFrame over temp views of the snapshots' Parquet files."""
    from pyspark.errors import PySparkException

    for snap in snapshots:
        view = spark_io.read(spark, snap.file_uris, snap.schema)
        view.createOrReplaceTempView(snap.engine_name)
    try:
        # spark.sql analyzes now: the plan holds the views' plans, so they can go right after.
        return spark.sql(tree.sql(dialect=SPARK_DIALECT))
    except PySparkException as exc:
        raise engine_error(exc, snapshots, "Spark SQL") from exc
    finally:
        for snap in snapshots:
            spark.catalog.dropTempView(snap.engine_name)


def spark_to_arrow(df: DataFrame, snapshots: list[Snapshot]) -> pa.Table:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(df.schema)
    try:
        # The Arrow batches Spark's own toPandas() collects (DataFrame.toArrow is Spark 4).
        batches = df._collect_as_arrow()
    except (PySparkException, Py4JJavaError) as exc:
        raise engine_error(exc, snapshots, "Spark SQL") from exc
    if not batches:
        return schema.empty_table()
    return pa.Table.from_batches(batches)


def run_spark(
    spark: Callable[[], SparkSession], tree: exp.Expression, snapshots: list[Snapshot]
) -> pa.Table:
    return spark_to_arrow(spark_dataframe(spark(), tree, snapshots), snapshots)
