"""Image metrics on known cases: identical sets ~0, shifted sets larger and monotone in the shift;
the feature network chosen per data set, floors at equal n, and sharpness (blur scores below 1)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit.data.images import ImageDataset, load_images
from gankit.errors import GankitError
from gankit.metrics.images import (
    FEATURE_CARD,
    SHIPPED_NETS,
    compare_features,
    frechet_distance,
    image_features,
    image_metrics,
    kernel_distance,
    laplacian_variance,
    load_feature_net,
    missing_floor,
    precision_recall_density_coverage,
    resolve_features,
    sharpness,
    split_real,
)


def gaussian(n=600, dim=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim))


def test_fid_closed_forms_for_shift_and_scale():
    x = gaussian()
    shift = np.linspace(-1, 1, x.shape[1])
    # Same covariance, means apart by c: FID = ||c||^2 exactly.
    assert frechet_distance(x, x + shift) == pytest.approx(np.sum(shift**2), rel=1e-6)
    # fake = a x: S_g = a^2 S, so FID = ||mu - a mu||^2 + (1 - a)^2 Tr S.
    a = 1.5
    mean, covariance = x.mean(0), np.cov(x, rowvar=False)
    expected = np.sum((mean - a * mean) ** 2) + (1 - a) ** 2 * np.trace(covariance)
    assert frechet_distance(x, a * x) == pytest.approx(expected, rel=1e-5)


def test_identical_sets_score_zero_distance_and_perfect_prdc():
    x = gaussian()
    metrics = compare_features(x, x.copy())
    assert metrics["fid"] == pytest.approx(0, abs=1e-6)
    # KID is an unbiased MMD^2 estimate: about 0 (slightly negative for identical sets, since the
    # cross term keeps the k(x, x) diagonal), tiny next to a real difference.
    assert abs(metrics["kid"]) < 0.1 * kernel_distance(x, x + 1.0)
    assert metrics["precision"] == metrics["recall"] == metrics["coverage"] == 1.0
    assert metrics["density"] == pytest.approx(1.0, abs=0.15)  # 1 in expectation for one distribution


def test_distances_grow_and_prdc_falls_monotonically_with_the_shift():
    real = gaussian(seed=1)
    rows = [compare_features(real, gaussian(seed=2) + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    for key in ("fid", "kid"):
        values = [row[key] for row in rows]
        assert values == sorted(values) and values[-1] > values[0] + 1, (key, values)
    for key in ("precision", "recall", "density", "coverage"):
        values = [row[key] for row in rows]
        assert values == sorted(values, reverse=True) and values[-1] < values[0] - 0.5, (key, values)


def test_kid_is_deterministic_for_a_seed():
    real, fake = gaussian(seed=1), gaussian(seed=2) + 0.3
    assert kernel_distance(real, fake, seed=4) == kernel_distance(real, fake, seed=4)


def test_prdc_matches_the_reference_implementation():
    prdc = pytest.importorskip("prdc")
    real, fake = gaussian(300, seed=3), gaussian(200, seed=4) * 1.3 + 0.2
    ours = precision_recall_density_coverage(real, fake, k=5)
    theirs = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_shipped_feature_net_recognises_digits_and_matches_its_checksum():
    from sklearn.datasets import load_digits

    card = json.loads(FEATURE_CARD.read_text())
    net = load_feature_net()
    with torch.no_grad():
        predicted = net(load_images("digits").all()).argmax(1).numpy()
    accuracy = (predicted == load_digits().target).mean()
    assert accuracy > 0.95 and card["held_out_accuracy"] > 0.9


@pytest.mark.parametrize("name", ["digits", "fashion"])
def test_tampered_or_missing_weights_are_refused(tmp_path, name):
    shipped = SHIPPED_NETS[name]
    weights, card = tmp_path / "w.safetensors", tmp_path / "w.json"
    shutil.copy(shipped.card, card)
    raw = bytearray(shipped.weights.read_bytes())
    raw[-1] ^= 1  # flip one bit of one weight
    weights.write_bytes(bytes(raw))
    with pytest.raises(GankitError, match="does not match its SHA-256"):
        load_feature_net(name, weights, card)
    with pytest.raises(GankitError, match=f"weights missing .*{shipped.script}"):
        load_feature_net(name, tmp_path / "absent.safetensors", card)


def test_the_fashion_network_is_small_checksummed_and_gives_fixed_features_on_fixed_input():
    """The shipped file matches its card, and its features of a fixed input are pinned: a retrained,
    swapped or differently preprocessed network fails here (Debian's files are not needed)."""
    card = json.loads(SHIPPED_NETS["fashion"].card.read_text())
    assert SHIPPED_NETS["fashion"].weights.stat().st_size < 400_000  # a few hundred KB
    assert card["parameters"] == sum(p.numel() for p in load_feature_net("fashion").parameters())
    assert card["test_accuracy"] > 0.88 and card["trained_with"] == "scripts/train_fashion_features.py"
    docs = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    assert f"{100 * card['test_accuracy']:.2f} % on the published test split" in docs  # as stated
    assert f"`{card['sha256'][:8]}…`" in docs
    ramp = torch.linspace(-1, 1, 2 * 32 * 32).reshape(2, 1, 32, 32)  # resized to 28x28 on the way in
    features = image_features(ramp, "fashion")
    assert features.shape == (2, 64)
    np.testing.assert_allclose(features[:, :4], FASHION_FEATURES_OF_RAMP, atol=1e-4)
    assert np.array_equal(features, image_features(ramp, "fashion"))


# The first four features of the ramp by the shipped network (scripts/train_fashion_features.py, seed 0)
FASHION_FEATURES_OF_RAMP = [[-0.41921, 4.77184, -4.81843, 4.22739], [1.61395, 5.34231, -6.18478, -4.26484]]


def test_auto_features_pick_the_network_trained_on_the_data_set():
    assert resolve_features("auto", "fashion-mnist") == "fashion"
    for name in ("digits", "stacked-digits", "mnist", "cifar10", "my/images.npy"):
        assert resolve_features("auto", name) == "digits", name
    assert resolve_features("digits", "fashion-mnist") == "digits"  # an explicit choice stands
    assert resolve_features("inception", "digits") == "inception"
    with pytest.raises(GankitError, match="unknown feature network 'vgg'; allowed: auto, digits"):
        resolve_features("vgg", "digits")
    # image_metrics on a set named fashion-mnist (stand-in images: Debian's files are not needed)
    images = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (80, 1, 28, 28)).astype(np.float32))
    stand_in = ImageDataset("fashion-mnist", images)
    samples = np.clip(images.numpy()[:30] * 0.5, -1, 1)
    auto = image_metrics(samples, stand_in)
    assert auto == image_metrics(samples, stand_in, "fashion")
    assert auto["fid"] != image_metrics(samples, stand_in, "digits")["fid"]


