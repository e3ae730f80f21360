"""Image regularisers: R1/R2 (against hand-computed constants), DiffAugment, spectral normalisation."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gankit.engine.critic as critic_module
from gankit.augment import diff_augment, random_color, random_cutout, random_translation
from gankit.config import TrainConfig, resolve
from gankit.data import load_data
from gankit.data.images import load_images
from gankit.engine.critic import PLAIN, StepPlan, discriminate
from gankit.engine.loop import Trainer
from gankit.engine.step import d_step, g_step
from gankit.engine.terms import r1_r2_terms
from gankit.nets import build_networks
from gankit.objectives import squared_gradient_norms


def linear_critic() -> nn.Linear:
    """D(x) = w . x + 0.5 with w = (1, 2, 2): grad_x D = w for every x, so ||grad||^2 = 9."""
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[1.0, 2.0, 2.0]]))
        critic.bias.fill_(0.5)
    return critic


def scored(critic, *batches: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The batches made to require grad, and the critic's scores of them (what d_step gives R1/R2)."""
    inputs = [x.clone().requires_grad_(True) for x in batches]
    return inputs, [critic(x) for x in inputs]


def test_squared_gradient_norm_of_a_linear_critic_is_its_weight_norm_squared():
    critic = linear_critic()
    [images], [scores] = scored(critic, torch.randn(5, 3))
    [value] = squared_gradient_norms([images], [scores])
    assert value.item() == pytest.approx(9.0)
    value.backward()  # d/dw ||w||^2 = 2 w: the penalty reaches the critic's parameters
    assert torch.allclose(critic.weight.grad, torch.tensor([[2.0, 4.0, 4.0]]))


def test_r1_and_r2_are_gamma_over_two_times_the_squared_norm_and_lazy_scales_by_k():
    critic = lambda x: linear_critic()(x).squeeze(-1)  # noqa: E731
    (real, fake), (real_scores, fake_scores) = scored(critic, torch.randn(4, 3), torch.randn(4, 3))
    config = TrainConfig(r1_gamma=10.0, r2_gamma=2.0)
    total, stats = r1_r2_terms(real, real_scores, fake, fake_scores, config, d_update=7)
    assert total.item() == pytest.approx(10 / 2 * 9 + 2 / 2 * 9)  # 54
    assert set(stats) == {"r1_penalty", "r2_penalty"}
    lazy = TrainConfig(r1_gamma=10.0, r1_every=4)
    due, stats_due = r1_r2_terms(real, real_scores, fake, fake_scores, lazy, d_update=8)
    skipped, stats_skipped = r1_r2_terms(real, real_scores, fake, fake_scores, lazy, d_update=9)
    assert due.item() == pytest.approx(4 * 10 / 2 * 9)  # 180: k times the term, every k-th update
    assert skipped.item() == 0 and stats_skipped["r1_penalty"].item() == 0
    assert stats_due["r1_penalty"].item() == pytest.approx(36)  # k E||grad||^2: averages to 9


def test_no_regulariser_adds_nothing_and_logs_nothing():
    (real, fake), (real_scores, fake_scores) = scored(
        lambda x: x.sum(1), torch.randn(2, 3), torch.randn(2, 3)
    )
    total, stats = r1_r2_terms(real, real_scores, fake, fake_scores, TrainConfig(), 0)
    assert total.item() == 0 and stats == {}


def gradient_at(critic, images: torch.Tensor) -> torch.Tensor:
    """The penalty as it was computed before it went through the augmentation: E||grad D||^2 at the
    images D scored, from a forward pass of its own."""
    images = images.detach().requires_grad_(True)
    scores = critic(images)
    (grads,) = torch.autograd.grad(scores.float().sum(), images, create_graph=True)
    return grads.float().reshape(scores.shape[0], -1).pow(2).sum(dim=1).mean()


@pytest.mark.parametrize("noise_std", [0.0, 0.3])
@pytest.mark.parametrize("data", ["ring", "digits"])  # an MLP D scored in one call; a batch-norm D in two
def test_without_augmentation_r1_r2_are_the_gradient_at_the_images_d_scored(data, noise_std):
    """The penalty from D's loss forward equals the one from a forward of its own: without
    augmentation T is the identity (instance noise is x + n, Jacobian I), so the numbers are the same."""
    dataset = load_data(data)
    config = resolve(
        TrainConfig(data=data, width=8, batch_size=16, r1_gamma=1.0, r2_gamma=1.0), dataset.shape
    )
    torch.manual_seed(0)
    _, discriminator = build_networks(config, tuple(dataset.shape))
    plan = StepPlan(joint_critic_forward=data == "ring")
    rng = torch.Generator().manual_seed(1)
    real, fake = (
        dataset.sample(16, rng).requires_grad_(True),
        torch.randn(16, *dataset.shape, requires_grad=True),
    )
    seen, scores = discriminate(discriminator, (real, fake), None, config, rng, plan, noise_std)
    _, stats = r1_r2_terms(real, scores[0], fake, scores[1], config, d_update=0)
    assert not torch.equal(seen[0], real) if noise_std else seen[0] is real
    for name, images in zip(("r1_penalty", "r2_penalty"), seen, strict=True):
        old = gradient_at(discriminator, images)
        assert torch.equal(stats[name], old.detach())  # bit for bit


