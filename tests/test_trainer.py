"""The alternating trainer: each phase touches only its own player; same seed, same numbers."""

import copy
import math

import pytest
import torch

from gankit.config import TrainConfig, resolve
from gankit.data.toy import get_toy
from gankit.engine.loop import Trainer
from gankit.engine.schedules import ramped_ema_decay
from gankit.engine.step import d_step, g_step


def make_trainer(**overrides) -> Trainer:
    values = {"steps": 20, "batch_size": 32, "width": 16, "depth": 2, "eval_every": 0} | overrides
    data = get_toy(values.pop("data", "ring"))
    config = resolve(TrainConfig(**values), data.shape)
    return Trainer(config, data, "cpu")


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("objective", ["minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan", "rpgan"])
def test_g_step_leaves_the_discriminator_bit_identical(objective):
    t = make_trainer(objective=objective)
    d_before, g_before = snapshot(t.discriminator), snapshot(t.generator)
    g_step(t.generator, t.discriminator, t.g_optimizer, t.objective, t.config, t.rng, data=t.data)
    assert same(d_before, snapshot(t.discriminator))
    assert not same(g_before, snapshot(t.generator))
    assert all(p.grad is None for p in t.discriminator.parameters())
    assert all(p.requires_grad for p in t.discriminator.parameters())  # unfrozen afterwards


@pytest.mark.parametrize("objective", ["minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan", "rpgan"])
def test_d_step_leaves_the_generator_bit_identical(objective):
    t = make_trainer(objective=objective)
    d_before, g_before = snapshot(t.discriminator), snapshot(t.generator)
    d_step(t.generator, t.discriminator, t.d_optimizer, t.objective, t.config, t.data, t.rng)
    assert same(g_before, snapshot(t.generator))
    assert not same(d_before, snapshot(t.discriminator))
    assert all(p.grad is None for p in t.generator.parameters())


def test_d_step_draws_a_fresh_real_batch_and_noise_for_every_critic_step():
    t = make_trainer(objective="wgan-gp", critic_steps=3)
    seen = []
    original = t.data.sample

    class Spy:
        name, shape, modes, sigma = t.data.name, t.data.shape, t.data.modes, t.data.sigma

        def sample(self, n, generator):
            batch = original(n, generator)
            seen.append(batch)
            return batch

    d_step(t.generator, t.discriminator, t.d_optimizer, t.objective, t.config, Spy(), t.rng)
    assert len(seen) == 3
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])


def test_each_loss_term_is_on_only_with_its_option_and_logs_the_keys_it_declares():
    from gankit.engine.terms import TERMS, active_terms

    assert active_terms(make_trainer(objective="ns").config) == []
    t = make_trainer(objective="wgan-gp", critic_steps=2, r1_gamma=1.0, r2_gamma=0.5, coverage_weight=1.0)
    assert active_terms(t.config) == list(TERMS)
    stats = t.train_step()
    assert all(key in stats for term in TERMS for key in term.logs)


def test_a_new_loss_term_is_one_class_in_terms_and_the_steps_call_it(monkeypatch):
    """As a relativistic loss (R3GAN's rpgan) would: G's part shows D a real batch as D sees G's."""
    import gankit.engine.terms as terms
    from gankit.engine.critic import discriminate
    from gankit.engine.sampling import draw_real

    class RelativisticProbe(terms.Term):
        logs = ("probe_d_gap", "probe_g_gap")

        def applies(self, config):
            return True

        def d_loss(self, update):
            update.stats["probe_d_gap"] = (update.real_scores - update.fake_scores).mean().detach()
            return None  # reports only

        def g_loss(self, update):
            config = update.config
            real, _ = draw_real(update.data, config.batch_size, update.rng, False, update.plan.shard)
            _, (real_scores,) = discriminate(
                update.discriminator, (real,), None, config, update.rng, update.plan, update.noise_std
            )
            gap = update.fake_scores - real_scores
            update.stats["probe_g_gap"] = gap.mean().detach()
            return torch.nn.functional.softplus(-gap).mean()

    monkeypatch.setattr(terms, "TERMS", (*terms.TERMS, RelativisticProbe()))
    t = make_trainer(objective="ns")
    d_before = snapshot(t.discriminator)
    stats = g_step(t.generator, t.discriminator, t.g_optimizer, t.objective, t.config, t.rng, data=t.data)
    assert "probe_g_gap" in stats and same(d_before, snapshot(t.discriminator))  # D stays frozen
    assert "probe_d_gap" in t.train_step()


