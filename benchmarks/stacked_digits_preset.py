"""The `stacked-digits` preset: its networks chosen on tuning seeds, then measured once on fresh seeds.

Issue #39's goal: every one of the 1,000 modes in every seed at reverse KL <= 0.03 (the sampling floor
of 26,000 samples over 1,000 modes is about 0.02), on seeds never used in tuning, in at most 15
CPU-minutes a run. Both stages live in one journal (benchmarks/journals/stacked_digits_preset.journal),
so the page is written from it alone (``--render``) and a fresh clone continues where the last stopped:

1. Design (benchmarks/specs/stacked_digits_preset.toml): the shipped preset's recipe with DCGAN
   networks of width 32, 48, 64 or 96, each trained for the same 780 training CPU-seconds on the
   tuning seeds 0 and 1, scored by `gankit eval`'s KL on 26,000 samples at the end. The width with
   the lowest mean KL is the design; the preset's steps are the fewest its two runs trained (rounded
   down to a thousand), so that a run fits the budget on this machine. Stage 1b
   (benchmarks/specs/stacked_digits_preset_d.toml): D's width apart from G's, 24 or 96 at G's width 48
   (stage 1's best), the same way; the design's cell is the best (width, D width) of both stages.
2. Report seeds (500..504, used by nothing else): the chosen networks for the preset's steps, each
   run's modes and KL every 1,000 steps (5,000 samples: the curve, and whether it settled) and at the
   end (`gankit eval`, 26,000 samples, with the part of the KL the channels' digit histograms carry),
   and its CPU-minutes, evaluations included.
3. Recipes (benchmarks/specs/stacked_digits_preset_recipes.toml, which says why each): stage 1's
   recipe at the chosen networks with one change each (PacGAN pairs, spectral norm in D, rpgan with
   R1 + R2 with and without R3GAN's schedules, a wider noise, depth 2), on the same tuning seeds and
   budget, against the chosen networks rerun beside them (BASELINE: a CPU-second buys other steps on
   another machine). An arm whose mean KL is below the rerun's wins (the lowest such).
4. The winner's report seeds (510..514, fresh: 500.. measured the widths' preset), as stage 2.

The page (docs/benchmarks/stacked_digits_preset.md) says whether every report seed reached all 1,000
modes at KL <= 0.03 within 15 CPU-minutes. The preset in src/gankit/presets.py is updated from it by
hand, with the numbers it prints.

Cost: a run is about 14 CPU-minutes (780 s of training, its evaluations), so the design is 8 + 4 runs
and the report seeds 5: about 4 CPU-hours, 2 hours with --workers 2 on two free cores. Stage 3 is 14
runs (~3.3 CPU-hours), stage 4 five more (~1.2).

    nice -n 10 python benchmarks/stacked_digits_preset.py --workers 2   # run or continue, then the page
    python benchmarks/stacked_digits_preset.py --render                  # the page from the journal alone
    python benchmarks/stacked_digits_preset.py --quick                   # smoke test (temp journal)

Stopped (Ctrl-C, SIGTERM), the same command continues; finished runs are never trained again.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import tomllib
import torch
from journaled import guarded, settled_text
from mode_coverage import ci_text, curve_table, driver_arguments, plot_curves, run_sweep, stored, toml_text

from gankit import stats
from gankit.runs import compare as comparing

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "stacked_digits_preset.toml"
SPEC_D = ROOT / "benchmarks" / "specs" / "stacked_digits_preset_d.toml"  # stage 1b: D's width
SPEC_RECIPES = ROOT / "benchmarks" / "specs" / "stacked_digits_preset_recipes.toml"  # stage 3's arms
JOURNAL = ROOT / "benchmarks" / "journals" / "stacked_digits_preset.journal"
REPORT_SEED = 500  # report seeds 500, 501, ...: never used to choose anything
# stage 3's first arm: the chosen networks as they are, rerun beside the recipes, since a CPU-second
# buys a different number of steps on another machine and stage 1 ran on one
BASELINE = "the chosen networks, rerun"
RECIPE_REPORT_SEED = 510  # a stage-3 recipe's report seeds: fresh, as 500.. measured the widths' preset
GOAL_KL, GOAL_MODES, BUDGET_MINUTES = 0.03, 1000, 15
QUICK = {"time_budget_s": 4, "eval_every": 20, "checkpoint_every": 20, "eval_samples": 500, "log_every": 10}
CELL = ("width", "d_width")  # what the design chooses: G's width (stage 1), then D's (stage 1b)


def design_texts(quick: bool) -> list[str]:
    """The design's specs as shipped (stage 1, stage 1b), or shrunk for --quick (tiny budget)."""
    if not quick:
        return [SPEC.read_text(), SPEC_D.read_text()]
    first, second = tomllib.loads(SPEC.read_text()), tomllib.loads(SPEC_D.read_text())
    first["base"] |= QUICK
    first["grid"] = {"width": [4, 6], "seed": [0, 1]}
    second["base"] |= QUICK | {"width": 4}
    second["grid"] = {"d_width": [8], "seed": [0, 1]}
    return [toml_text(first), toml_text(second)]


