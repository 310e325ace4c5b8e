"""Several processes writing one table of one workspace home, and a writer killed mid-write.

The writers are separate Python processes (``tests/helpers/table_writer.py``) writing pandas
data: no Ray or Spark is needed, only the shared Delta log and the shared SQLite catalog.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import raylake

pytestmark = pytest.mark.integration

WRITER = Path(__file__).parents[1] / "helpers" / "table_writer.py"
CHILD_TIMEOUT = 240  # seconds each writer process may take before the test fails


def _start(home: Path, table: str, writer: int, count: int, rows: int, mode: str, out: Path):
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(home), table, str(writer), str(count), str(rows), mode]
        + [str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_all(procs: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + CHILD_TIMEOUT
    failures = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if p.returncode != 0:
                failures.append(f"exit {p.returncode}: {err[-2000:]}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert not failures, "\n".join(failures)


def _outcomes(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _log_batches(location: str) -> dict[int, set[tuple[int, int]]]:
    """(writer, seq) of every file each commit added, from the Delta log's file stats."""
    found: dict[int, set[tuple[int, int]]] = {}
    for path in sorted((Path(location) / "_delta_log").glob("*.json")):
        version = int(path.stem)
        batches: set[tuple[int, int]] = set()
        for line in path.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                stats = json.loads(action["add"]["stats"])
                lo, hi = stats["minValues"], stats["maxValues"]
                assert lo["writer"] == hi["writer"] and lo["seq"] == hi["seq"], stats
                batches.add((lo["writer"], lo["seq"]))
        found[version] = batches
    return found


def _batches(df: pd.DataFrame, rows: int) -> set[tuple[int, int]]:
    """The (writer, seq) batches in ``df``, checking each one is complete and not duplicated."""
    counts = df.groupby(["writer", "seq"]).size()
    assert (counts == rows).all(), counts[counts != rows]
    for (w, s), group in df.groupby(["writer", "seq"]):
        assert sorted(group["row"]) == list(range(rows)), (w, s)
    return {(int(w), int(s)) for w, s in counts.index}


def test_parallel_appends_lose_nothing(tmp_path: Path) -> None:
    home, table = tmp_path / "home", "bronze.events"
    writers, appends, rows = 8, 50, 2
    with raylake.connect(home=home) as ws:
        ws.catalog.create_schema("bronze")
    # The writers also race to create the table: the first append creates it.
    outs = [tmp_path / f"writer-{w}.jsonl" for w in range(writers)]
    procs = [_start(home, table, w, appends, rows, "append", outs[w]) for w in range(writers)]
    _wait_all(procs)

    total = writers * appends
    with raylake.connect(home=home) as ws:
        t = ws.table(table)
        history = t.history()
        assert len(history) == total
        assert Counter(h.operation for h in history) == {"WRITE": total}
        assert all(h.parameters.get("mode") == "Append" for h in history)
        assert all(h.rows_added == rows for h in history)
        assert [h.version for h in history] == list(range(total - 1, -1, -1))
        assert t.version == total - 1

        df = t.to_pandas()
        assert len(df) == total * rows == t.num_rows()
        assert _batches(df, rows) == {(w, s) for w in range(writers) for s in range(appends)}

        # Each write returned the version it really committed (no two share one).
        by_version = _log_batches(t.location)
        returned = {}
        for w, out in enumerate(outs):
            results = _outcomes(out)
            assert [r["seq"] for r in results] == list(range(appends))
            assert all("error" not in r for r in results), results
            for r in results:
                returned[r["version"]] = (w, r["seq"])
        assert sorted(returned) == list(range(total))
        assert all(by_version[v] == {batch} for v, batch in returned.items())

        tables = ws.catalog.list_tables()
        assert [i.full_name for i in tables] == ["main.bronze.events"]
        assert tables[0].last_version == total - 1
        leftovers = [p.name for p in Path(t.location).iterdir() if not p.name.endswith(".parquet")]
        assert leftovers == ["_delta_log"]


