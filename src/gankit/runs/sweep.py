"""``gankit sweep``: many runs of one spec, scheduled by Optuna, on one machine or many.

Layout of a sweep directory::

    DIR/spec.toml           the spec, copied at creation (``--resume DIR`` reads it from here)
    DIR/sweep.json          the sweep's name in the storage and whether the storage is shared
    DIR/study.db            the embedded Optuna storage (SQLite), unless --storage URL
    DIR/trials/<name>/      one ordinary run directory per trial (+ trial.json, eval.json)

Every grid cell is its own Optuna study (``<sweep name>/<cell>``), so a [search] is tuned per cell
by its own seeded TPE sampler and pruned against its own trials only. All trials are enqueued when
the study is created: workers pop WAITING trials atomically, so no cell is run twice however many
workers race. Each running trial sends a heartbeat; a trial whose worker died (SIGKILL, a lost
machine) goes stale, is failed and enqueued again with the same parameters by Optuna's
``RetryHeartbeatStaleTrialCallback``, and its rerun resumes the dead trial's run directory.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.runs.spec import SweepSpec, group_key, load_spec, parse_spec

SPEC, SWEEP, STUDY_DB, TRIALS = "spec.toml", "sweep.json", "study.db", "trials"
TRIAL_FILE, EVAL_FILE = "trial.json", "eval.json"
EVAL_SEED = 0  # what `gankit eval RUN_DIR` uses by default (and its sample count: default_samples)
MAX_RETRIES = 3  # reruns of a trial whose worker died, before it counts as failed
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Sweep:
    """An opened sweep: its directory, spec and storage URL (embedded SQLite unless shared)."""

    path: Path
    spec: SweepSpec
    storage_url: str
    heartbeat: int = 30  # seconds between a running trial's heartbeats; stale after 3 missed

    def storage(self):
        import optuna
        import sqlalchemy.exc

        kwargs = {"connect_args": {"timeout": 120}} if self.storage_url.startswith("sqlite") else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                for attempt in range(5):
                    try:
                        return self._rdb_storage(kwargs)
                    except sqlalchemy.exc.IntegrityError:  # another machine creating the tables now
                        time.sleep(1 + attempt)
                return self._rdb_storage(kwargs)
            except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise GankitError(f"cannot open the sweep storage: {first}") from None

    def _rdb_storage(self, kwargs: dict):
        import optuna

        return optuna.storages.RDBStorage(
            with_installed_driver(self.storage_url),
            engine_kwargs=kwargs,
            heartbeat_interval=self.heartbeat,
            grace_period=3 * self.heartbeat,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRIES
            ),
        )

    def study_name(self, cell: dict[str, Any]) -> str:
        return f"{self.spec.name}/{group_key(cell)}"


def with_installed_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1; use psycopg2 when only it is installed."""
    import importlib.util

    psycopg2_only = importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2")
    if url.startswith("postgresql://") and psycopg2_only:
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def embedded_url(path: Path) -> str:
    return f"sqlite:///{(path / STUDY_DB).resolve()}"


def create(spec_file: Path, out: Path, storage_url: str | None, heartbeat: int) -> Sweep:
    """Validate the spec fully, then create DIR (spec.toml, sweep.json) and the studies."""
    spec = load_spec(spec_file)
    _check_storage_url(storage_url)
    if storage_url is not None:  # reachable before anything is written
        Sweep(out, spec, storage_url, heartbeat).storage()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GankitError(f"{out} already exists; continue it with: gankit sweep --resume {out}")
    out.mkdir(parents=True, exist_ok=True)
    (out / SPEC).write_text(spec.text)
    (out / SWEEP).write_text(
        json.dumps({"name": spec.name, "shared_storage": storage_url is not None}) + "\n"
    )
    (out / TRIALS).mkdir(exist_ok=True)
    sweep = Sweep(out, spec, storage_url or embedded_url(out), heartbeat)
    make_studies(sweep)
    return sweep


def open_existing(path: Path, storage_url: str | None, heartbeat: int) -> Sweep:
    """``--resume DIR``: the spec and storage recorded in DIR."""
    if not (path / SPEC).is_file() or not (path / SWEEP).is_file():
        raise GankitError(f"{path} is not a gankit sweep directory (no {SPEC} / {SWEEP})")
    info = json.loads((path / SWEEP).read_text())
    if info.get("shared_storage") and storage_url is None:
        raise GankitError(f"{path} uses a shared storage: resume it with --storage URL (the same URL)")
    _check_storage_url(storage_url)
    spec = parse_spec((path / SPEC).read_text(), str(path / SPEC))
    sweep = Sweep(path, spec, storage_url or embedded_url(path), heartbeat)
    make_studies(sweep, resuming=True)  # a creator that died before it enqueued every trial
    return sweep


