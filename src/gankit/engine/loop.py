"""The alternating GAN training loop.

One *step* is one generator update, preceded by ``critic_steps`` discriminator updates:

    d_step: G frozen (its samples are computed without a graph), D minimises its loss
            critic_steps times, each on a fresh real batch and fresh noise.
    g_step: D frozen (requires_grad_(False)); the generator's loss is backpropagated *through* D
            into G, so D acts as G's learned loss function. Only G's optimiser steps.

Statistics are kept as tensors and summed between log steps, so logging forces no device sync
except on the steps where a row is written.

How a step runs on the hardware (one critic call on real and fake together, bf16 autocast, a
process's shard of the global batch under DistributedDataParallel, the eager critic for the
penalty's double backward under torch.compile) is decided once by the Trainer in a ``StepPlan``;
``d_step`` and ``g_step`` read the same top to bottom whatever the plan says.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from gankit.augment import diff_augment
from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.nets import build_networks, data_statistics
from gankit.objectives import (
    Objective,
    clip_weights_,
    get_objective,
    gradient_penalty,
    nearest_sample_loss,
    squared_gradient_norm,
)


def grad_norm(module: nn.Module) -> Tensor:
    """Global L2 norm of the gradients currently stored in ``module``'s parameters.

    ||g|| = ||(||g_1||, ..., ||g_n||)||: one fused kernel for the per-tensor norms (what
    torch.nn.utils.get_total_norm computes, without its per-tensor device copies).
    """
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def ramped_ema_decay(decay: float, rampup: float, steps: int) -> float:
    """The EMA decay after ``steps`` updates, with StyleGAN2-ADA's ramp-up (Karras et al. 2020).

    A decay d averages over a half-life of h = ln(1/2) / ln(d) steps. The ramp caps the half-life at
    ``rampup`` x steps, i.e. d_t = min(d, 0.5 ** (1 / (rampup * t))): early on the average follows G
    closely, and the full decay applies from t = h / rampup on (0.999 with 0.05: step 13,857). Without
    it the first generator keeps weight d^t, half the average after 693 steps at d = 0.999.
    ``rampup`` 0 gives the plain EMA.
    """
    if rampup <= 0:
        return decay
    return min(decay, 0.5 ** (1 / (rampup * steps)))


def sample_noise(batch: int, latent_dim: int, rng: torch.Generator) -> Tensor:
    return torch.randn(batch, latent_dim, generator=rng, device=rng.device)


def annealed(start: float, step: int, horizon: int, steps: int) -> float:
    """start * max(0, 1 - step / horizon): a linear fall to 0 at ``horizon`` (0: at ``steps``)."""
    return start * max(0.0, 1.0 - step / (horizon or steps))


def learning_rate_scale(config: TrainConfig, step: int) -> float:
    """The factor on both learning rates for update ``step`` (0-based): 1 before
    ``config.lr_decay_start`` (s), then (T - t) / (T - s) for T = ``config.steps``, a linear fall that
    reaches 1 / (T - s) on the last update. Small late steps let the game settle instead of jittering
    (or breaking) around its equilibrium; 1 everywhere when lr_decay_start is None or >= T."""
    start = config.lr_decay_start
    if start is None or step < start:
        return 1.0
    return (config.steps - step) / (config.steps - start)


def instance_noise_std(config: TrainConfig, step: int, spread: float) -> float:
    """The std of the instance noise at ``step``: sigma_t = s * spread * max(0, 1 - t / T).

    s is ``config.instance_noise`` (in units of the data's RMS ``spread``), T is
    ``config.instance_noise_steps`` (0: the run's ``steps``). Noise on both D's real and generated
    inputs makes the two distributions overlap, so D cannot separate them perfectly and G's
    gradients do not vanish (Arjovsky & Bottou 2017); early on it blurs separate modes into one
    cloud, and annealing it to 0 leaves the original game (Sonderby et al. 2016).
    """
    return annealed(config.instance_noise, step, config.instance_noise_steps, config.steps) * spread


def add_instance_noise(
    x: Tensor, std: float, rng: torch.Generator, batch: int, shard: slice = slice(None)
) -> Tensor:
    """x + std * N(0, I), drawn for the global ``batch`` and cut to this process's ``shard`` (see
    StepPlan.shard); ``x`` itself, drawing nothing, when std is 0."""
    if std <= 0:
        return x
    noise = torch.randn((batch,) + tuple(x.shape[1:]), generator=rng, device=rng.device)[shard]
    return x + std * noise.to(x.dtype)


@dataclass(frozen=True)
class StepPlan:
    """How ``d_step`` and ``g_step`` run on this hardware; the default is one plain fp32 process.

    joint_critic_forward: real and fake batches go through D in one call (one matrix product of
        2B rows instead of two of B rows: fewer, larger kernels). Valid only when D scores each
        sample on its own; batch norm mixes the samples of a batch, so such critics keep two calls.
    shard: this process's rows of every global batch under DistributedDataParallel. Each process
        draws the *global* batch (data, noise, penalty weights) from the shared seed and keeps its
        own rows: processes see different samples and together follow one process's numbers.
    penalty_critic: the eager D for the gradient penalty's double backward (a torch.compile'd
        module cannot be differentiated twice); None means the D passed to ``d_step``.
    autocast_dtype: run the forward passes under ``torch.autocast`` in this dtype (bf16 for
        ``--amp``); losses, the penalty's gradient norms and every optimiser step stay fp32.
    """

    joint_critic_forward: bool = False
    shard: slice = field(default_factory=lambda: slice(None))  # all rows (a slice is unhashable)
    penalty_critic: nn.Module | None = None
    autocast_dtype: torch.dtype | None = None

    def autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)


PLAIN = StepPlan()


def d_step(
    generator: nn.Module,
    discriminator: nn.Module,
    d_optimizer: torch.optim.Optimizer,
    objective: Objective,
    config: TrainConfig,
    data,
    rng: torch.Generator,
    plan: StepPlan = PLAIN,
    step: int = 0,
    noise_std: float = 0.0,
) -> dict[str, Tensor]:
    """Update D ``critic_steps`` times; G's parameters are not touched (its output is detached).

    ``step`` (the generator updates so far) times the D updates so far schedules lazy R1/R2. A
    conditional run generates its fakes for the real batch's labels, so D compares like with like.
    ``noise_std`` > 0 adds instance noise to both batches (:func:`instance_noise_std`).
    """
    discriminator.requires_grad_(True)
    batch, shard = config.batch_size, plan.shard
    for critic_step in range(config.critic_steps):
        real, labels = draw_real(data, batch, rng, config.conditional, shard)  # labels None: unconditional
        noise = sample_noise(batch, config.latent_dim, rng)[shard]
        with torch.no_grad(), plan.autocast(real.device):
            fake = generator(noise, **label_args(labels)).float()
        real, fake = augment(real, config, rng), augment(fake, config, rng)  # DiffAugment: both alike
        real = add_instance_noise(real, noise_std, rng, batch, shard)
        fake = add_instance_noise(fake, noise_std, rng, batch, shard)
        with plan.autocast(real.device):
            if plan.joint_critic_forward:
                both = discriminator(torch.cat([real, fake]), **label_args(labels, copies=2))
                real_scores, fake_scores = both.float().chunk(2)
            else:
                real_scores = discriminator(real, **label_args(labels)).float()
                fake_scores = discriminator(fake, **label_args(labels)).float()
        loss = objective.discriminator_loss(real_scores, fake_scores)
        critic = functools.partial(plan.penalty_critic or discriminator, **label_args(labels))
        penalty = torch.zeros((), device=real.device)
        if objective.uses_gradient_penalty:
            # one interpolation weight per sample, drawn for the global batch (see StepPlan.shard)
            eps = torch.rand((batch,) + (1,) * (real.dim() - 1), generator=rng, device=real.device)[shard]
            with plan.autocast(real.device):
                penalty = gradient_penalty(critic, real, fake, eps=eps)
            loss = loss + config.gradient_penalty_weight * penalty
        with plan.autocast(real.device):
            regulariser, regulariser_stats = r1_r2_terms(
                critic, real, fake, config, d_update=step * config.critic_steps + critic_step
            )
        loss = loss + regulariser
        d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if critic_step == config.critic_steps - 1:  # only the last critic step is logged
            d_grad_norm = grad_norm(discriminator)
        d_optimizer.step()
        if objective.uses_weight_clipping:
            clip_weights_(discriminator, config.clip_value)
    stats = {
        "d_loss": loss.detach(),
        "d_real": real_scores.detach().mean(),  # raw scores: logits or critic values
        "d_fake": fake_scores.detach().mean(),
        "d_grad_norm": d_grad_norm,
        "gradient_penalty": penalty.detach(),
        **regulariser_stats,
    }
    if objective.is_classifier:  # D(x) = sigmoid(score): the probability that x is real
        stats["p_real"] = torch.sigmoid(real_scores.detach()).mean()
        stats["p_fake"] = torch.sigmoid(fake_scores.detach()).mean()
    return stats


def g_step(
    generator: nn.Module,
    discriminator: nn.Module,
    g_optimizer: torch.optim.Optimizer,
    objective: Objective,
    config: TrainConfig,
    rng: torch.Generator,
    plan: StepPlan = PLAIN,
    noise_std: float = 0.0,
    coverage_weight: float = 0.0,
    data=None,
    spread: float = 1.0,
) -> dict[str, Tensor]:
    """Update G once through a frozen D; D's parameters receive no gradient and do not change.

    With ``noise_std`` > 0, D sees G's samples with instance noise, as in ``d_step``. With
    ``coverage_weight`` > 0, G's loss adds that times the coverage term on a real batch of ``data``
    (:func:`gankit.objectives.nearest_sample_loss`, in units of the data's ``spread``)."""
    discriminator.requires_grad_(False)
    try:
        noise = sample_noise(config.batch_size, config.latent_dim, rng)[plan.shard]
        labels = random_labels(config, rng, plan.shard)  # None unless conditional
        with plan.autocast(noise.device):
            generated = generator(noise, **label_args(labels))
            fake = augment(generated, config, rng)  # as D saw them
            fake = add_instance_noise(fake, noise_std, rng, config.batch_size, plan.shard)
            fake_scores = discriminator(fake, **label_args(labels)).float()
        loss = objective.generator_loss(fake_scores)
        stats = {}
        if coverage_weight:
            real, _ = draw_real(data, config.batch_size, rng, False, plan.shard)
            coverage = nearest_sample_loss(real, generated, spread)
            loss = loss + coverage_weight * coverage
            stats["coverage_loss"] = coverage.detach()
        g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        g_grad_norm = grad_norm(generator)
        g_optimizer.step()
    finally:
        discriminator.requires_grad_(True)
    return {"g_loss": loss.detach(), "g_grad_norm": g_grad_norm, **stats}


def draw_real(
    data, batch: int, rng: torch.Generator, conditional: bool, shard: slice = slice(None)
) -> tuple[Tensor, Tensor | None]:
    """A real batch (this process's rows) and, for a conditional run, its labels (else None)."""
    if not conditional:
        return data.sample(batch, rng)[shard], None
    images, labels = data.sample_labelled(batch, rng)
    return images[shard], labels[shard]


def random_labels(config: TrainConfig, rng: torch.Generator, shard: slice = slice(None)) -> Tensor | None:
    """Uniform class labels for G's step of a conditional run (the global batch's, then this shard)."""
    if not config.conditional:
        return None
    labels = torch.randint(config.num_classes, (config.batch_size,), generator=rng, device=rng.device)
    return labels[shard]


def label_args(labels: Tensor | None, copies: int = 1) -> dict[str, Tensor]:
    """The keyword arguments that condition G or D on ``labels``: none for an unconditional run."""
    return {} if labels is None else {"labels": labels.repeat(copies)}


def augment(images: Tensor, config: TrainConfig, rng: torch.Generator) -> Tensor:
    """DiffAugment with the run's policy (gankit.augment); the identity, drawing nothing, without one."""
    return diff_augment(images, config.augment, rng) if config.augment else images


def r1_r2_terms(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, config: TrainConfig, d_update: int
) -> tuple[Tensor, dict[str, Tensor]]:
    """gamma1/2 E||grad D(real)||^2 + gamma2/2 E||grad D(fake)||^2 for this D update, and its stats.

    Lazy regularisation (Karras et al. 2020, StyleGAN2): with ``r1_every`` = k the terms are
    computed on every k-th D update only, multiplied by k so that their average strength is
    unchanged. The logged ``r1_penalty`` / ``r2_penalty`` (k E||grad D||^2 on those updates, 0 on
    the others) therefore average to E||grad D||^2 over a log window.
    """
    total, stats = torch.zeros((), device=real.device), {}
    for name, gamma, images in (("r1_penalty", config.r1_gamma, real), ("r2_penalty", config.r2_gamma, fake)):
        if not gamma:
            continue
        value = torch.zeros((), device=real.device)
        if d_update % config.r1_every == 0:
            value = config.r1_every * squared_gradient_norm(critic, images)
            total = total + gamma / 2 * value
        stats[name] = value.detach()
    return total, stats


def scores_each_sample_alone(discriminator: nn.Module) -> bool:
    """True unless a layer mixes the samples of a batch (batch norm): then real and fake batches
    must go through D in separate calls, each with its own batch statistics."""
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())


