"""Delta tables: writes with schema enforcement, reads with time travel, maintenance."""

from raylake.tables.table import HistoryEntry, Table
from raylake.tables.writer import WriteOptions, write

__all__ = ["HistoryEntry", "Table", "WriteOptions", "write"]
