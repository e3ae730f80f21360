"""What to change in *this* run: remedies computed from a finding's name and the run's config.

Each finding has one small pure function ``(config) -> list[str]``. Every line names the setting as
the run has it and a concrete value to try, with its ``gankit train`` flag, and a line never suggests
what the run already does (no ``--objective wgan-gp`` to a wgan-gp run, no ``--pack 2`` at pack 2).
The config is the run's config.json (every default resolved); a value left ``None`` reads as the
objective's paper default (gankit.objectives.OBJECTIVES).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gankit.augment import POLICIES as AUGMENT_POLICIES
from gankit.config import TrainConfig
from gankit.data.toy import TOY_DATASETS
from gankit.objectives import OBJECTIVES

WASSERSTEIN = ("wgan", "wgan-gp")
PAPER_GP_WEIGHT = 10.0  # Gulrajani et al. 2017, on images
TOY_GP_WEIGHT = 0.1  # the WGAN-GP reference code's toy experiments (what config.resolve picks there)
PAPER_CLIP_VALUE = 0.01  # Arjovsky et al. 2017
TYPICAL_EMA = 0.999


def setting(config: TrainConfig, key: str) -> Any:
    """The run's value of ``key``, or its objective's default where config.json left it None."""
    value = getattr(config, key)
    return OBJECTIVES[config.objective].defaults.get(key) if value is None else value


def gp_weight_for(config: TrainConfig) -> float:
    """The penalty weight gankit uses for this run's data: 0.1 on toy data, 10 on images."""
    return TOY_GP_WEIGHT if config.data in TOY_DATASETS else PAPER_GP_WEIGHT


def number(value: float) -> str:
    """A learning rate or weight as a user types it: 0.001 -> "1e-3", 3.3e-4 -> "3e-4", 10 -> "10"."""
    if value == 0:
        return "0"
    if 0.01 <= abs(value) < 1000:
        return f"{value:.2g}"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _d_name(config: TrainConfig) -> str:
    return "the critic" if config.objective in WASSERSTEIN else "the discriminator"


def lower_d_lr(config: TrainConfig, factor: float = 3.0) -> str:
    lr = setting(config, "d_lr")
    return f"{_d_name(config)}'s lr is {number(lr)}: try {number(lr / factor)} (--d-lr {number(lr / factor)})"


def lower_g_lr(config: TrainConfig, factor: float = 3.0) -> str:
    lr = setting(config, "g_lr")
    return f"the generator's lr is {number(lr)}: try {number(lr / factor)} (--g-lr {number(lr / factor)})"


def vanishing_gradients(config: TrainConfig) -> list[str]:
    remedies = []
    if config.objective == "minimax":
        remedies.append(
            "the saturating minimax loss has no gradient once D rejects the fakes: "
            "use the non-saturating loss (--objective ns)"
        )
    if config.objective not in WASSERSTEIN:
        remedies.append("or a Wasserstein loss whose gradient never saturates (--objective wgan-gp)")
        steps = setting(config, "critic_steps")
        if steps > 1:
            remedies.append(f"D takes {steps} steps per G step: try 1 (--critic-steps 1)")
    remedies.append(lower_d_lr(config))
    return remedies


def discriminator_overpowers(config: TrainConfig) -> list[str]:
    remedies = [lower_d_lr(config)]
    steps = setting(config, "critic_steps")
    if config.objective not in WASSERSTEIN and steps > 1:
        remedies.append(f"D takes {steps} steps per G step: try 1 (--critic-steps 1)")
    if config.objective == "wgan-gp":
        weight, usual = setting(config, "gradient_penalty_weight"), gp_weight_for(config)
        if weight < usual:
            remedies.append(
                f"the gradient penalty weight is {number(weight)}: try {number(usual)} "
                f"(--gp-weight {number(usual)}), which keeps the critic ~1-Lipschitz"
            )
    elif config.objective == "wgan":
        clip = setting(config, "clip_value")
        if clip > PAPER_CLIP_VALUE:
            remedies.append(f"the clip value is {number(clip)}: try {PAPER_CLIP_VALUE} (--clip-value 0.01)")
        remedies.append("or constrain the critic with a gradient penalty instead (--objective wgan-gp)")
    else:
        if config.objective == "minimax":
            remedies.append("use a loss whose generator gradient survives a confident D (--objective ns)")
        remedies.append("or a Wasserstein critic (--objective wgan-gp)")
    return remedies