def d_step_of_a_linear_critic(plan: StepPlan, **options):
    """One d_step on ring data with D(y) = (3, 4) . y, which its update leaves as it is (lr 0).
    Returns the step's stats, D (with its gradient), the inputs of D's calls, and the trainer."""
    dataset = load_data("ring")
    config = TrainConfig(data="ring", objective="ns", critic_steps=1, **options)
    t = Trainer(resolve(config, (2,)), dataset, "cpu")
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))
        critic.bias.zero_()
    inputs = []
    critic.register_forward_hook(lambda module, args, out: inputs.append(args[0]))
    optimizer = torch.optim.SGD(critic.parameters(), lr=0.0)
    stats = d_step(t.generator, critic, optimizer, t.objective, t.config, dataset, t.rng, plan)
    return stats, critic, inputs, t


@pytest.mark.parametrize("plan", [PLAIN, StepPlan(joint_critic_forward=True)])
def test_r1_r2_are_taken_through_the_augmentation_with_respect_to_the_images_before_it(monkeypatch, plan):
    """T(x) = 2x and D(y) = w . y: grad_x D(T(x)) = 2w, so the step logs E||2w||^2 = 4 ||w||^2 = 100
    (the gradient at the augmented images would be ||w||^2 = 25). The penalty's gradient reaches D's
    parameters (a double backward) and not G's; D's loss and the penalty share D's forward calls."""
    monkeypatch.setattr(critic_module, "augment", lambda images, config, rng: 2 * images)
    stats, critic, inputs, t = d_step_of_a_linear_critic(plan, r1_gamma=4.0, r2_gamma=2.0)
    _, plain_critic, plain_inputs, plain = d_step_of_a_linear_critic(plan, r1_gamma=0.0)
    assert stats["r1_penalty"].item() == pytest.approx(100.0)
    assert stats["r2_penalty"].item() == pytest.approx(100.0)
    # beside D's loss's own gradient: d/dw (4/2 + 2/2) * 4 ||w||^2 = 24 w
    assert torch.allclose(critic.weight.grad - plain_critic.weight.grad, 24 * critic.weight, atol=1e-4)
    assert all(p.grad is None for p in t.generator.parameters())
    assert len(inputs) == len(plain_inputs) == (1 if plan.joint_critic_forward else 2)
    assert all(x.requires_grad for x in inputs) and not any(x.requires_grad for x in plain_inputs)
    assert torch.equal(t.rng.get_state(), plain.rng.get_state())  # R1/R2 draw no random numbers


def test_lazy_r1_builds_the_inputs_graph_only_on_the_updates_that_take_it():
    t = regularised_trainer(r1_every=2, r2_gamma=0.0)
    assert t.plan.joint_critic_forward  # spectral norm, no batch norm: one D call per update
    inputs_need_grad = []
    t.discriminator.register_forward_hook(lambda m, args, out: inputs_need_grad.append(args[0].requires_grad))
    players = (t.generator, t.discriminator, t.d_optimizer, t.objective, t.config)
    logged = [d_step(*players, t.data, t.rng, t.plan, step) for step in range(4)]
    assert inputs_need_grad == [True, False, True, False]
    assert [stats["r1_penalty"].item() > 0 for stats in logged] == inputs_need_grad


def test_augmentation_without_a_policy_is_the_identity_and_draws_nothing():
    x = torch.randn(4, 1, 8, 8)
    rng = torch.Generator().manual_seed(0)
    state = rng.get_state()
    assert diff_augment(x, (), rng) is x
    assert torch.equal(rng.get_state(), state)


