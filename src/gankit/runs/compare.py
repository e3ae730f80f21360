"""``gankit compare``: one row per group of runs — n, mean ± std, median, a 95 % t interval of the
mean, best.

Works on sweep directories (every run under DIR/trials, grouped by the sweep's grid keys except
``seed``), on a sweep's Optuna storage alone (``--storage``: the result each finished trial keeps in
its study, for when the run directories are gone: a fresh clone with the journal committed), and on
any run directories. A run's value is the last finite value of the metric in its metrics.jsonl, or
the metric in its eval.json (written by a sweep whose metric is a `gankit eval` key).

Runs without a value are counted in the ``missing`` column, never dropped silently. A sweep trial
counts only once it finished: one without trial.json (still running, or stopped before its end and
not yet rerun) is *unfinished*, one whose training raised is *crashed*, one stopped by the pruner is
*pruned*; the footer says how many of each. A plain run directory counts at its last logged value.

Runs with a CPU-time budget (``time_budget_s``) are equal only if they ran at one speed: their rows
add the median generator steps trained, and runs that differ only in their seed but trained clearly
different numbers of steps under the same budget are named in a warning (another host, other load).

A row's numbers and the two budget rules (whether seed runs' validation curves had settled, whether
a search's best value so far had flattened) are gankit.stats; this module collects the runs and
their curves (:func:`budget_curves`, :func:`common_curves`), groups them and formats the table;
``--plot`` draws with gankit.report.compare_plots.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gankit.errors import GankitError
from gankit.rundir import EVAL, TRIAL, check_run_dir, dumps, is_run_dir, read_config, read_metrics
from gankit.runs.spec import group_key, parse_spec
from gankit.runs.sweep import (
    MAX_RETRIES,
    SPEC,
    SWEEP,
    TRIALS,
    evaluation_columns,
    journal_path,
    last_values,
    open_storage,
)
from gankit.stats import best_so_far, summarize

# Imported inside the functions that use them, for their cost: optuna (only for a study's storage),
# the plot (matplotlib, only for --plot).

# Metrics where larger is better; every other metric is compared as "smaller is better".
MAXIMIZED = {"modes", "high_quality", "precision", "recall", "density", "coverage"}
# Runs that differ only in their seed, under the same CPU-time budget, may train this much more steps
# (max / min - 1) than each other before compare warns that they ran at different speeds.
MAX_SPEED_SPREAD = 0.15
# Why a sweep trial has no value, besides a metric it never logged (status of a RunRecord)
COMPLETE, UNFINISHED, CRASHED, PRUNED = "complete", "unfinished", "crashed", "pruned"
MISSING_REASONS = (UNFINISHED, CRASHED, PRUNED)
TRIAL_STATES = {"complete": COMPLETE, "pruned": PRUNED, "failed": CRASHED}  # trial.json "state"


@dataclass
class RunRecord:
    """One run: its config, its metric value (None: missing), its sweep trial (if any) and whether
    that trial finished (``status``: complete, unfinished, crashed or pruned)."""

    path: Path
    config: dict[str, Any]
    value: float | None
    trial: dict[str, Any] | None = None  # RUN_DIR/trial.json of a sweep trial, or its stored result
    steps: int | None = None  # the last logged step: the generator steps the run trained
    status: str = COMPLETE


@dataclass
class Comparison:
    metric: str
    direction: str
    by: list[str]
    rows: list[dict[str, Any]]
    records: dict[str, list[RunRecord]]  # group -> its runs
    best_configs: list[dict[str, Any]] = field(default_factory=list)  # a search's best trial per group
    missing: int = 0
    time_budgeted: bool = False  # some run had a CPU-time budget: rows carry their median steps
    speed_warnings: list[str] = field(default_factory=list)  # see speed_warnings()
    missing_reasons: dict[str, int] = field(default_factory=dict)  # unfinished/crashed/pruned: count


def is_sweep_dir(path: Path) -> bool:
    return (path / SPEC).is_file() and (path / SWEEP).is_file()


def collect(sources: list[Path], metric: str | None, storage: str | None = None, sweep: str | None = None):
    """The run records of every source (sweep dirs, run dirs and the sweeps kept in ``storage``) and
    the first sweep's spec."""
    spec, runs = None, []
    for source in sources:
        if source.is_dir() and is_sweep_dir(source):
            if spec is None:
                spec = parse_spec((source / SPEC).read_text(), str(source / SPEC))
            trials = source / TRIALS
            found = sorted(p for p in trials.iterdir() if is_run_dir(p)) if trials.is_dir() else []
            runs += [(path, True) for path in found]
        else:
            runs.append((check_run_dir(source), False))
    stored = stored_sweeps(storage, sweep) if storage is not None else []
    spec = spec or (stored[0][0] if stored else None)
    metric = metric or (spec.metric if spec else None)
    if metric is None:
        raise GankitError("--metric is required for run directories that are not a sweep (e.g. eval_w1)")
    records = [read_record(path, metric, in_sweep) for path, in_sweep in runs]
    for stored_spec, trials in stored:
        records += [stored_record(trial, metric, stored_spec) for trial in trials]
    return spec, metric, records


