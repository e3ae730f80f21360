"""Metrics that read the *class* of a generated image with a shipped classifier.

    conditioning accuracy  how often the classifier agrees with the label a conditional generator
                           was asked for (10 classes, one channel: the fashion classifier on
                           fashion-mnist, the digit classifier on every other such set)
    per-class FID          FID of the samples of class k against the real images of class k
    classes covered        unconditional samples of digits, mnist or fashion-mnist classified: the
                           classes that get at least a quarter of a uniform share of them, and
                           KL(p || uniform) = sum_k p_k log(10 p_k) of the class histogram p; the
                           real images' own numbers at equal n beside them (``floor_*``)
    stacked-digit modes    each channel of a stacked-digits sample is classified; the three
                           digits name one of 1,000 modes. Reported: modes hit by the samples and
                           KL(p || uniform) = sum_m p_m log(1000 p_m) of the mode histogram p
                           (natural log; Metz et al. 2017, VEEGAN, PacGAN count 26,000 samples),
                           and kl_channels = sum_c KL(p_c || uniform over 10) of the three
                           channels' digit histograms p_c. Since the uniform over the modes is the
                           product of the channels' uniforms, KL(p || uniform) = kl_channels +
                           KL(p || p_1 p_2 p_3) exactly: the rest is the channels' dependence, which
                           a 1,000-bin histogram's sampling error inflates (most of a real stack's
                           floor), while kl_channels says how evenly each channel draws the digits;
                           scarcest_digit is the digit drawn least often, averaged over the channels,
                           and scarcest_digit_share its share as a multiple of the even 1/10 (1.0:
                           even; 0.6: drawn at 60 % of its share), which names what G is short of

The digit classifier (gankit.metrics.images.DigitsFeatureNet) is 97.8 % accurate on held-out digits
and the fashion one (FashionFeatureNet) less on Fashion-MNIST's test split (docs/metrics.md), so a
perfect generator scores below 100 % and above 0 KL: every number comes with the real data's own
score (``floor_*``), measured the same way.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gankit.metrics.images import (
    SHIPPED_NETS,
    frechet_distance,
    image_features,
    resolve_features,
    shipped_feature_net,
    split_real,
    to_feature_input,
)

CLASSIFIED = ("digits", "mnist", "fashion-mnist")  # sets whose classes a shipped network reads
CLASS_SHARE = 0.25  # a class is covered when it gets at least this fraction of a uniform share of the samples
STACKED_MODES = 1000
STACKED_SAMPLES = 26_000  # the Stacked MNIST protocol's sample count (Srivastava et al. 2017)
MIN_PER_CLASS = 10  # per-class FID needs a covariance: at least this many samples of each class


@torch.no_grad()
def classify(images: np.ndarray | Tensor, net: str = "digits") -> np.ndarray:
    """The shipped classifier ``net``'s class (n,) for images (n, C, H, W) in [-1, 1] (channels averaged)."""
    network = shipped_feature_net(net)
    images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    chunks = images.split(4096)
    parts = [network(to_feature_input(chunk, network.input_side)).argmax(dim=1) for chunk in chunks]
    return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.int64)


def classify_digits(images: np.ndarray | Tensor) -> np.ndarray:
    """The shipped digit classifier's digit (n,) for images (n, C, H, W) in [-1, 1]."""
    return classify(images, "digits")


def stacked_modes(images: np.ndarray | Tensor) -> np.ndarray:
    """Mode 100 r + 10 g + b (n,) of stacked-digit images (n, 3, H, W): each channel classified."""
    images = np.asarray(images, dtype=np.float32)
    digits = [classify_digits(images[:, channel : channel + 1]) for channel in range(3)]
    return 100 * digits[0] + 10 * digits[1] + digits[2]


def kl_to_uniform(p: np.ndarray) -> float:
    """KL(p || uniform) = sum_k p_k log(K p_k) of a histogram p of K bins (natural log; 0 log 0 = 0)."""
    hit = p > 0
    return float(np.sum(p[hit] * np.log(len(p) * p[hit])))


