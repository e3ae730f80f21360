"""Monitors: each pitfall, induced on purpose, raises the right finding; healthy runs raise none.

Most tests feed hand-written rows to a monitor (exact, instant); the end-to-end tests break a small
real training run on purpose (minimax against a strong D, a huge learning rate, a generator pinned
to one mode, a frozen generator) and check the live finding, findings.jsonl and the checkpoints.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from gankit.config import FINDING_NAMES, TrainConfig, from_dict
from gankit.diagnose.monitors import (
    DiscriminatorOverpowers,
    Divergence,
    FindingsLog,
    ModeCollapse,
    NoProgress,
    Oscillation,
    VanishingGradients,
    replay,
    swing_reversals,
)
from gankit.diagnose.thresholds import Thresholds
from gankit.engine.loop import Callback, StopTraining
from gankit.errors import GankitError
from gankit.metrics.diversity import mean_pairwise_distance
from gankit.rundir import checkpoint_step, list_checkpoints, load_latest_checkpoint, read_findings
from gankit.runs.assemble import train

FINDING_KEYS = {"name", "step", "detected_at", "ended", "closed_at", "message", "evidence", "remedies"}


def feed(monitor, rows):
    """Rows to a monitor until it fires; returns the finding (or None)."""
    for row in rows:
        finding = monitor.observe(row)
        if finding is not None:
            return finding
    return None


def episodes(monitor, rows):
    """Every open and close event a monitor raises over the rows, as (step, ended) pairs."""
    events = [monitor.observe(row) for row in rows]
    return [(f.step, f.ended) for f in events if f is not None]


def rows_of(key, values, every=10, **extra):
    return [{"step": every * (i + 1), key: v, **extra} for i, v in enumerate(values)]


# --- vanishing gradients ------------------------------------------------------------------------


def test_vanishing_gradients_fires_after_a_sustained_drop_and_names_its_start():
    config = TrainConfig(objective="minimax", monitor={"window": 3})
    finding = feed(VanishingGradients(config), rows_of("g_grad_norm", [1.0, 2.0, 0.5, 0.01, 0.005, 0.004]))
    assert finding.name == "vanishing-gradients"
    assert (finding.step, finding.detected_at) == (40, 60)  # 0.01 < 0.01 x 2.0 (peak) from step 40
    assert finding.evidence["peak_g_grad_norm"] == 2.0
    assert any("--objective ns" in remedy for remedy in finding.remedies)


def test_vanishing_gradients_ignores_a_short_dip_and_small_declines():
    config = TrainConfig(objective="minimax", monitor={"window": 3})
    dip = [1.0, 0.001, 0.001, 1.0, 0.001, 0.001, 1.0]  # never 3 rows in a row
    assert feed(VanishingGradients(config), rows_of("g_grad_norm", dip)) is None
    decline = [1.0, 0.5, 0.2, 0.1, 0.05, 0.03, 0.02]  # 50x, not 100x
    assert feed(VanishingGradients(config), rows_of("g_grad_norm", decline)) is None


# A healthy run near equilibrium: one gradient spike early on, then small gradients while D cannot
# tell real from fake. Only a D that rejects the fakes makes the same drop a vanishing gradient.
SPIKE_THEN_SMALL = [0.5, 40.0, 0.2, 0.2, 0.2, 0.2, 0.2]  # 0.2 = 0.005 x the peak from step 30


@pytest.mark.parametrize(
    "objective, d_scores, rejects",
    [
        ("ns", {"p_real": 0.5, "p_fake": 0.5}, False),  # equilibrium: D(fake) ~ 1/2
        ("ns", {"p_real": 0.99, "p_fake": 0.01}, True),
        ("minimax", {"p_real": 0.9, "p_fake": 0.04}, True),  # 0.04 <= 1 - 0.95
        ("minimax", {"p_real": 0.9, "p_fake": 0.1}, False),
        ("lsgan", {"d_real": 0.5, "d_fake": 0.5}, False),  # targets 1 (real) and 0 (fake)
        ("lsgan", {"d_real": 1.0, "d_fake": 0.0}, True),
        ("hinge", {"d_real": 0.0, "d_fake": 0.0}, False),  # (s + 1) / 2 = 1/2
        ("hinge", {"d_real": 1.5, "d_fake": -1.5}, True),
    ],
)
def test_vanishing_gradients_needs_a_discriminator_that_rejects_the_fakes(objective, d_scores, rejects):
    config = TrainConfig(objective=objective, monitor={"window": 3})
    finding = feed(VanishingGradients(config), rows_of("g_grad_norm", SPIKE_THEN_SMALL, **d_scores))
    assert (finding is not None) == rejects
    if rejects:
        assert finding.step == 30 and finding.evidence["d_fake"] <= 0.05
        assert "while D rejects the fakes (mean D(fake) = " in finding.message


def test_vanishing_gradients_stays_quiet_on_a_real_healthy_run_at_equilibrium():
    # Logged rows of a real run: `gankit train --data ring --preset toy-best --latent mixture
    # --latent-components 25 --seed 1002` (ns, PacGAN, EMA), which ends with every mode covered.
    # Its largest G gradient came at step 150; by step 6,550 D says ~1/2 to everything, real or
    # fake, and G's gradient is 1 % of that peak. The old rule (norm alone) opened a finding here.
    steps = [150, 6550, 6600, 6650, 6700, 6750, 6800, 6850, 6900]
    norms = [1.7766, 0.018554, 0.018075, 0.015591, 0.011193, 0.013282, 0.013175, 0.013720, 0.013449]
    p_fake = [0.46189, 0.49984, 0.49965, 0.49974, 0.50060, 0.49997, 0.49962, 0.49999, 0.50036]
    logged = zip(steps, norms, p_fake, strict=True)
    rows = [{"step": s, "g_grad_norm": g, "p_fake": p, "p_real": 0.5} for s, g, p in logged]
    config = TrainConfig(objective="ns")  # the preset's objective, default window (5 rows)
    assert feed(VanishingGradients(config), rows) is None
    without_d = [{k: v for k, v in row.items() if k not in ("p_fake", "p_real")} for row in rows]
    assert feed(VanishingGradients(config), without_d).step == 6650  # the norm alone would have fired


@pytest.mark.parametrize("objective", ["wgan", "wgan-gp"])
def test_vanishing_gradients_judges_critics_on_the_norm_alone(objective):
    config = TrainConfig(objective=objective, monitor={"window": 3})
    rows = rows_of("g_grad_norm", SPIKE_THEN_SMALL, d_real=0.3, d_fake=0.3)  # critic scores: no 0..1 scale
    finding = feed(VanishingGradients(config), rows)
    assert finding is not None and "d_fake" not in finding.evidence


# --- discriminator overpowers -------------------------------------------------------------------


def test_discriminator_overpowers_for_classifiers_needs_both_sides_for_the_whole_window():
    config = TrainConfig(objective="ns", monitor={"window": 3})
    confident = {"p_real": 0.99, "p_fake": 0.01}
    only_real = {"p_real": 0.99, "p_fake": 0.2}
    rows = [{"step": 10 * (i + 1), **r} for i, r in enumerate([only_real, confident, confident, confident])]
    finding = feed(DiscriminatorOverpowers(config), rows)
    assert (finding.step, finding.detected_at) == (20, 40)
    assert finding.evidence == {"d_real": 0.99, "d_fake": 0.01, "confidence": 0.95}
    assert feed(DiscriminatorOverpowers(config), rows[:1] * 6) is None


@pytest.mark.parametrize(("objective", "real", "fake"), [("lsgan", 1.0, 0.02), ("hinge", 1.5, -1.2)])
def test_discriminator_overpowers_reads_raw_scores_against_the_objective_targets(objective, real, fake):
    config = TrainConfig(objective=objective, monitor={"window": 2})
    rows = [{"step": s, "d_real": real, "d_fake": fake} for s in (10, 20)]
    assert feed(DiscriminatorOverpowers(config), rows).name == "discriminator-overpowers"
    balanced = [{"step": s, "d_real": 0.3, "d_fake": 0.1} for s in (10, 20, 30)]
    assert feed(DiscriminatorOverpowers(config), balanced) is None


def test_critic_gap_explosion_counts_as_overpowering_for_wasserstein_objectives():
    config = TrainConfig(objective="wgan", monitor={"window": 2})
    gaps = [0.5, 0.5, 0.6, 3.0, 8.0, 12.0]  # early median 0.5; 8 and 12 are > 10x, in a row
    rows = [{"step": 10 * (i + 1), "d_real": g, "d_fake": 0.0} for i, g in enumerate(gaps)]
    finding = feed(DiscriminatorOverpowers(config), rows)
    assert (finding.step, finding.detected_at) == (50, 60)
    assert finding.evidence["early_critic_gap"] == 0.5
    # wgan-gp: a growing gap alone is a critic still learning; with steep gradients it is not.
    gp = TrainConfig(objective="wgan-gp", monitor={"window": 2})
    assert feed(DiscriminatorOverpowers(gp), [{**r, "gradient_penalty": 0.05} for r in rows]) is None
    steep = [
        {**r, "gradient_penalty": 0.5 if r["step"] < 60 else 4.0} for r in rows + [{**rows[-1], "step": 70}]
    ]
    finding = feed(DiscriminatorOverpowers(gp), steep)
    assert (finding.step, finding.detected_at, finding.evidence["gradient_penalty"]) == (60, 70, 4.0)


def test_a_wgan_gp_critic_steep_from_the_first_row_overpowers_whatever_its_gap():
    # Penalty off: the gap is huge from the first logged row (so its early level is no yardstick)
    # and even changes sign; gradient norms past monitor_lipschitz_norm open the finding anyway.
    config = TrainConfig(objective="wgan-gp", monitor={"window": 2})
    gaps = [800.0, 8000.0, -5000.0, 2000.0]
    steep = [
        {"step": 10 * (i + 1), "d_real": gap, "d_fake": 0.0, "gradient_penalty": 1e6}
        for i, gap in enumerate(gaps)
    ]
    finding = feed(DiscriminatorOverpowers(config), steep)
    assert (finding.step, finding.detected_at) == (10, 20)
    assert finding.evidence["critic_gradient_norm"] == pytest.approx(1001.0)
    assert "far from 1-Lipschitz" in finding.message
    # Norms of ~10 (a penalty of 81), as a default run shows for a while early on: no alarm.
    transient = [{**row, "gradient_penalty": 81.0} for row in steep]
    assert feed(DiscriminatorOverpowers(config), transient) is None
    loose = TrainConfig(objective="wgan-gp", monitor={"window": 2, "lipschitz_norm": 5.0})
    assert feed(DiscriminatorOverpowers(loose), transient).evidence["critic_gradient_norm"] == 10.0


# --- mode collapse ------------------------------------------------------------------------------


def test_mode_collapse_on_toy_data_needs_good_samples_on_few_modes_twice():
    config = TrainConfig(data="ring")
    collapsed = {"eval_modes": 1, "eval_modes_total": 8, "eval_high_quality": 0.9}
    unlearned = {"eval_modes": 0, "eval_modes_total": 8, "eval_high_quality": 0.01}
    healthy = {"eval_modes": 8, "eval_modes_total": 8, "eval_high_quality": 0.9}
    rows = [{"step": 100 * (i + 1), **r} for i, r in enumerate([unlearned, healthy, collapsed, collapsed])]
    finding = feed(ModeCollapse(config), rows)
    assert (finding.name, finding.step, finding.detected_at) == ("mode-collapse", 300, 400)
    assert feed(ModeCollapse(config), [{"step": s, **unlearned} for s in (100, 200, 300)]) is None
    assert feed(ModeCollapse(config), rows[2:3]) is None  # one evaluation is not enough


def test_mode_collapse_by_diversity_waits_for_the_warmup():
    config = TrainConfig(data="swissroll", monitor={"warmup": 300})
    rows = rows_of("eval_diversity", [0.1, 0.1, 0.1, 0.1, 0.1], every=100)
    finding = feed(ModeCollapse(config), rows)
    assert (finding.step, finding.detected_at) == (300, 400)
    assert feed(ModeCollapse(config), rows_of("eval_diversity", [0.9] * 5, every=100)) is None


def test_mean_pairwise_distance_is_the_average_over_distinct_pairs():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])  # pairs: 5, 0, 5 (each twice)
    assert mean_pairwise_distance(points) == pytest.approx(10 / 3)


# --- no progress --------------------------------------------------------------------------------


def test_no_progress_fires_when_w1_stalls_far_from_converged():
    config = TrainConfig(data="ring", eval_every=100, monitor={"patience": 300})
    w1 = [1.0, 0.8, 0.79, 0.82, 0.78, 0.8]  # best 0.8 at step 200, nothing 5 % better after it
    finding = feed(NoProgress(config), rows_of("eval_w1", w1, every=100))
    assert (finding.name, finding.step, finding.detected_at) == ("no-progress", 200, 500)
    assert finding.evidence["best"] == 0.8


def test_no_progress_says_where_the_last_gain_was_when_modes_gained_after_the_best_w1():
    config = TrainConfig(data="ring", eval_every=100, monitor={"patience": 300})
    rows = rows_of("eval_w1", [1.0, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9], every=100)
    for row, modes in zip(rows, [1, 2, 2, 5, 5, 5, 5], strict=True):
        row["eval_modes"] = modes  # best W1 at step 200, the last new mode at step 400
    finding = feed(NoProgress(config), rows)
    assert finding.step == 400
    assert "has not improved for 300 steps (last gain at step 400): best 0.5 and 5 modes, now 0.9" in (
        finding.message
    )


def test_no_progress_stays_quiet_while_improving_or_once_converged():
    config = TrainConfig(data="ring", eval_every=100, monitor={"patience": 300})
    improving = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    converged = [1.0, 0.5, 0.1, 0.1, 0.11, 0.1, 0.1, 0.1]  # flat, but at a tenth of its worst
    assert feed(NoProgress(config), rows_of("eval_w1", improving, every=100)) is None
    assert feed(NoProgress(config), rows_of("eval_w1", converged, every=100)) is None


def test_no_progress_counts_new_modes_as_progress_on_data_with_modes():
    # A real ns run on the grid: W1 sat near 0.8 while G found mode after mode (0 -> 20 of 25).
    config = TrainConfig(data="grid", eval_every=100, monitor={"patience": 300})
    w1 = [1.0, 0.8, 0.79, 0.82, 0.78, 0.8, 0.81, 0.79]
    modes = [0, 1, 5, 9, 13, 17, 20, 22]
    rows = [{**row, "eval_modes": m} for row, m in zip(rows_of("eval_w1", w1, every=100), modes, strict=True)]
    assert feed(NoProgress(config), rows) is None
    stuck = [{**row, "eval_modes": 3} for row in rows_of("eval_w1", w1, every=100)]
    finding = feed(NoProgress(config), stuck)
    assert finding.step == 200 and finding.evidence["most_modes"] == 3
    assert "nor the modes covered" in finding.message
    # A ring run that found all 8 modes with 94 % good samples: W1 stuck on its jitter floor, above
    # half its (already small) worst value, is done, not stalled; the same W1 on 3 modes is not.
    ring = TrainConfig(data="ring", eval_every=100, monitor={"patience": 300})
    floor = [{**row, "eval_modes": 8, "eval_modes_total": 8, "eval_high_quality": 0.94} for row in rows]
    assert feed(NoProgress(ring), floor) is None
    few = [{**row, "eval_modes": 3, "eval_modes_total": 8, "eval_high_quality": 0.94} for row in rows]
    assert feed(NoProgress(ring), few).name == "no-progress"


def test_no_progress_uses_the_critic_estimate_without_toy_metrics():
    config = TrainConfig(data="swissroll", objective="wgan-gp", eval_every=0, monitor={"patience": 20})
    rows = [{"step": s, "d_real": 1.0, "d_fake": 0.0} for s in range(10, 60, 10)]
    assert feed(NoProgress(config), rows).evidence["best"] == 1.0
    classifier = TrainConfig(data="swissroll", objective="ns", eval_every=0, monitor={"patience": 20})
    assert feed(NoProgress(classifier), rows) is None  # no progress signal for a classifier here


# --- divergence ---------------------------------------------------------------------------------


def test_divergence_fires_on_the_first_null_and_remembers_the_last_finite_row():
    rows = [{"step": 10, "d_loss": 1.0, "g_loss": 1.0}, {"step": 20, "d_loss": None, "g_loss": 2.0}]
    finding = feed(Divergence(TrainConfig()), rows)
    assert (finding.step, finding.evidence["last_finite_step"]) == (20, 10)
    assert "d_loss" in finding.message and "g_loss" not in finding.message


# --- findings open and close -------------------------------------------------------------------


def test_a_finding_closes_after_its_window_without_the_condition_and_can_reopen():
    config = TrainConfig(objective="minimax", monitor={"window": 2})
    norms = [1.0, 1e-4, 1e-4, 1e-4, 0.5, 1e-4, 0.5, 0.5, 0.5, 1e-4, 1e-4]  # one short blip, not a close
    events = episodes(VanishingGradients(config), rows_of("g_grad_norm", norms))
    # opens at 20 (held at 20, 30), closes: clear from 70 on (the 50 blip is one row), reopens at 100
    assert events == [(20, None), (20, 70), (100, None)]


def test_close_record_carries_both_steps_and_the_step_it_was_sure():
    config = TrainConfig(objective="minimax", monitor={"window": 2})
    monitor = VanishingGradients(config)
    rows = rows_of("g_grad_norm", [1.0, 1e-4, 1e-4, 1.0, 1.0])
    opened, closed = [f for f in map(monitor.observe, rows) if f is not None]
    assert (opened.ended, opened.closed_at, opened.detected_at) == (None, None, 30)
    assert (closed.step, closed.detected_at, closed.ended, closed.closed_at) == (20, 30, 40, 50)
    assert not monitor.fired and closed.message == opened.message


def test_no_progress_closes_once_w1_improves_again_or_converges():
    config = TrainConfig(data="grid", eval_every=100, monitor={"patience": 300})
    # the run: W1 stalls at ~0.7 from step 200, then learns to 0.25 (from a worst of 0.82)
    w1 = [0.82, 0.69, 0.77, 0.7, 0.72, 0.73, 0.62, 0.55, 0.4, 0.3, 0.25, 0.26, 0.25, 0.24]
    events = episodes(NoProgress(config), rows_of("eval_w1", w1, every=100))
    assert events == [(200, None), (200, 700)]  # open from 500 (patience), closed: new best at 700


def test_mode_collapse_that_recovers_is_an_ended_episode():
    config = TrainConfig(data="ring")
    collapsed = {"eval_modes": 1, "eval_modes_total": 8, "eval_high_quality": 0.9}
    healthy = {"eval_modes": 8, "eval_modes_total": 8, "eval_high_quality": 0.9}
    stream = [collapsed, collapsed, collapsed, healthy, collapsed, healthy, healthy]
    rows = [{"step": 100 * (i + 1), **r} for i, r in enumerate(stream)]
    assert episodes(ModeCollapse(config), rows) == [(100, None), (100, 600)]


def test_divergence_never_closes():
    monitor = Divergence(TrainConfig())
    rows = [{"step": 10, "d_loss": None}] + [{"step": 10 * i, "d_loss": 1.0} for i in range(2, 9)]
    assert episodes(monitor, rows) == [(10, None)]


def test_replay_lists_every_episode_with_its_end():
    config = TrainConfig(objective="minimax", monitor={"window": 2})
    rows = rows_of("g_grad_norm", [1.0, 1e-4, 1e-4, 1.0, 1.0, 1e-4, 1e-4])
    found = [(f["name"], f["step"], f["ended"]) for f in replay(config, rows)]
    assert found == [("vanishing-gradients", 20, 40), ("vanishing-gradients", 60, None)]


# --- oscillation --------------------------------------------------------------------------------


def test_swing_reversals_counts_direction_changes_of_large_moves_only():
    assert swing_reversals([24, 2, 24, 3], threshold=5) == (2, 0)
    assert swing_reversals([24, 23, 24, 2, 3, 24], threshold=5) == (1, 2)  # small wiggles ignored
    assert swing_reversals([2, 10, 18, 24], threshold=5) == (0, 0)  # steady progress: no reversal


def modes_rows(modes, total=25, every=250):
    return [
        {"step": every * (i + 1), "eval_modes": m, "eval_modes_total": total, "eval_high_quality": 0.6}
        for i, m in enumerate(modes)
    ]


def test_oscillation_of_modes_covered_opens_with_its_evidence_and_closes_once_settled():
    config = TrainConfig(data="grid")
    swinging = [20, 22, 24, 2, 24, 3, 24, 24]  # 3 swings of > 0.3 x 25 modes, 2 reversals by step 1500
    settled = [24, 24, 24, 23, 24, 24, 24, 24]
    monitor = Oscillation(config)
    rows = modes_rows(swinging + settled)
    events = [f for f in map(monitor.observe, rows) if f is not None]
    opened, closed = events
    assert (opened.step, opened.detected_at, opened.ended) == (750, 1500, None)  # from the 24 before 2
    assert opened.evidence["metric"] == "eval_modes" and opened.evidence["values"][-4:] == [24, 2, 24, 3]
    assert opened.evidence["steps"][-1] == 1500 and "modes covered swung 3 times" in opened.message
    # closes once the window (8 evaluations) holds fewer than 2 reversals: the 24 -> 2 swing has left it
    assert (closed.ended, closed.closed_at) == (3000, 3000)  # window [24, 3, 24, 24, ...]: one reversal


def test_steady_learning_or_small_noise_is_not_oscillation():
    config = TrainConfig(data="grid")
    assert feed(Oscillation(config), modes_rows([0, 3, 8, 14, 19, 23, 24, 25, 25, 24])) is None
    assert feed(Oscillation(config), modes_rows([24, 21, 24, 21, 24, 21, 24, 21])) is None  # 3 < 7.5
    one_dip = [24, 24, 2, 24, 24, 24, 24, 24]  # one dip and back: one reversal, not an oscillation
    assert feed(Oscillation(config), modes_rows(one_dip)) is None


def test_oscillation_of_w1_is_judged_relative_to_its_level():
    config = TrainConfig(data="grid")
    w1 = [0.3, 0.6, 0.3, 0.6, 0.3]  # swings of 0.3 around a median 0.3: 100 % of its level
    finding = feed(Oscillation(config), rows_of("eval_w1", w1, every=250))
    assert finding.evidence["metric"] == "eval_w1" and finding.step == 250
    noisy = [0.30, 0.33, 0.29, 0.32, 0.30, 0.33]  # +-10 %: evaluation noise
    assert feed(Oscillation(config), rows_of("eval_w1", noisy, every=250)) is None


def test_w1_jitter_near_the_data_is_not_oscillation_but_being_thrown_across_the_plane_is():
    # A healthy ns run on the ring (real numbers): 8 of 8 modes, W1 moves by ~50 % of its median
    # with the jitter inside each mode, but far less than 0.3 x its worst value (0.42 at the start).
    w1 = [0.417, 0.164, 0.119, 0.075, 0.078, 0.099, 0.096, 0.104, 0.168, 0.121]
    rows = [{**row, "eval_w1": w1[i]} for i, row in enumerate(modes_rows([8] * 10, total=8))]
    assert feed(Oscillation(TrainConfig(data="ring")), rows) is None
    # A generator shifted back and forth (the doctor benchmark's case): W1 swings 2.0 <-> 0.5 while
    # the ring's narrow modes are never covered, so only W1 shows it.
    shaken = [1.994, 0.713, 2.342, 0.35, 2.434, 0.462, 2.441, 0.522]
    rows = [
        {**row, "eval_w1": shaken[i]} for i, row in enumerate(modes_rows([0, 1, 0, 3, 0, 1, 0, 1], total=8))
    ]
    assert feed(Oscillation(TrainConfig(data="ring")), rows).evidence["metric"] == "eval_w1"


# --- where findings go --------------------------------------------------------------------------


def test_findings_log_prints_once_appends_jsonl_and_stops_on_request(tmp_path):
    printed = []
    log = FindingsLog(tmp_path / "findings.jsonl", printed.append, stop_on=("mode-collapse",))
    monitor = VanishingGradients(TrainConfig(monitor={"window": 1}), log)
    for norm in (1.0, 0.001, 0.001, 0.001):
        monitor.on_log(None, {"step": 1, "g_grad_norm": norm})
    [finding] = read_findings(tmp_path)
    assert set(finding) == FINDING_KEYS and finding["name"] == "vanishing-gradients"
    assert sum("finding vanishing-gradients" in line for line in printed) == 1
    collapse = ModeCollapse(TrainConfig(), log)
    row = {"step": 5, "eval_modes": 1, "eval_modes_total": 8, "eval_high_quality": 1.0}
    collapse.on_log(None, row)
    with pytest.raises(StopTraining, match="mode-collapse"):
        collapse.on_log(None, row)
    log.keep_until(4)  # a resume from step 4 forgets what was found after it
    assert [f["name"] for f in read_findings(tmp_path)] == ["vanishing-gradients"]


def test_findings_file_is_append_only_and_a_resume_reopens_what_closed_later(tmp_path):
    printed = []
    log = FindingsLog(tmp_path / "findings.jsonl", printed.append, stop_on=("vanishing-gradients",))
    monitor = VanishingGradients(TrainConfig(objective="minimax", monitor={"window": 2}), log)
    with pytest.raises(StopTraining):  # --stop-on acts when the finding opens ...
        for row in rows_of("g_grad_norm", [1.0, 1e-4, 1e-4]):
            monitor.on_log(None, row)
    for row in ({"step": 40, "g_grad_norm": 1.0}, {"step": 50, "g_grad_norm": 1.0}):
        monitor.on_log(None, row)  # ... not when it closes
    lines = (tmp_path / "findings.jsonl").read_text().splitlines()
    assert [json.loads(line)["ended"] for line in lines] == [None, 40]  # open record, then close record
    [finding] = read_findings(tmp_path)
    assert (finding["step"], finding["ended"], finding["closed_at"]) == (20, 40, 50)
    assert log.findings == [finding] and "ended (from step 20 to 40)" in printed[-1]
    log.keep_until(45)  # resumed from a checkpoint before the close was sure: the episode is open again
    assert [f["ended"] for f in read_findings(tmp_path)] == [None]


def test_findings_written_before_findings_could_close_still_read(tmp_path):
    old = {
        "name": "no-progress",
        "step": 500,
        "detected_at": 1500,
        "message": "m",
        "evidence": {},
        "remedies": [],
    }
    (tmp_path / "findings.jsonl").write_text(json.dumps(old) + "\n" + '{"torn')
    assert read_findings(tmp_path) == [{**old, "ended": None, "closed_at": None}]


def test_monitor_state_round_trip_continues_exactly():
    config = TrainConfig(objective="minimax", monitor={"window": 3})
    rows = rows_of("g_grad_norm", [1.0, 2.0, 0.01, 0.005, 0.004, 0.003])
    whole = feed(VanishingGradients(config), rows)
    first = VanishingGradients(config)
    assert feed(first, rows[:4]) is None
    second = VanishingGradients(config)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert feed(second, rows[4:]) == whole


def test_replay_over_rows_finds_what_the_live_monitors_find():
    config = TrainConfig(objective="minimax", monitor={"window": 2})
    rows = [{"step": 10 * (i + 1), "g_grad_norm": g, "d_loss": 1.0} for i, g in enumerate([1, 1e-3, 1e-3])]
    rows.append({"step": 40, "g_grad_norm": None, "d_loss": None})
    assert [f["name"] for f in replay(config, rows)] == ["vanishing-gradients", "divergence"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"stop_on": ("collapse",)}, "unknown finding 'collapse'"),
        ({"monitor_d_confidence": 1.0}, "monitor_d_confidence must be in \\(0, 1\\)"),
        ({"monitor_window": 0}, "monitor_window must be > 0"),
        ({"monitor_patience": -1}, "monitor_patience must be >= 0"),
    ],
)
def test_bad_monitor_settings_are_one_clear_error(values, message):
    with pytest.raises(GankitError, match=message):
        Thresholds.of(from_dict(values))  # a threshold: checked by diagnose, the rest by the config


def test_the_docs_table_of_thresholds_is_the_one_written_from_their_fields():
    import re
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "scripts"))
    try:
        import doctor_examples
    finally:
        sys.path.remove(str(root / "scripts"))
    doc = (root / "docs" / "doctor.md").read_text()
    table = re.search(r"<!-- BEGIN thresholds -->\n(.*?)\n<!-- END thresholds -->", doc, re.DOTALL).group(1)
    assert table == doctor_examples.thresholds_table()


def test_each_example_in_the_docs_shows_the_finding_its_section_is_about():
    """docs/doctor.md's examples are pasted outputs (scripts/doctor_examples.py): one that no longer
    shows its finding (a recipe that stopped failing) must not sit under that finding's heading."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "doctor.md").read_text()
    heading, checked = None, 0
    for line in doc.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("# ").strip()
        match = re.match(r"verdict: (.*)", line)
        if match and heading in FINDING_NAMES:
            assert heading in match.group(1).split("; earlier")[0], (heading, line)
            checked += 1
        elif match and heading == "A healthy run comes back clean":
            assert match.group(1) == "healthy now (no findings)"
            checked += 1
    assert checked >= 6


