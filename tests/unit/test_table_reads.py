"""Table.head, restoring to the current version and vacuum's named errors."""

from __future__ import annotations

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