def mode_histogram_metrics(modes: np.ndarray) -> dict[str, float]:
    """Modes hit (of 1,000), KL(p || uniform) of the histogram of ``modes`` (n,) in 0..999,
    kl_channels: the part of it the three digits' own histograms carry, and the scarcest digit with
    its share of a channel against the even 1/10, averaged over the channels (the module docstring)."""
    modes = np.asarray(modes)
    p = np.bincount(modes, minlength=STACKED_MODES).astype(np.float64) / len(modes)
    digits = (modes // 100, modes // 10 % 10, modes % 10)  # mode 100 r + 10 g + b
    channels = [np.bincount(digit, minlength=10).astype(np.float64) / len(modes) for digit in digits]
    shares = 10 * np.mean(channels, axis=0)  # each digit's share of a channel / 1/10, over the channels
    return {
        "modes": int((p > 0).sum()),
        "modes_total": STACKED_MODES,
        "kl_to_uniform": kl_to_uniform(p),
        "kl_channels": sum(kl_to_uniform(channel) for channel in channels),
        "scarcest_digit": int(np.argmin(shares)),
        "scarcest_digit_share": float(shares.min()),
    }


def class_histogram_metrics(classes: np.ndarray, total: int) -> dict[str, float]:
    """Classes covered (those with at least CLASS_SHARE / ``total`` of the samples) and the class
    histogram's KL to uniform, sum_k p_k log(total p_k), of ``classes`` (n,) in 0..total-1."""
    p = np.bincount(classes, minlength=total).astype(np.float64) / len(classes)
    return {
        "classes": int((p >= CLASS_SHARE / total).sum()),
        "classes_total": total,
        "class_kl": kl_to_uniform(p),
    }


def class_metrics(samples: np.ndarray, data) -> dict[str, float]:
    """Which of the classes unconditional samples of a CLASSIFIED set fall into, by the data set's own
    shipped classifier: :func:`class_histogram_metrics` of the samples, and ``floor_classes`` /
    ``floor_class_kl`` of as many real images (the floor half of gankit.metrics.images.split_real,
    the images FID's floor uses) when there are that many: what a perfect generator would score,
    classifier errors and the real classes' own imbalance included."""
    net = resolve_features("auto", data.name)
    metrics = class_histogram_metrics(classify(samples, net), data.num_classes)
    real = data.all()
    _, floor_half = split_real(len(real))
    if len(floor_half) >= len(samples):
        floor = class_histogram_metrics(classify(real[floor_half[: len(samples)]], net), data.num_classes)
        metrics |= {"floor_classes": floor["classes"], "floor_class_kl": floor["class_kl"]}
    return metrics


def stacked_digits_metrics(samples: np.ndarray, data, seed: int = 0) -> dict[str, float]:
    """Mode metrics of stacked-digit samples, and the same for as many fresh real stacks (floor)."""
    metrics = mode_histogram_metrics(stacked_modes(samples))
    real, _ = data.sample_labelled(len(samples), torch.Generator().manual_seed(seed))
    floor = mode_histogram_metrics(stacked_modes(real))
    return metrics | {
        f"floor_{key}": floor[key]
        for key in ("modes", "kl_to_uniform", "kl_channels", "scarcest_digit_share")
    }


def is_digit_like(data) -> bool:
    """Ten classes of one-channel images: what the shipped classifiers can judge."""
    return getattr(data, "num_classes", None) == 10 and data.shape[0] == 1


def conditional_metrics(
    samples: np.ndarray, labels: np.ndarray, data, features: str = "auto"
) -> dict[str, float]:
    """Conditioning accuracy (digit-like data) and per-class FID of labelled samples.

    Keys: conditioning_accuracy and floor_conditioning_accuracy (the data set's own classifier,
    resolve_features("auto"), on the samples and on the real labelled images), fid_class_<k> for up
    to 10 classes, fid_per_class_mean over the classes with at least MIN_PER_CLASS samples and real
    images. Per-class FID is on the shipped network ``features`` names (the data set's own for
    inception, whose features would cost hours per class on a CPU).
    """
    metrics: dict[str, float] = {}
    own = resolve_features("auto", data.name)
    if is_digit_like(data):
        metrics["conditioning_accuracy"] = float(np.mean(classify(samples, own) == labels))
        real_labels = data.labels.numpy()
        metrics["floor_conditioning_accuracy"] = float(np.mean(classify(data.all(), own) == real_labels))
    net = resolve_features(features, data.name)
    net = net if net in SHIPPED_NETS else own
    real_features, fake_features = image_features(data.all(), net), image_features(samples, net)
    real_labels = data.labels.numpy()
    per_class = {}
    for k in range(data.num_classes):
        real_k, fake_k = real_features[real_labels == k], fake_features[labels == k]
        if min(len(real_k), len(fake_k)) >= MIN_PER_CLASS:
            per_class[k] = frechet_distance(real_k, fake_k)
    if data.num_classes <= 10:
        metrics |= {f"fid_class_{k}": value for k, value in per_class.items()}
    if per_class:
        metrics["fid_per_class_mean"] = float(np.mean(list(per_class.values())))
    return metrics
