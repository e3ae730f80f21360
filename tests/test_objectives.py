"""Losses pinned to hand-computed constants, the penalty to its closed form, and the sign conventions."""

import math

import pytest
import torch
from torch import nn

from gankit import objectives as obj

LOG2 = math.log(2)


def scores(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_minimax_and_ns_at_d_equal_one_half():
    # score 0 -> D = 1/2: L_D = -log(1/2) - log(1/2) = 2 ln 2; L_G(minimax) = log(1/2); L_G(ns) = ln 2.
    zero = scores(0.0, 0.0)
    assert obj.minimax_discriminator_loss(zero, zero).item() == pytest.approx(2 * LOG2)
    assert obj.minimax_generator_loss(zero).item() == pytest.approx(-LOG2)
    assert obj.ns_generator_loss(zero).item() == pytest.approx(LOG2)


def test_minimax_discriminator_loss_constant():
    # D(real) = s(2), D(fake) = s(-1): L = -log s(2) - log(1 - s(-1)) = softplus(-2) + softplus(-1)
    expected = math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))
    assert obj.minimax_discriminator_loss(scores(2.0), scores(-1.0)).item() == pytest.approx(expected)


def test_wasserstein_losses():
    real, fake = scores(3.0, 1.0), scores(0.5, -0.5)
    assert obj.wasserstein_discriminator_loss(real, fake).item() == pytest.approx(0.0 - 2.0)
    assert obj.wasserstein_generator_loss(fake).item() == pytest.approx(0.0)
    assert obj.wasserstein_generator_loss(scores(2.0)).item() == pytest.approx(-2.0)


def test_hinge_losses():
    real, fake = scores(0.5, 2.0), scores(-2.0, 0.0)
    # real: max(0, 0.5) + max(0, -1) -> mean 0.25 ; fake: max(0, -1) + max(0, 1) -> mean 0.5
    assert obj.hinge_discriminator_loss(real, fake).item() == pytest.approx(0.75)
    assert obj.hinge_generator_loss(fake).item() == pytest.approx(1.0)


def test_lsgan_losses():
    real, fake = scores(1.0, 0.0), scores(0.0, 2.0)
    # 0.5 * mean((r-1)^2) = 0.5 * 0.5 ; 0.5 * mean(f^2) = 0.5 * 2
    assert obj.lsgan_discriminator_loss(real, fake).item() == pytest.approx(0.25 + 1.0)
    assert obj.lsgan_generator_loss(fake).item() == pytest.approx(0.5 * (1 + 1) / 2)


@pytest.mark.parametrize("name", list(obj.OBJECTIVES))
def test_discriminator_loss_falls_when_real_scores_rise_and_fake_scores_fall(name):
    objective = obj.OBJECTIVES[name]
    # From a point inside every loss's active region (lsgan's targets are 0 and 1, hinge's margins +-1).
    base = objective.discriminator_loss(scores(0.25), scores(0.25))
    assert objective.discriminator_loss(scores(0.5), scores(0.25)) < base
    assert objective.discriminator_loss(scores(0.25), scores(0.0)) < base


def generator_loss(objective, fake, real=None):
    """G's loss; an objective that pairs G's samples with real ones gets real scores too (0 if none)."""
    if objective.pairs_with_real:
        return objective.generator_loss(fake, torch.zeros_like(fake) if real is None else real)
    return objective.generator_loss(fake)


@pytest.mark.parametrize("name", list(obj.OBJECTIVES))
def test_generator_loss_falls_when_fake_scores_rise(name):
    objective = obj.OBJECTIVES[name]
    assert generator_loss(objective, scores(0.5)) < generator_loss(objective, scores(0.0))


