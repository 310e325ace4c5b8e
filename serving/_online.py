"""Online features inside the replica (filled in once raylake.features' reader lands)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from raylake.settings import Settings


class OnlineFeatures:
    def __init__(self, settings: Settings, features: Sequence[str], entity_keys: Sequence[str]):
        self.features = list(features)
        self.entity_keys = list(entity_keys)

    async def join(self, given: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        raise NotImplementedError


def _unused(_: Any) -> None:  # pragma: no cover
    pass