# --- induced failures in real (small) training runs --------------------------------------------

SMALL = {"width": 32, "batch_size": 64, "log_every": 5, "eval_every": 0, "sample_every": 0, "device": "cpu"}


def names(result):
    return [f["name"] for f in result.findings]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_minimax_against_a_strong_discriminator_vanishes_and_ns_does_not(seed):
    # D gets 5 steps at lr 1e-2 per G step: it rejects the fakes almost at once.
    strong_d = {**SMALL, "seed": seed, "steps": 60, "d_lr": 1e-2, "critic_steps": 5}
    minimax = train(TrainConfig(objective="minimax", **strong_d), echo=lambda _: None)
    assert "vanishing-gradients" in names(minimax)
    ns = train(TrainConfig(objective="ns", **strong_d), echo=lambda _: None)
    assert "vanishing-gradients" not in names(ns)


def test_resume_keeps_monitor_state_so_a_finding_is_not_raised_twice(tmp_path):
    from gankit.runs.assemble import resume

    strong_d = {**SMALL, "steps": 60, "d_lr": 1e-2, "critic_steps": 5, "checkpoint_every": 30}
    printed = []
    first = train(TrainConfig(objective="minimax", **strong_d), tmp_path / "run", echo=printed.append)
    assert "vanishing-gradients" in names(first)
    again = resume(tmp_path / "run", steps=120, echo=printed.append)
    assert again.trainer.step == 120
    assert [f["name"] for f in read_findings(tmp_path / "run")].count("vanishing-gradients") == 1
    assert sum("finding vanishing-gradients" in line for line in printed) == 1
    assert "vanishing-gradients" in names(again)  # the resumed result still knows the run's findings


