"""Which image regularisers pay on digits? Recipes at an equal budget of generator updates.

Today's image GAN (non-saturating loss, batch-norm D) against spectral normalisation, hinge + SN
(SN-GAN), R1, DiffAugment and their combination, all with the same DCGAN networks, batch size and
number of generator updates, over several seeds. Samples are scored with gankit's image metrics
(FID etc. on the shipped digit feature network) beside the real-vs-real floor. The best median FID
is the recipe behind the ``digits`` preset (src/gankit/config.py).

    nice -n 10 .venv/bin/python benchmarks/images_regularisers.py   # writes docs/benchmarks/*.md
    .venv/bin/python benchmarks/images_regularisers.py --quick       # smoke test: 1 seed, 20 steps, no docs

Each run's numbers and resolved config go to docs/benchmarks/images_regularisers.jsonl.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from gankit.config import TrainConfig, resolve, to_dict
from gankit.experiments.vae_vs_gan import METRICS, SHARED, train_and_score
from gankit.metrics.images import split_real

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks"
AUGMENT = ("translation", "cutout", "color")
# One recipe per line; gamma for R1 is the middle of the range small images use (not tuned here).
RECIPES: dict[str, dict] = {
    "ns (before)": {"objective": "ns"},
    "ns + SN": {"objective": "ns", "spectral_norm": True},
    "hinge + SN": {"objective": "hinge", "spectral_norm": True},
    "ns + R1": {"objective": "ns", "r1_gamma": 1.0},
    "ns + R1 lazy (every 4)": {"objective": "ns", "r1_gamma": 1.0, "r1_every": 4},
    "ns + augment": {"objective": "ns", "augment": AUGMENT},
    "ns + SN + R1 + augment": {"objective": "ns", "spectral_norm": True, "r1_gamma": 1.0, "augment": AUGMENT},
}


def recipe_config(label: str, steps: int, seed: int) -> TrainConfig:
    values = SHARED | RECIPES[label] | {"steps": steps, "seed": seed, "log_every": max(1, steps // 10)}
    return TrainConfig(**values)


def run_one(label: str, steps: int, seed: int) -> dict:
    metrics, _ = train_and_score(recipe_config(label, steps, seed))
    row = {"recipe": label, "seed": seed, "steps": steps, "cpu_seconds": round(metrics["cpu_seconds"], 1)}
    row |= {key: metrics[key] for key in METRICS} | {
        f"floor_{key}": metrics[f"floor_{key}"] for key in METRICS
    }
    row["config"] = to_dict(resolve(recipe_config(label, steps, seed), (1, 8, 8), 10))
    return row


def summary_table(rows: list[dict]) -> str:
    def cell(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.2f}"
        return f"{statistics.median(values):.2f} ({min(values):.2f} - {max(values):.2f})"

    lines = [
        "| recipe | seeds | " + " | ".join(METRICS) + " | CPU s / run |",
        "|" + "---|" * (len(METRICS) + 3),
    ]
    for label in RECIPES:
        mine = [row for row in rows if row["recipe"] == label]
        if mine:
            cells = " | ".join(cell([row[key] for row in mine]) for key in METRICS)
            cpu = statistics.median(row["cpu_seconds"] for row in mine)
            lines.append(f"| {label} | {len(mine)} | {cells} | {cpu:.0f} |")
    floor = " | ".join(f"{rows[0][f'floor_{key}']:.2f}" for key in METRICS)
    lines.append(f"| real vs real (floor) | - | {floor} | - |")
    return "\n".join(lines)


def best_recipe(rows: list[dict]) -> tuple[str, float]:
    medians = {
        label: statistics.median(row["fid"] for row in rows if row["recipe"] == label)
        for label in RECIPES
        if any(row["recipe"] == label for row in rows)
    }
    best = min(medians, key=medians.get)
    return best, medians[best]


def verdict(rows: list[dict]) -> str:
    """Whether any regulariser beat the unregularised recipe in every seed (a clear win) or not."""
    before = {row["seed"]: row["fid"] for row in rows if row["recipe"] == "ns (before)"}
    clear = [
        label
        for label in RECIPES
        if label != "ns (before)"
        and (mine := [row for row in rows if row["recipe"] == label])
        and all(row["fid"] < before[row["seed"]] for row in mine)
    ]
    if clear:
        return f"Lower FID than before in every seed: {', '.join(clear)}."
    return (
        "No regulariser beat the unregularised recipe in every seed at this budget, so the image "
        "default stays as it was. Whether they pay with a longer budget is not measured here."
    )


def lazy_line(rows: list[dict]) -> str:
    def median(label: str, key: str) -> float:
        return statistics.median(row[key] for row in rows if row["recipe"] == label)

    every, lazy = "ns + R1", "ns + R1 lazy (every 4)"
    if not any(row["recipe"] == lazy for row in rows) or not any(row["recipe"] == every for row in rows):
        return "not measured"
    return (
        f"median CPU {median(lazy, 'cpu_seconds'):.0f} s vs {median(every, 'cpu_seconds'):.0f} s per run, "
        f"median FID {median(lazy, 'fid'):.2f} vs {median(every, 'fid'):.2f}"
    )


def write_markdown(rows: list[dict], args, command: str) -> Path:
    best, best_fid = best_recipe(rows)
    before = statistics.median(row["fid"] for row in rows if row["recipe"] == "ns (before)")
    recipes = "\n".join(f"- **{label}**: `{json.dumps(values)}`" for label, values in RECIPES.items())
    text = f"""# Image regularisers on digits

