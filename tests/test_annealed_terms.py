"""Schedules over training: two terms annealed to 0, instance noise on everything D sees
(``instance_noise``) and IMLE's nearest-sample pull in G's loss (``coverage_weight``), and the
learning rates' linear decay (``lr_decay_start``), and R3GAN's cosine schedules of the rates, Adam's beta2
and the R1/R2 gammas (``r3gan_decay_steps``)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import gankit
from gankit.config import build_config, resolve
from gankit.data.toy import get_toy
from gankit.engine.critic import add_instance_noise
from gankit.engine.loop import Trainer
from gankit.engine.schedules import annealed, instance_noise_std, learning_rate_scale, r3gan_progress
from gankit.engine.terms import r1_r2_terms
from gankit.objectives import nearest_sample_loss

TINY = {"width": 16, "depth": 1, "batch_size": 32, "log_every": 5, "eval_every": 0, "sample_every": 0}
PAPER = {"preset": "paper"}  # the grid's data-aware default would bring PacGAN, EMA and 70,000 steps

# --- instance noise ---


def test_the_std_falls_linearly_from_its_start_to_zero():
    config = build_config(overrides={"steps": 100, "instance_noise": 0.5, "instance_noise_steps": 40})
    assert instance_noise_std(config, 0, spread=2.0) == pytest.approx(1.0)  # 0.5 x the spread
    assert instance_noise_std(config, 20, spread=2.0) == pytest.approx(0.5)
    assert instance_noise_std(config, 40, spread=2.0) == 0.0
    assert instance_noise_std(config, 90, spread=2.0) == 0.0
    whole_run = config.replace(instance_noise_steps=0)  # 0: anneal over the run's steps
    assert instance_noise_std(whole_run, 50, spread=2.0) == pytest.approx(0.5)
    assert instance_noise_std(config.replace(instance_noise=0.0), 0, spread=2.0) == 0.0


def test_zero_noise_is_the_identity_and_draws_nothing():
    x, rng = torch.randn(8, 2), torch.Generator().manual_seed(3)
    state = rng.get_state()
    assert add_instance_noise(x, 0.0, rng, batch=8) is x
    assert torch.equal(rng.get_state(), state)
    noisy = add_instance_noise(x, 2.0, rng, batch=8)
    assert noisy.shape == x.shape and not torch.equal(noisy, x)
    assert abs((noisy - x).std().item() - 2.0) < 1.0


def test_a_process_shard_gets_its_rows_of_the_global_noise():
    x = torch.zeros(8, 2)
    whole = add_instance_noise(x, 1.0, torch.Generator().manual_seed(0), batch=8)
    part = add_instance_noise(x[2:6], 1.0, torch.Generator().manual_seed(0), batch=8, shard=slice(2, 6))
    torch.testing.assert_close(part, whole[2:6])


def test_a_noisy_run_logs_its_schedule_repeats_and_differs_from_a_clean_one(tmp_path):
    noisy = {"instance_noise": 1.0, "instance_noise_steps": 20, **TINY}
    run = gankit.train("grid", "ns", 30, out=tmp_path / "a", progress=False, **PAPER, **noisy)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    stds = [row["instance_noise"] for row in rows]
    assert stds[0] > stds[1] > stds[2] > 0 and stds[-1] == 0.0  # annealed to 0 at step 20
    again = gankit.train("grid", "ns", 30, out=tmp_path / "b", progress=False, **PAPER, **noisy)
    assert [row["d_loss"] for row in rows] == [
        json.loads(line)["d_loss"] for line in (again.path / "metrics.jsonl").read_text().splitlines()
    ]
    torch.testing.assert_close(torch.tensor(run.sample(100, seed=0)), torch.tensor(again.sample(100, seed=0)))
    clean = gankit.train("grid", "ns", 30, out=tmp_path / "c", progress=False, **PAPER, **TINY)
    assert "instance_noise" not in (clean.path / "metrics.jsonl").read_text()
    assert not torch.equal(torch.tensor(run.sample(100, seed=0)), torch.tensor(clean.sample(100, seed=0)))


def test_noise_far_larger_than_the_data_leaves_d_unable_to_tell_real_from_fake(tmp_path):
    """Arjovsky & Bottou's point: with noise on both inputs the two distributions overlap, so D
    cannot separate them (and G's gradients cannot vanish); without it D separates them at once."""
    common = {**TINY, "d_lr": 1e-2, "g_lr": 1e-5}  # a D far faster than its G
    blurred = gankit.train(
        "grid", "ns", 60, out=tmp_path / "n", progress=False, **PAPER, instance_noise=20, **common
    )
    sharp = gankit.train("grid", "ns", 60, out=tmp_path / "s", progress=False, **PAPER, **common)

    def gap(run):
        last = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()][-3:]
        return sum(row["p_real"] - row["p_fake"] for row in last) / len(last)

    assert gap(sharp) > 0.5
    assert gap(blurred) < 0.1


