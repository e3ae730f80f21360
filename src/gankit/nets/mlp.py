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


class MLPGenerator(nn.Module):
    """G: R^latent_dim -> R^data_dim, a ReLU MLP with a linear output (toy data is unbounded)."""

    def __init__(self, latent_dim: int, data_dim: int, width: int = 128, depth: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _mlp(latent_dim, data_dim, width, depth, nn.ReLU)

    def forward(self, z: Tensor) -> Tensor:  # (batch, latent_dim) -> (batch, data_dim)
        return self.net(z)


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
