"""The ``gankit`` command line: a thin layer that parses flags and calls the library.

Exit codes: 0 ok, 2 bad input (one line on stderr, no traceback), 1 any other failure.
Set GANKIT_DEBUG=1 to see full tracebacks.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import typer
from typer.exceptions import Abort, Exit, TyperException

from gankit.checkpoint import atomic_write_bytes
from gankit.config import FINDING_NAMES, TrainConfig, build_config, from_dict
from gankit.data.toy import TOY_DATASETS
from gankit.engine import distributed
from gankit.engine.loop import draw_samples
from gankit.engine.restore import load_generator, load_train_data_and_config, load_trainer, model_label
from gankit.errors import GankitError
from gankit.experiments import FIGURES
from gankit.objectives import OBJECTIVES
from gankit.presets import PRESETS
from gankit.refine import commands as refine_flags
from gankit.refine import refine_trainer
from gankit.report.plots import plot_samples, real_reference
from gankit.rundir import read_config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train GANs and Wasserstein GANs, measure them, and diagnose why training fails.",
)

_DEFAULTS = TrainConfig()


def _default(name: str) -> str:
    """What --help shows for a flag whose value falls back to the config (and objective) default."""
    value = getattr(_DEFAULTS, name)
    if value is None:
        return _SHAPE_DEFAULTS.get(name, "objective's default")
    return str(value)


# Defaults that depend on the data's shape (see config.resolve), as --help states them.
_SHAPE_DEFAULTS = {
    "batch_size": "256 toy, 64 images",
    "latent_dim": "2 toy, 64 images",
    "width": "128 toy, 32-64 images",
    "depth": "3 toy, 1 images",
}


def _opt(name: str, help_text: str, *flags: str):
    return typer.Option(None, *flags, help=help_text, show_default=_default(name))


MAX_SAMPLES = 10_000_000  # what `gankit sample` draws at most (the samples are held in memory)


@contextlib.contextmanager
def _path_errors(action: str):
    """A path the user gave that cannot be used (too long, under a file, no permission): exit 2."""
    try:
        yield
    except OSError as error:
        raise GankitError(f"cannot {action}: {error.strerror or error}") from None


@contextlib.contextmanager
def _exit_code_on_signal():
    """Training stopped by SIGINT/SIGTERM exits with 128 + the signal (130, 143), as shells expect."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        raise Exit(getattr(interrupt, "exit_code", 130)) from None


