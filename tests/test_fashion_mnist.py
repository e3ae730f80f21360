"""Fashion-MNIST offline, as a user gets it: Debian's ``dataset-fashion-mnist`` read in place.

Debian ships the official IDX files re-gzipped, so they are verified on their gunzipped content;
any re-gzipped or unpacked copy of the official content passes, a file that fails is set aside
(never deleted), copies are searched in a documented order, and the t10k files are the test split.
The synthetic tests pin this with small IDX files whose checksums are patched in; the last ones read
the real files where the package is installed (tests/ensure_fashion_mnist.sh installs it as root)
and skip, saying why, elsewhere.
"""

import dataclasses
import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.data import download, load_data, standard
from gankit.data.images import holdout_part
from gankit.errors import GankitError
from loopback import closed_port_url

DEBIAN = Path("/usr/share/datasets/fashion-mnist")  # where dataset-fashion-mnist installs the files
TRAIN = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
installed = pytest.mark.skipif(
    not all((DEBIAN / name).is_file() for name in TRAIN + TEST),
    reason="Debian's dataset-fashion-mnist is not installed (as root: apt-get install "
    "dataset-fashion-mnist; make test does it through tests/ensure_fashion_mnist.sh)",
)

RNG = np.random.default_rng(1)
ARRAYS = {
    TRAIN[0]: RNG.integers(0, 256, size=(30, 28, 28), dtype=np.uint8),
    TRAIN[1]: (np.arange(30) % 10).astype(np.uint8),
    TEST[0]: RNG.integers(0, 256, size=(6, 28, 28), dtype=np.uint8),
    TEST[1]: (np.arange(6) * 3 % 10).astype(np.uint8),
}
TINY_RUN = ("--steps", "2", "--batch-size", "8", "--width", "8", "--objective", "wgan-gp",
            "--eval-every", "0", "--sample-every", "0", "--checkpoint-every", "2")  # fmt: skip


def sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def idx(array: np.ndarray) -> bytes:
    """``array`` (uint8) in LeCun's IDX format, uncompressed."""
    return bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes() + array.tobytes()


def as_published(name: str) -> bytes:
    """The stand-in for the file as its source publishes it."""
    return gzip.compress(idx(ARRAYS[name]), compresslevel=9, mtime=0)


def regzipped(name: str) -> bytes:
    """The same content gzipped again, as Debian's package does: another level and time stamp."""
    return gzip.compress(idx(ARRAYS[name]), compresslevel=1, mtime=1_591_347_949)


def put(folder: Path, names=TRAIN + TEST, payload=regzipped) -> Path:
    """Copies of the files in ``folder/fashion-mnist``; returns that folder."""
    target = folder / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        (target / name).write_bytes(payload(name))
    return target


