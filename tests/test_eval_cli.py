"""`gankit eval RUN_DIR|FILE.npy` and the library functions behind it."""

import json
import math
import sys
import types

import numpy as np
import pytest
import torch

from gankit.config import TrainConfig
from gankit.data.toy import sample_numpy
from gankit.errors import GankitError
from gankit.metrics import evaluate
from gankit.metrics.commands import format_checkpoints, format_table
from gankit.metrics.evaluate import evaluate_run, evaluate_samples
from gankit.runs.assemble import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    config = TrainConfig(
        data="ring",
        objective="ns",
        steps=10,
        width=16,
        depth=2,
        batch_size=32,
        eval_every=0,
        sample_every=0,
        device="cpu",
    )
    train(config, out)
    return out


@pytest.fixture
def true_ring_file(tmp_path):
    path = tmp_path / "ring.npy"
    np.save(path, sample_numpy("ring", 2500, seed=5).astype(np.float32))
    return path


def test_eval_of_a_run_prints_a_table_of_its_metrics(cli, run_dir):
    code, out, err = cli("eval", run_dir, "--n", 500)
    assert code == 0, err
    assert "500 samples against ring" in out
    for label in ("modes covered", "high quality", "reverse KL", "W1"):
        assert label in out
    assert " / 8" in out


def test_eval_json_of_a_run_matches_the_library_and_is_deterministic(cli, run_dir):
    code, out, _ = cli("eval", run_dir, "--json", "--n", 500, "--seed", 3)
    assert code == 0
    report = json.loads(out)
    assert report["data"] == "ring" and report["n"] == 500
    expected = evaluate_run(run_dir, n=500, seed=3)
    # No high-quality sample after 10 steps: the reverse KL is undefined (None), written as null
    expected = {
        key: value if value is None or math.isfinite(value) else None for key, value in expected.items()
    }
    assert {key: report[key] for key in expected} == pytest.approx(expected)
    assert json.loads(cli("eval", run_dir, "--json", "--n", 500, "--seed", 3)[1]) == report