def read_record(path: Path, metric: str, in_sweep: bool = False) -> RunRecord:
    """A run directory's record. A sweep trial (``in_sweep``) without trial.json has not finished."""
    trial = _read_json(path / TRIAL)
    rows = read_metrics(path)
    value = value_of(metric, last_values(rows), lambda: _read_json(path / EVAL))
    if trial is not None:
        status = TRIAL_STATES.get(trial.get("state"), UNFINISHED)
    else:
        status = UNFINISHED if in_sweep else COMPLETE
    steps = rows[-1].get("step") if rows else None
    return RunRecord(path, read_config(path), value if status == COMPLETE else None, trial, steps, status)


def value_of(metric: str, last: dict[str, float], evaluated) -> float | None:
    """A run's value: the metric's last finite value in metrics.jsonl (``last``), else its value in
    eval.json (``evaluated``: a callable, read only when needed, returning the dict or None)."""
    if _finite(last.get(metric)):
        return float(last[metric])
    found = (evaluated() or {}).get(metric)
    return float(found) if _finite(found) else None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def stored_sweeps(url: str, name: str | None) -> list[tuple[Any, list]]:
    """Each gankit sweep kept in an Optuna storage: its spec and, per run directory its trials named,
    the latest attempt (a rerun of a dead or interrupted trial replaces it, as in the directory)."""
    journal = journal_path(url)
    if journal is not None and not journal.is_file():  # opening it would create an empty one
        raise GankitError(f"sweep journal not found: {journal}")
    storage = open_storage(url)
    by_spec: dict[str, list] = {}
    for study in storage.get_all_studies():
        if "cell" in study.user_attrs:  # a grid cell's study (the others are retry claims)
            by_spec.setdefault(study.user_attrs.get("spec"), []).append(study)
    if None in by_spec:
        raise GankitError(
            f"{url} holds a sweep made before gankit kept its results in the storage; compare its directory"
        )
    sweeps = []
    for text, studies in by_spec.items():
        spec = parse_spec(text, f"the spec kept in {url}")
        if name is not None and spec.name != name:
            continue
        latest: dict[str, Any] = {}
        for study in studies:
            for trial in storage.get_all_trials(study._study_id, deepcopy=False):  # by number
                run_dir = trial.user_attrs.get("run_dir")
                if run_dir is not None and not trial.user_attrs.get("surplus"):  # it started
                    latest[run_dir] = trial
        sweeps.append((spec, [latest[key] for key in sorted(latest)]))
    if not sweeps and name is None:
        raise GankitError(f"no gankit sweep in {url}")
    if not sweeps:
        held = ", ".join(sorted(parse_spec(text).name for text in by_spec)) or "none"
        raise GankitError(f"no gankit sweep {name} in {url}; it holds: {held}")
    return sweeps


def stored_record(trial, metric: str, spec) -> RunRecord:
    """A record from a trial's stored result (sweep.finish_trial), as read_record reads its directory:
    a trial that has not finished has only its configuration, from the spec."""
    from optuna.trial import TrialState

    result = trial.user_attrs.get("result")  # a rerun inherits its original's: its state decides
    if trial.state in (TrialState.RUNNING, TrialState.WAITING) or _rerun_pending(trial):
        status, result = UNFINISHED, None
    elif result:  # as its trial.json says (a complete trial without a finite value fails in Optuna)
        status = TRIAL_STATES.get(result.get("state"), UNFINISHED)
    elif trial.state == TrialState.FAIL:
        status = CRASHED  # it died without a result and is not rerun (its reruns used up)
    else:  # finished by a gankit that kept no results in the study: only Optuna's value
        status = PRUNED if trial.state == TrialState.PRUNED else COMPLETE
        metrics = {} if trial.value is None else {spec.metric: trial.value}
        result = {"cell": trial.user_attrs.get("cell", {}), "params": trial.params, "metrics": metrics}
    result = result or {}
    value = value_of(metric, result.get("metrics", {}), lambda: result.get("eval"))
    config = result.get("config") or spec.config_values(trial.user_attrs.get("cell", {}), trial.params)
    path = Path(trial.user_attrs["run_dir"])
    steps = result.get("steps")
    return RunRecord(path, config, value if status == COMPLETE else None, result or None, steps, status)


