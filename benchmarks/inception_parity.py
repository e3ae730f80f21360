"""Does `gankit eval --features inception` compute pytorch-fid's FID? The two, side by side.

gankit writes the FID Inception out itself (src/gankit/metrics/inception.py) so that it needs no
torchvision. This script checks it against the reference, pytorch-fid (Seitzer 2020), on the same
weights and the same images:

1. One weights file in the layout of pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``, with
   *random* values (this machine has no network for the real 95 MB file): every convolution drawn
   He-normal, every batch norm's scale, shift, running mean and running variance drawn too, so a
   wrong epsilon, a wrong pool, a missing block or a swapped branch changes the features. pytorch-fid
   loads it strictly into its own network (torchvision's Inception-v3 patched into the "FID
   Inception"), gankit strictly into its own (through $GANKIT_INCEPTION, as a user would).
2. Image sets written as 8-bit PNG files and scored by pytorch-fid from the files (its command-line
   path: PIL -> ToTensor -> resize to 299 -> [-1, 1]), and scored by gankit from the same pixels as
   tensors in [-1, 1] (its `gankit eval` path). Grey 8x8 digits and colour stacked digits.
3. Reported: the largest difference of any of the 2,048 features of any image, and the FID of each
   pair of sets by each tool (pytorch-fid's scipy ``sqrtm`` beside gankit's torchmetrics).

By default it does not use the real weights' values: both tools read the same file by the same
keys, and gankit verifies that file's SHA-256 on download, so equal features here mean equal
features there. With a network, ``--real-weights`` runs the same comparison on the real file, each
tool downloading it its own way (pytorch-fid from its release URL, gankit into its checksummed
cache). With fewer images than the 2,048 feature dimensions the covariances are singular; the FIDs
are then only compared with each other, not with published numbers.

Needs pytorch-fid and torchvision beside gankit (not gankit dependencies):

    pip install pytorch-fid==0.3.0 torchvision   # the torchvision that matches torch 2.13 (0.28)
    python benchmarks/inception_parity.py        # writes docs/benchmarks/inception_parity.md
    python benchmarks/inception_parity.py --real-weights --out /tmp/parity.md   # needs a network
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.data.images import load_images
from gankit.metrics.images import frechet_distance
from gankit.metrics.inception import (
    INCEPTION_ENV,
    INPUT_SIDE,
    FIDInceptionV3,
    inception_features,
    load_inception,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "inception_parity.md"
WEIGHTS_SEED = 0


def import_pytorch_fid():
    """pytorch_fid's inception and fid_score modules.

    A torchvision wheel built for CUDA beside a CPU-only torch cannot load its compiled operators,
    and ``import torchvision`` then fails; pytorch-fid needs only torchvision's pure-Python Inception
    and transforms (torchmetrics its models), so in that case the package is imported without its
    ``__init__``, which is what loads the operators.
    """
    try:
        import pytorch_fid.fid_score as fid_score
        import pytorch_fid.inception as fid_inception
    except (RuntimeError, OSError) as error:
        print(f"torchvision did not import ({str(error).splitlines()[0]}); using its pure-Python modules")
        for name in [name for name in sys.modules if name.split(".")[0] in ("torchvision", "pytorch_fid")]:
            del sys.modules[name]
        package = types.ModuleType("torchvision")  # the package without its __init__
        package.__path__ = list(importlib.util.find_spec("torchvision").submodule_search_locations)
        package.__version__ = importlib.metadata.version("torchvision")
        sys.modules["torchvision"] = package
        package.models = importlib.import_module("torchvision.models")
        package.transforms = importlib.import_module("torchvision.transforms")
        import pytorch_fid.fid_score as fid_score
        import pytorch_fid.inception as fid_inception
    return fid_inception, fid_score


def random_weights(seed: int) -> dict[str, torch.Tensor]:
    """A state dict in the FID Inception's layout, every tensor drawn at random (He-normal convs)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in FIDInceptionV3().state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
        elif key.endswith("conv.weight"):
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=generator) * (2 / fan_in) ** 0.5
        elif key.endswith("running_var") or key.endswith("bn.weight"):
            state[key] = 0.5 + torch.rand(value.shape, generator=generator)  # in [0.5, 1.5)
        else:  # running means, batch-norm shifts, the fc layer
            state[key] = 0.1 * torch.randn(value.shape, generator=generator)
    return state


