"""The run-directory package: a new run's name, and the one atomic write (checkpoints, the lock and
the readers are pinned in test_checkpoint.py, test_resume.py and test_cli_core.py)."""

import errno
import os
import re
from pathlib import Path

import pytest

from gankit.rundir import atomic_write_bytes, default_run_dir


def test_a_new_run_is_named_after_the_data_sets_name_and_its_objective(tmp_path):
    assert default_run_dir("ring", "ns", tmp_path).name.startswith("ring-ns-")
    for path in ("photos/cats/", "/elsewhere/cats"):  # a data path: its last part, under root
        named = default_run_dir(path, "hinge", tmp_path)
        assert named.parent == tmp_path and named.name.startswith("cats-hinge-")


def test_the_cli_and_the_api_name_a_run_without_out_the_same_way(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", "--data", "gaussian-1d", "--objective", "ns", "--steps", 2, "--width", 8)
    assert code == 0, err
    [made] = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"gaussian-1d-ns-\d{8}-\d{6}", made.name) and str(Path("runs") / made.name) in out
    again = default_run_dir("gaussian-1d", "ns")  # gankit.train's name for the next such run
    assert again.parent == Path("runs") and again.name.startswith("gaussian-1d-ns-") and not again.exists()


def test_an_atomic_write_that_need_not_be_durable_skips_fsync_but_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "live.json"
    atomic_write_bytes(target, b"old")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    atomic_write_bytes(target, b"new", durable=False)  # live.json: rewritten every logged step
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["live.json"]
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"newer")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["live.json"]
