"""Remedies ranked by how often they fixed the same finding in gankit's own benchmark.

benchmarks/remedies.py breaks runs on purpose (a collapsed grid, a too-strong D, ...), applies each
candidate remedy at the broken run's budget, restarting from scratch or starting from the broken
run's checkpoint where the finding was detected (``--init-from``), and counts a run as fixed when the
finding is closed at its end *and* the outcome metric recovered. It writes the counts to
``remedy_rates.json`` beside this module (its only writer; docs/benchmarks/remedies.md is the page).

:func:`ranked_remedies` turns them into what the doctor prints for one open finding: the measured
remedies of the benchmark case nearest the run among those whose D is of its kind, classifier or
critic, and whose cause the run shares where a case names one (a stalled case's rates are for runs at
far too small learning rates: gankit.diagnose.remedies.CAUSES) (same data and objective, else same
data, else any), ordered by their fix rate, each with its
basis ("fixed 4 of 5 collapsed grid runs (restart with --coverage-weight 10)"); then the remedies of
:mod:`gankit.diagnose.remedies` that were never measured, said so; last the measured ones that fixed
none. A remedy the run already applies (every value of it equal to the run's) is left out.
:func:`advice` is the same list as a live alarm prints it during training, so the alarm and the
doctor never give different advice.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from gankit.config import FLAGS, TrainConfig, to_dict
from gankit.diagnose.remedies import has_cause
from gankit.engine.restore import checkpoint_after_detection, kept_checkpoint_steps
from gankit.objectives import OBJECTIVES

RATES_FILE = Path(__file__).with_name("remedy_rates.json")
WAYS = ("restart", "init-from", "sampling")  # a fresh run; from the broken run's checkpoint; no training
_FLAG = re.compile(r"--[a-z0-9][a-z0-9-]*(?: (?!--)[^\s()]+)?")


def load_rates(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The benchmark's measured rates (an empty list where it has measured nothing yet)."""
    path = RATES_FILE if path is None else Path(path)
    if not path.is_file():
        return []
    return json.loads(path.read_text())["rates"]


def flag_set(text: str) -> frozenset[str]:
    """The ``--flag value`` pairs in a remedy's text, as written."""
    return frozenset(_FLAG.findall(text))


# every spelling of a train flag -> its config key ("--gp-weight" and "--gradient-penalty-weight")
_KEY_OF = {name: key for key, flag in FLAGS.items() for name in flag.names or ["--" + key.replace("_", "-")]}


def flag_meaning(text: str) -> frozenset[tuple[str, str]]:
    """What the ``--flag value`` pairs in a remedy's text set, as (config key, value) pairs: how a
    suggestion is matched with a measurement, whichever spelling of a flag or a number either uses
    ("--gp-weight 0.1" is "--gradient-penalty-weight 0.1"; "--d-lr 7e-5" is "--d-lr 7e-05")."""
    pairs = []
    for pair in flag_set(text):
        name, _, value = pair.partition(" ")
        with contextlib.suppress(ValueError):
            value = repr(float(value))
        pairs.append((_KEY_OF.get(name, name), value))
    return frozenset(pairs)


def is_classifier(objective: str | None) -> bool:
    """Whether an objective's D is a classifier (a logit) rather than a critic (an unbounded score)."""
    return OBJECTIVES[objective or TrainConfig().objective].is_classifier


def cases_for(name: str, config: TrainConfig, rates: list[dict]) -> list[dict]:
    """The rates of finding ``name`` from the benchmark cases nearest this run, among the cases whose D
    is of the run's kind, classifier or critic (a remedy measured on one kind, --critic-steps 5 or
    --gp-weight 0.1, means another thing or nothing to the other), and whose cause, if the case names
    one, the run shares (gankit.diagnose.remedies.CAUSES): the same data and objective, else the same
    data, else every such case."""
    kind = is_classifier(config.objective)
    rows = [
        row
        for row in rates
        if row["finding"] == name
        and is_classifier(row["objective"]) == kind
        and has_cause(row.get("cause"), config)
    ]
    for near in (
        lambda row: (row["data"], row["objective"]) == (config.data, config.objective),
        lambda row: row["data"] == config.data,
    ):
        if any(near(row) for row in rows):
            return [row for row in rows if near(row)]
    return rows


