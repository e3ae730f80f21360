"""Image metrics without any download: FID, KID and precision/recall/density/coverage.

All of them compare *features* of generated and real images. The features come from a small
classifier trained on scikit-learn's digits (:class:`DigitsFeatureNet`), whose weights ship in
``gankit/assets/`` and are checked against a SHA-256 checksum on load; ``scripts/train_feature_net.py``
retrains them reproducibly. Images of another size or colour are converted to 8x8 grey-scale first,
so on non-digit data these numbers compare images through a digit recogniser's eyes: good for
relative comparisons on the same data, not for comparison with published (Inception) numbers.
For those, ``image_metrics(..., features="inception")`` (``gankit eval --features inception``)
computes every metric on the standard FID Inception's 2048-d features instead
(:mod:`gankit.metrics.inception`; weights downloaded once, or read from $GANKIT_INCEPTION).

    FID  = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))         (Heusel et al. 2017)
    KID  = unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3,     (Binkowski et al. 2018)
           averaged over random subsets (torchmetrics)
    PRDC = k-NN precision/recall (Kynkaanniemi et al. 2019), density/coverage (Naeem et al. 2020)

Every number is reported next to its **real-vs-real floor**: the same metric between two disjoint
halves of the real data, a fixed split. Samples are compared with the first half (the reference);
the floor compares the second half with it, so a generator that matched the data perfectly would
score about the floor, not zero (finite samples).
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
FEATURE_WEIGHTS = ASSETS / "digits_features.safetensors"
FEATURE_CARD = ASSETS / "digits_features.json"  # sha256, accuracy, how it was trained
FEATURE_SIDE = 8
NEAREST_K = 5  # Naeem et al. 2020 use k = 5
SPLIT_SEED = 0  # the fixed real-data split into reference and floor halves


class DigitsFeatureNet(nn.Module):
    """A small CNN digit classifier; ``features`` is its 64-d penultimate layer (before ReLU).

    (batch, 1, 8, 8) in [-1, 1] -> conv 3x3 (32) -> conv 3x3 stride 2 (64, 4x4) -> linear (64)
    -> ReLU -> linear (10 classes).
    """

    feature_dim = 64

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, self.feature_dim),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(self.feature_dim, 10))

    def features(self, images: Tensor) -> Tensor:
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:  # class logits
        return self.head(self.body(images))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_feature_net(weights: Path = FEATURE_WEIGHTS, card: Path = FEATURE_CARD) -> DigitsFeatureNet:
    """The shipped feature network, after checking the weights' SHA-256 against its card."""
    from safetensors.torch import load_file

    if not weights.is_file() or not card.is_file():
        raise GankitError(
            f"feature network weights missing ({weights}); regenerate with scripts/train_feature_net.py"
        )
    expected = json.loads(card.read_text())["sha256"]
    if sha256_of(weights) != expected:
        raise GankitError(
            f"{weights} does not match its SHA-256 checksum in {card.name}; the file is corrupt or "
            "was changed (regenerate both with scripts/train_feature_net.py)"
        )
    net = DigitsFeatureNet()
    net.load_state_dict(load_file(weights))
    return net.eval()


@functools.cache
def _shipped_feature_net() -> DigitsFeatureNet:
    return load_feature_net()


def to_feature_input(images: Tensor) -> Tensor:
    """(n, C, H, W) in [-1, 1] -> (n, 1, 8, 8): channel mean, then area-averaged resize."""
    grey = images.mean(dim=1, keepdim=True)
    if grey.shape[-2:] != (FEATURE_SIDE, FEATURE_SIDE):
        grey = F.interpolate(grey, size=(FEATURE_SIDE, FEATURE_SIDE), mode="area")
    return grey


@torch.no_grad()
def image_features(images: np.ndarray | Tensor, net: DigitsFeatureNet | None = None) -> np.ndarray:
    """Feature vectors (n, 64) of images (n, C, H, W) in [-1, 1], float64."""
    net = net or _shipped_feature_net()
    images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    parts = [net.features(to_feature_input(chunk)) for chunk in images.split(1024)]
    return torch.cat(parts).double().numpy()


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets (n, d), via torchmetrics on precomputed features."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    return max(float(metric.compute()), 0.0)  # rounding can give -1e-12 for identical sets


