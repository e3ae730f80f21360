"""Evaluate a trained run or a file of samples: the library behind ``gankit eval``.

Toy data gets the toy metrics (:mod:`gankit.metrics.toy`); image data is handed to
``gankit.metrics.images.image_metrics``. Both return a flat ``dict[str, float]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from gankit.data import is_toy, load_data
from gankit.errors import GankitError

# stacked-digits: FID/KID/PRDC on the first this-many samples (the modes use all of them); PRDC's
# pairwise distances to 26,000 samples would need gigabytes.
IMAGE_METRICS_MAX = 5000


def default_samples(data_name: str) -> int:
    """How many samples `gankit eval` and a sweep's eval metric draw from a run: 26,000 for
    stacked-digits (the Stacked MNIST protocol counts its 1,000 modes on that many), else 2,500."""
    from gankit.metrics.labels import STACKED_SAMPLES

    return STACKED_SAMPLES if data_name == "stacked-digits" else 2500


# The file of each named set's published test split, as outputs name it
PUBLISHED_TEST_FILES = {"mnist": "t10k", "fashion-mnist": "t10k", "cifar10": "test_batch"}


def reference_images(data, part: tuple[float, str] | None = None):
    """The images that image samples are scored against, and the name the outputs give them.

    ``part`` = (validation_fraction, "validation" or "test") of a run trained with a validation part:
    that part ("validation part"; "test" is a named set's published split, else the held-out "test
    part"). Without one (``part`` None, or a fraction of 0: a run trained on every training image, or
    a file of samples), a named set with a published test split (mnist, fashion-mnist, cifar10) is
    scored against that split ("test split (t10k)"), never its training images; other sets (digits,
    stacked digits, your own images) against their "training images".
    """
    from gankit.data.images import holdout_part

    published = getattr(data, "official_test", None) is not None
    test_split = f"test split ({PUBLISHED_TEST_FILES.get(data.name, 'published')})"
    if part is not None and part[0] > 0:
        fraction, which = part
        name = test_split if which == "test" and published else f"{which} part"
        return holdout_part(data, fraction, which), name
    if published:
        return holdout_part(data, 0.0, "test"), test_split
    return data, "training images"


def evaluate_samples(
    samples: np.ndarray | torch.Tensor,
    data_name: str,
    image_size: int | None = None,
    features: str = "auto",
    labels: np.ndarray | None = None,
    part: tuple[float, str] | None = None,
) -> dict:
    """Metrics of ``samples`` (n, *data shape) against the data set ``data_name``.

    ``image_size`` resizes image data as training did (``--image-size``); ``features`` picks the
    image metrics' feature network (``auto``, ``digits``, ``fashion`` or ``inception``;
    gankit.metrics.images.resolve_features). ``labels`` (n,), the classes a conditional generator
    was asked for, add conditioning accuracy and per-class FID (gankit.metrics.labels);
    stacked-digits data adds its mode count and KL to uniform. Raises GankitError when the samples
    do not fit the data (shape) or are not finite. Image samples are scored against
    :func:`reference_images` (``part`` = (validation_fraction, "validation" or "test"): that part of
    a run's images), and the result says so first: ``features`` (the network used), ``reference``
    (which images), and ``no_floor`` when there are too few of them for a floor at equal n.
    """
    data = load_data(data_name, image_size)
    provenance = {}
    if is_toy(data):
        if features != "auto":
            raise GankitError(
                f"features={features!r} applies to image data only; {data_name!r} is a toy data set"
            )
    else:
        data, reference = reference_images(data, part)
        provenance = {"features": _images().resolve_features(features, data.name), "reference": reference}
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples)
    if not np.issubdtype(samples.dtype, np.number) or np.issubdtype(samples.dtype, np.complexfloating):
        raise GankitError(f"samples must be real numbers, got dtype {samples.dtype}")
    shape = tuple(data.shape)
    if samples.ndim == 1 and shape == (1,):
        samples = samples[:, None]  # a flat array of 1-D samples
    if samples.ndim != 1 + len(shape) or tuple(samples.shape[1:]) != shape or len(samples) == 0:
        expected = ", ".join(["n", *map(str, shape)])
        raise GankitError(
            f"samples of shape {tuple(samples.shape)} do not fit data {data_name!r}: expected ({expected})"
        )
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples.reshape(len(samples), -1))).any(axis=1).sum())
        raise GankitError(f"{bad} of {len(samples)} samples contain NaN or infinity")
    metrics = metrics_against(samples, data, provenance.get("features", "auto"), labels)
    no_floor = _images().missing_floor(metrics) if provenance else None
    return provenance | ({"no_floor": no_floor} if no_floor else {}) | metrics


def metrics_against(samples: np.ndarray, data, features: str = "auto", labels: np.ndarray | None = None):
    """The metrics of checked, finite ``samples`` (n, *data.shape) against a loaded data set: toy
    metrics, or image metrics (+ stacked digits' modes, + conditional metrics with ``labels``); all
    numbers, as a run's evaluation rows log them."""
    samples = samples.astype(np.float64)
    if is_toy(data):
        from gankit.metrics.toy import toy_metrics

        return toy_metrics(samples, data)
    image_metrics = _images().image_metrics
    samples = samples.astype(np.float32)
    if data.name != "stacked-digits":
        metrics = image_metrics(samples, data, features)
    else:
        from gankit.metrics.labels import stacked_digits_metrics

        metrics = stacked_digits_metrics(samples, data) | image_metrics(
            samples[:IMAGE_METRICS_MAX], data, features
        )
    from gankit.metrics.labels import CLASSIFIED, class_metrics, conditional_metrics

    if data.name in CLASSIFIED and labels is None:  # a conditional run's classes are asked for
        metrics |= class_metrics(samples, data)
    if labels is not None and getattr(data, "labels", None) is not None:
        metrics |= conditional_metrics(samples, np.asarray(labels), data, features)
    return metrics


def _images():
    """The module gankit.metrics.images, or a clear error where its dependencies are missing."""
    try:
        return importlib.import_module("gankit.metrics.images")
    except ImportError as error:
        raise GankitError(f"image metrics are not available ({error}); toy data sets work") from None


def evaluate_run(
    run_dir: str | Path,
    n: int = 2500,
    seed: int = 0,
    data_name: str | None = None,
    features: str = "auto",
    part: str = "validation",
) -> dict:
    """Metrics of ``n`` samples (noise seed ``seed``) of a run's generator, against its own data.

    A run trained with ``validation_fraction`` > 0 is scored against its *validation* part (never
    the test part, which is kept for the final report; ``part`` = "test" asks for it), unless
    ``data_name`` overrides the data the run was trained on (same sample shape required). A run
    without a validation part on mnist, fashion-mnist or cifar10 is scored against the published
    test split, any other against its training images (:func:`reference_images`). ``features`` is
    as for :func:`evaluate_samples`; image metrics say which network and reference they used.
    """
    from gankit.engine.restore import sample_run

    if n <= 0:
        raise GankitError(f"n must be > 0, got {n}")
    return _evaluate_run_samples(run_dir, sample_run(run_dir, n, seed), data_name, features, part)


def evaluate_checkpoints(
    run_dir: str | Path,
    n: int = 2500,
    seed: int = 0,
    data_name: str | None = None,
    features: str = "auto",
    part: str = "validation",
) -> list[dict]:
    """:func:`evaluate_run` for every checkpoint kept in a run, oldest first: ``[{"step": s, **metrics}]``.

    The run's quality over training, measured afterwards with `gankit eval`'s sample count and
    reference (``eval_every`` logs it while training, on ``eval_samples``): was it still improving
    when training stopped? The same ``n`` samples' noise at every checkpoint.
    """
    if n <= 0:
        raise GankitError(f"n must be > 0, got {n}")
    return [
        {"step": step} | _evaluate_run_samples(run_dir, samples, data_name, features, part)
        for step, samples in checkpoint_samples(run_dir, n, seed)
    ]


def _evaluate_run_samples(run_dir, samples, data_name: str | None, features: str, part: str) -> dict:
    """Metrics of samples drawn from a run, against what evaluate_run scores that run against."""
    from gankit.rundir import read_config

    config = read_config(run_dir)
    fraction = config.get("validation_fraction", 0.0)
    held_out = (fraction, part) if fraction > 0 and data_name in (None, config["data"]) else None
    data_name = data_name or config["data"]
    # a conditional run's samples cycle through the classes (sample i is of class i mod K)
    labels = np.arange(len(samples)) % config["num_classes"] if config.get("conditional") else None
    return evaluate_samples(samples, data_name, config.get("image_size"), features, labels, held_out)


def evaluate_refined(
    run_dir: str | Path,
    options,
    n: int = 2500,
    seed: int = 0,
    data_name: str | None = None,
    features: str = "auto",
    part: str = "validation",
) -> dict:
    """Metrics of ``n`` refined samples of a run (gankit.refine), apart from the raw ones, scored
    as :func:`evaluate_run` scores the raw ones (same reference, features and class order).

    Returns ``{"method", "options", "heldout", <the metrics>, "acceptance_rate",
    "proposals_per_sample", "cpu_ms_per_sample"}``; ``heldout`` says where refinement's real
    points came from.
    """
    from dataclasses import asdict

    from gankit.engine.restore import load_trainer
    from gankit.refine import refine_trainer

    if n <= 0:
        raise GankitError(f"n must be > 0, got {n}")
    refined = refine_trainer(load_trainer(run_dir), n, seed, options)
    metrics = _evaluate_run_samples(run_dir, refined.samples, data_name, features, part)
    summary = {"method": refined.method, "options": asdict(refined.options), "heldout": refined.heldout}
    return summary | metrics | refined.stats()


def load_samples(path: str | Path) -> np.ndarray:
    """The array stored in a ``.npy`` file, with a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise GankitError(f"samples file not found: {path}")
    try:
        values = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise GankitError(f"{path} is not a NumPy .npy array file ({error})") from None
    if not isinstance(values, np.ndarray):  # np.load opens .npz archives as a mapping
        values.close()
        raise GankitError(f"{path} holds several arrays (.npz); save one array with np.save(FILE.npy)")
    return values


def checkpoint_samples(
    run_dir: str | Path, n: int, seed: int = 0, steps: set[int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Each checkpoint kept in a run (only those of ``steps`` if given), oldest first: its step and
    ``n`` samples of its generator (noise seed ``seed``, EMA weights when the run used EMA). The run's
    history as data, for choosing a checkpoint or drawing a budget curve."""
    from gankit.config import from_dict
    from gankit.engine.loop import draw_samples
    from gankit.engine.restore import load_train_data_and_config, load_trainer_state, make_trainer
    from gankit.rundir import (
        CHECKPOINTS,
        checkpoint_step,
        list_checkpoints,
        load_checkpoint_file,
        read_config,
    )

    checkpoints = list_checkpoints(Path(run_dir) / CHECKPOINTS)
    if steps is not None:
        checkpoints = [path for path in checkpoints if checkpoint_step(path) in steps]
    if not checkpoints:
        wanted = "" if steps is None else f" of step {', '.join(map(str, sorted(steps)))}"
        raise GankitError(f"{run_dir} has no checkpoint{wanted} (train it first)")
    data, resolved = load_train_data_and_config(from_dict(read_config(run_dir)))
    trainer = make_trainer(resolved, data, "cpu")
    for path in checkpoints:
        load_trainer_state(trainer, load_checkpoint_file(path), Path(run_dir))
        yield checkpoint_step(path), draw_samples(trainer.sampler, n, resolved.latent_dim, seed).numpy()


def select_checkpoint(run_dir: str | Path, n: int = 2500, seed: int = 0, metric: str = "fid") -> dict:
    """Model selection on the validation part, the report on the test part, never the same images.

    Every checkpoint kept in a run trained with ``validation_fraction`` > 0 draws ``n`` samples
    (noise seed ``seed``) and is scored against the validation images; the one with the lowest
    ``metric`` (an image metric where lower is better: fid or kid) is chosen, and only that one is
    then scored against the test images. Returns ``{"step", "validation": {step: metric value},
    "test": the chosen checkpoint's metrics with their floors}``.
    """
    from gankit.config import from_dict
    from gankit.rundir import read_config

    config = from_dict(read_config(run_dir))
    if config.validation_fraction <= 0:
        raise GankitError(f"{run_dir} was trained without validation_fraction: it has no validation part")
    if metric not in ("fid", "kid"):
        raise GankitError(f"select_checkpoint minimises fid or kid, got {metric!r}")

    def score(samples: np.ndarray, part: str) -> dict[str, float]:
        held_out = (config.validation_fraction, part)
        return evaluate_samples(samples, config.data, config.image_size, part=held_out)

    validation, best, best_samples = {}, None, None
    for step, samples in checkpoint_samples(run_dir, n, seed):
        validation[step] = score(samples, "validation")[metric]
        if best is None or validation[step] < validation[best]:  # the earliest of equal scores
            best, best_samples = step, samples
    return {"step": best, "validation": validation, "test": score(best_samples, "test")}