Generated by `{command}` (torch {torch.__version__}, {platform.machine()} CPU, one thread).
Every number below is rewritten by that command; each run is also a line of
`images_regularisers.jsonl` with its resolved config.

**Setup.** scikit-learn's 1,797 8x8 digits, the DCGAN networks of `gankit/nets/dcgan.py`
(width {SHARED["width"]}), batch {SHARED["batch_size"]}, **{args.steps} generator updates** per run
(the equal budget; each recipe's paper-default Adam 2e-4, betas (0.5, 0.999), one D update per G
update), seeds 0..{args.seeds - 1}. FID etc. on {len(split_real(1797)[1])} samples against the
reference half of the digits, with the shipped digit feature network; the floor is the other real
half. Recipes:

{recipes}

## Median (min - max) over seeds

{summary_table(rows)}

## What it shows

- Lowest median FID: **{best}** ({best_fid:.2f}); the recipe gankit used before (ns, batch-norm D)
  scores {before:.2f} at the same {args.steps} generator updates. {verdict(rows)}
- CPU seconds differ per recipe (R1 adds a double backward, SN a power iteration): the budget
  here is generator updates, not time. Lazy R1 (every 4th D update, scaled by 4) against R1 on
  every update: {lazy_line(rows)}.
- What it cannot show: R1's gamma (1.0) and the augmentation policy were not tuned, so a recipe
  that loses here may win with its own tuning; {args.seeds} seed(s) at {args.steps} updates say
  nothing about longer training or larger images.
"""
    path = OUT / "images_regularisers.md"
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated subset of the recipes")
    parser.add_argument("--quick", action="store_true", help="1 seed, 20 steps, print only")
    parser.add_argument("--render", action="store_true", help="only rewrite the markdown from the jsonl")
    args = parser.parse_args()
    if args.render:
        return render(OUT / "images_regularisers.jsonl")
    if args.quick:
        args.steps, args.seeds = 20, 1
    torch.set_num_threads(1)
    chosen = [label.strip() for label in args.recipes.split(",")]
    rows = []
    for seed in range(args.seeds):
        for label in chosen:
            started = time.time()
            row = run_one(label, args.steps, seed)
            rows.append(row)
            print(
                f"{label} seed {seed}: fid {row['fid']:.2f}, cpu {row['cpu_seconds']} s "
                f"(wall {time.time() - started:.0f} s)",
                flush=True,
            )
        if not args.quick:  # after every seed: a stopped benchmark still leaves whole seeds written
            write_outputs(rows, args, seed + 1)
    if args.quick:
        print(summary_table(rows))


def write_outputs(rows: list[dict], args, seeds_done: int) -> None:
    with (OUT / "images_regularisers.jsonl").open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    # the command that produces exactly these rows (seeds run one after another, all recipes each)
    script = "nice -n 10 .venv/bin/python benchmarks/images_regularisers.py"
    command = f"{script} --steps {args.steps} --seeds {seeds_done}"
    done = argparse.Namespace(**(vars(args) | {"seeds": seeds_done}))
    print(f"wrote {write_markdown(rows, done, command)} ({seeds_done} of {args.seeds} seeds)", flush=True)


def render(path: Path) -> None:
    """Rewrite the markdown from a jsonl of whole seeds (after a benchmark was stopped early)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    seeds = len({row["seed"] for row in rows})
    write_outputs(rows, argparse.Namespace(steps=rows[0]["steps"], seeds=seeds), seeds)


if __name__ == "__main__":
    main()
