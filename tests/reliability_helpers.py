"""Helpers shared by the reliability tests (test_resume, test_signals, test_fuzz_cli)."""

import json
import os

import torch

from gankit.config import TrainConfig
from gankit.rundir import checkpoint_step, list_checkpoints, load_checkpoint_file, read_metrics

# Tiny and fast, but with every kind of state: EMA, Adam moments, the penalty's random weights.
TINY = (
    "--data", "ring", "--objective", "wgan-gp", "--critic-steps", "2", "--width", "16", "--depth", "1",
    "--batch-size", "32", "--ema-decay", "0.9", "--eval-every", "0", "--sample-every", "0",
    "--log-every", "5", "--device", "cpu",
)  # fmt: skip


def latest_state(run) -> dict:
    return load_checkpoint_file(list_checkpoints(run / "checkpoints")[-1])


def latest_step(run) -> int:
    found = list_checkpoints(run / "checkpoints")
    return checkpoint_step(found[-1]) if found else -1


def assert_same_state(a, b, path="state"):
    """Every tensor and number of two checkpoints equal, bit for bit (wall and CPU time aside)."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            if key not in ("elapsed", "training_cpu"):
                assert_same_state(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def same_state(a, b) -> bool:
    try:
        assert_same_state(a, b)
    except AssertionError:
        return False
    return True


def record_resume(kind: str, reference, resumed, **facts) -> None:
    """Record what a fault cost: logged rows missing or duplicated, and whether the end state matches."""
    expected = [row["step"] for row in read_metrics(reference)]
    logged = [row["step"] for row in read_metrics(resumed)]
    record(
        kind,
        rows_missing=len(set(expected) - set(logged)),
        rows_duplicated=len(logged) - len(set(logged)),
        bit_identical=same_state(latest_state(reference), latest_state(resumed)),
        **facts,
    )


def rows_without_time(run) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "wall_time"} for row in read_metrics(run)]


def tiny_config(steps: int, **changes):
    values = dict(data="ring", objective="wgan-gp", critic_steps=2, width=16, depth=1, batch_size=32)
    values |= dict(ema_decay=0.9, eval_every=0, sample_every=0, log_every=5, checkpoint_every=10)
    return TrainConfig(steps=steps, device="cpu", **(values | changes))


def record(kind: str, **facts) -> None:
    """Append one fault or input tried to $GANKIT_RELIABILITY_LOG (benchmarks/reliability.py reads it)."""
    log = os.environ.get("GANKIT_RELIABILITY_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(json.dumps({"kind": kind, **facts}) + "\n")
