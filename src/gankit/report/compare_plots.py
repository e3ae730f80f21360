"""``gankit compare --plot``: the distribution of each group's values and, for a sweep, each group's
search budget curves (best value so far against trials finished and against CPU time; Lucic et al.
2018).

The plot takes plain values, not run records: gankit.runs.compare collects them (its ``plot``).
matplotlib is imported when a plot is drawn, not with this module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# One group's search budget: trials finished, their CPU seconds so far and the best value so far
# after each (gankit.stats.best_so_far)
BudgetCurve = tuple[list[int], list[float], list[float]]


def plot_comparison(
    path: Path,
    metric: str,
    direction: str,
    values: dict[str, list[float]],
    budgets: dict[str, BudgetCurve] | None = None,
) -> Path:
    """Each group's values (a box and its points, jittered); with ``budgets`` (a sweep's groups) two
    more panels, the best value so far against trials finished and against cumulative CPU seconds."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13 if budgets else 6, 4.2), layout="constrained")
    axes = fig.subplots(1, 3 if budgets else 1, squeeze=False)[0]
    names = list(values)
    ax = axes[0]
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        if values[name]:
            ax.boxplot([values[name]], positions=[i], widths=0.5, showfliers=False)
            ax.plot(i + rng.uniform(-0.15, 0.15, len(values[name])), values[name], "o", alpha=0.6, ms=4)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per group ({direction})")
    if budgets:
        for name, (counts, cpu, best) in budgets.items():
            axes[1].step(counts, best, where="post", label=name)
            axes[2].step(cpu, best, where="post", label=name)
        axes[1].set_xlabel("trials finished")
        axes[2].set_xlabel("cumulative CPU seconds")
        for ax in axes[1:]:
            ax.set_ylabel(f"best {metric} so far")
        axes[1].set_title("search budget: trials")
        axes[2].set_title("search budget: CPU time")
        axes[2].legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
