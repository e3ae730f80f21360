"""Metrics for toy data with known modes (PacGAN's protocol) and the Wasserstein-1 distance.

For a mixture of K Gaussians N(mu_k, sigma^2 I) and n generated samples x_1..x_n:

- a sample is *high quality* (HQ) when ||x_i - mu_k(i)|| <= 3 sigma, where k(i) is its nearest mode;
- the HQ samples form a histogram c_1..c_K over the modes; mode k is *covered* when
  c_k >= 20 n / 2500 (20 of 2,500 samples, scaled for other n) (Lin et al. 2018, PacGAN, section 5);
- *reverse KL* is KL(p || q) = sum_k p_k ln(p_k / q_k) with p_k = c_k / sum_j c_j and q_k = 1 / K the
  true (equal) mode weights: 0 when the modes are hit evenly, ln K when every HQ sample sits on one mode;
  *undefined* (``None``, printed n/a) when no sample is high quality: p has no mass to compare.

Samples drawn from the true mixture score 1 - exp(-9/2) = 98.89 % HQ in 2-D (the squared distance to
the mean over sigma^2 is chi-squared with 2 degrees of freedom), so ~98.9 % is the ceiling, not 100 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ot
import torch
from scipy.stats import wasserstein_distance

from gankit.data.toy import sample_numpy
from gankit.errors import GankitError

REFERENCE_SEED = 2_147_483_629  # fixed, so W1 is computed against the same real points every time
COVERAGE_THRESHOLD_PER_2500 = 20.0  # PacGAN: a mode holds >= 20 of 2,500 HQ samples to count
W1_POINTS = 1500  # exact 2-D EMD is a linear program: ~1 s for 1,500 points against 1,500


@dataclass(frozen=True)
class ModeStats:
    modes_covered: int
    modes_total: int
    high_quality: float  # fraction of all samples within 3 sigma of their nearest mode
    reverse_kl: float | None  # None: no high-quality sample, so undefined
    counts: list[int]  # high-quality samples per mode


def mode_statistics(
    samples: np.ndarray,
    modes: np.ndarray,
    sigma: float,
    threshold_per_2500: float = COVERAGE_THRESHOLD_PER_2500,
) -> ModeStats:
    """Modes covered, high-quality fraction and reverse KL of ``samples`` (n, dim), see module doc.

    Non-finite samples (a diverged generator) count as samples that are not high quality.
    """
    samples = _as_points(samples, "samples")
    modes = _as_points(modes, "modes")
    if samples.shape[1] != modes.shape[1]:
        raise GankitError(f"samples have {samples.shape[1]} dimensions but the modes have {modes.shape[1]}")
    n, k = len(samples), len(modes)
    finite = np.isfinite(samples).all(axis=1)
    samples = np.where(finite[:, None], samples, 0.0)  # placeholder; masked out of HQ below
    distances = np.sqrt(((samples[:, None, :] - modes[None, :, :]) ** 2).sum(-1))  # (n, K)
    nearest = distances.argmin(axis=1)
    high_quality = finite & (distances[np.arange(n), nearest] <= 3 * sigma)
    counts = np.bincount(nearest[high_quality], minlength=k)
    threshold = threshold_per_2500 * n / 2500
    return ModeStats(
        modes_covered=int((counts >= threshold).sum()),
        modes_total=k,
        high_quality=float(high_quality.mean()),
        reverse_kl=reverse_kl(counts),
        counts=counts.tolist(),
    )


def reverse_kl(counts: np.ndarray) -> float | None:
    """KL(p || uniform) = sum_k p_k ln(p_k K) for the histogram ``counts`` (0 ln 0 = 0).

    ``None`` when no sample is high quality: p = c / sum(c) is then 0 / 0, not a distribution, so the
    divergence is undefined (not infinite). Averages over seeds skip it and say how many remain.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return None
    p = counts[counts > 0] / total
    return float((p * np.log(p * len(counts))).sum())


def wasserstein1(samples: np.ndarray, reference: np.ndarray) -> float:
    """Exact Wasserstein-1 distance between two empirical distributions with equal weights.

    W1(P, Q) = min over couplings pi of sum_ij pi_ij ||a_i - b_j||. 1-D: the sorted-samples formula
    (scipy, integral of |F_P - F_Q|). 2-D and up: the exact earth mover's distance with Euclidean
    ground cost, solved as a linear program by POT's network simplex (``ot.emd2``).
    """
    samples = _as_points(samples, "samples")
    reference = _as_points(reference, "reference")
    if samples.shape[1] != reference.shape[1]:
        raise GankitError(
            f"W1 needs points of one dimension, got {samples.shape[1]} and {reference.shape[1]}"
        )
    if samples.shape[1] == 1:
        return float(wasserstein_distance(samples[:, 0], reference[:, 0]))
    cost = ot.dist(samples, reference, metric="euclidean")
    weights_a = np.full(len(samples), 1.0 / len(samples))
    weights_b = np.full(len(reference), 1.0 / len(reference))
    return float(ot.emd2(weights_a, weights_b, cost, numItermax=10_000_000))


def toy_metrics(
    samples: np.ndarray | torch.Tensor, data, w1_points: int = W1_POINTS
) -> dict[str, float | None]:
    """All toy metrics of ``samples`` (n, dim) against the toy distribution ``data``, as a flat dict.

    Keys: ``w1`` always; ``modes``, ``modes_total``, ``high_quality``, ``reverse_kl`` when the data
    has known modes (``reverse_kl`` is None when no sample is high quality). W1 compares the first
    ``w1_points`` samples (all of them in 1-D, where it is
    cheap) with as many real samples drawn with a fixed seed; it is NaN when a sample is not finite.
    Even samples of the true distribution score W1 > 0 (two finite samples differ), so compare
    W1 values computed on the same number of points only.
    """
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().double().numpy()
    samples = _as_points(samples, "samples")
    if samples.shape[1:] != tuple(data.shape):
        raise GankitError(
            f"samples have shape {samples.shape[1:]} per point but {data.name} has {tuple(data.shape)}"
        )
    points = len(samples) if samples.shape[1] == 1 else min(w1_points, len(samples))
    if np.isfinite(samples).all():
        w1 = wasserstein1(samples[:points], sample_numpy(data.name, points, REFERENCE_SEED))
    else:
        w1 = math.nan
    out: dict[str, float | None] = {"w1": w1}
    if data.modes is not None:
        stats = mode_statistics(samples, data.modes.numpy(), data.sigma)
        out |= {
            "modes": stats.modes_covered,
            "modes_total": stats.modes_total,
            "high_quality": stats.high_quality,
            "reverse_kl": stats.reverse_kl,
        }
    return out


def _as_points(values: np.ndarray, what: str) -> np.ndarray:
    """A non-empty (n, dim) float64 array; a flat array is n points in 1-D."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or len(values) == 0:
        raise GankitError(f"{what} must be a non-empty (n, dim) array of points, got shape {values.shape}")
    return values
