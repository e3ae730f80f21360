"""Network builders: pick the architecture that fits the data's shape."""

from __future__ import annotations

from torch import nn

from gankit.errors import GankitError
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator


def build_networks(config, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """Return (generator, discriminator) for ``config`` and per-sample ``data_shape``.

    Flat data (``(dim,)``) gets MLPs; images (``(channels, height, width)``) get the DCGAN-style
    convolutional networks of :mod:`gankit.nets.dcgan`.
    """
    if len(data_shape) == 1:
        dim = data_shape[0]
        components = config.latent_components if config.latent == "mixture" else 0
        generator = MLPGenerator(config.latent_dim, dim, config.width, config.depth, components)
        discriminator = MLPDiscriminator(dim, config.width, config.depth, pack=config.pack)
        return generator, discriminator
    if config.latent != "gaussian":
        raise GankitError(f"latent {config.latent!r} is for toy (flat) data; image nets take latent=gaussian")
    from gankit.nets.dcgan import build_dcgan  # images: built only when needed

    return build_dcgan(config, data_shape)
