"""Standard image data sets by name: ``--data mnist``, ``fashion-mnist``, ``cifar10``.

Each is found on disk or downloaded once from its canonical source (:mod:`gankit.data.download`:
$GANKIT_DATA, then a system copy such as Debian's ``dataset-fashion-mnist`` read in place, then the
cache, then a download; SHA-256 verified, atomic, resumable, one clear line without a network) and
read with the loaders of :mod:`gankit.data.images`. The class labels are kept as ``dataset.labels``
(int64, one per image) for conditional models.

    mnist          60,000 + 10,000 test 28x28 grey digits, LeCun et al. 1998 (IDX .gz files)
    fashion-mnist  60,000 + 10,000 test 28x28 grey clothing images, Xiao et al. 2017 (IDX .gz files)
    cifar10        50,000 + 10,000 test 32x32 colour images in 10 classes, Krizhevsky 2009 ("binary
                   version", read straight from the .tar.gz: records of 1 label byte + 3,072 pixel
                   bytes, no pickle)

Two splits, as published: ``train`` (what ``--data NAME`` trains on; ``validation_fraction`` takes
its validation part from these images) and ``test`` (MNIST's t10k files, CIFAR-10's test batch).
``load_standard(name, split="test")`` reads the test split; ``ImageDataset.official_test`` hands it
out from a loaded training set, which is how :func:`gankit.data.images.holdout_part` serves "test".

The checksums: ``sha256`` and ``size`` are those TensorFlow Datasets and others pin for the files
as published (what a download must match); ``content_sha256`` is that of the gunzipped IDX bytes,
which any re-compressed copy (Debian's package re-gzips them) or unpacked one also matches.
docs/data.md lists them, with the folders to put them in by hand.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from gankit.data.download import DownloadError, RemoteFile, cached_path, fetch
from gankit.data.images import ImageDataset, _read_idx, _to_nchw, _to_unit_range, resize_images
from gankit.errors import GankitError

_MNIST_URLS = (  # LeCun's page first (it has asked for a login at times), then the mirrors torchvision uses
    "http://yann.lecun.com/exdb/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_FASHION_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
CIFAR_RECORD = 1 + 3 * 32 * 32  # label byte, then the red, green and blue 32x32 planes
CIFAR_BATCHES = tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6))
CIFAR_SPLIT_BATCHES = {"train": CIFAR_BATCHES, "test": ("cifar-10-batches-bin/test_batch.bin",)}
SPLITS = ("train", "test")  # as published: train (60,000 MNIST images), test (MNIST's t10k)


def _remote(
    folder: str, name: str, sha256: str, size: int, bases: tuple[str, ...], content_sha256: str | None = None
) -> RemoteFile:
    return RemoteFile(folder, name, sha256, tuple(base + name for base in bases), size, content_sha256)


@dataclass(frozen=True)
class StandardSet:
    """A named data set: each split's files, how to read them into (uint8 images, labels), what it is."""

    splits: dict[str, tuple[RemoteFile, ...]]  # "train" and "test"
    read: Callable[[list[Path], str], tuple[np.ndarray, np.ndarray]]  # (paths, split)
    description: str
    package: str = ""  # a Debian package that installs the files where gankit reads them in place

    @property
    def files(self) -> tuple[RemoteFile, ...]:
        """Every file of every split, once each."""
        return tuple(dict.fromkeys(file for files in self.splits.values() for file in files))


