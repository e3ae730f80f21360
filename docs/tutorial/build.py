"""Build the tutorial notebooks (.ipynb) from their jupytext sources (.py, percent format).

    python docs/tutorial/build.py                 # or: make tutorials — build and execute, full settings
    python docs/tutorial/build.py --no-execute    # build without outputs (fast; for editing)
    python docs/tutorial/build.py 01-understanding-gans.en.py   # only these sources

The .py files are the ones to edit and review; the .ipynb files are built from them, executed at
full settings in a fresh kernel (its runs go to a temporary folder), and committed with their
outputs so that the pictures show on GitHub. Each notebook records the SHA-256 of its source in
``metadata.gankit.source_sha256``; tests/test_tutorials.py fails when a committed notebook's cells
or outputs do not belong to its current source, and executes every notebook at quick settings.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
LANGUAGES = ("en", "zh")
MAX_BYTES = 3 * 1024 * 1024  # a committed notebook stays small enough to open on the web
EXECUTE_TIMEOUT_S = 1800  # per cell, at full settings
WIDGET = "application/vnd.jupyter.widget-view+json"  # an output only a live kernel can draw


def sources() -> list[Path]:
    """Every tutorial source: NN-name.LANG.py."""
    return sorted(path for language in LANGUAGES for path in HERE.glob(f"[0-9][0-9]-*.{language}.py"))


def source_hash(source: Path) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def notebook_text(source: Path) -> str:
    """The .ipynb text built from ``source``, without outputs; cell ids are numbered so rebuilding
    changes nothing; the source's SHA-256 goes into the notebook's metadata."""
    notebook = jupytext.read(source)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
    notebook.metadata["gankit"] = {"source_sha256": source_hash(source)}
    return jupytext.writes(notebook, fmt="ipynb")


def without_outputs(text: str) -> str:
    """A notebook's text with outputs and execution counts removed: what ``notebook_text`` builds."""
    notebook = nbformat.reads(text, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("language_info", None)
    notebook.metadata.get("gankit", {}).pop("executed", None)
    return jupytext.writes(notebook, fmt="ipynb")


def execute(text: str) -> str:
    """Run every cell at full settings in a fresh kernel whose working folder is a temporary one."""
    from nbclient import NotebookClient

    notebook = nbformat.reads(text, as_version=4)
    environment = {key: value for key, value in os.environ.items() if key != "GANKIT_TUTORIAL_QUICK"}
    with tempfile.TemporaryDirectory() as folder:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(environment)
        try:
            client = NotebookClient(
                notebook,
                timeout=EXECUTE_TIMEOUT_S,
                kernel_name="python3",
                resources={"metadata": {"path": folder}},
            )
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    notebook.metadata["gankit"]["executed"] = "full settings"
    return nbformat.writes(without_widgets(notebook))


def without_widgets(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what only a live kernel can show: progress bars (tqdm widgets, transient anyway) and
    the widget state; and the timestamps, which would change every rebuild."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]
    return notebook


def build(source: Path, run: bool = True) -> Path:
    target = source.with_suffix(".ipynb")
    text = notebook_text(source)
    if run:
        text = execute(text)
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise SystemExit(f"{target.name} would be {len(text) / 2**20:.1f} MB, over the 3 MB limit")
    target.write_text(text, encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="source file names to build (default: all)")
    parser.add_argument("--no-execute", action="store_true", help="write notebooks without outputs")
    args = parser.parse_args(argv)
    chosen = [source for source in sources() if not args.names or source.name in args.names]
    for source in chosen:
        print(f"{source.name} -> {build(source, run=not args.no_execute).name}", flush=True)


if __name__ == "__main__":
    main()
