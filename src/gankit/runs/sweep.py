"""``gankit sweep``: many runs of one spec, scheduled by Optuna, on one machine or many.

Layout of a sweep directory::

    DIR/spec.toml           the spec, copied at creation (``--resume DIR`` reads it from here)
    DIR/sweep.json          the sweep's name in the storage, whether the storage is shared, and the
                            path of its journal file (relative to DIR unless given absolute)
    DIR/study.db            the embedded Optuna storage (SQLite), unless --storage URL|journal:FILE
    DIR/trials/<name>/      one ordinary run directory per trial (+ trial.json, eval.json)

Every grid cell is its own Optuna study (``<sweep name>/<cell>``), so a [search] is tuned per cell
by its own seeded TPE sampler and pruned against its own trials only (median, successive halving or
Hyperband, on the watched metric each trial reports at every evaluation). All trials are enqueued when
the study is created: workers pop WAITING trials atomically, so no cell is run twice however many
workers race. Each finished trial keeps its result in the study too (``compare --storage``).

A trial whose worker died is rerun once, resuming its run directory. In an SQL storage each running
trial sends a heartbeat, and a stale one (SIGKILL, a lost machine) is failed and enqueued again with
the same parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``). Optuna's journal file keeps no
heartbeat: a journal sweep runs on one machine at a time (a file lock refuses a second sweep there),
so every trial it finds RUNNING when it starts is dead. Which process enqueues a rerun is decided by
a claim in the storage itself (:func:`claim`), so racing processes never enqueue one trial twice.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.config import from_dict
from gankit.engine.loop import Callback, StopTraining
from gankit.errors import GankitError
from gankit.metrics.evaluate import default_samples, evaluate_run
from gankit.rundir import (
    CHECKPOINTS,
    EVAL,
    LOCK,
    TRIAL,
    atomic_write_bytes,
    dumps,
    is_run_dir,
    load_latest_checkpoint,
    read_config,
    read_metrics,
)
from gankit.runs import assemble
from gankit.runs.spec import SweepSpec, group_key, load_spec, parse_spec

# Imported inside the functions that use them: optuna (and SQLAlchemy beneath it), because `gankit
# compare DIR` imports this module for its file names and never opens a study; fcntl, POSIX-only.

SPEC, SWEEP, STUDY_DB, TRIALS = "spec.toml", "sweep.json", "study.db", "trials"  # in a sweep's DIR
EVAL_SEED = 0  # what `gankit eval RUN_DIR` uses by default (and its sample count: default_samples)
MAX_RETRIES = 3  # reruns of a trial whose worker died, before it counts as failed
POLL_SECONDS = 2.0
JOURNAL = "journal:"  # --storage journal:FILE: Optuna's journal file, one JSON line per operation


@dataclass(frozen=True)
class Sweep:
    """An opened sweep: its directory, spec and storage (an absolute ``journal:FILE`` or a URL;
    embedded SQLite unless given)."""

    path: Path
    spec: SweepSpec
    storage_url: str
    heartbeat: int = 30  # seconds between a running trial's heartbeats; stale after 3 missed

    def storage(self):
        return open_storage(self.storage_url, self.heartbeat)

    @property
    def journal(self) -> Path | None:
        return journal_path(self.storage_url)

    def study_name(self, cell: dict[str, Any]) -> str:
        return f"{self.spec.name}/{group_key(cell)}"


def open_storage(url: str, heartbeat: int = 30):
    """The Optuna storage behind ``url``: a JournalStorage for ``journal:FILE``, else an RDBStorage
    whose stale trials (no heartbeat for 3 intervals) are failed and rerun once, by one process."""
    import optuna
    import sqlalchemy.exc

    journal = journal_path(url)
    if journal is not None:
        return _journal_storage(journal)
    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            for attempt in range(5):
                try:
                    return _rdb_storage(url, kwargs, heartbeat)
                except sqlalchemy.exc.IntegrityError:  # another machine creating the tables now
                    time.sleep(1 + attempt)
            return _rdb_storage(url, kwargs, heartbeat)
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as error:
            raise GankitError(f"cannot open the sweep storage: {_first_line(error)}") from None


def _rdb_storage(url: str, kwargs: dict, heartbeat: int):
    import optuna

    return optuna.storages.RDBStorage(
        with_installed_driver(url),
        engine_kwargs=kwargs,
        heartbeat_interval=heartbeat,
        grace_period=3 * heartbeat,
        heartbeat_stale_trial_callback=ClaimedRetry(),
    )


def _journal_storage(path: Path):
    import optuna

    if not path.parent.is_dir():
        raise GankitError(f"cannot open the sweep journal {path}: no directory {path.parent}")
    try:
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    except (OSError, ValueError, KeyError) as error:  # not a journal file (ValueError: bad JSON)
        raise GankitError(f"cannot open the sweep journal {path}: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def journal_path(url: str | None) -> Path | None:
    """FILE of ``journal:FILE`` (None for a URL)."""
    return Path(url.removeprefix(JOURNAL)) if url is not None and url.startswith(JOURNAL) else None


def with_installed_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1; use psycopg2 when only it is installed."""
    psycopg2_only = importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2")
    if url.startswith("postgresql://") and psycopg2_only:
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def embedded_url(path: Path) -> str:
    return f"sqlite:///{(path / STUDY_DB).resolve()}"


