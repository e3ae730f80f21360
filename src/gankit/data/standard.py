"""Standard image data sets by name: ``--data mnist``, ``fashion-mnist``, ``cifar10``.

Each is downloaded once from its canonical source into gankit's cache (:mod:`gankit.data.download`:
SHA-256 verified, atomic, resumable, one clear line without a network) and read with the loaders of
:mod:`gankit.data.images`. Only the training split is used (GANs are trained and scored on it). The
class labels are kept as ``dataset.labels`` (int64, one per image) for conditional models.

    mnist          60,000 28x28 grey digits, LeCun et al. 1998 (IDX .gz files)
    fashion-mnist  60,000 28x28 grey clothing images, Xiao et al. 2017 (IDX .gz files)
    cifar10        50,000 32x32 colour images in 10 classes, Krizhevsky 2009 ("binary version",
                   read straight from the .tar.gz: records of 1 label byte + 3,072 pixel bytes, no pickle)

The checksums are the SHA-256 sums TensorFlow Datasets and others pin for these exact files; the
sizes are those the sources publish. docs/data.md lists both, with the folders to put them in by hand.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from dataclasses import dataclass
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


def _remote(folder: str, name: str, sha256: str, size: int, bases: tuple[str, ...]) -> RemoteFile:
    return RemoteFile(folder, name, sha256, tuple(base + name for base in bases), size)


@dataclass(frozen=True)
class StandardSet:
    """A named data set: its files, how to read them into (uint8 images, labels), a description."""

    files: tuple[RemoteFile, ...]
    read: Callable[[list[Path]], tuple[np.ndarray, np.ndarray]]
    description: str


def _read_idx_pair(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _read_idx(paths[0]), _read_idx(paths[1])  # (N, 28, 28) and (N,) uint8
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise GankitError(
            f"{paths[0]} and {paths[1]} are not an image/label pair: shapes {images.shape}, {labels.shape}"
        )
    return images, labels


def _read_cifar_binary(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's binary version: the five training batches, read from the archive without extracting."""
    archive = paths[0]
    records = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in CIFAR_BATCHES:
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


STANDARD_SETS: dict[str, StandardSet] = {
    "mnist": StandardSet(
        files=(
            _remote(
                "mnist",
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9_912_422,
                _MNIST_URLS,
            ),
            _remote(
                "mnist",
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                28_881,
                _MNIST_URLS,
            ),
        ),
        read=_read_idx_pair,
        description="MNIST: 60,000 28x28 hand-written digits (downloaded once, 10 MB)",
    ),
    "fashion-mnist": StandardSet(
        files=(
            _remote(
                "fashion-mnist",
                "train-images-idx3-ubyte.gz",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26_421_880,
                _FASHION_URLS,
            ),
            _remote(
                "fashion-mnist",
                "train-labels-idx1-ubyte.gz",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                29_515,
                _FASHION_URLS,
            ),
        ),
        read=_read_idx_pair,
        description="Fashion-MNIST: 60,000 28x28 clothing images (downloaded once, 26 MB)",
    ),
    "cifar10": StandardSet(
        files=(
            _remote(
                "cifar10",
                "cifar-10-binary.tar.gz",
                "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                170_052_171,
                ("https://www.cs.toronto.edu/~kriz/",),
            ),
        ),
        read=_read_cifar_binary,
        description="CIFAR-10: 50,000 32x32 colour images, 10 classes (downloaded once, 170 MB)",
    ),
}


def load_standard(name: str, image_size: int | None = None) -> ImageDataset:
    """The training split of the named set, fetched on first use; labels in ``.labels``."""
    spec = STANDARD_SETS[name]
    try:
        paths = [fetch(file) for file in spec.files]
    except DownloadError as error:  # name every file the user would have to put there by hand
        missing = [file.name for file in spec.files if not cached_path(file).is_file()][1:]
        also = f" ({name} also needs {' and '.join(missing)} in that folder)" if missing else ""
        raise DownloadError(f"{error}{also}") from None
    array, labels = spec.read(paths)
    images = resize_images(_to_unit_range(_to_nchw(array, paths[0]), paths[0]), image_size)
    labels = torch.from_numpy(labels.astype(np.int64))
    return ImageDataset(name, images, spec.description, labels=labels)
