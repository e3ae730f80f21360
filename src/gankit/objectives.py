"""GAN objectives as pure functions of the discriminator's outputs.

Every network here outputs a raw score (a *logit* for the classifier GANs, an unbounded *critic*
value for the Wasserstein ones); D(x) = sigmoid(score) is the classifier's probability that x is
real. Losses are written in terms of the score with ``logsigmoid`` / ``softplus`` so they stay finite
when D saturates; the identities used are

    log D(x)       = log sigmoid(s)        = -softplus(-s)
    log(1 - D(x))  = log sigmoid(-s)       = -softplus(s)

Both players *minimise* their loss. Shapes: ``real_scores`` and ``fake_scores`` are ``(batch,)`` or
``(batch, 1)``; every loss is a scalar mean over the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError

# --- minimax: Goodfellow et al. 2014, "Generative Adversarial Nets" ---------------------------


def minimax_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """L_D = -E[log D(x)] - E[log(1 - D(G(z)))]   (Goodfellow et al. 2014, eq. 1).

    The binary cross-entropy of a real/fake classifier; ``ns`` uses the same D loss.
    """
    return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()


def minimax_generator_loss(fake_scores: Tensor) -> Tensor:
    """L_G = E[log(1 - D(G(z)))]   (the saturating loss of the original minimax game).

    When D confidently rejects the fakes (D(G(z)) -> 0) this loss is flat: dL_G/ds = -sigmoid(s)
    -> 0, so the generator receives almost no gradient. That is the vanishing-gradient pitfall.
    """
    return -F.softplus(fake_scores).mean()


# --- ns: the non-saturating heuristic from the same paper -------------------------------------


def ns_generator_loss(fake_scores: Tensor) -> Tensor:
    """L_G = -E[log D(G(z))]   (Goodfellow et al. 2014, section 3, "non-saturating").

    Same fixed point as minimax, but dL_G/ds = sigmoid(s) - 1 -> -1 when D(G(z)) -> 0: strong
    gradients exactly when the generator is losing.
    """
    return F.softplus(-fake_scores).mean()


# --- wgan / wgan-gp: Arjovsky et al. 2017; Gulrajani et al. 2017 ------------------------------


def wasserstein_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """L_D = E[f(G(z))] - E[f(x)]   (Arjovsky et al. 2017, WGAN critic).

    Minimising it maximises E[f(x)] - E[f(G(z))], which for a 1-Lipschitz critic f estimates the
    Wasserstein-1 distance W1(p_data, p_g). The critic's loss falls when real scores rise.
    """
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    """L_G = -E[f(G(z))]   (Arjovsky et al. 2017). The generator raises the critic's score."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
    eps: Tensor | None = None,
) -> Tensor:
    """GP = E_xhat[(||grad_xhat f(xhat)||_2 - 1)^2]   (Gulrajani et al. 2017, eq. 3, without lambda).

    xhat = eps * x + (1 - eps) * G(z) with one eps ~ U[0, 1] *per sample*, and the gradient norm
    taken *per sample* over all of that sample's dimensions (never over the whole batch, a bug in
    several public implementations). ``create_graph=True`` lets the penalty be backpropagated into
    the critic's parameters (a double backward). Multiply by lambda (``gradient_penalty_weight``).
    ``eps`` (shape ``(batch, 1, ...)``) is drawn from ``generator`` unless given (the training step's
    term, gankit.engine.terms.GradientPenalty, draws it for the global batch that processes share).
    The norms are taken in fp32 even when the critic runs under bf16 autocast.
    """
    if eps is None:
        eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)
    interpolates = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates)
    (grads,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    # One norm per score: per sample, or per packed group of samples for a PacGAN critic.
    norms = grads.float().reshape(scores.shape[0], -1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()


def squared_gradient_norms(images: Sequence[Tensor], scores: Sequence[Tensor]) -> list[Tensor]:
    """E_x[||grad_x D(T(x))||_2^2] for each batch of ``images`` x and D's ``scores`` of it, the norm
    taken *per sample* (Mescheder et al. 2018, eq. 9 and 10).

    R1 = gamma/2 * E_{x ~ p_data}[||grad_x D(T(x))||^2]   (on real images)
    R2 = gamma/2 * E_{x ~ p_G}[||grad_x D(T(x))||^2]      (on generated images, detached from G)

    Both push D towards zero gradient on the data (or on the samples), which makes simultaneous
    gradient descent converge locally for the unregularised GAN objectives. T is what an image goes
    through before D scores it: the sampled DiffAugment transform, then instance noise (the identity
    without them). The gradient is taken w.r.t. the images *before* T, through it, from the scores
    that D's loss uses, with no forward pass of its own (as StyleGAN2-ADA's and R3GAN's R1 are):
    every ``images`` batch must require grad and its ``scores`` be computed from it. One backward
    pass serves every batch, so a batch's scores must not depend on another batch's images (separate
    critic calls, or one call over samples that D scores each alone: StepPlan.joint_critic_forward).
    ``create_graph=True`` lets the result be backpropagated into the critic's parameters. Multiply by
    gamma/2 (``r1_gamma`` / 2, ``r2_gamma`` / 2: gankit.engine.terms.r1_r2_terms).
    """
    grads = torch.autograd.grad([s.float().sum() for s in scores], list(images), create_graph=True)
    # One norm per score: per sample, or per packed group of samples for a PacGAN critic.
    return [
        g.float().reshape(s.shape[0], -1).pow(2).sum(dim=1).mean() for g, s in zip(grads, scores, strict=True)
    ]


def nearest_sample_loss(real: Tensor, fake: Tensor, scale: float = 1.0) -> Tensor:
    """L_cover = (1/n) sum_i min_j ||x_i - G(z_j)||^2 / scale^2, over n real and m generated samples.

    IMLE's objective (Li & Malik 2018, *Implicit Maximum Likelihood Estimation*): every real sample
    pulls the generated sample nearest to it. Where G puts no mass (a dropped mode), the nearest
    generated samples are elsewhere and are pulled across the gap, which the adversarial loss alone
    does slowly or never: its gradient at G's samples does not see data that G does not reach. It
    is a forward (mass-covering) term beside the non-saturating loss's reverse-KL pull (Arjovsky &
    Bottou 2017, Theorem 2.5). ``scale`` (the data's RMS spread) makes it unit-free. Only ``fake``
    should carry a gradient.

    The nearest sample is found without autograd and the loss is recomputed on the chosen pairs: the
    same value and gradient as backpropagating through the n x m distance matrix, whose cdist
    backward made the term itself ~7x dearer on CPU (a 512 x 512 micro-benchmark).
    """
    real, fake = real.flatten(1).float(), fake.flatten(1).float()
    with torch.no_grad():
        nearest = torch.cdist(real, fake).argmin(dim=1)
    return (real - fake[nearest]).pow(2).sum(dim=1).mean() / scale**2


# --- hinge: Lim & Ye 2017; Miyato et al. 2018 (SN-GAN) ----------------------------------------


def hinge_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]   (Lim & Ye 2017, Geometric GAN)."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


# The hinge generator loss is the Wasserstein one: L_G = -E[D(G(z))].
hinge_generator_loss = wasserstein_generator_loss


# --- lsgan: Mao et al. 2017 -------------------------------------------------------------------


def lsgan_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """L_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]   (Mao et al. 2017, a=0, b=c=1)."""
    return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()


def lsgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """L_G = 1/2 E[(D(G(z)) - 1)^2]   (Mao et al. 2017)."""
    return 0.5 * ((fake_scores - 1) ** 2).mean()


# --- rpgan: the relativistic pairing GAN (Jolicoeur-Martineau 2019; Huang et al. 2024, R3GAN) --------


def rpgan_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """L_D = E[softplus(-(D(x_r) - D(x_f)))] over pairs (x_r, x_f)   (Huang et al. 2024, eq. 2).

    Each real sample is paired with one generated sample (row i with row i) and D learns to score
    the real one higher: -log sigmoid(D(x_r) - D(x_f)). Only differences of scores enter, so D's
    score has no absolute meaning (it is not a logit of P(real)). With R1 and R2 this is R3GAN's
    loss; the paper shows RpGAN + R1 without R2 diverging on Stacked-MNIST.
    """
    return F.softplus(fake_scores - real_scores).mean()


def rpgan_generator_loss(fake_scores: Tensor, real_scores: Tensor) -> Tensor:
    """L_G = E[softplus(-(D(x_f) - D(x_r)))]   (Huang et al. 2024, eq. 2): the same pairs, swapped.

    G's step needs a real batch: it raises each generated sample's score above its real partner's.
    """
    return F.softplus(real_scores - fake_scores).mean()


# --- the registry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """An objective: the two losses, whether D is a classifier, and its paper's defaults.

    ``defaults`` holds the optimiser settings and critic steps of the paper that introduced the
    objective; a user's config overrides any of them.
    """

    name: str
    discriminator_loss: Callable[[Tensor, Tensor], Tensor]
    generator_loss: Callable[[Tensor], Tensor]
    uses_gradient_penalty: bool = False
    uses_weight_clipping: bool = False
    is_classifier: bool = True  # D's score is a logit, so sigmoid(score) = P(real)
    # G's loss compares each generated sample with a real one: generator_loss(fake, real), and G's
    # step draws a real batch (rpgan)
    pairs_with_real: bool = False
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


# DCGAN (Radford et al. 2016): Adam 2e-4, betas (0.5, 0.999), one D step per G step.
_DCGAN = {"optimizer": "adam", "g_lr": 2e-4, "d_lr": 2e-4, "betas": (0.5, 0.999), "critic_steps": 1}

OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in [
        Objective(
            "minimax",
            minimax_discriminator_loss,
            minimax_generator_loss,
            description="original saturating GAN, G minimises log(1 - D(G(z))) (2014)",
            defaults=_DCGAN,
        ),
        Objective(
            "ns",
            minimax_discriminator_loss,
            ns_generator_loss,
            description="non-saturating GAN, G minimises -log D(G(z)) (2014)",
            defaults=_DCGAN,
        ),
        Objective(
            "wgan",
            wasserstein_discriminator_loss,
            wasserstein_generator_loss,
            uses_weight_clipping=True,
            is_classifier=False,
            description="Wasserstein GAN with weight clipping (Arjovsky et al. 2017)",
            defaults={
                "optimizer": "rmsprop",
                "g_lr": 5e-5,
                "d_lr": 5e-5,
                "critic_steps": 5,
                "clip_value": 0.01,
            },
        ),
        Objective(
            "wgan-gp",
            wasserstein_discriminator_loss,
            wasserstein_generator_loss,
            uses_gradient_penalty=True,
            is_classifier=False,
            description="Wasserstein GAN with gradient penalty (Gulrajani et al. 2017)",
            defaults={
                "optimizer": "adam",
                "g_lr": 1e-4,
                "d_lr": 1e-4,
                "betas": (0.0, 0.9),
                "critic_steps": 5,
                "gradient_penalty_weight": 10.0,
            },
        ),
        Objective(
            "hinge",
            hinge_discriminator_loss,
            hinge_generator_loss,
            is_classifier=False,
            description="hinge loss (Lim & Ye 2017; SN-GAN, Miyato et al. 2018)",
            defaults=_DCGAN,
        ),
        Objective(
            "lsgan",
            lsgan_discriminator_loss,
            lsgan_generator_loss,
            is_classifier=False,
            description="least-squares GAN (Mao et al. 2017)",
            defaults=_DCGAN,
        ),
        Objective(
            "rpgan",
            rpgan_discriminator_loss,
            rpgan_generator_loss,
            is_classifier=False,
            pairs_with_real=True,
            description="relativistic pairing GAN with R1 + R2, R3GAN's loss (Huang et al. 2024)",
            # R3GAN's CIFAR-10 starting values (its schedules then lower gamma and the rate, raise
            # beta2): Adam with beta1 = 0, gamma 0.05 on real (R1) and generated (R2) samples
            defaults={
                "optimizer": "adam",
                "g_lr": 2e-4,
                "d_lr": 2e-4,
                "betas": (0.0, 0.9),
                "critic_steps": 1,
                "r1_gamma": 0.05,
                "r2_gamma": 0.05,
            },
        ),
    ]
}


def get_objective(name: str) -> Objective:
    """Look up an objective by name, with a clear error listing the allowed names."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        allowed = ", ".join(OBJECTIVES)
        raise GankitError(f"unknown objective {name!r}; allowed: {allowed}") from None


def clip_weights_(module: nn.Module, clip_value: float) -> None:
    """Clamp every parameter of the critic to [-c, c] in place (WGAN's crude Lipschitz bound)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-clip_value, clip_value)
