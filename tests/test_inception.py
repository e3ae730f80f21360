"""FID on Inception features: the real architecture's layout and arithmetic, and the plumbing with a stand-in.

The real weights (95 MB) are never downloaded here. The architecture is checked against the weights
file's layout (566 tensors, pytorch-fid's names and shapes), and its arithmetic, under seeded random
weights, against a forward pass written out by hand in torch.nn.functional: the preprocessing, every
kind of block with pytorch-fid's TensorFlow quirks, the pooled features. The download / verify / cache
path and the metric plumbing run with a tiny stand-in network served from a loopback HTTP server.
"""

import dataclasses
import functools
import hashlib
import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gankit.data.images import load_images
from gankit.errors import GankitError
from gankit.metrics import images as image_metrics_module
from gankit.metrics import inception
from gankit.metrics.inception import FIDInceptionV3, to_inception_input
from loopback import LoopbackServer, closed_port_url

WEIGHTS_PATH = f"/{inception.INCEPTION_WEIGHTS.folder}/{inception.INCEPTION_WEIGHTS.name}"


class StandIn(nn.Module):
    """Same interface as FIDInceptionV3 (``features``: images in [-1, 1] -> (n, d)), 12 parameters."""

    def __init__(self):
        super().__init__()
        self.mix = nn.Linear(6, 6)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = images.expand(-1, 3, -1, -1)  # no 299x299 resize: 1,797 digits at that size take a minute
        stats = torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)  # (n, 6)
        return self.mix(stats)


