"""One training run end to end: config -> data + trainer + callbacks -> run directory.

This is the assembly behind both ``gankit train``, :func:`gankit.train` and every trial of a sweep:
it wires evaluation, sample plots, the diagnostic monitors and checkpoints around the engine's
trainer. It sits above the engine, metrics, diagnose and report, so none of those imports it. It
validates everything *before* creating the run directory, so bad input never leaves a half-written
one behind.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gankit.config import TrainConfig, from_dict, to_dict
from gankit.data import is_toy, load_data
from gankit.data.images import holdout_part
from gankit.diagnose import monitors as diagnose
from gankit.diagnose.measured import advice
from gankit.diagnose.probes import heldout_probes
from gankit.diagnose.thresholds import spelled_out
from gankit.engine import speed
from gankit.engine.distributed import ProcessGroup, process_group
from gankit.engine.loop import Callback, Trainer, pick_device
from gankit.engine.restore import (
    checkpoint_after_detection,
    checkpoint_at_or_before,
    kept_checkpoint_steps,
    load_initial_weights,
    load_train_data_and_config,
    load_trainer_state,
    make_trainer,
    model_label,
)
from gankit.errors import GankitError
from gankit.metrics.diversity import DiversityProbe
from gankit.metrics.evaluate import metrics_against
from gankit.metrics.images import too_few_for_metrics
from gankit.report.plots import plot_samples, real_reference
from gankit.rundir import (
    FINDINGS,
    CheckpointWriteError,
    RunDir,
    check_run_dir,
    load_latest_checkpoint,
    read_config,
    sample_path,
    save_checkpoint,
)


@dataclass
class RunResult:
    path: Path | None
    trainer: Trainer
    stopped: str | None  # why training ended early, or None
    findings: list[dict] = field(default_factory=list)  # what the monitors found (findings.jsonl)

    @property
    def config(self) -> TrainConfig:
        return self.trainer.config


class MetricsWriter(Callback):
    """Appends each logged row to metrics.jsonl."""

    def __init__(self, run: RunDir):
        self.run = run

    def on_log(self, trainer: Trainer, row: dict) -> None:
        self.run.append_metrics(row)


class Checkpointer(Callback):
    """Saves a checkpoint every ``checkpoint_every`` steps and at the end of training.

    It saves in ``on_step_end``, after the step's row is in metrics.jsonl: a checkpoint never holds
    a step whose row could still be lost. A failed write (disk full, ...) stops training with a
    message naming the checkpoint that is still intact.
    """

    def __init__(
        self,
        run: RunDir,
        extra_state: Callable[[], dict] | None = None,
        healthy: Callable[[Trainer], bool] = Trainer.weights_are_finite,
    ):
        self.run = run
        self.extra_state = extra_state or dict
        self.healthy = healthy
        self.last_saved = -1

    def save(self, trainer: Trainer) -> Path | None:
        # A diverged state (NaN/inf weights) is never saved: the newest checkpoint stays the last good one.
        if not self.healthy(trainer):
            return None
        state = trainer.state_dict() | {"callbacks": self.extra_state()}
        try:
            path = save_checkpoint(self.run.checkpoints, trainer.step, state, trainer.config.keep_checkpoints)
        except OSError as error:
            kept = f"step {self.last_saved}" if self.last_saved >= 0 else "the newest one on disk"
            raise CheckpointWriteError(
                f"could not write the checkpoint of step {trainer.step} ({error.strerror or error}); "
                f"the previous checkpoint ({kept}) is intact. Free space, then resume with: "
                f"gankit train --resume {self.run.path}"
            ) from error
        self.last_saved = trainer.step
        return path

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.step % trainer.config.checkpoint_every == 0:
            self.save(trainer)

    def on_end(self, trainer: Trainer) -> None:
        if self.last_saved != trainer.step:
            self.save(trainer)


class Evaluator(Callback):
    """Adds quality metrics to a row every K steps, as ``eval_<name>``: toy metrics (modes,
    high-quality fraction, reverse KL, W1) or image metrics (FID, KID, precision, recall, density,
    coverage; stacked digits add modes and KL to uniform), against the data `gankit eval` uses
    (a run with ``validation_fraction`` is scored on its validation part). The floors do not change
    during training and are left out; a sample that is not finite makes toy W1 NaN, and leaves an
    image row without metrics (the divergence monitor reports it).

    Samples come from a fixed noise seed, independent of the training RNG: turning evaluation on or
    off never changes the training numbers.
    """

    def __init__(self, every: int, samples: int, seed: int, reference):
        self.every, self.samples, self.seed, self.reference = every, samples, seed, reference

    def on_log(self, trainer: Trainer, row: dict) -> None:
        if not trainer.evaluation_due(self.every):
            return
        fake = trainer.sample(self.samples, seed=self.seed).numpy()
        if not is_toy(self.reference) and not np.isfinite(fake).all():
            return
        metrics = metrics_against(fake, self.reference)
        row |= {
            f"eval_{key}": value for key, value in metrics.items() if not key.startswith(("floor_", "n_"))
        }


def evaluation_reference(config: TrainConfig, data):
    """What a run's evaluations compare with: its training data, or the validation part of the data
    for a run trained with ``validation_fraction`` (as `gankit eval` does)."""
    if is_toy(data) or config.validation_fraction <= 0:
        return data
    return holdout_part(load_data(config.data, config.image_size), config.validation_fraction, "validation")


class SamplePlotter(Callback):
    """Writes a picture of generated vs real samples to RUN_DIR/samples every K steps."""

    def __init__(self, run: RunDir, every: int, seed: int):
        self.run, self.every, self.seed = run, every, seed

    def on_step(self, trainer: Trainer) -> None:
        if trainer.step % self.every == 0 or trainer.step == trainer.config.steps:
            self.plot(trainer)

    def plot(self, trainer: Trainer) -> None:
        data = trainer.data
        n = 1000 if len(data.shape) == 1 else 64
        fake = trainer.sample(n, seed=self.seed).numpy()
        title = f"{model_label(trainer.config)} on {data.name}, step {trainer.step}"
        path = sample_path(self.run.samples, trainer.step)
        plot_samples(fake, path, real_reference(data, n, self.seed), title)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training at a step boundary; the CLI exits with 128 + signal."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_name = signal.Signals(signal_number).name
        self.exit_code = 128 + signal_number


class StopOnSignal(Callback):
    """Turns SIGINT/SIGTERM into a clean stop after the current step (a second signal stops at once).

    Stopping between steps, never inside one, is what makes the checkpoint saved on the way out
    exact: no optimiser is caught half-way through an update.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signal_number: int, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt  # the user insists: stop now, keep the last checkpoint
        self.received = signal_number

    def on_step_end(self, trainer: Trainer) -> None:
        if self.received is not None:
            raise Interrupted(self.received)


