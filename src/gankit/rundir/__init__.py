"""The run directory: the one contract between the trainer that writes a run and everything that
reads it (eval, doctor, report, the live view, compare, sweeps, resume). See docs/architecture.md.

    files.py       every name in a run directory, once (config.json, metrics.jsonl, checkpoints/, ...)
                   and the name of a new run directory
    io.py          JSON without NaN, and the one atomic write every writer uses
    readers.py     is it a run directory; config.json and metrics.jsonl read back
    writer.py      RunDir: one trainer at a time (the lock), config and metrics written
    checkpoint.py  checkpoints with SHA-256 sidecars, verified and safe to load
    findings.py    findings.jsonl: the monitors' records, stored and merged back into episodes

Readers and writers import from ``gankit.rundir``; none imports another reader for a file name.
"""

from gankit.rundir.checkpoint import (
    CheckpointWriteError,
    list_checkpoints,
    load_checkpoint_file,
    load_latest_checkpoint,
    save_checkpoint,
)
from gankit.rundir.files import (
    CHECKPOINTS,
    CONFIG,
    DOCTOR_PLOT,
    EVAL,
    FINDINGS,
    LIVE,
    LOCK,
    METRICS,
    REPORT,
    SAMPLES,
    TENSORBOARD,
    TRIAL,
    checkpoint_path,
    checkpoint_step,
    checksum_path,
    default_run_dir,
    list_samples,
    sample_path,
    sample_step,
)
from gankit.rundir.findings import append_finding, keep_findings_until, merge_records, read_findings
from gankit.rundir.io import atomic_write_bytes, dumps, remove_stale_temporaries
from gankit.rundir.readers import check_run_dir, is_run_dir, read_config, read_metrics
from gankit.rundir.writer import RunDir

__all__ = [
    "CHECKPOINTS",
    "CONFIG",
    "DOCTOR_PLOT",
    "EVAL",
    "FINDINGS",
    "LIVE",
    "LOCK",
    "METRICS",
    "REPORT",
    "SAMPLES",
    "TENSORBOARD",
    "TRIAL",
    "CheckpointWriteError",
    "RunDir",
    "append_finding",
    "atomic_write_bytes",
    "check_run_dir",
    "checkpoint_path",
    "checkpoint_step",
    "checksum_path",
    "default_run_dir",
    "dumps",
    "is_run_dir",
    "keep_findings_until",
    "list_checkpoints",
    "load_checkpoint_file",
    "load_latest_checkpoint",
    "merge_records",
    "read_config",
    "read_findings",
    "read_metrics",
    "remove_stale_temporaries",
    "sample_path",
    "list_samples",
    "sample_step",
    "save_checkpoint",
]
