"""Live alarms: monitors that read each logged row and name a training pitfall when they see one.

Each monitor is a :class:`~gankit.engine.loop.Callback` that watches the logged rows of
metrics.jsonl (``on_log``) for one pitfall. When its condition has held for a sustained window it
*opens* a finding: its name, the step where the condition started, the numbers that show it
(evidence) and what to change in this run's config (remedies, gankit.diagnose.remedies). When the
condition has stopped holding for the same window the finding *closes* (``ended``: the step it
stopped holding); it can open again later. Findings are printed, appended to
``RUN_DIR/findings.jsonl`` and kept on the run's result; a finding named in ``config.stop_on``
stops training when it opens, and divergence always does (a run with NaN weights cannot continue).

The detection itself, :meth:`Monitor.observe`, is a function of the stream of rows and the
config's thresholds only (the ``monitor_*`` keys: gankit.diagnose.thresholds), so ``gankit doctor``
can replay it over a finished run's metrics.jsonl. Some monitors read evaluation numbers that
probes add to the rows: eval_diversity (gankit.metrics.diversity) and the held-out signals
(gankit.diagnose.probes).

- vanishing-gradients: g_grad_norm below monitor_vanishing_ratio x its peak, D rejecting the fakes, sustained.
- discriminator-overpowers: D(real) -> 1 and D(fake) -> 0 (critics: their gap explodes), sustained.
- mode-collapse: toy data, few modes covered by good samples; any data, low sample diversity.
- divergence: a non-finite loss, gradient norm or weight (always stops training).
- no-progress: W1 (or the critic's estimate of it) stops improving while still far from done.
- oscillation: modes covered or W1 swing up and down between evaluations without settling.
- discriminator-overfits (image runs with a validation part): D calls its training reals real and
  held-out reals fake (ADA's r_t on both).
- memorisation (the same runs): generated samples lie much nearer training images than held-out reals do.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gankit.config import TrainConfig
from gankit.data.toy import TOY_DATASETS
from gankit.diagnose.remedies import remedies_for
from gankit.diagnose.thresholds import Thresholds
from gankit.engine.loop import Callback, StopTraining, Trainer
from gankit.rundir import (
    append_finding,
    checkpoint_step,
    keep_findings_until,
    list_checkpoints,
    merge_records,
)

CONFIRMATIONS = 2  # evaluations in a row that must agree before an evaluation-based alarm fires


@dataclass
class Finding:
    """One episode of a named pitfall: when it started (and ended), the numbers that show it, what to do.

    A finding *opens* once its condition has held for the monitor's sustain window and *closes* once
    the condition has not held for the same window: ``ended`` is then the first step at which it no
    longer held (None while it is open). The same pitfall can open again later: a second episode.
    """

    name: str
    step: int  # the first logged step at which the condition held
    detected_at: int  # the step at which the monitor was sure (after the sustain window)
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    remedies: list[str] = field(default_factory=list)
    ended: int | None = None  # the first step at which the condition no longer held; None: still open
    closed_at: int | None = None  # the step at which the monitor was sure it had ended

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Condition:
    """What a monitor reads in one row: does its pitfall hold here, and the numbers that say so."""

    holds: bool
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    since: int | None = None  # where the pitfall began, when the monitor knows better than its streak


def _number(row: dict, key: str) -> float | None:
    """A finite number from a row, or None (missing keys and non-finite values, written as null)."""
    value = row.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _d_probabilities(row: dict, objective: str) -> tuple[float | None, float | None]:
    """Mean D(real), D(fake) on a 0..1 scale (1: "real") for the classifier objectives, else None.

    minimax and ns log sigmoid probabilities (p_real, p_fake); lsgan's raw scores have targets 1
    and 0 and read the same way; hinge's targets +1 and -1 map by s -> (s + 1) / 2. Wasserstein
    critics have no such scale.
    """
    if objective in ("minimax", "ns"):
        return _number(row, "p_real"), _number(row, "p_fake")
    if objective not in ("lsgan", "hinge"):
        return None, None
    real, fake = _number(row, "d_real"), _number(row, "d_fake")
    if real is not None and fake is not None and objective == "hinge":
        real, fake = (real + 1) / 2, (fake + 1) / 2
    return real, fake


class FindingsLog:
    """Where findings go: printed, appended to findings.jsonl (if any), kept in ``findings``.

    findings.jsonl is append-only: one record when a finding opens (``ended`` null) and the same
    finding again with ``ended`` and ``closed_at`` set when it closes (stored by gankit.rundir,
    whose ``read_findings`` merges them). A finding named in ``stop_on`` ends training when it
    opens, by raising StopTraining.
    """

    def __init__(
        self,
        path: Path | None,
        echo: Callable[[str], None],
        stop_on: tuple[str, ...] = (),
        advise: Callable[[dict], list[str]] | None = None,
    ):
        self.path = path
        self.echo = echo
        self.stop_on = tuple(stop_on)
        self.advise = advise  # a finding's remedies as printed (the doctor's ranking); None: as found
        self.findings: list[dict[str, Any]] = []

    def keep_until(self, step: int) -> None:
        """On resume: keep the records written up to ``step``; later ones belong to lost work."""
        if self.path is None or not self.path.exists():
            return
        self.findings = merge_records(keep_findings_until(self.path, step))

    def report(self, finding: Finding, stop: bool = False) -> None:
        record = finding.to_dict()
        self.findings = merge_records(self.findings + [record])
        if self.path is not None:
            append_finding(self.path, record)
        if finding.ended is not None:
            self.echo(f"gankit: finding {finding.name} ended (from step {finding.step} to {finding.ended})")
            return
        self.echo(f"gankit: finding {finding.name} (since step {finding.step}): {finding.message}")
        for remedy in self.advise(record) if self.advise else finding.remedies:
            self.echo(f"  - {remedy}")
        if stop or finding.name in self.stop_on:
            raise StopTraining(f"{finding.name}: {finding.message}")


class Monitor(Callback):
    """Base class: feeds each logged row to :meth:`condition` and opens or closes a finding.

    A finding opens when the condition has held for ``sustain()`` rows (or evaluations) in a row and
    closes when it has not held for as many; then it can open again. Subclasses say what the
    condition is; ``closes = False`` keeps a finding open for good (divergence).
    """

    name = ""
    closes = True

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        self.config = config
        self.thresholds = Thresholds.of(config)  # the config's monitor_* keys (diagnose/thresholds.py)
        self.log = log
        self.held = {"start": None, "length": 0}  # rows in a row on which the condition held
        self.cleared = {"start": None, "length": 0}  # ... on which it did not, while a finding is open
        self.current: dict[str, Any] | None = None  # the open finding, as a dict

    @property
    def fired(self) -> bool:
        """True while a finding of this monitor is open."""
        return self.current is not None

    def sustain(self) -> int:
        """Rows in a row a condition must hold to open a finding, and not hold to close it."""
        return self.thresholds.window

    def condition(self, row: dict) -> Condition | None:
        """Whether the pitfall holds at this row; None when the row says nothing about it."""
        raise NotImplementedError

    def observe(self, row: dict) -> Finding | None:
        """Feed one row: the finding when it opens or closes at this row, else None."""
        condition = self.condition(row)
        if condition is None:
            return None
        step = row["step"]
        if self.current is None:
            if extend_streak(self.held, condition.holds, step) < self.sustain():
                return None
            start = condition.since if condition.since is not None else self.held["start"]
            finding = self.finding(start, step, condition.message, condition.evidence)
            self.current, self.held = finding.to_dict(), {"start": None, "length": 0}
            return finding
        if not self.closes or extend_streak(self.cleared, not condition.holds, step) < self.sustain():
            return None
        ended = Finding(**{**self.current, "ended": self.cleared["start"], "closed_at": step})
        self.current, self.cleared = None, {"start": None, "length": 0}
        return ended

    def on_log(self, trainer: Trainer, row: dict) -> None:
        finding = self.observe(row)
        if finding is not None and self.log is not None:
            self.log.report(finding)

    def finding(self, step: int, detected_at: int, message: str, evidence: dict[str, Any]) -> Finding:
        evidence = {key: _rounded(value) for key, value in evidence.items()}
        return Finding(self.name, step, detected_at, message, evidence, remedies_for(self.name, self.config))

    # Monitors keep only plain numbers, lists and dicts, so their state rides along in checkpoints;
    # what they were built from is not state.
    BUILT_FROM = ("config", "thresholds", "log")

    def state_dict(self) -> dict:
        return {key: value for key, value in vars(self).items() if key not in self.BUILT_FROM}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            if key in vars(self) and key not in self.BUILT_FROM:
                setattr(self, key, value)


def _rounded(value: Any) -> Any:
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    if isinstance(value, (int, str)) or not math.isfinite(value):  # steps stay ints; inf is written as null
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
    """G's gradient norm falls orders of magnitude below its peak and stays there while D rejects the fakes.

    With the saturating minimax loss L_G = E[log(1 - D(G(z)))], dL_G/ds = -sigmoid(s) = -D(G(z)):
    once D rejects the fakes (D(G(z)) -> 0) the generator's gradient goes to zero with it. Opens
    when g_grad_norm < monitor_vanishing_ratio x (its largest logged value so far) for
    monitor_window rows in a row; closes when the condition has failed for monitor_window rows.

    For the classifier objectives (minimax, ns, lsgan, hinge), whose mean D(fake) is logged, the
    condition also needs D to reject the fakes: D(fake) <= 1 - monitor_d_confidence. A small
    gradient with D(fake) near 1/2 is the equilibrium, not the pitfall: D cannot tell real from
    fake, so it is flat and has nothing left to teach (a healthy run that once had a large gradient
    spike would otherwise raise it). Critics (wgan, wgan-gp) are judged on the norm alone.
    """

    name = "vanishing-gradients"

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        super().__init__(config, log)
        self.peak = 0.0
        self.peak_step = 0

    def condition(self, row: dict) -> Condition | None:
        norm = _number(row, "g_grad_norm")
        if norm is None:
            return None
        if norm > self.peak:
            self.peak, self.peak_step = norm, row["step"]
        ratio = norm / self.peak if self.peak > 0 else 1.0
        holds = ratio < self.thresholds.vanishing_ratio
        evidence = {"g_grad_norm": norm, "peak_g_grad_norm": self.peak, "ratio_to_peak": ratio}
        what = f"G's gradient norm fell to {norm:.3g}, {ratio:.2g} of its peak {self.peak:.3g}"
        what += f" (step {self.peak_step})"
        _, fake = _d_probabilities(row, self.config.objective)
        if fake is not None:
            holds = holds and fake <= 1 - self.thresholds.d_confidence
            evidence["d_fake"] = fake
            what += f" while D rejects the fakes (mean D(fake) = {fake:.2g})"
        message = f"{what}, for {self.sustain()} logged rows: G has almost nothing to learn from"
        return Condition(holds, message, evidence)


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
    gap too, but keeps its gradients near 1. A wgan-gp critic whose typical gradient norm
    1 + sqrt(penalty) is past monitor_lipschitz_norm counts whatever its gap: with the penalty off
    it is steep from the first logged rows, so the gap's early level is no yardstick.
    Closes after monitor_window rows without it.
    """

    name = "discriminator-overpowers"

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        super().__init__(config, log)
        self.early_gaps: list[float] = []

    def condition(self, row: dict) -> Condition | None:
        if self.config.objective in ("wgan", "wgan-gp"):
            holds, evidence, what = self._critic(row)
        else:
            holds, evidence, what = self._classifier(row)
        if holds is None:
            return None
        message = f"{what}, for {self.sustain()} logged rows: G's signal from D is saturated or meaningless"
        return Condition(holds, message, evidence)

    def _classifier(self, row: dict) -> tuple[bool | None, dict, str]:
        real, fake = _d_probabilities(row, self.config.objective)
        if real is None or fake is None:
            return None, {}, ""
        confidence = self.thresholds.d_confidence
        holds = real >= confidence and fake <= 1 - confidence
        what = f"mean D(real) = {real:.4f} and D(fake) = {fake:.2g}"
        return holds, {"d_real": real, "d_fake": fake, "confidence": confidence}, what

    def _critic(self, row: dict) -> tuple[bool | None, dict, str]:
        real, fake = _number(row, "d_real"), _number(row, "d_fake")
        if real is None or fake is None:
            return None, {}, ""
        gap = real - fake
        early_rows = len(self.early_gaps) < self.thresholds.window
        if early_rows:  # the yardstick: the median |gap| over the first monitor_window rows
            self.early_gaps.append(abs(gap))
        early = statistics.median(self.early_gaps)
        growth = gap / early if early > 0 else math.inf
        holds = not early_rows and growth > self.thresholds.critic_gap_growth
        evidence = {"critic_gap": gap, "early_critic_gap": early, "growth": growth}
        what = f"the critic gap d_real - d_fake grew to {gap:.3g}, {growth:.3g}x its early level {early:.3g}"
        if self.config.objective == "wgan-gp":
            penalty = _number(row, "gradient_penalty")
            if penalty is None:
                return None, {}, ""
            norm = 1 + math.sqrt(max(penalty, 0.0))  # the typical ||grad D|| the penalty implies
            steep = norm > self.thresholds.lipschitz_norm
            holds = (holds and penalty > self.thresholds.gradient_penalty) or steep
            evidence |= {"gradient_penalty": penalty, "critic_gradient_norm": norm}
            what += f" with a gradient penalty of {penalty:.3g}"
            if steep:
                what = f"the critic's gradient norms are ~{norm:.3g}, far from 1-Lipschitz (gap {gap:.3g})"
        return holds, evidence, what


