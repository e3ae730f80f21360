"""Precision and CPU threads chosen by timing the run's own steps (``amp`` and ``threads`` "auto").

Before a new run trains, :func:`choose` times a few of its steps on throwaway trainers built from
the same config. Each has its own networks, optimisers and RNG, and the run's trainer is built
afterwards and seeds every generator itself, so the run's numbers are those of the precision and
thread count picked, bit for bit.

- threads: 1, 2, 4, ... up to the process's share of the cores (:func:`core_share`), in fp32,
  stopping at the first count that is not THREADS_TOLERANCE faster than the best so far (more
  threads stopped helping); the run takes the fewest threads within THREADS_TOLERANCE of the
  fastest (:func:`pick_threads`).
- precision: fp32 and bf16 autocast at those threads; bf16 is kept only when it is at least
  BF16_MARGIN faster and its first step's losses, from the same state, equal fp32's within bf16
  rounding (:func:`keeps_bf16`). A device without bf16 kernels takes fp32 without timing
  (:func:`has_bf16_kernels`). An explicit ``amp = true`` is timed the same way and kept, with a
  line saying so when fp32 was faster.

Runs shorter than MIN_STEPS are not measured (the measurement would be a large part of them):
they take fp32 and one thread. The choice goes into config.json as plain ``amp`` and ``threads``
values, the timings under ``speed``; a resumed run reads them back and never measures again.
Timings depend on the machine and its load, so a fresh run's choice can differ between machines
(and with it the last bits of its numbers); ``amp = true/false`` and ``threads = N`` pin it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
import time
from collections.abc import Callable

import torch

from gankit.config import TrainConfig

WARMUP_STEPS = 3  # untimed: the first steps allocate memory and build oneDNN/cuDNN kernels
TIMED_STEPS = 5  # their median is the step time
MIN_STEPS = 200  # shorter runs are not measured (fp32, one thread)
BF16_MARGIN = 0.10  # bf16 is kept only when at least 10 % faster than fp32
THREADS_TOLERANCE = 0.05  # the fewest threads within 5 % of the fastest step time
# bf16 "matches" fp32 when one step's losses from the same state agree this closely: the tolerance
# tests/test_speed_options.py holds bf16 training to (bf16 keeps 8 bits of mantissa: ~0.4 % per
# rounding, a few percent after a forward pass)
BF16_LOSS_RTOL, BF16_LOSS_ATOL = 2e-2, 1e-3
LOSS_KEYS = ("d_loss", "g_loss", "gradient_penalty")

# A step's time in ms and its first step's losses, for one probe trainer (see time_steps).
Measure = Callable[[object], tuple[float, dict[str, float]]]


def losses_match(fp32: dict[str, float], bf16: dict[str, float]) -> bool:
    """Whether bf16's losses equal fp32's within bf16 rounding (BF16_LOSS_RTOL, BF16_LOSS_ATOL)."""
    return all(
        abs(bf16[key] - fp32[key]) <= max(BF16_LOSS_RTOL * abs(fp32[key]), BF16_LOSS_ATOL) for key in fp32
    )


def keeps_bf16(fp32_ms: float, bf16_ms: float, matches: bool) -> bool:
    """auto's precision rule: bf16 only when at least BF16_MARGIN faster and its losses match."""
    return matches and bf16_ms <= (1 - BF16_MARGIN) * fp32_ms


def pick_threads(ms_by_threads: dict[int, float], share: int) -> int:
    """auto's thread rule: the fewest threads, at most ``share``, whose step time is within
    THREADS_TOLERANCE of the fastest."""
    allowed = {threads: ms for threads, ms in ms_by_threads.items() if threads <= share}
    fastest = min(allowed.values())
    return min(threads for threads, ms in allowed.items() if ms <= fastest * (1 + THREADS_TOLERANCE))


def thread_counts(share: int) -> list[int]:
    """The counts auto tries, in order: 1, 2, 4, ... and the share itself."""
    counts = [1]
    while counts[-1] * 2 < share:
        counts.append(counts[-1] * 2)
    return counts + [share] if share > 1 else counts


# --- the process's threads ----------------------------------------------------------------------

_given_threads: int | None = None  # torch's thread count before gankit last set one
_set_threads: int | None = None  # the count gankit last set


def given_threads() -> int:
    """The threads this process was given: torch's count (OMP_NUM_THREADS, torchrun's 1 per
    process, a sweep worker's ``torch.set_num_threads``), or, while gankit's own last setting is in
    place, the count from before it, so that one run's choice never caps the next run's."""
    global _given_threads
    current = torch.get_num_threads()
    if _given_threads is None or current != _set_threads:
        _given_threads = current
    return _given_threads


def set_threads(count: int) -> None:
    """``torch.set_num_threads(count)``, remembering what the process had (:func:`given_threads`)."""
    global _set_threads
    given_threads()
    torch.set_num_threads(count)
    _set_threads = count


def core_share() -> int:
    """The most threads auto may take: the cores this process may run on, divided among the
    torchrun processes on this machine (LOCAL_WORLD_SIZE), and never more than it was given."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(cores // processes, given_threads()))


def has_bf16_kernels(device: torch.device) -> bool:
    """Whether bf16 autocast has kernels here worth timing: bf16-capable CUDA, or a CPU where oneDNN
    has bf16 kernels (AVX512: native with AVX512-BF16 or AMX, emulated without). Without them (an
    AVX2 CPU) PyTorch runs bf16 convolutions on its reference im2col path
    (``aten::_slow_conv2d_forward``): a 28x28 DCGAN step took 10x fp32's."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return False


