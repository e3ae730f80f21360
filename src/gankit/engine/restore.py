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
from gankit.rundir import CHECKPOINTS, load_latest_checkpoint, read_config


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
