"""Stacked digits: how many of the 1,000 modes does each objective, with and without packing, reach?

Three independent scikit-learn digits stacked as colour channels (``--data stacked-digits``) give
1,000 equally likely modes, the image analogue of the toy grid (Metz et al. 2017's Stacked MNIST
protocol, as used by VEEGAN and PacGAN). A driver over `gankit sweep` whose record is its journals
(as benchmarks/mode_coverage.py): every sweep keeps its Optuna studies in a journal file under
benchmarks/journals/, committed with the repository, and the page is written from them alone.

1. Search: benchmarks/specs/stacked_digits.toml gives ns, hinge and WGAN-GP, each with and without
   PacGAN2 packing, the same DCGAN networks and the same search: 40 configurations of the two
   learning rates, 10 random then TPE, each trained for 240 CPU-seconds (``time_budget_s``, one
   thread, fp32) with the tuning seed 0, its modes and KL on 5,000 samples evaluated every 250 steps
   and cut by successive halving at 750, 2,250 and 6,750 steps; scored by `gankit eval`'s KL of the mode
   histogram to uniform on 26,000 samples (each channel classified by the shipped digit classifier).
   Two more searches give the three unpacked objectives again with G's weights averaged (ema_decay
   0.999), with gankit's ramp-up (specs/stacked_digits_ema.toml) and without it
   (specs/stacked_digits_ema_plain.toml), under the same protocol. Two more give R3GAN's recipe,
   rpgan with R1 and R2 (specs/stacked_digits_rpgan.toml), and its R2 ablation, rpgan with R1 alone
   (specs/stacked_digits_rpgan_r1.toml): the same protocol and learning-rate ranges, and their penalty
   weights searched too, within the same 40 configurations (a spec may search more keys than the
   first, never other ranges of the keys it shares: ``check_specs``).
2. Report seeds: each cell's best configuration is trained again on 5 report seeds (100..104).
3. Page (docs/benchmarks/stacked_digits.md): the cells whose report seeds' KL curve settled
   (gankit.stats.settled), ranked by KL with both budgets (generator steps, CPU-s); the others
   as curves; each search's cost, best-so-far curve and whether it flattened.

KL to uniform uses no real images, so there is no validation/test split to hold out: the tuning seed
and the report seeds are what is kept apart (the FID column is against the training stacks). The
published Stacked-MNIST rows sit beside ours: *their digits are MNIST's (28x28, 60,000 images) and their
networks and budgets differ*, so they are a reference, not a like-for-like comparison.

Cost, measured with one thread on the loaded 2-core machine: a generator step of the width-32 DCGANs
at batch 64 takes about 20-24 ms of CPU for ns and hinge, 18 with PacGAN2, 110 for WGAN-GP (5 critic
steps); an evaluation of 5,000 samples about 1.5 s. A full trial is 240 CPU-s of training plus its
evaluations: ~300 s for ns-like cells (~10,000 steps, 40 evaluations), ~255 s for WGAN-GP (~2,200
steps); the longest about 5 CPU-minutes. Successive halving makes 40 configurations cost about 9 full
trials of the 8 ns/hinge cells but about 22 of the 4 WGAN-GP cells (their short runs reach the first
cut at a third of their steps), and the 5 seeds add 5 each: 8 x 14 x 300 s + 4 x 27 x 255 s = about
17 CPU-hours. rpgan + R1 + R2 costs about 1.7x ns's CPU a step (45 ms against 27 measured side by side,
R1's and R2's double backward), so ~5,000-6,500 steps in the budget, its trials cut at 750 and 2,250
only (about 14 full trials of ~280 s); rpgan + R1 about 1.2x (33 ms, ~7,000-9,000 steps, about 10 full
trials of ~290 s): with their seeds 19 x 280 s + 15 x 290 s = about 3 CPU-hours more, 20 in all; with
--workers 2 on two free cores about 10 hours.

    nice -n 10 python benchmarks/stacked_digits.py --workers 2   # run or continue, then write the page
    python benchmarks/stacked_digits.py --render                  # the page from the journals alone
    python benchmarks/stacked_digits.py --quick                   # smoke test (temp journals)

Stopped (Ctrl-C, SIGTERM), the same command continues; finished trials are never run again.
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
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
    seed_row,
    seeds_text,
    settled_text,
)
from mode_coverage import ci_text, clearly_better, driver_arguments, params_text, toml_text

from gankit.engine.loop import ramped_ema_decay
from gankit.objectives import OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits.toml"
EMA_SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits_ema.toml"  # the unpacked cells with G's EMA
PLAIN_EMA_SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits_ema_plain.toml"  # the same without its ramp
RPGAN_SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits_rpgan.toml"  # R3GAN's recipe: rpgan + R1 + R2
RPGAN_R1_SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits_rpgan_r1.toml"  # its R2 ablation: rpgan + R1
SPECS = [SPEC, EMA_SPEC, PLAIN_EMA_SPEC, RPGAN_SPEC, RPGAN_R1_SPEC]  # each a sweep and a journal of its own
# What makes the searches' budgets equal: every spec has the first's values of these, and its [search]
# holds the first's ranges unchanged; a spec may search more keys (a recipe's penalty weight is part of
# its configuration, searched within the same configurations and CPU)
SHARED = ("metric", "trials", "seed", "base")
JOURNALS = ROOT / "benchmarks" / "journals"
PREFIX = "stacked_digits"  # journals: stacked_digits*.journal (searches), stacked_digits_seeds_<cell>.journal
METRICS = (("modes", 1), ("kl_to_uniform", 3), ("kl_channels", 3), ("fid", 1))
CURVE_KEY = "eval_kl_to_uniform"  # the validation curve the settled rule reads (5,000 samples)
EXPECTED_CPU_HOURS = 20  # see the module docstring
GOAL_KL = 0.1  # all 1,000 modes at about PacGAN's published KL (0.06-0.07)
MAX_SPEED_GAP = 0.15  # an EMA row's steps may differ this much (relative) from its objective's: noise
# How a KL curve ends, one rule for both stacked-digits pages (``ending``): over its last stretch, from
# the point nearest three quarters of the way to its end, a mean KL that moved by less than this
# fraction has levelled off; one that fell by this much or more was still falling
LEVEL_TOLERANCE = 0.05
QUICK_HELP = (
    "ns and hinge unpacked and rpgan + R1 + R2 only, 3 configurations of 4 CPU-s, 2 seeds, temporary journals"
)
QUICK_SPECS = [SPEC, RPGAN_SPEC]  # --quick: a classic objective's search and one that searches more keys
QUICK_GRID = {SPEC: {"objective": ["ns", "hinge"], "pack": [1]}}  # --quick: a spec's grid, shrunk
QUICK = {"trials": 3, "n_startup_trials": 2, "min_resource": 1, "reduction_factor": 2}
QUICK_BASE = {"time_budget_s": 4, "width": 8, "log_every": 20, "eval_every": 20, "eval_samples": 1000}
# Published Stacked-MNIST rows (MNIST digits, 28x28; 26,000 samples, a pretrained MNIST classifier),
# checked against PacGAN's Table 2 (github.com/fjxmlzn/PacGAN, stacked_MNIST_experiments/results),
# which reprints VEEGAN's Table 2 in its first four rows; its "±" is a standard error over 10 trials.
# R3GAN's row: Huang et al. (NeurIPS 2024), their Stacked-MNIST table (the same protocol: 1,000 modes,
# reverse KL of the mode histogram to uniform). GDPP's row (Elfeki et al. 2019) is left out: its
# Stacked-MNIST numbers could not be checked against the paper when this row set was written.
VEEGAN_TABLE = "VEEGAN (Srivastava et al. 2017), Table 2"
PACGAN_TABLE = "PacGAN (Lin et al. 2018), Table 2 (VEEGAN's setting; ± standard error, 10 trials)"
R3GAN_TABLE = "Huang et al. (NeurIPS 2024), 'The GAN is dead; long live the GAN! A modern GAN baseline'"
PUBLISHED = [
    ("DCGAN", VEEGAN_TABLE, "99.0", "3.40"),
    ("ALI", VEEGAN_TABLE, "16.0", "5.40"),
    ("Unrolled GAN", VEEGAN_TABLE, "48.7", "4.32"),
    ("VEEGAN", VEEGAN_TABLE, "150.0", "2.95"),
    ("DCGAN (PacGAN's implementation)", PACGAN_TABLE, "78.9 ± 6.46", "4.50 ± 0.127"),
    ("PacDCGAN2", PACGAN_TABLE, "1000.0 ± 0.00", "0.06 ± 0.003"),
    ("PacDCGAN3", PACGAN_TABLE, "1000.0 ± 0.00", "0.06 ± 0.003"),
    ("PacDCGAN4", PACGAN_TABLE, "1000.0 ± 0.00", "0.07 ± 0.005"),
    ("R3GAN (RpGAN + R1 + R2)", R3GAN_TABLE, "1000", "0.029"),
]


def cell_label(cell: dict) -> str:
    """{'objective': 'ns', 'pack': 2} -> 'ns + PacGAN2'; {..., 'ema_decay': 0.999} -> 'ns + EMA';
    {..., 'ema_decay': 0.999, 'ema_rampup': 0} -> 'ns + plain EMA' (no ramp-up);
    {'objective': 'rpgan', 'r1_gamma': True, 'r2_gamma': True} -> 'rpgan + R1 + R2' (a searched key
    reads True, as journaled.read_cells passes it); {..., 'r2_gamma': 0} -> 'rpgan + R1'. A penalty
    weight the cell does not set is its objective's default (rpgan: R1 and R2 on)."""
    label = cell["objective"] + (f" + PacGAN{cell['pack']}" if cell.get("pack", 1) > 1 else "")
    defaults = OBJECTIVES[cell["objective"]].defaults if cell["objective"] in OBJECTIVES else {}
    for key, name in (("r1_gamma", "R1"), ("r2_gamma", "R2")):
        weight = cell.get(key)
        if weight if weight is not None else defaults.get(key):
            label += f" + {name}"
    if not cell.get("ema_decay"):
        return label
    return label + (" + plain EMA" if cell.get("ema_rampup") == 0 else " + EMA")