def train(
    config: TrainConfig,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    callbacks: Iterable[Callback] = (),
    echo: Callable[[str], None] | None = None,
) -> RunResult:
    """Train a new run; with ``out`` it writes a run directory, without it trains in memory.

    ``amp`` and ``threads`` "auto" are decided first, by timing a few steps (engine/speed.py);
    config.json records the choice, which a resume keeps.
    """
    config = spelled_out(config)  # bad monitor thresholds are refused before anything is loaded
    data, resolved = load_train_data_and_config(config)
    init_lines = []
    if resolved.init_from is not None:
        resolved, init_lines = initial_checkpoint(resolved, out)
    group = process_group()  # None unless this process is one rank of a torchrun job
    device = group.device(resolved.device) if group else pick_device(resolved.device)
    resolved, speed_lines = speed.choose(resolved, data, device, parallel=group)
    trainer = make_trainer(resolved, data, device, parallel=group)
    if resolved.init_from is not None:
        load_initial_weights(trainer, resolved.init_from, resolved.init_from_step)
    run = None
    if out is not None:

        def create() -> RunDir:
            return RunDir.create(out, to_dict(resolved), overwrite=overwrite)

        run = group.on_rank_zero(create) if group else create()
    if group and group.rank:  # only rank 0 talks
        progress, echo = False, _silent
    echo = echo or _to_stderr
    for line in init_lines + speed_lines:
        echo(line)
    return _fit(trainer, run, list(callbacks), progress, echo)


