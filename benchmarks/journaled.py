"""What the image benchmarks share: a search per cell and its report seeds, kept in journal files.

benchmarks/mode_coverage.py is the model: every sweep keeps its Optuna studies in a journal file
under benchmarks/journals/ (one per sweep), committed with the repository, and a page is written
from those journals alone. This module gives benchmarks/images.py, images_regularisers.py and
stacked_digits.py the same shape for any grid of cells:

- ``read_cells``: every cell of the search specs, with its search trials, its best configuration
  (chosen on the tuning seed's validation score) and its report seeds' runs, from the journals alone;
- ``run_cells``: run (or continue) the searches, then each finished cell's report seeds;
- ``search_lines`` / ``plot_search``: what each search cost, its best-so-far curve and whether it
  flattened (gankit.stats.flattened);
- ``settling`` (mode_coverage's): whether an arm's report seeds settled (gankit.stats.settled);
- ``page_head``: a page's opening (what wrote it, its cost, how far it has come);
- ``guarded``: a stop by Ctrl-C or SIGTERM ends with one line, not a traceback.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tomllib
from mode_coverage import (
    FRESH_SEEDS,
    SearchCell,
    best_after,
    run_sweep,
    search_budget,
    seeds_spec,
    settling,
    stored,
    toml_text,
)

from gankit import stats
from gankit.runs import compare as comparing
from gankit.runs import sweep as sweeps
from gankit.runs.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
CURVE_STEPS = (0.25, 0.5, 0.75, 1.0)  # fractions of a curve a page prints (of its trials, of its steps)


@dataclass
class Cell(SearchCell):
    """One cell of a search spec: its search, its best configuration and the report seeds' runs."""

    label: str
    spec_path: Path
    spec_text: str
    cell: dict
    search: list = field(default_factory=list)  # RunRecords of the cell's search trials
    best: dict | None = None  # compare.best_configs' entry of the best complete trial
    seeds_text: str | None = None  # the report seeds' spec (once the search has finished)
    seeds: list | None = None  # RunRecords of the report seeds (None: not started)

    @property
    def tuning_seed(self) -> int:
        return tomllib.loads(self.spec_text)["base"].get("seed", 0)


def search_journal(journals: Path, spec_path: Path) -> Path:
    return journals / f"{spec_path.stem}.journal"


def seeds_journal(journals: Path, prefix: str, label: str) -> Path:
    """'ns + SN' -> JOURNALS/<prefix>_seeds_ns-SN.journal."""
    name = label.replace(" + ", "-").replace(" ", "-").replace("=", "-")
    return journals / f"{prefix}_seeds_{name}.journal"


def _same(config: dict, cell: dict) -> bool:
    return all(json.dumps(config.get(key)) == json.dumps(value) for key, value in cell.items())


def read_cells(
    specs: list[tuple[Path, str]], journals: Path, seeds: int, label_of, prefix: str, seed_base=None
) -> list[Cell]:
    """Every cell of every spec, from the journals alone. ``label_of(values)`` names a cell from its
    base and grid values (a searched key is True); ``seed_base(values)`` (optional) changes the
    report seeds' [base]."""
    cells = []
    for spec_path, text in specs:
        spec = parse_spec(text, str(spec_path))
        records = stored(search_journal(journals, spec_path), text) or []
        searched = {item.name: True for item in spec.search}  # e.g. an R1 recipe: its gamma is searched
        for values in spec.cells():
            cell = Cell(label_of(spec.base | searched | values), spec_path, text, values)
            cell.search = [r for r in records if _same(r.config, values)]
            complete = [r for r in cell.search if r.value is not None]
            best = comparing.best_configs({"cell": complete}, spec.direction)
            cell.best = best[0] if best else None
            if cell.best is not None and len(cell.finished) == cell.trials:
                cell.seeds_text = report_spec(text, cell.best, seeds, seed_base)
                cell.seeds = stored(seeds_journal(journals, prefix, cell.label), cell.seeds_text)
            cells.append(cell)
    return cells


def report_spec(search_text: str, best: dict, seeds: int, seed_base=None) -> str:
    """The best configuration on ``seeds`` report seeds (FRESH_SEEDS, ...), never used for tuning."""
    values = tomllib.loads(seeds_spec(search_text, best, seeds))
    if seed_base is not None:
        values["base"] |= seed_base(values["base"])
    return toml_text(values)