def create(spec_file: Path, out: Path, storage_url: str | None, heartbeat: int) -> Sweep:
    """Validate the spec fully, then create DIR (spec.toml, sweep.json) and the studies.

    A storage that already holds this spec's studies (the same spec started on another machine, or a
    committed journal in a fresh clone whose run directories are gone) is continued, not duplicated:
    finished trials stay finished, and the others run here."""
    spec = load_spec(spec_file)
    check_storage_url(storage_url)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GankitError(f"{out} already exists; continue it with: gankit sweep --resume {out}")
    if storage_url is not None:  # reachable before anything is written
        open_storage(absolute_storage(storage_url), heartbeat)
    out.mkdir(parents=True, exist_ok=True)
    (out / SPEC).write_text(spec.text)
    write_info(out, spec, storage_url)
    (out / TRIALS).mkdir(exist_ok=True)
    sweep = Sweep(out, spec, absolute_storage(storage_url) or embedded_url(out), heartbeat)
    make_studies(sweep)
    return sweep


def open_existing(path: Path, storage_url: str | None, heartbeat: int) -> Sweep:
    """``--resume DIR``: the spec and storage recorded in DIR (``--storage journal:FILE`` replaces a
    journal that moved, and is recorded)."""
    if not (path / SPEC).is_file() or not (path / SWEEP).is_file():
        raise GankitError(f"{path} is not a gankit sweep directory (no {SPEC} / {SWEEP})")
    info = json.loads((path / SWEEP).read_text())
    if info.get("shared_storage") and storage_url is None:
        raise GankitError(f"{path} uses a shared storage: resume it with --storage URL (the same URL)")
    check_storage_url(storage_url)
    spec = parse_spec((path / SPEC).read_text(), str(path / SPEC))
    if storage_url is None and info.get("journal"):
        storage_url = JOURNAL + str(path / info["journal"])  # relative to DIR (or absolute)
    elif journal_path(storage_url) is not None:
        write_info(path, spec, storage_url)
    storage_url = absolute_storage(storage_url)
    journal = journal_path(storage_url)
    if journal is not None and not journal.is_file():  # Optuna would start an empty one: a new sweep
        raise GankitError(f"the sweep journal {journal} is missing; give its path: --storage journal:FILE")
    sweep = Sweep(path, spec, storage_url or embedded_url(path), heartbeat)
    make_studies(sweep, resuming=True)  # a creator that died before it enqueued every trial
    return sweep


def absolute_storage(url: str | None) -> str | None:
    """``journal:FILE`` with FILE made absolute (workers and the parent agree whatever their cwd)."""
    journal = journal_path(url)
    return url if journal is None else JOURNAL + str(journal.resolve())


def write_info(path: Path, spec: SweepSpec, storage_url: str | None) -> None:
    """DIR/sweep.json. A journal given as a relative path (to the working directory) is recorded
    relative to DIR, so a repository that keeps both, e.g. the journal committed under
    benchmarks/journals/ and the sweep directory under runs/, resumes from any clone; an absolute one
    as given. A URL is not recorded (it may hold a password)."""
    journal = journal_path(storage_url)
    info: dict[str, Any] = {"name": spec.name, "shared_storage": storage_url is not None and journal is None}
    if journal is not None:
        absolute = journal.is_absolute()
        info["journal"] = str(journal) if absolute else os.path.relpath(journal.resolve(), path.resolve())
    (path / SWEEP).write_text(json.dumps(info) + "\n")


