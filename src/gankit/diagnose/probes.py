"""What only held-out reals can show: the probes behind the discriminator-overfits and memorisation
findings (image runs with a validation part).

A probe is a callback that adds ``eval_*`` numbers to a row every ``eval_every`` steps; the monitors
(gankit.diagnose.monitors) read those rows like any other, so ``gankit doctor`` replays them from
metrics.jsonl. :class:`OverfitProbe` reads the run's D on training reals, held-out reals and fakes
(ADA's r_t on each, D seeing them as training shows them to it); :class:`MemorisationProbe`
measures how near generated samples lie to the training images, against how near new images of the
data lie. Both compare the training images with held-out ones, a question about this run's training
set rather than about the samples' quality against the data (gankit.metrics), and both exist for
these two findings; :func:`heldout_probes` picks those that apply to a run. The diversity probe, a
metric of samples on any data, is gankit.metrics.diversity.
"""

from __future__ import annotations

import copy
import statistics

import torch
from torch import Tensor

from gankit.config import TrainConfig
from gankit.engine.critic import PLAIN, discriminate
from gankit.engine.loop import Callback, Trainer

# D's raw score above this says "real", for the objectives that have such a boundary: logits
# (minimax, ns) and hinge scores at 0, lsgan's targets 1 and 0 at 1/2. Wasserstein critics have none,
# nor does rpgan's D, whose score means something only against a paired fake's.
DECISION_BOUNDARY = {"minimax": 0.0, "ns": 0.0, "hinge": 0.0, "lsgan": 0.5}
PROBE_IMAGES = 512  # at most this many training, held-out and generated images per held-out probe


