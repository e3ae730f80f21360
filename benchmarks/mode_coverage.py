"""Mode coverage of every objective on the ring and the grid, fair by construction (Lucic et al. 2018).

A thin driver over `gankit sweep` and `gankit compare`:

1. Search: benchmarks/specs/mode_coverage_{gan,wgan,wgan_gp}.toml give every (data, objective) cell
   the same number of Optuna trials over its sensitive knobs (learning rates, critic steps, beta1,
   and the clip value or lambda) at the same CPU budget per run (time_budget_s: only the training
   steps count, not evaluation); each trial's score is its final eval_w1.
2. Seeds: the best configuration of each cell is trained again on fresh seeds (100, 101, ...).
3. Table: `gankit compare` of the seed runs (modes, HQ, reverse KL, W1, each with a 95 % bootstrap
   CI), next to the published rows; figures: the search's best-so-far vs trials and CPU time, and
   the budget curve (W1 vs steps of the seed runs: has it plateaued?).

    nice -n 10 python benchmarks/mode_coverage.py --workers 2     # full: docs/benchmarks/mode_coverage.md
    python benchmarks/mode_coverage.py --quick                     # smoke test (grid only, tiny budget)

Rerunning the same command resumes every sweep (finished trials are kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np
import tomllib
import torch

from gankit.data.toy import get_toy
from gankit.rundir import read_metrics
from gankit.runs import compare as comparing
from gankit.runs import sweep as sweeps
from gankit.runs.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = [
    ROOT / "benchmarks" / "specs" / f"mode_coverage_{family}.toml" for family in ("gan", "wgan", "wgan_gp")
]
OBJECTIVES = ("minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan")
FRESH_SEEDS = 100  # seeds of the re-runs start here (the search used seed 0)
METRICS = (("eval_modes", "modes", 1, 1), ("eval_high_quality", "HQ %", 100, 1))
METRICS += (("eval_reverse_kl", "reverse KL", 1, 3), ("eval_w1", "W1", 1, 3), ("step", "G steps", 1, 0))

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
QUICK = {  # --quick: what replaces the spec's values (trials; the rest go into [base])
    "trials": 2, "steps": 200, "time_budget_s": 0, "eval_every": 100, "checkpoint_every": 100, "width": 32,
}  # fmt: skip
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
    values = tomllib.loads(path.read_text())
    values["trials"] = QUICK["trials"]
    values["base"] |= {key: value for key, value in QUICK.items() if key != "trials"}
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


def run_sweep(out: Path, spec_text: str, workers: int) -> Path:
    """Create (or resume) one sweep directory and run it to the end."""
    if (out / sweeps.SPEC).is_file():
        sweep = sweeps.open_existing(out, None, heartbeat=30)
        if sweep.spec.text != spec_text:
            sys.exit(f"{out} holds another spec; remove it or choose another --out")
    else:
        spec_file = out.with_suffix(".toml")
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(spec_text)
        sweep = sweeps.create(spec_file, out, None, heartbeat=30)
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


def _range(item) -> str:
    if item.choices is not None:
        return "{" + ", ".join(map(str, item.choices)) + "}"
    return f"[{item.low:g}, {item.high:g}]" + (" log" if item.log else "")


def last_quarter_change(out: Path) -> float | None:
    """Mean over the seed runs of W1's relative change over the last quarter of training (None: no data).

    W1 at the last evaluation against W1 at the first evaluation at or after 3/4 of the run's steps:
    -0.30 means it still fell by 30 % at the end of the budget (not plateaued); about 0 means flat.
    """
    changes = []
    for run in sorted((out / sweeps.TRIALS).iterdir()):
        rows = [row for row in read_metrics(run) if isinstance(row.get("eval_w1"), (int, float))]
        if len(rows) < 2:
            continue
        mark = next(row for row in rows if row["step"] >= 0.75 * rows[-1]["step"])
        if mark is not rows[-1] and mark["eval_w1"] > 0:
            changes.append(rows[-1]["eval_w1"] / mark["eval_w1"] - 1)
    return float(np.mean(changes)) if changes else None


def budget_curve(seed_dirs: dict[tuple[str, str], Path], path: Path) -> None:
    """W1 against generator steps (mean over the fresh seeds) per objective: has it plateaued?"""
    from matplotlib.figure import Figure

    datas = sorted({data for data, _ in seed_dirs}, reverse=True)
    fig = Figure(figsize=(5.5 * len(datas), 4), layout="constrained")
    axes = fig.subplots(1, len(datas), squeeze=False)[0]
    for ax, data in zip(axes, datas, strict=True):
        for (cell_data, objective), out in sorted(seed_dirs.items()):
            if cell_data != data:
                continue
            curves, runs = {}, sorted((out / sweeps.TRIALS).iterdir())
            for run in runs:
                for row in read_metrics(run):
                    if isinstance(row.get("eval_w1"), (int, float)):
                        curves.setdefault(row["step"], []).append(row["eval_w1"])
            steps = sorted(step for step, values in curves.items() if len(values) == len(runs))
            ax.plot(steps, [np.mean(curves[s]) for s in steps], "o-", ms=3, label=objective)
        ax.set_xlabel("generator steps")
        ax.set_ylabel("W1 (mean over fresh seeds)")
        ax.set_yscale("log")
        ax.set_title(f"{data}: best configuration per objective")
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def render(args, search_dirs, seed_dirs, best, command: str, figures: dict[str, str]) -> str:
    specs = [parse_spec(search_spec(path, args.quick)) for path in SPECS]
    steps, budget = specs[0].base["steps"], specs[0].base.get("time_budget_s", 0)
    per_run = f"{budget:g} CPU-seconds of training steps" if budget else f"{steps} generator steps"
    lines = [
        "# Mode coverage on the ring and the grid",
        "",
        "Generated by `benchmarks/mode_coverage.py` (written by `" + command + "`); do not edit by hand.",
        "",
        f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores shared with other jobs, "
        f"torch {torch.__version__}.",
        "",
        "Protocol, fair by construction (Lucic et al. 2018, *Are GANs Created Equal?*):",
        "",
        f"1. **Search.** Every (data, objective) cell gets the same budget: {specs[0].trials} Optuna trials",
        f"   (TPE, seeded, tuned per cell), each trained for {per_run} (`time_budget_s`; evaluation",
        "   is not counted, so a costlier update, e.g. 5 critic steps with a gradient penalty, buys",
        "   fewer generator steps), scored by the final W1.",
        "   Searched:",
    ]
    for spec in specs:
        objectives = ", ".join(spec.grid["objective"])
        ranges = "; ".join(f"{item.name} {_range(item)}" for item in spec.search)
        lines.append(f"   - {objectives}: {ranges}")
    lines += [
        f"2. **Fresh seeds.** The best configuration of each cell is trained again on {args.seeds} new",
        f"   seeds ({FRESH_SEEDS}..{FRESH_SEEDS + args.seeds - 1}); the table reports those runs only (the",
        "   best search trial is optimistically biased).",
        "3. **Metrics** (PacGAN, Lin et al. 2018), logged at the last step from 2,500 samples: a sample",
        "   is high quality (HQ) within 3σ of its nearest mode; a mode is covered with ≥ 20 HQ samples;",
        "   reverse KL compares the mode histogram with the uniform one; W1 is the exact earth mover's",
        "   distance (POT). Each cell: mean [95 % percentile-bootstrap CI of the mean] over the seeds.",
        "",
        "*W1 change, last ¼*: W1 at the end against W1 three quarters of the way through, mean over the",
        "seeds; a clearly negative value means W1 was still falling when the budget ran out (not",
        "plateaued), and the budget curve below shows the whole run.",
        "",
        "Published rows are copied from the cited tables; those papers trained for far longer and tuned",
        "differently. The table cannot show what a larger budget would change.",
        "",
    ]
    for data in sorted({d for d, _ in seed_dirs}, reverse=True):
        total = len(get_toy(data).modes)
        header = "| objective | best configuration (search) | seeds | " + " | ".join(m[1] for m in METRICS)
        header += " | W1 change, last ¼"
        rule = "|---|---|---|" + "---|" * (len(METRICS) + 1)
        lines += [f"## {data} ({total} modes)", "", header + " |", rule]
        for objective in OBJECTIVES:
            out = seed_dirs.get((data, objective))
            if out is None:
                continue
            cells = []
            for metric, _, scale, digits in METRICS:
                row = comparing.compare([out], by=[], metric=metric).rows[0]
                cells.append(ci_text(row, scale, digits))
            n = sum(1 for _ in (out / sweeps.TRIALS).iterdir())
            params = best[(data, objective)]["params"]
            config = ", ".join(
                f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
            )
            change = last_quarter_change(out)
            cells.append("–" if change is None else f"{change:+.0%}")
            lines.append(f"| {objective} | {config} | {n} | " + " | ".join(cells) + " |")
        for method, source, values in PUBLISHED:
            modes, hq, kl = values[data]
            kl_text = "–" if kl is None else f"{kl:.2f}"
            row = f"| {method} ({source}) | published | | {modes:.1f} | {hq:.1f} | {kl_text} | – | – | – |"
            lines.append(row)
        lines.append("")
    lines += [
        f"![search budget]({figures['search']})",
        "",
        "Best W1 so far against the number of finished search trials and against cumulative CPU seconds,",
        "per cell (`gankit compare` of the search sweeps).",
        "",
        f"![budget curve]({figures['budget']})",
        "",
        "W1 against generator steps of the fresh-seed runs (mean over seeds, at the evaluations every",
        "seed reached; a run's last evaluation, where its budget ran out, is in the table).",
        "",
        "What the table can and cannot say. It ranks the objectives after an equal search at an equal,",
        "small budget per run; the published rows trained for tens of thousands of steps, so they compare",
        "with ours in protocol, not in level. A clearly negative or positive last-quarter change means",
        "that cell had not settled. W1 and coverage can disagree: a generator that spreads its mass",
        "thinly along the data has a small W1 while few of its samples lie within 3σ of a mode. A best",
        "configuration with 5 critic steps buys fewer generator steps in the same budget (the G steps",
        "column). A larger budget or search may change the ranking; what one long, tuned recipe reaches",
        "is in [refinement.md](../refinement.md) (`--preset toy-best`).",
        "",
        "The sweeps are in "
        + ", ".join(f"`{p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}`" for p in search_dirs)
        + " and the seed runs beside them;",
        "`gankit compare DIR` reprints any of them.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = driver_arguments(argv, "mode-coverage", __doc__, "grid only, 2 trials of 200 steps, 2 seeds")
    out, command = args.out, args.command

    search_dirs, best, texts = [], {}, {}
    for path in SPECS:
        text = search_spec(path, args.quick)
        directory = run_sweep(out / f"search-{path.stem.removeprefix('mode_coverage_')}", text, args.workers)
        search_dirs.append(directory)
        for entry in comparing.compare([directory], by=["data", "objective"]).best_configs:
            cell = dict(part.split("=", 1) for part in entry["group"].split(","))
            best[(cell["data"], cell["objective"])] = entry
            texts[(cell["data"], cell["objective"])] = text
    seed_dirs = {}
    for (data, objective), entry in sorted(best.items()):
        spec_text = seeds_spec(texts[(data, objective)], entry, args.seeds)
        seed_dirs[(data, objective)] = run_sweep(out / f"seeds-{data}-{objective}", spec_text, args.workers)

    docs = ROOT / "docs" / "benchmarks" if not args.quick else out
    figures = {"search": "mode_coverage_search.png", "budget": "mode_coverage_budget.png"}
    comparing.plot(comparing.compare(search_dirs, by=["data", "objective"]), docs / figures["search"])
    budget_curve(seed_dirs, docs / figures["budget"])
    table = docs / "mode_coverage.md"
    table.write_text(render(args, search_dirs, seed_dirs, best, command, figures))
    print(f"wrote {table}")


if __name__ == "__main__":
    main()
