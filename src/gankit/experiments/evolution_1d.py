"""evolution-1d: the picture of Goodfellow et al. 2014, Fig. 1, trained for real.

A 1-D data density (black, dotted), the generator's density (green), the discriminator's output
D(x) (blue), and arrows showing how the generator maps its noise z (bottom line) to x = G(z) (upper
line), at four moments of training:

    (a) D trained for a while against the initial G: near D*(x) = p_data(x) / (p_data(x) + p_g(x))
    (b), (c) G follows D's slope toward the data; D keeps re-fitting
    (d) the end: p_g ~= p_data and D ~= 1/2 everywhere, D can no longer tell them apart

The generator starts at a narrow blob away from the data, as in the paper. It is trained with the
non-saturating loss: with the saturating minimax loss, a D that confidently rejects such a
disjoint start would give it almost no gradient (see the vanishing-gradients figure).
"""

from __future__ import annotations

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
PANEL_LABELS = "abcd"


def snapshot(trainer: Trainer, n: int = 4000) -> dict:
    """D(x) on a grid, generated samples, z -> G(z) pairs for the arrows, W1 and mean |D - 1/2| on data."""
    grid = torch.linspace(*X_RANGE, 301).unsqueeze(1)
    data = trainer.data
    real = data.sample(n, torch.Generator().manual_seed(12345))
    with torch.no_grad():
        d_grid = torch.sigmoid(trainer.discriminator(grid))
        d_real = torch.sigmoid(trainer.discriminator(real))
    fake = trainer.sample(n, seed=trainer.config.seed + 1)
    z_arrows = torch.tensor(norm.ppf(np.linspace(0.04, 0.96, 15)), dtype=torch.float32).unsqueeze(1)
    with torch.no_grad():
        x_arrows = trainer.generator(z_arrows)
    return {
        "step": trainer.step,
        "discriminator": d_grid.tolist(),
        # A kernel of fixed width (0.08 in x) so a collapsed generator shows as a tall narrow peak.
        "generator_density": gaussian_kde(fake[:, 0].numpy(), bw_method=0.08 / max(float(fake.std()), 1e-6))(
            grid[:, 0].numpy()
        ).tolist(),
        "arrows_z": z_arrows[:, 0].tolist(),
        "arrows_x": x_arrows[:, 0].tolist(),
        "w1": wasserstein1(fake.numpy(), real.numpy()),
        "mean_abs_d_minus_half_on_data": float((d_real - 0.5).abs().mean()),
    }


def evolve(steps: int, seed: int, width: int = 32, d_warmup: int = 100) -> list[dict]:
    """Train G and D on N(2, 0.5^2) from a generator that starts near x = 0; four snapshots."""
    config = toy_config(
        objective="ns", latent_dim=1, width=width, depth=2, g_lr=1e-3, d_lr=1e-3, steps=steps, seed=seed
    )
    trainer = Trainer(config, gaussian_1d("evolution-data", DATA_MEAN, DATA_STD), "cpu")
    # Panel (a): D trained for d_warmup updates against the initial G (G untouched).
    train_discriminator(
        trainer.generator,
        trainer.discriminator,
        trainer.d_optimizer,
        trainer.objective,
        config,
        trainer.data,
        trainer.rng,
        d_warmup,
    )
    panels = [snapshot(trainer)]
    for stop in (steps // 100, steps // 10, steps):
        while trainer.step < stop:
            trainer.train_step()
        panels.append(snapshot(trainer))
    return panels


def run(out_dir: str | Path, quick: bool = False, seed: int = 0) -> dict:
    steps = 400 if quick else 2000
    panels = evolve(steps, seed)
    headline = {
        "w1_start": panels[0]["w1"],
        "w1_end": panels[-1]["w1"],
        "mean_abs_d_minus_half_on_data_start": panels[0]["mean_abs_d_minus_half_on_data"],
        "mean_abs_d_minus_half_on_data_end": panels[-1]["mean_abs_d_minus_half_on_data"],
    }
    numbers = {
        "claim": "training moves p_g onto p_data and D to 1/2 (Goodfellow et al. 2014, Fig. 1)",
        "settings": {"data": f"N({DATA_MEAN}, {DATA_STD}^2)", "objective": "ns", "steps": steps, "lr": 1e-3},
        "headline": headline,
        "x": torch.linspace(*X_RANGE, 301).tolist(),
        "panels": panels,
    }
    return write_outputs(out_dir, NAME, _plot(numbers), numbers, quick, seed)


def _plot(numbers: dict) -> PlotFigure:
    x = np.array(numbers["x"])
    data_density = norm.pdf(x, DATA_MEAN, DATA_STD)
    scale = 0.8 / data_density.max()  # densities drawn so the data's peak sits at 0.8
    z_line, x_line = -0.45, -0.08
    fig = PlotFigure(figsize=(15, 3.8))
    axes = fig.subplots(1, 4, sharey=True)
    for ax, panel, label in zip(axes, numbers["panels"], PANEL_LABELS, strict=True):
        ax.plot(x, scale * data_density, ":", color=DATA_COLOR, lw=2, label="data density")
        ax.plot(
            x,
            scale * np.array(panel["generator_density"]),
            color=GENERATOR_COLOR,
            lw=2,
            label="generator density",
        )
        ax.plot(x, panel["discriminator"], "--", color=DISCRIMINATOR_COLOR, lw=2, label="D(x)")
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
        ax.set_ylim(-0.55, 1.6)
        ax.set_yticks([0, 0.5, 1])
        ax.set_title(
            f"({label}) step {panel['step']}: W1 {panel['w1']:.2f}, "
            f"|D - 1/2| {panel['mean_abs_d_minus_half_on_data']:.2f}",
            fontsize=9,
        )
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(
        "A 1-D GAN learning: data (black dotted), generator (green), discriminator (blue)", fontsize=11
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
        "where the generator over-produces. The generator moves its samples up D's slope, toward the "
        "data; then D re-fits to the new generator, and so on. When p_g = p_data the ratio is 1/2 "
        "everywhere: D can only guess, its slope is zero, and the game stops with the generator "
        "reproducing the data."
    ),
)
