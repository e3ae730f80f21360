"""Bad input everywhere (hypothesis): generated flags, config files and paths either run or end with
exit code 2 and one line on stderr: never a traceback, never a half-written run directory.

Valid values are drawn small (a run takes a few steps of a tiny net); invalid ones are wrong types,
out-of-range and huge numbers, empty strings, unknown names and keys, odd paths.
"""

import json
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gankit.config import FIELD_NAMES, SIZE_LIMITS
from gankit.diagnose.thresholds import CONFIG_KEYS as THRESHOLD_KEYS
from reliability_helpers import record, tiny_config

# `make test`: the same 25 examples per test on every run (derandomized, so CI never flakes);
# benchmarks/reliability.py asks for more, freshly drawn ($GANKIT_FUZZ_EXAMPLES).
FUZZ = settings(
    max_examples=int(os.environ.get("GANKIT_FUZZ_EXAMPLES", "25")),
    derandomize="GANKIT_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
# Small and fast unless a fuzzed flag overrides it (the last value of a repeated flag wins).
BASE = (
    "--data", "ring", "--steps", "2", "--width", "8", "--depth", "1", "--batch-size", "16",
    "--eval-every", "0", "--sample-every", "0", "--device", "cpu",
)  # fmt: skip

HUGE = [10**6 * 2**62, 2**63, 10**100]
text_junk = st.one_of(
    st.sampled_from(
        ["", " ", "-", "--", "nan", "inf", "-inf", "1e999", "0x10", "1_000", "None", "true", "é", "\t"]
    ),
    st.text(max_size=12),
)


def ints(low: int, high: int, bad_low: int, limit: str | None = None):
    """Valid small integers, or values a config must refuse: at most ``bad_low``, past the size limit
    of config field ``limit``, past 2**62, not integers at all."""
    good = st.integers(low, high).map(str)
    too_big = st.integers(SIZE_LIMITS[limit] + 1, 2**62) if limit else st.sampled_from(HUGE)
    too_small = st.integers(-(10**6), bad_low)
    bad = st.one_of(
        *(s.map(str) for s in (too_small, too_big, st.sampled_from(HUGE))), st.just("1.5"), text_junk
    )
    return st.one_of(good, bad)


def floats(low: float, high: float):
    good = st.floats(low, high, allow_nan=False).map(repr)
    bad = st.one_of(
        st.floats(-1e6, -1e-9).map(repr), st.sampled_from(["nan", "inf", "-inf", "1e400", "1e308"]), text_junk
    )
    return st.one_of(good, bad)


def names(*good: str):
    return st.one_of(st.sampled_from(good), text_junk)


FLAG_VALUES = {
    "--steps": ints(1, 3, 0),
    "--batch-size": ints(1, 32, 0, "batch_size"),
    "--seed": ints(0, 2**40, -1),
    "--latent-dim": ints(1, 4, 0, "latent_dim"),
    "--width": ints(1, 8, 0, "width"),
    "--depth": ints(1, 2, 0, "depth"),
    "--pack": ints(1, 4, 0, "pack"),
    "--critic-steps": ints(1, 2, 0, "critic_steps"),
    "--log-every": ints(1, 5, 0),
    "--checkpoint-every": ints(1, 5, 0),
    "--keep-checkpoints": ints(1, 3, 0),
    "--eval-every": st.one_of(st.just("0"), ints(0, 0, -1)),
    "--sample-every": st.one_of(st.just("0"), ints(0, 0, -1)),
    "--image-size": ints(1, 8, 0, "image_size"),
    "--g-lr": floats(1e-6, 1.0),
    "--d-lr": floats(1e-6, 1.0),
    "--clip-value": floats(0.0, 1.0),
    "--gp-weight": floats(0.0, 100.0),
    "--ema-decay": st.one_of(floats(0.0, 0.999), st.sampled_from(["1", "1.0", "2"])),
    "--ema-rampup": floats(0.0, 1.0),
    "--data": names(
        "ring", "grid", "gaussian-1d", "mixture-1d", "swissroll", "digits-nope", "/nonexistent.npy"
    ),
    "--objective": names("minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"),
    "--optimizer": names("adam", "rmsprop", "sgd"),
    "--device": names("cpu", "auto", "cuda", "cuda:7", "mps", "tpu"),
    "--model": names("gan", "vae"),
    "--preset": names("toy-fast"),
    "--stop-on": names("divergence", "mode-collapse,no-progress", "divergence,,", "bogus"),
    "--no-such-flag": text_junk,
}


def assert_one_clean_line(code: int, err: str) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("gankit: error: ") and err.count("\n") == 1, err


def assert_run_or_nothing(code: int, out_dir: Path) -> None:
    if code == 0:
        assert (out_dir / "config.json").is_file() and any((out_dir / "checkpoints").glob("step_*.pt"))
    else:
        assert not out_dir.exists(), "a refused run left a directory behind"


@FUZZ
@given(flags=st.dictionaries(st.sampled_from(sorted(FLAG_VALUES)), st.none(), max_size=4).flatmap(
    lambda chosen: st.fixed_dictionaries({flag: FLAG_VALUES[flag] for flag in chosen})
))  # fmt: skip
def test_generated_train_flags_run_or_exit_2_with_one_line(cli, flags):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = [*BASE, "--out", out]
        for flag, value in flags.items():
            args += [flag, value] if not value.startswith("-") else [f"{flag}={value}"]
        code, _, err = cli("train", *args)
        assert_one_clean_line(code, err)
        assert_run_or_nothing(code, out)
        record("train flags", code=code, args=[str(a) for a in args[len(BASE) + 2 :]])


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(HUGE[:1]),
)
toml_values = st.one_of(
    scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars, max_size=2)
)
# compile and threads are left out: valid values of theirs are slow (compiling) or change the
# process for the tests after (torch's thread count); their types are checked like any field's.
# the monitor thresholds' keys too: the config keeps them, diagnose checks them before a run starts
fuzzed_fields = [name for name in (*FIELD_NAMES, *THRESHOLD_KEYS) if name not in ("compile", "threads")]
config_keys = st.one_of(
    st.sampled_from(fuzzed_fields), st.sampled_from(["widht", "learning_rate", "", "train", "a.b"])
)


