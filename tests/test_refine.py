"""Refinement at sampling time (gankit.refine: DRS, MH-GAN) and the mixture latent."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gankit
from gankit.config import build_config, from_dict, to_dict
from gankit.data.toy import get_toy
from gankit.errors import GankitError
from gankit.metrics.toy import mode_statistics
from gankit.nets.mlp import MixtureLatent
from gankit.refine import (
    RefineOptions,
    calibrate,
    discriminator_logit,
    drs,
    drs_f,
    knn_logit,
    mh,
    resolve_scores,
)

RING = get_toy("ring")


def gaussian_proposer(count: int, rng: torch.Generator) -> np.ndarray:
    return torch.randn(count, 2, generator=rng).double().numpy()


def constant_logit(x: np.ndarray) -> np.ndarray:
    return np.full(len(x), 0.3)


def smeared_ring(count: int, rng: torch.Generator) -> np.ndarray:
    """The ring with 4x its sigma: about a third of the points within 3 sigma of a mode."""
    which = torch.randint(8, (count,), generator=rng)
    noise = torch.randn(count, 2, generator=rng)
    return (RING.modes[which] + 4 * RING.sigma * noise).double().numpy()


def real_ring(count: int, rng: torch.Generator) -> np.ndarray:
    return RING.sample(count, rng).double().numpy()


def high_quality(samples: np.ndarray) -> float:
    return mode_statistics(samples, RING.modes.numpy(), RING.sigma).high_quality


# --- the algorithms on their own ------------------------------------------------------------------


def test_drs_f_is_the_log_odds_of_the_acceptance_ratio():
    # F = logit(p) + eps with p = exp(D - M - eps): sigmoid(F) = p up to a relative eps
    logits = np.array([-3.0, -1.0, 0.0])
    f = drs_f(logits, 0.0, 1e-6)
    accept = 1 / (1 + np.exp(-f))
    np.testing.assert_allclose(accept, np.exp(logits - 1e-6), rtol=1e-5)


@pytest.mark.parametrize("n", [1, 7, 1000])
@pytest.mark.parametrize("method", ["drs", "mh"])
def test_refinement_returns_exactly_n_samples(method, n):
    def logit(x):  # prefers points near the origin: many proposals are rejected
        return -(x**2).sum(axis=1)

    if method == "drs":
        result = drs(gaussian_proposer, logit, n, seed=3, burn_in=50)
    else:
        result = mh(gaussian_proposer, logit, gaussian_proposer, n, seed=3, chain_length=5)
    assert result.samples.shape == (n, 2)
    assert result.proposals >= n and 0 < result.accepted <= result.proposals


def test_drs_with_a_discriminator_that_cannot_tell_keeps_the_raw_draw():
    result = drs(gaussian_proposer, constant_logit, 500, seed=11, gamma_percentile=100)
    raw = gaussian_proposer(500, torch.Generator().manual_seed(11))
    assert result.acceptance_rate > 0.999
    np.testing.assert_array_equal(result.samples, raw)


def test_drs_gamma_percentile_never_lowers_acceptance_below_exact_rejection():
    # a constant D: every F is the same, its percentile is positive, and gamma is held at 0
    result = drs(gaussian_proposer, constant_logit, 300, seed=2, gamma_percentile=50)
    assert result.acceptance_rate > 0.999


def test_drs_that_accepts_almost_nothing_stops_with_a_clear_error():
    def logit(x):  # one point of the burn-in looks infinitely better than all the others
        values = np.zeros(len(x))
        values[0] = 1000.0
        return values

    with pytest.raises(GankitError, match="DRS accepted .* too few for 10 samples"):
        drs(gaussian_proposer, logit, 10, seed=0, gamma_percentile=100, max_proposals_per_sample=20)


def test_drs_keeps_accepting_when_a_late_proposal_raises_m():
    # A ratio that is huge on a rare region (a mode G under-covers) first seen after the burn-in: the
    # rise of M must not stop every other acceptance (gamma follows M, as the reference code's does).
    def logit(x):
        r2 = (x**2).sum(axis=1)
        return np.where(r2 > 16, 30.0, -r2 / 2)

    burn_in = gaussian_proposer(2000, torch.Generator().manual_seed(2))  # the first 2,000 proposals
    assert ((burn_in**2).sum(axis=1) <= 16).all()  # M is set without the rare region
    result = drs(gaussian_proposer, logit, 2000, seed=2)
    assert ((result.samples**2).sum(axis=1) > 16).any()  # a later proposal raised M and was kept
    assert result.acceptance_rate > 0.2  # the bulk is still accepted as before the rise


def test_mh_with_a_discriminator_that_cannot_tell_accepts_every_move():
    result = mh(gaussian_proposer, constant_logit, gaussian_proposer, 400, seed=5, chain_length=4)
    raw = gaussian_proposer(400, torch.Generator().manual_seed(5))  # each chain's last proposal
    assert result.acceptance_rate == 1.0
    np.testing.assert_array_equal(result.samples, raw)


def test_mh_restarts_chains_that_never_move_from_a_generated_sample():
    def logit(x):  # the real starting points (|x| = 10) beat every proposal: no chain moves
        return np.where(np.abs(x[:, 0]) > 5, 50.0, 0.0)

    def far_real(count, rng):
        return np.full((count, 2), 10.0)

    result = mh(gaussian_proposer, logit, far_real, 50, seed=0, chain_length=3)
    assert np.abs(result.samples).max() < 8  # generated samples, never the real starting points
    assert result.proposals == 3 * 50 + 4 * 50


@pytest.mark.parametrize("method", ["drs", "mh"])
def test_refinement_of_a_smeared_generator_raises_high_quality(method):
    heldout_real = real_ring(20_000, torch.Generator().manual_seed(1))
    heldout_fake = smeared_ring(20_000, torch.Generator().manual_seed(2))
    logit = knn_logit(heldout_real, heldout_fake, neighbours=50)
    raw = smeared_ring(2500, torch.Generator().manual_seed(0))
    if method == "drs":
        refined = drs(smeared_ring, logit, 2500, seed=0).samples
    else:
        refined = mh(smeared_ring, logit, real_ring, 2500, seed=0, chain_length=20).samples
    assert high_quality(raw) < 0.45
    assert high_quality(refined) > 0.85


def test_calibration_turns_a_critic_score_into_the_log_density_ratio():
    # real ~ N(1, 1), fake ~ N(0, 1) in 1-D: log r(x) = x - 1/2; the "critic" is 3x + 7
    rng = np.random.default_rng(0)
    real, fake = rng.normal(1, 1, (20_000, 1)), rng.normal(0, 1, (20_000, 1))

    def critic(x):
        return 3 * x[:, 0] + 7

    points = np.array([[-1.0], [0.5], [2.0]])
    logistic = calibrate(critic, real, fake, "logistic")
    np.testing.assert_allclose(logistic(points), points[:, 0] - 0.5, atol=0.05)
    isotonic = calibrate(critic, real, fake, "isotonic")
    np.testing.assert_allclose(isotonic(points), points[:, 0] - 0.5, atol=0.25)
    assert calibrate(critic, real, fake, "none") is critic


class PairLogistic(torch.nn.Module):
    """A PacGAN "D" on 1-D points that sees them in pairs: a logistic regression on (x1, x2)."""

    pack = 2

    def __init__(self, weights: np.ndarray, bias: float):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1).double()
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(weights).reshape(1, 2))
            self.linear.bias.fill_(bias)

    def forward(self, x):  # (2 n, 1) -> (n,), the layout MLPDiscriminator uses
        return self.linear(x.double().reshape(len(x) // 2, 2)).squeeze(-1)


def test_a_packed_discriminators_score_is_divided_into_the_log_ratio_of_one_point():
    # Fitted to optimum on independent pairs of real ~ N(1, 1) and fake ~ N(0, 1), a packed D
    # outputs log r(x1) + log r(x2) with log r(x) = x - 1/2; a point's log ratio is half its pair's.
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    real, fake = rng.normal(1, 1, (40_000, 2)), rng.normal(0, 1, (40_000, 2))
    fitted = LogisticRegression(C=1e6).fit(np.concatenate([real, fake]), np.repeat([1, 0], 40_000))
    d = PairLogistic(fitted.coef_[0], float(fitted.intercept_[0]))
    points = np.array([[-1.0], [0.5], [2.0]])
    np.testing.assert_allclose(discriminator_logit(d, pack=2)(points), points[:, 0] - 0.5, atol=0.05)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"method": "rejection"}, "unknown refine method 'rejection'; allowed: drs, mh"),
        ({"scores": "oracle"}, "unknown refine scores"),
        ({"calibration": "platt"}, "unknown refine calibration"),
        ({"neighbours": 0}, "refine neighbours must be an integer >= 1"),
        ({"heldout": 10, "neighbours": 20}, "at most heldout"),
        ({"gamma_percentile": 101}, "gamma percentile must be in [0, 100]"),
        ({"epsilon": 0}, "epsilon must be in (0, 1)"),
    ],
)
def test_bad_refine_options_are_refused(options, message):
    with pytest.raises(
        GankitError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        RefineOptions(**options)


# --- a trained run: API and CLI --------------------------------------------------------------------

TINY = {"width": 16, "depth": 1, "batch_size": 32, "log_every": 5, "eval_every": 0, "sample_every": 0}


@pytest.fixture(scope="module")
def ns_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("refine") / "ns"
    return gankit.train("ring", "ns", 10, out=out, progress=False, pack=2, **TINY)


SMALL = {"heldout": 500, "neighbours": 10}


@pytest.mark.parametrize("method", ["drs", "mh"])
@pytest.mark.parametrize("scores", ["knn", "d"])
def test_the_same_seed_gives_the_same_refined_samples(ns_run, method, scores):
    first = ns_run.sample(100, seed=4, refine=method, scores=scores, **SMALL)
    again = ns_run.sample(100, seed=4, refine=method, scores=scores, **SMALL)
    other = ns_run.sample(100, seed=5, refine=method, scores=scores, **SMALL)
    assert first.shape == (100, 2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_refine_reports_its_cost(ns_run):
    refined = ns_run.refine(50, seed=0, method="drs", calibration="logistic", **SMALL)
    stats = refined.stats()
    assert len(refined.samples) == 50
    assert 0 < stats["acceptance_rate"] <= 1
    assert refined.proposals >= 50 and stats["cpu_ms_per_sample"] > 0
    assert refined.heldout == "fresh draws from the data distribution"  # toy data: a distribution


@pytest.mark.parametrize("method", ["drs", "mh"])
def test_refinement_with_an_exact_log_ratio_draws_the_target_distribution(method):
    # Proposals N(0, 1) and log r(x) = -x^2 / 2 (up to a constant): the target is N(0, 1/2).
    # Exact rejection (gamma held at 0) accepts with r(x) / max r: on average E[exp(-x^2/2)] = 1/sqrt(2).
    def propose(count, rng):
        return torch.randn(count, 1, generator=rng).double().numpy()

    def logit(x):
        return -0.5 * x[:, 0] ** 2

    if method == "drs":
        result = drs(propose, logit, 20_000, seed=1, gamma_percentile=100)
        assert result.acceptance_rate == pytest.approx(1 / np.sqrt(2), abs=0.01)
    else:
        result = mh(propose, logit, propose, 20_000, seed=1, chain_length=20)
    assert result.samples.var() == pytest.approx(0.5, abs=0.02)
    assert abs(result.samples.mean()) < 0.02


def test_refine_options_without_refine_are_refused_in_python(ns_run):
    with pytest.raises(GankitError, match="scores need refine="):
        ns_run.sample(10, scores="d")
    with pytest.raises(GankitError, match="unknown refine option"):
        ns_run.refine(10, temperature=2)


def test_cli_sample_refine_writes_n_samples_and_states_the_acceptance(cli, ns_run, tmp_path):
    out = tmp_path / "refined.npy"
    code, stdout, err = cli(
        "sample", ns_run.path, "--n", 64, "--out", out, "--refine", "mh", "--refine-heldout", 500
    )
    assert code == 0, err
    assert np.load(out).shape == (64, 2)
    # auto: ns's D is a logit; MH's chains start from real points, and the line says which
    assert "mh (d scores; held-out real points: fresh draws from the data distribution): acceptance" in stdout
    assert "proposals" in stdout


def test_cli_eval_refine_keeps_raw_and_refined_apart(cli, ns_run):
    args = ("eval", ns_run.path, "--n", 200, "--json", "--refine", "drs", "--refine-heldout", 500)
    code, stdout, err = cli(*args)
    assert code == 0, err
    result = json.loads(stdout)
    raw_code, raw_stdout, _ = cli("eval", ns_run.path, "--n", 200, "--json")
    raw = json.loads(raw_stdout)
    assert {key: result[key] for key in raw} == raw  # the raw rows are the raw rows, refine or not
    refined = result["refined"]
    assert refined["method"] == "drs" and refined["options"]["heldout"] == 500
    assert refined["options"]["scores"] == "d"  # the default "auto", as resolved for this run
    assert {"high_quality", "modes", "reverse_kl", "w1", "acceptance_rate", "cpu_ms_per_sample"} <= set(
        refined
    )
    code, table, _ = cli("eval", ns_run.path, "--n", 200, "--refine", "drs", "--refine-heldout", 500)
    assert code == 0 and "refined with drs" in table and "acceptance rate" in table


@pytest.fixture(scope="module")
def critic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("refine") / "wgan"
    return gankit.train("ring", "wgan-gp", 2, out=out, progress=False, critic_steps=1, **TINY)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--refine", "gibbs"], "unknown refine method 'gibbs'"),
        (["--refine", "drs", "--refine-scores", "oracle"], "unknown refine scores"),
        (["--refine", "drs", "--refine-neighbours", "0"], "refine neighbours must be"),
        (["--refine", "drs", "--refine-gamma-percentile", "150"], "gamma percentile"),
        (["--refine-calibration", "isotonic"], "--refine-calibration needs --refine drs|mh"),
    ],
)
@pytest.mark.parametrize("command", ["sample", "eval"])
def test_bad_refine_flags_exit_2_with_one_line(cli, ns_run, tmp_path, command, args, message):
    extra = ["--out", tmp_path / "x.npy"] if command == "sample" else []
    code, _, err = cli(command, ns_run.path, *extra, *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize(
    ("objective", "model", "calibration", "shape", "expected"),
    [
        ("ns", "gan", "none", (2,), ("d", "none")),  # a classifier's logit estimates log r
        ("minimax", "gan", "none", (1, 8, 8), ("d", "logistic")),  # images: D calibrated on held-out reals
        ("ns", "gan", "isotonic", (1, 8, 8), ("d", "isotonic")),  # ...as the user asks
        ("hinge", "gan", "none", (2,), ("knn", "none")),  # hinge and lsgan scores are not logits either
        ("wgan-gp", "gan", "none", (2,), ("knn", "none")),  # a critic's score is not a logit
        ("wgan-gp", "gan", "isotonic", (2,), ("d", "isotonic")),  # ...unless calibrated
        ("wgan-gp", "gan", "none", (1, 8, 8), ("d", "logistic")),  # images: no knn, so calibrate D
        ("ns", "vae", "none", (2,), ("knn", "none")),  # no discriminator at all
    ],
)
def test_auto_scores_pick_the_runs_discriminator_where_it_gives_a_log_ratio(
    objective, model, calibration, shape, expected
):
    config = build_config(overrides={"objective": objective, "model": model})
    used = resolve_scores(RefineOptions(calibration=calibration), config, shape)
    assert (used.scores, used.calibration) == expected
    explicit = RefineOptions(scores="knn")
    assert resolve_scores(explicit, config, shape) is explicit  # only "auto" is resolved


def test_auto_scores_refuse_a_vae_on_images_in_one_line():
    config = build_config(overrides={"model": "vae"})
    with pytest.raises(GankitError, match="cannot be refined: no discriminator, and knn needs flat data"):
        resolve_scores(RefineOptions(), config, (1, 8, 8))


def test_a_critic_is_refused_without_calibration_and_refined_with_it(cli, critic_run, tmp_path):
    code, stdout, err = cli(
        "sample", critic_run.path, "--out", tmp_path / "a.npy", "--n", 20, "--refine", "drs",
        "--refine-heldout", 200, "--refine-neighbours", 10,
    )  # fmt: skip
    assert code == 0 and "drs (knn scores;" in stdout, err  # auto: knn for an uncalibrated critic
    code, _, err = cli(
        "sample", critic_run.path, "--out", tmp_path / "x.npy", "--refine", "drs", "--refine-scores", "d"
    )
    assert code == 2 and "critic's score is not a log density ratio" in err and err.count("\n") == 1
    code, _, err = cli(
        "sample", critic_run.path, "--out", tmp_path / "x.npy", "--n", 20,
        "--refine", "drs", "--refine-scores", "d", "--refine-calibration", "logistic",
        "--refine-heldout", 200,
    )  # fmt: skip
    assert code == 0, err


def test_eval_refine_of_a_samples_file_is_refused(cli, tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.zeros((10, 2)))
    code, _, err = cli("eval", path, "--data", "ring", "--refine", "drs")
    assert code == 2 and "--refine needs a run directory" in err


# --- the mixture latent -----------------------------------------------------------------------------


def test_mixture_latent_picks_each_component_equally_often_from_the_first_coordinate():
    latent = MixtureLatent(latent_dim=3, components=5)
    z = torch.randn(50_000, 3, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(latent.component(z), minlength=5)
    assert (counts - 10_000).abs().max() < 400
    with torch.no_grad():
        latent.scales.zero_()
    out = latent(z)  # with zero scales every point is its component's mean
    torch.testing.assert_close(out, latent.means[latent.component(z)])


def test_mixture_latent_sampling_is_deterministic_and_its_config_round_trips(tmp_path):
    run = gankit.train(
        "ring", "ns", 5, out=tmp_path / "mix", progress=False, latent="mixture", latent_components=4,
        latent_dim=3, **TINY,
    )  # fmt: skip
    config = json.loads((run.path / "config.json").read_text())
    assert (config["latent"], config["latent_components"]) == ("mixture", 4)
    assert from_dict(to_dict(run.config)) == run.config
    np.testing.assert_array_equal(run.sample(200, seed=1), gankit.load(run.path).sample(200, seed=1))
    assert not np.array_equal(run.sample(200, seed=1), run.sample(200, seed=2))
    generator = torch.load(sorted((run.path / "checkpoints").glob("*.pt"))[-1], weights_only=False)[
        "generator"
    ]
    assert generator["latent.means"].shape == (4, 2)  # the learnable means are in the checkpoint


@pytest.mark.parametrize(
    "args, message",
    [
        (["--latent", "uniform"], "unknown latent 'uniform'; allowed: gaussian, mixture"),
        (["--latent", "mixture", "--latent-dim", "1"], "latent mixture needs latent_dim >= 2"),
        (["--latent", "mixture", "--latent-components", "0"], "latent_components must be > 0"),
    ],
)
def test_bad_latent_flags_exit_2_with_one_line(cli, tmp_path, args, message):
    code, _, err = cli("train", "--data", "ring", "--steps", "1", "--out", tmp_path / "run", *args)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_the_gaussian_latent_is_the_default_and_a_preset_can_name_the_mixture():
    assert build_config().latent == "gaussian"
    assert build_config(overrides={"latent": "mixture"}).latent_components == 10


# --- conditional runs, held-out data and memory ------------------------------------------------------


class LabelledImages:
    """Two classes of 1x2x2 "images": class c is the constant c, plus a little noise."""

    shape = (1, 2, 2)

    def __init__(self, count: int = 200):
        self.labels = torch.arange(count) % 2
        self.images = self.labels.float()[:, None, None, None] + 0.01 * torch.randn(count, *self.shape)
        self.draws: list[int] = []  # sizes of the batches drawn, to check what refinement asks for

    def sample(self, n, generator):
        self.draws.append(n)
        return self.images[torch.randint(len(self.images), (n,), generator=generator)]


class ClassGenerator(torch.nn.Module):
    """G(z, y): an image whose pixels are y + z_0 (a spread around the class's value)."""

    num_classes = 2

    def forward(self, z, labels):
        return (labels.float() + z[:, 0])[:, None, None, None].expand(-1, 1, 2, 2)


class ClassDiscriminator(torch.nn.Module):
    """D(x, y): the exact log ratio of N(y, 0.1^2) against G's N(y, 1) pixels, up to a constant."""

    def forward(self, x, labels):
        gap = x.mean(dim=(1, 2, 3)) - labels.float()
        return -0.5 * gap**2 / 0.01 + 0.5 * gap**2


def conditional_trainer(objective: str = "ns"):
    from types import SimpleNamespace

    config = SimpleNamespace(
        conditional=True, num_classes=2, latent_dim=2, pack=1, objective=objective, model="gan",
        validation_fraction=0.0, data="files", image_size=None,
    )  # fmt: skip
    data = LabelledImages()
    return SimpleNamespace(
        config=config, data=data, sampler=ClassGenerator(), discriminator=ClassDiscriminator()
    )


@pytest.mark.parametrize("method", ["drs", "mh"])
def test_a_conditional_run_is_refined_within_each_class(method):
    from gankit.refine import refine_trainer

    trainer = conditional_trainer()
    options = RefineOptions(method=method, scores="d", heldout=1000)
    every = refine_trainer(trainer, 400, seed=0, options=options)
    classes = np.arange(400) % 2  # as `gankit sample` draws a conditional run: class i mod K
    values = every.samples.mean(axis=(1, 2, 3))
    assert np.abs(values - classes).max() < 0.5  # each sample of its position's class
    assert values[classes == 1].std() < 0.2  # D (given the label) pulled G's spread of 1 in
    ones = refine_trainer(trainer, 100, seed=0, options=options, label=1)
    assert np.abs(ones.samples.mean(axis=(1, 2, 3)) - 1).max() < 0.5
    with pytest.raises(GankitError, match="label must be a class from 0 to 1"):
        refine_trainer(trainer, 10, seed=0, options=options, label=2)


def test_refinement_draws_held_out_points_only_for_what_uses_them_and_in_batches():
    from gankit.refine import SCORE_BATCH, refine_trainer

    trainer = conditional_trainer()
    trainer.config.conditional = False  # an unconditional run: real points come from data.sample
    trainer.sampler, trainer.discriminator = UnlabelledGenerator(), UnlabelledDiscriminator()
    refine_trainer(trainer, 50, seed=0, options=RefineOptions(method="drs", scores="d", heldout=10_000))
    assert trainer.data.draws == []  # D's own scores need no real points
    calibrated = RefineOptions(method="drs", scores="d", calibration="logistic", heldout=10_000)
    refined = refine_trainer(trainer, 50, seed=0, options=calibrated)
    assert sum(trainer.data.draws) == 10_000 and max(trainer.data.draws) <= SCORE_BATCH
    assert refined.heldout == "the training images (the run has no validation part)"


class UnlabelledGenerator(ClassGenerator):
    def forward(self, z):
        return super().forward(z, torch.zeros(len(z), dtype=torch.long))


class UnlabelledDiscriminator(ClassDiscriminator):
    def forward(self, x):
        return super().forward(x, torch.zeros(len(x), dtype=torch.long))


def test_an_image_run_with_a_validation_part_refines_against_it(tmp_path):
    from gankit.data.images import holdout_part, load_images
    from gankit.engine.restore import load_trainer
    from gankit.refine import heldout_real_data

    run = gankit.train(
        "digits",
        "ns",
        2,
        out=tmp_path / "run",
        progress=False,
        validation_fraction=0.5,
        width=4,
        **TINY_IMAGES,
    )
    trainer = load_trainer(run.path)
    data, text = heldout_real_data(trainer)
    validation = holdout_part(load_images("digits"), 0.5, "validation")
    assert (
        torch.equal(data.images, validation.images)
        and text == f"the validation part ({len(validation)} images)"
    )
    refined = run.refine(20, method="mh", heldout=200)
    assert refined.heldout == text


TINY_IMAGES = {"batch_size": 8, "log_every": 1, "eval_every": 0, "sample_every": 0, "latent_dim": 8}


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("refine") / "conditional"
    return gankit.train("digits", "ns", 2, out=out, progress=False, conditional=True, width=4, **TINY_IMAGES)


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_cli_refines_a_conditional_run_by_label(cli, conditional_run, tmp_path, command):
    args = ["--n", 20, "--refine", "drs", "--refine-heldout", 200]
    if command == "sample":
        out = tmp_path / "three.npy"
        code, stdout, err = cli("sample", conditional_run.path, *args, "--label", 3, "--out", out)
        assert code == 0, err
        assert np.load(out).shape == (20, 1, 8, 8) and "drs (d scores" in stdout
    else:
        code, stdout, err = cli("eval", conditional_run.path, *args, "--json")
        assert code == 0, err
        refined = json.loads(stdout)["refined"]
        assert "conditioning_accuracy" in refined  # scored with its labels, as the raw samples are