def _rerun_pending(trial) -> bool:
    """A FAIL that the next start reruns: interrupted (Ctrl-C, SIGTERM, a dead worker) with retries left."""
    from optuna.trial import TrialState

    retries = len(trial.system_attrs.get("retry_history", []))
    interrupted = trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted")
    return bool(interrupted) and retries < MAX_RETRIES


def default_by(spec, records: list[RunRecord]) -> list[str]:
    """A sweep's grid keys except seed; for plain runs the config keys that differ, except seed."""
    if spec is not None:
        return [key for key in spec.grid if key != "seed"]
    if not records:
        return []
    # "extra": the empty dict that configs kept in a study's storage before the key was removed
    keys = [key for key in records[0].config if key not in ("seed", "extra", "speed")]
    return [key for key in keys if len({json.dumps(r.config.get(key)) for r in records}) > 1]


def group_of(record: RunRecord, by: list[str]) -> str:
    cell = (record.trial or {}).get("cell", {})
    values = {}
    for key in by:
        if key in cell:
            values[key] = cell[key]
        elif key in record.config:
            values[key] = record.config[key]
        elif key == "beta1" and record.config.get("betas"):
            values[key] = record.config["betas"][0]
        else:
            raise GankitError(f"--by {key!r} is not a config key of {record.path}")
    return group_key(values, by)


def compare(
    sources: list[Path],
    by: list[str] | None = None,
    metric: str | None = None,
    storage: str | None = None,
    sweep: str | None = None,
) -> Comparison:
    """The table of ``sources`` (sweep and run directories) and of the sweeps kept in ``storage`` (a
    storage URL or ``journal:FILE``; ``sweep`` picks one of them by name)."""
    spec, metric, records = collect(sources, metric, storage, sweep)
    if not records:
        where = [*map(str, sources), *([storage] if storage else [])]
        raise GankitError(f"no runs found in {', '.join(where)}")
    if spec is not None and metric == spec.metric:
        direction = spec.direction
    else:
        direction = "maximize" if metric.removeprefix("eval_") in MAXIMIZED else "minimize"
    by = default_by(spec, records) if by is None else by
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(group_of(record, by), []).append(record)
    if spec is not None and set(by) <= set(spec.grid):  # a sweep's groups in the order of its grid
        order = [group_key(cell, by) for cell in spec.cells()]
        groups = dict(
            sorted(groups.items(), key=lambda item: order.index(item[0]) if item[0] in order else 0)
        )
    time_budgeted = any(r.config.get("time_budget_s") for r in records)
    rows = []
    for group, members in groups.items():
        values = [r.value for r in members if r.value is not None]
        row = {"group": group, **summarize(values, direction), "missing": len(members) - len(values)}
        row |= {reason: sum(r.status == reason for r in members) for reason in MISSING_REASONS}
        if time_budgeted:  # what the budget bought: runs stopped early (pruned, unfinished) left out
            steps = [r.steps for r in members if r.steps is not None and r.status == COMPLETE]
            row["steps"] = int(np.median(steps)) if steps else None
        rows.append(row)
    comparison = Comparison(metric, direction, by, rows, groups, missing=sum(r["missing"] for r in rows))
    comparison.missing_reasons = {reason: sum(row[reason] for row in rows) for reason in MISSING_REASONS}
    comparison.time_budgeted = time_budgeted
    comparison.speed_warnings = speed_warnings(records)
    if spec is not None and spec.search:
        comparison.best_configs = best_configs(groups, direction)
    return comparison


