"""Stacked digits: three digits as colour channels, 1,000 modes, counted with the shipped classifier."""

import json
import math

import numpy as np
import pytest
import torch

from gankit.data import load_data
from gankit.data.images import load_images
from gankit.metrics.labels import mode_histogram_metrics, stacked_modes


def test_each_channel_is_a_digit_and_the_label_names_all_three():
    data = load_data("stacked-digits")
    digits = load_images("digits")
    assert data.shape == (3, 8, 8) and data.num_classes == 1000 and len(data.all()) == 5000
    images, labels = data.sample_labelled(16, torch.Generator().manual_seed(1))
    labels_of = {}  # pixels -> the labels of the digits with exactly those pixels
    for digit, label in zip(digits.all()[:, 0], digits.labels, strict=True):
        labels_of.setdefault(digit.numpy().tobytes(), set()).add(int(label))
    for image, label in zip(images, labels, strict=True):
        red, green, blue = int(label) // 100, int(label) // 10 % 10, int(label) % 10
        for channel, digit in enumerate((red, green, blue)):
            assert digit in labels_of[image[channel].numpy().tobytes()]


def test_stacks_are_fresh_each_batch_but_the_reference_set_is_fixed():
    a, b = load_data("stacked-digits"), load_data("stacked-digits")
    assert torch.equal(a.all(), b.all())
    rng = torch.Generator().manual_seed(0)
    assert not torch.equal(a.sample(8, rng), a.sample(8, rng))


