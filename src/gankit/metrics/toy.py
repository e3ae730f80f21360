"""Metrics for toy data with known modes (PacGAN's protocol) and the Wasserstein-1 distance.

A generated sample is *high quality* when it lies within 3 sigma of its nearest mode mean. A mode is
*covered* when at least 20 of 2,500 samples (0.8 %, scaled for other sample counts) are high-quality
samples assigned to it (Lin et al. 2018, PacGAN, section 5). *Reverse KL* is KL(p_gen || p_true)
between the histogram of high-quality samples over the modes and the true (uniform) mode weights:
0 when the modes are hit evenly, ln K when every sample sits on one of K modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ot
import torch
from scipy.stats import wasserstein_distance

from gankit.data.toy import sample_numpy

REFERENCE_SEED = 2_147_483_629  # fixed, so W1 is computed against the same real points every time


@dataclass(frozen=True)
class ModeStats:
    modes_covered: int
    modes_total: int
    high_quality: float  # fraction of samples within 3 sigma of their nearest mode
    reverse_kl: float
    counts: list[int]  # high-quality samples per mode


def mode_statistics(
    samples: np.ndarray, modes: np.ndarray, sigma: float, threshold_per_2500: float = 20.0
) -> ModeStats:
    """Modes covered, high-quality fraction and reverse KL for ``samples`` (n, dim)."""
    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    modes = np.asarray(modes, dtype=np.float64).reshape(len(modes), -1)
    n, k = len(samples), len(modes)
    distances = np.sqrt(((samples[:, None, :] - modes[None, :, :]) ** 2).sum(-1))  # (n, k)
    nearest = distances.argmin(axis=1)
    high_quality = distances[np.arange(n), nearest] <= 3 * sigma
    counts = np.bincount(nearest[high_quality], minlength=k)
    covered = int((counts >= threshold_per_2500 * n / 2500).sum())
    return ModeStats(
        modes_covered=covered,
        modes_total=k,
        high_quality=float(high_quality.mean()) if n else 0.0,
        reverse_kl=reverse_kl(counts),
        counts=counts.tolist(),
    )


def reverse_kl(counts: np.ndarray) -> float:
    """KL(p || uniform) = sum_k p_k ln(p_k K) for the histogram ``counts`` (0 ln 0 = 0).

    Infinite when no sample is high quality: the generated distribution puts no mass on any mode.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return math.inf
    p = counts[counts > 0] / total
    return float((p * np.log(p * len(counts))).sum())


def wasserstein1(samples: np.ndarray, reference: np.ndarray) -> float:
    """Exact Wasserstein-1 distance between two empirical distributions with equal weights.

    1-D: the sorted-samples formula (scipy). 2-D and up: the exact earth mover's distance with
    Euclidean ground cost, solved as a linear program by POT's network simplex (``ot.emd2``).
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    reference = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    if samples.shape[1] == 1:
        return float(wasserstein_distance(samples[:, 0], reference[:, 0]))
    cost = ot.dist(samples, reference, metric="euclidean")
    weights_a = np.full(len(samples), 1.0 / len(samples))
    weights_b = np.full(len(reference), 1.0 / len(reference))
    return float(ot.emd2(weights_a, weights_b, cost, numItermax=10_000_000))


def toy_metrics(samples: np.ndarray | torch.Tensor, data, w1_points: int = 1500) -> dict[str, float]:
    """All toy metrics for ``samples`` of the toy distribution ``data`` as a flat dict.

    W1 is computed on the first ``w1_points`` samples against as many fresh real samples drawn
    with a fixed seed (exact EMD is cubic in the number of points).
    """
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().double().numpy()
    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    out: dict[str, float] = {}
    if not np.isfinite(samples).all():
        return {"w1": math.nan}
    points = min(w1_points, len(samples))
    reference = sample_numpy(data.name, points, REFERENCE_SEED)
    out["w1"] = wasserstein1(samples[:points], reference)
    if data.modes is not None:
        stats = mode_statistics(samples, data.modes.numpy(), data.sigma)
        out["modes"] = stats.modes_covered
        out["modes_total"] = stats.modes_total
        out["high_quality"] = stats.high_quality
        out["reverse_kl"] = stats.reverse_kl
    return out
