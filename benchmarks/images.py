"""GAN vs VAE on digits, fair by construction: equal CPU time, tuned learning rates, held-out test.

A thin driver over `gankit sweep` and `gankit compare` (as benchmarks/mode_coverage.py):

1. Search: benchmarks/specs/images_{vae,gan}.toml give the VAE, the non-saturating GAN (ns) and
   WGAN-GP, with the same DCGAN networks (the VAE's decoder is the generator), the same number of
   Optuna trials over their two learning rates, each trial the same CPU-time budget
   (``time_budget_s``). Half of the digits are held out from training (``validation_fraction``):
   a fixed validation quarter and a fixed test quarter. A trial's score is the FID of its last
   checkpoint on the validation part.
2. Seeds: each model's best configuration is trained again on fresh seeds (100, 101, ...).
3. Checkpoint choice and report: in every seed run, the checkpoint with the lowest validation FID
   is chosen (``gankit.metrics.evaluate.select_checkpoint``); only that checkpoint is then scored on
   the test part, whose numbers go into the run's eval.json as ``test_fid``, ``test_kid``, ... The
   table is `gankit compare` of them (95 % t intervals of the mean) beside the test part's real-vs-real floor.

    nice -n 10 python benchmarks/images.py --workers 2     # full: docs/benchmarks/images.md (+ .png)
    python benchmarks/images.py --quick                     # smoke test: tiny budget, runs/images-quick

Rerunning the same command resumes every sweep (finished trials are kept); the checkpoint choice
of a seed run is computed once (kept in its eval.json). `gankit figure vae-vs-gan` draws the chosen
runs (it reads OUT/chosen.json).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import tomllib
import torch
from mode_coverage import (
    FRESH_SEEDS,
    ci_text,
    curve_table,
    driver_arguments,
    plot_curves,
    run_sweep,
    seeds_spec,
    toml_text,
)

from gankit.experiments.vae_vs_gan import figure_from_benchmark, still_improving
from gankit.metrics.evaluate import select_checkpoint
from gankit.rundir import (
    CHECKPOINTS,
    EVAL,
    atomic_write_bytes,
    checkpoint_step,
    checksum_path,
    dumps,
    list_checkpoints,
)
from gankit.runs import compare as comparing
from gankit.runs import sweep as sweeps
from gankit.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
SPECS = [ROOT / "benchmarks" / "specs" / f"images_{family}.toml" for family in ("vae", "gan")]
MODELS = ("vae", "ns", "wgan-gp")
METRICS = (("fid", 2), ("kid", 2), ("precision", 2), ("recall", 2), ("density", 2), ("coverage", 2))
CHOICE_SAMPLES = 2500  # samples per checkpoint scored on the validation part, and on the test part
QUICK_HELP = "1 trial of 1 CPU-s, 2 seeds, tiny nets, 1 worker"  # what --quick shrinks a spec to
QUICK = {"trials": 1, "time_budget_s": 1, "checkpoint_every": 5, "width": 8}
CHOSEN = "chosen.json"  # OUT/chosen.json: each model's seed runs, chosen steps and test metrics


def search_spec(path: Path, quick: bool) -> str:
    """The search spec as shipped, or shrunk for --quick."""
    if not quick:
        return path.read_text()
    values = tomllib.loads(path.read_text())
    values["trials"] = QUICK["trials"]
    values["base"] |= {key: QUICK[key] for key in ("time_budget_s", "checkpoint_every", "width")}
    return toml_text(values)


def model_of(group: str) -> str:
    """'model=vae' -> vae, 'objective=ns' -> ns: a search cell's label."""
    return group.split("=", 1)[1]


def choose_and_test(run_dir: Path, samples: int) -> dict:
    """The run's validation-chosen checkpoint and its test metrics, kept in its eval.json (test_*).

    Then only the chosen and the last checkpoint are kept (disk: a few MB each, dozens per run)."""
    path = run_dir / EVAL
    record = json.loads(path.read_text())
    if "chosen_step" not in record:
        chosen = select_checkpoint(run_dir, n=samples, seed=sweeps.EVAL_SEED)
        record |= {"chosen_step": chosen["step"], "validation_fid_by_step": chosen["validation"]}
        record |= {f"test_{key}": value for key, value in chosen["test"].items()}
        atomic_write_bytes(path, (dumps(record) + "\n").encode())
        checkpoints = list_checkpoints(run_dir / CHECKPOINTS)
        for checkpoint in checkpoints[:-1]:
            if checkpoint_step(checkpoint) != chosen["step"]:
                checkpoint.unlink()
                checksum_path(checkpoint).unlink(missing_ok=True)
    return record


