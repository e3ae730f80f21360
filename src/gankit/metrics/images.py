"""Image metrics without any download: FID, KID, precision/recall/density/coverage, sharpness.

The first six compare *features* of generated and real images. The features come from a small
classifier that ships with gankit, its weights in ``gankit/assets/`` checked against a SHA-256
checksum on load: :class:`DigitsFeatureNet` (scikit-learn's 8x8 digits, ``scripts/train_feature_net.py``)
or :class:`FashionFeatureNet` (Fashion-MNIST's training split, ``scripts/train_fashion_features.py``).
``features="auto"`` picks the one trained on the data set (:func:`resolve_features`). Images of
another size or colour are converted to the network's grey-scale size first, so on other data these
numbers compare images through a digit (or garment) recogniser's eyes: good for relative
comparisons on the same data, not for comparison with published (Inception) numbers. For those,
``image_metrics(..., features="inception")`` (``gankit eval --features inception``) computes every
metric on the standard FID Inception's 2048-d features instead (:mod:`gankit.metrics.inception`;
weights downloaded once, or read from $GANKIT_INCEPTION).

    FID  = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))         (Heusel et al. 2017)
    KID  = unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3,     (Binkowski et al. 2018)
           averaged over random subsets (torchmetrics)
    PRDC = k-NN precision/recall (Kynkaanniemi et al. 2019), density/coverage (Naeem et al. 2020)
    sharpness = mean Laplacian variance of the samples / that of the reference images (pixels)

Every number is reported next to its **real-vs-real floor** at equal n: the real images split into
two fixed halves; samples are scored against the first (the reference), and the floor scores as
many images of the second half as there are samples against the same reference, so a generator
that matched the data perfectly would score about the floor, not zero (finite samples). When the
second half is smaller than the samples there is no floor (:func:`missing_floor` says so).
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.errors import GankitError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
FEATURE_WEIGHTS = ASSETS / "digits_features.safetensors"
FEATURE_CARD = ASSETS / "digits_features.json"  # sha256, accuracy, how it was trained
FASHION_WEIGHTS = ASSETS / "fashion_features.safetensors"
FASHION_CARD = ASSETS / "fashion_features.json"
FEATURE_SIDE = 8
NEAREST_K = 5  # Naeem et al. 2020 use k = 5
SPLIT_SEED = 0  # the fixed real-data split into reference and floor halves
FRESH_FLOOR_SEED = 1  # stacked digits' floor stacks (seed 0 drew its fixed reference stacks)


class FeatureClassifier(nn.Module):
    """A small CNN classifier whose ``features`` are its 64-d penultimate layer (before the ReLU):
    ``body`` maps images to those features, ``head`` (ReLU, linear) to the 10 class logits."""

    feature_dim = 64

    def __init__(self, body: nn.Sequential):
        super().__init__()
        self.body = body
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(self.feature_dim, 10))

    def features(self, images: Tensor) -> Tensor:
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:  # class logits
        return self.head(self.body(images))


class DigitsFeatureNet(FeatureClassifier):
    """The digits classifier: (batch, 1, 8, 8) in [-1, 1] -> conv 3x3 (32) -> conv 3x3 stride 2
    (64, 4x4) -> linear (64) -> ReLU -> linear (10 classes)."""

    input_side = FEATURE_SIDE

    def __init__(self):
        super().__init__(
            nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(64 * 4 * 4, self.feature_dim),
            )
        )


class FashionFeatureNet(FeatureClassifier):
    """The Fashion-MNIST classifier: (batch, 1, 28, 28) in [-1, 1] -> conv 3x3 (16), max pool ->
    conv 3x3 (32), max pool (7x7) -> conv 3x3 stride 2 (64, 4x4) -> linear (64) -> ReLU -> linear
    (10 classes). 89,546 parameters."""

    input_side = 28

    def __init__(self):
        super().__init__(
            nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),  # 14x14
                nn.Conv2d(16, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),  # 7x7
                nn.Conv2d(32, 64, 3, stride=2, padding=1),  # 4x4
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(64 * 4 * 4, self.feature_dim),
            )
        )


@dataclass(frozen=True)
class ShippedNet:
    """A feature network that ships with gankit: its class, weights, card and the script behind them."""

    network: type[nn.Module]
    weights: Path
    card: Path
    script: str


SHIPPED_NETS = {
    "digits": ShippedNet(DigitsFeatureNet, FEATURE_WEIGHTS, FEATURE_CARD, "scripts/train_feature_net.py"),
    "fashion": ShippedNet(
        FashionFeatureNet, FASHION_WEIGHTS, FASHION_CARD, "scripts/train_fashion_features.py"
    ),
}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_feature_net(
    name: str = "digits", weights: Path | None = None, card: Path | None = None
) -> nn.Module:
    """A shipped feature network (``digits`` or ``fashion``), after checking the weights' SHA-256
    against its card; ``weights`` and ``card`` replace the shipped files (a retrained copy)."""
    from safetensors.torch import load_file

    shipped = SHIPPED_NETS[name]
    weights, card = weights or shipped.weights, card or shipped.card
    if not weights.is_file() or not card.is_file():
        raise GankitError(f"feature network weights missing ({weights}); regenerate with {shipped.script}")
    expected = json.loads(card.read_text())["sha256"]
    if sha256_of(weights) != expected:
        raise GankitError(
            f"{weights} does not match its SHA-256 checksum in {card.name}; the file is corrupt or "
            f"was changed (regenerate both with {shipped.script})"
        )
    net = shipped.network()
    net.load_state_dict(load_file(weights))
    return net.eval()


@functools.cache
def shipped_feature_net(name: str = "digits") -> nn.Module:
    """The shipped network ``name``, loaded (and checked) once per process."""
    return load_feature_net(name)


def to_feature_input(images: Tensor, side: int = FEATURE_SIDE) -> Tensor:
    """(n, C, H, W) in [-1, 1] -> (n, 1, side, side): channel mean, then area-averaged resize."""
    grey = images.mean(dim=1, keepdim=True)
    if grey.shape[-2:] != (side, side):
        grey = F.interpolate(grey, size=(side, side), mode="area")
    return grey


@torch.no_grad()
def image_features(images: np.ndarray | Tensor, net: str | nn.Module = "digits") -> np.ndarray:
    """Feature vectors (n, 64) of images (n, C, H, W) in [-1, 1], float64, by a shipped network
    (its name) or a loaded one."""
    net = shipped_feature_net(net) if isinstance(net, str) else net
    images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    parts = [net.features(to_feature_input(chunk, net.input_side)) for chunk in images.split(1024)]
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


FEATURE_NETS = ("digits", "inception", "fashion")  # what --features names, besides "auto"
# "auto": the shipped network trained on the data set, where there is one; every other set gets the
# digits network (mnist included: the fashion network was not measured on MNIST, see docs/metrics.md).
AUTO_FEATURES = {"fashion-mnist": "fashion"}
# Inception features cost ~6 GFLOPs an image: real sets larger than this are scored on a fixed random
# subset of this many images (split into reference and floor halves as usual).
INCEPTION_REAL_LIMIT = 10_000


def resolve_features(features: str, data_name: str) -> str:
    """The feature network ``features`` stands for on ``data_name``: "auto" is the shipped network
    trained on that data set (``fashion`` for fashion-mnist), else ``digits``; a name is itself."""
    if features == "auto":
        return AUTO_FEATURES.get(data_name, "digits")
    if features not in FEATURE_NETS:
        raise GankitError(f"unknown feature network {features!r}; allowed: auto, {', '.join(FEATURE_NETS)}")
    return features


def too_few_for_metrics(samples: int, real_images: int) -> str | None:
    """Why image metrics cannot be computed from this many samples and real images (None: they can):
    PRDC needs more than k samples, and the real images split into reference and floor halves."""
    if samples <= NEAREST_K or real_images <= 2 * (NEAREST_K + 1):
        return (
            f"image metrics need more than {NEAREST_K} samples and {2 * (NEAREST_K + 1)} real images, "
            f"got {samples} and {real_images}"
        )
    return None


# The 3x3 Laplacian: its response is an image's second derivative, large at edges and fine detail,
# small where the image is smooth (blur removes exactly what it measures).
LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_variance(images: np.ndarray | Tensor) -> float:
    """Mean over images and channels of the variance of the 3x3 Laplacian of (n, C, H, W) images
    (borders replicated), in pixel units squared: how much fine detail the images hold."""
    if not isinstance(images, Tensor):
        images = torch.from_numpy(np.array(images, dtype=np.float32))  # a writable copy
    n, channels, height, width = images.shape
    planes = F.pad(images.reshape(n * channels, 1, height, width), (1, 1, 1, 1), mode="replicate")
    response = F.conv2d(planes, LAPLACIAN[None, None])
    return float(response.flatten(1).var(dim=1).mean())


def sharpness(samples: np.ndarray | Tensor, real: np.ndarray | Tensor) -> float:
    """laplacian_variance(samples) / laplacian_variance(real): 1 as sharp as the real images, below 1
    blurrier (a VAE's averages), above 1 noisier or over-sharpened. NaN if the real images are flat."""
    real_variance = laplacian_variance(real)
    return laplacian_variance(samples) / real_variance if real_variance > 0 else float("nan")


def image_metrics(samples: np.ndarray, data, features: str = "auto") -> dict[str, float]:
    """FID/KID/PRDC and sharpness of ``samples`` (n, C, H, W) in [-1, 1] against ``data``, with
    real-vs-real floors at equal n.

    The real images split into two fixed halves: samples are scored against the first (the
    reference); the floor scores ``n`` real images of the second half, as many as there are
    samples, against the same reference (FID's bias depends on n). Keys: fid, kid, precision,
    recall, density, coverage, sharpness; ``floor_<name>`` of each when the second half has at least
    n images (stacked digits draws n fresh real stacks); n_samples, n_reference, n_floor (n, or 0
    without a floor) and n_floor_max (the second half's size: the most samples a floor can match;
    absent for stacked digits). ``features`` names the feature network (:func:`resolve_features`):
    ``auto``, ``digits``, ``fashion`` (shipped, offline) or ``inception`` (the standard FID
    Inception, :mod:`gankit.metrics.inception`; at most INCEPTION_REAL_LIMIT real images).
    """
    from gankit.data.images import StackedDigits

    features = resolve_features(features, data.name)
    samples = np.asarray(samples, dtype=np.float32)
    real_images = data.all()
    if samples.ndim != 4 or tuple(samples.shape[1:]) != tuple(real_images.shape[1:]):
        raise GankitError(
            f"samples of shape {samples.shape} do not match images of shape {tuple(real_images.shape[1:])}"
        )
    too_few = too_few_for_metrics(len(samples), len(real_images))
    if too_few:
        raise GankitError(too_few)
    key = _real_key(real_images, features)
    reference, _, pool_size = _reference_and_floor(real_images, features, key)
    n = len(samples)
    metrics = compare_features(reference, _feature_function(features)(samples))
    metrics["sharpness"] = sharpness(samples, _reference_images(real_images, features))
    floor = _equal_n_floor(data, features, key, n)
    counts = {"n_samples": n, "n_reference": len(reference), "n_floor": n if floor else 0}
    if not isinstance(data, StackedDigits):
        counts["n_floor_max"] = pool_size
    return metrics | {f"floor_{name}": value for name, value in (floor or {}).items()} | counts


def missing_floor(metrics: dict) -> str | None:
    """Why ``image_metrics`` shows no floor (None when it does): too few real images for equal n."""
    if metrics.get("n_floor", 1) or "n_floor_max" not in metrics:
        return None
    most = metrics["n_floor_max"]
    return (
        f"no real-vs-real floor: the reference's other half has {most:,} images, fewer than the "
        f"{metrics['n_samples']:,} samples, and a floor must use as many real images as samples "
        f"(FID's bias depends on n); score {most:,} samples or fewer (--n) for one"
    )


def _equal_n_floor(data, features: str, key: str, n: int) -> dict[str, float] | None:
    """The floor's metrics at ``n``: n real images that are not the reference (the first n of the
    other half; for stacked digits n fresh stacks) scored against it, as the samples are. None when
    the other half has fewer than n images."""
    from gankit.data.images import StackedDigits

    if (key, n) not in _EQUAL_N_FLOORS:
        reference, pool, pool_size = _reference_and_floor(data.all(), features, key)
        real_images = _scored_real_images(data.all(), features)
        reference_index, other_index = split_real(len(real_images))
        if isinstance(data, StackedDigits):  # drawn on the fly: as many fresh real stacks as asked
            images = data.sample(n, torch.Generator().manual_seed(FRESH_FLOOR_SEED)).numpy()
            features_of_images = _feature_function(features)(images)
        elif n <= pool_size:
            images, features_of_images = real_images[other_index[:n]], pool[:n]
        else:
            return None
        _EQUAL_N_FLOORS[key, n] = compare_features(reference, features_of_images) | {
            "sharpness": sharpness(images, real_images[reference_index])
        }
    return _EQUAL_N_FLOORS[key, n]


def _reference_images(real_images: Tensor, features: str) -> Tensor:
    """The reference half of the scored real images (pixels: what sharpness compares with)."""
    scored = _scored_real_images(real_images, features)
    return scored[split_real(len(scored))[0]]


def _feature_function(features: str):
    if features == "inception":
        from gankit.metrics.inception import inception_features

        return inception_features
    return functools.partial(image_features, net=features)


def _scored_real_images(real_images: Tensor, features: str) -> Tensor:
    """The real images that are scored: all of them, or for Inception a fixed random subset."""
    if features == "inception" and len(real_images) > INCEPTION_REAL_LIMIT:
        keep = np.random.default_rng(SPLIT_SEED).permutation(len(real_images))[:INCEPTION_REAL_LIMIT]
        real_images = real_images[np.sort(keep)]
    return real_images


def _real_key(real_images: Tensor, features: str) -> str:
    """Names the real images' features: the feature network and the images' SHA-256."""
    key = f"{features}:{hashlib.sha256(real_images.numpy().tobytes()).hexdigest()}"
    if features == "inception":
        from gankit.metrics.inception import weights_path

        path = weights_path()  # the same images under other weights are other features
        key = f"{key}:{path}:{path.stat().st_mtime_ns}"
    return key


# _real_key -> (reference features, floor-half features, floor-half size), and (_real_key, n) -> the
# floor's metrics at n: neither depends on the samples, so a process scoring many runs (benchmarks,
# evaluation during training) embeds the real images once and scores each floor once.
_FLOOR_CACHE: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
_EQUAL_N_FLOORS: dict[tuple[str, int], dict[str, float]] = {}


def _reference_and_floor(
    real_images: Tensor, features: str, key: str | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Features of the reference half of the real images, of the other half (in the fixed random
    order of :func:`split_real`, so its first n images are the floor at n), and that half's size."""
    key = key or _real_key(real_images, features)
    if key not in _FLOOR_CACHE:
        compute = _feature_function(features)
        if features == "inception":
            from gankit.metrics.inception import real_features

            compute = real_features  # kept on disk: hours on a CPU
        real = compute(_scored_real_images(real_images, features))
        reference_index, floor_index = split_real(len(real))
        _FLOOR_CACHE[key] = real[reference_index], real[floor_index], len(floor_index)
    return _FLOOR_CACHE[key]


class _Precomputed(nn.Module):
    """The 'feature extractor' handed to torchmetrics when the features are already computed."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features