def test_eval_of_a_file_of_true_samples_finds_every_mode(cli, true_ring_file):
    code, out, err = cli("eval", true_ring_file, "--data", "ring", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == 2500 and report["modes"] == 8
    assert report["high_quality"] > 0.97
    code, out, _ = cli("eval", true_ring_file, "--data", "ring", "--json", "--n", 1000)
    assert json.loads(out)["n"] == 1000
    code, out, _ = cli("eval", true_ring_file, "--data", "ring")
    assert code == 0 and "8 / 8" in out


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda d: d / "missing.npy", ["--data", "ring"], "not found"),
        (lambda d: _write(d / "text.npy", b"not an array"), ["--data", "ring"], "not a NumPy"),
        (lambda d: _write(d / "notes.txt", b"hello"), ["--data", "ring"], "neither a run directory"),
        (lambda d: d, ["--data", "ring"], "not a gankit run directory"),
        (lambda d: _save(d, np.zeros((10, 3))), ["--data", "ring"], "do not fit data 'ring'"),
        (lambda d: _save(d, np.zeros((10, 2, 1))), ["--data", "ring"], "do not fit data 'ring'"),
        (lambda d: _save(d, np.zeros((0, 2))), ["--data", "ring"], "do not fit data 'ring'"),
        (lambda d: _save(d, np.array([[0.0, np.nan]] * 4)), ["--data", "ring"], "4 of 4 samples contain NaN"),
        (lambda d: _save(d, np.array([["a", "b"]])), ["--data", "ring"], "real numbers"),
        (lambda d: _save(d, np.zeros((10, 2))), [], "--data is required"),
        (lambda d: _save(d, np.zeros((10, 2))), ["--data", "moons"], "unknown data set 'moons'"),
        (lambda d: _save(d, np.zeros((10, 2))), ["--data", ""], "--data is empty"),
        (lambda d: _save(d, np.zeros((10, 2))), ["--data", "ring", "--n", 0], "--n must be > 0"),
        (lambda d: _save(d, np.zeros((10, 2))), ["--data", "ring", "--n", 11], "more than the 10 samples"),
        (lambda d: _savez(d), ["--data", "ring"], "several arrays"),
        (lambda d: _save(d, np.zeros((10, 2))), ["--data", "ring", "--checkpoints"], "needs a run directory"),
    ],
)
def test_bad_input_is_one_clear_line(cli, tmp_path, make, args, message):
    code, out, err = cli("eval", make(tmp_path), *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def _save(directory, array):
    path = directory / "samples.npy"
    np.save(path, array)
    return path


def _savez(directory):
    path = directory / "archive.npy"  # an .npz archive behind a .npy name
    with path.open("wb") as handle:
        np.savez(handle, a=np.zeros((3, 2)), b=np.ones(2))
    return path


def test_eval_of_a_run_rejects_a_bad_sample_count(cli, run_dir):
    code, _, err = cli("eval", run_dir, "--n", -1)
    assert code == 2 and "--n must be > 0" in err


def test_evaluate_samples_accepts_flat_1d_arrays():
    flat = sample_numpy("mixture-1d", 2500, seed=0)[:, 0]
    metrics = evaluate_samples(flat, "mixture-1d")
    assert metrics["modes"] == 2


class _FakeImages:
    name, shape, modes, sigma = "fake-images", (1, 4, 4), None, None


def test_image_data_is_dispatched_to_the_image_metrics(monkeypatch):
    seen = {}

    def image_metrics(samples, data, features):
        seen["samples"], seen["data"], seen["features"] = samples, data, features
        return {"fid": 1.5}

    stand_in = types.SimpleNamespace(
        image_metrics=image_metrics,
        resolve_features=lambda features, name: f"{features} on {name}",
        missing_floor=lambda metrics: None,
    )
    monkeypatch.setattr(evaluate, "load_data", lambda name, image_size=None: _FakeImages())
    monkeypatch.setitem(sys.modules, "gankit.metrics.images", stand_in)
    samples = np.zeros((6, 1, 4, 4))
    assert evaluate_samples(samples, "fake-images") == {
        "features": "auto on fake-images",
        "reference": "training images",  # no published test split, no validation part
        "fid": 1.5,
    }
    assert seen["samples"].shape == (6, 1, 4, 4) and seen["samples"].dtype == np.float32
    assert isinstance(seen["data"], _FakeImages) and seen["features"] == "auto on fake-images"


def test_image_data_without_the_image_metrics_module_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(evaluate, "load_data", lambda name, image_size=None: _FakeImages())
    monkeypatch.setitem(sys.modules, "gankit.metrics.images", None)  # import now raises ImportError
    with pytest.raises(GankitError, match="image metrics are not available"):
        evaluate_samples(np.zeros((6, 1, 4, 4)), "fake-images")


def test_table_lists_toy_metrics_first_then_any_other_metric():
    table = format_table({"w1": 0.5, "fid": 12.25, "modes": 3, "modes_total": 8, "reverse_kl": None})
    lines = table.splitlines()
    assert [line.split("  ")[0].strip() for line in lines] == ["modes covered", "reverse KL", "W1", "fid"]
    assert lines[0].endswith("3 / 8") and lines[1].endswith("n/a") and lines[3].endswith("12.25")


def test_eval_of_a_resized_image_run_and_file_uses_the_training_size(cli, tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray((rng.random((12, 12)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    run = tmp_path / "run"
    args = ["--data", folder, "--image-size", "8", "--steps", "2", "--objective", "ns", "--sample-every", "0"]
    assert cli("train", *args, "--out", run)[0] == 0
    code, out, err = cli("eval", run, "--n", "24", "--json")
    assert code == 0, err
    assert "fid" in json.loads(out)
    assert cli("sample", run, "--n", "24", "--out", tmp_path / "s.npy")[0] == 0
    assert cli("eval", tmp_path / "s.npy", "--data", folder, "--image-size", "8")[0] == 0
    code, _, err = cli("eval", tmp_path / "s.npy", "--data", folder)
    assert code == 2 and "expected (n, 1, 12, 12)" in err


@pytest.fixture(scope="module")
def history_run(tmp_path_factory):
    """A toy run that kept three checkpoints (steps 10, 20, 30)."""
    out = tmp_path_factory.mktemp("history") / "run"
    config = TrainConfig(data="ring", objective="ns", steps=30, width=16, depth=2, batch_size=32,
                         eval_every=0, sample_every=0, checkpoint_every=10, keep_checkpoints=10,
                         device="cpu")  # fmt: skip
    train(config, out)
    return out


def test_eval_checkpoints_scores_every_kept_checkpoint_oldest_first(cli, history_run):
    code, out, err = cli("eval", history_run, "--checkpoints", "--json", "--n", 400, "--seed", 2)
    assert code == 0, err
    report = json.loads(out)
    rows = report["checkpoints"]
    assert report["n"] == 400 and [row["step"] for row in rows] == [10, 20, 30]
    assert len({row["w1"] for row in rows}) == 3  # each checkpoint's own generator
    last = evaluate_run(history_run, n=400, seed=2)  # `gankit eval` scores the last checkpoint
    assert rows[-1]["w1"] == pytest.approx(last["w1"]) and rows[-1]["modes"] == last["modes"]

    code, out, err = cli("eval", history_run, "--checkpoints", "--n", 400, "--seed", 2)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("3 checkpoints, 400 samples each against ring")
    assert lines[1].split()[0] == "step" and [line.split()[0] for line in lines[2:5]] == ["10", "20", "30"]
    best = min(rows, key=lambda row: row["w1"])
    assert f"lowest w1: {best['w1']:.4g} at step {best['step']}" in lines[-1]


def test_eval_checkpoints_leaves_refinement_to_the_last_checkpoint(cli, history_run):
    code, _, err = cli("eval", history_run, "--checkpoints", "--refine", "drs")
    assert code == 2 and "--checkpoints scores raw samples" in err and "Traceback" not in err


def test_checkpoint_table_shows_floors_once_and_where_the_best_checkpoint_lies():
    rows = [
        {
            "step": s,
            "fid": f,
            "kid": 1.0,
            "fid_class_0": 9.0,
            "floor_fid": 2.5,
            "n_reference": 10,
            "n_floor": 10,
        }
        for s, f in ((50, 30.0), (100, 12.0), (150, 14.0))
    ]
    text = format_checkpoints(rows).splitlines()
    assert text[0].split() == ["step", "fid", "kid"]  # no floor, per-class or count column
    assert text[-2] == "real-vs-real floor: fid 2.5"
    assert text[-1] == "lowest fid: 12 at step 100 (1 checkpoint(s) before the last)"


def _named_stand_in(name="mnist", train=200, test=120):
    """A named set with a published test split, without its files: random images and labels."""
    from gankit.data.images import ImageDataset

    def split(count, seed, description, official_test=None):
        rng = np.random.default_rng(seed)
        pixels = torch.from_numpy(rng.uniform(-1, 1, (count, 1, 8, 8)).astype(np.float32))
        labels = torch.from_numpy(rng.integers(0, 10, count))
        return ImageDataset(name, pixels, description, labels, official_test)

    test_split = split(test, 1, "test split")
    return split(train, 0, "train split", lambda: test_split)


@pytest.mark.parametrize(
    ("part", "expected", "count"),
    [
        (None, "test split (t10k)", 120),  # no validation part: the published test split
        ((0.0, "validation"), "test split (t10k)", 120),
        ((0.25, "validation"), "validation part", 50),  # taken from the training images
        ((0.25, "test"), "test split (t10k)", 120),
    ],
)
def test_a_named_set_is_scored_on_its_validation_part_else_its_test_split(part, expected, count):
    data, name = evaluate.reference_images(_named_stand_in(), part)
    assert name == expected and len(data) == count


def test_other_sets_are_scored_on_their_validation_or_test_part_else_their_training_images():
    from gankit.data import load_data

    digits = load_data("digits")
    assert evaluate.reference_images(digits, None) == (digits, "training images")
    validation, name = evaluate.reference_images(digits, (0.5, "validation"))
    assert name == "validation part" and len(validation) == 449
    test, name = evaluate.reference_images(digits, (0.5, "test"))
    assert name == "test part" and len(test) == 449
    assert not set(map(bytes, validation.all().numpy())) & set(map(bytes, test.all().numpy()))


def test_eval_of_a_file_on_a_named_set_says_it_scored_against_the_test_split(cli, tmp_path, monkeypatch):
    stand_in = _named_stand_in()
    monkeypatch.setattr(evaluate, "load_data", lambda name, image_size=None: stand_in)
    path = tmp_path / "samples.npy"
    np.save(path, stand_in.all().numpy()[:40])
    code, out, err = cli("eval", path, "--data", "mnist", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["reference"] == "test split (t10k)" and report["features"] == "digits"
    assert report["n_reference"] == 60 and report["n_samples"] == report["n_floor"] == 40
    code, out, err = cli("eval", path, "--data", "mnist")
    assert code == 0, err
    assert "40 samples against mnist (digits features)" in out
    assert "reference: test split (t10k), 60 images; image metrics of 40 samples; floor_*: 40 other" in out


def test_eval_output_names_network_reference_and_sizes_and_says_when_there_is_no_floor(cli, tmp_path):
    from gankit.data.images import load_images
    from gankit.metrics.images import split_real

    images = load_images("digits").all().numpy()
    real = tmp_path / "real.npy"
    np.save(real, images[split_real(len(images))[1]][:300])
    report = json.loads(cli("eval", real, "--data", "digits", "--json")[1])
    assert (report["features"], report["reference"]) == ("digits", "training images")
    assert (report["n_samples"], report["n_reference"], report["n_floor"]) == (300, 898, 300)
    assert report["fid"] == report["floor_fid"] and "no_floor" not in report  # the floor's own images
    noise = tmp_path / "noise.npy"
    np.save(noise, np.random.default_rng(0).uniform(-1, 1, (1000, 1, 8, 8)).astype(np.float32))
    report = json.loads(cli("eval", noise, "--data", "digits", "--json")[1])
    assert report["n_floor"] == 0 and not any(key.startswith("floor_") for key in report)
    assert report["no_floor"].startswith("no real-vs-real floor: the reference's other half has 899 images")
    code, out, err = cli("eval", noise, "--data", "digits")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "reference: training images, 898 images; image metrics of 1,000 samples"
    assert lines[2].startswith("no real-vs-real floor") and "floor_fid" not in out
    assert "sharpness" in out
    code, out, err = cli("eval", real, "--data", "digits", "--features", "fashion", "--json")
    assert code == 0 and json.loads(out)["features"] == "fashion", err


def test_an_unknown_feature_network_is_one_clear_line(cli, tmp_path):
    path = _save(tmp_path, np.zeros((10, 1, 8, 8)))
    code, _, err = cli("eval", path, "--data", "digits", "--features", "vgg")
    assert code == 2 and "--features must be one of digits, inception, fashion or auto, got 'vgg'" in err


def test_a_runs_checkpoints_say_their_reference_once(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", "digits", "--model", "vae", "--width", 4, "--latent-dim", 8,
                       "--batch-size", 16, "--steps", 4, "--log-every", 2, "--sample-every", 0,
                       "--checkpoint-every", 2, "--keep-checkpoints", 5, "--validation-fraction", 0.5,
                       "--out", run)  # fmt: skip
    assert code == 0, err
    report = json.loads(cli("eval", run, "--json", "--n", 60)[1])
    assert (report["reference"], report["n_reference"], report["n_samples"]) == ("validation part", 224, 60)
    report = json.loads(cli("eval", run, "--checkpoints", "--json", "--n", 60)[1])
    assert report["reference"] == "validation part" and report["features"] == "digits"
    assert {"coverage", "density", "fid", "classes", "class_kl"} <= set(report["checkpoints"][0])
    assert not any("reference" in row or "n_samples" in row for row in report["checkpoints"])
    code, out, err = cli("eval", run, "--checkpoints", "--n", 60)
    assert code == 0, err
    assert out.splitlines()[1].startswith("reference: validation part, 224 images; image metrics of 60")