def check_storage_url(url: str | None) -> None:
    if url is None:
        return
    if url.startswith(JOURNAL):
        if not url.removeprefix(JOURNAL):
            raise GankitError("--storage journal:FILE needs a file name, e.g. journal:sweeps/lr.journal")
    elif not url.startswith(("sqlite://", "postgresql", "mysql")):
        raise GankitError(
            f"--storage must be journal:FILE or an sqlite://, postgresql:// or mysql:// URL, got {url!r}"
        )


def quiet_optuna() -> None:
    """Optuna's info lines and experimental-API warnings would bury the progress line."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)


def make_studies(sweep: Sweep, resuming: bool = False) -> None:
    """One study per grid cell; only the process that creates a study enqueues its trials (a machine
    joining a shared sweep finds them queued). ``resuming`` completes a queue whose creator died.

    Each study keeps the spec's text, so ``gankit compare --storage`` needs nothing but the storage."""
    import optuna

    quiet_optuna()
    storage = sweep.storage()
    for cell in sweep.spec.cells():
        name = sweep.study_name(cell)
        try:
            study = optuna.create_study(storage=storage, study_name=name, direction=sweep.spec.direction)
            study.set_user_attr("spec", sweep.spec.text)
            study.set_user_attr("cell", cell)
            missing = sweep.spec.trials
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=name, storage=storage)
            if "spec" not in study.user_attrs:  # made before studies kept their spec
                study.set_user_attr("spec", sweep.spec.text)
            if not resuming or study.user_attrs.get("enqueued"):
                continue
            study.set_user_attr("cell", cell)
            queued = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("enqueued")]
            missing = sweep.spec.trials - len(
                {t.number for t in queued if "failed_trial" not in t.system_attrs}
            )
        for _ in range(missing):
            study.enqueue_trial({}, user_attrs={"enqueued": True})
        study.set_user_attr("enqueued", True)


def load_studies(sweep: Sweep) -> list:
    import optuna

    storage = sweep.storage()
    return [
        optuna.load_study(study_name=sweep.study_name(cell), storage=storage, sampler=_sampler(sweep, 0))
        for cell in sweep.spec.cells()
    ]


def _sampler(sweep: Sweep, trial_number: int):
    """TPE seeded by the spec's seed and the trial's number, never by the process that runs it.

    Seeded per process, two workers that start a cell together drew the same configuration (a
    wasted trial, and a smaller search for that cell than for the others). Seeded per trial, trial k
    starts from the same random state however many workers run, and the cells of one spec share
    their random start: every contender is tried first on the same configurations.

    A trial draws at random while fewer than ``n_startup_trials`` of its cell's trials have finished
    (complete or pruned); after that TPE draws from a model of the finished trials, so trial k's
    configuration is a function of the seed, k and the trials finished when it starts. With one
    worker that sequence repeats exactly; with several, or a pruner that cuts trials against those
    that reached a rung first, it depends on the order in which trials finish, which the storage
    records.
    """
    import optuna

    seed = int(np.random.SeedSequence([sweep.spec.seed, trial_number]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=sweep.spec.n_startup_trials)


def _pruner(sweep: Sweep, cell: dict[str, Any]):
    """The spec's pruner for one cell, its resources converted from evaluations to generator steps
    (the step each trial reports at, see ReportToOptuna)."""
    import optuna

    spec = sweep.spec
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if spec.pruner == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=spec.min_resource * spec.resource_steps(cell), reduction_factor=spec.reduction_factor
        )
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=spec.min_resource * spec.resource_steps(cell),
            max_resource=spec.max_resource_steps(cell),
            reduction_factor=spec.reduction_factor,
        )
    return optuna.pruners.NopPruner()


# ---------------------------------------------------------------------------------------------------
# The worker: pops WAITING trials until none is left and no other worker's trial is still running.


