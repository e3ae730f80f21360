"""``gankit doctor``: a verdict on a finished (or running) run, from its run directory alone.

It reads config.json, metrics.jsonl and findings.jsonl, and nothing of the trainer. The findings
are those the live monitors wrote, plus any the monitors find when replayed over metrics.jsonl
(a run trained with ``monitors = false``, or by a gankit without them, gets diagnosed too).
:func:`plot_diagnosis` draws the curves that matter with a mark where each finding starts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gankit.config import FINDING_NAMES, from_dict
from gankit.diagnose.monitors import read_findings, replay
from gankit.errors import GankitError
from gankit.rundir import CHECKPOINTS, check_run_dir, read_config, read_metrics

PLOT_FILE = "doctor.png"


def diagnose(run_dir: str | Path) -> dict[str, Any]:
    """The verdict on a run directory.

    Returns ``{"run_dir", "data", "objective", "last_step", "verdict", "findings"}``: verdict is
    "healthy" (no findings) or "problems"; findings are findings.jsonl's dicts (name, step,
    detected_at, message, evidence, remedies), ordered by the step where each started.
    """
    path = check_run_dir(run_dir)
    config = from_dict(read_config(path))
    rows = read_metrics(path)
    if not rows:
        raise GankitError(f"{path} has no logged rows yet (metrics.jsonl is empty): nothing to diagnose")
    live = read_findings(path)
    seen = {finding["name"] for finding in live}
    replayed = [f for f in replay(config, rows, path / CHECKPOINTS) if f["name"] not in seen]
    findings = sorted(live + replayed, key=lambda f: (f["step"], FINDING_NAMES.index(f["name"])))
    return {
        "run_dir": str(path),
        "data": config.data,
        "objective": "vae" if config.model == "vae" else config.objective,  # what was trained
        "last_step": rows[-1]["step"],
        "verdict": "problems" if findings else "healthy",
        "findings": findings,
    }


def format_diagnosis(diagnosis: dict[str, Any]) -> str:
    """The human-readable verdict that ``gankit doctor`` prints."""
    lines = [
        f"run: {diagnosis['run_dir']} ({diagnosis['objective']} on {diagnosis['data']}, "
        f"logged up to step {diagnosis['last_step']})"
    ]
    findings = diagnosis["findings"]
    if not findings:
        lines.append("verdict: healthy (no findings)")
        return "\n".join(lines)
    names = ", ".join(f"{f['name']} (from step {f['step']})" for f in findings)
    lines.append(f"verdict: problems: {names}")
    for finding in findings:
        lines.append("")
        lines.append(
            f"{finding['name']}: from step {finding['step']}, detected at step {finding['detected_at']}"
        )
        lines.append(f"  {finding['message']}")
        evidence = ", ".join(f"{key}={_short(value)}" for key, value in finding["evidence"].items())
        lines.append(f"  evidence: {evidence}")
        lines.append("  what to do:")
        lines += [f"    - {remedy}" for remedy in finding["remedies"]]
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_diagnosis(run_dir: str | Path, diagnosis: dict[str, Any], out: str | Path | None = None) -> Path:
    """PNG of losses, D(real) vs D(fake), gradient norms (log) and W1/modes/diversity over steps.

    A dashed vertical line marks the step where each finding starts. Written to
    ``RUN_DIR/doctor.png`` unless ``out`` says otherwise.
    """
    import matplotlib
    from matplotlib.figure import Figure

    path = check_run_dir(run_dir)
    out = Path(out) if out is not None else path / PLOT_FILE
    rows = read_metrics(path)
    classifier = any("p_real" in row for row in rows)

    figure = Figure(figsize=(11, 7.5), layout="constrained")
    axes = figure.subplots(2, 2, sharex=True)
    losses, scores, norms, quality = axes.flat
    _curves(losses, rows, {"d_loss": "D loss", "g_loss": "G loss"})
    losses.set_title("losses")
    if classifier:
        _curves(scores, rows, {"p_real": "D(real)", "p_fake": "D(fake)"})
        scores.set_title("D(real) vs D(fake) (sigmoid means)")
        scores.set_ylim(-0.02, 1.02)
    else:
        _curves(scores, rows, {"d_real": "score on real", "d_fake": "score on fake"})
        scores.set_title("critic scores on real vs fake (their gap estimates W1)")
    _curves(norms, rows, {"d_grad_norm": "D grad norm", "g_grad_norm": "G grad norm"})
    norms.set_yscale("log")
    norms.set_title("gradient norms (log scale)")
    _quality_panel(quality, rows)

    colors = matplotlib.colormaps["tab10"]
    for index, finding in enumerate(diagnosis["findings"]):
        color = colors(3 + index)
        for axis in axes.flat:
            axis.axvline(finding["step"], color=color, linestyle="--", linewidth=1.2)
        losses.plot([], [], color=color, linestyle="--", label=f"{finding['name']} (step {finding['step']})")
    for axis in (losses, scores, norms):
        if axis.get_legend_handles_labels()[0]:  # a VAE run has no GAN curves to name
            axis.legend(fontsize=8, loc="best")
    for axis in axes.flat:
        axis.grid(alpha=0.3)
    for axis in axes[1]:
        axis.set_xlabel("step")
    verdict = diagnosis["verdict"]
    figure.suptitle(f"gankit doctor: {diagnosis['objective']} on {diagnosis['data']}: {verdict}")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    return out


def _series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """Steps and values of ``key`` (null, i.e. non-finite, values become NaN gaps in the line)."""
    steps, values = [], []
    for row in rows:
        if key in row:
            value = row[key]
            steps.append(row["step"])
            values.append(value if isinstance(value, (int, float)) and math.isfinite(value) else math.nan)
    return steps, values


def _curves(axis, rows: list[dict], labels: dict[str, str]) -> None:
    for key, label in labels.items():
        steps, values = _series(rows, key)
        if steps:
            axis.plot(steps, values, label=label, linewidth=1.2)


def _quality_panel(axis, rows: list[dict]) -> None:
    """W1 (left axis) with modes covered or sample diversity (right axis), where they were logged."""
    from matplotlib.ticker import MaxNLocator

    steps, w1 = _series(rows, "eval_w1")
    mode_steps, modes = _series(rows, "eval_modes")
    diversity_steps, diversity = _series(rows, "eval_diversity")
    if not (steps or mode_steps or diversity_steps):
        axis.set_title("no evaluations logged (see eval_every)")
        axis.set_yticks([])
        return
    if steps:
        axis.plot(steps, w1, marker="o", markersize=3, color="tab:purple", label="W1 to the data")
        axis.set_ylabel("W1")
        axis.ticklabel_format(axis="y", useOffset=False)  # W1 itself, not "+0.96 plus a tiny offset"
    right = axis.twinx() if steps else axis  # a second y axis only when W1 takes the first
    if mode_steps:
        total = next(row["eval_modes_total"] for row in rows if "eval_modes_total" in row)
        right.plot(mode_steps, modes, marker="s", markersize=3, color="tab:green", label="modes covered")
        right.set_ylim(-0.3, total + 0.3)
        right.yaxis.set_major_locator(MaxNLocator(integer=True))
        right.set_ylabel(f"modes covered (of {total})")
        axis.set_title("W1 and modes covered")
    elif diversity_steps:
        right.plot(diversity_steps, diversity, marker="s", markersize=3, color="tab:green", label="diversity")
        right.set_ylabel("diversity (generated / real spread)")
        axis.set_title("W1 and sample diversity" if steps else "sample diversity")
    else:
        axis.set_title("W1 to the data")
    handles, labels = axis.get_legend_handles_labels()
    if right is not axis:
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    right.legend(handles, labels, fontsize=8, loc="upper right")
