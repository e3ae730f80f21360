"""evolution-1d: the picture of Goodfellow et al. 2014, Fig. 1, trained for real.

A 1-D data density (black, dotted), the generator's density (green), the discriminator's output
D(x) (blue), and arrows showing how the generator maps its noise z (bottom line) to x = G(z) (upper
line), at four moments of training, in the paper's order:

    (a) early: the initial G (a narrow blob away from the data) and an untrained D
    (b) D trained alone against that G (a copy; the run goes on from (a)): close to
        D*(x) = p_data(x) / (p_data(x) + p_g(x))
    (c) G moved: a few hundred joint updates later, G(z) has flowed up D's slope toward the data
    (d) equilibrium: p_g ~= p_data and D ~= 1/2 everywhere the data lives

The generator is trained with the non-saturating loss: with the saturating minimax loss, a D that
confidently rejects such a disjoint start would give it almost no gradient (see the
vanishing-gradients figure). Both learning rates decay linearly (from 30 % of the run to 5 % of
their start at the end) so the two players settle instead of circling the equilibrium.

Both end-of-run numbers are measured on the figure's own grid: W1 between the two drawn densities
(the area between their CDFs) and the largest |D(x) - 1/2| over the data's central 95 %
(mean +- 1.96 std).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure as PlotFigure
from scipy.stats import gaussian_kde, norm

from gankit.engine.loop import Trainer
from gankit.experiments.common import (
    DATA_COLOR,
    DISCRIMINATOR_COLOR,
    GENERATOR_COLOR,
    Figure,
    gaussian_1d,
    toy_config,
    train_discriminator,
    write_outputs,
)
from gankit.metrics.toy import wasserstein1

NAME = "evolution-1d"
DATA_MEAN, DATA_STD = 2.0, 0.5
X_RANGE = (-1.5, 4.5)
GRID_POINTS = 301
CENTRAL_95 = (DATA_MEAN - 1.96 * DATA_STD, DATA_MEAN + 1.96 * DATA_STD)
LR, DECAY_START, LR_END_FRACTION = 1e-3, 0.3, 0.05
PANEL_LABELS = "abcd"
PANEL_NAMES = ("early", "D trained", "G moved", "equilibrium")


def grid() -> np.ndarray:
    return np.linspace(*X_RANGE, GRID_POINTS)


def grid_w1(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """W1 between two densities given on an even grid: the area between their CDFs (each normalised)."""
    dx = x[1] - x[0]
    p_cdf, q_cdf = np.cumsum(p) * dx, np.cumsum(q) * dx
    return float(np.abs(p_cdf / p_cdf[-1] - q_cdf / q_cdf[-1]).sum() * dx)


def snapshot(trainer: Trainer, name: str, n: int = 20_000) -> dict:
    """D(x) and the generator's density on the grid, z -> G(z) pairs for the arrows, and the numbers.

    The generator's density is a Gaussian KDE of ``n`` samples with Scott's bandwidth (recorded).
    """
    x = grid()
    x_tensor = torch.tensor(x, dtype=torch.float32).unsqueeze(1)
    real = trainer.data.sample(n, torch.Generator().manual_seed(12345))
    with torch.no_grad():
        d_grid = torch.sigmoid(trainer.discriminator(x_tensor)).reshape(-1).numpy()
    fake = trainer.sample(n, seed=trainer.config.seed + 1)
    kde = gaussian_kde(fake[:, 0].numpy())
    generator_density = kde(x)
    data_density = norm.pdf(x, DATA_MEAN, DATA_STD)
    z_arrows = torch.tensor(norm.ppf(np.linspace(0.04, 0.96, 15)), dtype=torch.float32).unsqueeze(1)
    with torch.no_grad():
        x_arrows = trainer.generator(z_arrows)
    central = (x >= CENTRAL_95[0]) & (x <= CENTRAL_95[1])
    return {
        "panel": name,
        "step": trainer.step,
        "discriminator": d_grid.tolist(),
        "generator_density": generator_density.tolist(),
        "kde_bandwidth": float(np.sqrt(kde.covariance[0, 0])),
        "arrows_z": z_arrows[:, 0].tolist(),
        "arrows_x": x_arrows[:, 0].tolist(),
        "w1_grid": grid_w1(generator_density, data_density, x),
        "w1_samples": wasserstein1(fake.numpy(), real.numpy()),
        "max_abs_d_minus_half_central_95": float(np.abs(d_grid[central] - 0.5).max()),
        "generator_mean": float(fake.mean()),
        "generator_std": float(fake.std()),
    }


def lr_factor(step: int, steps: int) -> float:
    """1 until DECAY_START of the run, then linear down to LR_END_FRACTION at the last step."""
    start = int(DECAY_START * steps)
    if step < start:
        return 1.0
    return 1.0 - (1.0 - LR_END_FRACTION) * (step - start) / max(1, steps - start)


def evolve(steps: int, seed: int, width: int = 32, d_warmup: int = 100) -> list[dict]:
    """Train G and D on N(2, 0.5^2) from a generator that starts near x = 0; four snapshots.

    Panel (b) is Goodfellow's inner loop made visible: a *copy* of the initial D trained alone for
    ``d_warmup`` updates against the initial G. The run itself continues from (a), so the picture
    shows the inner loop without changing the run it comes from.
    """
    config = toy_config(
        objective="ns", latent_dim=1, width=width, depth=2, g_lr=LR, d_lr=LR, steps=steps, seed=seed
    )
    trainer = Trainer(config, gaussian_1d("evolution-data", DATA_MEAN, DATA_STD), "cpu")
    panels = [snapshot(trainer, PANEL_NAMES[0])]
    panels.append(_discriminator_trained_alone(trainer, d_warmup))
    schedules = [
        torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, steps))
        for optimizer in (trainer.g_optimizer, trainer.d_optimizer)
    ]
    for stop, name in ((steps // 20, PANEL_NAMES[2]), (steps, PANEL_NAMES[3])):
        while trainer.step < stop:
            trainer.train_step()
            for schedule in schedules:
                schedule.step()
        panels.append(snapshot(trainer, name))
    return panels


def _discriminator_trained_alone(trainer: Trainer, d_steps: int) -> dict:
    """Snapshot (b): a copy of D (and of its optimiser) trained ``d_steps`` times against the fixed
    initial G, on its own random stream; the trainer is left untouched."""
    discriminator = copy.deepcopy(trainer.discriminator)
    optimizer = type(trainer.d_optimizer)(discriminator.parameters())
    optimizer.load_state_dict(trainer.d_optimizer.state_dict())
    rng = torch.Generator().manual_seed(trainer.config.seed + 2)
    train_discriminator(
        trainer.generator,
        discriminator,
        optimizer,
        trainer.objective,
        trainer.config,
        trainer.data,
        rng,
        d_steps,
    )
    original, trainer.discriminator = trainer.discriminator, discriminator
    try:
        return snapshot(trainer, PANEL_NAMES[1])
    finally:
        trainer.discriminator = original


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> dict:
    steps = 400 if quick else 6000
    d_warmup = 100
    panels = evolve(steps, seed, d_warmup=d_warmup)
    end = panels[-1]
    headline = {
        "steps": steps,
        "w1_grid_start": panels[0]["w1_grid"],
        "w1_grid_end": end["w1_grid"],
        "w1_samples_end": end["w1_samples"],
        "max_abs_d_minus_half_central_95_after_d_trained": panels[1]["max_abs_d_minus_half_central_95"],
        "max_abs_d_minus_half_central_95_end": end["max_abs_d_minus_half_central_95"],
    }
    numbers = {
        "claim": "training moves p_g onto p_data and D to 1/2 (Goodfellow et al. 2014, Fig. 1): at the end "
        "W1 <= 0.05 between the drawn densities and |D - 1/2| <= 0.05 over the data's central 95 %",
        "settings": {
            "data": f"N({DATA_MEAN}, {DATA_STD}^2)",
            "objective": "ns",
            "steps": steps,
            "panel_b": f"a copy of the initial D trained alone for {d_warmup} updates against the "
            "initial G; the run continues from panel (a)",
            "lr": LR,
            "lr_schedule": f"constant, then linear from {DECAY_START:.0%} of the steps down to "
            f"{LR_END_FRACTION} x lr at the end (both players)",
            "generator_density": "Gaussian KDE of 20,000 samples, Scott's bandwidth",
            "central_95": list(CENTRAL_95),
        },
        "headline": headline,
        "x": grid().tolist(),
        "data_density": norm.pdf(grid(), DATA_MEAN, DATA_STD).tolist(),
        "panels": panels,
    }
    return write_outputs(out_dir, NAME, _plot(numbers), numbers, quick, seed)


def _plot(numbers: dict) -> PlotFigure:
    x = np.array(numbers["x"])
    data_density = np.array(numbers["data_density"])
    z_line, x_line = -0.45, -0.08
    fig = PlotFigure(figsize=(15, 3.9))
    axes = fig.subplots(1, 4, sharey=True)
    for ax, panel, label in zip(axes, numbers["panels"], PANEL_LABELS, strict=True):
        generator_density = np.array(panel["generator_density"])
        # Both densities share one scale per panel, chosen so the taller peak sits at 0.9: nothing is cut.
        scale = 0.9 / max(data_density.max(), generator_density.max())
        ax.plot(x, scale * data_density, ":", color=DATA_COLOR, lw=2, label="data density")
        ax.plot(x, scale * generator_density, color=GENERATOR_COLOR, lw=2, label="generator density")
        ax.plot(x, panel["discriminator"], "--", color=DISCRIMINATOR_COLOR, lw=2, label="D(x)")
        ax.axhline(0.5, color="gray", lw=0.6, alpha=0.6)
        ax.axvspan(*CENTRAL_95, color="gray", alpha=0.07)
        ax.axhline(x_line, color="black", lw=0.8)
        z_to_screen = np.array(panel["arrows_z"]) * 0.6 * (X_RANGE[1] - X_RANGE[0]) / 4 + np.mean(X_RANGE)
        ax.axhline(z_line, color="black", lw=0.8)
        for z_pos, x_pos in zip(z_to_screen, panel["arrows_x"], strict=True):
            ax.annotate(
                "",
                xy=(x_pos, x_line),
                xytext=(z_pos, z_line),
                arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.7},
            )
        ax.text(X_RANGE[0] + 0.1, x_line + 0.03, "x", fontsize=9)
        ax.text(X_RANGE[0] + 0.1, z_line + 0.03, "z", fontsize=9)
        ax.set_xlim(*X_RANGE)
        ax.set_ylim(-0.55, 1.1)
        ax.set_yticks([0, 0.5, 1])
        ax.set_title(
            f"({label}) {panel['panel']}, step {panel['step']}\n"
            f"W1 {panel['w1_grid']:.3f}, "
            f"max |D - 1/2| in data's 95 % {panel['max_abs_d_minus_half_central_95']:.3f}",
            fontsize=9,
        )
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel("D(x); densities scaled per panel")
    fig.suptitle(
        "A 1-D GAN learning: data (black dotted), generator (green), discriminator (blue dashed); "
        "grey band = data's central 95 %",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


FIGURE = Figure(
    name=NAME,
    description="Goodfellow et al. 2014 Fig. 1: p_g moves onto p_data and D flattens to 1/2",
    run=run,
    explanation=(
        "The discriminator is a learned loss function. For a fixed generator the best discriminator "
        "is D*(x) = p_data(x) / (p_data(x) + p_g(x)): high where data is denser than the generator, low "
        "where the generator over-produces (panel b). The generator moves its samples up D's slope, "
        "toward the data (panel c); then D re-fits to the new generator, and so on. When p_g = p_data "
        "the ratio is 1/2 everywhere (panel d): D can only guess, its slope is zero, and the game stops "
        "with the generator reproducing the data. Reaching that point cleanly takes a decaying learning "
        "rate; at a constant one the two players keep circling the equilibrium instead of settling on it."
    ),
)