def seed_runs(
    out: Path, search_text: str, best: dict, args, samples: int, budget: float | None = None
) -> tuple[Path, list[dict]]:
    """Train a search's best configuration on fresh seeds, keeping every checkpoint, then choose each
    run's checkpoint on the validation part and score it on the test part (``choose_and_test``)."""
    values = tomllib.loads(seeds_spec(search_text, best, args.seeds))
    values["base"]["keep_checkpoints"] = 100_000  # every checkpoint, to choose among them
    if budget:  # train the seed runs for this many CPU-seconds instead of the search's budget
        values["base"]["time_budget_s"] = budget
    directory = run_sweep(out, toml_text(values), args.workers)
    chosen = []
    for run_dir in sorted((directory / sweeps.TRIALS).iterdir()):
        record = choose_and_test(run_dir, samples)
        steps = max(int(key) for key in record["validation_fid_by_step"])
        chosen.append({"run": str(run_dir), "steps": steps} | record)
    return directory, chosen


def floor_reading(floor: dict, means: dict[str, float]) -> str:
    """What the real-vs-real test floor bounds, from the sizes it was computed at: a row whose mean test
    FID lies below it is named. ``floor``: a chosen record (its test_floor_* and test_n_* keys)."""
    if "test_floor_fid" not in floor:  # gankit eval computes a floor only at equal n (metrics.images)
        return f"No real-vs-real floor: {floor.get('test_no_floor', 'the test part is too small for one')}"
    below = [label for label, mean in means.items() if mean < floor["test_floor_fid"]]
    n_floor, n_reference = floor["test_n_floor"], floor["test_n_reference"]
    named = ", ".join(below[:-1]) + (" and " if len(below) > 1 else "") + (below[-1] if below else "")
    return (
        f"The floor is real against real at small sizes: {n_floor} test digits scored against the other"
        f" {n_reference}, while each run's {CHOICE_SAMPLES:,} samples are scored against the same"
        f" {n_reference}. FID's bias shrinks as a sample grows (Chong & Forsyth 2020), so the floor is no"
        " lower bound on a model's FID"
        + (f": {named} {'scores' if len(below) == 1 else 'score'} below it here." if below else ".")
    )


def floor_cell(floor: dict, name: str, digits: int) -> str:
    """A real-vs-real floor's value, or "–" where the test part was too small for one at equal n."""
    value = floor.get(f"test_floor_{name}")
    return "–" if value is None else f"{value:.{digits}f}"


CURVE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # the budget curve table's columns (fractions of a seed run)


def best_so_far(record: dict, fraction: float) -> float | None:
    """The lowest validation FID among a seed run's checkpoints in its first ``fraction`` of steps: the
    checkpoint choice had the run stopped there (None before its first checkpoint)."""
    by_step = {int(step): value for step, value in record["validation_fid_by_step"].items()}
    reached = [value for step, value in by_step.items() if step <= fraction * record["steps"]]
    return min(reached) if reached else None


def budget_curve(chosen: dict, fractions) -> dict[str, list[dict]]:
    """Per model, the seeds' best-so-far validation FID at each fraction of the runs (mean, 95 % CI)."""
    curves = {}
    for model, records in chosen.items():
        points = []
        for fraction in fractions:
            values = [value for r in records if (value := best_so_far(r, fraction)) is not None]
            points.append({"fraction": fraction} | summarize(values, "minimize"))
        curves[model] = points
    return curves