def check_specs(specs: list[tuple[Path, str]]) -> None:
    """Refuse searches whose budgets differ: every spec must have the first's SHARED values and search
    the first's ranges unchanged (the same budget of configurations and CPU for every contender); it may
    search more keys, e.g. a penalty weight, which is part of that recipe's configuration."""
    first_path, first = specs[0][0], tomllib.loads(specs[0][1])
    ranges = first.get("search", {})
    for path, text in specs[1:]:
        values = tomllib.loads(text)
        searched = values.get("search", {})
        differ = [key for key in SHARED if values.get(key) != first.get(key)]
        differ += [f"search.{key}" for key, value in ranges.items() if searched.get(key) != value]
        if differ:
            raise SystemExit(
                f"{path.name} must share {', '.join(SHARED)} and the search ranges of {', '.join(ranges)}"
                f" with {first_path.name} (it may search more keys, such as a penalty weight); it differs"
                f" in {', '.join(differ)}"
            )


def extra_searches(specs: list[tuple[Path, str]]) -> list[str]:
    """'rpgan + R1 + R2 also searches r1_gamma in [0.001, 10] (log), ...': per cell of a spec that
    searches keys beyond the first spec's, those keys and their ranges."""
    common = tomllib.loads(specs[0][1]).get("search", {})
    texts = []
    for _, text in specs:
        values = tomllib.loads(text)
        extra = {key: value for key, value in values.get("search", {}).items() if key not in common}
        if not extra:
            continue
        ranges = ", ".join(
            f"{key} in [{value['low']:g}, {value['high']:g}]" + (" (log)" if value.get("log") else "")
            for key, value in extra.items()
        )
        searched = dict.fromkeys(values.get("search", {}), True)
        grids = values.get("grid", {})
        for cell in (dict(zip(grids, combo, strict=True)) for combo in itertools.product(*grids.values())):
            texts.append(f"{cell_label(values['base'] | searched | cell)} also searches {ranges}")
    return texts