def cell_of(config: dict) -> tuple:
    """A run's (width, d_width); D as wide as G where the run did not set d_width (stage 1)."""
    return (config["width"], config.get("d_width") or config["width"])


def finished_runs(runs: list) -> list:
    """The runs that finished with a KL (not running, crashed or stopped)."""
    return [r for r in runs if r.status == comparing.COMPLETE and r.value is not None]


def cells(records: list) -> dict[tuple, list]:
    """The design's finished runs by cell (width, d_width)."""
    by_cell: dict[tuple, list] = {}
    for record in finished_runs(records):
        by_cell.setdefault(cell_of(record.config), []).append(record)
    return by_cell


def chosen_cell(designs: list[str], records: list) -> tuple | None:
    """The cell with the lowest mean KL over the tuning seeds (None until every run of every stage
    finished)."""
    grids = [tomllib.loads(design)["grid"] for design in designs]
    expected = sum(int(np.prod([len(values) for values in grid.values()])) for grid in grids)
    by_cell = cells(records)
    if sum(len(runs) for runs in by_cell.values()) < expected:
        return None
    return min(by_cell, key=lambda cell: np.mean([r.value for r in by_cell[cell]]))


def cell_values(cell: tuple) -> dict:
    """The cell as config values: d_width only where D is not as wide as G."""
    width, d_width = cell
    return {"width": width} | ({"d_width": d_width} if d_width != width else {})


