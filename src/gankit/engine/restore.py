"""Building a trainer for a config, and loading one back from a run directory's checkpoint.

The low-level half of a run: what ``gankit sample``, ``gankit eval`` and the Python API need to get
a trained generator back, without any of the callbacks that :mod:`gankit.runs.assemble` wires into a
training run.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.config import TrainConfig, from_dict, resolve
from gankit.data import load_data
from gankit.data.images import holdout_part
from gankit.engine.loop import Trainer
from gankit.engine.sampling import draw_samples
from gankit.engine.vae import VAETrainer
from gankit.errors import GankitError
from gankit.rundir import (
    CHECKPOINTS,
    checkpoint_path,
    checkpoint_step,
    list_checkpoints,
    load_checkpoint_file,
    load_latest_checkpoint,
    read_config,
)


def make_trainer(config: TrainConfig, data, device, parallel=None) -> Trainer:
    """The trainer for ``config.model``: the GAN trainer, or the VAE baseline's (gankit.engine.vae)."""
    if config.model == "vae":
        return VAETrainer(config, data, device, parallel=parallel)
    return Trainer(config, data, device, parallel=parallel)


def model_label(config: TrainConfig) -> str:
    """How plots name what was trained: the objective for a GAN, "vae" for the VAE baseline."""
    return "vae" if config.model == "vae" else config.objective


def load_train_data_and_config(config: TrainConfig):
    """Load the data (its train part under ``validation_fraction``) and resolve every default;
    raises GankitError on bad input."""
    data = load_data(config.data, config.image_size)
    if config.validation_fraction > 0:
        data = holdout_part(data, config.validation_fraction, "train")
    return data, resolve(config, tuple(data.shape), getattr(data, "num_classes", None))


def load_trainer_state(trainer: Trainer, state: dict, path: Path) -> None:
    """Put a checkpoint's state into ``trainer``; a mismatch is the user's problem, said in one line."""
    try:
        trainer.load_state_dict(state)
    except KeyError as error:
        raise GankitError(f"the checkpoint in {path} has no {error} (from another gankit version?)") from None
    except (RuntimeError, ValueError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GankitError(f"the checkpoint in {path} does not match its config.json: {first}") from None


def load_trainer(path: str | Path) -> Trainer:
    """A CPU trainer holding a run directory's latest checkpoint (both networks, for looking inside)."""
    config = from_dict(read_config(path))
    data, resolved = load_train_data_and_config(config)
    trainer = make_trainer(resolved, data, "cpu")
    state = load_latest_checkpoint(Path(path) / CHECKPOINTS, map_location="cpu")
    if state is None:
        raise GankitError(f"{path} has no usable checkpoint (train it first)")
    load_trainer_state(trainer, state, Path(path))
    return trainer


def load_generator(path: str | Path) -> tuple[torch.nn.Module, TrainConfig, object]:
    """The trained generator (EMA weights when the run used EMA) of a run directory, on the CPU."""
    trainer = load_trainer(path)
    return trainer.sampler, trainer.config, trainer.data


def sample_run(path: str | Path, n: int, seed: int) -> torch.Tensor:
    """``n`` samples of a run's generator, deterministic for ``seed``."""
    generator, config, _ = load_generator(path)
    return draw_samples(generator, n, config.latent_dim, seed)


def kept_checkpoint_steps(run_dir: str | Path) -> list[int]:
    """The steps of a run directory's kept checkpoints, oldest first."""
    return [checkpoint_step(path) for path in list_checkpoints(Path(run_dir) / CHECKPOINTS)]


def checkpoint_after_detection(steps: list[int], detected_at: int) -> int:
    """Where a run is resumed to fix a finding the doctor detected at ``detected_at``: the first of the
    checkpoint ``steps`` at or after it (the first state the doctor had flagged), else the latest.
    ``gankit train --init-from`` without a step, the doctor's init-from remedies and
    benchmarks/remedies.py all use this rule."""
    later = [step for step in steps if step >= detected_at]
    return min(later) if later else max(steps)


def checkpoint_at_or_before(run_dir: str | Path, step: int) -> int:
    """The newest kept checkpoint of ``run_dir`` at or before ``step``; GankitError when there is none."""
    steps = kept_checkpoint_steps(run_dir)
    earlier = [kept for kept in steps if kept <= step]
    if not earlier:
        kept = ", ".join(str(kept) for kept in steps) or "none"
        raise GankitError(
            f"{run_dir} keeps no checkpoint at or before step {step} (kept: {kept}); "
            "train it with a larger --keep-checkpoints to start from an earlier one"
        )
    return earlier[-1]


def load_initial_weights(trainer: Trainer, run_dir: str | Path, step: int) -> None:
    """Put G's, D's and G's EMA weights of ``run_dir``'s checkpoint at ``step`` into a new trainer.

    Only the weights: the optimisers, the RNG and the step count stay the new run's own, so the new
    config (another learning rate, objective or term) trains from step 0 as a run of its own would,
    only from these weights. Without an EMA in the checkpoint the new run's EMA starts as G. The
    networks must have the same shapes (width, depth, latent_dim, pack, ...): a mismatch is one line.
    """
    path = checkpoint_path(Path(run_dir) / CHECKPOINTS, step)
    state = load_checkpoint_file(path, map_location=trainer.device)
    try:
        trainer.generator.load_state_dict(state["generator"])
        trainer.discriminator.load_state_dict(state["discriminator"])
        if trainer.ema is not None and "ema" in state:
            trainer.ema.load_state_dict(state["ema"])
        elif trainer.ema is not None:  # the average starts as G (its first update copies G anyway)
            trainer.ema.module.load_state_dict(trainer.generator.state_dict())
    except KeyError as error:
        raise GankitError(f"checkpoint {path} has no {error} (from another gankit version?)") from None
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GankitError(
            f"cannot start from {path}: its networks differ from this run's ({first.rstrip(':.')}); "
            "--init-from keeps the architecture: the same width, d_width, depth, latent_dim, latent, pack, "
            "standardize, spectral_norm and conditional"
        ) from None
