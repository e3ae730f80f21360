"""The run directory: config.json, metrics.jsonl, checkpoints/, samples/ (see DESIGN.md).

Writers live here; readers (eval, doctor, report) use :func:`read_metrics` and
:func:`read_config` and never reach into a trainer.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from gankit.checkpoint import (
    atomic_write_bytes,
    checkpoint_step,
    checksum_path,
    list_checkpoints,
    remove_stale_temporaries,
)
from gankit.errors import GankitError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
SAMPLES = "samples"
LOCK = ".lock"


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: non-finite numbers are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    return json.dumps(_clean(value), allow_nan=False, **kwargs)


def is_run_dir(path: Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def _usable(path: str | Path) -> Path:
    """``path`` if the file system can look it up at all (not too long, no NUL byte), else a clear error."""
    path = Path(path)
    try:
        path.exists()
    except (OSError, ValueError) as error:
        raise GankitError(
            f"unusable path {str(path)[:80]!r}: {getattr(error, 'strerror', None) or error}"
        ) from None
    return path


def check_run_dir(path: str | Path) -> Path:
    """A path that must be an existing gankit run directory, or a clear error."""
    path = _usable(path)
    if not path.exists():
        raise GankitError(f"run directory not found: {path}")
    if not path.is_dir():
        raise GankitError(f"not a directory: {path} (expected a gankit run directory)")
    if not is_run_dir(path):
        raise GankitError(f"{path} is not a gankit run directory (no {CONFIG})")
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    """A run's config.json, as the run was trained.

    A run written before ``ema_rampup`` existed averaged G with the plain EMA: it reads as
    ``ema_rampup = 0``, so that resuming it keeps the schedule it started with. One written before
    ``threads`` could be "auto" recorded 0 for "torch's own thread count": it reads as "auto", which
    a trainer that was not timed takes to mean the same (a resume never times). One written while
    the config had ``extra`` (knobs that nothing ever read) has the key dropped.
    """
    path = check_run_dir(path)
    try:
        values = json.loads((path / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise GankitError(f"cannot read {path / CONFIG}: {error}") from None
    if isinstance(values, dict) and "ema_decay" in values:
        values.setdefault("ema_rampup", 0.0)
    if isinstance(values, dict) and values.get("threads") == 0 and values["threads"] is not False:
        values["threads"] = "auto"
    if isinstance(values, dict):
        values.pop("extra", None)
    return values


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of metrics.jsonl (a torn last line from a crash is ignored)."""
    file = Path(path) / METRICS
    if not file.exists():
        return []
    rows = []
    for line in file.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class RunDir:
    """A run directory being written by one trainer (held under an exclusive lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_handle = None

    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any], overwrite: bool = False) -> RunDir:
        path = _usable(path)
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
