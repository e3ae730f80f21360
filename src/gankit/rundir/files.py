"""Every name in a run directory, defined once: the files, the folders, the step-numbered files in
them, and the name of a new run directory itself.

A name is changed here or nowhere: writers and readers import it from :mod:`gankit.rundir`, so
no module spells ``"metrics.jsonl"`` (or any other) on its own. docs/architecture.md lists them
with their formats.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

# --- the files and folders of RUN_DIR ---------------------------------------------------------------

# The fully resolved config; written by the trainer (RunDir.create, write_config), read by everyone.
CONFIG = "config.json"
# One JSON row per logged step; appended by the trainer (RunDir.append_metrics), read by eval,
# doctor, report, live view, compare and sweeps (read_metrics).
METRICS = "metrics.jsonl"
# The live monitors' findings, append-only; written by diagnose.monitors.FindingsLog through
# rundir.findings, read by doctor, report and the live view (read_findings).
FINDINGS = "findings.jsonl"
# step_NNNNNNNN.pt + .sha256; written by the checkpointer (rundir.checkpoint.save_checkpoint), read
# by resume, sample, eval and the divergence monitor.
CHECKPOINTS = "checkpoints"
# step_NNNNNNNN.png sample pictures; written by runs.assemble's sample plots, read by report, the
# live view and TensorBoard.
SAMPLES = "samples"
# The live view's latest snapshot; written by report.live.LiveField (--live), read by its server.
LIVE = "live.json"
# TensorBoard event files; written by report.tensorboard.TensorBoardWriter (--tensorboard).
TENSORBOARD = "tb"
# `gankit eval` of a sweep trial (a `gankit eval` metric); written by runs.sweep, read by compare.
EVAL = "eval.json"
# A finished sweep trial's result; written by runs.sweep, read by compare.
TRIAL = "trial.json"
# The self-contained HTML report; written by `gankit report` (report.html), read by people.
REPORT = "report.html"
# The doctor's plot; written by `gankit doctor` (diagnose.doctor.plot_diagnosis), read by people.
DOCTOR_PLOT = "doctor.png"
# Held (flock) while a trainer writes the directory; taken by RunDir.lock, waited on by sweeps.
LOCK = ".lock"

# --- step-numbered files --------------------------------------------------------------------------

_CHECKPOINT_NAME = re.compile(r"^step_(\d{8,})\.pt$")


def checkpoint_path(folder: Path, step: int) -> Path:
    """``folder/step_NNNNNNNN.pt``: the checkpoint of ``step`` (eight digits or more)."""
    return Path(folder) / f"step_{step:08d}.pt"


def checksum_path(path: Path) -> Path:
    """A checkpoint's SHA-256 sidecar: ``step_NNNNNNNN.sha256`` beside it."""
    return Path(path).with_suffix(".sha256")


def is_checkpoint(path: Path) -> bool:
    return _CHECKPOINT_NAME.match(Path(path).name) is not None


def checkpoint_step(path: Path) -> int:
    """The step in a checkpoint's name (``step_00000500.pt -> 500``)."""
    return int(_CHECKPOINT_NAME.match(Path(path).name).group(1))


def sample_path(folder: Path, step: int) -> Path:
    """``folder/step_NNNNNNNN.png``: the sample picture of ``step`` (names sort by step)."""
    return Path(folder) / f"step_{step:08d}.png"


def sample_step(picture: Path) -> int | None:
    """The step in a sample picture's name (``step_00000500.png -> 500``), None for other names."""
    digits = Path(picture).stem.removeprefix("step_")
    return int(digits) if digits.isdigit() else None


def list_samples(run_dir: Path) -> list[Path]:
    """Every picture in RUN_DIR/samples, oldest first (the names are step-numbered)."""
    return sorted((Path(run_dir) / SAMPLES).glob("*.png"))


# --- the run directory's own name -------------------------------------------------------------------


def default_run_dir(data: str, objective: str, root: str | Path = "runs") -> Path:
    """Where a run goes without ``--out``: ``runs/DATA-OBJECTIVE-YYYYmmdd-HHMMSS``, with ``-2``,
    ``-3``, ... if that name is taken. DATA is the data set's name, or the last part of its path
    (``--data photos/cats`` -> ``runs/cats-ns-...``)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{Path(data).name}-{objective}-{stamp}"
    path, suffix = Path(root) / name, 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{name}-{suffix}"
    return path
