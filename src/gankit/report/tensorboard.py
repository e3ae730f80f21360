"""``--tensorboard``: mirror a run's metrics rows and sample pictures into RUN_DIR/tb/ for TensorBoard.

The run directory stays the source of truth; this callback only copies what the trainer already
logged (each metrics row, each new picture in RUN_DIR/samples) into TensorBoard's event files.
Needs the optional ``tensorboard`` package: ``pip install 'gankit[tensorboard]'``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from gankit.engine.loop import Callback, Trainer
from gankit.errors import GankitError
from gankit.rundir import TENSORBOARD, list_samples, sample_step

# TensorBoard groups scalars by the part of the tag before "/": one panel per kind of number.
_GROUPS = {
    "d_loss": "loss",
    "g_loss": "loss",
    "d_real": "discriminator",
    "d_fake": "discriminator",
    "p_real": "discriminator",
    "p_fake": "discriminator",
    "d_grad_norm": "gradients",
    "g_grad_norm": "gradients",
    "gradient_penalty": "gradients",
}


def scalar_tag(key: str) -> str:
    """``d_loss -> loss/d_loss``, ``eval_w1 -> eval/w1``; other keys go to ``other/``."""
    if key.startswith("eval_"):
        return f"eval/{key[5:]}"
    return f"{_GROUPS.get(key, 'other')}/{key}"


def require_tensorboard() -> None:
    """A clear error, before training starts, when the optional package is missing."""
    try:
        importlib.import_module("tensorboard")
    except ImportError:
        raise GankitError(
            "--tensorboard needs the tensorboard package: pip install 'gankit[tensorboard]'"
        ) from None


class TensorBoardWriter(Callback):
    """Writes every logged row's numbers as scalars and every new sample picture as an image."""

    def __init__(self, run_dir: str | Path):
        require_tensorboard()
        self.run_dir = Path(run_dir)
        self.writer = None
        self.first_step: int | None = None  # the first step this process trains
        self.written: set[str] = set()

    def on_step(self, trainer: Trainer) -> None:
        if self.first_step is None:
            self.first_step = trainer.step

    def _open(self):
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter  # the optional tensorboard package

            # Opened at the first row, not in __init__: the run directory must not exist before the
            # trainer creates it. A resumed run hides what a crashed process logged past its
            # checkpoint (purge_step), as metrics.jsonl drops those rows, and does not repeat the
            # sample pictures TensorBoard already has.
            log_dir = self.run_dir / TENSORBOARD
            resumed = log_dir.exists()
            self.writer = SummaryWriter(str(log_dir), purge_step=self.first_step if resumed else None)
            if resumed:
                self.written = {p.name for p in self._pictures() if sample_step(p) < self.first_step}
        return self.writer

    def on_log(self, trainer: Trainer, row: dict) -> None:
        writer = self._open()
        for key, value in row.items():
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if is_number and key not in ("step", "wall_time"):
                writer.add_scalar(scalar_tag(key), value, row["step"])
        self._add_new_samples(writer)
        writer.flush()

    def _pictures(self) -> list[Path]:
        return [p for p in list_samples(self.run_dir) if sample_step(p) is not None]

    def _add_new_samples(self, writer) -> None:
        from PIL import Image  # ~110 ms, only once a sample picture is written

        for picture in self._pictures():
            if picture.name in self.written:
                continue
            with Image.open(picture) as image:
                pixels = np.asarray(image.convert("RGB"))
            writer.add_image("samples", pixels, sample_step(picture), dataformats="HWC")
            self.written.add(picture.name)

    def on_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self._add_new_samples(self.writer)
            self.writer.close()
            self.writer = None