def speed_warnings(records: list[RunRecord]) -> list[str]:
    """One line per set of runs that differ only in their seed, share a CPU-time budget and trained
    steps more than MAX_SPEED_SPREAD apart: with the same work per step, such runs ran at different
    speeds (another host or other load on it), so their equal budgets were not equal compute."""
    twins: dict[str, list[RunRecord]] = {}
    for record in records:
        stopped = record.status != COMPLETE  # pruned, crashed or not finished: stopped early
        if record.config.get("time_budget_s") and record.steps and not stopped:
            # speed: the timings behind amp and threads, not a setting (the settings are compared)
            settings = {k: v for k, v in record.config.items() if k not in ("seed", "speed")}
            key = json.dumps(settings, sort_keys=True)
            twins.setdefault(key, []).append(record)
    lines = []
    for members in twins.values():
        fewest = min(members, key=lambda r: r.steps)
        most = max(members, key=lambda r: r.steps)
        if most.steps > fewest.steps * (1 + MAX_SPEED_SPREAD):
            budget = fewest.config["time_budget_s"]
            lines.append(
                "unequal speed: runs that differ only in their seed trained"
                f" {fewest.steps:,} ({fewest.path.name}) to {most.steps:,} ({most.path.name}) steps in the"
                f" same {budget:g} CPU-s budget; unless one stopped early for another reason, they ran at"
                " different speeds (another host or load) and their budgets were not equal"
            )
    return lines


def load_words(records: list[RunRecord], cores: int) -> str:
    """The machine's 15-minute load average as the runs finished (a sweep trial records it:
    gankit.runs.sweep.finish_trial), in words for a page's CPU figures: its range, how many runs
    recorded it, and whether it went above ``cores``, where CPU time a step is not comparable
    (processes shared the cores, so a speed table is not published)."""
    loads = [r.trial["load_average"][2] for r in records if r.trial and r.trial.get("load_average")]
    if not loads:
        return "load average not recorded (the runs predate the record)"
    words = f"load average (15 min) {min(loads):.1f}-{max(loads):.1f} as the runs finished"
    if len(loads) < len(records):
        words += f" ({len(loads)} of {len(records)} runs recorded it)"
    if max(loads) > cores:
        words += f"; above the machine's {cores} cores, so CPU-s a step are costs, not a speed comparison"
    return words


def best_configs(groups: dict[str, list[RunRecord]], direction: str) -> list[dict[str, Any]]:
    """Per group, the searched parameters and the grid cell of its best trial (to re-run on fresh seeds).

    ``cell`` keeps the grid values with their types (``spectral_norm = true``, a list of augment
    policies), which the group's readable name does not."""
    best = []
    for group, members in groups.items():
        scored = [r for r in members if r.value is not None and r.trial is not None]
        if not scored:
            continue
        pick = min if direction == "minimize" else max
        top = pick(scored, key=lambda r: r.value)
        best.append(
            {
                "group": group,
                "value": top.value,
                "params": top.trial["params"],
                "cell": top.trial.get("cell", {}),
                "run": str(top.path),
            }
        )
    return best


# ---------------------------------------------------------------------------------------------------
# Output formats


COLUMNS = ("group", "n", "missing", "mean", "std", "median", "ci_low", "ci_high", "best", *MISSING_REASONS)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _cells(row: dict) -> list[str]:
    mean = _num(row["mean"]) + ("" if row["std"] is None else f" ± {row['std']:.2g}")
    ci = "—" if row["ci_low"] is None else f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}]"
    cells = [
        row["group"],
        str(row["n"]),
        str(row["missing"]),
        mean,
        _num(row["median"]),
        ci,
        _num(row["best"]),
    ]
    if "steps" in row:
        cells.append("—" if row["steps"] is None else f"{row['steps']:,}")
    return cells


HEADERS = ["group", "n", "missing", "mean ± std", "median", "95 % CI of the mean", "best"]
STEPS_HEADER = "steps (median)"  # only where runs had a CPU-time budget


def _headers(comparison: Comparison) -> list[str]:
    return HEADERS + ([STEPS_HEADER] if comparison.time_budgeted else [])


def format_text(comparison: Comparison) -> str:
    headers = _headers(comparison)
    table = [headers] + [_cells(row) for row in comparison.rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    lines = [
        f"{comparison.metric} ({comparison.direction}), grouped by {', '.join(comparison.by) or 'nothing'}"
    ]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    lines += _footer(comparison)
    return "\n".join(lines)


def format_markdown(comparison: Comparison) -> str:
    headers = _headers(comparison)
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in comparison.rows]
    footer = _footer(comparison)
    return "\n".join(lines + ([""] + footer if footer else []))


