"""The ``--refine`` flags that ``gankit sample`` and ``gankit eval`` share (see gankit.refine)."""

from __future__ import annotations

import typer

from gankit.errors import GankitError
from gankit.refine import CALIBRATIONS, METHODS, SCORES, Refined, RefineOptions

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