def curve_lines(chosen: dict, budget: float) -> list[str]:
    """The budget curve as a table and a sentence per model, written from the numbers."""
    curves = budget_curve(chosen, CURVE_FRACTIONS)
    lines = [
        "## Budget curve",
        "",
        "Best validation FID so far (the checkpoint the protocol would choose had the runs stopped",
        "there), mean [95 % CI] over the seeds, at fractions of the seed runs' budget (a checkpoint at",
        "fraction f of a run's steps stands for f of its CPU time):",
        "",
        *curve_table("model", [f"{f * budget:g} CPU-s" for f in CURVE_FRACTIONS], curves, 2),
    ]
    lines.append("")
    for model, points in curves.items():
        before, last = points[-2], points[-1]
        gain = (before["mean"] - last["mean"]) / before["mean"]
        lines.append(
            f"- **{model}**: over the last quarter of the budget its best validation FID fell by"
            f" {100 * gain:.1f} % ({before['mean']:.2f} to {last['mean']:.2f})."
        )
    return lines + ["", "![best validation FID so far against CPU time](images_budget.png)", ""]


def curve_figure(chosen: dict, budget: float):
    """Best-so-far validation FID against CPU time, one line with its CI band per model."""
    fractions = [k / 20 for k in range(1, 21)]
    curves = {
        model: ([f * budget for f in fractions], points)
        for model, points in budget_curve(chosen, fractions).items()
    }
    title = "GAN vs VAE on digits: validation FID by budget (mean, 95 % CI over seeds)"
    figure = plot_curves(curves, "best validation FID so far", title)
    figure.axes[0].set_yscale("log")
    return figure


