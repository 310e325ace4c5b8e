"""The ``%%sql`` / ``%sql`` IPython magic on a real InteractiveShell."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import raylake
from raylake.sql import magic


@pytest.fixture
def shell(local_ws: raylake.Workspace) -> Iterator[InteractiveShell]:
    local_ws.write_table("people", pd.DataFrame({"id": [1, 2, 3], "name": ["ann", "bob", "cy"]}))
    local_ws.write_table("people", pd.DataFrame({"id": [4], "name": ["dee"]}))
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "raylake.sql.magic")
    magic.use(local_ws)
    yield ip
    ip.run_line_magic("unload_ext", "raylake.sql.magic")
    magic.use(None)


def test_cell_magic_returns_a_dataframe(shell: InteractiveShell) -> None:
    shell.user_ns["who"] = "bob"
    frame = shell.run_cell_magic("sql", "-o found", "SELECT id FROM people WHERE name = :who")
    assert isinstance(frame, pd.DataFrame) and frame["id"].tolist() == [2]
    assert shell.user_ns["found"].equals(frame)


def test_line_magic_and_time_travel(shell: InteractiveShell) -> None:
    frame = shell.run_line_magic("sql", "SELECT count(*) AS n FROM people@v0 WHERE name <> 'a b'")
    assert frame["n"].tolist() == [3]


def test_notebook_values_are_bound_not_pasted(shell: InteractiveShell) -> None:
    shell.user_ns["evil"] = "x' OR '1'='1"
    frame = shell.run_cell_magic("sql", "", "SELECT id FROM people WHERE name = :evil")
    assert frame.empty


def test_errors(shell: InteractiveShell) -> None:
    with pytest.raises(raylake.SqlError, match="no notebook variable"):
        shell.run_cell_magic("sql", "", "SELECT id FROM people WHERE name = :nobody")
    with pytest.raises(raylake.ReadOnlyError):
        shell.run_cell_magic("sql", "", "DROP TABLE people")
    with pytest.raises(raylake.SqlError, match="unknown option"):
        shell.run_cell_magic("sql", "--nope", "SELECT 1 AS x")


def test_writes_with_flag(shell: InteractiveShell, local_ws: raylake.Workspace) -> None:
    frame = shell.run_cell_magic("sql", "--write", "CREATE TABLE copy AS SELECT * FROM people")
    assert frame["num_rows"].tolist() == [4]
    assert local_ws.table("copy").num_rows() == 4
