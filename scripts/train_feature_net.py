"""Retrain the digit feature network behind gankit's image metrics, reproducibly.

    .venv/bin/python scripts/train_feature_net.py            # writes src/gankit/assets/digits_features.*

Trains :class:`gankit.metrics.images.DigitsFeatureNet` on scikit-learn's 8x8 digits (a fixed 80/20
split, seed 0, one CPU thread so the arithmetic order is fixed), reports held-out accuracy, then
writes the weights (safetensors) and a card with their SHA-256, which the loader verifies.
Same torch version + CPU => the same bytes, hence the same checksum.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from gankit.data.images import load_images
from gankit.metrics.images import FEATURE_CARD, FEATURE_WEIGHTS, DigitsFeatureNet, sha256_of

SEED = 0
EPOCHS = 30
BATCH = 64
LEARNING_RATE = 1e-3


def train(seed: int = SEED) -> tuple[DigitsFeatureNet, float]:
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    images = load_images("digits").all()  # (1797, 1, 8, 8) in [-1, 1], the metrics' input range
    labels = torch.from_numpy(load_digits().target).long()
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(images)))
    cut = int(0.8 * len(images))
    train_index, test_index = order[:cut], order[cut:]
    net = DigitsFeatureNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    rng = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for batch in train_index[torch.randperm(len(train_index), generator=rng)].split(BATCH):
            # Small random shifts (+-1 pixel) so features respond to shape, not exact position.
            x = torch.roll(
                images[batch], shifts=tuple(torch.randint(-1, 2, (2,), generator=rng).tolist()), dims=(2, 3)
            )
            loss = F.cross_entropy(net(x), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(images[test_index]).argmax(1) == labels[test_index]).float().mean().item()
    return net, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=FEATURE_WEIGHTS, help="weights file (.safetensors)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    net, accuracy = train()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(args.out))
    card = {
        "sha256": sha256_of(args.out),
        "held_out_accuracy": round(accuracy, 4),
        "trained_with": "scripts/train_feature_net.py",
        "seed": SEED,
        "epochs": EPOCHS,
        "torch": torch.__version__,
    }
    card_path = args.out.with_suffix(".json") if args.out != FEATURE_WEIGHTS else FEATURE_CARD
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"held-out accuracy {accuracy:.4f}; wrote {args.out} (sha256 {card['sha256']}) and {card_path}")


if __name__ == "__main__":
    main()
