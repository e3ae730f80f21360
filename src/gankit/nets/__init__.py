"""Network builders: pick the architecture that fits the data's shape."""

from __future__ import annotations

from torch import nn

from gankit.errors import GankitError
from gankit.nets.dcgan import build_dcgan
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator, data_statistics


def build_networks(config, data_shape: tuple[int, ...], data=None) -> tuple[nn.Module, nn.Module]:
    """Return (generator, discriminator) for ``config`` and per-sample ``data_shape``.

    Flat data (``(dim,)``) gets MLPs; images (``(channels, height, width)``) get the DCGAN-style
    convolutional networks of :mod:`gankit.nets.dcgan`. With ``config.standardize`` the MLPs take
    the mean and spread of ``data`` (:func:`gankit.nets.mlp.data_statistics`); without ``data``
    they keep zeros and ones until a checkpoint's state fills them in.
    """
    if len(data_shape) == 1:
        dim = data_shape[0]
        components = config.latent_components if config.latent == "mixture" else 0
        standardize = config.standardize
        generator = MLPGenerator(config.latent_dim, dim, config.width, config.depth, components, standardize)
        discriminator = MLPDiscriminator(
            dim, config.discriminator_width, config.depth, config.pack, standardize
        )
        if standardize and data is not None:
            statistics = data_statistics(data)
            generator.standardized.set(*statistics)
            discriminator.standardized.set(*statistics)
    else:
        if config.latent != "gaussian":
            raise GankitError(
                f"latent {config.latent!r} is for toy (flat) data; image nets take latent=gaussian"
            )
        generator, discriminator = build_dcgan(config, data_shape)
    if config.spectral_norm:
        spectral_normalise(discriminator)
    return generator, discriminator


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Spectral normalisation of every linear, conv and embedding layer (Miyato et al. 2018, SN-GAN).

    W_SN = W / sigma(W), sigma(W) the largest singular value, estimated by one power iteration per
    training forward (PyTorch's parametrization): each layer is then 1-Lipschitz, so D is too (up
    to its activations' slopes, at most 1 here).
    """
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding))]
    for layer in layers:
        nn.utils.parametrizations.spectral_norm(layer)
    return module
