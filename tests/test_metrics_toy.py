"""Toy metrics on cases with known answers (PacGAN protocol, reverse KL, exact W1)."""

import math

import numpy as np
import pytest
import torch

from gankit.config import TrainConfig, build_config
from gankit.data.toy import get_toy, sample_numpy
from gankit.engine.loop import Callback
from gankit.errors import GankitError
from gankit.metrics.toy import mode_statistics, reverse_kl, toy_metrics, wasserstein1
from gankit.runs.assemble import train

HQ_CEILING_2D = 1 - math.exp(-4.5)  # P(chi2 with 2 dof <= 9): a 2-D Gaussian's mass within 3 sigma


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_samples_of_the_true_mixture_cover_every_mode_at_the_hq_ceiling(name):
    data = get_toy(name)
    samples = sample_numpy(name, 20_000, seed=1)
    stats = mode_statistics(samples, data.modes.numpy(), data.sigma)
    assert stats.modes_covered == stats.modes_total == len(data.modes)
    # binomial standard error of the HQ fraction at n = 20,000 is 0.0007
    assert stats.high_quality == pytest.approx(HQ_CEILING_2D, abs=0.003)
    assert stats.reverse_kl < 0.01


def test_all_samples_on_one_mode_cover_one_mode_with_reverse_kl_ln_k():
    data = get_toy("grid")
    rng = np.random.default_rng(0)
    samples = data.modes.numpy()[7] + 0.5 * data.sigma * rng.standard_normal((2500, 2))
    stats = mode_statistics(samples, data.modes.numpy(), data.sigma)
    assert stats.modes_covered == 1
    assert stats.counts[7] == 2500 and sum(stats.counts) == 2500
    assert stats.high_quality == 1.0
    assert stats.reverse_kl == pytest.approx(math.log(25))


def test_uniform_noise_is_low_quality():
    data = get_toy("ring")
    samples = np.random.default_rng(0).uniform(-1.5, 1.5, size=(2500, 2))
    stats = mode_statistics(samples, data.modes.numpy(), data.sigma)
    # the 3-sigma discs cover 8 * pi * 0.03^2 / 3^2 = 0.25 % of the square
    assert stats.high_quality < 0.01
    assert stats.modes_covered == 0


def test_coverage_threshold_is_20_of_2500_scaled_with_the_sample_count():
    modes = np.array([[0.0, 0.0], [10.0, 0.0]])
    far = np.full((1, 2), 100.0)  # a low-quality sample, only there to set n

    def covered(on_mode_1: int, n: int) -> int:
        samples = np.concatenate([np.zeros((1, 2)), np.tile(modes[1], (on_mode_1, 1))])
        samples = np.concatenate([samples, np.repeat(far, n - len(samples), axis=0)])
        return mode_statistics(samples, modes, sigma=0.1).modes_covered

    # n = 2,500: threshold 20 -> 19 samples do not cover mode 1, 20 do (mode 0 holds 1 sample)
    assert covered(19, 2500) == 0
    assert covered(20, 2500) == 1
    # n = 5,000: threshold 40
    assert covered(39, 5000) == 0
    assert covered(40, 5000) == 1
    # n = 125: threshold 1 -> mode 0's single sample now counts too
    assert covered(1, 125) == 2


def test_high_quality_radius_is_three_sigma():
    modes = np.array([[0.0, 0.0]])
    samples = np.array([[0.29, 0.0], [0.0, -0.3], [0.31, 0.0], [0.3, 0.3]])
    stats = mode_statistics(samples, modes, sigma=0.1)
    assert stats.high_quality == 0.5
    assert stats.counts == [2]


def test_non_finite_samples_are_not_high_quality():
    modes = np.array([[0.0, 0.0], [1.0, 0.0]])
    samples = np.array([[0.0, 0.0], [np.nan, 0.0], [np.inf, np.inf], [1.0, 0.0]])
    stats = mode_statistics(samples, modes, sigma=0.1)
    assert stats.high_quality == 0.5
    assert stats.counts == [1, 1]


def test_reverse_kl_closed_forms():
    assert reverse_kl(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    assert reverse_kl(np.array([0, 9, 0])) == pytest.approx(math.log(3))
    # p = (1/2, 1/2, 0, 0) against q = 1/4: sum p ln(p/q) = ln 2
    assert reverse_kl(np.array([3, 3, 0, 0])) == pytest.approx(math.log(2))
    assert reverse_kl(np.array([0, 0])) is None  # no high-quality sample: undefined, not infinite


def test_w1_exact_on_hand_cases():
    # 2-D: moving two unit-mass points, each by its own distance
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([[0.0, 1.0], [1.0, 2.0]])
    assert wasserstein1(a, b) == pytest.approx((1.0 + 2.0) / 2)
    # the optimal coupling is not the given order: a -> b reversed costs 0
    assert wasserstein1(a, a[::-1]) == pytest.approx(0.0)
    # 3-4-5 triangle
    assert wasserstein1(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])) == pytest.approx(5.0)
    # 1-D: sorted samples matched in order
    assert wasserstein1(np.array([0.0, 1.0, 5.0]), np.array([2.0, 1.0, 0.0])) == pytest.approx(1.0)