def test_the_floor_uses_as_many_real_images_as_there_are_samples():
    data = load_images("digits")
    images = data.all().numpy()
    reference, other = split_real(len(images))
    n = 300
    metrics = image_metrics(images[other][n:], data)  # 599 real images as "samples"
    assert metrics["n_samples"] == metrics["n_floor"] == 599 and metrics["n_reference"] == 898
    metrics = image_metrics(images[other][:n], data)
    assert metrics["n_samples"] == metrics["n_floor"] == n and metrics["n_floor_max"] == 899
    real = image_features(images[reference])
    floor = image_features(images[other[:n]])  # the first n of the other half, the same reference
    assert metrics["floor_fid"] == pytest.approx(frechet_distance(real, floor))
    whole_half = frechet_distance(real, image_features(images[other]))
    assert metrics["floor_fid"] > 1.5 * whole_half  # FID's bias at small n: why n must be equal
    assert missing_floor(metrics) is None


def test_no_floor_is_shown_when_the_reference_is_too_small_for_equal_n():
    data = load_images("digits")
    noise = np.random.default_rng(0).uniform(-1, 1, size=(900, 1, 8, 8)).astype(np.float32)
    metrics = image_metrics(noise, data)
    assert metrics["n_floor"] == 0 and not any(key.startswith("floor_") for key in metrics)
    assert metrics["fid"] > 0 and metrics["n_floor_max"] == 899
    assert missing_floor(metrics).startswith("no real-vs-real floor: the reference's other half has 899")
    assert "score 899 samples or fewer" in missing_floor(metrics)


