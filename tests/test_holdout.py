"""validation_fraction: a held-out validation/test split of image data, and checkpoint selection on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gankit.config import TrainConfig
from gankit.data.images import holdout_part, holdout_split, load_images
from gankit.engine.restore import load_train_data_and_config
from gankit.errors import GankitError

TINY_VAE = ("--data", "digits", "--model", "vae", "--width", 4, "--latent-dim", 8, "--batch-size", 16,
            "--log-every", 2, "--sample-every", 0, "--validation-fraction", 0.5)  # fmt: skip


def test_holdout_parts_are_disjoint_cover_everything_and_do_not_depend_on_the_seed():
    parts = holdout_split(1797, 0.5)
    assert [len(parts[p]) for p in ("train", "validation", "test")] == [899, 449, 449]
    joined = np.concatenate(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(1797))  # disjoint and complete
    again = holdout_split(1797, 0.5)
    assert all(np.array_equal(parts[p], again[p]) for p in parts)
    assert len(holdout_split(1797, 0.0)["train"]) == 1797
    with pytest.raises(GankitError, match="empty part"):
        holdout_split(3, 0.2)


def test_training_sees_only_the_train_part_whatever_the_seed():
    digits = load_images("digits").all()
    for seed in (0, 7):
        config = TrainConfig(data="digits", model="vae", seed=seed, validation_fraction=0.5)
        data, _ = load_train_data_and_config(config)
        assert torch.equal(data.all(), digits[holdout_split(len(digits), 0.5)["train"]])
    test = holdout_part(load_images("digits"), 0.5, "test").all()
    train_rows = {row.numpy().tobytes() for row in data.all()}
    validation = holdout_part(load_images("digits"), 0.5, "validation").all()
    # no held-out image is a training image (digits has a few exact duplicates: compare by content)
    held_out_rows = {row.numpy().tobytes() for row in torch.cat([validation, test])}
    assert len(held_out_rows & train_rows) <= 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("--data", "ring", "--validation-fraction", 0.2), "applies to a fixed set of images"),
        (("--data", "digits", "--validation-fraction", 1), "validation_fraction must be in [0, 1)"),
    ],
)
def test_bad_validation_fraction_exits_2_with_one_line(cli, tmp_path, args, message):
    code, _, err = cli("train", *args, "--steps", 1, "--out", tmp_path / "bad")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_checkpoint_is_chosen_on_validation_and_only_it_is_scored_on_test(cli, tmp_path, monkeypatch):
    import gankit.metrics.evaluate as evaluate

    run = tmp_path / "run"
    code, _, err = cli("train", *TINY_VAE, "--steps", 6, "--checkpoint-every", 2, "--keep-checkpoints", 10,
                       "--out", run)  # fmt: skip
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["validation_fraction"] == 0.5
    scored = []
    real = evaluate.evaluate_samples

    def spy(samples, data_name, image_size=None, features="digits", labels=None, part=None):
        scored.append(part[1])
        return real(samples, data_name, image_size, features, labels, part)

    monkeypatch.setattr(evaluate, "evaluate_samples", spy)
    chosen = evaluate.select_checkpoint(run, n=60)
    assert sorted(chosen["validation"]) == [2, 4, 6]
    assert chosen["step"] == min(chosen["validation"], key=chosen["validation"].get)
    assert scored == ["validation"] * 3 + ["test"]  # the test part never takes part in the choice
    assert chosen["test"]["n_reference"] == 449 // 2  # scored against the test images only
    # gankit eval (and so a sweep's fid) of such a run scores the validation part, never the test one
    evaluate.evaluate_run(run, n=60)
    assert scored[-1] == "validation"


def test_checkpoint_samples_walks_the_runs_history_oldest_first(cli, tmp_path):
    from gankit.engine.restore import sample_run
    from gankit.metrics.evaluate import checkpoint_samples

    run = tmp_path / "run"
    code, _, err = cli("train", *TINY_VAE, "--steps", 6, "--checkpoint-every", 2, "--keep-checkpoints", 10,
                       "--out", run)  # fmt: skip
    assert code == 0, err
    history = list(checkpoint_samples(run, n=40, seed=3))
    assert [step for step, _ in history] == [2, 4, 6]
    assert all(samples.shape == (40, 1, 8, 8) for _, samples in history)
    assert not np.array_equal(history[0][1], history[-1][1])  # each checkpoint's own generator
    np.testing.assert_array_equal(history[-1][1], sample_run(run, 40, 3).numpy())  # as gankit sample draws
    again = list(checkpoint_samples(run, n=40, seed=3))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(history, again, strict=True))  # same seed
    for checkpoint in (run / "checkpoints").iterdir():
        checkpoint.unlink()
    with pytest.raises(GankitError, match="has no checkpoint"):
        next(checkpoint_samples(run, n=40))


def test_select_checkpoint_needs_a_validation_part(cli, tmp_path):
    import gankit.metrics.evaluate as evaluate

    args = [a for a in TINY_VAE[:-2]]
    code, _, err = cli("train", *args, "--steps", 2, "--checkpoint-every", 2, "--out", tmp_path / "plain")
    assert code == 0, err
    with pytest.raises(GankitError, match="without validation_fraction"):
        evaluate.select_checkpoint(tmp_path / "plain", n=60)