def run_cells(
    specs,
    journals: Path,
    out: Path,
    workers: int,
    seeds: int,
    label_of,
    prefix: str,
    seed_base=None,
    after=None,
) -> list[Cell]:
    """Run or continue every search, then the report seeds of every cell whose search finished;
    ``after(cell, sweep_dir)`` (optional) runs once a cell's report seeds have all ended."""
    for path, text in specs:
        run_sweep(out / f"search-{path.stem}", text, workers, search_journal(journals, path))
    for cell in read_cells(specs, journals, seeds, label_of, prefix, seed_base):
        if cell.seeds_text is not None:
            journal = seeds_journal(journals, prefix, cell.label)
            sweep_dir = run_sweep(out / seeds_dir(journal), cell.seeds_text, workers, journal)
            if after is not None:
                cell.seeds = stored(journal, cell.seeds_text)
                after(cell, sweep_dir)
    return read_cells(specs, journals, seeds, label_of, prefix, seed_base)


def seeds_dir(journal: Path) -> str:
    """The report seeds' sweep directory (under OUT) of a seeds journal: seeds-<cell>."""
    return "seeds-" + journal.stem.split("_seeds_")[1]


# ---------------------------------------------------------------------------------------------------
# What a page says of each cell


def seed_row(cell: Cell, key: str, direction: str, values=None) -> dict:
    """compare's row (n, mean, t interval) of ``key`` over the report seeds' complete runs (a metrics
    key or an eval key; ``values``: a callable record -> value, instead)."""
    found = []
    for record in cell.complete_seeds:
        result = record.trial or {}
        if values is not None:
            found.append(values(record))
        else:
            found.append(comparing.value_of(key, result.get("metrics", {}), lambda r=result: r.get("eval")))
    present = [v for v in found if v is not None]
    return stats.summarize(present, direction) | {"missing": len(found) - len(present)}


def flat_reading(cell: Cell, direction: str, metric: str) -> stats.Plateau | None:
    """``flattened`` on the cell's best-so-far curve, against its report seeds' spread of ``metric``."""
    if len(cell.complete_seeds) < 2:
        return None
    counts, _, best = comparing.budget_curves(cell.finished, direction)
    spread = seed_row(cell, metric, direction)["std"]
    return None if spread is None else stats.flattened(counts, best, spread, direction)


def search_lines(cells: list[Cell], direction: str, metric: str, figure: str, name: str = "") -> list[str]:
    """The search section: per cell what its search cost and whether its best-so-far curve flattened
    (``metric``: the searches' key; ``name``: how the page names it, default the key)."""
    name = name or metric
    lines = [
        "## The searches: what they cost, and whether they flattened",
        "",
        "Per cell: configurations tried (complete / cut / crashed), their CPU seconds, the median CPU of"
        " one full (uncut) trial and the search's CPU in full trials; the best validation"
        f" {name} after each quarter of the trials (the curve in the figure); whether it flattened"
        " (its gain over the last quarter of the trials against the report seeds' standard deviation).",
        "",
        "| cell | configurations | search CPU-s | full trial CPU-s | = full trials |"
        " best after ¼ / ½ / ¾ / all | flattened (gain / seeds' sd) |",
        "|---|---|---|---|---|---|---|",
    ]
    for cell in cells:
        budget = search_budget(cell)
        counts, _, best = comparing.budget_curves(cell.finished, direction)
        total = budget["trials"]
        after = [best_after(counts, best, math.ceil(q * total)) for q in CURVE_STEPS] if total else []
        curve = " / ".join("–" if v is None else f"{v:.3g}" for v in after) or "–"
        plateau = flat_reading(cell, direction, metric)
        flat = "– (no report seeds yet)" if plateau is None else ("yes" if plateau.flat else "no")
        if plateau is not None:
            flat += f" ({plateau.change:.3g} / {plateau.spread:.3g})"
        tried = f"{total} of {cell.trials} ({budget['complete']} / {budget['pruned']} / {budget['crashed']})"
        full = "–" if budget["full_cpu"] is None else f"{budget['full_cpu']:,.0f}"
        ratio = "–" if budget["full_trials"] is None else f"{budget['full_trials']:.1f}"
        lines.append(
            f"| {cell.label} | {tried} | {budget['cpu']:,.0f} | {full} | {ratio} | {curve} | {flat} |"
        )
    spent = sum(search_budget(cell)["cpu"] for cell in cells)
    seeds_cpu = sum(comparing.spent_cpu(r) for cell in cells for r in cell.complete_seeds)
    lines += [
        "",
        f"Spent so far: {spent / 3600:.1f} CPU-hours on the searches, {seeds_cpu / 3600:.1f} on the report"
        " seeds.",
        "",
        f"![best validation {name} so far per search]({figure})",
        "",
    ]
    return lines


