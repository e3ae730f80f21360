"""``gankit doctor RUN_DIR [--json]``: why is my training failing?"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gankit.errors import GankitError
from gankit.rundir import DOCTOR_PLOT


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        run_dir: Path = typer.Argument(..., help="A run directory written by `gankit train`."),
        as_json: bool = typer.Option(False, "--json", help="Print the verdict as one JSON object."),
        plot: Path | None = typer.Option(
            None,
            "--plot",
            help="Where to write the PNG of the curves.",
            show_default=f"RUN_DIR/{DOCTOR_PLOT}",
        ),
    ) -> None:
        """Name what went wrong in a run (with the step it started and what to do), and plot it."""
        # here: every gankit invocation imports this module
        from gankit.diagnose.doctor import diagnose, format_diagnosis, plot_diagnosis

        if plot is not None and plot.suffix != ".png":
            raise GankitError(f"--plot must end in .png, got {plot.name!r}")
        diagnosis = diagnose(run_dir)
        diagnosis["plot"] = str(plot_diagnosis(run_dir, diagnosis, plot))
        if as_json:
            typer.echo(json.dumps(diagnosis, indent=2))
        else:
            typer.echo(format_diagnosis(diagnosis))
            typer.echo(f"\nplot: {diagnosis['plot']}")
