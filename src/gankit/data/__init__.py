"""Data sets: built-in toy distributions and (in :mod:`gankit.data.images`) image data.

Every data set has ``name``, ``shape`` (one sample's shape), ``sample(n, generator)`` returning
``(n, *shape)`` float32 on the generator's device, and ``modes``/``sigma`` (``None`` when undefined).
"""

from __future__ import annotations

from gankit.data.toy import TOY_DATASETS, get_toy
from gankit.errors import GankitError


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
    try:
        from gankit.data import images
    except ImportError:
        images = None
    if images is not None and images.is_image_spec(name):
        return images.load_images(name, image_size)
    allowed = ", ".join(TOY_DATASETS)
    extra = ", digits, or a path to .npy/.npz/IDX/image folder" if images is not None else ""
    raise GankitError(f"unknown data set {name!r}; allowed: {allowed}{extra}")


def is_toy(data) -> bool:
    return getattr(data, "name", None) in TOY_DATASETS


__all__ = ["TOY_DATASETS", "get_toy", "load_data", "is_toy"]
