"""Differentiable augmentation for small data (DiffAugment, Zhao et al. 2020, "Differentiable
Augmentation for Data-Efficient GAN Training").

D overfits a small data set (1,797 digits) within a few hundred steps: it memorises the real
images and its gradients stop telling G anything useful. DiffAugment shows D only *augmented*
images, real and fake alike, and because every operation is differentiable, G's gradient flows
back through the augmentation; so do R1/R2's gradient w.r.t. the images before it and that
gradient's own derivative (their double backward): each operation is linear in x for its draw.
The same policy is applied in D's step (real and fake) and in G's step (fake), otherwise G would
learn to produce augmented-looking images.

Images are (batch, C, H, W) in [-1, 1]; every random number comes from the ``torch.Generator``
passed in (the trainer's), so a run repeats exactly. The three policies, as in the paper's code:

    color:       x + (u1 - 1/2)                               brightness, u ~ U[0, 1] per sample
                 (x - mean_c x) * 2 u2 + mean_c x             saturation (mean over channels)
                 (x - mean_chw x) * (u3 + 1/2) + mean_chw x   contrast (mean over the image)
    translation: shift by up to 1/8 of the side in each direction, zero padding
    cutout:      zero a square of half the side at a random centre
"""

from __future__ import annotations

import torch
from torch import Tensor

POLICIES = ("color", "translation", "cutout")  # applied in this order whatever order is given


def random_color(x: Tensor, rng: torch.Generator) -> Tensor:
    """Random brightness, saturation and contrast, one factor of each per sample."""
    u = torch.rand(3, x.shape[0], 1, 1, 1, generator=rng, device=x.device, dtype=x.dtype)
    x = x + (u[0] - 0.5)
    channel_mean = x.mean(dim=1, keepdim=True)
    x = (x - channel_mean) * (u[1] * 2) + channel_mean
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * (u[2] + 0.5) + image_mean


def random_translation(x: Tensor, rng: torch.Generator, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ``ratio`` of its side (rounded) in y and x; uncovered pixels are 0."""
    batch, _, height, width = x.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (batch, 1, 1), generator=rng, device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (batch, 1, 1), generator=rng, device=x.device)
    # Read pixel (i + dy, j + dx) of an image padded by one zero pixel; indices past the edge land
    # on the padding.
    rows = (torch.arange(height, device=x.device).view(1, -1, 1) + dy + 1).clamp(0, height + 1)
    cols = (torch.arange(width, device=x.device).view(1, 1, -1) + dx + 1).clamp(0, width + 1)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (B, H + 2, W + 2, C)
    index = torch.arange(batch, device=x.device).view(-1, 1, 1)
    return padded[index, rows, cols].permute(0, 3, 1, 2)


def random_cutout(x: Tensor, rng: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Zero a ``ratio``-of-the-side square (clipped at the border) centred anywhere in each image."""
    batch, _, height, width = x.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    centre_y = torch.randint(0, height + (1 - size_y % 2), (batch, 1, 1), generator=rng, device=x.device)
    centre_x = torch.randint(0, width + (1 - size_x % 2), (batch, 1, 1), generator=rng, device=x.device)
    rows = torch.arange(height, device=x.device).view(1, -1, 1) - (centre_y - size_y // 2)
    cols = torch.arange(width, device=x.device).view(1, 1, -1) - (centre_x - size_x // 2)
    inside = (rows >= 0) & (rows < size_y) & (cols >= 0) & (cols < size_x)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPERATIONS = {"color": random_color, "translation": random_translation, "cutout": random_cutout}


def diff_augment(x: Tensor, policy: tuple[str, ...], rng: torch.Generator) -> Tensor:
    """Apply the policy's operations (a subset of POLICIES) in canonical order; () is the identity."""
    for name in POLICIES:
        if name in policy:
            x = _OPERATIONS[name](x, rng)
    return x
