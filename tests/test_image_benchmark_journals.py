"""benchmarks/images.py keeps its searches, report seeds and their one test score each in journal
files: a clone without run directories continues without training a finished trial again or scoring
a report seed on the test part twice, and the page is written from the journals alone. A stop by
Ctrl-C or SIGTERM ends every driver with one line, not a traceback. `gankit figure vae-vs-gan` draws
from the summary of the journals that the driver writes beside its runs."""

import json
import shutil
import signal
import sys
from dataclasses import replace
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
    monkeypatch.setitem(images.BENCHES, "digits", replace(images.BENCHES["digits"], specs=[spec]))
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


# --- --data: digits (the default, its page as before) and fashion-mnist -----------------------------

ROOT = Path(__file__).resolve().parents[1]


def render_empty(tmp_path: Path, data: str) -> str:
    """The page of ``--data DATA --render`` from a directory without journals (nothing measured)."""
    page = tmp_path / data / "page.md"
    images.main(["--data", data, "--render", "--journals", str(tmp_path / "none"), "--page", str(page)])
    assert (page.parent / f"{images.BENCHES[data].name}_search.png").is_file()
    return page.read_text()


def test_digits_keeps_its_page_and_fashion_gets_its_own_words_files_and_models(tmp_path):
    digits = render_empty(tmp_path, "digits")
    assert digits.startswith("# GAN vs VAE on digits\n\nGenerated by `python benchmarks/images.py` from its")
    assert "`python benchmarks/images.py --render` rewrites it" in digits
    assert "- **Data.** scikit-learn's 1,797 8x8 digits; `validation_fraction = 0.5` holds" in digits
    assert "validation FID every 250 steps, successive halving" in digits
    assert "| test coverage | validation FID, last ¼ |" in digits  # no sharpness column on digits
    assert "Not yet measured: vae (search: 0 of 40 trials finished); ns (search" in digits
    assert "; wgan-gp (search: 0 of 40 trials finished)." in digits
    assert "The `digits` preset is re-chosen once every GAN search has finished." in digits
    assert "`gankit figure vae-vs-gan --out docs/figures` draws" in digits and "(runs/images)" in digits
    assert not any(word in digits for word in ("Fashion", "fashion", "sharpness", "t10k", "rpgan"))

    fashion = render_empty(tmp_path, "fashion-mnist")
    assert fashion.startswith("# GAN vs VAE on Fashion-MNIST\n\nGenerated by `python benchmarks/images.py")
    assert "`python benchmarks/images.py --data fashion-mnist --render` rewrites it" in fashion
    assert "`validation_fraction = 0.1` holds a fixed 6,000 of them out of training" in fashion
    assert "the published test split, t10k's 10,000 images, is the *test* part" in fashion
    assert "Tuning seed 0 (every search trial); report seeds 100, ..." in fashion
    assert "Every run stops after 1200 s of training CPU time" in fashion
    # each spec's eval_every gives its model ~14 evaluations: the page says which is which
    assert "validation FID every 500 (vae), 250 (ns, hinge), 60 (wgan-gp), 150 (rpgan) steps" in fashion
    assert "for rpgan, the R1 and R2 weights gamma in [0.01, 10] (log)" in fashion
    assert "| test coverage | test sharpness | validation FID, last ¼ |" in fashion
    measured = "; ".join(
        f"{m} (search: 0 of 40 trials finished)" for m in images.BENCHES["fashion-mnist"].order
    )
    assert f"Not yet measured: {measured}." in fashion
    assert "on the shipped Fashion-MNIST feature network" in fashion
    assert "The `fashion` preset is re-chosen once every GAN search has finished." in fashion
    assert "`gankit figure vae-vs-gan --data fashion-mnist --out docs/figures`" in fashion
    assert "(runs/fashion)" in fashion and "nearest training image" in fashion
    assert "digit" not in fashion.replace(str(tmp_path), "")  # no digits words on its page


def test_the_committed_fashion_page_is_the_render_of_the_committed_journals(tmp_path):
    # docs/benchmarks/fashion.md is written from benchmarks/journals/fashion_*.journal alone: commit both
    page = tmp_path / "fashion.md"
    images.main(["--data", "fashion-mnist", "--render", "--page", str(page), "--out", str(tmp_path / "out")])
    assert page.read_text() == (ROOT / "docs" / "benchmarks" / "fashion.md").read_text()


