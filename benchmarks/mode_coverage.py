"""Mode coverage of every objective on the ring and the grid: an equal search, then settled seeds.

A driver over `gankit sweep` and `gankit compare` whose record is its journals: every sweep keeps
its Optuna studies in a journal file under benchmarks/journals/ (one per sweep, named after its
spec), committed with the repository, and the page is written from those journals alone.

1. Search: benchmarks/specs/mode_coverage_{gan,wgan,wgan_gp,rpgan}.toml give every (data, objective)
   cell the same search: 40 configurations of its sensitive knobs (both learning rates; critic steps
   but for rpgan; the clip value, lambda, or R1 and R2 gamma), 10 random then TPE, each trained up
   to 20,000 generator steps and evaluated every 500 (W1, modes, HQ, reverse KL), cut by successive
   halving on W1 at 1,500, 4,500 and 13,500 steps (a third goes on at each cut). Tuning seed 0.
2. Seeds: the best configuration of each cell (lowest final W1 of the trials that trained all their
   steps) is trained on 5 report seeds (100-104) for the full 20,000 steps, its validation curve
   evaluated every 500 steps.
3. Page (docs/benchmarks/mode_coverage.md): per cell the search's cost against full trials, its
   best-so-far curve and whether it flattened; per data set the settled arms ranked by W1 with modes,
   HQ and reverse KL (mean and 95 % t interval over the report seeds), the arms that did not settle
   as curves only; the rules are gankit.stats.settled and .flattened.

Expected cost: about 15 CPU-hours, one thread per run. Measured on the loaded 2-core machine: a
generator step of the 3x128 MLPs at batch 256 takes 7-10 ms of CPU with 1 critic step, 9-11 with
2, 18-20 with 5 (WGAN-GP 9 and 35 ms with 1 and 5, rpgan 12 ms), an evaluation 0.4 s; a full trial
is about 250 CPU-s (WGAN-GP 420, the longest one, with 5 critic steps, about 12 minutes). Successive
halving makes 40 configurations cost about 9 full trials (simulated: 8.8), and the 5 seeds add 5:
14 cells x 14 full trials. With --workers 2 on two free cores that is about 8 hours.

    nice -n 10 python benchmarks/mode_coverage.py --workers 2   # run or continue, then write the page
    python benchmarks/mode_coverage.py --render                  # the page from benchmarks/journals/ alone
    python benchmarks/mode_coverage.py --quick                   # smoke test (grid only, tiny budget)

Continuing: the same command resumes every sweep. Stopped (Ctrl-C, SIGTERM, a session's end), each
running trial saves a checkpoint and is rerun from it by the next start; in a fresh clone whose
runs/ is gone, the committed journals keep every finished trial (never rerun) and the unfinished ones
start again from scratch. Commit benchmarks/journals/*.journal after each session (never *.lock), and
run one benchmark on one machine at a time (the journals keep no heartbeat).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomllib

from gankit.data.toy import get_toy
from gankit.runs import compare as comparing
from gankit.runs import sweep as sweeps
from gankit.runs.spec import parse_spec, sweep_name
from gankit.stats import Plateau, flattened, mean_interval, settled, summarize

ROOT = Path(__file__).resolve().parents[1]
SPECS = [
    ROOT / "benchmarks" / "specs" / f"mode_coverage_{family}.toml"
    for family in ("gan", "wgan", "wgan_gp", "rpgan")
]
JOURNALS = ROOT / "benchmarks" / "journals"
PAGE = ROOT / "docs" / "benchmarks" / "mode_coverage.md"
FIGURES = {"search": "mode_coverage_search.png", "budget": "mode_coverage_budget.png"}  # beside the page
OBJECTIVES = ("minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan", "rpgan")
FRESH_SEEDS = 100  # report seeds start here (the search trains with the spec's [base] seed)
EXPECTED_CPU_HOURS = 15  # see the module docstring
METRICS = (("eval_modes", "modes", 1, 1), ("eval_high_quality", "HQ %", 100, 1))
METRICS += (("eval_reverse_kl", "reverse KL", 1, 3), ("eval_w1", "W1", 1, 3), ("step", "G steps", 1, 0))
CURVE_STEPS = (0.25, 0.5, 0.75, 1.0)  # fractions of a curve the page prints (of T steps, of K trials)

# Published rows, same data (ring: 8 modes radius 1 sigma 0.01; grid: 25 modes sigma 0.05) and the
# same HQ / coverage protocol: (method, source, {data: (modes, HQ %, reverse KL or None)}).
PUBLISHED = [
    ("GAN", "PacGAN, Lin et al. 2018, Table 1", {"ring": (6.3, 98.2, 0.45), "grid": (17.3, 94.8, 0.70)}),
    ("PacGAN2", "PacGAN, Lin et al. 2018, Table 1", {"ring": (7.9, 95.6, 0.07), "grid": (23.8, 91.3, 0.13)}),
    ("PacGAN4", "PacGAN, Lin et al. 2018, Table 1", {"ring": (7.8, 95.9, 0.07), "grid": (24.8, 93.6, 0.04)}),
    ("VEEGAN", "Srivastava et al. 2017, Table 1", {"ring": (8.0, 52.9, None), "grid": (24.6, 40.0, None)}),
    ("Unrolled GAN", "VEEGAN, Table 1", {"ring": (7.6, 35.6, None), "grid": (23.6, 16.0, None)}),
    ("WGAN-GP", "GDPP, Elfeki et al. 2019", {"ring": (6.8, 59.6, None), "grid": (24.2, 28.7, None)}),
]
# --quick: the spec's top-level values and [base] values it replaces, and its data sets
QUICK = {"trials": 4, "n_startup_trials": 2, "min_resource": 1, "reduction_factor": 2}
QUICK_BASE = {"steps": 200, "eval_every": 50, "checkpoint_every": 100, "width": 32, "eval_samples": 500}
QUICK_DATA = ["grid"]


def toml_text(values: dict) -> str:
    """A spec dict back to TOML (scalars, lists and inline tables: all a spec holds)."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for table in ("base", "grid", "search"):
        if values.get(table):
            lines += ["", f"[{table}]"] + [f"{k} = {value(v)}" for k, v in values[table].items()]
    return "\n".join(lines) + "\n"


