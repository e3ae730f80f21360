"""GAN vs VAE on digits: do GAN samples look more real than VAE samples, by the numbers?

The VAE baseline, the non-saturating GAN (``ns``) and WGAN-GP are trained on scikit-learn's 8x8
digits with the same networks (the VAE's decoder is the GAN generator), the same batch size and the
same number of updates, for several seeds. Samples of each are scored with gankit's image metrics
(FID/KID/precision/recall/density/coverage on the shipped digits feature network) next to the
real-vs-real floor, and a sample grid of each model (seed 0) is drawn beside real digits.

    nice -n 10 .venv/bin/python benchmarks/images.py            # writes docs/benchmarks/images.md + .png
    .venv/bin/python benchmarks/images.py --quick                # smoke test: 1 seed, 30 steps, no docs

Each finished run is appended to docs/benchmarks/images.jsonl, so an interrupted run continues
with ``--resume`` (a row is reused only when its config is identical).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from gankit.config import TrainConfig, to_dict  # noqa: E402
from gankit.data.images import load_images  # noqa: E402
from gankit.metrics.images import image_metrics, split_real  # noqa: E402
from gankit.train.run import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks"
MODELS = (("vae", {"model": "vae"}), ("ns", {"objective": "ns"}), ("wgan-gp", {"objective": "wgan-gp"}))
SHARED = {"data": "digits", "width": 32, "batch_size": 64, "monitors": False, "sample_every": 0, "threads": 1}
METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")
SAMPLE_SEED = 10_000  # noise seed of the scored samples; training seeds are 0..seeds-1


def config_for(label: str, steps: int, seed: int) -> TrainConfig:
    overrides = dict(MODELS)[label]
    return TrainConfig(**SHARED, **overrides, steps=steps, seed=seed, log_every=max(1, steps // 10))


def run_one(label: str, steps: int, seed: int, n_samples: int) -> tuple[dict, np.ndarray]:
    """Train one model in memory; score ``n_samples`` of its samples. Returns (row, 64 samples)."""
    config = config_for(label, steps, seed)
    started = time.process_time()
    result = train(config, out=None, echo=lambda message: None)
    cpu_seconds = time.process_time() - started
    samples = result.trainer.sample(n_samples, seed=SAMPLE_SEED).numpy()
    metrics = image_metrics(samples, result.trainer.data)
    row = {"model": label, "seed": seed, "steps": steps, "cpu_seconds": round(cpu_seconds, 1)}
    row |= {key: metrics[key] for key in METRICS}
    row |= {f"floor_{key}": metrics[f"floor_{key}"] for key in METRICS}
    row["config"] = to_dict(result.trainer.config)
    return row, samples[:64]


def summary_table(rows: list[dict]) -> str:
    """Median (min - max) over seeds per model, then the real-vs-real floor."""

    def cell(values: list[float], digits: int) -> str:
        if len(values) == 1:
            return f"{values[0]:.{digits}f}"
        return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f} - {max(values):.{digits}f})"

    digits = {"fid": 2, "kid": 3, "precision": 2, "recall": 2, "density": 2, "coverage": 2}
    header = "| model | seeds | " + " | ".join(METRICS) + " | CPU s / run |"
    lines = [header, "|" + "---|" * (len(METRICS) + 3)]
    for label, _ in MODELS:
        mine = [row for row in rows if row["model"] == label]
        if not mine:
            continue
        cells = [cell([row[key] for row in mine], digits[key]) for key in METRICS]
        cpu = statistics.median(row["cpu_seconds"] for row in mine)
        lines.append(f"| {label} | {len(mine)} | " + " | ".join(cells) + f" | {cpu:.0f} |")
    floor = rows[0]
    lines.append(
        "| real vs real (floor) | - | "
        + " | ".join(f"{floor[f'floor_{key}']:.{digits[key]}f}" for key in METRICS)
        + " | - |"
    )
    return "\n".join(lines)


def seed_table(rows: list[dict]) -> str:
    lines = ["| model | seed | " + " | ".join(METRICS) + " |", "|" + "---|" * (len(METRICS) + 2)]
    for row in rows:
        values = " | ".join(f"{row[key]:.4g}" for key in METRICS)
        lines.append(f"| {row['model']} | {row['seed']} | {values} |")
    return "\n".join(lines)


def draw_grids(grids: dict[str, np.ndarray], real: np.ndarray, path: Path) -> None:
    """Real digits and each model's samples (seed 0), as 8x8 grids side by side."""
    panels = {"real digits": real, **grids}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (title, images) in zip(axes, panels.items(), strict=True):
        images = np.clip((images[:64, 0] + 1) / 2, 0, 1)  # (64, 8, 8) grey in [0, 1]
        tiles = np.ones((8 * 9 + 1, 8 * 9 + 1))
        for index, image in enumerate(images):
            r, c = divmod(index, 8)
            tiles[1 + r * 9 : 1 + r * 9 + 8, 1 + c * 9 : 1 + c * 9 + 8] = image
        ax.imshow(tiles, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_markdown(rows: list[dict], args, command: str) -> Path:
    floor = rows[0]
    shared = ", ".join(
        f"{k}={v}" for k, v in SHARED.items() if k not in ("monitors", "sample_every", "threads")
    )
    text = f"""# GAN vs VAE on digits

Generated by `{command}` (torch {torch.__version__}, {platform.machine()} CPU, one thread per run).
Every number and the picture below are rewritten by that command.

**Setup.** scikit-learn's 1,797 8x8 digits. Three models with the same networks (the VAE's decoder
is the DCGAN generator; {shared}) and the same budget of {args.steps} updates of {SHARED["batch_size"]}
images each (WGAN-GP's critic also takes its 5 updates per generator update, as its paper says);
each objective's paper defaults for the optimiser (VAE: Adam 1e-3). Seeds 0..{args.seeds - 1}.
{args.samples} samples per run (noise seed {SAMPLE_SEED}) are scored against the reference half of the
real data ({floor["config"]["data"]}: {len(split_real(1797)[0])} images); the **floor** scores the other
real half the same way, so it is what a perfect generator would get with this many samples.

Metrics on the shipped digits feature network (`gankit/assets/digits_features.*`): FID and KID
(lower is better), precision and density (are samples realistic?), recall and coverage (is the
variety of the data covered?). See `src/gankit/metrics/images.py`.

## Summary: median (min - max) over seeds

{summary_table(rows)}

![real digits and samples of each model, seed 0](images.png)

## Every run

{seed_table(rows)}

## What it shows

{findings(rows)}
"""
    path = OUT / "images.md"
    path.write_text(text)
    return path


def findings(rows: list[dict]) -> str:
    """A few sentences computed from the numbers (so they stay true when the table changes)."""
    median = {
        label: {key: statistics.median(r[key] for r in rows if r["model"] == label) for key in METRICS}
        for label, _ in MODELS
    }
    floor = rows[0]
    best_fid = min(median, key=lambda label: median[label]["fid"])
    lines = [
        f"- Lowest median FID: **{best_fid}** ({median[best_fid]['fid']:.2f}; the floor is "
        f"{floor['floor_fid']:.2f}).",
    ]
    for gan in ("ns", "wgan-gp"):
        verdict = "lower" if median[gan]["fid"] < median["vae"]["fid"] else "higher"
        sharper = "higher" if median[gan]["precision"] > median["vae"]["precision"] else "lower"
        lines.append(
            f"- {gan}: median FID {verdict} than the VAE's ({median[gan]['fid']:.2f} vs "
            f"{median['vae']['fid']:.2f}); precision {sharper} ({median[gan]['precision']:.2f} vs "
            f"{median['vae']['precision']:.2f}), recall {median[gan]['recall']:.2f} vs "
            f"{median['vae']['recall']:.2f}."
        )
    lines.append(
        "- Precision measures whether samples land where real digits are; it is the number that "
        'speaks to "looks more real". Recall/coverage speak to variety. With this small budget '
        "none of the models reaches the floor."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=len(split_real(1797)[1]))
    parser.add_argument("--quick", action="store_true", help="1 seed, 30 steps, print only")
    parser.add_argument("--resume", action="store_true", help="reuse finished rows of images.jsonl")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.seeds = 30, 1
    torch.set_num_threads(1)
    log = OUT / "images.jsonl"
    done = {}
    if args.resume and log.exists():
        for line in log.read_text().splitlines():
            row = json.loads(line)
            done[(row["model"], row["seed"], json.dumps(row["config"], sort_keys=True))] = row
    elif not args.quick:
        OUT.mkdir(parents=True, exist_ok=True)
        log.write_text("")
    rows, grids = [], {}
    for seed in range(args.seeds):
        for label, _ in MODELS:
            key = (label, seed, json.dumps(to_dict(_resolved(label, args.steps, seed)), sort_keys=True))
            if key in done:
                rows.append(done[key])
                continue
            row, samples = run_one(label, args.steps, seed, args.samples)
            rows.append(row)
            if seed == 0:
                grids[label] = samples
            print(f"{label} seed {seed}: " + ", ".join(f"{k} {row[k]:.4g}" for k in METRICS), flush=True)
            if not args.quick:
                with log.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
    if args.quick:
        print(summary_table(rows))
        return
    for label, _ in MODELS:  # grids of resumed rows: retrain seed 0 only if its grid is missing
        if label not in grids:
            grids[label] = run_one(label, args.steps, 0, args.samples)[1]
    real = load_images("digits").all().numpy()[:64]
    draw_grids(grids, real, OUT / "images.png")
    command = "nice -n 10 .venv/bin/python benchmarks/images.py " + " ".join(sys.argv[1:])
    print(f"wrote {write_markdown(rows, args, command.strip())}")


def _resolved(label: str, steps: int, seed: int) -> TrainConfig:
    from gankit.train.run import prepare

    return prepare(config_for(label, steps, seed))[1]


if __name__ == "__main__":
    main()