def test_stacked_digits_floors_draw_fresh_real_stacks_at_any_n():
    from gankit.data.images import StackedDigits

    data = StackedDigits()
    samples = data.sample(3000, torch.Generator().manual_seed(5)).numpy()  # more than either half
    metrics = image_metrics(samples, data)
    assert metrics["n_floor"] == 3000 and metrics["n_reference"] == 2500 and "n_floor_max" not in metrics
    assert abs(metrics["fid"] - metrics["floor_fid"]) < 0.5 * metrics["floor_fid"]  # both real stacks


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Each channel blurred by a Gaussian of ``sigma`` pixels (borders replicated)."""
    radius = int(np.ceil(3 * sigma))
    taps = torch.exp(-(torch.arange(-radius, radius + 1.0) ** 2) / (2 * sigma**2))
    kernel = (taps[:, None] * taps[None, :] / taps.sum() ** 2)[None, None]
    x = torch.from_numpy(images)
    n, c, h, w = x.shape
    padded = F.pad(x.reshape(n * c, 1, h, w), (radius,) * 4, mode="replicate")
    return F.conv2d(padded, kernel).reshape(n, c, h, w).numpy()


def test_sharpness_is_a_ratio_of_laplacian_variances():
    images = np.random.default_rng(0).uniform(-1, 1, size=(20, 3, 6, 6)).astype(np.float32)
    assert sharpness(2 * images, images) == pytest.approx(4.0, rel=1e-6)  # quadratic in contrast
    assert laplacian_variance(np.full((4, 1, 5, 5), 0.3, dtype=np.float32)) == 0  # flat: no detail
    ramp = np.broadcast_to(np.linspace(-1, 1, 7, dtype=np.float32), (2, 1, 7, 7))
    assert laplacian_variance(ramp) == pytest.approx(laplacian_variance(ramp[:, :, ::-1]))
    assert np.isnan(sharpness(images, np.zeros_like(images)))


def test_sharpness_of_real_blurred_and_noisy_digits():
    data = load_images("digits")
    images = data.all().numpy()
    _, other = split_real(len(images))
    real = image_metrics(images[other][:500], data)
    assert real["sharpness"] == real["floor_sharpness"] and abs(real["sharpness"] - 1) < 0.1
    blurred = image_metrics(gaussian_blur(images[other][:500], sigma=1.0), data)
    assert blurred["sharpness"] < 0.5
    noise = np.random.default_rng(0).uniform(-1, 1, size=(500, 1, 8, 8)).astype(np.float32)
    assert image_metrics(noise, data)["sharpness"] > 1.5


def test_image_metrics_on_digits_put_real_halves_near_the_floor_and_noise_far_above():
    data = load_images("digits")
    reference, floor = split_real(len(data))
    assert len(set(reference) & set(floor)) == 0 and len(reference) + len(floor) == len(data)
    real_half = data.all().numpy()[floor]
    as_real = image_metrics(real_half, data)
    # The floor half scored as "samples" reproduces the floor exactly.
    assert as_real["fid"] == pytest.approx(as_real["floor_fid"])
    assert as_real["precision"] == as_real["floor_precision"]
    noise = np.random.default_rng(0).uniform(-1, 1, size=(500, 1, 8, 8)).astype(np.float32)
    scored = image_metrics(noise, data)
    assert scored["fid"] > 10 * scored["floor_fid"]
    assert scored["precision"] < scored["floor_precision"] / 2


def test_brightness_shift_of_real_digits_raises_fid_monotonically():
    data = load_images("digits")
    reference, floor = split_real(len(data))
    images = data.all().numpy()
    net = load_feature_net()
    real = image_features(images[reference], net)
    shifted = [np.clip(images[floor] + shift, -1, 1) for shift in (0.0, 0.2, 0.5, 1.0)]
    fids = [frechet_distance(real, image_features(fake, net)) for fake in shifted]
    assert fids == sorted(fids) and fids[-1] > 2 * fids[0], fids


def test_samples_of_the_wrong_shape_or_too_few_are_refused():
    data = load_images("digits")
    with pytest.raises(GankitError, match="do not match images of shape"):
        image_metrics(np.zeros((50, 1, 16, 16), dtype=np.float32), data)
    with pytest.raises(GankitError, match="need more than 5 samples"):
        image_metrics(np.zeros((3, 1, 8, 8), dtype=np.float32), data)


def test_image_runs_log_their_metrics_over_training_against_what_eval_uses(tmp_path):
    from gankit.config import TrainConfig
    from gankit.data import load_data
    from gankit.data.images import holdout_part
    from gankit.metrics.evaluate import metrics_against
    from gankit.rundir import read_metrics
    from gankit.runs.assemble import evaluation_reference, train

    config = TrainConfig(data="digits", objective="ns", steps=6, width=4, latent_dim=8, batch_size=16,
                         log_every=2, eval_every=4, eval_samples=60, sample_every=0,
                         validation_fraction=0.5, device="cpu")  # fmt: skip
    result = train(config, tmp_path / "run")
    rows = read_metrics(tmp_path / "run")
    evaluated = [row["step"] for row in rows if "eval_fid" in row]
    assert evaluated == [4, 6]  # every eval_every steps, and the last row
    last = rows[-1]
    for key in ("fid", "kid", "precision", "recall", "density", "coverage"):
        assert np.isfinite(last[f"eval_{key}"]), key
    assert not any(key.startswith(("eval_floor_", "eval_n_")) for key in last)  # floors do not move
    reference = evaluation_reference(result.trainer.config, result.trainer.data)
    validation = holdout_part(load_data("digits"), 0.5, "validation")
    assert torch.equal(reference.all(), validation.all())  # the validation part, as `gankit eval` uses
    expected = metrics_against(result.trainer.sample(60, seed=config.seed + 1).numpy(), reference)
    assert last["eval_fid"] == pytest.approx(expected["fid"])


def test_an_image_row_with_non_finite_samples_is_logged_without_metrics(monkeypatch):
    from gankit.data import load_data
    from gankit.runs.assemble import Evaluator

    class NaNTrainer:
        step = 4

        def evaluation_due(self, every):
            return True

        def sample(self, n, seed):
            return torch.full((n, 1, 8, 8), float("nan"))

    row = {"step": 4}
    Evaluator(every=4, samples=20, seed=1, reference=load_data("digits")).on_log(NaNTrainer(), row)
    assert row == {"step": 4}


def test_a_tiny_image_set_trains_without_metrics_and_says_why(tmp_path):
    from gankit.config import TrainConfig
    from gankit.rundir import read_metrics
    from gankit.runs.assemble import train

    path = tmp_path / "ten.npy"
    np.save(path, np.random.default_rng(0).uniform(-1, 1, size=(10, 1, 8, 8)).astype(np.float32))
    config = TrainConfig(data=str(path), objective="ns", steps=4, width=4, latent_dim=8, batch_size=4,
                         log_every=2, eval_every=2, sample_every=0, device="cpu")  # fmt: skip
    messages = []
    train(config, tmp_path / "run", echo=messages.append)
    assert any("no quality metrics during training: image metrics need more than" in m for m in messages)
    assert [row["step"] for row in read_metrics(tmp_path / "run")] == [2, 4]
    assert not any(key.startswith("eval_fid") for row in read_metrics(tmp_path / "run") for key in row)