class RaiseLearningRate(Callback):
    """After ``step`` steps, every learning rate jumps to ``lr``: the run blows up from there."""

    def __init__(self, step: int, lr: float):
        self.step, self.lr = step, lr

    def on_step(self, trainer) -> None:
        if trainer.step == self.step:
            for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
                for group in optimizer.param_groups:
                    group["lr"] = self.lr


def test_huge_learning_rate_diverges_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    config = TrainConfig(
        objective="wgan-gp", optimizer="sgd", steps=200, checkpoint_every=10, **{**SMALL, "log_every": 10}
    )
    messages = []
    result = train(config, tmp_path / "run", callbacks=[RaiseLearningRate(25, 1e6)], echo=messages.append)
    [finding] = [f for f in result.findings if f["name"] == "divergence"]
    assert result.trainer.step < 200 and result.stopped.startswith("divergence")
    good = finding["evidence"]["last_good_checkpoint"]
    assert good == 20 and "last good checkpoint (step 20) is kept" in finding["message"]
    assert checkpoint_step(list_checkpoints(tmp_path / "run" / "checkpoints")[-1]) == 20
    state = load_latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert all(torch.isfinite(t).all() for t in state["generator"].values())
    assert read_findings(tmp_path / "run")[-1]["name"] == "divergence"