# --- measuring ----------------------------------------------------------------------------------


def time_steps(trainer, clock: Callable[[], float] = time.perf_counter) -> tuple[float, dict[str, float]]:
    """The median ms of TIMED_STEPS steps after WARMUP_STEPS, and the first step's losses."""
    first = trainer.train_step()
    losses = {key: first[key].item() for key in LOSS_KEYS if key in first}
    for _ in range(WARMUP_STEPS - 1):
        trainer.train_step()
    times = []
    for _ in range(TIMED_STEPS):
        _synchronize(trainer.device)
        start = clock()
        trainer.train_step()
        _synchronize(trainer.device)
        times.append(clock() - start)
    return 1000 * statistics.median(times), losses


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def choose(
    config: TrainConfig, data, device: torch.device, parallel=None, measure: Measure | None = None
) -> tuple[TrainConfig, list[str]]:
    """``config`` with ``amp`` and ``threads`` decided and ``speed`` saying how, and the lines to print.

    ``config`` must be resolved; ``measure`` times a probe trainer (None: :func:`time_steps`). Under
    torchrun every rank measures (the ranks load the machine as training will) and all take rank 0's
    choice.
    """
    from gankit.engine.restore import make_trainer  # here, not at the top: engine.loop imports this module

    measure = measure or time_steps

    def probe(amp: bool, threads: int):
        """A throwaway trainer to time (eager, fp32 unless ``amp``, this process's rows without DDP:
        its steps must not wait on the other ranks)."""
        trainer = make_trainer(config.replace(amp=amp, threads=threads, compile=False), data, device)
        if parallel is not None:
            shard = parallel.shard(config.batch_size, config.pack)
            trainer.plan = dataclasses.replace(trainer.plan, shard=shard)
        return trainer

    measured = config.steps >= MIN_STEPS
    record: dict = {"amp": config.amp, "threads": config.threads}  # as asked; then what was timed
    lines = []
    fp32_runs: dict[int, tuple[float, dict[str, float]]] = {}  # threads -> (ms per step, losses)
    threads = config.threads
    if threads == "auto":
        share = core_share()
        record["thread_share"] = share
        threads = 1
        if measured and share > 1:
            for count in thread_counts(share):
                best = min((ms for ms, _ in fp32_runs.values()), default=math.inf)
                fp32_runs[count] = measure(probe(False, count))
                if fp32_runs[count][0] * (1 + THREADS_TOLERANCE) > best:
                    break  # not 5 % faster than the best so far: more threads stopped helping
            ms_by_threads = {count: ms for count, (ms, _) in fp32_runs.items()}
            threads = pick_threads(ms_by_threads, share)
            record["threads_ms_per_step"] = {str(count): round(ms, 3) for count, ms in ms_by_threads.items()}
            timings = ", ".join(f"{count}: {ms:.3g}" for count, ms in ms_by_threads.items())
            lines.append(f"threads: {threads} of {share} (ms/step with {timings})")
    amp = config.amp is True
    timed = config.amp is True or (config.amp == "auto" and has_bf16_kernels(torch.device(device)))
    if measured and timed and config.model == "gan":  # the VAE baseline has no bf16 path
        fp32_ms, fp32_losses = fp32_runs.get(threads) or measure(probe(False, threads))
        bf16_ms, bf16_losses = measure(probe(True, threads))
        matches = losses_match(fp32_losses, bf16_losses)
        if config.amp == "auto":
            amp = keeps_bf16(fp32_ms, bf16_ms, matches)
        record["precision_ms_per_step"] = {"fp32": round(fp32_ms, 3), "bf16": round(bf16_ms, 3)}
        record["bf16_losses_match"] = matches
        lines.append(_precision_line(amp, fp32_ms, bf16_ms, matches))
    chosen = {"amp": amp, "threads": threads, "speed": record}
    if parallel is not None:
        chosen = parallel.broadcast(chosen)
    return config.replace(**chosen), lines


def _precision_line(amp: bool, fp32_ms: float, bf16_ms: float, matches: bool) -> str:
    """One line on the precision timed at the start: what runs, and why."""
    if amp and bf16_ms < fp32_ms:
        return f"precision: bf16 ({bf16_ms:.3g} ms/step against fp32's {fp32_ms:.3g})"
    if amp:  # asked for (auto keeps bf16 only when faster)
        return (
            f"precision: bf16 as asked, though it took {bf16_ms:.3g} ms/step against fp32's "
            f"{fp32_ms:.3g} (--no-amp would be faster)"
        )
    if not matches and bf16_ms < fp32_ms:
        return (
            f"precision: fp32 (bf16 took {bf16_ms:.3g} ms/step against {fp32_ms:.3g}, but its losses "
            "differed from fp32's by more than bf16 rounding)"
        )
    if bf16_ms < fp32_ms:
        return (
            f"precision: fp32 (bf16 took {bf16_ms:.3g} ms/step against {fp32_ms:.3g}: less than"
            f" {BF16_MARGIN:.0%} faster, auto's margin)"
        )
    return f"precision: fp32 (bf16 took {bf16_ms:.3g} ms/step against {fp32_ms:.3g})"
