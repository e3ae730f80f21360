"""Image metrics on Fashion-MNIST as a user gets them: Debian's ``dataset-fashion-mnist`` read in place.

The shipped Fashion-MNIST network reaches the test accuracy its card and docs/metrics.md state;
`gankit eval` picks it for fashion-mnist and scores a run trained without a validation part against
the published test split (t10k), floors at equal n; sharpness puts real images at 1 and blurred ones
clearly below. The tests skip, saying why, where the package is not installed (the tests that need
no data set are in tests/test_images_metrics.py and tests/test_eval_cli.py).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from gankit.data import load_data
from gankit.data.images import holdout_part
from gankit.metrics.evaluate import evaluate_samples
from gankit.metrics.images import SHIPPED_NETS, image_metrics, split_real
from gankit.metrics.labels import classify
from test_images_metrics import gaussian_blur

DEBIAN = Path("/usr/share/datasets/fashion-mnist")  # where dataset-fashion-mnist installs the files
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")  # fmt: skip
pytestmark = pytest.mark.skipif(
    not all((DEBIAN / name).is_file() for name in FILES),
    reason="Debian's dataset-fashion-mnist is not installed (as root: apt-get install "
    "dataset-fashion-mnist; make test does it through tests/ensure_fashion_mnist.sh)",
)
TINY_RUN = ("--steps", "2", "--batch-size", "8", "--width", "8", "--objective", "wgan-gp",
            "--eval-every", "0", "--sample-every", "0", "--checkpoint-every", "2")  # fmt: skip


@pytest.fixture(scope="module")
def training():
    return load_data("fashion-mnist")


@pytest.fixture(scope="module")
def test_split(training):
    return holdout_part(training, 0.0, "test")


def test_the_shipped_network_reaches_its_stated_accuracy_on_the_test_split(test_split):
    card = json.loads(SHIPPED_NETS["fashion"].card.read_text())
    predicted = classify(test_split.all(), "fashion")
    assert len(predicted) == 10_000
    assert round(float(np.mean(predicted == test_split.labels.numpy())), 4) == card["test_accuracy"]


def test_a_fashion_run_without_a_validation_part_is_scored_on_the_test_split(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", "fashion-mnist", *TINY_RUN, "--out", run)
    assert code == 0, err
    code, out, err = cli("eval", run, "--json", "--n", 100)
    assert code == 0, err
    report = json.loads(out)
    assert (report["features"], report["reference"]) == ("fashion", "test split (t10k)")
    assert (report["n_reference"], report["n_samples"], report["n_floor"]) == (5000, 100, 100)
    code, out, err = cli("eval", run, "--n", 100)
    assert code == 0, err
    assert out.splitlines()[0].endswith("100 samples against fashion-mnist (Fashion-MNIST features)")
    assert out.splitlines()[1].startswith("reference: test split (t10k), 5,000 images; image metrics of 100")


def test_training_images_score_at_their_equal_n_floor_against_the_test_split(training):
    samples = training.all().numpy()[:2500]  # real images, never in the test split
    metrics = evaluate_samples(samples, "fashion-mnist")
    assert metrics["reference"] == "test split (t10k)" and metrics["features"] == "fashion"
    assert metrics["n_samples"] == metrics["n_floor"] == 2500 and metrics["n_floor_max"] == 5000
    assert abs(metrics["fid"] - metrics["floor_fid"]) < 0.5 * metrics["floor_fid"]
    assert abs(metrics["precision"] - metrics["floor_precision"]) < 0.05
    assert metrics["classes"] == metrics["floor_classes"] == 10  # read by the Fashion-MNIST classifier
    assert metrics["class_kl"] < 0.01 and metrics["floor_class_kl"] < 0.01
    trousers = training.all().numpy()[training.labels.numpy() == 1][:500]
    assert evaluate_samples(trousers, "fashion-mnist")["classes"] == 1
    too_many = evaluate_samples(training.all().numpy()[:5001], "fashion-mnist")
    assert too_many["n_floor"] == 0 and "floor_fid" not in too_many
    assert "has 5,000 images, fewer than the 5,001 samples" in too_many["no_floor"]


def test_sharpness_of_real_blurred_and_noisy_fashion_images(training, test_split):
    real = training.all().numpy()[:1000]
    assert abs(image_metrics(real, test_split)["sharpness"] - 1) < 0.05
    _, other = split_real(len(test_split))
    floor = image_metrics(test_split.all().numpy()[other[:1000]], test_split)
    assert floor["sharpness"] == floor["floor_sharpness"] and abs(floor["sharpness"] - 1) < 0.05
    assert image_metrics(gaussian_blur(real, sigma=1.0), test_split)["sharpness"] < 0.3
    assert image_metrics(gaussian_blur(real, sigma=0.5), test_split)["sharpness"] < 0.8
    noise = np.random.default_rng(0).uniform(-1, 1, size=(1000, 1, 28, 28)).astype(np.float32)
    assert image_metrics(noise, test_split)["sharpness"] > 2
