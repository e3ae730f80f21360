"""Sample diversity on any data: how spread out G's samples are against the data's own spread.

:func:`mean_pairwise_distance` is the number; :class:`DiversityProbe` adds its ratio, generated over
real, to the evaluation rows of a run (``eval_diversity``), which the mode-collapse monitor reads
where the data has no known modes (gankit.diagnose.monitors).
"""

from __future__ import annotations

import torch

from gankit.engine.loop import Callback, Trainer


class DiversityProbe(Callback):
    """Adds eval_diversity to a row every ``every`` steps: how spread out G's samples are.

    eval_diversity = mean pairwise distance of ``samples`` generated points / the same for as many
    real points (both from fixed seeds, flattened). About 1 for a generator that matches the data's
    spread; near 0 when every sample is the same point. It sees every mode-collapse that shrinks the
    spread, on any data, without knowing the modes.
    """

    def __init__(self, every: int, samples: int, seed: int):
        self.every, self.samples, self.seed = every, samples, seed
        self.real_spread: float | None = None

    def on_log(self, trainer: Trainer, row: dict) -> None:
        if not trainer.evaluation_due(self.every):  # the same cadence as the quality metrics
            return
        if self.real_spread is None:
            real = trainer.data.sample(self.samples, torch.Generator().manual_seed(self.seed))
            self.real_spread = mean_pairwise_distance(real)
        fake = trainer.sample(self.samples, seed=self.seed)
        row["eval_diversity"] = mean_pairwise_distance(fake) / self.real_spread


def mean_pairwise_distance(samples: torch.Tensor) -> float:
    """(1 / (n (n - 1))) sum_{i != j} ||x_i - x_j||_2 over the flattened samples (n, ...)."""
    flat = samples.detach().float().reshape(len(samples), -1).cpu()
    n = len(flat)
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1)))
