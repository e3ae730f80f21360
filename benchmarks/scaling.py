"""Scaling out: the same training run as 1 process and as 2 DDP processes on this machine.

Each configuration trains through the real command line (`gankit train --nproc N`, which launches
torchrun with gloo on the CPU) with the same *global* batch, so every row does the same work per
step. Steps/s is read from the run's own metrics.jsonl (wall_time between the first and the last
row), which leaves out process start-up and the first, slower steps.

    .venv/bin/python benchmarks/scaling.py       # writes docs/benchmarks/scaling.md (~10 min on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from gankit.rundir import read_metrics

ROOT = Path(__file__).resolve().parents[1]
RUNS = [  # (label, flags); every run uses the same global batch of 256
    (
        "wgan-gp, MLP 3x256",
        ["--objective", "wgan-gp", "--width", "256", "--steps", "120", "--log-every", "10"],
    ),
    ("ns, MLP 3x256", ["--objective", "ns", "--width", "256", "--steps", "600", "--log-every", "50"]),
]
LAYOUTS = [  # (processes, torch threads per process)
    (1, 1),
    (1, 2),
    (2, 1),
]
REPEATS = 3  # each layout this many times, in turns; the table gives the median
MAX_LOAD = 2.0  # the project's rule: a speed table measured above load average 2 is not published
COMMON = ["--data", "ring", "--batch-size", "256", "--eval-every", "0", "--sample-every", "0", "--no-amp"]


def steps_per_second(run_dir: Path) -> float:
    rows = read_metrics(run_dir)
    first, last = rows[0], rows[-1]
    return (last["step"] - first["step"]) / (last["wall_time"] - first["wall_time"])


def train(flags: list[str], processes: int, threads: int, out: Path) -> float:
    command = [sys.executable, "-m", "gankit", "train", *COMMON, *flags, "--device", "cpu"]
    command += ["--threads", str(threads), "--nproc", str(processes), "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    return steps_per_second(out)


def reading(table: list[tuple]) -> list[str]:
    """What the table shows, sentence by sentence from its own numbers."""
    lines = [
        "Two processes split each global batch in two, so each does half the matrix work, and then",
        "all-reduce the gradients of the player they train after every backward pass. On one machine",
        "they compete with one process that uses every core (`--threads`).",
        "",
    ]
    for label, _ in RUNS:
        rows = [r for r in table if r[0] == label]
        best = max(rows, key=lambda r: r[3])
        apart = all(best[4] > r[5] for r in rows if r is not best)
        lines.append(
            f"- {label}: fastest with {best[1]} process{'es' if best[1] > 1 else ''} of {best[2]} thread"
            f"{'s' if best[2] > 1 else ''} ({best[6]:.2f}x one process of one thread)"
            + (
                "; its slowest repeat beat every other layout's fastest."
                if apart
                else "; the repeats' ranges overlap, so the layouts are not told apart."
            )
        )
    lines += [
        "",
        "Data parallelism pays off when each process has its own GPU or machine (see docs/scaling.md).",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks/scaling.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rates: dict[tuple[str, int, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(REPEATS):  # layouts in turns, so a change in load hits each alike
            for label, flags in RUNS:
                for processes, threads in LAYOUTS:
                    rate = train(
                        flags, processes, threads, Path(tmp) / f"{label}-{processes}x{threads}-{repeat}"
                    )
                    rates.setdefault((label, processes, threads), []).append(rate)
                    print(label, processes, threads, f"{rate:.2f} steps/s", flush=True)
    load_after = os.getloadavg()[0]
    if max(load_before, load_after) > MAX_LOAD:
        print(
            f"not written: load average {load_before:.1f} before / {load_after:.1f} after the runs, above"
            f" {MAX_LOAD:.0f}; run it again on a quiet machine",
            file=sys.stderr,
        )
        return 1
    table = []
    for label, _ in RUNS:
        base = statistics.median(rates[(label, 1, 1)])
        for processes, threads in LAYOUTS:
            runs = rates[(label, processes, threads)]
            rate = statistics.median(runs)
            table.append((label, processes, threads, rate, min(runs), max(runs), rate / base))
    lines = [
        "# Scaling: 1 process against 2 DDP processes",
        "",
        "Regenerate with:",
        "",
        "```",
        "nice -n 0 .venv/bin/python benchmarks/scaling.py",
        "```",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; torch {torch.__version__}; "
        f"{os.cpu_count()} logical CPU cores, no GPU",
        f"- load average (1 min) before / after: {load_before:.1f} / {load_after:.1f}",
        "- every run: `gankit train --data ring --batch-size 256 --no-amp` (global batch), gloo over"
        " loopback",
        f"- each layout ran {REPEATS} times, the layouts in turns; steps/s is the median, with the lowest"
        " and highest beside it",
        "",
        "| run | processes | threads per process | steps/s | lowest – highest | vs 1 process, 1 thread |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} – {r[5]:.2f} | {r[6]:.2f}x |" for r in table
    ]
    lines += ["", *reading(table), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
