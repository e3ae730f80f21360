"""The Python API for notebooks and scripts: the same engine as the ``gankit`` CLI.

    import gankit

    run = gankit.train(data="ring", objective="wgan-gp", steps=2000)   # a progress bar, then a Run
    x = run.sample(1000)                  # (1000, 2) NumPy array, the same for the same seed
    run.metrics                           # rows of metrics.jsonl: a list of dicts
    steps, w1 = run.metric("eval_w1")     # one column as NumPy arrays
    run.plot()                            # samples vs data, losses, W1 (a matplotlib Figure)
    run = gankit.resume(run.path, steps=4000)
    gankit.doctor(run)                    # what went wrong, by name
    gankit.figure("vanishing-gradients")  # a classic figure and the numbers behind it

A :class:`Run` is a view of a run directory (docs/architecture.md, "The run-directory package"):
everything it shows is read from ``config.json``, ``metrics.jsonl`` and the latest checkpoint, so
``gankit.load(path)`` in a new session sees exactly what ``gankit.train`` returned in the old one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.config import FINDING_NAMES, TrainConfig, build_config, from_dict
from gankit.errors import GankitError
from gankit.rundir import check_run_dir, default_run_dir, read_config, read_metrics

# `import gankit` loads only the modules above (and torch): each function below imports the engine,
# run assembly, plots, doctor or figures it needs when it is called.

LOSS_KEYS = ("d_loss", "g_loss", "loss", "reconstruction", "kl")  # GANs log the first two, VAEs the rest


class Run:
    """A trained (or training) run directory, seen from Python.

    Attributes:
        path: the run directory.
        stopped: why training ended early (a callback such as an alarm stopped it), else ``None``.
    """

    def __init__(self, path: str | Path, stopped: str | None = None):
        self.path = check_run_dir(path)
        self.stopped = stopped

    def __repr__(self) -> str:
        config = self.config
        where = str(self.path)
        return f"Run({where!r}, data={config.data!r}, {_what(config)}, step={self.step})"

    @property
    def config(self) -> TrainConfig:
        """The fully resolved config the run used (every default spelled out)."""
        return from_dict(read_config(self.path))

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl``, oldest first: one dict per logged step.

        Every row has ``step``, ``wall_time``, ``d_loss``, ``g_loss``, the gradient norms, and for
        classifier GANs ``p_real``/``p_fake``; ``eval_*`` keys (toy or image metrics) every
        ``eval_every`` steps.
        Non-finite values are ``None``. With pandas: ``pandas.DataFrame(run.metrics)``.
        """
        return read_metrics(self.path)

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one metric over training, skipping rows that do not have it.

        ``None`` (a non-finite value on disk) becomes NaN. Raises GankitError for a name that no
        row has, listing the names that exist.
        """
        rows = [row for row in self.metrics if name in row]
        if not rows:
            known = sorted({key for row in self.metrics for key in row})
            raise GankitError(f"no metric {name!r} in {self.path}; known: {', '.join(known) or 'none yet'}")
        steps = np.array([row["step"] for row in rows])
        values = np.array([np.nan if row[name] is None else row[name] for row in rows], dtype=np.float64)
        return steps, values

    @property
    def step(self) -> int:
        """The last logged step (0 before the first log)."""
        rows = self.metrics
        return int(rows[-1]["step"]) if rows else 0

    def sample(
        self,
        n: int,
        seed: int = 0,
        label: int | None = None,
        refine: str | None = None,
        **refine_options: Any,
    ) -> np.ndarray:
        """``n`` samples from the trained generator (EMA weights when the run used EMA), on the CPU.

        The noise comes from ``seed`` alone, so the same run and seed give the same array. Shape
        ``(n, *data_shape)``: ``(n, 1)`` for 1-D data, ``(n, 2)`` for 2-D, ``(n, C, H, W)`` for images.
        A conditional run draws class ``label`` (0..K-1), or without it the classes in turn
        (sample i is of class i mod K). ``refine="drs"`` or ``"mh"`` refines the samples with a
        discriminator (see :meth:`refine`; within each class for a conditional run), e.g.
        ``run.sample(2500, refine="drs")``;
        ``refine_options`` are :class:`gankit.refine.RefineOptions` fields (``scores="d"``,
        ``calibration="isotonic"``, ...).
        """
        if refine is not None:
            return self.refine(n, seed, method=refine, label=label, **refine_options).samples
        if refine_options:
            raise GankitError(f"{', '.join(refine_options)} need refine='drs' or refine='mh'")
        _check_count("n", n, minimum=1)
        _check_count("seed", seed, minimum=0)
        if label is not None:
            _check_count("label", label, minimum=0)
        from gankit.engine.loop import draw_samples
        from gankit.engine.restore import load_generator

        generator, config, _ = load_generator(self.path)
        return draw_samples(generator, n, config.latent_dim, seed, label=label).numpy()

    def refine(self, n: int, seed: int = 0, method: str = "drs", label: int | None = None, **options: Any):
        """``n`` samples refined at sampling time (DRS or MH-GAN, :mod:`gankit.refine`), with stats.

        Returns a :class:`gankit.refine.Refined`: ``.samples`` (exactly ``n``), ``.stats()``
        (acceptance rate, proposals and CPU ms per sample), ``.heldout`` (where its real points came
        from). The same seed gives the same samples. A conditional run is refined within each class:
        class ``label``, or the classes in turn as :meth:`sample` draws them.
        """
        from gankit.engine.restore import load_trainer
        from gankit.refine import RefineOptions, refine_trainer

        _check_count("n", n, minimum=1)
        _check_count("seed", seed, minimum=0)
        if label is not None:
            _check_count("label", label, minimum=0)
        try:
            refine_options = RefineOptions(method=method, **options)
        except TypeError:
            known = ", ".join(RefineOptions.__dataclass_fields__)
            raise GankitError(f"unknown refine option in {sorted(options)}; allowed: {known}") from None
        return refine_trainer(load_trainer(self.path), n, seed, refine_options, label=label)

    def discriminator_scores(self, x: np.ndarray) -> np.ndarray:
        """The trained discriminator's raw score for each point of ``x`` (shape ``(n, *data_shape)``).

        For the classifier GANs (minimax, ns) the score is a logit: D(x) = sigmoid(score) is the
        probability that x is real. For WGANs it is the critic's value f(x). Returns shape ``(n,)``.
        """
        from gankit.engine.restore import load_trainer

        trainer = load_trainer(self.path)
        if trainer.config.model != "gan":
            raise GankitError(f"{self.path} is a {trainer.config.model} run: it has no discriminator")
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if tuple(x.shape[1:]) != tuple(trainer.data.shape) or trainer.config.pack != 1:
            raise GankitError(
                f"x must have shape (n, {', '.join(map(str, trainer.data.shape))}) and the run pack=1; "
                f"got x of shape {tuple(x.shape)}, pack={trainer.config.pack}"
            )
        discriminator = trainer.discriminator.eval()
        with torch.no_grad():
            return discriminator(x).reshape(-1).numpy()

    def plot(self, n: int = 1000, seed: int = 0):
        """A matplotlib Figure: samples vs the data, the two losses, and (toy data) W1 over training.

        In a notebook the returned figure shows itself; in a script, ``run.plot().savefig("x.png")``.
        """
        from matplotlib.figure import Figure

        from gankit.data import load_data
        from gankit.engine.restore import model_label
        from gankit.report.plots import image_grid, plot_toy_samples, real_reference

        config = self.config
        fake = self.sample(n, seed)
        rows = self.metrics
        has_w1 = any(row.get("eval_w1") is not None for row in rows)
        figure = Figure(figsize=(13 if has_w1 else 9, 4), layout="constrained")
        axes = figure.subplots(1, 3 if has_w1 else 2)
        if fake.ndim > 2:  # images: a grid of the first 64
            grid = image_grid(fake[:64])
            axes[0].imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
            axes[0].axis("off")
        else:
            plot_toy_samples(axes[0], fake, real_reference(load_data(config.data), n, seed))
        axes[0].set_title(f"{model_label(config)} on {config.data}, step {self.step}", fontsize=10)
        for key in LOSS_KEYS:
            if any(key in row for row in rows):
                axes[1].plot(*self.metric(key), label=key)
        axes[1].set(xlabel="step", title="losses")
        if axes[1].lines:
            axes[1].legend(fontsize=8)
        if has_w1:
            steps, values = self.metric("eval_w1")
            axes[2].plot(steps, values, marker="o", color="#2a9d3a")
            axes[2].set(xlabel="step", title="W1(generated, data): lower is closer")
        return figure


def train(
    data: str | None = None,
    objective: str | None = None,
    steps: int | None = None,
    out: str | Path | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **config: Any,
) -> Run:
    """Train a GAN or WGAN and return its :class:`Run`; the same engine as ``gankit train``.

    Args:
        data: a toy data set (``ring``, ``grid``, ``gaussian-1d``, ``mixture-1d``, ...; see
            ``gankit list``) or image data. ``None``: the preset's or file's, else ``"ring"``.
        objective: ``minimax``, ``ns``, ``wgan``, ``wgan-gp``, ``hinge`` or ``lsgan``. ``None``:
            the preset's or file's, else ``"wgan-gp"``.
        steps: generator updates. ``None``: the preset's or file's, else 2000.
        out: the run directory to write; ``None`` makes ``runs/DATA-OBJECTIVE-TIME``.
        preset: a named recipe from :data:`gankit.presets.PRESETS` (e.g. ``"toy-fast"``).
        config_file: a TOML file of config keys.
        overwrite: replace ``out`` if it is an existing run directory.
        progress: show a progress bar (a widget in Jupyter, text elsewhere).
        **config: any other :class:`~gankit.config.TrainConfig` field, e.g. ``width=64``,
            ``critic_steps=5``, ``pack=2``, ``ema_decay=0.999``, ``seed=1``, or a monitor
            threshold by its config key, e.g. ``monitor_window=10`` (gankit.diagnose.thresholds).

    Precedence, lowest first: TrainConfig defaults < preset < config_file < arguments. Bad values
    raise :class:`~gankit.errors.GankitError` before anything is written.
    """
    from gankit.runs import assemble

    overrides = {"data": data, "objective": objective, "steps": steps, **config}
    resolved = build_config(preset=preset, file=config_file, overrides=overrides)
    out = default_run_dir(resolved.data, resolved.objective) if out is None else out
    result = assemble.train(resolved, out, overwrite=overwrite, progress=progress)
    return Run(result.path, result.stopped)


def resume(
    run_dir: str | Path | Run,
    steps: int | None = None,
    progress: bool = True,
    time_budget_s: float | None = None,
) -> Run:
    """Continue a run from its newest checkpoint, bit-exactly, optionally to a larger ``steps``.

    Training in stages (``train(steps=100)``, look, ``resume(steps=500)``, look, ...) gives the
    same numbers as one run of 500 steps. A run with a CPU ``time_budget_s`` continues with what is
    left of it; pass a larger ``time_budget_s`` to train on past it.
    """
    from gankit.runs import assemble

    result = assemble.resume(_path_of(run_dir), steps=steps, progress=progress, time_budget_s=time_budget_s)
    return Run(result.path, result.stopped)


def load(run_dir: str | Path) -> Run:
    """Open an existing run directory (written by ``gankit train`` or :func:`train`)."""
    return Run(run_dir)


@dataclass(frozen=True)
class FigureResult:
    """A classic figure: its PNG (shown inline in a notebook) and the numbers behind it."""

    name: str
    numbers: dict[str, Any]
    image: Path

    def __repr__(self) -> str:
        return f"FigureResult({self.name!r}, image={str(self.image)!r}, numbers=<{len(self.numbers)} keys>)"

    def _repr_png_(self) -> bytes:  # Jupyter displays the picture
        return self.image.read_bytes()


def figure(name: str, out: str | Path | None = None, quick: bool = False, seed: int = 0) -> FigureResult:
    """Run the classic figure ``name`` (see ``gankit list``); the same as ``gankit figure``.

    Writes ``NAME.png`` and ``NAME.json`` into ``out`` (``None``: a fresh temporary directory) and
    returns them as a :class:`FigureResult`. ``quick=True`` uses the small settings of the tests.
    """
    from gankit.experiments import run_figure

    out_dir = Path(tempfile.mkdtemp(prefix="gankit-figure-")) if out is None else Path(out)
    numbers = run_figure(name, out_dir, quick=quick, seed=seed)
    return FigureResult(name, numbers, out_dir / f"{name}.png")


class Diagnosis(dict):
    """The doctor's verdict: the dict of :func:`gankit.diagnose.doctor.diagnose`, which prints (and
    shows in a notebook) as the report ``gankit doctor`` prints.

    Keys: ``run_dir``, ``data``, ``objective``, ``last_step``, ``headline`` (how the run stands now,
    then what went wrong and when), ``verdict`` ("healthy" or "problems": is a finding open at the
    end?), ``open`` (their names), ``findings`` (episodes with name, step, ended, message,
    evidence and remedies), ``evaluations`` (rows with evaluated samples) and ``too_early`` (why the
    samples could not be judged yet, or None).
    """

    @property
    def names(self) -> list[str]:
        """The names of the pitfalls found at any time, e.g. ``["vanishing-gradients"]``; see ``open``."""
        return [finding["name"] for finding in self["findings"]]

    def remedies(self, name: str | None = None) -> list[dict]:
        """The remedies of open finding ``name`` (default: the first finding open at the end), best
        measured first, as the report lists them (gankit.diagnose.measured.ranked_remedies). Each
        entry's ``settings`` applies it: ``gankit.train(..., **(run_settings | entry["settings"]))``.
        Empty when the run is healthy."""
        open_findings = [f for f in self["findings"] if f.get("ended") is None]
        if name is not None and name not in FINDING_NAMES:
            raise GankitError(f"unknown finding {name!r}; the doctor's findings: {', '.join(FINDING_NAMES)}")
        chosen = [f for f in open_findings if name is None or f["name"] == name]
        return list(chosen[0]["ranked_remedies"]) if chosen else []

    def __str__(self) -> str:
        from gankit.diagnose.doctor import format_diagnosis

        return format_diagnosis(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython / Jupyter display
        printer.text(str(self))


def doctor(run: str | Path | Run) -> Diagnosis:
    """Diagnose a run from its run directory: the pitfalls found (vanishing gradients, an overpowering
    discriminator, mode collapse, divergence, no progress), their evidence and remedies. The same as
    ``gankit doctor``; ``print(gankit.doctor(run))`` shows its report.
    """
    from gankit.diagnose.doctor import diagnose

    return Diagnosis(diagnose(_path_of(run)))


def _what(config: TrainConfig) -> str:
    return f"objective={config.objective!r}" if config.model == "gan" else f"model={config.model!r}"


def _path_of(run: str | Path | Run) -> Path:
    return run.path if isinstance(run, Run) else Path(run)


def _check_count(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise GankitError(f"{name} must be an integer >= {minimum}, got {value!r}")
