"""``examples/quickstart.ipynb``: generated from quickstart.py, and executed in a Jupyter
kernel from this virtualenv (nbclient) - the whole quickstart, with its own Ray and Spark."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _generator():  # noqa: ANN202 - a module loaded by path
    spec = importlib.util.spec_from_file_location("make_notebook", EXAMPLES / "make_notebook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_committed_notebook_matches_quickstart_py() -> None:
    gen = _generator()
    assert gen.render(gen.build_notebook()) == gen.TARGET.read_text(), (
        "examples/quickstart.ipynb is out of date: run python examples/make_notebook.py"
    )


def test_quickstart_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    nb = gen.build_notebook()  # fresh from quickstart.py, so its latest version is what runs
    # The kernel inherits this environment: its own workspace home and a smaller data set.
    monkeypatch.setenv("RAYLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QUICKSTART_ROWS_PER_DAY", "3000")
    # A local Ray of its own even when some `ray start` cluster runs on this machine (ray.init
    # without an address would join that one).
    monkeypatch.setenv("RAY_ADDRESS", "local")
    monkeypatch.setenv("RAYLAKE_SERVE_PORT", str(_free_port()))  # never a fixed port in tests
    client = NotebookClient(
        nb,
        timeout=900,  # per cell: the sweep cell trains on Ray Tune
        kernel_name="python3",  # jupyter_client starts it with sys.executable: this venv
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()
    printed = "\n".join(
        out.get("text", "") + "".join(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "as @champion" in printed
    assert (tmp_path / "home" / "catalog.db").exists()
