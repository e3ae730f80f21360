"""The Python API (gankit.train / load / resume / Run / figure / doctor): the engine seen from a notebook."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import gankit
from gankit.api import Run
from gankit.errors import GankitError
from gankit.rundir import default_run_dir

# Tiny networks and few steps: these tests check plumbing, not learning.
TINY = {"width": 16, "depth": 1, "batch_size": 32, "critic_steps": 1, "log_every": 5, "progress": False}


def tiny_run(out, steps=10, **overrides) -> Run:
    data = overrides.pop("data", "ring")
    settings = TINY | {"eval_every": 5, "eval_samples": 200, "sample_every": 0} | overrides
    return gankit.train(data, "wgan-gp", steps, out=out, **settings)


def test_train_writes_a_run_directory_that_load_reads_back(tmp_path):
    run = tiny_run(tmp_path / "run", steps=10)
    assert run.path == tmp_path / "run"
    assert (run.path / "config.json").is_file() and (run.path / "metrics.jsonl").is_file()
    assert (run.config.data, run.config.objective, run.config.steps, run.config.width) == (
        "ring",
        "wgan-gp",
        10,
        16,
    )
    assert run.config.latent_dim == 2  # resolved: the data's default is spelled out
    assert run.step == 10 and run.stopped is None
    assert [row["step"] for row in run.metrics] == [5, 10]
    loaded = gankit.load(run.path)
    assert loaded.metrics == run.metrics
    np.testing.assert_array_equal(loaded.sample(50, seed=3), run.sample(50, seed=3))
    assert "data='ring'" in repr(loaded) and "step=10" in repr(loaded)


def test_sample_is_deterministic_for_a_seed_and_shaped_like_the_data(tmp_path):
    ring = tiny_run(tmp_path / "ring")
    first, again, other = ring.sample(64, seed=1), ring.sample(64, seed=1), ring.sample(64, seed=2)
    assert first.shape == (64, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    line = tiny_run(tmp_path / "line", data="gaussian-1d")
    assert line.sample(7).shape == (7, 1)


@pytest.mark.parametrize(("n", "seed"), [(0, 0), (-3, 0), (2.5, 0), (True, 0), (10, -1), (10, "a")])
def test_sample_rejects_bad_counts_and_seeds(tmp_path, n, seed):
    run = tiny_run(tmp_path / "run", steps=5)
    with pytest.raises(GankitError, match="must be an integer"):
        run.sample(n, seed=seed)


def test_metric_returns_one_column_and_names_the_known_ones_when_missing(tmp_path):
    run = tiny_run(tmp_path / "run", steps=10, eval_every=10)
    steps, w1 = run.metric("eval_w1")
    assert steps.tolist() == [10]  # only rows that carry the metric
    assert w1.shape == (1,) and np.isfinite(w1).all() and w1[0] > 0
    steps, losses = run.metric("d_loss")
    assert steps.tolist() == [5, 10]
    assert losses.tolist() == [row["d_loss"] for row in run.metrics]
    with pytest.raises(GankitError, match=r"no metric 'nope'.*known: .*d_loss"):
        run.metric("nope")


def test_metric_turns_nulls_on_disk_into_nan(tmp_path):
    run = tiny_run(tmp_path / "run", steps=5)
    text = (run.path / "metrics.jsonl").read_text().replace('"d_loss": ', '"d_loss": null, "was": ', 1)
    (run.path / "metrics.jsonl").write_text(text)
    _, values = run.metric("d_loss")
    assert np.isnan(values).all()


def test_resume_in_stages_matches_one_straight_run(tmp_path):
    straight = tiny_run(tmp_path / "straight", steps=20)
    staged = tiny_run(tmp_path / "staged", steps=10)
    staged = gankit.resume(staged, steps=20, progress=False)
    assert staged.step == 20 and staged.config.steps == 20
    np.testing.assert_array_equal(staged.sample(100), straight.sample(100))
    assert gankit.resume(str(staged.path), progress=False).step == 20  # a path works too; nothing left to do


def test_arguments_override_a_preset_which_overrides_defaults(tmp_path):
    run = gankit.train(
        preset="toy-fast", steps=3, out=tmp_path / "run", progress=False, log_every=1, eval_every=0
    )
    assert run.config.steps == 3  # the argument beats the preset's 1000
    assert run.config.width == 128  # from the preset (the default for toy data is also 128) ...
    assert run.config.batch_size == 256 and run.config.data == "ring"  # ... and defaults fill the rest


def test_config_file_is_read_and_arguments_win(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text('data = "gaussian-1d"\nwidth = 8\nsteps = 50\n')
    run = gankit.train(
        steps=2, out=tmp_path / "run", config_file=file, progress=False, log_every=1, eval_every=0
    )
    assert (run.config.data, run.config.width, run.config.steps) == ("gaussian-1d", 8, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widht": 8}, "unknown config key 'widht'"),
        ({"objective": "gan"}, "objective"),
        ({"data": "moons"}, "unknown data set 'moons'"),
        ({"steps": 0}, "steps must be > 0"),
    ],
)
def test_bad_arguments_raise_one_clear_error_and_write_nothing(tmp_path, kwargs, message):
    with pytest.raises(GankitError, match=message):
        gankit.train(out=tmp_path / "run", progress=False, **({"steps": 2} | kwargs))
    assert not (tmp_path / "run").exists()


def test_an_existing_run_is_kept_unless_overwrite(tmp_path):
    tiny_run(tmp_path / "run", steps=5)
    with pytest.raises(GankitError, match="already exists"):
        tiny_run(tmp_path / "run", steps=5)
    assert tiny_run(tmp_path / "run", steps=10, overwrite=True).step == 10


def test_load_rejects_what_is_not_a_run_directory(tmp_path):
    with pytest.raises(GankitError, match="not found"):
        gankit.load(tmp_path / "missing")
    with pytest.raises(GankitError, match="not a gankit run directory"):
        gankit.load(tmp_path)


def test_default_run_dir_is_under_runs_and_never_reuses_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = gankit.train("gaussian-1d", "ns", 2, progress=False, log_every=1, eval_every=0, width=8)
    assert run.path.parent == tmp_path / "runs" or run.path.parent.resolve() == (tmp_path / "runs").resolve()
    assert run.path.name.startswith("gaussian-1d-ns-")
    taken = default_run_dir(run.config.data, run.config.objective)
    taken.mkdir(parents=True)
    fresh = default_run_dir(run.config.data, run.config.objective)
    assert fresh != taken and not fresh.exists() and fresh.parent == taken.parent


def test_plot_shows_samples_losses_and_w1_for_toy_runs(tmp_path):
    with_eval = tiny_run(tmp_path / "eval", steps=10).plot(n=200)
    assert len(with_eval.axes) == 3
    samples_axis, losses_axis, w1_axis = with_eval.axes
    assert {"data", "generated"} <= {points.get_label() for points in samples_axis.collections}
    assert {line.get_label() for line in losses_axis.lines} == {"d_loss", "g_loss"}
    assert len(w1_axis.lines[0].get_xdata()) == 2
    one_d = tiny_run(tmp_path / "line", steps=5, data="gaussian-1d", eval_every=0).plot(n=200)
    assert len(one_d.axes) == 2  # no W1 panel without toy evaluation
    assert len(one_d.axes[0].patches) >= 2  # histograms of data and generated samples
    one_d.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000


def test_progress_bar_is_shown_when_asked(tmp_path, capsys):
    gankit.train(
        "gaussian-1d", "ns", 3, out=tmp_path / "on", width=8, log_every=1, eval_every=0, progress=True
    )
    assert "step" in capsys.readouterr().err
    gankit.train(
        "gaussian-1d", "ns", 3, out=tmp_path / "off", width=8, log_every=1, eval_every=0, progress=False
    )
    assert "step" not in capsys.readouterr().err


def test_figure_delegates_to_the_experiments_and_displays_its_png(tmp_path, monkeypatch):
    import gankit.experiments

    calls = []

    def fake_run_figure(name, out_dir, quick=False, seed=0):
        calls.append((name, out_dir, quick, seed))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{name}.png").write_bytes(b"\x89PNG fake")
        return {"answer": 42}

    monkeypatch.setattr(gankit.experiments, "run_figure", fake_run_figure)
    result = gankit.figure("evolution-1d", out=tmp_path / "figs", quick=True, seed=3)
    assert calls == [("evolution-1d", tmp_path / "figs", True, 3)]
    assert result.numbers == {"answer": 42} and result.name == "evolution-1d"
    assert result._repr_png_() == b"\x89PNG fake"
    temporary = gankit.figure("evolution-1d")  # no out: a fresh temporary directory
    assert temporary.image.is_file() and temporary.image.parent != tmp_path / "figs"


def test_the_train_function_and_every_form_of_engine_import_work_together():
    code = (
        "import gankit\n"
        "import gankit.engine.loop as loop\n"
        "import gankit.runs.assemble\n"
        "from gankit import rundir\n"
        "assert callable(gankit.train) and gankit.train.__module__ == 'gankit.api', gankit.train\n"
        "assert loop.Trainer and gankit.runs.assemble.train and rundir.RunDir\n"
        "import sys; assert 'matplotlib.pyplot' not in sys.modules  # a notebook's backend is left alone\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_discriminator_scores_are_those_of_the_trained_discriminator(tmp_path):
    import torch

    from gankit.config import TrainConfig
    from gankit.runs import assemble

    config = TrainConfig(
        data="gaussian-1d", objective="ns", steps=6, width=8, depth=1, log_every=3, eval_every=0
    )
    result = assemble.train(config, tmp_path / "run")
    x = np.linspace(-3, 3, 11, dtype=np.float32)[:, None]
    with torch.no_grad():
        expected = result.trainer.discriminator(torch.from_numpy(x)).reshape(-1).numpy()
    scores = gankit.load(tmp_path / "run").discriminator_scores(x)
    assert scores.shape == (11,)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    with pytest.raises(GankitError, match=r"x must have shape \(n, 1\)"):
        gankit.load(tmp_path / "run").discriminator_scores(np.zeros((4, 2)))


def test_discriminator_scores_refuse_a_packed_discriminator(tmp_path):
    run = tiny_run(tmp_path / "run", steps=2, pack=2)
    with pytest.raises(GankitError, match="pack=2"):
        run.discriminator_scores(np.zeros((4, 2)))


def test_doctor_returns_the_diagnosis_and_prints_its_report(tmp_path):
    from gankit.diagnose.doctor import diagnose, format_diagnosis

    run = tiny_run(tmp_path / "run", steps=10)
    diagnosis = gankit.doctor(run)
    assert diagnosis == diagnose(run.path)  # the same verdict as `gankit doctor`
    assert gankit.doctor(str(run.path)) == diagnosis  # a path works too
    assert str(diagnosis) == format_diagnosis(diagnosis) and "verdict:" in str(diagnosis)
    assert diagnosis.names == [finding["name"] for finding in diagnosis["findings"]]
    shown = []
    diagnosis._repr_pretty_(type("Printer", (), {"text": lambda self, text: shown.append(text)})(), False)
    assert shown == [str(diagnosis)]


def test_doctor_names_the_findings_it_reads(tmp_path, monkeypatch):
    run = tiny_run(tmp_path / "run", steps=10)
    finding = {"name": "vanishing-gradients", "step": 5, "detected_at": 10, "message": "m", "evidence": {}}
    episode = finding | {"remedies": ["r"], "ended": None, "closed_at": None}
    # The doctor's findings come from replaying the monitors over the rows: stand in for that replay.
    monkeypatch.setattr("gankit.diagnose.doctor.replay", lambda *args, **kwargs: [episode])
    diagnosis = gankit.doctor(run)
    assert "vanishing-gradients" in diagnosis.names and diagnosis["verdict"] == "problems"


def test_no_gankit_module_touches_the_notebooks_matplotlib_backend():
    # Figures are built as matplotlib.figure.Figure objects; pyplot (global state, backend switching)
    # would silently blank a notebook's later plt.show() calls.
    import re
    from pathlib import Path

    import gankit

    package = Path(gankit.__file__).parent
    pattern = re.compile(r"matplotlib\.use\(|import matplotlib\.pyplot|from matplotlib import pyplot")
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_image_runs_plot_a_grid_and_a_vae_plots_its_own_losses(tmp_path):
    vae = gankit.train("digits", steps=2, model="vae", out=tmp_path / "vae", progress=False, **IMAGE_TINY)
    assert vae.sample(3).shape == (3, 1, 8, 8)
    assert "model='vae'" in repr(vae)
    figure = vae.plot(n=9)
    assert len(figure.axes) == 2 and len(figure.axes[0].images) == 1  # the sample grid is one image
    assert {line.get_label() for line in figure.axes[1].lines} == {"loss", "reconstruction", "kl"}
    assert "vae on digits" in figure.axes[0].get_title()
    with pytest.raises(GankitError, match="has no discriminator"):
        vae.discriminator_scores(np.zeros((2, 1, 8, 8)))


IMAGE_TINY = {
    "width": 8,
    "batch_size": 8,
    "log_every": 1,
    "eval_every": 0,
    "sample_every": 0,
    "monitors": False,
}