def stand_in_weights() -> bytes:
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(StandIn().state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    """The stand-in's weights on a loopback server, pinned as the Inception weights for the test."""
    payload = stand_in_weights()
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("GANKIT_INCEPTION", raising=False)
    monkeypatch.setattr(inception, "build_network", StandIn)
    pinned = dataclasses.replace(inception.INCEPTION_WEIGHTS, sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(inception, "INCEPTION_WEIGHTS", pinned)
    with LoopbackServer() as server:
        monkeypatch.setenv("GANKIT_DATA_URL", server.url)
        server.files[WEIGHTS_PATH] = payload
        yield server


@pytest.fixture
def samples_file(tmp_path):
    path = tmp_path / "samples.npy"
    np.save(path, np.random.default_rng(0).uniform(-1, 1, size=(60, 1, 8, 8)).astype(np.float32))
    return path


def test_the_architecture_has_pytorch_fids_weights_layout():
    state = FIDInceptionV3().state_dict()
    # 94 conv + batch-norm units x (weight, bn weight, bias, running mean, var, count) + fc weight, bias
    assert len(state) == 94 * 6 + 2 == 566
    shapes = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7c.branch3x3dbl_3b.bn.running_var": (384,),
        "fc.weight": (1008, 2048),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(key.startswith("AuxLogits") for key in state)
    # torchvision's inception_v3: 27,161,264 parameters, of which 3,326,696 in the auxiliary head
    # (absent here) and 16,392 more in a 1008-way fc than in its 1000-way one.
    assert sum(p.numel() for p in FIDInceptionV3().parameters()) == 27_161_264 - 3_326_696 + 16_392


# --- The FID Inception by hand -------------------------------------------------------------------------
# An independent forward pass in plain torch.nn.functional, written from pytorch-fid's FIDInceptionV3 (and
# torchvision's inception_v3 it patches), reading only the weights from the module's state dict.


def unit(x: torch.Tensor, weights: dict, name: str, stride: int = 1, same: bool = True) -> torch.Tensor:
    """BasicConv2d: conv, no bias ("same" zero padding unless told) -> eval batch norm, eps 1e-3 -> ReLU."""
    kernel = weights[f"{name}.conv.weight"]
    padding = (kernel.shape[2] // 2, kernel.shape[3] // 2) if same else 0
    y = F.conv2d(x, kernel, stride=stride, padding=padding)

    def bn(key):
        return weights[f"{name}.bn.{key}"].view(1, -1, 1, 1)

    normalised = (y - bn("running_mean")) / torch.sqrt(bn("running_var") + 1e-3)
    return torch.relu(normalised * bn("weight") + bn("bias"))


def mean_of_in_image_neighbours(x: torch.Tensor) -> torch.Tensor:
    """TF's 3x3 average pool: the sum over the neighbours inside the image over their count (4, 6 or 9)."""
    sums = F.conv2d(x, torch.ones(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1])
    counts = F.conv2d(torch.ones_like(x[:1, :1]), torch.ones(1, 1, 3, 3), padding=1)
    return sums / counts


def block_a(x, weights, name):
    def u(branch, inp):
        return unit(inp, weights, f"{name}.{branch}")

    return torch.cat([
        u("branch1x1", x),
        u("branch5x5_2", u("branch5x5_1", x)),
        u("branch3x3dbl_3", u("branch3x3dbl_2", u("branch3x3dbl_1", x))),
        u("branch_pool", mean_of_in_image_neighbours(x)),
    ], 1)  # fmt: skip


def block_b(x, weights, name):
    def u(branch, inp, stride=1):
        return unit(inp, weights, f"{name}.{branch}", stride=stride, same=stride == 1)

    dbl = u("branch3x3dbl_3", u("branch3x3dbl_2", u("branch3x3dbl_1", x)), stride=2)
    return torch.cat([u("branch3x3", x, stride=2), dbl, F.max_pool2d(x, 3, stride=2)], 1)


def block_c(x, weights, name):
    def u(branch, inp):
        return unit(inp, weights, f"{name}.{branch}")

    dbl = x
    for index in range(1, 6):  # 1x1, 7x1, 1x7, 7x1, 1x7
        dbl = u(f"branch7x7dbl_{index}", dbl)
    return torch.cat([
        u("branch1x1", x),
        u("branch7x7_3", u("branch7x7_2", u("branch7x7_1", x))),
        dbl,
        u("branch_pool", mean_of_in_image_neighbours(x)),
    ], 1)  # fmt: skip


def block_d(x, weights, name):
    def u(branch, inp, stride=1):
        return unit(inp, weights, f"{name}.{branch}", stride=stride, same=stride == 1)

    branch7x7x3 = u("branch7x7x3_3", u("branch7x7x3_2", u("branch7x7x3_1", x)))
    return torch.cat([
        u("branch3x3_2", u("branch3x3_1", x), stride=2),
        u("branch7x7x3_4", branch7x7x3, stride=2),
        F.max_pool2d(x, 3, stride=2),
    ], 1)  # fmt: skip


def block_e(x, weights, name, max_pool: bool):
    """Mixed_7b (average pool of the in-image neighbours) or Mixed_7c (max pool, pytorch-fid's E_2)."""

    def u(branch, inp):
        return unit(inp, weights, f"{name}.{branch}")

    branch3x3 = u("branch3x3_1", x)
    dbl = u("branch3x3dbl_2", u("branch3x3dbl_1", x))
    pooled = F.max_pool2d(x, 3, stride=1, padding=1) if max_pool else mean_of_in_image_neighbours(x)
    return torch.cat([
        u("branch1x1", x),
        u("branch3x3_2a", branch3x3), u("branch3x3_2b", branch3x3),
        u("branch3x3dbl_3a", dbl), u("branch3x3dbl_3b", dbl),
        u("branch_pool", pooled),
    ], 1)  # fmt: skip


def last_block_by_hand(x: torch.Tensor, weights: dict) -> torch.Tensor:
    """(n, 3, 299, 299) -> Mixed_7c's output (n, 2048, 8, 8)."""
    x = unit(x, weights, "Conv2d_1a_3x3", stride=2, same=False)  # 149
    x = unit(x, weights, "Conv2d_2a_3x3", same=False)  # 147
    x = F.max_pool2d(unit(x, weights, "Conv2d_2b_3x3"), 3, stride=2)  # 73
    x = unit(unit(x, weights, "Conv2d_3b_1x1"), weights, "Conv2d_4a_3x3", same=False)  # 71
    x = F.max_pool2d(x, 3, stride=2)  # 35
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
        x = block_a(x, weights, name)
    x = block_b(x, weights, "Mixed_6a")  # 17
    for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
        x = block_c(x, weights, name)
    x = block_d(x, weights, "Mixed_7a")  # 8
    return block_e(block_e(x, weights, "Mixed_7b", max_pool=False), weights, "Mixed_7c", max_pool=True)


def bilinear_by_hand(pixels: torch.Tensor, side: int) -> torch.Tensor:
    """Bilinear resize to side x side with half-pixel centres (align_corners=False), no antialiasing."""

    def interpolation_matrix(n_in: int) -> torch.Tensor:  # (side, n_in): output row <- input rows
        source = ((torch.arange(side, dtype=torch.float64) + 0.5) * n_in / side - 0.5).clamp(min=0)
        low = source.floor().long()
        high = (low + 1).clamp(max=n_in - 1)
        matrix = torch.zeros(side, n_in, dtype=torch.float64)
        matrix[torch.arange(side), low] += 1 - (source - low)
        matrix[torch.arange(side), high] += source - low
        return matrix

    rows, columns = interpolation_matrix(pixels.shape[2]), interpolation_matrix(pixels.shape[3])
    return torch.einsum("yh,nchw,xw->ncyx", rows, pixels.double(), columns).float()


def preprocess_by_hand(images: torch.Tensor) -> torch.Tensor:
    """pytorch-fid on PNGs: 8-bit pixels / 255, grey repeated to RGB, resized to 299, then 2 p - 1."""
    pixels = torch.round((images + 1) / 2 * 255).clamp(0, 255) / 255
    pixels = pixels.repeat(1, 3 // pixels.shape[1], 1, 1)
    return 2 * bilinear_by_hand(pixels, 299) - 1


@pytest.fixture(scope="module")
def random_inception():
    """The FID Inception with seeded random weights: He-scaled convolutions and batch norms whose every
    statistic counts (scale, shift, running mean and variance all away from 1 and 0), so that activations
    stay O(1) through the 94 units (Mixed_7c's std is ~1) and a wrong epsilon shows."""
    rng = torch.Generator().manual_seed(0)
    network = FIDInceptionV3().eval()
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=rng) * (2 / fan_in) ** 0.5)
            elif isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=rng) + 0.5)
                module.bias.copy_(torch.rand(n, generator=rng) * 0.4 - 0.1)
                module.running_mean.copy_(torch.rand(n, generator=rng) * 0.4 - 0.2)
                module.running_var.copy_(torch.rand(n, generator=rng) * 1.5 + 0.5)
    return network