def _check_speed_options(config: TrainConfig, data_shape: tuple[int, ...], device: torch.device) -> None:
    """Reject speed options this data or device cannot use, before anything is written."""
    if config.channels_last and len(data_shape) != 3:
        raise GankitError(
            f"channels_last applies to image data (conv nets) only; {config.data!r} has shape {data_shape}"
        )
    if config.amp and not (
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
        if config.threads:
            torch.set_num_threads(config.threads)
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
            autocast_dtype=torch.bfloat16 if config.amp else None,
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
        config = self.config
        noise_std = instance_noise_std(config, self.step, self.data_spread)
        coverage_weight = annealed(config.coverage_weight, self.step, config.coverage_steps, config.steps)
        if config.lr_decay_start is not None:
            lr_scale = learning_rate_scale(config, self.step)
            for optimizer, lr in ((self.g_optimizer, config.g_lr), (self.d_optimizer, config.d_lr)):
                for group in optimizer.param_groups:
                    group["lr"] = lr * lr_scale
        stats = d_step(
            self.g_train,
            self.d_train,
            self.d_optimizer,
            self.objective,
            self.config,
            self.data,
            self.rng,
            self.plan,
            step=self.step,
            noise_std=noise_std,
        )
        stats |= g_step(
            self.g_train,
            self.d_frozen,
            self.g_optimizer,
            self.objective,
            self.config,
            self.rng,
            self.plan,
            noise_std=noise_std,
            coverage_weight=coverage_weight,
            data=self.data,
            spread=self.data_spread,
        )
        if config.instance_noise:  # logged to the end, 0 once annealed
            stats["instance_noise"] = torch.tensor(noise_std)
        if config.coverage_weight:
            stats["coverage_weight"] = torch.tensor(coverage_weight)
        if config.lr_decay_start is not None:
            stats["lr_scale"] = torch.tensor(lr_scale)
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


@torch.no_grad()
def draw_samples(
    generator: nn.Module,
    n: int,
    latent_dim: int,
    seed: int,
    device: torch.device | str = "cpu",
    batch: int = 4096,
    label: int | None = None,
) -> Tensor:
    """Deterministic samples: noise from a CPU generator seeded with ``seed`` (device-independent).

    A conditional generator (one with ``num_classes``) draws class ``label`` for every sample, or
    without one the classes in turn (sample i is of class i mod K), the same for every seed.
    """
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=rng)
    labels = None
    num_classes = getattr(generator, "num_classes", None)
    if num_classes and label is not None and not 0 <= label < num_classes:
        raise GankitError(f"label must be a class from 0 to {num_classes - 1}, got {label}")
    if num_classes:
        labels = torch.full((n,), label) if label is not None else torch.arange(n) % num_classes
    elif label is not None:
        raise GankitError("a label needs a conditional generator (a run trained with --conditional)")
    was_training = generator.training
    generator.eval()
    try:
        parts = []
        for start in range(0, n, batch):
            chunk_labels = None if labels is None else labels[start : start + batch].to(device)
            fake = generator(z[start : start + batch].to(device), **label_args(chunk_labels))
            parts.append(fake.float().cpu())
    finally:
        generator.train(was_training)
    return torch.cat(parts) if parts else z.new_zeros((0,))


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
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True, leave=False
    )
