"""The monitors' thresholds: each one's name, default, meaning and allowed range, in one place.

A new threshold is a field here (and the monitor that reads it, as ``self.thresholds.NAME``);
docs/doctor.md's table of them is written from these fields (scripts/doctor_examples.py).

A run sets a threshold as the config key ``monitor_NAME`` (``monitor_window = 10`` in a
``--config`` TOML file or a sweep spec's tables, ``gankit.train(..., monitor_window=10)``), and
config.json spells every one out under that key. The config layer sits below diagnose, so it keeps
the values without knowing them: :class:`~gankit.config.TrainConfig` holds them as the plain dict
``monitor`` (``{"window": 10}``), and they are checked here, by :meth:`Thresholds.of`, wherever a
config meets the monitors: before a run is trained or resumed (gankit.runs.assemble, with
:func:`spelled_out`), when a sweep spec is read, and when the doctor replays a run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from gankit.config import MONITOR_KEY, TrainConfig
from gankit.errors import GankitError

# What a threshold must be; the text is the error's ("monitor_window must be > 0, got 0").
RANGES = {
    "> 0": lambda value: value > 0,
    ">= 0": lambda value: value >= 0,
    "in (0, 1)": lambda value: 0 < value < 1,
    ">= 3 (evaluations)": lambda value: value >= 3,
}


def threshold(default: int | float, must_be: str, meaning: str) -> Any:
    """A field of :class:`Thresholds`: its default, its range (a key of RANGES) and what it means
    (the docs' table says it as written here)."""
    return field(default=default, metadata={"must_be": must_be, "meaning": meaning})


@dataclass(frozen=True)
class Thresholds:
    """Every monitor threshold of a run. Windows count logged rows, so they scale with log_every."""

    window: int = threshold(5, "> 0", "logged rows in a row a row-based condition must hold")
    vanishing_ratio: float = threshold(
        0.01, "in (0, 1)", "vanishing-gradients: g_grad_norm below this fraction of its peak"
    )
    d_confidence: float = threshold(
        0.95,
        "in (0, 1)",
        "discriminator-overpowers: D(real) at least this, D(fake) at most 1 - this; "
        "vanishing-gradients (classifiers): D(fake) at most 1 - this",
    )
    critic_gap_growth: float = threshold(
        10.0, "> 0", "discriminator-overpowers (critics): gap above this x its early level"
    )
    gradient_penalty: float = threshold(
        1.0, "> 0", "discriminator-overpowers (wgan-gp): ... and the gradient penalty above this"
    )
    lipschitz_norm: float = threshold(
        100.0, "> 0", "discriminator-overpowers (wgan-gp): or critic gradient norms past this"
    )
    modes_fraction: float = threshold(
        0.5, "in (0, 1)", "mode-collapse (toy): at most this fraction of the modes covered ..."
    )
    mode_quality: float = threshold(
        0.5, "in (0, 1)", "mode-collapse (toy): ... while at least this fraction of samples are good"
    )
    diversity_ratio: float = threshold(
        0.5, "in (0, 1)", "mode-collapse (any data): eval_diversity at or below this"
    )
    warmup: int = threshold(1000, ">= 0", "mode-collapse (any data): steps before eval_diversity is judged")
    patience: int = threshold(1000, ">= 0", "no-progress: steps without a new best")
    min_improvement: float = threshold(
        0.05, "in (0, 1)", "no-progress: relative improvement that counts as a new best"
    )
    progress_level: float = threshold(
        0.5, "in (0, 1)", "no-progress: only while the latest value is above this x the worst"
    )
    oscillation_window: int = threshold(8, ">= 3 (evaluations)", "oscillation: evaluations it is judged over")
    oscillation_swing: float = threshold(
        0.3, "> 0", "oscillation: a swing is a change above this x the scale (modes; max W1)"
    )
    oscillation_reversals: int = threshold(
        2, "> 0", "oscillation: swings must reverse direction at least this often"
    )
    # image runs with a validation part (validation_fraction > 0): what only held-out reals can show
    overfit_sign: float = threshold(
        0.6, "in (0, 1)", "discriminator-overfits: ADA's r_t on the training reals at least this ..."
    )
    overfit_heldout: float = threshold(
        0.5,
        "in (0, 1)",
        "discriminator-overfits: ... while held-out reals score at most this of the way from the fakes "
        "to the training reals",
    )
    memorisation_ratio: float = threshold(
        0.5,
        "in (0, 1)",
        "memorisation: samples' median distance to the nearest training image at most this x held-out reals'",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            key, value = MONITOR_KEY + f.name, getattr(self, f.name)
            expected = int if f.type == "int" else (int, float)  # an int where a float belongs is fine
            if isinstance(value, bool) or not isinstance(value, expected):
                raise GankitError(f"{key} has the wrong type: {value!r}; expected {f.type}")
            if f.type == "float":
                value = float(value)
                object.__setattr__(self, f.name, value)
                if not math.isfinite(value):
                    raise GankitError(f"{key} must be a finite number, got {value}")
            elif abs(value) > 2**62:
                raise GankitError(f"{key} is too large: {value}")
            must_be = f.metadata["must_be"]
            if not RANGES[must_be](value):
                raise GankitError(f"{key} must be {must_be}, got {value}")

    @classmethod
    def of(cls, config: TrainConfig) -> Thresholds:
        """A run's thresholds: those its config sets (``config.monitor``), the defaults for the rest."""
        unknown = sorted(str(name) for name in config.monitor if name not in NAMES)
        if unknown:
            key, allowed = MONITOR_KEY + unknown[0], ", ".join(CONFIG_KEYS)
            raise GankitError(f"unknown config key {key!r}; allowed thresholds: {allowed}")
        return cls(**config.monitor)

    def as_dict(self) -> dict[str, int | float]:
        """Every threshold by name, in field order: what ``TrainConfig.monitor`` holds when spelled out."""
        return asdict(self)


NAMES = tuple(f.name for f in fields(Thresholds))
CONFIG_KEYS = tuple(MONITOR_KEY + name for name in NAMES)  # the keys a config file or spec sets


def spelled_out(config: TrainConfig) -> TrainConfig:
    """``config`` with every threshold checked and spelled out, as config.json records a run's config."""
    return config.replace(monitor=Thresholds.of(config).as_dict())
