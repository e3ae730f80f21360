"""``gankit train --tensorboard``: metrics rows and sample pictures mirrored into RUN_DIR/tb/."""

import sys

import pytest

from gankit.report.tensorboard import scalar_tag
from gankit.rundir import read_metrics

pytest.importorskip("tensorboard", reason="the optional tensorboard extra is not installed")

# Small and fast: tiny networks, and toy metrics on 100 samples (a TOML file: there is no flag for it).
CONFIG = """
data = "ring"
objective = "ns"
batch_size = 32
width = 16
depth = 1
log_every = 5
eval_every = 10
eval_samples = 100
sample_every = 10
checkpoint_every = 10
device = "cpu"
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(CONFIG)
    return path


def events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def test_scalar_tags_group_numbers_by_kind():
    assert scalar_tag("d_loss") == "loss/d_loss"
    assert scalar_tag("p_fake") == "discriminator/p_fake"
    assert scalar_tag("g_grad_norm") == "gradients/g_grad_norm"
    assert scalar_tag("eval_w1") == "eval/w1"
    assert scalar_tag("lr") == "other/lr"


def test_every_row_and_picture_reaches_tensorboard_once_across_a_resume(cli, tmp_path, config_file):
    run = tmp_path / "run"
    code, _, err = cli("train", "--config", config_file, "--steps=20", "--out", run, "--tensorboard")
    assert code == 0, err
    code, _, err = cli("train", "--resume", run, "--steps=30", "--tensorboard")
    assert code == 0, err
    logged = events(run / "tb")
    rows = read_metrics(run)
    assert [e.step for e in logged.Scalars("loss/d_loss")] == [row["step"] for row in rows]
    assert [e.value for e in logged.Scalars("loss/g_loss")] == pytest.approx([row["g_loss"] for row in rows])
    assert [e.step for e in logged.Scalars("eval/w1")] == [10, 20, 30]
    assert [e.step for e in logged.Images("samples")] == [10, 20, 30]


def test_missing_tensorboard_is_a_clear_error_first(cli, tmp_path, config_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if the extra were not installed
    run = tmp_path / "run"
    code, _, err = cli("train", "--config", config_file, "--steps=5", "--out", run, "--tensorboard")
    assert code == 2 and "pip install 'gankit[tensorboard]'" in err and "Traceback" not in err
    assert not run.exists()  # refused before the run directory was made