@FUZZ
@given(
    table=st.dictionaries(config_keys, toml_values, max_size=4),
    as_text=st.one_of(st.none(), st.text(max_size=40), st.binary(max_size=20)),
)
def test_generated_config_files_run_or_exit_2_with_one_line(cli, table, as_text):
    with tempfile.TemporaryDirectory() as tmp:
        out, config = Path(tmp) / "run", Path(tmp) / "config.toml"
        if isinstance(as_text, bytes):
            config.write_bytes(as_text)
        else:
            lines = [f"{json.dumps(key)} = {toml_value(value)}" for key, value in table.items()]
            config.write_text(as_text if as_text is not None else "\n".join(lines))
        # the file's values go under BASE's flags, so only what the flags leave open is fuzzed
        code, _, err = cli("train", "--config", config, *BASE, "--out", out)
        assert_one_clean_line(code, err)
        assert_run_or_nothing(code, out)
        record("config file", code=code)


odd_names = st.one_of(
    st.sampled_from(
        ["", ".", "..", "/", "//", "~", "-", "a" * 300, "with space", "new\nline", "nul\x00byte"]
    ),
    st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20),
)


@FUZZ
@given(name=odd_names, where=st.sampled_from(["out", "out-under-a-file", "resume", "config", "sample-out"]))
def test_odd_paths_run_or_exit_2_with_one_line(cli, name, where):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "a-file").write_text("not a directory")
        before = sorted(p.name for p in tmp.iterdir())
        path = (tmp / "a-file" / name) if where == "out-under-a-file" else (tmp / name)
        flag_value = f"={path}"  # '=' keeps a value that starts with '-' from reading as a flag
        if where in ("out", "out-under-a-file"):
            code, _, err = cli("train", *BASE, f"--out{flag_value}")
        elif where == "resume":
            code, _, err = cli("train", f"--resume{flag_value}")
        elif where == "config":
            code, _, err = cli("train", f"--config{flag_value}", *BASE, "--out", tmp / "run")
        else:
            code, _, err = cli("sample", tmp / "no-run", "--n", "4", f"--out{flag_value}")
        assert_one_clean_line(code, err)
        if code == 2:
            assert sorted(p.name for p in tmp.iterdir()) == before, "a refused command left files behind"
        record("odd path", code=code, where=where)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from gankit.runs.assemble import train

    return train(tiny_config(2), tmp_path_factory.mktemp("fuzz") / "run").path


@FUZZ
@given(
    n=st.one_of(st.integers(1, 64), st.integers(-5, 0), st.sampled_from(HUGE + [10**12]), text_junk),
    seed=st.one_of(st.integers(0, 2**62), st.integers(-(2**70), 2**70), text_junk),
    suffix=st.sampled_from([".npy", ".png", ".txt", "", ".NPY"]),
)
def test_generated_sample_arguments_run_or_exit_2_with_one_line(cli, trained_run, n, seed, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"samples{suffix}"
        code, _, err = cli("sample", trained_run, f"--n={n}", f"--seed={seed}", "--out", out)
        assert_one_clean_line(code, err)
        assert out.exists() == (code == 0)
        record("sample arguments", code=code)
