"""Check gankit's FID Inception against pytorch-fid's, feature for feature, with the real weights.

gankit's tests check the network's layout (names, shapes, parameter count) offline; this script
checks its numbers. It needs a network (or the weights in the cache) and pytorch-fid, which needs
torchvision, so run it in a separate virtual environment, not gankit's own:

    python -m venv /tmp/fidcheck && /tmp/fidcheck/bin/pip install pytorch-fid -e .
    /tmp/fidcheck/bin/python scripts/check_inception_against_pytorch_fid.py

(if pip cannot satisfy gankit's pinned torch next to torchvision there, install gankit's other
dependencies by hand and run with PYTHONPATH=src instead of ``-e .``).

It feeds the same random 8-bit images through both (pytorch-fid's InceptionV3, block 3, inputs in
[0, 1]; gankit's ``features``, inputs in [-1, 1]) and prints the largest difference, which should
be at float32 rounding level (~1e-5 of features of size ~1).
"""

from __future__ import annotations

import torch
from pytorch_fid.inception import InceptionV3

from gankit.metrics.inception import load_inception


def main() -> None:
    torch.manual_seed(0)
    pixels = torch.randint(0, 256, (8, 3, 32, 32)).float()
    theirs_net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    ours_net = load_inception()
    with torch.no_grad():
        theirs = theirs_net(pixels / 255)[0].flatten(1)
        ours = ours_net.features(pixels / 127.5 - 1)
    difference = (theirs - ours).abs().max().item()
    size = ours.abs().mean().item()
    print(f"features {tuple(ours.shape)}, typical size {size:.3f}, max |difference| {difference:.2e}")
    if difference > 1e-3:
        raise SystemExit("gankit's Inception does not match pytorch-fid's")


if __name__ == "__main__":
    main()
