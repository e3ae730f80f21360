"""Mode coverage of every objective on the 8-Gaussian ring and the 25-Gaussian grid (PacGAN protocol).

Each recipe is trained once per seed with the same step budget; 2,500 samples of each trained
generator are scored with gankit's toy metrics (modes covered, high-quality %, reverse KL, W1).
The table (mean +- std over seeds, training time) is written next to the published rows.

    python benchmarks/mode_coverage.py            # full run: writes docs/benchmarks/mode_coverage.md
    python benchmarks/mode_coverage.py --quick    # 1 seed, short runs: a smoke test in a few minutes

Each finished run is appended to a JSON-lines file beside the table, so an interrupted full run
continues with ``--resume`` (a row is reused only when its config is identical).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gankit.config import PRESETS, TrainConfig, to_dict
from gankit.data.toy import get_toy, sample_numpy
from gankit.engine.run import train
from gankit.metrics.toy import toy_metrics

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = ("minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan")
DATA = ("ring", "grid")
EVAL_SAMPLES = 2500  # PacGAN's protocol
EVAL_SEED = 10_000  # noise seed of the evaluated samples; training seeds are 0..seeds-1

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


def recipes(steps: int, best_steps: int) -> list[tuple[str, dict]]:
    """(label, config overrides): every objective with its paper defaults, then toy-best."""
    plain = [(name, {"objective": name, "steps": steps}) for name in OBJECTIVES]
    # The wgan-gp rows keep the paper's lambda = 10 they were measured with (toy runs now default to 0.1).
    plain = [
        (name, values | ({"gradient_penalty_weight": 10.0} if name == "wgan-gp" else {}))
        for name, values in plain
    ]
    best = {**PRESETS["toy-best"], "steps": best_steps} if "toy-best" in PRESETS else None
    return plain + ([("toy-best", best)] if best else [])


def run_one(job: dict) -> dict:
    """Train one (recipe, data, seed) in memory and score 2,500 samples of its generator."""
    torch.set_num_threads(1)  # one core per worker: workers run side by side
    config = TrainConfig(**job["config"])
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    result = train(config)
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    samples = result.trainer.sample(EVAL_SAMPLES, seed=EVAL_SEED)
    return {**job, "metrics": toy_metrics(samples, result.trainer.data), "cpu_s": cpu, "wall_s": wall}


def true_samples_row(data: str, seeds: int) -> dict:
    """The ceiling: the same metrics on samples of the true mixture (HQ ~98.9 %, W1 > 0 from noise)."""
    rows = [
        toy_metrics(sample_numpy(data, EVAL_SAMPLES, seed=EVAL_SEED + s), get_toy(data)) for s in range(seeds)
    ]
    return {key: [row[key] for row in rows] for key in rows[0]}


def make_jobs(seeds: int, steps: int, best_steps: int) -> list[dict]:
    jobs = []
    for label, overrides in recipes(steps, best_steps):
        for data in DATA:
            for seed in range(seeds):
                values = {**overrides, "data": data, "seed": seed}
                values |= {"eval_every": 0, "sample_every": 0, "device": "cpu"}
                job = {"label": label, "data": data, "seed": seed, "config": to_dict(TrainConfig(**values))}
                job["recipe_keys"] = sorted({*overrides, "data", "seed"})
                jobs.append(job)
    return jobs


def _key(row: dict, recipe_keys: dict[str, list[str]]) -> str | None:
    """A run's identity: its recipe and the values the recipe sets (plus data and seed).

    Only these values are compared, so a config knob added to gankit later (with a default that
    keeps behaviour) does not invalidate finished runs.
    """
    keys = recipe_keys.get(row["label"])
    if keys is None:
        return None
    return json.dumps([row["label"], {key: row["config"].get(key) for key in keys}])


def load_finished(results_file: Path, jobs: list[dict]) -> list[dict]:
    """Rows of the results file that are runs of ``jobs`` (the newest row per run)."""
    if not results_file.exists():
        return []
    recipe_keys = {job["label"]: job["recipe_keys"] for job in jobs}
    wanted = {_key(job, recipe_keys) for job in jobs}
    rows = {}
    for line in results_file.read_text().splitlines():
        row = json.loads(line)
        key = _key(row, recipe_keys)
        if key in wanted:
            rows[key] = row
    return list(rows.values())


def run_jobs(jobs: list[dict], results_file: Path, workers: int, resume: bool) -> None:
    """Train every job not yet in the results file (all of them unless ``resume``), appending rows."""
    if not resume:
        results_file.parent.mkdir(parents=True, exist_ok=True)
        results_file.write_text("")
    recipe_keys = {job["label"]: job["recipe_keys"] for job in jobs}
    finished = {_key(row, recipe_keys) for row in load_finished(results_file, jobs)}
    todo = [job for job in jobs if _key(job, recipe_keys) not in finished]
    print(f"{len(finished)} runs reused, {len(todo)} to train with {workers} workers", file=sys.stderr)
    if not todo:
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool, results_file.open("a") as out:
        for index, row in enumerate(pool.imap_unordered(run_one, todo), 1):
            out.write(json.dumps(_finite(row)) + "\n")
            out.flush()
            m = row["metrics"]
            print(
                f"[{index}/{len(todo)}] {row['label']} {row['data']} seed {row['seed']}: "
                f"{m['modes']} modes, HQ {100 * m['high_quality']:.1f} %, {row['cpu_s']:.0f} s CPU",
                file=sys.stderr,
            )


def _finite(row: dict) -> dict:
    """JSON has no infinity or NaN: any non-finite number is stored as null (like an undefined KL)."""
    metrics = {k: (v if v is None or math.isfinite(v) else None) for k, v in row["metrics"].items()}
    return {**row, "metrics": metrics}


def _mean_std(values: list[float | None], scale: float = 1.0, digits: int = 2) -> str:
    """mean ± std over the seeds where the value is defined; "(k/n seeds)" when some are not (a
    reverse KL with no high-quality sample is undefined); "n/a (0/n seeds)" when none is."""
    defined = [v for v in values if v is not None and math.isfinite(v)]
    if not defined:
        return f"n/a (0/{len(values)} seeds)"
    array = np.asarray(defined, dtype=float) * scale
    text = f"{array.mean():.{digits}f} ± {array.std():.{digits}f}"
    return text if len(defined) == len(values) else f"{text} ({len(defined)}/{len(values)} seeds)"


def render(rows: list[dict], args: argparse.Namespace, command: str) -> str:
    lines = [
        "# Mode coverage on the ring and the grid",
        "",
        "Generated by `benchmarks/mode_coverage.py`; do not edit by hand. To regenerate every number:",
        "",
        "```",
        "nice -n 10 python benchmarks/mode_coverage.py",
        "```",
        "",
        f"This file was written by `{command}`. Every run is a row of `mode_coverage.jsonl` beside this",
        "file; `--resume` reuses the rows of unchanged recipes and trains the rest (`--only` / `--data`",
        "train some of them, `--table-only` trains nothing); this run was continued that way in pieces.",
        "",
        f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores shared with other jobs,",
        f"torch {torch.__version__}; each run uses one thread, {args.workers} or more runs side by side.",
        "",
        "Protocol (PacGAN, Lin et al. 2018): 2,500 samples of each trained generator; a sample is",
        "high quality (HQ) within 3σ of its nearest mode; a mode is covered when it holds ≥ 20 HQ samples;",
        "reverse KL is KL(generated mode histogram ‖ uniform), n/a for a seed with no high-quality",
        "sample (undefined there), averaged over the seeds where it is defined, with their count;",
        "W1 is the exact earth mover's distance",
        "between 1,500 generated and 1,500 real points (POT). Ring: 8 Gaussians on the unit circle,",
        "σ = 0.01. Grid: 25 Gaussians at {-4,-2,0,2,4}², σ = 0.05. Values are mean ± std over seeds;",
        "*all modes* counts the seeds that cover every mode. *True samples* scores draws from the real",
        "mixture: the ceiling (HQ ≈ 98.9 %, the mass of a 2-D Gaussian within 3σ) and the floor of W1",
        "for this many points (mode counts of two finite samples differ, and mass must move between modes).",
        "",
        "Every objective uses its paper's optimiser defaults (see `gankit list`), MLPs of width 128 and",
        f"depth 3, batch 256, and the same budget of {args.steps} generator steps (WGAN and WGAN-GP take",
        "5 critic steps per generator step). CPU s is the process CPU time of training, less sensitive to",
        "other load on the machine than wall-clock time. Published rows are copied from the cited tables;",
        "those papers trained for far longer than our budget.",
        "",
    ]
    for data in DATA:
        modes_total = len(get_toy(data).modes)
        lines += [
            f"## {data} ({modes_total} modes)",
            "",
            "| method | source | seeds | steps | modes | all modes | HQ % | reverse KL | W1 "
            "| CPU s | wall s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        true = true_samples_row(data, args.seeds)
        lines.append(
            f"| true samples | the data | {args.seeds} | – | {_mean_std(true['modes'], digits=1)} | "
            f"{sum(m == modes_total for m in true['modes'])}/{args.seeds} | "
            f"{_mean_std(true['high_quality'], 100, 1)} | {_mean_std(true['reverse_kl'], digits=3)} | "
            f"{_mean_std(true['w1'], digits=3)} | – | – |"
        )
        for label, _ in recipes(args.steps, args.best_steps):
            runs = sorted(
                (r for r in rows if r["label"] == label and r["data"] == data), key=lambda r: r["seed"]
            )
            if not runs:
                continue
            metric = {key: [r["metrics"][key] for r in runs] for key in runs[0]["metrics"]}
            lines.append(
                f"| {label} | gankit | {len(runs)} | {runs[0]['config']['steps']} | "
                f"{_mean_std(metric['modes'], digits=1)} | "
                f"{sum(m == modes_total for m in metric['modes'])}/{len(runs)} | "
                f"{_mean_std(metric['high_quality'], 100, 1)} | "
                f"{_mean_std(metric['reverse_kl'], digits=3)} | "
                f"{_mean_std(metric['w1'], digits=3)} | {_mean_std([r['cpu_s'] for r in runs], digits=0)} | "
                f"{_mean_std([r['wall_s'] for r in runs], digits=0)} |"
            )
        for method, source, values in PUBLISHED:
            modes, hq, kl = values[data]
            kl_text = "–" if kl is None else f"{kl:.2f}"
            lines.append(f"| {method} | {source} | | | {modes:.1f} | | {hq:.1f} | {kl_text} | | | |")
        lines.append("")
    short = sorted({r["label"] for r in rows if sum(q["label"] == r["label"] for q in rows) < 2 * args.seeds})
    missing = [
        label
        for label, _ in recipes(args.steps, args.best_steps)
        if not any(r["label"] == label for r in rows)
    ]
    if short or missing:
        lines += [
            f"**Incomplete:** {', '.join(short + missing)} did not finish all {args.seeds} seeds on both",
            "data sets before this table was written (the *seeds* column says how many did); rerun the",
            "command above with `--resume` to complete them.",
            "",
        ]
    lines += target_verdict(rows, args)
    return "\n".join(lines) + "\n"


def target_verdict(rows: list[dict], args: argparse.Namespace) -> list[str]:
    """Whether toy-best met the issue's target in every seed, said plainly from the numbers."""
    best = [r for r in rows if r["label"] == "toy-best"]
    if not best:
        return []
    recipe = ", ".join(f"{key}={value}" for key, value in PRESETS["toy-best"].items())
    lines = [
        "## toy-best against the target",
        "",
        f"`gankit train --data ring --preset toy-best` sets {recipe} (the table's runs use "
        f"{args.best_steps} steps). Why each piece: packing two samples into one discriminator input",
        "(PacGAN) lets D see a batch that lacks modes, which penalises collapse; the non-saturating",
        "loss with a larger learning rate than DCGAN's 2e-4 reaches the modes sooner; an 8-D latent",
        "gives the generator more noise directions to split among 25 separate modes (not compared with a",
        "2-D latent at this length); the generator EMA over about 1,000 steps averages out the jitter",
        "around each mode, which is what the 3σ high-quality test punishes. The EMA and the 8-D latent",
        "need long training: in short single-seed probes a 0.999 EMA blurred the modes at 3,000-4,000",
        "steps (it averaged generators that still mapped the noise differently), and on the grid the",
        "high-quality fraction was still climbing between 10,000 and 30,000 steps. Also tried, in short",
        "single-seed runs not shown here: learning rates 5e-4 and 2e-3 (both slower to sharpen the modes",
        "than 1e-3) and learning-rate decay over the second half (it slowed learning more than it",
        "sharpened the modes).",
        "",
        "Target: every mode in every seed, HQ ≥ 97 % and reverse KL ≤ 0.02, within 10 minutes a run on",
        "2 cores (judged on CPU time: wall time here includes waiting for other jobs on a shared machine).",
        "",
    ]
    for data in DATA:
        runs = [r for r in best if r["data"] == data]
        if not runs:
            continue
        total = len(get_toy(data).modes)
        ok = [
            r["metrics"]["modes"] == total
            and r["metrics"]["high_quality"] >= 0.97
            and r["metrics"]["reverse_kl"] is not None
            and r["metrics"]["reverse_kl"] <= 0.02
            for r in runs
        ]
        slowest = max(r["cpu_s"] for r in runs)
        verdict = "met" if all(ok) and slowest <= 600 else "**not met**"
        lines.append(
            f"- {data}: {verdict}: {sum(ok)}/{len(runs)} seeds meet every threshold; "
            f"the slowest run took {slowest:.0f} s CPU."
        )
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 300 steps: a smoke test")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds per recipe (default 5)")
    parser.add_argument("--steps", type=int, default=None, help="generator steps of the plain objectives")
    parser.add_argument("--best-steps", type=int, default=None, help="generator steps of toy-best")
    parser.add_argument("--workers", type=int, default=2, help="runs trained side by side")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs of the results file")
    parser.add_argument("--out", type=Path, default=None, help="the Markdown table to write")
    parser.add_argument(
        "--only",
        default=None,
        help="train only these recipes, comma-separated, in this order (e.g. toy-best); needs --resume",
    )
    parser.add_argument(
        "--data", default=None, help="train only on these data sets (ring, grid); needs --resume"
    )
    parser.add_argument("--table-only", action="store_true", help="write the table, train nothing")
    args = parser.parse_args(argv)
    quick = args.quick
    args.seeds = args.seeds or (1 if quick else 5)
    args.steps = args.steps or (300 if quick else 1000)
    best_default = PRESETS.get("toy-best", {}).get("steps", 3000)
    args.best_steps = args.best_steps or (300 if quick else best_default)
    default_out = ROOT / (
        "runs/benchmarks/mode_coverage_quick.md" if quick else "docs/benchmarks/mode_coverage.md"
    )
    args.out = args.out or default_out
    results_file = args.out.with_suffix(".jsonl")
    command = "python benchmarks/mode_coverage.py " + " ".join(argv if argv is not None else sys.argv[1:])
    jobs = make_jobs(args.seeds, args.steps, args.best_steps)
    if (args.only is not None or args.data is not None or args.table_only) and not args.resume:
        parser.error("--only, --data and --table-only need --resume: they must not erase the results")
    todo = [job for job in jobs if args.data is None or job["data"] in args.data.split(",")]
    if args.only is not None:  # in the order given, e.g. the cheap recipes first
        order = args.only.split(",")
        todo = sorted(
            (job for job in todo if job["label"] in order), key=lambda job: order.index(job["label"])
        )
    if not args.table_only:
        run_jobs(todo, results_file, args.workers, args.resume)
    rows = load_finished(results_file, jobs)  # the table shows every finished run of every recipe
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows, args, command.strip()))
    print(f"wrote {args.out} and {results_file}", file=sys.stderr)


if __name__ == "__main__":
    main()
