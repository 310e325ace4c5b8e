"""A small file-ingestion pipeline shared by the pipeline tests and their crashing child process."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import raylake

SCHEMA = "id BIGINT, amount DOUBLE, city STRING"


def write_file(folder: Path, name: str, ids: range, bad_every: int = 10) -> pd.DataFrame:
    """A CSV of rows ``ids``; every ``bad_every``-th row has a negative amount."""
    folder.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(
        {
            "id": list(ids),
            "amount": [(-1.0 if i % bad_every == 0 else 1.0) * (i % 97 + 1) for i in ids],
            "city": ["lisbon" if i % 3 else "porto" for i in ids],
        }
    )
    df.to_csv(folder / name, index=False)
    return df


def ingest(raw: Path, target: str, name: str = "ingest") -> raylake.Pipeline:
    return raylake.Pipeline(
        name=name,
        target=target,
        inputs={"raw": raylake.Files(str(raw), "csv", schema=SCHEMA)},
        transform=lambda raw: raw,
        expectations=[
            raylake.expect_or_drop("positive_amount", "amount > 0"),
            raylake.expect("not_porto", "city <> 'porto'"),
        ],
    )
