"""Short transactions on the catalog database (the governance tables live next to the catalog's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from raylake.catalog import CatalogStore


class Db:
    def __init__(self, store: CatalogStore) -> None:
        self.store = store
        self._sessions = sessionmaker(store.engine, expire_on_commit=False)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session
