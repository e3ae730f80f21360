"""Checkpoint files: atomic writes, pruning, checksums, fallback, refusal of files that could run code."""

import errno
import os
import pickle
import re
from pathlib import Path

import pytest
import torch

import gankit
from gankit.errors import GankitError
from gankit.rundir import checkpoint as ckpt
from gankit.rundir import io as rundir_io
from reliability_helpers import record


def state(step: int) -> dict:
    return {"step": step, "weights": torch.arange(4.0) * step, "names": ["a", "b"]}


def add_checksum(path):
    """A matching checksum, as anyone who crafts a file can write: it proves integrity, not trust."""
    digest = ckpt.hashlib.sha256(path.read_bytes()).hexdigest()
    ckpt.checksum_path(path).write_text(f"{digest}  {path.name}\n")


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class RunsCode:
    """An object whose unpickling runs a command: what a malicious checkpoint carries."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_save_then_load_round_trips_and_leaves_no_temporary_file(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, 7, state(7), keep=3)
    loaded = ckpt.load_checkpoint_file(path)
    assert loaded["step"] == 7 and torch.equal(loaded["weights"], state(7)["weights"])
    assert names(tmp_path) == ["step_00000007.pt", "step_00000007.sha256"]


def test_only_the_newest_keep_checkpoints_remain(tmp_path):
    for step in (10, 20, 30, 40, 50):
        ckpt.save_checkpoint(tmp_path, step, state(step), keep=2)
    assert [ckpt.checkpoint_step(p) for p in ckpt.list_checkpoints(tmp_path)] == [40, 50]
    assert len(list(tmp_path.glob("*.sha256"))) == 2


def test_checkpoints_sort_by_step_beyond_eight_digits(tmp_path):
    for step in (99_999_999, 100_000_000, 5):
        ckpt.save_checkpoint(tmp_path, step, state(step), keep=5)
    assert [ckpt.checkpoint_step(p) for p in ckpt.list_checkpoints(tmp_path)] == [5, 99_999_999, 100_000_000]


def test_atomic_write_failing_midway_keeps_the_old_content(tmp_path, monkeypatch):
    target = tmp_path / "file.bin"
    rundir_io.atomic_write_bytes(target, b"old")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        rundir_io.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["file.bin"]  # the temporary file is gone


@pytest.mark.parametrize("failing_file", ["step_00000020.pt", "step_00000020.sha256"])
def test_disk_full_while_saving_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, failing_file):
    ckpt.save_checkpoint(tmp_path, 10, state(10), keep=1)
    real_write = ckpt.atomic_write_bytes

    def write(path, payload):
        if path.name == failing_file:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, payload)

    monkeypatch.setattr(ckpt, "atomic_write_bytes", write)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, 20, state(20), keep=1)  # keep=1 would prune step 10 on success
    record(
        f"disk full writing {failing_file.split('.')[1]}",
        previous_intact=ckpt.load_latest_checkpoint(tmp_path)["step"] == 10,
    )
    assert names(tmp_path) == ["step_00000010.pt", "step_00000010.sha256"]
    assert ckpt.load_latest_checkpoint(tmp_path)["step"] == 10


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def lose_the_checksum(path):  # what a crash between the two renames of save_checkpoint leaves
    ckpt.checksum_path(path).unlink()


@pytest.mark.parametrize(
    ("damage", "reported"),
    [(flip_a_byte, "corrupted"), (truncate, "corrupted"), (lose_the_checksum, "cannot be verified")],
)
def test_damaged_latest_is_reported_once_and_the_previous_one_is_used(tmp_path, damage, reported):
    ckpt.save_checkpoint(tmp_path, 10, state(10), keep=3)
    latest = ckpt.save_checkpoint(tmp_path, 20, state(20), keep=3)
    damage(latest)
    warnings = []
    loaded = ckpt.load_latest_checkpoint(tmp_path, warn=warnings.append)
    record(f"damaged checkpoint: {damage.__name__}", fell_back=loaded["step"] == 10)
    assert loaded["step"] == 10
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "step_00000020.pt" in warnings[0] and reported in warnings[0]


def test_a_truncated_file_is_caught_by_the_zip_reader_too(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, 10, state(10), keep=3)
    truncate(path)
    add_checksum(path)
    with pytest.raises(GankitError, match="truncated or corrupted"):
        ckpt.load_checkpoint_file(path)


def test_no_sound_checkpoint_gives_none(tmp_path):
    truncate(ckpt.save_checkpoint(tmp_path, 10, state(10), keep=3))
    warnings = []
    assert ckpt.load_latest_checkpoint(tmp_path, warn=warnings.append) is None
    assert len(warnings) == 1


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_checkpoint_crafted_to_run_code_is_refused_without_running_it(tmp_path, writer):
    marker = tmp_path / "code-ran"
    path = ckpt.checkpoint_path(tmp_path, 10)
    payload = {"step": 10, "generator": RunsCode(marker)}
    with open(path, "wb") as handle:
        torch.save(payload, handle) if writer == "torch.save" else pickle.dump(payload, handle)
    add_checksum(path)
    with pytest.raises(GankitError, match="refused: loading it could run code") as error:
        ckpt.load_checkpoint_file(path)
    record(f"checkpoint crafted to run code ({writer})", refused=True, code_ran=marker.exists())
    assert "\n" not in str(error.value)
    assert not marker.exists()
    # The file really is an attack: an unsafe loader runs its command.
    with open(path, "rb") as handle:
        torch.load(handle, weights_only=False) if writer == "torch.save" else pickle.load(handle)  # noqa: S301
    assert marker.exists()


def test_a_file_that_is_not_a_training_state_is_refused(tmp_path):
    path = ckpt.checkpoint_path(tmp_path, 3)
    torch.save({"weights": torch.zeros(2)}, path)
    add_checksum(path)
    with pytest.raises(GankitError, match="not a gankit checkpoint"):
        ckpt.load_checkpoint_file(path)


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(GankitError, match="cannot read checkpoint"):
        ckpt.load_checkpoint_file(tmp_path / "step_00000001.pt")


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path):
    ckpt.save_checkpoint(tmp_path, 10, state(10), keep=3)
    (tmp_path / ".step_00000020.pt.tmp-12345").write_bytes(b"half")
    removed = rundir_io.remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".step_00000020.pt.tmp-12345"]
    assert names(tmp_path) == ["step_00000010.pt", "step_00000010.sha256"]
    assert rundir_io.remove_stale_temporaries(tmp_path / "missing") == []


def test_no_loader_in_gankit_can_unpickle_arbitrary_objects():
    """Checkpoints load with weights_only=True, shipped weights with safetensors, arrays without pickles."""
    for file in Path(gankit.__file__).parent.rglob("*.py"):
        text = file.read_text()
        for call in re.findall(r"torch\.load\((?:[^()]|\([^()]*\))*\)", text):
            assert "weights_only=True" in call, f"{file.name}: {call}"
        assert not re.search(r"pickle\.loads?\(|allow_pickle=True|weights_only=False", text), file.name
