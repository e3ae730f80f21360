"""Pieces shared by the figures: the ``Figure`` record, writing outputs, and small autograd helpers."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure as PlotFigure
from torch import Tensor, nn

from gankit.config import TrainConfig, resolve
from gankit.data.toy import GaussianMixture
from gankit.engine.loop import d_step
from gankit.objectives import Objective
from gankit.stats import bootstrap_ci

# Colours of Goodfellow et al. 2014, Fig. 1, used by every figure for the same roles.
DATA_COLOR = "black"
GENERATOR_COLOR = "#2a9d3a"
DISCRIMINATOR_COLOR = "#1f5fbf"
CRITIC_COLOR = "#d95f02"


@dataclass(frozen=True)
class Figure:
    """One classic claim: ``run(out_dir, quick=False, seed=0) -> dict`` writes NAME.png + NAME.json.

    ``explanation`` is the plain-words paragraph on the mechanism that docs/claims.md shows;
    ``prerequisite`` a command that must run before the full figure (e.g. the benchmark it draws);
    ``data`` the data sets ``--data`` may name (``run(..., data=NAME)``; the first is the default),
    empty for a figure that draws one.
    """

    name: str
    description: str
    run: Callable[..., dict]
    explanation: str = ""
    prerequisite: str = ""
    data: tuple[str, ...] = ()


def figure_command(name: str, out_dir: str | Path, quick: bool, seed: int, data: str | None = None) -> str:
    """The shell command that regenerates a figure (recorded in its JSON and in docs/claims.md)."""
    command = f"gankit figure {name}" + (f" --data {data}" if data else "") + f" --out {out_dir}"
    if quick:
        command += " --quick"
    if seed:
        command += f" --seed {seed}"
    return command


def write_outputs(
    out_dir: str | Path,
    name: str,
    figure: PlotFigure,
    numbers: dict[str, Any],
    quick: bool,
    seed: int,
    data: str | None = None,
) -> dict[str, Any]:
    """Save ``NAME.png`` and ``NAME.json`` atomically (temp file + rename); returns the JSON's content.

    ``numbers["headline"]`` holds the few scalars that state the claim; docs/claims.md prints them.
    ``data``: the --data the figure was drawn with (None: its default), in the recorded command.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "figure": name,
        "command": figure_command(name, out_dir, quick, seed, data),
        "seed": seed,
        "quick": quick,
        **_rounded(numbers),
    }
    png, tmp_png = out_dir / f"{name}.png", out_dir / f".{name}.png.tmp"
    figure.savefig(tmp_png, dpi=110, format="png")
    tmp_json = out_dir / f".{name}.json.tmp"
    tmp_json.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp_png, png)
    os.replace(tmp_json, out_dir / f"{name}.json")
    return record


def _rounded(value: Any) -> Any:
    """Floats to 6 significant digits (JSON stays readable; NaN/inf become strings JSON can hold)."""
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, Tensor):
        return _rounded(value.tolist())
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else str(value)
    return value


def toy_config(**values: Any) -> TrainConfig:
    """A resolved config for 1-D/2-D toy experiments; unspecified knobs take the objective's defaults."""
    shape = (values.pop("dim", 1),)
    values.setdefault("device", "cpu")
    values.setdefault("eval_every", 0)
    values.setdefault("sample_every", 0)
    if values.get("objective") == "wgan-gp":  # the figures show the paper's critic: lambda = 10
        values.setdefault("gradient_penalty_weight", 10.0)
    return resolve(TrainConfig(**values), shape)


def gaussian_1d(name: str, mean: float, std: float) -> GaussianMixture:
    """A single 1-D Gaussian N(mean, std^2) as a toy data object (``sample(n, generator)``)."""
    return GaussianMixture(name, ((mean,),), std, description=f"N({mean}, {std}^2)")


class FixedGaussianGenerator(nn.Module):
    """A generator that is not trained: x = mean + std * z, z ~ N(0, 1). Stands in for a fixed p_g."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.latent_dim = 1
        self.mean, self.std = mean, std

    def forward(self, z: Tensor) -> Tensor:  # (batch, 1) -> (batch, 1)
        return self.mean + self.std * z


def train_discriminator(
    generator: nn.Module,
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    config: TrainConfig,
    data,
    rng: torch.Generator,
    steps: int,
) -> None:
    """``steps`` discriminator updates against a fixed generator: the core ``d_step``, one at a time
    (a config caps ``critic_steps``; these experiments train D alone for thousands of steps)."""
    one_step = config.replace(critic_steps=1)
    for _ in range(steps):
        d_step(generator, discriminator, optimizer, objective, one_step, data, rng)


def input_gradient(function: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """(f(x), df/dx) for a scalar-per-sample function on 1-D inputs ``x`` of shape (n, 1)."""
    x = x.detach().clone().requires_grad_(True)
    values = function(x).reshape(-1)
    (grad,) = torch.autograd.grad(values.sum(), x)
    return values.detach(), grad.reshape(-1)


def generator_gradient_norm(
    generator: nn.Module, discriminator: nn.Module, generator_loss: Callable[[Tensor], Tensor], z: Tensor
) -> float:
    """||grad_theta L_G(D(G_theta(z)))||_2: how hard the generator's loss pushes its parameters."""
    params = [p for p in generator.parameters() if p.requires_grad]
    loss = generator_loss(discriminator(generator(z)))
    grads = torch.autograd.grad(loss, params)
    return float(torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads])))


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def median_ci(values: list[float]) -> tuple[float, float]:
    """A 95 % percentile-bootstrap confidence interval of the median over seeds (seeded: reproducible)."""
    if len(values) < 2:
        return float(min(values)), float(max(values))
    return bootstrap_ci(values, np.median, resamples=2000)
