"""Classes covered by unconditional samples of a labelled set (digits, mnist, fashion-mnist), read by
the data set's own shipped classifier, with the real images' own numbers at equal n beside them."""

import json
import math

import numpy as np
import pytest

from gankit.data import load_data
from gankit.metrics.labels import CLASS_SHARE, class_histogram_metrics


def test_class_histogram_against_hand_computed_values():
    # 40 samples: class 0 half, classes 1..9 the rest unevenly; a class counts from 1 sample (2.5 %) up
    classes = np.array([0] * 20 + [1] * 11 + [2] * 8 + [3])
    metrics = class_histogram_metrics(classes, 10)
    assert CLASS_SHARE / 10 * 40 == 1  # one sample is exactly the covered share here
    assert (metrics["classes"], metrics["classes_total"]) == (4, 10)
    p = np.array([20, 11, 8, 1]) / 40
    assert metrics["class_kl"] == pytest.approx(float(np.sum(p * np.log(10 * p))))
    below = class_histogram_metrics(np.array([0] * 79 + [1]), 10)  # 1 of 80 is under 2.5 %
    assert below["classes"] == 1
    uniform = class_histogram_metrics(np.arange(10).repeat(7), 10)
    assert uniform["classes"] == 10 and uniform["class_kl"] == pytest.approx(0.0, abs=1e-12)


def test_eval_reads_the_classes_of_unconditional_digit_samples(cli, tmp_path):
    digits = load_data("digits").all().numpy()
    np.save(tmp_path / "real.npy", digits[:400])
    np.save(tmp_path / "one.npy", np.repeat(digits[:1], 400, axis=0))  # every sample the same digit
    code, out, err = cli("eval", tmp_path / "one.npy", "--data", "digits", "--json")
    assert code == 0, err
    one = json.loads(out)
    assert (one["classes"], one["classes_total"]) == (1, 10)
    assert one["class_kl"] == pytest.approx(math.log(10))
    assert one["floor_classes"] == 10 and one["floor_class_kl"] < 0.05  # real digits, equal n
    code, out, err = cli("eval", tmp_path / "real.npy", "--data", "digits", "--json")
    real = json.loads(out)
    assert real["classes"] == 10 and real["class_kl"] < 0.05
    code, out, _ = cli("eval", tmp_path / "one.npy", "--data", "digits")
    assert "classes covered" in out and "1 / 10" in out


def test_other_image_sets_get_no_class_metrics(cli, tmp_path):
    stacked = load_data("stacked-digits").all()[:300].numpy()
    np.save(tmp_path / "stacked.npy", stacked)
    code, out, err = cli("eval", tmp_path / "stacked.npy", "--data", "stacked-digits", "--json")
    assert code == 0, err
    assert "classes" not in json.loads(out)  # 1,000 stacked modes are counted by their own metric
