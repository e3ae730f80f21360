"""vae-vs-gan: do GAN samples look more real than VAE samples? Measured on digits.

A VAE, a non-saturating GAN and WGAN-GP with the same networks (the VAE's decoder is the GAN
generator). The full figure draws the runs that ``benchmarks/images.py`` trained and tested (equal
CPU-time budgets, tuned learning rates, the checkpoint chosen on a validation part of the digits),
from the summary of its journals that the driver writes beside them, runs/images/figure.json:
sample grids of each model's first report seed at its chosen checkpoint beside real test digits,
titled with the mean test FID / precision / recall over the report seeds, and the test part's
real-vs-real floor where eval gave one (only at the samples' n). ``--quick`` trains tiny models here
(ten updates) so that ``gankit figure --all --quick`` needs no benchmark.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as PlotFigure

from gankit.config import TrainConfig
from gankit.data.images import holdout_part, load_images
from gankit.errors import GankitError
from gankit.experiments.common import Figure, write_outputs
from gankit.metrics.images import image_metrics, split_real
from gankit.rundir import read_config

NAME = "vae-vs-gan"
MODELS = {"vae": {"model": "vae"}, "ns": {"objective": "ns"}, "wgan-gp": {"objective": "wgan-gp"}}
SHARED = {"data": "digits", "width": 32, "batch_size": 64, "monitors": False, "sample_every": 0, "threads": 1}
METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")
SAMPLE_SEED = 10_000  # noise seed of the scored samples; training seeds are separate
QUICK_FRACTION = 0.5  # --quick holds out half the digits, as benchmarks/specs/images_*.toml do


def model_config(label: str, steps: int, seed: int, **changes) -> TrainConfig:
    """The shared recipe for one model: same data, networks, batch size and number of updates."""
    values = {**SHARED, **MODELS[label], "steps": steps, "seed": seed, "log_every": max(1, steps // 10)}
    return TrainConfig(**(values | changes))


def train_and_score(
    config: TrainConfig, samples: int | None = None, test_fraction: float | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """Train ``config`` in memory; score ``samples`` generated images (default: as many as the floor
    half of the real data) against its data, or against the held-out test part of ``test_fraction``.
    Returns (metrics with floors, the first 64 samples)."""
    from gankit.runs.assemble import train  # here: the CLI imports every figure module at start-up

    started = time.process_time()
    result = train(config, out=None, echo=lambda message: None)
    cpu_seconds = time.process_time() - started
    data = result.trainer.data
    if test_fraction is not None:
        data = holdout_part(load_images(config.data), test_fraction, "test")
    samples = samples or len(split_real(len(data))[1])
    images = result.trainer.sample(samples, seed=SAMPLE_SEED).numpy()
    return image_metrics(images, data) | {"cpu_seconds": cpu_seconds}, images[:64]


def draw_grids(
    grids: dict[str, np.ndarray], real: np.ndarray, titles: dict[str, str] | None = None, columns: int = 0
):
    """Real digits and each model's samples as 8x8 grids side by side (``columns`` per row: 0 = all in
    one row); returns the figure."""
    titles = titles or {}
    panels = {"real digits": real, **grids}
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    fig = PlotFigure(figsize=(3.2 * columns, 3.7 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes[len(panels) :]:
        ax.axis("off")
    for ax, (label, images) in zip(axes, panels.items(), strict=False):
        images = np.clip((images[:64, 0] + 1) / 2, 0, 1)  # (64, H, W) grey in [0, 1]
        side = images.shape[-1]
        tiles = np.ones((8 * (side + 1) + 1, 8 * (side + 1) + 1))
        for index, image in enumerate(images):
            r, c = divmod(index, 8)
            top, left = 1 + r * (side + 1), 1 + c * (side + 1)
            tiles[top : top + side, left : left + side] = image
        ax.imshow(tiles, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(titles.get(label, label), fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig


# where benchmarks/images.py leaves its runs and their summary: runs/images of the source checkout
BENCHMARK_DIR = Path(__file__).resolve().parents[3] / "runs" / "images"
SUMMARY = "figure.json"  # benchmarks/images.py's FIGURE_SUMMARY: the same name, written there
BENCHMARK_COMMAND = "nice -n 10 python benchmarks/images.py --workers 2"


def samples_at(run_dir: str | Path, step: int, n: int, seed: int) -> np.ndarray:
    """``n`` samples (noise seed ``seed``) of a run's generator at its checkpoint of ``step``."""
    from gankit.metrics.evaluate import checkpoint_samples  # here, as train in train_and_score

    return next(checkpoint_samples(run_dir, n, seed, steps={step}))[1]


