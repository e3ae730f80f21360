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


def test_an_ema_row_that_bought_many_more_steps_than_its_objective_is_flagged(monkeypatch):
    steps = {"hinge": [2461, 2481, 2545], "hinge + EMA": [3835, 4305, 4479], "ns": [2500], "ns + EMA": [2420]}
    monkeypatch.setattr(stacked, "steps_trained", lambda directory: steps[directory])
    labels = list(steps)
    warning = " ".join(stacked.speed_check(labels, {label: label for label in labels}))
    assert "not a fair comparison" in warning
    assert "hinge + EMA 4,305 steps against hinge's 2,481" in warning and "ns + EMA" not in warning
    steps["hinge + EMA"] = [2400, 2450, 2500]
    assert stacked.speed_check(labels, {label: label for label in labels}) == []


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


def test_budget_curve_points_take_each_seeds_checkpoint_nearest_to_the_time():
    curves = [{500: {"kl_to_uniform": 0.3}, 1000: {"kl_to_uniform": 0.1}}, {400: {"kl_to_uniform": 0.5}}]
    curves[1][1100] = {"kl_to_uniform": 0.2}
    kl = stacked.curve_points(curves, budget=240, step_budget=120)
    assert [point["cpu_s"] for point in kl] == [120, 240]
    assert [point["mean"] for point in kl] == pytest.approx([0.4, 0.15])  # each run's half-way and end


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


def test_the_budget_curve_section_judges_the_goal_by_the_shared_rule():
    def point(cpu_s, mean, low, high):
        return {"cpu_s": cpu_s, "mean": mean, "ci_low": low, "ci_high": high, "n": 5}

    def text(last):
        curves = {"ns + EMA": [point(120, 0.2, 0.18, 0.22), point(240, 0.12, 0.1, 0.14), last]}
        base = {"time_budget_s": 120, "checkpoint_every": 500}
        return "\n".join(stacked.curve_section(curves, 360, base, {"ns + EMA": {"mean": 0.21}}))

    assert "reaches (its whole CI) the goal" in text(point(360, 0.08, 0.07, 0.09))
    assert "reaches on average (not surely: the CI of the mean reaches 0.110)" in text(
        point(360, 0.09, 0.07, 0.11)
    )
    assert "does not reach the goal" in text(point(360, 0.11, 0.1, 0.12))
    assert stacked.kl_goal({"mean": 0.09, "ci_high": None}) == "on average"


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


def test_the_budget_curve_section_states_the_rule_its_ending_uses():
    def point(cpu_s, mean, low, high):
        return {"cpu_s": cpu_s, "mean": mean, "ci_low": low, "ci_high": high, "n": 5}

    curves = {
        "ns + EMA": [
            point(120, 0.214, 0.176, 0.253),
            point(240, 0.148, 0.11, 0.2),
            point(360, 0.117, 0.088, 0.164),
        ]
    }
    base = {"time_budget_s": 120, "checkpoint_every": 500}
    text = "\n".join(stacked.curve_section(curves, 360, base, {"ns + EMA": {"mean": 0.229}}))
    assert stacked.ending_rule() in text
    assert "was still falling over its last stretch (0.148 at 240 CPU-s, CIs overlap)" in text
    assert "levelled off" not in text.split(stacked.ending_rule())[1]
