"""The audit log: one row per event in the catalog database, exported to Delta on demand.

Recording is one INSERT (no Delta commit per event); ``export`` appends the rows not yet
exported to ``main.system.audit`` and records the last exported id as the Delta ``txn``
version, so an interrupted or repeated export never duplicates rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from raylake.catalog.models import AuditRow
from raylake.errors import InvalidArgumentError
from raylake.governance._db import Db
from raylake.governance.records import AuditEvent
from raylake.governance.securables import Securable

if TYPE_CHECKING:
    from raylake.tables.managed import ManagedTables

AUDIT_TABLE = "main.system.audit"
_EXPORT_APP_ID = "raylake.audit-export"


def _event(row: AuditRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        principal=row.principal,
        action=row.action,
        securable_type=row.securable_type,
        securable_name=row.securable_name,
        outcome=row.outcome,
        detail=dict(row.detail or {}),
    )


def _since(since: datetime | timedelta | str | None) -> datetime | None:
    if since is None or isinstance(since, datetime):
        return since
    if isinstance(since, timedelta):
        return datetime.now(UTC) - since
    if isinstance(since, str):
        try:
            return datetime.fromisoformat(since)
        except ValueError:
            pass
    raise InvalidArgumentError(
        f"since must be a datetime, a timedelta or an ISO date/time, got {since!r}"
    )


class AuditLog:
    def __init__(self, db: Db) -> None:
        self._db = db

    def record(
        self,
        principal: str,
        action: str,
        securable: Securable | None = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self._db.tx() as s:
            s.add(
                AuditRow(
                    principal=principal,
                    action=action,
                    securable_type=securable.type.value if securable else None,
                    securable_name=securable.name if securable else None,
                    outcome=outcome,
                    detail=detail or {},
                )
            )

    def query(
        self,
        principal: str | None = None,
        action: str | None = None,
        since: datetime | timedelta | str | None = None,
        limit: int = 100,
        securable_name: str | None = None,
        outcome: str | None = None,
    ) -> list[AuditEvent]:
        """Newest first."""
        if not isinstance(limit, int) or limit < 1:
            raise InvalidArgumentError(f"limit must be a positive integer, got {limit!r}")
        start = _since(since)
        q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if principal is not None:
            q = q.filter(AuditRow.principal == principal)
        if action is not None:
            q = q.filter(AuditRow.action == action)
        if start is not None:
            q = q.filter(AuditRow.at >= start)
        if securable_name is not None:
            q = q.filter(AuditRow.securable_name == securable_name)
        if outcome is not None:
            q = q.filter(AuditRow.outcome == outcome)
        with self._db.tx() as s:
            return [_event(r) for r in s.scalars(q)]

    def export(self, tables: ManagedTables, owner: str, batch: int = 50_000) -> int:
        """Append events not yet in ``main.system.audit``; return the table's version."""
        import pandas as pd

        from raylake.tables import writer

        store = self._db.store
        store.create_schema("main", "system", owner)
        info = store.get_table(_table_name())
        last = -1
        if info is not None:
            dtable = writer.open_table(info.location, tables.storage_options)
            if dtable is not None:
                last = dtable.transaction_version(_EXPORT_APP_ID) or -1
        version = info.last_version if info is not None else None
        while True:
            with self._db.tx() as s:
                rows = s.scalars(
                    select(AuditRow).filter(AuditRow.id > last).order_by(AuditRow.id).limit(batch)
                ).all()
            if not rows and version is not None:
                return version
            frame = pd.DataFrame(
                {
                    "id": pd.Series([r.id for r in rows], dtype="int64"),
                    "at": pd.Series([r.at for r in rows], dtype="datetime64[us, UTC]"),
                    "principal": pd.Series([r.principal for r in rows], dtype="string"),
                    "action": pd.Series([r.action for r in rows], dtype="string"),
                    "securable_type": pd.Series([r.securable_type for r in rows], dtype="string"),
                    "securable_name": pd.Series([r.securable_name for r in rows], dtype="string"),
                    "outcome": pd.Series([r.outcome for r in rows], dtype="string"),
                    "detail": pd.Series(
                        [json.dumps(r.detail or {}, default=str) for r in rows], dtype="string"
                    ),
                }
            )
            top = rows[-1].id if rows else 0
            version = tables.write(
                AUDIT_TABLE, frame, "append", app_transaction=(_EXPORT_APP_ID, top)
            )
            if len(rows) < batch:
                return version
            last = top


def _table_name() -> Any:
    from raylake.names import parse_table_name

    return parse_table_name(AUDIT_TABLE)