def kernel_distance(real: np.ndarray, fake: np.ndarray, subsets: int = 20, seed: int = 0) -> float:
    """KID (mean over ``subsets`` random subsets of up to 1000), deterministic for ``seed``.

    Fewer subsets than torchmetrics' 100 and float32 kernels keep it a fraction of a CPU second.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    subset_size = min(1000, len(real), len(fake))
    with warnings.catch_warnings():  # "saves all features in a buffer": we hand it features already
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(
            feature=_Precomputed(real.shape[1]), subsets=subsets, subset_size=subset_size
        )
    metric.update(torch.from_numpy(real).float(), real=True)
    metric.update(torch.from_numpy(fake).float(), real=False)
    with torch.random.fork_rng(devices=[]):  # its subsets come from the global RNG
        torch.manual_seed(seed)
        mean, _ = metric.compute()
    return float(mean)


def precision_recall_density_coverage(
    real: np.ndarray, fake: np.ndarray, k: int = NEAREST_K
) -> dict[str, float]:
    """k-NN manifold metrics of fake features against real ones (Naeem et al. 2020).

    With r_k(x) the distance from a real x to its k-th nearest other real point and B(x, r) a ball:

        precision = 1/M sum_j 1[ Y_j in some B(X_i, r_k(X_i)) ]        (are fakes realistic?)
        recall    = 1/N sum_i 1[ X_i in some B(Y_j, r_k(Y_j)) ]        (is the data covered?)
        density   = 1/(k M) sum_j sum_i 1[ Y_j in B(X_i, r_k(X_i)) ]   (precision, counting overlaps)
        coverage  = 1/N sum_i 1[ some Y_j in B(X_i, r_k(X_i)) ]        (recall, robust to outliers)
    """
    from sklearn.metrics import pairwise_distances
    from sklearn.neighbors import NearestNeighbors

    def kth_neighbour_radius(points: np.ndarray) -> np.ndarray:
        # k + 1 neighbours: the nearest one is the point itself at distance 0.
        distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
        return distances[:, -1]

    real_radius = kth_neighbour_radius(real)  # (N,)
    fake_radius = kth_neighbour_radius(fake)  # (M,)
    distance = pairwise_distances(real, fake)  # (N, M)
    fake_in_real_ball = distance < real_radius[:, None]
    return {
        "precision": float(fake_in_real_ball.any(axis=0).mean()),
        "recall": float((distance < fake_radius[None, :]).any(axis=1).mean()),
        "density": float(fake_in_real_ball.sum(axis=0).mean() / k),
        "coverage": float((distance.min(axis=1) < real_radius).mean()),
    }


def compare_features(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """FID, KID and PRDC of ``fake`` features against ``real`` ones."""
    return {
        "fid": frechet_distance(real, fake),
        "kid": kernel_distance(real, fake),
        **precision_recall_density_coverage(real, fake),
    }


def split_real(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the reference half and the floor half of ``count`` real images (fixed split)."""
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    return order[: count // 2], order[count // 2 :]


FEATURE_NETS = ("digits", "inception")
# Inception features cost ~6 GFLOPs an image: real sets larger than this are scored on a fixed random
# subset of this many images (split into reference and floor halves as usual).
INCEPTION_REAL_LIMIT = 10_000


def too_few_for_metrics(samples: int, real_images: int) -> str | None:
    """Why image metrics cannot be computed from this many samples and real images (None: they can):
    PRDC needs more than k samples, and the real images split into reference and floor halves."""
    if samples <= NEAREST_K or real_images <= 2 * (NEAREST_K + 1):
        return (
            f"image metrics need more than {NEAREST_K} samples and {2 * (NEAREST_K + 1)} real images, "
            f"got {samples} and {real_images}"
        )
    return None


def image_metrics(samples: np.ndarray, data, features: str = "digits") -> dict[str, float]:
    """FID/KID/PRDC of ``samples`` (n, C, H, W) in [-1, 1] against ``data``, plus real-vs-real floors.

    Keys: fid, kid, precision, recall, density, coverage, each also as ``floor_<name>`` (the second
    half of the real data scored against the first), and n_reference / n_floor. ``features`` picks
    the feature network: ``digits`` (the shipped one, offline) or ``inception`` (the standard FID
    Inception, :mod:`gankit.metrics.inception`; at most INCEPTION_REAL_LIMIT real images).
    """
    if features not in FEATURE_NETS:
        raise GankitError(f"unknown feature network {features!r}; allowed: {', '.join(FEATURE_NETS)}")
    samples = np.asarray(samples, dtype=np.float32)
    real_images = data.all()
    if samples.ndim != 4 or tuple(samples.shape[1:]) != tuple(real_images.shape[1:]):
        raise GankitError(
            f"samples of shape {samples.shape} do not match images of shape {tuple(real_images.shape[1:])}"
        )
    too_few = too_few_for_metrics(len(samples), len(real_images))
    if too_few:
        raise GankitError(too_few)
    embed = _feature_function(features)
    reference, floor, n_floor = _reference_and_floor(real_images, features)
    metrics = compare_features(reference, embed(samples))
    return {
        **metrics,
        **{f"floor_{key}": value for key, value in floor.items()},
        "n_reference": len(reference),
        "n_floor": n_floor,
    }


def _feature_function(features: str):
    if features == "inception":
        from gankit.metrics.inception import inception_features

        return inception_features
    return image_features


# feature net + sha256 of the real images -> (reference features, floor metrics, floor size); the
# floor does not depend on the samples, so a process scoring many runs (benchmarks) computes it once.
_FLOOR_CACHE: dict[str, tuple[np.ndarray, dict[str, float], int]] = {}


def _reference_and_floor(real_images: Tensor, features: str) -> tuple[np.ndarray, dict[str, float], int]:
    key = hashlib.sha256(real_images.numpy().tobytes()).hexdigest()
    compute = image_features
    if features == "inception":
        from gankit.metrics.inception import real_features, weights_path

        if len(real_images) > INCEPTION_REAL_LIMIT:  # a fixed random subset
            keep = np.random.default_rng(SPLIT_SEED).permutation(len(real_images))[:INCEPTION_REAL_LIMIT]
            real_images = real_images[np.sort(keep)]
        path = weights_path()  # the same images under other weights are other features
        key = f"inception:{path}:{path.stat().st_mtime_ns}:{key}"
        compute = real_features  # kept on disk: hours on a CPU
    if key not in _FLOOR_CACHE:
        real = compute(real_images)
        reference_index, floor_index = split_real(len(real))
        reference = real[reference_index]
        _FLOOR_CACHE[key] = reference, compare_features(reference, real[floor_index]), len(floor_index)
    return _FLOOR_CACHE[key]


class _Precomputed(nn.Module):
    """The 'feature extractor' handed to torchmetrics when the features are already computed."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features