def test_bad_instance_noise_is_one_line_and_writes_nothing(cli, tmp_path):
    code, _, err = cli("train", "--data", "ring", "--instance-noise", "-1", "--out", tmp_path / "r")
    assert code == 2 and "instance_noise must be >= 0" in err and err.count("\n") == 1
    code, _, err = cli("train", "--data", "ring", "--model", "vae", "--instance-noise", "0.5",
                       "--out", tmp_path / "r")  # fmt: skip
    assert code == 2 and "instance_noise applies to GANs only" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


# --- the coverage term ---


def test_each_real_sample_counts_its_nearest_generated_one():
    real = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    fake = torch.tensor([[1.0, 0.0], [0.0, 2.0], [10.0, 0.0]])
    # nearest to (0,0) is (1,0): 1; nearest to (4,0) is (1,0): 9  ->  (1 + 9) / 2
    assert nearest_sample_loss(real, fake).item() == pytest.approx(5.0)
    assert nearest_sample_loss(real, fake, scale=2.0).item() == pytest.approx(5.0 / 4)
    assert nearest_sample_loss(fake, fake).item() == 0.0


def test_it_pulls_a_generated_sample_into_a_mode_that_has_none():
    real = torch.tensor([[0.0, 0.0], [5.0, 5.0]])  # two modes; G has put everything on the first
    fake = torch.tensor([[0.1, 0.0], [0.0, 0.1], [1.0, 1.0]], requires_grad=True)
    nearest_sample_loss(real, fake).backward()
    grad = fake.grad
    # gradient descent moves the sample nearest the empty mode towards it (-grad points to (5, 5))
    assert torch.all(-grad[2] > 0)
    assert torch.count_nonzero(grad.abs().sum(1)) == 2  # (0.0, 0.1) is nobody's nearest: no pull


def test_its_value_and_gradient_are_those_of_the_full_distance_matrix():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(64, 3, generator=generator)
    fake = torch.randn(80, 3, generator=generator, requires_grad=True)
    loss = nearest_sample_loss(real, fake, scale=1.5)
    (grad,) = torch.autograd.grad(loss, fake)
    full = (real[:, None, :] - fake[None, :, :]).pow(2).sum(-1).min(dim=1).values.mean() / 1.5**2
    (full_grad,) = torch.autograd.grad(full, fake)
    assert loss.item() == pytest.approx(full.item(), rel=1e-5)
    torch.testing.assert_close(grad, full_grad, rtol=1e-4, atol=1e-6)


def test_the_weight_falls_linearly_to_zero():
    assert annealed(2.0, 0, 10, 100) == 2.0
    assert annealed(2.0, 5, 10, 100) == pytest.approx(1.0)
    assert annealed(2.0, 10, 10, 100) == 0.0 == annealed(2.0, 50, 10, 100)
    assert annealed(2.0, 50, 0, 100) == pytest.approx(1.0)  # horizon 0: the whole run


def modes_reached(samples: np.ndarray) -> int:
    """Grid modes with a generated sample within 0.5 of their centre (10 sigma: reached, not yet sharp)."""
    modes = get_toy("grid").modes.numpy()
    nearest = np.sqrt(((samples[:, None] - modes[None]) ** 2).sum(-1)).min(axis=0)
    return int((nearest < 0.5).sum())


