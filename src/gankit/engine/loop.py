"""The Trainer: one run's networks, optimisers, EMA and training RNG, and the loop over steps.

``Trainer.train_step`` is one step of the game (``engine/step.py``: ``d_step`` then ``g_step``) at
the learning rates and annealed weights of ``engine/schedules.py``; ``Trainer.fit`` repeats it,
sums the step statistics, writes a row every ``log_every`` steps and calls the callbacks (evaluation,
the metrics writer, plots, monitors, checkpoints: they are wired in by ``gankit.runs.assemble``).
How the steps run on the hardware (fused critic call, bf16 autocast, DDP shard, torch.compile) is
decided once here, in a ``StepPlan`` (``engine/critic.py``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from gankit.config import TrainConfig
from gankit.engine.critic import PLAIN, StepPlan, scores_each_sample_alone
from gankit.engine.sampling import draw_samples
from gankit.engine.schedules import (
    R3GAN_FINAL,
    instance_noise_std,
    learning_rate_scale,
    logged_schedules,
    r3gan_progress,
    ramped_ema_decay,
    scheduled,
)
from gankit.engine.speed import set_threads
from gankit.engine.step import d_step, g_step
from gankit.errors import GankitError
from gankit.nets import build_networks, data_statistics
from gankit.objectives import get_objective

# The names code outside the engine imports from here (the CLI, API, experiments, benchmarks, tests,
# tutorials); those not defined in this module live in the modules imported above.
__all__ = [
    "PLAIN",
    "Callback",
    "StopTraining",
    "Trainer",
    "d_step",
    "draw_samples",
    "g_step",
    "make_optimizer",
    "pick_device",
    "ramped_ema_decay",
]


def _check_speed_options(config: TrainConfig, data_shape: tuple[int, ...], device: torch.device) -> None:
    """Reject speed options this data or device cannot use, before anything is written."""
    if config.channels_last and len(data_shape) != 3:
        raise GankitError(
            f"channels_last applies to image data (conv nets) only; {config.data!r} has shape {data_shape}"
        )
    if config.amp is True and not (
        device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_bf16_supported())
    ):
        raise GankitError(f"amp (bf16 autocast) is supported on cpu and bf16-capable cuda, not {device}")


def make_optimizer(
    name: str, params: Iterable[Tensor], lr: float, config: TrainConfig
) -> torch.optim.Optimizer:
    params = list(params)
    # Fused Adam/SGD: one kernel per parameter instead of a dozen small ops (3-4x faster steps on a
    # CPU as well as a GPU; the same update up to float rounding).
    fused = True if params and all(p.device.type in ("cpu", "cuda") for p in params) else None
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(config.betas), fused=fused)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum, fused=fused)


def pick_device(name: str) -> torch.device:
    """The device named by ``--device``; ``auto`` picks cuda, then mps, then cpu."""
    if name != "auto":
        return _available_device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _available_device(name: str) -> torch.device:
    """Refuse a device this machine lacks now, before anything is built or written."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GankitError(f"unknown device {name!r}; allowed: auto, cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise GankitError(f"device {name!r} is not available here ({torch.cuda.device_count()} CUDA devices)")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps is not None and mps.is_available()):
        raise GankitError("device 'mps' is not available here")
    return device


class StopTraining(Exception):
    """Raised by a callback to end training early; the message says why."""


@dataclass
class Callback:
    """Hooks into the trainer. ``on_log`` may add keys to the row before it is written."""

    def on_step(self, trainer: Trainer) -> None:  # noqa: B027 - optional hook
        pass

    def on_log(self, trainer: Trainer, row: dict) -> None:  # noqa: B027 - optional hook
        pass

    def on_step_end(self, trainer: Trainer) -> None:  # noqa: B027 - optional hook
        """After the step's row (if any) was written: the safe point to checkpoint or stop."""

    def on_end(self, trainer: Trainer) -> None:  # noqa: B027 - optional hook
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:  # noqa: B027 - optional hook
        pass


