"""GAN vs VAE on digits or Fashion-MNIST, fair: equal CPU time, an equal search, settled runs, held-out test.

A driver over `gankit sweep` whose record is its journals (as benchmarks/mode_coverage.py): every
sweep keeps its Optuna studies in a journal file under benchmarks/journals/, committed with the
repository, and the page is written from those journals alone (``--render``).

1. Search: benchmarks/specs/images_{vae,gan}.toml give the VAE, the non-saturating GAN (ns) and
   WGAN-GP, with the same DCGAN networks (the VAE's decoder is the generator), the same search: 40
   configurations of their two learning rates, 10 random then TPE, each trained for 300 CPU-seconds
   (``time_budget_s``, one thread, fp32) with the tuning seed 0, its FID on the *validation* part
   (``validation_fraction`` 0.5: a validation quarter and a test quarter of the digits) evaluated
   every 250 steps and cut by successive halving at 500, 1,500, 4,500 and 13,500 steps (a third
   of the trials goes on at each cut).
2. Report seeds: each cell's best configuration (lowest validation FID) is trained again on 5 report
   seeds (100..104), every checkpoint kept. In each run the checkpoint with the lowest validation FID
   is chosen (``gankit.metrics.evaluate.select_checkpoint``); only that checkpoint is scored on the
   test part, once, and kept in the seeds' journal (a study of its own beside the sweep's).
3. Page (docs/benchmarks/images.md): per cell the search's cost and best-so-far curve, and whether it
   flattened; the arms whose report seeds' validation FID settled (gankit.stats.settled),
   ranked by test FID with both budgets (generator steps, CPU-s); the others as curves only; the
   tuning and report seeds; and the `digits` preset re-chosen on validation FID.
4. Figure: after every run, OUT/figure.json (runs/images) summarises the journals for `gankit figure
   vae-vs-gan`: each arm's tested report seeds, their run directories and test metrics (the samples
   come from the first seed's chosen checkpoint, kept in its run directory).

Cost, measured with one thread on the loaded 2-core machine: a generator step of the width-32 DCGANs
at batch 64 takes about 20 ms of CPU for ns, 45 for the VAE and 110 for WGAN-GP (5 critic steps), an
evaluation (2,500 samples) 0.2-0.5 s; a full trial is 300 CPU-s of training plus ~5 % evaluations,
~320 s (ns buys ~15,000 steps, the VAE ~6,500, WGAN-GP ~2,700; the longest trial about 6 CPU-minutes).
Successive halving makes 40 configurations cost about 6 full trials for ns, 9 for the VAE and 14 for
WGAN-GP (whose short runs reach the cuts late), and the 5 seeds add 5 each: 44 full trials x 320 s =
about 4 CPU-hours; with --workers 2 on two free cores about 2 hours.

Fashion-MNIST (``--data fashion-mnist``): the same protocol at 28x28, its wording, files and models
in the BENCHES table below. Specs benchmarks/specs/fashion_{vae,gan,wgan_gp,rpgan}.toml give the VAE,
ns and hinge, WGAN-GP, and R3GAN's rpgan with R1 + R2 (both weights searched too), the same width-32
DCGANs at batch 64, 1,200 training CPU-s a run; ``validation_fraction`` 0.1 holds 6,000 training
images out as the validation part and the published t10k split is the test part. Each spec's
eval_every gives its model ~14 evaluations in the budget (VAE 500, ns and hinge 250, rpgan 150,
WGAN-GP 60 steps), cut by successive halving after the 2nd and 6th. Journals
benchmarks/journals/fashion_*.journal, page docs/benchmarks/fashion.md (with sharpness beside the
other test metrics, and the `fashion` preset re-chosen on validation), runs and figure.json in
runs/fashion (`gankit figure vae-vs-gan --data fashion-mnist`). Cost, measured the same way: a step
costs 0.13-0.20 CPU-s for the VAE, 0.25-0.39 for ns and hinge, 0.45-0.56 for rpgan with R1 + R2 and
1.0-1.9 for WGAN-GP, an evaluation ~2-3 s (~40 s a trial); a full trial ~1,240 CPU-s. Successive
halving makes 40 configurations cost about 12 full trials by the rule and ~15-18 in practice (the
first trials meet few rivals at each cut), and the 5 seeds add 5 (and ~1 CPU-minute each to choose
and test a checkpoint): 5 cells x ~22 full trials x 1,240 s = about 40 CPU-hours; with --workers 2
on two free cores about 20 hours.

    nice -n 10 python benchmarks/images.py --workers 2   # run or continue, then write the page
    python benchmarks/images.py --render                  # the page from benchmarks/journals/ alone
    python benchmarks/images.py --quick                   # smoke test (tiny budget, temp journals)
    nice -n 10 python benchmarks/images.py --data fashion-mnist --workers 2   # Fashion-MNIST

Stopped (Ctrl-C, SIGTERM), each running trial saves a checkpoint and the same command continues; in a
fresh clone the committed journals keep every finished trial (never rerun). Commit
benchmarks/journals/images_*.journal (fashion_*.journal) after each session (never *.lock).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import tomllib
from journaled import (
    Cell,
    curve_points,
    guarded,
    page_head,
    plot_search,
    read_cells,
    run_cells,
    search_lines,
    seeds_dir,
    seeds_journal,
    seeds_text,
    settled_text,
)
from mode_coverage import ci_text, driver_arguments, params_text, toml_text

from gankit import stats
from gankit.metrics.evaluate import select_checkpoint
from gankit.rundir import atomic_write_bytes, checkpoint_step, checksum_path, dumps, list_checkpoints
from gankit.runs import compare as comparing
from gankit.runs import sweep as sweeps
from gankit.runs.spec import sweep_name

ROOT = Path(__file__).resolve().parents[1]
SPECS = [ROOT / "benchmarks" / "specs" / f"images_{family}.toml" for family in ("vae", "gan")]
JOURNALS = ROOT / "benchmarks" / "journals"
PREFIX = "images"  # journals: images_{vae,gan}.journal (searches), images_seeds_<cell>.journal
METRICS = (("fid", 2), ("kid", 2), ("precision", 2), ("recall", 2), ("density", 2), ("coverage", 2))
CHOICE_SAMPLES = 2500  # samples per checkpoint scored on the validation part, and on the test part
EXPECTED_CPU_HOURS = 4  # see the module docstring
FASHION_CPU_HOURS = 40  # --data fashion-mnist: see the module docstring
FASHION_SPECS = ("vae", "gan", "wgan_gp", "rpgan")  # fashion_<spec>.toml: one eval_every per step cost


@dataclass(frozen=True)
class Bench:
    """What differs between the data sets this driver compares on: its files, its models and the
    page's words. ``name`` names the runs (runs/NAME), the page (docs/benchmarks/NAME.md, its plot
    NAME_search.png) and the journals (NAME_<spec>.journal, NAME_seeds_<cell>.journal)."""

    name: str
    data: str  # --data of this driver and of `gankit figure vae-vs-gan`
    size: int  # the training set's images, before validation_fraction
    specs: list[Path]
    order: tuple[str, ...]  # the cells in the page's order
    cpu_hours: float
    title: str
    data_text: str  # the Data bullet ({fraction}: the specs' validation_fraction)
    models_text: str
    search_text: str  # what the search covers beyond the learning rates
    features: str  # the shipped feature network the metrics use
    metrics: tuple[tuple[str, int], ...]
    metrics_text: str  # the Metrics bullet's list of metrics
    item: str  # what the floor line calls one test image
    preset: str  # the preset re-chosen on validation, and the [base] keys it takes beside objective, batch
    preset_keys: tuple[str, ...]
    figure_text: str  # what the figure shows beside each arm's samples
    caveats: str  # the page's last paragraph


BENCHES = {
    "digits": Bench(
        name=PREFIX,
        data="digits",
        size=1797,
        specs=SPECS,
        order=("vae", "ns", "wgan-gp"),
        cpu_hours=EXPECTED_CPU_HOURS,
        title="digits",
        data_text="scikit-learn's 1,797 8x8 digits; `validation_fraction = {fraction}` holds a fixed part out"
        " of training (the same for every seed and model): half of it is the *validation* part (every"
        " search score, every cut, every checkpoint choice), half the *test* part (the table's test"
        " columns, and nothing else).",
        models_text="VAE, non-saturating GAN (ns) and WGAN-GP",
        search_text="",
        features="digits",
        metrics=METRICS,
        metrics_text="FID, KID (about 0 for matching sets), precision/density and recall/coverage",
        item="digits",
        preset="digits",
        preset_keys=(),
        figure_text="",
        caveats="What the numbers can and cannot say: precision and density reward samples that sit among"
        " real digits in feature space, and a blurred average digit can sit there too, so a high"
        " precision with a low recall (the VAE's usual signature) is not evidence of sharper samples;"
        " FID and KID weigh both sides. One data set, one network size, one CPU budget: a larger budget"
        " or another decoder likelihood may change the ranking. The FID uses the shipped digit feature"
        " network, not Inception: compare the rows with each other, not with published FIDs.",
    ),
    "fashion-mnist": Bench(
        name="fashion",
        data="fashion-mnist",
        size=60_000,
        specs=[ROOT / "benchmarks" / "specs" / f"fashion_{model}.toml" for model in FASHION_SPECS],
        order=("vae", "ns", "hinge", "wgan-gp", "rpgan"),
        cpu_hours=FASHION_CPU_HOURS,
        title="Fashion-MNIST",
        data_text="Fashion-MNIST's 60,000 28x28 training images (Xiao et al. 2017); `validation_fraction ="
        " {fraction}` holds a fixed {held:,} of them out of training (the same for every seed and model):"
        " they are the *validation* part (every search score, every cut, every checkpoint choice), and"
        " the published test split, t10k's 10,000 images, is the *test* part (the table's test columns,"
        " and nothing else).",
        models_text="VAE, non-saturating GAN (ns), hinge GAN, WGAN-GP and R3GAN's relativistic pairing"
        " loss with R1 + R2 (rpgan; Huang et al. 2024)",
        search_text=" and, for rpgan, the R1 and R2 weights gamma in [0.01, 10] (log)",
        features="Fashion-MNIST",
        metrics=(*METRICS, ("sharpness", 2)),
        metrics_text="FID, KID (about 0 for matching sets), precision/density and recall/coverage, and"
        " sharpness (the samples' mean Laplacian variance over the test images': 1 as sharp, below 1"
        " blurrier)",
        item="images",
        preset="fashion",
        preset_keys=("width",),  # the data's default width at 28x28 is 64: the runs' is 32
        figure_text=", each sample above its nearest training image (in pixels: a memorised image would"
        " show as its twin)",
        caveats="What the numbers can and cannot say: precision and density reward samples that sit among"
        " real garments in feature space, and a blurred average garment can sit there too, so a high"
        " precision with a low recall (the VAE's usual signature) is not evidence of sharper samples;"
        " sharpness is, and FID and KID weigh both sides. One data set, one network size (width 32,"
        " sized for a 2-core CPU), one CPU budget: a larger budget, larger networks or another decoder"
        " likelihood may change the ranking. rpgan trains in these DCGANs, layer norm in D (as"
        " every D with a gradient penalty here), where R3GAN's own networks have no normalisation"
        " layers: the row measures R3GAN's loss and penalties, not its architecture or its schedules."
        " The FID uses the shipped Fashion-MNIST feature network, not Inception: compare the rows with"
        " each other, not with published FIDs.",
    ),
}
QUICK_HELP = "3 configurations of 3 CPU-s, 2 seeds, tiny nets, temporary journals"
QUICK = {"trials": 3, "n_startup_trials": 2, "min_resource": 1, "reduction_factor": 2}
QUICK_BASE = {"time_budget_s": 3, "width": 8, "log_every": 20, "eval_every": 20, "checkpoint_every": 20}
QUICK_BASE |= {"eval_samples": 300}  # evaluations run on logged rows: log_every divides eval_every
FIGURE_SUMMARY = "figure.json"  # OUT/figure.json: what `gankit figure vae-vs-gan` draws (figure_summary)
TEST = "test"  # a seed run's test score: the study <seeds sweep>/test/<run dir> in the seeds' journal


def search_spec(path: Path, quick: bool, quick_grid: dict | None = None) -> str:
    """The search spec as shipped, or shrunk for --quick (``quick_grid``: [grid] lists it replaces)."""
    if not quick:
        return path.read_text()
    values = tomllib.loads(path.read_text()) | QUICK
    values["base"] |= QUICK_BASE
    values["grid"] |= quick_grid or {}
    return toml_text(values)


def label_of(values: dict) -> str:
    """A cell's name: 'vae', or the GAN's objective."""
    return "vae" if values.get("model") == "vae" else values["objective"]


def keep_every_checkpoint(base: dict) -> dict:
    """The report seeds keep every checkpoint: the validation part chooses among them."""
    return {"keep_checkpoints": 100_000}


# ---------------------------------------------------------------------------------------------------
# The test part, used once per report seed, kept in the journal


def test_study(sweep: str, run_dir: str) -> str:
    return f"{sweep}/{TEST}/{run_dir}"


def read_tests(journal: Path, seeds_spec_text: str) -> dict[str, dict]:
    """{run dir: its test record} of a report-seeds sweep, from its journal alone."""
    if not journal.is_file():
        return {}
    prefix = f"{sweep_name(seeds_spec_text)}/{TEST}/"
    storage = sweeps.open_storage(sweeps.JOURNAL + str(journal))
    return {
        study.study_name.removeprefix(prefix): study.user_attrs[TEST]
        for study in storage.get_all_studies()
        if study.study_name.startswith(prefix) and TEST in study.user_attrs
    }


def keep_test(journal: Path, seeds_spec_text: str, run_dir: str, record: dict) -> None:
    """Keep a run's test record in the journal: a study named after the run, its record a user attr
    (a finished trial takes no more attrs; a study takes them at any time)."""
    import optuna

    storage = sweeps.open_storage(sweeps.JOURNAL + str(journal))
    name = test_study(sweep_name(seeds_spec_text), run_dir)
    try:
        study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], name)
    except optuna.exceptions.DuplicatedStudyError:  # made by a process stopped before its attr
        study_id = storage.get_study_id_from_name(name)
    storage.set_study_user_attr(study_id, TEST, json.loads(dumps(record)))


def choose_and_test(run_dir: Path, samples: int) -> dict:
    """The run's validation-chosen checkpoint and its test metrics (``test_*``)."""
    chosen = select_checkpoint(run_dir, n=samples, seed=sweeps.EVAL_SEED)
    record = {"chosen_step": chosen["step"], "validation_fid_by_step": chosen["validation"]}
    return record | {f"test_{key}": value for key, value in chosen["test"].items()}


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Keep only the chosen checkpoint (step ``keep``) and the last (a few MB each, dozens per run)."""
    for checkpoint in list_checkpoints(run_dir / "checkpoints")[:-1]:
        if checkpoint_step(checkpoint) != keep:
            checkpoint.unlink()
            checksum_path(checkpoint).unlink(missing_ok=True)


def test_report_seeds(cell: Cell, sweep_dir: Path, journal: Path, samples: int) -> None:
    """Score every finished report seed of a cell on the test part, once (its run directory must be
    here: a clone that lost it before its score was kept reruns nothing and shows the seed untested).
    The score is kept in the journal before any checkpoint goes, so a stop in between loses nothing."""
    done = read_tests(journal, cell.seeds_text)
    for record in cell.complete_seeds:
        run_dir = sweep_dir / record.path
        if str(record.path) not in done and (run_dir / "checkpoints").is_dir():
            tested = choose_and_test(run_dir, samples)
            keep_test(journal, cell.seeds_text, str(record.path), tested)
            prune_checkpoints(run_dir, tested["chosen_step"])


def tests_of(cell: Cell, journals: Path, prefix: str) -> list[dict]:
    """The test records of a cell's finished report seeds, seed by seed, each with its run's steps and
    CPU-s, and its run directory's path in the seeds' sweep directory."""
    if cell.seeds_text is None:
        return []
    kept = read_tests(seeds_journal(journals, prefix, cell.label), cell.seeds_text)
    return [
        kept[str(r.path)]
        | {"path": str(r.path), "steps": r.steps, "cpu_time": r.trial["cpu_time"], "seed": r.config["seed"]}
        for r in cell.complete_seeds
        if str(r.path) in kept
    ]


# ---------------------------------------------------------------------------------------------------
# The page


def test_row(tests: list[dict], key: str) -> dict:
    values = [t[f"test_{key}"] for t in tests if isinstance(t.get(f"test_{key}"), (int, float))]
    direction = "maximize" if key in comparing.MAXIMIZED else "minimize"
    return stats.summarize(values, direction) | {"missing": len(tests) - len(values)}


def floor_reading(tests: list[dict], item: str = "digits") -> str:
    """What the page says of a real-vs-real floor: gankit eval gives one only at equal sample sizes,
    and then the runs' FIDs (2,500 samples) are not at that size: no floor is drawn beside them."""
    first = tests[0] if tests else {}
    if "test_floor_fid" not in first:
        why = first.get("test_no_floor", "no run was scored on the test part yet")
        return f"No floor row: {why.removeprefix('no real-vs-real floor: ')}."
    return (
        f"Real against real at equal size ({first['test_n_floor']} test {item} against"
        f" {first['test_n_reference']}): FID {first['test_floor_fid']:.2f}. The rows score"
        f" {CHOICE_SAMPLES:,} samples, another size, so it is no floor for them (FID's bias depends on n)."
    )


