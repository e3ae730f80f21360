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
from gankit.diagnose.measured import load_rates, ranked_remedies, remedy_lines
from gankit.diagnose.monitors import CONFIRMATIONS, replay
from gankit.errors import GankitError
from gankit.rundir import CHECKPOINTS, DOCTOR_PLOT, check_run_dir, read_config, read_findings, read_metrics


def diagnose(run_dir: str | Path, rates: list[dict] | None = None) -> dict[str, Any]:
    """The verdict on a run directory, as the run stands at its last logged step.

    Returns ``{"run_dir", "data", "objective", "last_step", "verdict", "headline", "open", "findings",
    "evaluations", "too_early"}``: verdict is "healthy" (no finding open at the end) or "problems";
    ``open`` names the open ones; ``headline`` is the one-line summary ("healthy now; no-progress from
    500 to 4,250"). ``evaluations`` counts the rows with evaluated samples (eval_* keys); with fewer
    than the sample-based findings need, ``too_early`` says so (else None), and the headline does not
    call the run healthy: a verdict on the losses alone would vouch for samples nobody looked at. Findings
    are episodes (name, step, detected_at, ended, closed_at, message, evidence, remedies), ordered
    by the step where each started; ``ended`` is None while one is open.

    The monitors are replayed over metrics.jsonl with today's definitions, so every run (also one
    trained with ``monitors = false`` or by an older gankit) gets the same verdict; findings.jsonl
    adds only what the rows cannot show: a divergence seen in the weights (its record also names the
    checkpoint kept). Any other finding comes from the rows, so a stale one written live by an older
    gankit is dropped rather than kept beside today's verdict.

    Each open finding also gets ``ranked_remedies`` (gankit.diagnose.measured): its remedies ordered
    by how often they fixed that finding in benchmarks/remedies.py, whose measured ``rates`` are read
    from the shipped remedy_rates.json unless given.
    """
    path = check_run_dir(run_dir)
    config = from_dict(read_config(path))
    rows = read_metrics(path)
    if not rows:
        raise GankitError(f"{path} has no logged rows yet (metrics.jsonl is empty): nothing to diagnose")
    replayed = replay(config, rows, path / CHECKPOINTS)
    live = read_findings(path)
    live_divergence = [f for f in live if f["name"] == "divergence"]
    kept = [f for f in replayed if not (live_divergence and f["name"] == "divergence")]
    kept += live_divergence
    findings = sorted(kept, key=lambda f: (f["step"], FINDING_NAMES.index(f["name"])))
    open_names = [f["name"] for f in findings if f.get("ended") is None]
    rates = load_rates() if rates is None else rates
    for finding in findings:
        if finding.get("ended") is None:
            finding["ranked_remedies"] = ranked_remedies(finding, config, path, finding["remedies"], rates)
    diagnosis = {
        "run_dir": str(path),
        "data": config.data,
        "objective": "vae" if config.model == "vae" else config.objective,  # what was trained
        "last_step": rows[-1]["step"],
        "verdict": "problems" if open_names else "healthy",
        "open": open_names,
        "findings": findings,
    }
    diagnosis["evaluations"] = sum(1 for row in rows if any(key.startswith("eval_") for key in row))
    diagnosis["too_early"] = too_early(config.eval_every, diagnosis["last_step"], diagnosis["evaluations"])
    diagnosis["headline"] = headline(findings, diagnosis["too_early"])
    return diagnosis


def too_early(eval_every: int, last_step: int, evaluations: int) -> str | None:
    """Why the samples could not be judged (mode collapse, progress, oscillation, overfitting and
    memorisation all read evaluations, CONFIRMATIONS of them in a row), or None when they could."""
    if evaluations >= CONFIRMATIONS:
        return None
    if not eval_every:
        return "evaluations are off (--eval-every 0), so the samples were not judged"
    logged = f"{evaluations} evaluation{'' if evaluations == 1 else 's'} logged"
    return (
        f"{logged} (every {eval_every:,} steps, the run is at step {last_step:,}); "
        f"judging them needs {CONFIRMATIONS}: train longer or lower --eval-every"
    )