class ModeCollapse(Monitor):
    """The generator covers far fewer modes, or is far less diverse, than the data.

    Toy data with known modes (eval_modes, eval_high_quality every eval_every steps): collapse when
    at most monitor_modes_fraction of the modes are covered although at least monitor_mode_quality
    of the samples are good ones (within 3 sigma of a mode): G produces good samples, but of few
    modes. Samples far from every mode mean G has not learned yet, which is not collapse.
    Other data: eval_diversity (mean pairwise distance of generated samples / of real samples,
    added by :class:`~gankit.metrics.diversity.DiversityProbe`) at or below monitor_diversity_ratio,
    judged from step monitor_warmup on (a fresh generator is legitimately narrow). It opens when
    either holds at ``CONFIRMATIONS`` evaluations in a row and closes when neither does at as many.
    """

    name = "mode-collapse"

    def sustain(self) -> int:
        return CONFIRMATIONS

    def condition(self, row: dict) -> Condition | None:
        limits = self.thresholds
        modes, total = _number(row, "eval_modes"), _number(row, "eval_modes_total")
        quality, diversity = _number(row, "eval_high_quality"), _number(row, "eval_diversity")
        if modes is not None and total is not None and quality is not None:
            holds = modes <= limits.modes_fraction * total and quality >= limits.mode_quality
            evidence = {"modes_covered": modes, "modes_total": total, "high_quality": quality}
            what = f"only {modes:.0f} of {total:.0f} modes covered while {quality:.0%} of samples are good"
        elif diversity is not None and row["step"] >= limits.warmup:
            holds = diversity <= limits.diversity_ratio
            evidence = {"diversity_ratio": diversity}
            what = f"generated samples are {diversity:.2g}x as spread out as real ones (pairwise distance)"
        else:
            return None
        return Condition(holds, f"{what}, at {CONFIRMATIONS} evaluations in a row", evidence)


