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
    toy_config,
    train_discriminator,
    write_outputs,
)
from gankit.metrics.toy import wasserstein1

NAME = "strong-discriminator"
DATA = GaussianMixture("far-gaussian-2d", ((2.5, 2.5),), 0.5, description="N((2.5, 2.5), 0.5^2 I)")
OBJECTIVES = ("minimax", "wgan-gp")
OPTIMIZERS = ("sgd", "adam")
# (generator lr, discriminator lr) per objective and optimizer, each chosen so that ordinary training
# (k = 0) reaches the data within the budget. Critic steps per generator step: the objective's
# paper default (1 for the GAN, 5 for WGAN-GP). Adam uses the objectives' betas.
LEARNING_RATES = {
    ("minimax", "sgd"): (0.05, 0.05),
    ("minimax", "adam"): (1e-3, 1e-3),
    ("wgan-gp", "sgd"): (3e-3, 1e-2),
    ("wgan-gp", "adam"): (3e-4, 1e-3),
}
COLORS = {"minimax": DISCRIMINATOR_COLOR, "wgan-gp": CRITIC_COLOR}


def final_w1(objective: str, optimizer: str, pretrain_steps: int, seed: int, steps: int = 300) -> float:
    """Pre-train D for ``pretrain_steps``, train G and D for ``steps``; W1(generated, data) at the end."""
    g_lr, d_lr = LEARNING_RATES[(objective, optimizer)]
    config = toy_config(
        objective=objective,
        optimizer=optimizer,
        g_lr=g_lr,
        d_lr=d_lr,
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
    seeds = [seed + i for i in range(3)]
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
    headline = {"median_w1_untrained_generator": w1_untrained}
    for objective in OBJECTIVES:
        for optimizer in OPTIMIZERS:
            first, last = medians[objective][optimizer][0], medians[objective][optimizer][-1]
            headline[f"{objective}_{optimizer}_median_w1_k0"] = first
            headline[f"{objective}_{optimizer}_median_w1_k{pretrain_steps[-1]}"] = last
    numbers = {
        "claim": "pre-training D for k steps degrades the minimax GAN (with SGD) but not WGAN-GP; Adam "
        "largely hides the vanishing gradient",
        "settings": {
            "data": DATA.description,
            "generator_steps": 300,
            "batch_size": 64,
            "width": 32,
            "depth": 2,
            "learning_rates": {f"{o}/{opt}": LEARNING_RATES[(o, opt)] for o, opt in LEARNING_RATES},
            "seeds": seeds,
        },
        "headline": headline,
        "pretrain_steps": pretrain_steps,
        "w1_untrained_generator": w1_untrained,
        "w1": w1,
        "median_w1": medians,
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
            ax.plot(
                ks,
                numbers["median_w1"][objective][optimizer],
                "-",
                color=color,
                lw=2,
                label=f"{objective} (median)",
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
    fig.suptitle("A discriminator trained too well before the generator starts (dots: seeds)", fontsize=11)
    fig.tight_layout()
    return fig


FIGURE = Figure(
    name=NAME,
    description="pre-train D for k steps: the minimax GAN gets worse with k (SGD), WGAN-GP does not",
    run=run,
    explanation=(
        "If D is the generator's loss function, a better D should be a better loss, yet with the "
        "original GAN the opposite happens. Trained long enough against a generator whose samples sit "
        "away from the data, D becomes certain (D(G(z)) ~ 0) and the minimax generator loss "
        "log(1 - D(G(z))) is flat there: the generator starts its training with almost no gradient and, "
        "with plain SGD, barely moves in its budget. A WGAN-GP critic trained to optimality is the "
        "opposite case: its slope toward the data is ~1 everywhere, so pre-training it does not hurt. "
        "Adam changes the picture for the minimax GAN: it divides each step by a running average of "
        "the gradient's own size, so a gradient a thousand times smaller, if consistent, still moves "
        "the parameters by about the learning rate. That is why the degradation is clear with SGD and "
        "mostly hidden with Adam: the vanishing gradient is still there (see vanishing-gradients), but "
        "the optimizer compensates for its size. Don't read a good Adam run as proof that the "
        "discriminator's gradient is healthy."
    ),
)
