"""Shared test set-up: one torch thread per test worker (pytest -n 2 on 2 cores), no display."""

import math
import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)
os.environ.setdefault("GANKIT_TEST", "1")
# No test reaches the internet: downloads (named data sets, Inception weights) go to a closed loopback
# port unless a test serves them from its own loopback server (tests/loopback.py).
os.environ["GANKIT_DATA_URL"] = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def untimed_runs(monkeypatch):
    """No run in this process times amp/threads "auto" (gankit.engine.speed) unless its test asks:
    a choice made by timing would make a test's numbers depend on the machine's load. Untimed,
    "auto" is fp32 and one thread."""
    from gankit.engine import speed

    monkeypatch.setattr(speed, "MIN_STEPS", math.inf)


@pytest.fixture
def cli(capsys):
    """Run the gankit CLI in-process: returns (exit code, stdout, stderr)."""
    from gankit.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
