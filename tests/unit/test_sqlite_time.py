"""Feast's SQLite online store keeps working after IPython registers its own converter."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from raylake.features import _sqlite_time


def test_one_timestamp_converter_reads_feast_epochs_and_ipython_iso(tmp_path) -> None:
    # What IPython's history does on start: a process-wide ISO-only "timestamp" converter.
    sqlite3.register_converter("timestamp", lambda v: datetime.fromisoformat(v.decode()))
    _sqlite_time.register()
    conn = sqlite3.connect(tmp_path / "x.db", detect_types=sqlite3.PARSE_DECLTYPES)
    conn.execute("CREATE TABLE t (event_ts timestamp)")
    conn.execute("INSERT INTO t VALUES (?), (?)", (1795611955, "2026-11-25T10:00:00"))
    got = [row[0] for row in conn.execute("SELECT event_ts FROM t")]
    assert got == [datetime.fromtimestamp(1795611955), datetime(2026, 11, 25, 10, 0)]
