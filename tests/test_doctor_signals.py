"""The findings only held-out reals can show: D overfitting its training images, and memorisation.

The probes (gankit.diagnose.probes.OverfitProbe, MemorisationProbe) add numbers to evaluation rows;
the monitors judge those rows, so `gankit doctor` replays them. Each is tested on a synthetic case
that must raise its finding and one that must not: a discriminator that knows its training images
by heart against one that tells digits from noise, a generator that returns training images plus a
little noise against one that returns new images of the same data.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gankit.config import TrainConfig, from_dict
from gankit.data import load_data
from gankit.data.images import ImageDataset, holdout_part
from gankit.diagnose.doctor import diagnose
from gankit.diagnose.monitors import DiscriminatorOverfits, Memorisation
from gankit.diagnose.probes import MemorisationProbe, OverfitProbe, heldout_probes
from gankit.diagnose.remedies import remedies_for
from gankit.diagnose.thresholds import Thresholds
from gankit.errors import GankitError
from gankit.runs.assemble import train

FRACTION = 0.2  # digits: 1,438 training images, 179 validation, 180 test


@pytest.fixture(scope="module")
def digits():
    data = load_data("digits", None)
    return holdout_part(data, FRACTION, "train"), holdout_part(data, FRACTION, "validation")


def feed(monitor, rows):
    """Every open and close event over the rows, as (name, step, ended)."""
    events = [monitor.observe(row) for row in rows]
    return [(f.name, f.step, f.ended) for f in events if f is not None]


def sign_rows(*triples):
    keys = ("eval_sign_train", "eval_sign_heldout", "eval_sign_fake")
    return [{"step": 250 * (i + 1), **dict(zip(keys, t, strict=True))} for i, t in enumerate(triples)]


# --- discriminator-overfits: the monitor on rows ---------------------------------------------------


def test_overfitting_opens_when_heldout_reals_score_like_fakes_and_closes_when_they_recover():
    config = TrainConfig(data="digits", objective="ns")
    rows = sign_rows(
        (0.9, 0.8, -0.9),  # held-out reals scored like training reals: D generalises
        (1.0, -0.6, -1.0),  # position (-0.6 + 1) / 2 = 0.2 <= 0.5
        (1.0, -0.8, -1.0),
        (1.0, -0.9, -1.0),
        (0.9, 0.7, -0.9),
        (0.9, 0.6, -0.9),
    )
    assert feed(DiscriminatorOverfits(config), rows) == [
        ("discriminator-overfits", 500, None),
        ("discriminator-overfits", 500, 1250),
    ]
    finding = next(f for f in map(DiscriminatorOverfits(config).observe, rows[:3]) if f is not None)
    assert finding.evidence["heldout_position"] == pytest.approx(0.1)  # the row it opened on
    assert "100% of its training reals real but 10% of held-out reals (fakes: 0%)" in finding.message
    assert any("--augment color,translation,cutout" in remedy for remedy in finding.remedies)


@pytest.mark.parametrize(
    "triple",
    [
        (0.5, -0.9, -1.0),  # D unsure of its training reals (r_t below 0.6): not overfitting yet
        (1.0, 0.1, -1.0),  # held-out reals 55 % of the way to the training reals: D still generalises
        (0.8, 0.9, 0.9),  # D calls fakes real too: losing, not memorising (no margin to measure in)
    ],
)
def test_overfitting_needs_a_sure_d_and_heldout_reals_near_the_fakes(triple):
    config = TrainConfig(data="digits", objective="ns")
    assert feed(DiscriminatorOverfits(config), sign_rows(triple, triple, triple)) == []


def test_overfitting_thresholds_are_config_keys():
    rows = sign_rows((0.7, 0.0, -1.0), (0.7, 0.0, -1.0))  # position 1 / 1.7 = 0.59
    assert feed(DiscriminatorOverfits(TrainConfig(objective="ns")), rows) == []
    strict = TrainConfig(objective="ns", monitor={"overfit_heldout": 0.6})
    assert feed(DiscriminatorOverfits(strict), rows) == [("discriminator-overfits", 250, None)]
    assert feed(DiscriminatorOverfits(strict.replace(monitor_overfit_sign=0.8)), rows) == []


# --- the overfitting probe on synthetic discriminators ---------------------------------------------


class MemorisingD(nn.Module):
    """Scores +5 for an image of its training set (an exact match) and -5 for anything else."""

    def __init__(self, train_images):
        super().__init__()
        self.register_buffer("known", train_images.reshape(len(train_images), -1))
        self.norm = nn.BatchNorm1d(1)  # its running statistics must not change under the probe

    def forward(self, x):
        self.norm(torch.zeros(len(x), 1) + x.reshape(len(x), -1).mean(1, keepdim=True))
        seen = torch.cdist(x.reshape(len(x), -1), self.known).min(dim=1).values < 1e-6
        return torch.where(seen, 5.0, -5.0)


class DigitOrNoiseD(nn.Module):
    """Scores +5 for anything digit-like and -5 for uniform noise: it generalises. Every digit has at
    least 34 % background pixels (-1), uniform noise at most 5 % pixels that dark."""

    def forward(self, x):
        background = (x <= -0.99).float().mean(dim=(1, 2, 3))
        return torch.where(background > 0.2, 5.0, -5.0)


def stub_trainer(discriminator, fake, step=250, classes=None):
    """What a probe reads of a trainer: the due check, samples, D, the device and the sampler."""
    sampler = SimpleNamespace(num_classes=classes)
    return SimpleNamespace(
        evaluation_due=lambda every: step % every == 0,
        sample=lambda n, seed: fake[:n],
        discriminator=discriminator,
        device=torch.device("cpu"),
        sampler=sampler,
    )


def noise_images(n):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_a_d_that_knows_its_training_images_by_heart_is_caught_and_one_that_generalises_is_not(digits):
    train_part, heldout = digits
    config = TrainConfig(data="digits", objective="ns", validation_fraction=FRACTION)
    memorising = MemorisingD(train_part.all())
    probe = OverfitProbe(config.replace(batch_size=64), train_part, heldout, boundary=0.0, seed=1)
    rows = []
    for step in (250, 500):
        row = {"step": step}
        probe.on_log(stub_trainer(memorising, noise_images(512), step), row)
        rows.append(row)
    assert rows[0]["eval_sign_train"] == 1.0 and rows[0]["eval_sign_heldout"] == -1.0
    assert rows[0]["eval_sign_fake"] == -1.0
    assert torch.equal(memorising.norm.running_mean, torch.zeros(1))  # scored on a copy
    assert feed(DiscriminatorOverfits(config), rows) == [("discriminator-overfits", 250, None)]

    row = {"step": 250}
    probe.on_log(stub_trainer(DigitOrNoiseD(), noise_images(512)), row)
    assert row["eval_sign_train"] == row["eval_sign_heldout"] == 1.0 and row["eval_sign_fake"] == -1.0
    assert feed(DiscriminatorOverfits(config), [row, {**row, "step": 500}]) == []


def test_the_probe_keeps_packs_of_one_kind_and_scores_only_when_an_evaluation_is_due(digits):
    train_part, heldout = digits

    class PackedD(nn.Module):  # PacGAN: one score per pack of 2; +1 only if both images are training ones
        def __init__(self):
            super().__init__()
            self.inner = MemorisingD(train_part.all())

        def forward(self, x):
            return self.inner(x).reshape(-1, 2).min(dim=1).values

    config = TrainConfig(data="digits", objective="ns", batch_size=64, pack=2)
    probe = OverfitProbe(config, train_part, heldout, boundary=0.0, seed=1)
    row = {"step": 250}
    probe.on_log(stub_trainer(PackedD(), noise_images(512)), row)
    assert (row["eval_sign_train"], row["eval_sign_heldout"]) == (1.0, -1.0)  # no pack mixes the two
    quiet = {"step": 260}
    probe.on_log(stub_trainer(PackedD(), noise_images(512), step=260), quiet)
    assert quiet == {"step": 260}


def test_a_conditional_d_gets_each_image_with_its_own_label(digits):
    train_part, heldout = digits
    images = torch.cat([train_part.all(), heldout.all()]).reshape(-1, 64)
    classes = torch.cat([train_part.labels, heldout.labels])

    class LabelCheckingD(nn.Module):  # +5 only for a real image given its own class
        def forward(self, x, labels):
            match = torch.cdist(x.reshape(len(x), -1), images).argmin(dim=1)
            return torch.where(classes[match] == labels, 5.0, -5.0)

    config = TrainConfig(data="digits", objective="ns", batch_size=64, conditional=True)
    probe = OverfitProbe(config, train_part, heldout, boundary=0.0, seed=1)
    row = {"step": 250}
    probe.on_log(stub_trainer(LabelCheckingD(), train_part.all()[:512], classes=10), row)
    assert row["eval_sign_train"] == row["eval_sign_heldout"] == 1.0
    # fakes come with the classes trainer.sample drew (i mod 10), not the copied images' own
    assert row["eval_sign_fake"] < 0


def test_d_sees_the_reals_with_the_runs_augmentation_the_same_at_every_evaluation(digits):
    train_part, heldout = digits
    seen = []

    class Recording(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(len(x))

    config = TrainConfig(data="digits", objective="ns", batch_size=64, augment=("cutout",))
    probe = OverfitProbe(config, train_part, heldout, boundary=0.0, seed=1)
    for _ in range(2):
        probe.on_log(stub_trainer(Recording(), noise_images(512)), {"step": 250})
    first = seen[0][:32]  # the first batch's training half
    assert not torch.equal(first, probe.train[0][:32])  # cut out, as D sees them in training
    assert ((first == 0) & (probe.train[0][:32] != 0)).any()  # cutout fills with zeros
    assert all(torch.equal(a, b) for a, b in zip(seen[: len(seen) // 2], seen[len(seen) // 2 :], strict=True))


# --- memorisation ----------------------------------------------------------------------------------


def memorisation_rows(*pairs):
    keys = ("eval_nearest_generated", "eval_nearest_heldout")
    return [{"step": 250 * (i + 1), **dict(zip(keys, p, strict=True))} for i, p in enumerate(pairs)]


def test_memorisation_opens_at_two_evaluations_in_a_row_and_closes_at_two_without():
    config = TrainConfig(data="digits", objective="ns")
    rows = memorisation_rows((0.8, 2.0), (2.1, 2.0), (0.8, 2.0), (1.0, 2.0), (1.5, 2.0), (2.2, 2.0))
    assert feed(Memorisation(config), rows) == [("memorisation", 750, None), ("memorisation", 750, 1250)]
    assert feed(Memorisation(config), memorisation_rows((1.1, 2.0), (1.2, 2.0))) == []  # 0.55x, 0.6x


def test_a_generator_that_returns_training_images_plus_noise_is_caught_and_new_images_are_not(digits):
    train_part, heldout = digits
    config = TrainConfig(data="digits", objective="ns", validation_fraction=FRACTION)
    probe = MemorisationProbe(250, train_part, heldout, samples=256, seed=1)
    noise = torch.randn(256, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    copies = train_part.all()[:256] + 0.1 * noise  # 0.1 per pixel: ~0.8 from the copied image
    test_part = holdout_part(load_data("digits", None), FRACTION, "test").all()  # new images, unseen
    for fake, expected in ((copies, ["memorisation"]), (test_part, [])):
        rows = []
        for step in (250, 500):
            row = {"step": step}
            probe.on_log(stub_trainer(None, fake, step), row)
            rows.append(row)
        assert [name for name, _, _ in feed(Memorisation(config), rows)] == expected
    assert rows[0]["eval_nearest_heldout"] == pytest.approx(probe.heldout_distance)
    assert 0.8 < rows[0]["eval_nearest_generated"] / rows[0]["eval_nearest_heldout"] < 1.25


def test_memorisation_probe_skips_samples_that_are_not_finite(digits):
    train_part, heldout = digits
    probe = MemorisationProbe(250, train_part, heldout, samples=16, seed=1)
    row = {"step": 250}
    probe.on_log(stub_trainer(None, torch.full((16, 1, 8, 8), float("nan"))), row)
    assert row == {"step": 250}


# --- wiring: which runs get the probes, and what the doctor makes of their rows --------------------


def test_the_probes_need_a_validation_part_and_overfitting_needs_a_decision_boundary(digits):
    train_part, heldout = digits
    config = TrainConfig(objective="ns", batch_size=64)
    names = [type(p).__name__ for p in heldout_probes(config, train_part, heldout, 1)]
    assert names == ["OverfitProbe", "MemorisationProbe"]
    critic = heldout_probes(config.replace(objective="wgan-gp"), train_part, heldout, 1)
    assert [type(p).__name__ for p in critic] == ["MemorisationProbe"]  # a critic has no "real" side

    class Constant(nn.Module):
        def forward(self, x):
            return torch.full((len(x),), 0.3)

    for objective, sign in (("ns", 1.0), ("hinge", 1.0), ("lsgan", -1.0)):  # lsgan: targets 1, 0
        probe = heldout_probes(config.replace(objective=objective), train_part, heldout, 1)[0]
        row = {"step": 250}
        probe.on_log(stub_trainer(Constant(), noise_images(512)), row)
        assert row["eval_sign_train"] == row["eval_sign_heldout"] == row["eval_sign_fake"] == sign


def test_an_image_run_with_a_validation_part_logs_the_probes_and_others_do_not(tmp_path):
    small = {"data": "digits", "objective": "ns", "steps": 2, "log_every": 1, "eval_every": 2,
             "eval_samples": 64, "sample_every": 0, "width": 8, "batch_size": 16}  # fmt: skip
    keys = {"eval_sign_train", "eval_sign_heldout", "eval_sign_fake"}
    keys |= {"eval_nearest_generated", "eval_nearest_heldout"}
    small["device"] = "cpu"
    train(TrainConfig(**small, validation_fraction=FRACTION), tmp_path / "held", echo=lambda _: None)
    last = [json.loads(line) for line in (tmp_path / "held" / "metrics.jsonl").read_text().splitlines()][-1]
    assert keys <= set(last) and -1 <= last["eval_sign_train"] <= 1 and last["eval_nearest_generated"] > 0
    train(TrainConfig(**small), tmp_path / "all", echo=lambda _: None)
    last = [json.loads(line) for line in (tmp_path / "all" / "metrics.jsonl").read_text().splitlines()][-1]
    assert not keys & set(last) and "eval_diversity" in last


def test_the_doctor_replays_both_findings_from_the_rows_with_remedies(tmp_path):
    from gankit.config import to_dict

    rows = [
        {"step": 250 * i, "d_loss": 0.5, "g_loss": 3.0, "p_real": 0.9, "p_fake": 0.1, "g_grad_norm": 1.0,
         "eval_sign_train": 1.0, "eval_sign_heldout": -0.7, "eval_sign_fake": -1.0,
         "eval_nearest_generated": 0.7, "eval_nearest_heldout": 3.0}
        for i in range(1, 5)
    ]  # fmt: skip
    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(data="digits", objective="ns", validation_fraction=0.95, width=32)
    (run / "config.json").write_text(json.dumps(to_dict(config)))
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = diagnose(run)
    assert report["headline"] == "problems now: discriminator-overfits (since 250), memorisation (since 250)"
    remedies = {f["name"]: " ".join(f["remedies"]) for f in report["findings"]}
    assert "(--validation-fraction 0.2)" in remedies["discriminator-overfits"]
    assert "(--width 16)" in remedies["memorisation"]


# --- remedies and settings ---------------------------------------------------------------------------


def test_remedies_never_suggest_what_the_run_already_does():
    has_all = TrainConfig(data="digits", augment=("color", "translation", "cutout"), validation_fraction=0.2)
    for name in ("discriminator-overfits", "memorisation"):
        text = " ".join(remedies_for(name, has_all))
        assert "--augment" not in text and "--validation-fraction" not in text
        assert "gankit eval RUN_DIR --checkpoints" in text
    some = " ".join(remedies_for("discriminator-overfits", TrainConfig(augment=("translation",))))
    assert "the run's policies are translation; try --augment color,translation,cutout" in some


@pytest.mark.parametrize(
    ("key", "value"),
    [("monitor_overfit_sign", 1.0), ("monitor_overfit_heldout", 0.0), ("monitor_memorisation_ratio", 1.5)],
)
def test_bad_thresholds_of_the_new_signals_are_one_clear_error(key, value):
    with pytest.raises(GankitError, match=rf"{key} must be in \(0, 1\), got {value}"):
        Thresholds.of(from_dict({key: value}))


def test_stop_on_accepts_the_new_findings():
    assert TrainConfig(stop_on=("memorisation", "discriminator-overfits")).stop_on == (
        "memorisation",
        "discriminator-overfits",
    )


def test_an_image_data_set_built_in_memory_works_with_the_probes():
    images = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1
    train_part, heldout = ImageDataset("tiny", images[:30]), ImageDataset("tiny", images[30:])
    config = TrainConfig(objective="ns", batch_size=64)
    probe = OverfitProbe(config, train_part, heldout, boundary=0.0, seed=1)
    assert len(probe.train[0]) == len(probe.heldout[0]) == 10 and probe.train[1] is None
