"""benchmarks/mode_coverage.py keeps every sweep in a journal file: a clone without run directories
continues from the journals without training a finished trial again, and the page is written from
the journals alone, the same each time. Its specs give every objective the same search, past TPE's
random start."""

import shutil
import sys
from pathlib import Path

import pytest
import tomllib

from gankit.runs import sweep as sweeps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
mode_coverage = pytest.importorskip("mode_coverage")

# One cell, 3 trials cut by successive halving, then 2 report seeds: tiny runs with 4 evaluations.
TINY = """
metric = "eval_w1"
direction = "minimize"
trials = 3
n_startup_trials = 2
pruner = "successive-halving"
min_resource = 1
reduction_factor = 2
seed = 0
[base]
steps = 40
eval_every = 10
log_every = 10
checkpoint_every = 10
sample_every = 0
width = 8
batch_size = 32
eval_samples = 100
threads = 1
amp = false
[grid]
data = ["ring"]
objective = ["ns"]
[search]
g_lr = { low = 1e-4, high = 1e-2, log = true }
"""


def journal_trials(journals: Path) -> dict[str, list[tuple[str, int, str]]]:
    """Every trial each journal holds: (study, number, state)."""
    held = {}
    for journal in sorted(journals.glob("*.journal")):
        storage = sweeps.open_storage(sweeps.JOURNAL + str(journal))
        held[journal.name] = [
            (study.study_name, trial.number, trial.state.name)
            for study in storage.get_all_studies()
            for trial in storage.get_all_trials(study._study_id, deepcopy=False)
        ]
    return held


def test_a_clone_without_run_directories_reruns_nothing_and_renders_the_same_page(tmp_path, monkeypatch):
    spec = tmp_path / "mode_coverage_tiny.toml"
    spec.write_text(TINY)
    monkeypatch.setattr(mode_coverage, "SPECS", [spec])
    monkeypatch.chdir(tmp_path)
    args = [
        "--out",
        "runs/mc",
        "--journals",
        "journals",
        "--page",
        "docs/mc.md",
        "--seeds",
        "2",
        "--workers",
        "1",
    ]

    mode_coverage.main(args)
    page = Path("docs/mc.md").read_text()
    held = journal_trials(Path("journals"))
    assert sorted(held) == ["mode_coverage_seeds_ring_ns.journal", "mode_coverage_tiny.journal"]
    states = [state for *_, state in held["mode_coverage_tiny.journal"]]
    assert len(states) == 3 and set(states) <= {"COMPLETE", "PRUNED"}
    assert [state for *_, state in held["mode_coverage_seeds_ring_ns.journal"]] == ["COMPLETE", "COMPLETE"]
    assert "| ring | ns | 3 (" in page  # the search's row: 3 configurations tried

    shutil.rmtree("runs")  # a fresh clone: the journals, nothing else
    mode_coverage.main(args)
    assert journal_trials(Path("journals")) == held  # no trial added, none changed state
    assert not any(Path("runs/mc").glob("*/trials/*"))  # and none trained here
    assert Path("docs/mc.md").read_text() == page

    shutil.rmtree("runs")
    Path("docs/mc.md").unlink()
    mode_coverage.main([*args, "--render"])
    assert Path("docs/mc.md").read_text() == page
    assert not Path("runs").exists()  # the page needs no run directory


def test_every_objective_gets_the_same_search_past_tpes_random_start():
    specs = [tomllib.loads(path.read_text()) for path in mode_coverage.SPECS]
    assert sorted(o for spec in specs for o in spec["grid"]["objective"]) == sorted(mode_coverage.OBJECTIVES)
    budget = (
        "metric",
        "direction",
        "trials",
        "n_startup_trials",
        "pruner",
        "min_resource",
        "reduction_factor",
    )
    for spec in specs:
        assert spec["trials"] >= 40 > spec["n_startup_trials"]
        assert {key: spec[key] for key in budget} == {key: specs[0][key] for key in budget}
        assert spec["base"] == specs[0]["base"] and spec["grid"]["data"] == ["ring", "grid"]
        assert {"g_lr", "d_lr"} <= set(spec["search"])
