"""``gankit sweep SPEC.toml --out DIR`` and ``gankit compare DIR|RUN... | --storage STORAGE``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from gankit.errors import GankitError

# gankit.runs.sweep and .compare (and the run assembly, metrics and plots beneath them) are imported
# when their command runs: every `gankit` invocation, --help included, imports this module.


def sweep_command(
    spec_file: Path | None = typer.Argument(None, help="The sweep spec (TOML); see docs/sweeps.md."),
    out: Path | None = typer.Option(None, "--out", help="Sweep directory to create."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue this sweep directory."),
    workers: int = typer.Option(1, "--workers", help="Worker processes on this machine."),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="Optuna storage: journal:FILE (a journal file to commit beside a benchmark: one machine "
        "at a time; a new DIR continues the studies it holds), or a shared URL (postgresql://, "
        "mysql://, sqlite://): the same command on each machine joins the sweep.",
        show_default="DIR/study.db (SQLite)",
    ),
    heartbeat: int = typer.Option(
        30,
        "--heartbeat",
        help="Seconds between a running trial's heartbeats; 3 missed: it is rerun (SQL storages; a "
        "journal sweep reruns what it finds running when it starts).",
    ),
) -> None:
    """Run every trial of a sweep spec (grid cells x search trials) as ordinary run directories."""
    from gankit.runs import sweep as sweeps

    if workers < 1:
        raise GankitError(f"--workers must be >= 1, got {workers}")
    if heartbeat < 1:
        raise GankitError(f"--heartbeat must be >= 1 second, got {heartbeat}")
    if resume is not None:
        if spec_file is not None or out is not None:
            raise GankitError("--resume DIR takes no SPEC and no --out (the spec is DIR/spec.toml)")
        sweep = sweeps.open_existing(resume, storage, heartbeat)
    else:
        if spec_file is None or out is None:
            raise GankitError("give SPEC.toml and --out DIR (or --resume DIR)")
        sweep = sweeps.create(spec_file, out, storage, heartbeat)
    state = sweeps.run(sweep, workers, show_progress=sys.stderr.isatty())
    typer.echo(f"sweep directory: {sweep.path} (compare with: gankit compare {sweep.path})")
    if state.failed:
        raise typer.Exit(1)


def compare_command(
    sources: list[Path] | None = typer.Argument(None, help="Sweep directories and/or run directories."),
    by: str | None = typer.Option(
        None,
        "--by",
        help="Config keys to group by, comma-separated.",
        show_default="a sweep's grid keys but seed",
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="Metric to compare.", show_default="the sweep's"
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
    markdown: bool = typer.Option(False, "--markdown", help="A Markdown table."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV rows."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write a PNG: per-group distribution, and a sweep's best-so-far vs budget."
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="Also compare the sweeps kept in this storage (journal:FILE or a URL, as for `gankit "
        "sweep`), from the results its trials keep: no run directory needed.",
    ),
    sweep: str | None = typer.Option(
        None,
        "--sweep",
        help="With --storage: only this sweep (its name, as in DIR/sweep.json).",
        show_default="every sweep in the storage",
    ),
) -> None:
    """One row per group: n, mean ± std, median, 95 % t interval of the mean, best (and a search's
    best config)."""
    from gankit.runs import compare as comparing
    from gankit.runs.sweep import absolute_storage, check_storage_url

    if sum((as_json, markdown, as_csv)) > 1:
        raise GankitError("choose one of --json, --markdown, --csv")
    if not sources and storage is None:
        raise GankitError("give sweep or run directories, or --storage journal:FILE|URL")
    if sweep is not None and storage is None:
        raise GankitError("--sweep NAME picks a sweep of --storage; give --storage too")
    check_storage_url(storage)
    if plot is not None and plot.suffix != ".png":
        raise GankitError(f"--plot must end in .png, got {plot.name!r}")
    keys = None if by is None else [key.strip() for key in by.split(",") if key.strip()]
    comparison = comparing.compare(
        list(sources or []), by=keys, metric=metric, storage=absolute_storage(storage), sweep=sweep
    )
    if as_json:
        typer.echo(comparing.to_json(comparison))
    elif markdown:
        typer.echo(comparing.format_markdown(comparison))
    elif as_csv:
        typer.echo(comparing.format_csv(comparison))
    else:
        typer.echo(comparing.format_text(comparison))
    if plot is not None:
        try:
            comparing.plot(comparison, plot)
        except OSError as error:
            raise GankitError(f"cannot write {plot}: {error.strerror or error}") from None
        if not as_json and not as_csv:
            typer.echo(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)
    app.command("compare")(compare_command)
