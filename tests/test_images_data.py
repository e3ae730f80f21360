"""Image loaders: every format read from small generated files, and every bad-data error."""

import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import load_data
from gankit.data.images import ImageDataset, holdout_part, holdout_split, is_image_spec, load_images
from gankit.errors import GankitError

# Eight 5x4 "images" with distinct pixel values 0..159 (in 0..255), so any axis mix-up shows.
PIXELS = np.arange(8 * 5 * 4, dtype=np.uint8).reshape(8, 5, 4)
EXPECTED = torch.from_numpy(PIXELS.astype(np.float32) / 127.5 - 1).unsqueeze(1)  # (8, 1, 5, 4)


def write_idx(path, array: np.ndarray, type_code: int = 0x08, gz: bool = False) -> None:
    header = bytes([0, 0, type_code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if gz else payload)


def test_digits_is_the_bundled_8x8_set_in_minus_one_to_one():
    data = load_data("digits")
    images = data.all()
    assert data.shape == (1, 8, 8) and images.shape == (1797, 1, 8, 8)
    assert images.dtype == torch.float32
    assert images.min() == -1 and images.max() == 1  # ink 0..16 maps onto the full range
    assert data.modes is None and data.sigma is None


def test_sample_draws_from_the_set_on_the_generators_device_deterministically():
    data = load_images("digits")
    first = data.sample(32, torch.Generator().manual_seed(3))
    again = data.sample(32, torch.Generator().manual_seed(3))
    assert first.shape == (32, 1, 8, 8) and torch.equal(first, again)
    assert first.device == torch.device("cpu")
    # every sampled image is one of the data set's images
    matches = (first[:, None] == data.all()[None]).flatten(2).all(-1).any(-1)
    assert matches.all()


@pytest.mark.parametrize(
    "layout",
    [
        lambda a: a,  # (N, H, W)
        lambda a: a[:, None],  # (N, 1, H, W)
        lambda a: a[..., None],  # (N, H, W, 1)
    ],
)
def test_npy_layouts_give_the_same_images(tmp_path, layout):
    path = tmp_path / "images.npy"
    np.save(path, layout(PIXELS))
    assert torch.equal(load_images(str(path)).all(), EXPECTED)


def test_npy_channels_last_rgb_is_transposed(tmp_path):
    rgb = np.stack([PIXELS, PIXELS // 2, PIXELS // 3], axis=-1)  # (N, H, W, 3)
    np.save(tmp_path / "rgb.npy", rgb)
    images = load_images(str(tmp_path / "rgb.npy")).all()
    assert images.shape == (8, 3, 5, 4)
    assert torch.equal(images[:, 0:1], EXPECTED)
    assert torch.equal(images[:, 1], torch.from_numpy((PIXELS // 2).astype(np.float32) / 127.5 - 1))


def test_float_ranges_zero_one_and_minus_one_one(tmp_path):
    unit = PIXELS.astype(np.float32) / 255
    np.save(tmp_path / "unit.npy", unit)
    np.save(tmp_path / "signed.npy", unit * 2 - 1)
    for name in ("unit.npy", "signed.npy"):
        assert torch.allclose(load_images(str(tmp_path / name)).all(), EXPECTED, atol=1e-6)


def test_npz_images_key_or_single_array(tmp_path):
    np.savez(tmp_path / "named.npz", labels=np.zeros(8), images=PIXELS)
    np.savez(tmp_path / "single.npz", PIXELS)
    for name in ("named.npz", "single.npz"):
        assert torch.equal(load_images(str(tmp_path / name)).all(), EXPECTED)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_plain_and_gzipped(tmp_path, gz):
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    write_idx(path, PIXELS, gz=gz)
    assert is_image_spec(str(path))
    assert torch.equal(load_images(str(path)).all(), EXPECTED)


def test_idx_float_type(tmp_path):
    write_idx(tmp_path / "floats.idx", PIXELS.astype(np.float32) / 255, type_code=0x0D)
    assert torch.allclose(load_images(str(tmp_path / "floats.idx")).all(), EXPECTED, atol=1e-6)


def test_folder_of_png_and_jpeg_recursively_with_resize(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for index in range(3):
        Image.fromarray(PIXELS[index]).save(tmp_path / "a" / f"{index}.png")
    Image.fromarray(np.full((10, 6, 3), 200, dtype=np.uint8)).save(tmp_path / "b" / "rgb.jpg")
    (tmp_path / "notes.txt").write_text("not an image")  # ignored
    data = load_images(str(tmp_path), image_size=8)
    assert data.all().shape == (4, 3, 8, 8)  # one RGB file makes the whole set RGB
    assert data.shape == (3, 8, 8)


def test_grey_folder_keeps_exact_pixels_without_resize(tmp_path):
    for index in range(8):
        Image.fromarray(PIXELS[index]).save(tmp_path / f"{index}.png")
    assert torch.equal(load_images(str(tmp_path)).all(), EXPECTED)


def test_image_size_resizes_arrays_too(tmp_path):
    np.save(tmp_path / "images.npy", PIXELS)
    data = load_data(str(tmp_path / "images.npy"), image_size=16)
    assert data.shape == (1, 16, 16)
    assert data.all().min() >= -1 and data.all().max() <= 1


def test_image_dataset_moves_to_device_lazily_and_once():
    data = ImageDataset("x", EXPECTED)
    rng = torch.Generator().manual_seed(0)
    data.sample(4, rng)
    data.sample(4, rng)
    assert list(data._on_device) == [torch.device("cpu")]


# --- bad data: one clear error that names the file -------------------------------------------


def test_empty_folder(tmp_path):
    with pytest.raises(GankitError, match=f"{tmp_path}.*no PNG/JPEG"):
        load_images(str(tmp_path))


def test_unreadable_image(tmp_path):
    Image.fromarray(PIXELS[0]).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(GankitError, match="cannot read image .*broken.png"):
        load_images(str(tmp_path))


def test_mixed_sizes_without_resize(tmp_path):
    Image.fromarray(PIXELS[0]).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((5, 5), dtype=np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(GankitError, match="b.png is 5x5 .*--image-size"):
        load_images(str(tmp_path))


def test_nans(tmp_path):
    bad = PIXELS.astype(np.float32) / 255
    bad[2, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(GankitError, match="nan.npy contains NaN"):
        load_images(str(tmp_path / "nan.npy"))


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((8, 64), dtype=np.uint8), "wrong shape"),
        (np.zeros((8, 2, 4, 4), dtype=np.uint8), "wrong shape"),
        (np.zeros((0, 4, 4), dtype=np.uint8), "holds no images"),
        (np.full((2, 4, 4), 3.0, dtype=np.float32), r"must lie in \[0, 1\] or \[-1, 1\]"),
        (np.full((2, 4, 4), 300, dtype=np.int32), "must lie in 0..255"),
        (np.array([["a"]]), "must be numbers"),
    ],
)
def test_bad_arrays(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(GankitError, match=f"bad.npy.*{message}|{message}"):
        load_images(str(tmp_path / "bad.npy"))


def test_npz_with_ambiguous_arrays(tmp_path):
    np.savez(tmp_path / "two.npz", a=PIXELS, b=PIXELS)
    with pytest.raises(GankitError, match="two.npz holds arrays a, b"):
        load_images(str(tmp_path / "two.npz"))


def test_truncated_idx(tmp_path):
    write_idx(tmp_path / "x.idx", PIXELS)
    (tmp_path / "x.idx").write_bytes((tmp_path / "x.idx").read_bytes()[:-5])
    with pytest.raises(GankitError, match="x.idx is truncated"):
        load_images(str(tmp_path / "x.idx"))


def test_unknown_file_format(tmp_path):
    (tmp_path / "data.csv").write_text("1,2,3\n")
    with pytest.raises(GankitError, match="data.csv: unknown format"):
        load_images(str(tmp_path / "data.csv"))


def test_unknown_name_is_not_an_image_spec():
    assert not is_image_spec("no-such-dataset")
    with pytest.raises(GankitError, match="unknown data set 'no-such-dataset'.*digits"):
        load_data("no-such-dataset")


def test_bad_data_through_the_cli_exits_2_without_a_run_directory(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "run"
    code, _, err = cli("train", "--data", tmp_path / "empty", "--steps", 1, "--out", out)
    assert code == 2
    assert f"{tmp_path / 'empty'} has no PNG/JPEG" in err and "Traceback" not in err
    assert not out.exists()


def test_non_square_images_are_refused_by_the_conv_nets_with_a_hint(cli, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((4, 8, 12), dtype=np.uint8))
    code, _, err = cli("train", "--data", tmp_path / "wide.npy", "--steps", 1, "--out", tmp_path / "r")
    assert code == 2 and "--image-size" in err


def test_a_set_with_a_published_test_split_validates_on_all_held_images_and_tests_on_its_own():
    """mnist-like: the held-out training images are all validation; "test" is the published split."""
    images = torch.from_numpy(np.linspace(-1, 1, 20 * 4, dtype=np.float32).reshape(20, 1, 2, 2))
    published = ImageDataset("set", images[:3] * 0.5, "its test split")
    data = ImageDataset("set", images, "a set", torch.arange(20) % 10, official_test=lambda: published)
    plain = ImageDataset("set", images, "a set", torch.arange(20) % 10)
    assert holdout_part(data, 0.2, "test") is published and holdout_part(data, 0.0, "test") is published
    for part in ("train", "validation"):  # training and validation come out of the training images
        assert torch.equal(holdout_part(data, 0.2, part).all(), images[holdout_split(20, 0.2, False)[part]])
    # the training part is the one a plain set trains on; its validation part takes every held image
    assert torch.equal(holdout_part(data, 0.2, "train").all(), holdout_part(plain, 0.2, "train").all())
    assert len(holdout_part(data, 0.2, "validation")) == 4
    assert len(holdout_part(plain, 0.2, "validation")) == 2
    assert len(holdout_split(3, 0.4, test_part=False)["validation"]) == 1  # no test part to leave empty
