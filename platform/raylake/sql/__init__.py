"""SQL over the catalog: ``ws.sql("SELECT ... FROM main.sales.orders VERSION AS OF 3")``.

Names resolve through the catalog (one or two parts against ``main.default``), ``@v3`` is short
for ``VERSION AS OF 3``, ``:name`` placeholders bind ``params`` as literals in the parsed tree.
The default engine runs in-process: DuckDB over the pinned Delta snapshot's files where that is
the whole table and there is at least ``AUTO_DUCKDB_BYTES`` of it, delta-rs's DataFusion
otherwise; ``engine="spark"`` (or tables larger than ``AUTO_SPARK_BYTES``) runs Spark SQL on
Ray. The result is a ``pyarrow.Table``.

Read-only unless ``read_only=False``: then ``CREATE TABLE x AS SELECT`` and ``INSERT INTO x
SELECT`` write through ``ws.write_table`` and record lineage from every table version read.
"""

from raylake.sql.runner import AUTO_DUCKDB_BYTES, AUTO_SPARK_BYTES, ENGINES, SqlRunner

__all__ = ["AUTO_DUCKDB_BYTES", "AUTO_SPARK_BYTES", "ENGINES", "SqlRunner"]