def test_the_fashion_specs_share_the_protocol_and_size_each_curve_to_its_model():
    import tomllib

    specs = {path.stem: tomllib.loads(path.read_text()) for path in images.BENCHES["fashion-mnist"].specs}
    cells = {stem: spec["grid"] for stem, spec in specs.items()}
    assert cells == {
        "fashion_vae": {"model": ["vae"]},
        "fashion_gan": {"objective": ["ns", "hinge"]},
        "fashion_wgan_gp": {"objective": ["wgan-gp"]},
        "fashion_rpgan": {"objective": ["rpgan"]},
    }
    for spec in specs.values():
        base = spec["base"]
        assert (spec["trials"], spec["n_startup_trials"], spec["pruner"]) == (40, 10, "successive-halving")
        assert (base["data"], base["width"], base["batch_size"]) == ("fashion-mnist", 32, 64)
        assert (base["validation_fraction"], base["time_budget_s"], base["threads"], base["amp"]) == (
            0.1,
            1200,
            1,
            False,
        )
        assert base["eval_samples"] == 2500 and base["checkpoint_every"] == base["eval_every"]
        for key in ("g_lr", "d_lr"):
            assert spec["search"][key] == {"low": 1e-5, "high": 1e-2, "log": True}
    gammas = {key for key in specs["fashion_rpgan"]["search"] if key.endswith("_gamma")}
    assert gammas == {"r1_gamma", "r2_gamma"}
    assert all(
        set(spec["search"]) == {"g_lr", "d_lr"} for stem, spec in specs.items() if stem != "fashion_rpgan"
    )


def test_the_fashion_table_ranks_settled_arms_with_their_test_sharpness(tmp_path, monkeypatch):
    from journaled import Cell

    from gankit.stats import Plateau

    spec = "trials = 0\n[base]\nwidth = 32\nbatch_size = 64\ntime_budget_s = 1200\n"
    cells = [Cell(label, Path("spec.toml"), spec, {}) for label in ("vae", "ns")]
    for cell, value in zip(cells, (90.0, 40.0), strict=True):
        cell.best = {"value": value, "params": {"g_lr": 0.002, "d_lr": 0.001}, "cell": {}}
        cell.seeds_text = "seeds"

    def tests_of(cell, journals, prefix):
        sharp = {"vae": 0.4, "ns": 0.95}[cell.label]
        fid = {"vae": 80.0, "ns": 20.0}[cell.label]
        return [
            {f"test_{key}": 0.5 for key in ("kid", "precision", "recall", "density", "coverage")}
            | {"test_fid": fid + seed, "test_sharpness": sharp + seed / 100}
            | {"steps": 4000, "cpu_time": 1200.0, "chosen_step": 3000, "seed": 100 + seed}
            for seed in range(3)
        ]

    monkeypatch.setattr(images, "tests_of", tests_of)
    monkeypatch.setattr(
        images, "settled_text", lambda cell, key: (Plateau(True, 0.1, 1.0, 3000, 4000), "settled")
    )
    bench = images.BENCHES["fashion-mnist"]
    lines, ranked = images.arms_table(cells, tmp_path, bench.name, "model", bench.metrics, bench.item)
    assert [cell.label for cell, _, _ in ranked] == ["ns", "vae"]  # by mean test FID
    assert lines[2].endswith("| test coverage | test sharpness | validation FID, last ¼ |")
    rows = [line for line in lines if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert rows[0].startswith("| 1 | ns |") and "| 0.96 [" in rows[0]  # ns's mean sharpness 0.96
    assert rows[1].startswith("| 2 | vae |") and "| 0.41 [" in rows[1]
    assert len(rows[0].split("|")) == len(lines[2].split("|"))  # a value under every column

    lines = images.preset_lines([*cells, Cell("rpgan", Path("spec.toml"), spec, {})], bench)
    assert lines == ["The `fashion` preset is re-chosen once every GAN search has finished.", ""]
    cells[1].best["params"] |= {"r1_gamma": 0.05}
    lines = images.preset_lines(cells, bench)
    assert lines[0] == "## The `fashion` preset, chosen on validation"
    preset = '"fashion": {"data": "fashion-mnist", "objective": "ns", "width": 32, "batch_size": 64,'
    assert f'    {preset} "g_lr": 0.002, "d_lr": 0.001, "r1_gamma": 0.05}},' in lines
