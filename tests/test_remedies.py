"""Remedies fitted to the run: concrete values from its config, never what it already does."""

from __future__ import annotations

import pytest

from gankit.config import FINDING_NAMES, TrainConfig
from gankit.diagnose.remedies import REMEDIES, number, remedies_for


def joined(name, **config):
    return "\n".join(remedies_for(name, TrainConfig(**config)))


@pytest.mark.parametrize(
    ("value", "text"), [(1e-3, "1e-3"), (1e-3 / 3, "3e-4"), (2e-4 / 3, "7e-5"), (10.0, "10")]
)
def test_numbers_read_as_a_user_types_them(value, text):
    assert number(value) == text


def test_every_finding_has_remedies_for_every_objective():
    assert set(REMEDIES) == set(FINDING_NAMES)
    for objective in ("minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"):
        for name in FINDING_NAMES:
            assert remedies_for(name, TrainConfig(objective=objective)), (name, objective)


def test_no_progress_never_suggests_the_objective_the_run_already_has():
    # the run: wgan-gp at lr 1e-3 was told "try a different objective (--objective wgan-gp)"
    text = joined("no-progress", objective="wgan-gp", g_lr=1e-3, d_lr=1e-3, critic_steps=5)
    assert "--objective" not in text and "--critic-steps" not in text
    assert "the generator's lr is 1e-3: try 3e-4 (--g-lr 3e-4)" in text


def test_a_near_zero_learning_rate_is_named_with_the_objective_default():
    text = joined("no-progress", objective="wgan-gp", g_lr=1e-9, d_lr=1e-4)
    assert "try 0.0001 and 0.0001" not in text and "(--g-lr 1e-4 --d-lr 1e-4)" in text


def test_mode_collapse_remedies_skip_what_the_run_already_does():
    plain = joined("mode-collapse", objective="ns", g_lr=2e-4)
    assert "--pack 2" in plain and "--ema-decay 0.999" in plain and "--objective wgan-gp" in plain
    assert "the generator's lr is 2e-4: try 7e-5 (--g-lr 7e-5)" in plain
    done = joined("mode-collapse", objective="wgan-gp", pack=2, ema_decay=0.999)
    assert "--pack 2" not in done and "--pack 4" in done
    assert "--ema-decay" not in done and "--objective" not in done
    assert "--pack" not in joined("mode-collapse", pack=4)


def test_overpowering_remedies_follow_the_objective():
    assert "the critic's lr is 1e-3: try 3e-4 (--d-lr 3e-4)" in joined("discriminator-overpowers", d_lr=1e-3)
    # the usual weight is the one gankit defaults to for the run's data: 10 on images, 0.1 on toy data
    weak_penalty = joined(
        "discriminator-overpowers", objective="wgan-gp", data="digits", gradient_penalty_weight=0.1
    )
    assert "the gradient penalty weight is 0.1: try 10 (--gp-weight 10)" in weak_penalty
    weak_toy = joined("discriminator-overpowers", objective="wgan-gp", data="ring", gradient_penalty_weight=0)
    assert "the gradient penalty weight is 0: try 0.1 (--gp-weight 0.1)" in weak_toy
    assert "--gp-weight" not in joined(
        "discriminator-overpowers", objective="wgan-gp", data="digits", gradient_penalty_weight=10
    )
    assert "--gp-weight" not in joined(
        "discriminator-overpowers", objective="wgan-gp", data="ring", gradient_penalty_weight=0.1
    )
    assert "try 0.01 (--clip-value 0.01)" in joined(
        "discriminator-overpowers", objective="wgan", clip_value=0.1
    )
    ns = joined("discriminator-overpowers", objective="ns", critic_steps=5, d_lr=1e-2)
    assert "D takes 5 steps per G step: try 1 (--critic-steps 1)" in ns and "--objective ns" not in ns
    assert "--critic-steps" not in joined("discriminator-overpowers", objective="ns", critic_steps=1)


def test_vanishing_gradients_suggests_ns_only_to_minimax():
    assert "--objective ns" in joined("vanishing-gradients", objective="minimax")
    assert "--objective ns" not in joined("vanishing-gradients", objective="ns")
    assert "--objective" not in joined("vanishing-gradients", objective="wgan-gp")


def test_divergence_gives_ten_times_smaller_rates_and_names_sgd_and_missing_constraints():
    text = joined(
        "divergence", objective="wgan-gp", optimizer="sgd", g_lr=1e-2, d_lr=1e-2, gradient_penalty_weight=0
    )
    assert "(--g-lr 1e-3 --d-lr 1e-3)" in text and "--gp-weight 0.1" in text
    assert "(--optimizer adam --g-lr 1e-4 --d-lr 1e-4)" in text  # Adam at wgan-gp's rates, not SGD's 1e-2
    assert "--optimizer" not in joined("divergence", objective="wgan-gp", optimizer="adam")


def test_oscillation_remedies_lower_both_rates_and_add_an_ema_only_when_missing():
    text = joined("oscillation", objective="wgan-gp", g_lr=1e-3, d_lr=1e-3)
    assert "--g-lr 3e-4" in text and "--d-lr 3e-4" in text and "--ema-decay 0.999" in text
    assert "--ema-decay" not in joined("oscillation", ema_decay=0.999)


def test_oscillation_in_a_critic_of_one_step_a_g_step_suggests_the_papers_five():
    assert "(--critic-steps 5)" in joined("oscillation", objective="wgan-gp", critic_steps=1)
    assert "--critic-steps" not in joined("oscillation", objective="wgan-gp")  # the paper's 5 already
    assert "--critic-steps" not in joined("oscillation", objective="ns", critic_steps=1)
