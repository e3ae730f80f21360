"""``gankit train``: one run from flags, a preset or a TOML file (runs/assemble.py does the work).

Its own module, not runs/commands.py beside sweep and compare: its options are generated from
config.FLAGS (``config_flags``), machinery only this command has, and `gankit --help` lists train
first and sweep and compare last, so the two modules register at opposite ends of the list.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from pathlib import Path

import typer
from typer.exceptions import Exit

from gankit.config import FLAGS, build_config, flag_default, flag_type, from_dict, from_flags
from gankit.engine import distributed
from gankit.errors import GankitError
from gankit.presets import PRESETS, data_default
from gankit.rundir import RunDir, default_run_dir, read_config

KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY


def config_flags(after: dict[str, tuple[str, ...]]):
    """Give a command one option per entry of config.FLAGS (``--steps``, ``--g-lr``, ...) besides its own.

    typer makes a command's options from its function's signature, so this writes that signature
    (``__signature__``, which typer reads like a written one): ``ctx``, then the config's flags in
    FLAGS order, each a ``typer.Option(None, ...)`` (None: not given), with the command's own
    options after the field ``after`` names them under and the rest of them last (the order of
    --help). Their values reach the command in ``**flags``.

    Why a signature and not a click command: click is not a dependency of gankit (typer carries a
    private copy of it), and this way the command's own options and every other command stay
    plain typer, read the same way.
    """

    def add_flags(command):
        own = dict(inspect.signature(command, eval_str=True).parameters)
        params = [own.pop("ctx")]
        del own["flags"]
        for name, flag in FLAGS.items():
            option = typer.Option(
                None,
                *(flag.names or ["--" + name.replace("_", "-")]),
                help=flag.help,
                show_default=flag_default(name),
                metavar=flag.metavar,
            )
            params.append(
                inspect.Parameter(name, KEYWORD_ONLY, default=option, annotation=flag_type(name) | None)
            )
            params += [own.pop(mine) for mine in after.get(name, ())]
        params += own.values()
        command.__signature__ = inspect.Signature(
            [params[0], *(p.replace(kind=KEYWORD_ONLY) for p in params[1:])]
        )
        return command

    return add_flags


@contextlib.contextmanager
def _exit_code_on_signal():
    """Training stopped by SIGINT/SIGTERM exits with 128 + the signal (130, 143), as shells expect."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        raise Exit(getattr(interrupt, "exit_code", 130)) from None


# What --resume may be combined with: a resumed run keeps its config.json (that is what makes it
# exact); only its limits may grow.
_RESUME_FLAGS = ("resume", "steps", "time_budget_s", "live", "tensorboard", "nproc")