def mode_collapse(config: TrainConfig) -> list[str]:
    remedies = []
    if config.pack < 4:
        pack = 2 if config.pack == 1 else 4
        remedies.append(f"D sees {config.pack} sample(s) at once: let it see {pack} (PacGAN: --pack {pack})")
    if config.ema_decay == 0:
        remedies.append(f"average the generator's weights (--ema-decay {TYPICAL_EMA})")
    if config.objective != "wgan-gp":
        remedies.append("use a Wasserstein loss with gradient penalty (--objective wgan-gp)")
    remedies.append(lower_g_lr(config))
    return remedies


def divergence(config: TrainConfig) -> list[str]:
    g_lr, d_lr = setting(config, "g_lr"), setting(config, "d_lr")
    remedies = [
        f"resume from the last good checkpoint with 10x smaller learning rates: G's is {number(g_lr)}, "
        f"D's {number(d_lr)} (--g-lr {number(g_lr / 10)} --d-lr {number(d_lr / 10)})"
    ]
    if setting(config, "optimizer") == "sgd":  # the objective's own optimizer at its own rates
        defaults = OBJECTIVES[config.objective].defaults
        optimizer, g_default, d_default = (
            defaults["optimizer"],
            number(defaults["g_lr"]),
            number(defaults["d_lr"]),
        )
        name = {"adam": "Adam", "rmsprop": "RMSprop"}.get(optimizer, optimizer)
        remedies.append(
            f"the optimizer is SGD: use {config.objective}'s own, {name}, at its learning rates "
            f"(--optimizer {optimizer} --g-lr {g_default} --d-lr {d_default})"
        )
    if config.objective == "wgan-gp" and setting(config, "gradient_penalty_weight") == 0:
        usual = number(gp_weight_for(config))
        remedies.append(f"the gradient penalty is off: turn it on (--gp-weight {usual})")
    if config.objective == "wgan" and setting(config, "clip_value") == 0:
        remedies.append(f"weight clipping is off: turn it on (--clip-value {PAPER_CLIP_VALUE})")
    return remedies


def rates_far_below_defaults(config: TrainConfig) -> bool:
    """G's or D's learning rate below a tenth of its objective's default: too small to move."""
    defaults = OBJECTIVES[config.objective].defaults
    return setting(config, "g_lr") < defaults["g_lr"] / 10 or setting(config, "d_lr") < defaults["d_lr"] / 10


def no_progress(config: TrainConfig) -> list[str]:
    defaults = OBJECTIVES[config.objective].defaults
    g_lr, d_lr = setting(config, "g_lr"), setting(config, "d_lr")
    remedies = ["if the samples already look right, training has converged: stop here"]
    if rates_far_below_defaults(config):
        g_default, d_default = number(defaults["g_lr"]), number(defaults["d_lr"])
        remedies.append(
            f"the learning rates ({number(g_lr)} for G, {number(d_lr)} for D) are far below "
            f"{config.objective}'s defaults: try {g_default} and {d_default} "
            f"(--g-lr {g_default} --d-lr {d_default})"
        )
    else:
        remedies.append(lower_g_lr(config) + " if the curves swing; a longer run if they are flat")
    steps = setting(config, "critic_steps")
    if config.objective in WASSERSTEIN and steps < 5:
        remedies.append(f"the critic takes {steps} step(s) per G step: try 5 (--critic-steps 5)")
    if config.width is not None:
        wider = 2 * config.width
        remedies.append(f"the networks are {config.width} wide: try {wider} (--width {wider})")
    return remedies


def oscillation(config: TrainConfig) -> list[str]:
    remedies = []
    steps = setting(config, "critic_steps")
    if config.objective in WASSERSTEIN and steps < 5:  # G chases a critic that has not caught up
        remedies.append(
            f"the critic takes {steps} step(s) per G step: try 5, the WGAN papers' (--critic-steps 5), "
            "so that G follows a critic trained on its latest samples"
        )
    remedies += [lower_g_lr(config), lower_d_lr(config)]
    if config.ema_decay == 0:
        remedies.append(f"average the generator's weights (--ema-decay {TYPICAL_EMA}): it damps exactly this")
    elif config.ema_decay < TYPICAL_EMA:
        remedies.append(f"the EMA decay is {config.ema_decay}: try {TYPICAL_EMA} (--ema-decay {TYPICAL_EMA})")
    return remedies


