"""Live alarms: monitors that read each logged row and name a training pitfall when they see one.

Each monitor is a :class:`~gankit.engine.loop.Callback` that watches the logged rows of
metrics.jsonl (``on_log``) for one pitfall. When its condition holds it raises a *finding* once:
its name, the step where the condition started, the numbers that show it (evidence) and what to
do about it (remedies). Findings are printed once, appended to ``RUN_DIR/findings.jsonl`` and kept
on the run's result; a finding named in ``config.stop_on`` stops training, and divergence always
does (a run with NaN weights cannot continue).

The detection itself, :meth:`Monitor.observe`, is a function of the stream of rows and the
config's thresholds only, so ``gankit doctor`` can replay it over a finished run's metrics.jsonl.

- vanishing-gradients: g_grad_norm below monitor_vanishing_ratio x its peak, sustained.
- discriminator-overpowers: D(real) -> 1 and D(fake) -> 0 (critics: their gap explodes), sustained.
- mode-collapse: toy data, few modes covered by good samples; any data, low sample diversity.
- divergence: a non-finite loss, gradient norm or weight (always stops training).
- no-progress: W1 (or the critic's estimate of it) stops improving while still far from done.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from gankit.checkpoint import atomic_write_bytes, checkpoint_step, list_checkpoints
from gankit.config import TrainConfig
from gankit.data.toy import TOY_DATASETS
from gankit.engine.loop import Callback, StopTraining, Trainer
from gankit.rundir import dumps

FINDINGS_FILE = "findings.jsonl"
CONFIRMATIONS = 2  # evaluations in a row that must agree before an evaluation-based alarm fires

REMEDIES: dict[str, list[str]] = {
    "vanishing-gradients": [
        "use the non-saturating loss (--objective ns) or a Wasserstein loss (--objective wgan-gp): "
        "their generator gradient does not vanish when D rejects the fakes",
        "give D fewer or weaker updates (--critic-steps 1, a smaller or shallower D)",
        "lower the discriminator's learning rate (--d-lr)",
    ],
    "discriminator-overpowers": [
        "lower the discriminator's learning rate (--d-lr) or give it fewer steps (--critic-steps)",
        "use a loss whose generator gradient survives a confident D (--objective ns or wgan-gp)",
        "Wasserstein critics: constrain the critic "
        "(penalty weight lambda 10 on images, 0.1 on toy data; or a smaller clip)",
        "add noise or label smoothing to D's inputs, or make D smaller",
    ],
    "mode-collapse": [
        "use a Wasserstein loss with gradient penalty (--objective wgan-gp)",
        "let D see several samples at once (PacGAN: --pack 2 or more)",
        "lower the generator's learning rate (--g-lr) or use more critic steps",
        "average the generator's weights (--ema-decay 0.999)",
    ],
    "divergence": [
        "resume from the last good checkpoint with smaller learning rates (--g-lr, --d-lr)",
        "use Adam with the objective's default betas instead of SGD/large steps",
        "Wasserstein critics: keep the gradient penalty "
        "(lambda 10 on images, 0.1 on toy data) or weight clipping on",
    ],
    "no-progress": [
        "if the samples already look right, training has converged: stop here",
        "otherwise raise the learning rates a little, or lower them if the curves oscillate",
        "use more critic steps (--critic-steps 5) so the critic's signal is accurate",
        "try a wider generator (--width) or a different objective (--objective wgan-gp)",
    ],
}


@dataclass
class Finding:
    """One named pitfall: where it started, the numbers that show it, and what to do."""

    name: str
    step: int  # the first logged step at which the condition held
    detected_at: int  # the step at which the monitor was sure (after the sustain window)
    message: str
    evidence: dict[str, float] = field(default_factory=dict)
    remedies: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(row: dict, key: str) -> float | None:
    """A finite number from a row, or None (missing keys and non-finite values, written as null)."""
    value = row.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class FindingsLog:
    """Where findings go: printed once, appended to findings.jsonl (if any), kept in ``findings``.

    A finding named in ``stop_on`` ends training by raising StopTraining with its message.
    """

    def __init__(self, path: Path | None, echo: Callable[[str], None], stop_on: tuple[str, ...] = ()):
        self.path = path
        self.echo = echo
        self.stop_on = tuple(stop_on)
        self.findings: list[dict[str, Any]] = []

    def keep_until(self, step: int) -> None:
        """On resume: keep the findings detected up to ``step``; later ones belong to lost work."""
        if self.path is None or not self.path.exists():
            return
        kept = [f for f in read_findings(self.path.parent) if f["detected_at"] <= step]
        atomic_write_bytes(self.path, "".join(dumps(f) + "\n" for f in kept).encode())
        self.findings = kept

    def report(self, finding: Finding, stop: bool = False) -> None:
        record = finding.to_dict()
        self.findings.append(record)
        if self.path is not None:
            with open(self.path, "a") as handle:
                handle.write(dumps(record) + "\n")
        self.echo(f"gankit: finding {finding.name} (since step {finding.step}): {finding.message}")
        for remedy in finding.remedies:
            self.echo(f"  - {remedy}")
        if stop or finding.name in self.stop_on:
            raise StopTraining(f"{finding.name}: {finding.message}")


def read_findings(run_dir: str | Path) -> list[dict[str, Any]]:
    """The findings of a run directory (a torn last line from a crash is ignored)."""
    file = Path(run_dir) / FINDINGS_FILE
    if not file.exists():
        return []
    findings = []
    for line in file.read_text().splitlines():
        try:
            findings.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return findings


class Monitor(Callback):
    """Base class: feeds each logged row to :meth:`observe` until it returns a finding (once)."""

    name = ""

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        self.config = config
        self.log = log
        self.fired = False

    def observe(self, row: dict) -> Finding | None:
        raise NotImplementedError

    def on_log(self, trainer: Trainer, row: dict) -> None:
        if self.fired:
            return
        finding = self.observe(row)
        if finding is not None:
            self.fired = True
            if self.log is not None:
                self.log.report(finding)

    def finding(self, step: int, detected_at: int, message: str, evidence: dict[str, float]) -> Finding:
        evidence = {key: _rounded(value) for key, value in evidence.items()}
        return Finding(self.name, step, detected_at, message, evidence, list(REMEDIES[self.name]))

    # Monitors keep only plain numbers and lists, so their state rides along in checkpoints.
    def state_dict(self) -> dict:
        return {key: value for key, value in vars(self).items() if key not in ("config", "log")}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            if key in vars(self) and key not in ("config", "log"):
                setattr(self, key, value)


def _rounded(value: float) -> float:
    if isinstance(value, int) or not math.isfinite(value):  # steps stay ints; inf is written as null
        return value
    return float(f"{value:.4g}")


def extend_streak(state: dict, holds: bool, step: int) -> int:
    """Count consecutive rows on which a condition holds; ``state["start"]`` is the first one's step."""
    if not holds:
        state["start"], state["length"] = None, 0
        return 0
    if state["length"] == 0:
        state["start"] = step
    state["length"] += 1
    return state["length"]


