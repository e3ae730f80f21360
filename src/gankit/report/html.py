"""``gankit report RUN_DIR``: the whole story of a run in one self-contained HTML file.

RUN_DIR/report.html holds the resolved config, the training curves (losses, D(real)/D(fake),
gradient norms on a log scale) with the doctor's findings marked where they start, the quality
metrics over training (W1 and modes for toy data, FID or whatever ``eval_*`` columns the run
logged), sample pictures over training and the evaluation table of the final generator.

It is one file with nothing to fetch: figures are PNGs embedded as base64 ``data:`` URIs and the
page has no script at all, so it opens the same offline, attached to a mail or years later.
Everything is read from the run directory (config.json, metrics.jsonl, findings.jsonl,
samples/, checkpoints/); the trainer is never needed.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from gankit.diagnose.doctor import diagnose
from gankit.errors import GankitError
from gankit.metrics.evaluate import evaluate_run
from gankit.rundir import (
    REPORT,
    atomic_write_bytes,
    check_run_dir,
    list_samples,
    read_config,
    read_metrics,
)

MAX_SAMPLE_PICTURES = 8
FINDING_COLOR = "#c62828"


# --- reading the run directory ------------------------------------------------------------------


def load_diagnosis(run_dir: Path) -> tuple[dict | None, str | None]:
    """The doctor's diagnosis (its findings: live ones from findings.jsonl plus those it finds
    replaying the rows, and its headline).

    Returns ``(diagnosis, note)``; the note says why there is none when the doctor could not look
    (no rows yet).
    """
    try:
        return diagnose(run_dir), None
    except GankitError as error:
        return None, f"the doctor could not look at this run: {error}"


def load_evaluation(run_dir: Path, samples: int) -> tuple[dict[str, Any], str | None]:
    """The final generator's metrics (``gankit eval RUN_DIR``), or a note saying why there are none."""
    try:
        return evaluate_run(run_dir, n=samples), None
    except GankitError as error:
        return {}, f"the final generator could not be evaluated: {error}"