class PinGeneratorTo(Callback):
    """Forces G to output one point, whatever its input: the extreme of mode collapse."""

    def __init__(self, point: list[float]):
        self.point = torch.tensor(point)

    def on_step(self, trainer) -> None:
        last = [m for m in trainer.generator.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(self.point)


@pytest.mark.parametrize(("data", "point"), [("ring", [1.0, 0.0]), ("swissroll", [0.5, 0.5])])
def test_generator_forced_to_one_mode_is_mode_collapse_and_can_stop_the_run(data, point):
    config = TrainConfig(
        data=data,
        objective="ns",
        steps=80,
        eval_samples=300,
        monitor={"warmup": 0},
        stop_on=("mode-collapse",),
        **{**SMALL, "eval_every": 10},
    )
    result = train(config, callbacks=[PinGeneratorTo(point)], echo=lambda _: None)
    [finding] = [f for f in result.findings if f["name"] == "mode-collapse"]
    assert finding["step"] == 10 and result.trainer.step == finding["detected_at"] == 20
    evidence = finding["evidence"]
    if data == "ring":
        assert evidence["modes_covered"] == 1 and evidence["high_quality"] > 0.99
    else:
        assert evidence["diversity_ratio"] < 0.01


def test_the_live_alarm_prints_the_doctors_measured_ranking(tmp_path, monkeypatch):
    from gankit.diagnose import measured

    coverage = {"finding": "mode-collapse", "case": "ring-ns", "runs": "collapsed ring runs", "data": "ring"}
    coverage |= {"objective": "ns", "remedy": "coverage", "way": "restart", "flags": "--coverage-weight 10"}
    coverage |= {"values": {"coverage_weight": 10.0}, "fixed": 4, "n": 5, "interval": [0.38, 0.96]}
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"rates": [coverage]}))
    monkeypatch.setattr(measured, "RATES_FILE", rates)
    config = TrainConfig(
        data="ring", objective="ns", steps=80, eval_samples=300, monitor={"warmup": 0},
        stop_on=("mode-collapse",), **{**SMALL, "eval_every": 10},
    )  # fmt: skip
    printed = []
    train(config, tmp_path / "run", callbacks=[PinGeneratorTo([1.0, 0.0])], echo=printed.append)
    at = next(i for i, line in enumerate(printed) if line.startswith("gankit: finding mode-collapse"))
    remedies = [line for line in printed[at + 1 :] if line.startswith("  - ")]
    best = "fixed 4 of 5 collapsed ring runs (95 % interval 38%-96%) (restart with --coverage-weight 10)"
    assert remedies[0] == f"  - {best}"
    assert remedies[1:] and all(line.endswith("(not measured)") for line in remedies[1:])