class VanishingGradients(Monitor):
    """G's gradient norm falls by orders of magnitude below its peak and stays there.

    With the saturating minimax loss L_G = E[log(1 - D(G(z)))], dL_G/ds = -sigmoid(s) = -D(G(z)):
    once D rejects the fakes (D(G(z)) -> 0) the generator's gradient goes to zero with it. Fires
    when g_grad_norm < monitor_vanishing_ratio x (its largest logged value so far) for
    monitor_window rows in a row.
    """

    name = "vanishing-gradients"

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        super().__init__(config, log)
        self.peak = 0.0
        self.peak_step = 0
        self.streak = {"start": None, "length": 0}

    def observe(self, row: dict) -> Finding | None:
        norm = _number(row, "g_grad_norm")
        if norm is None:
            return None
        if norm > self.peak:
            self.peak, self.peak_step = norm, row["step"]
        ratio = norm / self.peak if self.peak > 0 else 1.0
        length = extend_streak(self.streak, ratio < self.config.monitor_vanishing_ratio, row["step"])
        if length < self.config.monitor_window:
            return None
        evidence = {"g_grad_norm": norm, "peak_g_grad_norm": self.peak, "ratio_to_peak": ratio}
        if _number(row, "p_fake") is not None:
            evidence["p_fake"] = row["p_fake"]
        message = (
            f"G's gradient norm fell to {norm:.3g}, {ratio:.2g} of its peak {self.peak:.3g} "
            f"(step {self.peak_step}), for {length} logged rows: G has almost nothing to learn from"
        )
        return self.finding(self.streak["start"], row["step"], message, evidence)