def directory_name(label: str) -> str:
    """'hinge + plain EMA' -> 'hinge-plain-EMA' (the seeds-* and curve-* directories)."""
    return label.replace(" + ", "-").replace(" ", "-")


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
            if len(ranked) > 1
            else " The only arm ranked."
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
    for label in ranked:  # R2 against the same recipe with R1 alone (R3GAN's ablation)
        without = label.removesuffix(" + R2")
        if label.endswith(" + R1 + R2") and without in rows:
            text.append(f"- **R2 with {without}** {change_text(rows[without], rows[label], ' (R1 alone)')}.")
    for label in ranked:  # the EMA's ramp-up against the plain EMA of the same objective
        plain = label.removesuffix(" + EMA") + " + plain EMA"
        if label.endswith(" + EMA") and plain in rows:
            change = change_text(rows[plain], rows[label], " (plain EMA)")
            text.append(f"- **The EMA's ramp-up with {label.removesuffix(' + EMA')}** {change}.")
    return text


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


def kl_goal(row: dict) -> str | None:
    """Whether a compare-style row meets KL <= GOAL_KL: "surely" (its whole 95 % CI), "on average"
    (its mean only) or None. Both stacked-digits pages judge the goal by this one rule."""
    if row["ci_high"] is not None and row["ci_high"] <= GOAL_KL:
        return "surely"
    return "on average" if row["mean"] <= GOAL_KL else None