def initial_checkpoint(config: TrainConfig, out: str | Path | None) -> tuple[TrainConfig, list[str]]:
    """``init_from``: which checkpoint of the source run a new run starts from (weights only).

    ``init_from_step`` picks the newest kept checkpoint at or before it; without it, the first kept
    checkpoint at or after the step where the doctor detected the source's first open finding
    (engine.restore.checkpoint_after_detection; the latest checkpoint when nothing is open): where a
    user watching the run would have stopped it. Returns the config with
    the source's absolute path and the step used (what config.json records) and a line saying which.
    """
    from gankit.diagnose.doctor import diagnose  # the doctor replays the monitors: only --init-from needs it

    source = check_run_dir(config.init_from).resolve()
    if out is not None and Path(out).resolve() == source:
        raise GankitError(
            f"--out must differ from --init-from ({source}): the source run is read, never replaced"
        )
    trained_on = read_config(source).get("data")
    if trained_on != config.data:
        raise GankitError(
            f"--init-from {source} was trained on {trained_on!r}, this run trains on {config.data!r}: "
            "a run can only start from weights trained on the same data"
        )
    steps = kept_checkpoint_steps(source)
    if not steps:
        raise GankitError(f"--init-from {source} has no checkpoint to start from")
    if config.init_from_step is not None:
        step = checkpoint_at_or_before(source, config.init_from_step)
        why = f"the newest kept at or before step {config.init_from_step:,}"
    else:
        detected = [f for f in diagnose(source)["findings"] if f.get("ended") is None]
        if detected:
            first = min(detected, key=lambda finding: finding["detected_at"])
            step = checkpoint_after_detection(steps, first["detected_at"])
            detected_at, name = first["detected_at"], first["name"]
            why = f"the first kept at or after step {detected_at:,}, where the doctor detected {name}"
        else:
            step, why = steps[-1], "its latest: the doctor finds nothing open in it"
    line = f"starting from the weights of {source} at step {step:,} ({why}); fresh optimisers, step 0"
    return config.replace(init_from=str(source), init_from_step=step), [line]


def resume(
    path: str | Path,
    steps: int | None = None,
    progress: bool = False,
    callbacks: Iterable[Callback] = (),
    echo: Callable[[str], None] | None = None,
    time_budget_s: float | None = None,
) -> RunResult:
    """Continue a run from its newest sound checkpoint (optionally to a larger ``steps`` or CPU
    ``time_budget_s``: the budget counts the run's training CPU time before the resume too)."""
    group = process_group()
    if group is not None:
        return _resume_on_ranks(group, path, steps, time_budget_s, progress, callbacks, echo)
    run = RunDir.open_existing(path)
    try:
        config = spelled_out(from_dict(_grown(read_config(run.path), steps, time_budget_s)))
        data, resolved = load_train_data_and_config(config)
        trainer = make_trainer(resolved, data, pick_device(resolved.device))
        state = load_latest_checkpoint(run.checkpoints, map_location=trainer.device)
        if state is None:
            raise GankitError(f"{run.path} has no usable checkpoint to resume from")
        load_trainer_state(trainer, state, run.path)
        check_not_behind(run.path, trainer.step, steps)
        run.truncate_metrics(trainer.step)
        run.drop_checkpoints_after(trainer.step)
        run.write_config(to_dict(resolved))
    except BaseException:
        run.close()
        raise
    return _fit(trainer, run, list(callbacks), progress, echo, callback_states=state.get("callbacks", {}))


def check_not_behind(path: Path, step: int, steps: int | None) -> None:
    """A resume's ``steps`` is the total to reach: fewer than the checkpoint's step would train
    nothing and rewrite config.json with a total the run has passed, so it is refused first."""
    if steps is not None and steps < step:
        raise GankitError(
            f"{path} is already at step {step:,}; --steps is the total to reach, so give more than "
            f"{step:,} to continue it (got {steps:,})"
        )


def _grown(values: dict, steps: int | None, time_budget_s: float | None) -> dict:
    """A run's config values with the limits a resume may change (the rest is kept: exactness)."""
    if steps is not None:
        values["steps"] = steps
    if time_budget_s is not None:
        values["time_budget_s"] = time_budget_s
    return values


def _resume_on_ranks(
    group: ProcessGroup,
    path,
    steps: int | None,
    time_budget_s: float | None,
    progress: bool,
    callbacks: Iterable[Callback],
    echo,
) -> RunResult:
    """``resume`` in a torchrun job: rank 0 reads the run directory and sends its config and
    checkpoint to the other ranks, so other machines need no copy of it."""

    def read_run() -> tuple[RunDir, dict, dict]:
        run = RunDir.open_existing(path)
        try:
            state = load_latest_checkpoint(run.checkpoints, map_location="cpu")
            if state is None:
                raise GankitError(f"{run.path} has no usable checkpoint to resume from")
            return run, read_config(run.path), state
        except BaseException:
            run.close()
            raise

    opened = group.on_rank_zero(read_run)
    run = opened[0] if opened else None
    values, state = group.broadcast(opened[1:] if opened else None)
    try:
        config = spelled_out(from_dict(_grown(values, steps, time_budget_s)))
        data, resolved = load_train_data_and_config(config)
        trainer = make_trainer(resolved, data, group.device(resolved.device), parallel=group)
        load_trainer_state(trainer, state, Path(path))
        check_not_behind(Path(path), trainer.step, steps)
        if run is not None:
            run.truncate_metrics(trainer.step)
            run.drop_checkpoints_after(trainer.step)
            run.write_config(to_dict(resolved))
    except BaseException:
        if run is not None:
            run.close()
        raise
    if group.rank:
        progress, echo = False, _silent
    return _fit(trainer, run, list(callbacks), progress, echo, callback_states=state.get("callbacks", {}))


