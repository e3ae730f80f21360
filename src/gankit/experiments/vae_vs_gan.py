"""vae-vs-gan: do GAN samples look more real than VAE samples? Measured on digits.

A VAE, a non-saturating GAN and WGAN-GP are trained on scikit-learn's 8x8 digits with the same
networks (the VAE's decoder is the GAN generator), batch size and number of updates. Their samples
are drawn beside real digits and scored with gankit's image metrics next to the real-vs-real floor.
``benchmarks/images.py`` runs the same recipe over several seeds for docs/benchmarks/images.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as PlotFigure

from gankit.config import TrainConfig
from gankit.data.images import load_images
from gankit.experiments.common import Figure, write_outputs
from gankit.metrics.images import image_metrics, split_real

NAME = "vae-vs-gan"
MODELS = {"vae": {"model": "vae"}, "ns": {"objective": "ns"}, "wgan-gp": {"objective": "wgan-gp"}}
SHARED = {"data": "digits", "width": 32, "batch_size": 64, "monitors": False, "sample_every": 0, "threads": 1}
METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")
SAMPLE_SEED = 10_000  # noise seed of the scored samples; training seeds are separate


def model_config(label: str, steps: int, seed: int, **changes) -> TrainConfig:
    """The shared recipe for one model: same data, networks, batch size and number of updates."""
    values = {**SHARED, **MODELS[label], "steps": steps, "seed": seed, "log_every": max(1, steps // 10)}
    return TrainConfig(**(values | changes))


def train_and_score(config: TrainConfig, samples: int | None = None) -> tuple[dict[str, float], np.ndarray]:
    """Train ``config`` in memory; score ``samples`` generated images (default: as many as the floor
    half of the real data). Returns (metrics with floors, the first 64 samples)."""
    import time

    from gankit.runs.assemble import train

    started = time.process_time()
    result = train(config, out=None, echo=lambda message: None)
    cpu_seconds = time.process_time() - started
    data = result.trainer.data
    samples = samples or len(split_real(len(data))[1])
    images = result.trainer.sample(samples, seed=SAMPLE_SEED).numpy()
    return image_metrics(images, data) | {"cpu_seconds": cpu_seconds}, images[:64]


def draw_grids(grids: dict[str, np.ndarray], real: np.ndarray, titles: dict[str, str] | None = None):
    """Real digits and each model's samples as 8x8 grids side by side; returns the figure."""
    titles = titles or {}
    panels = {"real digits": real, **grids}
    fig = PlotFigure(figsize=(3.2 * len(panels), 3.7))
    axes = fig.subplots(1, len(panels))
    for ax, (label, images) in zip(axes, panels.items(), strict=True):
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


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> dict:
    steps = 10 if quick else 1000
    changes = {"batch_size": 16} if quick else {}
    scores, grids = {}, {}
    for label in MODELS:
        scores[label], grids[label] = train_and_score(model_config(label, steps, seed, **changes))
    floor = {key: scores["vae"][f"floor_{key}"] for key in METRICS}
    titles = {
        label: f"{label}: FID {s['fid']:.1f}, precision {s['precision']:.2f}" for label, s in scores.items()
    }
    titles["real digits"] = f"real digits (floor FID {floor['fid']:.1f})"
    real = load_images("digits").all().numpy()[:64]
    numbers = {
        "claim": "GAN samples look more real than VAE samples (higher precision, lower FID)",
        "settings": {**SHARED, "steps": steps, **changes},
        "headline": {
            **{f"{label}_fid": s["fid"] for label, s in scores.items()},
            **{f"{label}_precision": s["precision"] for label, s in scores.items()},
            "floor_fid": floor["fid"],
            "floor_precision": floor["precision"],
        },
        "metrics": {label: {key: s[key] for key in METRICS} for label, s in scores.items()},
        "floor": floor,
    }
    return write_outputs(out_dir, NAME, draw_grids(grids, real, titles), numbers, quick, seed)


FIGURE = Figure(
    name=NAME,
    description="VAE vs ns GAN vs WGAN-GP on digits: sample grids, FID and precision vs the real floor",
    run=run,
    explanation=(
        "A VAE maximises a bound on the likelihood, so it must put probability on every training "
        "image; with a simple pixel likelihood, the cheapest way to do that is to average over "
        "plausible images, which looks blurred. A GAN's generator is instead trained to fool a "
        "discriminator that tells real from generated images, so blur is punished directly and "
        "samples are sharp, at the risk of dropping some variety (mode collapse). Precision (are "
        "samples where real images are?) and recall (is the data's variety covered?) separate the "
        "two effects; FID mixes them. Precision can also reward blur: an average-looking digit lands in the "
        "dense middle of the real features, so a blurry model may score *high* precision and low recall; "
        "a precision win alone is not evidence of sharper samples. The real-vs-real floor is what a "
        "perfect model would score with this many samples."
    ),
)