def plot_search(cells: list[Cell], direction: str, metric: str, path: Path) -> None:
    """Best validation value so far per cell, against trials finished and against CPU seconds."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for cell in cells:
        counts, cpu, best = comparing.budget_curves(cell.finished, direction)
        if counts:
            axes[0].step(counts, best, where="post", label=cell.label)
            axes[1].step(cpu, best, where="post", label=cell.label)
    axes[0].set(xlabel="trials finished", ylabel=f"best validation {metric} so far")
    axes[1].set(xlabel="cumulative CPU seconds", ylabel=f"best validation {metric} so far")
    for ax in axes:
        ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})


def settled_text(cell: Cell, key: str) -> tuple[stats.Plateau | None, str]:
    """(the settled rule's reading of the report seeds' ``key`` curves, or None; its words)."""
    reading = settling(cell, key)
    if not isinstance(reading, stats.Plateau):
        return None, reading
    verdict = "settled" if reading.flat else "not settled"
    where = f"steps {reading.start:,}-{reading.end:,}"
    return reading, f"{verdict} ({reading.change:+.3g} over {where} / sd {reading.spread:.3g})"


def curve_points(cell: Cell, key: str) -> tuple[list[int], list[float]]:
    """The report seeds' mean ``key`` curve at ¼, ½, ¾ and all of their common evaluated steps."""
    steps, curves = comparing.common_curves(cell.complete_seeds, key)
    if not steps:
        return [], []
    marks = [steps[max(0, math.ceil(q * len(steps)) - 1)] for q in CURVE_STEPS]
    mean = dict(zip(steps, curves.mean(axis=0), strict=True))
    return marks, [float(mean[m]) for m in marks]


def page_head(
    title: str, command: str, journals: Path, cpu_hours: float, cells: list[Cell], seeds: int
) -> list[str]:
    """A page's opening lines: its title, the command that writes it from ``journals`` alone, what the
    whole benchmark costs, and (until it is done) how many searches and report-seed sets finished."""
    where = os.path.relpath(journals, ROOT) if journals.is_relative_to(ROOT) else str(journals)
    lines = [
        f"# {title}",
        "",
        f"Generated by `{command}` from its journals in `{where}/` alone (`{command} --render` rewrites"
        " it; without `--render` the same command runs or continues the benchmark first); do not edit by"
        f" hand. The full benchmark costs about {cpu_hours} CPU-hours (the driver's docstring gives the"
        " arithmetic).",
        "",
    ]
    runs = [r for cell in cells for r in (*cell.finished, *cell.complete_seeds)]
    if runs:
        lines += [f"CPU figures below: {comparing.load_words(runs, os.cpu_count())}.", ""]
    searched = sum(len(cell.finished) == cell.trials for cell in cells)
    seeded = sum(len(cell.complete_seeds) == seeds for cell in cells)
    if searched < len(cells) or seeded < len(cells):
        lines += [
            f"**In progress:** {searched} of {len(cells)} searches finished, {seeded} of {len(cells)}"
            " report-seed sets.",
            "",
        ]
    return lines


def seeds_text(cells: list[Cell]) -> str:
    """Which seeds tuned and which report, as a page says it."""
    tuning = sorted({cell.tuning_seed for cell in cells})
    report = sorted({r.config["seed"] for cell in cells for r in cell.complete_seeds})
    shown = ", ".join(map(str, report)) if report else f"{FRESH_SEEDS}, ... (none finished yet)"
    return (
        f"Tuning seed{'s' if len(tuning) > 1 else ''} {', '.join(map(str, tuning))} (every search trial);"
        f" report seeds {shown} (the table's runs only, never used to choose anything)."
    )


# ---------------------------------------------------------------------------------------------------
# A clean stop


def finished_trials(journals: Path) -> int:
    """Complete or cut trials kept in the journals of a directory."""
    from optuna.trial import TrialState

    total = 0
    for journal in sorted(journals.glob("*.journal")):
        storage = sweeps.open_storage(sweeps.JOURNAL + str(journal))
        for study in storage.get_all_studies():
            states = (TrialState.COMPLETE, TrialState.PRUNED)
            total += len(storage.get_all_trials(study._study_id, deepcopy=False, states=states))
    return total


def _interrupt(signal_number, frame) -> None:
    raise KeyboardInterrupt


def guarded(main, journals_of) -> None:
    """Run ``main()``; a stop by Ctrl-C or SIGTERM (sweeps checkpoint their running trials) ends with
    one line and exit status 130, no traceback. ``journals_of()``: the journals' directory."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        main()
    except KeyboardInterrupt:
        journals = journals_of()
        kept = finished_trials(journals) if journals is not None and journals.is_dir() else 0
        line = f"stopped; the journal keeps {kept} finished trials; the same command continues"
        print(line, file=sys.stderr)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