def _read_idx_pair(paths: list[Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _read_idx(paths[0]), _read_idx(paths[1])  # (N, 28, 28) and (N,) uint8
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GankitError(
            f"{paths[0]} and {paths[1]} are not an image/label pair: shapes {images.shape}, {labels.shape}"
        )
    return images, labels


def _read_cifar_binary(paths: list[Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's binary version: the split's batches, read from the archive without extracting."""
    archive = paths[0]
    records = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in CIFAR_SPLIT_BATCHES[split]:
                handle = tar.extractfile(member)
                if handle is None:
                    raise KeyError(member)
                raw = np.frombuffer(handle.read(), dtype=np.uint8)
                if raw.size == 0 or raw.size % CIFAR_RECORD:
                    raise GankitError(f"{archive}: {member} is not a whole number of CIFAR-10 records")
                records.append(raw.reshape(-1, CIFAR_RECORD))
    except (tarfile.TarError, KeyError, OSError, EOFError) as error:
        raise GankitError(f"cannot read CIFAR-10 batches from {archive}: {error}") from None
    table = np.concatenate(records)
    return table[:, 1:].reshape(-1, 3, 32, 32), table[:, 0]


_MNIST_TRAIN = (
    _remote(
        "mnist",
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        9_912_422,
        _MNIST_URLS,
        content_sha256="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    _remote(
        "mnist",
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        28_881,
        _MNIST_URLS,
        content_sha256="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
)
_MNIST_TEST = (
    _remote(
        "mnist",
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        1_648_877,
        _MNIST_URLS,
        content_sha256="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    _remote(
        "mnist",
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        4_542,
        _MNIST_URLS,
        content_sha256="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
)
# The gunzipped sums are those of Debian's dataset-fashion-mnist files (the same four IDX files,
# re-gzipped), equal to the ones other projects pin for the unpacked official download.
_FASHION_TRAIN = (
    _remote(
        "fashion-mnist",
        "train-images-idx3-ubyte.gz",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        26_421_880,
        _FASHION_URLS,
        content_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    _remote(
        "fashion-mnist",
        "train-labels-idx1-ubyte.gz",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        29_515,
        _FASHION_URLS,
        content_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
)
_FASHION_TEST = (
    _remote(
        "fashion-mnist",
        "t10k-images-idx3-ubyte.gz",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        4_422_102,
        _FASHION_URLS,
        content_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    _remote(
        "fashion-mnist",
        "t10k-labels-idx1-ubyte.gz",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        5_148,
        _FASHION_URLS,
        content_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
)
_CIFAR_ARCHIVE = _remote(
    "cifar10",
    "cifar-10-binary.tar.gz",
    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    170_052_171,
    ("https://www.cs.toronto.edu/~kriz/",),
)

STANDARD_SETS: dict[str, StandardSet] = {
    "mnist": StandardSet(
        splits={"train": _MNIST_TRAIN, "test": _MNIST_TEST},
        read=_read_idx_pair,
        description="MNIST: 60,000 28x28 hand-written digits + 10,000 for test (downloaded once, 12 MB)",
    ),
    "fashion-mnist": StandardSet(
        splits={"train": _FASHION_TRAIN, "test": _FASHION_TEST},
        read=_read_idx_pair,
        description=(
            "Fashion-MNIST: 60,000 28x28 clothing images + 10,000 for test "
            "(Debian's dataset-fashion-mnist, or downloaded once, 31 MB)"
        ),
        package="dataset-fashion-mnist",
    ),
    "cifar10": StandardSet(
        splits={"train": (_CIFAR_ARCHIVE,), "test": (_CIFAR_ARCHIVE,)},
        read=_read_cifar_binary,
        description=(
            "CIFAR-10: 50,000 32x32 colour images, 10 classes + 10,000 for test (downloaded once, 170 MB)"
        ),
    ),
}


def load_standard(name: str, image_size: int | None = None, split: str = "train") -> ImageDataset:
    """The ``split`` ("train" or "test") of the named set, fetched on first use; labels in ``.labels``.

    A training set hands out its test split through ``official_test()`` (read only when asked).
    """
    if split not in SPLITS:
        raise GankitError(f"unknown split {split!r} of {name}; allowed: {', '.join(SPLITS)}")
    spec = STANDARD_SETS[name]
    files = spec.splits[split]
    try:
        paths = [fetch(file) for file in files]
    except DownloadError as error:  # name every file the user would have to put there by hand
        missing = [file.name for file in files if not cached_path(file).is_file()][1:]
        also = f" ({name} also needs {' and '.join(missing)} in that folder)" if missing else ""
        if spec.package:
            also += f"; or install Debian's {spec.package} (apt-get install {spec.package}), read in place"
        raise DownloadError(f"{error}{also}") from None
    array, labels = spec.read(paths, split)
    images = resize_images(_to_unit_range(_to_nchw(array, paths[0]), paths[0]), image_size)
    labels = torch.from_numpy(labels.astype(np.int64))
    if split == "test":
        return ImageDataset(name, images, f"{name}'s test split, {len(images):,} images", labels)
    test = partial(load_standard, name, image_size, "test")  # read only when asked for
    return ImageDataset(name, images, spec.description, labels, official_test=test)
