"""Raw and refined mode coverage of a preset on the ring and the grid (PacGAN protocol).

A thin driver over `gankit sweep`: one sweep trains the preset on every (data, seed) cell, each an
ordinary run directory. Then 2,500 samples of each trained generator are scored raw, refined with
each refinement recipe (gankit.refine: DRS and MH-GAN, each with the knn density ratio and with the
run's own discriminator) and scored again. Raw and refined rows are separate rows of the table;
each refined row states its acceptance rate and CPU cost per sample.

    nice -n 10 python benchmarks/refinement.py                 # full: writes docs/benchmarks/refinement.md
    python benchmarks/refinement.py --quick                    # 2 seeds, 1,000 steps: a smoke test
    nice -n 10 python benchmarks/refinement.py --set latent=mixture --set latent_components=25 \
        --table refinement_mixture                             # the preset with another latent

The committed TABLE.jsonl beside the page is the benchmark's state: each run is scored as soon as
its sweep ends and its row appended there, and a rerun of the same command trains only the (data,
seed) cells without a row of this recipe and protocol, in sweeps of at most --workers runs (under
runs/refinement/TABLE/), so a benchmark longer than a session continues in the next one, on any
machine, from the committed file; the page says how many runs it has until every one is in.
`--render` rewrites the page from TABLE.jsonl alone; `--score SWEEP_DIR` scores the finished runs of
a sweep directory (one left by an interrupted command) into TABLE.jsonl without training.

    nice -n 10 python benchmarks/refinement.py --preset toy-cover --table refinement_cover_report \
        --first-seed 42000                                     # toy-cover on its report seeds
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import tomllib
import torch
from mode_coverage import ci_text, driver_arguments, run_sweep, toml_text

from gankit.config import is_config_key
from gankit.data.toy import get_toy
from gankit.engine.restore import load_trainer
from gankit.metrics.toy import toy_metrics
from gankit.presets import PRESETS
from gankit.refine import RefineOptions, refine_trainer
from gankit.rundir import TRIAL, read_config
from gankit.runs import sweep as sweeps
from gankit.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
DATA = ("ring", "grid")
EVAL_SAMPLES = 2500  # PacGAN's protocol
EVAL_SEED = 10_000  # noise seed of the scored samples
FIRST_SEED = 1000  # training seeds FIRST_SEED.. : not the mode-coverage table's (--first-seed)
# The seeds each preset's design was chosen on (docs/refinement.md): a table on them is not held out.
TUNING_SEEDS = {
    "toy-cover": [*range(1000, 1005), *range(7000, 7003), *range(7100, 7105), 31337, 99, 555, 4242],
    "toy-modes": [*range(1000, 1005), *range(5000, 5007), *range(6000, 6003), 3141, 2718],
}
QUICK_STEPS = 1000
SCORES_FILE = "refinement.json"  # a run's raw and refined scores, kept in its run directory
RECIPES = {
    "drs, knn": RefineOptions(method="drs", scores="knn"),
    "mh, knn": RefineOptions(method="mh", scores="knn"),
    "drs, D": RefineOptions(method="drs", scores="d"),
    "mh, D + isotonic": RefineOptions(method="mh", scores="d", calibration="isotonic"),
}
# Published rows with the same data and HQ / coverage protocol: (method, source, {data: (modes, HQ %, rKL)}).
PUBLISHED = [
    ("PacGAN2", "PacGAN, Lin et al. 2018, Table 1", {"ring": (7.9, 95.6, 0.07), "grid": (23.8, 91.3, 0.13)}),
    ("PacGAN4", "PacGAN, Lin et al. 2018, Table 1", {"ring": (7.8, 95.9, 0.07), "grid": (24.8, 93.6, 0.04)}),
    ("VEEGAN", "Srivastava et al. 2017, Table 1", {"ring": (8.0, 52.9, None), "grid": (24.6, 40.0, None)}),
    ("WGAN-GP", "GDPP, Elfeki et al. 2019", {"ring": (6.8, 59.6, None), "grid": (24.2, 28.7, None)}),
]


def recipe(preset: str, extra: dict, steps: int | None) -> dict:
    """The train config every run shares: the preset, ``extra`` on top, no evaluation during training."""
    # fp32 and one thread pinned: "auto" would pick them by timing, so runs of one table could differ
    # (a run that picked 2 threads on a loaded machine crawled, its CPU-seconds counting both)
    base = {**PRESETS[preset], **extra, "eval_every": 0, "sample_every": 0, "amp": False, "threads": 1}
    return base if steps is None else base | {"steps": steps}


def spec_text(base: dict, grid: dict) -> str:
    """The sweep: ``base`` on every (data, seed) cell of ``grid``; no search."""
    return toml_text({"metric": "high_quality", "direction": "maximize", "base": base, "grid": grid})


def protocol() -> dict:
    """What a run's kept scores depend on besides the run itself: reuse them only if it is unchanged."""
    recipes = {label: asdict(options) for label, options in RECIPES.items()}
    # "drs": scores kept before DRS's gamma followed M (see gankit.refine) are not reused; "d": nor
    # those kept before a packed D's score was divided by its pack (pack * log r(x) before)
    return {
        "samples": EVAL_SAMPLES,
        "seed": EVAL_SEED,
        "recipes": recipes,
        "drs": "gamma follows M",
        "d": "divided by pack",
    }


