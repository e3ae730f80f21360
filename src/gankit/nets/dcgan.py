"""DCGAN-style convolutional generator and discriminator/critic (Radford et al. 2016).

Both adapt to the image size. A square side S is halved ``k`` times down to a start side
S0 = S / 2^k in 4..7 (8 -> 4, 16 -> 4, 28 -> 7, 32 -> 4, 64 -> 4); odd sides stop early. The
generator projects z to a (width * 2^k, S0, S0) tensor and doubles the resolution k times with
stride-2 transposed convolutions, halving the channels each time; the discriminator mirrors it with
stride-2 convolutions. ``depth`` counts the convolutions at every resolution: the resampling one
plus ``depth - 1`` 3x3 ones.

Normalisation follows the objective: batch norm in G; in D batch norm for the
classifier-style objectives, but *layer norm* in a gradient-penalty critic and in any D with an R1
or R2 penalty (rpgan's by default), because the penalty is defined per sample and batch norm would
mix samples into each other's scores and gradients (R3GAN's D has no normalisation at all). With spectral
normalisation (``spectral_norm``, SN-GAN) D has no normalisation layers at all, as in Miyato et al.

Class-conditional (``num_classes``): G concatenates a learned class embedding to z, and D is a
*projection discriminator* (Miyato & Koyama 2018, "cGANs with Projection Discriminator"):

    D(x, y) = psi(phi(x)) + embed(y) . phi(x)

with phi the convolutional trunk's flat features, psi the unconditional linear head and embed(y)
a learned vector per class: the label enters as an inner product with the features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.errors import GankitError
from gankit.objectives import get_objective

MIN_SIDE, MAX_SIDE = 8, 64
CLASS_EMBEDDING = 32  # size of G's class embedding (conditional), concatenated to z


def resolution_plan(side: int) -> tuple[int, int]:
    """(start side S0, number of doublings k) with S0 * 2^k = side and S0 as small as 4 allows."""
    doublings = 0
    while side % 2 == 0 and side // 2 >= 4:
        side //= 2
        doublings += 1
    return side, doublings


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # normalises each sample over (C, H, W): no mixing across the batch
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def _conv_block(channels: int, norm: str, activation: nn.Module) -> list[nn.Module]:
    return [nn.Conv2d(channels, channels, 3, padding=1), _norm(norm, channels), activation]


class DCGANGenerator(nn.Module):
    """G: (batch, latent_dim) -> (batch, C, S, S) in [-1, 1] (tanh output)."""

    def __init__(
        self,
        latent_dim: int,
        data_shape: tuple[int, int, int],
        width: int = 64,
        depth: int = 1,
        num_classes: int | None = None,
    ):
        super().__init__()
        channels, side, _ = data_shape
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.start_side, doublings = resolution_plan(side)
        self.start_channels = width * 2**doublings
        # conditional: a learned class embedding, concatenated to z
        self.embed = nn.Embedding(num_classes, CLASS_EMBEDDING) if num_classes else None
        input_dim = latent_dim + (CLASS_EMBEDDING if num_classes else 0)
        self.project = nn.Sequential(
            nn.Linear(input_dim, self.start_channels * self.start_side**2),
            nn.Unflatten(1, (self.start_channels, self.start_side, self.start_side)),
            nn.BatchNorm2d(self.start_channels),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        features = self.start_channels
        for stage in range(doublings + 1):
            for _ in range(depth - 1):
                layers += _conv_block(features, "batch", nn.ReLU())
            if stage < doublings:  # double the resolution, halve the channels
                layers += [
                    nn.ConvTranspose2d(features, features // 2, 4, stride=2, padding=1),
                    nn.BatchNorm2d(features // 2),
                    nn.ReLU(),
                ]
                features //= 2
        layers.append(nn.Conv2d(features, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def pre_activation(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The output a before tanh; the VAE reads 2a as Bernoulli logits, as tanh(a) = 2 sigmoid(2a) - 1."""
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.body(self.project(z))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return torch.tanh(self.pre_activation(z, labels))


def downsampling_trunk(
    in_channels: int, side: int, width: int, depth: int, norm: str
) -> tuple[list[nn.Module], int]:
    """Conv layers (C, S, S) -> flat features, halving the resolution down to the start side.

    Shared by the discriminator and the VAE's encoder; returns the layers and the feature count.
    """
    start_side, doublings = resolution_plan(side)
    activation = nn.LeakyReLU(0.2)
    # No normalisation on the input layer (as in DCGAN): it would erase the images' own scale.
    layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, padding=1), activation]
    features = width
    for stage in range(doublings + 1):
        for _ in range(depth - 1):
            layers += _conv_block(features, norm, activation)
        if stage < doublings:  # halve the resolution, double the channels
            layers += [
                nn.Conv2d(features, features * 2, 4, stride=2, padding=1),
                _norm(norm, features * 2),
                activation,
            ]
            features *= 2
    layers.append(nn.Flatten())
    return layers, features * start_side**2


class DCGANDiscriminator(nn.Module):
    """D: (batch, C, S, S) -> (batch // pack,) raw scores (logits or critic values).

    ``pack`` > 1 (PacGAN) stacks ``pack`` images along the channel axis so D scores them jointly.
    With ``num_classes`` it is a projection discriminator and ``forward`` takes the labels too.
    """

    def __init__(
        self,
        data_shape: tuple[int, int, int],
        width: int = 64,
        depth: int = 1,
        norm: str = "batch",
        pack: int = 1,
        num_classes: int | None = None,
    ):
        super().__init__()
        channels, side, _ = data_shape
        self.pack = pack
        trunk, features = downsampling_trunk(channels * pack, side, width, depth, norm)
        self.body = nn.Sequential(*trunk, nn.Linear(features, 1))  # phi = body[:-1], psi = body[-1]
        self.embed = nn.Embedding(num_classes, features) if num_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.pack > 1:
            x = x.reshape(x.shape[0] // self.pack, -1, *x.shape[2:])
        if self.embed is None:
            return self.body(x).squeeze(-1)
        features = self.body[:-1](x)  # phi(x): (batch, features)
        return self.body[-1](features).squeeze(-1) + (self.embed(labels) * features).sum(dim=1)


def check_image_shape(data_shape: tuple[int, ...]) -> None:
    """Raise a GankitError unless the shape is (C, S, S) with MIN_SIDE <= S <= MAX_SIDE."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or not MIN_SIDE <= data_shape[1] <= MAX_SIDE:
        shape = "x".join(str(s) for s in data_shape)
        raise GankitError(
            f"convolutional networks need square images with a side from {MIN_SIDE} to {MAX_SIDE}, "
            f"got {shape} (channels x height x width); resize them with --image-size"
        )


def build_dcgan(config, data_shape: tuple[int, ...]) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    """The (generator, discriminator) pair for ``config`` (resolved) and per-image ``data_shape``."""
    check_image_shape(data_shape)
    if config.spectral_norm:
        norm = "none"  # SN-GAN's D: the spectral norm alone controls its Lipschitz constant
    elif get_objective(config.objective).uses_gradient_penalty or config.r1_gamma or config.r2_gamma:
        norm = "layer"  # R1 / R2 (rpgan's default) are per-sample gradient penalties too
    else:
        norm = "batch"
    classes = config.num_classes if config.conditional else None
    generator = DCGANGenerator(config.latent_dim, data_shape, config.width, config.depth, classes)
    discriminator = DCGANDiscriminator(
        data_shape, config.discriminator_width, config.depth, norm, config.pack, classes
    )
    return generator, discriminator
