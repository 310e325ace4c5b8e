"""Generate ``quickstart.ipynb`` from ``quickstart.py``, so the notebook never drifts from it.

    python examples/make_notebook.py           # (re)write examples/quickstart.ipynb
    python examples/make_notebook.py --check   # exit 1 if the notebook is out of date

The script's structure becomes cells: its docstring a title, its imports and helpers a cell
each, and ``main()`` unrolled: ``with raylake.connect(...) as ws:`` becomes ``ws = ...`` (and
``ws.close()`` at the end), and each ``console.rule("...")`` a markdown heading followed by
that section's code. If ``main()`` no longer has that shape, the notebook falls back to one
cell that defines and calls ``main()`` - still the same code, still executed by the tests.
"""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "quickstart.py"
TARGET = HERE / "quickstart.ipynb"

# The script finds its neighbours (rides_*.py) through __file__; a kernel has none. The
# notebook runs with examples/ as its working folder (Jupyter and nbclient both do that).
SETUP = """\
# The notebook runs from the examples/ folder, like `python examples/quickstart.py`.
from pathlib import Path

__file__ = str(Path.cwd() / "quickstart.py")"""


def _is_rule(stmt: ast.stmt) -> str | None:
    """The heading of a ``console.rule("text")`` statement with a literal text, else None."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    func, args = stmt.value.func, stmt.value.args
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "rule"
        and args
        and isinstance(args[0], ast.Constant)
        and isinstance(args[0].value, str)
    ):
        return args[0].value
    return None


def _connect_block(stmt: ast.stmt) -> ast.With | None:
    """``with raylake.connect(...) as ws:`` (the workspace the sections share)."""
    if not isinstance(stmt, ast.With) or len(stmt.items) != 1:
        return None
    item = stmt.items[0]
    call = item.context_expr
    if (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "connect"
        and isinstance(item.optional_vars, ast.Name)
    ):
        return stmt
    return None


class _Source:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines()

    def span(self, start_line: int, end_line: int) -> str:
        """Lines ``start_line``..``end_line`` (1-based, inclusive), dedented and trimmed."""
        chunk = "\n".join(self.lines[start_line - 1 : end_line])
        return textwrap.dedent(chunk).strip("\n")

    def statements(self, stmts: list[ast.stmt], after_line: int) -> str:
        """The statements' text, with the comments between ``after_line`` and them."""
        return self.span(after_line + 1, stmts[-1].end_lineno or stmts[-1].lineno)


def _main_cells(src: _Source, main: ast.FunctionDef) -> list | None:
    body = main.body
    at = next((i for i, s in enumerate(body) if _connect_block(s)), None)
    if at is None:
        return None
    block = _connect_block(body[at])
    assert block is not None
    cells = []
    last = main.lineno if not main.body else main.body[0].lineno - 1
    if body[:at]:
        cells.append(new_code_cell(src.statements(body[:at], last)))
    item = block.items[0]
    name = item.optional_vars.id  # type: ignore[union-attr]
    connect = ast.get_source_segment(src.text, item.context_expr)
    cells.append(new_code_cell(f"{name} = {connect}"))
    section: list[ast.stmt] = []
    after = block.lineno  # the section's code starts after this line (keeps its comments)
    for stmt in block.body:
        heading = _is_rule(stmt)
        if heading is None:
            section.append(stmt)
            continue
        if section:
            cells.append(new_code_cell(src.statements(section, after)))
            section = []
        cells.append(new_markdown_cell(f"## {heading}"))
        after = stmt.end_lineno or stmt.lineno
    if section:
        cells.append(new_code_cell(src.statements(section, after)))
    cells.append(new_code_cell(f"{name}.close()"))
    rest = body[at + 1 :]
    if rest:
        cells.append(new_code_cell(src.statements(rest, block.end_lineno or block.lineno)))
    return cells


def build_notebook(source: Path = SOURCE) -> nbformat.NotebookNode:
    text = source.read_text()
    src = _Source(text)
    tree = ast.parse(text)
    cells = []
    body = list(tree.body)
    doc = ast.get_docstring(tree)
    if doc and isinstance(body[0], ast.Expr):
        title, _, rest = doc.partition("\n")
        cells.append(new_markdown_cell(f"# {title.strip()}\n\n{rest.strip()}".strip()))
        body = body[1:]
    cells.append(new_code_cell(SETUP))
    main = next((s for s in body if isinstance(s, ast.FunctionDef) and s.name == "main"), None)
    unrolled = _main_cells(src, main) if main is not None else None
    group: list[ast.stmt] = []
    last = tree.body[0].end_lineno if doc else 0
    for stmt in body:
        if isinstance(stmt, ast.If) and "__main__" in ast.unparse(stmt.test):
            continue  # the script's entry point: the notebook runs the cells instead
        if stmt is main and unrolled is not None:
            continue
        if isinstance(stmt, ast.FunctionDef | ast.ClassDef):
            if group:
                cells.append(new_code_cell(src.statements(group, last)))
                last = group[-1].end_lineno or last
                group = []
            cells.append(new_code_cell(src.statements([stmt], last)))
        else:
            group.append(stmt)
            continue
        last = stmt.end_lineno or last
    if group:
        cells.append(new_code_cell(src.statements(group, last)))
    if unrolled is not None:
        cells.extend(unrolled)
    elif main is not None:
        cells.append(new_code_cell("main()"))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    # Stable cell ids, so regenerating an unchanged script leaves the file byte-identical.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nbformat.writes(nb) + "\n"


def main() -> int:
    text = render(build_notebook())
    if "--check" in sys.argv[1:]:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.name} is out of date: run python examples/make_notebook.py")
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
