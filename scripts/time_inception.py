"""How long the FID Inception takes per image here: the cost of `gankit eval --features inception`.

    python scripts/time_inception.py                 # CPU, all threads, batches of 16 grey 28x28 images
    python scripts/time_inception.py --threads 1 --batches 2

Random weights (the cost does not depend on them), so it needs no download. Prints seconds per
image and the resulting estimate for the default evaluation (2,500 samples + 10,000 real images).
"""

from __future__ import annotations

import argparse
import time

import torch

from gankit.metrics.images import INCEPTION_REAL_LIMIT
from gankit.metrics.inception import FIDInceptionV3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    network = FIDInceptionV3().eval().to(args.device)
    images = torch.rand(args.batch, 1, 28, 28, device=args.device) * 2 - 1
    with torch.no_grad():
        network.features(images)  # warm-up
        start = time.perf_counter()
        for _ in range(args.batches):
            network.features(images)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        per_image = (time.perf_counter() - start) / (args.batches * args.batch)
    total = per_image * (2500 + INCEPTION_REAL_LIMIT)
    print(
        f"{args.device}, {torch.get_num_threads()} threads: {per_image:.3f} s per image; "
        f"2,500 samples + {INCEPTION_REAL_LIMIT:,} real images ~ {total / 60:.0f} min"
    )


if __name__ == "__main__":
    main()
