"""A convolutional VAE (Kingma & Welling 2014): the baseline GAN samples are compared with.

Its decoder *is* the DCGAN generator (same architecture, same latent size, same tanh output), so
GAN vs VAE compares the training principle, not the network. The encoder is the discriminator's
convolutional trunk without normalisation, ending in the posterior's mean and log-variance.

Pixels in [-1, 1] are read as Bernoulli probabilities p = (x + 1) / 2 (the usual likelihood for
digits). The decoder's pre-tanh output a gives logits 2a, and its sample tanh(a) = 2 sigmoid(2a) - 1
is exactly the Bernoulli mean mapped back to [-1, 1].

    loss = E_q[-log p(x | z)] + KL(q(z | x) || N(0, I))        (the negative ELBO, per image)
    KL   = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nets.dcgan import DCGANGenerator, check_image_shape, downsampling_trunk


class VAEEncoder(nn.Module):
    """q(z | x): (batch, C, S, S) -> (mu, log_variance), each (batch, latent_dim)."""

    def __init__(self, latent_dim: int, data_shape: tuple[int, int, int], width: int = 64, depth: int = 1):
        super().__init__()
        channels, side, _ = data_shape
        trunk, features = downsampling_trunk(channels, side, width, depth, norm="none")
        self.body = nn.Sequential(*trunk, nn.Linear(features, 2 * latent_dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_variance = self.body(x).chunk(2, dim=1)
        return mu, log_variance


def build_vae(config, data_shape: tuple[int, ...]) -> tuple[VAEEncoder, DCGANGenerator]:
    """(encoder, decoder) for a resolved ``config``; the decoder is the GAN's generator."""
    check_image_shape(data_shape)
    encoder = VAEEncoder(config.latent_dim, data_shape, config.width, config.depth)
    decoder = DCGANGenerator(config.latent_dim, data_shape, config.width, config.depth)
    return encoder, decoder


def vae_loss(
    encoder: VAEEncoder, decoder: DCGANGenerator, x: Tensor, rng: torch.Generator
) -> dict[str, Tensor]:
    """Negative ELBO of a batch x in [-1, 1], mean over images (see the module docstring).

    z = mu + sigma * eps with eps ~ N(0, I) drawn from ``rng`` (the reparameterisation trick).
    Returns loss, reconstruction (the expected negative log-likelihood) and kl, all (batch-mean) scalars.
    """
    mu, log_variance = encoder(x)
    eps = torch.randn(mu.shape, generator=rng, device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * log_variance) * eps
    logits = 2 * decoder.pre_activation(z)
    target = (x + 1) / 2
    reconstruction = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(x)
    kl = 0.5 * (mu**2 + log_variance.exp() - 1 - log_variance).sum() / len(x)
    return {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}
