"""Every knob of a training run, its default, and its validation, in one frozen dataclass.

A ``TrainConfig`` is built once at the edge (CLI flags, a TOML file, a preset, or Python keyword
arguments), validated there, and trusted by the inner code. Fields left as ``None`` mean "the
objective's or the data's default"; :func:`resolve` fills them in so that ``config.json`` in a run
directory spells out every value that was used.

Precedence, lowest first: dataclass defaults < preset < config file < command-line flags.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from gankit.augment import POLICIES as AUGMENT_POLICIES
from gankit.errors import GankitError
from gankit.objectives import OBJECTIVES, get_objective
from gankit.presets import PRESETS, data_default

OPTIMIZERS = ("adam", "rmsprop", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
LATENTS = ("gaussian", "mixture")
# A monitor threshold's flat config key is this prefix and its name: monitor_window (TrainConfig.monitor)
MONITOR_KEY = "monitor_"
# The pitfalls gankit.diagnose.monitors watch for (the names in findings.jsonl and --stop-on).
FINDING_NAMES = (
    "vanishing-gradients",
    "discriminator-overpowers",
    "mode-collapse",
    "divergence",
    "no-progress",
    "oscillation",
    "discriminator-overfits",
    "memorisation",
)


@dataclass(frozen=True)
class TrainConfig:
    # what to learn
    data: str = "ring"
    objective: str = "wgan-gp"
    model: str = "gan"  # "gan" (G vs D); image work adds "vae" as a baseline
    image_size: int | None = None  # resize images to image_size x image_size (None: keep their size)
    # how long and how much
    steps: int = 2000  # generator updates
    time_budget_s: float = 0.0  # stop once the training steps used this much process CPU time (s); 0: none
    batch_size: int | None = None  # None: 256 for toy data, 64 for images
    seed: int = 0
    # image data: hold out this fraction from training, half validation, half test (data.images.holdout_split)
    validation_fraction: float = 0.0
    # networks (None: chosen from the data's shape)
    latent_dim: int | None = None
    width: int | None = None
    d_width: int | None = None  # D's width where it differs from G's (None: width)
    depth: int | None = None
    pack: int = 1  # PacGAN: D scores `pack` samples at once
    latent: str = "gaussian"  # "gaussian" N(0, I), or "mixture" of Gaussians (DeLiGAN; toy MLPs only)
    latent_components: int = 10  # mixture: Gaussians in the latent (nets.mlp.MixtureLatent)
    # toy (flat) data: the MLPs work in standardised units, x = mean + scale * G's output and D sees
    # (x - mean) / scale, with the data's mean and RMS spread (nets.mlp.data_statistics); samples and
    # every metric stay in the data's own units
    standardize: bool = False
    # optimisation (None: the objective's paper default, see objectives.OBJECTIVES)
    optimizer: str | None = None
    g_optimizer: str | None = None  # None: same as optimizer
    g_lr: float | None = None
    d_lr: float | None = None
    betas: tuple[float, float] | None = None
    momentum: float = 0.0  # SGD only
    critic_steps: int | None = None  # D updates per G update
    # learning-rate decay: from step lr_decay_start on, both learning rates fall linearly towards 0 at
    # the last step (SN-GAN, Miyato et al. 2018, decay from step 0); None keeps them constant, and so
    # does a start at or past steps (a preset's decay in a shorter run that a user asked for)
    lr_decay_start: int | None = None
    # R3GAN's schedules (Huang et al. 2024; brownvc/R3GAN's cosine_decay_with_warmup without warm-up):
    # over the first r3gan_decay_steps generator steps a half cosine takes both learning rates to 1/4,
    # the R1/R2 gammas to 1/10 and Adam's beta2 from its value to 0.99, held there after
    # (engine/schedules.py: r3gan_progress); 0 keeps all three constant
    r3gan_decay_steps: int = 0
    clip_value: float | None = None  # wgan only
    gradient_penalty_weight: float | None = None  # wgan-gp only (lambda)
    ema_decay: float = 0.0  # generator EMA; 0 turns it off, 0.999 is typical
    # EMA warm-up (StyleGAN2-ADA's ramp-up): the average's half-life is at most ema_rampup x the steps
    # trained so far, so a short run does not average in its untrained start; 0: the plain EMA
    ema_rampup: float = 0.05
    # image regularisers (docs/benchmarks/images_regularisers.md)
    spectral_norm: bool = False  # SN-GAN: spectral normalisation of D's layers (then no norm layers in D)
    # R1: + gamma/2 E||grad D(real)||^2 in D's loss (Mescheder et al. 2018); 0: off; None: the
    # objective's (rpgan: 0.05, others 0)
    r1_gamma: float | None = None
    r2_gamma: float | None = None  # R2: the same on generated images
    r1_every: int = 1  # lazy R1/R2: every k-th D update, scaled by k (StyleGAN2); 1: every update
    augment: tuple[str, ...] = ()  # DiffAugment policies (color, translation, cutout) on D's inputs
    # instance noise (Sonderby et al. 2016; Arjovsky & Bottou 2017): Gaussian noise on every sample D
    # sees, real and generated, of std instance_noise x the data's RMS spread at step 0, falling
    # linearly to 0 at instance_noise_steps (0: over the whole run); instance_noise 0 turns it off
    instance_noise: float = 0.0
    instance_noise_steps: int = 0
    # coverage term (IMLE, Li & Malik 2018): + weight x mean over a real batch of the squared distance
    # to the nearest generated sample (in units of the data's spread) in G's loss, the weight falling
    # linearly to 0 at coverage_steps (0: over the whole run); coverage_weight 0 turns it off
    coverage_weight: float = 0.0
    coverage_steps: int = 0
    # class-conditional GANs: G(z, y) and a projection discriminator D(x, y); labelled data only
    conditional: bool = False
    num_classes: int | None = None  # None: the number of classes in the data's labels
    # bookkeeping
    log_every: int = 50
    eval_every: int = 250  # quality metrics (toy or image) into metrics.jsonl; 0 turns them off
    eval_samples: int = 2500
    sample_every: int = 500  # sample plots in RUN_DIR/samples; 0 turns them off
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    device: str = "auto"
    # speed (docs/benchmarks/speed.md): how a step is computed, not what (amp rounds to bf16)
    compile: bool = False  # torch.compile the networks (slow first steps; the penalty stays eager)
    # bf16 autocast for the forward passes (cpu, bf16-capable cuda); "auto": the faster of bf16 and
    # fp32 as timed at the start of a new run (engine/speed.py), which config.json records as true/false
    amp: bool | str = "auto"
    channels_last: bool = False  # NHWC memory layout for conv nets (image data only)
    # CPU threads for torch; "auto": the fewest within 5 % of the fastest, timed at the start of a new
    # run within the process's share of the cores (engine/speed.py), which config.json records
    threads: int | str = "auto"
    speed: dict[str, Any] = field(default_factory=dict)  # how amp and threads were chosen: a record
    # live alarms (gankit.diagnose.monitors, docs/doctor.md)
    monitors: bool = True
    # the monitors' thresholds by name ({"window": 10}): gankit.diagnose.thresholds defines, documents
    # and checks them (config sits below diagnose, so it keeps the values unread). Config files,
    # config.json and keyword arguments spell each as a flat key, monitor_window = 10 (from_dict,
    # to_dict); a name left out takes its default
    monitor: dict[str, int | float] = field(default_factory=dict)
    stop_on: tuple[str, ...] = ()  # finding names that stop training (divergence always does)
    # start from another run's weights (gankit train --init-from RUN_DIR[:STEP]): G, D and G's EMA from
    # its checkpoint at or before init_from_step (None: the first kept checkpoint at or after the step
    # where the doctor detected its first open finding), then train this config from step 0 with fresh
    # optimisers (runs/assemble.py: initial_weights); config.json records the run directory and the step used
    init_from: str | None = None
    init_from_step: int | None = None

    def __post_init__(self) -> None:
        _check_types(self)
        get_objective(self.objective)
        _positive(
            self,
            "steps",
            "log_every",
            "checkpoint_every",
            "keep_checkpoints",
            "eval_samples",
            "pack",
            "latent_components",
        )
        _positive(
            self, "latent_dim", "width", "d_width", "depth", "critic_steps", "g_lr", "d_lr", allow_none=True
        )
        _positive(self, "image_size", "batch_size", allow_none=True)
        _non_negative(
            self,
            "seed",
            "eval_every",
            "sample_every",
            "momentum",
            "ema_decay",
            "ema_rampup",
            "clip_value",
            "gradient_penalty_weight",
            "r1_gamma",
            "r2_gamma",
            "time_budget_s",
            "instance_noise",
            "instance_noise_steps",
            "coverage_weight",
            "coverage_steps",
        )
        _non_negative(self, "lr_decay_start", "r3gan_decay_steps")
        _positive(self, "r1_every")
        if not 0 <= self.validation_fraction < 1:
            raise GankitError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        _positive(self, "num_classes", allow_none=True)
        object.__setattr__(self, "augment", tuple(self.augment))  # a list from JSON/TOML/Python
        for name in self.augment:
            if name not in AUGMENT_POLICIES:
                raise GankitError(f"unknown augment policy {name!r}; allowed: {', '.join(AUGMENT_POLICIES)}")
        if self.instance_noise and self.model != "gan":
            raise GankitError("instance_noise applies to GANs only (model = 'gan'): noise on D's inputs")
        if self.coverage_weight and self.model != "gan":
            raise GankitError("coverage_weight applies to GANs only (model = 'gan'): a term of G's loss")
        if self.coverage_weight and self.conditional:
            raise GankitError("coverage_weight and conditional cannot be combined (the term ignores labels)")
        if self.conditional and self.model != "gan":
            raise GankitError("conditional applies to GANs only (model = 'gan')")
        if self.conditional and self.pack > 1:
            raise GankitError("conditional and pack > 1 cannot be combined (D scores one labelled image)")
        for name, limit in SIZE_LIMITS.items():
            value = getattr(self, name)
            if value is not None and value > limit:
                raise GankitError(f"{name} must be at most {limit}, got {value}")
        if self.amp not in (True, False, "auto"):
            raise GankitError(f"amp must be auto, true or false, got {self.amp!r}")
        if self.threads != "auto" and not (isinstance(self.threads, int) and self.threads >= 1):
            raise GankitError(f"threads must be auto or a count >= 1, got {self.threads!r}")
        if self.ema_decay >= 1:
            raise GankitError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        for name in ("optimizer", "g_optimizer"):
            value = getattr(self, name)
            if value is not None and value not in OPTIMIZERS:
                raise GankitError(f"unknown {name} {value!r}; allowed: {', '.join(OPTIMIZERS)}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise GankitError(f"unknown device {self.device!r}; allowed: {', '.join(DEVICES)}")
        if self.betas is not None and not all(0 <= b < 1 for b in self.betas):
            raise GankitError(f"betas must be two numbers in [0, 1), got {list(self.betas)}")
        if self.batch_size is not None and self.batch_size % self.pack:
            raise GankitError(f"batch_size ({self.batch_size}) must be a multiple of pack ({self.pack})")
        if self.latent not in LATENTS:
            raise GankitError(f"unknown latent {self.latent!r}; allowed: {', '.join(LATENTS)}")
        if self.latent == "mixture" and self.latent_dim is not None and self.latent_dim < 2:
            raise GankitError(
                f"latent mixture needs latent_dim >= 2 (one picks the component), got {self.latent_dim}"
            )
        if self.model not in ("gan", "vae"):
            raise GankitError(f"unknown model {self.model!r}; allowed: gan, vae")
        if self.model == "vae" and self.latent != "gaussian":
            raise GankitError(f"the vae baseline has a gaussian latent, got latent {self.latent!r}")
        if self.init_from_step is not None and self.init_from is None:
            raise GankitError("init_from_step needs init_from (the run directory to start from)")
        _non_negative(self, "init_from_step")
        if self.init_from is not None and not self.init_from.strip():
            raise GankitError("init_from must name a run directory, got an empty string")
        if self.init_from is not None and self.model != "gan":
            raise GankitError("init_from applies to GANs only (model = 'gan'): it loads G's and D's weights")
        object.__setattr__(self, "stop_on", tuple(self.stop_on))  # a list from JSON/TOML/Python
        for name in self.stop_on:
            if name not in FINDING_NAMES:
                raise GankitError(f"unknown finding {name!r} in stop_on; allowed: {', '.join(FINDING_NAMES)}")

    @property
    def discriminator_width(self) -> int | None:
        """D's width: ``d_width`` where set, else G's ``width`` (also in a run from before d_width)."""
        return self.d_width or self.width

    def replace(self, **changes: Any) -> TrainConfig:
        values = to_dict(self)
        if "monitor" in changes:  # a new dict of thresholds replaces the old one, flat keys and all
            values = {key: value for key, value in values.items() if not key.startswith(MONITOR_KEY)}
        return from_dict({**values, **changes})


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))


@dataclass(frozen=True)
class Flag:
    """How one config field appears as an option of `gankit train` (runs/train_command.py builds them)."""

    help: str
    names: tuple[str, ...] = ()  # its spellings; () is --field-name
    # what "[default: ...]" shows; None: the field's default, or "objective's default" for None
    # (an on/off flag, default False, shows none)
    shown_default: str | None = None
    metavar: str | None = None  # None: the type's, e.g. <int>
    parse: Callable[[str], Any] | None = None  # the flag's text -> the field's value; None: typer's


def comma_list(text: str) -> tuple[str, ...]:
    """A tuple field given as one flag: "translation,cutout" -> ("translation", "cutout")."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def count_or_auto(text: str) -> int | str:
    """--threads N or auto, as the config takes it (a count's range is the config's to check)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise GankitError(f"--threads must be auto or a count >= 1, got {text!r}") from None


# `gankit train`'s options, one per field, in the order `gankit train --help` lists them. A new
# field gets its line here, or goes into NO_FLAG: tests/test_cli_core.py fails until it is in one.
FLAGS: dict[str, Flag] = {
    "data": Flag("Toy data set name (see `gankit list`) or image data."),
    "objective": Flag(", ".join(list(OBJECTIVES)[:-1]) + f" or {list(OBJECTIVES)[-1]} (see `gankit list`)."),
    "model": Flag("gan, or vae (the VAE baseline for image data)."),
    "image_size": Flag(
        "Resize images to this square side (needed for mixed-size folders).",
        shown_default="the images' own size",
    ),
    "steps": Flag("Generator updates."),
    "time_budget_s": Flag(
        "Stop once the training steps have used this much process CPU time, in seconds; evaluation "
        "and checkpoints do not count (0 = no limit). Compare budgets at the same --threads. With "
        "--resume: the run's new total (what it already used counts)."
    ),
    "validation_fraction": Flag(
        "Image data: hold out this fraction of the images from training (half validation, half test)."
    ),
    "batch_size": Flag("Samples per batch.", shown_default="256 toy, 64 images"),
    "seed": Flag("Random seed (same seed + config = same numbers on CPU)."),
    "latent_dim": Flag("Size of the noise z.", shown_default="2 toy, 64 images"),
    "latent": Flag("gaussian, or mixture (K learnable Gaussians, DeLiGAN; toy data)."),
    "latent_components": Flag("Gaussians in a mixture latent."),
    "standardize": Flag("Toy data: the networks work in standardised units (data mean 0, RMS spread 1)."),
    "width": Flag("Hidden units (MLP) or base channels (conv).", shown_default="128 toy, 32-64 images"),
    "d_width": Flag("The discriminator's width, where it differs from G's.", shown_default="--width"),
    "depth": Flag("Hidden layers.", shown_default="3 toy, 1 images"),
    "pack": Flag("PacGAN packing: D scores this many samples at once."),
    "optimizer": Flag("adam, rmsprop or sgd."),
    "g_lr": Flag("Generator learning rate."),
    "d_lr": Flag("Discriminator/critic learning rate."),
    "critic_steps": Flag("D updates per G update."),
    "lr_decay_start": Flag(
        "From this step on both learning rates fall linearly towards 0 at the last step (default: constant)."
    ),
    "r3gan_decay_steps": Flag(
        "R3GAN's schedules: over this many steps a half cosine takes both learning rates to 1/4, the "
        "R1/R2 gammas to 1/10 and Adam's beta2 to 0.99, then holds them (0 = constant)."
    ),
    "clip_value": Flag("WGAN weight clipping bound."),
    "gradient_penalty_weight": Flag(
        "WGAN-GP penalty weight lambda: 10 on images (the paper), 0.1 on toy data (its reference code).",
        names=("--gradient-penalty-weight", "--gp-weight"),
    ),
    "ema_decay": Flag("Generator EMA decay (0 = off)."),
    "ema_rampup": Flag(
        "EMA warm-up: its half-life is at most this fraction of the steps so far (0 = plain EMA)."
    ),
    "spectral_norm": Flag("Spectral normalisation of D's layers (SN-GAN)."),
    "r1_gamma": Flag("R1 penalty gamma on real images (0 = off).", names=("--r1",)),
    "r2_gamma": Flag("R2 penalty gamma on generated images (0 = off).", names=("--r2",)),
    "r1_every": Flag("Lazy R1/R2: every K-th D update, scaled by K."),
    "instance_noise": Flag(
        "Instance noise on D's inputs: its std at step 0, in units of the data's RMS spread (0 = off)."
    ),
    "instance_noise_steps": Flag(
        "Steps over which the instance noise falls linearly to 0 (0 = the whole run)."
    ),
    "coverage_weight": Flag(
        "Coverage term in G's loss (IMLE): its weight at step 0; each real sample pulls its nearest "
        "generated one (0 = off)."
    ),
    "coverage_steps": Flag("Steps over which the coverage weight falls linearly to 0 (0 = the whole run)."),
    "augment": Flag(
        "DiffAugment policies for D's inputs, comma-separated: color, translation, cutout.",
        shown_default="none",
        parse=comma_list,
    ),
    "conditional": Flag("Class-conditional G(z, y) and projection D(x, y); needs labelled data."),
    "log_every": Flag("Steps between metrics.jsonl rows."),
    "eval_every": Flag(
        "Steps between quality metrics: W1 and modes (toy), FID and the others (images); 0 = off."
    ),
    "sample_every": Flag("Steps between sample plots (0 = off)."),
    "checkpoint_every": Flag("Steps between checkpoints."),
    "keep_checkpoints": Flag("How many of the newest checkpoints to keep."),
    "device": Flag("auto, cpu, cuda or mps."),
    "compile": Flag("torch.compile the networks (slow start, faster steps)."),
    "amp": Flag(
        "bf16 mixed precision (autocast) on cpu or cuda, or fp32. Unset: the faster of the two, "
        "timed at the start of the run (config.json records the choice).",
        names=("--amp/--no-amp",),
    ),
    "channels_last": Flag("NHWC memory layout for conv nets (image data)."),
    "threads": Flag(
        "CPU threads for torch, or auto: the fewest within 5 % of the fastest, timed at the start "
        "of the run within this process's share of the cores (config.json records the choice).",
        metavar="auto|N",
        parse=count_or_auto,
    ),
    "stop_on": Flag(
        f"Comma-separated findings that stop training: {', '.join(FINDING_NAMES)}.",
        shown_default="none; divergence always stops",
        parse=comma_list,
    ),
}
# Fields with no flag: set them in a config file (--config) or a preset. So are the monitors'
# thresholds, the `monitor` dict (flat monitor_* keys in a file; docs/doctor.md).
NO_FLAG = (
    "g_optimizer",
    "betas",
    "momentum",
    "eval_samples",
    "num_classes",
    "speed",
    "monitors",
    "monitor",
    "init_from",  # these two: train's own --init-from RUN_DIR[:STEP] (runs/train_command.py)
    "init_from_step",
)


_FIELDS = {f.name: f for f in fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


def flag_type(name: str) -> type:
    """What --NAME parses: a string where its Flag parses it, an on/off flag for a field that may be
    a bool (amp: true, false or "auto"), else the field's own type (int, float or str)."""
    if FLAGS[name].parse is not None:
        return str
    hint = _HINTS[name]
    types_ = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    return bool if bool in types_ else types_[0]


