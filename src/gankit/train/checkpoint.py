"""Checkpoints: atomic to write, verified and safe to load.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and dicts
(networks, optimisers, EMA, RNG states, step, callback states), so it loads with
``torch.load(weights_only=True)``: nothing in the file can run code. Each file has a SHA-256
sidecar; a file whose checksum does not match is reported and skipped in favour of an older one.

Writing: temp file in the same folder -> flush -> fsync -> rename -> fsync the folder. A crash at any
moment leaves either the old set of checkpoints or the new one, never a half-written file under a
checkpoint's name.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch

from gankit.errors import GankitError

_NAME = re.compile(r"^step_(\d{8})\.pt$")


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:08d}.pt"


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see the old content or the new, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
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


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Save ``state`` as step ``step`` and prune to the newest ``keep`` checkpoints."""
    import io

    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    path = checkpoint_path(folder, step)
    digest = hashlib.sha256(payload).hexdigest()
    # Write the data first, then its checksum: a checksum never names data that is not on disk.
    atomic_write_bytes(path, payload)
    atomic_write_bytes(path.with_suffix(".sha256"), f"{digest}  {path.name}\n".encode())
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".sha256").unlink(missing_ok=True)
    return path


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def load_checkpoint_file(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one checkpoint after verifying its checksum; raise GankitError if it is not sound."""
    path = Path(path)
    try:
        payload = path.read_bytes()
    except OSError as error:
        raise GankitError(f"cannot read checkpoint {path}: {error.strerror}") from None
    sidecar = path.with_suffix(".sha256")
    if sidecar.exists():
        expected = sidecar.read_text().split()[0] if sidecar.read_text().split() else ""
        if hashlib.sha256(payload).hexdigest() != expected:
            raise GankitError(f"checkpoint {path} is corrupted (checksum mismatch)")
    import io

    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as error:  # truncated zip, foreign pickle, a crafted file, ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GankitError(f"checkpoint {path} cannot be loaded safely: {first}") from None


def load_latest_checkpoint(
    folder: Path, map_location: str | torch.device = "cpu", warn=None
) -> dict[str, Any] | None:
    """The newest checkpoint that loads and verifies; older ones are tried when it does not."""
    warn = warn or (lambda message: print(f"gankit: {message}", file=sys.stderr))
    for path in reversed(list_checkpoints(folder)):
        try:
            return load_checkpoint_file(path, map_location)
        except GankitError as error:
            warn(f"{error}; trying an older checkpoint")
    return None
