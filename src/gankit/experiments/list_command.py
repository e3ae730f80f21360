"""``gankit list``: the data sets, objectives, presets and figures gankit knows, from their registries.

It sits with the figures because FIGURES is the highest of the registries it lists: the figures
layer is the lowest that may import them all (data, objectives and presets sit below it). Its own
module, not experiments/commands.py beside `figure`: `gankit --help` lists it third, before eval.
"""

from __future__ import annotations

import typer

from gankit.data.toy import TOY_DATASETS
from gankit.experiments import FIGURES
from gankit.objectives import OBJECTIVES
from gankit.presets import PRESETS


def list_things() -> None:
    """List the data sets, objectives, presets and figures gankit knows."""
    typer.echo("data sets:")
    for name, data in TOY_DATASETS.items():
        typer.echo(f"  {name:<12} {data.description}")
    typer.echo(f"  {'digits':<14} scikit-learn's 1,797 8x8 hand-written digits (images, labelled)")
    typer.echo(f"  {'stacked-digits':<14} three digits as colour channels, 1,000 modes (3x8x8 images)")
    from gankit.data.standard import STANDARD_SETS  # the downloader: only `list` and those sets need it

    for name, standard in STANDARD_SETS.items():
        typer.echo(f"  {name:<14} {standard.description}")
    typer.echo(f"  {'PATH':<12} your images: .npy/.npz array, IDX file, or a folder of PNG/JPEG")
    typer.echo("objectives:")
    for name, objective in OBJECTIVES.items():
        typer.echo(f"  {name:<12} {objective.description}")
    typer.echo("presets:")
    for name, values in PRESETS.items():
        typer.echo(f"  {name:<12} {', '.join(f'{k}={v}' for k, v in values.items())}")
    typer.echo("figures:")
    for name, figure in FIGURES.items():
        typer.echo(f"  {name:<24} {figure.description}")


def register(app: typer.Typer) -> None:
    app.command("list")(list_things)
