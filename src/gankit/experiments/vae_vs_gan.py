"""vae-vs-gan: do GAN samples look more real than VAE samples? Measured on digits or Fashion-MNIST.

A VAE and GANs with the same networks (the VAE's decoder is the GAN generator). The full figure
draws the runs that ``benchmarks/images.py`` trained and tested (equal CPU-time budgets, tuned
learning rates, the checkpoint chosen on a validation part), from the summary of its journals that
the driver writes beside them, runs/images/figure.json (``--data fashion-mnist``:
runs/fashion/figure.json): sample grids of each model's first report seed at its chosen checkpoint
beside real test images, titled with the mean test FID / precision / recall over the report seeds,
and the test part's real-vs-real floor where eval gave one (only at the samples' n). Under every
grid, each shown image's nearest training image (Euclidean over pixels, among the images the run
trained on), so a reader sees whether a model reproduces training images: the real test images'
own neighbours show how near a new image lies by chance. ``--quick`` trains tiny models here (ten
updates) so that ``gankit figure --all --quick`` needs no benchmark.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as PlotFigure

from gankit.config import TrainConfig
from gankit.data import load_data
from gankit.data.images import holdout_part
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
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Train ``config`` in memory; score ``samples`` generated images (default: as many as the floor
    half of the real data) against its data, or against the held-out test part of ``test_fraction``.
    Returns (metrics with floors, the first 64 samples, the images it trained on)."""
    from gankit.runs.assemble import train  # here: the CLI imports every figure module at start-up

    started = time.process_time()
    result = train(config, out=None, echo=lambda message: None)
    cpu_seconds = time.process_time() - started
    data = trained = result.trainer.data
    if test_fraction is not None:
        data = holdout_part(load_data(config.data), test_fraction, "test")
    samples = samples or len(split_real(len(data))[1])
    images = result.trainer.sample(samples, seed=SAMPLE_SEED).numpy()
    scores = image_metrics(images, data) | {"cpu_seconds": cpu_seconds}
    return scores, images[:64], trained.all().numpy()