def test_preprocessing_is_pytorch_fids_bilinear_resize_of_the_8_bit_pixels_mapped_to_minus_one_one():
    rng = torch.Generator().manual_seed(1)
    grey = torch.rand(2, 1, 8, 8, generator=rng) * 2 - 1  # upsampled 8 -> 299
    colour = torch.rand(1, 3, 13, 400, generator=rng) * 2 - 1  # up in height, down in width (no antialias)
    for images in (grey, colour):
        # 1e-4: PyTorch places the source pixels in float32 (3e-5 off at 400 px); a 1/255 step is 8e-3
        torch.testing.assert_close(to_inception_input(images), preprocess_by_hand(images), rtol=0, atol=1e-4)


BLOCKS = {  # block -> (its hand computation, input channels, input side)
    "Mixed_5b": (block_a, 192, 9),  # InceptionA: FIDInceptionA's average pool without the padding
    "Mixed_6a": (block_b, 288, 9),
    "Mixed_6b": (block_c, 768, 9),  # InceptionC: FIDInceptionC's average pool without the padding
    "Mixed_7a": (block_d, 768, 9),
    "Mixed_7b": (functools.partial(block_e, max_pool=False), 1280, 5),  # FIDInceptionE_1
    "Mixed_7c": (functools.partial(block_e, max_pool=True), 2048, 5),  # FIDInceptionE_2: max pool
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_each_kind_of_inception_block_matches_its_hand_computation(random_inception, name):
    by_hand, channels, side = BLOCKS[name]
    x = torch.rand(2, channels, side, side, generator=torch.Generator().manual_seed(2))  # >= 0, as after ReLU
    with torch.no_grad():
        expected = by_hand(x, random_inception.state_dict(), name)
        torch.testing.assert_close(getattr(random_inception, name)(x), expected, rtol=1e-5, atol=1e-5)


def test_features_are_the_spatial_mean_of_the_last_block_of_the_hand_computed_network(random_inception):
    rng = torch.Generator().manual_seed(3)
    grey = torch.rand(2, 1, 8, 8, generator=rng) * 2 - 1
    colour = torch.rand(1, 3, 32, 32, generator=rng) * 2 - 1
    weights = random_inception.state_dict()
    last_block = []
    hook = random_inception.Mixed_7c.register_forward_hook(lambda module, inputs, out: last_block.append(out))
    try:
        for images in (grey, colour):
            with torch.no_grad():
                features = random_inception.features(images)
                expected_block = last_block_by_hand(preprocess_by_hand(images), weights)
            assert features.shape == (len(images), 2048)
            torch.testing.assert_close(last_block.pop(), expected_block, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(features, expected_block.mean(dim=(2, 3)), rtol=1e-5, atol=1e-5)
    finally:
        hook.remove()


def test_preprocessing_quantises_resizes_to_299_and_repeats_grey():
    images = torch.tensor([-1.0, 1.0, 0.003]).reshape(3, 1, 1, 1).expand(3, 1, 4, 4)
    x = to_inception_input(images)
    assert x.shape == (3, 3, 299, 299)
    torch.testing.assert_close(x[0], torch.full_like(x[0], -1.0))
    torch.testing.assert_close(x[1], torch.full_like(x[1], 1.0))
    torch.testing.assert_close(x[2], torch.full_like(x[2], 2 * 128 / 255 - 1))  # 0.003 -> pixel 128


def test_weights_are_downloaded_verified_cached_and_scored_by_the_cli(stand_in, samples_file, cli, tmp_path):
    code, out, err = cli("eval", samples_file, "--data", "digits", "--features", "inception", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["features"] == "inception" and metrics["n_reference"] == 898
    assert metrics["fid"] > metrics["floor_fid"] >= 0  # uniform noise is far from digits
    assert (tmp_path / "cache" / "inception" / inception.INCEPTION_WEIGHTS.name).is_file()
    digits = json.loads(cli("eval", samples_file, "--data", "digits", "--json")[1])
    assert digits["features"] == "digits" and digits["fid"] != metrics["fid"]
    code, out, _ = cli("eval", samples_file, "--data", "digits", "--features", "inception")
    assert code == 0 and "(Inception features)" in out
    assert len(stand_in.requests) == 1  # downloaded once, then read from the cache


def test_a_local_weights_file_named_by_gankit_inception_needs_no_network(monkeypatch, tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(stand_in_weights())
    monkeypatch.setattr(inception, "build_network", StandIn)
    monkeypatch.setenv("GANKIT_INCEPTION", str(path))
    monkeypatch.setenv("GANKIT_DATA_URL", closed_port_url())
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    features = inception.inception_features(np.zeros((4, 1, 8, 8), dtype=np.float32))
    assert features.shape == (4, 6) and features.dtype == np.float64
    assert not (tmp_path / "cache").exists()


def test_offline_inception_fails_in_one_line_naming_url_and_path(monkeypatch, samples_file, cli, tmp_path):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("GANKIT_INCEPTION", raising=False)
    offline = closed_port_url()
    monkeypatch.setenv("GANKIT_DATA_URL", offline)
    code, _, err = cli("eval", samples_file, "--data", "digits", "--features", "inception")
    manual = tmp_path / "cache" / "inception" / inception.INCEPTION_WEIGHTS.name
    assert code == 2 and err.count("\n") == 1, err
    assert f"could not download {offline}{WEIGHTS_PATH}" in err and f"put the file at {manual} by hand" in err


def test_a_weights_file_with_the_wrong_checksum_is_deleted(stand_in, samples_file, cli, tmp_path):
    stand_in.files[WEIGHTS_PATH] = b"tampered"
    code, _, err = cli("eval", samples_file, "--data", "digits", "--features", "inception")
    assert code == 2 and "does not match its SHA-256" in err and err.count("\n") == 1
    assert not (tmp_path / "cache").exists()


def test_bad_local_weights_are_refused_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(inception, "build_network", StandIn)
    cases = {
        "absent.pth": (None, "which is not a file"),
        "junk.pth": (b"not a torch file", "is not a PyTorch weights file"),
        "other.pth": ({"conv.weight": torch.zeros(1)}, "is not the FID Inception's state dict"),
        "shape.pth": ({"mix.weight": torch.zeros(2, 2), "mix.bias": torch.zeros(6)}, "not its shapes"),
        "list.pth": ([1, 2], "does not hold a state dict"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            torch.save(content, path)
        monkeypatch.setenv("GANKIT_INCEPTION", str(path))
        with pytest.raises(GankitError, match=message) as raised:
            inception.load_inception()
        assert "\n" not in str(raised.value), name


class Payload:
    """Any class: unpickling it would run code, so weights_only loading must refuse it."""


def test_pickled_objects_in_a_weights_file_are_refused(monkeypatch, tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"mix.weight": torch.zeros(6, 6), "payload": Payload()}, path)
    monkeypatch.setenv("GANKIT_INCEPTION", str(path))
    monkeypatch.setattr(inception, "build_network", StandIn)
    with pytest.raises(GankitError, match="is not a PyTorch weights file"):
        inception.load_inception()


def test_large_real_sets_are_scored_on_a_fixed_subset(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    seen = []

    def fake_features(images, network=None):
        seen.append(len(images))
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1)[:, :3]

    monkeypatch.setattr(inception, "inception_features", fake_features)
    monkeypatch.setattr(inception, "weights_path", lambda: __import__("pathlib").Path(__file__))
    monkeypatch.setattr(image_metrics_module, "INCEPTION_REAL_LIMIT", 40)
    real = torch.rand(100, 1, 2, 2) * 2 - 1
    reference, _, n_floor = image_metrics_module._reference_and_floor(real, "inception")
    assert seen == [40] and len(reference) == 20 and n_floor == 20


def test_feature_flags_are_checked(cli, samples_file, tmp_path):
    code, _, err = cli("eval", samples_file, "--data", "digits", "--features", "vgg")
    assert code == 2 and "--features must be one of digits, inception" in err
    toy = tmp_path / "toy.npy"
    np.save(toy, np.zeros((10, 2), dtype=np.float32))
    code, _, err = cli("eval", toy, "--data", "ring", "--features", "inception")
    assert code == 2 and "applies to image data only" in err and err.count("\n") == 1


def test_real_features_are_computed_once_and_then_read_from_disk(
    stand_in, samples_file, monkeypatch, tmp_path
):
    calls = []
    compute = inception.inception_features
    monkeypatch.setattr(
        inception, "inception_features", lambda images: calls.append(len(images)) or compute(images)
    )
    data = load_images("digits")
    samples = np.load(samples_file)
    first = image_metrics_module.image_metrics(samples, data, features="inception")
    monkeypatch.setattr(image_metrics_module, "_FLOOR_CACHE", {})  # as in a new process
    second = image_metrics_module.image_metrics(samples, data, features="inception")
    assert first == second and calls == [1797, 60, 60]  # real images once, samples each time
    assert len(list((tmp_path / "cache" / "inception").glob("features-*.npy"))) == 1
