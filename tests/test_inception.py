"""FID on Inception features: the real architecture's shape, and the plumbing with a stand-in network.

The real weights (95 MB) are never downloaded here. The architecture is checked against the weights
file's layout (566 tensors, pytorch-fid's names and shapes); the download / verify / cache path and
the metric plumbing run with a tiny stand-in network served from a loopback HTTP server.
"""

import dataclasses
import hashlib
import io
import json

import numpy as np
import pytest
import torch
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


def test_a_forward_pass_gives_2048_features_for_grey_and_colour_images():
    torch.manual_seed(0)
    network = FIDInceptionV3().eval()
    with torch.no_grad():
        grey = network.features(torch.rand(1, 1, 8, 8) * 2 - 1)
        colour = network.features(torch.rand(1, 3, 32, 32) * 2 - 1)
    assert grey.shape == colour.shape == (1, 2048) and torch.isfinite(grey).all()


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
