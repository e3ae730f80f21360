"""The statistics behind gankit's tables: intervals, one row's summary, and the budget rules.

Plain numbers in, plain numbers out (numpy; scipy.stats where an interval is computed): nothing
here reads a run directory. ``gankit compare`` (gankit.runs.compare) gives each group of runs a
:func:`summarize` row, the classic figures take :func:`bootstrap_ci` intervals of their medians,
and the benchmarks read their curves with the two budget rules, :func:`settled` (seed runs'
validation curves had stopped moving at the end of training) and :func:`flattened` (a search's best
value so far had stopped improving by its last trials); both measure "moving" against the seeds'
spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# scipy.stats is imported inside the functions that compute intervals, for its import time.

CONFIDENCE = 0.95  # of the interval of the mean in every row
BOOTSTRAP_RESAMPLES = 9999  # bootstrap_ci: intervals of other statistics (the figures' medians)
BOOTSTRAP_SEED = 0
# The budget rules (settled, flattened) look at the last quarter of a curve: of its steps, of the trials
LAST_PART = 0.25


def mean_interval(values, confidence: float = CONFIDENCE) -> tuple[Any, Any]:
    """Student's t interval of the mean over the last axis (n >= 2 values):
    mean ± t_{n-1, (1+confidence)/2} · s / √n, with s the standard deviation (n - 1).

    It covers the true mean with the stated probability for normal values at every n, and nearly so
    for mildly skewed ones (tests/test_stats.py measures both). compare's percentile bootstrap did
    not: of 1,000 simulated normal groups of 3 and of 5 it covered the mean in 75 % and 84 %, since
    the resamples of a few values are never more spread than those values (its half-width is about
    z · s · √((n-1)/n) / √n where t · s / √n is needed). A 2-D array gives one interval per row.
    """
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    n = x.shape[-1]
    if n < 2:
        raise ValueError(f"an interval of the mean needs >= 2 values, got {n}")
    half = t.ppf((1 + confidence) / 2, n - 1) * x.std(axis=-1, ddof=1) / math.sqrt(n)
    return x.mean(axis=-1) - half, x.mean(axis=-1) + half


def bootstrap_ci(values, statistic=np.mean, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """A 95 % percentile-bootstrap confidence interval of ``statistic`` over >= 2 values, seeded: the same
    values give the same interval. A constant sample's interval is that constant.

    For statistics without a closed-form interval (the figures' medians); for a mean, use
    :func:`mean_interval`: at a handful of seeds this interval is too narrow (see there)."""
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=float)
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])  # every resample has the same statistic
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    result = bootstrap((x,), statistic, n_resamples=resamples, method="percentile", rng=rng)  # 95 %: default
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(values: list[float], direction: str) -> dict[str, Any]:
    """n, mean, std (n-1), median, the 95 % t interval of the mean, best."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return {
            "n": 0,
            "mean": None,
            "std": None,
            "median": None,
            "ci_low": None,
            "ci_high": None,
            "best": None,
        }
    if n == 1:
        low = high = None  # one run says nothing about the spread
    elif np.ptp(x) == 0:
        low = high = float(x[0])  # exactly, where rounding in the mean would widen it by an ulp
    else:
        low, high = (float(end) for end in mean_interval(x))
    return {
        "n": n,
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if n > 1 else None,
        "median": float(np.median(x)),
        "ci_low": low,
        "ci_high": high,
        "best": float(x.min() if direction == "minimize" else x.max()),
    }


def best_so_far(
    values: list[float | None], costs: list[float], direction: str
) -> tuple[list[int], list[float], list[float]]:
    """A search's budget curve: after each of its trials in turn (``values``, None where a trial has
    none, each costing ``costs``), how many trials had finished, what they had cost together and the
    best value so far; from the first trial with a value on."""
    better = min if direction == "minimize" else max
    counts, spent_so_far, best = [], [], []
    spent, so_far = 0.0, None
    for index, (value, cost) in enumerate(zip(values, costs, strict=True), start=1):
        spent += cost
        if value is not None:
            so_far = value if so_far is None else better(so_far, value)
        if so_far is not None:
            counts.append(index)
            spent_so_far.append(spent)
            best.append(so_far)
    return counts, spent_so_far, best


@dataclass(frozen=True)
class Plateau:
    """A budget rule's reading of one curve over its last quarter (:func:`settled`, :func:`flattened`).

    ``change`` is how far the curve moved between ``start`` and ``end`` (steps, or trials finished),
    ``spread`` the seeds' standard deviation it is measured against; ``flat``: |change| <= spread."""

    flat: bool
    change: float
    spread: float
    start: int
    end: int


def settled(steps: list[int], curves, part: float = LAST_PART) -> Plateau:
    """Whether seed runs of one arm settled: the last-quarter change of their mean validation curve is
    within the seeds' spread.

    With m the mean over the seeds of ``curves`` (shape (seeds, steps)) and T the last step, the
    last quarter is every evaluation at or after (1 - part) · T; its change is the rise of the
    least-squares line through m there, slope · (T - t_first) (a line, not two points: one
    evaluation's noise does not decide). The spread is the standard deviation (n - 1) of the seeds'
    values at T, what the table's interval is made of. Settled: |change| <= spread, so the budget
    curve moved less over its last quarter than the seeds differ at its end. A seed with a value
    that is not finite there (diverged) is not settled. Needs >= 2 seeds and >= 2 evaluations in
    the last quarter (ValueError)."""
    x = np.asarray(steps, dtype=float)
    y = np.asarray(curves, dtype=float)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] != len(x) or len(x) == 0:
        raise ValueError(f"settled needs >= 2 seeds' curves at {len(x)} common steps, got shape {y.shape}")
    last = x >= (1 - part) * x[-1]
    if last.sum() < 2:
        raise ValueError(f"settled needs >= 2 evaluations in the last quarter of {int(x[-1])} steps")
    start, end = int(x[last][0]), int(x[-1])
    if not np.isfinite(y[:, last]).all():
        return Plateau(False, math.nan, math.nan, start, end)
    mean = y[:, last].mean(axis=0)
    # a constant mean has not moved: exactly 0, not the fit's rounding (which would beat a spread of 0)
    slope = 0.0 if np.ptp(mean) == 0 else np.polyfit(x[last], mean, 1)[0]
    change, spread = float(slope * (end - start)), float(y[:, -1].std(ddof=1))
    return Plateau(abs(change) <= spread, change, spread, start, end)


def flattened(
    counts: list[int], best: list[float], spread: float, direction: str, part: float = LAST_PART
) -> Plateau | None:
    """Whether a search's best value so far flattened: over its last quarter of finished trials it
    improved by no more than ``spread`` (the seeds' standard deviation of its best configuration).

    ``counts`` and ``best`` are :func:`best_so_far`'s trials finished and the best value after them.
    With K trials finished and q = ceil((1 - part) · K), the change is the improvement from the best
    after q trials to the best after K (>= 0). None when no trial had a value by q."""
    if not counts:
        return None
    total = counts[-1]
    start = math.ceil((1 - part) * total)
    before = [value for count, value in zip(counts, best, strict=True) if count <= start]
    if not before:
        return None
    gain = before[-1] - best[-1] if direction == "minimize" else best[-1] - before[-1]
    return Plateau(gain <= spread, float(gain), float(spread), start, total)
