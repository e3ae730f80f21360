"""Stacked digits: how many of the 1,000 modes does each objective, with and without packing, reach?

Three independent scikit-learn digits stacked as colour channels (``--data stacked-digits``) give
1,000 equally likely modes, the image analogue of the toy grid (Metz et al. 2017's Stacked MNIST
protocol, as used by VEEGAN and PacGAN). A thin driver over `gankit sweep` and `gankit compare`, like
benchmarks/mode_coverage.py:

1. Search: benchmarks/specs/stacked_digits.toml gives ns, hinge and WGAN-GP, each with and without
   PacGAN2 packing, the same DCGAN networks, the same number of Optuna trials over the two learning
   rates, each trial the same training CPU time (``time_budget_s``), scored by `gankit eval`'s KL of
   the mode histogram to uniform on 26,000 samples (each channel classified by the shipped digit
   classifier). Two more searches give the three unpacked objectives again with G's weights averaged
   (ema_decay 0.999), with gankit's ramp-up (specs/stacked_digits_ema.toml) and without it
   (specs/stacked_digits_ema_plain.toml), under the same protocol.
2. Seeds: each cell's best configuration is trained again on fresh seeds (100, 101, ...) and scored
   the same way; the table is `gankit compare` of them (95 % t intervals of the mean).

The published Stacked-MNIST rows sit beside ours: *their digits are MNIST's (28x28, 60,000 images)
and their networks and budgets differ*, so they are a reference, not a like-for-like comparison.

3. Budget curve (``--curve-budget S``): the best ``--curve-recipes`` cells of the table are trained
   again on the same fresh seeds for S CPU-seconds, every checkpoint (one every 500 steps) scored
   the same way, so the page shows whether KL was still falling when the search's budget ended.

    nice -n 10 python benchmarks/stacked_digits.py --workers 2   # docs/benchmarks/stacked_digits.md
    nice -n 10 python benchmarks/stacked_digits.py --workers 2 --curve-budget 480   # + budget curve
    python benchmarks/stacked_digits.py --quick   # smoke test: runs/stacked-digits-quick

Rerunning the same command resumes every sweep (finished trials are kept) and re-renders the page.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

import numpy as np
import tomllib
import torch
from images import QUICK_HELP, search_spec
from mode_coverage import (
    FRESH_SEEDS,
    ci_text,
    clearly_better,
    curve_table,
    driver_arguments,
    plot_curves,
    run_sweep,
    seeds_spec,
    toml_text,
)

from gankit.engine.loop import ramped_ema_decay
from gankit.metrics.evaluate import checkpoint_samples
from gankit.metrics.labels import STACKED_SAMPLES, mode_histogram_metrics, stacked_modes
from gankit.rundir import CHECKPOINTS, EVAL, atomic_write_bytes, checksum_path, dumps, list_checkpoints
from gankit.runs import compare as comparing
from gankit.runs import sweep as sweeps
from gankit.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits.toml"
EMA_SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits_ema.toml"  # the unpacked cells with G's EMA
PLAIN_EMA_SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits_ema_plain.toml"  # the same without its ramp
# each a sweep of its own: DIR/search, DIR/search-ema, ...
SEARCHES = (("search", SPEC), ("search-ema", EMA_SPEC), ("search-ema-plain", PLAIN_EMA_SPEC))
METRICS = (("modes", 1), ("kl_to_uniform", 3), ("fid", 1))
GOAL_KL = 0.1  # all 1,000 modes at about PacGAN's published KL (0.06-0.07)
MAX_SPEED_GAP = 0.15  # an EMA row's steps may differ this much (relative) from its objective's: noise
# How a KL curve ends, one rule for both stacked-digits pages (``ending``): over its last stretch, from
# the point nearest three quarters of the way to its end, a mean KL that moved by less than this
# fraction has levelled off; one that fell by this much or more was still falling
LEVEL_TOLERANCE = 0.05
CURVE_FILE = "curve.json"  # in a curve run: {step: modes and KL of that checkpoint}
CURVE_FIGURE_POINTS = 16  # the curve figure's points: the checkpoints nearest to 1/16, 2/16, ... of a run
# Published Stacked-MNIST rows (MNIST digits, 28x28; 26,000 samples, a pretrained MNIST classifier),
# checked against PacGAN's Table 2 (github.com/fjxmlzn/PacGAN, stacked_MNIST_experiments/results),
# which reprints VEEGAN's Table 2 in its first four rows; its "±" is a standard error over 10 trials.
VEEGAN_TABLE = "VEEGAN (Srivastava et al. 2017), Table 2"
PACGAN_TABLE = "PacGAN (Lin et al. 2018), Table 2 (VEEGAN's setting; ± standard error, 10 trials)"
PUBLISHED = [
    ("DCGAN", VEEGAN_TABLE, "99.0", "3.40"),
    ("ALI", VEEGAN_TABLE, "16.0", "5.40"),
    ("Unrolled GAN", VEEGAN_TABLE, "48.7", "4.32"),
    ("VEEGAN", VEEGAN_TABLE, "150.0", "2.95"),
    ("DCGAN (PacGAN's implementation)", PACGAN_TABLE, "78.9 ± 6.46", "4.50 ± 0.127"),
    ("PacDCGAN2", PACGAN_TABLE, "1000.0 ± 0.00", "0.06 ± 0.003"),
    ("PacDCGAN3", PACGAN_TABLE, "1000.0 ± 0.00", "0.06 ± 0.003"),
    ("PacDCGAN4", PACGAN_TABLE, "1000.0 ± 0.00", "0.07 ± 0.005"),
]


def cell_label(cell: dict) -> str:
    """{'objective': 'ns', 'pack': 2} -> 'ns + PacGAN2'; {..., 'ema_decay': 0.999} -> 'ns + EMA';
    {..., 'ema_decay': 0.999, 'ema_rampup': 0} -> 'ns + plain EMA' (no ramp-up)."""
    label = cell["objective"] + (f" + PacGAN{cell['pack']}" if cell.get("pack", 1) > 1 else "")
    if not cell.get("ema_decay"):
        return label
    return label + (" + plain EMA" if cell.get("ema_rampup") == 0 else " + EMA")


def directory_name(label: str) -> str:
    """'hinge + plain EMA' -> 'hinge-plain-EMA' (the seeds-* and curve-* directories)."""
    return label.replace(" + ", "-").replace(" ", "-")


def steps_trained(directory: Path) -> list[int]:
    """The generator steps each seed run bought within its CPU-time budget (its last logged step)."""
    from gankit.rundir import read_metrics

    return sorted(read_metrics(run)[-1]["step"] for run in (directory / sweeps.TRIALS).iterdir())


def overlaps(a: dict, b: dict) -> bool:
    """Whether two compare rows' 95 % CIs overlap (then the table does not tell them apart)."""
    return not clearly_better(a, b) and not clearly_better(b, a)


