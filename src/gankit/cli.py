"""The ``gankit`` command line: a thin layer that parses flags and calls the library.

Exit codes: 0 ok, 2 bad input (one line on stderr, no traceback), 1 any other failure.
Set GANKIT_DEBUG=1 to see full tracebacks.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from typer.exceptions import Abort, Exit, TyperException

from gankit.data.toy import TOY_DATASETS
from gankit.errors import GankitError
from gankit.experiments import FIGURES
from gankit.objectives import OBJECTIVES
from gankit.presets import PRESETS
from gankit.refine import commands as refine_commands
from gankit.runs import train_command

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train GANs and Wasserstein GANs, measure them, and diagnose why training fails.",
)


# train lives with the runs (runs/train_command.py), sample with the refinement (refine/commands.py);
# --help lists them first.
train_command.register(app)
refine_commands.register(app)


@app.command("list")
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


# Feature modules add their own commands (eval, figure, doctor, report, ...) through register(app).
_COMMAND_MODULES = (
    "gankit.metrics.commands",
    "gankit.experiments.commands",
    "gankit.diagnose.commands",
    "gankit.report.commands",
    "gankit.runs.commands",
)
for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: maps errors to exit codes and one-line messages."""
    debug = bool(os.environ.get("GANKIT_DEBUG"))
    try:
        code = app(args=argv, prog_name="gankit", standalone_mode=False)  # an int when a command exits
    except GankitError as error:
        if debug:
            raise
        # one line even when the message quotes a path with a newline in it
        print(f"gankit: error: {error}".replace("\r", "\\r").replace("\n", "\\n"), file=sys.stderr)
        return 2
    except TyperException as error:  # bad flags: typer's (vendored click's) usage errors
        if type(error).__name__ == "NoArgsIsHelpError":
            print(error.ctx.get_help() if getattr(error, "ctx", None) else "", file=sys.stderr)
            return 2
        print(f"gankit: error: {error.format_message()}", file=sys.stderr)
        return 2
    except (Abort, KeyboardInterrupt) as interrupt:
        print("gankit: interrupted", file=sys.stderr)
        return getattr(interrupt, "exit_code", 130)  # 128 + signal: 130 for SIGINT, 143 for SIGTERM
    except Exit as exit_:
        return exit_.exit_code
    except Exception as error:
        if debug:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"gankit: failed: {type(error).__name__}: {message} (GANKIT_DEBUG=1 shows details)",
            file=sys.stderr,
        )
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
