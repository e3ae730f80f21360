"""Reading a run directory: is it one, its config.json, its metrics.jsonl.

Every reader (eval, doctor, report, the live view, compare, sweeps, resume) comes through here and
never reaches into a trainer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.rundir.files import CONFIG, METRICS


def is_run_dir(path: Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def usable_path(path: str | Path) -> Path:
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
    path = usable_path(path)
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