def goal_levels(floor: float) -> list[tuple]:
    """The horizontal lines of a KL figure: the goal and the real stacks' floor."""
    return [(GOAL_KL, f"goal (KL {GOAL_KL})", "green"), (floor, "real stacks (floor)", "grey")]


def search_spec(path: Path, quick: bool) -> str:
    """The search spec as shipped, or shrunk for --quick (QUICK_SPECS: fewer, shorter trials, a smaller
    grid where QUICK_GRID names one)."""
    if not quick:
        return path.read_text()
    values = tomllib.loads(path.read_text()) | QUICK
    values["base"] |= QUICK_BASE
    values["grid"] |= QUICK_GRID.get(path, {})
    return toml_text(values)


def speed_check(rows: dict[str, dict]) -> list[str]:
    """A warning when an EMA row bought clearly more or fewer steps than its objective's plain row.

    Averaging G's weights costs next to nothing, so at an equal CPU-time budget both rows should train
    about as many steps; a gap means the sweeps ran at different machine speeds (another host, another
    load), and then their budgets were not equal. ``rows``: label -> {"steps": median steps}."""
    gaps = []
    for label, row in rows.items():
        objective = label.split(" + ")[0]
        if "EMA" in label and objective in rows:
            ratio = row["steps"] / rows[objective]["steps"]
            if abs(ratio - 1) > MAX_SPEED_GAP:
                gaps.append(
                    f"{label} {row['steps']:,.0f} steps against {objective}'s {rows[objective]['steps']:,.0f}"
                )
    if not gaps:
        return []
    return [
        f"- **Unequal speed: not a fair comparison.** {'; '.join(gaps)} (median over seeds, same CPU"
        " budget). The sweeps ran at different machine speeds; rerun them on one machine."
    ]


def ema_note(cells: list[Cell]) -> list[str]:
    """How far back each EMA row's average reaches when its budget ends, and how much of a plain EMA
    is still the first generator (gankit.engine.loop.ramped_ema_decay)."""
    reaches = []
    for cell in cells:
        if cell.cell.get("ema_decay") and cell.complete_seeds:
            fewest = min(r.steps for r in cell.complete_seeds)
            config = cell.complete_seeds[0].config
            decay = ramped_ema_decay(config["ema_decay"], config["ema_rampup"], fewest)
            text = f"{cell.label}, {fewest:,} steps: half-life {math.log(0.5) / math.log(decay):,.0f} steps"
            if config["ema_rampup"] == 0:
                text += f", the first generator's weight {decay**fewest:.1%}"
            reaches.append(text)
    if not reaches:
        return []
    return [
        "- **EMA and short runs.** A plain EMA keeps the generator after step 1 at weight d^t in its"
        " average; the ramp-up (StyleGAN2-ADA's rule, gankit's default) caps the half-life at 5 % of the"
        " steps trained so far, so a run stopped by its budget samples an average of its recent"
        " generators, at the price of a shorter average. In the run with the fewest steps, at the end: "
        + "; ".join(reaches)
        + "."
    ]


def floor_of(cells: list[Cell]) -> dict | None:
    """The real stacks through the same classifier (26,000 of them, as many as the samples): from the
    eval record a finished report seed keeps."""
    for cell in cells:
        for record in cell.complete_seeds:
            evaluated = (record.trial or {}).get("eval") or {}
            if "floor_kl_to_uniform" in evaluated:
                return evaluated
    return None


