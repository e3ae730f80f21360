"""The ``gankit`` command line: a thin layer that parses flags and calls the library.

Each command lives with its concern and adds itself to the app below (register(app)); this module
holds the app, the list of those modules and main.

Exit codes: 0 ok, 2 bad input (one line on stderr, no traceback), 1 any other failure.
Set GANKIT_DEBUG=1 to see full tracebacks.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from typer.exceptions import Abort, Exit, TyperException

from gankit.errors import GankitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train GANs and Wasserstein GANs, measure them, and diagnose why training fails.",
)


# The modules that add the commands, in the order `gankit --help` lists them.
_COMMAND_MODULES = (
    "gankit.runs.train_command",  # train
    "gankit.refine.commands",  # sample
    "gankit.experiments.list_command",  # list
    "gankit.metrics.commands",  # eval
    "gankit.experiments.commands",  # figure
    "gankit.diagnose.commands",  # doctor
    "gankit.report.commands",  # report, watch
    "gankit.runs.commands",  # sweep, compare
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
