"""gankit.stats: the t interval of the mean (its coverage, measured), a row's summary, and the two
budget rules, settled and flattened."""

import math

import numpy as np
import pytest

from gankit import stats


@pytest.mark.parametrize(
    "distribution, draw, true_mean, at_least",
    [
        ("normal", lambda rng, size: rng.normal(1.0, 0.2, size), 1.0, 0.94),
        # skewed (skewness ~1.8): the t interval's 95 % holds only approximately (91.6 % here);
        # compare's old percentile bootstrap covered 79.5 % of such groups, 84 % of the normal ones
        ("lognormal, sigma 0.5", lambda rng, size: rng.lognormal(0.0, 0.5, size), math.exp(0.125), 0.90),
    ],
)
def test_the_interval_of_the_mean_of_5_runs_covers_the_true_mean_95_percent_of_the_time(
    distribution, draw, true_mean, at_least
):
    """20,000 simulated groups of 5 seeds: the share of intervals that contain the true mean."""
    groups = draw(np.random.default_rng(0), (20_000, 5))
    low, high = stats.mean_interval(groups)
    coverage = np.mean((low <= true_mean) & (true_mean <= high))
    assert coverage >= at_least, f"{distribution}: {coverage:.3f}"


def test_an_interval_of_the_mean_needs_two_values_and_a_constant_sample_gives_that_constant():
    with pytest.raises(ValueError, match=">= 2 values"):
        stats.mean_interval([1.0])
    row = stats.summarize([0.1, 0.1, 0.1], "minimize")
    assert (row["ci_low"], row["ci_high"]) == (0.1, 0.1)  # not 0.1 ± an ulp of rounding


# ---------------------------------------------------------------------------------------------------
# The budget rules: settled (seed runs' validation curves), flattened (a search's best so far)

STEPS = list(range(100, 2100, 100))  # 20 evaluations; the last quarter: 1,500 to 2,000 (6 of them)
SEED_OFFSETS = np.array([[-0.2], [-0.1], [0.0], [0.1], [0.2]])  # 5 seeds, standard deviation 0.158


def test_a_curve_that_moves_less_than_the_seeds_differ_over_its_last_quarter_settled():
    flat = 1.0 + SEED_OFFSETS + np.zeros(len(STEPS))
    plateau = stats.settled(STEPS, flat)
    assert plateau.flat and plateau.change == pytest.approx(0, abs=1e-12)
    assert plateau.spread == pytest.approx(0.1581, abs=1e-4) and (plateau.start, plateau.end) == (1500, 2000)
    slow = flat - 1e-4 * np.array(STEPS)  # falls 0.05 over the last quarter: less than 0.158
    assert stats.settled(STEPS, slow).flat
    assert stats.settled(STEPS, slow).change == pytest.approx(-0.05)
    # noise around a flat curve: the line through the last quarter decides, not its two ends (which
    # differ by 0.2, more than the spread)
    zigzag = flat + 0.1 * (-1.0) ** np.arange(len(STEPS))
    assert stats.settled(STEPS, zigzag).flat
    assert stats.settled(STEPS, zigzag).change == pytest.approx(-0.1 * 15 / 17.5)


def test_a_curve_still_falling_by_more_than_the_seeds_spread_has_not_settled():
    falling = 1.0 + SEED_OFFSETS - 1e-3 * np.array(STEPS)  # 0.5 over the last quarter
    plateau = stats.settled(STEPS, falling)
    assert not plateau.flat and plateau.change == pytest.approx(-0.5)
    rising = 1.0 + SEED_OFFSETS + 1e-3 * np.array(STEPS)  # a curve getting worse has not settled either
    assert not stats.settled(STEPS, rising).flat
    agreeing = np.ones((3, len(STEPS))) - 1e-6 * np.array(STEPS)  # seeds that agree exactly: any move counts
    assert not stats.settled(STEPS, agreeing).flat
    wide = 1.0 + 10 * SEED_OFFSETS - 1e-3 * np.array(STEPS)  # ... and seeds 10x apart hide it
    assert stats.settled(STEPS, wide).flat


def test_a_diverged_seed_is_not_settled_and_the_rule_needs_two_seeds_and_two_late_evaluations():
    curves = 1.0 + SEED_OFFSETS + np.zeros(len(STEPS))
    curves[2, -1] = np.nan
    assert not stats.settled(STEPS, curves).flat
    with pytest.raises(ValueError, match="2 seeds"):
        stats.settled(STEPS, curves[:1])
    with pytest.raises(ValueError, match="2 evaluations in the last quarter"):
        stats.settled([100, 1000], np.ones((3, 2)))


def test_a_search_flattened_when_its_last_quarter_of_trials_improved_less_than_the_seeds_spread():
    counts, best = list(range(1, 9)), [5.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 2.9]  # best after 6 of 8: 3.0
    plateau = stats.flattened(counts, best, spread=0.2, direction="minimize")
    assert plateau.flat and plateau.change == pytest.approx(0.1) and (plateau.start, plateau.end) == (6, 8)
    assert not stats.flattened(counts, best, spread=0.05, direction="minimize").flat
    rising = [-value for value in best]  # the same search of a maximised metric
    assert stats.flattened(counts, rising, spread=0.05, direction="maximize").change == pytest.approx(0.1)
    # best_so_far's counts start at the first trial with a value: none by trial 6 of 8 says nothing
    assert stats.flattened([7, 8], [1.0, 0.5], spread=1.0, direction="minimize") is None


def test_best_so_far_counts_every_trial_and_its_cost_from_the_first_with_a_value():
    values, costs = [None, 3.0, None, 1.0, 2.0], [1.0, 2.0, 4.0, 8.0, 16.0]
    counts, spent, best = stats.best_so_far(values, costs, "minimize")
    assert (counts, spent, best) == ([2, 3, 4, 5], [3.0, 7.0, 15.0, 31.0], [3.0, 3.0, 1.0, 1.0])
    assert stats.best_so_far(values, costs, "maximize")[2] == [3.0, 3.0, 3.0, 3.0]
    assert stats.best_so_far([None], [1.0], "minimize") == ([], [], [])


def test_seeds_that_all_sit_at_the_same_constant_value_have_settled():
    """Every seed at 25 of 25 modes for the last quarter: no change and no spread is settled, not
    the line fit's rounding error against a spread of 0."""
    steps = [2500 * k for k in range(1, 41)]
    curves = [[min(25, k) for k in range(1, 41)] for _ in range(5)]
    reading = stats.settled(steps, curves)
    assert reading.flat and reading.change == 0.0 and reading.spread == 0.0
    rising = [row[:-1] + [26] for row in curves]  # every seed still moving at the end: not settled
    assert not stats.settled(steps, rising).flat
