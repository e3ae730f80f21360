"""``gankit sample RUN_DIR --out FILE``, and the ``--refine`` flags it shares with ``gankit eval``.

`sample` lives with the refinement because most of its options are refinement's; without
--refine it draws from the generator alone.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import typer

from gankit.engine.loop import draw_samples
from gankit.engine.restore import load_generator, load_trainer, model_label
from gankit.errors import GankitError, path_errors
from gankit.refine import CALIBRATIONS, METHODS, SCORES, Refined, RefineOptions, refine_trainer
from gankit.report.plots import plot_samples, real_reference, sample_title
from gankit.rundir import atomic_write_bytes

MAX_SAMPLES = 10_000_000  # what `gankit sample` draws at most (the samples are held in memory)

_DEFAULTS = RefineOptions()

REFINE = typer.Option(
    None,
    "--refine",
    help=f"Refine with a discriminator at sampling time: {' or '.join(METHODS)} (DRS, MH-GAN).",
    show_default="off",
)
SCORES_OPTION = typer.Option(
    _DEFAULTS.scores,
    "--refine-scores",
    help=f"Density-ratio source: {', '.join(SCORES)} (auto: the run's D where it gives a log ratio, "
    "else k nearest neighbours).",
)
CALIBRATION = typer.Option(
    _DEFAULTS.calibration,
    "--refine-calibration",
    help=f"Calibrate the scores on held-out data: {', '.join(CALIBRATIONS)} (critics need one).",
)
HELDOUT = typer.Option(
    _DEFAULTS.heldout, "--refine-heldout", help="Held-out real and generated points (each)."
)
NEIGHBOURS = typer.Option(_DEFAULTS.neighbours, "--refine-neighbours", help="k of the knn scores.")
GAMMA_PERCENTILE = typer.Option(
    _DEFAULTS.gamma_percentile,
    "--refine-gamma-percentile",
    help="DRS: gamma = min(0, this percentile of F); lower accepts more, 100 is exact rejection.",
)
CHAIN_LENGTH = typer.Option(
    _DEFAULTS.chain_length, "--refine-chain-length", help="MH: proposals per output sample."
)


def refine_options(
    method: str | None,
    scores: str,
    calibration: str,
    heldout: int,
    neighbours: int,
    gamma_percentile: float,
    chain_length: int,
) -> RefineOptions | None:
    """The validated options, or None without --refine (then the other --refine-* are refused)."""
    if method is None:
        given = {
            "--refine-scores": scores != _DEFAULTS.scores,
            "--refine-calibration": calibration != _DEFAULTS.calibration,
            "--refine-heldout": heldout != _DEFAULTS.heldout,
            "--refine-neighbours": neighbours != _DEFAULTS.neighbours,
            "--refine-gamma-percentile": gamma_percentile != _DEFAULTS.gamma_percentile,
            "--refine-chain-length": chain_length != _DEFAULTS.chain_length,
        }
        for flag, is_given in given.items():
            if is_given:
                raise GankitError(f"{flag} needs --refine {'|'.join(METHODS)}")
        return None
    return RefineOptions(
        method=method,
        scores=scores,
        calibration=calibration,
        heldout=heldout,
        neighbours=neighbours,
        gamma_percentile=gamma_percentile,
        chain_length=chain_length,
    )


def describe(refined: Refined) -> str:
    """One line: the scores used, acceptance rate, proposals and CPU time per returned sample."""
    stats = refined.stats()
    used, scores = refined.options, ""
    if used is not None:
        calibration = f", {used.calibration} calibration" if used.calibration != "none" else ""
        heldout = f"; held-out real points: {refined.heldout}" if refined.heldout != "none" else ""
        scores = f" ({used.scores} scores{calibration}{heldout})"
    return (
        f"{refined.method}{scores}: acceptance {100 * stats['acceptance_rate']:.1f} %, "
        f"{stats['proposals_per_sample']:.2f} proposals and "
        f"{stats['cpu_ms_per_sample']:.3f} CPU ms per sample"
    )


def sample(
    run_dir: Path = typer.Argument(..., help="A run directory written by `gankit train`."),
    n: int = typer.Option(1000, "--n", help="Number of samples."),
    seed: int = typer.Option(0, "--seed", help="Noise seed: the same seed gives the same samples."),
    out: Path = typer.Option(..., "--out", help="FILE.npy (the samples) or FILE.png (a plot)."),
    label: int | None = typer.Option(
        None, "--label", help="Class to draw (conditional runs).", show_default="every class in turn"
    ),
    refine: str | None = REFINE,
    refine_scores: str = SCORES_OPTION,
    refine_calibration: str = CALIBRATION,
    refine_heldout: int = HELDOUT,
    refine_neighbours: int = NEIGHBOURS,
    refine_gamma_percentile: float = GAMMA_PERCENTILE,
    refine_chain_length: int = CHAIN_LENGTH,
) -> None:
    """Draw N samples from a trained generator (deterministic for a seed), optionally refined."""
    if out.suffix not in (".npy", ".png"):
        raise GankitError(f"--out must end in .npy or .png, got {out.name!r}")
    if not 0 < n <= MAX_SAMPLES:
        raise GankitError(f"--n must be between 1 and {MAX_SAMPLES:_}, got {n}")
    if not 0 <= seed <= 2**62:
        raise GankitError(f"--seed must be between 0 and 2**62, got {seed}")
    options = refine_options(
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
        typer.echo(describe(refined))
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


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