class DiscriminatorOverpowers(Monitor):
    """D separates real from fake almost perfectly for monitor_window rows in a row.

    Classifier objectives (minimax, ns): mean D(real) = sigmoid mean >= monitor_d_confidence and
    mean D(fake) <= 1 - monitor_d_confidence. lsgan (targets 1 and 0) reads its raw scores the same
    way, hinge (targets +1 and -1) after mapping s -> (s + 1) / 2. Wasserstein critics have no
    targets: the critic gap d_real - d_fake (their estimate of W1) exploding to more than
    monitor_critic_gap_growth x its median |gap| over the first monitor_window rows counts instead;
    for wgan-gp the gradient penalty E[(||grad D(x_hat)|| - 1)^2] must also exceed
    monitor_gradient_penalty (gradient norms well past 2: the critic is no longer ~1-Lipschitz, so
    its gap measures its own steepness, not a distance). A critic that is still learning grows its
    gap too, but keeps its gradients near 1.
    """

    name = "discriminator-overpowers"

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        super().__init__(config, log)
        self.early_gaps: list[float] = []
        self.streak = {"start": None, "length": 0}

    def observe(self, row: dict) -> Finding | None:
        config = self.config
        if config.objective in ("wgan", "wgan-gp"):
            holds, evidence, what = self._critic(row)
        else:
            holds, evidence, what = self._classifier(row)
        if holds is None:
            return None
        length = extend_streak(self.streak, holds, row["step"])
        if length < config.monitor_window:
            return None
        message = f"{what}, for {length} logged rows: G's signal from D is saturated or meaningless"
        return self.finding(self.streak["start"], row["step"], message, evidence)

    def _classifier(self, row: dict) -> tuple[bool | None, dict, str]:
        if self.config.objective in ("minimax", "ns"):
            real, fake = _number(row, "p_real"), _number(row, "p_fake")
        else:
            real, fake = _number(row, "d_real"), _number(row, "d_fake")
            if real is not None and fake is not None and self.config.objective == "hinge":
                real, fake = (real + 1) / 2, (fake + 1) / 2
        if real is None or fake is None:
            return None, {}, ""
        confidence = self.config.monitor_d_confidence
        holds = real >= confidence and fake <= 1 - confidence
        what = f"mean D(real) = {real:.4f} and D(fake) = {fake:.2g}"
        return holds, {"d_real": real, "d_fake": fake, "confidence": confidence}, what

    def _critic(self, row: dict) -> tuple[bool | None, dict, str]:
        real, fake = _number(row, "d_real"), _number(row, "d_fake")
        if real is None or fake is None:
            return None, {}, ""
        gap = real - fake
        if len(self.early_gaps) < self.config.monitor_window:
            self.early_gaps.append(abs(gap))
            return False, {}, ""
        early = statistics.median(self.early_gaps)
        growth = gap / early if early > 0 else math.inf
        holds = growth > self.config.monitor_critic_gap_growth
        evidence = {"critic_gap": gap, "early_critic_gap": early, "growth": growth}
        what = f"the critic gap d_real - d_fake grew to {gap:.3g}, {growth:.3g}x its early level {early:.3g}"
        if self.config.objective == "wgan-gp":
            penalty = _number(row, "gradient_penalty")
            if penalty is None:
                return None, {}, ""
            holds = holds and penalty > self.config.monitor_gradient_penalty
            evidence["gradient_penalty"] = penalty
            what += f" with a gradient penalty of {penalty:.3g}"
        return holds, evidence, what