def read_benchmark(source: str | Path) -> dict[str, list[dict]]:
    """What benchmarks/images.py keeps for this figure: {model: its report seeds' records, first seed
    first}, each {run, seed, steps, chosen_step, test_fid, ...}; ``run`` absolute.

    The benchmark's record is its journals (benchmarks/journals/images_seeds_<model>.journal: each
    report seed's validation-chosen checkpoint and its test metrics). The driver writes this summary
    of them, SOURCE/figure.json, beside the run directories it names, so gankit reads one small file
    and needs to know neither the benchmark's study names nor its code (src/ never imports
    benchmarks/); a rerun or a render with the runs present rewrites it from the journals.
    """
    source = Path(source)
    path = source / SUMMARY
    if not path.is_file():
        raise GankitError(
            f"{path} not found: run `{BENCHMARK_COMMAND}` first (the figure draws its tested report"
            " seeds), or use --quick, which trains its own models"
        )
    models = {model: entry["runs"] for model, entry in json.loads(path.read_text()).items() if entry["runs"]}
    if not models:
        raise GankitError(f"{path} lists no tested report seed yet: let `{BENCHMARK_COMMAND}` go on")
    return {
        model: [run | {"run": str(source / run["run"])} for run in runs] for model, runs in models.items()
    }


def benchmark_scores(chosen: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Mean test metrics over each model's report seeds."""
    return {
        model: {key: float(np.mean([run[f"test_{key}"] for run in runs])) for key in METRICS}
        for model, runs in chosen.items()
    }


def floor_of(scores: dict, prefix: str = "") -> dict[str, float]:
    """The real-vs-real floor in one record of metrics (``prefix``: "test_" for the benchmark's), with
    its sample size ``n``; {} where eval gave none (it gives one only at the samples' n)."""
    if f"{prefix}floor_fid" not in scores:
        return {}
    return {key: scores[f"{prefix}floor_{key}"] for key in METRICS} | {"n": scores[f"{prefix}n_floor"]}


def still_improving(chosen: dict) -> list[str]:
    """The models with a run whose validation-chosen checkpoint lies in the last tenth of its steps:
    validation FID was still improving when the CPU budget ran out (budget-bound, not converged)."""
    return [
        model for model, runs in chosen.items() if any(r["chosen_step"] >= 0.9 * r["steps"] for r in runs)
    ]


def budget_note(chosen: dict) -> str:
    """One line: the CPU budget of a run, the seeds, and whether every run had stopped improving."""
    first = next(iter(chosen.values()))
    config = read_config(first[0]["run"])
    budget = config.get("time_budget_s")
    threads = config.get("threads")
    at = f" at {threads} thread{'s' if threads != 1 else ''}" if isinstance(threads, int) else ""
    length = f"{budget:g} training CPU-s a run{at}" if budget else f"{config['steps']} steps a run"
    fewest, most = min(map(len, chosen.values())), max(map(len, chosen.values()))
    seeds = f"{fewest}" if fewest == most else f"{fewest}–{most}"  # an arm still being tested: fewer
    late = still_improving(chosen)
    return f"{length}, mean of {seeds} seeds; " + (
        "validation FID still improving at the end for " + ", ".join(late)
        if late
        else "validation FID had stopped improving in every run"
    )


def draw_scored(
    grids: dict[str, np.ndarray], scores: dict, floor: dict, real: np.ndarray, columns: int = 0
) -> PlotFigure:
    """The grids titled with each model's test FID, precision and recall; the real digits' panel with
    the floor when there is one (``floor`` {} : none)."""
    titles = {
        label: f"{label}: test FID {s['fid']:.1f}\nprecision {s['precision']:.2f}, recall {s['recall']:.2f}"
        for label, s in scores.items()
    }
    titles["real digits"] = "real test digits"
    if floor:
        titles["real digits"] += f"\n(floor FID {floor['fid']:.1f} at n = {floor['n']:,})"
    return draw_grids(grids, real, titles, columns)


def test_digits(fraction: float) -> np.ndarray:
    return holdout_part(load_images("digits"), fraction, "test").all().numpy()[:64]


def first_samples(runs: list[dict]) -> np.ndarray:
    """64 samples of the first report seed at its validation-chosen checkpoint (the driver keeps that
    checkpoint and the last of every tested run)."""
    first = runs[0]
    if not Path(first["run"]).is_dir():
        raise GankitError(
            f"{first['run']} is gone: the samples need the benchmark's run directories, which stay"
            " where it trained them (its journals keep the numbers only)"
        )
    return samples_at(first["run"], first["chosen_step"], 64, SAMPLE_SEED)


def figure_from_benchmark(chosen: dict[str, list[dict]], columns: int = 0) -> PlotFigure:
    """Sample grids of each model's first seed at its chosen checkpoint, titled with the mean test scores."""
    grids = {model: first_samples(runs) for model, runs in chosen.items()}
    first = next(iter(chosen.values()))[0]
    real = test_digits(read_config(first["run"])["validation_fraction"])
    figure = draw_scored(grids, benchmark_scores(chosen), floor_of(first, "test_"), real, columns)
    figure.suptitle(budget_note(chosen), fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.94))
    return figure