def arms_table(
    cells: list[Cell], journals: Path, prefix: str, first_column: str, metrics=METRICS, item: str = "digits"
) -> tuple[list[str], list]:
    """Settled arms ranked by mean test FID, with both budgets (``metrics``: the test columns); the
    others as validation curves."""
    ranked, unsettled, waiting = [], [], []
    for cell in cells:
        tests = tests_of(cell, journals, prefix)
        reading, words = settled_text(cell, "eval_fid")
        if reading is not None and reading.flat and tests:
            ranked.append((cell, tests, words))
        elif reading is not None:
            unsettled.append((cell, words))
        elif cell.seeds_text is None:
            waiting.append(f"{cell.label} (search: {len(cell.finished)} of {cell.trials} trials finished)")
        else:
            waiting.append(f"{cell.label} ({len(cell.complete_seeds)} report seeds finished: {words})")
    ranked.sort(key=lambda item: test_row(item[1], "fid")["mean"])
    lines = [
        "Settled arms, ranked by mean test FID (lower is better); `=`: its interval overlaps the arm above.",
        "",
        f"| rank | {first_column} | best configuration (search) | seeds | generator steps | CPU-s per run |"
        " chosen step | " + " | ".join(f"test {name}" for name, _ in metrics) + " | validation FID, last ¼ |",
        "|---|---|---|---|---|---|---|" + "---|" * (len(metrics) + 1),
    ]
    previous = None
    for place, (cell, tests, words) in enumerate(ranked, start=1):
        fid = test_row(tests, "fid")
        tie = previous is not None and not comparing_apart(previous, fid)
        steps = sorted(t["steps"] for t in tests)
        picks = sorted(t["chosen_step"] for t in tests)
        cpu = stats.summarize([t["cpu_time"] for t in tests], "minimize")
        cells_text = [ci_text(test_row(tests, name), 1, digits) for name, digits in metrics]
        lines.append(
            f"| {'=' if tie else ''}{place} | {cell.label} | {params_text(cell.best['params'])} |"
            f" {len(tests)} | {steps[0]:,}–{steps[-1]:,} | {ci_text(cpu, 1, 0)} |"
            f" {picks[0]:,}–{picks[-1]:,} | " + " | ".join(cells_text) + f" | {words} |"
        )
        previous = fid
    lines += ["", floor_reading(next((t for _, t, _ in ranked), []), item), ""]
    if unsettled:
        lines += [
            "Not settled: curves only, not ranked (the report seeds' mean validation FID at ¼, ½, ¾ and"
            " the end of their common evaluated steps).",
            "",
            f"| {first_column} | best configuration (search) | validation FID: step = value | settled rule |",
            "|---|---|---|---|",
        ]
        for cell, words in unsettled:
            marks, means = curve_points(cell, "eval_fid")
            points = ", ".join(f"{m:,} = {v:.3g}" for m, v in zip(marks, means, strict=True))
            lines.append(f"| {cell.label} | {params_text(cell.best['params'])} | {points} | {words} |")
        lines.append("")
    if waiting:
        lines += [f"Not yet measured: {'; '.join(waiting)}.", ""]
    return lines, ranked


