"""The stacked-digits preset's driver (benchmarks/stacked_digits_preset.py): the networks are chosen on
the tuning seeds' mean KL only when every design run finished, the preset's steps fit the budget the
design ran under, and the report seeds never include a tuning seed."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
preset = pytest.importorskip("stacked_digits_preset")
COMPLETE = preset.comparing.COMPLETE


def run(width, seed, value, steps=10_000, status=COMPLETE, d_width=None):
    config = {"width": width, "seed": seed} | ({"d_width": d_width} if d_width else {})
    return SimpleNamespace(config=config, value=value, status=status, steps=steps)


DESIGN = [
    run(32, 0, 0.070),
    run(32, 1, 0.066),
    run(48, 0, 0.050),
    run(48, 1, 0.080),  # mean 0.065: one good seed does not choose it
    run(64, 0, 0.052, steps=12_400),
    run(64, 1, 0.056, steps=11_900),
    run(96, 0, 0.060),
    run(96, 1, 0.062),
]
DESIGN_D = [  # stage 1b: D's width at G's 48
    run(48, 0, 0.058, d_width=24),
    run(48, 1, 0.054, d_width=24),
    run(48, 0, 0.051, d_width=96),
    run(48, 1, 0.049, d_width=96),  # mean 0.050: better than stage 1's best
]


def test_the_lowest_mean_kl_over_the_tuning_seeds_of_both_stages_is_chosen_once_every_run_finished():
    designs = preset.design_texts(quick=False)
    assert preset.chosen_cell(designs, DESIGN + DESIGN_D) == (48, 96)
    assert preset.chosen_cell(designs, DESIGN + DESIGN_D[:3]) is None  # stage 1b's last run is missing
    worse = [run(48, seed, 0.09, d_width=d_width) for d_width in (24, 96) for seed in (0, 1)]
    assert preset.chosen_cell(designs, DESIGN + worse) == (64, 64)  # no D width helped: stage 1's
    unfinished = [*DESIGN[:-1], run(96, 1, None, status="RUNNING"), *DESIGN_D]
    assert preset.chosen_cell(designs, unfinished) is None
    assert preset.chosen_cell(designs, []) is None
    assert tomllib.loads(designs[1])["base"] == tomllib.loads(designs[0])["base"] | {"width": 48}


def test_the_presets_steps_are_the_fewest_its_runs_trained_rounded_down_to_a_thousand():
    chosen = preset.cells(DESIGN)[(64, 64)]
    assert preset.preset_steps(chosen) == 11_000
    assert preset.preset_steps([run(64, 0, 0.1, steps=640)]) == 1000  # never below a thousand


def test_the_report_seeds_train_the_chosen_networks_for_the_presets_steps_on_fresh_seeds():
    design = preset.design_texts(quick=False)[0]
    values = tomllib.loads(preset.seeds_text(design, (64, 64), 11_000, seeds=5))
    base = values["base"]
    assert (base["width"], base["steps"]) == (64, 11_000) and "d_width" not in base  # D as wide as G
    assert tomllib.loads(preset.seeds_text(design, (48, 96), 9_000, seeds=5))["base"]["d_width"] == 96
    assert "time_budget_s" not in base  # the preset is a step count, not a machine's CPU time
    assert values["grid"] == {"seed": [500, 501, 502, 503, 504]}
    assert not set(values["grid"]["seed"]) & set(tomllib.loads(design)["grid"]["seed"])
    tuning = tomllib.loads(design)["base"]
    shared = {k: v for k, v in tuning.items() if k not in ("time_budget_s", "steps")}
    assert shared.items() <= base.items()  # the same recipe, evaluation and precision


def test_a_recipe_arm_repeats_the_design_at_the_chosen_networks_and_only_a_better_mean_wins():
    design = preset.design_texts(quick=False)[0]
    arms = preset.recipe_arms()
    assert arms and all("name" not in values for values in arms.values())  # the page's label only
    rpgan = next(values for values in arms.values() if values.get("objective") == "rpgan")
    values = tomllib.loads(preset.recipe_text(design, (48, 48), rpgan))
    tuning = tomllib.loads(design)
    assert (
        values["base"] == tuning["base"] | {"width": 48} | rpgan
    )  # same budget and scoring, the arm's changes
    assert values["grid"] == {"seed": tuning["grid"]["seed"]}  # the tuning seeds, nothing else varied
    report = tomllib.loads(
        preset.seeds_text(preset.recipe_text(design, (48, 48), rpgan), (48, 48), 9_000, 5, 510)
    )
    assert report["grid"]["seed"] == [510, 511, 512, 513, 514] and report["base"]["objective"] == "rpgan"

    assert next(iter(arms)) == preset.BASELINE and arms[preset.BASELINE] == {}  # rerun first, unchanged

    baseline = {preset.BASELINE: [run(48, 0, 0.052), run(48, 1, 0.054)]}  # mean 0.053
    runs = baseline | {
        "a": [run(48, 0, 0.050), run(48, 1, 0.060)],
        "b": [run(48, 0, 0.049), run(48, 1, 0.052)],
    }
    assert preset.better_recipe(runs, 2) == "b"  # the lowest mean, and below the rerun's
    assert preset.better_recipe(baseline | {"a": runs["a"]}, 2) is None  # mean 0.055: not better
    assert preset.better_recipe(runs | {"c": [run(48, 0, 0.01)]}, 2) is None  # c unfinished
    crashed = runs | {"c": [run(48, 0, 0.01), run(48, 1, None, status="FAIL")]}
    assert preset.better_recipe(crashed, 2) is None  # a crashed run is not a finished one
    assert preset.better_recipe({"b": runs["b"]}, 2) is None  # nothing to beat until the rerun finished


def test_the_page_reports_the_goal_per_seed_with_the_floor(tmp_path):
    def reported(seed, kl, modes, cpu):
        evaluations = {"step": [1000, 2000, 3000, 4000], "eval_kl_to_uniform": [0.3, 0.2, 0.16, 0.15]}
        evaluated = {"modes": modes, "kl_channels": kl / 2, "floor_modes": 1000}
        evaluated |= {"floor_kl_to_uniform": 0.02, "floor_kl_channels": 0.001}
        trial = {"eval": evaluated, "cpu_time": cpu, "evaluations": evaluations}
        return preset.comparing.RunRecord(Path(f"seed-{seed}"), {"seed": seed}, kl, trial, 4000)

    records = [reported(500, 0.028, 1000, 800.0), reported(501, 0.035, 1000, 950.0)]
    text = " ".join(" ".join(preset.report_lines({}, records)).split())
    assert "| 500 | 1000 | 0.028 | 0.014 | 4,000 | 13.3 |" in text
    assert "| real stacks (floor) | 1000 | 0.020 | 0.001 |" in text
    assert "reached by 1 of 2 seeds (500)." in text
    assert "1 of 2 runs within it; the longest took 15.8; load average not recorded" in text