def _silent(message: str) -> None:
    """The echo of ranks other than 0: one line per event is enough."""


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _callback_keys(callbacks: list[Callback]) -> list[str]:
    """A checkpoint key per callback: its class name, numbered when a class appears twice."""
    keys, seen = [], {}
    for callback in callbacks:
        name = type(callback).__name__
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return keys


def _fit(
    trainer: Trainer,
    run: RunDir | None,
    extra: list[Callback],
    progress: bool,
    echo,
    callback_states: dict | None = None,
) -> RunResult:
    echo = echo or _to_stderr
    config = trainer.config
    callbacks: list[Callback] = []
    if config.eval_every:
        reference = evaluation_reference(config, trainer.data)
        too_few = None
        if not is_toy(reference):
            too_few = too_few_for_metrics(config.eval_samples, len(reference))
        if too_few:  # a tiny image set trains all the same, without the metrics
            echo(f"note: no quality metrics during training: {too_few}")
        else:
            callbacks.append(Evaluator(config.eval_every, config.eval_samples, config.seed + 1, reference))
    checkpointer = None
    if config.monitors and config.eval_every:  # before MetricsWriter: it adds eval_diversity to rows
        samples = min(config.eval_samples, 512)
        callbacks.append(DiversityProbe(config.eval_every, samples, seed=config.seed + 1))
        if config.validation_fraction > 0 and not is_toy(trainer.data):  # held-out reals: the validation part
            callbacks += heldout_probes(config, trainer.data, reference, seed=config.seed + 1)
    if run is not None:
        callbacks.append(MetricsWriter(run))
        if config.sample_every:
            callbacks.append(SamplePlotter(run, config.sample_every, seed=config.seed + 1))
    callbacks += extra
    findings = diagnose.FindingsLog(
        run.path / FINDINGS if run else None,
        echo,
        config.stop_on,
        advise=lambda finding: advice(finding, config, run.path if run else None),  # as the doctor ranks them
    )
    findings.keep_until(trainer.step)  # on resume: drop findings of the work lost since the checkpoint
    monitors = []
    if config.monitors:  # after MetricsWriter: a problem's row is on disk before it stops training
        monitors = diagnose.build_monitors(config, findings, run.checkpoints if run else None)
    callbacks += monitors
    # Every callback's state (built-in ones and monitors alike) goes into each checkpoint and comes
    # back on resume, matched by the callback's class name.
    stateful = dict(zip(_callback_keys(callbacks), callbacks, strict=True))
    for key, state in (callback_states or {}).items():
        if key in stateful:
            stateful[key].load_state_dict(state)
    if run is not None:
        diverged = [m for m in monitors if m.name == "divergence"]
        checkpointer = Checkpointer(
            run,
            lambda: {key: c.state_dict() for key, c in stateful.items()},
            healthy=lambda t: t.weights_are_finite() and not any(m.fired for m in diverged),
        )
        callbacks.append(checkpointer)
    stop_on_signal = StopOnSignal()
    callbacks.append(stop_on_signal)  # last: it stops only once the step is logged and checkpointed
    try:
        with stop_on_signal:
            stopped = trainer.fit(callbacks, progress=progress)
    except Interrupted as interrupt:
        if checkpointer is not None:
            if checkpointer.last_saved != trainer.step:
                checkpointer.save(trainer)  # skipped when the weights are no longer finite
            saved = checkpointer.last_saved == trainer.step
            kept = "checkpoint saved" if saved else "weights not finite, not saved"
            resume_command = f"gankit train --resume {run.path}"
            echo(f"{interrupt.signal_name} at step {trainer.step}: {kept}. Resume with: {resume_command}")
        raise
    except KeyboardInterrupt:
        if checkpointer is not None:
            echo(
                f"stopped at once inside step {trainer.step + 1}; the last checkpoint (step "
                f"{checkpointer.last_saved}) is kept. Resume with: gankit train --resume {run.path}"
            )
        raise
    finally:
        if run is not None:
            run.close()
    if stopped:
        echo(f"training stopped at step {trainer.step}: {stopped}")
    return RunResult(run.path if run else None, trainer, stopped, findings.findings)