def work(sweep: Sweep, index: int = 0) -> None:
    """Run trials until none is WAITING and none RUNNING (another worker's may still die and be rerun).

    ``index`` spreads the workers of one machine over the cells; a file lock in DIR makes popping a
    WAITING trial one at a time on this machine (Optuna's ``optimize`` creates a new trial when the
    WAITING one it saw was taken in between; across machines that surplus trial is skipped).
    """
    import optuna

    quiet_optuna()
    studies = load_studies(sweep)
    for study, cell in zip(studies, sweep.spec.cells(), strict=True):
        study.pruner = _pruner(sweep, cell)
    start = index % len(studies)
    studies = studies[start:] + studies[:start]
    while True:
        lock = PopLock(sweep.path / ".pop.lock")
        for study in studies:  # trials of dead workers: failed, then enqueued again with their params
            optuna.storages.fail_stale_trials(study)
        waiting = next((s for s in studies if _count(s, "WAITING")), None)
        if waiting is None:
            lock.release()
            if not any(_count(s, "RUNNING") for s in studies):
                return
            time.sleep(POLL_SECONDS)  # other workers' trials: wait, in case one of them dies
            continue
        cell = waiting.user_attrs["cell"]

        def objective(trial, cell=cell, lock=lock, study=waiting) -> float:
            lock.release()  # the WAITING trial is ours (RUNNING) now
            study.sampler = _sampler(sweep, trial.number)  # nothing is sampled before run_trial
            return run_trial(sweep, cell, trial)

        try:
            waiting.optimize(objective, n_trials=1, catch=(Exception,))
        except TrialTaken:
            pass  # judged dead and failed while it ran (a late heartbeat): its rerun continues the run
        finally:
            lock.release()


class TrialTaken(BaseException):
    """Our trial was failed by another process (judged dead: a heartbeat later than the grace period)
    while it ran, and a rerun of it now owns its run directory. A BaseException, so that Optuna's
    ``optimize`` does not tell the trial, which is no longer ours (telling a failed trial raises)."""


class PopLock:
    """An exclusive lock on DIR/.pop.lock, held from seeing a WAITING trial until it is popped."""

    def __init__(self, path: Path):
        import fcntl

        self.handle = path.open("a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if not self.handle.closed:
            self.handle.close()  # closing the file releases the lock


def _count(study, state: str) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState[state],)))


def trial_name(cell: dict[str, Any], number: int) -> str:
    """A readable run directory name: the cell's values and the trial number, e.g. ns_s0-t3."""
    name = "_".join(f"{key}-{_safe(value)}" for key, value in cell.items()) or "trial"
    return f"{name}_t{number}"


def _safe(value: Any) -> str:
    text = group_key({"x": value})[2:]
    return "".join(c if c.isalnum() or c in ".-+" else "-" for c in text)


def run_trial(sweep: Sweep, cell: dict[str, Any], trial) -> float:
    """Train one trial into DIR/trials/<name> and return its metric (what Optuna optimises)."""
    import optuna

    try:
        return _run_trial(sweep, cell, trial)
    except optuna.exceptions.UpdateFinishedTrialError as error:  # a report or an attr refused
        raise TrialTaken(f"trial {trial.number} was failed by another process") from error


