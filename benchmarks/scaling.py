"""Scaling out: the same training run as 1 process and as 2 DDP processes on this machine.

Each configuration trains through the real command line (`gankit train --nproc N`, which launches
torchrun with gloo on the CPU) with the same *global* batch, so every row does the same work per
step. Steps/s is read from the run's own metrics.jsonl (wall_time between the first and the last
row), which leaves out process start-up and the first, slower steps.

    .venv/bin/python benchmarks/scaling.py       # writes docs/benchmarks/scaling.md (~5 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RUNS = [  # (label, flags); every run uses the same global batch of 256
    ("wgan-gp, MLP 3x256", ["--objective", "wgan-gp", "--width", "256", "--steps", "40", "--log-every", "5"]),
    ("ns, MLP 3x256", ["--objective", "ns", "--width", "256", "--steps", "160", "--log-every", "20"]),
]
LAYOUTS = [  # (processes, torch threads per process)
    (1, 1),
    (1, 2),
    (2, 1),
]
COMMON = ["--data", "ring", "--batch-size", "256", "--eval-every", "0", "--sample-every", "0"]


def steps_per_second(run_dir: Path) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    first, last = rows[0], rows[-1]
    return (last["step"] - first["step"]) / (last["wall_time"] - first["wall_time"])


def train(flags: list[str], processes: int, threads: int, out: Path) -> float:
    command = [sys.executable, "-m", "gankit", "train", *COMMON, *flags, "--device", "cpu"]
    command += ["--threads", str(threads), "--nproc", str(processes), "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    return steps_per_second(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks/scaling.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, flags in RUNS:
            base = None
            for processes, threads in LAYOUTS:
                rate = train(flags, processes, threads, Path(tmp) / f"{len(table)}")
                base = base or rate
                table.append((label, processes, threads, rate, rate / base))
                print(table[-1], flush=True)
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
        f"- load average (1 min) before / after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} "
        "(the machine was shared with other jobs, so rates are noisy)",
        "- every run: `gankit train --data ring --batch-size 256` (global batch), gloo over loopback",
        "",
        "| run | processes | threads per process | steps/s | vs 1 process, 1 thread |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f}x |" for r in table]
    lines += [
        "",
        "Two processes split each global batch in two, so each does half the matrix work, and then",
        "all-reduce the gradients of the player they train after every backward pass. On one machine",
        "they compete with one process that uses every core (`--threads`). When the machine is busier",
        "than its cores (load average above the core count), a process with 2 threads waits for both",
        "to be scheduled at every parallel operation and falls far behind 1-thread processes. Data",
        "parallelism pays off when each process has its own GPU or machine (see docs/scaling.md).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