def test_a_run_with_the_term_logs_it_repeats_and_reaches_more_grid_modes(tmp_path):
    common = {**TINY, **PAPER, "batch_size": 128, "width": 64, "depth": 2, "latent_dim": 8}
    common["standardize"] = True
    covered = gankit.train("grid", "ns", 300, out=tmp_path / "a", progress=False, coverage_weight=10.0,
                           coverage_steps=250, **common)  # fmt: skip
    rows = [json.loads(line) for line in (covered.path / "metrics.jsonl").read_text().splitlines()]
    weights = [row["coverage_weight"] for row in rows]
    assert weights[0] > weights[10] > 0 and weights[-1] == 0.0
    assert "coverage_loss" in rows[0] and "coverage_loss" not in rows[-1]  # not computed at weight 0
    again = gankit.train("grid", "ns", 300, out=tmp_path / "b", progress=False, coverage_weight=10.0,
                         coverage_steps=250, **common)  # fmt: skip
    np.testing.assert_array_equal(covered.sample(500, seed=0), again.sample(500, seed=0))
    plain = gankit.train("grid", "ns", 300, out=tmp_path / "c", progress=False, **common)
    assert "coverage" not in (plain.path / "metrics.jsonl").read_text()
    # 300 steps: with the term G has reached most of the 25 modes, without it a handful
    reached = modes_reached(covered.sample(2500, seed=0))
    assert reached >= 15 and reached > modes_reached(plain.sample(2500, seed=0)) + 5


def test_bad_coverage_options_are_one_line_and_write_nothing(cli, tmp_path):
    code, _, err = cli("train", "--data", "grid", "--coverage-weight", "-1", "--out", tmp_path / "r")
    assert code == 2 and "coverage_weight must be >= 0" in err and err.count("\n") == 1
    code, _, err = cli("train", "--data", "grid", "--coverage-steps", "-5", "--out", tmp_path / "r")
    assert code == 2 and "coverage_steps must be >= 0" in err and err.count("\n") == 1
    code, _, err = cli("train", "--data", "ring", "--model", "vae", "--coverage-weight", "1",
                       "--out", tmp_path / "r")  # fmt: skip
    assert code == 2 and "coverage_weight applies to GANs only" in err and err.count("\n") == 1
    code, _, err = cli("train", "--data", "digits", "--conditional", "--coverage-weight", "1",
                       "--out", tmp_path / "r")  # fmt: skip
    assert code == 2 and "coverage_weight and conditional cannot be combined" in err
    assert not (tmp_path / "r").exists()


# --- learning-rate decay ---


def test_the_learning_rates_keep_their_value_then_fall_linearly_towards_zero():
    config = build_config(overrides={"steps": 100, "lr_decay_start": 60})
    assert [learning_rate_scale(config, t) for t in (0, 59, 60, 80, 99)] == pytest.approx(
        [1.0, 1.0, 1.0, 0.5, 1 / 40]  # the last update still moves, by 1/40 of the full rate
    )
    assert learning_rate_scale(config.replace(lr_decay_start=None), 99) == 1.0
    assert learning_rate_scale(config.replace(lr_decay_start=0), 50) == pytest.approx(0.5)
    # a start at or past the last step (a preset's decay in a shorter run) keeps the rates constant
    for start in (100, 500):
        assert {learning_rate_scale(config.replace(lr_decay_start=start), t) for t in range(100)} == {1.0}


def decaying_trainer(**changes) -> Trainer:
    data = get_toy("ring")
    values = {"objective": "ns", "steps": 20, "lr_decay_start": 10, "g_lr": 1e-3, "d_lr": 4e-3, **TINY}
    return Trainer(resolve(build_config(overrides=values | changes), data.shape), data, "cpu")


def test_both_optimisers_step_at_the_decayed_rate_and_a_resumed_run_follows_the_same_schedule():
    straight = decaying_trainer()
    for _ in range(15):
        straight.train_step()
    # update 14 ran at (20 - 14) / (20 - 10) = 0.6 of each rate
    assert straight.g_optimizer.param_groups[0]["lr"] == pytest.approx(0.6e-3)
    assert straight.d_optimizer.param_groups[0]["lr"] == pytest.approx(2.4e-3)
    resumed = decaying_trainer()
    resumed.load_state_dict(copy.deepcopy(straight.state_dict()))
    for _ in range(5):
        straight.train_step()
        resumed.train_step()
    for a, b in zip(straight.generator.parameters(), resumed.generator.parameters(), strict=True):
        assert torch.equal(a, b)
    constant = decaying_trainer(lr_decay_start=None)
    for _ in range(20):
        constant.train_step()
    assert constant.g_optimizer.param_groups[0]["lr"] == 1e-3
    pairs = zip(straight.generator.parameters(), constant.generator.parameters(), strict=True)
    assert max((a - b).abs().max().item() for a, b in pairs) > 0  # the decay changed the steps after step 10