def _run_trial(sweep: Sweep, cell: dict[str, Any], trial) -> float:
    import optuna

    if not trial.user_attrs.get("enqueued"):
        # Workers on two machines raced for the last WAITING trial of a cell and `optimize` created
        # a new trial for the loser: it is never run (and never counted).
        trial.set_user_attr("surplus", True)
        raise optuna.TrialPruned("not an enqueued trial")
    trial.set_user_attr("worker", worker_tag(trial.number))  # which process runs it (fail_orphans)
    params = {item.name: suggest(trial, item) for item in sweep.spec.search}
    config = from_dict(sweep.spec.config_values(cell, params))
    # A rerun of a dead worker's trial inherits its user attrs, so it finds (and resumes) its run dir.
    name = trial.user_attrs.get("run_dir") or f"{TRIALS}/{trial_name(cell, trial.number)}"
    run_dir = sweep.path / name
    trial.set_user_attr("run_dir", name)
    trial.set_user_attr("interrupted", False)  # a rerun inherits its original's attrs
    trial.set_user_attr("group", group_key(cell))
    trial.set_user_attr("cell", cell)
    callbacks = [ReportToOptuna(trial, sweep.spec.watched)] if sweep.spec.pruner != "none" else []
    cpu_start = time.process_time()
    quiet = lambda message: None  # noqa: E731 - findings are in the run's findings.jsonl
    wait_for_run_dir(run_dir)
    resume = is_run_dir(run_dir) and _resumable(run_dir)
    # cpu_time is the CPU of the run that gives the result: a rerun that resumes its checkpoint adds
    # its earlier attempts' CPU; one that starts again from scratch (its run directory gone, as in a
    # fresh clone) does not, and keeps theirs apart as discarded_cpu_time, still the search's cost.
    inherited = trial.user_attrs.get("cpu_time", 0.0)  # a rerun inherits its original's attrs
    previous_cpu = inherited if resume else 0.0
    discarded = trial.user_attrs.get("discarded_cpu_time", 0.0) + (0.0 if resume else inherited)
    trial.set_user_attr("discarded_cpu_time", discarded)
    try:
        if resume:
            result = assemble.resume(run_dir, callbacks=callbacks, echo=quiet)
        else:
            result = assemble.train(
                config, run_dir, overwrite=run_dir.exists(), callbacks=callbacks, echo=quiet
            )
    except KeyboardInterrupt:  # Ctrl-C / SIGTERM: the run is checkpointed; the next start reruns it
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # exit all the same
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("cpu_time", previous_cpu + time.process_time() - cpu_start)  # search cost
        raise
    except optuna.exceptions.UpdateFinishedTrialError:
        raise  # judged dead while alive (see wait_for_run_dir): the rerun owns the run directory now
    except Exception:  # a crash: final (only dead workers and interrupts are rerun)
        if is_run_dir(run_dir):
            cpu_time = previous_cpu + time.process_time() - cpu_start
            finish_trial(sweep, trial, run_dir, cell, params, None, "failed", cpu_time, discarded)
        raise
    cpu_time = previous_cpu + time.process_time() - cpu_start
    trial.set_user_attr("cpu_time", cpu_time)
    pruned = result.stopped == PRUNED
    value = None if pruned else read_metric(run_dir, sweep.spec.metric, sweep.spec.metric_source)
    state = "pruned" if pruned else "complete"
    finish_trial(sweep, trial, run_dir, cell, params, value, state, cpu_time, discarded)
    if pruned:
        raise optuna.TrialPruned(f"pruned at step {result.trainer.step}")
    if value is None:
        raise GankitError(f"{run_dir} logged no finite {sweep.spec.metric}")
    return value


PRUNED = "pruned by Optuna's pruner"


def worker_tag(number: int, pid: int | None = None) -> str:
    """The process running trial ``number``: host and pid. A rerun inherits its original's attrs, so
    the number tells this attempt's tag from an inherited one."""
    return f"{socket.gethostname()}:{pid or os.getpid()}:{number}"


