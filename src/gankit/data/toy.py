"""Toy distributions with known modes: the 1-D and 2-D playgrounds of GAN papers.

Every distribution has ``sample(n, generator)`` returning an ``(n, dim)`` float32 tensor on the
generator's device, so the trainer can draw real batches without a host round trip. Mixtures of
Gaussians also expose ``modes`` (the K mode means, ``(K, dim)``) and ``sigma`` so that the toy
metrics can count modes and high-quality samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gankit.errors import GankitError


@dataclass(frozen=True)
class GaussianMixture:
    """An equal-weight mixture of isotropic Gaussians N(mode_k, sigma^2 I), optionally rescaled.

    ``scale`` divides every sample after drawing (the WGAN-GP reference code draws its toy sets at
    one size and then divides by 1.414 or 2.828); ``modes`` and ``sigma`` are reported after
    scaling, i.e. in the space the samples live in.
    """

    name: str
    raw_modes: tuple[tuple[float, ...], ...]
    raw_sigma: float
    scale: float = 1.0
    description: str = ""

    @property
    def dim(self) -> int:
        return len(self.raw_modes[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.dim,)

    @property
    def modes(self) -> torch.Tensor:
        return torch.tensor(self.raw_modes, dtype=torch.float32) / self.scale

    @property
    def sigma(self) -> float:
        return self.raw_sigma / self.scale

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        means = torch.tensor(self.raw_modes, dtype=torch.float32, device=device)
        which = torch.randint(len(means), (n,), generator=generator, device=device)
        noise = torch.randn(n, self.dim, generator=generator, device=device)
        return (means[which] + self.raw_sigma * noise) / self.scale


@dataclass(frozen=True)
class SwissRoll:
    """scikit-learn's swiss roll (noise 0.25), columns 0 and 2, divided by 7.5 (WGAN-GP toy set).

    Drawn in torch with the same formula as ``sklearn.datasets.make_swiss_roll`` so sampling is
    seeded by the torch generator and stays on its device.
    """

    name: str = "swissroll"
    noise: float = 0.25
    scale: float = 7.5
    description: str = "swiss roll, noise 0.25, columns 0 and 2, / 7.5 (WGAN-GP toy code)"
    modes = None
    sigma = None

    @property
    def dim(self) -> int:
        return 2

    @property
    def shape(self) -> tuple[int, ...]:
        return (2,)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, device=device))
        points = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
        points = points + self.noise * torch.randn(n, 2, generator=generator, device=device)
        return points / self.scale


def _ring_modes(count: int, radius: float) -> tuple[tuple[float, float], ...]:
    # Angles 2*pi*k/count for k = 0..count-1. Note: linspace(0, 2*pi, count) would repeat the
    # first angle at 2*pi and give only count-1 distinct modes, a bug common in toy-GAN code.
    angles = [2 * math.pi * k / count for k in range(count)]
    return tuple((radius * math.cos(a), radius * math.sin(a)) for a in angles)


def _grid_modes(values: list[float]) -> tuple[tuple[float, float], ...]:
    return tuple((x, y) for x in values for y in values)


def _igul_ring_modes() -> tuple[tuple[float, float], ...]:
    # The WGAN-GP reference code lists the 8 centres explicitly, then scales them by 2.
    s = 1.0 / math.sqrt(2)
    unit = [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]
    return tuple((2.0 * x, 2.0 * y) for x, y in unit)


TOY_DATASETS: dict[str, GaussianMixture | SwissRoll] = {
    d.name: d
    for d in [
        GaussianMixture("gaussian-1d", ((0.0,),), 1.0, description="one Gaussian N(0, 1) in 1-D"),
        GaussianMixture(
            "mixture-1d",
            ((-2.0,), (2.0,)),
            0.5,
            description="two Gaussians at -2 and +2, sigma 0.5, in 1-D",
        ),
        GaussianMixture(
            "ring",
            _ring_modes(8, 1.0),
            0.01,
            description="8 Gaussians on the unit circle, sigma 0.01 (PacGAN)",
        ),
        GaussianMixture(
            "grid",
            _grid_modes([-4.0, -2.0, 0.0, 2.0, 4.0]),
            0.05,
            description="25 Gaussians at {-4,-2,0,2,4}^2, sigma 0.05 (PacGAN, VEEGAN)",
        ),
        GaussianMixture(
            "ring-igul",
            _igul_ring_modes(),
            0.02,
            scale=1.414,
            description="8 Gaussians at radius 2, sigma 0.02, / 1.414 (WGAN-GP toy code)",
        ),
        GaussianMixture(
            "grid-igul",
            _grid_modes([-4.0, -2.0, 0.0, 2.0, 4.0]),
            0.05,
            scale=2.828,
            description="25 Gaussians at 2*{-2..2}^2, sigma 0.05, / 2.828 (WGAN-GP toy code)",
        ),
        SwissRoll(),
    ]
}


def get_toy(name: str) -> GaussianMixture | SwissRoll:
    """Look up a toy distribution by name, with a clear error listing the allowed names."""
    try:
        return TOY_DATASETS[name]
    except KeyError:
        allowed = ", ".join(TOY_DATASETS)
        raise GankitError(f"unknown data set {name!r}; allowed: {allowed}") from None


def sample_numpy(name: str, n: int, seed: int) -> np.ndarray:
    """Draw ``n`` samples of a toy distribution on the CPU as a float64 NumPy array."""
    generator = torch.Generator().manual_seed(seed)
    return get_toy(name).sample(n, generator).double().numpy()
