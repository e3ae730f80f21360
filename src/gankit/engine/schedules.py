"""What changes over training, as pure functions of the step: the learning-rate scale, the weights
annealed to 0 (instance noise, the coverage term) and the EMA decay's ramp-up.

``step`` is the number of generator updates before the one being scheduled (0-based), so a resumed
run follows the same schedule as one that never stopped.
"""

from __future__ import annotations

import math

from gankit.config import TrainConfig


def learning_rate_scale(config: TrainConfig, step: int) -> float:
    """The factor on both learning rates for update ``step`` (0-based): 1 before
    ``config.lr_decay_start`` (s), then (T - t) / (T - s) for T = ``config.steps``, a linear fall that
    reaches 1 / (T - s) on the last update. Small late steps let the game settle instead of jittering
    (or breaking) around its equilibrium; 1 everywhere when lr_decay_start is None or >= T. Times
    R3GAN's schedule where ``config.r3gan_decay_steps`` is on (:func:`r3gan_progress`)."""
    r3gan = scheduled(1.0, R3GAN_FINAL["lr"], r3gan_progress(config, step))  # 1 without it
    start = config.lr_decay_start
    if start is None or step < start:
        return r3gan
    return r3gan * (config.steps - step) / (config.steps - start)


R3GAN_FINAL = {"lr": 0.25, "gamma": 0.1, "beta2": 0.99}  # lr and gamma: factors on the start; beta2: a value


def r3gan_progress(config: TrainConfig, step: int) -> float:
    """How far R3GAN's schedules have gone at update ``step``: p = (1 - cos(pi min(t / T, 1))) / 2, from
    0 at the start to 1 at T = ``config.r3gan_decay_steps`` and after (0 throughout when T is 0).

    Each scheduled value is start + p (final - start) (R3GAN's cosine_decay_with_warmup, no
    warm-up): both learning rates fall to R3GAN_FINAL["lr"] x theirs, the R1/R2 gammas to
    R3GAN_FINAL["gamma"] x theirs, and Adam's beta2 rises to R3GAN_FINAL["beta2"]. Large steps and a
    strong penalty early, while G is far from the data; small ones and a longer memory of the squared
    gradients late, near the equilibrium where the penalties' local convergence argument holds.
    """
    horizon = config.r3gan_decay_steps
    if not horizon:
        return 0.0
    return (1 - math.cos(math.pi * min(step / horizon, 1.0))) / 2


def scheduled(start: float, final: float, progress: float) -> float:
    """start + progress (final - start): a schedule's value at ``progress`` in [0, 1]."""
    return start + progress * (final - start)


def annealed(start: float, step: int, horizon: int, steps: int) -> float:
    """start * max(0, 1 - step / horizon): a linear fall to 0 at ``horizon`` (0: at ``steps``)."""
    return start * max(0.0, 1.0 - step / (horizon or steps))


def instance_noise_std(config: TrainConfig, step: int, spread: float) -> float:
    """The std of the instance noise at ``step``: sigma_t = s * spread * max(0, 1 - t / T).

    s is ``config.instance_noise`` (in units of the data's RMS ``spread``), T is
    ``config.instance_noise_steps`` (0: the run's ``steps``). Noise on both D's real and generated
    inputs makes the two distributions overlap, so D cannot separate them perfectly and G's
    gradients do not vanish (Arjovsky & Bottou 2017); early on it blurs separate modes into one
    cloud, and annealing it to 0 leaves the original game (Sonderby et al. 2016).
    """
    return annealed(config.instance_noise, step, config.instance_noise_steps, config.steps) * spread


def coverage_weight_at(config: TrainConfig, step: int) -> float:
    """The coverage term's weight at ``step``: ``config.coverage_weight`` falling linearly to 0 at
    ``config.coverage_steps`` (0: the run's ``steps``). The term pulls G towards a quantisation of
    the data, not towards p_data, so it is annealed away rather than kept at full weight."""
    return annealed(config.coverage_weight, step, config.coverage_steps, config.steps)


def logged_schedules(config: TrainConfig, step: int, spread: float) -> dict[str, float]:
    """The scheduled values a row reports for ``step``: each one whose option is on, logged to the
    end of the run (0 once annealed)."""
    values = {}
    if config.instance_noise:
        values["instance_noise"] = instance_noise_std(config, step, spread)
    if config.coverage_weight:
        values["coverage_weight"] = coverage_weight_at(config, step)
    if config.lr_decay_start is not None or config.r3gan_decay_steps:
        values["lr_scale"] = learning_rate_scale(config, step)
    if config.r3gan_decay_steps:
        values["r3gan_progress"] = r3gan_progress(config, step)
    return values


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
