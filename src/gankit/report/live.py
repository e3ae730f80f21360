"""The live view: watch a run learn in the browser while it trains.

Two halves that meet in the run directory, so ``gankit watch RUN_DIR`` works from another process:

    LiveField   a trainer callback; at every log step it writes RUN_DIR/live.json (atomically), a small
                snapshot of what the networks do right now. 2-D data: real points, generated points, the
                discriminator's/critic's output on a grid over the plane (the heat map) and, for every
                generated point, the push  -dL_G/dx  that the generator's loss puts on it (the arrows).
                1-D data: data density, generator density and D(x) on a line (Goodfellow et al. 2014,
                figure 1). Images: only the step (the page shows the newest sample grid).
    LiveServer  a stdlib ``http.server`` on 127.0.0.1 serving one page (inline JavaScript, nothing from
                the network) that polls ``/api/state`` and redraws the curves and the picture.

The snapshot draws its real points and its noise from fixed seeds of its own: the same z is shown at
every step (so each generated point moves smoothly) and the training RNG is never touched, so
watching a run does not change its numbers.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import torch
from torch import Tensor, nn

from gankit.engine.loop import Callback, Trainer
from gankit.errors import GankitError
from gankit.report.tensorboard import TensorBoardWriter
from gankit.rundir import (
    CONFIG,
    LIVE,
    atomic_write_bytes,
    check_run_dir,
    dumps,
    list_samples,
    read_findings,
    read_metrics,
)

# --- what the page draws: pure functions of the networks -------------------------------------


def scores_at(discriminator: nn.Module, points: Tensor) -> Tensor:
    """D's raw score at each point, ``(n, dim) -> (n,)``.

    A PacGAN discriminator scores ``pack`` samples at once; a point is scored as a pack of copies of
    itself, which is what D says about a region where every sample lands on that point.
    """
    pack = getattr(discriminator, "pack", 1)
    return discriminator(points.repeat_interleave(pack, dim=0) if pack > 1 else points)


def generator_push(discriminator: nn.Module, generator_loss, fake: Tensor) -> Tensor:
    """The push the generator's loss puts on each generated sample: ``-dL_G/dx_i``, shape of ``fake``.

    ``L_G`` is a mean over the batch, so its gradient shrinks with the batch size; we differentiate
    the *sum* of the per-score losses, ``m * L_G`` for ``m`` scores, so each arrow is the sample's own
    gradient whatever the number of points drawn. With s = D's score at x:

        minimax  L_G = log(1 - sigmoid(s))  ->  push = sigmoid(s) * ds/dx      (-> 0 when D rejects x)
        ns       L_G = -log sigmoid(s)      ->  push = (1 - sigmoid(s)) * ds/dx
        wgan     L_G = -s                   ->  push = ds/dx                   (the critic's slope)

    Only ``fake`` is differentiated: the networks' parameter gradients are left untouched.
    """
    fake = fake.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = discriminator(fake)
        loss = generator_loss(scores) * scores.numel()
        (gradient,) = torch.autograd.grad(loss, fake)
    return -gradient


def view_box(real: np.ndarray, fake: np.ndarray, margin: float = 1.25, reach: float = 3.0) -> np.ndarray:
    """A square box ``[x0, x1, y0, y1]`` around the real points that also shows the generated ones.

    The box is the real points' box grown by ``margin``, widened to take in generated points but never
    beyond ``reach`` times the real box (one diverging sample must not shrink the picture to a dot).
    """
    low, high = real.min(axis=0), real.max(axis=0)
    center = (low + high) / 2
    half = max(float((high - low).max()) / 2, 1e-3) * margin
    finite = fake[np.isfinite(fake).all(axis=1)]
    if len(finite):
        needed = float(np.abs(finite - center).max()) * 1.05
        half = min(max(half, needed), half * reach)
    return np.array([center[0] - half, center[0] + half, center[1] - half, center[1] + half])


def _output(scores: Tensor, is_classifier: bool) -> Tensor:
    """What the heat map shows: D(x) = sigmoid(score) for a classifier, the raw critic value otherwise."""
    return torch.sigmoid(scores) if is_classifier else scores


def _rounded(values: Tensor | np.ndarray, digits: int = 4) -> list:
    """A JSON-ready list; NaN and infinity become None (JSON has neither)."""
    array = np.round(np.asarray(values, dtype=np.float64), digits)
    return np.where(np.isfinite(array), array, None).tolist()


def field_2d(
    generator: nn.Module,
    discriminator: nn.Module,
    objective,
    real: Tensor,
    noise: Tensor,
    grid_size: int = 48,
) -> dict:
    """The GAN-Lab picture of 2-D data: points, D's output over the plane, and the generator's push.

    ``heat[i][j]`` is D's output at ``x = xs[j], y = ys[i]`` (row 0 at the bottom, ``y0``).
    """
    with torch.no_grad():
        fake = generator(noise)
    push = generator_push(discriminator, objective.generator_loss, fake)
    real_np, fake_np = real.cpu().numpy(), fake.cpu().numpy()
    x0, x1, y0, y1 = view_box(real_np, fake_np)
    xs = torch.linspace(x0, x1, grid_size, device=real.device)
    ys = torch.linspace(y0, y1, grid_size, device=real.device)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        heat = _output(scores_at(discriminator, grid), objective.is_classifier).reshape(grid_size, grid_size)
    push_norms = push.norm(dim=1)
    return {
        "kind": "2d",
        "output": "probability" if objective.is_classifier else "critic",
        "box": _rounded([x0, x1, y0, y1]),
        "heat": _rounded(heat.cpu()),
        "real": _rounded(real_np),
        "fake": _rounded(fake_np),
        "push": _rounded(push.cpu(), 6),
        "push_median": float(push_norms.median()) if push_norms.isfinite().all() else None,
    }


def field_1d(
    generator: nn.Module,
    discriminator: nn.Module,
    objective,
    real: Tensor,
    noise: Tensor,
    bins: int = 60,
    resolution: int = 200,
) -> dict:
    """Goodfellow et al.'s picture of 1-D data: data density, generator density and D(x) on one line.

    Densities are normalised histograms over the same ``bins`` bins; D is evaluated at ``resolution``
    points ``xs``.
    """
    with torch.no_grad():
        fake = generator(noise)
    real_np, fake_np = real.cpu().numpy()[:, 0], fake.cpu().numpy()[:, 0]
    box = view_box(np.stack([real_np, real_np], 1), np.stack([fake_np, fake_np], 1))
    low, high = float(box[0]), float(box[1])
    edges = np.linspace(low, high, bins + 1)
    real_density, _ = np.histogram(real_np, edges, density=True)
    finite = fake_np[np.isfinite(fake_np)]
    fake_density = np.histogram(finite, edges, density=True)[0] if len(finite) else np.zeros(bins)
    xs = torch.linspace(low, high, resolution, device=real.device)
    with torch.no_grad():
        output = _output(scores_at(discriminator, xs[:, None]), objective.is_classifier)
    return {
        "kind": "1d",
        "output": "probability" if objective.is_classifier else "critic",
        "edges": _rounded(edges),
        "real_density": _rounded(real_density),
        "fake_density": _rounded(np.nan_to_num(fake_density)),
        "xs": _rounded(xs.cpu()),
        "d": _rounded(output.cpu()),
    }


class LiveField(Callback):
    """Writes RUN_DIR/live.json at every log step: the picture the live page draws (see module doc)."""

    def __init__(self, run_dir: str | Path, points: int = 256, grid_size: int = 48, seed: int = 20140610):
        self.path = Path(run_dir) / LIVE
        self.points, self.grid_size, self.seed = points, grid_size, seed
        self._inputs: tuple[Tensor, Tensor] | None = None

    def _fixed_inputs(self, trainer: Trainer) -> tuple[Tensor, Tensor]:
        """Real points and noise drawn once from this callback's own seed (the same at every step)."""
        if self._inputs is None:
            pack = getattr(trainer.discriminator, "pack", 1)
            count = pack * math.ceil(self.points / pack)  # a PacGAN D scores whole packs only
            rng = torch.Generator().manual_seed(self.seed)
            real = trainer.data.sample(2 * count, rng).to(trainer.device)
            noise = torch.randn(count, trainer.config.latent_dim, generator=rng).to(trainer.device)
            self._inputs = (real, noise)
        return self._inputs

    def snapshot(self, trainer: Trainer) -> dict:
        shape = tuple(trainer.data.shape)
        discriminator = getattr(trainer, "discriminator", None)
        if len(shape) != 1 or shape[0] > 2 or discriminator is None:
            return {"kind": "images"}
        real, noise = self._fixed_inputs(trainer)
        field = field_2d if shape[0] == 2 else field_1d
        return field(trainer.generator, discriminator, trainer.objective, real, noise)

    def on_log(self, trainer: Trainer, row: dict) -> None:
        snapshot = self.snapshot(trainer) | {"step": trainer.step, "objective": trainer.config.objective}
        # atomic for the page that polls it; not fsynced: a snapshot is rewritten every log step and
        # losing one costs nothing
        atomic_write_bytes(self.path, dumps(snapshot).encode(), durable=False)


# --- the server ---------------------------------------------------------------------------------


def latest_sample(run_dir: Path) -> Path | None:
    """The newest sample picture in RUN_DIR/samples (names are step-numbered, so the last by name)."""
    pictures = list_samples(run_dir)
    return pictures[-1] if pictures else None


def state(run_dir: Path, first_row: int = 0) -> dict:
    """What the page polls: metrics rows from ``first_row`` on, the field snapshot, the newest sample
    and the monitors' findings (one per episode, ``ended`` null while open).

    ``total`` lets the page notice a shorter metrics file (a resumed run drops rows past its
    checkpoint) and start over.
    """
    rows = read_metrics(run_dir)
    try:
        config = json.loads((run_dir / CONFIG).read_text())
    except (OSError, json.JSONDecodeError):  # the run directory is being (re)created
        config = {}
    try:
        field = json.loads((run_dir / LIVE).read_text())
    except (OSError, json.JSONDecodeError):
        field = None
    sample = latest_sample(run_dir)
    return {
        "run_dir": str(run_dir),
        "config": config,
        "total": len(rows),
        "rows": rows[first_row:] if first_row <= len(rows) else rows,
        "field": field,
        "sample": sample.name if sample else None,
        "findings": read_findings(run_dir),
    }


def page() -> bytes:
    """The live page: one HTML file with its script inline (gankit/assets/live.html)."""
    return (resources.files("gankit") / "assets" / "live.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    run_dir: Path  # set on the subclass made for each server

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        url = urlparse(self.path)
        if url.path in ("/", "/index.html"):
            self._send(page(), "text/html; charset=utf-8")
        elif url.path == "/api/state":
            first = parse_qs(url.query).get("from", ["0"])[0]
            first_row = int(first) if first.isdigit() else 0
            self._send(dumps(state(self.run_dir, first_row)).encode(), "application/json")
        elif url.path == "/api/sample.png":
            # Always the newest picture: the query only defeats the browser's cache; no path is read
            # from the request, so nothing outside RUN_DIR/samples can be served.
            sample = latest_sample(self.run_dir)
            if sample is None:
                self.send_error(HTTPStatus.NOT_FOUND, "no sample pictures yet")
            else:
                self._send(sample.read_bytes(), "image/png")
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _send(self, body: bytes, content_type: str) -> None:
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page was closed mid-answer: nobody is left to tell, keep the terminal clean

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep the terminal for training
        pass


class LiveServer:
    """Serves the live page of one run directory on ``host:port`` (port 0: a free one) in a thread.

    Use as a context manager, or ``start()`` / ``stop()``; ``serve_forever()`` blocks instead.
    """

    def __init__(self, run_dir: str | Path, host: str = "127.0.0.1", port: int = 0):
        if not 0 <= port <= 65535:
            raise GankitError(f"--port must be in 0..65535 (0: a free port), got {port}")
        handler = type("Handler", (_Handler,), {"run_dir": Path(run_dir)})
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as error:
            raise GankitError(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> LiveServer:
        self._thread = threading.Thread(target=self.server.serve_forever, name="gankit-live", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@contextlib.contextmanager
def watching(run_dir: str | Path, live: bool, tensorboard: bool, echo=None) -> Iterator[list[Callback]]:
    """The callbacks behind ``gankit train --live / --tensorboard``, with the live server running.

    The server starts before training (its URL is printed at once) and stops when training ends;
    ``gankit watch RUN_DIR`` serves the same page afterwards.
    """
    echo = echo or _echo
    callbacks: list[Callback] = []
    if tensorboard:
        callbacks.append(TensorBoardWriter(run_dir))
    if not live:
        yield callbacks
        return
    callbacks.append(LiveField(run_dir))
    with LiveServer(run_dir) as server:
        echo(f"live view: {server.url}  (until training ends; then: gankit watch {run_dir})")
        yield callbacks


def _echo(line: str) -> None:
    print(line, flush=True)  # the URL must reach a piped reader (a script, a test) at once


def watch(run_dir: str | Path, port: int = 0, echo=_echo) -> None:
    """Serve the live page of an existing run directory until interrupted (``gankit watch``)."""
    run_dir = check_run_dir(run_dir)
    server = LiveServer(run_dir, port=port)
    echo(f"live view of {run_dir}: {server.url}  (Ctrl-C stops)")
    if not (run_dir / LIVE).exists():
        echo("no live.json in this run: the page shows curves and samples; train with --live for the field")
    server.serve_forever()
