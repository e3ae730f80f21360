"""Toy distributions: the right modes, the right spread, deterministic sampling."""

import math

import numpy as np
import pytest
import torch

from gankit.data.toy import TOY_DATASETS, get_toy, sample_numpy
from gankit.errors import GankitError


def test_ring_has_eight_distinct_modes_on_the_unit_circle():
    ring = get_toy("ring")
    modes = ring.modes.numpy()
    assert modes.shape == (8, 2)
    # The linspace(0, 2*pi, 8) bug repeats the first angle: insist on 8 distinct points.
    distances = np.linalg.norm(modes[:, None] - modes[None], axis=-1)
    assert np.all(distances[~np.eye(8, dtype=bool)] > 0.7)
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), 1.0, atol=1e-6)
    angles = np.sort(np.mod(np.arctan2(modes[:, 1], modes[:, 0]), 2 * math.pi))
    np.testing.assert_allclose(angles, 2 * math.pi * np.arange(8) / 8, atol=1e-6)
    assert ring.sigma == 0.01


def test_grid_has_25_modes_at_minus4_to_4():
    grid = get_toy("grid")
    modes = grid.modes.numpy()
    assert modes.shape == (25, 2) and grid.sigma == 0.05
    assert sorted(set(modes[:, 0].round(6))) == [-4, -2, 0, 2, 4]
    assert len({tuple(m) for m in modes.round(6)}) == 25


def test_igul_sets_are_scaled_like_the_wgan_gp_reference_code():
    ring = get_toy("ring-igul")
    np.testing.assert_allclose(np.linalg.norm(ring.modes.numpy(), axis=1), 2 / 1.414, rtol=1e-5)
    assert ring.sigma == pytest.approx(0.02 / 1.414)
    grid = get_toy("grid-igul")
    assert grid.modes.numpy().max() == pytest.approx(4 / 2.828)
    assert grid.sigma == pytest.approx(0.05 / 2.828)


@pytest.mark.parametrize("name", ["ring", "grid", "mixture-1d"])
def test_samples_spread_around_their_nearest_mode_with_sigma(name):
    data = get_toy(name)
    samples = sample_numpy(name, 20000, seed=0)
    modes = data.modes.numpy()
    offsets = samples[:, None, :] - modes[None]
    nearest = np.linalg.norm(offsets, axis=-1).argmin(axis=1)
    residual = samples - modes[nearest]
    assert residual.std() == pytest.approx(data.sigma, rel=0.05)
    counts = np.bincount(nearest, minlength=len(modes))
    assert counts.min() > 0.7 * len(samples) / len(modes)  # equal weights


def test_swissroll_matches_sklearn_scale():
    from sklearn.datasets import make_swiss_roll

    ours = sample_numpy("swissroll", 5000, seed=0)
    theirs = make_swiss_roll(5000, noise=0.25, random_state=0)[0][:, [0, 2]] / 7.5
    assert ours.shape == (5000, 2)
    np.testing.assert_allclose(np.abs(ours).mean(0), np.abs(theirs).mean(0), rtol=0.05)


def test_sampling_is_deterministic_for_a_seed_and_different_across_seeds():
    a = sample_numpy("grid", 100, seed=3)
    b = sample_numpy("grid", 100, seed=3)
    c = sample_numpy("grid", 100, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_every_toy_set_samples_float32_of_its_shape():
    generator = torch.Generator().manual_seed(0)
    for name, data in TOY_DATASETS.items():
        batch = data.sample(7, generator)
        assert batch.shape == (7, *data.shape), name
        assert batch.dtype == torch.float32


def test_unknown_name_lists_the_allowed_ones():
    with pytest.raises(GankitError, match="unknown data set 'rings'.*ring, grid"):
        get_toy("rings")