class ModeCollapse(Monitor):
    """The generator covers far fewer modes, or is far less diverse, than the data.

    Toy data with known modes (eval_modes, eval_high_quality every eval_every steps): collapse when
    at most monitor_modes_fraction of the modes are covered although at least monitor_mode_quality
    of the samples are good ones (within 3 sigma of a mode): G produces good samples, but of few
    modes. Samples far from every mode mean G has not learned yet, which is not collapse.
    Other data: eval_diversity (mean pairwise distance of generated samples / of real samples, added
    by :class:`DiversityProbe`) at or below monitor_diversity_ratio, judged from step
    monitor_warmup on (a fresh generator is legitimately narrow). Either must hold at
    ``CONFIRMATIONS`` evaluations in a row.
    """

    name = "mode-collapse"

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        super().__init__(config, log)
        self.streak = {"start": None, "length": 0}

    def observe(self, row: dict) -> Finding | None:
        config = self.config
        modes, total = _number(row, "eval_modes"), _number(row, "eval_modes_total")
        quality, diversity = _number(row, "eval_high_quality"), _number(row, "eval_diversity")
        if modes is not None and total is not None and quality is not None:
            holds = modes <= config.monitor_modes_fraction * total and quality >= config.monitor_mode_quality
            evidence = {"modes_covered": modes, "modes_total": total, "high_quality": quality}
            what = f"only {modes:.0f} of {total:.0f} modes covered while {quality:.0%} of samples are good"
        elif diversity is not None and row["step"] >= config.monitor_warmup:
            holds = diversity <= config.monitor_diversity_ratio
            evidence = {"diversity_ratio": diversity}
            what = f"generated samples are {diversity:.2g}x as spread out as real ones (pairwise distance)"
        else:
            return None
        length = extend_streak(self.streak, holds, row["step"])
        if length < CONFIRMATIONS:
            return None
        message = f"{what}, at {length} evaluations in a row"
        return self.finding(self.streak["start"], row["step"], message, evidence)


class NoProgress(Monitor):
    """W1 (toy data) or the critic's W1 estimate has stopped improving while still far from done.

    Progress signal: eval_w1 where toy metrics are logged, otherwise (wgan, wgan-gp) the critic gap
    d_real - d_fake. Fires when its best value has not improved by a factor (1 - monitor_min_improvement)
    for monitor_patience steps while the latest value is still above monitor_progress_level x the
    largest value seen (a run that has reached a small fraction of its worst level has converged
    rather than stalled). Oscillation counts too: a signal that swings up and down never sets a
    new best.
    """

    name = "no-progress"

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        super().__init__(config, log)
        if config.data in TOY_DATASETS and config.eval_every:
            self.signal = "eval_w1"
        elif config.objective in ("wgan", "wgan-gp"):
            self.signal = "critic_gap"
        else:
            self.signal = ""  # no progress signal for classifier GANs on non-toy data
        self.best = math.inf
        self.best_step = 0
        self.worst = -math.inf

    def observe(self, row: dict) -> Finding | None:
        config = self.config
        if self.signal == "eval_w1":
            value = _number(row, "eval_w1")
        elif self.signal == "critic_gap":
            real, fake = _number(row, "d_real"), _number(row, "d_fake")
            # A negative gap means the critic cannot tell the fakes apart: as good as zero.
            value = None if real is None or fake is None else max(real - fake, 0.0)
        else:
            return None
        if value is None:
            return None
        step = row["step"]
        if value < self.best * (1 - config.monitor_min_improvement) or self.best == math.inf:
            self.best, self.best_step = value, step
        self.worst = max(self.worst, value)
        stalled_for = step - self.best_step
        if stalled_for < config.monitor_patience or value <= config.monitor_progress_level * self.worst:
            return None
        label = "W1" if self.signal == "eval_w1" else "the critic's W1 estimate"
        message = (
            f"{label} has not improved for {stalled_for} steps: best {self.best:.3g} at step "
            f"{self.best_step}, now {value:.3g} (worst {self.worst:.3g})"
        )
        evidence = {"best": self.best, "best_step": self.best_step, "latest": value, "worst": self.worst}
        return self.finding(self.best_step, step, message, evidence)


