"""The classic GAN claims as runnable, tested experiments: ``gankit figure NAME --out DIR``.

Each figure module defines ``FIGURE``, a :class:`~gankit.experiments.common.Figure` whose
``run(out_dir, quick=False, seed=0)`` trains what it needs on the CPU, writes ``NAME.png`` and
``NAME.json`` (the numbers behind the picture) into ``out_dir`` and returns those numbers.

To add a figure (the image work adds ``vae-vs-gan`` this way), write a module with a ``FIGURE`` and
append its import path to ``FIGURE_MODULES``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from gankit.errors import GankitError
from gankit.experiments.common import Figure

FIGURE_MODULES: tuple[str, ...] = (
    "gankit.experiments.evolution_1d",
    "gankit.experiments.optimal_discriminator",
    "gankit.experiments.vanishing_gradients",
    "gankit.experiments.strong_discriminator",
    "gankit.experiments.js_saturation",
    "gankit.experiments.vae_vs_gan",  # hook for the image work (issue 7)
)


def _load_figures() -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for module_name in FIGURE_MODULES:
        module = importlib.import_module(module_name)
        figures[module.FIGURE.name] = module.FIGURE
    return figures


FIGURES: dict[str, Figure] = _load_figures()


def get_figure(name: str) -> Figure:
    """Look up a figure by name, with a clear error listing the allowed names."""
    try:
        return FIGURES[name]
    except KeyError:
        raise GankitError(f"unknown figure {name!r}; allowed: {', '.join(FIGURES)}") from None


def run_figure(
    name: str, out_dir: str | Path, quick: bool = False, seed: int = 0, data: str | None = None
) -> dict:
    """Run the figure ``name``: writes ``out_dir/NAME.png`` and ``out_dir/NAME.json``, returns the numbers.
    ``data`` (one of the figure's ``data``; None: its default) picks the data set it draws."""
    figure = get_figure(name)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise GankitError(f"seed must be an integer >= 0, got {seed!r}")
    if data is not None and data not in figure.data:
        allowed = f"allowed: {', '.join(figure.data)}" if figure.data else "it draws one data set"
        raise GankitError(f"figure {name} takes no --data {data}; {allowed}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GankitError(f"--out must be a directory, but {out_dir} is a file")
    if data is None:
        return figure.run(out_dir, quick=quick, seed=seed)
    return figure.run(out_dir, quick=quick, seed=seed, data=data)


__all__ = ["FIGURES", "FIGURE_MODULES", "Figure", "get_figure", "run_figure"]
