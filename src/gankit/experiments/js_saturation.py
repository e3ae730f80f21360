"""js-saturation: the parallel-lines example of the WGAN paper (Arjovsky et al. 2017, Example 1).

Real data lies on the segment P_0 = {(0, u): u ~ U[0, 1]}; the "generator" puts its mass on the
parallel segment P_theta = {(theta, u)}. For every theta != 0 the supports are disjoint, so

    KL(P_0 || P_theta) = +inf (P_0 puts mass where P_theta has none; 0 only at theta = 0)
    JS(P_0, P_theta) = log 2  (constant: no hint of how far apart the lines are)
    W1(P_0, P_theta) = |theta| (grows linearly: tells which way to move and how far)

All three are also *estimated* from samples by training the networks GANs use: a classifier D whose
best value max_D E[log D(x)] + E[log(1 - D(y))] = 2 JS - log 4; the same D's logit
s(x) = log D/(1 - D), which for the optimal D is log p_0(x)/p_theta(x), so E_{P_0}[s(x)] estimates
KL(P_0 || P_theta) (it keeps growing as D trains when the true value is infinite: measured after half
and after all of D's updates); and a WGAN-GP critic f whose E[f(x)] - E[f(y)] approximates W1
(Kantorovich-Rubinstein duality).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure as PlotFigure
from torch import Tensor, nn

from gankit.engine.loop import make_optimizer
from gankit.experiments.common import (
    CRITIC_COLOR,
    DISCRIMINATOR_COLOR,
    Figure,
    toy_config,
    train_discriminator,
    write_outputs,
)
from gankit.nets.mlp import MLPDiscriminator
from gankit.objectives import get_objective

NAME = "js-saturation"


def _uniform(z: Tensor) -> Tensor:
    """Map z ~ N(0, 1) to u ~ U[0, 1] through the normal CDF (the trainer draws Gaussian noise)."""
    return 0.5 * (1 + torch.erf(z / math.sqrt(2)))


class VerticalSegment(nn.Module):
    """The segment {(theta, u): u ~ U[0, 1]} as a fixed generator z -> x and as a data set."""

    def __init__(self, theta: float):
        super().__init__()
        self.theta, self.latent_dim, self.shape = theta, 1, (2,)

    def forward(self, z: Tensor) -> Tensor:  # (batch, 1) -> (batch, 2)
        return torch.cat([torch.full_like(z, self.theta), _uniform(z)], dim=1)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self(torch.randn(n, 1, generator=generator, device=generator.device))


def estimate(
    objective_name: str, theta: float, steps: int, seed: int, eval_samples: int = 4096
) -> dict[str, float]:
    """Train a fresh D (or critic) to separate P_0 from P_theta; return its divergence estimates.

    ``minimax``: ``js`` ~= (V(D) + log 4) / 2 with V(D) = E log D(x) + E log(1 - D(y)), and
    ``kl_half_steps`` / ``kl`` ~= E_{P_0}[s(x)] (D's mean logit on real data) after steps // 2 and
    after all ``steps`` updates.
    ``wgan-gp``: ``w1`` ~= E f(x) - E f(y).
    All are measured on fresh samples, not the training batches.
    """
    config = toy_config(
        objective=objective_name,
        dim=2,
        latent_dim=1,
        width=64,
        depth=2,
        batch_size=256,
        d_lr=1e-3,
    )
    torch.manual_seed(seed)
    discriminator = MLPDiscriminator(2, config.width, config.depth)
    optimizer = make_optimizer(config.optimizer, discriminator.parameters(), config.d_lr, config)
    real, fake = VerticalSegment(0.0), VerticalSegment(theta)
    rng = torch.Generator().manual_seed(seed)
    objective = get_objective(objective_name)
    train_discriminator(fake, discriminator, optimizer, objective, config, real, rng, steps // 2)
    with torch.no_grad():
        kl_half_steps = float(discriminator(real.sample(eval_samples, rng)).mean())
    train_discriminator(fake, discriminator, optimizer, objective, config, real, rng, steps - steps // 2)
    with torch.no_grad():
        real_scores = discriminator(real.sample(eval_samples, rng))
        fake_scores = discriminator(fake.sample(eval_samples, rng))
    if objective_name == "wgan-gp":
        return {"w1": float(real_scores.mean() - fake_scores.mean())}
    # log D = -softplus(-s), log(1 - D) = -softplus(s): finite even when D saturates.
    value = -nn.functional.softplus(-real_scores).mean() - nn.functional.softplus(fake_scores).mean()
    return {
        "js": float((value + math.log(4)) / 2),
        "kl_half_steps": kl_half_steps,
        "kl": float(real_scores.mean()),
    }


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> dict:
    thetas = [0.0, 0.5, 1.0] if quick else [round(t, 2) for t in np.linspace(-1, 1, 21)]
    steps = 150 if quick else 600
    kl_closed = [0.0 if t == 0 else math.inf for t in thetas]
    js_closed = [0.0 if t == 0 else math.log(2) for t in thetas]
    w1_closed = [abs(t) for t in thetas]
    classifier = [estimate("minimax", t, steps, seed) for t in thetas]
    js_estimate = [c["js"] for c in classifier]
    kl_estimate = [c["kl"] for c in classifier]
    kl_estimate_half_steps = [c["kl_half_steps"] for c in classifier]
    w1_estimate = [estimate("wgan-gp", t, steps, seed)["w1"] for t in thetas]

    apart = [i for i, t in enumerate(thetas) if abs(t) >= 0.5]
    js_apart = [js_estimate[i] for i in apart]
    slope, intercept = np.polyfit(np.abs(thetas), w1_estimate, 1)
    headline = {
        "kl_estimate_min_for_abs_theta_ge_0.5": min(kl_estimate[i] for i in apart),
        "kl_estimate_min_for_abs_theta_ge_0.5_after_half_the_steps": min(
            kl_estimate_half_steps[i] for i in apart
        ),
        "kl_estimate_at_theta_0": kl_estimate[thetas.index(0.0)],
        "js_estimate_min_for_abs_theta_ge_0.5": min(js_apart),
        "js_estimate_max_for_abs_theta_ge_0.5": max(js_apart),
        "log_2": math.log(2),
        "js_estimate_at_theta_0": js_estimate[thetas.index(0.0)],
        "w1_estimate_slope_vs_abs_theta": float(slope),
        "w1_estimate_intercept": float(intercept),
    }
    numbers = {
        "claim": "as theta moves the lines apart, KL(P_0 || P_theta) is infinite and JS stays at log 2, "
        "while W1 = |theta| grows linearly",
        "settings": {"discriminator_steps": steps, "width": 64, "depth": 2, "batch_size": 256, "lr": 1e-3},
        "headline": headline,
        "theta": thetas,
        "kl_closed_form": kl_closed,
        "kl_estimate": kl_estimate,
        "kl_estimate_half_steps": kl_estimate_half_steps,
        "js_closed_form": js_closed,
        "js_estimate": js_estimate,
        "w1_closed_form": w1_closed,
        "w1_estimate": w1_estimate,
    }
    return write_outputs(out_dir, NAME, _plot(numbers), numbers, quick, seed)


def _plot(numbers: dict) -> PlotFigure:
    thetas = np.array(numbers["theta"])
    dense = np.linspace(thetas.min(), thetas.max(), 401)
    fig = PlotFigure(figsize=(15, 4.2))
    (left, right, kl) = fig.subplots(1, 3)
    left.plot(dense, np.abs(dense), color="black", label=r"closed form $W_1 = |\theta|$")
    left.plot(thetas, numbers["w1_estimate"], "o", color=CRITIC_COLOR, label="WGAN-GP critic's estimate")
    left.set_title(r"Wasserstein-1 distance $W_1(P_0, P_\theta)$")
    for side in (dense[dense < 0], dense[dense > 0]):  # log 2 everywhere except theta = 0
        right.plot(side, np.full_like(side, math.log(2)), color="black", lw=2.5)
    right.plot([0], [0], "s", color="black", ms=7, label="closed form (0 at theta = 0, else log 2)")
    right.plot(thetas, numbers["js_estimate"], "o", color=DISCRIMINATOR_COLOR, label="trained D's estimate")
    right.set_title(r"Jensen-Shannon divergence $JS(P_0, P_\theta)$")
    right.set_ylim(-0.05, 0.8)
    half, full = np.array(numbers["kl_estimate_half_steps"]), np.array(numbers["kl_estimate"])
    top = 1.25 * max(full.max(), half.max())
    for side in (dense[dense < 0], dense[dense > 0]):  # +inf everywhere except theta = 0: drawn at the top
        kl.plot(side, np.full_like(side, top), color="black", lw=2.5)
    kl.plot(
        [0],
        [0],
        "s",
        color="black",
        ms=7,
        label=r"closed form (0 at theta = 0, else $+\infty$, drawn at top)",
    )
    steps = numbers["settings"]["discriminator_steps"]
    kl.plot(
        thetas,
        half,
        "^",
        color=DISCRIMINATOR_COLOR,
        alpha=0.5,
        label=f"D's estimate after {steps // 2} steps",
    )
    kl.plot(thetas, full, "o", color=DISCRIMINATOR_COLOR, label=f"D's estimate after {steps} steps")
    kl.set_title(r"$KL(P_0 \| P_\theta) \approx E_{P_0}[\mathrm{logit}\, D(x)]$")
    kl.set_ylim(-0.05 * top, 1.08 * top)
    for ax in (left, right, kl):
        ax.set_xlabel(r"$\theta$ (distance between the two parallel lines)")
        ax.legend(loc={right: "center right", kl: "lower left"}.get(ax, "upper center"), fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(
        "Disjoint supports: KL is infinite, JS saturates at log 2, W1 keeps measuring the distance",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


FIGURE = Figure(
    name=NAME,
    description="parallel lines (WGAN Example 1): KL is infinite, JS stays at log 2, W1 grows with distance",
    run=run,
    explanation=(
        "Put the real data on a vertical segment and the generated data on a parallel segment a "
        "distance theta away. Whenever theta is not zero the two never overlap, so a classifier can "
        "tell them apart perfectly, and the Jensen-Shannon divergence is log 2 whether the segments are "
        "a hair or a mile apart. A divergence that does not change as the generator moves has zero "
        "gradient with respect to the generator's parameters: it cannot say which way to go. The "
        "Wasserstein-1 distance is the cost of moving one pile of mass onto the other, here exactly "
        "|theta|, so it shrinks smoothly as the generator moves closer. A critic trained with a "
        "gradient penalty recovers that line from samples, which is why its gradient stays useful. "
        "KL(P_0 || P_theta) is worse still: it is the expected log-ratio p_0 / p_theta over the real data, "
        "and wherever the generator puts no mass that ratio is infinite, so KL is +inf for every theta "
        "that is not exactly 0. A classifier's logit estimates that log-ratio; here it has no finite "
        "value to settle on and keeps climbing the longer D trains. Unlike JS, which at least stays "
        "bounded, KL gives a loss that is infinite and useless as a training signal, not merely flat."
    ),
)
