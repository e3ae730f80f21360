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


class MLPGenerator(nn.Module):
    """G: R^latent_dim -> R^data_dim, a ReLU MLP with a linear output (toy data is unbounded).

    ``latent_components`` > 0 puts a :class:`MixtureLatent` of that many Gaussians in front of it.
    """

    def __init__(
        self, latent_dim: int, data_dim: int, width: int = 128, depth: int = 3, latent_components: int = 0
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.latent = MixtureLatent(latent_dim, latent_components) if latent_components else nn.Identity()
        features = latent_dim - 1 if latent_components else latent_dim
        self.net = _mlp(features, data_dim, width, depth, nn.ReLU)

    def forward(self, z: Tensor) -> Tensor:  # (batch, latent_dim) -> (batch, data_dim)
        return self.net(self.latent(z))


class MLPDiscriminator(nn.Module):
    """D: R^data_dim -> R, a LeakyReLU MLP returning one raw score per sample (logit or critic).

    ``pack`` > 1 makes it a PacGAN discriminator (Lin et al. 2018): it scores ``pack`` samples
    concatenated together, so a batch of B samples yields B / pack scores. Packing lets D see
    whether a *set* of samples is as diverse as real data, which penalises mode collapse.
    """

    def __init__(self, data_dim: int, width: int = 128, depth: int = 3, pack: int = 1):
        super().__init__()
        self.pack = pack
        self.net = _mlp(data_dim * pack, 1, width, depth, _LeakyReLU)

    def forward(self, x: Tensor) -> Tensor:  # (batch, data_dim) -> (batch // pack,)
        if self.pack > 1:
            x = x.reshape(x.shape[0] // self.pack, -1)
        return self.net(x).squeeze(-1)


class _LeakyReLU(nn.LeakyReLU):
    def __init__(self):
        super().__init__(0.2)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def generate(generator: nn.Module, z: Tensor) -> Tensor:
    """Run G in eval mode without building a graph."""
    was_training = generator.training
    generator.eval()
    try:
        return generator(z)
    finally:
        generator.train(was_training)