@pytest.mark.parametrize("operation", [random_color, random_translation, random_cutout])
def test_every_augmentation_keeps_the_shape_and_lets_gradients_through(operation):
    x = torch.rand(6, 3, 8, 8).mul(2).sub(1).requires_grad_(True)
    out = operation(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("operation", [random_color, random_translation, random_cutout])
def test_every_augmentation_has_the_exact_gradient_and_second_gradient_for_r1(operation):
    """R1 differentiates D through the augmentation, and its double backward differentiates that
    again: both must be the op's true derivatives (finite differences, in float64)."""
    x = torch.rand(3, 2, 8, 8, dtype=torch.float64).mul(2).sub(1).requires_grad_(True)
    augmented = lambda x: operation(x, torch.Generator().manual_seed(4))  # noqa: E731  same draw each call
    assert torch.autograd.gradcheck(augmented, (x,))
    assert torch.autograd.gradgradcheck(augmented, (x,))


def test_translation_shifts_each_image_by_at_most_one_eighth_of_its_side_with_zero_fill():
    x = torch.rand(16, 1, 8, 8) + 1  # no zeros, so zero fill is visible
    out = random_translation(x, torch.Generator().manual_seed(2))
    padded = F.pad(x, (1, 1, 1, 1))
    shifted = {
        (dy, dx): padded[:, :, 1 + dy : 9 + dy, 1 + dx : 9 + dx]
        for dy, dx in itertools.product((-1, 0, 1), repeat=2)
    }
    for i in range(len(x)):  # every output is one of the nine 1-pixel shifts (8 * 0.125 = 1)
        assert any(torch.equal(out[i], s[i]) for s in shifted.values())
    assert not torch.equal(out, x)  # and not all of them the identity


def test_cutout_zeroes_one_square_of_half_the_side_clipped_at_the_border():
    out = random_cutout(torch.ones(32, 1, 8, 8), torch.Generator().manual_seed(3))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert zeros.min() >= 1 and zeros.max() == 16  # a 4x4 square, partly outside for some
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_augmentation_repeats_for_the_same_generator_state():
    x = torch.randn(4, 3, 8, 8)
    policy = ("color", "translation", "cutout")
    a = diff_augment(x, policy, torch.Generator().manual_seed(5))
    b = diff_augment(x, policy, torch.Generator().manual_seed(5))
    c = diff_augment(x, policy, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def image_config(**changes) -> TrainConfig:
    values = {"data": "digits", "objective": "ns", "width": 4, "latent_dim": 8, "batch_size": 8} | changes
    return resolve(TrainConfig(**values), (1, 8, 8), num_classes=10)


def test_spectral_norm_bounds_every_discriminator_layer_by_one_and_removes_norm_layers():
    _, discriminator = build_networks(image_config(spectral_norm=True), (1, 8, 8))
    layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().reshape(layer.weight.shape[0], -1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in discriminator.modules())
    _, plain = build_networks(image_config(), (1, 8, 8))
    assert any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())


def regularised_trainer(**changes) -> Trainer:
    config = image_config(
        spectral_norm=True, r1_gamma=1.0, r2_gamma=0.5, r1_every=2, augment=("translation", "cutout", "color")
    )
    return Trainer(config.replace(**changes), load_images("digits"), "cpu")


def test_regularised_steps_still_touch_only_their_own_player():
    t = regularised_trainer()
    generator = [p.detach().clone() for p in t.generator.parameters()]
    stats = d_step(t.generator, t.discriminator, t.d_optimizer, t.objective, t.config, t.data, t.rng)
    assert all(torch.equal(a, b) for a, b in zip(generator, t.generator.parameters(), strict=True))
    assert stats["r1_penalty"].item() > 0 and stats["r2_penalty"].item() > 0  # update 0: due
    discriminator = [p.detach().clone() for p in t.discriminator.parameters()]
    g_step(t.generator, t.discriminator, t.g_optimizer, t.objective, t.config, t.rng)
    assert all(torch.equal(a, b) for a, b in zip(discriminator, t.discriminator.parameters(), strict=True))


def test_regularised_training_repeats_exactly_for_a_seed():
    runs = []
    for _ in range(2):
        t = regularised_trainer(steps=3)
        for _ in range(3):
            t.train_step()
        runs.append(t.sample(4, seed=0))
    assert torch.equal(runs[0], runs[1])


def test_augmentation_changes_what_d_sees():
    plain, augmented = image_config(), image_config(augment=("cutout",))
    results = []
    for config in (plain, augmented):
        t = Trainer(config, load_images("digits"), "cpu")
        results.append(
            d_step(t.generator, t.discriminator, t.d_optimizer, t.objective, config, t.data, t.rng)
        )
    assert results[0]["d_real"] != results[1]["d_real"]


def test_bad_regulariser_settings_exit_2_with_one_line(cli, tmp_path):
    cases = [
        (["--data", "digits", "--augment", "flip"], "unknown augment policy 'flip'"),
        (["--data", "ring", "--augment", "translation"], "augment applies to image data only"),
        (["--data", "digits", "--r1", "-1"], "r1_gamma must be >= 0"),
        (["--data", "digits", "--r1-every", "0"], "r1_every must be > 0"),
    ]
    for args, message in cases:
        code, _, err = cli("train", *args, "--steps", "1", "--out", tmp_path / "run")
        assert code == 2 and message in err and err.count("\n") == 1
        assert not (tmp_path / "run").exists()