def comparing_apart(above: dict, below: dict) -> bool:
    """Whether two rows' 95 % intervals are disjoint, the one above lower (better)."""
    return None not in (above["ci_high"], below["ci_low"]) and above["ci_high"] < below["ci_low"]


def preset_lines(cells: list[Cell], bench: Bench) -> list[str]:
    """The bench's preset (`digits`, `fashion`) re-chosen on validation FID: the GAN cell whose search
    found the lowest validation FID (tuning seed; the report seeds and the test part choose nothing)."""
    name = bench.preset
    gans = [cell for cell in cells if cell.label != "vae"]
    if not gans or any(len(cell.finished) < cell.trials or cell.best is None for cell in gans):
        return [f"The `{name}` preset is re-chosen once every GAN search has finished.", ""]
    best = min(gans, key=lambda cell: cell.best["value"])
    base = tomllib.loads(best.spec_text)["base"]
    preset = {"data": bench.data, "objective": best.label}
    preset |= {key: base[key] for key in bench.preset_keys} | {"batch_size": base["batch_size"]}
    preset |= {key: float(f"{value:.2g}") for key, value in best.best["params"].items()}
    text = ", ".join(f'"{k}": {json.dumps(v)}' for k, v in preset.items())
    return [
        f"## The `{name}` preset, chosen on validation",
        "",
        f"Lowest validation FID of every GAN search: **{best.label}**, {params_text(best.best['params'])}"
        f" (validation FID {best.best['value']:.3g} at the tuning seed, width {base['width']},"
        f" {base['time_budget_s']} CPU-s). To apply it, set in `src/gankit/presets.py`:",
        "",
        f'    "{name}": {{{text}}},',
        "",
        "(with the measured numbers in its comment: this page's row of that arm).",
        "",
    ]