def flag_default(name: str) -> str | bool:
    """What `gankit train --help` shows as the flag's default ([default: ...]); False: nothing."""
    default = _FIELDS[name].default
    if FLAGS[name].shown_default is not None:
        return FLAGS[name].shown_default
    if default is None:
        return "objective's default"
    return False if default is False else str(default)


def from_flags(values: dict[str, Any]) -> dict[str, Any]:
    """Config values from the flags given (None: not given), each through its Flag's parse."""
    parsed = {}
    for name, value in values.items():
        if value is not None:
            parse = FLAGS[name].parse
            parsed[name] = parse(value) if parse is not None else value
    return parsed


def is_config_key(name: str) -> bool:
    """A field of TrainConfig, or a monitor threshold's flat key (which diagnose checks by name)."""
    return name in FIELD_NAMES or (isinstance(name, str) and name.startswith(MONITOR_KEY))


# Sizes past these exhaust memory (or never finish a step) on any machine: refused up front, before
# a run directory exists, instead of failing inside the first allocation.
SIZE_LIMITS = {
    "batch_size": 2**20,
    "latent_dim": 2**14,
    "width": 2**14,
    "d_width": 2**14,
    "depth": 256,
    "pack": 2**10,
    "latent_components": 2**16,
    "critic_steps": 100_000,  # experiments train D for thousands of steps per G step
    "eval_samples": 10**6,
    "image_size": 2**12,
    "num_classes": 2**16,
}