def already_applied(row: dict, config: TrainConfig) -> bool:
    """Whether the run already has every value the remedy sets (then suggesting it says nothing)."""
    values = to_dict(config)
    return row["way"] != "sampling" and all(values.get(key) == value for key, value in row["values"].items())


def init_step(run_dir: str | Path, finding: dict) -> int | None:
    """The kept checkpoint an init-from remedy starts from (what ``--init-from`` picks: the first at
    or after the step where the finding was detected), or None while the run keeps none."""
    kept = kept_checkpoint_steps(run_dir)
    return checkpoint_after_detection(kept, finding["detected_at"]) if kept else None


def nothing_left(row: dict, run_dir: str | Path, config: TrainConfig, finding: dict) -> bool:
    """Whether an init-from remedy would resume at the run's last step: the benchmark counts no such
    run (it has no steps of its budget left to recover in), so the doctor does not offer it either."""
    if row["way"] != "init-from":
        return False
    step = init_step(run_dir, finding)
    return step is not None and step >= config.steps


def command(row: dict, run_dir: str | Path, config: TrainConfig, finding: dict) -> str:
    """What a user types to apply a measured remedy to this run, the way the benchmark applied it."""
    if row["way"] == "sampling":
        return f"gankit eval {run_dir} {row['flags']}"
    if row["way"] == "restart":
        return f"restart with {row['flags']}"
    step = init_step(run_dir, finding)
    if step is None:
        return f"--init-from {run_dir} {row['flags']} (no checkpoint kept yet)"
    return f"--init-from {run_dir}:{step} {row['flags']} --steps {max(1, config.steps - step)}"


def settings(row: dict, run_dir: str | Path, config: TrainConfig, finding: dict) -> dict[str, Any] | None:
    """The remedy as ``gankit.train`` keyword arguments, to lay over the run's own: what
    :func:`command` says in flags (``{"preset": "toy-cover"}``, ``{"coverage_weight": 10.0}``; an
    init-from remedy adds its checkpoint and the steps left). None for a sampling remedy, which
    trains nothing, and for an init-from one while the run keeps no checkpoint."""
    if row["way"] == "sampling":
        return None
    remedy = {"preset": row["preset"]} if row.get("preset") else dict(row["values"])
    if row["way"] == "restart":
        return remedy
    step = init_step(run_dir, finding)
    if step is None:
        return None
    return remedy | {"init_from": str(run_dir), "init_from_step": step, "steps": max(1, config.steps - step)}


def basis(row: dict) -> str:
    """ "fixed 4 of 5 collapsed grid runs", with the Wilson 95 % interval of the rate."""
    low, high = row["interval"]
    return f"fixed {row['fixed']} of {row['n']} {row['runs']} (95 % interval {low:.0%}-{high:.0%})"