def arms(cells: list[Cell], direction: str):
    """(settled: label -> rows, ranked by KL; unsettled: [(cell, words)]; waiting: [words])."""
    settled, unsettled, waiting = {}, [], []
    for cell in cells:
        reading, words = settled_text(cell, CURVE_KEY)
        if reading is not None and reading.flat:
            rows = {
                name: seed_row(cell, name, "minimize" if name != "modes" else "maximize")
                for name, _ in METRICS
            }
            steps = [r.steps for r in cell.complete_seeds]
            rows |= {
                "steps": float(np.median(steps)),
                "steps_range": (min(steps), max(steps)),
                "words": words,
            }
            rows["cpu_time"] = seed_row(cell, "", "minimize", values=lambda r: r.trial["cpu_time"])
            settled[cell.label] = (cell, rows)
        elif reading is not None:
            unsettled.append((cell, words))
        elif cell.seeds_text is None:
            waiting.append(f"{cell.label} (search: {len(cell.finished)} of {cell.trials} trials finished)")
        else:
            waiting.append(f"{cell.label} ({len(cell.complete_seeds)} report seeds finished: {words})")
    order = sorted(settled, key=lambda label: settled[label][1]["kl_to_uniform"]["mean"])
    return {label: settled[label] for label in order}, unsettled, waiting


