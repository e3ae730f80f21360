"""Standardised toy networks (config ``standardize``): G and D work in units of the data's spread."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gankit
from gankit.config import build_config
from gankit.data.toy import get_toy
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator, data_statistics

TINY = {"width": 16, "depth": 1, "batch_size": 32, "log_every": 5, "eval_every": 0, "sample_every": 0}


def test_data_statistics_are_the_mean_and_rms_spread_and_repeat():
    mean, spread = data_statistics(get_toy("grid"))
    assert mean.abs().max() < 0.05  # the grid is centred on 0
    assert abs(spread.item() - 8**0.5) < 0.05  # Var of {-4, -2, 0, 2, 4} (plus sigma^2) is ~8
    again = data_statistics(get_toy("grid"))
    assert torch.equal(mean, again[0]) and torch.equal(spread, again[1])
    ring_spread = data_statistics(get_toy("ring"))[1].item()
    assert abs(ring_spread - 0.5**0.5) < 0.01  # unit circle: each coordinate has variance 1/2


def test_standardized_networks_are_the_plain_ones_in_standardised_units():
    torch.manual_seed(0)
    plain_g, plain_d = MLPGenerator(3, 2, 8, 2), MLPDiscriminator(2, 8, 2, pack=2)
    torch.manual_seed(0)
    g, d = MLPGenerator(3, 2, 8, 2, standardize=True), MLPDiscriminator(2, 8, 2, 2, standardize=True)
    mean, spread = torch.tensor([1.0, -2.0]), torch.tensor(3.0)
    g.standardized.set(mean, spread)
    d.standardized.set(mean, spread)
    z, x = torch.randn(6, 3), torch.randn(6, 2)
    torch.testing.assert_close(g(z), mean + spread * plain_g(z))
    torch.testing.assert_close(d(x), plain_d((x - mean) / spread))
    assert sum(p.numel() for p in g.parameters()) == sum(p.numel() for p in plain_g.parameters())
    assert {"standardized.mean", "standardized.spread"} <= set(g.state_dict())  # buffers, not trained


def test_a_standardized_run_keeps_its_statistics_and_samples_in_data_units(tmp_path):
    run = gankit.train("grid", "ns", 20, out=tmp_path / "std", progress=False, standardize=True, **TINY)
    assert json.loads((run.path / "config.json").read_text())["standardize"] is True
    checkpoint = sorted((run.path / "checkpoints").glob("*.pt"))[-1]
    state = torch.load(checkpoint, weights_only=False)
    mean, spread = data_statistics(get_toy("grid"))
    for player in ("generator", "discriminator"):
        torch.testing.assert_close(state[player]["standardized.spread"], spread)
        torch.testing.assert_close(state[player]["standardized.mean"], mean)
    samples = run.sample(500, seed=1)
    np.testing.assert_array_equal(samples, gankit.load(run.path).sample(500, seed=1))
    # an untrained-ish G is spread at the data's scale, not the unit scale of the plain network
    plain = gankit.train("grid", "ns", 20, out=tmp_path / "plain", progress=False, preset="paper", **TINY)
    assert samples.std() > 2 * plain.sample(500, seed=1).std()


def test_standardize_is_off_by_default_and_refused_for_images(cli, tmp_path):
    assert build_config().standardize is False
    code, _, err = cli("train", "--data", "digits", "--standardize", "--steps", "1", "--out", tmp_path / "r")
    assert code == 2 and "standardize applies to toy (flat) data only" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag", [["--standardize"], []])
def test_cli_flag_sets_the_key(cli, tmp_path, flag):
    out = tmp_path / "run"
    code, _, _ = cli("train", "--data", "ring", "--steps", "2", "--width", "8", "--depth", "1", *flag,
                     "--eval-every", "0", "--sample-every", "0", "--out", out)  # fmt: skip
    assert code == 0
    assert json.loads((out / "config.json").read_text())["standardize"] is bool(flag)


@pytest.mark.parametrize(
    ("preset", "coverage"), [("toy-modes", (0.0, 0, None)), ("toy-cover", (10.0, 0, 20000))]
)
def test_the_toy_modes_presets_train_standardized_networks_on_the_grid(cli, tmp_path, preset, coverage):
    out = tmp_path / "modes"
    code, _, _ = cli("train", "--data", "grid", "--preset", preset, "--steps", "3", "--width", "8",
                     "--depth", "1", "--out", out)  # fmt: skip
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["standardize"], config["batch_size"], config["pack"]) == (True, 512, 2)
    # toy-cover: + the term (0: over the whole run) and the late decay (which this 3-step run never reaches)
    assert (config["coverage_weight"], config["coverage_steps"], config["lr_decay_start"]) == coverage
    state = torch.load(sorted((out / "checkpoints").glob("*.pt"))[-1], weights_only=False)
    assert abs(state["generator"]["standardized.spread"].item() - 8**0.5) < 0.05
