"""The inference table writer: a real Ray actor appending batches to a real Delta table."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pytest
import ray

import raylake
from raylake.errors import InferenceLogError, InvalidArgumentError
from raylake.names import parse_table_name
from raylake.serving._inference_log import inference_writer
from raylake.serving._monitoring_tables import inference_table_name
from raylake.tables import storage

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _endpoint() -> str:
    return f"ep_{uuid.uuid4().hex[:8]}"


def _records(endpoint: str, start: int, n: int) -> list[dict]:
    return [
        {
            "request_id": f"r{i}",
            "endpoint": endpoint,
            "model_name": "main.models.churn",
            "model_version": 1 + i % 2,
            "ts": T0 + dt.timedelta(seconds=i),
            "latency_ms": i / 10,
            "inputs": json.dumps({"x": i, "city": "a" if i % 3 else "b"}),
            "features": json.dumps({"f": i * 2}) if i % 2 else None,
            "prediction": json.dumps(i % 5),
        }
        for i in range(start, start + n)
    ]


def _close(writer) -> None:
    # close() ends the actor once it has flushed: the caller sees the actor exit.
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(writer.close.remote())


@pytest.fixture
def ray_up(ws: raylake.Workspace) -> raylake.Workspace:
    ws.ray()
    return ws


def test_many_small_calls_make_few_commits_and_lose_nothing(ray_up: raylake.Workspace) -> None:
    ws, endpoint = ray_up, _endpoint()
    writer = inference_writer(
        endpoint, ws.settings, max_records=100, flush_interval_s=60, compact_every=4
    )
    for call in range(100):
        writer.log.remote(_records(endpoint, call * 10, 10))
        if call % 25 == 24:
            ray.get(writer.flush.remote())  # at least 4 commits, so one compaction
    _close(writer)

    table = ws.table(inference_table_name(endpoint))
    frame = table.to_pandas().sort_values("ts", ignore_index=True)
    assert len(frame) == 1000
    assert list(frame["request_id"]) == [f"r{i}" for i in range(1000)]
    # batches, not a commit per call: at most one per 100 records plus the final flush;
    # every 4th commit compacts the small files
    operations = [h.operation for h in table.history()]
    assert 4 <= operations.count("WRITE") <= 11
    assert "OPTIMIZE" in operations
    assert len(table.files()) < operations.count("WRITE")
    row = frame.iloc[7]
    assert row["ts"].to_pydatetime() == T0 + dt.timedelta(seconds=7)
    assert row["model_version"] == 2 and row["latency_ms"] == pytest.approx(0.7)
    assert json.loads(row["inputs"]) == {"x": 7, "city": "a"}
    assert json.loads(row["features"]) == {"f": 14}
    assert frame.iloc[8]["features"] is None
    assert json.loads(row["prediction"]) == 2


def test_flush_returns_the_version_and_the_timer_flushes(ray_up: raylake.Workspace) -> None:
    ws, endpoint = ray_up, _endpoint()
    writer = inference_writer(endpoint, ws.settings, max_records=1000, flush_interval_s=60)
    assert ray.get(writer.flush.remote()) is None  # nothing buffered: nothing committed
    ray.get(writer.log.remote(_records(endpoint, 0, 3)))
    version = ray.get(writer.flush.remote())
    assert version == ws.table(inference_table_name(endpoint)).version
    # The same named actor is returned to every caller (every replica).
    again = inference_writer(endpoint, ws.settings)
    assert ray.get(again.stats.remote())["written"] == 3
    _close(writer)
    # After close (endpoint deleted), a redeployed endpoint gets a fresh writer.
    fresh = inference_writer(endpoint, ws.settings)
    ray.get(fresh.log.remote(_records(endpoint, 3, 2)))
    assert ray.get(fresh.flush.remote()) == version + 1
    _close(fresh)

    # A writer with a short interval writes without any flush() call.
    endpoint = _endpoint()
    writer = inference_writer(endpoint, ws.settings, max_records=1000, flush_interval_s=0.2)
    ray.get(writer.log.remote(_records(endpoint, 0, 5)))
    deadline = time.monotonic() + 30
    while ray.get(writer.stats.remote())["written"] < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ws.table(inference_table_name(endpoint)).num_rows() == 5
    _close(writer)


def test_a_failed_commit_keeps_the_records(ray_up: raylake.Workspace) -> None:
    ws, endpoint = ray_up, _endpoint()
    writer = inference_writer(endpoint, ws.settings, max_records=1000, flush_interval_s=60)
    # A file where the table's folder must go: the first commit fails.
    location = storage.table_location(
        ws.settings.storage_root, parse_table_name(inference_table_name(endpoint))
    )
    blocker = Path(location)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a table")
    ray.get(writer.log.remote(_records(endpoint, 0, 4)))
    with pytest.raises(InferenceLogError):
        ray.get(writer.flush.remote())
    stats = ray.get(writer.stats.remote())
    assert stats["buffered"] == 4 and stats["last_error"]

    blocker.unlink()
    ray.get(writer.log.remote(_records(endpoint, 4, 2)))
    ray.get(writer.flush.remote())
    frame = ws.table(inference_table_name(endpoint)).to_pandas()
    assert sorted(frame["request_id"]) == sorted(f"r{i}" for i in range(6))
    _close(writer)


def test_bad_records_are_refused_whole(ray_up: raylake.Workspace) -> None:
    ws, endpoint = ray_up, _endpoint()
    writer = inference_writer(endpoint, ws.settings)
    good = _records(endpoint, 0, 1)[0]
    with pytest.raises(InvalidArgumentError, match="lacks"):
        ray.get(writer.log.remote([good, {"request_id": "x"}]))
    assert ray.get(writer.stats.remote())["buffered"] == 0
    _close(writer)


def test_a_writer_owned_by_its_caller_flushes_when_released(ray_up: raylake.Workspace) -> None:
    # Not detached: the actor ends when its creator lets go, and writes what it holds first.
    ws, endpoint = ray_up, _endpoint()
    writer = inference_writer(endpoint, ws.settings, flush_interval_s=60, detached=False)
    ray.get(writer.log.remote(_records(endpoint, 0, 7)))
    del writer
    name = inference_table_name(endpoint)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if ws.table(name).num_rows() == 7:
                break
        except raylake.TableNotFoundError:
            pass
        time.sleep(0.2)
    assert ws.table(name).num_rows() == 7