def test_w1_of_a_1d_shift_is_the_shift():
    x = np.random.default_rng(0).standard_normal(1000)
    assert wasserstein1(x, x + 0.7) == pytest.approx(0.7)
    assert wasserstein1(x[:, None], x[:, None] - 2.5) == pytest.approx(2.5)


def test_w1_of_a_2d_shift_is_the_shift_length():
    x = np.random.default_rng(0).standard_normal((200, 2))
    assert wasserstein1(x, x + np.array([0.3, 0.4])) == pytest.approx(0.5)


def test_toy_metrics_of_true_samples_beat_a_collapsed_generator():
    data = get_toy("ring")
    true = sample_numpy("ring", 2500, seed=3)
    collapsed = np.tile(data.modes.numpy()[0], (2500, 1))
    good, bad = toy_metrics(true, data), toy_metrics(torch.from_numpy(collapsed), data)
    assert set(good) == {"w1", "modes", "modes_total", "high_quality", "reverse_kl"}
    assert good["modes"] == 8 and bad["modes"] == 1
    # W1 of two finite true samples is not 0 (mode counts fluctuate): ~0.08 for 1,500 ring points
    assert good["w1"] < 0.15 and bad["w1"] > 0.5
    assert bad["reverse_kl"] == pytest.approx(math.log(8))


def test_toy_metrics_without_modes_and_in_1d():
    swiss = toy_metrics(sample_numpy("swissroll", 300, seed=1), get_toy("swissroll"))
    assert set(swiss) == {"w1"}
    shifted = sample_numpy("gaussian-1d", 4000, seed=1) + 6.0
    one_d = toy_metrics(shifted, get_toy("gaussian-1d"))
    assert one_d["w1"] == pytest.approx(6.0, abs=0.1)
    assert one_d["modes"] == 0 and one_d["high_quality"] < 0.01


def test_toy_metrics_of_diverged_samples_keep_every_key():
    samples = sample_numpy("ring", 2500, seed=1)
    samples[::2] = np.nan
    metrics = toy_metrics(samples, get_toy("ring"))
    assert math.isnan(metrics["w1"])
    assert metrics["high_quality"] == pytest.approx(HQ_CEILING_2D / 2, abs=0.02)
    assert metrics["modes"] == 8


@pytest.mark.parametrize(
    "call",
    [
        lambda: mode_statistics(np.zeros((0, 2)), np.zeros((3, 2)), 0.1),
        lambda: mode_statistics(np.zeros((5, 3)), np.zeros((3, 2)), 0.1),
        lambda: wasserstein1(np.zeros((5, 1)), np.zeros((5, 2))),
        lambda: toy_metrics(np.zeros((5, 3)), get_toy("ring")),
    ],
)
def test_bad_shapes_are_clear_errors(call):
    with pytest.raises(GankitError):
        call()


class _RowRecorder(Callback):
    def __init__(self):
        self.rows = []

    def on_log(self, trainer, row):
        self.rows.append(dict(row))


def _train_rows(**changes):
    config = TrainConfig(
        data="ring",
        objective="ns",
        steps=30,
        width=16,
        depth=2,
        batch_size=32,
        log_every=5,
        sample_every=0,
        eval_samples=200,
        device="cpu",
        **changes,
    )
    recorder = _RowRecorder()
    train(config, callbacks=[recorder])
    return recorder.rows


def test_toy_metrics_are_logged_every_eval_every_steps_without_changing_training():
    rows = _train_rows(eval_every=10)
    evaluated = [row["step"] for row in rows if "eval_modes" in row]
    assert evaluated == [10, 20, 30]
    for row in rows:
        if "eval_modes" in row:
            assert {"eval_w1", "eval_high_quality", "eval_reverse_kl", "eval_modes_total"} <= set(row)
    # evaluation draws its own noise: the training numbers are identical with it off
    plain = _train_rows(eval_every=0)
    assert not any("eval_w1" in row for row in plain)
    assert [row["d_loss"] for row in plain] == [row["d_loss"] for row in rows]


def test_eval_every_that_is_not_a_multiple_of_log_every_still_evaluates():
    # rows at 5, 10, ..., 30; multiples of 7 are 7, 14, 21, 28 -> first rows at or after: 10, 15, 25, 30
    rows = _train_rows(eval_every=7)
    assert [row["step"] for row in rows if "eval_modes" in row] == [10, 15, 25, 30]


def test_toy_best_preset_builds_a_packed_ema_config_that_flags_override():
    config = build_config(preset="toy-best", overrides={"data": "grid", "steps": 7})
    assert config.pack > 1 and 0 < config.ema_decay < 1
    assert config.data == "grid" and config.steps == 7


def test_no_high_quality_sample_makes_reverse_kl_undefined_not_infinite():
    far = np.full((50, 2), 100.0)
    stats = mode_statistics(far, np.array([[0.0, 0.0], [1.0, 0.0]]), 0.01)
    assert stats.high_quality == 0 and stats.reverse_kl is None


def test_demo_summary_prints_an_undefined_reverse_kl_as_n_a():
    from gankit.demo import format_summary

    metrics = {"modes": 0, "modes_total": 8, "high_quality": 0.0, "w1": 1.5, "seconds": 3.0}
    text = format_summary(
        {"minimax": (None, metrics | {"reverse_kl": None}), "ns": (None, metrics | {"reverse_kl": 0.25})}
    )
    assert " n/a " in text and " 0.250 " in text