def test_overwrite_racing_appends_is_consistent_with_history(tmp_path: Path) -> None:
    """Overwrites racing appends either fail with CommitConflictError or commit; no commit is
    lost or invented, and the table at every overwrite is what Delta's write-serializable
    isolation allows: the overwrite's rows plus the blind appends it did not see (those
    committed between the version it read and its own), never an older append."""
    home, table = tmp_path / "home", "bronze.events"
    rows = 3
    with raylake.connect(home=home) as ws:
        ws.catalog.create_schema("bronze")
        base = pd.DataFrame({"writer": [99] * rows, "seq": [0] * rows, "row": range(rows)})
        assert ws.write_table(table, base) == 0
    appenders = {w: tmp_path / f"append-{w}.jsonl" for w in range(3)}
    overwriters = {w: tmp_path / f"overwrite-{w}.jsonl" for w in (10, 11)}
    procs = [_start(home, table, w, 30, rows, "append", out) for w, out in appenders.items()]
    procs += [_start(home, table, w, 8, rows, "overwrite", out) for w, out in overwriters.items()]
    _wait_all(procs)

    with raylake.connect(home=home) as ws:
        t = ws.table(table)
        kind: dict[int, str] = {0: "append"}
        batch_of: dict[int, tuple[int, int]] = {0: (99, 0)}
        conflicts = 0
        for mode, outs in (("append", appenders), ("overwrite", overwriters)):
            for w, out in outs.items():
                results = _outcomes(out)
                assert len(results) == (30 if mode == "append" else 8)
                for r in results:
                    if "error" in r:
                        assert mode == "overwrite", r  # appends retry; they never give up
                        assert r["error"] == "CommitConflictError"
                        conflicts += 1
                        continue
                    assert r["version"] not in kind, "two writes reported the same version"
                    kind[r["version"]] = mode
                    batch_of[r["version"]] = (w, r["seq"])

        history = t.history()
        assert sorted(h.version for h in history) == sorted(kind) == list(range(len(kind)))
        for h in history:
            assert h.parameters["mode"] == kind[h.version].capitalize()
        overwrites = sorted(v for v, m in kind.items() if m == "overwrite")
        assert overwrites, "no overwrite committed at all"
        assert len(overwrites) + conflicts == 16

        by_version = _log_batches(t.location)
        assert all(by_version[v] == {b} for v, b in batch_of.items())

        for ow in overwrites:
            seen = _batches(t.to_pandas(version=ow), rows)
            assert batch_of[ow] in seen
            survivors = sorted(v for v, b in batch_of.items() if b in seen and v != ow)
            assert all(v < ow and kind[v] == "append" for v in survivors), survivors
            # Survivors are exactly the appends after some version the overwrite read.
            first = survivors[0] if survivors else ow
            window = [v for v in range(first, ow) if kind[v] == "append"]
            assert survivors == window
            assert all(kind[v] == "append" for v in range(first, ow))

        final = _batches(t.to_pandas(), rows)
        last = overwrites[-1]
        expected_after = {batch_of[v] for v in kind if v > last}
        assert expected_after <= final  # every append after the last overwrite is there
        assert final - expected_after == _batches(t.to_pandas(version=last), rows)
        assert t.num_rows() == len(final) * rows


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_writer_killed_mid_write_leaves_the_last_commit(tmp_path: Path) -> None:
    home, table = tmp_path / "home", "bronze.big"
    rows = 200_000  # a few MB per write: a kill usually lands while Parquet is being written
    with raylake.connect(home=home) as ws:
        ws.catalog.create_schema("bronze")
        ws.write_table(table, pd.DataFrame({"writer": 99, "seq": 0, "row": range(rows)}))
        location = ws.table(table).location
    rng = random.Random(7)
    log = Path(location) / "_delta_log"

    for round_ in range(3):
        out = tmp_path / f"killed-{round_}.jsonl"
        before = len(list(log.glob("*.json")))
        proc = _start(home, table, round_, 1000, rows, "append", out)
        try:
            # Let it commit at least once, then kill it at a random point of a later write.
            committed = _wait_for(lambda n=before: len(list(log.glob("*.json"))) > n, CHILD_TIMEOUT)
            assert committed, f"the writer committed nothing (exit status {proc.poll()})"
            time.sleep(rng.uniform(0.0, 0.4))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL

        with raylake.connect(home=home) as ws:
            t = ws.table(table)
            version = t.version
            df = t.to_pandas()
            batches = _batches(df, rows)  # only whole batches: no partial rows
            assert len(batches) == version + 1
            assert len(df) == (version + 1) * rows == t.num_rows()
            seqs = sorted(s for w, s in batches if w == round_)
            assert seqs == list(range(len(seqs))) and seqs
            # What the child reported committed is in; at most one commit it did not report.
            reported = {r["seq"] for r in _outcomes(out)}
            assert reported <= set(seqs) and len(seqs) - len(reported) <= 1
            # The catalog may lag behind a commit the writer made just before dying;
            # describe() catches it up from the Delta log.
            assert ws.catalog.describe(table).info.last_version == version
            assert [h.version for h in t.history()] == list(range(version, -1, -1))

    with raylake.connect(home=home) as ws:
        t = ws.table(table)
        rows_before, version = t.to_pandas(), t.version
        referenced = {Path(u).name for u in t.files()}
        # A killed write may leave an uncommitted Parquet file behind; vacuum removes it.
        t.vacuum(retention_hours=0, enforce_retention=False)
        on_disk = {p.name for p in Path(t.location).glob("*.parquet")}
        assert on_disk == referenced
        assert len(t.to_pandas()) == len(rows_before)
        assert _batches(t.to_pandas(version=version), rows) == _batches(rows_before, rows)
        # And the table still takes writes.
        ws.write_table(table, pd.DataFrame({"writer": 50, "seq": 0, "row": range(rows)}))
        assert t.num_rows() == len(rows_before) + rows
