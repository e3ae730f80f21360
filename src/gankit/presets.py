"""Named recipes (``--preset NAME``) and data-aware defaults: each a set of overrides on the
dataclass defaults of :class:`gankit.config.TrainConfig`; the comment above a recipe says what was
measured to choose it.

:func:`gankit.config.build_config` applies a preset, or with none the data-aware default for the
run's data and objective, below a config file and the command-line flags. ``--preset paper`` is the
empty recipe: the papers' settings, which the lesson's experiments use.
"""

from __future__ import annotations

from typing import Any

# Every mode of the ring and the grid (docs/benchmarks/refinement_modes.md): toy-best with its
# networks in standardised units (the grid spans +-4 while an untrained MLP outputs unit scale) and
# batches of 512. In probes on unseen grid seeds (docs/refinement.md), toy-best stalled at 19-20
# modes for 30,000 steps (4 of 4 seeds); standardised nets alone, or batches of 512 alone, found all
# 25 by 30,000 steps in 2 of 4; both together in 6 of 6 by 50,000. 70,000 steps let the modes found
# late tighten; evaluations every 2,500 steps keep a run within 10 CPU-minutes.
TOY_MODES: dict[str, Any] = {
    "objective": "ns",
    "steps": 70000,
    "batch_size": 512,
    "g_lr": 1e-3,
    "d_lr": 1e-3,
    "pack": 2,
    "latent_dim": 8,
    "ema_decay": 0.999,
    "standardize": True,
    "eval_every": 2500,
    "sample_every": 10000,
}


# Named recipes: a preset is a set of overrides on top of the dataclass defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},  # the TrainConfig defaults (each objective's paper settings), no data-aware default
    "toy-fast": {"steps": 1000, "width": 128, "depth": 3, "batch_size": 256},
    # Mode coverage on ring/grid (docs/benchmarks/mode_coverage.md): PacGAN packing against mode
    # collapse, a larger learning rate to reach the modes sooner, an 8-D latent (a 2-D one must be
    # folded onto 25 separate modes), and long training with a generator EMA over ~1,000 steps that
    # averages out the jitter around each mode once the map has settled.
    "toy-best": {
        "objective": "ns",
        "steps": 50000,
        "g_lr": 1e-3,
        "d_lr": 1e-3,
        "pack": 2,
        "latent_dim": 8,
        "ema_decay": 0.999,
    },
    "toy-modes": TOY_MODES,
    # Mode coverage from the generator alone (chosen on the seeds of docs/benchmarks/refinement_cover.md;
    # measured held out in docs/benchmarks/refinement_cover_report.md): toy-modes with IMLE's
    # coverage term in G's loss (objectives.nearest_sample_loss) over the whole run, its weight falling
    # linearly from 10 to 0 at the last step, so a mode G has not reached (or has dropped) pulls mass
    # across the gap while the adversarial game sharpens the modes. Both learning rates fall linearly
    # to 0 from step 20,000: at constant rates one grid run of five broke late (~65,000 steps). In
    # probes on unseen grid seeds (docs/refinement.md) every mode was found by 7,500-10,000 steps
    # (toy-modes: the last at 20,000-57,500 steps, or never); with the term ending at 20,000 steps,
    # one seed of three then dropped modes (18 of 25 at 50,000 steps); with the term kept to the end
    # the same seed held all 25 from 7,500 steps on. 50,000 steps: 504-547 CPU-s a run at one thread.
    "toy-cover": {
        **TOY_MODES,
        "steps": 50000,
        "lr_decay_start": 20000,
        "coverage_weight": 10.0,
        "coverage_steps": 0,  # the whole run
    },
    # The image recipe that measured best on the 8x8 digits at an equal CPU budget: the non-saturating
    # GAN with batch-norm D and its tuned learning rates. Spectral norm, R1 and DiffAugment, each
    # searched the same way, all scored a clearly worse test FID (docs/benchmarks/images_regularisers.md),
    # and WGAN-GP trails too (docs/benchmarks/images.md: test FID 11.9 against ns's 8.9 at 600 CPU-s).
    # These learning rates are the better of two independent 8-trial searches of plain ns (test FID
    # 12.2 against 13.8 on 5 fresh seeds at 60 CPU-s).
    "digits": {"data": "digits", "objective": "ns", "batch_size": 64, "g_lr": 2.1e-3, "d_lr": 3.9e-3},
    # Fashion-MNIST at 28x28 within 15 CPU-minutes at one thread (docs/benchmarks/fashion_preset.md):
    # the non-saturating GAN with width-32 DCGAN networks (width 64 costs ~1 s a step here) and the
    # learning rates of the 3 x 3 design cell with the lowest validation FID on tuning seed 0. At 2,400
    # steps its validation FID was still falling (report seeds 200-204: test FID 49.0), so it trains
    # twice as long, at the default precision (amp = auto; bf16 against fp32 on the tuning seeds: no
    # difference shown), stopping earlier at 840 training CPU-s where a step costs more. On report
    # seeds 210-214: all 10 classes in every seed, settled, 11.2 CPU-minutes a run (bf16 here), test
    # FID 35.9 [31.7, 40.1] (shipped Fashion-MNIST features; real test images at equal n: 4.5).
    "fashion": {
        "data": "fashion-mnist",
        "objective": "ns",
        "width": 32,
        "batch_size": 64,
        "g_lr": 3e-3,
        "d_lr": 1e-3,
        "steps": 4800,
        "eval_every": 200,
        "time_budget_s": 840,
    },
    # Stacked digits (issue #39's goal: all 1,000 modes at KL <= 0.03 in <= 15 CPU-minutes). The recipe
    # of docs/benchmarks/stacked_digits_long.md (ns with G's EMA and the learning rates its search
    # chose) with the networks benchmarks/stacked_digits_preset.py chose on tuning seeds 0 and 1 at
    # equal training CPU: width 48, D as wide (mean KL 0.053 against width 32's 0.080), for the
    # 18,000 steps its runs trained in 780 CPU-seconds. On report seeds 500-504 every run found all
    # 1,000 modes at KL 0.048-0.058 in at most 10.9 CPU-minutes, above the goal's 0.03
    # (docs/benchmarks/stacked_digits_preset.md).
    "stacked-digits": {
        "data": "stacked-digits",
        "objective": "ns",
        "width": 48,
        "batch_size": 64,
        "g_lr": 2e-3,
        "d_lr": 7.7e-3,
        "ema_decay": 0.999,
        "steps": 18000,
        "eval_every": 1000,  # each evaluation samples and scores images: every 1,000 of 18,000 steps
    },
}


