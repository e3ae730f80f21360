"""benchmarks/images.py keeps its searches, report seeds and their one test score each in journal
files: a clone without run directories continues without training a finished trial again or scoring
a report seed on the test part twice, and the page is written from the journals alone. A stop by
Ctrl-C or SIGTERM ends every driver with one line, not a traceback. `gankit figure vae-vs-gan` draws
from the summary of the journals that the driver writes beside its runs."""

import json
import shutil
import signal
import sys
from pathlib import Path

import pytest

from gankit.experiments import vae_vs_gan
from gankit.runs import sweep as sweeps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
images = pytest.importorskip("images")

# One GAN cell, 2 trials cut by successive halving, then 2 report seeds: tiny runs, 4 evaluations each
TINY = """
metric = "fid"
direction = "minimize"
trials = 2
n_startup_trials = 1
pruner = "successive-halving"
min_resource = 1
reduction_factor = 2
seed = 0
[base]
data = "digits"
width = 8
batch_size = 32
validation_fraction = 0.5
steps = 40
time_budget_s = 600  # the drivers compare at a CPU budget; the steps end these runs first
eval_every = 10
eval_samples = 200
checkpoint_every = 10
keep_checkpoints = 1
log_every = 10
sample_every = 0
monitors = false
threads = 1
amp = false
[grid]
objective = ["ns"]
[search]
g_lr = { low = 1e-4, high = 1e-2, log = true }
"""


def journal_trials(journals: Path) -> dict[str, list[tuple[str, int, str]]]:
    """Every trial each journal holds, (study, number, state), and every study's user attrs."""
    held = {}
    for journal in sorted(journals.glob("*.journal")):
        storage = sweeps.open_storage(sweeps.JOURNAL + str(journal))
        held[journal.name] = [
            (study.study_name, trial.number, trial.state.name)
            for study in storage.get_all_studies()
            for trial in storage.get_all_trials(study._study_id, deepcopy=False)
        ] + [(study.study_name, str(study.user_attrs)) for study in storage.get_all_studies()]
    return held


def test_a_clone_without_run_directories_reruns_and_retests_nothing_and_renders_the_same_page(
    tmp_path, monkeypatch
):
    spec = tmp_path / "images_tiny.toml"
    spec.write_text(TINY)
    monkeypatch.setattr(images, "SPECS", [spec])
    monkeypatch.setattr(images, "CHOICE_SAMPLES", 200)  # scored per checkpoint: keep the test quick
    monkeypatch.chdir(tmp_path)
    args = [
        "--out",
        "runs/im",
        "--journals",
        "journals",
        "--page",
        "docs/im.md",
        "--seeds",
        "2",
        "--workers",
        "1",
    ]

    images.main(args)
    page = Path("docs/im.md").read_text()
    held = journal_trials(Path("journals"))
    assert sorted(held) == ["images_seeds_ns.journal", "images_tiny.journal"]
    tests = images.read_tests(
        Path("journals/images_seeds_ns.journal"), Path("runs/im/seeds-ns/spec.toml").read_text()
    )
    assert len(tests) == 2 and all(
        "test_fid" in record and "chosen_step" in record for record in tests.values()
    )
    assert "| ns | 2 of 2 (" in page  # the search's row
    assert "report seeds 100, 101" in page and "Tuning seed 0" in page
    # the driver's summary of its journals, beside the runs: what `gankit figure vae-vs-gan` draws
    summary = json.loads(Path("runs/im/figure.json").read_text())
    assert [(run["seed"], run["run"].split("/")[0]) for run in summary["ns"]["runs"]] == [
        (100, "seeds-ns"),
        (101, "seeds-ns"),
    ]
    numbers = vae_vs_gan.run(tmp_path / "fig", source="runs/im")
    mean_fid = sum(record["test_fid"] for record in tests.values()) / 2
    assert numbers["metrics"]["ns"]["fid"] == pytest.approx(mean_fid, rel=1e-5)

    shutil.rmtree("runs")  # a fresh clone: the journals, nothing else
    images.main(args)
    assert journal_trials(Path("journals")) == held  # no trial added, no test score redone
    assert not any(Path("runs/im").glob("*/trials/*"))  # and nothing trained here
    assert Path("docs/im.md").read_text() == page

    shutil.rmtree("runs")
    Path("docs/im.md").unlink()
    images.main([*args, "--render"])
    assert Path("docs/im.md").read_text() == page
    assert not Path("runs").exists()  # the page needs no run directory


def test_a_stopped_driver_says_so_in_one_line_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C raises

    def terminated(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)  # the driver's handler turns it into the same stop

    previous = signal.getsignal(signal.SIGTERM)
    for stop_by in (stopped, terminated):
        monkeypatch.setattr(images, "measure", stop_by)
        with pytest.raises(SystemExit) as stop:
            images.main(["--out", str(tmp_path / "out"), "--journals", str(tmp_path / "journals")])
        assert stop.value.code == 130
        assert signal.getsignal(signal.SIGTERM) == previous  # restored once the driver ends
    line = "stopped; the journal keeps 0 finished trials; the same command continues\n"
    assert capsys.readouterr().err == line * 2


def test_the_regulariser_recipes_are_named_and_chosen_on_validation_alone():
    regularisers = pytest.importorskip("images_regularisers")
    from journaled import Cell

    assert regularisers.recipe_label({"objective": "ns"}) == "ns"
    # an R1 recipe's gamma is searched: read_cells passes it as True
    full = {"objective": "ns", "spectral_norm": True, "r1_gamma": True, "augment": ["cutout"]}
    assert regularisers.recipe_label(full) == "ns + SN + R1 + DiffAugment"

    def cell(label, value, grid, finished=True):
        made = Cell(label, Path("spec.toml"), "trials = 0\n" if finished else "trials = 5\n", grid)
        made.best = {"value": value, "params": {"g_lr": 0.002}, "cell": grid}
        return made

    plain, sn = cell("ns", 40.0, {"spectral_norm": False}), cell("ns + SN", 30.0, {"spectral_norm": True})
    text = regularisers.validation_choice([plain, sn])
    assert (
        text.startswith("**Chosen on validation:** ns + SN (g_lr=0.002)") and "spectral_norm = true" in text
    )
    waiting = regularisers.validation_choice([plain, cell("ns + SN", 30.0, {}, finished=False)])
    assert "once every search has finished" in waiting
