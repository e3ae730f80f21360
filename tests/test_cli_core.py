"""The CLI end to end: train -> sample, and one clear line with exit code 2 for every bad input."""

import json

import numpy as np
import pytest
import typer

from gankit.cli import app
from gankit.config import FIELD_NAMES, FLAGS, NO_FLAG

TINY = [
    "--steps",
    "4",
    "--batch-size",
    "16",
    "--width",
    "8",
    "--depth",
    "1",
    "--log-every",
    "2",
    "--eval-every",
    "0",
    "--sample-every",
    "0",
    "--checkpoint-every",
    "2",
]


def test_train_writes_the_run_directory_contract(cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", "--data", "ring", "--objective", "wgan-gp", *TINY, "--out", run)
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["objective"] == "wgan-gp" and config["critic_steps"] == 5 and config["d_lr"] == 1e-4
    for key in ("latent_dim", "width", "depth", "optimizer", "g_lr", "d_lr", "betas", "critic_steps"):
        assert config[key] is not None, key  # every default spelled out
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    for key in ("wall_time", "d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"):
        assert key in rows[0]
    checkpoints = sorted(p.name for p in (run / "checkpoints").glob("*.pt"))
    assert checkpoints == ["step_00000002.pt", "step_00000004.pt"]
    assert "run directory" in out


def test_sample_is_deterministic_for_a_seed_and_writes_npy_and_png(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--out", run)[0] == 0
    for name in ("a.npy", "b.npy", "c.npy"):
        seed = "1" if name == "c.npy" else "0"
        code, _, err = cli("sample", run, "--n", "50", "--seed", seed, "--out", tmp_path / name)
        assert code == 0, err
    a, b, c = (np.load(tmp_path / n) for n in ("a.npy", "b.npy", "c.npy"))
    assert a.shape == (50, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert cli("sample", run, "--n", "50", "--out", tmp_path / "plot.png")[0] == 0
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_config_file_and_flags(cli, tmp_path):
    file = tmp_path / "c.toml"
    file.write_text('objective = "ns"\nsteps = 3\nbatch_size = 8\nwidth = 8\ndepth = 1\neval_every = 0\n')
    run = tmp_path / "run"
    assert cli("train", "--config", file, "--steps", "2", "--out", run, "--sample-every", "0")[0] == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["objective"], config["steps"], config["batch_size"]) == ("ns", 2, 8)


def test_help_shows_defaults(cli):
    code, out, _ = cli("train", "--help")
    assert code == 0
    assert "--critic-steps" in out and "objective's default" in out and "2000" in out
    from gankit.objectives import OBJECTIVES

    help_text = FLAGS["objective"].help
    assert all(name in help_text for name in OBJECTIVES)  # rpgan was missing once


def test_every_config_field_is_a_train_flag_or_is_said_to_have_none(cli):
    """`gankit train`'s flags are built from config.FLAGS: a new TrainConfig field needs its line
    there (its help) or a place in NO_FLAG, so the config and the command line cannot drift apart."""
    fields = set(FIELD_NAMES)
    assert set(FLAGS) <= fields and set(NO_FLAG) <= fields and not set(FLAGS) & set(NO_FLAG)
    assert sorted(fields - set(FLAGS) - set(NO_FLAG)) == []
    options = {param.name: param for param in typer.main.get_command(app).commands["train"].params}
    code, out, _ = cli("train", "--help")
    assert code == 0
    for name, flag in FLAGS.items():
        assert options[name].help == flag.help, name
        assert options[name].opts[0] in out, name


def test_list_names_data_objectives_and_presets(cli):
    code, out, _ = cli("list")
    assert code == 0
    for name in (
        "ring",
        "grid",
        "swissroll",
        "minimax",
        "ns",
        "wgan-gp",
        "hinge",
        "lsgan",
        "rpgan",
        "presets:",
    ):
        assert name in out


def test_list_aligns_each_section_and_says_what_paper_is(cli):
    _, out, _ = cli("list")
    sections: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            title = line
            sections[title] = []
        else:
            sections[title].append(line)
    for title, rows in sections.items():
        starts = {len(row) - len(row.lstrip()[len(row.split()[0]) :].lstrip()) for row in rows}
        assert len(starts) == 1, (title, rows)  # every description begins in one column
    (paper,) = [row for row in sections["presets:"] if row.split()[0] == "paper"]
    assert "each objective's paper settings" in paper  # the empty preset is not a blank line


BAD_TRAIN = [
    (["--data", "rings"], "unknown data set 'rings'"),
    (["--data", ""], "--data is empty; allowed: gaussian-1d"),  # not "the current folder of images"
    (["--objective", "gan"], "unknown objective 'gan'; allowed: minimax, ns"),
    (["--g-lr", "-0.1"], "g_lr must be > 0"),
    (["--d-lr", "0"], "d_lr must be > 0"),
    (["--batch-size", "0"], "batch_size must be > 0"),
    (["--steps", "-5"], "steps must be > 0"),
    (["--critic-steps", "0"], "critic_steps must be > 0"),
    (["--steps", "many"], "Invalid value for '--steps'"),
    (["--bogus-flag", "1"], "No such option"),
    (["--preset", "nope"], "unknown preset 'nope'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_TRAIN)
def test_bad_train_input_gets_one_line_and_exit_2_and_no_run_dir(cli, tmp_path, args, message):
    run = tmp_path / "run"
    code, out, err = cli("train", *args, "--out", run)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not run.exists()


def test_bad_config_files_exit_2(cli, tmp_path):
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("stepz = 3\n")
    unreadable = tmp_path / "dir.toml"
    unreadable.mkdir()
    for file, message in [
        (unknown, "unknown config key 'stepz'"),
        (unreadable, "cannot read config file"),
        (tmp_path / "missing.toml", "config file not found"),
    ]:
        code, _, err = cli("train", "--config", file, "--out", tmp_path / "run")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "run").exists()


def test_missing_or_foreign_run_directories_exit_2(cli, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases = [
        (("sample", tmp_path / "nope", "--out", tmp_path / "s.npy"), "run directory not found"),
        (("sample", foreign, "--out", tmp_path / "s.npy"), "is not a gankit run directory"),
        (("train", "--resume", foreign), "is not a gankit run directory"),
        (("train", *TINY, "--out", foreign), "already exists"),
        (("train", *TINY, "--out", foreign, "--overwrite"), "refusing to overwrite"),
        (("sample", foreign, "--out", tmp_path / "s.txt"), "--out must end in .npy or .png"),
    ]
    for args, message in cases:
        code, _, err = cli(*args)
        assert code == 2, args
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1
    assert (foreign / "notes.txt").read_text() == "mine"  # nothing of the user's was touched


def test_existing_run_is_kept_unless_overwrite(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--out", run)[0] == 0
    code, _, err = cli("train", *TINY, "--out", run)
    assert code == 2 and "--resume" in err and "--overwrite" in err
    assert cli("train", *TINY, "--out", run, "--overwrite", "--objective", "ns")[0] == 0
    assert json.loads((run / "config.json").read_text())["objective"] == "ns"


def test_resume_continues_to_more_steps(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("train", *TINY, "--out", run)[0] == 0
    code, _, err = cli("train", "--resume", run, "--steps", "6")
    assert code == 0, err
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_module_entry_point_runs_as_a_subprocess(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "gankit", "train", "--objective", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "gankit: error: unknown objective 'nope'; allowed: minimax, ns, wgan, "
        "wgan-gp, hinge, lsgan, rpgan"
    )