@app.command()
def train(
    ctx: typer.Context,
    data: str | None = _opt("data", "Toy data set name (see `gankit list`) or image data.", "--data"),
    objective: str | None = _opt("objective", "minimax, ns, wgan, wgan-gp, hinge or lsgan.", "--objective"),
    model: str | None = _opt("model", "gan, or vae (the VAE baseline for image data).", "--model"),
    image_size: int | None = typer.Option(
        None,
        "--image-size",
        help="Resize images to this square side (needed for mixed-size folders).",
        show_default="the images' own size",
    ),
    steps: int | None = _opt("steps", "Generator updates.", "--steps"),
    time_budget_s: float | None = _opt(
        "time_budget_s",
        "Stop once the training steps have used this much process CPU time, in seconds; evaluation "
        "and checkpoints do not count (0 = no limit). Compare budgets at the same --threads. With "
        "--resume: the run's new total (what it already used counts).",
        "--time-budget-s",
    ),
    validation_fraction: float | None = _opt(
        "validation_fraction",
        "Image data: hold out this fraction of the images from training (half validation, half test).",
        "--validation-fraction",
    ),
    batch_size: int | None = _opt("batch_size", "Samples per batch.", "--batch-size"),
    seed: int | None = _opt("seed", "Random seed (same seed + config = same numbers on CPU).", "--seed"),
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
    latent_dim: int | None = _opt("latent_dim", "Size of the noise z.", "--latent-dim"),
    latent: str | None = _opt(
        "latent", "gaussian, or mixture (K learnable Gaussians, DeLiGAN; toy data).", "--latent"
    ),
    latent_components: int | None = _opt(
        "latent_components", "Gaussians in a mixture latent.", "--latent-components"
    ),
    standardize: bool | None = typer.Option(
        None,
        "--standardize",
        help="Toy data: the networks work in standardised units (data mean 0, RMS spread 1).",
        show_default=False,
    ),
    width: int | None = _opt("width", "Hidden units (MLP) or base channels (conv).", "--width"),
    depth: int | None = _opt("depth", "Hidden layers.", "--depth"),
    pack: int | None = _opt("pack", "PacGAN packing: D scores this many samples at once.", "--pack"),
    optimizer: str | None = _opt("optimizer", "adam, rmsprop or sgd.", "--optimizer"),
    g_lr: float | None = _opt("g_lr", "Generator learning rate.", "--g-lr"),
    d_lr: float | None = _opt("d_lr", "Discriminator/critic learning rate.", "--d-lr"),
    critic_steps: int | None = _opt("critic_steps", "D updates per G update.", "--critic-steps"),
    lr_decay_start: int | None = _opt(
        "lr_decay_start",
        "From this step on both learning rates fall linearly towards 0 at the last step (default: constant).",
        "--lr-decay-start",
    ),
    clip_value: float | None = _opt("clip_value", "WGAN weight clipping bound.", "--clip-value"),
    gradient_penalty_weight: float | None = _opt(
        "gradient_penalty_weight",
        "WGAN-GP penalty weight lambda: 10 on images (the paper), 0.1 on toy data (its reference code).",
        "--gradient-penalty-weight",
        "--gp-weight",
    ),
    ema_decay: float | None = _opt("ema_decay", "Generator EMA decay (0 = off).", "--ema-decay"),
    ema_rampup: float | None = _opt(
        "ema_rampup",
        "EMA warm-up: its half-life is at most this fraction of the steps so far (0 = plain EMA).",
        "--ema-rampup",
    ),
    spectral_norm: bool | None = typer.Option(
        None, "--spectral-norm", help="Spectral normalisation of D's layers (SN-GAN).", show_default=False
    ),
    r1_gamma: float | None = _opt("r1_gamma", "R1 penalty gamma on real images (0 = off).", "--r1"),
    r2_gamma: float | None = _opt("r2_gamma", "R2 penalty gamma on generated images (0 = off).", "--r2"),
    r1_every: int | None = _opt("r1_every", "Lazy R1/R2: every K-th D update, scaled by K.", "--r1-every"),
    instance_noise: float | None = _opt(
        "instance_noise",
        "Instance noise on D's inputs: its std at step 0, in units of the data's RMS spread (0 = off).",
        "--instance-noise",
    ),
    instance_noise_steps: int | None = _opt(
        "instance_noise_steps",
        "Steps over which the instance noise falls linearly to 0 (0 = the whole run).",
        "--instance-noise-steps",
    ),
    coverage_weight: float | None = _opt(
        "coverage_weight",
        "Coverage term in G's loss (IMLE): its weight at step 0; each real sample pulls its nearest "
        "generated one (0 = off).",
        "--coverage-weight",
    ),
    coverage_steps: int | None = _opt(
        "coverage_steps",
        "Steps over which the coverage weight falls linearly to 0 (0 = the whole run).",
        "--coverage-steps",
    ),
    augment: str | None = typer.Option(
        None,
        "--augment",
        help="DiffAugment policies for D's inputs, comma-separated: color, translation, cutout.",
        show_default="none",
    ),
    conditional: bool | None = typer.Option(
        None,
        "--conditional",
        help="Class-conditional G(z, y) and projection D(x, y); needs labelled data.",
        show_default=False,
    ),
    log_every: int | None = _opt("log_every", "Steps between metrics.jsonl rows.", "--log-every"),
    eval_every: int | None = _opt(
        "eval_every",
        "Steps between quality metrics: W1 and modes (toy), FID and the others (images); 0 = off.",
        "--eval-every",
    ),
    sample_every: int | None = _opt(
        "sample_every", "Steps between sample plots (0 = off).", "--sample-every"
    ),
    checkpoint_every: int | None = _opt(
        "checkpoint_every", "Steps between checkpoints.", "--checkpoint-every"
    ),
    keep_checkpoints: int | None = _opt(
        "keep_checkpoints", "How many of the newest checkpoints to keep.", "--keep-checkpoints"
    ),
    device: str | None = _opt("device", "auto, cpu, cuda or mps.", "--device"),
    compile: bool | None = typer.Option(
        None, "--compile", help="torch.compile the networks (slow start, faster steps).", show_default=False
    ),
    amp: bool | None = typer.Option(
        None,
        "--amp/--no-amp",
        help="bf16 mixed precision (autocast) on cpu or cuda, or fp32. Unset: the faster of the two, "
        "timed at the start of the run (config.json records the choice).",
        show_default="auto",
    ),
    channels_last: bool | None = typer.Option(
        None, "--channels-last", help="NHWC memory layout for conv nets (image data).", show_default=False
    ),
    threads: str | None = typer.Option(
        None,
        "--threads",
        metavar="auto|N",
        help="CPU threads for torch, or auto: the fewest within 5 % of the fastest, timed at the start "
        "of the run within this process's share of the cores (config.json records the choice).",
        show_default=_default("threads"),
    ),
    nproc: int = typer.Option(
        1, "--nproc", min=1, help="Processes on this machine (DistributedDataParallel, via torchrun)."
    ),
    stop_on: str | None = typer.Option(
        None,
        "--stop-on",
        help=f"Comma-separated findings that stop training: {', '.join(FINDING_NAMES)}.",
        show_default="none; divergence always stops",
    ),
    live: bool = typer.Option(
        False, "--live", help="Serve a live view on 127.0.0.1 while training (its URL is printed)."
    ),
    tensorboard: bool = typer.Option(
        False, "--tensorboard", help="Also write scalars and sample images to RUN_DIR/tb/."
    ),
) -> None:
    """Train a GAN or WGAN and write a run directory (config, metrics, checkpoints, samples)."""
    given = [p.name for p in ctx.command.params if ctx.get_parameter_source(p.name).name == "COMMANDLINE"]
    threads = _threads_value(threads)
    # here, not at the top (~25 ms): the run assembly brings the monitors and the live server with it
    from gankit.report.live import watching
    from gankit.runs import assemble

    if nproc > 1 and not distributed.launched_by_torchrun():
        _launch_processes(ctx, nproc, resume, preset, config_file, locals())
    if not distributed.is_rank_zero():  # in a torchrun job only rank 0 prints, serves and writes
        live = tensorboard = False
    progress = sys.stderr.isatty()
    if resume is not None:
        # A resumed run keeps its config.json (that is what makes it exact); only its limits may grow.
        allowed = ("resume", "steps", "time_budget_s", "live", "tensorboard", "nproc")
        clashing = [name for name in given if name not in allowed]
        if clashing:
            flag = "--" + clashing[0].replace("_", "-").replace("config-file", "config")
            raise GankitError(
                f"{flag} cannot be combined with --resume (the run keeps its config); only --steps "
                "and --time-budget-s can"
            )
        with watching(resume, live=live, tensorboard=tensorboard) as callbacks, _exit_code_on_signal():
            result = assemble.resume(
                resume, steps=steps, progress=progress, callbacks=callbacks, time_budget_s=time_budget_s
            )
    else:
        if stop_on is not None:  # "--stop-on mode-collapse,no-progress" -> a tuple of finding names
            stop_on = tuple(name.strip() for name in stop_on.split(",") if name.strip())
        if augment is not None:  # "--augment translation,cutout" -> a tuple of policy names
            augment = tuple(name.strip() for name in augment.split(",") if name.strip())
        overrides = {k: v for k, v in locals().items() if k in TrainConfig.__dataclass_fields__}
        overrides |= _init_from_value(init_from)
        config = build_config(preset=preset, file=config_file, overrides=overrides)
        if out is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"{config.data}-{config.objective}-{stamp}"
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


