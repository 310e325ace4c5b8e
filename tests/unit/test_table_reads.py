"""Table.head, restoring to the current version and vacuum's named errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import raylake


def test_head_restore_current_and_vacuum_errors(local_ws: raylake.Workspace) -> None:
    for i in range(3):
        local_ws.write_table("x", pd.DataFrame({"a": range(i * 5, i * 5 + 5)}))
    t = local_ws.table("x")
    head = t.head(7)
    assert len(head) == 7
    assert set(head["a"]) <= set(range(15))
    assert len(t.head(100)) == 15
    assert t.head(3, version=0)["a"].tolist() == [0, 1, 2]
    with pytest.raises(raylake.InvalidArgumentError):
        t.head(-1)

    assert t.restore(2) == 2  # already there: no new commit
    assert t.version == 2
    with pytest.raises(raylake.InvalidArgumentError, match="retention"):
        t.vacuum(retention_hours=0)  # under the 168 h minimum unless enforcement is off
    assert t.num_rows() == 15


def test_dropping_an_external_table_keeps_its_data(
    local_ws: raylake.Workspace, tmp_path: Path
) -> None:
    from deltalake import DeltaTable, write_deltalake

    location = str(tmp_path / "elsewhere")
    write_deltalake(location, pd.DataFrame({"a": [1, 2]}))
    local_ws.catalog.register_table("ext", location)
    local_ws.catalog.drop_table("ext", purge=True)
    assert DeltaTable(location).version() == 0  # the data is untouched
    assert local_ws.catalog.list_tables() == []

    local_ws.write_table("managed", pd.DataFrame({"a": [1]}))
    managed = local_ws.catalog.describe("managed").info.location
    local_ws.catalog.drop_table("managed", purge=True)
    assert not DeltaTable.is_deltatable(managed)