def per_model(cells: list[Cell], key: str) -> str:
    """A [base] value of the cells' specs as a page says it: "250", or "600 (vae), 300 (ns, hinge)"
    where the specs differ (each sized to its model's steps)."""
    values: dict[str, list[str]] = {}
    for cell in cells:
        values.setdefault(str(tomllib.loads(cell.spec_text)["base"][key]), []).append(cell.label)
    if len(values) <= 1:
        return next(iter(values), "?")
    return ", ".join(f"{value} ({', '.join(labels)})" for value, labels in values.items())


def render(
    cells: list[Cell], specs: list[tuple[Path, str]], args, journals: Path, bench: Bench | None = None
) -> str:
    bench = bench or BENCHES["digits"]
    first = tomllib.loads(specs[0][1])
    base = first["base"]
    direction = first["direction"]
    table, _ = arms_table(cells, journals, bench.name, "model", bench.metrics, bench.item)
    fraction = base["validation_fraction"]
    option = f" --data {bench.data}" if bench.data != "digits" else ""
    command = f"python benchmarks/images.py{option}"
    lines = page_head(f"GAN vs VAE on {bench.title}", command, journals, bench.cpu_hours, cells, args.seeds)
    lines += [
        "Protocol (Lucic et al. 2018: equal budget, the same search for every model, settled runs):",
        "",
        "- **Data.** " + bench.data_text.format(fraction=fraction, held=round(bench.size * fraction)),
        f"- **Models.** {bench.models_text} with the same DCGAN networks (width"
        f" {base['width']}; the VAE's decoder is the generator), batch {base['batch_size']}, one thread,"
        " fp32.",
        f"- **Equal budget.** Every run stops after {base['time_budget_s']} s of training CPU time"
        " (`time_budget_s`), so a costlier update (WGAN-GP's critic steps, the VAE's encoder) buys fewer"
        " generator steps, not more compute; the table gives both.",
        f"- **Search.** {first['trials']} configurations per model over g_lr and d_lr in [1e-5, 1e-2]"
        f" (log; for the VAE the decoder's and the encoder's){bench.search_text}, the first"
        f" {first['n_startup_trials']} at random, then TPE; validation FID every"
        f" {per_model(cells, 'eval_every')} steps, successive halving (1/{first['reduction_factor']} goes"
        f" on at each cut, the first after {first['min_resource']} evaluations); a trial's score is its"
        " last validation FID.",
        f"- **Seeds.** {seeds_text(cells)}",
        "- **Checkpoint.** In each report run the checkpoint (one every"
        f" {per_model(cells, 'checkpoint_every')} steps) with the lowest validation FID"
        f" ({CHOICE_SAMPLES:,} samples) is chosen; only it is scored on the test part.",
        "- **Settled** (`gankit.stats.settled`): over the last quarter of the steps, the"
        " least-squares line through the report seeds' mean validation FID moves by no more than their"
        " standard deviation at the end. An arm that has not settled is a curve, not a rank.",
        f"- **Metrics** on the shipped {bench.features} feature network: {bench.metrics_text}; mean [95 %"
        " Student t interval of the mean].",
        "",
        *table,
        *search_lines(cells, direction, "fid", f"{bench.name}_search.png"),
        *preset_lines(cells, bench),
        f"Samples: `gankit figure vae-vs-gan{option} --out docs/figures` draws each arm's first report seed"
        f" at its chosen checkpoint{bench.figure_text}, titled with the test means above, from"
        f" `{FIGURE_SUMMARY}`, which this driver writes from the journals into its `--out`"
        f" (runs/{bench.name}), beside the run directories.",
        "",
        bench.caveats,
    ]
    return "\n".join(lines) + "\n"


