"""Catalog queries for dashboards: saved SQL queries with their chart specs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from raylake.catalog.models import DashboardRow, utcnow
from raylake.catalog.store import CatalogStore
from raylake.dashboards.spec import Dashboard, Query
from raylake.errors import DashboardError, DashboardNotFoundError


def _record(row: DashboardRow) -> Dashboard:
    return Dashboard(
        name=row.name,
        title=row.title,
        queries=[Query.model_validate(q) for q in row.queries or []],
        owner=row.owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class DashboardStore:
    def __init__(self, catalog: CatalogStore) -> None:
        self._sessions = sessionmaker(catalog.engine, expire_on_commit=False)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def save(
        self, name: str, title: str | None, queries: list[Query], owner: str, replace: bool
    ) -> Dashboard:
        stored: list[dict[str, Any]] = [q.model_dump(mode="json") for q in queries]
        try:
            with self._tx() as s:
                row = s.get(DashboardRow, name)
                if row is not None and not replace:
                    raise DashboardError(f"dashboard {name!r} exists (pass replace=True)")
                if row is None:
                    row = DashboardRow(name=name, title=title, queries=stored, owner=owner)
                    s.add(row)
                else:
                    row.title, row.queries, row.updated_at = title, stored, utcnow()
                s.flush()
                return _record(row)
        except IntegrityError as exc:  # created concurrently
            raise DashboardError(f"dashboard {name!r} exists (pass replace=True)") from exc

    def get(self, name: str) -> Dashboard:
        with self._tx() as s:
            row = s.get(DashboardRow, name)
            if row is None:
                raise DashboardNotFoundError(f"dashboard {name!r} does not exist")
            return _record(row)

    def list(self) -> list[Dashboard]:
        with self._tx() as s:
            return [_record(r) for r in s.scalars(select(DashboardRow).order_by(DashboardRow.name))]

    def delete(self, name: str) -> None:
        with self._tx() as s:
            row = s.get(DashboardRow, name)
            if row is None:
                raise DashboardNotFoundError(f"dashboard {name!r} does not exist")
            s.delete(row)
