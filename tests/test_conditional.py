"""Class-conditional GANs: labelled data, conditional G, projection D, sampling and eval by label."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import TrainConfig, resolve
from gankit.data.images import load_images
from gankit.engine.loop import draw_samples
from gankit.errors import GankitError
from gankit.metrics.labels import classify_digits, conditional_metrics
from gankit.nets import build_networks
from gankit.nets.dcgan import DCGANGenerator
from reliability_helpers import rows_without_time


def test_digits_carry_their_labels_and_sample_draws_the_same_rows():
    data = load_images("digits")
    assert data.num_classes == 10 and data.labels.shape == (1797,)
    images, labels = data.sample_labelled(64, torch.Generator().manual_seed(0))
    assert torch.equal(images, data.sample(64, torch.Generator().manual_seed(0)))  # same draws
    rows = [int(torch.nonzero((data.all() == image).all(dim=(1, 2, 3)))[0]) for image in images]
    assert torch.equal(labels, data.labels[rows])


def test_npz_labels_and_their_errors(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "good.npz", images=pixels, labels=np.array([0, 1, 2, 0, 1, 2]))
    assert load_images(str(tmp_path / "good.npz")).num_classes == 3
    np.savez(tmp_path / "plain.npz", images=pixels)
    assert load_images(str(tmp_path / "plain.npz")).labels is None
    np.savez(tmp_path / "short.npz", images=pixels, labels=np.array([0, 1]))
    with pytest.raises(GankitError, match="'labels' must be 6 integers"):
        load_images(str(tmp_path / "short.npz"))
    np.savez(tmp_path / "negative.npz", images=pixels, labels=np.array([0, -1, 2, 0, 1, 2]))
    with pytest.raises(GankitError, match="classes 0..K-1"):
        load_images(str(tmp_path / "negative.npz"))


def test_a_folder_of_class_sub_folders_is_labelled_in_sorted_order(tmp_path):
    for name, value in (("cat", 10), ("ant", 200)):
        (tmp_path / name).mkdir()
        for index in range(2):
            Image.fromarray(np.full((8, 8), value + index, dtype=np.uint8)).save(
                tmp_path / name / f"{index}.png"
            )
    data = load_images(str(tmp_path))
    assert data.num_classes == 2
    ant = data.all()[:, 0, 0, 0] > 0  # the bright ones (200) are in "ant", class 0
    assert data.labels[ant].tolist() == [0, 0] and data.labels[~ant].tolist() == [1, 1]
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "loose.png")  # not in a class
    assert load_images(str(tmp_path)).labels is None


def conditional_config(**changes) -> TrainConfig:
    values = {"data": "digits", "objective": "ns", "width": 4, "latent_dim": 8, "conditional": True} | changes
    return resolve(TrainConfig(**values), (1, 8, 8), num_classes=10)


def test_conditional_generator_output_depends_on_the_label():
    generator, _ = build_networks(conditional_config(), (1, 8, 8))
    generator.eval()
    z = torch.randn(1, 8).repeat(2, 1)
    same = generator(z, torch.tensor([3, 3]))
    different = generator(z, torch.tensor([3, 4]))
    assert torch.equal(same[0], same[1]) and not torch.equal(different[0], different[1])


def test_projection_discriminator_is_psi_of_phi_plus_embedding_dot_phi():
    _, discriminator = build_networks(conditional_config(), (1, 8, 8))
    discriminator.eval()
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 3, 9])
    phi = discriminator.body[:-1](x)
    expected = discriminator.body[-1](phi).squeeze(-1) + (discriminator.embed.weight[y] * phi).sum(dim=1)
    assert torch.allclose(discriminator(x, y), expected)


def test_draw_samples_by_label_in_turn_and_refuses_bad_labels():
    generator, _ = build_networks(conditional_config(), (1, 8, 8))
    in_turn = draw_samples(generator, 20, 8, seed=0)
    threes = draw_samples(generator, 20, 8, seed=0, label=3)
    assert torch.equal(in_turn[3], threes[3]) and torch.equal(in_turn[13], threes[13])  # 3 = 13 mod 10
    assert not torch.equal(in_turn[4], threes[4])
    with pytest.raises(GankitError, match="label must be a class from 0 to 9, got 10"):
        draw_samples(generator, 2, 8, seed=0, label=10)
    plain, _ = build_networks(conditional_config(conditional=False), (1, 8, 8))
    with pytest.raises(GankitError, match="needs a conditional generator"):
        draw_samples(plain, 2, 8, seed=0, label=1)


def test_conditioning_accuracy_is_one_for_real_digits_asked_by_their_own_labels():
    data = load_images("digits")
    metrics = conditional_metrics(data.all().numpy(), data.labels.numpy(), data)
    assert metrics["conditioning_accuracy"] == metrics["floor_conditioning_accuracy"] > 0.95
    shuffled = conditional_metrics(data.all().numpy(), np.roll(data.labels.numpy(), 1), data)
    assert shuffled["conditioning_accuracy"] < 0.3  # wrong labels: the classifier disagrees
    assert shuffled["fid_per_class_mean"] > 10 * metrics["fid_per_class_mean"]
    assert set(f"fid_class_{k}" for k in range(10)) <= set(metrics)


def test_conditional_run_end_to_end_from_the_cli(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli(
        "train", "--data", "digits", "--objective", "ns", "--conditional", "--steps", "2", "--width", "4",
        "--sample-every", "0", "--checkpoint-every", "2", "--out", run,
    )  # fmt: skip
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["conditional"] is True and config["num_classes"] == 10
    code, out, err = cli("sample", run, "--n", "4", "--label", "7", "--out", tmp_path / "sevens.npy")
    assert code == 0, err
    assert np.load(tmp_path / "sevens.npy").shape == (4, 1, 8, 8)
    code, _, err = cli("sample", run, "--n", "4", "--label", "10", "--out", tmp_path / "bad.npy")
    assert code == 2 and "label must be a class from 0 to 9" in err and err.count("\n") == 1
    assert not (tmp_path / "bad.npy").exists()
    code, out, err = cli("eval", run, "--n", "200", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    # eval scores the samples that `gankit sample` draws in turn against their classes: sample i is
    # the --label (i mod 10) sample i
    for name, label in (("in_turn", ()), ("all_sevens", ("--label", "7"))):
        assert cli("sample", run, "--n", "200", *label, "--out", tmp_path / f"{name}.npy")[0] == 0
    in_turn, all_sevens = np.load(tmp_path / "in_turn.npy"), np.load(tmp_path / "all_sevens.npy")
    assert np.array_equal(in_turn[7::10], all_sevens[7::10]) and not np.array_equal(in_turn[8], all_sevens[8])
    agreeing = classify_digits(in_turn) == np.arange(200) % 10
    assert metrics["conditioning_accuracy"] == np.mean(agreeing) and metrics["fid_per_class_mean"] > 0


def test_eval_scores_a_generator_that_draws_real_digits_of_the_asked_class_at_the_real_accuracy(
    cli, monkeypatch, tmp_path
):
    """The labels eval scores against are the labels the generator was given: a generator that answers
    each label with a real digit of that class scores what the real digits score, one that answers
    with the next class scores ~0."""
    run = tmp_path / "run"
    flags = ["--data", "digits", "--conditional", "--steps", "1", "--width", "4", "--sample-every", "0"]
    assert cli("train", *flags, "--out", run)[0] == 0
    data = load_images("digits")
    of_class = [torch.nonzero(data.labels == k)[:, 0] for k in range(10)]  # rows of each class
    shift = 0

    def real_digit_of_the_asked_class(generator, z, labels):
        asked = (labels + shift) % 10
        picks = (z[:, 0].abs() * 1000).long()  # the noise picks which digit of the class
        rows = [of_class[k][pick % len(of_class[k])] for k, pick in zip(asked, picks, strict=True)]
        return data.all()[torch.stack(rows)]

    monkeypatch.setattr(DCGANGenerator, "forward", real_digit_of_the_asked_class)
    metrics = json.loads(cli("eval", run, "--n", "500", "--json")[1])  # accuracy 97.4 %, real digits 98.1 %
    assert metrics["conditioning_accuracy"] > 0.95 and metrics["floor_conditioning_accuracy"] > 0.95
    shift = 1
    assert json.loads(cli("eval", run, "--n", "500", "--json")[1])["conditioning_accuracy"] < 0.05


def test_conditional_needs_labelled_data_and_no_packing(cli, tmp_path):
    np.savez(tmp_path / "plain.npz", images=np.zeros((4, 8, 8), dtype=np.uint8))
    cases = [
        (["--data", "ring"], "conditional needs labelled data"),
        (["--data", str(tmp_path / "plain.npz")], "conditional needs labelled data"),
        (["--data", "digits", "--pack", "2"], "conditional and pack > 1 cannot be combined"),
        (["--data", "digits", "--model", "vae"], "conditional applies to GANs only"),
    ]
    for args, message in cases:
        code, _, err = cli("train", *args, "--conditional", "--steps", "1", "--out", tmp_path / "run")
        assert code == 2 and message in err and err.count("\n") == 1
        assert not (tmp_path / "run").exists()
    code, _, err = cli(
        "train", "--data", "digits", "--steps", "1", "--out", tmp_path / "u", "--sample-every", "0"
    )
    assert code == 0
    code, _, err = cli("sample", tmp_path / "u", "--n", "2", "--label", "1", "--out", tmp_path / "x.npy")
    assert code == 2 and "needs a conditional generator" in err


def test_a_regularised_conditional_run_resumes_bit_identical(cli, tmp_path):
    """Spectral norm's power-iteration vectors, lazy R1's schedule and the augmentation's draws all
    survive a checkpoint: 2 + 2 resumed steps equal 4 straight ones."""
    flags = ["--data", "digits", "--objective", "ns", "--conditional", "--spectral-norm", "--r1", "1"]
    flags += ["--r1-every", "3", "--augment", "translation,cutout,color", "--width", "4", "--batch-size", "8"]
    flags += ["--sample-every", "0", "--eval-every", "0", "--checkpoint-every", "2", "--log-every", "1"]
    assert cli("train", *flags, "--steps", "4", "--out", tmp_path / "straight")[0] == 0
    assert cli("train", *flags, "--steps", "2", "--out", tmp_path / "resumed")[0] == 0
    code, _, err = cli("train", "--resume", tmp_path / "resumed", "--steps", "4")
    assert code == 0, err
    for name in ("straight", "resumed"):
        assert cli("sample", tmp_path / name, "--n", "8", "--out", tmp_path / f"{name}.npy")[0] == 0
    assert np.array_equal(np.load(tmp_path / "straight.npy"), np.load(tmp_path / "resumed.npy"))
    rows = [rows_without_time(tmp_path / name) for name in ("straight", "resumed")]
    assert rows[0] == rows[1] and "r1_penalty" in rows[0][0]


def test_a_sample_plots_title_says_which_class_was_drawn():
    from gankit.refine import RefineOptions
    from gankit.report.plots import sample_title

    conditional = TrainConfig(data="digits", conditional=True)
    assert sample_title("ns", conditional, 64, 7, None) == "ns on digits: 64 samples of class 7"
    assert sample_title("ns", conditional, 64, None, None).endswith("64 samples, every class in turn")
    plain = TrainConfig(data="ring")
    assert sample_title("ns", plain, 9, None, None) == "ns on ring: 9 samples"
    refined = sample_title("ns", plain, 9, None, RefineOptions(method="drs"))
    assert refined.endswith("9 samples, refined (drs)")


def test_a_small_grids_title_is_wrapped_to_fit_inside_the_picture():
    from gankit.report.plots import image_grid_figure

    title = "wgan-gp on fashion-mnist: 16 samples of class 3, refined (drs)"  # wider than 4 small images
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = image_grid_figure(np.zeros((16, 1, 28, 28)), title)
    FigureCanvasAgg(fig).draw()  # lays the figure out as savefig does
    shown = fig.axes[0].title
    box, frame = shown.get_window_extent(), fig.bbox
    assert box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y1 <= frame.y1 + 1  # nothing cut off (1 px)
    assert shown.get_text().replace("\n", " ") == title  # every word kept, in order
    wide = image_grid_figure(np.zeros((64, 1, 8, 8)), "ns on digits: 64 samples")
    assert "\n" not in wide.axes[0].title.get_text()  # a title that fits stays one line