def preset_steps(runs: list) -> int:
    """The preset's steps: the fewest the chosen cell's runs trained in the budget, rounded down to a
    thousand (at least a thousand)."""
    return max(1000, min(r.steps for r in runs) // 1000 * 1000)


def seeds_text(design: str, cell: tuple, steps: int, seeds: int, first: int = REPORT_SEED) -> str:
    """Stage 2's spec: the chosen networks for the preset's steps (no time budget) on the report seeds
    ``first``, ``first`` + 1, ... (stage 4's too: ``design`` is then the winning recipe's spec)."""
    values = tomllib.loads(design)
    values["base"] |= cell_values(cell) | {"steps": steps}
    values["base"].pop("time_budget_s")
    values["grid"] = {"seed": list(range(first, first + seeds))}
    return toml_text(values)


def preset_values(base: dict, cell: tuple, steps: int, arm: dict | None = None) -> dict:
    """The preset the design chose (with a stage-3 ``arm``'s values), as src/gankit/presets.py writes it."""
    keys = ("data", "objective", "batch_size", "g_lr", "d_lr", "ema_decay", "eval_every")
    return {key: base[key] for key in keys} | cell_values(cell) | (arm or {}) | {"steps": steps}


def recipe_arms() -> dict[str, dict]:
    """Stage 3's arms: name -> the config values the arm changes; BASELINE (no change) first, then
    SPEC_RECIPES's."""
    arms = tomllib.loads(SPEC_RECIPES.read_text())["arm"]
    return {BASELINE: {}} | {arm["name"]: {k: v for k, v in arm.items() if k != "name"} for arm in arms}


def recipe_text(design: str, cell: tuple, arm: dict) -> str:
    """A stage-3 arm's spec: stage 1's recipe at the chosen networks ``cell`` with the arm's values,
    on stage 1's tuning seeds and budget."""
    values = tomllib.loads(design)
    values["base"] |= cell_values(cell) | arm
    values["grid"] = {"seed": values["grid"]["seed"]}
    return toml_text(values)


def better_recipe(runs: dict[str, list], seeds: int) -> str | None:
    """The arm with the lowest mean KL on the tuning seeds where it is below BASELINE's (the chosen
    networks rerun beside them); None while an arm has fewer than ``seeds`` finished runs, or when
    no arm is better."""
    finished = {name: finished_runs(arm_runs) for name, arm_runs in runs.items()}
    if BASELINE not in finished or any(len(arm_runs) < seeds for arm_runs in finished.values()):
        return None
    mean = {name: np.mean([r.value for r in arm_runs]) for name, arm_runs in finished.items()}
    best = min(mean, key=mean.get)
    return None if best == BASELINE else best


def kl_curve(records: list) -> tuple[list[int], list[dict]]:
    """The report seeds' KL on 5,000 samples at their common evaluated steps: mean [95 % t interval]."""
    steps, curve = comparing.common_curves(records, "eval_kl_to_uniform")
    return steps, [stats.summarize([v for v in column if np.isfinite(v)], "minimize") for column in curve.T]


def minutes(record) -> float:
    return record.trial["cpu_time"] / 60


RUN_COLUMNS = (
    "KL per tuning seed | mean KL | of it, the channels' digits (mean) | scarcest digit's share (mean) |"
    " modes per seed | generator steps | CPU-minutes |"
)


def run_columns(runs: list, mark: str = "") -> str:
    """The design tables' columns for one cell's runs on the tuning seeds (RUN_COLUMNS)."""
    runs = sorted(runs, key=lambda r: r.config["seed"])

    def mean(key: str) -> float:
        return float(np.mean([r.trial["eval"][key] for r in runs]))

    return (
        f" {', '.join(f'{r.value:.3f}' for r in runs)} | {np.mean([r.value for r in runs]):.3f}{mark} |"
        f" {mean('kl_channels'):.3f} | {mean('scarcest_digit_share'):.2f} |"
        f" {', '.join(str(r.trial['eval']['modes']) for r in runs)} |"
        f" {', '.join(f'{r.steps:,}' for r in runs)} | {', '.join(f'{minutes(r):.1f}' for r in runs)} |"
    )


def design_table(by_cell: dict, chosen: tuple | None) -> list[str]:
    lines = [f"| width | D width | {RUN_COLUMNS}", "|---|---|---|---|---|---|---|---|---|"]
    for cell in sorted(by_cell):
        mark = " **(chosen)**" if cell == chosen else ""
        lines.append(f"| {cell[0]} | {cell[1]} |" + run_columns(by_cell[cell], mark))
    return lines


def recipe_lines(arms: dict[str, dict], runs: dict[str, list], seeds: int, winner: str | None) -> list[str]:
    """Stage 3's table: BASELINE's runs, then each arm's, and which recipe wins."""
    lines = [f"| recipe | changes | {RUN_COLUMNS}", "|---|---|---|---|---|---|---|---|---|"]
    finished = {name: finished_runs(runs.get(name, [])) for name in arms}
    for name, values in arms.items():
        changes = ", ".join(f"{key} = {json.dumps(value)}" for key, value in values.items()) or "nothing"
        mark = " **(better)**" if name == winner else ""
        row = run_columns(finished[name], mark) if finished[name] else " not run yet |" + " |" * 6
        lines.append(f"| {name} | {changes} |" + row)
    if any(len(done) < seeds for done in finished.values()):
        verdict = "Not every arm has finished: the same command goes on."
    elif winner is None:
        verdict = "No arm's mean KL is below the chosen networks' rerun: the preset stays as stage 1 made it."
    else:
        verdict = f"Best: {winner}, below the chosen networks' rerun: its report seeds are section 4."
    return lines + ["", verdict]


def report_lines(base: dict, records: list) -> list[str]:
    """Stage 2: each report seed at the end, the curve, and the goal."""
    lines = [
        "| seed | modes (of 1,000) | KL to uniform | of it, the channels' digits | generator steps |"
        " CPU-minutes |",
        "|---|---|---|---|---|---|",
    ]
    for record in records:
        evaluated = record.trial["eval"]
        lines.append(
            f"| {record.config['seed']} | {evaluated['modes']} | {record.value:.3f} |"
            f" {evaluated['kl_channels']:.3f} | {record.steps:,} | {minutes(record):.1f} |"
        )
    floor = records[0].trial["eval"]
    lines.append(
        f"| real stacks (floor) | {floor['floor_modes']} | {floor['floor_kl_to_uniform']:.3f} |"
        f" {floor['floor_kl_channels']:.3f} | | |"
    )
    kl = stats.summarize([r.value for r in records], "minimize")
    reached = [r for r in records if r.trial["eval"]["modes"] >= GOAL_MODES and r.value <= GOAL_KL]
    within = [r for r in records if minutes(r) <= BUDGET_MINUTES]
    steps, points = kl_curve(records)
    shown = [i for i, step in enumerate(steps) if step % 4000 == 0 or i == len(steps) - 1]
    _, settled_words = settled_text(SimpleNamespace(complete_seeds=records), "eval_kl_to_uniform")
    return lines + [
        "",
        f"KL at the end: {ci_text(kl, 1, 3)} (mean [95 % Student's t interval of the mean], {len(records)}"
        " seeds).",
        "",
        "KL on 5,000 samples as the runs trained (higher than on 26,000: a histogram of fewer samples over"
        " 1,000 modes is further from uniform by chance alone):",
        "",
        *curve_table(
            "generator steps", [f"{steps[i]:,}" for i in shown], {"KL": [points[i] for i in shown]}, 3
        ),
        "",
        f"- **Settled?** {settled_words} (`gankit.stats.settled`).",
        f"- **Goal** (all {GOAL_MODES:,} modes at KL <= {GOAL_KL} in every seed): reached by"
        f" {len(reached)} of {len(records)} seeds"
        + (f" ({', '.join(str(r.config['seed']) for r in reached)})." if reached else "."),
        f"- **Budget** (at most {BUDGET_MINUTES} CPU-minutes a run, evaluations included, one thread):"
        f" {len(within)} of {len(records)} runs within it; the longest took"
        f" {max(map(minutes, records)):.1f}; {comparing.load_words(records, os.cpu_count())}.",
    ]


def render(
    args, designs: list[str], design_records: list, chosen: tuple | None, records: list, stage3: dict
) -> list[str]:
    base = tomllib.loads(designs[0])["base"]
    journal = os.path.relpath(args.journal, ROOT) if args.journal.is_relative_to(ROOT) else args.journal
    grid, grid_d = (tomllib.loads(design)["grid"] for design in designs)
    width_d = tomllib.loads(designs[1])["base"]["width"]
    lines = [
        "# The `stacked-digits` preset",
        "",
        f"Generated by `benchmarks/stacked_digits_preset.py` from its journal `{journal}` alone (`--render`"
        " rewrites it; without it the same command runs or continues the runs first); do not edit by hand.",
        "",
        f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores,"
        f" torch {torch.__version__}; one thread a run, fp32, two runs side by side.",
        "",
        f"**Goal** (issue #39): all {GOAL_MODES:,} modes of `--data stacked-digits` in every seed at reverse"
        f" KL <= {GOAL_KL}, on seeds never used in tuning, in at most {BUDGET_MINUTES} CPU-minutes a run."
        " Real stacks through the same classifier score about 0.020: the sampling floor of 26,000 samples"
        " over 1,000 modes.",
        "",
        f"**Recipe.** The shipped preset's: the non-saturating GAN, G's EMA ({base['ema_decay']}), Adam"
        f" (0.5, 0.999) at g_lr {base['g_lr']:g} and d_lr {base['d_lr']:g}, batch {base['batch_size']}; only"
        " the DCGAN networks' widths are designed here.",
        "",
        "## 1. Design: the networks' widths, on the tuning seeds",
        "",
        f"Stage 1: widths {', '.join(map(str, grid['width']))} (G and D alike), each trained for"
        f" {base['time_budget_s']} training CPU-seconds on tuning seeds"
        f" {', '.join(map(str, grid['seed']))}; KL of `gankit eval` (26,000 samples) at the end. The part"
        " of the KL the channels' own digit histograms carry is beside it (docs/metrics.md): the rest is"
        " the channels' dependence, mostly sampling error. Stage 1b: D's width apart from G's, at G's"
        f" width {width_d} (stage 1's best): D widths {', '.join(map(str, grid_d['d_width']))}, the same"
        " way (benchmarks/specs/stacked_digits_preset_d.toml says why D).",
        "",
    ]
    by_cell = cells(design_records)
    if not by_cell:
        return lines + ["Not measured yet: run the command above."]
    lines += design_table(by_cell, chosen)
    if chosen is None:
        return lines + ["", "The design has not finished: the preset is chosen when every run has."]
    steps = preset_steps(by_cell[chosen])
    text = ", ".join(
        f'"{key}": {json.dumps(value)}' for key, value in preset_values(base, chosen, steps).items()
    )
    lines += [
        "",
        f"Chosen: width {chosen[0]}, D width {chosen[1]}, for {steps:,} generator steps (the fewest its runs"
        " trained in the budget, rounded down to a thousand).",
        f"The preset it makes: `{{{text}}}`.",
        "",
        "## 2. Report seeds, once",
        "",
    ]
    if len(records) < 2:
        return lines + [f"{len(records)} report seeds finished; the section needs 2."]
    lines += report_lines(base, records)
    lines += ["", "![KL on 5,000 samples, report seeds](stacked_digits_preset.png)", ""]
    lines += recipe_section(base, chosen, stage3)
    return lines + [
        "",
        "**Limits.** Four widths and two D widths on two tuning seeds, at the shipped learning rates, then"
        " one setting of each recipe of stage 3: design choices within the budget, not tuned optima, and"
        " screens on two tuning seeds, not a ranking (a recipe that wins is measured on five report seeds)."
        " Stacked *8x8* digits with gankit's classifier are not Stacked MNIST (28x28):"
        " docs/benchmarks/stacked_digits.md sets the published rows apart.",
    ]


def recipe_section(base: dict, chosen: tuple, stage3: dict) -> list[str]:
    """Stages 3 and 4: the recipes on the tuning seeds, and the winner's report seeds (if one won)."""
    arms, winner = stage3["arms"], stage3["winner"]
    lines = [
        "## 3. Recipes at the chosen networks, on the tuning seeds",
        "",
        f"Each arm is stage 1's recipe at width {chosen[0]}, D width {chosen[1]}, with the values it changes,"
        f" trained for the same {base['time_budget_s']} training CPU-seconds on the same tuning seeds and"
        " scored the same way. The first row reruns the chosen networks unchanged beside them: a"
        " CPU-second buys a different number of steps on another machine, so stage 1's own runs are no"
        " baseline (compare the steps columns). The scarcest digit's share is what G is short of (1.0:"
        " even; docs/metrics.md). Why these arms: benchmarks/specs/stacked_digits_preset_recipes.toml.",
        "",
        *recipe_lines(arms, stage3["runs"], stage3["seeds"], winner),
    ]
    if winner is None:
        return lines
    records, steps = stage3["records"], stage3["steps"]
    text = ", ".join(
        f'"{key}": {json.dumps(value)}'
        for key, value in preset_values(base, chosen, steps, arms[winner]).items()
    )
    lines += [
        "",
        f'## 4. Report seeds of "{winner}", once',
        "",
        f"For {steps:,} generator steps (the fewest its runs trained in the budget, rounded down to a"
        f" thousand) on report seeds {RECIPE_REPORT_SEED}.. (fresh: section 2's measured the widths'"
        " preset).",
        f"The preset it makes: `{{{text}}}`.",
        "",
    ]
    if len(records) < 2:
        return lines + [f"{len(records)} report seeds finished; the section needs 2."]
    return lines + report_lines(base, records)


def main(argv: list[str] | None = None) -> None:
    def more(parser) -> None:
        parser.add_argument("--render", action="store_true", help="only write the page, from the journal")
        parser.add_argument("--journal", type=Path, help="(benchmarks/journals/...; --quick: OUT/journals/)")

    args = driver_arguments(argv, "stacked-digits-preset", __doc__, "tiny nets, 4 CPU-s a run, 2 seeds", more)
    args.journal = args.journal or (args.out / "journals" / JOURNAL.name if args.quick else JOURNAL)
    docs = args.out if args.quick else ROOT / "docs" / "benchmarks"

    def body() -> None:
        designs = design_texts(args.quick)
        design_records = []
        for stage, design in zip(("design", "design-d"), designs, strict=True):
            if not args.render:
                run_sweep(args.out / stage, design, args.workers, args.journal)
            design_records += stored(args.journal, design) or []
        design = designs[0]  # stage 1's recipe: the base of every later spec
        chosen = chosen_cell(designs, design_records)
        records = []
        if chosen is not None:
            steps = 40 if args.quick else preset_steps(cells(design_records)[chosen])
            text = seeds_text(design, chosen, steps, args.seeds)
            if not args.render:
                run_sweep(args.out / "seeds", text, args.workers, args.journal)
            records = [r for r in stored(args.journal, text) or [] if r.status == comparing.COMPLETE]
            records.sort(key=lambda record: record.config["seed"])
        stage3 = recipes(design, chosen) if len(records) >= 2 else {}
        docs.mkdir(parents=True, exist_ok=True)
        if len(records) >= 2:
            steps, points = kl_curve(records)
            levels = [(GOAL_KL, f"goal {GOAL_KL}", "tab:green")]
            figure = plot_curves(
                {"report seeds": (steps, points)}, "KL to uniform (5,000 samples)", "", levels
            )
            figure.axes[0].set_xlabel("generator steps")
            figure.savefig(docs / "stacked_digits_preset.png", dpi=110)
        page = docs / "stacked_digits_preset.md"
        page.write_text("\n".join(render(args, designs, design_records, chosen, records, stage3)) + "\n")
        print(f"wrote {page}")

    def recipes(design: str, chosen: tuple) -> dict:
        """Stage 3 (each arm on the tuning seeds), then stage 4 (the winner's report seeds, if one won)."""
        arms, runs = recipe_arms(), {}
        for index, (name, values) in enumerate(arms.items()):
            text = recipe_text(design, chosen, values)
            if not args.render:
                run_sweep(args.out / f"recipe-{index}", text, args.workers, args.journal)
            runs[name] = stored(args.journal, text) or []
        seeds = len(tomllib.loads(design)["grid"]["seed"])
        winner = better_recipe(runs, seeds)
        stage3 = {"arms": arms, "runs": runs, "seeds": seeds, "winner": winner, "records": []}
        if winner is not None:
            stage3["steps"] = steps = 40 if args.quick else preset_steps(finished_runs(runs[winner]))
            text = seeds_text(
                recipe_text(design, chosen, arms[winner]), chosen, steps, args.seeds, RECIPE_REPORT_SEED
            )
            if not args.render:
                run_sweep(args.out / "recipe-seeds", text, args.workers, args.journal)
            records = [r for r in stored(args.journal, text) or [] if r.status == comparing.COMPLETE]
            stage3["records"] = sorted(records, key=lambda record: record.config["seed"])
        return stage3

    guarded(body, lambda: args.journal.parent)


if __name__ == "__main__":
    sys.exit(main())
