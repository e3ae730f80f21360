"""``gankit figure NAME --out DIR``: run one classic figure (or all of them) and write PNG + JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from gankit.errors import GankitError


def figure(
    name: str | None = typer.Argument(None, help="Figure name (see `gankit list`)."),
    out: Path = typer.Option(..., "--out", help="Directory for NAME.png and NAME.json."),
    all_figures: bool = typer.Option(False, "--all", help="Run every figure instead of one."),
    quick: bool = typer.Option(False, "--quick", help="Small, fast settings (what the tests use)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed = same numbers on CPU)."),
    data: str | None = typer.Option(
        None, "--data", help="Data set of a figure that draws several (vae-vs-gan: digits, fashion-mnist)."
    ),
) -> None:
    """Train and draw a classic GAN figure; writes NAME.png and the numbers behind it, NAME.json."""
    from gankit.experiments import FIGURES, get_figure, run_figure

    if all_figures == (name is not None):
        raise GankitError(f"give either a figure name or --all; figures: {', '.join(FIGURES)}")
    if all_figures and data is not None:
        raise GankitError("--data applies to one figure at a time, not --all")
    names = list(FIGURES) if all_figures else [get_figure(name).name]
    for figure_name in names:
        record = run_figure(figure_name, out, quick=quick, seed=seed, data=data)
        typer.echo(f"wrote {out / figure_name}.png and .json")
        for key, value in record.get("headline", {}).items():
            typer.echo(f"  {key}: {value}")


def register(app: typer.Typer) -> None:
    app.command("figure")(figure)
