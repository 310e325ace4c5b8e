"""The catalog on a real SQLite database: schemas, tables, tags, versions, lineage, migrations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import inspect, text

import raylake
from raylake.catalog import CatalogStore
from raylake.errors import (
    InvalidArgumentError,
    InvalidNameError,
    SchemaNotFoundError,
    TableExistsError,
    TableNotFoundError,
)
from raylake.names import parse_table_name


def _df(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": list(range(n)), "v": [f"r{i}" for i in range(n)]})


def test_new_workspace_has_main_default(home: Path) -> None:
    with raylake.connect(home=home, user="bob") as ws:
        schemas = ws.catalog.list_schemas()
        assert [s.full_name for s in schemas] == ["main.default"]
        assert schemas[0].owner == "bob"
        assert (home / "catalog.db").is_file()
        # A one-part name lands in main.default.
        ws.write_table("t", _df(2))
        assert [t.full_name for t in ws.catalog.list_tables()] == ["main.default.t"]


def test_schemas(home: Path) -> None:
    with raylake.connect(home=home, user="bob") as ws:
        created = ws.catalog.create_schema("bronze", comment="raw data")
        assert (created.catalog, created.name, created.owner) == ("main", "bronze", "bob")
        assert created.comment == "raw data"
        again = ws.catalog.create_schema("bronze", comment="ignored")
        assert again.comment == "raw data"  # existing schemas are returned unchanged
        ws.catalog.create_schema("dev.bronze")
        assert [s.full_name for s in ws.catalog.list_schemas()] == [
            "dev.bronze",
            "main.bronze",
            "main.default",
        ]
        assert [s.full_name for s in ws.catalog.list_schemas("dev")] == ["dev.bronze"]
        with pytest.raises(InvalidNameError):
            ws.catalog.list_schemas("De v")

        ws.write_table("bronze.t", _df(1))
        with pytest.raises(TableExistsError):
            ws.catalog.drop_schema("bronze")  # not empty
        ws.catalog.drop_schema("dev.bronze")
        assert "dev.bronze" not in [s.full_name for s in ws.catalog.list_schemas()]
        with pytest.raises(SchemaNotFoundError):
            ws.catalog.drop_schema("dev.bronze")
        ws.catalog.drop_table("bronze.t")
        ws.catalog.drop_schema("bronze")
        assert [s.full_name for s in ws.catalog.list_schemas()] == ["main.default"]


def test_tables_listing_and_describe(home: Path) -> None:
    with raylake.connect(home=home, user="carol") as ws:
        ws.catalog.create_schema("bronze")
        ws.catalog.create_schema("silver")
        ws.write_table("silver.b", _df(3))
        ws.write_table("bronze.a", _df(2))
        ws.write_table("bronze.a", _df(2))
        names = [t.full_name for t in ws.catalog.list_tables()]
        assert names == ["main.bronze.a", "main.silver.b"]
        assert [t.full_name for t in ws.catalog.list_tables("bronze")] == ["main.bronze.a"]
        assert ws.catalog.list_tables("main.default") == []

        d = ws.catalog.describe("bronze.a")
        assert d.info.full_name == "main.bronze.a"
        assert d.info.owner == "carol"
        assert d.info.format == "delta"
        assert d.info.last_version == 1 == d.version
        assert d.info.location == str(Path(ws.settings.storage_root) / "main" / "bronze" / "a")
        assert d.schema == [("id", "int64"), ("v", "string")]
        assert d.num_rows == 4
        assert d.num_files == 2
        with pytest.raises(TableNotFoundError):
            ws.catalog.describe("bronze.nope")
        with pytest.raises(TableNotFoundError):
            ws.table("silver.nope")


def test_timestamps_are_utc_aware(local_ws: raylake.Workspace) -> None:
    before = dt.datetime.now(dt.UTC)
    local_ws.write_table("t", _df(1))
    info = local_ws.catalog.list_tables()[0]
    schema = local_ws.catalog.list_schemas()[0]
    for stamp in (info.created_at, info.updated_at, schema.created_at):
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=5) <= info.created_at <= dt.datetime.now(dt.UTC)


def test_tags_and_comments(local_ws: raylake.Workspace) -> None:
    local_ws.write_table("t", _df(1))
    created = local_ws.catalog.describe("t").info
    info = local_ws.catalog.set_tags("t", {"owner_team": "ml", "pii": True, "tier": 1})
    assert info.tags == {"owner_team": "ml", "pii": True, "tier": 1}
    info = local_ws.catalog.set_tags("main.default.t", {"pii": None, "tier": 2})
    assert info.tags == {"owner_team": "ml", "tier": 2}
    assert info.updated_at >= created.updated_at
    assert local_ws.catalog.describe("t").info.tags == {"owner_team": "ml", "tier": 2}
    assert local_ws.catalog.set_comment("t", "a test table").comment == "a test table"
    assert local_ws.catalog.set_comment("t", None).comment is None
    for bad in ("", "x" * 256, 3):
        with pytest.raises(InvalidArgumentError):
            local_ws.catalog.set_tags("t", {bad: "v"})  # type: ignore[dict-item]
    assert local_ws.catalog.describe("t").info.tags == {"owner_team": "ml", "tier": 2}
    with pytest.raises(TableNotFoundError):
        local_ws.catalog.set_tags("missing", {"a": 1})
    with pytest.raises(TableNotFoundError):
        local_ws.catalog.set_comment("missing", "c")


def test_last_version_follows_writes_and_maintenance(local_ws: raylake.Workspace) -> None:
    for n in (1, 2, 3):
        local_ws.write_table("t", _df(n))
    assert local_ws.catalog.list_tables()[0].last_version == 2
    local_ws.table("t").optimize()
    assert local_ws.catalog.list_tables()[0].last_version == 3
    local_ws.table("t").restore(0)
    assert local_ws.catalog.list_tables()[0].last_version == 4


def test_drop_and_recreate_starts_a_new_table(local_ws: raylake.Workspace) -> None:
    local_ws.write_table("t", _df(5))
    local_ws.write_table("t", _df(5))
    local_ws.catalog.drop_table("t")
    assert local_ws.write_table("t", _df(1)) == 0
    assert local_ws.table("t").num_rows() == 1
    assert local_ws.catalog.describe("t").info.last_version == 0


def test_catalog_persists_and_is_shared(home: Path) -> None:
    with raylake.connect(home=home) as ws1, raylake.connect(home=home) as ws2:
        ws1.catalog.create_schema("bronze")
        ws1.write_table("bronze.t", _df(2))
        ws1.catalog.set_tags("bronze.t", {"k": "v"})
        # A second workspace on the same home sees the table at once, and can write to it.
        assert ws2.table("bronze.t").num_rows() == 2
        assert ws2.write_table("bronze.t", _df(1)) == 1
        assert ws1.catalog.describe("bronze.t").info.last_version == 1
    with raylake.connect(home=home) as ws3:
        info = ws3.catalog.describe("bronze.t").info
        assert info.tags == {"k": "v"}
        assert info.last_version == 1
        assert ws3.table("bronze.t").num_rows() == 3


def test_store_migrations_are_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    first = CatalogStore(url)
    first.create_schema("main", "s", "me")
    first.close()
    second = CatalogStore(url)  # upgrading a current database is a no-op and keeps the data
    assert [s.full_name for s in second.list_schemas()] == ["main.s"]
    tables = set(inspect(second.engine).get_table_names())
    assert {"catalogs", "schemas", "tables", "lineage_edges", "alembic_version"} <= tables
    with second.engine.connect() as conn:
        assert conn.execute(text("select count(*) from alembic_version")).scalar() == 1
    second.close()


def test_store_register_table_is_idempotent_for_the_same_location(tmp_path: Path) -> None:
    store = CatalogStore(f"sqlite:///{tmp_path / 'c.db'}")
    store.create_schema("main", "s", "me")
    name = parse_table_name("s.t")
    a = store.register_table(name, "/data/t", "me", version=0)
    b = store.register_table(name, "/data/t", "someone", version=3)  # a racing first writer
    assert a == b
    with pytest.raises(TableExistsError):
        store.register_table(name, "/data/other", "me")
    with pytest.raises(TableExistsError):
        store.register_table(parse_table_name("s.u"), "/data/t", "me")
    with pytest.raises(SchemaNotFoundError):
        store.register_table(parse_table_name("nope.t"), "/data/x", "me")
    store.close()


def test_lineage(home: Path) -> None:
    with raylake.connect(home=home) as ws:
        ws.catalog.create_schema("bronze")
        ws.catalog.create_schema("silver")
        ws.catalog.create_schema("gold")
        store = CatalogStore(ws.settings.catalog_url)  # another client of the same database
        store.add_edge("main.bronze.raw", 0, "main.silver.clean", 0, run_id="r1")
        store.add_edge("main.silver.clean", 0, "main.gold.daily", 0, run_id="r2")
        store.add_edge("main.bronze.other", 3, "main.gold.daily", 0, run_id="r2")
        store.add_edge("main.gold.daily", 0, "model:churn", None, target_kind="model")
        store.close()

        up = ws.catalog.lineage("gold.daily")
        assert up.name == "main.gold.daily"
        assert {(e.source_name, e.target_name) for e in up.upstream} == {
            ("main.silver.clean", "main.gold.daily"),
            ("main.bronze.other", "main.gold.daily"),
            ("main.bronze.raw", "main.silver.clean"),
        }
        assert [(e.target_name, e.target_kind) for e in up.downstream] == [("model:churn", "model")]
        down = ws.lineage("bronze.raw")
        assert [e.target_name for e in down.downstream] == [
            "main.silver.clean",
            "main.gold.daily",
            "model:churn",
        ]
        assert down.upstream == []
        # Non-table nodes pass through unchanged.
        assert [e.source_name for e in ws.catalog.lineage("model:churn").upstream][0] == (
            "main.gold.daily"
        )


def test_lineage_cycles_terminate(tmp_path: Path) -> None:
    store = CatalogStore(f"sqlite:///{tmp_path / 'c.db'}")
    store.add_edge("main.s.a", 0, "main.s.b", 0)
    store.add_edge("main.s.b", 0, "main.s.a", 1)
    assert len(store.upstream("main.s.a")) == 2
    assert len(store.downstream("main.s.a")) == 2
    store.close()


def test_head_revision_is_alembics_and_a_current_database_skips_alembic(tmp_path) -> None:
    import subprocess
    import sys

    from alembic.script import ScriptDirectory

    from raylake.catalog import CatalogStore
    from raylake.catalog.migrate import MIGRATIONS, current_revision, head_revision

    assert head_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = CatalogStore(url)
    assert current_revision(store.engine) == head_revision()
    store.close()
    # A fresh process opening the current catalog never imports Alembic.
    code = (
        "import sys; from raylake.catalog import CatalogStore; "
        f"CatalogStore({url!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