def run(out_dir: str | Path, quick: bool = False, seed: int = 0, source: str | Path | None = None) -> dict:
    """Full: draw benchmarks/images.py's tested report seeds (``source``, default BENCHMARK_DIR). Quick:
    train tiny models here (10 updates, final checkpoint) and score them on the same held-out test part."""
    if quick:
        scores, grids = {}, {}
        for label in MODELS:
            config = model_config(label, 10, seed, batch_size=16, validation_fraction=QUICK_FRACTION)
            scores[label], grids[label] = train_and_score(config, test_fraction=QUICK_FRACTION)
        floor = floor_of(scores["vae"])
        figure = draw_scored(grids, scores, floor, test_digits(QUICK_FRACTION))
        settings = {**SHARED, "steps": 10, "batch_size": 16, "validation_fraction": QUICK_FRACTION}
    else:
        source = Path(source or BENCHMARK_DIR)
        chosen = read_benchmark(source)
        scores, floor = benchmark_scores(chosen), floor_of(next(iter(chosen.values()))[0], "test_")
        figure = figure_from_benchmark(chosen)
        settings = {
            "benchmark": str(source / SUMMARY),
            "seeds": {model: len(runs) for model, runs in chosen.items()},
            "budget": budget_note(chosen),
            "still_improving": still_improving(chosen),
        }
    numbers = {
        "claim": "GAN samples look more real than VAE samples: lower FID, and real digits' variety (recall)",
        "settings": settings,
        "headline": {
            **{f"{label}_fid": s["fid"] for label, s in scores.items()},
            **{f"{label}_precision": s["precision"] for label, s in scores.items()},
            **{f"{label}_recall": s["recall"] for label, s in scores.items()},
            **{f"floor_{key}": floor[key] for key in ("fid", "precision") if floor},
        },
        "metrics": {label: {key: s[key] for key in METRICS} for label, s in scores.items()},
        "floor": floor,
    }
    return write_outputs(out_dir, NAME, figure, numbers, quick, seed)


FIGURE = Figure(
    name=NAME,
    description=(
        "VAE vs ns GAN vs WGAN-GP on digits at an equal CPU budget, tuned, checkpoint chosen on "
        "validation: sample grids and test FID/KID/precision/recall"
    ),
    run=run,
    prerequisite=BENCHMARK_COMMAND,
    explanation=(
        "A VAE maximises a bound on the likelihood, so it must put probability on every training "
        "image; with a simple pixel likelihood, the cheapest way to do that is to average over "
        "plausible images, which looks blurred. A GAN's generator is instead trained to fool a "
        "discriminator that tells real from generated images, so blur is punished directly and "
        "samples are sharp, at the risk of dropping some variety (mode collapse). The numbers come "
        "from benchmarks/images.py (docs/benchmarks/images.md): each model got the same CPU time per "
        "run, the same number of learning-rate trials, and the checkpoint with the best FID on a "
        "validation part of the digits; FID/KID/precision/recall are then measured once on a separate "
        "test part, averaged over fresh seeds. What they support: a ranking of these three models, with "
        "these networks, on 8x8 digits, at this budget (the CIs in the benchmark's table say how firm it "
        "is). What they do not: other data, larger budgets, or a better VAE decoder likelihood. And "
        "precision is not a sharpness score: it counts samples that land among real digits' features, "
        "and a blurred average digit lands in their dense middle, so a blurry model can score *high* "
        "precision with low recall; read precision together with recall and the grids. A real-vs-real "
        "floor, shown where there are as many spare test digits as samples, is what a perfect model "
        "would score against this few test images."
    ),
)
