"""The ``gankit`` command line: a thin layer that parses flags and calls the library.

Exit codes: 0 ok, 2 bad input (one line on stderr, no traceback), 1 any other failure.
Set GANKIT_DEBUG=1 to see full tracebacks.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
import sys
from pathlib import Path

import numpy as np
import typer
from typer.exceptions import Abort, Exit, TyperException

from gankit.config import FLAGS, build_config, flag_default, flag_type, from_dict, from_flags
from gankit.data.toy import TOY_DATASETS
from gankit.engine import distributed
from gankit.engine.loop import draw_samples
from gankit.engine.restore import load_generator, load_trainer, model_label
from gankit.errors import GankitError, path_errors
from gankit.experiments import FIGURES
from gankit.objectives import OBJECTIVES
from gankit.presets import PRESETS
from gankit.refine import commands as refine_flags
from gankit.refine import refine_trainer
from gankit.report.plots import plot_samples, real_reference, sample_title
from gankit.rundir import atomic_write_bytes, default_run_dir, read_config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train GANs and Wasserstein GANs, measure them, and diagnose why training fails.",
)

MAX_SAMPLES = 10_000_000  # what `gankit sample` draws at most (the samples are held in memory)

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


@app.command()
@config_flags(
    after={
        "seed": ("preset", "config_file", "out", "resume", "overwrite", "init_from"),
        "threads": ("nproc",),
    }
)
def train(
    ctx: typer.Context,
    preset: str | None = typer.Option(None, "--preset", help=f"Named recipe: {', '.join(PRESETS)}."),
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
        "(default: the one nearest where the doctor detected its first open finding). Fresh optimisers "
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


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., help="A run directory written by `gankit train`."),
    n: int = typer.Option(1000, "--n", help="Number of samples."),
    seed: int = typer.Option(0, "--seed", help="Noise seed: the same seed gives the same samples."),
    out: Path = typer.Option(..., "--out", help="FILE.npy (the samples) or FILE.png (a plot)."),
    label: int | None = typer.Option(
        None, "--label", help="Class to draw (conditional runs).", show_default="every class in turn"
    ),
    refine: str | None = refine_flags.REFINE,
    refine_scores: str = refine_flags.SCORES_OPTION,
    refine_calibration: str = refine_flags.CALIBRATION,
    refine_heldout: int = refine_flags.HELDOUT,
    refine_neighbours: int = refine_flags.NEIGHBOURS,
    refine_gamma_percentile: float = refine_flags.GAMMA_PERCENTILE,
    refine_chain_length: int = refine_flags.CHAIN_LENGTH,
) -> None:
    """Draw N samples from a trained generator (deterministic for a seed), optionally refined."""
    if out.suffix not in (".npy", ".png"):
        raise GankitError(f"--out must end in .npy or .png, got {out.name!r}")
    if not 0 < n <= MAX_SAMPLES:
        raise GankitError(f"--n must be between 1 and {MAX_SAMPLES:_}, got {n}")
    if not 0 <= seed <= 2**62:
        raise GankitError(f"--seed must be between 0 and 2**62, got {seed}")
    options = refine_flags.refine_options(
        refine,
        refine_scores,
        refine_calibration,
        refine_heldout,
        refine_neighbours,
        refine_gamma_percentile,
        refine_chain_length,
    )
    if options is None:
        generator, config, data = load_generator(run_dir)
        samples = draw_samples(generator, n, config.latent_dim, seed, label=label).numpy()
    else:
        trainer = load_trainer(run_dir)
        config, data = trainer.config, trainer.data
        refined = refine_trainer(trainer, n, seed, options, label=label)
        samples = refined.samples.astype("float32")
        typer.echo(refine_flags.describe(refined))
    with path_errors(f"write {out}"):
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".npy":
            buffer = io.BytesIO()
            np.save(buffer, samples)
            atomic_write_bytes(out, buffer.getvalue())
        else:
            plot_samples(
                samples,
                out,
                real_reference(data, n, seed),
                sample_title(model_label(config), config, n, label, options),
            )
    typer.echo(f"wrote {n} samples to {out}")


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