def change_text(before: dict, after: dict, before_name: str = "") -> str:
    """'lowers KL from 0.274 to 0.229 (CIs overlap)': how a lever moves a compare row's KL."""
    change = "lowers" if after["mean"] < before["mean"] else "raises"
    verdict = "CIs overlap" if overlaps(before, after) else "CIs apart"
    return f"{change} KL from {before['mean']:.3f}{before_name} to {after['mean']:.3f} ({verdict})"


def reading(rows: dict, ranked: list[str]) -> list[str]:
    """What the KL column supports, in sentences written from the numbers (not by hand)."""
    best = ranked[0]
    tied = [label for label in ranked[1:] if overlaps(rows[best], rows[label])]
    text = [
        f"- **Lowest KL: {best}** ({rows[best]['mean']:.3f})."
        + (
            f" Its CI overlaps {', '.join(tied)}: at this budget the table does not tell them apart."
            if tied
            else " Its CI lies below every other row's."
        )
    ]
    reached = [label for label in ranked if rows[label]["mean"] <= GOAL_KL]
    text.append(
        f"- **Goal (KL <= {GOAL_KL}):** "
        + (f"reached by {', '.join(reached)}." if reached else "not reached by any recipe at this budget.")
    )
    for label in ranked:  # each lever (PacGAN2, EMA) against the same objective without it
        objective, _, lever = label.partition(" + ")
        if not lever or objective not in rows:
            continue
        text.append(f"- **{lever} with {objective}** {change_text(rows[objective], rows[label])}.")
    for label in ranked:  # the EMA's ramp-up against the plain EMA of the same objective
        plain = label.removesuffix(" + EMA") + " + plain EMA"
        if label.endswith(" + EMA") and plain in rows:
            change = change_text(rows[plain], rows[label], " (plain EMA)")
            text.append(f"- **The EMA's ramp-up with {label.removesuffix(' + EMA')}** {change}.")
    return text


