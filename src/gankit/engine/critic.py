"""What D sees, in one function both steps call (StyleGAN2-ADA's ``run_D``), and the ``StepPlan``
that says how the step runs on this hardware.

:func:`discriminate` is where augmentation (DiffAugment), instance noise, class labels and the
forward pass's precision are applied to a batch before D scores it. ``d_step`` shows D a real and a
generated batch, ``g_step`` a generated one, and a loss term that needs D's opinion of a batch asks
the same function, so D never sees one kind of input in one phase and another kind in the other.
Every operation on the way is differentiable w.r.t. the images: G's gradient flows back through it,
and R1/R2 take D's gradient w.r.t. the batches *before* it (d_step hands them over requiring grad).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gankit.augment import diff_augment
from gankit.config import TrainConfig
from gankit.engine.sampling import label_args


@dataclass(frozen=True)
class StepPlan:
    """How ``d_step`` and ``g_step`` run on this hardware; the default is one plain fp32 process.

    joint_critic_forward: real and fake batches go through D in one call (one matrix product of
        2B rows instead of two of B rows: fewer, larger kernels). Valid only when D scores each
        sample on its own; batch norm mixes the samples of a batch, so such critics keep two calls.
    shard: this process's rows of every global batch under DistributedDataParallel. Each process
        draws the *global* batch (data, noise, penalty weights) from the shared seed and keeps its
        own rows: processes see different samples and together follow one process's numbers.
    penalty_critic: the eager D for the penalties' double backward (a torch.compile'd module
        cannot be differentiated twice): WGAN-GP's own forward pass, and D's loss forward on the
        updates that take R1/R2; None means the D passed to ``d_step``.
    autocast_dtype: run the forward passes under ``torch.autocast`` in this dtype (bf16 for
        ``--amp``); losses, the penalty's gradient norms and every optimiser step stay fp32.
    """

    joint_critic_forward: bool = False
    shard: slice = field(default_factory=lambda: slice(None))  # all rows (a slice is unhashable)
    penalty_critic: nn.Module | None = None
    autocast_dtype: torch.dtype | None = None

    def autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)


PLAIN = StepPlan()


def scores_each_sample_alone(discriminator: nn.Module) -> bool:
    """True unless a layer mixes the samples of a batch (batch norm): then real and fake batches
    must go through D in separate calls, each with its own batch statistics."""
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())


def discriminate(
    discriminator: nn.Module,
    images: tuple[Tensor, ...],
    labels: Tensor | None,
    config: TrainConfig,
    rng: torch.Generator,
    plan: StepPlan,
    noise_std: float = 0.0,
) -> tuple[list[Tensor], list[Tensor]]:
    """Show D each batch of ``images`` (this process's rows) as it sees them; returns the batches as D
    saw them and D's raw scores (fp32), in the order given. A batch that requires grad keeps its graph
    to what D saw and to the scores (R1/R2: the gradient w.r.t. the images before augmentation).

    Every batch gets the run's DiffAugment policy (real and fake alike: G is not pushed to produce
    augmented-looking images) and then instance noise of std ``noise_std``; D is conditioned on
    ``labels`` (None: unconditional) and runs under the plan's autocast, in one call for all batches
    when the plan joins them. The training RNG is drawn in that order, every batch's augmentation
    and then every batch's noise, which is what makes a run repeat its numbers.
    """
    with plan.autocast(images[0].device):
        seen = [augment(x, config, rng) for x in images]
        seen = [add_instance_noise(x, noise_std, rng, config.batch_size, plan.shard) for x in seen]
        if plan.joint_critic_forward and len(seen) > 1:
            joint = discriminator(torch.cat(seen), **label_args(labels, copies=len(seen)))
            scores = list(joint.float().chunk(len(seen)))
        else:
            scores = [discriminator(x, **label_args(labels)).float() for x in seen]
    return seen, scores


def augment(images: Tensor, config: TrainConfig, rng: torch.Generator) -> Tensor:
    """DiffAugment with the run's policy (gankit.augment); the identity, drawing nothing, without one."""
    return diff_augment(images, config.augment, rng) if config.augment else images


def add_instance_noise(
    x: Tensor, std: float, rng: torch.Generator, batch: int, shard: slice = slice(None)
) -> Tensor:
    """x + std * N(0, I), drawn for the global ``batch`` and cut to this process's ``shard`` (see
    StepPlan.shard); ``x`` itself, drawing nothing, when std is 0 (schedules.instance_noise_std)."""
    if std <= 0:
        return x
    noise = torch.randn((batch,) + tuple(x.shape[1:]), generator=rng, device=rng.device)[shard]
    return x + std * noise.to(x.dtype)