def ranked_remedies(
    finding: dict, config: TrainConfig, run_dir: str | Path, folklore: list[str], rates: list[dict]
) -> list[dict[str, Any]]:
    """The remedies for one open finding of a run, best measured first (see the module docstring).

    Each is ``{"text", "status", "remedy", "way", "flags", "command", "settings", "fixed", "closed", "n",
    "rate", "interval", "case", "runs"}``; status is "helped", "not measured" or "did not help"
    (fixed 0 of n), or "closed the finding" where the finding ended in some runs without the
    outcome recovering; ``settings`` is :func:`settings`; ``runs`` names the benchmark's broken runs.
    The measured numbers are None for a remedy that was not measured.
    """
    measured = [
        row
        for row in cases_for(finding["name"], config, rates)
        if not already_applied(row, config) and not nothing_left(row, run_dir, config, finding)
    ]
    ranked = []
    for row in sorted(measured, key=lambda r: (-r["fixed"] / r["n"], -r["n"], WAYS.index(r["way"]))):
        how = command(row, run_dir, config, finding)
        closed = row.get("closed") or 0  # runs where the finding ended, recovered or not
        if row["fixed"] > 0:
            status, text = "helped", f"{basis(row)} ({how})"
        elif closed:
            status = "closed the finding"
            text = (
                f"{how}: ended the finding in {closed} of {row['n']} {row['runs']} in the benchmark, but"
                " none recovered its outcome within the broken run's budget"
            )
        else:
            status, text = "did not help", f"{how}: did not help in the benchmark ({basis(row)})"
        ranked.append(
            {
                "text": text,
                "status": status,
                "remedy": row["remedy"],
                "way": row["way"],
                "flags": row["flags"],
                "command": how,
                "settings": settings(row, run_dir, config, finding),
                "fixed": row["fixed"],
                "closed": closed,
                "n": row["n"],
                "rate": row["fixed"] / row["n"],
                "interval": row["interval"],
                "case": row["case"],
                "runs": row["runs"],
            }
        )
    measured_flags = {flag_meaning(row["flags"]) for row in measured}
    unmeasured = [line for line in folklore if flag_meaning(line) not in measured_flags or not flag_set(line)]
    extra = [
        {
            "text": f"{line} (not measured)",
            "status": "not measured",
            "remedy": None,
            "way": None,
            "flags": " ".join(sorted(flag_set(line))) or None,
            "command": None,
            "settings": None,
            "fixed": None,
            "closed": None,
            "n": None,
            "rate": None,
            "interval": None,
            "case": None,
            "runs": None,
        }
        for line in unmeasured
    ]
    order = ("helped", "not measured", "closed the finding", "did not help")
    return sorted([*ranked, *extra], key=lambda entry: order.index(entry["status"]))  # stable: by rate


def remedy_lines(ranked: list[dict]) -> list[str]:
    """What a report prints of :func:`ranked_remedies`: each remedy that helped or was not measured on
    a line of its own, best first; those that only closed the finding together on one line, and those
    measured to fix none together on one last line, so that neither crowds out what to try ("did not
    help in the benchmark's collapsed grid runs: restart with --ema-decay 0.999 (0 of 4), ...").
    Each entry's full text stays in ``--json``."""
    lines = [entry["text"] for entry in ranked if entry["status"] in ("helped", "not measured")]
    grouped = {  # status: (the line's opening, with the benchmark's runs; the count each item shows)
        "closed the finding": (
            "ended the finding in the benchmark's {}, but no run's outcome recovered"
            " within the broken run's budget",
            "closed",
        ),
        "did not help": ("did not help in the benchmark's {}", "fixed"),
    }
    how = {"restart": "restart with {}", "init-from": "init-from with {}", "sampling": "{} at sampling"}
    for status, (opening, count) in grouped.items():
        entries = [entry for entry in ranked if entry["status"] == status]
        if entries:
            runs = " and ".join(dict.fromkeys(entry["runs"] for entry in entries))
            items = [f"{how[e['way']].format(e['flags'])} ({e[count]} of {e['n']})" for e in entries]
            lines.append(f"{opening.format(runs)}: {', '.join(items)}")
    return lines


def advice(finding: dict, config: TrainConfig, run_dir: str | Path | None) -> list[str]:
    """The lines a live alarm prints under a finding as it opens: :func:`remedy_lines` of the
    shipped rates (``RUN_DIR`` stands for a run without a directory)."""
    where = run_dir if run_dir is not None else "RUN_DIR"
    return remedy_lines(ranked_remedies(finding, config, where, finding["remedies"], load_rates()))
