"""Writes the example notebooks, without outputs, each from the cells in its own module beside this script:
01_keras_tutorial from tutorial_cells.py, 02_kinds from kinds_cells.py, 03_uses from uses_cells.py, 04_variational
from variational_cells.py and 05_image_folder from image_folder_cells.py (each a `cells(QUICK)` function).

Edit the cells and run ``python examples/make_notebooks.py``; the test suite checks that the committed
notebooks are what this script writes and hold no outputs, and runs each one in a real Jupyter kernel with
``AEKIT_NOTEBOOK_QUICK=1`` (tiny settings, seconds each). Cell lines stay within 100 columns.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

QUICK = """import os

QUICK = os.environ.get("AEKIT_NOTEBOOK_QUICK") == "1"  # the test suite's tiny settings (a few seconds)"""


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook of ("md" | "code" | "parameters", source) cells, the parameters cell tagged as papermill's."""
    out = []
    for kind, source in cells:
        source = source.strip("\n")
        if kind == "md":
            out.append(new_markdown_cell(source))
        else:
            cell = new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            out.append(cell)
    nb = new_notebook(cells=out)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: the committed files do not change when regenerated
        cell["id"] = f"cell-{i:02d}"
    return nb


def _cells(file: str) -> list[tuple[str, str]]:
    """The cells of a notebook kept in its own file beside this one (its `cells(QUICK)`)."""
    spec = importlib.util.spec_from_file_location(Path(file).stem, HERE / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cells(QUICK)


NOTEBOOKS = {
    "01_keras_tutorial.ipynb": _cells("tutorial_cells.py"),
    "02_kinds.ipynb": _cells("kinds_cells.py"),
    "03_uses.ipynb": _cells("uses_cells.py"),
    "04_variational.ipynb": _cells("variational_cells.py"),
    "05_image_folder.ipynb": _cells("image_folder_cells.py"),
}


def build() -> dict[str, str]:
    """Each notebook's file name and its JSON text."""
    return {name: nbformat.writes(notebook(cells)) + "\n" for name, cells in NOTEBOOKS.items()}


def main() -> int:
    for name, text in build().items():
        nbformat.validate(nbformat.reads(text, as_version=4))
        (HERE / name).write_text(text, encoding="utf-8")
        print(HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