def wait_for_run_dir(run_dir: Path) -> None:
    """Wait while another live process writes ``run_dir`` (holds its flock, ``rundir.LOCK``).

    That happens when a trial was judged dead while its worker still ran (a heartbeat later than the
    grace period: a suspended machine, a database out of reach) and its rerun starts here. Training
    beside it would interleave two writers in one directory; failing would lose the trial. The rerun
    waits instead and then resumes from where the other stopped: that worker ends by itself once it
    next reports to its failed trial, or at its end, when Optuna refuses its result."""
    import fcntl

    if (run_dir / LOCK).is_file():
        with open(run_dir / LOCK, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # blocks while the other writer holds it; closing releases


def _resumable(run_dir: Path) -> bool:
    """Whether a dead trial's run directory holds a sound checkpoint (a kill may land mid-write)."""
    return load_latest_checkpoint(run_dir / CHECKPOINTS, warn=lambda message: None) is not None


def suggest(trial, item) -> Any:
    """Optuna samples one [search] entry (or returns the value a rerun inherited)."""
    if item.choices is not None:
        return trial.suggest_categorical(item.name, list(item.choices))
    if isinstance(item.low, int) and isinstance(item.high, int):
        return trial.suggest_int(item.name, item.low, item.high, log=item.log)
    return trial.suggest_float(item.name, float(item.low), float(item.high), log=item.log)


class ReportToOptuna(Callback):
    """Reports the watched metric of each logged row to Optuna, at the row's generator step (a
    pruner's rungs are converted to steps: SweepSpec.resource_steps), and stops the run when it says
    prune."""

    def __init__(self, trial, key: str):
        self.trial, self.key, self.prune = trial, key, False

    def on_log(self, trainer, row: dict) -> None:
        value = row.get(self.key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.trial.report(float(value), trainer.step)
            self.prune = self.trial.should_prune()

    def on_step_end(self, trainer) -> None:
        if self.prune:
            raise StopTraining(PRUNED)


def read_metric(run_dir: Path, metric: str, source: str) -> float | None:
    """A run's metric: the last finite value logged in metrics.jsonl, or its `gankit eval` value
    (computed once and saved as RUN_DIR/eval.json)."""
    if source == "metrics":
        value = last_values(read_metrics(run_dir)).get(metric)
        return None if value is None else float(value)
    value = run_eval(run_dir).get(metric)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def evaluation_columns(rows: list[dict]) -> dict[str, list]:
    """The rows that evaluated (an ``eval_`` key), as columns: ``step`` and each ``eval_`` key, None
    where a row lacks it or it is not finite. The validation curves a stored result keeps."""
    evaluated = [row for row in rows if any(key.startswith("eval_") for key in row)]
    keys = sorted({key for row in evaluated for key in row if key.startswith("eval_")})
    columns: dict[str, list] = {"step": [row.get("step") for row in evaluated]}
    for key in keys:
        values = [row.get(key) for row in evaluated]
        columns[key] = [v if isinstance(v, (int, float)) and math.isfinite(v) else None for v in values]
    return columns


def last_values(rows: list[dict]) -> dict[str, float]:
    """Each numeric key of metrics.jsonl rows at its last finite value (a sweep's metric is one)."""
    last = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                last[key] = value
    return last


def run_eval(run_dir: Path) -> dict:
    """`gankit eval RUN_DIR --json` (its default sample count, seed 0), saved as RUN_DIR/eval.json."""
    data = read_config(run_dir)["data"]
    n = default_samples(data)
    metrics = evaluate_run(run_dir, n=n, seed=EVAL_SEED, data_name=data)
    record = {"source": str(run_dir), "data": data, "n": n, "seed": EVAL_SEED, **metrics}
    atomic_write_bytes(run_dir / EVAL, (dumps(record) + "\n").encode())
    return record


def finish_trial(
    sweep, trial, run_dir: Path, cell, params, value, state: str, cpu_time: float, discarded: float = 0.0
) -> None:
    """Keep a trial's result twice: RUN_DIR/trial.json, what `gankit compare DIR` reads, and the
    trial's ``result`` user attr, what ``gankit compare --storage`` reads when the run directories
    are gone (a fresh clone of a repository that committed the sweep's journal). ``state`` is
    complete, pruned or failed (the training raised); ``cpu_time`` the run's CPU, ``discarded`` the
    CPU of earlier attempts whose work was lost (a rerun from scratch)."""
    rows = read_metrics(run_dir)
    record = {
        "sweep": sweep.spec.name,
        "number": trial.number,
        "group": group_key(cell),
        "cell": cell,
        "params": params,
        "metric": sweep.spec.metric,
        "direction": sweep.spec.direction,
        "value": value,
        "state": state,
        "cpu_time": cpu_time,
        "discarded_cpu_time": discarded,
        "steps": rows[-1].get("step") if rows else None,  # generator steps trained
        "finished_at": datetime.now(timezone.utc).isoformat(),
        # the machine's 1-, 5- and 15-minute load averages as it finished: CPU figures measured above
        # a load of the machine's cores are not comparable (a speed table says which were)
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
    atomic_write_bytes(run_dir / TRIAL, (dumps(record) + "\n").encode())
    evaluated = json.loads((run_dir / EVAL).read_text()) if (run_dir / EVAL).is_file() else None
    stored = {
        **record,
        "run_dir": trial.user_attrs["run_dir"],
        "metrics": last_values(rows),  # compare's value for any metrics.jsonl key ...
        "eval": evaluated,  # ... and for any `gankit eval` key the sweep computed
        "evaluations": evaluation_columns(rows),  # the validation curves (compare.settled)
        "config": read_config(run_dir),  # the resolved config: compare's --by and its budget checks
        "doctor": doctor_verdict(run_dir),  # what `gankit doctor` finds in it (benchmarks/remedies.py)
    }
    trial.set_user_attr("result", json.loads(dumps(stored)))  # non-finite numbers as null


def doctor_verdict(run_dir: Path) -> dict | None:
    """`gankit doctor`'s findings in a finished trial, kept with its result: the replay needs every
    row of metrics.jsonl, which the study does not keep (None: nothing logged to diagnose)."""
    from gankit.diagnose.doctor import diagnose  # the monitors' replay: only a finished trial needs it

    try:
        diagnosis = diagnose(run_dir)
    except GankitError:
        return None
    keys = ("name", "step", "detected_at", "ended")
    findings = [{key: finding.get(key) for key in keys} for finding in diagnosis["findings"]]
    return {"verdict": diagnosis["verdict"], "open": diagnosis["open"], "findings": findings}


# ---------------------------------------------------------------------------------------------------
# The parent: starts N worker processes, shows progress, waits.


@dataclass
class Progress:
    done: int = 0  # complete or pruned
    running: int = 0
    waiting: int = 0
    failed: int = 0  # failed for good (not rerun)
    pruned: int = 0
    best: float | None = None
    durations: tuple[float, ...] = ()  # seconds per finished trial

    @property
    def total(self) -> int:
        return self.done + self.running + self.waiting + self.failed


def progress(sweep: Sweep, studies: list) -> Progress:
    """Counts over every cell's study (rerun copies replace their dead originals)."""
    from optuna.trial import TrialState

    state = Progress()
    durations = []
    better = min if sweep.spec.direction == "minimize" else max
    for study in studies:
        trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        for t in trials:
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                state.done += 1
                state.pruned += t.state == TrialState.PRUNED
                if t.datetime_start and t.datetime_complete:
                    durations.append((t.datetime_complete - t.datetime_start).total_seconds())
                if t.state == TrialState.COMPLETE and t.value is not None:
                    state.best = t.value if state.best is None else better(state.best, t.value)
            elif t.state == TrialState.RUNNING:
                state.running += 1
            elif t.state == TrialState.WAITING:
                state.waiting += 1
            elif t.state == TrialState.FAIL and t.number not in retried:
                state.failed += 1
    state.durations = tuple(durations)
    return state


def progress_line(state: Progress, workers: int, metric: str) -> str:
    best = "-" if state.best is None else f"{state.best:.4g}"
    line = (
        f"sweep: {state.done}/{state.total} done ({state.pruned} pruned), {state.running} running, "
        f"{state.failed} failed; best {metric} {best}"
    )
    left = state.running + state.waiting
    if state.durations and left:
        seconds = sum(state.durations) / len(state.durations) * left / max(1, workers)
        line += f"; ETA {_duration(seconds)}"
    return line


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def claim(study, what: str) -> bool:
    """Whether this process, of any number racing, is the one that does ``what`` in ``study``.

    The claim is a study named ``<study>/<what>``: creating a study of a new name is atomic in every
    Optuna storage (a UNIQUE column in SQLite, PostgreSQL and MySQL; the first of the journal's
    entries), so exactly one creator succeeds. A trial's state is no such lock: Optuna's
    compare-and-set of a RUNNING trial reads the row with SELECT ... FOR UPDATE, which SQLite ignores,
    and a FAIL trial (where a retry starts) accepts no further change at all.
    """
    import optuna

    try:  # study._storage: the storage object itself (Optuna's own callbacks use it so)
        study._storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], f"{study.study_name}/{what}")
    except optuna.exceptions.DuplicatedStudyError:
        return False
    return True


class ClaimedRetry:
    """Optuna's RetryHeartbeatStaleTrialCallback, run by one process only for each failed trial.

    Two machines starting together used to see the same interrupted trial and both enqueue it again
    (and two workers could both fail one stale trial: SQLite's state change is no compare-and-set):
    the trial ran twice, the second copy failing on the first's run directory. A claim of
    ``retry-of-<number>`` makes the rerun exactly one. A process killed between its claim and the
    enqueue leaves that trial failed (a window of one storage write).
    """

    def __init__(self, max_retry: int = MAX_RETRIES):
        import optuna

        self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study, trial) -> None:
        if claim(study, f"retry-of-{trial.number}"):
            self.retry(study, trial)


