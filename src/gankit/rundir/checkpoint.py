"""Checkpoints: atomic to write, verified and safe to load.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and dicts
(networks, optimisers, EMA, RNG states, step, callback states), so it loads with
``torch.load(weights_only=True)``: nothing in the file can run code, and a file crafted to try is
refused. Each file has a SHA-256 sidecar (``step_XXXXXXXX.sha256``); a file whose checksum is
missing or does not match, or that does not parse, is reported in one line and skipped in favour of
an older one.

Writing: data, then its checksum, each through the run directory's one atomic write
(:func:`gankit.rundir.io.atomic_write_bytes`: temp file in the same folder -> flush -> fsync ->
rename -> fsync the folder). A crash at any moment leaves either the old set of checkpoints or the
new one, never a half-written file under a checkpoint's name. Only then are checkpoints older than
the newest ``keep`` deleted. The names (``step_NNNNNNNN.pt``, ``.sha256``) are defined in
:mod:`gankit.rundir.files`.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gankit.errors import GankitError
from gankit.rundir.files import checkpoint_path, checkpoint_step, checksum_path, is_checkpoint
from gankit.rundir.io import atomic_write_bytes


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, ...); the previous ones are untouched."""


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Save ``state`` as step ``step``, then prune to the newest ``keep`` checkpoints.

    Raises OSError if the data or its checksum cannot be written; the checkpoints already on disk
    are then exactly as they were.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    path = checkpoint_path(folder, step)
    # Data first, then its checksum: a checksum never names data that is not on disk. If the
    # checksum cannot be written the new data goes too, so that it never shadows an older,
    # verified checkpoint.
    atomic_write_bytes(path, payload)
    try:
        digest = hashlib.sha256(payload).hexdigest()
        atomic_write_bytes(checksum_path(path), f"{digest}  {path.name}\n".encode())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
        checksum_path(old).unlink(missing_ok=True)
    return path


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if is_checkpoint(p)]
    return sorted(found, key=checkpoint_step)


def load_checkpoint_file(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one checkpoint after verifying its checksum; raise GankitError if it is not sound."""
    path = Path(path)
    try:
        payload = path.read_bytes()
    except OSError as error:
        raise GankitError(f"cannot read checkpoint {path}: {error.strerror}") from None
    # No checksum, no trust: torch's zip reader does not notice a flipped byte inside a tensor. (A
    # crash between the two renames of save_checkpoint leaves such a file; the previous one is used.)
    sidecar = checksum_path(path)
    try:
        words = sidecar.read_text(errors="replace").split()
    except OSError:
        raise GankitError(
            f"checkpoint {path} cannot be verified (its checksum {sidecar.name} is missing)"
        ) from None
    if not words or hashlib.sha256(payload).hexdigest() != words[0]:
        raise GankitError(f"checkpoint {path} is corrupted (SHA-256 does not match {sidecar.name})")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols; the error says enough
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(
            r"(unsupported GLOBAL \S+|Unsupported operand \d+|Unsupported global: \S+)", str(error)
        )
        detail = found.group(1) if found else "objects other than tensors and plain data"
        raise GankitError(
            f"checkpoint {path} refused: loading it could run code ({detail}); "
            "gankit loads only tensors and plain data"
        ) from None
    except Exception as error:  # a truncated zip, random bytes, ...
        found = re.search(r"failed reading zip archive: ([^.]+)", str(error))
        detail = found.group(1) if found else _first_line(error)
        raise GankitError(f"checkpoint {path} is truncated or corrupted ({detail})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise GankitError(f"checkpoint {path} is not a gankit checkpoint (no training state in it)")
    return state


def load_latest_checkpoint(
    folder: Path,
    map_location: str | torch.device = "cpu",
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """The newest checkpoint that loads and verifies; older ones are tried when it does not.

    Each checkpoint skipped is reported through ``warn`` (default: one line on stderr).
    """
    warn = warn or (lambda message: print(f"gankit: warning: {message}", file=sys.stderr))
    for path in reversed(list_checkpoints(folder)):
        try:
            return load_checkpoint_file(path, map_location)
        except GankitError as error:
            warn(f"{error}; trying an older checkpoint")
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
