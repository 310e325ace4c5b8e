"""Online features inside the replica: one HTTP hop, no call to a separate feature server.

The request carries entity keys (and request-time columns); the replica reads the features
from the online store in-process with ``raylake.features``' reader and joins them on.
Missing entities: policy ``"null"`` scores them with null features (the model or its
signature decides what that means), policy ``"404"`` refuses the request naming the keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from raylake.errors import RaylakeError
from raylake.serving._protocol import BadRequest

_PRESENT = "PRESENT"


class OnlineFeatures:
    def __init__(self, repo_path: str, features: Sequence[str], entity_keys: Sequence[str]):
        self.repo_path = repo_path
        self.features = list(features)
        self.entity_keys = list(entity_keys)
        self._reader: Any = None

    def _get_reader(self) -> Any:
        if self._reader is None:  # opening the Feast repo takes a moment: on first request
            from raylake.features._online_reader import OnlineReader

            self._reader = OnlineReader(self.repo_path)
        return self._reader

    async def read(self, entities: dict[str, list[Any]]) -> dict[str, Any]:
        """Feast's online answer for these entity keys (a 4xx BadRequest for bad ones)."""
        missing = [k for k in self.entity_keys if k not in entities]
        if missing:
            raise BadRequest(f"the request lacks entity key column(s) {missing}")
        entities = {k: entities[k] for k in self.entity_keys}
        reader = self._get_reader()
        try:
            if reader.blocking_io:  # a network store: wait off the event loop
                answer = await asyncio.to_thread(reader.read, self.features, entities)
            else:
                answer = reader.read(self.features, entities)
        except RaylakeError as exc:  # unknown feature, bad key type, too many rows
            raise BadRequest(f"online features: {exc}") from exc
        return answer

    async def join(
        self, given: dict[str, list[Any]], policy: str
    ) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        """``given`` columns (name -> values) plus the online features of its entities; also
        the features alone. Plain lists: no pandas on the request path."""
        answer = await self.read(given)
        features: dict[str, list[Any]] = {}
        absent = [False] * len(next(iter(given.values())))
        for name, result in zip(
            answer["metadata"]["feature_names"], answer["results"], strict=True
        ):
            if name in self.entity_keys:
                continue
            features[name] = result["values"]
            absent = [a or s != _PRESENT for a, s in zip(absent, result["statuses"], strict=True)]
        if policy == "404" and any(absent):
            rows = [{k: given[k][i] for k in self.entity_keys} for i, a in enumerate(absent) if a]
            raise BadRequest(f"no online features for {rows[:10]}", 404, "NOT_FOUND")
        return {**{k: v for k, v in given.items() if k not in features}, **features}, features