class Trainer:
    """Owns the networks, optimisers, EMA and the training RNG of one run.

    ``config`` must be resolved (see :func:`gankit.config.resolve`). All randomness of training
    (real batches, noise, penalty interpolation) comes from ``self.rng``, a ``torch.Generator`` on
    the training device seeded from ``config.seed``; network initialisation uses the same seed.
    ``amp`` and ``threads`` "auto" are decided before a new run by ``engine/speed.py: choose`` (as
    ``gankit.runs.assemble`` does); a Trainer given "auto" runs fp32 at the process's thread count.
    """

    def __init__(self, config: TrainConfig, data, device: torch.device | str = "cpu", parallel=None):
        self.config = config
        self.data = data
        self.device = torch.device(device)
        self.parallel = parallel  # a gankit.engine.distributed.ProcessGroup when run under torchrun
        self.objective = get_objective(config.objective)
        _check_speed_options(config, tuple(data.shape), self.device)
        self._init_players(lambda: build_networks(config, tuple(data.shape), data))
        self._prepare_step_networks()
        # instance noise and the coverage term are measured in the data's RMS spread
        scaled = config.instance_noise or config.coverage_weight
        self.data_spread = data_statistics(data)[1].item() if scaled else 1.0

    def _init_players(self, build: Callable[[], tuple[nn.Module, nn.Module]]) -> None:
        """Seed every RNG, then build (generator, discriminator), their optimisers, EMA and step state."""
        config = self.config
        if config.threads != "auto":  # "auto" not yet decided (engine/speed.py): the process's count
            set_threads(config.threads)
        # Network initialisation draws from torch's global RNG; numpy's and Python's are seeded too so
        # that anything else that uses them (a callback, a library) repeats from run to run.
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)  # numpy takes 32-bit seeds only
        random.seed(config.seed)
        generator, discriminator = build()
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device)
        if config.channels_last:  # NHWC: the layout fast convolution kernels want
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.g_optimizer = make_optimizer(
            config.g_optimizer, self.generator.parameters(), config.g_lr, config
        )
        self.d_optimizer = make_optimizer(
            config.optimizer, self.discriminator.parameters(), config.d_lr, config
        )
        self.budget_spent = False  # set by fit when config.time_budget_s ended training
        self.ema = None
        if config.ema_decay > 0:
            self.ema = AveragedModel(self.generator, multi_avg_fn=self._ema_update, use_buffers=True)
        self.rng = torch.Generator(self.device).manual_seed(config.seed)
        self.step = 0
        self.elapsed = 0.0  # seconds of training so far, over every process of the run
        self.training_cpu = 0.0  # process CPU seconds spent in train_step, over every process of the run
        # Step statistics summed since the last logged row: checkpointed, so that a resumed run
        # writes the same rows as one that never stopped.
        self.log_sums: dict[str, Tensor] = {}
        self.log_count = 0

    def _prepare_step_networks(self) -> None:
        """The modules the steps call and their StepPlan, from the speed options and process group.

        They share parameters with ``self.generator`` / ``self.discriminator``, which alone hold the
        state (checkpoints, EMA, samples). Under DDP each player is wrapped where it is trained, so
        its gradients are averaged over processes; G's step calls the plain D (D gets no gradient
        there, and a DDP forward without a backward would leave DDP waiting for one).
        """
        config, parallel = self.config, self.parallel
        g_train, d_train, d_frozen = self.generator, self.discriminator, self.discriminator
        if parallel is not None:
            g_train, d_train = parallel.wrap(g_train), parallel.wrap(d_train)
        penalty_critic = None
        if config.compile:
            penalty_critic = d_train  # eager: torch.compile does not support the double backward
            g_train, d_train, d_frozen = (torch.compile(m) for m in (g_train, d_train, d_frozen))
        self.g_train, self.d_train, self.d_frozen = g_train, d_train, d_frozen
        self.plan = StepPlan(
            joint_critic_forward=scores_each_sample_alone(self.discriminator),
            shard=parallel.shard(config.batch_size, config.pack) if parallel is not None else slice(None),
            penalty_critic=penalty_critic,
            autocast_dtype=torch.bfloat16 if config.amp is True else None,  # "auto" undecided: fp32
        )

    @torch.no_grad()
    def _ema_update(self, ema_tensors: list[Tensor], tensors: list[Tensor], _n_averaged: Tensor) -> None:
        """AveragedModel's update after this step: ema <- d * ema + (1 - d) * current, d = ramped_ema_decay.

        Integer buffers (batch-norm's step counter) are copied: averaging a counter means nothing.
        """
        decay = ramped_ema_decay(self.config.ema_decay, self.config.ema_rampup, self.step + 1)
        if torch.is_floating_point(ema_tensors[0]):
            torch._foreach_lerp_(ema_tensors, tensors, 1 - decay)
        else:
            torch._foreach_copy_(ema_tensors, tensors)

    @property
    def sampler(self) -> nn.Module:
        """The network to draw samples from: the EMA generator when EMA is on."""
        return self.ema.module if self.ema is not None else self.generator

    def train_step(self) -> dict[str, Tensor]:
        """One generator update preceded by ``critic_steps`` discriminator updates."""
        config, step = self.config, self.step
        if config.lr_decay_start is not None or config.r3gan_decay_steps:
            lr_scale = learning_rate_scale(config, step)
            beta2 = scheduled(config.betas[1], R3GAN_FINAL["beta2"], r3gan_progress(config, step))
            for optimizer, lr in ((self.g_optimizer, config.g_lr), (self.d_optimizer, config.d_lr)):
                for group in optimizer.param_groups:
                    group["lr"] = lr * lr_scale
                    if config.r3gan_decay_steps and "betas" in group:  # Adam's: R3GAN's beta2 schedule
                        group["betas"] = (group["betas"][0], beta2)
        noise_std = instance_noise_std(config, step, self.data_spread)
        stats = d_step(
            self.g_train,
            self.d_train,
            self.d_optimizer,
            self.objective,
            config,
            self.data,
            self.rng,
            self.plan,
            step=step,
            noise_std=noise_std,
        )
        stats |= g_step(
            self.g_train,
            self.d_frozen,
            self.g_optimizer,
            self.objective,
            config,
            self.rng,
            self.plan,
            step=step,
            noise_std=noise_std,
            data=self.data,
            spread=self.data_spread,
        )
        logged = logged_schedules(config, step, self.data_spread)  # instance_noise, coverage_weight, ...
        stats |= {key: torch.tensor(value) for key, value in logged.items()}
        if self.ema is not None:
            self.ema.update_parameters(self.generator)
        self.step += 1
        return stats

    def fit(self, callbacks: Iterable[Callback] = (), progress: bool = False) -> str | None:
        """Train until ``config.steps``; returns why training stopped early, or None.

        With ``config.time_budget_s`` > 0, training also ends at the first step boundary where the
        run's training steps have used that much process CPU time (all threads): an equal-compute
        comparison of models, less sensitive to other load than wall-clock time. Only ``train_step``
        counts, not the callbacks, so evaluating more often does not shorten training. The count is
        checkpointed, so a resumed run spends what is left of its budget (from its checkpoint's
        step), not a fresh one; a run whose budget was already spent takes no step. Under DDP the
        ranks' mean decides, so that every rank stops at the same step. ``self.budget_spent`` then
        says so.
        """
        callbacks = list(callbacks)
        config = self.config
        start = time.perf_counter() - self.elapsed
        self.budget_spent = self._budget_ran_out()
        bar = _progress_bar(config.steps, self.step, progress)
        stopped = None
        try:
            while self.step < config.steps and not self.budget_spent:
                cpu_start = time.process_time()
                stats = self.train_step()
                self.training_cpu += time.process_time() - cpu_start
                sums = self.log_sums
                for key, value in stats.items():
                    sums[key] = sums[key] + value if key in sums else value.clone()
                self.log_count += 1
                self.elapsed = time.perf_counter() - start
                bar.update(1)
                for callback in callbacks:
                    callback.on_step(self)
                self.budget_spent = self._budget_ran_out()  # a normal end, not a failure: returns None
                if self.step % config.log_every == 0 or self.step == config.steps or self.budget_spent:
                    self._log(callbacks, bar)  # the budget's last step gets a row (and its evaluation)
                for callback in callbacks:
                    callback.on_step_end(self)
        except StopTraining as reason:
            stopped = str(reason)
        finally:
            self.elapsed = time.perf_counter() - start
            bar.close()
        for callback in callbacks:
            callback.on_end(self)
        return stopped

    def _budget_ran_out(self) -> bool:
        """Whether ``config.time_budget_s`` (if any) is spent; under DDP, by the ranks' mean."""
        budget = self.config.time_budget_s
        if not budget:
            return False
        spent = self.training_cpu
        if self.parallel is not None:  # a rank that stopped alone would leave the others waiting
            spent = self.parallel.average({"cpu": torch.tensor(spent, device=self.device)})["cpu"].item()
        return spent >= budget

    def evaluation_due(self, every: int) -> bool:
        """Whether the row being logged now is where an every-``every``-steps evaluation belongs.

        Rows exist only every ``log_every`` steps, so it is the first row at or after each multiple
        of ``every`` (``step % every == 0`` may never hold), and always the last row of training
        (its step limit, or the step where the CPU budget ran out).
        """
        if self.step == self.config.steps or self.budget_spent:
            return True
        return self.step // every != (self.step - self.config.log_every) // every

    def _log(self, callbacks: list[Callback], bar) -> None:
        """Average the stats summed since the last row into one row and hand it to the callbacks."""
        sums = self.log_sums
        if self.parallel is not None:  # every process logs the same row: the ranks' mean
            sums = self.parallel.average(sums)
        row = {"step": self.step, "wall_time": round(self.elapsed, 4)}
        row |= {key: _finite_or_nan((value / self.log_count).item()) for key, value in sums.items()}
        self.log_sums, self.log_count = {}, 0
        shown = ("d_loss", "g_loss", "loss")  # "loss": the VAE baseline (gankit.engine.vae)
        bar.set_postfix({key: f"{row[key]:.3g}" for key in shown if key in row})
        for callback in callbacks:
            callback.on_log(self, row)

    def state_dict(self) -> dict:
        """Everything needed to continue training bit-exactly (see train/checkpoint.py)."""
        state = {
            "step": self.step,
            "elapsed": self.elapsed,
            "training_cpu": self.training_cpu,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "log_sums": dict(self.log_sums),
            "log_count": self.log_count,
            "rng": self.rng.get_state(),
            # Training draws only from self.rng; the global generators are saved too so that
            # callbacks or libraries that use them behave the same after a resume.
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": _numpy_rng_state(),
            "python_rng": random.getstate(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.training_cpu = float(state.get("training_cpu", 0.0))  # older checkpoints: a fresh budget
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.log_sums = dict(state["log_sums"])
        self.log_count = int(state["log_count"])
        self.rng.set_state(state["rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        _set_numpy_rng_state(state["numpy_rng"])
        random.setstate(_as_tuples(state["python_rng"]))
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])

    @torch.no_grad()
    def sample(self, n: int, seed: int, label: int | None = None) -> Tensor:
        """``n`` samples from the (EMA) generator with noise drawn from ``seed``; on the CPU."""
        return draw_samples(self.sampler, n, self.config.latent_dim, seed, self.device, label=label)

    def weights_are_finite(self) -> bool:
        """True when every weight, buffer and optimiser moment of G, D (and the EMA) is finite: what
        the divergence monitor checks and what a checkpoint must be before it is saved."""
        modules = [self.generator, self.discriminator] + ([self.ema] if self.ema is not None else [])
        tensors = [t for m in modules for t in m.state_dict().values() if isinstance(t, torch.Tensor)]
        for optimizer in (self.g_optimizer, self.d_optimizer):
            moments = [t for state in optimizer.state.values() for t in state.values()]
            tensors += [t for t in moments if isinstance(t, torch.Tensor)]
        checks = [torch.isfinite(t).all() for t in tensors if t.is_floating_point()]
        return bool(torch.stack(checks).all()) if checks else True  # one device sync, not one per tensor


def _numpy_rng_state() -> dict:
    """numpy's global MT19937 state as tensors and numbers (loadable with weights_only=True)."""
    _, keys, position, has_gauss, cached_gauss = np.random.get_state()
    return {
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "position": int(position),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached_gauss),
    }


def _set_numpy_rng_state(state: dict) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["position"], state["has_gauss"], state["cached_gaussian"]))


def _as_tuples(value):
    """random.setstate wants tuples; a checkpoint round trip may hand back lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _finite_or_nan(value: float) -> float:
    return value if math.isfinite(value) else math.nan


def _progress_bar(total: int, initial: int, enabled: bool):
    return tqdm(
        total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True, leave=False
    )
