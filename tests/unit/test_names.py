"""Table names: parsing, defaults and refusal of bad names (before anything is written)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import raylake
from raylake.errors import InvalidNameError
from raylake.names import TableName, parse_schema_name, parse_table_name, validate_part

BAD_NAMES = [
    "../x",
    "x/../../y",
    "a.b.c.d",
    "x;drop",
    "x; drop table t",
    "Tbl",
    "main.Bronze.t",
    "1x",
    "",
    ".",
    "a..b",
    "a.",
    ".a",
    "a" * 256,
    "s." + "a" * 256,
    "t-1",
    "t x",
    "t\n",
    "t\x00",
    "m\u0430in.default.t",  # Cyrillic 'а'
    "\uff4dain.default.t",  # fullwidth 'ｍ'
    "t\u0430ble",
    "tabl\u0435",  # Cyrillic 'е'
    "caf\u00e9",
    "ı",  # dotless i: lower-case, not ASCII
    "K",  # Kelvin sign (case-folds to 'k' under re.IGNORECASE)
    "x*",
    "x'",
    'x"',
    "`x`",
    "%",
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("t", TableName("main", "default", "t")),
        ("bronze.t", TableName("main", "bronze", "t")),
        ("dev.bronze.t", TableName("dev", "bronze", "t")),
        ("_x.y_1.z_2", TableName("_x", "y_1", "z_2")),
        ("a" * 255, TableName("main", "default", "a" * 255)),
    ],
)
def test_valid_names_resolve_against_main_default(name: str, expected: TableName) -> None:
    parsed = parse_table_name(name)
    assert parsed == expected
    assert str(parsed) == f"{expected.catalog}.{expected.schema}.{expected.table}"
    assert parse_table_name(parsed) is parsed


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_table_names_raise(name: str) -> None:
    with pytest.raises(InvalidNameError):
        parse_table_name(name)


@pytest.mark.parametrize("name", [None, 1, b"t", ["t"]])
def test_non_string_names_raise(name: object) -> None:
    with pytest.raises(InvalidNameError):
        parse_table_name(name)  # type: ignore[arg-type]


def test_schema_names() -> None:
    assert parse_schema_name("bronze") == ("main", "bronze")
    assert parse_schema_name("dev.bronze") == ("dev", "bronze")
    for bad in ["a.b.c", "", "Bronze", "../x", "br\u043enze", "a" * 256]:
        with pytest.raises(InvalidNameError):
            parse_schema_name(bad)


def test_validate_part_is_the_single_rule() -> None:
    assert validate_part("ok_1") == "ok_1"
    with pytest.raises(InvalidNameError):
        validate_part("no-dash")


def _tree(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("name", BAD_NAMES)
def test_write_with_bad_name_writes_nothing(local_ws: raylake.Workspace, name: str) -> None:
    local_ws.catalog.create_schema("bronze")
    local_ws.write_table("bronze.keep", pd.DataFrame({"a": [1, 2]}))
    root = Path(local_ws.settings.storage_root)
    home = local_ws.settings.home
    tables_before = local_ws.catalog.list_tables()
    schemas_before = local_ws.catalog.list_schemas()
    storage_before = _tree(root)
    home_before = sorted(p.name for p in home.iterdir())

    with pytest.raises(InvalidNameError):
        local_ws.write_table(name, pd.DataFrame({"a": [3]}))

    assert local_ws.catalog.list_tables() == tables_before
    assert local_ws.catalog.list_schemas() == schemas_before
    assert _tree(root) == storage_before
    # Nothing escaped the storage root either (e.g. '../x' next to it).
    assert sorted(p.name for p in home.iterdir()) == home_before
    assert local_ws.table("bronze.keep").num_rows() == 2


@pytest.mark.parametrize("name", ["../x", "Tbl", "a.b.c.d", "m\u0430in.default.t"])
def test_other_entry_points_refuse_bad_names(local_ws: raylake.Workspace, name: str) -> None:
    with pytest.raises(InvalidNameError):
        local_ws.table(name)
    with pytest.raises(InvalidNameError):
        local_ws.catalog.describe(name)
    with pytest.raises(InvalidNameError):
        local_ws.catalog.drop_table(name)
    with pytest.raises(InvalidNameError):
        local_ws.catalog.set_tags(name, {"k": "v"})
    with pytest.raises(InvalidNameError):
        local_ws.catalog.register_table(name, str(local_ws.settings.home / "elsewhere"))


@pytest.mark.parametrize("name", ["../x", "Bronze", "a.b.c", "\uff4dain.s", ""])
def test_create_schema_refuses_bad_names(local_ws: raylake.Workspace, name: str) -> None:
    before = local_ws.catalog.list_schemas()
    with pytest.raises(InvalidNameError):
        local_ws.catalog.create_schema(name)
    assert local_ws.catalog.list_schemas() == before
