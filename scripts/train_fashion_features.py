"""Train the Fashion-MNIST feature network behind gankit's image metrics, reproducibly.

    .venv/bin/python scripts/train_fashion_features.py     # writes src/gankit/assets/fashion_features.*

Trains :class:`gankit.metrics.images.FashionFeatureNet` on Fashion-MNIST's published *training*
split only: 55,000 of its 60,000 images (a fixed shuffle, seed 0), the other 5,000 a validation
part that says how training went. The recipe (epochs, batch, learning rate, augmentation) was fixed
before the test split was read. The published test split (t10k, 10,000 images) is read once, at the
end, for the accuracy the card and docs/metrics.md state; it never takes part in training or in a
choice. One CPU thread, so the arithmetic order is fixed: the same torch version and CPU give the
same bytes, hence the same SHA-256, which the loader checks.

About 5 CPU-minutes on one thread of the development machine (20 epochs of 14-18 CPU-s, 315 CPU-s
in all for the shipped weights). The data comes from gankit's loader (Debian's
``dataset-fashion-mnist`` offline, or downloaded once).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from gankit.data.standard import load_standard
from gankit.metrics.images import FASHION_CARD, FASHION_WEIGHTS, FashionFeatureNet, sha256_of

SEED = 0
EPOCHS = 20
BATCH = 128
LEARNING_RATE = 2e-3  # Adam, cosine-annealed to 0 over the run
VALIDATION = 5000  # training images held out from the 60,000 (never the test split)
MAX_SHIFT = 2  # pixels: each batch is shifted by up to this much, so features respond to shape


def augment(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """A random left-right flip per image and one random shift (up to MAX_SHIFT pixels) per batch.

    The background is -1 at the borders, so rolling the image round moves background only.
    """
    flip = torch.rand(len(images), generator=rng) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    shifts = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (2,), generator=rng).tolist()
    return torch.roll(images, shifts=tuple(shifts), dims=(2, 3))


@torch.no_grad()
def accuracy(net: FashionFeatureNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    predicted = torch.cat([net(chunk).argmax(1) for chunk in images.split(2000)])
    return (predicted == labels).float().mean().item()


def train(seed: int = SEED, echo=print) -> tuple[FashionFeatureNet, float]:
    """The trained network and its accuracy on the validation part of the training split."""
    torch.manual_seed(seed)
    data = load_standard("fashion-mnist", split="train")  # (60000, 1, 28, 28) in [-1, 1]
    images, labels = data.all(), data.labels
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(images)))
    validation, train_index = order[:VALIDATION], order[VALIDATION:]
    net = FashionFeatureNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    batches_per_epoch = -(-len(train_index) // BATCH)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS * batches_per_epoch)
    rng = torch.Generator().manual_seed(seed)
    for epoch in range(1, EPOCHS + 1):
        start = time.process_time()
        net.train()
        for batch in train_index[torch.randperm(len(train_index), generator=rng)].split(BATCH):
            loss = F.cross_entropy(net(augment(images[batch], rng)), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        net.eval()
        valid = accuracy(net, images[validation], labels[validation])
        spent = time.process_time() - start
        echo(f"epoch {epoch}/{EPOCHS}: validation accuracy {valid:.4f} ({spent:.0f} CPU-s)")
    return net, valid


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=FASHION_WEIGHTS, help="weights file (.safetensors)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.process_time()
    net, validation_accuracy = train()
    test = load_standard("fashion-mnist", split="test")  # read once, for the report
    test_accuracy = accuracy(net, test.all(), test.labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(args.out))
    card = {
        "sha256": sha256_of(args.out),
        "validation_accuracy": round(validation_accuracy, 4),
        "test_accuracy": round(test_accuracy, 4),
        "test_split": "t10k (10,000 images), read once after training",
        "trained_on": f"{60000 - VALIDATION:,} of Fashion-MNIST's 60,000 training images",
        "parameters": sum(p.numel() for p in net.parameters()),
        "trained_with": "scripts/train_fashion_features.py",
        "seed": SEED,
        "epochs": EPOCHS,
        "torch": torch.__version__,
        "cpu_seconds": round(time.process_time() - start),
    }
    card_path = args.out.with_suffix(".json") if args.out != FASHION_WEIGHTS else FASHION_CARD
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(
        f"validation accuracy {validation_accuracy:.4f}, test (t10k) accuracy {test_accuracy:.4f}; "
        f"wrote {args.out} (sha256 {card['sha256']}) and {card_path}"
    )


if __name__ == "__main__":
    main()