def retry_interrupted(studies: list) -> None:
    """Trials stopped by Ctrl-C / SIGTERM (or whose worker died, see fail_orphans) ended FAIL: enqueue
    each again once, like a stale trial; the claim in ClaimedRetry makes "once" hold across machines."""
    from optuna.trial import TrialState

    retry = ClaimedRetry()
    for study in studies:
        trials = study.get_trials(deepcopy=False)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        for t in trials:  # `retried` only saves a claim that would fail (the claim decides)
            if t.state == TrialState.FAIL and t.user_attrs.get("interrupted") and t.number not in retried:
                retry(study, t)


def fail_orphans(studies: list, pid: int | None = None) -> int:
    """Mark RUNNING trials whose worker is gone interrupted and FAIL (a trial that finished meanwhile
    stays finished), so that retry_interrupted reruns them. Returns how many.

    ``pid``: the trials of that worker process of this machine, which exited (SIGKILL, out of
    memory); None: every RUNNING trial, which is what a journal sweep (no heartbeats) finds dead
    when it starts under the journal's lock (see run)."""
    import optuna
    from optuna.trial import TrialState

    failed = 0
    for study in studies:
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if pid is not None and t.user_attrs.get("worker") != worker_tag(t.number, pid):
                continue
            try:
                study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
                failed += study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # it finished after all
    return failed