class OverfitProbe(Callback):
    """Adds ADA's overfitting heuristic, on held-out reals too, to a row every ``eval_every`` steps.

    eval_sign_train, eval_sign_heldout, eval_sign_fake: r = E[sign(D(x) - b)] over n training
    reals, n held-out reals (the validation part) and n generated samples, with b the objective's
    decision boundary (DECISION_BOUNDARY). StyleGAN2-ADA (Karras et al. 2020) reads r_t on the
    training reals: 1 when D calls every one real, and overfitting when it nears 1. The held-out
    reals say which it is: a D that generalises scores them like the training reals, one that has
    memorised its training images scores them like fakes. D sees them as it does in training (the
    engine's ``discriminate``: the run's augmentation, from a generator of the probe's own, so the
    training RNG is not drawn; its class labels), in train mode (batch norm normalises over batches
    of reals, half training and half held-out, and over batches of fakes), on a copy, so that its
    batch-norm statistics and spectral-norm vectors stay untouched.
    """

    def __init__(self, config: TrainConfig, train, heldout, boundary: float, seed: int):
        self.config, self.boundary, self.seed = config, boundary, seed
        pack = config.pack
        n = min(len(train), len(heldout), PROBE_IMAGES)
        self.half = max(pack, min(config.batch_size // 2, n) // pack * pack)  # each kind's share of a batch
        n = n // self.half * self.half
        self.train = _fixed_subset(train, n, seed, config.conditional)  # (images, labels or None)
        self.heldout = _fixed_subset(heldout, n, seed, config.conditional)

    def on_log(self, trainer: Trainer, row: dict) -> None:
        if not trainer.evaluation_due(self.config.eval_every):
            return
        critic = copy.deepcopy(trainer.discriminator)
        rng = torch.Generator(trainer.device).manual_seed(self.seed)  # the same augmentations every time
        n = len(self.train[0])
        fake = trainer.sample(n, seed=self.seed)
        classes = getattr(trainer.sampler, "num_classes", None)
        fake_labels = torch.arange(n) % classes if classes else None  # the classes trainer.sample drew
        signs: dict[str, list[Tensor]] = {"train": [], "heldout": [], "fake": []}
        with torch.no_grad():
            for start in range(0, n, self.half):
                part = slice(start, start + self.half)
                reals = torch.cat([self.train[0][part], self.heldout[0][part]])
                labels = _joined([self.train[1], self.heldout[1]], part)
                both = self.signs(critic, reals, labels, rng)
                signs["train"].append(both[: len(both) // 2])
                signs["heldout"].append(both[len(both) // 2 :])
            for start in range(0, n, 2 * self.half):  # fakes in batches of their own, as in training
                part = slice(start, start + 2 * self.half)
                signs["fake"].append(self.signs(critic, fake[part], _joined([fake_labels], part), rng))
        for key, values in signs.items():
            row[f"eval_sign_{key}"] = float(torch.cat(values).mean())

    def signs(self, critic: torch.nn.Module, images: Tensor, labels: Tensor | None, rng) -> Tensor:
        """sign(D(x) - b) of each image (each pack of ``pack`` images under PacGAN), on the CPU."""
        labels = None if labels is None else labels.to(rng.device)
        _, [scores] = discriminate(critic, (images.to(rng.device),), labels, self.config, rng, PLAIN)
        return torch.sign(scores.cpu() - self.boundary)


def _fixed_subset(data, n: int, seed: int, labelled: bool = False) -> tuple[Tensor, Tensor | None]:
    """``n`` images of an image data set, the same ones for a seed, and with ``labelled`` their
    labels (what a conditional D takes), else None."""
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.all()[index], data.labels[index] if labelled else None


def _joined(labels: list[Tensor | None], part: slice) -> Tensor | None:
    """The labels of ``part`` of each labelled set, one after the other; None for unlabelled ones."""
    if labels[0] is None:
        return None
    return torch.cat([each[part] for each in labels])


class MemorisationProbe(Callback):
    """Adds how near generated samples lie to the training images to a row every ``every`` steps.

    eval_nearest_generated: the median, over n generated samples, of the L2 distance (over pixels)
    to the nearest training image; eval_nearest_heldout: the same for n held-out reals (the
    validation part), which no network has seen: how near a new image of the data lies to the
    training set by chance. A generator that reproduces training images (exactly or with a little
    noise) sits far nearer them than that. Nearest neighbours by scikit-learn, the index built once.
    """

    def __init__(self, every: int, train, heldout, samples: int, seed: int):
        from sklearn.neighbors import NearestNeighbors  # scikit-learn: only runs with a held-out part

        self.every, self.samples, self.seed = every, samples, seed
        self.index = NearestNeighbors(n_neighbors=1).fit(_flat(train.all()))
        heldout_images = _fixed_subset(heldout, min(len(heldout), samples), seed)[0]
        self.heldout_distance = self.nearest_distance(heldout_images)

    def nearest_distance(self, images: Tensor) -> float:
        """The median distance from ``images`` to their nearest training image."""
        distances, _ = self.index.kneighbors(_flat(images))
        return float(statistics.median(distances[:, 0]))

    def on_log(self, trainer: Trainer, row: dict) -> None:
        if not trainer.evaluation_due(self.every):
            return
        fake = trainer.sample(self.samples, seed=self.seed)
        if not torch.isfinite(fake).all():  # the divergence monitor reports it
            return
        row["eval_nearest_generated"] = self.nearest_distance(fake)
        row["eval_nearest_heldout"] = self.heldout_distance


def _flat(images: Tensor):
    return images.detach().float().reshape(len(images), -1).cpu().numpy()


def heldout_probes(config: TrainConfig, train, heldout, seed: int) -> list[Callback]:
    """The probes that need held-out reals (an image run with a validation part): D's sign means
    (objectives with a decision boundary only) and the nearest-training-image distances."""
    samples = min(config.eval_samples, PROBE_IMAGES)
    probes: list[Callback] = [MemorisationProbe(config.eval_every, train, heldout, samples, seed)]
    if config.objective in DECISION_BOUNDARY and min(len(train), len(heldout)) >= 2 * config.pack:
        probes.insert(0, OverfitProbe(config, train, heldout, DECISION_BOUNDARY[config.objective], seed))
    return probes
