"""The stacked-digits benchmark's fairness check and labels (benchmarks/stacked_digits.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
stacked = pytest.importorskip("stacked_digits")


def test_cells_are_labelled_by_lever_and_name_their_directories():
    assert stacked.cell_label({"objective": "ns", "pack": 2}) == "ns + PacGAN2"
    assert stacked.cell_label({"objective": "ns", "ema_decay": 0.999}) == "ns + EMA"
    assert stacked.cell_label({"objective": "ns", "ema_decay": 0.999, "ema_rampup": 0.05}) == "ns + EMA"
    plain = stacked.cell_label({"objective": "ns", "ema_decay": 0.999, "ema_rampup": 0.0})
    assert plain == "ns + plain EMA" and stacked.directory_name(plain) == "ns-plain-EMA"


def test_an_ema_row_that_bought_many_more_steps_than_its_objective_is_flagged():
    steps = {"hinge": 2481, "hinge + EMA": 4305, "ns": 2500, "ns + EMA": 2420}
    rows = {label: {"steps": value} for label, value in steps.items()}
    warning = " ".join(stacked.speed_check(rows))
    assert "not a fair comparison" in warning
    assert "hinge + EMA 4,305 steps against hinge's 2,481" in warning and "ns + EMA" not in warning
    rows["hinge + EMA"]["steps"] = 2450
    assert stacked.speed_check(rows) == []


def test_reading_compares_the_ramped_ema_with_the_plain_one():
    def row(mean, low, high):
        return {"mean": mean, "ci_low": low, "ci_high": high, "n": 5}

    rows = {
        "ns + EMA": row(0.23, 0.20, 0.26),
        "ns + plain EMA": row(0.30, 0.28, 0.32),
        "ns": row(0.27, 0.24, 0.31),
    }
    text = "\n".join(stacked.reading(rows, sorted(rows, key=lambda label: rows[label]["mean"])))
    assert "The EMA's ramp-up with ns** lowers KL from 0.300 (plain EMA) to 0.230 (CIs apart)" in text
    assert "**plain EMA with ns** raises KL from 0.270 to 0.300" in text


long_budget = pytest.importorskip("stacked_digits_long")


def test_the_long_budget_page_says_whether_the_goal_is_reached():
    def kl(mean, low, high):
        return {"mean": mean, "ci_low": low, "ci_high": high}

    surely = long_budget.goal_reading(kl(0.08, 0.07, 0.09), [1000] * 5)
    assert surely.startswith("**Goal reached**") and "every seed" in surely
    on_average = long_budget.goal_reading(kl(0.095, 0.08, 0.12), [1000] * 5)
    assert "reached on average, not surely" in on_average and "reaches 0.120" in on_average
    assert "not reached" in long_budget.goal_reading(kl(0.15, 0.1, 0.2), [1000] * 5)
    missing = long_budget.goal_reading(kl(0.08, 0.07, 0.09), [1000, 999, 1000])
    assert "not reached" in missing and "2 of 3 seeds (fewest 999)" in missing
    points = [{"step": 2500, "mean": 0.2}, {"step": 5000, "mean": 0.1}, {"step": 7500, "mean": 0.09}]
    assert "at 5,000 steps (2x the table's)" in long_budget.first_budget(points, 2500)
    assert "stays above" in long_budget.first_budget(points[:1], 2500)


def test_the_long_budget_curve_is_read_at_common_steps_of_every_run():
    def run(last, kl_at):
        return {step: {"kl_to_uniform": kl_at(step), "modes": 1000} for step in range(500, last + 1, 500)}

    runs = [run(31_000, lambda step: 1 / step), run(29_500, lambda step: 2 / step)]
    targets = long_budget.step_targets(runs, 2500)
    assert targets == [2500, 5000, 7500, 10_000, 15_000, 20_000, 25_000, 29_500]  # the shortest run's end
    points = long_budget.step_points(runs, targets, "kl_to_uniform")
    assert points[0]["step"] == 2500 and points[0]["mean"] == pytest.approx(1.5 / 2500)
    assert points[-1]["mean"] == pytest.approx(1.5 / 29_500) and points[-1]["n"] == 2
    assert long_budget.step_targets([run(1000, lambda step: 0.5)], 2500) == [1000]  # shorter than a unit


def test_the_long_budget_spec_is_the_shipped_one_unless_shrunk():
    import tomllib

    assert long_budget.spec_text(False, None) == long_budget.SPEC.read_text()
    shipped = tomllib.loads(long_budget.SPEC.read_text())
    shrunk = tomllib.loads(long_budget.spec_text(True, 2))
    assert shrunk["grid"]["seed"] == shipped["grid"]["seed"][:2]
    assert shrunk["base"]["time_budget_s"] < shipped["base"]["time_budget_s"]
    assert shrunk["base"]["g_lr"] == shipped["base"]["g_lr"]  # the recipe is the same, only smaller


def test_the_goal_is_judged_by_one_rule_on_both_pages():
    assert stacked.kl_goal({"mean": 0.08, "ci_high": 0.09}) == "surely"
    assert stacked.kl_goal({"mean": 0.09, "ci_high": 0.11}) == "on average"
    assert stacked.kl_goal({"mean": 0.09, "ci_high": None}) == "on average"
    assert stacked.kl_goal({"mean": 0.11, "ci_high": 0.12}) is None


def test_a_curve_levels_off_only_when_its_mean_stops_moving_not_when_its_cis_overlap():
    def point(step, mean, low, high):
        return {"step": step, "mean": mean, "ci_low": low, "ci_high": high, "n": 5}

    def where(point):
        return f"{point['step']:,} steps"

    # stacked_digits.md's curve: the last CIs overlap, but the mean fell 21 % over the last stretch
    short = [
        point(120, 0.214, 0.176, 0.253),
        point(240, 0.148, 0.110, 0.200),
        point(360, 0.117, 0.088, 0.164),
    ]
    assert stacked.ending(short, "step", where) == (
        "was still falling over its last stretch (0.148 at 240 steps, CIs overlap)"
    )
    # stacked_digits_long.md's: the stretch starts at the column nearest 3/4 of 34,902 (25,000)
    steps = [2500, 5000, 7500, 10_000, 15_000, 20_000, 25_000, 30_000, 34_902]
    means = [0.228, 0.133, 0.102, 0.087, 0.076, 0.072, 0.074, 0.073, 0.073]
    long = [point(step, mean, mean - 0.009, mean + 0.01) for step, mean in zip(steps, means, strict=True)]
    assert stacked.last_stretch_start(long, "step")["step"] == 25_000
    assert stacked.ending(long, "step", where) == (
        "had levelled off over its last stretch (0.074 at 25,000 steps, CIs overlap)"
    )
    rising = [point(1, 0.10, 0.09, 0.11), point(2, 0.10, 0.09, 0.11), point(3, 0.13, 0.12, 0.14)]
    assert stacked.ending(rising, "step", where).startswith("was rising again") and "CIs apart" in (
        stacked.ending(rising, "step", where)
    )
    one_seed = [dict(p, ci_low=None, ci_high=None) for p in short]
    assert "one seed, no CI" in stacked.ending(one_seed, "step", where)
    assert '5 % or more "was still falling"' in stacked.ending_rule()


def _record(seed: int, kl_curve: list[float], final_kl: float, steps: int = 1000):
    """A report seed's run as its journal keeps it: evaluations every 250 steps, its eval record."""
    from gankit.runs.compare import RunRecord

    evaluations = {
        "step": [250 * (k + 1) for k in range(len(kl_curve))],
        "eval_kl_to_uniform": kl_curve,
        "eval_modes": [1000] * len(kl_curve),
    }
    evaluated = {"n": 26000, "modes": 1000, "kl_to_uniform": final_kl, "fid": 2.0}
    evaluated |= {"floor_modes": 1000, "floor_kl_to_uniform": 0.02}
    trial = {"evaluations": evaluations, "eval": evaluated, "cpu_time": 250.0, "metrics": {}}
    return RunRecord(Path(f"trials/seed-{seed}"), {"seed": seed}, final_kl, trial, steps)


