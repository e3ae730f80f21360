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
    """List the data sets, objectives, presets and figures gankit knows, each section's names in
    one column."""
    from gankit.data.standard import STANDARD_SETS  # the downloader: only `list` and those sets need it

    data = {name: toy.description for name, toy in TOY_DATASETS.items()}
    data["digits"] = "scikit-learn's 1,797 8x8 hand-written digits (images, labelled)"
    data["stacked-digits"] = "three digits as colour channels, 1,000 modes (3x8x8 images)"
    data |= {name: standard.description for name, standard in STANDARD_SETS.items()}
    data["PATH"] = "your images: .npy/.npz array, IDX file, or a folder of PNG/JPEG"
    presets = {name: ", ".join(f"{k}={v}" for k, v in values.items()) for name, values in PRESETS.items()}
    presets["paper"] = "nothing set: each objective's paper settings, no data-aware default"
    sections = {
        "data sets": data,
        "objectives": {name: objective.description for name, objective in OBJECTIVES.items()},
        "presets": presets,
        "figures": {name: figure.description for name, figure in FIGURES.items()},
    }
    for title, rows in sections.items():
        typer.echo(f"{title}:")
        column = max(map(len, rows))
        for name, text in rows.items():
            typer.echo(f"  {name:<{column}}  {text}")


def register(app: typer.Typer) -> None:
    app.command("list")(list_things)
