"""Inception-v3 features for FID, the number papers report: ``gankit eval --features inception``.

The network is the "FID Inception" that TensorFlow's original FID code used (the 2015-12-05 Inception
graph), in the PyTorch port of pytorch-fid (Seitzer 2020): torchvision's Inception-v3 layout with
1008 classes, no auxiliary head, and three blocks patched to match TensorFlow (average pools that do
not count the zero padding; a max pool in the last block). It is written out here so gankit needs no
torchvision; its parameter names are those of pytorch-fid's weights file, which loads as is:

    pt_inception-2015-12-05-6726825d.pth   95,628,359 bytes, SHA-256 6726825d...9129b2
    (torch-fidelity ships the same bytes as weights-inception-2015-12-05-6726825d.pth: a mirror)

The weights are downloaded once into gankit's cache (:mod:`gankit.data.download`: checksummed,
atomic, one clear line without a network), or read from the file named by $GANKIT_INCEPTION (your
own copy; loaded with ``weights_only=True`` and a strict key check, not checksummed).

Preprocessing, as pytorch-fid scores PNG files: images in [-1, 1] are quantised to 8 bits, scaled to
[0, 1], grey ones repeated over 3 channels, resized to 299x299 (bilinear, align_corners=False, no
antialiasing), mapped to [-1, 1]; the features are the 2048-d output of the final average pool.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.data.download import RemoteFile, fetch
from gankit.errors import GankitError

INCEPTION_ENV = "GANKIT_INCEPTION"
INCEPTION_WEIGHTS = RemoteFile(
    folder="inception",
    name="pt_inception-2015-12-05-6726825d.pth",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    urls=(
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
        "weights-inception-2015-12-05-6726825d.pth",
    ),
    size=95_628_359,
)
INPUT_SIDE = 299
FEATURE_DIM = 2048
BATCH = 64  # images per forward pass: ~1.3 GB of activations at 299x299 in float32


class BasicConv2d(nn.Module):
    """Convolution without bias -> batch norm (TensorFlow's epsilon 0.001) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv_options):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_options)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _pool_3x3(x: Tensor) -> Tensor:
    """TensorFlow's 3x3 average pool: the zero padding is not counted in the average."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pooled branches -> 224 + pool_features channels."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(_pool_3x3(x))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction: 384 + 96 + in_channels (max-pooled) channels."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), branch3x3dbl, branch_pool], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (1x7 then 7x1) -> 768 channels."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4):
            branch7x7dbl = layer(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_5(branch7x7dbl)
        branch_pool = self.branch_pool(_pool_3x3(x))
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], 1)


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction: 320 + 192 + in_channels (max-pooled) channels."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = x
        for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            branch7x7x3 = layer(branch7x7x3)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch7x7x3, branch_pool], 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 branches -> 2048 channels.

    ``max_pool``: the FID network's last block (Mixed_7c) max-pools its pooled branch where the
    paper (and its first E block) average-pool; pytorch-fid keeps this quirk of the TF graph.
    """

    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _pool_3x3(x)
        branch_pool = self.branch_pool(pooled)
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3; ``features`` maps images in [-1, 1] to (n, 2048) pool features.

    Attribute names follow torchvision / pytorch-fid so that their weights file loads strictly; the
    1008-way ``fc`` layer is there only because the file holds it (FID does not use the logits).
    """

    feature_dim = FEATURE_DIM

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)  # 299 -> 149
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)  # -> 147
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)  # max pool -> 73
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)  # -> 71, max pool -> 35
        self.Mixed_5b = InceptionA(192, pool_features=32)  # 256 x 35 x 35
        self.Mixed_5c = InceptionA(256, pool_features=64)  # 288
        self.Mixed_5d = InceptionA(288, pool_features=64)  # 288
        self.Mixed_6a = InceptionB(288)  # 768 x 17 x 17
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)  # 1280 x 8 x 8
        self.Mixed_7b = InceptionE(1280, max_pool=False)  # 2048 x 8 x 8
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: Tensor) -> Tensor:
        """(n, 3, 299, 299) in [-1, 1] -> (n, 2048) average-pooled features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        blocks = (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c)
        for block in (*blocks, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def features(self, images: Tensor) -> Tensor:
        """(n, C, H, W) in [-1, 1], C in {1, 3}, any size -> (n, 2048)."""
        return self(to_inception_input(images))


def to_inception_input(images: Tensor) -> Tensor:
    """pytorch-fid's preprocessing of 8-bit images: (n, C, H, W) in [-1, 1] -> (n, 3, 299, 299)."""
    pixels = ((images.float() + 1) * 127.5).round().clamp(0, 255) / 255  # as if read from a PNG
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    pixels = F.interpolate(pixels, size=(INPUT_SIDE, INPUT_SIDE), mode="bilinear", align_corners=False)
    return 2 * pixels - 1


def build_network() -> nn.Module:
    """The network the weights are loaded into (tests swap in a small stand-in with ``features``)."""
    return FIDInceptionV3()


def weights_path() -> Path:
    """$GANKIT_INCEPTION if set, else the cached download of the pinned weights (fetched once)."""
    local = os.environ.get(INCEPTION_ENV)
    if local:
        path = Path(local).expanduser()
        if not path.is_file():
            raise GankitError(f"${INCEPTION_ENV} names {path}, which is not a file")
        return path
    return fetch(INCEPTION_WEIGHTS)


@functools.cache
def _load(path: Path, mtime_ns: int) -> nn.Module:
    network = build_network()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickle, zip and weights_only refusals all mean "not weights"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GankitError(f"{path} is not a PyTorch weights file: {first}") from None
    if not isinstance(state, dict):
        raise GankitError(f"{path} does not hold a state dict (got {type(state).__name__})")
    missing = sorted(set(network.state_dict()) - set(state))
    unexpected = sorted(set(state) - set(network.state_dict()))
    if missing or unexpected:
        raise GankitError(
            f"{path} is not the FID Inception's state dict ({len(missing)} keys missing, e.g. "
            f"{missing[:1]}; {len(unexpected)} unexpected, e.g. {unexpected[:1]}); use "
            f"{INCEPTION_WEIGHTS.name} (pytorch-fid) or torch-fidelity's copy of it"
        )
    expected = network.state_dict()
    wrong = [key for key, value in state.items() if getattr(value, "shape", None) != expected[key].shape]
    if wrong:
        raise GankitError(
            f"{path} has the FID Inception's keys but not its shapes ({len(wrong)} differ, e.g. {wrong[0]}: "
            f"{tuple(getattr(state[wrong[0]], 'shape', ()))} instead of {tuple(expected[wrong[0]].shape)})"
        )
    network.load_state_dict(state)
    return network.eval()


def load_inception() -> nn.Module:
    """The FID Inception with its weights, in eval mode (loaded once per process and file)."""
    path = weights_path()
    return _load(path, path.stat().st_mtime_ns)


def real_features(images: Tensor) -> np.ndarray:
    """:func:`inception_features` of a real image set, kept on disk after the first time.

    Real sets are scored again and again (every run on CIFAR-10 against the same 10,000 images) and
    each costs minutes on a GPU, hours on a CPU. The file is keyed by the images' bytes and the
    weights' SHA-256: <cache>/inception/features-<key>.npy, written atomically.
    """
    from gankit.data.download import cache_dir, sha256_file

    digest = hashlib.sha256(images.numpy().tobytes())
    digest.update(sha256_file(weights_path()).encode())
    stored = cache_dir() / INCEPTION_WEIGHTS.folder / f"features-{digest.hexdigest()[:32]}.npy"
    if stored.is_file():
        with contextlib.suppress(OSError, ValueError):
            features = np.load(stored, allow_pickle=False)
            if features.shape[0] == len(images) and features.ndim == 2:
                return features
    features = inception_features(images)
    temporary = stored.with_name(f".{stored.name}.tmp-{os.getpid()}")
    try:
        stored.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as handle:
            np.save(handle, features)
        os.replace(temporary, stored)
    except OSError:  # a read-only or full cache only costs the recomputation next time
        temporary.unlink(missing_ok=True)
    return features


@torch.no_grad()
def inception_features(images: np.ndarray | Tensor, network: nn.Module | None = None) -> np.ndarray:
    """2048-d FID Inception features (n, 2048), float64, of images (n, C, H, W) in [-1, 1].

    Runs on a GPU when there is one (the net is large: ~6 GFLOPs per image at 299x299).
    """
    network = network or load_inception()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    network = network.to(device)
    images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    parts = [network.features(chunk.to(device)).double().cpu() for chunk in images.split(BATCH)]
    return torch.cat(parts).numpy()