def image_sets(count: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Two disjoint halves of each data set, (n, C, H, W) in [-1, 1]."""
    digits = load_images("digits").all()
    stacked = load_images("stacked-digits").all()
    return {
        "grey 8x8 digits": (digits[:count], digits[count : 2 * count]),
        "colour 8x8 stacked digits": (stacked[:count], stacked[count : 2 * count]),
    }


def write_pngs(images: torch.Tensor, folder: Path) -> None:
    """8-bit PNG files of images in [-1, 1], the quantisation gankit applies too."""
    folder.mkdir(parents=True)
    pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    for index, image in enumerate(pixels):
        mode = "L" if image.shape[0] == 1 else "RGB"
        array = image[0] if mode == "L" else image.transpose(1, 2, 0)
        Image.fromarray(array, mode).save(folder / f"{index:05d}.png")


def pytorch_fid_features(fid_inception, fid_score, weights: Path | None, folder: Path) -> np.ndarray:
    """pytorch-fid's 2,048-d activations of the PNG files in folder, from its own network.

    ``weights``: a file to load instead of pytorch-fid's download of the real weights (None: those).
    """
    with contextlib.ExitStack() as stack:
        if weights is not None:
            original = fid_inception.load_state_dict_from_url
            fid_inception.load_state_dict_from_url = lambda *args, **kwargs: torch.load(weights)
            stack.callback(setattr, fid_inception, "load_state_dict_from_url", original)
        model = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    files = sorted(folder.glob("*.png"))
    return fid_score.get_activations(files, model, batch_size=50, dims=2048, device="cpu", num_workers=0)


@torch.no_grad()
def unquantised_features(images: torch.Tensor) -> np.ndarray:
    """The control: gankit's network on the same images *without* the 8-bit quantisation."""
    network = load_inception()
    pixels = F.interpolate(
        (images + 1) / 2, size=(INPUT_SIDE, INPUT_SIDE), mode="bilinear", align_corners=False
    )
    return network(2 * pixels.expand(-1, 3, -1, -1) - 1).double().numpy()


def pytorch_fid_distance(fid_score, real: np.ndarray, fake: np.ndarray) -> float:
    mu1, sigma1 = real.mean(axis=0), np.cov(real, rowvar=False)
    mu2, sigma2 = fake.mean(axis=0), np.cov(fake, rowvar=False)
    return float(fid_score.calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images per set (default 200)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--real-weights", action="store_true", help="the real weights (needs a network)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    fid_inception, fid_score = import_pytorch_fid()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        weights = None
        if not args.real_weights:
            weights = Path(scratch) / "random-fid-inception.pth"
            torch.save(random_weights(WEIGHTS_SEED), weights)
            os.environ[INCEPTION_ENV] = str(weights)
        for name, pair in image_sets(args.n).items():
            reference, ours = [], []
            for side, images in zip("ab", pair, strict=True):
                folder = Path(scratch) / f"{name}-{side}".replace(" ", "-")
                write_pngs(images, folder)
                reference.append(pytorch_fid_features(fid_inception, fid_score, weights, folder))
                ours.append(inception_features(images))
            gap = max(float(np.abs(a - b).max()) for a, b in zip(reference, ours, strict=True))
            control = float(np.abs(reference[0] - unquantised_features(pair[0])).max())
            scale = max(float(np.abs(a).max()) for a in reference)
            fid_reference = pytorch_fid_distance(fid_score, *reference)
            fid_ours = frechet_distance(*ours)
            rows.append(
                (name, args.n, tuple(pair[0].shape[1:]), gap, control, scale, fid_reference, fid_ours)
            )
            print(rows[-1], flush=True)
    args.out.write_text(render(rows, args))
    print(f"wrote {args.out}")


def render(rows, args) -> str:
    versions = ", ".join(
        f"{package} {importlib.metadata.version(package)}"
        for package in ("torch", "torchvision", "pytorch-fid")
    )
    command = "python benchmarks/inception_parity.py" + (f" --n {args.n}" if args.n != 200 else "")
    command += " --real-weights" if args.real_weights else ""
    if args.real_weights:
        weights = [
            "The real weights (pt_inception-2015-12-05-6726825d.pth), downloaded by each tool its own way,",
        ]
    else:
        weights = [
            f"The same randomly drawn weights in the FID Inception's layout (seed {WEIGHTS_SEED}; every",
            "convolution, batch-norm scale, shift, running mean and variance drawn), written to one file",
        ]
    lines = [
        "# FID Inception: gankit against pytorch-fid",
        "",
        f"Generated by `{command}`; do not edit by hand.",
        "",
        *weights,
        "loaded strictly by both tools; each set's images written as 8-bit PNG files for pytorch-fid",
        "(its own loader, resize and network) and given to gankit as tensors (`gankit eval`'s path).",
        f"{args.n} images a set, so the covariances are singular (fewer images than 2,048 features): the",
        "FIDs are for comparing the two tools, not with published numbers.",
        "",
        "| images | n a set | shape | max \\|feature difference\\| | control: without 8-bit quantisation "
        "| max \\|feature\\| | FID, pytorch-fid | FID, gankit | relative FID difference |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, count, shape, gap, control, scale, fid_reference, fid_ours in rows:
        relative = abs(fid_ours - fid_reference) / fid_reference
        lines.append(
            f"| {name} | {count} | {'x'.join(map(str, shape))} | {gap:.2e} | {control:.2e} | {scale:.3g} | "
            f"{fid_reference:.6g} | {fid_ours:.6g} | {relative:.1e} |"
        )
    lines += [
        "",
        "The control column is the first set's feature difference when gankit skips one step of",
        "pytorch-fid's preprocessing (rounding to 8 bits, as a PNG file does): a change that small",
        "moves features by about 1e-2, a thousand times the gap between the two tools. That gap is",
        "float32 rounding: the tools run batches of different sizes (50 and 64), which sum in another",
        "order. The FIDs then differ by a few parts in 100,000 (pytorch-fid's scipy `sqrtm` against",
        "torchmetrics, on singular covariances).",
        "",
        "What this shows: gankit's network, preprocessing (8-bit quantisation, grey to three channels,",
        "bilinear resize to 299x299, [-1, 1]) and Fréchet distance give pytorch-fid's features and FID",
        "up to float32 rounding, on both grey and colour images.",
        "",
    ]
    if not args.real_weights:
        lines += [
            "What it does not show: the real weights' values, which the machine that wrote this page could",
            "not download; both tools read the same file by the same keys, and gankit checks its SHA-256",
            "(6726825d...) when it fetches it. `--real-weights` repeats the check on them where there is a",
            "network.",
            "",
        ]
    lines += [
        f"Versions: {versions}; Python {platform.python_version()}, {platform.machine()}, CPU.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
