"""Matplotlib figures for samples.

Figures are built as ``matplotlib.figure.Figure`` objects, never through pyplot, so they work with
no screen and never change the user's backend (a notebook keeps its inline plots).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

REAL_COLOR = "#444444"
FAKE_COLOR = "#2a9d3a"


def plot_samples(
    fake: np.ndarray,
    path: str | Path,
    real: np.ndarray | None = None,
    title: str = "",
    modes: np.ndarray | None = None,
) -> Path:
    """Save a picture of generated samples: scatter (2-D), histogram (1-D) or image grid."""
    fake = np.asarray(fake)
    if fake.ndim > 2:
        return save_image_grid(fake, path, title)
    fig = Figure(figsize=(5, 5) if fake.shape[1] >= 2 else (6, 3.5))
    ax = fig.subplots()
    plot_toy_samples(ax, fake, real, modes)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def sample_title(model: str, config, n: int, label: int | None, options) -> str:
    """The title of `gankit sample --out FILE.png`: what was drawn, from what, and how."""
    title = f"{model} on {config.data}: {n} samples"
    if label is not None:
        title += f" of class {label}"
    elif config.conditional:
        title += ", every class in turn"
    if options is not None:
        title += f", refined ({options.method})"
    return title


def real_reference(data, n: int, seed: int) -> np.ndarray | None:
    """``n`` real samples to draw under generated 1-D/2-D ones (seeded); None for images."""
    if len(data.shape) != 1:
        return None
    return data.sample(n, torch.Generator().manual_seed(seed)).numpy()


def plot_toy_samples(ax, fake: np.ndarray, real: np.ndarray | None = None, modes=None) -> None:
    """Plot 1-D samples as a histogram or 2-D ones as a scatter on ``ax`` (sample plots, summaries)."""
    fake = np.asarray(fake).reshape(len(fake), -1)
    if fake.shape[1] == 1:
        values = fake[:, 0] if real is None else np.concatenate([fake[:, 0], real.reshape(-1)])
        finite = values[np.isfinite(values)]
        bins = np.linspace(finite.min(), finite.max(), 80) if finite.size else 10
        if real is not None:
            ax.hist(
                real.reshape(-1),
                bins=bins,
                density=True,
                histtype="step",
                color=REAL_COLOR,
                linestyle=":",
                linewidth=1.5,
                label="data",
            )
        ax.hist(
            fake[:, 0],
            bins=bins,
            density=True,
            histtype="stepfilled",
            alpha=0.5,
            color=FAKE_COLOR,
            label="generated",
        )
        ax.set_xlabel("x")
        ax.legend(loc="upper right", fontsize=8)
        return
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=4, c=REAL_COLOR, alpha=0.6, label="data", zorder=3)
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c=FAKE_COLOR, alpha=0.5, label="generated")
    if modes is not None and real is None:  # with data drawn, the marks would hide tight modes
        ax.scatter(modes[:, 0], modes[:, 1], marker="x", s=30, c="#c0392b", label="mode means")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", fontsize=8, markerscale=3)


def save_image_grid(
    images: np.ndarray, path: str | Path, title: str = "", columns: int | None = None
) -> Path:
    """Save ``(n, channels, h, w)`` images in [-1, 1] as a grid PNG."""
    fig = image_grid_figure(images, title, columns)
    return _save(fig, path)


def image_grid_figure(images: np.ndarray, title: str = "", columns: int | None = None) -> Figure:
    """The figure of save_image_grid: the grid, and the title wrapped to the grid's width (a grid of
    16 small images is narrower than one line of `gankit sample`'s title)."""
    grid = image_grid(images, columns)
    n, channels = len(images), grid.shape[-1]
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    width = min(12, 0.5 + columns * 0.6)
    lines = textwrap.wrap(title, max(16, int(width * 10)))  # ~10 characters an inch at fontsize 10
    fig = Figure(figsize=(width, min(12, 0.5 + rows * 0.6) + 0.2 * len(lines)), layout="constrained")
    ax = fig.subplots()
    ax.imshow(
        grid[..., 0] if channels == 1 else grid,
        cmap="gray" if channels == 1 else None,
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.axis("off")
    if lines:
        ax.set_title("\n".join(lines), fontsize=10)
    return fig


def image_grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """``(n, channels, h, w)`` images in [-1, 1] -> one ``(H, W, channels)`` array in [0, 1], 1-px gaps."""
    images = np.clip((np.asarray(images, dtype=np.float32) + 1) / 2, 0, 1)
    n, channels, height, width = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    grid = np.ones((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), dtype=np.float32)
    for index in range(n):
        r, c = divmod(index, columns)
        top, left = 1 + r * (height + 1), 1 + c * (width + 1)
        grid[top : top + height, left : left + width] = images[index].transpose(1, 2, 0)
    return grid


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
