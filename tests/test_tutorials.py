"""The tutorials in docs/tutorial: built from their sources, in both languages, and every cell runs.

Each notebook runs in a fresh kernel with GANKIT_TUTORIAL_QUICK=1 (tiny settings, read by its first
cell); a cell that raises fails the test. A notebook must also show its pictures.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorial"
_spec = importlib.util.spec_from_file_location("tutorial_build", TUTORIALS / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

SOURCES = build.sources()
NOTEBOOKS = [source.with_suffix(".ipynb") for source in SOURCES]


def test_every_tutorial_exists_in_english_and_in_chinese():
    english = {path.name.removesuffix(".en.py") for path in SOURCES if path.name.endswith(".en.py")}
    chinese = {path.name.removesuffix(".zh.py") for path in SOURCES if path.name.endswith(".zh.py")}
    assert len(english) >= 2
    assert english == chinese


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.stem)
def test_the_committed_notebook_and_its_outputs_belong_to_its_current_source(source):
    notebook = source.with_suffix(".ipynb")
    assert notebook.exists(), f"run `make tutorials` to build {notebook.name}"
    text = notebook.read_text(encoding="utf-8")
    recorded = nbformat.reads(text, as_version=4).metadata.get("gankit", {}).get("source_sha256")
    # The outputs were made from the source whose hash is recorded: a changed source needs a rebuild.
    assert recorded == build.source_hash(source), (
        f"{notebook.name} was built from another version of {source.name}: run `make tutorials`"
    )
    assert build.without_outputs(text) == build.notebook_text(source), (
        f"{notebook.name}'s cells differ from {source.name}: run `make tutorials`"
    )
    assert len(text.encode("utf-8")) <= build.MAX_BYTES


def test_a_notebook_whose_source_changed_after_it_ran_is_caught(tmp_path):
    source = tmp_path / "01-example.en.py"
    source.write_text("# %%\nprint(1)\n")
    text = build.notebook_text(source)
    recorded = nbformat.reads(text, as_version=4).metadata["gankit"]["source_sha256"]
    assert recorded == build.source_hash(source)
    executed = nbformat.reads(text, as_version=4)
    executed.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    executed.cells[0].execution_count = 1
    assert build.without_outputs(nbformat.writes(executed)) == text  # outputs alone don't count
    source.write_text("# %%\nprint(2)\n")  # edited after the run: the old outputs no longer belong
    assert recorded != build.source_hash(source)
    assert build.without_outputs(nbformat.writes(executed)) != build.notebook_text(source)


def test_progress_bar_widgets_and_their_state_are_not_committed():
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("gankit.train(...)")
    bar = nbformat.v4.new_output("display_data", data={build.WIDGET: {"model_id": "x"}, "text/plain": "10%"})
    text = nbformat.v4.new_output("stream", name="stdout", text="trained\n")
    cell.outputs = [bar, text]
    notebook.cells = [cell]
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    cleaned = build.without_widgets(notebook)
    assert cleaned.cells[0].outputs == [text] and "widgets" not in cleaned.metadata


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_tutorial_runs_every_cell_and_shows_its_pictures(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_TUTORIAL_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own inline backend, as for a reader
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    # Every cell that draws must show its picture: a library that switched the notebook's matplotlib
    # backend to Agg would leave plt.show() cells empty without any error.
    drawing_cells = [
        cell
        for cell in nb.cells
        if cell.cell_type == "code"
        and any(call in cell.source for call in ("plt.show()", ".plot()", "figure("))
    ]
    assert drawing_cells
    for cell in drawing_cells:
        shown = [output for output in cell.outputs if "image/png" in output.get("data", {})]
        assert shown, f"this cell of {notebook.name} showed no picture:\n{cell.source}"
    assert (tmp_path / "runs").is_dir()  # runs went to the notebook's folder, not elsewhere
