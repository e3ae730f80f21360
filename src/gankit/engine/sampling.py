"""What training draws (noise, real batches, labels) and samples from a trained generator.

Training draws everything from the one ``torch.Generator`` it is handed, for the *global* batch, and
keeps this process's rows (``shard``, see ``StepPlan.shard``): processes see different samples and
together follow one process's numbers. Samples after training come from a CPU generator seeded by
the caller, so they do not depend on the device.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gankit.config import TrainConfig
from gankit.errors import GankitError


def sample_noise(batch: int, latent_dim: int, rng: torch.Generator) -> Tensor:
    """G's input z ~ N(0, I), shape (batch, latent_dim), on the generator's device."""
    return torch.randn(batch, latent_dim, generator=rng, device=rng.device)


def draw_real(
    data, batch: int, rng: torch.Generator, conditional: bool, shard: slice = slice(None)
) -> tuple[Tensor, Tensor | None]:
    """A real batch (this process's rows) and, for a conditional run, its labels (else None)."""
    if not conditional:
        return data.sample(batch, rng)[shard], None
    images, labels = data.sample_labelled(batch, rng)
    return images[shard], labels[shard]


def random_labels(config: TrainConfig, rng: torch.Generator, shard: slice = slice(None)) -> Tensor | None:
    """Uniform class labels for G's step of a conditional run (the global batch's, then this shard)."""
    if not config.conditional:
        return None
    labels = torch.randint(config.num_classes, (config.batch_size,), generator=rng, device=rng.device)
    return labels[shard]


def label_args(labels: Tensor | None, copies: int = 1) -> dict[str, Tensor]:
    """The keyword arguments that condition G or D on ``labels``: none for an unconditional run."""
    return {} if labels is None else {"labels": labels.repeat(copies)}


@torch.no_grad()
def draw_samples(
    generator: nn.Module,
    n: int,
    latent_dim: int,
    seed: int,
    device: torch.device | str = "cpu",
    batch: int = 4096,
    label: int | None = None,
) -> Tensor:
    """Deterministic samples: noise from a CPU generator seeded with ``seed`` (device-independent).

    A conditional generator (one with ``num_classes``) draws class ``label`` for every sample, or
    without one the classes in turn (sample i is of class i mod K), the same for every seed.
    """
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=rng)
    labels = None
    num_classes = getattr(generator, "num_classes", None)
    if num_classes and label is not None and not 0 <= label < num_classes:
        raise GankitError(f"label must be a class from 0 to {num_classes - 1}, got {label}")
    if num_classes:
        labels = torch.full((n,), label) if label is not None else torch.arange(n) % num_classes
    elif label is not None:
        raise GankitError("a label needs a conditional generator (a run trained with --conditional)")
    was_training = generator.training
    generator.eval()
    try:
        parts = []
        for start in range(0, n, batch):
            chunk_labels = None if labels is None else labels[start : start + batch].to(device)
            fake = generator(z[start : start + batch].to(device), **label_args(chunk_labels))
            parts.append(fake.float().cpu())
    finally:
        generator.train(was_training)
    return torch.cat(parts) if parts else z.new_zeros((0,))
