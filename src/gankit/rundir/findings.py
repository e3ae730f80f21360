"""findings.jsonl: how the monitors' findings are stored and read back.

The file is append-only: one record when a finding opens (``ended`` null) and the same finding
again with ``ended`` and ``closed_at`` set when it closes; :func:`read_findings` merges them into
one finding per episode. What a finding is and when one opens is gankit.diagnose's business; this
module only keeps the records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gankit.rundir.files import FINDINGS
from gankit.rundir.io import atomic_write_bytes, dumps


def append_finding(file: Path, record: dict[str, Any]) -> None:
    """Add one record (a finding opening or closing) to the end of ``file``."""
    with open(file, "a") as handle:
        handle.write(dumps(record) + "\n")


def keep_findings_until(file: Path, step: int) -> list[dict[str, Any]]:
    """On resume: keep the records written up to ``step`` (later ones belong to lost work) and
    return them. ``file`` is rewritten atomically; a missing file stays missing."""
    file = Path(file)
    if not file.exists():
        return []
    kept = [record for record in read_records(file) if _written_at(record) <= step]
    atomic_write_bytes(file, "".join(dumps(record) + "\n" for record in kept).encode())
    return kept


def _written_at(record: dict[str, Any]) -> int:
    closed_at = record.get("closed_at")
    return closed_at if closed_at is not None else record["detected_at"]


def read_records(file: Path) -> list[dict[str, Any]]:
    """Every record of ``file`` as written (a torn last line from a crash is ignored)."""
    records = []
    for line in Path(file).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line from a crash
            continue
    return records


def merge_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per episode (name, step): a close record replaces its open one.

    Records written before findings could close (no ``ended`` key) read as open.
    """
    episodes: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        episodes[(record["name"], record["step"])] = {"ended": None, "closed_at": None, **record}
    return sorted(episodes.values(), key=lambda f: (f["step"], f["name"]))


def read_findings(run_dir: str | Path) -> list[dict[str, Any]]:
    """The findings of a run directory, one per episode, ordered by the step where each started."""
    file = Path(run_dir) / FINDINGS
    return merge_records(read_records(file)) if file.exists() else []
