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


# The monitor thresholds: gankit.diagnose.thresholds owns them; a config keeps their values by name
# and spells each as a flat monitor_NAME key, as config.json has since the monitors existed.
OLD_THRESHOLD_KEYS = {  # every monitor_* key a run's config.json holds, in its order, as written so far
    "monitor_window": 5,
    "monitor_vanishing_ratio": 0.01,
    "monitor_d_confidence": 0.95,
    "monitor_critic_gap_growth": 10.0,
    "monitor_gradient_penalty": 1.0,
    "monitor_lipschitz_norm": 100.0,
    "monitor_modes_fraction": 0.5,
    "monitor_mode_quality": 0.5,
    "monitor_diversity_ratio": 0.5,
    "monitor_warmup": 1000,
    "monitor_patience": 1000,
    "monitor_min_improvement": 0.05,
    "monitor_progress_level": 0.5,
    "monitor_oscillation_window": 8,
    "monitor_oscillation_swing": 0.3,
    "monitor_oscillation_reversals": 2,
    "monitor_overfit_sign": 0.6,
    "monitor_overfit_heldout": 0.5,
    "monitor_memorisation_ratio": 0.5,
}


def test_a_config_json_with_flat_threshold_keys_reads_and_writes_back_the_same():
    from gankit.diagnose.thresholds import Thresholds, spelled_out

    written = to_dict(spelled_out(TrainConfig()))
    keys = list(written)
    at = keys.index("monitors") + 1
    assert keys[at : at + len(OLD_THRESHOLD_KEYS)] == list(OLD_THRESHOLD_KEYS)  # in place, in order
    assert {key: written[key] for key in OLD_THRESHOLD_KEYS} == OLD_THRESHOLD_KEYS  # the same defaults
    assert keys[at + len(OLD_THRESHOLD_KEYS)] == "stop_on"
    old = written | {"monitor_patience": 300}
    config = from_dict(old)
    assert config.monitor["patience"] == 300 and Thresholds.of(config).patience == 300
    assert to_dict(config) == old and list(to_dict(config)) == list(old)


def test_thresholds_are_set_by_flat_keys_in_files_arguments_and_replace(tmp_path):
    from gankit.diagnose.thresholds import Thresholds

    file = tmp_path / "c.toml"
    file.write_text("monitor_window = 10\nmonitor-patience = 300\n")
    config = build_config(file=file, overrides={"monitor_d_confidence": 0.9})
    assert config.monitor == {"window": 10, "patience": 300, "d_confidence": 0.9}
    thresholds = Thresholds.of(config)
    assert (thresholds.window, thresholds.patience, thresholds.d_confidence, thresholds.warmup) == (
        10,
        300,
        0.9,
        1000,
    )
    assert config.replace(monitor_window=3).monitor["window"] == 3
    assert config.replace(monitor={"warmup": 7}).monitor == {"warmup": 7}  # a new dict replaces the old
    assert from_dict({"monitor": {"window": 4}, "monitor_window": 6}).monitor == {"window": 6}
    assert Thresholds.of(from_dict({"monitor_gradient_penalty": 2})).gradient_penalty == 2.0  # int for float


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"monitor_windw": 3}, "unknown config key 'monitor_windw'; allowed thresholds: monitor_window, "),
        ({"monitor_window": 2.5}, "monitor_window has the wrong type: 2.5; expected int"),
        ({"monitor_warmup": True}, "monitor_warmup has the wrong type: True; expected int"),
        (
            {"monitor_lipschitz_norm": "big"},
            "monitor_lipschitz_norm has the wrong type: 'big'; expected float",
        ),
        ({"monitor_lipschitz_norm": float("inf")}, "monitor_lipschitz_norm must be a finite number"),
        (
            {"monitor_oscillation_window": 2},
            "monitor_oscillation_window must be >= 3 \\(evaluations\\), got 2",
        ),
    ],
)
def test_bad_thresholds_are_one_clear_error_from_diagnose(values, message):
    from gankit.diagnose.thresholds import Thresholds

    config = from_dict(values)  # the config keeps the values; diagnose knows what they may be
    with pytest.raises(GankitError, match=message):
        Thresholds.of(config)


def test_a_bad_threshold_in_a_config_file_exits_2_before_anything_is_written(cli, tmp_path):
    file = tmp_path / "c.toml"
    file.write_text("monitor_window = 0\n")
    out = tmp_path / "run"
    code, _, err = cli("train", "--config", file, "--steps", "2", "--out", out)
    assert code == 2 and err.strip() == "gankit: error: monitor_window must be > 0, got 0"
    assert not out.exists()