def lock_journal(path: Path):
    """Hold the journal file's flock while this sweep runs: a second sweep on the same journal on this
    machine is refused, so every trial the holder finds RUNNING at its start is dead. Across machines
    the rule is the documented one: a journal sweep runs on one machine at a time."""
    import fcntl

    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise GankitError(f"the sweep journal {path} is in use by another gankit sweep here") from None
    return handle


def run(sweep: Sweep, workers: int, show_progress: bool, echo=None) -> Progress:
    """Start ``workers`` worker processes on this sweep, report progress until they end.

    A worker that exits while its trial runs (killed) has that trial rerun at once by the others."""
    echo = echo or (lambda line: print(line, file=sys.stderr))
    quiet_optuna()
    journal = lock_journal(sweep.journal) if sweep.journal is not None else None
    try:
        return _run(sweep, workers, show_progress, echo, journal is not None)
    finally:
        if journal is not None:
            journal.close()  # closing releases the flock


def _run(sweep: Sweep, workers: int, show_progress: bool, echo, journal: bool) -> Progress:
    studies = load_studies(sweep)
    if journal:  # no heartbeats in a journal: with its lock held, whatever is RUNNING is dead
        fail_orphans(studies)
    retry_interrupted(studies)
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "GANKIT_SWEEP_STORAGE": sweep.storage_url, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "gankit.runs.sweep", str(sweep.path), str(sweep.heartbeat), str(threads)]
    processes = [subprocess.Popen([*command, str(index)], env=env) for index in range(workers)]
    ended: set[int] = set()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while any(p.poll() is None for p in processes):
            for p in processes:
                if p.returncode is not None and p.pid not in ended:
                    ended.add(p.pid)
                    if fail_orphans(studies, p.pid):  # a killed worker: its trial, rerun now
                        retry_interrupted(studies)
            if show_progress:
                print(
                    "\r" + progress_line(progress(sweep, studies), workers, sweep.spec.metric),
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        for p in processes:  # each worker checkpoints its run and marks its trial for a rerun
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            p.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if show_progress:
        print(file=sys.stderr)
    state = progress(sweep, studies)
    echo(progress_line(state, workers, sweep.spec.metric))
    broken = [p.returncode for p in processes if p.returncode]
    if broken:
        raise GankitError(f"{len(broken)} of {workers} sweep workers failed (exit {broken[0]}); see above")
    return state


def _raise_interrupt(signal_number, frame) -> None:
    raise KeyboardInterrupt


def _worker_main(argv: list[str]) -> int:
    """``python -m gankit.runs.sweep DIR HEARTBEAT THREADS`` (started by :func:`run`)."""
    path, heartbeat, threads, index = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    torch.set_num_threads(threads)  # N workers share the cores instead of oversubscribing them
    spec = parse_spec((path / SPEC).read_text(), str(path / SPEC))
    sweep = Sweep(path, spec, os.environ["GANKIT_SWEEP_STORAGE"], heartbeat)
    try:
        work(sweep, index)
    except KeyboardInterrupt as interrupt:
        return getattr(interrupt, "exit_code", 130)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