def nearest_training(images: np.ndarray, training: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's nearest training image, Euclidean over pixels (exact, scikit-learn's k-NN as the
    memorisation probe in diagnose/probes.py), and its distance: (images' shape, (n,))."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=1).fit(training.reshape(len(training), -1))
    distances, nearest = index.kneighbors(images.reshape(len(images), -1))
    return training[nearest[:, 0]], distances[:, 0]


def neighbour_panels(
    grids: dict[str, np.ndarray], training: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """{panel: its images' nearest training images, tile for tile}, {panel: their median distance}."""
    found = {label: nearest_training(images[:64], training) for label, images in grids.items()}
    return (
        {label: images for label, (images, _) in found.items()},
        {label: float(np.median(distances)) for label, (_, distances) in found.items()},
    )


def _tiles(images: np.ndarray) -> np.ndarray:
    """Up to 64 images (n, 1, H, W) in [-1, 1] as one 8x8 grid in [0, 1], a white line between."""
    images = np.clip((images[:64, 0] + 1) / 2, 0, 1)  # (64, H, W) grey in [0, 1]
    side = images.shape[-1]
    tiles = np.ones((8 * (side + 1) + 1, 8 * (side + 1) + 1))
    for index, image in enumerate(images):
        r, c = divmod(index, 8)
        top, left = 1 + r * (side + 1), 1 + c * (side + 1)
        tiles[top : top + side, left : left + side] = image
    return tiles


REAL = "real"  # the real test images' panel (its title says which: draw_scored)


def draw_grids(
    grids: dict[str, np.ndarray],
    real: np.ndarray,
    titles: dict[str, str] | None = None,
    columns: int = 0,
    neighbours: dict[str, np.ndarray] | None = None,
    distances: dict[str, float] | None = None,
):
    """Real images and each model's samples as 8x8 grids side by side (``columns`` per row: 0 = all in
    one row); with ``neighbours`` ({panel: images}), under each grid the same tiles' nearest training
    images, titled with their median distance (``distances``). Returns the figure."""
    titles, distances = titles or {}, distances or {}
    panels = {REAL: real, **grids}
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    stacked = 2 if neighbours else 1  # a panel's axes: its grid, then its neighbours below
    fig = PlotFigure(figsize=(3.2 * columns, 3.7 * rows * stacked))
    axes = fig.subplots(rows * stacked, columns, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for index, (label, images) in enumerate(panels.items()):
        row, column = divmod(index, columns)
        ax = axes[row * stacked, column]
        ax.imshow(_tiles(images), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(titles.get(label, label), fontsize=10)
        if neighbours and label in neighbours:
            below = axes[row * stacked + 1, column]
            below.imshow(_tiles(neighbours[label]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            median = f"\nmedian distance {distances[label]:.2f}" if label in distances else ""
            below.set_title(f"nearest training images{median}", fontsize=10)
    fig.tight_layout()
    return fig


# where benchmarks/images.py leaves its runs and their summary: runs/images of the source checkout
BENCHMARK_DIR = Path(__file__).resolve().parents[3] / "runs" / "images"
SUMMARY = "figure.json"  # benchmarks/images.py's FIGURE_SUMMARY: the same name, written there
BENCHMARK_COMMAND = "nice -n 10 python benchmarks/images.py --workers 2"
# --data: {data set: (the driver's runs beside BENCHMARK_DIR, as its Bench names them; the real panel's
# title; what the claim calls the images)}
BENCHMARKS = {
    "digits": ("images", "real test digits", "digits"),
    "fashion-mnist": ("fashion", "real test images (t10k)", "garments"),
}


def benchmark_dir(data: str) -> Path:
    """Where benchmarks/images.py --data ``data`` leaves its runs (runs/images, runs/fashion)."""
    return BENCHMARK_DIR if data == "digits" else BENCHMARK_DIR.parent / BENCHMARKS[data][0]


def benchmark_command(data: str) -> str:
    """The driver's command for ``data`` (what the figure's errors ask for)."""
    option = "" if data == "digits" else f" --data {data}"
    return BENCHMARK_COMMAND.replace(" --workers", f"{option} --workers")


def samples_at(run_dir: str | Path, step: int, n: int, seed: int) -> np.ndarray:
    """``n`` samples (noise seed ``seed``) of a run's generator at its checkpoint of ``step``."""
    from gankit.metrics.evaluate import checkpoint_samples  # here, as train in train_and_score

    return next(checkpoint_samples(run_dir, n, seed, steps={step}))[1]


def read_benchmark(source: str | Path, command: str = BENCHMARK_COMMAND) -> dict[str, list[dict]]:
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
            f"{path} not found: run `{command}` first (the figure draws its tested report"
            " seeds), or use --quick, which trains its own models"
        )
    models = {model: entry["runs"] for model, entry in json.loads(path.read_text()).items() if entry["runs"]}
    if not models:
        raise GankitError(f"{path} lists no tested report seed yet: let `{command}` go on")
    return {
        model: [run | {"run": str(source / run["run"])} for run in runs] for model, runs in models.items()
    }


def benchmark_scores(chosen: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Mean test metrics over each model's report seeds (sharpness where every seed has it)."""
    scores = {}
    for model, runs in chosen.items():
        keys = METRICS + (("sharpness",) if all("test_sharpness" in run for run in runs) else ())
        scores[model] = {key: float(np.mean([run[f"test_{key}"] for run in runs])) for key in keys}
    return scores


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
    grids: dict[str, np.ndarray],
    scores: dict,
    floor: dict,
    real: np.ndarray,
    columns: int = 0,
    training: np.ndarray | None = None,
    real_title: str = "real test digits",
) -> tuple[PlotFigure, dict[str, float]]:
    """The grids titled with each model's test FID, precision and recall (and sharpness where scored);
    the real images' panel with the floor when there is one (``floor`` {} : none). With ``training``
    (the images the runs trained on), each grid's nearest training images below it. Returns the
    figure and each panel's median distance to its nearest training image ({} without ``training``)."""
    titles = {}
    for label, s in scores.items():
        titles[label] = f"{label}: test FID {s['fid']:.1f}"
        titles[label] += f"\nprecision {s['precision']:.2f}, recall {s['recall']:.2f}"
        if "sharpness" in s:
            titles[label] += f"\nsharpness {s['sharpness']:.2f}"
    titles[REAL] = real_title
    if floor:
        titles[REAL] += f"\n(floor FID {floor['fid']:.1f} at n = {floor['n']:,})"
    neighbours, distances = {}, {}
    if training is not None:
        neighbours, distances = neighbour_panels({REAL: real, **grids}, training)
    return draw_grids(grids, real, titles, columns, neighbours, distances), distances


def test_images(data: str, fraction: float) -> np.ndarray:
    """64 images of the test part (a named set's published split) of ``data`` under ``fraction``."""
    return holdout_part(load_data(data), fraction, "test").all().numpy()[:64]


def training_images(config: dict) -> np.ndarray:
    """The images a run (its config.json) trained on: the training part under its validation_fraction."""
    data = load_data(config["data"], config.get("image_size"))
    fraction = config.get("validation_fraction", 0.0)
    return (holdout_part(data, fraction, "train") if fraction > 0 else data).all().numpy()


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


def figure_from_benchmark(chosen: dict[str, list[dict]], columns: int = 0) -> tuple[PlotFigure, dict]:
    """Sample grids of each model's first seed at its chosen checkpoint, titled with the mean test
    scores, each above its samples' nearest training images; and the panels' median distances."""
    grids = {model: first_samples(runs) for model, runs in chosen.items()}
    first = next(iter(chosen.values()))[0]
    config = read_config(first["run"])
    real = test_images(config["data"], config["validation_fraction"])
    real_title = BENCHMARKS.get(config["data"], BENCHMARKS["digits"])[1]
    scores, floor = benchmark_scores(chosen), floor_of(first, "test_")
    figure, distances = draw_scored(grids, scores, floor, real, columns, training_images(config), real_title)
    figure.suptitle(budget_note(chosen), fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    return figure, distances


def run(
    out_dir: str | Path,
    quick: bool = False,
    seed: int = 0,
    source: str | Path | None = None,
    data: str = "digits",
) -> dict:
    """Full: draw benchmarks/images.py's tested report seeds on ``data`` (``source``, default
    benchmark_dir(data)). Quick: train tiny models on ``data`` here (10 updates, final checkpoint) and
    score them on the same held-out test part. Under every grid its nearest training images."""
    if data not in BENCHMARKS:
        raise GankitError(f"vae-vs-gan draws {', '.join(BENCHMARKS)}, not {data!r}")
    if quick:
        scores, grids = {}, {}
        for label in MODELS:
            config = model_config(
                label, 10, seed, data=data, batch_size=16, validation_fraction=QUICK_FRACTION
            )
            scores[label], grids[label], training = train_and_score(config, test_fraction=QUICK_FRACTION)
        floor = floor_of(scores["vae"])
        real = test_images(data, QUICK_FRACTION)
        title = BENCHMARKS[data][1]
        figure, distances = draw_scored(grids, scores, floor, real, training=training, real_title=title)
        settings = {**SHARED, "data": data, "steps": 10, "batch_size": 16}
        settings["validation_fraction"] = QUICK_FRACTION
    else:
        source = Path(source or benchmark_dir(data))
        chosen = read_benchmark(source, benchmark_command(data))
        scores, floor = benchmark_scores(chosen), floor_of(next(iter(chosen.values()))[0], "test_")
        figure, distances = figure_from_benchmark(chosen)
        settings = {
            "benchmark": str(source / SUMMARY),
            "data": read_config(next(iter(chosen.values()))[0]["run"])["data"],
            "seeds": {model: len(runs) for model, runs in chosen.items()},
            "budget": budget_note(chosen),
            "still_improving": still_improving(chosen),
        }
    numbers = {
        "claim": "GAN samples look more real than VAE samples: lower FID, and real"
        f" {BENCHMARKS[data][2]}' variety (recall)",
        "settings": settings,
        "headline": {
            **{f"{label}_fid": s["fid"] for label, s in scores.items()},
            **{f"{label}_precision": s["precision"] for label, s in scores.items()},
            **{f"{label}_recall": s["recall"] for label, s in scores.items()},
            **{f"floor_{key}": floor[key] for key in ("fid", "precision") if floor},
        },
        "metrics": {label: {key: s[key] for key in METRICS} for label, s in scores.items()},
        "floor": floor,
        # median pixel distance from each panel's shown images to their nearest training image; "real":
        # the real test images', how near an image the networks never saw lies by chance
        "nearest_training_distance": distances,
    }
    return write_outputs(out_dir, NAME, figure, numbers, quick, seed, data if data != "digits" else None)


FIGURE = Figure(
    name=NAME,
    description=(
        "VAE vs GANs on digits (--data fashion-mnist: Fashion-MNIST) at an equal CPU budget, tuned, "
        "checkpoint chosen on validation: sample grids over their nearest training images, and test "
        "FID/KID/precision/recall"
    ),
    run=run,
    prerequisite=BENCHMARK_COMMAND,
    data=tuple(BENCHMARKS),
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
        "would score against this few test images. Under each grid, every shown image's nearest "
        "training image in pixel space: a model that memorised would show the same images twice, and "
        "the real test images' row shows how near an image nobody trained on lies by chance."
    ),
)
