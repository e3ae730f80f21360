"""Raw and refined mode coverage of a preset on the ring and the grid (PacGAN protocol).

Each seed trains the preset once; 2,500 samples of the trained generator are scored raw, then
refined with each refinement recipe (gankit.refine: DRS and MH-GAN, each with the knn density
ratio and with the run's own discriminator) and scored again. Raw and refined rows are separate
rows of the table; each refined row states its acceptance rate and CPU cost per sample.

    nice -n 10 python benchmarks/refinement.py --workers 2      # full: writes docs/benchmarks/refinement.md
    python benchmarks/refinement.py --quick --out /tmp/refine   # 1 seed, 1,000 steps: a smoke test
    python benchmarks/refinement.py --workers 2 --set latent=mixture --set latent_components=25 \
        --table refinement_mixture                              # the preset with another latent

Every finished seed is appended to ``refinement.jsonl`` beside the table; ``--resume`` reuses
the rows of seeds already done with an identical config. Each run uses one thread; ``--workers``
runs that many seeds at once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import numpy as np
import tomllib
import torch
from mode_coverage import ci_text

from gankit.config import PRESETS, TrainConfig, to_dict
from gankit.metrics.toy import toy_metrics
from gankit.refine import RefineOptions, refine_trainer
from gankit.runs.assemble import train
from gankit.runs.compare import summarize

ROOT = Path(__file__).resolve().parents[1]
DATA = ("ring", "grid")
EVAL_SAMPLES = 2500  # PacGAN's protocol
EVAL_SEED = 10_000  # noise seed of the scored samples
FIRST_SEED = 1000  # training seeds FIRST_SEED.. : not the mode-coverage table's 0..4
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


def seed_config(
    preset: str, data: str, seed: int, steps: int | None, extra: dict | None = None
) -> TrainConfig:
    values = {**PRESETS[preset], **(extra or {}), "data": data, "seed": seed}
    values |= {"eval_every": 0, "sample_every": 0, "threads": 1}
    if steps is not None:
        values["steps"] = steps
    return TrainConfig(**values)


def run_seed(preset: str, data: str, seed: int, steps: int | None, extra: dict | None = None) -> dict:
    torch.set_num_threads(1)  # in a worker process too
    config = seed_config(preset, data, seed, steps, extra)
    start = time.process_time()
    result = train(config)  # in memory: no run directory
    train_cpu = time.process_time() - start
    trainer = result.trainer
    row = {
        "preset": preset,
        "overrides": extra or {},
        "data": data,
        "seed": seed,
        "config": to_dict(result.config),
        "train_cpu_s": train_cpu,
    }
    row["raw"] = toy_metrics(trainer.sample(EVAL_SAMPLES, EVAL_SEED), trainer.data)
    for label, options in RECIPES.items():
        refined = refine_trainer(trainer, EVAL_SAMPLES, EVAL_SEED, options)
        metrics = toy_metrics(refined.samples, trainer.data)
        row[label] = {**metrics, **refined.stats(), "options": asdict(options)}
    row["load_average"] = os.getloadavg()[0]  # 1 min, as the run ends: how busy the machine was
    return row


def mean_ci(values, digits: int) -> str:
    """``mean [95 % percentile-bootstrap CI]`` over seeds; one value alone has no interval."""
    if not np.isfinite(values).all():  # reverse KL is inf when no sample is high quality
        return "inf"
    return ci_text(summarize(list(values), "minimize"), 1, digits)


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
    if key != "raw":  # paired by seed: the same generator, raw and refined
        raw = np.array([row["raw"]["high_quality"] for row in rows], dtype=float) * 100
        out["gain"] = mean_ci(values("high_quality", 100) - raw, 1)
    if "acceptance_rate" in first:
        out["acceptance"] = f"{100 * np.mean([r[key]['acceptance_rate'] for r in rows]):.1f} %"
        out["cost"] = f"{np.mean([r[key]['cpu_ms_per_sample'] for r in rows]):.2f}"
    return out


def write_table(rows: list[dict], path: Path, command: str) -> None:
    preset, steps, extra = rows[0]["preset"], rows[0]["config"]["steps"], rows[0].get("overrides", {})
    settings = {**PRESETS[preset], **extra}
    name = preset + (f" ({_pairs(extra)})" if extra else "")
    lines = [
        "# Raw and refined mode coverage",
        "",
        f"Generated by `{command}`; do not edit by hand. Machine: {platform.machine()} "
        f"{platform.system()}, torch {torch.__version__}, one thread per run.",
        "",
        f"Preset `{preset}`{' with ' + _pairs(extra) if extra else ''} ({_pairs(settings)}), trained on "
        f"seeds {FIRST_SEED}.. (not the mode-coverage table's), {steps} steps. PacGAN protocol: "
        f"{EVAL_SAMPLES} samples "
        "(noise seed 10000), HQ within 3σ of the nearest mode, a mode covered with ≥ 20 HQ samples, "
        "reverse KL of the mode histogram against uniform, W1 on 1,500 points. Raw rows are the "
        "generator alone; refined rows draw the same number of samples through `gankit.refine` "
        "(`gankit eval RUN --refine METHOD --refine-scores SCORES`), with the mean acceptance rate "
        "and CPU ms per returned sample (fitting the scores included). Values are the mean [95 % "
        "percentile-bootstrap CI of the mean] over seeds; *HQ gain* is refined minus raw HQ of the same "
        "run and samples' seed (paired), so it shows what refinement adds beyond the seeds' spread.",
        "",
        load_note(rows),
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
            s = summarise(group, key)
            kind = "raw" if key == "raw" else "refined"
            label = name if key == "raw" else f"{name} + {key}"
            lines.append(
                f"| {kind} | {label} | {len(group)} | {s['modes']} | {s['all']} | {s['hq']} | "
                f"{s.get('gain', '–')} | {s['rkl']} | {s['w1']} | {s.get('acceptance', '–')} | "
                f"{s.get('cost', '–')} |"
            )
        for method, source, values in PUBLISHED:
            modes, hq, rkl = values[data]
            rkl_text = "–" if rkl is None else rkl
            lines.append(f"| published | {method} ({source}) | | {modes} | | {hq} | | {rkl_text} | | | |")
        train_cpu = np.mean([row["train_cpu_s"] for row in group])
        lines += ["", f"Training: {train_cpu:.0f} CPU s per run (mean).", ""]
    lines += [
        "Published rows are copied from the cited tables; those papers train longer and report no",
        "refined rows on these sets. DRS (Azadi et al. 2019) and MH-GAN (Turner et al. 2019) report",
        "their 2-D results with other protocols (DRS: a 5x5 grid scored with its own thresholds; MH-GAN:",
        "figures only), so no row of theirs is comparable here.",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="toy-best", choices=sorted(PRESETS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=DATA)
    parser.add_argument("--quick", action="store_true", help="1 seed, 1,000 steps (a smoke test)")
    parser.add_argument("--resume", action="store_true", help="reuse finished seeds from the jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--workers", type=int, default=1, help="seeds trained at once (one thread each)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset key"
    )
    parser.add_argument("--table", default="refinement", help="writes TABLE.md and TABLE.jsonl in --out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds, steps = (1, 1000) if args.quick else (args.seeds, None)
    args.out.mkdir(parents=True, exist_ok=True)
    extra = dict(_key_value(item) for item in args.set)
    log = args.out / f"{args.table}.jsonl"
    done = [json.loads(line) for line in log.read_text().splitlines()] if args.resume and log.exists() else []
    if not args.resume:
        log.write_text("")
    rows, todo = {}, []
    for data in args.data:
        for seed in range(FIRST_SEED, FIRST_SEED + seeds):
            config = to_dict(seed_config(args.preset, data, seed, steps, extra))
            previous = [r for r in done if r["preset"] == args.preset and _same_run(r["config"], config)]
            if previous:
                rows[data, seed] = previous[0]
            else:
                todo.append((data, seed))
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        running = {
            pool.submit(run_seed, args.preset, data, seed, steps, extra): (data, seed) for data, seed in todo
        }
        for future in as_completed(running):
            data, seed = running[future]
            row = rows[data, seed] = future.result()
            with log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            raw, drs = row["raw"], row["drs, knn"]
            hq_raw, hq_drs = 100 * raw["high_quality"], 100 * drs["high_quality"]
            print(f"{data} seed {seed}: raw HQ {hq_raw:.1f} %, drs knn {hq_drs:.1f} %", flush=True)
    flags = " --quick" if args.quick else f" --workers {args.workers}"
    flags += "".join(f" --set {item}" for item in args.set)
    flags += f" --table {args.table}" if args.table != "refinement" else ""
    command = "nice -n 10 python benchmarks/refinement.py" + flags
    ordered = [rows[key] for key in sorted(rows)]
    write_table(ordered, args.out / f"{args.table}.md", command)
    print(f"wrote {args.out / f'{args.table}.md'}")


def load_note(rows: list[dict]) -> str:
    """The machine's load while the rows were measured (the CPU ms column depends on it a little)."""
    loads = [row["load_average"] for row in rows if "load_average" in row]
    if not loads:
        return "Load average: not recorded for these runs."
    missing = (
        f"; not recorded for {len(rows) - len(loads)} of the {len(rows)} runs"
        if len(loads) < len(rows)
        else ""
    )
    return (
        f"Load average (1 min) as each run ended: {min(loads):.1f} to {max(loads):.1f} on 2 cores{missing}. "
        "The CPU ms column is comparable within this table only."
    )


def _pairs(values: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def _key_value(item: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as TOML (numbers, booleans), else as a string."""
    key, sep, text = item.partition("=")
    if not sep or key not in TrainConfig.__dataclass_fields__:
        raise SystemExit(f"--set needs KEY=VALUE with KEY a train config key, got {item!r}")
    try:
        return key, tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return key, text


def _same_run(saved: dict, config: dict) -> bool:
    """Whether a saved row trained ``config`` (the resolved config also holds the data's defaults)."""
    config = json.loads(json.dumps(config))  # as saved: tuples are lists
    return all(saved.get(key) == value for key, value in config.items() if value is not None)


if __name__ == "__main__":
    main()