def test_frozen_generator_makes_no_progress():
    config = TrainConfig(
        objective="wgan-gp",
        steps=60,
        g_lr=1e-9,
        eval_samples=300,
        monitor={"patience": 30},
        **{**SMALL, "eval_every": 10},
    )
    result = train(config, echo=lambda _: None)
    [finding] = [f for f in result.findings if f["name"] == "no-progress"]
    assert finding["detected_at"] - finding["step"] >= 30
    assert not math.isnan(finding["evidence"]["latest"])


@pytest.mark.parametrize("seed", [0, 1])
def test_wgan_gp_without_its_penalty_lets_the_critic_overpower(seed):
    # gradient_penalty_weight 0: nothing keeps the critic 1-Lipschitz, its gap and gradients explode.
    config = TrainConfig(
        objective="wgan-gp",
        gradient_penalty_weight=0.0,
        d_lr=1e-3,
        steps=80,
        seed=seed,
        monitor={"window": 3},
        **SMALL,
    )
    result = train(config, echo=lambda _: None)
    [finding] = [f for f in result.findings if f["name"] == "discriminator-overpowers"]
    evidence = finding["evidence"]
    assert evidence["gradient_penalty"] > 1
    assert evidence["growth"] > 10 or evidence["critic_gradient_norm"] > Thresholds.of(config).lipschitz_norm


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_healthy_wgan_gp_on_the_ring_raises_no_finding(seed):
    # The paper's settings (Adam 1e-4, betas (0, 0.9), 5 critic steps, lambda 10) and every monitor
    # threshold at its default; evaluations every 20 steps feed the toy mode-collapse check too.
    config = TrainConfig(
        objective="wgan-gp", steps=100, seed=seed, eval_samples=300, **{**SMALL, "eval_every": 20}
    )
    result = train(config, echo=lambda _: None)
    assert result.findings == [] and result.stopped is None


def test_monitors_only_watch_training_numbers_are_the_same_without_them():
    config = TrainConfig(objective="ns", steps=20, seed=3, **{**SMALL, "eval_every": 10})
    watched = train(config, echo=lambda _: None).trainer.generator.state_dict()
    unwatched = train(config.replace(monitors=False), echo=lambda _: None).trainer.generator.state_dict()
    assert all(torch.equal(watched[key], unwatched[key]) for key in watched)