def search_spec(path: Path, quick: bool) -> str:
    """The search spec as shipped, or shrunk for --quick."""
    if not quick:
        return path.read_text()
    values = tomllib.loads(path.read_text()) | QUICK
    values["base"] |= QUICK_BASE
    values["grid"]["data"] = QUICK_DATA
    return toml_text(values)


def driver_arguments(argv: list[str] | None, name: str, doc: str, quick_help: str, more=None):
    """The options of every sweep-driven benchmark: --quick, --seeds, --workers, --out (``more(parser)``
    adds a script's own). Fills in args.seeds, args.workers, args.out (default runs/NAME, or
    runs/NAME-quick), args.out_display (relative to the checkout) and args.command (as typed)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--seeds", type=int, default=None, help="fresh seeds per best configuration (5)")
    parser.add_argument("--workers", type=int, default=None, help="sweep worker processes (2; --quick: 1)")
    parser.add_argument("--out", type=Path, default=None, help=f"where the sweeps go (runs/{name})")
    if more is not None:
        more(parser)
    args = parser.parse_args(argv)
    args.seeds = args.seeds or (2 if args.quick else 5)
    args.workers = args.workers or (1 if args.quick else 2)
    args.out = args.out or ROOT / "runs" / (f"{name}-quick" if args.quick else name)
    args.out_display = os.path.relpath(args.out, ROOT) if args.out.is_relative_to(ROOT) else args.out
    script = name.replace("-", "_") + ".py"
    args.command = f"python benchmarks/{script}" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    return args


def run_sweep(out: Path, spec_text: str, workers: int, journal: Path | None = None) -> Path:
    """Create (or resume) one sweep directory and run it to the end.

    With ``journal`` the sweep's studies live in that journal file: a directory that is gone (a fresh
    clone) is made again from it, and its finished trials are kept, not run again."""
    storage = None if journal is None else sweeps.JOURNAL + os.path.relpath(journal)
    if (out / sweeps.SPEC).is_file():
        sweep = sweeps.open_existing(out, storage, heartbeat=30)
        if sweep.spec.text != spec_text:
            sys.exit(f"{out} holds another spec; remove it or choose another --out")
    else:
        spec_file = out.with_suffix(".toml")
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(spec_text)
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
        sweep = sweeps.create(spec_file, out, storage, heartbeat=30)
    sweeps.run(sweep, workers, show_progress=sys.stderr.isatty())
    return out


def seeds_spec(search_text: str, best: dict, seeds: int) -> str:
    """A grid over fresh seeds of one cell's best configuration (no search)."""
    values = tomllib.loads(search_text)
    base = values["base"] | best["cell"] | best["params"]
    return toml_text(
        {
            "metric": values["metric"],
            "direction": values.get("direction", "minimize"),
            "base": base,
            "grid": {"seed": list(range(FRESH_SEEDS, FRESH_SEEDS + seeds))},
        }
    )


