"""Exact resume: a run killed (SIGKILL, disk full, a damaged checkpoint) and resumed ends bit-identical
to one that never stopped; metrics.jsonl has every logged step exactly once; nothing is overwritten.
"""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from gankit.rundir import (
    RunDir,
    checkpoint_path,
    list_checkpoints,
    read_config,
    read_metrics,
    save_checkpoint,
)
from gankit.runs import assemble
from reliability_helpers import (
    TINY,
    assert_same_state,
    latest_state,
    latest_step,
    record,
    record_resume,
    rows_without_time,
    same_state,
    tiny_config,
)


def samples(cli, run, tmp_path) -> np.ndarray:
    out = tmp_path / f"{run.name}-samples.npy"
    code, _, err = cli("sample", run, "--n", "256", "--seed", "3", "--out", out)
    assert code == 0, err
    return np.load(out)


def test_sigkill_after_n_steps_then_resume_ends_bit_identical(cli, tmp_path):
    total, n = 120, 30
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert cli("train", *TINY, "--steps", total, "--checkpoint-every", "10", "--out", reference)[0] == 0

    child = subprocess.Popen(
        [sys.executable, "-m", "gankit", "train", *TINY, "--steps", str(total), "--checkpoint-every", "10"]
        + ["--out", str(killed)],
        env=os.environ | {"OMP_NUM_THREADS": "1"},  # the same thread count as this process
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Any point after n steps: a random logged step in [n, n + 40], then a random fraction of a
    # step or of a checkpoint write (the run has 50+ steps left, so the kill lands before its end).
    chance = random.Random()
    target, delay = chance.randrange(n, n + 41), chance.uniform(0.0, 0.05)
    while latest_step(killed) < n or (read_metrics(killed) or [{"step": 0}])[-1]["step"] < target:
        if child.poll() is not None:
            break
        time.sleep(0.002)
    time.sleep(delay)
    child.kill()
    _, child_err = child.communicate()
    assert child.returncode == -signal.SIGKILL, f"the child ended before the kill: {child_err.decode()}"
    assert n <= latest_step(killed) < total
    reached, restored = read_metrics(killed)[-1]["step"], latest_step(killed)

    code, out, err = cli("train", "--resume", killed)
    assert code == 0, err
    record_resume("SIGKILL", reference, killed, last_row_before_kill=reached, resumed_from=restored)
    assert f"trained {total} steps" in out
    assert_same_state(latest_state(reference), latest_state(killed))
    assert np.array_equal(samples(cli, reference, tmp_path), samples(cli, killed, tmp_path))
    assert [row["step"] for row in read_metrics(killed)] == list(range(5, total + 1, 5))
    assert rows_without_time(killed) == rows_without_time(reference)


def test_rows_logged_after_the_last_checkpoint_are_replaced_not_duplicated(tmp_path):
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    assemble.train(tiny_config(30), reference)
    assemble.train(tiny_config(30), crashed)
    # A crash after step 30's rows were written but before its checkpoint, mid-way through a row.
    for file in (checkpoint_path(crashed / "checkpoints", 30), checkpoint_path(crashed / "checkpoints", 30)):
        file.unlink(missing_ok=True)
        file.with_suffix(".sha256").unlink(missing_ok=True)
    with open(crashed / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 35, "d_lo')
    assemble.resume(crashed)
    record_resume("crash before a checkpoint, torn metrics row", reference, crashed, resumed_from=20)
    assert [row["step"] for row in read_metrics(crashed)] == [5, 10, 15, 20, 25, 30]
    assert rows_without_time(crashed) == rows_without_time(reference)
    assert_same_state(latest_state(reference), latest_state(crashed))
    wall_times = [row["wall_time"] for row in read_metrics(crashed)]
    assert wall_times == sorted(wall_times)  # the clock continues from the checkpoint's elapsed time


def test_a_run_from_before_the_ema_ramp_resumes_with_the_plain_ema_it_started_with(tmp_path):
    reference, old = tmp_path / "reference", tmp_path / "old"
    assemble.train(tiny_config(30, ema_rampup=0.0), reference)
    assemble.train(tiny_config(30, ema_rampup=0.0), old)
    config = json.loads((old / "config.json").read_text())
    del config["ema_rampup"]  # as gankit wrote it before the key existed
    (old / "config.json").write_text(json.dumps(config))
    checkpoint_path(old / "checkpoints", 30).unlink()  # it resumes from step 20
    checkpoint_path(old / "checkpoints", 30).with_suffix(".sha256").unlink(missing_ok=True)
    assemble.resume(old)
    assert_same_state(latest_state(reference), latest_state(old))
    ramped = tmp_path / "ramped"
    assemble.train(tiny_config(30), ramped)  # today's default ramps: a different average
    assert not same_state(latest_state(reference), latest_state(ramped))


def test_a_run_whose_config_has_the_removed_extra_key_loads_and_resumes(tmp_path):
    reference, old = tmp_path / "reference", tmp_path / "old"
    assemble.train(tiny_config(30), reference)
    assemble.train(tiny_config(30), old)
    config = json.loads((old / "config.json").read_text())
    config["extra"] = {}  # as gankit wrote it while TrainConfig had the field
    (old / "config.json").write_text(json.dumps(config))
    assert "extra" not in read_config(old)
    checkpoint_path(old / "checkpoints", 30).unlink()  # it resumes from step 20
    checkpoint_path(old / "checkpoints", 30).with_suffix(".sha256").unlink(missing_ok=True)
    assemble.resume(old)
    assert_same_state(latest_state(reference), latest_state(old))
    assert "extra" not in json.loads((old / "config.json").read_text())


class RowCounter(assemble.MetricsWriter):
    """A built-in callback with state: numbers the rows it writes."""

    def __init__(self, run):
        super().__init__(run)
        self.rows = 0

    def on_log(self, trainer, row):
        self.rows += 1
        row["row_number"] = self.rows
        super().on_log(trainer, row)

    def state_dict(self):
        return {"rows": self.rows}

    def load_state_dict(self, state):
        self.rows = state["rows"]


class StepCounter(assemble.Callback):
    """A user's callback with state."""

    def __init__(self):
        self.steps = 0

    def on_step(self, trainer):
        self.steps += 1

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def test_resume_restores_the_state_of_built_in_and_user_callbacks(tmp_path, monkeypatch):
    monkeypatch.setattr(assemble, "MetricsWriter", RowCounter)  # _fit builds it itself on resume
    assemble.train(tiny_config(20), tmp_path / "run", callbacks=[StepCounter()])
    resumed_counter = StepCounter()
    assemble.resume(tmp_path / "run", steps=40, callbacks=[resumed_counter])
    assert resumed_counter.steps == 40
    assert [row["row_number"] for row in read_metrics(tmp_path / "run")] == list(range(1, 9))


def test_a_corrupted_latest_checkpoint_is_reported_and_resume_uses_the_previous_one(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "20", "--checkpoint-every", "10", "--out", run)[0] == 0
    finished = latest_state(run)
    latest = checkpoint_path(run / "checkpoints", 20)
    data = bytearray(latest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    latest.write_bytes(bytes(data))

    code, out, err = cli("train", "--resume", run)
    assert code == 0, err
    record(
        "corrupted latest checkpoint",
        fell_back="step_00000020.pt is corrupted" in err and "trying an older checkpoint" in err,
        bit_identical=same_state(finished, latest_state(run)),
    )
    assert err.count("\n") == 1 and "step_00000020.pt is corrupted" in err and "Traceback" not in err
    assert_same_state(finished, latest_state(run))  # steps 11-20 redone, to the same numbers


def test_checkpoints_that_failed_to_load_are_dropped_on_resume(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "20", "--checkpoint-every", "5", "--out", run)[0] == 0
    for step in (15, 20):
        checkpoint_path(run / "checkpoints", step).write_bytes(b"damaged")
    code, _, err = cli("train", "--resume", run, "--steps", "12")
    assert code == 0 and err.count("trying an older checkpoint") == 2
    # Otherwise the damaged 15 and 20 would stay the newest and pruning would delete the sound 10.
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_00000010.pt", "step_00000012.pt"]


def test_disk_full_while_checkpointing_keeps_the_previous_one_and_says_so(cli, tmp_path, monkeypatch):
    reference, run = tmp_path / "reference", tmp_path / "run"
    assert cli("train", *TINY, "--steps", "30", "--checkpoint-every", "10", "--out", reference)[0] == 0
    real_fsync = os.fsync

    def fsync(fd):
        if "step_00000020.pt" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    code, _, err = cli("train", *TINY, "--steps", "30", "--checkpoint-every", "10", "--out", run)
    assert code == 1 and err.count("\n") == 1
    assert "could not write the checkpoint of step 20 (No space left on device)" in err
    assert "the previous checkpoint (step 10) is intact" in err and f"--resume {run}" in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_00000010.pt",
        "step_00000010.sha256",
    ]

    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed
    assert cli("train", "--resume", run)[0] == 0
    record_resume("disk full while checkpointing", reference, run, resumed_from=10)
    assert_same_state(latest_state(reference), latest_state(run))
    assert rows_without_time(run) == rows_without_time(reference)


def test_a_checkpoint_crafted_to_run_code_is_refused_by_the_cli(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "5", "--checkpoint-every", "5", "--out", run)[0] == 0
    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = checkpoint_path(run / "checkpoints", 5)
    torch.save({"step": 5, "generator": RunsCode()}, path)
    digest = __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n")

    code, _, err = cli("sample", run, "--n", "4", "--out", tmp_path / "s.npy")
    record("checkpoint crafted to run code (cli)", refused=code == 2, code_ran=marker.exists())
    assert code == 2 and "refused: loading it could run code (unsupported GLOBAL posix.system)" in err
    assert "no usable checkpoint" in err and "Traceback" not in err
    assert not marker.exists()


def test_an_existing_run_directory_is_never_overwritten_without_a_flag(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "5", "--out", run)[0] == 0
    before = (run / "metrics.jsonl").read_text()
    code, _, err = cli("train", *TINY, "--steps", "5", "--out", run)
    assert code == 2 and "already exists; use --resume" in err and err.count("\n") == 1
    code, _, err = cli("train", "--data", "grid", "--steps", "5", "--out", run)  # a data-aware default
    assert code == 2 and "already exists; use --resume" in err and err.count("\n") == 1  # no recipe line
    assert (run / "metrics.jsonl").read_text() == before
    assert cli("train", *TINY, "--steps", "10", "--out", run, "--overwrite")[0] == 0
    assert read_metrics(run)[-1]["step"] == 10


def test_overwrite_refuses_a_folder_that_is_not_a_run(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = cli("train", *TINY, "--steps", "5", "--out", tmp_path, "--overwrite")
    assert code == 2 and "not a gankit run directory" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_second_trainer_on_the_same_run_directory_is_refused(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "5", "--out", run)[0] == 0
    holder = RunDir.open_existing(run)  # another process training it
    try:
        for args in (("--resume", run, "--steps", "10"), (*TINY, "--out", run, "--overwrite")):
            code, _, err = cli("train", *args)
            assert code == 2 and "is in use by another gankit process" in err
        assert (run / "config.json").exists() and latest_step(run) == 5
    finally:
        holder.close()
    assert cli("train", "--resume", run, "--steps", "10")[0] == 0  # the lock is released with it


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("delete-checkpoints", "no usable checkpoint"),
        ("change-width", "does not match its config.json"),
        ("extra-flag", "--width cannot be combined with --resume"),
        ("older-format", "has no 'log_sums' (from another gankit version?)"),
    ],
)
def test_resume_errors_are_one_line(cli, tmp_path, damage, message):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "5", "--out", run)[0] == 0
    args = ("--resume", run)
    if damage == "delete-checkpoints":
        for path in (run / "checkpoints").iterdir():
            path.unlink()
    elif damage == "change-width":
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps(config | {"width": 8}))
    elif damage == "older-format":
        state = latest_state(run)
        del state["log_sums"]
        save_checkpoint(run / "checkpoints", 5, state, keep=3)
    else:
        args += ("--width", "32")
    code, _, err = cli("train", *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_resume_to_fewer_steps_than_done_is_refused_and_leaves_the_run_as_it_was(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "10", "--out", run)[0] == 0
    before = {name: (run / name).read_bytes() for name in ("config.json", "metrics.jsonl")}
    code, _, err = cli("train", "--resume", run, "--steps", "5")
    assert code == 2 and err.count("\n") == 1
    assert "is already at step 10; --steps is the total to reach, so give more than 10" in err
    assert {name: (run / name).read_bytes() for name in before} == before and latest_step(run) == 10
    assert cli("train", "--resume", run, "--steps", "10")[0] == 0  # already there: nothing to do, no error


def test_resume_of_a_missing_directory_is_a_clear_error(cli, tmp_path):
    code, _, err = cli("train", "--resume", tmp_path / "nothing")
    assert code == 2 and "run directory not found" in err
