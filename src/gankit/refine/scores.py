"""Where log r(x) = log p_data(x) / p_G(x) comes from: D's score, knn, a calibration (see gankit.refine)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.objectives import get_objective
from gankit.refine.algorithms import scores_of
from gankit.refine.options import CALIBRATIONS, Logit, RefineOptions


def calibrate(score: Logit, real: np.ndarray, fake: np.ndarray, method: str) -> Logit:
    """MH-GAN's calibration: fit score -> P(real) on held-out real (label 1) and fake (label 0) points.

    ``logistic``: Platt scaling, logit = a * score + b. ``isotonic``: a monotone step function of the
    score, clipped away from 0 and 1 by half a sample. With as many real as fake points, the
    calibrated logit estimates log p_data(x) / p_G(x). ``none`` returns ``score`` unchanged.
    """
    if method == "none":
        return score
    return calibrate_scores(score, scores_of(score, real), scores_of(score, fake), method)


def calibrate_scores(score: Logit, real_scores: np.ndarray, fake_scores: np.ndarray, method: str) -> Logit:
    """:func:`calibrate` from the scores of the held-out points alone (the points need not be kept)."""
    # scikit-learn: paid only when scores are calibrated
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    values = np.concatenate([real_scores, fake_scores])
    labels = np.concatenate([np.ones(len(real_scores)), np.zeros(len(fake_scores))])
    if method == "logistic":
        model = LogisticRegression(C=1e6).fit(values[:, None], labels)
        slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
        return lambda x: slope * scores_of(score, x) + intercept
    if method == "isotonic":
        floor = 0.5 / len(values)
        model = IsotonicRegression(y_min=floor, y_max=1 - floor, out_of_bounds="clip").fit(values, labels)
        return lambda x: _logit_of(model.predict(scores_of(score, x)))
    raise GankitError(f"unknown refine calibration {method!r}; allowed: {', '.join(CALIBRATIONS)}")


def knn_logit(real: np.ndarray, fake: np.ndarray, neighbours: int) -> Logit:
    """log r(x) from the k nearest of the held-out real and fake points: log((R + 1/2) / (F + 1/2)).

    R and F count real and fake points among the k neighbours (R + F = k), corrected for unequal
    numbers of real and fake points; the 1/2 keeps the logit finite where a class is absent.
    """
    from sklearn.neighbors import NearestNeighbors  # scikit-learn: paid only by the knn scores

    pooled = np.concatenate([_flat(real), _flat(fake)])
    is_real = np.concatenate([np.ones(len(real)), np.zeros(len(fake))])
    index = NearestNeighbors(n_neighbors=neighbours).fit(pooled)
    prior = math.log(len(fake) / len(real))

    def logit(x: np.ndarray) -> np.ndarray:
        _, nearest = index.kneighbors(_flat(x))
        real_count = is_real[nearest].sum(axis=1)
        return np.log((real_count + 0.5) / (neighbours - real_count + 0.5)) + prior

    return logit


def discriminator_logit(
    discriminator: torch.nn.Module, pack: int = 1, batch: int = 8192, label: int | None = None
) -> Logit:
    """D's estimate of log r(x) per point: its raw score, divided by ``pack`` for a packed D.

    A PacGAN D sees ``pack`` samples at once; trained to its optimum on independent tuples it
    outputs log prod_i r(x_i) = sum_i log r(x_i). Scored on ``pack`` copies of x it gives
    pack * log r(x), so the score is divided by ``pack``: without that, DRS and MH-GAN would target
    p_G * r^pack instead of p_data (modes squeezed tighter than the data's). A projection D of a
    conditional run scores each point as of class ``label``.
    """

    @torch.no_grad()
    def logit(x: np.ndarray) -> np.ndarray:
        was_training = discriminator.training
        discriminator.eval()
        try:
            points = torch.as_tensor(x, dtype=torch.float32)
            if pack > 1:  # (n, *shape) -> (n * pack, *shape): D sees x next to copies of itself
                points = points.repeat_interleave(pack, dim=0)
            parts = [
                discriminator(chunk, **label_kwargs(label, len(chunk)))
                for chunk in points.split(batch * pack)
            ]
        finally:
            discriminator.train(was_training)
        return torch.cat(parts).double().numpy().reshape(-1) / pack

    return logit


def resolve_scores(options: RefineOptions, config, shape: tuple[int, ...]) -> RefineOptions:
    """The options with ``scores="auto"`` replaced by what suits the run (module docstring)."""
    if options.scores != "auto":
        return options
    if len(shape) != 1:  # images: no knn; D calibrated on held-out reals, whatever its objective
        if config.model != "gan":
            raise GankitError(
                f"a {config.model} run on images cannot be refined: no discriminator, and knn needs flat data"
            )
        # A batch-norm D's raw logit on digits barely tells held-out reals from fakes (it learnt the
        # training images), and DRS on it worsened FID (docs/benchmarks/refine_batchnorm.md)
        calibration = "logistic" if options.calibration == "none" else options.calibration
        return replace(options, scores="d", calibration=calibration)
    if d_gives_log_ratio(options, config):
        return replace(options, scores="d")
    return replace(options, scores="knn")


def d_gives_log_ratio(options: RefineOptions, config) -> bool:
    """Whether the run's D scores estimate log r: a classifier's logit, or any GAN's D once calibrated."""
    return config.model == "gan" and (
        get_objective(config.objective).is_classifier or options.calibration != "none"
    )


def label_kwargs(label: int | None, count: int) -> dict[str, torch.Tensor]:
    """G's or D's keyword arguments for ``count`` points of class ``label`` (none: unconditional)."""
    return {} if label is None else {"labels": torch.full((count,), label, dtype=torch.long)}


def _logit_of(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)
