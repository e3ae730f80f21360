"""One step of the alternating GAN game: ``critic_steps`` D updates, then one G update.

    d_step: G frozen (its samples are computed without a graph), D minimises its loss
            critic_steps times, each on a fresh real batch and fresh noise.
    g_step: D frozen (requires_grad_(False)); the generator's loss is backpropagated *through* D
            into G, so D acts as G's learned loss function. Only G's optimiser steps.

What D sees is built by :func:`gankit.engine.critic.discriminate` in both; the terms beside the
adversarial loss (gradient penalty, R1/R2, the coverage term) are the active ones of
:data:`gankit.engine.terms.TERMS`. R1/R2 differentiate D's loss forward itself, w.r.t. the batches
before augmentation, on the D updates that take them (StyleGAN2-ADA's and R3GAN's R1). Both steps
read the same whatever the ``StepPlan`` (fused critic call, autocast, DDP shard, compiled networks)
says. Statistics are returned as tensors, so a step forces no device sync; the trainer sums them
and syncs only when it writes a row.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from gankit.config import TrainConfig
from gankit.engine.critic import PLAIN, StepPlan, discriminate
from gankit.engine.sampling import draw_real, label_args, random_labels, sample_noise
from gankit.engine.terms import CriticUpdate, GeneratorUpdate, active_terms, input_grads_needed
from gankit.objectives import Objective, clip_weights_


def d_step(
    generator: nn.Module,
    discriminator: nn.Module,
    d_optimizer: torch.optim.Optimizer,
    objective: Objective,
    config: TrainConfig,
    data,
    rng: torch.Generator,
    plan: StepPlan = PLAIN,
    step: int = 0,
    noise_std: float = 0.0,
) -> dict[str, Tensor]:
    """Update D ``critic_steps`` times; G's parameters are not touched (its output is detached).

    ``step`` is the generator updates so far (the terms' schedules). A conditional run generates its
    fakes for the real batch's labels, so D compares like with like. ``noise_std`` > 0 adds instance
    noise to both batches (schedules.instance_noise_std).
    """
    discriminator.requires_grad_(True)
    terms = active_terms(config)
    for critic_step in range(config.critic_steps):
        real, labels = draw_real(data, config.batch_size, rng, config.conditional, plan.shard)
        noise = sample_noise(config.batch_size, config.latent_dim, rng)[plan.shard]
        with torch.no_grad(), plan.autocast(real.device):
            fake = generator(noise, **label_args(labels)).float()
        d_update = step * config.critic_steps + critic_step
        # R1/R2, on the updates that take them, differentiate these scores w.r.t. the batches before
        # augmentation: those batches require grad before D sees them, and D is the eager one under
        # --compile (the penalty's double backward); other updates build nothing extra.
        real_grad, fake_grad = input_grads_needed(terms, config, d_update)
        real, fake = real.detach().requires_grad_(real_grad), fake.requires_grad_(fake_grad)
        scorer = (plan.penalty_critic or discriminator) if real_grad or fake_grad else discriminator
        (seen_real, seen_fake), (real_scores, fake_scores) = discriminate(
            scorer, (real, fake), labels, config, rng, plan, noise_std
        )
        loss = objective.discriminator_loss(real_scores, fake_scores)
        # for a penalty with a forward pass of its own (WGAN-GP's): the eager D under --compile
        critic = functools.partial(plan.penalty_critic or discriminator, **label_args(labels))
        update = CriticUpdate(
            config, rng, plan, seen_real, seen_fake, real, fake, real_scores, fake_scores, critic, d_update
        )
        for term in terms:
            if (added := term.d_loss(update)) is not None:
                loss = loss + added
        d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if critic_step == config.critic_steps - 1:  # only the last critic step is logged
            d_grad_norm = grad_norm(discriminator)
        d_optimizer.step()
        if objective.uses_weight_clipping:
            clip_weights_(discriminator, config.clip_value)
    stats = {
        "d_loss": loss.detach(),
        "d_real": real_scores.detach().mean(),  # raw scores: logits or critic values
        "d_fake": fake_scores.detach().mean(),
        "d_grad_norm": d_grad_norm,
        # every GAN row has a gradient_penalty (the run directory's contract): 0 unless the term is on
        "gradient_penalty": torch.zeros((), device=real.device),
        **update.stats,
    }
    if objective.is_classifier:  # D(x) = sigmoid(score): the probability that x is real
        stats["p_real"] = torch.sigmoid(real_scores.detach()).mean()
        stats["p_fake"] = torch.sigmoid(fake_scores.detach()).mean()
    return stats


def g_step(
    generator: nn.Module,
    discriminator: nn.Module,
    g_optimizer: torch.optim.Optimizer,
    objective: Objective,
    config: TrainConfig,
    rng: torch.Generator,
    plan: StepPlan = PLAIN,
    step: int = 0,
    noise_std: float = 0.0,
    data=None,
    spread: float = 1.0,
) -> dict[str, Tensor]:
    """Update G once through a frozen D; D's parameters receive no gradient and do not change.

    D sees G's samples as in ``d_step`` (augmented, with instance noise of ``noise_std``). ``data``
    gives the real batch of an objective that pairs G's samples with real ones (rpgan: the real
    batch's labels are then G's) and of the terms that need one (the coverage term, with the data's
    RMS ``spread``).
    """
    discriminator.requires_grad_(False)
    try:
        paired = objective.pairs_with_real  # rpgan: each sample is scored against a real one
        if paired:  # the real batch first; a conditional G then draws its labels
            real, labels = draw_real(data, config.batch_size, rng, config.conditional, plan.shard)
        noise = sample_noise(config.batch_size, config.latent_dim, rng)[plan.shard]
        if not paired:
            labels = random_labels(config, rng, plan.shard)  # None unless conditional
        with plan.autocast(noise.device):
            generated = generator(noise, **label_args(labels))
        shown = (generated, real) if paired else (generated,)
        _, (fake_scores, *paired_scores) = discriminate(
            discriminator, shown, labels, config, rng, plan, noise_std
        )
        loss = objective.generator_loss(fake_scores, *paired_scores)
        update = GeneratorUpdate(
            config, rng, plan, generated, fake_scores, labels, discriminator, noise_std, data, spread, step
        )
        for term in active_terms(config):
            if (added := term.g_loss(update)) is not None:
                loss = loss + added
        g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        g_grad_norm = grad_norm(generator)
        g_optimizer.step()
    finally:
        discriminator.requires_grad_(True)
    return {"g_loss": loss.detach(), "g_grad_norm": g_grad_norm, **update.stats}


def grad_norm(module: nn.Module) -> Tensor:
    """Global L2 norm of the gradients currently stored in ``module``'s parameters.

    ||g|| = ||(||g_1||, ..., ||g_n||)||: one fused kernel for the per-tensor norms (what
    torch.nn.utils.get_total_norm computes, without its per-tensor device copies).
    """
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
