"""Writing a run directory: one trainer at a time, under an exclusive lock (:class:`RunDir`)."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.rundir.checkpoint import list_checkpoints
from gankit.rundir.files import CHECKPOINTS, CONFIG, LOCK, METRICS, SAMPLES, checkpoint_step, checksum_path
from gankit.rundir.io import atomic_write_bytes, dumps, remove_stale_temporaries
from gankit.rundir.readers import check_run_dir, is_run_dir, read_metrics, usable_path


class RunDir:
    """A run directory being written by one trainer (held under an exclusive lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_handle = None

    @staticmethod
    def check_new(path: str | Path, overwrite: bool = False) -> Path:
        """The path ``create`` would write, or the one-line error it would raise (so a command can
        refuse before it says anything else)."""
        path = usable_path(path)
        if path.exists() and not path.is_dir():
            raise GankitError(f"--out {path} exists and is not a directory")
        if path.is_dir() and any(path.iterdir()):
            if not overwrite:
                raise GankitError(
                    f"run directory {path} already exists; use --resume {path} to continue it "
                    "or --overwrite to replace it"
                )
            if not is_run_dir(path):
                raise GankitError(f"refusing to overwrite {path}: it is not a gankit run directory")
        return path

    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any], overwrite: bool = False) -> RunDir:
        path = cls.check_new(path, overwrite)
        run = cls(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise GankitError(f"cannot create run directory {path}: {error.strerror or error}") from None
        run.lock()
        if overwrite:
            for child in path.iterdir():
                if child.name == LOCK:
                    continue
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        run.write_config(config)
        (path / METRICS).touch()
        return run

    @classmethod
    def open_existing(cls, path: str | Path) -> RunDir:
        run = cls(check_run_dir(path))
        run.lock()
        remove_stale_temporaries(run.checkpoints)  # left by a writer killed mid-write
        return run

    def lock(self) -> None:
        """Take the run's exclusive lock: a second trainer on the same directory is refused.

        flock is released by the kernel when the process dies, so a killed run never leaves a
        stale lock behind.
        """
        try:
            handle = open(self.path / LOCK, "a+")  # noqa: SIM115 - held for the run's lifetime
        except OSError as error:
            raise GankitError(f"cannot lock run directory {self.path}: {error.strerror or error}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise GankitError(f"run directory {self.path} is in use by another gankit process") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle

    def close(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_bytes(self.path / CONFIG, (dumps(config, indent=2) + "\n").encode())

    def append_metrics(self, row: dict[str, Any]) -> None:
        with open(self.path / METRICS, "a") as handle:
            handle.write(dumps(row) + "\n")
            handle.flush()

    def truncate_metrics(self, last_step: int) -> None:
        """Drop rows logged after ``last_step`` (they belong to work lost since the checkpoint)."""
        rows = [r for r in read_metrics(self.path) if r.get("step", 0) <= last_step]
        text = "".join(dumps(r) + "\n" for r in rows)
        atomic_write_bytes(self.path / METRICS, text.encode())

    def drop_checkpoints_after(self, last_step: int) -> None:
        """Delete checkpoints newer than the one resumed from (ones that failed to load): the resumed
        run writes them again, and pruning must never keep them in place of its own."""
        for path in list_checkpoints(self.checkpoints):
            if checkpoint_step(path) > last_step:
                path.unlink(missing_ok=True)
                checksum_path(path).unlink(missing_ok=True)

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def samples(self) -> Path:
        path = self.path / SAMPLES
        path.mkdir(exist_ok=True)
        return path