class NoProgress(Monitor):
    """W1 (toy data) or the critic's W1 estimate has stopped improving while still far from done.

    Progress signal: eval_w1 where toy metrics are logged, otherwise (wgan, wgan-gp) the critic gap
    d_real - d_fake. The condition holds when its best value has not improved by a factor
    (1 - monitor_min_improvement) for monitor_patience steps while the latest value is still above
    monitor_progress_level x the largest value seen (a run that has reached a small fraction of its
    worst level has converged rather than stalled). The finding starts at the step of the last best
    value; it opens at once (the patience is its sustain window) and closes when the condition has
    not held for ``CONFIRMATIONS`` evaluations (eval_w1) or monitor_window rows (critic gap) in a
    row: a new best resets the patience, and a value below the progress level counts as converged.
    On toy data with modes, covering more modes than ever before is progress too: on the grid, W1
    (dominated by how the mass is spread over 25 modes) can sit still while G finds mode after mode;
    and a run covering every mode with at least monitor_mode_quality of its samples good is done,
    not stalled (on the ring, W1's floor from the jitter inside each mode can sit above the level).
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
        self.most_modes = -math.inf  # toy data with modes: the most modes covered so far

    def sustain(self) -> int:
        if self.current is None:
            return 1  # the patience already is the sustain window
        return CONFIRMATIONS if self.signal == "eval_w1" else self.thresholds.window

    def condition(self, row: dict) -> Condition | None:
        limits = self.thresholds
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
        if value < self.best * (1 - limits.min_improvement) or self.best == math.inf:
            self.best, self.best_step = value, step
        modes = _number(row, "eval_modes") if self.signal == "eval_w1" else None
        if modes is not None and modes > self.most_modes:
            self.most_modes, self.best_step = modes, step
        self.worst = max(self.worst, value)
        stalled_for = step - self.best_step
        holds = stalled_for >= limits.patience and value > limits.progress_level * self.worst
        total, quality = _number(row, "eval_modes_total"), _number(row, "eval_high_quality")
        if modes is not None and modes == total and quality is not None:
            holds = holds and quality < limits.mode_quality  # every mode, mostly good: done
        label = "W1" if self.signal == "eval_w1" else "the critic's W1 estimate"
        best = f"best {self.best:.3g}"
        if self.most_modes > -math.inf:
            label += " (nor the modes covered)"
            best += f" and {self.most_modes:.0f} modes"
        # best_step is the last gain in either signal, not where the best W1 was
        message = (
            f"{label} has not improved for {stalled_for} steps (last gain at step {self.best_step}):"
            f" {best}, now {value:.3g} (worst {self.worst:.3g})"
        )
        evidence = {"best": self.best, "best_step": self.best_step, "latest": value, "worst": self.worst}
        if self.most_modes > -math.inf:
            evidence["most_modes"] = self.most_modes
        return Condition(holds, message, evidence, since=self.best_step)


class Oscillation(Monitor):
    """An evaluation metric swings up and down between evaluations instead of settling.

    Watches eval_modes (toy data with modes) and eval_w1 over the last monitor_oscillation_window
    evaluations. A *swing* is a change between two consecutive evaluations larger than
    monitor_oscillation_swing x the metric's scale: the number of modes for eval_modes; for eval_w1
    the largest W1 of the run so far (how far G has ever been from the data), so that a run near
    the data, whose W1 moves by tens of percent with the jitter inside each mode, does not count,
    and one thrown back and forth across the plane does. The condition holds when
    the swings in the window reverse direction (up then down, or down then up) at least
    monitor_oscillation_reversals times: e.g.
    modes 24 -> 2 -> 24 -> 3 is three swings and two reversals. The window is its sustain both
    ways: it opens as soon as the condition holds and closes as soon as it does not (the last
    monitor_oscillation_window evaluations reverse fewer times). Evidence: the metric, and the steps
    and values of the window.
    """

    name = "oscillation"
    METRICS = {"eval_modes": "modes covered", "eval_w1": "W1"}

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None):
        super().__init__(config, log)
        self.history: dict[str, list[list[float]]] = {key: [] for key in self.METRICS}  # [step, value]
        self.worst_w1 = 0.0  # the largest eval_w1 so far: the scale of a W1 swing

    def sustain(self) -> int:
        return 1  # the window of evaluations already is the sustain, both ways

    def condition(self, row: dict) -> Condition | None:
        seen = False
        for key in self.METRICS:
            value = _number(row, key)
            if value is None:
                continue
            seen = True
            if key == "eval_w1":
                self.worst_w1 = max(self.worst_w1, value)
            window = self.history[key]
            window.append([row["step"], value])
            del window[: -self.thresholds.oscillation_window]
        if not seen:
            return None
        for key, label in self.METRICS.items():
            window = self.history[key]
            if len(window) < 3:
                continue
            if key == "eval_modes":
                scale = _number(row, "eval_modes_total") or max(value for _, value in window)
            else:
                scale = self.worst_w1
            threshold = self.thresholds.oscillation_swing * scale
            reversals, first = swing_reversals([value for _, value in window], threshold)
            if reversals >= self.thresholds.oscillation_reversals:
                steps = [int(step) for step, _ in window]
                values = [value for _, value in window]
                message = (
                    f"{label} swung {reversals + 1} times by more than {threshold:.3g} without settling "
                    f"over the last {len(window)} evaluations: "
                    + ", ".join(f"{_rounded(v)} (step {s})" for s, v in zip(steps, values, strict=True))
                )
                evidence = {"metric": key, "steps": steps, "values": values, "swing_threshold": threshold}
                return Condition(True, message, evidence, since=steps[first])
        return Condition(False)


def swing_reversals(values: list[float], threshold: float) -> tuple[int, int]:
    """(number of direction reversals among the changes larger than ``threshold``, index of the value
    where the first such change starts). E.g. [24, 2, 24, 3] with threshold 5: changes -22, +22, -21
    reverse twice, starting at index 0.
    """
    reversals, previous, first = 0, 0.0, -1
    for index, (before, after) in enumerate(zip(values, values[1:], strict=False)):
        change = after - before
        if abs(change) <= threshold:
            continue
        if first < 0:
            first = index
        if previous and (change > 0) != (previous > 0):
            reversals += 1
        previous = change
    return reversals, max(first, 0)


class Divergence(Monitor):
    """A non-finite loss, gradient norm or score in a row, or non-finite weights: stop at once.

    Training stops cleanly (StopTraining); the checkpointer never saves a non-finite state, so the
    newest checkpoint on disk is the last good one, and the message names it. It never closes.
    """

    name = "divergence"
    closes = False
    WATCHED = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm", "d_real", "d_fake")

    def __init__(self, config: TrainConfig, log: FindingsLog | None = None, checkpoints: Path | None = None):
        super().__init__(config, log)
        self.checkpoints = checkpoints
        self.last_finite_step = 0
        self.weights_finite = True  # what the live monitor last read off the trainer

    def sustain(self) -> int:
        return 1

    def observe(self, row: dict, weights_finite: bool = True) -> Finding | None:
        self.weights_finite = weights_finite
        return super().observe(row)

    def condition(self, row: dict) -> Condition | None:
        bad = [key for key in self.WATCHED if key in row and _number(row, key) is None]
        if not self.weights_finite:
            bad.append("weights")
        if not bad:
            self.last_finite_step = row["step"]
            return Condition(False)
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
        return Condition(True, message, evidence)

    def on_log(self, trainer: Trainer, row: dict) -> None:
        if self.fired:
            return
        finding = self.observe(row, weights_finite=trainer.weights_are_finite())
        if finding is not None:
            if self.log is not None:
                self.log.report(finding, stop=True)
            raise StopTraining(f"{finding.name}: {finding.message}")

    def state_dict(self) -> dict:
        return {"current": self.current, "last_finite_step": self.last_finite_step}


class DiscriminatorOverfits(Monitor):
    """D calls its training reals real and held-out reals of the same data fake: it has memorised them.

    Reads eval_sign_train, eval_sign_heldout and eval_sign_fake
    (:class:`~gankit.diagnose.probes.OverfitProbe`): ADA's r_t = E[sign D(x)] on training reals,
    held-out reals and fakes. Holds when r_t on the training reals is at least monitor_overfit_sign
    (ADA's sign of overfitting; its target is 0.6) while the held-out reals sit at most
    monitor_overfit_heldout of the way from the fakes' sign mean to the training reals' (0: scored
    like fakes, 1: like training reals). A D that is merely winning calls held-out reals real too.
    Opens and closes at ``CONFIRMATIONS`` evaluations in a row.
    """

    name = "discriminator-overfits"

    def sustain(self) -> int:
        return CONFIRMATIONS

    def condition(self, row: dict) -> Condition | None:
        limits = self.thresholds
        train, heldout, fake = (_number(row, f"eval_sign_{part}") for part in ("train", "heldout", "fake"))
        if train is None or heldout is None or fake is None:
            return None
        margin = train - fake
        position = (heldout - fake) / margin if margin > 0 else 1.0
        holds = train >= limits.overfit_sign and position <= limits.overfit_heldout
        message = (
            f"D calls {_called_real(train):.0%} of its training reals real but {_called_real(heldout):.0%} "
            f"of held-out reals (fakes: {_called_real(fake):.0%}), at {CONFIRMATIONS} evaluations in a row: "
            "it has learned its training images, not the data"
        )
        evidence = {"sign_train": train, "sign_heldout": heldout, "sign_fake": fake}
        evidence["heldout_position"] = position
        return Condition(holds, message, evidence)


def _called_real(sign_mean: float) -> float:
    """The share of images D calls real, from E[sign(D(x) - b)] = share - (1 - share)."""
    return (sign_mean + 1) / 2


class Memorisation(Monitor):
    """Generated samples lie much nearer the training images than new images of the data do.

    Reads eval_nearest_generated and eval_nearest_heldout
    (:class:`~gankit.diagnose.probes.MemorisationProbe`): the median distance to the nearest
    training image of generated samples and of held-out reals. Holds when the first is at most
    monitor_memorisation_ratio x the second: G reproduces training images (with a little noise at
    most) instead of drawing new ones. Opens and closes at ``CONFIRMATIONS`` evaluations in a row.
    """

    name = "memorisation"

    def sustain(self) -> int:
        return CONFIRMATIONS

    def condition(self, row: dict) -> Condition | None:
        generated, heldout = _number(row, "eval_nearest_generated"), _number(row, "eval_nearest_heldout")
        if generated is None or heldout is None:
            return None
        ratio = generated / heldout if heldout > 0 else math.inf
        holds = ratio <= self.thresholds.memorisation_ratio
        message = (
            f"generated samples lie {generated:.3g} from their nearest training image (median), held-out "
            f"reals {heldout:.3g} ({ratio:.2g}x), at {CONFIRMATIONS} evaluations in a row: "
            "G reproduces training images"
        )
        evidence = {"nearest_generated": generated, "nearest_heldout": heldout, "ratio": ratio}
        return Condition(holds, message, evidence)


MONITORS: dict[str, type[Monitor]] = {
    m.name: m
    for m in (
        VanishingGradients,
        DiscriminatorOverpowers,
        ModeCollapse,
        Divergence,
        NoProgress,
        Oscillation,
        DiscriminatorOverfits,
        Memorisation,
    )
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
    """The findings the monitors raise on a finished run's rows (what ``gankit doctor`` re-checks):
    one per episode, with ``ended`` set where the episode closed."""
    records = []
    for monitor in build_monitors(config, log=None, checkpoints=checkpoints):
        for row in rows:
            finding = monitor.observe(row)
            if finding is not None:
                records.append(finding.to_dict())
    return merge_records(records)