def speed_check(labels: list[str], seed_dirs: dict) -> list[str]:
    """A warning when an EMA row bought clearly more or fewer steps than its objective's plain row.

    Averaging G's weights costs next to nothing, so at an equal CPU-time budget both rows should train
    about as many steps; a gap means the sweeps ran at different machine speeds (another host, another
    load), and then their budgets were not equal.
    """
    median = {label: float(np.median(steps_trained(seed_dirs[label]))) for label in labels}
    gaps = []
    for label in labels:
        objective = label.split(" + ")[0]
        if "EMA" in label and objective in median:
            ratio = median[label] / median[objective]
            if abs(ratio - 1) > MAX_SPEED_GAP:
                gaps.append(
                    f"{label} {median[label]:,.0f} steps against {objective}'s {median[objective]:,.0f}"
                )
    if not gaps:
        return []
    return [
        f"- **Unequal speed: not a fair comparison.** {'; '.join(gaps)} (median over seeds, same CPU",
        "  budget). The sweeps ran at different machine speeds; rerun them on one machine.",
    ]


def ema_note(best: dict, seed_dirs: dict) -> list[str]:
    """How far back each EMA row's average reaches when its budget ends, and how much of a plain EMA
    is still the first generator (gankit.engine.loop.ramped_ema_decay)."""
    from gankit.rundir import read_config

    reaches = []
    for label, entry in best.items():
        if entry["cell"].get("ema_decay"):
            fewest = steps_trained(seed_dirs[label])[0]
            config = read_config(next((seed_dirs[label] / sweeps.TRIALS).iterdir()))
            decay = ramped_ema_decay(config["ema_decay"], config["ema_rampup"], fewest)
            text = f"{label}, {fewest:,} steps: half-life {math.log(0.5) / math.log(decay):,.0f} steps"
            if config["ema_rampup"] == 0:
                text += f", the first generator's weight {decay**fewest:.1%}"
            reaches.append(text)
    if not reaches:
        return []
    return [
        "- **EMA and short runs.** A plain EMA keeps the generator after step 1 at weight d^t in its",
        "  average; the ramp-up (StyleGAN2-ADA's rule, gankit's default) caps the half-life at 5 % of the",
        "  steps trained so far, so a run stopped by its budget samples an average of its recent",
        "  generators, at the price of a shorter average. In the run with the fewest steps, at the end:",
        *(f"  {text}{';' if i < len(reaches) - 1 else '.'}" for i, text in enumerate(reaches)),
    ]


def first_eval(seed_dir: Path) -> dict:
    """The eval.json of a seed sweep's first run (it holds the real stacks' floor)."""
    return json.loads(next((seed_dir / sweeps.TRIALS).iterdir()).joinpath(EVAL).read_text())


