"""What refinement is asked to do (:class:`RefineOptions`) and what it returns (:class:`Refined`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gankit.errors import GankitError

# propose(count, rng) -> (count, *shape) samples, all randomness from the torch.Generator rng
Proposer = Callable[[int, torch.Generator], np.ndarray]
# logit(points) -> (len(points),) estimates of log p_data(x) / p_G(x)
Logit = Callable[[np.ndarray], np.ndarray]

METHODS = ("drs", "mh")
SCORES = ("auto", "d", "knn")
CALIBRATIONS = ("none", "logistic", "isotonic")


@dataclass(frozen=True)
class RefineOptions:
    """How to refine; validated here, so a bad option is one GankitError line before any work."""

    method: str = "drs"  # drs or mh
    scores: str = "auto"  # where log r(x) comes from: the run's discriminator (d), knn, or auto
    calibration: str = "none"  # none, logistic or isotonic (MH-GAN); critics need one with d
    heldout: int = 100_000  # held-out real and generated points (each): knn needs k neighbours within ~sigma
    neighbours: int = 50  # k of the knn scores
    epsilon: float = 1e-6  # DRS: keeps log(1 - exp(D~ - M - epsilon)) finite at the maximum
    gamma_percentile: float = 95.0  # DRS: gamma = min(0, this percentile of F); 100: exact rejection
    burn_in: int = 1000  # DRS: proposals scored before the first decision, to estimate M (and gamma)
    chain_length: int = 20  # MH: proposals per chain (per output sample)

    def __post_init__(self) -> None:
        for name, allowed in (("method", METHODS), ("scores", SCORES), ("calibration", CALIBRATIONS)):
            if getattr(self, name) not in allowed:
                raise GankitError(
                    f"unknown refine {name} {getattr(self, name)!r}; allowed: {', '.join(allowed)}"
                )
        for name in ("heldout", "neighbours", "burn_in", "chain_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GankitError(f"refine {name} must be an integer >= 1, got {value!r}")
        if self.neighbours > self.heldout:
            raise GankitError(
                f"refine neighbours ({self.neighbours}) must be at most heldout ({self.heldout})"
            )
        if not (isinstance(self.epsilon, (int, float)) and 0 < self.epsilon < 1):
            raise GankitError(f"refine epsilon must be in (0, 1), got {self.epsilon!r}")
        q = self.gamma_percentile
        if isinstance(q, bool) or not (isinstance(q, (int, float)) and 0 <= q <= 100):
            raise GankitError(f"refine gamma percentile must be in [0, 100], got {q!r}")


@dataclass(frozen=True)
class Refined:
    """Exactly ``n`` refined samples and what they cost."""

    samples: np.ndarray
    method: str
    proposals: int  # generator samples scored to produce the n outputs (burn-in included)
    accepted: int  # DRS: proposals kept; MH: chain moves accepted
    cpu_seconds: float  # process CPU time of the refinement (calibration included when timed)
    options: RefineOptions | None = None  # as used (scores "auto" resolved); None from drs()/mh() alone
    heldout: str = "none"  # where the real points (knn, calibration, MH's chain starts) came from

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposals

    @property
    def proposals_per_sample(self) -> float:
        return self.proposals / len(self.samples)

    def stats(self) -> dict[str, float]:
        """acceptance rate, proposals per returned sample and CPU milliseconds per returned sample."""
        return {
            "acceptance_rate": self.acceptance_rate,
            "proposals_per_sample": self.proposals_per_sample,
            "cpu_ms_per_sample": 1000 * self.cpu_seconds / len(self.samples),
        }
