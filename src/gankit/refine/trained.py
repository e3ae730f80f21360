"""Refinement of a trained run: its generator's proposals, its data's held-out points, its D's scores."""

from __future__ import annotations

import time

import numpy as np
import torch

from gankit.data import load_data
from gankit.data.images import holdout_part
from gankit.errors import GankitError
from gankit.refine.algorithms import check_count, drs, mh, scores_of
from gankit.refine.options import Logit, Proposer, Refined, RefineOptions
from gankit.refine.scores import (
    calibrate_scores,
    d_gives_log_ratio,
    discriminator_logit,
    knn_logit,
    label_kwargs,
    resolve_scores,
)

SCORE_BATCH = 4096  # held-out points drawn and scored at a time: only their scores are kept


def refine_trainer(trainer, n: int, seed: int, options: RefineOptions, label: int | None = None) -> Refined:
    """``n`` refined samples of a loaded run (a gankit Trainer with its checkpoint), on the CPU.

    G's proposals use the sampler (EMA weights when the run used EMA) with noise from ``seed``.
    Held-out real and generated points come from seeds derived from ``seed``, apart from the
    proposals'; the real ones from the run's validation part when it has one (``Refined.heldout``
    says which). A conditional run is refined within each class, G and D both given the label:
    class ``label``, or without one the classes in turn (sample i of class i mod K, as
    ``gankit sample`` draws them). The CPU time includes fitting the scores.
    """
    check_count(n)
    start = time.process_time()
    config = trainer.config
    options = resolve_scores(options, config, trainer.data.shape)
    _check_scores(options, config, trainer.data.shape)
    real_data, heldout = heldout_real_data(trainer)
    classes = _classes(config, label)
    order = np.arange(n) % len(classes)  # which class each output position holds
    samples = np.empty((n, *trainer.data.shape))
    proposals = accepted = 0
    for index, klass in enumerate(classes):
        where = np.flatnonzero(order == index)
        if not len(where):
            continue
        class_seed = seed if len(classes) == 1 else _derived(seed, 10 + index)
        result = _refine_class(trainer, len(where), class_seed, options, klass, real_data)
        samples[where] = result.samples
        proposals += result.proposals
        accepted += result.accepted
    cpu_seconds = time.process_time() - start
    uses_real = options.scores == "knn" or options.calibration != "none" or options.method == "mh"
    return Refined(
        samples, options.method, proposals, accepted, cpu_seconds, options, heldout if uses_real else "none"
    )


def _refine_class(
    trainer, n: int, seed: int, options: RefineOptions, label: int | None, real_data
) -> Refined:
    """DRS or MH-GAN on G's samples of one class (``label``; None: an unconditional run)."""
    config, generator = trainer.config, trainer.sampler

    def propose(count: int, rng: torch.Generator) -> np.ndarray:
        return _generate(generator, torch.randn(count, config.latent_dim, generator=rng), label)

    draw_real = _real_sampler(real_data, label)
    if options.scores == "knn":  # flat toy data: the points themselves are small
        real = draw_real(options.heldout, torch.Generator().manual_seed(_derived(seed, 1)))
        fake = propose(options.heldout, torch.Generator().manual_seed(_derived(seed, 2)))
        logit = knn_logit(real, fake, options.neighbours)
    else:
        logit = discriminator_logit(trainer.discriminator, config.pack, label=label)
    # Calibration is fitted on a second held-out pair, apart from the points the scores were fitted on;
    # only their scores are kept (100,000 images of 32x32x3 in float64 would take 2.4 GB).
    if options.calibration != "none":
        real_scores = _scores_of_draws(logit, draw_real, options.heldout, _derived(seed, 3))
        fake_scores = _scores_of_draws(logit, propose, options.heldout, _derived(seed, 4))
        logit = calibrate_scores(logit, real_scores, fake_scores, options.calibration)
    if options.method == "drs":
        return drs(
            propose,
            logit,
            n,
            seed,
            epsilon=options.epsilon,
            gamma_percentile=options.gamma_percentile,
            burn_in=options.burn_in,
        )
    return mh(propose, logit, draw_real, n, seed, chain_length=options.chain_length)


def heldout_real_data(trainer) -> tuple[object, str]:
    """Where refinement's real points come from, and how to say it.

    Toy data is a distribution: every draw is fresh. An image run trained with a validation part
    uses that part (never the test part, nor the images G was trained against); a run without one
    has only its training images.
    """
    config, data = trainer.config, trainer.data
    if len(data.shape) == 1:
        return data, "fresh draws from the data distribution"
    if config.validation_fraction > 0:
        part = holdout_part(
            load_data(config.data, config.image_size), config.validation_fraction, "validation"
        )
        return part, f"the validation part ({len(part)} images)"
    return data, "the training images (the run has no validation part)"


def _check_scores(options: RefineOptions, config, shape: tuple[int, ...]) -> None:
    if options.scores == "d":
        if config.model != "gan":
            raise GankitError(f"a {config.model} run has no discriminator; use knn scores")
        if not d_gives_log_ratio(options, config):
            raise GankitError(
                f"a {config.objective} critic's score is not a log density ratio; "
                "calibrate it (logistic or isotonic) or use knn scores"
            )
    elif len(shape) != 1:
        raise GankitError("knn scores need flat (toy) data; use D's scores (d) for images")


def _classes(config, label: int | None) -> list[int | None]:
    """The classes to refine within: [None] for an unconditional run, [label], or every class."""
    if not config.conditional:
        if label is not None:
            raise GankitError("a label needs a conditional generator (a run trained with --conditional)")
        return [None]
    if label is None:
        return list(range(config.num_classes))
    if isinstance(label, bool) or not 0 <= label < config.num_classes:
        raise GankitError(f"label must be a class from 0 to {config.num_classes - 1}, got {label}")
    return [label]


def _real_sampler(data, label: int | None) -> Proposer:
    """draw_real(count, rng): real points, of class ``label`` when one is given."""
    if label is None:
        return lambda count, rng: data.sample(count, rng).double().cpu().numpy()
    images = data.images[data.labels == label]
    if not len(images):
        raise GankitError(f"the held-out real images have no image of class {label}")
    return lambda count, rng: images[torch.randint(len(images), (count,), generator=rng)].double().numpy()


def _scores_of_draws(logit: Logit, draw: Proposer, count: int, seed: int) -> np.ndarray:
    """The scores of ``count`` points drawn ``SCORE_BATCH`` at a time (the points are not kept)."""
    rng = torch.Generator().manual_seed(seed)
    sizes = [min(SCORE_BATCH, count - done) for done in range(0, count, SCORE_BATCH)]
    return np.concatenate([scores_of(logit, draw(size, rng)) for size in sizes])


def _generate(
    generator: torch.nn.Module, z: torch.Tensor, label: int | None = None, batch: int = 4096
) -> np.ndarray:
    """G(z) in eval mode (of class ``label``), in the chunks ``draw_samples`` uses (so the first
    draw is the raw draw)."""
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            parts = [
                generator(chunk, **label_kwargs(label, len(chunk))).float().cpu() for chunk in z.split(batch)
            ]
    finally:
        generator.train(was_training)
    return torch.cat(parts).double().numpy()


def _derived(seed: int, stream: int) -> int:
    """A seed for one of refinement's own streams, far from ``seed`` and from each other."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0] >> 2)