def _footer(comparison: Comparison) -> list[str]:
    lines = list(comparison.speed_warnings)
    if comparison.missing:
        lines.append(_missing_line(comparison))
    if comparison.best_configs:
        lines.append("best configuration per group:")
        for best in comparison.best_configs:
            params = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items()
            )
            lines.append(
                f"  {best['group']}: {comparison.metric} {best['value']:.4g} with {params} ({best['run']})"
            )
    return lines


def _missing_line(comparison: Comparison) -> str:
    """How many runs the missing column counts, and why: a sweep trial that has not finished, crashed or
    was pruned has no value, like a run that never logged a finite value of the metric."""
    reasons = comparison.missing_reasons
    parts = [f"{reasons[reason]} {reason}" for reason in MISSING_REASONS if reasons.get(reason)]
    other = comparison.missing - sum(reasons.values())
    if other == comparison.missing:
        return f"{other} run(s) without a finite {comparison.metric} (the missing column)"
    if other:
        parts.append(f"{other} without a finite {comparison.metric}")
    line = f"{comparison.missing} run(s) missing (the missing column): {', '.join(parts)}"
    if reasons.get(UNFINISHED):
        line += "; unfinished: still running, or stopped and rerun by `gankit sweep --resume`"
    return line


def format_csv(comparison: Comparison) -> str:
    buffer = io.StringIO()
    columns = COLUMNS + (("steps",) if comparison.time_budgeted else ())
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in comparison.rows:
        writer.writerow({key: "" if row[key] is None else row[key] for key in columns})
    return buffer.getvalue().rstrip("\n")


def to_json(comparison: Comparison) -> str:
    return dumps(
        {
            "metric": comparison.metric,
            "direction": comparison.direction,
            "by": comparison.by,
            "groups": comparison.rows,
            "missing": comparison.missing,
            "missing_reasons": comparison.missing_reasons,
            "best_configs": comparison.best_configs,
            "speed_warnings": comparison.speed_warnings,
        }
    )


# ---------------------------------------------------------------------------------------------------
# The curves behind a table (read by gankit.stats' budget rules), and the plot


def spent_cpu(record: RunRecord) -> float:
    """What a trial cost the search: its run's CPU seconds plus those of earlier attempts whose work
    was lost (a rerun from scratch; runs/sweep.py keeps them apart as discarded_cpu_time)."""
    trial = record.trial or {}
    return (trial.get("cpu_time") or 0.0) + (trial.get("discarded_cpu_time") or 0.0)


def budget_curves(records: list[RunRecord], direction: str) -> tuple[list[int], list[float], list[float]]:
    """Best value so far after each finished trial (in finishing order), and the CPU seconds spent."""
    trials = sorted((r for r in records if r.trial), key=lambda r: r.trial.get("finished_at", ""))
    costs = [spent_cpu(record) for record in trials]
    return best_so_far([record.value for record in trials], costs, direction)


def evaluation_curve(record: RunRecord, key: str) -> tuple[list[int], list[float | None]]:
    """A run's validation curve of ``key``: (steps, values), from the evaluations a sweep's stored
    result keeps, else from the run directory's metrics.jsonl."""
    columns = (record.trial or {}).get("evaluations")
    if columns is None and record.path.is_dir():
        columns = evaluation_columns(read_metrics(record.path))
    columns = columns or {}
    return list(columns.get("step", [])), list(columns.get(key, []))


def common_curves(records: list[RunRecord], key: str) -> tuple[list[int], np.ndarray]:
    """The runs' curves of ``key`` at the steps every run evaluated: (steps, values of shape (runs,
    steps), NaN where a run's value was not finite)."""
    curves = [dict(zip(*evaluation_curve(r, key), strict=True)) for r in records]
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    values = [[np.nan if c[s] is None else c[s] for s in steps] for c in curves]
    return steps, np.asarray(values, dtype=float).reshape(len(curves), len(steps))


def plot(comparison: Comparison, path: Path) -> Path:
    """``--plot``: each group's values and, for a sweep, its budget curves (report/compare_plots.py)."""
    from gankit.report.compare_plots import plot_comparison

    records = comparison.records
    values = {name: [r.value for r in members if r.value is not None] for name, members in records.items()}
    budgets = None
    if any(r.trial for members in records.values() for r in members):
        budgets = {name: budget_curves(members, comparison.direction) for name, members in records.items()}
    return plot_comparison(path, comparison.metric, comparison.direction, values, budgets)