class Divergence(Monitor):
    """A non-finite loss, gradient norm or score in a row, or non-finite weights: stop at once.

    Training stops cleanly (StopTraining); the checkpointer never saves a non-finite state, so the
    newest checkpoint on disk is the last good one, and the message names it.
    """

    name = "divergence"
    WATCHED = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm", "d_real", "d_fake")

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None, checkpoints: Path | None = None):
        super().__init__(config, log)
        self.checkpoints = checkpoints
        self.last_finite_step = 0

    def observe(self, row: dict, weights_finite: bool = True) -> Finding | None:
        bad = [key for key in self.WATCHED if key in row and _number(row, key) is None]
        if not weights_finite:
            bad.append("weights")
        if not bad:
            self.last_finite_step = row["step"]
            return None
        evidence: dict[str, float] = {"last_finite_step": self.last_finite_step}
        saved = list_checkpoints(self.checkpoints) if self.checkpoints is not None else []
        if saved:
            good = checkpoint_step(saved[-1])
            evidence["last_good_checkpoint"] = good
            kept = f"the last good checkpoint (step {good}) is kept"
        elif self.checkpoints is not None:
            kept = "no checkpoint was saved before it, so none is kept"
        else:
            kept = "nothing was saved (in-memory run)"
        message = (
            f"non-finite {', '.join(bad)} between steps {self.last_finite_step} and {row['step']}; "
            f"training stopped and {kept}"
        )
        return self.finding(row["step"], row["step"], message, evidence)

    def on_log(self, trainer: Trainer, row: dict) -> None:
        if self.fired:
            return
        finding = self.observe(row, weights_finite=weights_are_finite(trainer))
        if finding is not None:
            self.fired = True
            if self.log is not None:
                self.log.report(finding, stop=True)
            raise StopTraining(f"{finding.name}: {finding.message}")

    def state_dict(self) -> dict:
        return {"fired": self.fired, "last_finite_step": self.last_finite_step}


def weights_are_finite(trainer: Trainer) -> bool:
    """True when every weight, buffer and optimiser moment of G, D (and the EMA) is finite."""
    modules = [trainer.generator, trainer.discriminator] + ([trainer.ema] if trainer.ema is not None else [])
    tensors = [t for m in modules for t in m.state_dict().values() if isinstance(t, torch.Tensor)]
    for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
        tensors += [t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    checks = [torch.isfinite(t).all() for t in tensors if t.is_floating_point()]
    return bool(torch.stack(checks).all()) if checks else True  # one device sync, not one per tensor


class DiversityProbe(Callback):
    """Adds eval_diversity to a row every ``every`` steps: how spread out G's samples are.

    eval_diversity = mean pairwise distance of ``samples`` generated points / the same for as many
    real points (both from fixed seeds, flattened). About 1 for a generator that matches the data's
    spread; near 0 when every sample is the same point. It sees every mode-collapse that shrinks the
    spread, on any data, without knowing the modes.
    """

    def __init__(self, every: int, samples: int, seed: int):
        self.every, self.samples, self.seed = every, samples, seed
        self.real_spread: float | None = None

    def on_log(self, trainer: Trainer, row: dict) -> None:
        previous_row = trainer.step - trainer.config.log_every  # same cadence as the toy metrics
        if trainer.step // self.every == previous_row // self.every and trainer.step != trainer.config.steps:
            return
        if self.real_spread is None:
            real = trainer.data.sample(self.samples, torch.Generator().manual_seed(self.seed))
            self.real_spread = mean_pairwise_distance(real)
        fake = trainer.sample(self.samples, seed=self.seed)
        row["eval_diversity"] = mean_pairwise_distance(fake) / self.real_spread


def mean_pairwise_distance(samples: torch.Tensor) -> float:
    """(1 / (n (n - 1))) sum_{i != j} ||x_i - x_j||_2 over the flattened samples (n, ...)."""
    flat = samples.detach().float().reshape(len(samples), -1).cpu()
    n = len(flat)
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1)))


MONITORS: dict[str, type[Monitor]] = {
    m.name: m for m in (VanishingGradients, DiscriminatorOverpowers, ModeCollapse, Divergence, NoProgress)
}


def build_monitors(
    config: TrainConfig, log: FindingsLog | None, checkpoints: Path | None = None
) -> list[Monitor]:
    """One monitor per finding, all reporting to ``log``."""
    return [
        Divergence(config, log, checkpoints) if monitor_class is Divergence else monitor_class(config, log)
        for monitor_class in MONITORS.values()
    ]


def replay(config: TrainConfig, rows: list[dict], checkpoints: Path | None = None) -> list[dict[str, Any]]:
    """The findings the monitors raise on a finished run's rows (what ``gankit doctor`` re-checks)."""
    findings = []
    for monitor in build_monitors(config, log=None, checkpoints=checkpoints):
        for row in rows:
            finding = monitor.observe(row)
            if finding is not None:
                findings.append(finding.to_dict())
                break
    return sorted(findings, key=lambda f: (f["step"], f["name"]))