def figure_summary(cells: list[Cell], journals: Path, prefix: str) -> dict:
    """OUT/figure.json for `gankit figure vae-vs-gan`: {cell: {"runs": [its tested report seeds, first
    seed first: run (its directory, relative to OUT), seed, steps, cpu_time, chosen_step, test_*]}}.

    A view of the journals (the record), not a record of its own: written anew from them after every
    run, beside the run directories whose chosen checkpoints give the figure's samples. The figure
    reads this file rather than the journals, so gankit (src/) needs neither this driver's study
    names nor its code, and the driver alone knows where its records are.
    """
    summary = {}
    for cell in cells:
        sweep_dir = seeds_dir(seeds_journal(journals, prefix, cell.label))
        runs = [
            {"run": f"{sweep_dir}/{test.pop('path')}"} | test for test in tests_of(cell, journals, prefix)
        ]
        summary[cell.label] = {"runs": runs}
    return summary


def write_figure_summary(cells: list[Cell], journals: Path, out: Path, prefix: str) -> None:
    atomic_write_bytes(out / FIGURE_SUMMARY, (dumps(figure_summary(cells, journals, prefix)) + "\n").encode())


def data_option(parser) -> None:
    parser.add_argument(
        "--data",
        choices=list(BENCHES),
        default="digits",
        help="digits, or fashion-mnist (runs/fashion, docs/benchmarks/fashion.md, fashion_* journals)",
    )