def score_run(run_dir: Path) -> dict:
    """One run's row: raw scores and each recipe's refined scores (computed once, then read back)."""
    kept = run_dir / SCORES_FILE
    if kept.is_file():
        row = json.loads(kept.read_text())
        if row.get("protocol") == protocol():
            return row
    torch.set_num_threads(1)
    trainer = load_trainer(run_dir)
    config = read_config(run_dir)
    trial = json.loads((run_dir / TRIAL).read_text())
    row = {"data": config["data"], "seed": config["seed"], "config": config, "train_cpu_s": trial["cpu_time"]}
    row["raw"] = toy_metrics(trainer.sample(EVAL_SAMPLES, EVAL_SEED), trainer.data)
    for label, options in RECIPES.items():
        refined = refine_trainer(trainer, EVAL_SAMPLES, EVAL_SEED, options)
        metrics = toy_metrics(refined.samples, trainer.data)
        row[label] = {**metrics, **refined.stats(), "options": asdict(options)}
    row["load_average"] = os.getloadavg()[0]  # 1 min, as its refinement is timed: how busy the machine was
    row["protocol"] = protocol()
    kept.write_text(json.dumps(row) + "\n")
    return row


def real_samples(data: str, seed: int) -> np.ndarray:
    """``EVAL_SAMPLES`` draws of the toy distribution itself, the noise seeded by a run's seed."""
    return get_toy(data).sample(EVAL_SAMPLES, torch.Generator().manual_seed(seed)).double().numpy()


def mean_ci(values, digits: int) -> str:
    """``mean [95 % t interval of the mean]`` over seeds (gankit compare's); one value alone has none.

    Reverse KL is undefined (None, read as NaN) for a run with no high-quality sample: it is left
    out, and the cell says over how many seeds it is defined.
    """
    defined = [float(v) for v in values if np.isfinite(v)]
    return ci_text(summarize(defined, "minimize") | {"missing": len(values) - len(defined)}, 1, digits)


def summarise(rows: list[dict], key: str) -> dict:
    def values(name, scale=1.0):
        return np.array([row[key][name] for row in rows], dtype=float) * scale

    first = rows[0][key]
    out = {
        "modes": mean_ci(values("modes"), 1),
        "all": f"{sum(r[key]['modes'] == r[key]['modes_total'] for r in rows)}/{len(rows)}",
        "hq": mean_ci(values("high_quality", 100), 1),
        "rkl": mean_ci(values("reverse_kl"), 3),
        "w1": mean_ci(values("w1"), 3),
    }
    if key in RECIPES:  # paired by seed: the same generator, raw and refined
        raw = np.array([row["raw"]["high_quality"] for row in rows], dtype=float) * 100
        out["gain"] = mean_ci(values("high_quality", 100) - raw, 1)
    if "acceptance_rate" in first:
        out["acceptance"] = f"{100 * np.mean([r[key]['acceptance_rate'] for r in rows]):.1f} %"
        out["cost"] = f"{np.mean([r[key]['cpu_ms_per_sample'] for r in rows]):.2f}"
    return out