def test_rpgan_losses_are_softplus_of_paired_score_differences():
    # pairs (r, f) = (2, -1) and (0, 1): L_D = mean softplus(-(r - f)) = (softplus(-3) + softplus(1)) / 2
    real, fake = scores(2.0, 0.0), scores(-1.0, 1.0)
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert obj.rpgan_discriminator_loss(real, fake).item() == pytest.approx((softplus(-3) + softplus(1)) / 2)
    assert obj.rpgan_generator_loss(fake, real).item() == pytest.approx((softplus(3) + softplus(-1)) / 2)
    # only differences count: shifting every score leaves both losses unchanged
    assert obj.rpgan_discriminator_loss(real + 5, fake + 5).item() == pytest.approx(
        obj.rpgan_discriminator_loss(real, fake).item()
    )
    # the pairing is row by row, not all-against-all: swapping the fakes' order changes the loss
    assert obj.rpgan_discriminator_loss(real, fake.flip(0)).item() != pytest.approx(
        obj.rpgan_discriminator_loss(real, fake).item()
    )


def _grad_wrt_score(loss_fn, value):
    s = torch.tensor([value], dtype=torch.float64, requires_grad=True)
    loss_fn(s).backward()
    return s.grad.item()


def test_saturating_gradient_vanishes_and_non_saturating_does_not():
    # D(G(z)) = sigmoid(-20) ~ 2e-9: the generator is losing badly.
    saturating = _grad_wrt_score(obj.minimax_generator_loss, -20.0)
    non_saturating = _grad_wrt_score(obj.ns_generator_loss, -20.0)
    assert abs(saturating) < 1e-8  # -sigmoid(s) -> 0
    assert non_saturating == pytest.approx(-1.0, abs=1e-8)  # sigmoid(s) - 1 -> -1


def test_losses_stay_finite_for_extreme_scores():
    extreme = scores(-1e4, 1e4)
    for objective in obj.OBJECTIVES.values():
        assert torch.isfinite(objective.discriminator_loss(extreme, extreme))
        assert torch.isfinite(generator_loss(objective, extreme, extreme.flip(0)))


class Linear(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight, dtype=torch.float64))

    def forward(self, x):
        return x @ self.weight


@pytest.mark.parametrize("weight", [[3.0, 4.0], [0.3, 0.4], [1.0, 0.0]])
def test_gradient_penalty_of_a_linear_critic_is_its_closed_form(weight):
    # f(x) = w.x has gradient w everywhere, so GP = (||w|| - 1)^2 exactly, whatever the samples.
    critic = Linear(weight)
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(16, 2, dtype=torch.float64, generator=generator)
    fake = torch.randn(16, 2, dtype=torch.float64, generator=generator)
    penalty = obj.gradient_penalty(critic, real, fake, generator)
    norm = math.hypot(*weight)
    assert penalty.item() == pytest.approx((norm - 1) ** 2)


def test_gradient_penalty_uses_per_sample_norms():
    # f(x) = ||x||^2 / 2 has gradient x: per-sample norms differ, so the per-sample penalty differs
    # from a whole-batch norm. With real == fake the interpolate is the sample itself.
    class HalfSquare(nn.Module):
        def forward(self, x):
            return 0.5 * (x**2).sum(dim=1)

    x = torch.tensor([[3.0, 4.0], [0.0, 1.0]], dtype=torch.float64)
    penalty = obj.gradient_penalty(HalfSquare(), x, x.clone())
    expected = ((5 - 1) ** 2 + (1 - 1) ** 2) / 2  # norms 5 and 1
    assert penalty.item() == pytest.approx(expected)


def test_gradient_penalty_backpropagates_into_the_critic():
    critic = Linear([3.0, 4.0])
    x = torch.randn(8, 2, dtype=torch.float64)
    obj.gradient_penalty(critic, x, x + 1).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (0.6, 0.8)
    torch.testing.assert_close(critic.weight.grad, torch.tensor([4.8, 6.4], dtype=torch.float64))


def test_clip_weights_bounds_every_parameter():
    net = nn.Linear(4, 3)
    nn.init.normal_(net.weight, std=5)
    obj.clip_weights_(net, 0.01)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())


def test_unknown_objective_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown objective 'wgan_gp'; allowed: minimax, ns, wgan, wgan-gp"):
        obj.get_objective("wgan_gp")