def clearly_better(row: dict, other: dict) -> bool:
    """Whether a compare row's whole 95 % CI lies below another's (for a metric where lower is better).

    Neither clearly better than the other: their CIs overlap, and the table does not tell them apart.
    """
    return None not in (row["ci_high"], other["ci_low"]) and row["ci_high"] < other["ci_low"]


def ci_text(row: dict, scale: float, digits: int) -> str:
    """mean [95 % CI]; a metric undefined in some runs (reverse KL with no HQ sample) says in how many."""
    if row["mean"] is None:
        return "n/a" if row.get("missing") else "–"
    text = f"{row['mean'] * scale:.{digits}f}"
    if row["ci_low"] is not None:
        text += f" [{row['ci_low'] * scale:.{digits}f}, {row['ci_high'] * scale:.{digits}f}]"
    if row.get("missing"):
        text += f" (over {row['n']} of {row['n'] + row['missing']} seeds; n/a in the others)"
    return text


def curve_table(label: str, columns: list[str], curves: dict[str, list[dict]], digits: int) -> list[str]:
    """A budget curve as markdown: one row per curve, one column per point, mean [95 % CI]."""
    lines = [f"| {label} | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, points in curves.items():
        lines.append(f"| {name} | " + " | ".join(ci_text(point, 1, digits) for point in points) + " |")
    return lines


def plot_curves(curves: dict[str, tuple[list[float], list[dict]]], ylabel: str, title: str, levels=()):
    """Budget curves against training CPU-seconds: per curve, x values and compare-style points (mean
    line, 95 % CI band where every point has one); ``levels``: (y, label, colour) horizontal lines."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    for name, (x, points) in curves.items():
        kept = [(a, p) for a, p in zip(x, points, strict=True) if p["mean"] is not None]
        xs, ps = [a for a, _ in kept], [p for _, p in kept]
        ax.plot(xs, [p["mean"] for p in ps], marker="o", markersize=3, label=name)
        if all(p["ci_low"] is not None for p in ps):
            ax.fill_between(xs, [p["ci_low"] for p in ps], [p["ci_high"] for p in ps], alpha=0.2)
    for y, name, colour in levels:
        ax.axhline(y, color=colour, linestyle="--", linewidth=1, label=name)
    ax.set(xlabel="training CPU-seconds", ylabel=ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------------
# The journals: where each sweep is kept, and what they hold


def search_journal(journals: Path, spec_path: Path) -> Path:
    return journals / f"{spec_path.stem}.journal"


def seeds_journal(journals: Path, data: str, objective: str) -> Path:
    return journals / f"mode_coverage_seeds_{data}_{objective}.journal"


def stored(journal: Path, text: str) -> list[comparing.RunRecord] | None:
    """The runs of the sweep that spec ``text`` makes, as its journal keeps them (None: not started)."""
    if not journal.is_file():
        return None
    url, name = sweeps.JOURNAL + str(journal), sweep_name(text)
    if not any(s.study_name.startswith(name + "/") for s in sweeps.open_storage(url).get_all_studies()):
        return None
    return comparing.collect([], None, url, name)[2]


class SearchCell:
    """What a cell of a journaled search knows of itself, from its ``spec_text``, ``search`` (the
    RunRecords of its search trials) and ``seeds`` (of its report seeds; None: not started). Both
    this driver's Arm and benchmarks/journaled.py's Cell are one."""

    @property
    def trials(self) -> int:
        """The search trials the cell's spec asks for."""
        return tomllib.loads(self.spec_text)["trials"]

    @property
    def finished(self) -> list:
        """The search trials that ended (complete, cut or crashed), in the order they finished."""
        done = [r for r in self.search if r.trial is not None and r.status != comparing.UNFINISHED]
        return sorted(done, key=lambda r: r.trial.get("finished_at", ""))

    @property
    def complete_seeds(self) -> list:
        """The report seeds' runs that trained to their end, by seed."""
        done = (r for r in self.seeds or [] if r.status == comparing.COMPLETE)
        return sorted(done, key=lambda r: r.config["seed"])


@dataclass
class Arm(SearchCell):
    """One (data, objective) cell: its search, its best configuration and the report seeds' runs."""

    data: str
    objective: str
    spec_path: Path
    spec_text: str
    search: list = field(default_factory=list)  # RunRecords of the cell's search trials
    best: dict | None = None  # compare.best_configs' entry of the best full-length trial
    seeds_text: str | None = None  # the seeds sweep's spec (once there is a best configuration)
    seeds: list | None = None  # RunRecords of the report seeds (None: not started)


def read_arms(specs: list[tuple[Path, str]], journals: Path, seeds: int) -> list[Arm]:
    """Every cell of every spec, from the journals alone."""
    arms = []
    for spec_path, text in specs:
        values = tomllib.loads(text)
        records = stored(search_journal(journals, spec_path), text) or []
        for data in values["grid"]["data"]:
            for objective in values["grid"]["objective"]:
                arm = Arm(data, objective, spec_path, text)
                cell = (data, objective)
                arm.search = [r for r in records if (r.config["data"], r.config["objective"]) == cell]
                arm.best = best_configuration(arm.search, values["base"]["steps"], values["direction"])
                if arm.best is not None and len(arm.finished) == arm.trials:
                    arm.seeds_text = seeds_spec(text, arm.best, seeds)
                    arm.seeds = stored(seeds_journal(journals, data, objective), arm.seeds_text)
                arms.append(arm)
    return sorted(arms, key=lambda a: (a.data != "ring", OBJECTIVES.index(a.objective)))


def best_configuration(records: list, steps: int, direction: str) -> dict | None:
    """The best trial that trained all ``steps`` (one stopped early, e.g. by divergence, keeps the last
    value it logged and is no candidate)."""
    full = [r for r in records if r.value is not None and r.steps == steps]
    best = comparing.best_configs({"cell": full}, direction)
    return best[0] if best else None


# ---------------------------------------------------------------------------------------------------
# What the page says of each arm


def seed_rows(arm: Arm, direction: str) -> dict[str, dict]:
    """Per METRICS key, compare's row (n, mean, t interval, ...) over the arm's complete seed runs."""
    rows = {}
    for key, *_ in METRICS:
        values = []
        for record in arm.complete_seeds:
            result = record.trial or {}
            values.append(comparing.value_of(key, result.get("metrics", {}), lambda r=result: r.get("eval")))
        present = [v for v in values if v is not None]
        rows[key] = summarize(present, direction) | {"missing": len(values) - len(present)}
    rows["cpu_time"] = summarize([r.trial["cpu_time"] for r in arm.complete_seeds], direction)
    return rows


def settling(arm: Arm, metric: str) -> Plateau | str:
    """The settled rule on the report seeds' validation curves of ``metric``, or why it cannot say."""
    if len(arm.complete_seeds) < 2:
        return "fewer than 2 report seeds finished"
    steps, curves = comparing.common_curves(arm.complete_seeds, metric)
    try:
        return settled(steps, curves)
    except ValueError as error:
        return str(error)


def search_budget(arm: SearchCell, steps: int | None = None) -> dict:
    """What the cell's search spent: trials by state, CPU seconds, and that CPU in full trials (the
    median CPU of its trials that ran to their end, uncut, and trained all ``steps`` if given)."""
    finished = arm.finished
    cpu = sum(comparing.spent_cpu(r) for r in finished)
    full = [
        r.trial["cpu_time"]
        for r in finished
        if r.status == comparing.COMPLETE and (steps is None or r.steps == steps)
    ]
    full_cpu = float(np.median(full)) if full else None
    return {
        "trials": len(finished),
        "complete": sum(r.status == comparing.COMPLETE for r in finished),
        "pruned": sum(r.status == comparing.PRUNED for r in finished),
        "crashed": sum(r.status == comparing.CRASHED for r in finished),
        "cpu": cpu,
        "full_cpu": full_cpu,
        "full_trials": cpu / full_cpu if full_cpu else None,
    }


def best_after(counts: list[int], best: list[float], n: int) -> float | None:
    """The best value so far after ``n`` finished trials (None: no value yet)."""
    before = [value for count, value in zip(counts, best, strict=True) if count <= n]
    return before[-1] if before else None


def params_text(params: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _range(item) -> str:
    if item.choices is not None:
        return "{" + ", ".join(map(str, item.choices)) + "}"
    return f"[{item.low:g}, {item.high:g}]" + (" log" if item.log else "")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} CPU-hours"


# ---------------------------------------------------------------------------------------------------
# Figures


def plot_search(arms: list[Arm], direction: str, metric: str, path: Path) -> None:
    """Best value so far per cell, against trials finished and against cumulative CPU seconds."""
    from matplotlib.figure import Figure

    datas = list(dict.fromkeys(arm.data for arm in arms))
    fig = Figure(figsize=(5.5 * len(datas), 7), layout="constrained")
    axes = fig.subplots(2, len(datas), squeeze=False)
    for column, data in enumerate(datas):
        for arm in (a for a in arms if a.data == data):
            counts, cpu, best = comparing.budget_curves(arm.finished, direction)
            if counts:
                axes[0][column].step(counts, best, where="post", label=arm.objective)
                axes[1][column].step(cpu, best, where="post", label=arm.objective)
        axes[0][column].set(xlabel="trials finished", ylabel=f"best {metric} so far", title=f"{data}: search")
        axes[1][column].set(xlabel="cumulative CPU seconds", ylabel=f"best {metric} so far")
        for ax in axes[:, column]:
            ax.set_yscale("log")
            ax.legend(fontsize=7)
    fig.savefig(path, dpi=110, metadata={"Software": None})


def plot_budget(arms: list[Arm], metric: str, path: Path) -> None:
    """The report seeds' validation curves (mean, 95 % t band) of W1 and modes against generator
    steps; an arm that did not settle is dashed."""
    from matplotlib.figure import Figure

    datas = list(dict.fromkeys(arm.data for arm in arms))
    keys = [metric] + [key for key in ("eval_modes",) if key != metric]
    fig = Figure(figsize=(5.5 * len(datas), 3.8 * len(keys)), layout="constrained")
    axes = fig.subplots(len(keys), len(datas), squeeze=False)
    for column, data in enumerate(datas):
        for arm in (a for a in arms if a.data == data and len(a.complete_seeds) >= 2):
            flat = settling(arm, metric)
            style = "-" if isinstance(flat, Plateau) and flat.flat else "--"
            label = arm.objective + ("" if style == "-" else " (not settled)")
            for row, key in enumerate(keys):
                steps, curves = comparing.common_curves(arm.complete_seeds, key)
                if not steps:
                    continue
                low, high = mean_interval(curves.T)
                line = axes[row][column].plot(steps, curves.mean(axis=0), style, label=label)[0]
                axes[row][column].fill_between(steps, low, high, color=line.get_color(), alpha=0.15)
        for row, key in enumerate(keys):
            ax = axes[row][column]
            ax.set(
                xlabel="generator steps", ylabel=f"{key} (report seeds)", title=f"{data}: best configurations"
            )
            if key == metric:
                ax.set_yscale("log")
            ax.legend(fontsize=7)
    fig.savefig(path, dpi=110, metadata={"Software": None})


# ---------------------------------------------------------------------------------------------------
# The page


def render(arms: list[Arm], specs: list[tuple[Path, str]], seeds: int, journals: Path) -> str:
    parsed = [parse_spec(text, str(path)) for path, text in specs]
    first = parsed[0]
    metric, direction = first.metric, first.direction
    steps, eval_every, tuning_seed = first.base["steps"], first.base["eval_every"], first.base.get("seed", 0)
    first_cut = first.min_resource * first.resource_steps(first.cells()[0])
    rungs = [first_cut * first.reduction_factor**k for k in range(math.ceil(math.log2(steps)))]
    cuts = [f"{step:,}" for step in rungs if step < steps]
    cuts = ", ".join(cuts[:-1]) + " and " + cuts[-1] if len(cuts) > 1 else "".join(cuts)
    searched = sum(len(arm.finished) == first.trials for arm in arms)
    seeded = sum(len(arm.complete_seeds) == seeds for arm in arms)
    journal_dir = os.path.relpath(journals, ROOT) if journals.is_relative_to(ROOT) else str(journals)
    searches = [
        f"   - {', '.join(spec.grid['objective'])}: "
        + "; ".join(f"{item.name} {_range(item)}" for item in spec.search)
        for spec in parsed
    ]
    lines = [
        "# Mode coverage on the ring and the grid",
        "",
        _wrap(
            f"Generated by `benchmarks/mode_coverage.py` from its journals in `{journal_dir}/` alone"
            " (`python benchmarks/mode_coverage.py --render` rewrites it; without `--render` the same"
            " command runs or continues the benchmark first); do not edit by hand. The full benchmark"
            f" costs about {EXPECTED_CPU_HOURS} CPU-hours (the driver's docstring gives the arithmetic)."
        ),
        "",
    ]
    if searched < len(arms) or seeded < len(arms):
        lines += [
            f"**In progress:** {searched} of {len(arms)} cells searched, {seeded} of {len(arms)} seed sets"
            " run.",
            "",
        ]
    lines += [
        "Protocol, fair by construction (Lucic et al. 2018, *Are GANs Created Equal?*):",
        "",
        _wrap(
            "1. **Search.** Every (data, objective) cell gets the same search:"
            f" {first.trials} configurations, the first {first.n_startup_trials} drawn at random (the same"
            " draws in each cell of a spec), the rest by TPE from the trials finished so far (Optuna,"
            " seeded per trial number). Each trial"
            f" trains up to {steps:,} generator steps with the tuning seed {tuning_seed}, one thread, and is"
            f" evaluated every {eval_every} steps; successive halving on {metric} cuts it at {cuts} steps"
            f" unless it is in the best 1/{first.reduction_factor} of the cell's trials that reached that"
            " step. Searched:",
            "   ",
        ),
        *searches,
        _wrap(
            f"2. **Report seeds.** The best configuration of each cell (lowest final {metric} of the trials"
            f" that trained all {steps:,} steps) is trained again on {seeds} seeds"
            f" ({FRESH_SEEDS}..{FRESH_SEEDS + seeds - 1}) for the full {steps:,} steps, evaluated every"
            f" {eval_every}: the tables report those runs only (the best search trial is optimistically"
            " biased).",
            "   ",
        ),
        _wrap(
            "3. **Metrics** (PacGAN, Lin et al. 2018) from 2,500 samples at the last step: a sample is high"
            " quality (HQ) within 3σ of its nearest mode; a mode is covered with ≥ 20 HQ samples; reverse"
            " KL compares the mode histogram with the uniform one; W1 is the exact earth mover's distance"
            " (POT) on 1,500 points. Each cell: mean [95 % Student t interval of the mean] over the seeds.",
            "   ",
        ),
        "",
        _wrap(
            f"**Why the search ranks by {metric}.** A ranking of mode coverage needs a score that grows"
            " with every missed mode and with every sample off the modes, and that orders runs early on,"
            " where the cuts fall. W1 does both: a missed mode costs its mass times the distance to the"
            " nearest covered mode (1/8 · 0.77 ≈ 0.10 on the ring, 1/25 · 2 = 0.08 on the grid), a sample"
            " off the modes its distance to them; it is continuous and defined for every finite sample."
            " The mode count is an integer that ties whole groups of runs and saturates once every mode is"
            " reached; HQ alone rewards a generator that collapses onto one mode; HQ × modes/total is 0"
            " for every run whose samples are not yet within 3σ of a mode (most runs at the first cut),"
            " so the cuts would be random; reverse KL is undefined without an HQ sample. The tables show"
            " all four for the report seeds."
        ),
        "",
        _wrap(
            "**Settled** (`gankit.stats.settled`): over the last quarter of the steps (the"
            " evaluations at or after 3/4 of them), the least-squares line through the report seeds' mean"
            f" {metric} curve changes by no more than the seeds' standard deviation at the last step. An"
            " arm that has not settled is shown as a curve only, not ranked: more steps would still move"
            " it by more than its seeds differ."
        ),
        "",
        _wrap(
            "**Flattened** (`gankit.stats.flattened`): over the last quarter of a cell's trials,"
            " its best value so far improved by no more than the report seeds' standard deviation of its"
            " best configuration: more trials of the same search would likely not find a clearly better"
            " one."
        ),
        "",
        _wrap(
            f"**Determinism.** Trial k of a cell draws from the seed ({first.seed}, k), whichever worker"
            " runs it: the random start-up trials are the same however many workers run. After the"
            " start-up TPE models the trials finished when trial k starts, and a cut compares a trial"
            " with those that reached the same step before it; with 2 workers both depend on the order"
            " in which trials finish, so a rerun of the whole benchmark need not draw the same"
            " configurations. The journals record what happened, and this page reports that."
        ),
        "",
    ]
    lines += search_section(arms, direction, metric, steps)
    for data in dict.fromkeys(arm.data for arm in arms):
        lines += data_section([arm for arm in arms if arm.data == data], data, direction, metric, steps)
    lines += [
        f"![validation curves]({FIGURES['budget']})",
        "",
        _wrap(
            f"{metric} and modes against generator steps of the report seeds' runs (mean and 95 % t"
            " band); dashed: not settled."
        ),
        "",
        _wrap(
            "What the tables cannot show. They rank the objectives after an equal search over the knobs"
            " named above, at one network (3x128 MLPs, batch 256, a 2-D latent) and one budget of"
            " generator steps; another architecture, latent or budget may change the order, and the"
            " knobs not searched (Adam's betas, batch size) stay at each objective's defaults. Successive"
            " halving judges a configuration by its W1 at the cuts: one that starts slowly but would end"
            " best is cut early. A configuration with 5 critic steps costs more CPU for the same"
            " generator steps (the CPU-s column). The published rows trained and tuned differently"
            " (their own papers): they compare in protocol, not in level. The intervals are over"
            f" {seeds} runs: arms whose intervals overlap are not told apart (rank `=`). What one long,"
            " tuned recipe reaches is in [refinement.md](../refinement.md) (`--preset toy-best`)."
        ),
    ]
    return "\n".join(lines) + "\n"


def _wrap(text: str, indent: str = "") -> str:
    """A paragraph of the page, wrapped at 100 characters (``indent``: of a list item's later lines)."""
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False)


