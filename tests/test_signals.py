"""SIGINT/SIGTERM: training stops after the current step, saves a checkpoint, says how to resume and
exits 130/143; the run then resumes to the same numbers as one that was never interrupted."""

import os
import signal
import subprocess
import sys
import time

import pytest

from gankit.rundir import list_checkpoints, load_checkpoint_file, read_metrics
from gankit.runs import assemble
from reliability_helpers import (
    TINY,
    assert_same_state,
    latest_state,
    latest_step,
    record,
    record_resume,
    rows_without_time,
    tiny_config,
)


class SignalAt(assemble.Callback):
    """Sends ``signals`` to this very process during step ``step`` (as a user's Ctrl-C would)."""

    def __init__(self, step: int, *signals: int):
        self.step, self.signals = step, signals

    def on_step(self, trainer):
        if trainer.step == self.step:
            for number in self.signals:
                os.kill(os.getpid(), number)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_after_the_step_saves_it_and_resume_is_exact(tmp_path, number):
    reference, stopped = tmp_path / "reference", tmp_path / "stopped"
    assemble.train(tiny_config(20), reference)
    messages = []
    handlers = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}  # ignored under nohup
    with pytest.raises(assemble.Interrupted) as interrupt:
        assemble.train(tiny_config(20), stopped, callbacks=[SignalAt(7, number)], echo=messages.append)
    assert interrupt.value.exit_code == 128 + number
    assert messages == [
        f"{signal.Signals(number).name} at step 7: checkpoint saved. "
        f"Resume with: gankit train --resume {stopped}"
    ]
    assert latest_step(stopped) == 7  # between the periodic checkpoints at 0 and 10
    assert {n: signal.getsignal(n) for n in handlers} == handlers  # the handlers are given back

    assemble.resume(stopped)
    record_resume(f"{signal.Signals(number).name} (in process)", reference, stopped, resumed_from=7)
    assert_same_state(latest_state(reference), latest_state(stopped))
    assert rows_without_time(stopped) == rows_without_time(reference)


def test_a_second_signal_stops_at_once_and_keeps_the_last_checkpoint(tmp_path):
    messages = []
    with pytest.raises(KeyboardInterrupt) as interrupt:
        assemble.train(
            tiny_config(20),
            tmp_path,
            callbacks=[SignalAt(13, signal.SIGINT, signal.SIGINT)],
            echo=messages.append,
        )
    assert not isinstance(interrupt.value, assemble.Interrupted)
    assert latest_step(tmp_path) == 10  # nothing saved from inside a step
    assert messages == [
        "stopped at once inside step 14; the last checkpoint (step 10) is kept. "
        f"Resume with: gankit train --resume {tmp_path}"
    ]


class BreakWeights(assemble.Callback):
    def on_step(self, trainer):
        if trainer.step == 13:
            next(trainer.generator.parameters()).data.fill_(float("nan"))


def test_a_signal_after_the_weights_broke_saves_nothing_and_says_so(tmp_path):
    messages = []
    with pytest.raises(assemble.Interrupted):
        assemble.train(
            tiny_config(20).replace(monitors=False),
            tmp_path,
            callbacks=[BreakWeights(), SignalAt(13, signal.SIGTERM)],
            echo=messages.append,
        )
    assert latest_step(tmp_path) == 10  # the last checkpoint with finite weights stays the newest
    assert messages == [
        f"SIGTERM at step 13: weights not finite, not saved. Resume with: gankit train --resume {tmp_path}"
    ]


def test_training_without_a_run_directory_stops_on_a_signal_too():
    with pytest.raises(assemble.Interrupted):
        assemble.train(tiny_config(20), callbacks=[SignalAt(3, signal.SIGTERM)])


@pytest.mark.parametrize(("number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_real_process_sent_a_signal_saves_and_exits_with_128_plus_the_signal(
    cli, tmp_path, number, exit_code
):
    run = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "gankit", "train", *TINY, "--steps", "1000000", "--checkpoint-every", "5"]
        + ["--out", str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while latest_step(run) < 5 and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(number)
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    record(
        f"{signal.Signals(number).name} (child process)",
        clean_exit=child.returncode == exit_code and "checkpoint saved. Resume with" in err,
        saved_step=latest_step(run),
    )
    assert child.returncode == exit_code, err
    assert "Traceback" not in err
    saved = latest_step(run)
    assert f"{signal.Signals(number).name} at step {saved}: checkpoint saved." in err
    assert f"Resume with: gankit train --resume {run}" in err
    assert load_checkpoint_file(list_checkpoints(run / "checkpoints")[-1])["step"] == saved
    assert read_metrics(run)[-1]["step"] <= saved

    code, out, _ = cli("train", "--resume", run, "--steps", saved + 5)
    assert code == 0 and f"trained {saved + 5} steps" in out