def _positive(config: TrainConfig, *names: str, allow_none: bool = False) -> None:
    for name in names:
        value = getattr(config, name)
        if value is None and allow_none:
            continue
        if not value > 0:
            raise GankitError(f"{name} must be > 0, got {value}")


def _non_negative(config: TrainConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and not value >= 0:
            raise GankitError(f"{name} must be >= 0, got {value}")


@functools.cache
def _field_hints() -> dict[str, Any]:
    """TrainConfig's resolved type hints (resolving them costs more than the rest of a config's checks)."""
    return typing.get_type_hints(TrainConfig)


def _check_types(config: TrainConfig) -> None:
    """Reject values of the wrong type (a TOML string where a number belongs, NaN, ...)."""
    hints = _field_hints()
    for f in fields(config):
        value = getattr(config, f.name)
        hint = hints[f.name]
        is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        allowed = typing.get_args(hint) if is_union else (hint,)
        if value is None and type(None) in allowed:
            continue
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(config, f.name, float(value))
            value = float(value)
        ok = any(_is_instance(value, t) for t in allowed if t is not type(None))
        if not ok:
            raise GankitError(f"{f.name} has the wrong type: {value!r}; expected {_type_name(hints[f.name])}")
        if isinstance(value, float) and not math.isfinite(value):
            raise GankitError(f"{f.name} must be a finite number, got {value}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**62:
            raise GankitError(f"{f.name} is too large: {value}")


def _is_instance(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[str, ...]: any length of that type
            return isinstance(value, (tuple, list)) and all(_is_instance(v, args[0]) for v in value)
        if not isinstance(value, (tuple, list)) or len(value) != len(args):
            return False
        return all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
        )
    if origin is dict:
        return isinstance(value, dict)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, float)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a validated config; unknown keys are an error that lists the allowed ones.

    The flat keys of monitor thresholds (``monitor_window``) go into the ``monitor`` dict by name,
    over what a ``monitor`` dict given beside them says; which names exist, and their values, are
    gankit.diagnose.thresholds' to check.
    """
    unknown = sorted(key for key in values if not is_config_key(key))
    if unknown:
        allowed = ", ".join(f"{MONITOR_KEY}<threshold>" if key == "monitor" else key for key in FIELD_NAMES)
        raise GankitError(f"unknown config key {unknown[0]!r}; allowed: {allowed}")
    values = _nested_thresholds(values)
    if isinstance(values.get("betas"), list):
        values["betas"] = tuple(values["betas"])
    for key in ("stop_on", "augment"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    return TrainConfig(**values)


def _nested_thresholds(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each flat ``monitor_NAME`` key moved into the ``monitor`` dict as NAME."""
    flat = {key: value for key, value in values.items() if key not in FIELD_NAMES and is_config_key(key)}
    values = {key: value for key, value in values.items() if key not in flat}
    if flat:
        given = values.get("monitor", {})
        nested = {key.removeprefix(MONITOR_KEY): value for key, value in flat.items()}
        values["monitor"] = {**given, **nested} if isinstance(given, dict) else given  # not a dict: refused
    return values


def to_dict(config: TrainConfig) -> dict[str, Any]:
    """The config as config.json records it: the monitor thresholds as flat ``monitor_NAME`` keys, in
    the place of the ``monitor`` dict."""
    values = {}
    for key, value in dataclasses.asdict(config).items():
        if key == "monitor":
            values |= {MONITOR_KEY + name: threshold for name, threshold in value.items()}
        else:
            values[key] = value
    if values["betas"] is not None:
        values["betas"] = list(values["betas"])
    return values


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file: top-level keys are config fields (a [train] table also works)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise GankitError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise GankitError(f"cannot read config file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise GankitError(f"config file {path} is not valid TOML: {error}") from None
    if set(values) == {"train"} and isinstance(values["train"], dict):
        values = values["train"]
    return {key.replace("-", "_"): value for key, value in values.items()}


def build_config(
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Merge defaults < preset < TOML file < explicit overrides into one validated config.

    With no preset, the data-aware default for the run's data and objective
    (:func:`gankit.presets.data_default`) takes the preset's place; ``preset="paper"`` is empty:
    the dataclass defaults, each objective's paper settings.
    """
    if preset is not None and preset not in PRESETS:
        raise GankitError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
    given = read_toml(file) if file is not None else {}
    given.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if preset is None:
        recipe = data_default(
            given.get("data", TrainConfig.data), given.get("objective", TrainConfig.objective)
        )
    else:
        recipe = PRESETS[preset]
    return from_dict(recipe | given)


def resolve(config: TrainConfig, data_shape: tuple[int, ...], num_classes: int | None = None) -> TrainConfig:
    """Fill every ``None`` with the objective's or the data's default (what config.json records).

    ``num_classes`` is the number of classes in the data's labels (None: the data has no labels).
    """
    objective = OBJECTIVES[config.objective]
    flat = len(data_shape) == 1
    if config.augment and len(data_shape) != 3:
        raise GankitError(f"augment applies to image data only; {config.data!r} has shape {data_shape}")
    if config.standardize and not flat:
        raise GankitError(
            f"standardize applies to toy (flat) data only; {config.data!r} has shape {data_shape} "
            "(images are already scaled to [-1, 1])"
        )
    if config.conditional and num_classes is None:
        raise GankitError(
            f"conditional needs labelled data (digits, an .npz with a 'labels' array, or a folder "
            f"with one sub-folder per class); {config.data!r} has no labels"
        )
    defaults: dict[str, Any] = {
        # images: batches of 64 (DCGAN's choice) keep a CPU step short; toy MLPs are cheap at 256
        "batch_size": 256 if flat else 64,
        "latent_dim": 2 if flat else 64,
        # conv base channels: 32 keep 8x8/16x16 images (digits) trainable on a CPU in minutes
        "width": 128 if flat else (32 if data_shape[-1] <= 16 else 64),
        "depth": 3 if flat else 1,  # images: convolutions per resolution (nets/dcgan.py)
        "betas": (0.5, 0.999),
        "clip_value": 0.01 if objective.uses_weight_clipping else 0.0,
        "gradient_penalty_weight": 10.0 if objective.uses_gradient_penalty else 0.0,
        "r1_gamma": 0.0,
        "r2_gamma": 0.0,
        **objective.defaults,
    }
    if flat and objective.uses_gradient_penalty:
        # The WGAN-GP reference code's toy experiments use lambda = 0.1 ("smaller lambda seems to
        # help for toy tasks"): with 10, a 2-D ring takes many thousands of steps to find its modes.
        defaults["gradient_penalty_weight"] = 0.1
    if config.model == "vae":  # the VAE baseline: Adam at Kingma & Welling's rate, no critic
        defaults |= {"optimizer": "adam", "g_lr": 1e-3, "d_lr": 1e-3, "betas": (0.9, 0.999)}
        defaults["critic_steps"] = 1
    if config.conditional:
        if config.num_classes not in (None, num_classes):
            raise GankitError(
                f"num_classes is {config.num_classes} but {config.data!r} has {num_classes} classes"
            )
        defaults["num_classes"] = num_classes
    values = to_dict(config)
    if config.model == "vae":
        values["monitors"] = False  # the live alarms watch GAN pitfalls; a VAE has none of them
    for key, default in defaults.items():
        if values.get(key) is None:
            values[key] = default
    if values["g_optimizer"] is None:
        values["g_optimizer"] = values["optimizer"]
    if config.r3gan_decay_steps and "adam" not in (values["optimizer"], values["g_optimizer"]):
        raise GankitError(
            "r3gan_decay_steps schedules Adam's beta2 as well as the rates, and this run trains with "
            f"{values['optimizer']}: add --optimizer adam, or leave the schedule off"
        )
    if values["d_width"] is None:
        values["d_width"] = values["width"]
    return from_dict(values)