# Data-aware defaults: what `gankit train --data DATA --objective OBJECTIVE` trains with no --preset.
# {data: {objective: recipe}}; a pair not listed keeps the papers' settings (--preset paper). Each
# recipe is measured by benchmarks/toy_defaults.py on report seeds nobody tuned on
# (docs/benchmarks/toy_defaults.md). The grid's: toy-modes' design (chosen for ns, docs/refinement.md)
# with the objective swapped. Probes on tuning seed 7 (one run each, `--preset toy-modes --objective X
# --seed 7`): hinge found all 25 modes by 15,000 steps, lsgan by 10,000, and wgan-gp with one critic
# step (its paper's five make a step ~5x dearer) by 7,500 at ~10 ms of CPU a step (95 % high quality
# at 27,500), and rpgan (R1 and R2 at their defaults) by 7,500 at ~12 ms a step (94 % at 12,500): both
# stop at 35,000 steps to stay within 10 CPU-minutes.
_GRID = {key: value for key, value in TOY_MODES.items() if key != "objective"}
DATA_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "grid": {
        "ns": _GRID,
        "hinge": _GRID,
        "lsgan": _GRID,
        "wgan-gp": _GRID | {"critic_steps": 1, "steps": 35000},
        "rpgan": _GRID | {"steps": 35000},
    },
}


def data_default(data: str, objective: str) -> dict[str, Any]:
    """The measured recipe for ``data`` and ``objective`` ({} where none was measured)."""
    return dict(DATA_DEFAULTS.get(data, {}).get(objective, {}))
