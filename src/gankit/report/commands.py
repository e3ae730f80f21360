"""``gankit report RUN_DIR`` (a self-contained HTML file) and ``gankit watch RUN_DIR`` (the live page)."""

from __future__ import annotations

from pathlib import Path

import typer

from gankit.errors import GankitError


def report_command(
    run_dir: Path = typer.Argument(..., help="A run directory written by `gankit train`."),
    eval_samples: int = typer.Option(
        2500, "--eval-samples", help="Samples of the final generator for the evaluation table."
    ),
) -> None:
    """Write RUN_DIR/report.html: config, curves, findings, samples and evaluation in one file."""
    from gankit.report.html import write_report  # here: every gankit invocation imports this module

    if eval_samples <= 0:
        raise GankitError(f"--eval-samples must be > 0, got {eval_samples}")
    typer.echo(f"wrote {write_report(run_dir, eval_samples=eval_samples)}")


def watch_command(
    run_dir: Path = typer.Argument(..., help="A run directory (training or finished)."),
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: a free one, printed)."),
) -> None:
    """Serve the live page of a run on 127.0.0.1 until Ctrl-C: curves, and D's view of the data."""
    from gankit.report.live import watch  # here: every gankit invocation imports this module

    watch(run_dir, port=port)


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
    app.command("watch")(watch_command)
