"""Training the VAE baseline (``--model vae``) through the GAN trainer's machinery.

:class:`VAETrainer` is a :class:`~gankit.engine.loop.Trainer` whose step is one ELBO update instead of
critic and generator updates, so everything around training (run directory, metrics.jsonl,
checkpoints and exact resume, sample grids, ``gankit sample`` / ``gankit eval``) works unchanged.
It fills the trainer's slots as follows: ``generator`` = the decoder (what samples come from),
``discriminator`` = the encoder (the network that reads images), each with its own Adam; the VAE
code calls the encoder by its name, :attr:`VAETrainer.encoder`, a read-only view of that slot. The
slot keeps the Trainer's name because the shared machinery (``d_optimizer``, the checkpoint's
"discriminator" key, the monitors) reads it there, so checkpoints are the same as before. Adam is
per-parameter, so two optimisers stepping on one loss are the same as one optimiser over both.

Same budget as a GAN run: ``steps`` updates of ``batch_size`` real images each (a WGAN-GP run
also spends ``critic_steps`` critic updates per step; the VAE has no critic).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gankit.config import TrainConfig
from gankit.engine.loop import Trainer
from gankit.engine.step import grad_norm
from gankit.errors import GankitError
from gankit.nets.vae import build_vae, vae_loss


class VAETrainer(Trainer):
    """Owns the encoder, decoder, their optimisers and the training RNG of one VAE run."""

    def __init__(self, config: TrainConfig, data, device: torch.device | str = "cpu", parallel=None):
        if len(data.shape) != 3:
            raise GankitError(
                f"--model vae needs image data (C, H, W); {config.data!r} has shape {data.shape}"
            )
        unsupported = [name for name in ("compile", "amp", "channels_last") if getattr(config, name) is True]
        if parallel is not None:
            unsupported.append("torchrun")
        if unsupported:
            raise GankitError(f"--model vae does not support {', '.join(unsupported)}; train it without")
        self.config = config
        self.data = data
        self.device = torch.device(device)
        self.parallel = None
        self.objective = None  # no adversarial objective
        # The decoder plays the generator's part (it maps z to images); the encoder takes D's slot.
        self._init_players(lambda: tuple(reversed(build_vae(config, tuple(data.shape)))))

    @property
    def encoder(self) -> torch.nn.Module:
        """The encoder q(z | x), held in the Trainer's ``discriminator`` slot (see the module docstring)."""
        return self.discriminator

    def train_step(self) -> dict[str, Tensor]:
        """One ELBO update of encoder and decoder on a fresh real batch."""
        x = self.data.sample(self.config.batch_size, self.rng)
        stats = vae_loss(self.encoder, self.generator, x, self.rng)
        self.g_optimizer.zero_grad(set_to_none=True)
        self.d_optimizer.zero_grad(set_to_none=True)
        stats["loss"].backward()
        norms = {
            "decoder_grad_norm": grad_norm(self.generator),
            "encoder_grad_norm": grad_norm(self.encoder),
        }
        self.g_optimizer.step()
        self.d_optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.generator)
        self.step += 1
        return {key: value.detach() for key, value in stats.items()} | norms