def images_of(name: str) -> torch.Tensor:
    return torch.from_numpy(ARRAYS[name].astype(np.float32) / 127.5 - 1).unsqueeze(1)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, no $GANKIT_DATA, the cache in tmp_path/xdg, the system copies in tmp_path/system
    (both empty), and fashion-mnist's checksums pinned to the stand-ins: sha256 that of the file as
    published, content_sha256 that of its gunzipped IDX bytes."""
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("GANKIT_DATA_URL", closed_port_url())
    monkeypatch.setattr(download, "SYSTEM_DATA_DIRS", (tmp_path / "system",))
    spec = standard.STANDARD_SETS["fashion-mnist"]
    splits = {
        split: tuple(
            dataclasses.replace(
                file,
                sha256=sha(as_published(file.name)),
                size=len(as_published(file.name)),
                content_sha256=sha(idx(ARRAYS[file.name])),
            )
            for file in files
        )
        for split, files in spec.splits.items()
    }
    monkeypatch.setitem(standard.STANDARD_SETS, "fashion-mnist", dataclasses.replace(spec, splits=splits))
    return splits


@pytest.mark.parametrize(
    "without_gz, payload",
    [
        (False, regzipped),  # Debian's: another compression level and time stamp
        (False, lambda name: gzip.compress(idx(ARRAYS[name]), compresslevel=6, mtime=12345)),
        (True, lambda name: idx(ARRAYS[name])),  # unpacked, under the name without .gz
        (False, lambda name: idx(ARRAYS[name])),  # unpacked, under the .gz name
    ],
)
def test_any_recompressed_or_unpacked_copy_of_the_official_content_is_accepted(
    offline, monkeypatch, tmp_path, without_gz, payload
):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "mine"))
    folder = tmp_path / "mine" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in TRAIN:
        assert payload(name) != as_published(name)  # not the published bytes: only the content matches
        path = folder / (name.removesuffix(".gz") if without_gz else name)
        path.write_bytes(payload(name))
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    data = load_data("fashion-mnist")
    assert torch.equal(data.all(), images_of(TRAIN[0])) and data.labels.tolist() == ARRAYS[TRAIN[1]].tolist()
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before  # untouched, nothing added


def test_a_file_that_fails_verification_is_set_aside_not_deleted_with_one_line(
    offline, cli, monkeypatch, tmp_path
):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "mine"))
    folder = put(tmp_path / "mine", TRAIN)
    wrong = gzip.compress(idx(255 - ARRAYS[TRAIN[0]]))  # a well-formed IDX file, but not the official one
    (folder / TRAIN[0]).write_bytes(wrong)
    code, out, err = cli("train", "--data", "fashion-mnist", *TINY_RUN, "--out", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    [aside] = folder.glob(f"{TRAIN[0]}.rejected-*")
    assert aside.read_bytes() == wrong and not (folder / TRAIN[0]).exists()  # kept, under another name
    assert f"{folder / TRAIN[0]} does not match its SHA-256" in err and f"set it aside as {aside.name}" in err
    assert "put the official file there, or run again" in err and not (tmp_path / "run").exists()


def test_the_system_copy_is_read_in_place_with_no_set_up(offline, cli, tmp_path):
    system = put(tmp_path / "system")
    code, out, err = cli("train", "--data", "fashion-mnist", *TINY_RUN, "--out", tmp_path / "run")
    assert code == 0, err
    assert download.fetch(offline["train"][0]) == system / TRAIN[0]
    assert not (tmp_path / "xdg").exists()  # nothing copied into the cache, nothing downloaded


def test_copies_are_searched_in_the_users_folder_then_the_system_copy_then_the_cache(
    offline, monkeypatch, tmp_path
):
    file = offline["train"][0]
    mine, system, cache = (put(tmp_path / where, TRAIN[:1]) for where in ("mine", "system", "xdg/gankit"))
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "mine"))  # it is then the cache too
    assert download.search_dirs() == (tmp_path / "mine", tmp_path / "system")
    assert download.fetch(file) == mine / TRAIN[0]
    (mine / TRAIN[0]).unlink()
    assert download.fetch(file) == system / TRAIN[0]
    monkeypatch.delenv("GANKIT_DATA")
    assert download.search_dirs() == (tmp_path / "system", tmp_path / "xdg" / "gankit")
    assert download.fetch(file) == system / TRAIN[0]
    (system / TRAIN[0]).unlink()
    assert download.fetch(file) == cache / TRAIN[0]


def test_a_bad_system_copy_is_skipped_with_a_warning_and_left_alone(offline, tmp_path, capsys):
    system = put(tmp_path / "system", TRAIN[:1], payload=lambda name: b"not gzip, not IDX")
    cache = put(tmp_path / "xdg" / "gankit", TRAIN[:1])
    assert download.fetch(offline["train"][0]) == cache / TRAIN[0]
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1 and f"skipping the system copy {system / TRAIN[0]}" in warning
    assert (system / TRAIN[0]).read_bytes() == b"not gzip, not IDX"  # the package manager's file


def test_the_test_split_is_the_t10k_files_and_validation_comes_out_of_the_training_images(offline, tmp_path):
    put(tmp_path / "system")
    test = standard.load_standard("fashion-mnist", split="test")
    assert torch.equal(test.all(), images_of(TEST[0])) and test.labels.tolist() == ARRAYS[TEST[1]].tolist()
    train = load_data("fashion-mnist")
    assert torch.equal(holdout_part(train, 0.2, "test").all(), test.all())  # whatever the fraction
    assert torch.equal(holdout_part(train, 0.0, "test").all(), test.all())
    validation, rest = holdout_part(train, 0.2, "validation"), holdout_part(train, 0.2, "train")
    assert len(validation) == 6 and len(rest) == 24  # all 30 training images, none of the test split
    joined = {row.numpy().tobytes() for row in torch.cat([validation.all(), rest.all()])}
    assert joined == {row.numpy().tobytes() for row in train.all()}


@installed
def test_debians_files_hold_the_official_content_with_the_published_counts():
    counts = {"train": 60_000, "t10k": 10_000}
    files = {file.name: file for file in standard.STANDARD_SETS["fashion-mnist"].files}
    for name in TRAIN + TEST:
        assert download.content_sha256(DEBIAN / name) == files[name].content_sha256, name
        with gzip.open(DEBIAN / name) as handle:
            header = handle.read(16 if "images" in name else 8)
        count = counts[name.split("-")[0]]
        if "images" in name:
            assert struct.unpack(">4I", header) == (2051, count, 28, 28), name  # 0x00000803: uint8, 3-D
        else:
            assert struct.unpack(">2I", header) == (2049, count), name  # 0x00000801: uint8, 1-D


@installed
def test_debians_fashion_mnist_loads_offline_with_no_set_up(monkeypatch, tmp_path):
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("GANKIT_DATA_URL", closed_port_url())
    train = load_data("fashion-mnist")
    assert len(train) == 60_000 and train.shape == (1, 28, 28) and train.num_classes == 10
    assert torch.bincount(train.labels).tolist() == [6_000] * 10
    assert train.all().min() == -1 and train.all().max() == 1
    test = train.official_test()
    assert len(test) == 10_000 and test.shape == (1, 28, 28)
    assert torch.bincount(test.labels).tolist() == [1_000] * 10
    assert not (tmp_path / "xdg").exists()  # read in place


def test_a_missing_split_file_offline_names_the_cache_path(offline, tmp_path):
    put(tmp_path / "system", TRAIN)  # the training files only
    assert len(load_data("fashion-mnist")) == 30
    with pytest.raises(GankitError, match=r"put the file at .*t10k-images-idx3-ubyte.gz by hand"):
        standard.load_standard("fashion-mnist", split="test")
