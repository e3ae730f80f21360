"""Build the tutorial notebooks (.ipynb) from their jupytext sources (.py, percent format).

    python docs/tutorial/build.py          # or: make tutorials

The .py files are the ones to edit and review; the .ipynb files are built from them, without
outputs, and committed so that they open directly in Jupyter or on GitHub.
tests/test_tutorials.py checks that every .ipynb matches its source and runs all of them.
"""

from __future__ import annotations

from pathlib import Path

import jupytext

HERE = Path(__file__).resolve().parent
LANGUAGES = ("en", "zh")


def sources() -> list[Path]:
    """Every tutorial source: NN-name.LANG.py."""
    return sorted(path for language in LANGUAGES for path in HERE.glob(f"[0-9][0-9]-*.{language}.py"))


def notebook_text(source: Path) -> str:
    """The .ipynb text built from ``source``; cell ids are numbered so rebuilding changes nothing."""
    notebook = jupytext.read(source)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    return jupytext.writes(notebook, fmt="ipynb")


def build(source: Path) -> Path:
    target = source.with_suffix(".ipynb")
    target.write_text(notebook_text(source), encoding="utf-8")
    return target


if __name__ == "__main__":
    for source in sources():
        print(f"{source.name} -> {build(source).name}")
