"""``ws.sql``: parse, bind, resolve, pick an engine, run; writes go through ``write_table``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from raylake.catalog import CatalogStore
from raylake.errors import InvalidArgumentError, SqlError, TableExistsError
from raylake.names import TableName
from raylake.sql import _duckdb, _engines
from raylake.sql._params import bind
from raylake.sql._parse import Statement, classify, parse
from raylake.sql._resolve import Snapshot, resolve, table_name
from raylake.tables.managed import ManagedTables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

EngineName = Literal["auto", "duckdb", "datafusion", "spark"]
ENGINES = ("auto", "duckdb", "datafusion", "spark")

# Above this much Delta data (Parquet bytes of the snapshots read) "auto" runs on Spark on
# Ray: the embedded engines read in-process on one node, fastest until the data stops fitting.
AUTO_SPARK_BYTES = 8 * 1024**3
# From this much data, reads run on DuckDB when it can read every snapshot exactly (local,
# unpartitioned, no deletion vectors): twice DataFusion's speed at 187 MB, 1.5x at 21 MB, equal
# near 4 MB (benchmarks/sql.py). Below it DataFusion is as fast and has no first-query cost
# (DuckDB's import and first query take ~0.3-0.5 s, paid by every `raylake sql` process).
# Writes (CREATE TABLE AS, INSERT) run on DataFusion, whose result types the write path expects.
AUTO_DUCKDB_BYTES = 8 * 1024**2

WriteFn = Callable[..., int]


class SqlRunner:
    """Runs SQL over the catalog's tables (one per workspace)."""

    def __init__(
        self,
        tables: ManagedTables,
        store: CatalogStore,
        write: WriteFn,
        spark: Callable[[], SparkSession],
        auto_spark_bytes: int = AUTO_SPARK_BYTES,
        auto_duckdb_bytes: int = AUTO_DUCKDB_BYTES,
    ) -> None:
        self._tables = tables
        self._store = store
        self._write = write
        self._spark = spark
        self.auto_spark_bytes = auto_spark_bytes
        self.auto_duckdb_bytes = auto_duckdb_bytes

    def run(
        self,
        query: str,
        params: Mapping[str, Any] | None = None,
        engine: str | None = None,
        read_only: bool = True,
    ) -> pa.Table:
        choice = self._check_engine(engine)
        if params is not None and not isinstance(params, Mapping):
            raise SqlError("params must be a dict of :name -> value")
        statement = classify(bind(parse(query), params), read_only)
        snapshots = resolve(statement.query, self._tables, f"rl{uuid.uuid4().hex[:8]}")
        use = self.choose_engine(choice, snapshots, write=statement.kind != "query")
        if statement.kind == "query":
            if use == "spark":
                return _engines.run_spark(self._spark, statement.query, snapshots)
            if use == "duckdb":
                return _engines.run_duckdb(statement.query, snapshots)
            return _engines.run_datafusion(statement.query, snapshots)
        return self._run_write(statement, snapshots, use)

    def plan(self, query: str, params: Mapping[str, Any] | None = None) -> list[Snapshot]:
        """The snapshots a read query would read (for tools that show them)."""
        statement = classify(bind(parse(query), params), read_only=True)
        return resolve(statement.query, self._tables, "plan")

    @staticmethod
    def _check_engine(engine: str | None) -> EngineName:
        choice = (engine or "auto").lower()
        if choice not in ENGINES:
            raise InvalidArgumentError(f"unknown SQL engine {engine!r}: use one of {ENGINES}")
        return choice  # type: ignore[return-value]

    def choose_engine(
        self, choice: EngineName, snapshots: list[Snapshot], write: bool = False
    ) -> str:
        if choice != "auto":
            return choice
        total = sum(s.size_bytes() for s in snapshots)
        if total > self.auto_spark_bytes:
            return "spark"
        if write or total < self.auto_duckdb_bytes or not _duckdb.supports(snapshots):
            return "datafusion"
        return "duckdb"

    # -- writes --------------------------------------------------------------------------------
    def _run_write(self, statement: Statement, snapshots: list[Snapshot], use: str) -> pa.Table:
        assert statement.target is not None and statement.mode is not None
        if statement.target.args.get("version") is not None:
            raise SqlError("cannot write to a past version of a table")
        target = table_name(statement.target)
        exists = self._store.get_table(target) is not None
        if statement.kind == "create":
            if exists and statement.mode == "create_if_missing":
                return _write_result(target, self._tables.get(target).version, 0)
            if exists and statement.mode == "create":
                raise TableExistsError(
                    f"table {target} already exists: use INSERT INTO, or CREATE OR REPLACE TABLE"
                )
            schema = None
        else:
            schema = self._tables.get(target).schema  # TableNotFoundError if missing
        mode = "overwrite" if statement.mode == "overwrite" else "append"
        if use == "spark":
            df = _engines.spark_dataframe(self._spark(), statement.query, snapshots)
            data: Any = _spark_columns(df, schema, statement.columns)
        else:
            run = _engines.run_duckdb if use == "duckdb" else _engines.run_datafusion
            data = _arrow_columns(run(statement.query, snapshots), schema, statement.columns)
        version = self._write(str(target), data, mode=mode)
        self._record_lineage(snapshots, target, version, mode)
        added = self._tables.get(target).history(1)[0].rows_added
        return _write_result(target, version, added)

    def _record_lineage(
        self, snapshots: list[Snapshot], target: TableName, version: int, mode: str
    ) -> None:
        run_id = f"sql-{uuid.uuid4().hex[:12]}"
        for snap in snapshots:
            self._store.add_edge(str(snap.name), snap.version, str(target), version, run_id)
        if mode == "append" and version > 0:
            # As for pipelines: an appended version also comes from the one before it.
            self._store.add_edge(str(target), version - 1, str(target), version, run_id)