def render(cells: list[Cell], specs: list[tuple[Path, str]], args, journals: Path) -> str:
    first = tomllib.loads(specs[0][1])
    base = first["base"]
    settled, unsettled, waiting = arms(cells, first["direction"])
    command = "python benchmarks/stacked_digits.py"
    lines = page_head("Stacked digits: 1,000 modes", command, journals, EXPECTED_CPU_HOURS, cells, args.seeds)
    lines += [
        "Protocol (Lucic et al. 2018: equal budget, the same search for every contender, settled runs):",
        "",
        "- **Data.** `--data stacked-digits`: three independent 8x8 scikit-learn digits as the R, G, B"
        " channels, 1,000 equally likely modes, stacked afresh every batch.",
        "- **Models.** ns, hinge and WGAN-GP, each without and with PacGAN2 packing (D scores 2 samples"
        f" at once), DCGAN networks of width {base['width']}, batch {base['batch_size']}, one thread,"
        " fp32; the unpacked three also sampled from an EMA of G's weights (`ema_decay` 0.999), with"
        " gankit's ramp-up (+ EMA) and without it (+ plain EMA), each searched the same way in a sweep"
        " of its own; and R3GAN's recipe, rpgan (the relativistic pairing loss, Adam betas (0, 0.9)) with"
        " zero-centred penalties on real (R1) and generated (R2) stacks, beside its ablation with R1"
        " alone (R3GAN's paper reports that RpGAN + R1 fails on Stacked MNIST), a sweep each.",
        f"- **Equal budget.** Every run stops after {base['time_budget_s']} s of training CPU time"
        " (`time_budget_s`): WGAN-GP's 5 critic updates and packing's wider D cost generator steps,"
        " not extra compute; the table gives both.",
        f"- **Search.** {first['trials']} configurations per cell over g_lr and d_lr in [1e-5, 1e-2]"
        f" (log), the first {first['n_startup_trials']} at random, then TPE; modes and KL on"
        f" {base['eval_samples']:,} samples every {base['eval_every']} steps, cut by successive halving"
        " on that KL; a trial's score is `gankit eval`'s KL at its end."
        + (
            " rpgan's cells also search their penalty weights, within the same configurations and CPU (a"
            f" penalty weight is part of that recipe's configuration): {'; '.join(extra)}."
            if (extra := extra_searches(specs))
            else ""
        ),
        f"- **Seeds.** {seeds_text(cells)} KL to uniform uses no real images, so no split is held out:"
        " the seeds are what is kept apart (FID is against the training stacks).",
        "- **Metrics.** `gankit eval`: 26,000 samples, each channel classified by the shipped digit"
        " classifier; modes hit (of 1,000) and KL(p || uniform) of the mode histogram (natural log); of it,"
        " the channels' digits: the sum of the three channels' digit histograms' KLs to uniform, the part"
        " of the KL a digit drawn too rarely or too often in every channel makes (the rest is the channels'"
        " dependence, which the 1,000-bin histogram's sampling error inflates; docs/metrics.md); FID"
        " (shipped feature network). Mean [95 % Student t interval of the mean]. The floor row is the"
        " same classifier on as many real stacks (its 2 % errors cost real data a little).",
        "- **Settled** (`gankit.stats.settled`): over the last quarter of the steps the"
        " least-squares line through the report seeds' mean KL curve moves by no more than their standard"
        " deviation at the end. An arm that has not settled is a curve, not a rank.",
        "",
        "Settled arms, sorted by KL to uniform (lower is better):",
        "",
        "| recipe | best configuration (search) | seeds | generator steps | CPU-s per run |"
        " modes (of 1,000) | KL to uniform | of it, the channels' digits | FID | KL curve, last ¼ |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, (cell, rows) in settled.items():
        low, high = rows["steps_range"]
        cells_text = " | ".join(ci_text(rows[name], 1, digits) for name, digits in METRICS)
        lines.append(
            f"| {label} | {params_text(cell.best['params'])} | {rows['kl_to_uniform']['n']} |"
            f" {low:,}–{high:,} | {ci_text(rows['cpu_time'], 1, 0)} | {cells_text} | {rows['words']} |"
        )
    floor = floor_of(cells)
    if floor is not None:
        lines.append(
            f"| real stacks (floor) | the classifier on {floor['n']:,} real stacks | | | |"
            f" {floor['floor_modes']} | {floor['floor_kl_to_uniform']:.3f} |"
            f" {floor['floor_kl_channels']:.3f} | | |"
        )
    for name, source, modes, kl in PUBLISHED:
        lines.append(f"| {name} | {source}, Stacked MNIST (28x28) | | | | {modes} | {kl} | | | |")
    lines += [
        "",
        "**The published rows are not like for like.** They are Stacked MNIST: MNIST's 28x28 digits"
        " (60,000 of them), the authors' networks, budgets and MNIST classifier; they were copied from the"
        " papers' tables named in the source column; each scores 26,000 samples with its own trained MNIST"
        " classifier, where ours are 8x8 scikit-learn digits and the shipped digit classifier. gankit's goal"
        " is all 1,000 modes with KL <= 0.1, the level PacGAN reports; R3GAN reports 0.029.",
        "",
    ]
    if unsettled:
        lines += [
            "Not settled: curves only, not ranked (the report seeds' mean KL on"
            f" {base['eval_samples']:,} samples at ¼, ½, ¾ and the end of their common evaluated steps).",
            "",
            "| recipe | best configuration (search) | KL: step = value | settled rule |",
            "|---|---|---|---|",
        ]
        for cell, words in unsettled:
            marks, means = curve_points(cell, CURVE_KEY)
            points = ", ".join(f"{m:,} = {v:.3g}" for m, v in zip(marks, means, strict=True))
            lines.append(f"| {cell.label} | {params_text(cell.best['params'])} | {points} | {words} |")
        lines.append("")
    if waiting:
        lines += [f"Not yet measured: {'; '.join(waiting)}.", ""]
    if settled:
        rows = {label: value[1]["kl_to_uniform"] for label, value in settled.items()}
        lines += [
            "## Reading the table",
            "",
            *reading(rows, list(settled)),
            *speed_check({label: value[1] for label, value in settled.items()}),
            *ema_note([cell for cell, _ in settled.values()]),
            "",
        ]
    lines += [
        *search_lines(cells, first["direction"], first["metric"], "stacked_digits_search.png", "KL"),
        f"What our rows cannot show: {base['time_budget_s']} CPU-seconds a run is one budget (an arm not"
        " settled there is a curve, and [stacked_digits_long.md](stacked_digits_long.md) trains one recipe"
        " longer); our 8x8 digits and their classifier make an easier task than 28x28 Stacked MNIST;"
        " compare our rows with each other.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    def more(parser) -> None:
        parser.add_argument("--render", action="store_true", help="only write the page, from the journals")
        parser.add_argument("--journals", type=Path, help="(benchmarks/journals; --quick: OUT/journals)")
        parser.add_argument("--page", type=Path, help="(docs/benchmarks/stacked_digits.md; --quick: OUT/)")

    args = driver_arguments(argv, "stacked-digits", __doc__, QUICK_HELP, more)
    journals = args.journals or (args.out / "journals" if args.quick else JOURNALS)
    page = args.page or (args.out if args.quick else ROOT / "docs" / "benchmarks") / "stacked_digits.md"

    def body() -> None:
        paths = QUICK_SPECS if args.quick else SPECS
        specs = [(path, search_spec(path, args.quick)) for path in paths]
        check_specs(specs)
        if args.render:
            cells = read_cells(specs, journals, args.seeds, cell_label, PREFIX)
        else:
            cells = run_cells(specs, journals, args.out, args.workers, args.seeds, cell_label, PREFIX)
        page.parent.mkdir(parents=True, exist_ok=True)
        plot_search(cells, "minimize", "KL to uniform", page.parent / "stacked_digits_search.png")
        page.write_text(render(cells, specs, args, journals))
        print(f"wrote {page}")

    guarded(body, lambda: journals)


if __name__ == "__main__":
    main(sys.argv[1:])
