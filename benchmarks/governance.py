"""What governance costs per SDK call: ``ws.table(name)`` (a catalog lookup) with auth off
(the baseline: no checks) against auth on (privilege check through a group grant inherited
from the schema + one audit row insert), and the audit export to Delta.

Both sides use the same workspace (SQLite catalog, no Ray). Progress goes to stderr; the last
line of stdout is a JSON object.

    python benchmarks/governance.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import raylake


def _per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (< 1 minute)")
    args = parser.parse_args()
    n = 300 if args.quick else 3000
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with raylake.connect(home=home, user="admin") as admin:
            admin.catalog.create_schema("sales")
            admin.write_table("sales.orders", pd.DataFrame({"id": range(10)}))
            admin.principals.create_user("alice")
            admin.principals.create_group("analysts", members=["alice"])
            admin.grant("USE", "catalog", "main", "analysts")
            admin.grant("SELECT", "schema", "sales", "analysts")
        with raylake.connect(home=home, user="alice") as off:
            baseline = _per_call(lambda: off.table("sales.orders"), n)
        print(f"auth off: {baseline * 1e3:.2f} ms per ws.table()", file=sys.stderr)
        with raylake.connect(home=home, user="alice", auth=True) as on:
            governed = _per_call(lambda: on.table("sales.orders"), n)
        print(f"auth on:  {governed * 1e3:.2f} ms per ws.table()", file=sys.stderr)
        with raylake.connect(home=home, user="admin") as admin:
            start = time.perf_counter()
            admin.audit_table()
            export_s = time.perf_counter() - start
            events = admin.table("main.system.audit").num_rows()
        print(f"export of {events} audit events: {export_s:.2f} s", file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "governance",
                "calls": n,
                "auth_off_ms_per_read": round(baseline * 1e3, 3),
                "auth_on_ms_per_read": round(governed * 1e3, 3),
                "check_and_audit_overhead_ms": round((governed - baseline) * 1e3, 3),
                "ratio_on_vs_off": round(governed / baseline, 2),
                "audit_export_s": round(export_s, 3),
                "audit_events_exported": events,
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