def render(args, spec_texts, best, seed_dirs, chosen, command: str) -> str:
    base = tomllib.loads(spec_texts["vae"])["base"]
    trials = tomllib.loads(spec_texts["vae"])["trials"]
    floor = next(iter(chosen.values()))[0]
    header = "| model | best learning rates (search) | seeds | steps trained | chosen step | "
    lines = [
        "# GAN vs VAE on digits",
        "",
        "Generated by `benchmarks/images.py` (written by `" + command + "`); do not edit by hand.",
        "",
        f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores shared with other jobs, "
        f"torch {torch.__version__}.",
        "",
        "Protocol (Lucic et al. 2018: equal budget, a search per model, many seeds):",
        "",
        f"- **Data.** scikit-learn's 1,797 8x8 digits; `validation_fraction = {base['validation_fraction']}`",
        "  holds a fixed part out of training (the same for every seed and model): half of it is the",
        "  *validation* part (learning rates and checkpoints are chosen on it), half the *test* part (this",
        "  table, and nothing else, is computed on it).",
        f"- **Models.** VAE, non-saturating GAN (ns) and WGAN-GP with the same DCGAN networks (width"
        f" {base['width']}, the VAE's decoder is the generator), batch {base['batch_size']}.",
        f"- **Equal budget.** Every search trial stops after {base['time_budget_s']} s of training CPU time"
        + (f", every seed run after {args.seed_budget:g} s" if args.seed_budget else "")
        + ",",
        "  the same for every model (`time_budget_s`; the step limit is never reached), so a costlier",
        "  update (WGAN-GP's critic steps, the VAE's encoder) means fewer updates, not more compute.",
        f"- **Search.** {trials} Optuna trials (TPE, seeded) per model over g_lr and d_lr in [1e-5, 1e-2]",
        "  (log; for the VAE: the decoder's and the encoder's), scored by the last checkpoint's",
        "  validation FID.",
        f"- **Seeds.** The best configuration of each model is trained again on {args.seeds} fresh seeds"
        f" ({FRESH_SEEDS}..{FRESH_SEEDS + args.seeds - 1}).",
        f"- **Checkpoint.** In each seed run, the checkpoint (one every {base['checkpoint_every']} steps)",
        f"  with the lowest validation FID ({CHOICE_SAMPLES} samples) is chosen; only it is scored on",
        "  the test part.",
        "- **Metrics** on the shipped digits feature network: FID, KID (in the feature net's units, about 0",
        "  for matching sets, so the floor can be slightly negative; lower is better), precision/density",
        "  (samples where real digits are) and recall/coverage (the",
        "  digits' variety covered). Mean [95 % Student's t interval of the mean] over the seeds",
        "  (`gankit compare`). The floor scores one half of the test part against the other (below: what",
        "  it does and does not bound).",
        "",
        header + " | ".join(name for name, _ in METRICS) + " |",
        "|---|---|---|---|---|" + "---|" * len(METRICS),
    ]
    fid_means = {}
    for model in MODELS:
        if model not in seed_dirs:
            continue
        fid_means[model] = comparing.compare([seed_dirs[model]], by=[], metric="test_fid").rows[0]["mean"]
        cells = []
        for name, digits in METRICS:
            row = comparing.compare([seed_dirs[model]], by=[], metric=f"test_{name}").rows[0]
            cells.append(ci_text(row, 1, digits))
            n = row["n"]
        params = ", ".join(f"{k}={v:.2g}" for k, v in best[model]["params"].items())
        steps = sorted(record["steps"] for record in chosen[model])
        picks = sorted(record["chosen_step"] for record in chosen[model])
        lines.append(
            f"| {model} | {params} | {n} | {steps[0]}–{steps[-1]} | {picks[0]}–{picks[-1]} | "
            + " | ".join(cells)
            + " |"
        )
    # Converged or budget-bound? A best-validation checkpoint in the last tenth of a run means the
    # validation FID was still improving when the CPU budget ran out.
    late = still_improving(chosen)
    floor_cells = [floor_cell(floor, name, d) for name, d in METRICS]
    lines.append("| real vs real (test floor) | | | | | " + " | ".join(floor_cells) + " |")
    lines += [
        "",
        "![real digits and samples of each model's chosen checkpoint](images.png)",
        "",
        "(`gankit figure vae-vs-gan --out docs/figures` draws the same runs: "
        "it reads the chosen runs of `" + str(args.out_display) + "`.)",
        "",
        "What the numbers can and cannot say: precision and density reward samples that sit among real",
        "digits in feature space, and a blurred average digit can sit there too, so a high precision",
        "with a low recall (the VAE's usual signature) is not evidence of sharper samples; FID and KID",
        "weigh both sides. One data set, one network size, one CPU budget: a larger budget or another",
        "decoder likelihood may change the ranking.",
        "",
        "Converged? "
        + (
            "No: for " + ", ".join(late) + " the best validation checkpoint lies in the last"
            " tenth of at least one run, so validation FID was still improving when the budget ran out;"
            " this is a ranking at this budget, not of converged models (the budget, not the models,"
            " limits them)."
            if late
            else "Every chosen checkpoint lies before the last tenth of its run: validation FID had"
            " stopped improving within the budget."
        ),
        floor_reading(floor, fid_means),
        "",
        *curve_lines(chosen, args.seed_budget or base["time_budget_s"]),
        f"The sweeps are in `{args.out_display}` (search-vae, search-gan, {seed_dirs['vae'].name} and its"
        " twins);",
        f"`gankit compare {args.out_display}/{seed_dirs['vae'].name} --metric test_fid` reprints a row.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    def more(parser):
        parser.add_argument(
            "--seed-budget",
            type=float,
            default=None,
            help="training CPU-seconds of each seed run (default: the search's); longer runs with the"
            " checkpoint chosen on validation show whether FID has stopped improving",
        )

    args = driver_arguments(argv, "images", __doc__, QUICK_HELP, more)
    out, command = args.out, args.command
    samples = 500 if args.quick else CHOICE_SAMPLES

    best, spec_texts = {}, {}
    for path in SPECS:
        text = search_spec(path, args.quick)
        directory = run_sweep(out / f"search-{path.stem.removeprefix('images_')}", text, args.workers)
        for entry in comparing.compare([directory]).best_configs:
            best[model_of(entry["group"])] = entry
            spec_texts[model_of(entry["group"])] = text
    seed_dirs, chosen = {}, {}
    for model in MODELS:
        name = f"seeds-{model}" + (f"-{args.seed_budget:g}s" if args.seed_budget else "")
        seed_dirs[model], chosen[model] = seed_runs(
            out / name, spec_texts[model], best[model], args, samples, args.seed_budget
        )
    (out / CHOSEN).write_text(dumps(chosen) + "\n")

    docs = out if args.quick else ROOT / "docs" / "benchmarks"

    figure_from_benchmark(out).savefig(docs / "images.png", dpi=110)
    budget = args.seed_budget or tomllib.loads(spec_texts["vae"])["base"]["time_budget_s"]
    curve_figure(chosen, budget).savefig(docs / "images_budget.png", dpi=110)
    table = docs / "images.md"
    table.write_text(render(args, spec_texts, best, seed_dirs, chosen, command))
    print(f"wrote {table}")


if __name__ == "__main__":
    main()
