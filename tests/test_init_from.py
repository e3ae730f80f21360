"""``gankit train --init-from RUN_DIR[:STEP]``: a new run from another run's weights, with a new config."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from gankit.config import TrainConfig
from gankit.engine.restore import load_initial_weights, load_train_data_and_config, make_trainer
from gankit.errors import GankitError
from gankit.rundir import checkpoint_path, load_checkpoint_file
from gankit.runs import assemble

SMALL = dict(data="ring", objective="ns", width=16, batch_size=32, eval_every=0, sample_every=0, log_every=5)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A 30-step ns run with EMA that keeps its checkpoints of steps 10, 20 and 30."""
    path = tmp_path_factory.mktemp("init") / "source"
    config = TrainConfig(**SMALL, steps=30, checkpoint_every=10, keep_checkpoints=5, ema_decay=0.9)
    assemble.train(config, path, echo=lambda line: None)
    return path


def checkpoint(run, step):
    return load_checkpoint_file(checkpoint_path(run / "checkpoints", step))


def test_weights_equal_the_source_checkpoint_at_step_0_and_optimisers_are_fresh(source):
    config = TrainConfig(
        **SMALL, steps=5, g_lr=1e-3, ema_decay=0.99, init_from=str(source), init_from_step=25
    )
    data, resolved = load_train_data_and_config(config)
    resolved, lines = assemble.initial_checkpoint(resolved, None)
    assert resolved.init_from_step == 20  # the newest kept checkpoint at or before step 25
    assert "at step 20" in lines[0]
    trainer = make_trainer(resolved, data, "cpu")
    load_initial_weights(trainer, resolved.init_from, resolved.init_from_step)
    state = checkpoint(source, 20)
    for name, value in state["generator"].items():
        assert torch.equal(trainer.generator.state_dict()[name], value)
    for name, value in state["discriminator"].items():
        assert torch.equal(trainer.discriminator.state_dict()[name], value)
    assert torch.equal(
        trainer.ema.module.state_dict()["net.0.weight"], state["ema"]["module.net.0.weight"]
    )  # the source's average, not G
    assert trainer.step == 0 and not trainer.g_optimizer.state  # a new run: step 0, no Adam moments
    assert trainer.g_optimizer.param_groups[0]["lr"] == 1e-3  # the new config's, not the source's


def test_new_run_records_where_it_came_from_and_trains_from_those_weights(source, tmp_path):
    config = TrainConfig(**SMALL, steps=1, g_lr=1e-12, d_lr=1e-12, init_from=str(source), init_from_step=10)
    result = assemble.train(config, tmp_path / "new", echo=lambda line: None)
    recorded = json.loads((tmp_path / "new" / "config.json").read_text())
    assert recorded["init_from"] == str(source.resolve()) and recorded["init_from_step"] == 10
    start = checkpoint(source, 10)["generator"]
    trained = result.trainer.generator.state_dict()
    assert all(torch.allclose(trained[name], value, atol=1e-6) for name, value in start.items())
    assert not torch.allclose(checkpoint(source, 30)["generator"]["net.0.weight"], trained["net.0.weight"])


def test_without_a_step_and_no_open_finding_it_starts_from_the_latest_checkpoint(source):
    config = TrainConfig(**SMALL, steps=1, init_from=str(source))
    resolved, lines = assemble.initial_checkpoint(config, None)
    assert resolved.init_from_step == 30 and "latest" in lines[0]


@pytest.mark.parametrize("key", ["width", "d_width"])
def test_another_architecture_is_one_clear_error(source, tmp_path, key):
    config = TrainConfig(**{**SMALL, key: 32}, steps=1, init_from=str(source))
    with pytest.raises(GankitError, match="networks differ from this run's .*same width, d_width, depth"):
        assemble.train(config, tmp_path / "wider", echo=lambda line: None)
    assert not (tmp_path / "wider").exists()  # refused before a run directory was written


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"init_from_step": 5}, "keeps no checkpoint at or before step 5 .kept: 10, 20, 30."),
        ({"data": "grid"}, "was trained on 'ring', this run trains on 'grid'"),
    ],
)
def test_what_cannot_be_started_from_is_refused(source, changes, message):
    config = TrainConfig(**{**SMALL, **changes}, steps=1, init_from=str(source))
    with pytest.raises(GankitError, match=message):
        assemble.train(config, None, echo=lambda line: None)


def test_init_from_step_alone_is_refused():
    with pytest.raises(GankitError, match="init_from_step needs init_from"):
        TrainConfig(init_from_step=3)
    with pytest.raises(GankitError, match="init_from must name a run directory"):
        TrainConfig(init_from=" ")


def test_cli_flag_with_a_step_and_the_source_never_replaced(cli, source, tmp_path):
    before = sorted(p.name for p in (source / "checkpoints").iterdir())
    flags = ["--data", "ring", "--objective", "ns", "--width", "16", "--batch-size", "32", "--steps", "2"]
    flags += ["--eval-every", "0", "--sample-every", "0", "--coverage-weight", "1"]
    code, out, err = cli("train", *flags, "--init-from", f"{source}:20", "--out", tmp_path / "cli")
    assert code == 0, err
    assert "at step 20" in err and "trained 2 steps" in out
    recorded = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert recorded["init_from_step"] == 20 and recorded["coverage_weight"] == 1.0
    code, _, err = cli("train", *flags, "--init-from", source, "--out", source, "--overwrite")
    assert code == 2 and err.count("\n") == 1 and "--out must differ from --init-from" in err
    assert sorted(p.name for p in (source / "checkpoints").iterdir()) == before
    code, _, err = cli("train", *flags, "--width", "8", "--init-from", source, "--out", tmp_path / "w8")
    assert code == 2 and err.count("\n") == 1 and "networks differ" in err


def test_without_a_step_it_starts_where_the_doctor_detected_the_open_finding(source, tmp_path):
    """The checkpoint a user watching the run would have stopped at: G's gradient vanishes from step 13
    (the doctor is sure at 17), so of the kept 10, 20 and 30 it is 20, the first at or after the
    detection: not the latest, nor the one before."""
    copy = tmp_path / "vanished"
    shutil.copytree(source, copy)
    (copy / "findings.jsonl").unlink(missing_ok=True)
    healthy = {"d_loss": 1.3, "g_loss": 0.7, "p_real": 0.6, "p_fake": 0.4, "g_grad_norm": 1.0}
    vanished = {"d_loss": 0.0, "g_loss": 0.0, "p_real": 1.0, "p_fake": 0.0, "g_grad_norm": 1e-5}
    rows = [{"step": step} | (healthy if step < 13 else vanished) for step in range(1, 31)]
    (copy / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = TrainConfig(**SMALL, steps=1, init_from=str(copy))
    resolved, lines = assemble.initial_checkpoint(config, None)
    assert resolved.init_from_step == 20
    assert "the first kept at or after step 17, where the doctor detected vanishing-gradients" in lines[0]


def test_the_checkpoint_after_a_detection_is_the_first_at_or_after_it_else_the_latest():
    from gankit.engine.restore import checkpoint_after_detection

    assert checkpoint_after_detection([10, 20, 30], 17) == 20
    assert checkpoint_after_detection([10, 20, 30], 20) == 20  # a checkpoint at the detection itself
    assert checkpoint_after_detection([10, 20, 30], 35) == 30  # detected after the last one kept
