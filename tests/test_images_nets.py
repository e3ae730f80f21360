"""Convolutional GAN and VAE networks for images, and image runs end to end through the CLI."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from gankit.config import TrainConfig, resolve
from gankit.data.images import load_images
from gankit.engine.vae import VAETrainer
from gankit.errors import GankitError
from gankit.nets import build_networks
from gankit.nets.dcgan import resolution_plan
from gankit.nets.vae import build_vae, vae_loss


def tiny(objective="wgan-gp", shape=(1, 8, 8), **changes):
    return resolve(TrainConfig(data="digits", objective=objective, width=4, latent_dim=8, **changes), shape)


@pytest.mark.parametrize(
    ("side", "plan"),
    [(8, (4, 1)), (16, (4, 2)), (28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (12, (6, 1)), (9, (9, 0))],
)
def test_resolution_plan_halves_down_to_a_start_side_of_4_to_9(side, plan):
    assert resolution_plan(side) == plan


@pytest.mark.parametrize("side", [8, 16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_fit_every_size(side, channels):
    shape = (channels, side, side)
    generator, discriminator = build_networks(tiny("ns", shape), shape)
    images = generator(torch.randn(4, 8))
    assert images.shape == (4, *shape)
    assert images.abs().max() <= 1  # tanh output, the data's range
    assert discriminator(images).shape == (4,)


def test_pacgan_discriminator_scores_packed_groups():
    _, discriminator = build_networks(tiny("ns", pack=2, batch_size=256), (1, 8, 8))
    assert discriminator(torch.randn(6, 1, 8, 8)).shape == (3,)


@pytest.mark.parametrize(
    ("objective", "changes"),
    [("wgan-gp", {}), ("rpgan", {}), ("ns", {"r1_gamma": 1.0}), ("ns", {"r2_gamma": 1.0})],
)
def test_gradient_penalty_critic_has_no_batch_norm_and_scores_each_image_alone(objective, changes):
    _, critic = build_networks(tiny(objective, **changes), (1, 8, 8))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in critic.modules())  # layer norm instead
    batch = torch.randn(5, 1, 8, 8)
    alone = torch.cat([critic(image[None]) for image in batch])
    assert torch.allclose(critic(batch), alone, atol=1e-5)  # no mixing across the batch


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("shape", [(1, 8, 8), (2,)])
def test_d_width_sizes_the_discriminator_alone_and_defaults_to_g_width(shape):
    data = "digits" if len(shape) == 3 else "ring"
    same = resolve(TrainConfig(data=data, width=16), shape)
    wider = resolve(TrainConfig(data=data, width=16, d_width=48), shape)
    assert same.d_width == 16 and wider.d_width == 48
    (g_same, d_same), (g_wider, d_wider) = build_networks(same, shape), build_networks(wider, shape)
    assert parameters(g_same) == parameters(g_wider) and parameters(d_wider) > 2 * parameters(d_same)
    old = TrainConfig(data=data, width=16)  # a config.json from before d_width: D as wide as G
    assert old.d_width is None and old.discriminator_width == 16


def test_classifier_discriminator_uses_batch_norm():
    _, discriminator = build_networks(tiny("ns"), (1, 8, 8))
    assert any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())


@pytest.mark.parametrize("shape", [(1, 8, 12), (1, 4, 4), (3, 128, 128)])
def test_unsupported_image_shapes_are_refused_with_a_hint(shape):
    with pytest.raises(GankitError, match="square images with a side from 8 to 64.*--image-size"):
        build_networks(tiny("ns", shape), shape)


def test_image_defaults_differ_from_toy_defaults():
    digits = resolve(TrainConfig(data="digits"), (1, 8, 8))
    larger = resolve(TrainConfig(data="digits"), (3, 32, 32))
    toy = resolve(TrainConfig(data="ring"), (2,))
    assert (digits.latent_dim, digits.width, digits.depth) == (64, 32, 1)
    assert (larger.latent_dim, larger.width, larger.depth) == (64, 64, 1)
    assert (toy.latent_dim, toy.width, toy.depth) == (2, 128, 3)


def test_vae_decoder_is_the_gan_generator_and_its_mean_matches_the_bernoulli_logits():
    config = tiny(model="vae")
    encoder, decoder = build_vae(config, (1, 8, 8))
    generator, _ = build_networks(config, (1, 8, 8))
    assert type(decoder) is type(generator)
    assert [p.shape for p in decoder.parameters()] == [p.shape for p in generator.parameters()]
    z = torch.randn(3, 8)
    # tanh(a) = 2 sigmoid(2a) - 1: the sample is the Bernoulli mean mapped to [-1, 1]
    assert torch.allclose(decoder(z), 2 * torch.sigmoid(2 * decoder.pre_activation(z)) - 1, atol=1e-6)
    mu, log_variance = encoder(torch.zeros(3, 1, 8, 8))
    assert mu.shape == log_variance.shape == (3, 8)


def test_vae_kl_term_matches_the_closed_form():
    _, decoder = build_vae(tiny(model="vae"), (1, 8, 8))
    mu = torch.tensor([[0.5, -1.0] + [0.0] * 6])
    log_variance = torch.tensor([[0.0, float(np.log(4.0))] + [0.0] * 6])
    encoder = lambda x: (mu.expand(len(x), -1), log_variance.expand(len(x), -1))  # noqa: E731
    stats = vae_loss(encoder, decoder, torch.zeros(2, 1, 8, 8), torch.Generator().manual_seed(0))
    # 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2) = 1/2 (0.25 + 0 + 1 + 4 - 1 - log 4)
    expected = 0.5 * (0.25 + 1 + 4 - 1 - np.log(4.0))
    assert stats["kl"].item() == pytest.approx(expected, rel=1e-5)
    assert stats["loss"].item() == pytest.approx((stats["kl"] + stats["reconstruction"]).item())


def test_vae_step_updates_encoder_and_decoder_deterministically():
    data = load_images("digits")
    config = tiny(model="vae", batch_size=16)
    first, second = VAETrainer(config, data), VAETrainer(config, data)
    before = [p.clone() for p in [*first.generator.parameters(), *first.discriminator.parameters()]]
    stats = first.train_step()
    assert {"loss", "reconstruction", "kl"} <= set(stats)
    after = [*first.generator.parameters(), *first.discriminator.parameters()]
    assert all(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
    assert torch.equal(second.train_step()["loss"], stats["loss"])


def test_vae_encoder_is_the_trainer_slot_a_checkpoint_saves_as_discriminator():
    trainer = VAETrainer(tiny(model="vae", batch_size=16), load_images("digits"))
    assert trainer.encoder is trainer.discriminator  # the shared machinery's name for the slot
    state = trainer.state_dict()
    assert state["discriminator"].keys() == trainer.encoder.state_dict().keys()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "vae", "--data", "ring"), "--model vae needs image data"),
        (("--data", "digits", "--image-size", 0), "image_size must be > 0"),
        (("--data", "digits", "--model", "gan-vae"), "unknown model 'gan-vae'; allowed: gan, vae"),
    ],
)
def test_bad_image_options_exit_2_with_one_line_and_no_run_directory(cli, tmp_path, args, message):
    code, _, err = cli("train", *args, "--steps", 1, "--out", tmp_path / "run")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


# --- end to end: train, sample, eval through the CLI ---------------------------------------------


def test_digits_wgan_gp_train_sample_eval(cli, tmp_path):
    run = tmp_path / "run"
    args = ("--width", 4, "--latent-dim", 8, "--batch-size", 16, "--log-every", 2)
    code, out, err = cli("train", "--data", "digits", "--objective", "wgan-gp", "--steps", 4, *args,
                         "--sample-every", 4, "--out", run)  # fmt: skip
    assert code == 0, err
    assert (run / "samples" / "step_00000004.png").is_file()  # an image grid over training
    code, _, err = cli("sample", run, "--n", 9, "--seed", 1, "--out", tmp_path / "grid.png")
    assert code == 0 and (tmp_path / "grid.png").stat().st_size > 0, err
    cli("sample", run, "--n", 9, "--seed", 1, "--out", tmp_path / "a.npy")
    cli("sample", run, "--n", 9, "--seed", 1, "--out", tmp_path / "b.npy")
    a = np.load(tmp_path / "a.npy")
    assert a.shape == (9, 1, 8, 8) and np.array_equal(a, np.load(tmp_path / "b.npy"))
    code, out, err = cli("eval", run, "--n", 50, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    for key in ("fid", "kid", "precision", "recall", "density", "coverage", "floor_fid"):
        assert np.isfinite(metrics[key]), key
    assert metrics["fid"] > metrics["floor_fid"]  # four steps of training are not the data


def test_vae_run_trains_samples_and_resumes_exactly(cli, tmp_path):
    args = (
        "--data",
        "digits",
        "--model",
        "vae",
        "--width",
        4,
        "--latent-dim",
        8,
        "--batch-size",
        16,
        "--log-every",
        2,
        "--checkpoint-every",
        2,
        "--sample-every",
        0,
        "--eval-every",
        0,
    )  # fmt: skip  (an evaluation marks where each training call ended)
    code, _, err = cli("train", *args, "--steps", 4, "--out", tmp_path / "straight")
    assert code == 0, err
    cli("train", *args, "--steps", 2, "--out", tmp_path / "resumed")
    code, _, err = cli("train", "--resume", tmp_path / "resumed", "--steps", 4)
    assert code == 0, err
    straight = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    resumed = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    drop_time = [{k: v for k, v in json.loads(r).items() if k != "wall_time"} for r in straight + resumed]
    assert drop_time[: len(straight)] == drop_time[len(straight) :]
    assert "loss" in drop_time[0] and "d_loss" not in drop_time[0]
    config = json.loads((tmp_path / "straight" / "config.json").read_text())
    assert config["model"] == "vae" and config["monitors"] is False
    code, _, err = cli("sample", tmp_path / "straight", "--n", 4, "--out", tmp_path / "vae.npy")
    assert code == 0 and np.load(tmp_path / "vae.npy").shape == (4, 1, 8, 8), err
    code, out, err = cli("doctor", tmp_path / "straight", "--json")
    assert code == 0 and json.loads(out)["objective"] == "vae", err  # not the unused "wgan-gp"


def test_vae_vs_gan_figure_quick_writes_grids_and_scores_next_to_the_floor(cli, tmp_path):
    code, _, err = cli("figure", "vae-vs-gan", "--out", tmp_path, "--quick")
    assert code == 0, err
    record = json.loads((tmp_path / "vae-vs-gan.json").read_text())
    assert (tmp_path / "vae-vs-gan.png").stat().st_size > 0
    assert set(record["metrics"]) == {"vae", "ns", "wgan-gp"}
    for scores in record["metrics"].values():
        assert scores["fid"] > record["floor"]["fid"]  # ten updates are far from the data
    assert record["command"] == f"gankit figure vae-vs-gan --out {tmp_path} --quick"
    # each grid's nearest training images are drawn and their median distances kept
    assert set(record["nearest_training_distance"]) == {"real", "vae", "ns", "wgan-gp"}
    assert min(record["nearest_training_distance"].values()) > 0


def test_digits_preset_is_the_measured_best_recipe_and_flags_still_win():
    from gankit.config import build_config

    config = build_config(preset="digits", overrides={"steps": 10})
    assert (config.data, config.objective, config.batch_size, config.steps) == ("digits", "ns", 64, 10)
    assert (config.g_lr, config.d_lr, config.spectral_norm, config.augment) == (2.1e-3, 3.9e-3, False, ())
    config = build_config(preset="digits", overrides={"objective": "wgan-gp", "g_lr": 1e-4})
    assert (config.objective, config.g_lr, config.d_lr) == ("wgan-gp", 1e-4, 3.9e-3)


def test_gankit_list_names_the_image_data(cli):
    code, out, _ = cli("list")
    assert code == 0 and "digits" in out and ".npy/.npz array, IDX file, or a folder of PNG/JPEG" in out