def _write_result(target: TableName, version: int, rows: int | None) -> pa.Table:
    return pa.table(
        {"table": [str(target)], "version": [version], "num_rows": pa.array([rows], pa.int64())}
    )


def _insert_names(
    produced: list[str], target: list[str] | None, listed: list[str] | None
) -> list[str]:
    """Column names for the query's output: INSERT matches columns by position (as SQL does)."""
    if target is None:  # CREATE TABLE AS SELECT: the query's own names
        if len(set(produced)) != len(produced):
            raise SqlError(f"CREATE TABLE AS SELECT needs distinct column names, got {produced}")
        return produced
    names = listed if listed is not None else target
    unknown = [c for c in names if c not in target]
    if unknown:
        raise SqlError(f"INSERT names columns the table does not have: {unknown}")
    if len(produced) != len(names):
        raise SqlError(
            f"INSERT has {len(names)} target column(s) but the query produces {len(produced)}"
        )
    return names


def _arrow_columns(
    result: pa.Table, target: pa.Schema | None, listed: list[str] | None
) -> pa.Table:
    names = _insert_names(result.column_names, target and target.names, listed)
    result = result.rename_columns(names)
    if target is None:
        return result
    # As SQL does for INSERT: values take the column's type (1 into a DOUBLE column is 1.0).
    columns = []
    for name in names:
        field = target.field(name)
        try:
            columns.append(result.column(name).cast(field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SqlError(
                f"INSERT: column {name!r} is {field.type}, the query gives "
                f"{result.schema.field(name).type}: {exc}"
            ) from exc
    return pa.table(columns, names=names)


def _spark_columns(df: Any, target: pa.Schema | None, listed: list[str] | None) -> Any:
    names = _insert_names(list(df.columns), target and target.names, listed)
    df = df.toDF(*names)
    if target is None:
        return df
    from raylake.tables import spark_io

    return spark_io.conform(df, pa.schema([target.field(n) for n in names]))
