"""A writer process for the concurrency and crash tests (pandas data only: no Ray, no Spark).

usage: table_writer.py HOME TABLE WRITER_ID COUNT ROWS MODE [RESULT_FILE]

Writes COUNT batches of ROWS rows to TABLE with ``mode`` (append or overwrite). Each row is
``(writer, seq, row)``, so the parent can tell exactly which writes made it into the table.
Every outcome is appended to RESULT_FILE as one JSON line: ``{"seq", "version"}`` for a
commit, ``{"seq", "error"}`` for a named raylake error (e.g. CommitConflictError). Any other
exception ends the process with a non-zero status.
"""

from __future__ import annotations

import json
import sys

import pandas as pd

import raylake
from raylake.errors import CommitConflictError


def batch(writer: int, seq: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"writer": [writer] * rows, "seq": [seq] * rows, "row": list(range(rows))},
    )


def main() -> None:
    home, table, writer_id, count, rows, mode = sys.argv[1:7]
    result_path = sys.argv[7] if len(sys.argv) > 7 else None
    writer, n, size = int(writer_id), int(count), int(rows)
    with raylake.connect(home=home) as ws:
        for seq in range(n):
            try:
                version = ws.write_table(table, batch(writer, seq, size), mode=mode)
                outcome: dict[str, object] = {"seq": seq, "version": version}
            except CommitConflictError as exc:
                outcome = {"seq": seq, "error": type(exc).__name__, "message": str(exc)[:200]}
            if result_path:
                with open(result_path, "a") as out:
                    out.write(json.dumps(outcome) + "\n")
                    out.flush()
    print(f"writer {writer}: {n} writes done", flush=True)


if __name__ == "__main__":
    main()
