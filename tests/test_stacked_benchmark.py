"""The stacked-digits benchmark's fairness check and labels (benchmarks/stacked_digits.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
stacked = pytest.importorskip("stacked_digits")


def test_cells_are_labelled_by_lever_and_name_their_directories():
    assert stacked.cell_label({"objective": "ns", "pack": 2}) == "ns + PacGAN2"
    assert stacked.cell_label({"objective": "ns", "ema_decay": 0.999}) == "ns + EMA"
    assert stacked.cell_label({"objective": "ns", "ema_decay": 0.999, "ema_rampup": 0.05}) == "ns + EMA"
    plain = stacked.cell_label({"objective": "ns", "ema_decay": 0.999, "ema_rampup": 0.0})
    assert plain == "ns + plain EMA" and stacked.directory_name(plain) == "ns-plain-EMA"


def test_an_ema_row_that_bought_many_more_steps_than_its_objective_is_flagged(monkeypatch):
    steps = {"hinge": [2461, 2481, 2545], "hinge + EMA": [3835, 4305, 4479], "ns": [2500], "ns + EMA": [2420]}
    monkeypatch.setattr(stacked, "steps_trained", lambda directory: steps[directory])
    labels = list(steps)
    warning = " ".join(stacked.speed_check(labels, {label: label for label in labels}))
    assert "not a fair comparison" in warning
    assert "hinge + EMA 4,305 steps against hinge's 2,481" in warning and "ns + EMA" not in warning
    steps["hinge + EMA"] = [2400, 2450, 2500]
    assert stacked.speed_check(labels, {label: label for label in labels}) == []


def test_reading_compares_the_ramped_ema_with_the_plain_one():
    def row(mean, low, high):
        return {"mean": mean, "ci_low": low, "ci_high": high, "n": 5}

    rows = {
        "ns + EMA": row(0.23, 0.20, 0.26),
        "ns + plain EMA": row(0.30, 0.28, 0.32),
        "ns": row(0.27, 0.24, 0.31),
    }
    text = "\n".join(stacked.reading(rows, sorted(rows, key=lambda label: rows[label]["mean"])))
    assert "The EMA's ramp-up with ns** lowers KL from 0.300 (plain EMA) to 0.230 (CIs apart)" in text
    assert "**plain EMA with ns** raises KL from 0.270 to 0.300" in text
