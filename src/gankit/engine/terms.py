"""Loss terms beside the adversarial loss, one small class each.

A term is on for a run when ``applies(config)``. ``d_step`` calls ``d_loss`` of every active term in
``TERMS`` order after the objective's loss, in each D update; ``g_step`` calls ``g_loss`` the same
way. A hook gets what that update computed (:class:`CriticUpdate`, :class:`GeneratorUpdate`),
reports the statistics it computes into ``update.stats`` (the row keys listed in ``logs``), and
returns the weighted term to add to the loss, or None to add nothing this update (the default).
A D term that differentiates D's scores w.r.t. the batches (R1/R2) says so for each update in
``needs_input_grad``, before D sees them: the step then makes those batches require grad, so the
gradient is taken from the same forward pass as D's loss, through the augmentation.

Adding a term: its formula as a pure function in :mod:`gankit.objectives`, its option in
:class:`~gankit.config.TrainConfig`, and a class here listed in ``TERMS``; the steps do not change.
A term that needs D's scores on another batch (a relativistic loss's real batch in G's step) shows
it to D with :func:`gankit.engine.critic.discriminate`, as the steps do.

The order in ``TERMS`` is part of a run's numbers: a term that draws from the training RNG draws
after the terms before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gankit.config import TrainConfig
from gankit.engine.critic import StepPlan
from gankit.engine.sampling import draw_real
from gankit.engine.schedules import R3GAN_FINAL, coverage_weight_at, r3gan_progress, scheduled
from gankit.objectives import get_objective, gradient_penalty, nearest_sample_loss, squared_gradient_norms


@dataclass
class CriticUpdate:
    """One D update, as D's loss terms see it (this process's rows of the global batch)."""

    config: TrainConfig
    rng: torch.Generator
    plan: StepPlan
    real: Tensor  # the real batch as D saw it: augmented, with instance noise
    fake: Tensor  # G's batch as D saw it (no graph back to G)
    # the batches before augmentation and noise; each requires grad on the updates where a term
    # differentiates D's scores w.r.t. it (Term.needs_input_grad), and D's scores then depend on it
    real_input: Tensor
    fake_input: Tensor
    real_scores: Tensor  # D's raw scores, fp32
    fake_scores: Tensor
    critic: Callable[[Tensor], Tensor]  # D conditioned on this batch's labels; eager under --compile
    d_update: int  # D updates before this one in the run (schedules lazy R1/R2)
    stats: dict[str, Tensor] = field(default_factory=dict)  # what the terms report


@dataclass
class GeneratorUpdate:
    """G's update, as G's loss terms see it (this process's rows of the global batch)."""

    config: TrainConfig
    rng: torch.Generator
    plan: StepPlan
    generated: Tensor  # G's output before augmentation; carries G's gradient
    fake_scores: Tensor  # D's raw scores of it as D saw it, fp32
    labels: Tensor | None  # the classes G was asked for (None: unconditional)
    discriminator: nn.Module  # frozen; for a term that shows D another batch (critic.discriminate)
    noise_std: float  # this step's instance noise, for the same
    data: object  # the training data, for a term that needs a real batch
    spread: float  # the data's RMS spread (nets.data_statistics), for unit-free terms
    step: int  # generator updates before this one (annealed weights)
    stats: dict[str, Tensor] = field(default_factory=dict)


class Term:
    """A loss term: on for a run when ``applies(config)``; a hook it does not define adds nothing."""

    logs: tuple[str, ...] = ()  # the row keys its hooks report

    def applies(self, config: TrainConfig) -> bool:
        raise NotImplementedError

    def needs_input_grad(self, config: TrainConfig, d_update: int) -> tuple[bool, bool]:
        """Whether this D update's ``d_loss`` differentiates D's scores w.r.t. the (real, generated)
        batch before augmentation; ``d_update`` counts the run's D updates before it."""
        return False, False

    def d_loss(self, update: CriticUpdate) -> Tensor | None:
        return None

    def g_loss(self, update: GeneratorUpdate) -> Tensor | None:
        return None


class GradientPenalty(Term):
    """WGAN-GP's lambda * E[(||grad D(xhat)||_2 - 1)^2] in D's loss (objectives.gradient_penalty)."""

    logs = ("gradient_penalty",)

    def applies(self, config: TrainConfig) -> bool:
        return get_objective(config.objective).uses_gradient_penalty

    def d_loss(self, update: CriticUpdate) -> Tensor:
        real, config = update.real.detach(), update.config  # an R1 update's real batch has a graph
        # one interpolation weight per sample, drawn for the global batch (see StepPlan.shard)
        shape = (config.batch_size,) + (1,) * (real.dim() - 1)
        eps = torch.rand(shape, generator=update.rng, device=real.device)[update.plan.shard]
        with update.plan.autocast(real.device):
            penalty = gradient_penalty(update.critic, real, update.fake, eps=eps)
        update.stats["gradient_penalty"] = penalty.detach()
        return config.gradient_penalty_weight * penalty


class R1R2(Term):
    """R1 (real) and R2 (generated) zero-centred gradient penalties in D's loss, lazily every
    ``r1_every`` D updates (:func:`r1_r2_terms`), w.r.t. the batches before augmentation. One term
    for both: they share the lazy schedule, and their sum is added to D's loss as one number."""

    logs = ("r1_penalty", "r2_penalty")

    def applies(self, config: TrainConfig) -> bool:
        return bool(config.r1_gamma or config.r2_gamma)

    def needs_input_grad(self, config: TrainConfig, d_update: int) -> tuple[bool, bool]:
        due = d_update % config.r1_every == 0
        return due and bool(config.r1_gamma), due and bool(config.r2_gamma)

    def d_loss(self, update: CriticUpdate) -> Tensor:
        real, fake = (update.real_input, update.real_scores), (update.fake_input, update.fake_scores)
        total, stats = r1_r2_terms(*real, *fake, update.config, update.d_update)
        update.stats |= stats
        return total


class Coverage(Term):
    """IMLE's nearest-sample pull in G's loss (objectives.nearest_sample_loss) on a real batch drawn
    here, in units of the data's spread, weighted by ``coverage_weight`` annealed to 0
    (schedules.coverage_weight_at). Its weight annealed away, it draws nothing and logs nothing."""

    logs = ("coverage_loss",)

    def applies(self, config: TrainConfig) -> bool:
        return config.coverage_weight > 0

    def g_loss(self, update: GeneratorUpdate) -> Tensor | None:
        config = update.config
        weight = coverage_weight_at(config, update.step)
        if not weight:
            return None
        real, _ = draw_real(update.data, config.batch_size, update.rng, False, update.plan.shard)
        coverage = nearest_sample_loss(real, update.generated, update.spread)
        update.stats["coverage_loss"] = coverage.detach()
        return weight * coverage


TERMS: tuple[Term, ...] = (GradientPenalty(), R1R2(), Coverage())


def active_terms(config: TrainConfig) -> list[Term]:
    """The registered terms this run uses, in ``TERMS`` order."""
    return [term for term in TERMS if term.applies(config)]


def input_grads_needed(terms: list[Term], config: TrainConfig, d_update: int) -> tuple[bool, bool]:
    """(real, generated): whether one of ``terms`` differentiates this D update's scores w.r.t. that
    batch (Term.needs_input_grad); d_step makes only those batches require grad."""
    needs = [term.needs_input_grad(config, d_update) for term in terms]
    return any(real for real, _ in needs), any(fake for _, fake in needs)


def r1_r2_terms(
    real: Tensor, real_scores: Tensor, fake: Tensor, fake_scores: Tensor, config: TrainConfig, d_update: int
) -> tuple[Tensor, dict[str, Tensor]]:
    """gamma1/2 E||grad_x D(T(x))||^2 + gamma2/2 E||grad_x D(T(x))||^2 for this D update, on real
    and on generated ``x``, and its stats (objectives.squared_gradient_norms).

    The gradient is taken w.r.t. the images *before* augmentation and instance noise (T), through
    them: ``real`` / ``fake`` are the batches as drawn, and ``real_scores`` / ``fake_scores`` D's
    scores of them as D saw them, the ones D's loss uses (StyleGAN2-ADA's and R3GAN's R1). On an
    update that takes a penalty its batch must require grad (R1R2.needs_input_grad); on the others
    nothing is differentiated. Without augmentation and noise T is the identity and this is the
    gradient at the images D scored.

    Lazy regularisation (Karras et al. 2020, StyleGAN2): with ``r1_every`` = k the terms are
    computed on every k-th D update only, multiplied by k so that their average strength is
    unchanged. The logged ``r1_penalty`` / ``r2_penalty`` (k E||grad D||^2 on those updates, 0 on
    the others) therefore average to E||grad D||^2 over a log window. With R3GAN's schedule
    (``r3gan_decay_steps``) both gammas follow it down to a tenth (schedules.r3gan_progress).
    """
    on = [  # the penalties that are on: (name, gamma, images, D's scores of them)
        (name, gamma, images, scores)
        for name, gamma, images, scores in (
            ("r1_penalty", config.r1_gamma, real, real_scores),
            ("r2_penalty", config.r2_gamma, fake, fake_scores),
        )
        if gamma
    ]
    total = torch.zeros((), device=real_scores.device)
    if not on or d_update % config.r1_every:  # off, or not taken on this update: 0 logged
        return total, {name: torch.zeros((), device=real_scores.device) for name, *_ in on}
    norms = squared_gradient_norms([images for _, _, images, _ in on], [scores for _, _, _, scores in on])
    # R3GAN's schedule (schedules.r3gan_progress) lowers both gammas to a tenth; 1 without it
    progress = r3gan_progress(config, d_update // config.critic_steps) if config.r3gan_decay_steps else 0.0
    factor = scheduled(1.0, R3GAN_FINAL["gamma"], progress)
    stats = {}
    for (name, gamma, *_), norm in zip(on, norms, strict=True):
        stats[name] = config.r1_every * norm
        total = total + factor * gamma / 2 * stats[name]
    return total, {name: value.detach() for name, value in stats.items()}