def test_weight_clipping_keeps_the_wgan_critic_in_the_box():
    t = make_trainer(objective="wgan", clip_value=0.02)
    t.train_step()
    assert max(p.abs().max().item() for p in t.discriminator.parameters()) <= 0.02


def test_objective_defaults_come_from_the_papers():
    wgan = make_trainer(objective="wgan").config
    assert (wgan.optimizer, wgan.d_lr, wgan.critic_steps, wgan.clip_value) == ("rmsprop", 5e-5, 5, 0.01)
    gp = make_trainer(objective="wgan-gp").config
    assert (gp.optimizer, gp.d_lr, gp.betas, gp.critic_steps, gp.gradient_penalty_weight) == (
        "adam",
        1e-4,
        (0.0, 0.9),
        5,
        0.1,  # toy data: the WGAN-GP reference code's toy lambda
    )
    images = resolve(TrainConfig(objective="wgan-gp"), (1, 8, 8))
    assert images.gradient_penalty_weight == 10.0  # the paper's lambda everywhere else
    assert (
        resolve(TrainConfig(objective="wgan-gp", gradient_penalty_weight=3.0), (2,)).gradient_penalty_weight
        == 3
    )
    ns = make_trainer(objective="ns").config
    assert (ns.optimizer, ns.g_lr, ns.betas, ns.critic_steps) == ("adam", 2e-4, (0.5, 0.999), 1)
    assert isinstance(make_trainer(objective="wgan").d_optimizer, torch.optim.RMSprop)


def test_rpgan_defaults_are_r3gans_and_its_g_step_pairs_each_sample_with_a_real_one():
    t = make_trainer(objective="rpgan")
    c = t.config
    settings = (c.optimizer, c.betas, c.critic_steps, c.r1_gamma, c.r2_gamma)
    assert settings == ("adam", (0.0, 0.9), 1, 0.05, 0.05)
    assert make_trainer(objective="rpgan", r2_gamma=0.0).config.r2_gamma == 0  # the R2 ablation
    assert make_trainer(objective="ns").config.r1_gamma == 0  # R1/R2 stay off for the others
    # G's loss is softplus(D(x_r) - D(G(z))) on a real batch drawn first, then the noise
    replay = torch.Generator().manual_seed(0)
    replay.set_state(t.rng.get_state())
    real = t.data.sample(c.batch_size, replay)
    noise = torch.randn(c.batch_size, c.latent_dim, generator=replay)
    with torch.no_grad():
        expected = torch.nn.functional.softplus(t.discriminator(real) - t.discriminator(t.generator(noise)))
    stats = g_step(t.generator, t.discriminator, t.g_optimizer, t.objective, c, t.rng, data=t.data)
    assert stats["g_loss"].item() == pytest.approx(expected.mean().item(), rel=1e-6)


def test_user_settings_override_objective_defaults():
    t = make_trainer(objective="wgan-gp", d_lr=3e-3, critic_steps=2, optimizer="sgd", momentum=0.5)
    assert isinstance(t.d_optimizer, torch.optim.SGD)
    assert t.d_optimizer.param_groups[0]["lr"] == 3e-3 and t.config.critic_steps == 2


def test_same_seed_same_numbers_different_seed_different_numbers():
    def run(seed):
        t = make_trainer(seed=seed, objective="wgan-gp")
        for _ in range(5):
            stats = t.train_step()
        return snapshot(t.generator), stats["d_loss"].item()

    (g1, loss1), (g2, loss2), (g3, _) = run(0), run(0), run(1)
    assert same(g1, g2) and loss1 == loss2
    assert not same(g1, g3)


def test_ema_generator_tracks_an_average_and_is_used_for_sampling():
    t = make_trainer(ema_decay=0.9)
    for _ in range(5):
        t.train_step()
    assert t.sampler is t.ema.module
    assert not same(snapshot(t.generator), snapshot(t.ema.module))
    assert not torch.equal(t.sample(10, seed=0), t.generator(torch.randn(10, 2)))


