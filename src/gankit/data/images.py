"""Image data: scikit-learn's bundled ``digits`` and the user's own files, nothing downloaded.

``--data`` accepts

    digits              1,797 8x8 grey-scale digits shipped inside scikit-learn (offline), labelled
    stacked-digits      three independent digits as the R, G, B channels: 1,000 modes (3x8x8)
    FILE.npy            an array (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3}
    FILE.npz            the same, under the key ``images`` or as the archive's only array; an
                        integer array ``labels`` (N,) with classes 0..K-1 makes it labelled
    FOLDER/             PNG/JPEG files, searched recursively; when every file sits in a first-level
                        sub-folder, the sub-folders are the classes (torchvision's ImageFolder
                        convention: class k is the k-th sub-folder name in sorted order)
    IDX file            the MNIST format (``train-images-idx3-ubyte``, optionally ``.gz``)

Pixel values: integers are read as 0..255; floats must already lie in [0, 1] or [-1, 1]. Every
set is stored as float32 in [-1, 1] with shape (N, C, H, W), the range of the generator's tanh.
``image_size`` resizes every image to a square ``image_size`` x ``image_size`` (Pillow's Lanczos
filter for files, antialiased bilinear for arrays); without it, folder images must share one size.
Labels (digits, an .npz's ``labels``, a folder's sub-folders, the named sets of
:mod:`gankit.data.standard`) are used only by conditional runs (``--conditional``). Bad data
raises :class:`GankitError` naming the offending file.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.errors import GankitError

BUILTIN_IMAGE_SETS = ("digits", "stacked-digits")
STACKED_DIGITS_REFERENCE = 5000  # stacked images in the fixed reference set (metrics, plots)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARRAY_SUFFIXES = (".npy", ".npz")
# IDX type codes (the third byte of the magic number) -> big-endian numpy dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class ImageDataset:
    """A fixed set of images; ``sample`` draws a batch with replacement.

    The images live on the CPU and are copied to a device the first time a batch is drawn there,
    so training on a GPU moves the data set once, not once per batch.
    """

    modes = None  # toy-only notions (mode means, per-mode spread): undefined for images
    sigma = None

    def __init__(
        self,
        name: str,
        images: Tensor,
        description: str = "",
        labels: Tensor | None = None,
        official_test: Callable[[], ImageDataset] | None = None,
    ):
        self.name = name
        self.images = images.contiguous()  # (N, C, H, W) float32 in [-1, 1], CPU
        self.description = description
        self.labels = labels  # (N,) int64 classes 0..K-1, or None for unlabelled data
        # loads the set's published test split (mnist's t10k files), or None: see holdout_part
        self.official_test = official_test
        self._on_device: dict[torch.device, tuple[Tensor, Tensor | None]] = {}

    @property
    def num_classes(self) -> int | None:
        """K for labelled data (the labels are 0..K-1), None without labels."""
        return None if self.labels is None else int(self.labels.max()) + 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` images drawn uniformly with replacement, on ``generator``'s device: (n, C, H, W)."""
        return self.sample_labelled(n, generator)[0]

    def sample_labelled(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """``sample`` and the drawn images' labels (n,) (None for unlabelled data); same draws."""
        device = generator.device
        if device not in self._on_device:
            labels = None if self.labels is None else self.labels.to(device)
            self._on_device[device] = self.images.to(device), labels
        images, labels = self._on_device[device]
        index = torch.randint(len(self), (n,), generator=generator, device=device)
        return images[index], None if labels is None else labels[index]

    def all(self) -> Tensor:
        """Every image, in file order, on the CPU: (N, C, H, W) in [-1, 1]."""
        return self.images


HOLDOUT_SEED = 0  # the fixed shuffle behind the held-out split (independent of the training seed)
HOLDOUT_PARTS = ("train", "validation", "test")


def holdout_split(count: int, fraction: float, test_part: bool = True) -> dict[str, np.ndarray]:
    """Indices (sorted) of the train, validation and test parts of ``count`` images.

    A fixed shuffle (seed HOLDOUT_SEED, whatever the training seed) puts ``round(count * fraction)``
    images aside: the first half of them is the validation part (choose checkpoints and learning
    rates on it), the rest the test part (report on it, once). Training sees only the rest. The
    three parts are disjoint and depend only on ``count`` and ``fraction``. Without ``test_part``
    (a set with a published test split) every image put aside is validation and the test part is
    empty; the training part is the same either way.
    """
    held = round(count * fraction)
    order = np.random.default_rng(HOLDOUT_SEED).permutation(count)
    cut = held // 2 if test_part else held
    parts = {"train": order[held:], "validation": order[:cut], "test": order[cut:held]}
    needed = HOLDOUT_PARTS if test_part else ("train", "validation")
    if fraction > 0 and min(len(parts[name]) for name in needed) == 0:
        sizes = ", ".join(f"{name} {len(parts[name])}" for name in needed)
        raise GankitError(f"validation_fraction {fraction} of {count} images leaves an empty part ({sizes})")
    return {name: np.sort(index) for name, index in parts.items()}


def holdout_part(data, fraction: float, part: str) -> ImageDataset:
    """The ``part`` (train, validation or test) of an image data set under ``validation_fraction``.

    A set with a published test split (``data.official_test``: mnist, fashion-mnist, cifar10) takes
    its validation part from the training images and answers "test" with the published split,
    whatever ``fraction`` (0 included); other sets hold their test part out of their own images.
    """
    if part not in HOLDOUT_PARTS:
        raise GankitError(f"unknown data part {part!r}; allowed: {', '.join(HOLDOUT_PARTS)}")
    if type(data) is not ImageDataset:  # toy data and stacked-digits (drawn on the fly) have no fixed images
        raise GankitError(
            f"validation_fraction applies to a fixed set of images (digits, files, folders), "
            f"not {data.name!r}"
        )
    if part == "test" and data.official_test is not None:
        return data.official_test()
    index = torch.from_numpy(holdout_split(len(data), fraction, data.official_test is None)[part])
    labels = None if data.labels is None else data.labels[index]
    description = f"{data.description}, {part} part of validation_fraction {fraction}"
    return ImageDataset(data.name, data.images[index], description, labels)


def is_image_spec(name: str) -> bool:
    """True for a built-in image set's name or a path that exists (file or folder)."""
    return name in BUILTIN_IMAGE_SETS or Path(name).expanduser().exists()


def load_images(name: str, image_size: int | None = None) -> ImageDataset:
    """Load ``digits`` or the user's images at ``name``; optionally resize to ``image_size``."""
    if image_size is not None and image_size < 1:
        raise GankitError(f"image_size must be >= 1, got {image_size}")
    labels = None
    if name == "digits":
        images, labels = _load_digits()
        description = "scikit-learn's 1,797 8x8 hand-written digits"
    elif name == "stacked-digits":
        return StackedDigits(image_size)
    else:
        path = Path(name).expanduser()
        if path.is_dir():
            images, labels = _load_folder(path, image_size)
            return ImageDataset(name, images, f"image folder {path}", labels)
        if not path.is_file():
            raise GankitError(f"image data not found: {path}")
        if path.suffix.lower() in ARRAY_SUFFIXES:
            array = _read_array(path)
            labels = _read_labels(path, len(array)) if path.suffix.lower() == ".npz" else None
        elif _is_idx(path):
            array = _read_idx(path)
        else:
            allowed = "digits, .npy, .npz, an IDX file or a folder of PNG/JPEG images"
            raise GankitError(f"cannot read image data from {path}: unknown format; allowed: {allowed}")
        images = _to_unit_range(_to_nchw(array, path), path)
        description = f"images from {path}"
    return ImageDataset(name, resize_images(images, image_size), description, labels)


def resize_images(images: Tensor, image_size: int | None) -> Tensor:
    """(N, C, H, W) in [-1, 1] resized to ``image_size`` squared (antialiased bilinear), or as is."""
    if image_size is not None and images.shape[-2:] != (image_size, image_size):
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", antialias=True)
        images = images.clamp(-1, 1)
    return images


def _load_digits() -> tuple[Tensor, Tensor]:
    """The 1,797 digits (N, 1, 8, 8) in [-1, 1] and their labels, new tensors at every call."""
    pixels, target = _digits_arrays()
    return torch.from_numpy(pixels / 8.0 - 1.0).unsqueeze(1), torch.from_numpy(target.copy()).long()


@functools.cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, read once a process (~25 ms a read: a page that parses every sweep of a
    journal builds thousands of configs on digits), paid only by the runs on digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images.astype(np.float32), digits.target  # (1797, 8, 8), ink intensity 0..16


class StackedDigits(ImageDataset):
    """Stacked digits: three independently drawn digits as the three colour channels (3, 8, 8).

    The image analogue of the toy mixtures' modes: 10 x 10 x 10 = 1,000 equally likely classes
    (Metz et al. 2017's Stacked MNIST, as used by VEEGAN and PacGAN; here on scikit-learn's 8x8
    digits instead of MNIST's 28x28). Training batches are stacked afresh from the 1,797 digits
    (three uniform draws per image); ``all()`` is a fixed set of STACKED_DIGITS_REFERENCE stacks
    (seed 0) that metrics and plots compare with. The label of a stack is 100 r + 10 g + b.
    """

    def __init__(self, image_size: int | None = None):
        digits, digit_labels = _load_digits()
        if image_size is not None and digits.shape[-1] != image_size:
            digits = F.interpolate(digits, size=(image_size, image_size), mode="bilinear", antialias=True)
            digits = digits.clamp(-1, 1)
        self.digits, self.digit_labels = digits[:, 0], digit_labels  # (1797, S, S), (1797,)
        fixed = torch.Generator().manual_seed(0)
        index = torch.randint(len(digits), (STACKED_DIGITS_REFERENCE, 3), generator=fixed)
        images, labels = self._stack(self.digits, self.digit_labels, index)
        super().__init__(
            "stacked-digits", images, "three scikit-learn digits as colour channels (1,000 modes)", labels
        )

    @property
    def num_classes(self) -> int:
        return 1000

    @staticmethod
    def _stack(digits: Tensor, digit_labels: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        """Digits ``index`` (n, 3) as channels: images (n, 3, S, S) and labels 100 r + 10 g + b."""
        return digits[index], digit_labels[index] @ torch.tensor([100, 10, 1], device=index.device)

    def sample_labelled(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        device = generator.device
        if device not in self._on_device:
            self._on_device[device] = self.digits.to(device), self.digit_labels.to(device)
        digits, digit_labels = self._on_device[device]
        index = torch.randint(len(digits), (n, 3), generator=generator, device=device)
        return self._stack(digits, digit_labels, index)


def _read_labels(path: Path, count: int) -> Tensor | None:
    """The ``labels`` array of an .npz (None if absent): integers 0..K-1, one per image."""
    with np.load(path, allow_pickle=False) as archive:
        if "labels" not in archive:
            return None
        labels = archive["labels"]
    whole = labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and np.all(np.mod(labels, 1) == 0))
    if not whole or labels.shape != (count,):
        raise GankitError(
            f"{path}: 'labels' must be {count} integers (one per image), got dtype {labels.dtype} "
            f"and shape {tuple(labels.shape)}"
        )
    if count and labels.min() < 0:
        raise GankitError(f"{path}: labels must be classes 0..K-1, found {int(labels.min())}")
    return torch.from_numpy(labels.astype(np.int64))


def _read_array(path: Path) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise GankitError(f"cannot read {path}: {error}") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        keys = list(loaded.keys())
        if "images" in keys:
            return loaded["images"]
        if len(keys) == 1:
            return loaded[keys[0]]
    raise GankitError(
        f"{path} holds arrays {', '.join(keys) or '(none)'}; name the images array 'images' "
        "or keep only one array"
    )


def _is_idx(path: Path) -> bool:
    with _open_maybe_gzip(path) as handle:
        magic = handle.read(4)
    return len(magic) == 4 and magic[:2] == b"\x00\x00" and magic[2] in IDX_DTYPES and magic[3] >= 1


def _open_maybe_gzip(path: Path):
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _read_idx(path: Path) -> np.ndarray:
    """IDX (LeCun's MNIST format): 0, 0, type code, ndim; ndim big-endian int32 sizes; the data."""
    try:
        with _open_maybe_gzip(path) as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise GankitError(f"cannot read IDX file {path}: {error}") from None
    dtype, ndim = np.dtype(IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">i4"))
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise GankitError(
            f"IDX file {path} is truncated or corrupt: header says {dims}, "
            f"which needs {expected} bytes of data, found {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _to_nchw(array: np.ndarray, path: Path) -> np.ndarray:
    """Accept (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3}; return (N, C, H, W).

    When both 4-D layouts fit (N, 3, 4, 1) the one with more pixels per image wins.
    """
    if array.dtype.kind not in "uif":
        raise GankitError(f"{path}: images must be numbers, got dtype {array.dtype}")
    channels_first = array.ndim == 4 and array.shape[1] in (1, 3)
    channels_last = array.ndim == 4 and array.shape[3] in (1, 3)
    if channels_first and channels_last:  # e.g. (N, 3, 4, 1): pick the layout with larger images
        channels_first = array.shape[2] * array.shape[3] >= array.shape[1] * array.shape[2]
    if array.ndim == 3:
        array = array[:, None]
    elif channels_first:
        pass
    elif channels_last:
        array = array.transpose(0, 3, 1, 2)
    else:
        raise GankitError(
            f"{path}: images have the wrong shape {tuple(array.shape)}; allowed: (N, H, W), "
            "(N, C, H, W) or (N, H, W, C) with C = 1 or 3"
        )
    if array.shape[0] == 0:
        raise GankitError(f"{path} holds no images (shape {tuple(array.shape)})")
    return array


def _to_unit_range(array: np.ndarray, path: Path) -> Tensor:
    """Map integers 0..255 or floats in [0, 1] / [-1, 1] to float32 in [-1, 1]."""
    if array.dtype.kind == "f":
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise GankitError(f"{path} contains NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low >= 0 and high <= 1:
            array = array * 2 - 1
        elif low < -1 or high > 1:
            raise GankitError(
                f"{path}: float pixels must lie in [0, 1] or [-1, 1], found [{low:g}, {high:g}]"
            )
    else:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise GankitError(f"{path}: integer pixels must lie in 0..255, found {low}..{high}")
        array = array.astype(np.float32) / 127.5 - 1
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _load_folder(folder: Path, image_size: int | None) -> tuple[Tensor, Tensor | None]:
    """The folder's images, and labels when every image sits in a first-level sub-folder (a class)."""
    from PIL import Image, UnidentifiedImageError  # ~110 ms, paid only by runs on a folder of images

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GankitError(f"image folder {folder} has no PNG/JPEG files")
    labels = None
    if all(len(file.relative_to(folder).parts) == 2 for file in files):  # ImageFolder: root/class/file
        classes = sorted({file.parent.name for file in files})
        labels = torch.tensor([classes.index(file.parent.name) for file in files])
    pictures = []
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                pictures.append(image.copy())
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise GankitError(f"cannot read image {file}: {error}") from None
    # Grey-scale only if every picture is; otherwise RGB (palette/alpha images are flattened).
    grey = all(picture.mode in ("1", "L", "I", "I;16", "F") for picture in pictures)
    mode = "L" if grey else "RGB"
    arrays = []
    for file, picture in zip(files, pictures, strict=True):
        picture = picture.convert(mode)
        if image_size is not None:
            picture = picture.resize((image_size, image_size), Image.Resampling.LANCZOS)
        elif picture.size != pictures[0].size:
            raise GankitError(
                f"image {file} is {picture.size[0]}x{picture.size[1]} but {files[0]} is "
                f"{pictures[0].size[0]}x{pictures[0].size[1]}; pass --image-size N to resize all images"
            )
        arrays.append(np.asarray(picture, dtype=np.uint8))
    return _to_unit_range(_to_nchw(np.stack(arrays), folder), folder), labels