def held_out_text(tuned: list[int] | None, held_out: bool) -> str:
    """Whether the report seeds are held out from the seeds the preset was chosen on."""
    if tuned is None:  # a preset whose tuning seeds this driver does not list
        return (
            "the seeds the preset was chosen on are not listed here, docs/refinement.md tells its"
            " history; these report seeds were used by no earlier table or probe"
        )
    verdict = "held out" if held_out else "not held out"
    return f"the preset was chosen on seeds {', '.join(map(str, tuned))}: these rows are {verdict}"


def write_table(rows: list[dict], path: Path, command: str, preset: str, extra: dict, planned: int) -> None:
    steps = rows[0]["config"]["steps"]
    seeds = sorted({row["seed"] for row in rows})
    tuned = TUNING_SEEDS.get(preset)
    held_out = tuned is not None and not set(seeds) & set(tuned)
    settings = {**PRESETS[preset], **extra}
    name = preset + (f" ({_pairs(extra)})" if extra else "")
    lines = [
        "# Raw and refined mode coverage",
        "",
        f"Generated by `{command}`; do not edit by hand. Machine: {platform.machine()} "
        f"{platform.system()}, torch {torch.__version__}, {threads_text(rows)}.",
        "",
        f"Preset `{preset}`{' with ' + _pairs(extra) if extra else ''} ({_pairs(settings)}), trained on "
        f"{'seeds' if tuned and not held_out else 'report seeds'} {seeds[0]}–{seeds[-1]}"
        f" ({held_out_text(tuned, held_out)}), "
        f"{steps} steps, one run directory per "
        "(data, seed), trained by `gankit sweep`. PacGAN protocol: "
        f"{EVAL_SAMPLES} samples "
        "(noise seed 10000), HQ within 3σ of the nearest mode, a mode covered with ≥ 20 HQ samples, "
        "reverse KL of the mode histogram against uniform, W1 on 1,500 points. Raw rows are the "
        "generator alone; refined rows draw the same number of samples through `gankit.refine` "
        "(`gankit eval RUN --refine METHOD --refine-scores SCORES`), with the mean acceptance rate "
        "and CPU ms per returned sample (fitting the scores included). Values are the mean [95 % "
        "t interval of the mean] over seeds; *HQ gain* is refined minus raw HQ of the same "
        "run and samples' seed (paired), so it shows what refinement adds beyond the seeds' spread.",
        "",
        load_note(rows),
        "",
    ]
    superseded = uncorrected_d(rows)
    if superseded:
        lines += [
            "**Superseded D rows.** These runs were scored before a packed discriminator's score was"
            " divided by its pack: their D rows took k · log r(x) for log r(x), so DRS and MH-GAN"
            " targeted p_G · r^k instead of p_data, and they are not shown. Raw and knn rows are"
            " unaffected. The runs are gone; docs/refinement.md names the page that measures the"
            " preset again with the corrected scores.",
            "",
        ]
    if len(rows) < planned:
        lines += [
            f"**Incomplete: {len(rows)} of {planned} runs measured so far.** Each run's row is kept in "
            f"{path.stem}.jsonl as soon as it is scored; the same command continues with the others.",
            "",
        ]
    for data in DATA:
        group = [row for row in rows if row["data"] == data]
        if not group:
            continue
        lines += [
            f"## {data}",
            "",
            "| rows | method | seeds | modes | all modes | HQ % | HQ gain (points) | reverse KL | W1 "
            "| acceptance | CPU ms / sample |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for key in ["raw", *RECIPES]:
            kind = "raw" if key == "raw" else "refined"
            label = name if key == "raw" else f"{name} + {key}"
            if superseded and RECIPES.get(key, RefineOptions()).scores == "d":
                lines.append(
                    f"| {kind} | {label} | superseded (scored before the pack correction) |" + " |" * 8
                )
                continue
            s = summarise(group, key)
            lines.append(
                f"| {kind} | {label} | {len(group)} | {s['modes']} | {s['all']} | {s['hq']} | "
                f"{s.get('gain', '–')} | {s['rkl']} | {s['w1']} | {s.get('acceptance', '–')} | "
                f"{s.get('cost', '–')} |"
            )
        # What the metrics give the data itself, as many samples from each seed: refined rows above
        # these beyond the seeds' spread squeeze the modes tighter than the data, not better samples.
        true = [{"true": toy_metrics(real_samples(data, row["seed"]), get_toy(data))} for row in group]
        s = summarise(true, "true")
        lines.append(
            f"| true samples | {EVAL_SAMPLES} draws of {data} | {len(true)} | {s['modes']} | {s['all']} | "
            f"{s['hq']} | | {s['rkl']} | {s['w1']} | | |"
        )
        for method, source, values in PUBLISHED:
            modes, hq, rkl = values[data]
            rkl_text = "–" if rkl is None else rkl
            lines.append(f"| published | {method} ({source}) | | {modes} | | {hq} | | {rkl_text} | | | |")
        train_cpu = [row["train_cpu_s"] for row in group]
        mean_cpu, most_cpu = np.mean(train_cpu), max(train_cpu)
        lines += ["", f"Training: {mean_cpu:.0f} CPU s per run (mean; most {most_cpu:.0f}).", ""]
    lines += [
        "Published rows are copied from the cited tables; those papers train longer and report no",
        "refined rows on these sets. DRS (Azadi et al. 2019) and MH-GAN (Turner et al. 2019) report",
        "their 2-D results with other protocols (DRS: a 5x5 grid scored with its own thresholds; MH-GAN:",
        "figures only), so no row of theirs is comparable here.",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    def options(parser) -> None:
        parser.add_argument("--preset", default="toy-best", choices=sorted(PRESETS))
        parser.add_argument("--data", nargs="+", default=list(DATA), choices=DATA)
        parser.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset key"
        )
        parser.add_argument("--table", default="refinement", help="writes TABLE.md and TABLE.jsonl")
        parser.add_argument(
            "--first-seed", type=int, default=FIRST_SEED, help="first training seed (report seeds)"
        )
        parser.add_argument(
            "--score", type=Path, metavar="SWEEP_DIR", help="only score the finished runs of this sweep"
        )
        parser.add_argument("--render", action="store_true", help="only write the page from TABLE.jsonl")

    args = driver_arguments(
        argv, "refinement", __doc__, f"2 seeds, {QUICK_STEPS:,} steps (a smoke test)", options
    )
    torch.set_num_threads(1)
    extra = dict(_key_value(item) for item in args.set)
    steps = QUICK_STEPS if args.quick else None
    docs = args.out if args.quick else ROOT / "docs" / "benchmarks"  # a smoke test writes beside its runs
    rows_file = docs / f"{args.table}.jsonl"
    base = tomllib.loads(spec_text(recipe(args.preset, extra, steps), {}))["base"]  # as TOML reads it back
    rows = kept_rows(rows_file, base, uncorrected=args.render)
    if args.score is not None:
        rows = score_finished(args.score, base, rows, rows_file)
    elif not args.render:
        for grid in missing_cells(rows, args.data, args.first_seed, args.seeds, args.workers):
            name = f"{args.table}/{'-'.join(grid['data'])}_{'-'.join(map(str, grid['seed']))}"
            sweep_dir = run_sweep(args.out / name, spec_text(base, grid), args.workers)
            rows = score_finished(sweep_dir, base, rows, rows_file)
    if not rows:
        sys.exit(f"no finished runs in {rows_file} yet")
    for row in rows:
        raw, drs = 100 * row["raw"]["high_quality"], 100 * row["drs, D"]["high_quality"]
        print(f"{row['data']} seed {row['seed']}: raw HQ {raw:.1f} %, drs D {drs:.1f} %", flush=True)
    command = "nice -n 10 " + args.command.split(" --score")[0].replace(" --render", "")
    write_table(rows, docs / f"{args.table}.md", command, args.preset, extra, args.seeds * len(args.data))
    print(f"wrote {docs / f'{args.table}.md'}")


def kept_rows(rows_file: Path, base: dict, uncorrected: bool = False) -> list[dict]:
    """The rows already measured for this recipe and protocol: the benchmark's durable state.

    Each run is scored as soon as its training ends and its row appended to the committed TABLE.jsonl,
    so a benchmark cut off at the end of a session continues from its finished runs on any machine,
    without their run directories; rows of another recipe or protocol are not reused. With
    ``uncorrected`` (--render only) rows scored before a packed D's score was divided by its pack are
    kept too, for a page that shows their D rows as superseded (:func:`uncorrected_d`).
    """
    if not rows_file.is_file():
        return []
    rows = [json.loads(line) for line in rows_file.read_text().splitlines() if line.strip()]
    current = protocol()
    allowed = [current] + ([{k: v for k, v in current.items() if k != "d"}] if uncorrected else [])
    return [row for row in rows if row.get("protocol") in allowed and same_recipe(row["config"], base)]


def uncorrected_d(rows: list[dict]) -> bool:
    """Whether some row's D scores were taken as log r(x) from a packed D (k * log r(x) before the
    correction): its D rows then target p_G * r^k, not p_data (issue #37)."""
    packed = any(row["config"].get("pack", 1) > 1 for row in rows)
    return packed and any(row["protocol"].get("d") != protocol()["d"] for row in rows)


def same_recipe(config: dict, base: dict) -> bool:
    """The same training recipe; the thread count may differ (the page says which each run used)."""
    return all(config.get(key) == value for key, value in base.items() if key != "threads")


def threads_text(rows: list[dict]) -> str:
    """The CPU threads the table's runs trained with. 0: a run from before runs recorded their threads,
    which took its sweep worker's share of the cores: one, for every such table here (two workers on
    2 cores)."""
    threads = [row["config"].get("threads", 0) or 1 for row in rows]
    if set(threads) == {1}:
        return "one thread per run"
    counts = ", ".join(f"{threads.count(t)} with {t}" for t in sorted(set(threads)))
    return f"threads per run: {counts} (CPU-seconds count every thread)"


def missing_cells(rows: list[dict], data: list[str], first_seed: int, seeds: int, workers: int) -> list[dict]:
    """The (data, seed) cells without a row, as sweep grids of at most ``workers`` cells each (so a
    session that ends mid-benchmark loses at most one grid's training), each grid a product of its
    data sets and seeds (what a sweep's [grid] expresses)."""
    done = {(row["data"], row["seed"]) for row in rows}
    cells = [(name, seed) for seed in range(first_seed, first_seed + seeds) for name in data]
    grids: list[list[tuple[str, int]]] = []
    for cell in (cell for cell in cells if cell not in done):
        grown = grids[-1] + [cell] if grids else [cell]
        names, seeds_in = {name for name, _ in grown}, {seed for _, seed in grown}
        if grids and len(grown) <= workers and len(names) * len(seeds_in) == len(grown):
            grids[-1] = grown
        else:
            grids.append([cell])
    return [as_grid(grid) for grid in grids]


def as_grid(cells: list[tuple[str, int]]) -> dict:
    """A sweep's [grid] of (data, seed) cells that form a product."""
    names = {name for name, _ in cells}
    return {"data": [name for name in DATA if name in names], "seed": sorted({seed for _, seed in cells})}


def score_finished(sweep_dir: Path, base: dict, rows: list[dict], rows_file: Path) -> list[dict]:
    """Score every finished run of a sweep that has no row yet; write TABLE.jsonl after each."""
    done = {(row["data"], row["seed"]) for row in rows}
    for run in sorted((sweep_dir / sweeps.TRIALS).iterdir()):
        if not (run / TRIAL).is_file():
            continue  # still training, or killed: not finished
        config = read_config(run)
        if (config["data"], config["seed"]) in done or not same_recipe(config, base):
            continue
        rows = sorted([*rows, score_run(run)], key=lambda row: (DATA.index(row["data"]), row["seed"]))
        rows_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
        done.add((config["data"], config["seed"]))
    return rows


def load_note(rows: list[dict]) -> str:
    """The machine's load while the rows were measured (the CPU ms column depends on it a little)."""
    loads = [row["load_average"] for row in rows]
    return (
        f"Load average (1 min) as each run's refinement was timed: {min(loads):.1f} to {max(loads):.1f} "
        "on 2 cores. The CPU ms column is comparable within this table only."
    )


def _pairs(values: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def _key_value(item: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as TOML (numbers, booleans), else as a string."""
    key, sep, text = item.partition("=")
    if not sep or not is_config_key(key):
        raise SystemExit(f"--set needs KEY=VALUE with KEY a train config key, got {item!r}")
    try:
        return key, tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return key, text


if __name__ == "__main__":
    main()