def test_mode_histogram_against_hand_computed_values():
    metrics = mode_histogram_metrics(np.array([0, 0, 1, 2]))
    assert metrics["modes"] == 3 and metrics["modes_total"] == 1000
    assert metrics["kl_to_uniform"] == pytest.approx(0.5 * math.log(500) + 2 * 0.25 * math.log(250))
    uniform = mode_histogram_metrics(np.arange(1000).repeat(3))
    assert uniform["modes"] == 1000 and uniform["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    # modes 0, 0, 1, 2 are digits (0, 0, 0), (0, 0, 0), (0, 0, 1), (0, 0, 2): red and green always 0
    blue = 0.5 * math.log(5) + 2 * 0.25 * math.log(2.5)
    assert metrics["kl_channels"] == pytest.approx(2 * math.log(10) + blue)
    assert uniform["kl_channels"] == pytest.approx(0.0, abs=1e-12)


def test_the_scarcest_digit_is_the_one_drawn_least_often_over_the_channels():
    every = np.arange(1000)
    modes = np.concatenate([every, every[every // 100 != 1]])  # red draws 1 at half the others' rate
    metrics = mode_histogram_metrics(modes)
    # of 1,900 samples, digit 1 is drawn 100 times in red and 190 in green and in blue; digit 0
    # 200, 190 and 190 times: shares 10 * mean(counts) / 1,900
    assert metrics["scarcest_digit"] == 1
    assert metrics["scarcest_digit_share"] == pytest.approx(10 * (100 + 190 + 190) / 3 / 1900)
    even = mode_histogram_metrics(np.arange(1000).repeat(3))
    assert even["scarcest_digit_share"] == pytest.approx(1.0)


def test_kl_splits_into_the_channels_part_and_their_dependence():
    """KL(p || uniform) = sum of the channels' KLs + KL(p || product of its marginals), exactly."""
    modes = np.random.default_rng(0).choice(
        1000, size=5000, p=np.random.default_rng(1).dirichlet(np.ones(1000))
    )
    metrics = mode_histogram_metrics(modes)
    p = np.bincount(modes, minlength=1000).reshape(10, 10, 10) / len(modes)
    product = np.einsum("i,j,k->ijk", p.sum((1, 2)), p.sum((0, 2)), p.sum((0, 1)))
    hit = p > 0
    dependence = np.sum(p[hit] * np.log(p[hit] / product[hit]))
    assert metrics["kl_to_uniform"] == pytest.approx(metrics["kl_channels"] + dependence)
    assert 0 < metrics["kl_channels"] < metrics["kl_to_uniform"]


def test_the_classifier_reads_real_stacks_back_to_their_modes():
    data = load_data("stacked-digits")
    images, labels = data.sample_labelled(2000, torch.Generator().manual_seed(2))
    agreement = np.mean(stacked_modes(images) == labels.numpy())
    assert agreement > 0.9  # 97.8 % per digit, cubed


def test_eval_counts_modes_of_a_samples_file(cli, tmp_path):
    collapsed = load_data("stacked-digits").all()[:1].repeat(300, 1, 1, 1).numpy()  # one mode only
    np.save(tmp_path / "collapsed.npy", collapsed)
    code, out, err = cli("eval", tmp_path / "collapsed.npy", "--data", "stacked-digits", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["modes"] == 1 and metrics["kl_to_uniform"] == pytest.approx(math.log(1000))
    assert metrics["floor_modes"] > 250  # 300 real stacks hit about 260 modes
    assert metrics["kl_channels"] == pytest.approx(metrics["kl_to_uniform"])  # one mode: no dependence
    assert 0 < metrics["floor_kl_channels"] < 0.2  # 300 real stacks: each channel's 10 digits near even
    assert metrics["scarcest_digit_share"] == 0.0 and 0.3 < metrics["floor_scarcest_digit_share"] <= 1.0
    code, out, _ = cli("eval", tmp_path / "collapsed.npy", "--data", "stacked-digits")
    assert "modes covered" in out and "1 / 1000" in out


def test_a_sweep_scores_stacked_digits_on_the_protocols_26000_samples(cli, tmp_path):
    from gankit.engine.restore import sample_run
    from gankit.metrics.labels import STACKED_SAMPLES
    from gankit.rundir import EVAL
    from gankit.runs import sweep as sweeps

    run = tmp_path / "run"
    code, _, err = cli("train", "--data", "stacked-digits", "--steps", "1", "--width", "4", "--out", run)
    assert code == 0, err
    record = sweeps.run_eval(run)  # what a sweep with metric = "modes" reads
    assert record["n"] == STACKED_SAMPLES == 26_000  # not the 2,500 of other data
    assert json.loads((run / EVAL).read_text()) == record
    # the modes and KL of the run's own 26,000 samples (eval's seed), each channel classified
    counted = mode_histogram_metrics(stacked_modes(sample_run(run, 26_000, sweeps.EVAL_SEED)))
    assert (record["modes"], record["kl_to_uniform"]) == (counted["modes"], counted["kl_to_uniform"])
    # as many real stacks hit all 1,000 modes, at a KL near (1000 - 1) / (2 * 26,000) = 0.019, the
    # sampling floor at that n (measured 0.0205; 2,500 stacks hit ~920 modes at ~0.2)
    assert record["floor_modes"] == 1000 and 0.017 < record["floor_kl_to_uniform"] < 0.025


def test_the_stacked_digits_preset_is_the_one_its_benchmark_chose_and_trains(cli, tmp_path):
    """The preset is what docs/benchmarks/stacked_digits_preset.md says the design makes (the page is
    rendered from the benchmark's journal), so the two cannot drift apart."""
    import re
    from pathlib import Path

    from gankit.config import build_config
    from gankit.presets import PRESETS

    page = (Path(__file__).resolve().parents[1] / "docs/benchmarks/stacked_digits_preset.md").read_text()
    chosen = json.loads(re.search(r"The preset it makes: `(\{.*?\})`", page).group(1))
    assert PRESETS["stacked-digits"] == chosen
    config = build_config(preset="stacked-digits")
    assert (config.data, config.objective, config.g_lr, config.d_lr) == ("stacked-digits", "ns", 2e-3, 7.7e-3)
    assert (config.ema_decay, config.ema_rampup, config.steps, config.width) == (0.999, 0.05, 18000, 48)
    run = tmp_path / "run"
    code, _, err = cli("train", "--preset", "stacked-digits", "--steps", "2", "--width", "4", "--out", run)
    assert code == 0, err
    written = json.loads((run / "config.json").read_text())
    assert (written["data"], written["steps"], written["width"], written["ema_decay"]) == (
        "stacked-digits",
        2,
        4,
        0.999,
    )