def test_settled_arms_are_ranked_and_the_others_shown_as_curves_from_the_journal_alone():
    from journaled import Cell

    def cell(label, curves):
        made = Cell(label, Path("spec.toml"), "trials = 3\n[base]\nseed = 0\n", {"objective": label})
        made.best = {"params": {"g_lr": 0.002}}
        made.seeds_text = "seeds"
        made.seeds = [_record(100 + k, curve, curve[-1]) for k, curve in enumerate(curves)]
        return made

    flat = cell("ns", [[0.5, 0.3, 0.2, 0.2], [0.6, 0.3, 0.25, 0.25]])  # last-quarter change 0 <= sd
    falling = cell("hinge", [[0.9, 0.7, 0.5, 0.3], [1.0, 0.8, 0.6, 0.4]])  # falls 0.2 > sd 0.07
    settled, unsettled, waiting = stacked.arms([falling, flat], "minimize")
    assert list(settled) == ["ns"] and settled["ns"][1]["kl_to_uniform"]["mean"] == pytest.approx(0.225)
    assert [c.label for c, _ in unsettled] == ["hinge"] and "not settled (-0.2 over steps" in unsettled[0][1]
    assert waiting == []
    lonely = cell("wgan-gp", [[0.5, 0.4, 0.3, 0.3]])  # one seed: no rule, no rank
    assert stacked.arms([lonely], "minimize")[2] == [
        "wgan-gp (1 report seeds finished: fewer than 2 report seeds finished)"
    ]


def test_the_long_budget_curve_is_read_from_the_runs_evaluations_as_the_journal_keeps_them():
    records = [_record(100, [0.4, 0.2, 0.1, 0.08], 0.07), _record(101, [0.5, 0.3, 0.12, None], 0.09)]
    runs = long_budget.curves_of(records)
    assert runs[0][1000] == {"kl_to_uniform": 0.08, "modes": 1000}
    assert sorted(runs[1]) == [250, 500, 750]  # an evaluation that was not finite is no point
    points = long_budget.step_points(runs, long_budget.step_targets(runs, 250), "kl_to_uniform")
    assert [point["step"] for point in points] == [250, 500, 750]
    assert points[-1]["mean"] == pytest.approx(0.11)