def test_ema_ramp_caps_the_half_life_at_a_fraction_of_the_steps_so_far():
    assert ramped_ema_decay(0.999, 0.0, 1) == 0.999  # 0: the plain EMA
    assert ramped_ema_decay(0.999, 0.05, 1) < 1e-5  # the first update all but copies G
    for steps in (10, 100, 1000):
        decay = ramped_ema_decay(0.999, 0.05, steps)
        assert decay < 0.999 and math.isclose(math.log(0.5) / math.log(decay), 0.05 * steps)
    assert ramped_ema_decay(0.999, 0.05, 13856) < 0.999 == ramped_ema_decay(0.999, 0.05, 13857)


@pytest.mark.parametrize("rampup", [0.0, 0.05])
def test_ema_generator_is_the_ramped_exponential_average_of_the_generators(rampup):
    t = make_trainer(ema_decay=0.9, ema_rampup=rampup, objective="ns")
    expected = None
    for step in range(1, 8):
        t.train_step()
        weights = snapshot(t.generator)
        if expected is None:  # the first update copies G
            expected = weights
        else:
            decay = ramped_ema_decay(0.9, rampup, step)
            expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights, strict=True)]
    averaged = snapshot(t.ema.module)
    assert all(torch.allclose(a, e, atol=1e-6) for a, e in zip(averaged, expected, strict=True))
    plain = make_trainer(ema_decay=0.9, ema_rampup=0.0, objective="ns")
    for _ in range(7):
        plain.train_step()
    assert same(snapshot(plain.generator), snapshot(t.generator))  # the EMA never feeds back into G
    assert same(snapshot(plain.ema.module), averaged) == (rampup == 0)


def test_fit_logs_averaged_rows_every_log_every_steps():
    from gankit.engine.loop import Callback

    rows = []

    class Collect(Callback):
        def on_log(self, trainer, row):
            rows.append(dict(row))

    t = make_trainer(steps=10, log_every=4, objective="ns")
    assert t.fit([Collect()]) is None
    assert [r["step"] for r in rows] == [4, 8, 10]
    expected_keys = {
        "step",
        "wall_time",
        "d_loss",
        "g_loss",
        "d_real",
        "d_fake",
        "p_real",
        "p_fake",
        "d_grad_norm",
        "g_grad_norm",
        "gradient_penalty",
    }
    assert expected_keys <= set(rows[0])
    assert 0 < rows[0]["p_real"] < 1 and rows[0]["g_grad_norm"] > 0


def test_a_callback_can_stop_training_with_a_reason():
    from gankit.engine.loop import Callback, StopTraining

    class StopAt6(Callback):
        def on_step(self, trainer):
            if trainer.step == 6:
                raise StopTraining("enough")

    t = make_trainer(steps=50)
    assert t.fit([StopAt6()]) == "enough"
    assert t.step == 6


def test_state_dict_round_trip_continues_identically():
    a = make_trainer(objective="wgan-gp", ema_decay=0.5)
    for _ in range(3):
        a.train_step()
    state = copy.deepcopy(a.state_dict())  # as saving and loading would: no shared tensors
    b = make_trainer(objective="wgan-gp", ema_decay=0.5)
    b.load_state_dict(state)
    for _ in range(3):
        a.train_step()
        b.train_step()
    assert same(snapshot(a.generator), snapshot(b.generator))
    assert same(snapshot(a.ema.module), snapshot(b.ema.module))
    assert b.step == 6


def test_pack_makes_a_pacgan_discriminator_score_groups():
    t = make_trainer(pack=4, batch_size=32, objective="ns")
    assert t.discriminator(torch.zeros(32, 2)).shape == (8,)
    t.train_step()  # the losses work on the packed scores


def test_a_cpu_time_budget_ends_training_early_as_a_normal_end(monkeypatch):
    import gankit.engine.loop as loop
    from gankit.config import TrainConfig, resolve
    from gankit.data import load_data

    clock = iter(range(1000))  # a fake process clock: one CPU second per call, so one per step
    monkeypatch.setattr(loop.time, "process_time", lambda: float(next(clock)))
    data = load_data("ring")
    config = resolve(
        TrainConfig(objective="ns", steps=50, time_budget_s=5, width=8, depth=1, batch_size=8, eval_every=0),
        data.shape,
    )
    trainer = loop.Trainer(config, data, "cpu")
    assert trainer.fit() is None  # not a failure
    assert trainer.budget_spent and trainer.step == 5
    unlimited = loop.Trainer(config.replace(time_budget_s=0.0, steps=7), data, "cpu")
    assert unlimited.fit() is None and unlimited.step == 7 and not unlimited.budget_spent