def column(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of one metrics column; null (a non-finite number) becomes NaN (a gap)."""
    present = [row for row in rows if key in row]
    steps = np.array([row["step"] for row in present], dtype=float)
    values = np.array([np.nan if row[key] is None else row[key] for row in present], dtype=float)
    return steps, values


# --- figures ------------------------------------------------------------------------------------


def png_data_uri(fig) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (and the figure closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def mark_findings(axes, findings: list[dict], named: bool = True) -> None:
    """A dashed red line where each finding starts, numbered (and named) as in the findings table,
    and a light red band over the steps it lasted (to its ``ended`` step, or on to the end if open)."""
    for number, finding in enumerate(findings, start=1):
        for ax in axes:
            ax.axvline(finding["step"], color=FINDING_COLOR, linestyle="--", linewidth=1.2)
            if finding.get("ended") is not None:
                ax.axvspan(finding["step"], finding["ended"], color=FINDING_COLOR, alpha=0.08, linewidth=0)
            else:
                ax.axvspan(finding["step"], ax.get_xlim()[1], color=FINDING_COLOR, alpha=0.08, linewidth=0)
        top = axes[0]
        top.annotate(
            f"{number} {finding['name']}" if named else str(number),
            (finding["step"], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            va="top",
            color=FINDING_COLOR,
            fontsize=8,
            fontweight="bold",
        )


def discriminator_columns(rows: list[dict]) -> tuple[str, str, str]:
    """What D says about real and fake: P(real) for a classifier, else the critic's raw scores."""
    if any("p_real" in row for row in rows):
        return "p_real", "p_fake", "D(x) = P(real)"
    return "d_real", "d_fake", "critic score"


def curves_figure(rows: list[dict], findings: list[dict]) -> str:
    """Losses, D(real)/D(fake) and gradient norms (log scale) over steps, findings marked."""
    fig = Figure(figsize=(9, 8.4))
    (loss_ax, d_ax, grad_ax) = fig.subplots(3, 1, sharex=True)
    for key, label, color in (("d_loss", "D loss", "#1565c0"), ("g_loss", "G loss", "#2a9d3a")):
        loss_ax.plot(*column(rows, key), label=label, color=color, linewidth=1.3)
    broken = [row["step"] for row in rows if row.get("d_loss") is None or row.get("g_loss") is None]
    if broken:  # NaN or infinity: the line has a gap there, so say why
        loss_ax.plot(
            broken, np.zeros(len(broken)), "x", color=FINDING_COLOR, transform=loss_ax.get_xaxis_transform()
        )
        loss_ax.plot([], [], "x", color=FINDING_COLOR, label="non-finite loss")
    loss_ax.set_ylabel("loss")
    real_key, fake_key, label = discriminator_columns(rows)
    d_ax.plot(*column(rows, real_key), label="on real data", color="#333333", linewidth=1.3)
    d_ax.plot(*column(rows, fake_key), label="on generated data", color="#e66101", linewidth=1.3)
    d_ax.set_ylabel(label)
    if real_key == "p_real":
        d_ax.set_ylim(-0.03, 1.03)
    for key, label, color in (("d_grad_norm", "D", "#1565c0"), ("g_grad_norm", "G", "#2a9d3a")):
        steps, values = column(rows, key)
        grad_ax.plot(steps, np.where(values > 0, values, np.nan), label=label, color=color, linewidth=1.3)
    grad_ax.set_yscale("log")
    grad_ax.set_ylabel("gradient norm (log)")
    grad_ax.set_xlabel("step (generator updates)")
    for ax in (loss_ax, d_ax, grad_ax):
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    mark_findings([loss_ax, d_ax, grad_ax], findings)
    fig.tight_layout()
    return png_data_uri(fig)


def quality_keys(rows: list[dict]) -> list[str]:
    """The eval_* columns to plot (eval_modes_total is the axis limit of eval_modes, not a curve)."""
    keys = {key for row in rows for key in row if key.startswith("eval_") and key != "eval_modes_total"}
    preferred = ["eval_w1", "eval_modes", "eval_high_quality", "eval_reverse_kl"]  # toy data
    preferred += ["eval_fid", "eval_kid", "eval_kl_to_uniform"]  # images: the distances first
    return [key for key in preferred if key in keys] + sorted(keys - set(preferred))


def quality_figure(rows: list[dict], findings: list[dict]) -> str | None:
    """One small panel per evaluated metric over training (None when the run logged none)."""
    keys = quality_keys(rows)
    if not keys:
        return None
    columns = min(len(keys), 4)
    lines = math.ceil(len(keys) / columns)
    fig = Figure(figsize=(2.5 * columns + 1, 2.6 * lines))
    axes = fig.subplots(lines, columns, squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        steps, values = column(rows, key)
        ax.plot(steps, values, "o-", color="#8e24aa", markersize=3, linewidth=1.2)
        if not np.isfinite(values).any():  # e.g. reverse KL is infinite while modes are missed
            ax.text(0.5, 0.5, "no finite value", ha="center", transform=ax.transAxes, color="#777777")
        ax.set_title(key.removeprefix("eval_").replace("_", " "), fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        if np.isfinite(values).any() and np.nanmin(values) >= 0:
            ax.set_ylim(bottom=0)  # from 0: a 0.1 % change of W1 is not drawn as a plunge
        if key == "eval_modes":
            total = max((row.get("eval_modes_total") or 0) for row in rows)
            ax.set_ylim(-0.3, total + 0.3)
            ax.set_title(f"modes covered (of {total})", fontsize=10)
        mark_findings([ax], findings, named=False)  # small panels: the number only
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return png_data_uri(fig)


def sample_pictures(run_dir: Path, limit: int = MAX_SAMPLE_PICTURES) -> list[tuple[str, str]]:
    """Up to ``limit`` sample pictures spread evenly over training, always the last one: (name, URI)."""
    pictures = list_samples(run_dir)
    if not pictures:
        return []
    chosen = sorted({round(i) for i in np.linspace(0, len(pictures) - 1, min(limit, len(pictures)))})
    return [
        (pictures[i].stem, "data:image/png;base64," + base64.b64encode(pictures[i].read_bytes()).decode())
        for i in chosen
    ]


# --- HTML ---------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return html.escape(str(value))


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if value is None:
        return "–"
    return str(value)


def table(rows: list[list[Any]], header: list[str], element_id: str) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table id="{element_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def note(text: str) -> str:
    return f'<p class="note">{_text(text)}</p>'


def findings_section(diagnosis: dict | None, findings_note: str | None) -> str:
    if diagnosis is None:
        return note(findings_note or "")
    findings = diagnosis["findings"]
    if not findings:
        if diagnosis["too_early"]:
            return f'<p id="verdict">Doctor\'s verdict: {_text(diagnosis["headline"])}.</p>'
        return '<p id="verdict" class="healthy">The doctor found nothing wrong with this run.</p>'
    now = "problems" if any(f.get("ended") is None for f in findings) else "healthy"
    rows = []
    for number, finding in enumerate(findings, start=1):
        remedies = "".join(f"<li>{_text(r)}</li>" for r in finding.get("remedies", []))
        rows.append(
            [
                f'<b class="finding-number">{number}</b>',
                _text(finding["name"]),
                _text(finding["step"]),
                _text("still open" if finding.get("ended") is None else finding["ended"]),
                _text(finding.get("detected_at", "")),
                _text(finding.get("message", "")),
                f"<ul>{remedies}</ul>",
            ]
        )
    header = ["#", "finding", "from step", "until step", "detected at", "what", "what to try"]
    return (
        f'<p id="verdict" class="{now}">Doctor\'s verdict: {_text(diagnosis["headline"])}. The red dashed '
        "lines in the curves mark where each finding starts, the red bands how long it lasted.</p>"
        + table(rows, header, "findings")
    )


def evaluation_section(metrics: dict[str, Any], evaluation_note: str | None, samples: int) -> str:
    if evaluation_note:
        return note(evaluation_note)
    rows = []
    for key, value in metrics.items():
        if key == "modes_total":
            continue
        if key == "modes" and "modes_total" in metrics:
            shown = f"{value} / {metrics['modes_total']}"
        elif key == "high_quality" and isinstance(value, float):
            shown = f"{100 * value:.1f} %"
        else:
            shown = format_value(value)
        rows.append([_text(key.replace("_", " ")), _text(shown)])
    caption = f"<p>{samples} samples of the final generator (noise seed 0), as <code>gankit eval</code>.</p>"
    return caption + table(rows, ["metric", "value"], "evaluation")


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #222; max-width: 1100px; margin: 0 auto;
       padding: 0 18px 40px; }
h1 { font-size: 22px; margin: 18px 0 4px; }
h2 { font-size: 17px; margin: 26px 0 8px; border-bottom: 1px solid #ddd; }
.summary { color: #444; }
.note { color: #8a6d00; background: #fff8e1; padding: 6px 10px; border-radius: 4px; }
.healthy { color: #1b5e20; }
.problems { color: #b71c1c; font-weight: 600; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
ul { margin: 0; padding-left: 18px; }
img { max-width: 100%; }
.samples { display: flex; flex-wrap: wrap; gap: 10px; }
.samples figure { margin: 0; width: 320px; }
figcaption { font-size: 12px; color: #555; text-align: center; }
.finding-number { color: #c62828; }
code { background: #f3f3f3; padding: 0 3px; }
"""


def render(run_dir: Path, eval_samples: int = 2500) -> str:
    """The report's HTML text (see the module docstring for what it holds)."""
    config = read_config(run_dir)
    rows = read_metrics(run_dir)
    diagnosis, findings_note = load_diagnosis(run_dir)
    findings = diagnosis["findings"] if diagnosis else []
    metrics, evaluation_note = load_evaluation(run_dir, eval_samples)
    title = f"{config.get('objective', '?')} on {config.get('data', '?')}"
    last = rows[-1] if rows else {}
    summary = (
        f"{_text(run_dir)} · logged up to step {_text(last.get('step', 0))} of {_text(config.get('steps'))}"
        f" · {format_value(last.get('wall_time'))} s of training"
    )
    parts = [
        f"<h1>gankit report: {_text(title)}</h1>",
        f'<p class="summary">{summary}</p>',
        '<h2 id="findings-title">Doctor\'s findings</h2>',
        findings_section(diagnosis, findings_note),
        "<h2>Training curves</h2>",
    ]
    if rows:
        parts.append(f'<img id="curves" alt="training curves" src="{curves_figure(rows, findings)}">')
        quality = quality_figure(rows, findings)
        parts.append("<h2>Quality over training</h2>")
        parts.append(
            f'<img id="quality" alt="quality over training" src="{quality}">'
            if quality
            else note("This run logged no evaluation (eval_* columns); see the table below for the end.")
        )
    else:
        parts.append(note("metrics.jsonl has no rows yet: nothing to plot."))
    pictures = sample_pictures(run_dir)
    parts.append("<h2>Samples over training</h2>")
    if pictures:
        figures = "".join(
            f'<figure><img alt="{_text(name)}" src="{uri}"><figcaption>{_text(name)}</figcaption></figure>'
            for name, uri in pictures
        )
        parts.append(f'<div class="samples" id="samples">{figures}</div>')
    else:
        parts.append(note("No sample pictures in samples/ (sample_every = 0, or too few steps)."))
    parts.append("<h2>Evaluation of the final generator</h2>")
    parts.append(evaluation_section(metrics, evaluation_note, eval_samples))
    parts.append("<h2>Configuration (resolved)</h2>")
    config_rows = [[f"<code>{_text(k)}</code>", _text(format_value(v))] for k, v in config.items()]
    parts.append(table(config_rows, ["key", "value"], "config"))
    body = "\n".join(parts)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>gankit report: {_text(title)}</title>"
        f'<link rel="icon" href="data:,"><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n'
    )


def write_report(run_dir: str | Path, eval_samples: int = 2500) -> Path:
    """Write RUN_DIR/report.html (atomically) and return its path."""
    path = check_run_dir(run_dir)
    out = path / REPORT
    atomic_write_bytes(out, render(path, eval_samples).encode("utf-8"))
    return out
