"""Data-aware defaults: `gankit train --data grid --objective X` with no preset trains the recipe measured
for that pair (gankit.presets.DATA_DEFAULTS), says so, and loses to every value the user gives;
`--preset paper` keeps the papers' settings. benchmarks/toy_defaults.py measures exactly what ships."""

import sys
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest
import tomllib

from gankit.config import TrainConfig, build_config
from gankit.presets import DATA_DEFAULTS, PRESETS, data_default

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
toy_defaults = pytest.importorskip("toy_defaults")

PAPER = TrainConfig()


def test_a_pair_with_a_measured_recipe_trains_it_and_paper_does_not():
    recipe = data_default("grid", "hinge")
    assert recipe, "the grid's hinge runs have a measured recipe"
    chosen = build_config(overrides={"data": "grid", "objective": "hinge"})
    assert all(getattr(chosen, key) == value for key, value in recipe.items())
    assert chosen.batch_size != PAPER.batch_size and chosen.standardize
    paper = build_config(preset="paper", overrides={"data": "grid", "objective": "hinge"})
    defaults = {f.name: getattr(PAPER, f.name) for f in fields(TrainConfig)}
    assert {key: getattr(paper, key) for key in recipe} == {key: defaults[key] for key in recipe}


def test_the_users_flags_and_file_beat_the_recipe(tmp_path):
    file = tmp_path / "run.toml"
    file.write_text('data = "grid"\nobjective = "ns"\nbatch_size = 128\n')
    config = build_config(file=file, overrides={"steps": 300})
    assert (config.batch_size, config.steps) == (128, 300)
    assert config.pack == data_default("grid", "ns")["pack"]  # what the user left unset: the recipe


def test_a_pair_without_a_recipe_and_a_named_preset_are_untouched():
    assert data_default("grid", "wgan") == {} and data_default("digits", "ns") == {}
    wgan = build_config(overrides={"data": "grid", "objective": "wgan"})
    assert (wgan.batch_size, wgan.steps, wgan.pack) == (PAPER.batch_size, PAPER.steps, PAPER.pack)
    fast = build_config(preset="toy-fast", overrides={"data": "grid", "objective": "ns"})
    assert fast.steps == PRESETS["toy-fast"]["steps"] and fast.pack == PAPER.pack


def test_the_command_says_which_recipe_it_trained(cli, tmp_path):
    code, _, err = cli(
        "train",
        "--data",
        "grid",
        "--objective",
        "ns",
        "--steps",
        "2",
        "--width",
        "8",
        "--eval-every",
        "0",
        "--out",
        tmp_path / "run",
    )
    assert code == 0
    assert "grid + ns: its measured recipe" in err and "steps=2" in err and "batch_size=512" in err
    code, _, err = cli(
        "train",
        "--data",
        "grid",
        "--objective",
        "ns",
        "--preset",
        "paper",
        "--steps",
        "2",
        "--width",
        "8",
        "--eval-every",
        "0",
        "--out",
        tmp_path / "paper",
    )
    assert code == 0 and "measured recipe" not in err


def test_the_benchmark_measures_every_shipped_recipe_on_unused_seeds():
    measured = toy_defaults.pairs(quick=False)
    assert measured == [(d, o) for d, recipes in DATA_DEFAULTS.items() for o in recipes]
    for data, objective in measured:
        spec = tomllib.loads(toy_defaults.spec_text(data, objective, "recipe", seeds=5, quick=False))
        assert data_default(data, objective).items() <= spec["base"].items()
        assert (spec["base"]["data"], spec["base"]["objective"]) == (data, objective)
        paper = tomllib.loads(toy_defaults.spec_text(data, objective, "paper", seeds=5, quick=False))
        assert not set(data_default(data, objective)) & set(paper["base"])
        assert spec["grid"]["seed"] == paper["grid"]["seed"] == list(range(46000, 46005))


def test_the_page_counts_every_seed_against_the_goal_and_the_doctors_alarms():
    row = {"per_seed": [25, 21, 19], "cpu_s": [500.0, 520.0, 610.0]}
    assert toy_defaults.goal_text("grid", row, planned=3).startswith("not met (2 of 3 seeds >= 20")
    row = {"per_seed": [25, 24], "cpu_s": [500.0, 520.0]}
    assert toy_defaults.goal_text("grid", row, planned=5).startswith("met so far (2 of 5 seeds in)")
    assert toy_defaults.goal_text("grid", row, planned=2).startswith("met (2 of 2")
    slow = {"per_seed": [25, 25], "cpu_s": [500.0, 700.0]}  # every mode, but past 10 CPU-minutes
    assert toy_defaults.goal_text("grid", slow, planned=2).startswith("not met")
    seen = {"name": "no-progress", "step": 1, "detected_at": 2, "ended": 3}
    records = [
        SimpleNamespace(trial={"doctor": {"open": [], "findings": [seen, seen]}}),
        SimpleNamespace(trial={"doctor": {"open": ["mode-collapse"], "findings": []}}),
        SimpleNamespace(trial={"doctor": None}),
    ]
    assert toy_defaults.doctor_text(records) == "1 of 3 open at the end; during: no-progress in 1"


def test_a_listed_rerun_counts_its_own_cpu_and_every_other_run_its_record():
    """The errata of benchmarks/toy_defaults.py, on the committed journal: the hinge rerun of seed 46000
    loses its interrupted first attempt's CPU; a run that was never retried keeps its record's."""
    text = toy_defaults.spec_text("grid", "hinge", "recipe", seeds=5, quick=False)
    records = {r.config["seed"]: r for r in toy_defaults.stored(toy_defaults.JOURNAL, text)}
    rerun, plain = records[46000], records[46001]
    lost = toy_defaults.lost_cpu(toy_defaults.JOURNAL, rerun)
    assert 0 < lost < rerun.trial["cpu_time"]
    key = ("grid", "hinge", "recipe")
    assert toy_defaults.run_cpu(toy_defaults.JOURNAL, key, rerun) == rerun.trial["cpu_time"] - lost
    assert toy_defaults.run_cpu(toy_defaults.JOURNAL, key, plain) == plain.trial["cpu_time"]
