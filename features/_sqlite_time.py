"""One ``timestamp`` converter for sqlite3 that both Feast and IPython can live with.

sqlite3's converters are process-wide. Feast's SQLite online store stores ``event_ts`` as epoch
seconds and registers a "timestamp" converter that reads them; IPython's history registers one
that parses ISO strings, and whichever came last wins. In a notebook (or any process where
IPython's history started after Feast was imported) Feast's reads then fail ("Invalid isoformat
string: '1795611955'") and a failed write leaves its connection locked. This converter reads
both forms; raylake registers it before each use of Feast's SQLite store.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime


def _timestamp(value: bytes) -> datetime:
    text = value.decode()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text))  # Feast: epoch seconds (its own converter)
    return datetime.fromisoformat(text)  # IPython history, pandas: ISO 8601


def register() -> None:
    """(Re)register the converter: cheap, and needed again after anyone else registers theirs."""
    sqlite3.register_converter("timestamp", _timestamp)