def test_the_step_where_the_budget_runs_out_is_logged_and_evaluated(monkeypatch, tmp_path):
    """A sweep scores a budget-limited run by its last eval row: it must describe the final generator."""
    import gankit
    import gankit.engine.loop as loop
    from gankit.rundir import read_metrics

    clock = iter(range(1000))
    monkeypatch.setattr(loop.time, "process_time", lambda: float(next(clock)))
    run = gankit.train(
        "ring", "ns", 100, tmp_path / "r", time_budget_s=7, width=8, depth=1, batch_size=8,
        log_every=5, eval_every=5, eval_samples=200, sample_every=0, progress=False,
    )  # fmt: skip
    rows = read_metrics(run.path)
    assert [row["step"] for row in rows] == [5, 7]  # step 7 is no multiple of log_every
    assert "eval_w1" in rows[-1] and "eval_diversity" in rows[-1]
    assert run.step == 7


def test_a_resumed_run_spends_what_is_left_of_its_budget_not_a_fresh_one(monkeypatch, tmp_path):
    """A sweep resumes an interrupted trial: a fresh budget would give it up to twice the compute."""
    import gankit
    import gankit.engine.loop as loop
    from gankit.data import load_data
    from gankit.rundir import load_latest_checkpoint, read_metrics

    clock = iter(range(1000))  # one fake CPU second per step
    monkeypatch.setattr(loop.time, "process_time", lambda: float(next(clock)))
    tiny = dict(width=8, depth=1, batch_size=8, log_every=1, eval_every=0, sample_every=0, progress=False)
    run = gankit.train("ring", "ns", 3, tmp_path / "r", time_budget_s=5, **tiny)  # 3 of its 5 seconds
    assert run.step == 3
    assert gankit.resume(run, steps=50, progress=False).step == 5  # 2 seconds were left, not 5
    rows = read_metrics(run.path)
    assert gankit.resume(run, steps=50, progress=False).step == 5  # spent: not one more step
    assert read_metrics(run.path) == rows
    grown = gankit.resume(run, steps=50, progress=False, time_budget_s=8)  # a larger budget trains on
    assert grown.step == 8 and [row["step"] for row in read_metrics(run.path)] == list(range(1, 9))

    state = load_latest_checkpoint(run.path / "checkpoints", map_location="cpu")
    trainer = loop.Trainer(run.config, load_data("ring"), "cpu")
    trainer.load_state_dict(state)
    assert trainer.training_cpu == 8.0 and trainer.state_dict()["training_cpu"] == 8.0
    del state["training_cpu"]  # a checkpoint from before the count was kept: a fresh budget
    trainer.load_state_dict(state)
    assert trainer.training_cpu == 0.0


def test_resume_takes_a_new_time_budget_on_the_command_line(cli, tmp_path):
    import json

    tiny = ["--data", "ring", "--width", "8", "--depth", "1", "--sample-every", "0", "--eval-every", "0"]
    run = tmp_path / "r"
    assert cli("train", *tiny, "--steps", "3", "--time-budget-s", "1000", "--out", run)[0] == 0
    code, out, err = cli("train", "--resume", run, "--steps", "5", "--time-budget-s", "2000")
    assert code == 0, err
    assert "trained 5 steps" in out and json.loads((run / "config.json").read_text())["time_budget_s"] == 2000
    code, _, err = cli("train", "--resume", run, "--time-budget-s", "-1")
    assert code == 2 and "time_budget_s must be >= 0" in err


def test_time_budget_is_a_config_key_with_a_cli_flag(cli, tmp_path):
    import json

    code, _, _ = cli(
        "train",
        "--data",
        "ring",
        "--objective",
        "ns",
        "--steps",
        "3",
        "--time-budget-s",
        "1000",
        "--width",
        "8",
        "--depth",
        "1",
        "--sample-every",
        "0",
        "--eval-every",
        "0",
        "--out",
        tmp_path / "r",
    )
    assert code == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["time_budget_s"] == 1000
    code, _, err = cli("train", "--time-budget-s", "-1", "--out", tmp_path / "bad")
    assert code == 2 and "time_budget_s must be >= 0" in err and not (tmp_path / "bad").exists()
