"""How a run directory's files are written: JSON without NaN, and the one atomic write.

Every file that is replaced whole (config.json, a rewritten metrics.jsonl or findings.jsonl,
checkpoints and their checksums, live.json, eval.json, trial.json, report.html, a sample array
from `gankit sample`) goes through :func:`atomic_write_bytes`: a hidden temp file in the same
folder, flushed and fsynced, renamed over the final name, then the folder fsynced. A reader sees
the old content or the new, never half a file, and a crash at any moment leaves one or the other.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

_TEMP_PREFIX = "."  # temporary files are hidden: ".step_00000100.pt.tmp-PID"
_TEMP_MARK = ".tmp-"


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
    """``json.dumps`` with non-finite numbers as null: every JSON a run directory holds is valid JSON."""
    return json.dumps(_clean(value), allow_nan=False, **kwargs)


def temporary_path(path: Path) -> Path:
    """Where :func:`atomic_write_bytes` writes before the rename (the name kept within NAME_MAX)."""
    path = Path(path)
    return path.with_name(f"{_TEMP_PREFIX}{path.name[:200]}{_TEMP_MARK}{os.getpid()}")


def atomic_write_bytes(path: Path, payload: bytes, durable: bool = True) -> None:
    """Write ``payload`` to ``path`` so that readers see the old content or the new, never half.

    ``durable=False`` skips both fsyncs: still atomic for readers, but a power cut may lose the new
    content. For a file rewritten often whose loss costs nothing (live.json, every logged step).
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: some file systems cannot fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temp files left by a writer that was killed mid-write (call under the run's lock)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.iterdir() if p.name.startswith(_TEMP_PREFIX) and _TEMP_MARK in p.name]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
