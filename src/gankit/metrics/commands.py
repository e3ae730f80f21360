"""``gankit eval RUN_DIR|FILE.npy``: print the metrics of a run or of a file of samples."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from gankit.errors import GankitError
from gankit.refine import commands as refine_flags

# How each known metric is printed, in this order; unknown keys (image metrics) follow as they are.
_LABELS = {
    "modes": "modes covered",
    "high_quality": "high quality",
    "reverse_kl": "reverse KL",
    "w1": "W1",
    "classes": "classes covered",
    "acceptance_rate": "acceptance rate",
    "proposals_per_sample": "proposals per sample",
    "cpu_ms_per_sample": "CPU ms per sample",
}


def format_value(key: str, value, metrics: dict) -> str:
    """One metric as `gankit eval` prints it: modes as 'k / K', high quality in %, None as n/a."""
    if key == "modes" and "modes_total" in metrics:
        return f"{value} / {metrics['modes_total']}"
    if key in ("classes", "floor_classes") and "classes_total" in metrics:
        return f"{value} / {metrics['classes_total']}"
    if value is None:  # undefined, e.g. reverse KL with no high-quality sample
        return "n/a"
    if key in ("high_quality", "acceptance_rate"):
        return f"{100 * value:.2f} %"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return str(value)


# What image metrics were computed on: said in the lines above the table (JSON: keys of their own)
_PROVENANCE = ("features", "reference", "no_floor", "n_samples", "n_reference", "n_floor", "n_floor_max")
FEATURE_LABELS = {
    "digits": "digits features",
    "fashion": "Fashion-MNIST features",
    "inception": "Inception features",
}


def _known_first(metrics: dict) -> list[str]:
    """The metrics' keys, the known ones first, in _LABELS' order."""
    return [key for key in _LABELS if key in metrics] + [key for key in metrics if key not in _LABELS]


def describe_reference(metrics: dict) -> list[str]:
    """The lines that say what image metrics were computed on: the reference images and their n,
    the samples' n, and the floor's n (or why there is none); no lines for toy metrics."""
    if "reference" not in metrics:
        return []
    lines = [
        f"reference: {metrics['reference']}, {metrics['n_reference']:,} images; image metrics of "
        f"{metrics['n_samples']:,} samples"
    ]
    if metrics.get("no_floor"):
        lines.append(metrics["no_floor"])
    elif metrics.get("n_floor"):
        lines[0] += f"; floor_*: {metrics['n_floor']:,} other real images against the same reference"
    return lines


# Totals are shown with their count, as 'k / K' (format_value), never as rows of their own
_TOTALS = ("modes_total", "classes_total")


def format_table(metrics: dict[str, float | None]) -> str:
    """Two aligned columns: metric and value."""
    skip = (*_TOTALS, *_PROVENANCE)
    keys = [key for key in _known_first(metrics) if key not in skip]
    rows = [(_LABELS.get(key, key), format_value(key, metrics[key], metrics)) for key in keys]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {text}" for label, text in rows)


# --checkpoints: the metric whose lowest value the table points out, the first one a run has
_CHECKPOINT_TARGETS = ("kl_to_uniform", "fid", "w1")


def format_checkpoints(rows: list[dict]) -> str:
    """One line per checkpoint (its step and the metrics that are not floors or per-class), the floors
    (which do not change with the checkpoint), and the step with the lowest FID / KL / W1."""
    first = rows[0]
    skip = ("step", *_TOTALS, *_PROVENANCE)
    keys = ["step"] + [
        key for key in _known_first(first) if key not in skip and not key.startswith(("floor_", "fid_class_"))
    ]
    table = [[_LABELS.get(key, key) for key in keys]]
    table += [[format_value(key, row[key], row) for key in keys] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(keys))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in table]
    floors = {key.removeprefix("floor_"): value for key, value in first.items() if key.startswith("floor_")}
    if floors:
        shown = ", ".join(f"{key} {format_value(key, value, floors)}" for key, value in floors.items())
        lines.append(f"real-vs-real floor: {shown}")
    target = next((key for key in _CHECKPOINT_TARGETS if key in first), None)
    defined = [row for row in rows if target is not None and row[target] is not None]
    if defined:
        best = min(defined, key=lambda row: row[target])
        where = (
            "the last checkpoint"
            if best is rows[-1]
            else f"{len(rows) - 1 - rows.index(best)} checkpoint(s) before the last"
        )
        lines.append(f"lowest {target}: {best[target]:.4g} at step {best['step']} ({where})")
    return "\n".join(lines)


def eval_command(
    source: Path = typer.Argument(..., help="A run directory, or a .npy file of samples (n, *shape)."),
    data: str | None = typer.Option(
        None, "--data", help="Data set to compare with (required for a file).", show_default="the run's data"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    n: int | None = typer.Option(
        None,
        "--n",
        help="Samples: drawn from a run, or the first N of a file.",
        show_default="2500 (26000 for stacked-digits) / whole file",
    ),
    seed: int = typer.Option(0, "--seed", help="Noise seed for a run's samples."),
    checkpoints: bool = typer.Option(
        False,
        "--checkpoints",
        help="Score every checkpoint the run kept (oldest first; --keep-checkpoints at training sets how"
        " many): was it still improving when training stopped?",
    ),
    features: str = typer.Option(
        "auto",
        "--features",
        help="Image metrics' feature network: auto (the shipped network trained on the data set:"
        " fashion on fashion-mnist, digits on every other), digits or fashion (shipped, offline), or"
        " inception (the standard FID Inception; weights downloaded once, or $GANKIT_INCEPTION).",
    ),
    image_size: int | None = typer.Option(
        None,
        "--image-size",
        help="Resize image data to this size (for a file's samples).",
        show_default="the run's",
    ),
    refine: str | None = refine_flags.REFINE,
    refine_scores: str = refine_flags.SCORES_OPTION,
    refine_calibration: str = refine_flags.CALIBRATION,
    refine_heldout: int = refine_flags.HELDOUT,
    refine_neighbours: int = refine_flags.NEIGHBOURS,
    refine_gamma_percentile: float = refine_flags.GAMMA_PERCENTILE,
    refine_chain_length: int = refine_flags.CHAIN_LENGTH,
) -> None:
    """Measure a run or a file of samples. Toy data: modes, high-quality %, reverse KL, W1. Image data:
    FID, KID, precision, recall, density, coverage and sharpness, each beside its real-vs-real floor
    at equal n, against a run's validation part, else the published test split (mnist,
    fashion-mnist, cifar10), else the training images; the output says which, and how many.

    With --refine, the same metrics of the refined samples follow in their own section (JSON: the
    "refined" object), with the acceptance rate and the cost per sample; raw rows stay raw.
    """
    from gankit.metrics.evaluate import (
        default_samples,
        evaluate_refined,
        evaluate_run,
        evaluate_samples,
        load_samples,
    )
    from gankit.metrics.images import FEATURE_NETS
    from gankit.rundir import dumps, read_config

    options = refine_flags.refine_options(
        refine,
        refine_scores,
        refine_calibration,
        refine_heldout,
        refine_neighbours,
        refine_gamma_percentile,
        refine_chain_length,
    )
    if n is not None and n <= 0:
        raise GankitError(f"--n must be > 0, got {n}")
    if features != "auto" and features not in FEATURE_NETS:
        raise GankitError(f"--features must be one of {', '.join(FEATURE_NETS)} or auto, got {features!r}")
    if options is not None and not source.is_dir():
        raise GankitError("--refine needs a run directory (its generator and discriminator), not a file")
    if checkpoints:
        if not source.is_dir():
            raise GankitError(f"--checkpoints needs a run directory (its checkpoints), not {source}")
        if options is not None:
            raise GankitError("--checkpoints scores raw samples; --refine refines the last checkpoint only")
        _eval_checkpoints(source, data, n, seed, features, as_json)
        return
    refined = None
    if source.is_dir():
        data = data or read_config(source)["data"]
        count = n or default_samples(data)
        metrics = evaluate_run(source, n=count, seed=seed, data_name=data, features=features)
        if options is not None:
            refined = evaluate_refined(source, options, n=count, seed=seed, data_name=data, features=features)
    elif source.suffix == ".npy" or not source.exists():
        if source.suffix != ".npy":
            raise GankitError(f"not found: {source} (expected a run directory or a .npy file)")
        if data is None:
            raise GankitError("--data is required for a .npy file (which data set the samples imitate)")
        samples = load_samples(source)
        if n is not None:
            if n > len(samples):
                raise GankitError(f"--n {n} is more than the {len(samples)} samples in {source}")
            samples = samples[:n]
        count = len(samples)
        metrics = evaluate_samples(samples, data, image_size, features)
    else:
        raise GankitError(f"{source} is neither a run directory nor a .npy file")
    if as_json:
        extra = {} if refined is None else {"refined": refined}
        typer.echo(dumps({"source": str(source), "data": data, "n": count, **metrics, **extra}))
    else:
        on = f" ({FEATURE_LABELS[metrics['features']]})" if "features" in metrics else ""
        typer.echo(f"{source}: {count} samples against {data}{on}")
        for line in describe_reference(metrics):
            typer.echo(line)
        typer.echo(format_table(metrics))
        if refined is not None:
            typer.echo(
                f"\nrefined with {refined['method']} (scores {refined['options']['scores']}, "
                f"calibration {refined['options']['calibration']}; held-out real points: "
                f"{refined['heldout']}):"
            )
            hidden = ("method", "options", "heldout")
            shown = {key: value for key, value in refined.items() if key not in hidden}
            for line in describe_reference(shown):
                typer.echo(line)
            typer.echo(format_table(shown))


def _eval_checkpoints(source: Path, data: str | None, n: int | None, seed: int, features: str, as_json: bool):
    from gankit.metrics.evaluate import default_samples, evaluate_checkpoints
    from gankit.rundir import dumps, read_config

    data = data or read_config(source)["data"]
    count = n or default_samples(data)
    rows = evaluate_checkpoints(source, n=count, seed=seed, data_name=data, features=features)
    # what every row was scored against (the same for all), said once
    shared = {key: rows[0][key] for key in _PROVENANCE if key in rows[0]}
    rows = [{key: value for key, value in row.items() if key not in shared} for row in rows]
    if as_json:
        typer.echo(dumps({"source": str(source), "data": data, "n": count, **shared, "checkpoints": rows}))
    else:
        on = f" ({FEATURE_LABELS[shared['features']]})" if "features" in shared else ""
        kept = f"{len(rows)} checkpoint" + ("" if len(rows) == 1 else "s")
        typer.echo(f"{source}: {kept}, {count} samples each against {data}{on}")
        for line in describe_reference(shared):
            typer.echo(line)
        typer.echo(format_checkpoints(rows))


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