def bench_of(argv: list[str] | None) -> Bench:
    """The Bench that --data names (read first: it names the default --out and --page)."""
    parser = argparse.ArgumentParser(add_help=False)
    data_option(parser)
    return BENCHES[parser.parse_known_args(argv)[0].data]


def arguments(argv, name: str, doc: str, quick_help: str = QUICK_HELP, options=None):
    """The driver's options (``options(parser)``: a driver's own, as --data here)."""

    def more(parser) -> None:
        parser.add_argument("--render", action="store_true", help="only write the page, from the journals")
        parser.add_argument("--journals", type=Path, help="(benchmarks/journals; --quick: OUT/journals)")
        parser.add_argument("--page", type=Path, help="(docs/benchmarks/<name>.md; --quick: OUT/)")
        if options is not None:
            options(parser)

    args = driver_arguments(argv, name, doc, quick_help, more)
    args.journals = args.journals or (args.out / "journals" if args.quick else JOURNALS)
    page_name = name.replace("-", "_") + ".md"
    args.page = args.page or (
        args.out / page_name if args.quick else ROOT / "docs" / "benchmarks" / page_name
    )
    return args


def measure(
    args, spec_paths: list[Path], label, prefix: str, quick_grid: dict | None = None
) -> tuple[list[tuple[Path, str]], list[Cell]]:
    """Run or continue the searches and report seeds (journals named ``prefix``_...), test the finished
    seeds once; the cells as the journals keep them."""
    specs = [(path, search_spec(path, args.quick, quick_grid)) for path in spec_paths]
    samples = 300 if args.quick else CHOICE_SAMPLES
    journals, seeds = args.journals, args.seeds
    if not args.render:

        def tested(cell: Cell, sweep_dir: Path) -> None:  # before the next cell's checkpoints pile up
            test_report_seeds(cell, sweep_dir, seeds_journal(journals, prefix, cell.label), samples)

        keep = keep_every_checkpoint
        run_cells(specs, journals, args.out, args.workers, seeds, label, prefix, keep, tested)
    return specs, read_cells(specs, journals, seeds, label, prefix, keep_every_checkpoint)


def main(argv: list[str] | None = None) -> None:
    bench = bench_of(argv)
    args = arguments(argv, bench.name, __doc__, options=data_option)

    def body() -> None:
        specs, cells = measure(args, bench.specs, label_of, bench.name)
        order = bench.order
        cells.sort(key=lambda cell: order.index(cell.label) if cell.label in order else len(order))
        args.page.parent.mkdir(parents=True, exist_ok=True)
        plot_search(cells, "minimize", "FID", args.page.parent / f"{bench.name}_search.png")
        args.page.write_text(render(cells, specs, args, args.journals, bench))
        print(f"wrote {args.page}")
        if args.out.is_dir():  # the runs are here (--render in a clone has none to draw)
            write_figure_summary(cells, args.journals, args.out, bench.name)

    guarded(body, lambda: args.journals)


if __name__ == "__main__":
    main(sys.argv[1:])
