"""Multilayer perceptrons for toy data: a generator z -> x and a discriminator/critic x -> score.

No batch norm anywhere: a critic trained with a gradient penalty must treat each sample on its own
(the penalty is defined per sample), and toy problems do not need it in the generator either.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _mlp(in_features: int, out_features: int, width: int, depth: int, activation: type) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units, each followed by ``activation``; linear output."""
    layers: list[nn.Module] = []
    features = in_features
    for _ in range(depth):
        layers += [nn.Linear(features, width), activation()]
        features = width
    layers.append(nn.Linear(features, out_features))
    return nn.Sequential(*layers)


class MixtureLatent(nn.Module):
    """A mixture-of-Gaussians latent (DeLiGAN, Gurumurthy et al. 2017) fed by standard normal noise.

    A continuous G of one connected Gaussian latent must put mass on the paths between separate
    modes. Here the latent is K Gaussians with learnable means mu_k and scales s_k: the first noise
    coordinate picks the component, k = floor(K * Phi(z_0)) (uniform over the K, Phi the normal
    CDF), and the other ``latent_dim - 1`` coordinates give the point mu_k + s_k * z_1.. . The
    noise stays N(0, I) of ``latent_dim`` coordinates, so sampling is as deterministic as before.
    DeLiGAN's initialisation: means uniform in [-1, 1], scales 0.2.
    """

    def __init__(self, latent_dim: int, components: int):
        super().__init__()
        self.components = components
        self.means = nn.Parameter(torch.rand(components, latent_dim - 1) * 2 - 1)
        self.scales = nn.Parameter(torch.full((components, latent_dim - 1), 0.2))

    def component(self, z: Tensor) -> Tensor:  # (batch, latent_dim) -> (batch,) indices in [0, K)
        uniform = torch.special.ndtr(z[:, 0])
        return (uniform * self.components).long().clamp(0, self.components - 1)

    def forward(self, z: Tensor) -> Tensor:  # (batch, latent_dim) -> (batch, latent_dim - 1)
        k = self.component(z)
        return self.means[k] + self.scales[k] * z[:, 1:]


STATISTICS_SAMPLES = 10_000  # data points drawn (noise seed 0) to measure the data's mean and spread


@torch.no_grad()
def data_statistics(data, n: int = STATISTICS_SAMPLES) -> tuple[Tensor, Tensor]:
    """The data's mean (one per coordinate) and its RMS spread, a scalar: sqrt(mean_j Var(x_j)).

    Drawn from ``n`` samples with a fixed noise seed, so the same data gives the same numbers. One
    scale for every coordinate keeps the data's shape (a mode's circle stays a circle); the grid at
    {-4, ..., 4}^2 has spread sqrt(8) = 2.83, the unit ring 1 / sqrt(2).
    """
    x = data.sample(n, torch.Generator().manual_seed(0)).double()
    mean, spread = x.mean(0), x.var(0).mean().sqrt()
    return mean.float(), spread.clamp_min(1e-12).float()


class Standardized(nn.Module):
    """The data's mean and spread as buffers (saved in checkpoints, never trained); identity until set.

    ``to_data(h) = mean + spread * h`` ends G, ``to_net(x) = (x - mean) / spread`` starts D: the MLPs
    then work at the scale they were initialised for (unit-variance inputs and outputs), while G's
    samples, D's inputs and every metric stay in the data's units.
    """

    def __init__(self, data_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(data_dim))
        self.register_buffer("spread", torch.ones(()))

    def set(self, mean: Tensor, spread: Tensor) -> None:
        self.mean.copy_(mean)
        self.spread.copy_(spread)

    def to_data(self, h: Tensor) -> Tensor:
        return self.mean + self.spread * h

    def to_net(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.spread


class MLPGenerator(nn.Module):
    """G: R^latent_dim -> R^data_dim, a ReLU MLP with a linear output (toy data is unbounded).

    ``latent_components`` > 0 puts a :class:`MixtureLatent` of that many Gaussians in front of it;
    ``standardize`` maps its output from standardised to the data's units (:class:`Standardized`).
    """

    def __init__(
        self,
        latent_dim: int,
        data_dim: int,
        width: int = 128,
        depth: int = 3,
        latent_components: int = 0,
        standardize: bool = False,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.latent = MixtureLatent(latent_dim, latent_components) if latent_components else nn.Identity()
        features = latent_dim - 1 if latent_components else latent_dim
        self.net = _mlp(features, data_dim, width, depth, nn.ReLU)
        self.standardized = Standardized(data_dim) if standardize else None

    def forward(self, z: Tensor) -> Tensor:  # (batch, latent_dim) -> (batch, data_dim)
        h = self.net(self.latent(z))
        return h if self.standardized is None else self.standardized.to_data(h)


class MLPDiscriminator(nn.Module):
    """D: R^data_dim -> R, a LeakyReLU MLP returning one raw score per sample (logit or critic).

    ``pack`` > 1 makes it a PacGAN discriminator (Lin et al. 2018): it scores ``pack`` samples
    concatenated together, so a batch of B samples yields B / pack scores. Packing lets D see
    whether a *set* of samples is as diverse as real data, which penalises mode collapse.
    ``standardize`` maps its input from the data's units to standardised ones (:class:`Standardized`).
    """

    def __init__(
        self, data_dim: int, width: int = 128, depth: int = 3, pack: int = 1, standardize: bool = False
    ):
        super().__init__()
        self.pack = pack
        self.net = _mlp(data_dim * pack, 1, width, depth, _LeakyReLU)
        self.standardized = Standardized(data_dim) if standardize else None

    def forward(self, x: Tensor) -> Tensor:  # (batch, data_dim) -> (batch // pack,)
        if self.standardized is not None:
            x = self.standardized.to_net(x)
        if self.pack > 1:
            x = x.reshape(x.shape[0] // self.pack, -1)
        return self.net(x).squeeze(-1)


class _LeakyReLU(nn.LeakyReLU):
    def __init__(self):
        super().__init__(0.2)
