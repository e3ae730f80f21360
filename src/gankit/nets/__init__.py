"""Network builders: pick the architecture that fits the data's shape."""

from __future__ import annotations

from torch import nn

from gankit.nets.mlp import MLPDiscriminator, MLPGenerator


def build_networks(config, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """Return (generator, discriminator) for ``config`` and per-sample ``data_shape``.

    Flat data (``(dim,)``) gets MLPs; images (``(channels, height, width)``) get the DCGAN-style
    convolutional networks of :mod:`gankit.nets.dcgan`.
    """
    if len(data_shape) == 1:
        dim = data_shape[0]
        generator = MLPGenerator(config.latent_dim, dim, config.width, config.depth)
        discriminator = MLPDiscriminator(dim, config.width, config.depth, pack=config.pack)
        return generator, discriminator
    from gankit.nets.dcgan import build_dcgan  # images: built only when needed

    return build_dcgan(config, data_shape)
