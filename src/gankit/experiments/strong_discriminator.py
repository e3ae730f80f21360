"""strong-discriminator: does training D "too well" early make the generator worse?

The lesson's central claim. Pre-train the discriminator for k steps against the untrained generator
(k = 0 is ordinary training), then train both for a fixed budget of generator steps and measure how
far the generator ends from the data (W1). The data is one 2-D Gaussian away from where the
generator starts, so at the start a discriminator can separate real from fake perfectly.

Expected (Arjovsky & Bottou 2017): the original minimax GAN degrades as k grows, because a
confident D makes the gradient of log(1 - D(G(z))) vanish; WGAN-GP does not, because its critic is
meant to be trained to optimality and then gives its most useful gradient.

The optimizer is part of the experiment. Plain SGD (the 2014 paper's) moves the generator by
lr x gradient, so a gradient that has shrunk a thousandfold moves it a thousandfold less. Adam
divides each gradient by a running estimate of its own magnitude, so a tiny but consistent gradient
still makes steps of size ~lr: Adam largely hides the vanishing gradient. Both are run and shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure as PlotFigure

from gankit.data.toy import GaussianMixture
from gankit.engine.loop import Trainer
from gankit.experiments.common import (
    CRITIC_COLOR,
    DISCRIMINATOR_COLOR,
    Figure,
    median,
    median_ci,
    toy_config,
    train_discriminator,
    write_outputs,
)
from gankit.metrics.toy import wasserstein1

NAME = "strong-discriminator"
DATA = GaussianMixture("far-gaussian-2d", ((2.5, 2.5),), 0.5, description="N((2.5, 2.5), 0.5^2 I)")
OBJECTIVES = ("minimax", "wgan-gp")
OPTIMIZERS = ("sgd", "adam")
# Both objectives train with the *same* optimiser settings, so only the loss differs: per optimiser
# one learning rate for G and D, Adam's betas (DCGAN's), and one D update per G update. SGD's lr is
# the one at which both objectives' ordinary training (k = 0) moves the generator most of the way to
# the data in the budget (a larger one makes WGAN-GP's SGD steps diverge). WGAN-GP's lambda is
# gankit's toy default (0.1, the WGAN-GP reference code's toy value: see config.resolve).
OPTIMIZER_SETTINGS = {
    "sgd": {"g_lr": 0.03, "d_lr": 0.03},
    "adam": {"g_lr": 1e-3, "d_lr": 1e-3, "betas": (0.5, 0.999)},
}
CRITIC_STEPS = 1
GRADIENT_PENALTY_WEIGHT = 0.1
COLORS = {"minimax": DISCRIMINATOR_COLOR, "wgan-gp": CRITIC_COLOR}


def final_w1(objective: str, optimizer: str, pretrain_steps: int, seed: int, steps: int = 300) -> float:
    """Pre-train D for ``pretrain_steps``, train G and D for ``steps``; W1(generated, data) at the end."""
    penalty = {"gradient_penalty_weight": GRADIENT_PENALTY_WEIGHT} if objective == "wgan-gp" else {}
    config = toy_config(
        objective=objective,
        optimizer=optimizer,
        **OPTIMIZER_SETTINGS[optimizer],
        critic_steps=CRITIC_STEPS,
        **penalty,
        dim=2,
        latent_dim=2,
        width=32,
        depth=2,
        batch_size=64,
        steps=steps,
        seed=seed,
    )
    trainer = Trainer(config, DATA, "cpu")
    if pretrain_steps:  # D alone, against the untrained generator (G's parameters untouched)
        train_discriminator(
            trainer.generator,
            trainer.discriminator,
            trainer.d_optimizer,
            trainer.objective,
            config,
            trainer.data,
            trainer.rng,
            pretrain_steps,
        )
    while trainer.step < steps:
        trainer.train_step()
    return distance_to_data(trainer, seed)


def distance_to_data(trainer: Trainer, seed: int) -> float:
    """W1 between 1,000 generated and 1,000 real points (fixed real sample: comparable across runs)."""
    generated = trainer.sample(1000, seed=seed + 1).numpy()
    real = DATA.sample(1000, torch.Generator().manual_seed(12345)).numpy()
    return wasserstein1(generated, real)


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> dict:
    pretrain_steps = [0, 1000] if quick else [0, 10, 100, 1000, 3000]
    seeds = [seed + i for i in range(3 if quick else 5)]
    w1: dict[str, dict[str, list[list[float]]]] = {}
    for objective in OBJECTIVES:
        w1[objective] = {}
        for optimizer in OPTIMIZERS:
            w1[objective][optimizer] = [
                [final_w1(objective, optimizer, k, s) for s in seeds] for k in pretrain_steps
            ]
    # Where the generator starts (before any training): a W1 this large at the end means "never moved".
    config = toy_config(objective="minimax", dim=2, latent_dim=2, width=32, depth=2, seed=seed)
    w1_untrained = median([distance_to_data(Trainer(config.replace(seed=s), DATA, "cpu"), s) for s in seeds])
    medians = {o: {opt: [median(runs) for runs in w1[o][opt]] for opt in OPTIMIZERS} for o in OBJECTIVES}
    intervals = {o: {opt: [median_ci(runs) for runs in w1[o][opt]] for opt in OPTIMIZERS} for o in OBJECTIVES}
    headline = {"median_w1_untrained_generator": w1_untrained}
    for objective in OBJECTIVES:
        for optimizer in OPTIMIZERS:
            first, last = medians[objective][optimizer][0], medians[objective][optimizer][-1]
            headline[f"{objective}_{optimizer}_median_w1_k0"] = first
            headline[f"{objective}_{optimizer}_median_w1_k{pretrain_steps[-1]}"] = last
    numbers = {
        "claim": "with SGD, pre-training D for k >= 1000 steps leaves the minimax generator where it "
        "started, while the WGAN-GP generator, with the same optimiser settings, still moves most of the "
        "way to the data; Adam largely hides the vanishing gradient",
        "settings": {
            "data": DATA.description,
            "generator_steps": 300,
            "batch_size": 64,
            "width": 32,
            "depth": 2,
            "optimizer_settings (both objectives)": OPTIMIZER_SETTINGS,
            "critic_steps (both objectives)": CRITIC_STEPS,
            "wgan-gp_gradient_penalty_weight": GRADIENT_PENALTY_WEIGHT,
            "seeds": seeds,
        },
        "headline": headline,
        "pretrain_steps": pretrain_steps,
        "w1_untrained_generator": w1_untrained,
        "w1": w1,
        "median_w1": medians,
        "median_w1_ci95": intervals,  # percentile bootstrap over the seeds, per k
    }
    return write_outputs(out_dir, NAME, _plot(numbers), numbers, quick, seed)


def _plot(numbers: dict) -> PlotFigure:
    ks = np.array(numbers["pretrain_steps"])
    fig = PlotFigure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, optimizer in zip(axes, OPTIMIZERS, strict=True):
        for objective in OBJECTIVES:
            runs = np.array(numbers["w1"][objective][optimizer])  # (len(ks), seeds)
            color = COLORS[objective]
            for column in runs.T:
                ax.plot(ks, column, "o", color=color, alpha=0.35, ms=4)
            low, high = np.array(numbers["median_w1_ci95"][objective][optimizer]).T
            ax.fill_between(ks, low, high, color=color, alpha=0.15, lw=0)
            ax.plot(
                ks,
                numbers["median_w1"][objective][optimizer],
                "-",
                color=color,
                lw=2,
                label=f"{objective} (median, 95 % CI)",
            )
        ax.axhline(
            numbers["w1_untrained_generator"], color="gray", ls="--", lw=1, label="untrained generator"
        )
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(-1, 1.5 * ks.max())
        ax.set_xlabel("discriminator pre-training steps k (before G starts)")
        ax.set_title(f"{optimizer.upper()} for both networks", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("W1(generated, data) after 300 generator steps")
    fig.suptitle(
        f"A discriminator trained too well before the generator starts (dots: {runs.shape[1]} seeds)",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


FIGURE = Figure(
    name=NAME,
    description="pre-train D for k steps: with SGD the minimax generator never moves, WGAN-GP's still does",
    run=run,
    explanation=(
        "If D is the generator's loss function, a better D should be a better loss, yet with the "
        "original GAN the opposite happens. Trained long enough against a generator whose samples sit "
        "away from the data, D becomes certain (D(G(z)) ~ 0) and the minimax generator loss "
        "log(1 - D(G(z))) is flat there: the generator starts its training with almost no gradient and, "
        "with plain SGD, barely moves in its budget. A WGAN-GP critic trained to optimality is the "
        "opposite case: its slope toward the data stays of order 1, so its generator keeps a gradient "
        "and moves. (Pre-training it for long with plain SGD does make the run noisier: here W1 at "
        "k = 3000 is higher than at k = 0, but the generator still covers most of the distance, where "
        "the minimax one stays where it started.) "
        "Adam changes the picture for the minimax GAN: it divides each step by a running average of "
        "the gradient's own size, so a gradient a thousand times smaller, if consistent, still moves "
        "the parameters by about the learning rate. That is why the degradation is clear with SGD and "
        "mostly hidden with Adam: the vanishing gradient is still there (see vanishing-gradients), but "
        "the optimizer compensates for its size. Don't read a good Adam run as proof that the "
        "discriminator's gradient is healthy."
    ),
)