def score_curve(run_dir: Path, n: int) -> dict[int, dict]:
    """Modes and KL to uniform of every checkpoint of a run (``n`` samples, `gankit eval`'s noise
    seed), kept in its curve.json; then only its last checkpoint is kept (a few MB each)."""
    path = run_dir / CURVE_FILE
    if not path.is_file():
        curve = {
            step: mode_histogram_metrics(stacked_modes(samples))
            for step, samples in checkpoint_samples(run_dir, n, sweeps.EVAL_SEED)
        }
        atomic_write_bytes(path, (dumps(curve) + "\n").encode())
        for checkpoint in list_checkpoints(run_dir / CHECKPOINTS)[:-1]:
            checkpoint.unlink()
            checksum_path(checkpoint).unlink(missing_ok=True)
    return {int(step): metrics for step, metrics in json.loads(path.read_text()).items()}


def curve_runs(out: Path, search_text: str, best: dict, args) -> list[dict[int, dict]]:
    """The best configuration on the table's fresh seeds for ``args.curve_budget`` CPU-seconds,
    keeping every checkpoint; each run's scored checkpoints (``score_curve``)."""
    values = tomllib.loads(seeds_spec(search_text, best, args.seeds))
    # threads = 1: a step costs the CPU time it cost in the table's runs (one thread each, two workers);
    # with more threads than free cores, OpenMP's waiting threads burn the CPU-time budget
    values["base"] |= {"time_budget_s": args.curve_budget, "keep_checkpoints": 100_000, "threads": 1}
    directory = run_sweep(out, toml_text(values), args.workers)
    n = 2000 if args.quick else STACKED_SAMPLES
    return [score_curve(run, n) for run in sorted((directory / sweeps.TRIALS).iterdir())]


