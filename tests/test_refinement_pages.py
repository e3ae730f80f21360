"""benchmarks/refinement.py's pages: rows scored before a packed D's score was divided by its pack
(issue #37) are never reused for new rows, and a page rendered from them shows their D rows as
superseded while keeping their raw and knn rows."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
refinement = pytest.importorskip("refinement")


def rows_file(tmp_path, corrected: bool) -> Path:
    """Two rows of a pack-2 recipe, scored under today's protocol or the one before the correction."""
    protocol = refinement.protocol()
    if not corrected:
        protocol = {key: value for key, value in protocol.items() if key != "d"}
    scores = {"modes": 8, "modes_total": 8, "high_quality": 0.98, "reverse_kl": 0.002, "w1": 0.07}
    refined = scores | {"acceptance_rate": 0.8, "cpu_ms_per_sample": 0.1}
    rows = [
        {
            "data": "ring",
            "seed": seed,
            "config": refinement.PRESETS["toy-best"] | {"data": "ring", "seed": seed},
            "train_cpu_s": 400.0,
            "raw": scores | {"high_quality": 0.97 + seed / 1000},
            **{key: refined for key in refinement.RECIPES},
            "load_average": 1.0,
            "protocol": protocol,
        }
        for seed in (1, 2)
    ]
    path = tmp_path / "table.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_rows_scored_before_the_correction_are_never_reused_and_render_as_superseded(tmp_path):
    base = dict(refinement.PRESETS["toy-best"])
    old = rows_file(tmp_path, corrected=False)
    assert refinement.kept_rows(old, base) == []  # training again would score them anew
    rows = refinement.kept_rows(old, base, uncorrected=True)
    assert len(rows) == 2 and refinement.uncorrected_d(rows)
    page = tmp_path / "table.md"
    refinement.write_table(rows, page, "python benchmarks/refinement.py", "toy-best", {}, planned=2)
    text = page.read_text()
    assert "**Superseded D rows.**" in text
    d_rows = [line for line in text.splitlines() if "+ drs, D" in line or "+ mh, D" in line]
    assert len(d_rows) == 2 and all("superseded" in line and "80.0 %" not in line for line in d_rows)
    knn = [line for line in text.splitlines() if "+ drs, knn" in line]
    assert len(knn) == 1 and "80.0 %" in knn[0]  # knn rows are unaffected and shown


def test_rows_scored_with_the_corrected_d_render_every_row(tmp_path):
    base = dict(refinement.PRESETS["toy-best"])
    rows = refinement.kept_rows(rows_file(tmp_path, corrected=True), base)
    assert len(rows) == 2 and not refinement.uncorrected_d(rows)
    page = tmp_path / "table.md"
    refinement.write_table(rows, page, "python benchmarks/refinement.py", "toy-best", {}, planned=2)
    text = page.read_text()
    assert "superseded" not in text.lower()
    assert sum("80.0 %" in line for line in text.splitlines()) == len(refinement.RECIPES)