USUAL_VALIDATION_FRACTION = 0.2  # what gankit's image benchmarks hold out (half validation, half test)


def more_training_images(config: TrainConfig) -> list[str]:
    """Hold out less where the run holds out more than usual; more images is the cure either way."""
    if config.validation_fraction > USUAL_VALIDATION_FRACTION:
        usual = USUAL_VALIDATION_FRACTION
        return [
            f"validation_fraction is {config.validation_fraction:g}: hold out {usual:g} "
            f"(--validation-fraction {usual:g}), so that more images are left to train on"
        ]
    return ["train on more images of the data, if there are more"]


def augment_more(config: TrainConfig) -> list[str]:
    """DiffAugment with every policy, unless the run has them all."""
    if all(policy in config.augment for policy in AUGMENT_POLICIES):
        return []
    now = ",".join(config.augment) or "none"
    every = ",".join(AUGMENT_POLICIES)
    return [f"augment what D sees (DiffAugment): the run's policies are {now}; try --augment {every}"]


def keep_an_earlier_checkpoint(config: TrainConfig) -> str:
    return (
        "score the kept checkpoints on the validation part and keep the best one "
        f"(gankit eval RUN_DIR --checkpoints; this run keeps {config.keep_checkpoints})"
    )


def discriminator_overfits(config: TrainConfig) -> list[str]:
    return [
        *augment_more(config),
        *more_training_images(config),
        lower_d_lr(config),
        keep_an_earlier_checkpoint(config),
    ]


def memorisation(config: TrainConfig) -> list[str]:
    remedies = [*more_training_images(config), *augment_more(config)]
    if config.width is not None and config.width > 8:
        width, smaller = config.width, config.width // 2
        remedies.append(f"the networks are {width} wide: try {smaller} (--width {smaller}): less to store")
    remedies.append(keep_an_earlier_checkpoint(config))
    return remedies


def uses_sgd(config: TrainConfig) -> bool:
    return setting(config, "optimizer") == "sgd"


def penalty_off(config: TrainConfig) -> bool:
    return config.objective == "wgan-gp" and setting(config, "gradient_penalty_weight") == 0


def holds_out_more_than_usual(config: TrainConfig) -> bool:
    return config.validation_fraction > USUAL_VALIDATION_FRACTION


# The causes a case of benchmarks/remedies.py may be limited to (its spec's ``cause``): its rates say
# how often a remedy fixed runs broken *that* way, so the doctor offers them only to runs with the
# same cause (a plateau at learning rate 1e-3 is not a run stalled at 1e-7, and a run that holds out
# 10 % of its images is not helped by holding out 20 %). Each: (whether a run has it, in words).
CAUSES: dict[str, tuple[Callable[[TrainConfig], bool], str]] = {
    "rates-far-below-defaults": (
        rates_far_below_defaults,
        "learning rates below a tenth of the objective's defaults",
    ),
    "sgd": (uses_sgd, "plain SGD as the optimizer"),
    "gradient-penalty-off": (penalty_off, "wgan-gp with its gradient penalty off"),
    "held-out-more-than-usual": (
        holds_out_more_than_usual,
        f"more than {USUAL_VALIDATION_FRACTION:g} of the images held out (--validation-fraction)",
    ),
}


def has_cause(cause: str | None, config: TrainConfig) -> bool:
    """Whether a run shares a benchmark case's cause; a case without one stands for every run of its
    finding (and D's kind), and a cause this gankit does not know stands for none."""
    if not cause:
        return True
    return cause in CAUSES and CAUSES[cause][0](config)


REMEDIES: dict[str, Callable[[TrainConfig], list[str]]] = {
    "vanishing-gradients": vanishing_gradients,
    "discriminator-overpowers": discriminator_overpowers,
    "mode-collapse": mode_collapse,
    "divergence": divergence,
    "no-progress": no_progress,
    "oscillation": oscillation,
    "discriminator-overfits": discriminator_overfits,
    "memorisation": memorisation,
}


def remedies_for(name: str, config: TrainConfig) -> list[str]:
    """The remedies for finding ``name`` in a run with this config."""
    return REMEDIES[name](config)