def curve_points(curves: list[dict[int, dict]], budget: float, step_budget: float) -> list[dict]:
    """The seeds' KL at every multiple of ``step_budget`` CPU-seconds up to ``budget`` (and at
    ``budget``), with a compare-style 95 % CI.

    A run's checkpoint nearest to fraction f of its steps stands for f x budget CPU-seconds (every
    step of a run costs about the same CPU time)."""
    times = [step_budget * k for k in range(1, int(budget // step_budget) + 1)]
    times += [budget] if not times or times[-1] < budget else []
    points = []
    for cpu_s in times:
        values = []
        for curve in curves:
            target = max(curve) * cpu_s / budget
            values.append(curve[min(curve, key=lambda step: abs(step - target))]["kl_to_uniform"])
        points.append({"cpu_s": cpu_s} | summarize(values, "minimize"))
    return points


def last_stretch_start(points: list[dict], position: str) -> dict:
    """The curve's point (before its last) nearest three quarters of the way to its end, by
    ``position`` ("cpu_s" or "step"): where the last stretch that ``ending`` judges begins."""
    end = points[-1][position]
    return min(points[:-1], key=lambda point: abs(point[position] - 0.75 * end))


def ending(points: list[dict], position: str, where) -> str:
    """'was still falling over its last stretch (0.148 at 240 CPU-s, CIs overlap)': how a KL curve
    ends, by ENDING_RULE; ``where(point)`` names a point's position in words."""
    before, last = last_stretch_start(points, position), points[-1]
    change = (last["mean"] - before["mean"]) / before["mean"]
    if abs(change) < LEVEL_TOLERANCE:
        verdict = "had levelled off"
    else:
        verdict = "was still falling" if change < 0 else "was rising again"
    if None in (before["ci_low"], last["ci_low"]):
        spread = "one seed, no CI"
    else:
        spread = "CIs overlap" if overlaps(before, last) else "CIs apart"
    return f"{verdict} over its last stretch ({before['mean']:.3f} at {where(before)}, {spread})"


def ending_rule() -> str:
    """What ``ending``'s words mean, said once on each page that uses them."""
    tolerance = f"{100 * LEVEL_TOLERANCE:g} %"
    return (
        "A curve's last stretch runs from its column nearest three quarters of the way to its end. Over"
        f' it, a mean KL that fell by {tolerance} or more "was still falling", one that rose by as much "was'
        f' rising again", one that moved by less "had levelled off"; "CIs apart" or "CIs overlap" says'
        " whether the seeds' 95 % CIs at the stretch's two ends tell them apart."
    )


def curve_section(curves: dict[str, list[dict]], budget: float, base: dict, table: dict) -> list[str]:
    """The budget curve's table and what it says, written from the numbers."""
    first_curve = next(iter(curves.values()))
    lines = [
        "## Budget curve",
        "",
        f"The {_lowest_kl(len(curves))} above, trained again on the same {first_curve[0]['n']} fresh"
        f" seeds for {budget:g} CPU-seconds ({budget / base['time_budget_s']:g}x the table's budget).",
        f"Every checkpoint (one every {base['checkpoint_every']} steps) is scored the same way; the"
        " checkpoint nearest to a fraction of a run's steps stands for that fraction of its CPU time"
        " (each step costs about the same). KL to uniform, mean [95 % CI]:",
        "",
        *curve_table("recipe", [f"{point['cpu_s']:g} CPU-s" for point in first_curve], curves, 3),
        "",
    ]
    lines += [ending_rule(), ""]
    for label, points in curves.items():
        first, last = points[0], points[-1]
        if clearly_better(last, first):
            verdict = "fell (its last CI lies below its first)"
        elif clearly_better(first, last):
            verdict = "rose (its last CI lies above its first)"
        else:
            verdict = "did not change clearly (its first and last CIs overlap)"
        end = ending(points, "cpu_s", lambda point: f"{point['cpu_s']:g} CPU-s")
        goal = kl_goal(last)
        if goal == "surely":
            reached = "reaches (its whole CI)"
        elif goal == "on average":
            upper = "" if last["ci_high"] is None else f": the CI of the mean reaches {last['ci_high']:.3f}"
            reached = f"reaches on average (not surely{upper})"
        else:
            reached = "does not reach"
        lines.append(
            f"- **{label}**: KL {first['mean']:.3f} at {first['cpu_s']:g} CPU-s (the table's run of the same"
            f" seeds: {table[label]['mean']:.3f}), {last['mean']:.3f} at {last['cpu_s']:g} CPU-s."
            f" It {verdict}, {end}, and {reached} the goal (KL <= {GOAL_KL})."
        )
    return lines + ["", "![KL to uniform against training CPU time](stacked_digits_curve.png)", ""]


def kl_goal(row: dict) -> str | None:
    """Whether a compare-style row meets KL <= GOAL_KL: "surely" (its whole 95 % CI), "on average"
    (its mean only) or None. Both stacked-digits pages judge the goal by this one rule."""
    if row["ci_high"] is not None and row["ci_high"] <= GOAL_KL:
        return "surely"
    return "on average" if row["mean"] <= GOAL_KL else None


def goal_levels(floor: float) -> list[tuple]:
    """The horizontal lines of a KL figure: the goal and the real stacks' floor."""
    return [(GOAL_KL, f"goal (KL {GOAL_KL})", "green"), (floor, "real stacks (floor)", "grey")]


def _lowest_kl(n: int) -> str:
    return "lowest-KL recipe" if n == 1 else f"{n} lowest-KL recipes"


def curve_figure(curves: dict[str, list[dict]], floor: float):
    """KL to uniform against CPU time, one line with its CI band per recipe, the goal and the floor."""
    lines = {label: ([point["cpu_s"] for point in points], points) for label, points in curves.items()}
    title = "Stacked digits: KL to uniform by budget (mean, 95 % CI over seeds)"
    figure = plot_curves(lines, "KL(modes || uniform)", title, goal_levels(floor))
    figure.axes[0].set_ylim(bottom=0)
    return figure


def render(args, spec: dict, best: dict, seed_dirs: dict, command: str, curves: dict) -> str:
    base = spec["base"]
    rows = {
        label: comparing.compare([seed_dirs[label]], by=[], metric="kl_to_uniform").rows[0] for label in best
    }
    ranked = sorted(best, key=lambda label: rows[label]["mean"])
    mode_means = [
        comparing.compare([seed_dirs[label]], by=[], metric="modes").rows[0]["mean"] for label in best
    ]
    floor = first_eval(seed_dirs[ranked[0]])
    lines = [
        "# Stacked digits: 1,000 modes",
        "",
        f"Generated by `benchmarks/stacked_digits.py` (written by `{command}`); do not edit by hand.",
        "",
        f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores,"
        f" torch {torch.__version__}.",
        "",
        "Protocol (Lucic et al. 2018: equal budget, the same search for every contender, fresh seeds):",
        "",
        "- **Data.** `--data stacked-digits`: three independent 8x8 scikit-learn digits as the R, G, B",
        "  channels, 1,000 equally likely modes, stacked afresh every batch.",
        f"- **Models.** ns, hinge and WGAN-GP, each without and with PacGAN2 packing (D scores 2 samples"
        f" at once), DCGAN networks of width {base['width']}, batch {base['batch_size']}; the unpacked"
        " three also sampled from an EMA of G's weights (`ema_decay` 0.999): with gankit's ramp-up (+ EMA,",
        "  specs/stacked_digits_ema.toml) and without it (+ plain EMA, specs/stacked_digits_ema_plain.toml),",
        "  each searched the same way in a sweep of its own; EMA was added after a 2-seed probe.",
        f"- **Equal budget.** Every run stops after {base['time_budget_s']} s of training CPU time"
        " (`time_budget_s`): WGAN-GP's",
        "  5 critic updates and packing's wider D cost generator updates, not extra compute.",
        f"- **Search.** {spec['trials']} Optuna trials (TPE, seeded) per cell over g_lr and d_lr in"
        " [1e-5, 1e-2] (log),",
        "  scored by the KL of the mode histogram to uniform.",
        f"- **Seeds.** Each cell's best configuration trained again on {args.seeds} fresh seeds"
        f" ({FRESH_SEEDS}..{FRESH_SEEDS + args.seeds - 1}).",
        "- **Metrics.** `gankit eval`: 26,000 samples, each channel classified by the shipped digit",
        "  classifier; modes hit (of 1,000) and KL(p || uniform) of the mode histogram (natural log);",
        "  FID on the first 5,000 samples (shipped feature network). Mean [95 % Student's t interval of"
        " the mean].",
        "  The floor row is the same classifier on 26,000 real stacks (its 2 % errors cost real data a",
        "  little).",
        "",
        "Sorted by KL to uniform (lower is better):",
        "",
        "| recipe | source | best configuration (search) | seeds | steps trained | modes (of 1,000) |"
        " KL to uniform | FID |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in ranked:
        cells = [
            ci_text(comparing.compare([seed_dirs[label]], by=[], metric=name).rows[0], 1, digits)
            for name, digits in METRICS
        ]
        steps = steps_trained(seed_dirs[label])
        params = ", ".join(f"{key}={value:.2g}" for key, value in best[label]["params"].items())
        lines.append(
            f"| {label} | gankit, stacked 8x8 digits | {params} | {rows[label]['n']} |"
            f" {steps[0]}–{steps[-1]} | " + " | ".join(cells) + " |"
        )
    lines.append(
        f"| real stacks (floor) | the classifier on 26,000 real stacks | | | | {floor['floor_modes']} | "
        f"{floor['floor_kl_to_uniform']:.3f} | |"
    )
    for name, source, modes, kl in PUBLISHED:
        lines.append(f"| {name} | {source}, Stacked MNIST (28x28) | | | | {modes} | {kl} | |")
    lines += [
        "",
        "**The published rows are not like for like.** They are Stacked MNIST: MNIST's 28x28 digits",
        "(60,000 of them), the authors' networks, budgets and MNIST classifier; they were copied from",
        "the papers' tables named in the source column. gankit's goal is all 1,000 modes with",
        "KL <= 0.1, the level PacGAN reports.",
        "",
        "## Reading the table",
        "",
        *reading(rows, ranked),
        *speed_check(ranked, seed_dirs),
        *ema_note(best, seed_dirs),
        "",
        f"What our rows cannot show: {spec['trials']} search trials and {base['time_budget_s']} CPU-seconds a"
        " run are small,",
        *(
            [
                "and the table's runs were scored only when their budget ended: the budget curve below",
                "shows how KL moves with more CPU time for the leading recipes only. Our 8x8 digits and",
                "their classifier",
            ]
            if curves
            else [
                "and no run was scored before its budget ended, so there is no budget curve: a cell whose KL",
                "was still falling is ranked at this budget, not converged. Our 8x8 digits and their"
                " classifier",
            ]
        ),
        "make an easier task than 28x28 Stacked MNIST (our rows reach"
        f" {min(mode_means):.0f}-{max(mode_means):.0f} modes on average, the",
        "published unpacked DCGANs 78.9-99); compare our rows with each other.",
        "",
    ]
    if curves:
        lines += curve_section(curves, args.curve_budget, base, rows)
    lines += [
        f"The sweeps are in `{args.out_display}` (search, search-ema and search-ema-plain, one seeds-*"
        " directory per cell" + (", one curve-* directory per curve recipe" if curves else "") + ";",
        f"`gankit compare {args.out_display}/search` reprints the search).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    def more(parser):
        parser.add_argument(
            "--curve-budget",
            type=float,
            default=None,
            help="also train the leading recipes' best configurations on the same seeds for this many"
            " CPU-seconds, scoring every checkpoint: a budget curve (default: none)",
        )
        parser.add_argument(
            "--curve-recipes", type=int, default=2, help="how many of the lowest-KL recipes get a curve (2)"
        )

    args = driver_arguments(argv, "stacked-digits", __doc__, QUICK_HELP, more)
    if args.curve_budget is not None and (args.curve_budget <= 0 or args.curve_recipes < 1):
        raise SystemExit("--curve-budget must be > 0 CPU-seconds and --curve-recipes >= 1")
    out, command = args.out, args.command

    specs = [tomllib.loads(search_spec(path, args.quick)) for _, path in SEARCHES]
    shared = ("metric", "trials", "seed", "base", "search")  # what makes the searches' budgets equal
    if any(spec[key] != specs[0][key] for spec in specs for key in shared):
        raise SystemExit(f"{', '.join(str(path) for _, path in SEARCHES)} must share {', '.join(shared)}")
    best, seed_dirs, texts = {}, {}, {}
    for search_name, spec_path in SEARCHES:
        text = search_spec(spec_path, args.quick)
        search = run_sweep(out / search_name, text, args.workers)
        for entry in comparing.compare([search]).best_configs:
            label = cell_label(entry["cell"])
            best[label], texts[label] = entry, text
            name = "seeds-" + directory_name(label)
            seed_dirs[label] = run_sweep(out / name, seeds_spec(text, entry, args.seeds), args.workers)
    docs = out if args.quick else ROOT / "docs" / "benchmarks"
    curves, dense = {}, {}
    if args.curve_budget:
        kl = {label: comparing.compare([seed_dirs[label]], metric="kl_to_uniform").rows[0] for label in best}
        for label in sorted(best, key=lambda label: kl[label]["mean"])[: args.curve_recipes]:
            name = f"curve-{directory_name(label)}-{args.curve_budget:g}s"
            runs = curve_runs(out / name, texts[label], best[label], args)
            search_budget = tomllib.loads(texts[label])["base"]["time_budget_s"]
            curves[label] = curve_points(runs, args.curve_budget, search_budget)
            dense[label] = curve_points(runs, args.curve_budget, args.curve_budget / CURVE_FIGURE_POINTS)
        floor = first_eval(seed_dirs[label])["floor_kl_to_uniform"]
        curve_figure(dense, floor).savefig(docs / "stacked_digits_curve.png", dpi=110)
    page = docs / "stacked_digits.md"
    page.write_text(render(args, tomllib.loads(text), best, seed_dirs, command, curves))
    print(f"wrote {page}")


if __name__ == "__main__":
    main()