def headline(findings: list[dict[str, Any]], early: str | None = None) -> str:
    """How the run stands now, then what went wrong before and when; ``early``: why the samples
    were not judged (:func:`too_early`), said in place of "healthy" (an open finding comes first).

    "healthy now (no findings)", "healthy now; no-progress from 500 to 4,250",
    "problems now: mode-collapse (since 3,000); earlier: no-progress from 500 to 1,250",
    "no findings in the losses; too early to judge the samples: 0 evaluations logged (...)".
    """
    current = [f"{f['name']} (since {f['step']:,})" for f in findings if f.get("ended") is None]
    closed = [f for f in findings if f.get("ended") is not None]
    earlier = [f"{f['name']} from {f['step']:,} to {f['ended']:,}" for f in closed]
    if current:  # what to act on; unjudged samples can wait
        line = "problems now: " + ", ".join(current)
        return line + ("; earlier: " + ", ".join(earlier) if earlier else "")
    if early:
        line = (
            "nothing open in the losses; earlier: " + ", ".join(earlier)
            if earlier
            else "no findings in the losses"
        )
        return f"{line}; too early to judge the samples: {early}"
    return "healthy now; " + ", ".join(earlier) if earlier else "healthy now (no findings)"


def format_diagnosis(diagnosis: dict[str, Any]) -> str:
    """The human-readable verdict that ``gankit doctor`` prints; its first line is how the run stands now."""
    headline_text = diagnosis.get("headline") or headline(diagnosis["findings"])
    lines = [
        f"verdict: {headline_text}",
        f"run: {diagnosis['run_dir']} ({diagnosis['objective']} on {diagnosis['data']}, "
        f"logged up to step {diagnosis['last_step']})",
    ]
    # open findings first: they are what to act on now; of those, the one with the best measured fix
    findings = sorted(diagnosis["findings"], key=lambda f: (f.get("ended") is not None, -_best_rate(f)))
    for finding in findings:
        lines.append("")
        if finding.get("ended") is None:
            when = f"open since step {finding['step']} (detected at step {finding['detected_at']})"
        else:
            when = f"from step {finding['step']} to {finding['ended']} (over: not acting on it now)"
        lines.append(f"{finding['name']}: {when}")
        lines.append(f"  {finding['message']}")
        evidence = ", ".join(f"{key}={_short(value)}" for key, value in finding["evidence"].items())
        lines.append(f"  evidence: {evidence}")
        if finding.get("ended") is None:
            lines.append("  what to change in this run:")
            remedies = remedy_lines(finding["ranked_remedies"]) if "ranked_remedies" in finding else []
            lines += [f"    - {remedy}" for remedy in remedies or finding["remedies"]]
    return "\n".join(lines)


def _best_rate(finding: dict[str, Any]) -> float:
    """The highest fix rate the benchmark measured among a finding's remedies (0 without any)."""
    rates = [r["rate"] for r in finding.get("ranked_remedies", []) if r["status"] == "helped"]
    return max(rates, default=0.0)


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_short(item) for item in value) + "]"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_diagnosis(run_dir: str | Path, diagnosis: dict[str, Any], out: str | Path | None = None) -> Path:
    """PNG of losses, D(real) vs D(fake), gradient norms (log) and W1/modes/diversity over steps.

        A dashed vertical line marks the step where each finding starts, a band the steps it lasted (to
    now while it is open). W1 is drawn from 0, so its changes show at their true scale. Written to
        ``RUN_DIR/doctor.png`` unless ``out`` says otherwise.
    """
    import matplotlib  # the plot's alone (~230 ms): the diagnosis itself needs no matplotlib
    from matplotlib.figure import Figure

    path = check_run_dir(run_dir)
    out = Path(out) if out is not None else path / DOCTOR_PLOT
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
    last_step = diagnosis["last_step"]
    for index, finding in enumerate(diagnosis["findings"]):
        color = colors(3 + index)
        ended = finding.get("ended")
        for axis in axes.flat:
            axis.axvline(finding["step"], color=color, linestyle="--", linewidth=1.2)
            axis.axvspan(finding["step"], last_step if ended is None else ended, color=color, alpha=0.1, lw=0)
        span = f"{finding['step']}-" + ("now" if ended is None else str(ended))
        losses.plot([], [], color=color, linestyle="--", label=f"{finding['name']} (steps {span})")
    for axis in (losses, scores, norms):
        if axis.get_legend_handles_labels()[0]:  # a VAE run has no GAN curves to name
            axis.legend(fontsize=8, loc="best")
    for axis in axes.flat:
        axis.grid(alpha=0.3)
    for axis in axes[1]:
        axis.set_xlabel("step")
    verdict = diagnosis.get("headline") or diagnosis["verdict"]
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
    from matplotlib.ticker import MaxNLocator  # with plot_diagnosis's matplotlib

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
        if any(math.isfinite(value) for value in w1):
            axis.set_ylim(bottom=0)  # W1 >= 0: from 0, a 0.1 % change is drawn as the sliver it is
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
