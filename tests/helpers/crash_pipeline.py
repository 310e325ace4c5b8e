"""Run the test pipeline in a child process and SIGKILL it at a chosen point of the write.

usage: crash_pipeline.py HOME RAW TARGET PIPELINE before-commit|after-commit

``before-commit``: the Parquet files are staged in the table folder, nothing is committed.
``after-commit``: the Delta commit is done, the catalog has not heard the run finished.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rides_pipeline import ingest  # noqa: E402

import raylake  # noqa: E402
from raylake.catalog.store import CatalogStore  # noqa: E402
from raylake.tables import writer  # noqa: E402


def die(*_args: object, **_kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    home, raw, target, name, point = sys.argv[1:6]
    if point == "before-commit":
        writer._commit_files = die  # type: ignore[assignment]
    else:
        real_update = CatalogStore.update_run

        def update_then_die(self: CatalogStore, run_id: str, **fields: object) -> object:
            if fields.get("status") == "SUCCEEDED":
                die()
            return real_update(self, run_id, **fields)

        CatalogStore.update_run = update_then_die  # type: ignore[method-assign]
    ws = raylake.connect(home=home, spark_executor_cores=1)
    ws.run_pipeline(ingest(Path(raw), target, name))
    raise SystemExit("the pipeline finished: the kill point was never reached")


if __name__ == "__main__":
    main()
