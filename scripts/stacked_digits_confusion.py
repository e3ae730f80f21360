"""Which digit a stacked-digits generator draws, read two ways: by the shipped classifier (what
`gankit eval`'s modes and KL count) and by each sample's nearest real digit in pixel space.

    .venv/bin/python scripts/stacked_digits_confusion.py RUN [--samples 6000] [--channel 0]

Where the two agree on a digit's share, the classifier's count is the generator's; where the nearest
real digit is a 1 but the classifier says 8, the generator draws 1s that look like no clean digit
(a quality problem, not a missing mode). Prints the 10 x 10 table (rows: nearest real digit; columns:
the classifier's digit) and both shares as multiples of the even 1/10.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import gankit
from gankit.data import load_data
from gankit.metrics.labels import classify_digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--channel", type=int, default=0, choices=(0, 1, 2))
    args = parser.parse_args()
    torch.set_num_threads(1)
    samples = np.asarray(gankit.load(args.run).sample(args.samples, seed=0), dtype=np.float32)
    drawn = samples[:, args.channel].reshape(len(samples), -1)
    digits = load_data("digits")
    real, labels = digits.images.numpy(), digits.labels.numpy()  # the 1,797 digits in [-1, 1]
    real = real.reshape(len(real), -1)
    nearest = np.concatenate(
        [
            labels[((chunk[:, None] - real[None]) ** 2).sum(-1).argmin(1)]
            for chunk in np.array_split(drawn, 20)
        ]
    )
    called = classify_digits(samples[:, args.channel : args.channel + 1])
    table = np.zeros((10, 10), dtype=int)
    np.add.at(table, (nearest, called), 1)
    print("rows: nearest real digit; columns: the classifier's digit")
    print(table)
    print(
        "share x10 by nearest real digit:",
        np.round(10 * np.bincount(nearest, minlength=10) / len(nearest), 2),
    )
    print(
        "share x10 by the classifier:    ", np.round(10 * np.bincount(called, minlength=10) / len(called), 2)
    )


if __name__ == "__main__":
    main()