def search_section(arms: list[Arm], direction: str, metric: str, steps: int) -> list[str]:
    budgets = {(arm.data, arm.objective): search_budget(arm, steps) for arm in arms}
    lines = [
        "## The search: what it cost, and whether it flattened",
        "",
        _wrap(
            "Per cell: configurations tried (complete / cut / crashed), the CPU seconds they used, the"
            f" median CPU of one of its full trials ({steps:,} steps), and the search's CPU in full"
            f" trials; then the best {metric} so far after each quarter of the trials (the curve in the"
            " figure)."
        ),
        "",
        "| data | objective | configurations | search CPU-s | full trial CPU-s | = full trials |"
        " best after ¼ / ½ / ¾ / all trials | flattened (gain, last ¼ / seeds' sd) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        budget = budgets[(arm.data, arm.objective)]
        counts, _, best = comparing.budget_curves(arm.finished, direction)
        total = budget["trials"]
        after = [best_after(counts, best, math.ceil(q * total)) for q in CURVE_STEPS] if total else []
        curve = " / ".join("–" if v is None else f"{v:.3g}" for v in after) or "–"
        spread = seed_rows(arm, direction)[metric]["std"] if arm.seeds else None
        plateau = flattened(counts, best, spread, direction) if spread is not None else None
        flat = "– (no seeds yet)" if plateau is None else f"{'yes' if plateau.flat else 'no'}"
        if plateau is not None:
            flat += f" ({plateau.change:.3g} / {plateau.spread:.3g})"
        tried = f"{total} ({budget['complete']} / {budget['pruned']} / {budget['crashed']})"
        full = "–" if budget["full_cpu"] is None else f"{budget['full_cpu']:,.0f}"
        ratio = "–" if budget["full_trials"] is None else f"{budget['full_trials']:.1f}"
        lines.append(
            f"| {arm.data} | {arm.objective} | {tried} | {budget['cpu']:,.0f} | {full} | {ratio} |"
            f" {curve} | {flat} |"
        )
    spent = sum(b["cpu"] for b in budgets.values())
    seeds_cpu = sum(comparing.spent_cpu(r) for arm in arms for r in arm.complete_seeds)
    ratios = [b["full_trials"] for b in budgets.values() if b["full_trials"] is not None]
    runs = [r for arm in arms for r in [*arm.finished, *arm.complete_seeds]]
    longest = max((r.trial.get("cpu_time") or 0.0 for r in runs), default=0.0)
    lines += [
        "",
        _wrap(
            f"Spent so far: {_hours(spent)} on the searches, {_hours(seeds_cpu)} on the report seeds;"
            f" the longest run took {longest / 60:.0f} CPU-minutes;"
            f" {comparing.load_words(runs, os.cpu_count())}."
        ),
    ]
    if ratios:
        lines.append(
            _wrap(
                f"Pruning's arithmetic: a cell's search cost {min(ratios):.1f}-{max(ratios):.1f} full"
                f" trials (median {np.median(ratios):.1f}) for its {arms[0].trials} configurations;"
                " without the cuts it would cost one full trial each."
            )
        )
    lines += ["", f"![search budget]({FIGURES['search']})", ""]
    return lines


def data_section(arms: list[Arm], data: str, direction: str, metric: str, steps: int) -> list[str]:
    total = len(get_toy(data).modes)
    ranked, unsettled, waiting = [], [], []
    for arm in arms:
        flat = settling(arm, metric) if arm.seeds else None
        if isinstance(flat, Plateau) and flat.flat:
            ranked.append((arm, seed_rows(arm, direction), flat))
        elif isinstance(flat, Plateau):
            unsettled.append((arm, flat))
        elif arm.seeds_text is None:
            waiting.append((arm, f"search: {len(arm.finished)} of {arm.trials} trials finished"))
        else:
            waiting.append((arm, flat or "report seeds not run yet"))
    ranked.sort(key=lambda item: item[1][metric]["mean"], reverse=direction == "maximize")
    header = "| rank | objective | best configuration (search) | seeds | " + " | ".join(m[1] for m in METRICS)
    header += " | CPU-s per run | last-¼ change / seeds' sd |"
    lines = [
        f"## {data} ({total} modes)",
        "",
        f"Settled arms, ranked by mean {metric}; `=`: its interval overlaps the arm above (not told apart).",
        "",
        header,
        "|---|---|---|---|" + "---|" * (len(METRICS) + 2),
    ]
    previous = None
    for place, (arm, rows, flat) in enumerate(ranked, start=1):
        tie = previous is not None and not _apart(previous, rows[metric], direction)
        cells = [ci_text(rows[key], scale, digits) for key, _, scale, digits in METRICS]
        cells.append(ci_text(rows["cpu_time"], 1, 0))
        cells.append(f"{flat.change:+.3g} / {flat.spread:.3g}")
        rank = f"={place}" if tie else str(place)
        lines.append(
            f"| {rank} | {arm.objective} | {params_text(arm.best['params'])} | {len(arm.complete_seeds)} | "
            + " | ".join(cells)
            + " |"
        )
        previous = rows[metric]
    for method, source, values in PUBLISHED:
        modes, hq, kl = values[data]
        kl_text = "–" if kl is None else f"{kl:.2f}"
        dashes = " | –" * 4
        lines.append(f"| | {method} ({source}) | published | | {modes:.1f} | {hq:.1f} | {kl_text}{dashes} |")
    lines.append("")
    if unsettled:
        marks = [int(q * steps) for q in CURVE_STEPS]
        lines += [
            f"Not settled: curves only, not ranked (mean {metric} of the report seeds at these steps).",
            "",
            "| objective | best configuration (search) | "
            + " | ".join(f"{m:,}" for m in marks)
            + " | last-¼ change / seeds' sd |",
            "|---|---|" + "---|" * (len(marks) + 1),
        ]
        for arm, flat in unsettled:
            curve_steps, curves = comparing.common_curves(arm.complete_seeds, metric)
            mean = dict(zip(curve_steps, curves.mean(axis=0), strict=True))
            points = ["–" if m not in mean else f"{mean[m]:.3g}" for m in marks]
            lines.append(
                f"| {arm.objective} | {params_text(arm.best['params'])} | "
                + " | ".join(points)
                + f" | {flat.change:+.3g} / {flat.spread:.3g} |"
            )
        lines.append("")
    if waiting:
        reasons = "; ".join(f"{arm.objective} ({why})" for arm, why in waiting)
        lines += [f"Not yet measured: {reasons}.", ""]
    return lines


def _apart(above: dict, below: dict, direction: str) -> bool:
    """Whether two compare rows' 95 % intervals are disjoint (the one above better)."""
    if direction == "minimize":
        return clearly_better(above, below)
    return None not in (above["ci_low"], below["ci_high"]) and above["ci_low"] > below["ci_high"]


def main(argv: list[str] | None = None) -> None:
    def more(parser) -> None:
        parser.add_argument("--render", action="store_true", help="only write the page, from the journals")
        parser.add_argument("--journals", type=Path, help="(benchmarks/journals; --quick: OUT/journals)")
        parser.add_argument("--page", type=Path, help="(docs/benchmarks/mode_coverage.md; --quick: OUT/)")

    args = driver_arguments(argv, "mode-coverage", __doc__, "grid only, 4 trials of 200 steps, 2 seeds", more)
    journals = args.journals or (args.out / "journals" if args.quick else JOURNALS)
    page = args.page or (args.out / "mode_coverage.md" if args.quick else PAGE)
    specs = [(path, search_spec(path, args.quick)) for path in SPECS]
    from journaled import guarded  # it imports this module's helpers

    guarded(lambda: write(args, specs, journals, page), lambda: journals)


def write(args, specs: list[tuple[Path, str]], journals: Path, page: Path) -> None:
    """Run or continue every sweep (unless --render), then write the page from the journals."""
    if not args.render:
        for path, text in specs:
            family = path.stem.removeprefix("mode_coverage_")
            run_sweep(args.out / f"search-{family}", text, args.workers, search_journal(journals, path))
        for arm in read_arms(specs, journals, args.seeds):
            if arm.seeds_text is not None:
                out = args.out / f"seeds-{arm.data}-{arm.objective}"
                run_sweep(out, arm.seeds_text, args.workers, seeds_journal(journals, arm.data, arm.objective))
    arms = read_arms(specs, journals, args.seeds)
    page.parent.mkdir(parents=True, exist_ok=True)
    direction, metric = tomllib.loads(specs[0][1])["direction"], tomllib.loads(specs[0][1])["metric"]
    plot_search(arms, direction, metric, page.parent / FIGURES["search"])
    plot_budget(arms, metric, page.parent / FIGURES["budget"])
    page.write_text(render(arms, specs, args.seeds, journals))
    print(f"wrote {page}")


if __name__ == "__main__":
    main()