def test_a_decaying_run_logs_its_scale(tmp_path):
    run = gankit.train("ring", "ns", 30, out=tmp_path / "a", progress=False, lr_decay_start=10, **TINY)
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    scales = [row["lr_scale"] for row in rows]  # the mean over each row's 5 updates: (30 - t) / 20
    assert scales == pytest.approx([1.0, 1.0, 0.9, 0.65, 0.4, 0.15], abs=1e-6)


# --- R3GAN's schedules ---


def test_r3gans_schedules_follow_a_half_cosine_to_their_final_values_and_hold_there():
    config = build_config(overrides={"steps": 300, "r3gan_decay_steps": 100})
    assert [r3gan_progress(config, t) for t in (0, 50, 100, 250)] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert r3gan_progress(config, 25) == pytest.approx((1 - np.cos(np.pi / 4)) / 2)  # cosine, not linear
    assert [learning_rate_scale(config, t) for t in (0, 50, 100, 299)] == pytest.approx(
        [1.0, 0.625, 0.25, 0.25]
    )
    off = config.replace(r3gan_decay_steps=0)
    assert {r3gan_progress(off, t) for t in range(300)} == {0.0} and learning_rate_scale(off, 299) == 1.0
    both = config.replace(lr_decay_start=200)  # the linear decay multiplies the cosine's factor
    assert learning_rate_scale(both, 250) == pytest.approx(0.25 * 0.5)


def test_a_scheduled_rpgan_run_steps_at_the_scheduled_rate_beta2_and_gamma():
    data = get_toy("ring")
    values = {"objective": "rpgan", "steps": 20, "r3gan_decay_steps": 10, "g_lr": 1e-3, "d_lr": 2e-3, **TINY}
    trainer = Trainer(resolve(build_config(overrides=values), data.shape), data, "cpu")
    assert trainer.config.betas == (0.0, 0.9)  # rpgan's Adam, R3GAN's starting beta2
    for _ in range(6):
        stats = trainer.train_step()
    # update 5 ran at p = (1 - cos(pi / 2)) / 2 = 0.5: rates x 0.625, beta2 0.945
    assert trainer.g_optimizer.param_groups[0]["lr"] == pytest.approx(0.625e-3)
    assert trainer.d_optimizer.param_groups[0]["lr"] == pytest.approx(1.25e-3)
    assert trainer.d_optimizer.param_groups[0]["betas"] == pytest.approx((0.0, 0.945))
    assert float(stats["r3gan_progress"]) == pytest.approx(0.5)
    real, fake = torch.ones(4, 2, requires_grad=True), torch.ones(4, 2, requires_grad=True)
    config = trainer.config  # gamma's factor at p = 0.5: 1 - 0.5 x 0.9 = 0.55; ||grad||^2 = 2 x 9 = 18
    total, _ = r1_r2_terms(real, (real * 3).sum(1), fake, (fake * 3).sum(1), config, d_update=5)
    assert float(total) == pytest.approx(0.55 * (config.r1_gamma + config.r2_gamma) / 2 * 18)


def test_r3gans_schedule_needs_adam(cli, tmp_path):
    out = tmp_path / "r"
    code, _, err = cli(
        "train", "--data", "ring", "--objective", "wgan", "--r3gan-decay-steps", "100", "--out", out
    )
    assert code == 2 and "r3gan_decay_steps schedules Adam's beta2" in err and err.count("\n") == 1
    assert not out.exists()


def test_bad_lr_decay_start_is_one_line_and_writes_nothing(cli, tmp_path):
    code, _, err = cli("train", "--data", "grid", "--lr-decay-start", "-1", "--out", tmp_path / "r")
    assert code == 2 and "lr_decay_start must be >= 0" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ["--instance-noise", "0.3", "--instance-noise-steps", "2"],
            {"instance_noise": 0.3, "instance_noise_steps": 2},
        ),
        (
            ["--coverage-weight", "2.5", "--coverage-steps", "3"],
            {"coverage_weight": 2.5, "coverage_steps": 3},
        ),
        (["--lr-decay-start", "2"], {"lr_decay_start": 2}),
    ],
)
def test_cli_flags_set_the_keys(cli, tmp_path, flags, expected):
    out = tmp_path / "run"
    code, _, _ = cli("train", "--data", "grid", "--steps", "4", "--width", "8", "--depth", "1", *flags,
                     "--eval-every", "0", "--sample-every", "0", "--out", out)  # fmt: skip
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert {key: config[key] for key in expected} == expected
