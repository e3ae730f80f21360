"""Data sets: built-in toy distributions and (in :mod:`gankit.data.images`) image data.

Every data set has ``name``, ``shape`` (one sample's shape), ``sample(n, generator)`` returning
``(n, *shape)`` float32 on the generator's device, and ``modes``/``sigma`` (``None`` when undefined).
"""

from __future__ import annotations

from gankit.data import images
from gankit.data.toy import TOY_DATASETS, get_toy
from gankit.errors import GankitError

# The named image sets of gankit.data.standard, downloaded on first use (listed here without importing it).
STANDARD_SET_NAMES = ("mnist", "fashion-mnist", "cifar10")


def load_data(name: str, image_size: int | None = None):
    """Resolve ``--data``: a toy distribution's name, or an image set (name or path).

    ``image_size`` resizes images to a square of that side; toy data ignores it.
    """
    if not name.strip():  # '' would otherwise read as the current folder of images
        raise GankitError(
            f"--data is empty; allowed: {', '.join(TOY_DATASETS)}, digits, or a path to image data"
        )
    if name in TOY_DATASETS:
        return get_toy(name)
    if name in STANDARD_SET_NAMES:  # mnist, fashion-mnist, cifar10: downloaded on first use
        from gankit.data.standard import load_standard  # the downloader: loaded only for these sets

        return load_standard(name, image_size)
    if images.is_image_spec(name):
        return images.load_images(name, image_size)
    allowed = ", ".join(TOY_DATASETS)
    named = ", ".join(("digits", "stacked-digits", *STANDARD_SET_NAMES))
    raise GankitError(
        f"unknown data set {name!r}; allowed: {allowed}, {named}, or a path to .npy/.npz/IDX/image folder"
    )


def is_toy(data) -> bool:
    return getattr(data, "name", None) in TOY_DATASETS


__all__ = ["STANDARD_SET_NAMES", "TOY_DATASETS", "get_toy", "load_data", "is_toy"]
