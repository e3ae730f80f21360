"""Configuration: precedence, validation, and clear messages for every mistake."""

import pytest

from gankit.config import TrainConfig, build_config, from_dict, read_toml, resolve, to_dict
from gankit.errors import GankitError
from gankit.presets import PRESETS


def test_precedence_defaults_preset_file_flags(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text('steps = 111\nobjective = "ns"\nbatch_size = 64\n')
    preset = next(iter(PRESETS))
    config = build_config(preset=preset, file=file, overrides={"steps": 7, "seed": None})
    assert config.steps == 7  # flag beats file
    assert config.objective == "ns" and config.batch_size == 64  # file beats preset and defaults
    assert config.seed == TrainConfig().seed  # None means "not given"


def test_toml_accepts_a_train_table_and_dashed_keys(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text("[train]\nbatch-size = 32\n")
    assert read_toml(file) == {"batch_size": 32}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"steps": 0}, "steps must be > 0, got 0"),
        ({"batch_size": -1}, "batch_size must be > 0"),
        ({"g_lr": 0.0}, "g_lr must be > 0"),
        ({"d_lr": -1e-3}, "d_lr must be > 0"),
        ({"critic_steps": 0}, "critic_steps must be > 0"),
        ({"objective": "gan"}, "unknown objective 'gan'"),
        ({"optimizer": "adamw"}, "unknown optimizer 'adamw'; allowed: adam, rmsprop, sgd"),
        ({"steps": "ten"}, "steps has the wrong type"),
        ({"steps": True}, "steps has the wrong type"),
        ({"g_lr": float("nan")}, "g_lr must be a finite number"),
        ({"betas": [0.5]}, "betas has the wrong type"),
        ({"betas": [0.5, 1.5]}, "betas must be two numbers in [0, 1)"),
        ({"ema_decay": 1.0}, "ema_decay must be in [0, 1)"),
        ({"ema_rampup": -0.05}, "ema_rampup must be >= 0"),
        ({"batch_size": 30, "pack": 4}, "must be a multiple of pack"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"stepz": 3}, "unknown config key 'stepz'; allowed: data, objective"),
    ],
)
def test_bad_values_are_rejected_with_a_clear_message(values, message):
    with pytest.raises(GankitError) as error:
        from_dict(values)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_config_files(tmp_path):
    with pytest.raises(GankitError, match="config file not found"):
        read_toml(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("steps = = 3")
    with pytest.raises(GankitError, match="not valid TOML"):
        read_toml(broken)
    with pytest.raises(GankitError, match="unknown preset 'nope'"):
        build_config(preset="nope")


def test_integers_are_accepted_where_floats_belong():
    assert from_dict({"g_lr": 1}).g_lr == 1.0


def test_resolve_spells_out_every_default_and_round_trips():
    config = resolve(TrainConfig(objective="wgan"), (2,))
    values = to_dict(config)
    for key in (
        "latent_dim",
        "width",
        "depth",
        "optimizer",
        "g_optimizer",
        "g_lr",
        "d_lr",
        "betas",
        "critic_steps",
        "clip_value",
        "gradient_penalty_weight",
    ):
        assert values[key] is not None, key
    assert from_dict(values) == config