@config_flags(
    after={
        "seed": ("preset", "config_file", "out", "resume", "overwrite", "init_from"),
        "threads": ("nproc",),
    }
)
def train(
    ctx: typer.Context,
    preset: str | None = typer.Option(
        None,
        "--preset",
        help=f"Named recipe: {', '.join(PRESETS)}. Without one, data and objective pairs with a measured"
        " recipe use it (docs/benchmarks/toy_defaults.md); paper: the papers' settings.",
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="TOML file of config keys; flags override it."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Run directory.", show_default="runs/DATA-OBJECTIVE-TIME"
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue this run directory from its last checkpoint."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
    init_from: str | None = typer.Option(
        None,
        "--init-from",
        metavar="RUN_DIR[:STEP]",
        help="Start a new run from another run's G, D and EMA weights: its checkpoint at or before STEP "
        "(default: the first at or after where the doctor detected its first open finding). Fresh optimisers "
        "and step count; any other flags may change (the networks' shapes may not).",
    ),
    nproc: int = typer.Option(
        1, "--nproc", min=1, help="Processes on this machine (DistributedDataParallel, via torchrun)."
    ),
    live: bool = typer.Option(
        False, "--live", help="Serve a live view on 127.0.0.1 while training (its URL is printed)."
    ),
    tensorboard: bool = typer.Option(
        False, "--tensorboard", help="Also write scalars and sample images to RUN_DIR/tb/."
    ),
    **flags,  # one per config field in config.FLAGS (see config_flags)
) -> None:
    """Train a GAN or WGAN and write a run directory (config, metrics, checkpoints, samples)."""
    given = [p for p in ctx.command.params if ctx.get_parameter_source(p.name).name == "COMMANDLINE"]
    # here, not at the top (~25 ms): the run assembly brings the monitors and the live server with it
    from gankit.report.live import watching
    from gankit.runs import assemble

    if resume is not None:
        clashing = [p.opts[0] for p in given if p.name not in _RESUME_FLAGS]
        if clashing:
            raise GankitError(
                f"{clashing[0]} cannot be combined with --resume (the run keeps its config); only "
                "--steps and --time-budget-s can"
            )
    else:
        overrides = from_flags(flags) | _init_from_value(init_from)
        config = build_config(preset=preset, file=config_file, overrides=overrides)
        if out is not None and distributed.is_rank_zero():
            RunDir.check_new(out, overwrite)  # a taken --out: its one line, before the recipe's
        if preset is None:
            _say_data_default(config)
    if nproc > 1 and not distributed.launched_by_torchrun():  # run this command line as N processes
        if resume is not None:  # a missing or broken run directory: one line here, not one per process
            config = from_dict(read_config(resume))
        args = ["train", *_as_arguments(ctx, [p for p in given if p.name != "nproc"])]
        raise Exit(distributed.relaunch(args, nproc, config))
    if not distributed.is_rank_zero():  # in a torchrun job only rank 0 prints, serves and writes
        live = tensorboard = False
    progress = sys.stderr.isatty()
    if resume is not None:
        with watching(resume, live=live, tensorboard=tensorboard) as callbacks, _exit_code_on_signal():
            steps, budget = flags["steps"], flags["time_budget_s"]
            result = assemble.resume(
                resume, steps=steps, progress=progress, callbacks=callbacks, time_budget_s=budget
            )
    else:
        if out is None:
            out = default_run_dir(config.data, config.objective)
        with watching(out, live=live, tensorboard=tensorboard) as callbacks, _exit_code_on_signal():
            result = assemble.train(config, out, overwrite=overwrite, progress=progress, callbacks=callbacks)
    if distributed.is_rank_zero():
        typer.echo(f"trained {result.trainer.step} steps; run directory: {result.path}")
    if result.stopped:  # a finding (divergence, or one named in --stop-on) ended the run early
        raise typer.Exit(1)


def _say_data_default(config) -> None:
    """One line when the run's data and objective have a measured recipe that filled the unset flags."""
    recipe = data_default(config.data, config.objective)
    if recipe and distributed.is_rank_zero():
        used = ", ".join(f"{key}={getattr(config, key)}" for key in recipe)
        typer.echo(
            f"{config.data} + {config.objective}: its measured recipe (docs/benchmarks/toy_defaults.md)"
            f" with the flags given: {used}; --preset paper trains the papers' settings",
            err=True,
        )


def _init_from_value(text: str | None) -> dict:
    """--init-from RUN_DIR[:STEP] as the config keys init_from and init_from_step."""
    if text is None:
        return {}
    path, colon, step = text.rpartition(":")
    if colon and step.isdigit() and path:
        return {"init_from": path, "init_from_step": int(step)}
    return {"init_from": text}


def _as_arguments(ctx: typer.Context, params: list) -> list[str]:
    """Command-line options as arguments again: --x VALUE, or a flag's --x or --no-x as given."""
    args = []
    for param in params:
        value = ctx.params[param.name]
        if getattr(param, "is_flag", False):
            args.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            args += [param.opts[0], str(value)]
    return args


def register(app: typer.Typer) -> None:
    app.command("train")(train)