def _check_storage_url(url: str | None) -> None:
    if url is not None and not url.startswith(("sqlite://", "postgresql", "mysql")):
        raise GankitError(f"--storage must be an sqlite://, postgresql:// or mysql:// URL, got {url!r}")


def quiet_optuna() -> None:
    """Optuna's info lines and experimental-API warnings would bury the progress line."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)


def make_studies(sweep: Sweep, resuming: bool = False) -> None:
    """One study per grid cell; only the process that creates a study enqueues its trials (a machine
    joining a shared sweep finds them queued). ``resuming`` completes a queue whose creator died."""
    import optuna

    quiet_optuna()
    storage = sweep.storage()
    for cell in sweep.spec.cells():
        name = sweep.study_name(cell)
        try:
            study = optuna.create_study(storage=storage, study_name=name, direction=sweep.spec.direction)
            study.set_user_attr("cell", cell)
            missing = sweep.spec.trials
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=name, storage=storage)
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
    """
    import numpy as np
    import optuna

    seed = int(np.random.SeedSequence([sweep.spec.seed, trial_number]).generate_state(1)[0])
    startup = min(10, max(1, sweep.spec.trials // 3))  # random trials before TPE models the results
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def _pruner(sweep: Sweep):
    import optuna

    if sweep.spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
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
    for study in studies:
        study.pruner = _pruner(sweep)
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
        finally:
            lock.release()


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

    from gankit.config import from_dict
    from gankit.rundir import is_run_dir
    from gankit.runs import assemble

    if not trial.user_attrs.get("enqueued"):
        # Workers on two machines raced for the last WAITING trial of a cell and `optimize` created
        # a new trial for the loser: it is never run (and never counted).
        trial.set_user_attr("surplus", True)
        raise optuna.TrialPruned("not an enqueued trial")
    params = {item.name: suggest(trial, item) for item in sweep.spec.search}
    config = from_dict(sweep.spec.config_values(cell, params))
    # A rerun of a dead worker's trial inherits its user attrs, so it finds (and resumes) its run dir.
    name = trial.user_attrs.get("run_dir") or f"{TRIALS}/{trial_name(cell, trial.number)}"
    run_dir = sweep.path / name
    trial.set_user_attr("run_dir", name)
    trial.set_user_attr("interrupted", False)  # a rerun inherits its original's attrs
    trial.set_user_attr("group", group_key(cell))
    trial.set_user_attr("cell", cell)
    callbacks = [ReportToOptuna(trial, _intermediate_key(sweep.spec))] if sweep.spec.pruner != "none" else []
    cpu_start = time.process_time()
    previous_cpu = trial.user_attrs.get("cpu_time", 0.0)
    quiet = lambda message: None  # noqa: E731 - findings are in the run's findings.jsonl
    try:
        if is_run_dir(run_dir) and _resumable(run_dir):
            result = assemble.resume(run_dir, callbacks=callbacks, echo=quiet)
        else:
            result = assemble.train(
                config, run_dir, overwrite=run_dir.exists(), callbacks=callbacks, echo=quiet
            )
    except KeyboardInterrupt:  # Ctrl-C / SIGTERM: the run is checkpointed; the next start reruns it
        trial.set_user_attr("interrupted", True)
        trial.set_user_attr("cpu_time", previous_cpu + time.process_time() - cpu_start)  # the search's cost
        raise
    cpu_time = previous_cpu + time.process_time() - cpu_start
    trial.set_user_attr("cpu_time", cpu_time)
    pruned = result.stopped == PRUNED
    value = None if pruned else read_metric(run_dir, sweep.spec.metric, sweep.spec.metric_source)
    write_trial_file(sweep, trial, cell, params, value, "pruned" if pruned else "complete", cpu_time)
    if pruned:
        raise optuna.TrialPruned(f"pruned at step {result.trainer.step}")
    if value is None:
        raise GankitError(f"{run_dir} logged no finite {sweep.spec.metric}")
    return value


PRUNED = "pruned by Optuna's pruner"


def _resumable(run_dir: Path) -> bool:
    """Whether a dead trial's run directory holds a sound checkpoint (a kill may land mid-write)."""
    from gankit.checkpoint import load_latest_checkpoint

    return load_latest_checkpoint(run_dir / "checkpoints", warn=lambda message: None) is not None


def suggest(trial, item) -> Any:
    """Optuna samples one [search] entry (or returns the value a rerun inherited)."""
    if item.choices is not None:
        return trial.suggest_categorical(item.name, list(item.choices))
    if isinstance(item.low, int) and isinstance(item.high, int):
        return trial.suggest_int(item.name, item.low, item.high, log=item.log)
    return trial.suggest_float(item.name, float(item.low), float(item.high), log=item.log)


def _intermediate_key(spec: SweepSpec) -> str:
    """What pruning watches: the metric itself, or for an eval key its logged eval_ twin (eval_w1)."""
    return spec.metric if spec.metric_source == "metrics" else f"eval_{spec.metric}"


def _callback_base():
    from gankit.engine.loop import Callback

    return Callback


class ReportToOptuna(_callback_base()):
    """Reports the watched metric of each logged row to Optuna and stops the run when it says prune."""

    def __init__(self, trial, key: str):
        self.trial, self.key, self.prune = trial, key, False

    def on_log(self, trainer, row: dict) -> None:
        value = row.get(self.key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.trial.report(float(value), trainer.step)
            self.prune = self.trial.should_prune()

    def on_step_end(self, trainer) -> None:
        from gankit.engine.loop import StopTraining

        if self.prune:
            raise StopTraining(PRUNED)


def read_metric(run_dir: Path, metric: str, source: str) -> float | None:
    """A run's metric: the last finite value logged in metrics.jsonl, or its `gankit eval` value
    (computed once and saved as RUN_DIR/eval.json)."""
    from gankit.rundir import read_metrics

    if source == "metrics":
        values = [row.get(metric) for row in read_metrics(run_dir)]
        finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        return float(finite[-1]) if finite else None
    value = run_eval(run_dir).get(metric)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def run_eval(run_dir: Path) -> dict:
    """`gankit eval RUN_DIR --json` (its default sample count, seed 0), saved as RUN_DIR/eval.json."""
    from gankit.checkpoint import atomic_write_bytes
    from gankit.metrics.evaluate import default_samples, evaluate_run
    from gankit.rundir import dumps, read_config

    data = read_config(run_dir)["data"]
    n = default_samples(data)
    metrics = evaluate_run(run_dir, n=n, seed=EVAL_SEED, data_name=data)
    record = {"source": str(run_dir), "data": data, "n": n, "seed": EVAL_SEED, **metrics}
    atomic_write_bytes(run_dir / EVAL_FILE, (dumps(record) + "\n").encode())
    return record


def write_trial_file(sweep, trial, cell, params, value, state, cpu_time) -> None:
    """RUN_DIR/trial.json: what `gankit compare` reads without the Optuna storage."""
    from gankit.checkpoint import atomic_write_bytes
    from gankit.rundir import dumps

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
        "finished_at": datetime.now(timezone.utc).isoformat(),
    }
    atomic_write_bytes(sweep.path / trial.user_attrs["run_dir"] / TRIAL_FILE, (dumps(record) + "\n").encode())


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


def retry_interrupted(studies: list) -> None:
    """Trials stopped by Ctrl-C / SIGTERM ended FAIL: enqueue each again once (like a dead worker's)."""
    import optuna
    from optuna.trial import TrialState

    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
    for study in studies:
        trials = study.get_trials(deepcopy=False)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        for t in trials:
            if t.state == TrialState.FAIL and t.user_attrs.get("interrupted") and t.number not in retried:
                retry(study, t)


def run(sweep: Sweep, workers: int, show_progress: bool, echo=None) -> Progress:
    """Start ``workers`` worker processes on this sweep, report progress until they end."""
    echo = echo or (lambda line: print(line, file=sys.stderr))
    quiet_optuna()
    studies = load_studies(sweep)
    retry_interrupted(studies)
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "GANKIT_SWEEP_STORAGE": sweep.storage_url, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "gankit.runs.sweep", str(sweep.path), str(sweep.heartbeat), str(threads)]
    processes = [subprocess.Popen([*command, str(index)], env=env) for index in range(workers)]
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while any(p.poll() is None for p in processes):
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
    import torch

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