def _threads_value(text: str | None) -> int | str | None:
    """--threads N or auto, as the config takes it (a count's range is the config's to check)."""
    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise GankitError(f"--threads must be auto or a count >= 1, got {text!r}") from None


def _launch_processes(
    ctx: typer.Context, nproc: int, resume: Path | None, preset, config_file, flags: dict
) -> None:
    """``gankit train --nproc N ...``: check the config here (bad input: one line, exit 2), then
    rerun this command line without --nproc as N torchrun processes and exit with their code."""
    if resume is not None:  # a missing or broken run directory: one line here, not one per process
        config = from_dict(read_config(resume))
    else:
        overrides = {k: v for k, v in flags.items() if k in TrainConfig.__dataclass_fields__}
        config = build_config(preset=preset, file=config_file, overrides=overrides)
    _, resolved = load_train_data_and_config(config)
    if resolved.batch_size % (nproc * resolved.pack):
        raise GankitError(
            f"batch_size ({resolved.batch_size}) must split evenly over {nproc} processes into "
            f"batches that are a multiple of pack ({resolved.pack})"
        )
    args = ["train"]
    for param in ctx.command.params:
        if param.name == "nproc" or ctx.get_parameter_source(param.name).name != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        if getattr(param, "is_flag", False):  # --x, or its --no-x spelling when one was given
            args.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            args += [param.opts[0], str(value)]
    raise Exit(distributed.launch(args, nproc))


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
    with _path_errors(f"write {out}"):
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


def sample_title(model: str, config, n: int, label: int | None, options) -> str:
    """The title of `gankit sample --out FILE.png`: what was drawn, from what, and how."""
    title = f"{model} on {config.data}: {n} samples"
    if label is not None:
        title += f" of class {label}"
    elif config.conditional:
        title += ", every class in turn"
    if options is not None:
        title += f", refined ({options.method})"
    return title


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
