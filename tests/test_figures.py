"""The classic GAN claims (gankit figure): each test asserts a claim's direction and size.

Configurations are the figures' own small settings (or smaller); where training noise could flip a
result, several seeds are run and the median is checked.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from gankit.engine.loop import Trainer
from gankit.experiments import (
    FIGURES,
    evolution_1d,
    js_saturation,
    optimal_discriminator,
    run_figure,
    strong_discriminator,
    vanishing_gradients,
)
from gankit.experiments.common import median, toy_config
from gankit.experiments.strong_discriminator import DATA


def test_registry_lists_every_classic_figure_with_a_description_and_an_explanation():
    expected = {"evolution-1d", "optimal-discriminator", "vanishing-gradients", "js-saturation"}
    expected |= {"strong-discriminator"}
    assert expected <= set(FIGURES)
    for name, figure in FIGURES.items():
        assert figure.name == name
        assert figure.description and figure.explanation


def test_gankit_list_prints_the_figures(cli):
    code, out, _ = cli("list")
    assert code == 0
    assert "figures:" in out and all(name in out for name in FIGURES)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "OUT"], "give either a figure name or --all"),
        (["js-saturation", "--all", "--out", "OUT"], "give either a figure name or --all"),
        (["no-such-figure", "--out", "OUT"], "unknown figure 'no-such-figure'; allowed: "),
        (["js-saturation", "--out", "OUT", "--seed", "-1"], "seed must be an integer >= 0"),
        (["js-saturation", "--out", "FILE"], "--out must be a directory"),
        (
            ["js-saturation", "--data", "digits", "--out", "OUT"],
            "figure js-saturation takes no --data digits",
        ),
        (["vae-vs-gan", "--data", "ring", "--out", "OUT"], "allowed: digits, fashion-mnist"),
        (["--all", "--data", "digits", "--out", "OUT"], "--data applies to one figure at a time"),
    ],
)
def test_figure_command_rejects_bad_input_with_one_line_and_writes_nothing(cli, tmp_path, args, message):
    (tmp_path / "FILE").write_text("not a directory")
    args = [str(tmp_path / a) if a in ("OUT", "FILE") else a for a in args]
    code, out, err = cli("figure", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "OUT").exists()


def test_figure_all_runs_every_registered_figure_with_the_flags(cli, tmp_path, monkeypatch):
    import gankit.experiments as experiments
    from gankit.experiments.common import Figure

    calls = []

    def fake_run(out_dir, quick=False, seed=0):
        calls.append((out_dir, quick, seed))
        return {"headline": {"a_number": 1.5}}

    fakes = {name: Figure(name, "d", fake_run, "e") for name in ("first", "second")}
    monkeypatch.setattr(experiments, "FIGURES", fakes)
    code, out, _ = cli("figure", "--all", "--out", tmp_path, "--quick", "--seed", 2)
    assert code == 0
    assert calls == [(tmp_path, True, 2), (tmp_path, True, 2)]
    assert "wrote" in out and "second" in out and "a_number: 1.5" in out


def test_run_figure_rejects_an_unknown_name():
    from gankit.errors import GankitError

    with pytest.raises(GankitError, match="unknown figure"):
        run_figure("nope", "unused")


# --- js-saturation ------------------------------------------------------------------------------


def test_js_saturation_via_cli_writes_png_json_and_js_stays_at_log2_while_w1_grows(cli, tmp_path):
    code, _, _ = cli("figure", "js-saturation", "--out", tmp_path, "--quick")
    assert code == 0
    assert (tmp_path / "js-saturation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((tmp_path / "js-saturation.json").read_text())
    assert record["command"] == f"gankit figure js-saturation --out {tmp_path} --quick"
    assert record["figure"] == "js-saturation" and record["quick"] is True and record["seed"] == 0
    thetas, js, w1 = record["theta"], record["js_estimate"], record["w1_estimate"]
    for theta, value in zip(thetas, js, strict=True):
        if theta == 0:
            assert abs(value) < 0.02  # identical distributions: JS = 0
        else:  # disjoint lines: log 2 whatever the distance
            assert value == pytest.approx(math.log(2), abs=0.02)
    assert 0.85 < record["headline"]["w1_estimate_slope_vs_abs_theta"] < 1.2
    assert w1[thetas.index(1.0)] > 1.7 * w1[thetas.index(0.5)] > 0.7
    # KL(P_0 || P_theta): 0 for identical lines, +inf otherwise; D's estimate is ~0 at theta = 0, large
    # elsewhere, and still climbing as D trains (no finite value to converge to).
    assert record["kl_closed_form"] == [0.0 if t == 0 else "inf" for t in thetas]
    kl, kl_half = record["kl_estimate"], record["kl_estimate_half_steps"]
    assert abs(kl[thetas.index(0.0)]) < 0.2
    for theta, full, half in zip(thetas, kl, kl_half, strict=True):
        if theta != 0:
            assert full > 3 and full > half + 0.5


def test_js_estimate_is_deterministic_for_a_seed():
    assert js_saturation.estimate("minimax", 0.5, 20, seed=3) == js_saturation.estimate(
        "minimax", 0.5, 20, seed=3
    )


# --- optimal-discriminator ----------------------------------------------------------------------


def test_a_trained_discriminator_matches_the_closed_form_optimum_where_supports_overlap():
    grid = torch.linspace(-4.5, 4.5, 91).unsqueeze(1)
    gaps = [optimal_discriminator.compare_with_optimal(300, seed, grid) for seed in range(2)]
    # After only 300 updates D sits on D* over most of the region (the full figure, 2,000 updates,
    # reaches a largest gap of 0.065); the largest gap is in the thin tails where samples are rare.
    assert median([g["mean_abs_gap_covered"] for g in gaps]) < 0.05
    assert median([g["max_abs_gap_covered"] for g in gaps]) < 0.3
    # D* is the formula: 1/2 where the two densities cross, and it rises toward the real mean.
    x = optimal_discriminator.OVERLAP_REAL[0]
    assert optimal_discriminator.optimal_d(np.array([x]))[0] > 0.6


def test_optimal_discriminator_saturates_while_critics_keep_useful_gradients():
    grid = torch.linspace(-4.5, 4.5, 91).unsqueeze(1)
    ratio = {}
    for name in ("minimax", "wgan", "wgan-gp"):
        runs = [optimal_discriminator.measure(name, 200, seed, grid) for seed in range(3)]
        ratio[name] = median([r["gradient_on_fakes_over_largest"] for r in runs])
        if name != "minimax":  # a critic is close to linear between the two Gaussians
            assert median([r["linear_fit_r2_between_means"] for r in runs]) > 0.9
    # D's slope on the fakes is a tiny fraction of its largest slope; a critic's is a large one.
    assert ratio["minimax"] < 0.01
    assert ratio["wgan"] > 0.2 and ratio["wgan-gp"] > 0.2


# --- evolution-1d -------------------------------------------------------------------------------


def test_evolution_1d_moves_the_generator_onto_the_data_and_d_to_one_half():
    runs = [evolution_1d.evolve(steps=200, seed=seed) for seed in range(3)]
    trained_d, end = [r[1] for r in runs], [r[-1] for r in runs]
    assert [p["panel"] for p in runs[0]] == ["early", "D trained", "G moved", "equilibrium"]
    assert [p["step"] for p in runs[0]] == [0, 0, 10, 200]
    # (b) D trained against a generator far from the data separates them: D far from 1/2 on data.
    assert median([p["max_abs_d_minus_half_central_95"] for p in trained_d]) > 0.3
    # (d) generator on the data (W1 cut by more than 3x) and D close to 1/2 on the data.
    assert median([p["w1_grid"] for p in end]) < 0.3 * median([p["w1_grid"] for p in runs[0][:1]])
    assert median([p["max_abs_d_minus_half_central_95"] for p in end]) < 0.15
    # The generator's density is drawn from the numbers in the JSON, on the figure's grid.
    assert len(end[0]["generator_density"]) == evolution_1d.GRID_POINTS


def test_grid_w1_of_two_densities_is_the_shift_between_them():
    x = np.linspace(-5, 7, 1201)
    from scipy.stats import norm

    assert evolution_1d.grid_w1(norm.pdf(x, 0, 1), norm.pdf(x, 2, 1), x) == pytest.approx(2.0, abs=0.01)
    assert evolution_1d.lr_factor(0, 100) == 1 and evolution_1d.lr_factor(100, 100) == pytest.approx(0.05)


# --- vanishing-gradients ------------------------------------------------------------------------


def test_minimax_gradient_vanishes_with_disjoint_supports_but_not_the_critics():
    decay = {"minimax": [], "ns": [], "wgan-gp": []}
    for seed in range(3):
        generator = vanishing_gradients.train_generator(0, seed)  # at initialisation: disjoint
        curves = vanishing_gradients.gradient_curves(generator, "minimax", 300, seed, batch_size=64)
        curves |= vanishing_gradients.gradient_curves(generator, "wgan-gp", 300, seed, batch_size=64)
        for name, curve in curves.items():
            decay[name].append(vanishing_gradients.orders_of_decay(curve))
        assert curves["ns"][-1] > curves["ns"][0]  # the non-saturating gradient grows instead
    assert median(decay["minimax"]) >= 2  # at least two orders of magnitude
    assert median(decay["wgan-gp"]) < 1  # less than one


def test_minimax_gradient_does_not_vanish_once_samples_overlap_the_data():
    decay = []
    for seed in range(3):
        generator = vanishing_gradients.train_generator(200, seed)  # samples now spread over the data
        curves = vanishing_gradients.gradient_curves(generator, "minimax", 300, seed, batch_size=64)
        decay.append(vanishing_gradients.orders_of_decay(curves["minimax"]))
    assert median(decay) < 0.5


def test_record_steps_are_log_spaced_and_end_at_the_last_step():
    assert vanishing_gradients.record_steps(300) == [1, 2, 5, 10, 20, 50, 100, 200, 300]
    assert vanishing_gradients.record_steps(1000) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]


# --- strong-discriminator -----------------------------------------------------------------------


def test_pretraining_d_degrades_the_minimax_gan_with_sgd_but_not_wgan_gp():
    def median_w1(objective, k):
        return median([strong_discriminator.final_w1(objective, "sgd", k, seed) for seed in range(3)])

    config = toy_config(objective="minimax", dim=2, latent_dim=2, width=32, depth=2)
    untrained = median(
        [
            strong_discriminator.distance_to_data(Trainer(config.replace(seed=s), DATA, "cpu"), s)
            for s in range(3)
        ]
    )
    minimax_k0, minimax_k1000 = median_w1("minimax", 0), median_w1("minimax", 1000)
    assert minimax_k0 < 0.35 * untrained  # ordinary training moves G most of the way to the data
    assert minimax_k1000 > 0.8 * untrained  # after 1000 D steps first, the generator barely moves
    # The critic pre-trained just as long does not stop WGAN-GP from reaching the data.
    assert median_w1("wgan-gp", 1000) < 0.4 * untrained


# --- docs/claims.md -----------------------------------------------------------------------------


def test_write_docs_builds_claims_md_from_every_figure_json(tmp_path):
    from gankit.experiments.write_docs import main

    figures = tmp_path / "figures"
    figures.mkdir()
    for index, name in enumerate(FIGURES):
        record = {
            "figure": name,
            "command": f"gankit figure {name} --out {figures}",
            "seed": 0,
            "claim": f"claim of {name}",
            "headline": {"a_number": 0.125 + index},
        }
        (figures / f"{name}.json").write_text(json.dumps(record))
    out = tmp_path / "docs" / "claims.md"
    assert main(["--figures", str(figures), "--out", str(out)]) == 0
    text = out.read_text()
    for index, (name, figure) in enumerate(FIGURES.items()):
        assert f"![{name}](../figures/{name}.png)" in text
        assert f"`gankit figure {name} --out {figures}`" in text
        assert f"| `a_number` | {0.125 + index:.4g} |" in text
        assert figure.explanation in text


def test_write_docs_names_the_command_for_a_figure_not_generated_yet(tmp_path, capsys):
    from gankit.experiments.write_docs import main

    figures, out = tmp_path / "figures", tmp_path / "claims.md"
    figures.mkdir()
    assert main(["--figures", str(figures), "--out", str(out)]) == 2  # nothing generated at all
    assert "run: gankit figure --all --out" in capsys.readouterr().err
    assert not out.exists()
    record = {"figure": "js-saturation", "command": "c", "seed": 0, "claim": "x", "headline": {}}
    (figures / "js-saturation.json").write_text(json.dumps(record))
    assert main(["--figures", str(figures), "--out", str(out)]) == 0
    assert "warning: evolution-1d has no JSON" in capsys.readouterr().err
    assert (
        f"Not generated yet: run `gankit figure evolution-1d --out {figures.as_posix()}`" in out.read_text()
    )
    # a figure drawn from a benchmark names the benchmark first, and says already what it shows
    from gankit.experiments.vae_vs_gan import FIGURE

    vae_vs_gan = f"run `{FIGURE.prerequisite}`, then `gankit figure vae-vs-gan --out {figures.as_posix()}`"
    assert vae_vs_gan in out.read_text() and FIGURE.explanation in out.read_text()


# --- vae-vs-gan, full mode: drawn from what benchmarks/images.py keeps ---------------------------

TINY_VAE = ("--data", "digits", "--model", "vae", "--width", 4, "--latent-dim", 8, "--batch-size", 16,
            "--log-every", 2, "--sample-every", 0, "--validation-fraction", 0.5, "--steps", 4,
            "--checkpoint-every", 2, "--keep-checkpoints", 10)  # fmt: skip


def fake_benchmark(cli, bench, seeds: list[dict]) -> None:
    """A tiny trained run where benchmarks/images.py puts a report seed, and BENCH/figure.json as the
    driver writes it (figure_summary): each of ``seeds`` is a test record of that run."""
    code, _, err = cli("train", *TINY_VAE, "--out", bench / "seeds-vae" / "trials" / "0000")
    assert code == 0, err
    metrics = {"test_kid": 1.0, "test_precision": 0.5, "test_recall": 0.25, "test_density": 0.5}
    runs = [
        {"run": "seeds-vae/trials/0000", "seed": 100 + i, "steps": 4, "cpu_time": 1.0, "chosen_step": 2}
        | metrics
        | {"test_coverage": 0.5}
        | record
        for i, record in enumerate(seeds)
    ]
    (bench / "figure.json").write_text(json.dumps({"vae": {"runs": runs}, "ns": {"runs": []}}))


def test_vae_vs_gan_full_draws_the_first_report_seed_titled_with_the_mean_test_fid(cli, tmp_path):
    from gankit.experiments import vae_vs_gan

    bench = tmp_path / "bench"
    fake_benchmark(cli, bench, [{"test_fid": 30.0}, {"test_fid": 50.0}])  # no floor: eval gave none
    chosen = vae_vs_gan.read_benchmark(bench)
    assert list(chosen) == ["vae"] and chosen["vae"][0]["run"] == str(bench / "seeds-vae/trials/0000")
    figure, distances = vae_vs_gan.figure_from_benchmark(chosen)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:2] == ["real test digits", "vae: test FID 40.0\nprecision 0.50, recall 0.25"]
    # below each grid its nearest training images, titled with their median distance
    assert titles[2:] == [
        f"nearest training images\nmedian distance {distances[p]:.2f}" for p in ("real", "vae")
    ]

    numbers = vae_vs_gan.run(tmp_path / "fig", source=bench)
    assert numbers["metrics"]["vae"]["fid"] == 40.0  # the mean over the report seeds
    assert numbers["floor"] == {} and "floor_fid" not in numbers["headline"]
    assert numbers["settings"]["budget"] == (
        "4 steps a run, mean of 2 seeds; validation FID had stopped improving in every run"
    )
    assert (tmp_path / "fig" / "vae-vs-gan.png").stat().st_size > 0
    chosen["vae"][1]["chosen_step"] = 4  # a seed chose its last checkpoint: still improving
    assert vae_vs_gan.still_improving(chosen) == ["vae"]


def test_vae_vs_gan_full_shows_the_floor_only_where_eval_gave_one(cli, tmp_path):
    from gankit.experiments import vae_vs_gan

    floor = {"test_floor_fid": 12.5, "test_floor_precision": 0.75, "test_n_floor": 60}
    floor |= {f"test_floor_{key}": 0.5 for key in ("kid", "recall", "density", "coverage")}
    fake_benchmark(cli, tmp_path / "bench", [{"test_fid": 30.0} | floor])
    numbers = vae_vs_gan.run(tmp_path / "fig", source=tmp_path / "bench")
    assert numbers["floor"]["fid"] == 12.5 and numbers["floor"]["n"] == 60
    assert numbers["headline"]["floor_fid"] == 12.5
    figure, _ = vae_vs_gan.figure_from_benchmark(vae_vs_gan.read_benchmark(tmp_path / "bench"))
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[0] == "real test digits\n(floor FID 12.5 at n = 60)"


def test_vae_vs_gan_full_without_the_benchmark_says_what_to_run_in_one_line(cli, tmp_path, monkeypatch):
    from gankit.experiments import vae_vs_gan

    monkeypatch.setattr(vae_vs_gan, "BENCHMARK_DIR", tmp_path / "runs" / "images")
    code, _, err = cli("figure", "vae-vs-gan", "--out", tmp_path / "fig")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{tmp_path / 'runs' / 'images' / 'figure.json'} not found: run " in err
    assert "`nice -n 10 python benchmarks/images.py --workers 2` first" in err
    assert not (tmp_path / "fig" / "vae-vs-gan.png").exists()
    code, _, err = cli("figure", "vae-vs-gan", "--data", "fashion-mnist", "--out", tmp_path / "fig")
    assert code == 2 and len(err.strip().splitlines()) == 1  # its own runs, its own command
    assert f"{tmp_path / 'runs' / 'fashion' / 'figure.json'} not found: run " in err
    assert "`nice -n 10 python benchmarks/images.py --data fashion-mnist --workers 2` first" in err

    bench = tmp_path / "runs" / "images"
    bench.mkdir(parents=True)
    (bench / "figure.json").write_text(json.dumps({"vae": {"runs": []}}))  # searches still going
    code, _, err = cli("figure", "vae-vs-gan", "--out", tmp_path / "fig")
    assert code == 2 and "figure.json lists no tested report seed yet: let `nice -n 10" in err

    fake_benchmark(cli, bench, [{"test_fid": 30.0}])
    shutil.rmtree(bench / "seeds-vae")  # the journals keep the numbers, not the samples
    code, _, err = cli("figure", "vae-vs-gan", "--out", tmp_path / "fig")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "seeds-vae/trials/0000 is gone: the samples need the benchmark's run directories" in err


def test_nearest_training_image_is_the_true_nearest_in_pixels():
    from gankit.experiments.vae_vs_gan import nearest_training

    rng = np.random.default_rng(0)
    training = rng.uniform(-1, 1, size=(300, 1, 8, 8)).astype(np.float32)
    images = np.concatenate([training[[7, 123]] + 0.01, rng.uniform(-1, 1, size=(20, 1, 8, 8))]).astype(
        np.float32
    )
    nearest, distances = nearest_training(images, training)
    pairwise = ((images.reshape(len(images), 1, -1) - training.reshape(1, len(training), -1)) ** 2).sum(-1)
    truth = pairwise.argmin(axis=1)  # brute force over every training image
    assert truth[:2].tolist() == [7, 123]
    np.testing.assert_array_equal(nearest, training[truth])
    np.testing.assert_allclose(distances, np.sqrt(pairwise.min(axis=1)), rtol=1e-5)
    # one pixel off a training image: that image, not any other
    twin = training[[42]].copy()
    twin[0, 0, 0, 0] += 0.05
    assert (nearest_training(twin, training)[0] == training[[42]]).all()


def test_vae_vs_gan_draws_each_panels_nearest_images_from_the_part_the_run_trained_on(cli, tmp_path):
    from gankit.data import load_data
    from gankit.data.images import holdout_part
    from gankit.experiments import vae_vs_gan

    fake_benchmark(cli, tmp_path / "bench", [{"test_fid": 30.0}])
    figure, distances = vae_vs_gan.figure_from_benchmark(vae_vs_gan.read_benchmark(tmp_path / "bench"))
    training = holdout_part(load_data("digits"), 0.5, "train").all().numpy()  # the run's training part
    real = vae_vs_gan.test_images("digits", 0.5)
    pairwise = ((real.reshape(64, 1, -1) - training.reshape(1, len(training), -1)) ** 2).sum(-1)
    expected = vae_vs_gan._tiles(training[pairwise.argmin(axis=1)])
    below_real = figure.axes[2]  # the grid under the real test digits
    np.testing.assert_array_equal(below_real.images[0].get_array(), expected)
    assert distances["real"] == pytest.approx(float(np.median(np.sqrt(pairwise.min(axis=1)))), rel=1e-5)
    assert distances["real"] > 0  # held-out test digits are not among the training images
