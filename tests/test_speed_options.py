"""Speed options change how a step is computed, not what: each is checked against the default path."""

import functools
import json

import pytest
import torch

from gankit.config import TrainConfig, resolve
from gankit.data import load_data
from gankit.engine.loop import PLAIN, Trainer
from gankit.engine.speed import LOSS_KEYS, losses_match
from gankit.errors import GankitError
from gankit.nets.mlp import MLPDiscriminator
from gankit.objectives import gradient_penalty

SMALL = {"batch_size": 32, "width": 16, "depth": 2, "critic_steps": 2, "eval_every": 0, "seed": 3}
# Adam's first steps move every weight by about +-lr whatever the gradient's size, so rounding
# noise in a near-zero gradient can flip a step; SGD keeps the weights a smooth function of the
# gradients, which makes "equal within rounding" checkable on the weights themselves.
SGD = {"optimizer": "sgd", "g_lr": 0.05, "d_lr": 0.05}


def trained(steps: int = 3, data: str = "ring", **overrides) -> Trainer:
    dataset = load_data(data)
    config = resolve(TrainConfig(data=data, **(SMALL | overrides)), tuple(dataset.shape))
    trainer = Trainer(config, dataset, "cpu")
    for _ in range(steps):
        trainer.train_step()
    return trainer


def max_difference(a: Trainer, b: Trainer) -> float:
    pairs = zip(a.state_dict()["generator"].values(), b.state_dict()["generator"].values(), strict=True)
    return max((x - y).abs().max().item() for x, y in pairs)


def weights_moved(trainer: Trainer) -> float:
    start = Trainer(trainer.config, trainer.data, "cpu")
    return max_difference(trainer, start)


@pytest.mark.parametrize(("objective", "pack"), [("wgan-gp", 1), ("ns", 2)])
def test_one_critic_call_on_real_and_fake_equals_two_calls(objective, pack):
    joint = trained(objective=objective, pack=pack)
    assert joint.plan.joint_critic_forward  # the default for per-sample (MLP) critics
    dataset = load_data("ring")
    separate = Trainer(joint.config, dataset, "cpu")
    separate.plan = PLAIN  # two critic calls
    for _ in range(3):
        separate.train_step()
    assert max_difference(joint, separate) < 1e-5 < weights_moved(joint)


@pytest.mark.parametrize(("objective", "joint"), [("ns", False), ("wgan-gp", True)])
def test_batch_norm_critics_keep_real_and_fake_in_separate_calls(objective, joint):
    trainer = trained(steps=0, data="digits", objective=objective, batch_size=8, width=8)
    has_batch_norm = any(isinstance(m, torch.nn.BatchNorm2d) for m in trainer.discriminator.modules())
    assert has_batch_norm is not joint  # DCGAN: batch norm in a classifier D, none in a GP critic
    assert trainer.plan.joint_critic_forward is joint


@pytest.mark.parametrize(
    "options",
    [
        {"objective": "wgan-gp"},
        # R1/R2 share D's loss forward, which is then eager; on the other (lazy) updates it is compiled
        {"objective": "ns", "r1_gamma": 1.0, "r2_gamma": 0.5, "r1_every": 2},
    ],
)
def test_compile_matches_eager_and_keeps_the_penalty_eager(monkeypatch, options):
    # The aot_eager backend traces the networks exactly as inductor would (dynamo + AOTAutograd)
    # but skips C++ code generation, which takes minutes on 2 cores; the benchmark runs inductor.
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    compiled = trained(compile=True, **options)
    assert isinstance(compiled.d_train, torch._dynamo.eval_frame.OptimizedModule)
    assert compiled.plan.penalty_critic is compiled.discriminator  # the double backward runs eagerly
    assert max_difference(compiled, trained(**options)) < 1e-6


def test_gradient_penalty_under_bf16_autocast_matches_fp32():
    torch.manual_seed(0)
    critic = MLPDiscriminator(2, width=32, depth=2)
    real, fake = torch.randn(64, 2), torch.randn(64, 2)
    eps = torch.rand(64, 1)
    fp32 = gradient_penalty(critic, real, fake, eps=eps)
    (fp32_grads,) = torch.autograd.grad(fp32, critic.net[0].weight)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = gradient_penalty(critic, real, fake, eps=eps)
    (bf16_grads,) = torch.autograd.grad(bf16, critic.net[0].weight)
    assert bf16.dtype == torch.float32  # the norms are taken in fp32
    assert bf16.item() == pytest.approx(fp32.item(), rel=2e-2)
    assert torch.nn.functional.cosine_similarity(bf16_grads.flatten(), fp32_grads.flatten(), dim=0) > 0.99


def test_amp_trains_like_fp32_within_bf16_rounding():
    amp, fp32 = (
        trained(steps=0, objective="wgan-gp", amp=True, **SGD),
        trained(steps=0, objective="wgan-gp", **SGD),
    )
    assert amp.plan.autocast_dtype == torch.bfloat16
    first_amp, first_fp32 = amp.train_step(), fp32.train_step()  # from the same weights
    assert all(first_amp[key].dtype == torch.float32 for key in LOSS_KEYS)
    # the criterion amp "auto" applies before it keeps bf16 (engine/speed.py)
    assert losses_match(*({key: stats[key].item() for key in LOSS_KEYS} for stats in (first_fp32, first_amp)))
    for _ in range(2):
        amp.train_step(), fp32.train_step()
    assert max_difference(amp, fp32) < 0.05 * weights_moved(fp32)


def test_amp_on_a_device_without_bf16_autocast_is_refused():
    dataset = load_data("ring")
    config = resolve(TrainConfig(amp=True, **SMALL), dataset.shape)
    with pytest.raises(GankitError, match="amp .* supported on cpu and bf16-capable cuda, not mps"):
        Trainer(config, dataset, "mps")


def test_channels_last_conv_nets_give_the_same_numbers():
    nhwc = trained(steps=2, data="digits", objective="ns", batch_size=8, width=8, channels_last=True, **SGD)
    nchw = trained(steps=2, data="digits", objective="ns", batch_size=8, width=8, **SGD)
    conv = next(m for m in nhwc.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert max_difference(nhwc, nchw) < 1e-5 < weights_moved(nchw)


def test_channels_last_on_flat_data_is_one_line_and_writes_nothing(cli, tmp_path):
    code, _, err = cli("train", "--data", "ring", "--channels-last", "--steps", 2, "--out", tmp_path / "x")
    assert code == 2
    assert err.strip().splitlines() == [
        "gankit: error: channels_last applies to image data (conv nets) only; 'ring' has shape (2,)"
    ]
    assert not (tmp_path / "x").exists()


def test_threads_sets_torch_threads_and_keeps_the_numbers():
    before = torch.get_num_threads()
    try:
        two = trained(threads=2)
        assert torch.get_num_threads() == 2
        one = trained(threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert max_difference(one, two) < 1e-5


def test_speed_flags_reach_the_run_config(cli, tmp_path):
    args = ["--steps", 2, "--batch-size", 16, "--width", 8, "--eval-every", 0, "--sample-every", 0]
    code, _, err = cli("train", *args, "--amp", "--threads", 1, "--out", tmp_path / "run")
    assert code == 0, err
    config = json.loads((tmp_path / "run/config.json").read_text())
    assert (config["amp"], config["threads"], config["compile"], config["channels_last"]) == (
        True,
        1,
        False,
        False,
    )
    assert config["speed"] == {"amp": True, "threads": 1}  # as asked; a 2-step run is not timed
