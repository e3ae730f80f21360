"""Refinement at sampling time: let a discriminator veto the generator's worst samples.

A trained generator G puts some mass where the data has none (for toy mixtures: the seams between
modes and a thin far tail). A discriminator that estimates the density ratio r(x) = p_data(x) / p_G(x)
can correct that after training, by resampling G's proposals:

- **DRS**, Discriminator Rejection Sampling (Azadi et al. 2019, "Discriminator Rejection
  Sampling", ICLR): with D~(x) = log r(x) and M the largest D~ seen so far, accept a proposal with
  probability sigmoid(F(x)), F(x) = D~(x) - M - log(1 - exp(D~(x) - M - epsilon)) - gamma.
  With gamma = 0 and epsilon -> 0 this is exact rejection sampling (accept with r(x) / max r);
  gamma, the q-th percentile of F over the burn-in draw (q = 95 as in the MH-GAN authors' DRS
  code, ``shift_percent``), held at or below 0, trades exactness for acceptance: a single
  over-estimated ratio would otherwise set M and reject almost everything. gamma is recomputed
  whenever M rises (over the burn-in and the proposal that raised M), as the authors' code
  recomputes it for every batch: M cancels out of sigmoid(F) for the bulk of the proposals.
- **MH-GAN**, Metropolis-Hastings GAN (Turner et al. 2019, ICML): an independent Metropolis-Hastings
  chain whose proposals are G's samples; from state x_k it moves to a proposal x' with probability
  min(1, (1/D(x_k) - 1) / (1/D(x') - 1)) = min(1, r(x') / r(x_k)). Each chain starts from a real
  sample (no burn-in) and, if it never accepts a proposal, restarts once from a generated sample,
  so every output is a generated sample. The output is the state after ``chain_length`` proposals.

Both need log r(x), a *calibrated* logit. Where it comes from (``RefineOptions.scores``):

- ``"d"``: the run's own discriminator. Its raw score is a logit only for the classifier objectives
  (minimax, ns); a hinge, least-squares or WGAN critic's is not, so those must be calibrated. MH-GAN's
  calibration fits score -> P(real) by logistic or isotonic regression on held-out real and
  generated samples (equal numbers, so the calibrated logit estimates log r). A PacGAN (packed) D
  scores a point as ``pack`` copies of itself, which is ``pack`` log r(x) at D's optimum: its score
  is divided by ``pack``.
- ``"knn"``: a k-nearest-neighbour classifier of held-out real vs generated points: log r(x) is
  estimated by log(real / generated neighbours) among the k nearest. It is a discriminator fitted
  at sampling time on fresh samples (as DRS fine-tunes D on held-out data), and it resolves the
  density ratio at the scale of the points' own spread (sigma of a toy mode), which an end-of-training
  D - close to 1/2 everywhere once G fits the data - does not. Flat (toy) data only.
- ``"auto"`` (the default): ``"d"`` where the run's D gives a log ratio (a classifier objective, or
  any GAN when a calibration is asked for), else ``"knn"`` on flat data, else ``"d"`` with logistic
  calibration (a critic on images). On the refinement benchmarks (docs/refinement.md) knn helped
  only a smeared generator (toy-best); for the well-trained presets it lowered grid quality, while
  MH-GAN with a calibrated D raised it in every case and DRS with D's raw scores in most, for less.

Everything is a pure function of (proposal sampler, logit function, n, seed, options): the same
seed gives the same refined samples, and exactly ``n`` come back. With a logit that is the same
everywhere, DRS accepts every proposal (its samples are then the raw draw ``run.sample(n, seed)``)
and every MH move is accepted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from gankit.data import load_data
from gankit.data.images import holdout_part
from gankit.errors import GankitError
from gankit.objectives import get_objective

# propose(count, rng) -> (count, *shape) samples, all randomness from the torch.Generator rng
Proposer = Callable[[int, torch.Generator], np.ndarray]
# logit(points) -> (len(points),) estimates of log p_data(x) / p_G(x)
Logit = Callable[[np.ndarray], np.ndarray]

METHODS = ("drs", "mh")
SCORES = ("auto", "d", "knn")
CALIBRATIONS = ("none", "logistic", "isotonic")


@dataclass(frozen=True)
class RefineOptions:
    """How to refine; validated here, so a bad option is one GankitError line before any work."""

    method: str = "drs"  # drs or mh
    scores: str = "auto"  # where log r(x) comes from: the run's discriminator (d), knn, or auto
    calibration: str = "none"  # none, logistic or isotonic (MH-GAN); critics need one with d
    heldout: int = 100_000  # held-out real and generated points (each): knn needs k neighbours within ~sigma
    neighbours: int = 50  # k of the knn scores
    epsilon: float = 1e-6  # DRS: keeps log(1 - exp(D~ - M - epsilon)) finite at the maximum
    gamma_percentile: float = 95.0  # DRS: gamma = min(0, this percentile of F); 100: exact rejection
    burn_in: int = 1000  # DRS: proposals scored before the first decision, to estimate M (and gamma)
    chain_length: int = 20  # MH: proposals per chain (per output sample)

    def __post_init__(self) -> None:
        for name, allowed in (("method", METHODS), ("scores", SCORES), ("calibration", CALIBRATIONS)):
            if getattr(self, name) not in allowed:
                raise GankitError(
                    f"unknown refine {name} {getattr(self, name)!r}; allowed: {', '.join(allowed)}"
                )
        for name in ("heldout", "neighbours", "burn_in", "chain_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GankitError(f"refine {name} must be an integer >= 1, got {value!r}")
        if self.neighbours > self.heldout:
            raise GankitError(
                f"refine neighbours ({self.neighbours}) must be at most heldout ({self.heldout})"
            )
        if not (isinstance(self.epsilon, (int, float)) and 0 < self.epsilon < 1):
            raise GankitError(f"refine epsilon must be in (0, 1), got {self.epsilon!r}")
        q = self.gamma_percentile
        if isinstance(q, bool) or not (isinstance(q, (int, float)) and 0 <= q <= 100):
            raise GankitError(f"refine gamma percentile must be in [0, 100], got {q!r}")


@dataclass(frozen=True)
class Refined:
    """Exactly ``n`` refined samples and what they cost."""

    samples: np.ndarray
    method: str
    proposals: int  # generator samples scored to produce the n outputs (burn-in included)
    accepted: int  # DRS: proposals kept; MH: chain moves accepted
    cpu_seconds: float  # process CPU time of the refinement (calibration included when timed)
    options: RefineOptions | None = None  # as used (scores "auto" resolved); None from drs()/mh() alone
    heldout: str = "none"  # where the real points (knn, calibration, MH's chain starts) came from

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposals

    @property
    def proposals_per_sample(self) -> float:
        return self.proposals / len(self.samples)

    def stats(self) -> dict[str, float]:
        """acceptance rate, proposals per returned sample and CPU milliseconds per returned sample."""
        return {
            "acceptance_rate": self.acceptance_rate,
            "proposals_per_sample": self.proposals_per_sample,
            "cpu_ms_per_sample": 1000 * self.cpu_seconds / len(self.samples),
        }


def drs_f(logits: np.ndarray, max_logit: float, epsilon: float) -> np.ndarray:
    """DRS's F(x) before gamma: D~ - M - log(1 - exp(D~ - M - epsilon)) (Azadi et al. 2019, eq. 8).

    With p = exp(D~ - M - epsilon), F = logit(p) + epsilon: sigmoid(F - gamma) is about r(x) / max r
    for gamma = 0, and equals 1 - epsilon at the maximum itself.
    """
    shifted = np.minimum(logits - max_logit, 0.0) - epsilon  # <= -epsilon < 0: log1p stays finite
    return logits - max_logit - np.log(-np.expm1(shifted))


def drs(
    propose: Proposer,
    logit: Logit,
    n: int,
    seed: int,
    *,
    epsilon: float = 1e-6,
    gamma_percentile: float = 95.0,
    burn_in: int = 1000,
    max_proposals_per_sample: int = 1000,
) -> Refined:
    """Discriminator Rejection Sampling: ``n`` of G's proposals kept with probability sigmoid(F).

    The first ``n`` proposals are G's raw draw for ``seed``; they and ``burn_in - n`` more (if any)
    are scored first to set M (the running maximum of D~, updated with every later batch) and gamma
    (recomputed over the burn-in and the new maximum whenever M rises).
    Proposals are decided in the order drawn, so the output is deterministic for a seed.
    """
    from scipy.special import expit

    _check_n(n)
    start = time.process_time()
    rng = torch.Generator().manual_seed(seed)
    batch = propose(n, rng)
    if burn_in > n:
        batch = np.concatenate([batch, propose(burn_in - n, rng)])

    def gamma_for(pool: np.ndarray, max_logit: float) -> float:
        # never above 0: gamma only ever accepts more than exact rejection sampling would
        return min(0.0, float(np.percentile(drs_f(pool, max_logit, epsilon), gamma_percentile)))

    batch_logits = _logits(logit, batch)
    pool = batch_logits  # gamma's reference draw: the burn-in, then each proposal that raised M
    max_logit = float(pool.max())
    gamma = gamma_for(pool, max_logit)
    kept: list[np.ndarray] = []
    accepted = proposals = 0
    while True:
        if batch_logits.max() > max_logit:
            # A rise of M lowers F for every proposal alike; gamma follows it, so a single late
            # proposal with a high ratio (a mode G under-covers) does not stop every other acceptance.
            max_logit = float(batch_logits.max())
            pool = np.append(pool, max_logit)
            gamma = gamma_for(pool, max_logit)
        f = drs_f(batch_logits, max_logit, epsilon) - gamma
        uniform = torch.rand(len(batch), generator=rng, dtype=torch.float64).numpy()
        accept = uniform < expit(f)
        needed = n - accepted
        if accept.sum() >= needed:  # stop at the n-th acceptance: later proposals were not needed
            last = int(np.flatnonzero(accept)[needed - 1])
            kept.append(batch[: last + 1][accept[: last + 1]])
            proposals += last + 1
            accepted += needed
            break
        kept.append(batch[accept])
        accepted += int(accept.sum())
        proposals += len(batch)
        if proposals >= max_proposals_per_sample * n:
            raise GankitError(
                f"DRS accepted {accepted} of {proposals} proposals, too few for {n} samples; "
                "raise --refine-gamma-percentile or use --refine mh"
            )
        rate = max(accepted / proposals, 1e-3)
        batch = propose(min(math.ceil(1.2 * needed / rate) + 16, 10 * n + 1000), rng)
        batch_logits = _logits(logit, batch)
    samples = np.concatenate(kept)
    return Refined(samples, "drs", proposals, accepted, time.process_time() - start)


def mh(
    propose: Proposer,
    logit: Logit,
    draw_real: Proposer,
    n: int,
    seed: int,
    *,
    chain_length: int = 20,
) -> Refined:
    """Metropolis-Hastings GAN: ``n`` independent chains of ``chain_length`` proposals each.

    ``draw_real(count, rng)`` gives the real samples the chains start from. Each chain's last
    proposal is drawn first, so those ``n`` proposals are G's raw draw for ``seed``.
    """
    _check_n(n)
    start = time.process_time()
    rng = torch.Generator().manual_seed(seed)
    last = propose(n, rng)
    chain = [propose(n, rng) for _ in range(chain_length - 1)] + [last]
    state = draw_real(n, rng).astype(np.float64)
    state_logit = _logits(logit, state)
    moved = np.zeros(n, dtype=bool)
    accepted = 0
    for proposal in chain:
        accept = _mh_step(proposal, _logits(logit, proposal), state, state_logit, rng)
        moved |= accept
        accepted += int(accept.sum())
    proposals = chain_length * n
    stuck = np.flatnonzero(~moved)
    if len(stuck):  # restart those chains from a generated sample (accepted by construction)
        restart = propose(len(stuck), rng)
        restart_logit = _logits(logit, restart)
        for _ in range(chain_length):
            proposal = propose(len(stuck), rng)
            accepted += int(_mh_step(proposal, _logits(logit, proposal), restart, restart_logit, rng).sum())
        state[stuck], state_logit[stuck] = restart, restart_logit
        proposals += (chain_length + 1) * len(stuck)
    return Refined(state, "mh", proposals, accepted, time.process_time() - start)


def _mh_step(
    proposal: np.ndarray, proposal_logit: np.ndarray, state: np.ndarray, state_logit: np.ndarray, rng
) -> np.ndarray:
    """Move each chain to its proposal with probability min(1, r(x') / r(x_k)); updates in place."""
    uniform = torch.rand(len(proposal), generator=rng, dtype=torch.float64).numpy()
    accept = uniform < np.exp(np.minimum(proposal_logit - state_logit, 0.0))
    state[accept] = proposal[accept]
    state_logit[accept] = proposal_logit[accept]
    return accept


# --- where log r(x) comes from -------------------------------------------------------------------


def calibrate(score: Logit, real: np.ndarray, fake: np.ndarray, method: str) -> Logit:
    """MH-GAN's calibration: fit score -> P(real) on held-out real (label 1) and fake (label 0) points.

    ``logistic``: Platt scaling, logit = a * score + b. ``isotonic``: a monotone step function of the
    score, clipped away from 0 and 1 by half a sample. With as many real as fake points, the
    calibrated logit estimates log p_data(x) / p_G(x). ``none`` returns ``score`` unchanged.
    """
    if method == "none":
        return score
    return calibrate_scores(score, _logits(score, real), _logits(score, fake), method)


def calibrate_scores(score: Logit, real_scores: np.ndarray, fake_scores: np.ndarray, method: str) -> Logit:
    """:func:`calibrate` from the scores of the held-out points alone (the points need not be kept)."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    values = np.concatenate([real_scores, fake_scores])
    labels = np.concatenate([np.ones(len(real_scores)), np.zeros(len(fake_scores))])
    if method == "logistic":
        model = LogisticRegression(C=1e6).fit(values[:, None], labels)
        slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
        return lambda x: slope * _logits(score, x) + intercept
    if method == "isotonic":
        floor = 0.5 / len(values)
        model = IsotonicRegression(y_min=floor, y_max=1 - floor, out_of_bounds="clip").fit(values, labels)
        return lambda x: _logit_of(model.predict(_logits(score, x)))
    raise GankitError(f"unknown refine calibration {method!r}; allowed: {', '.join(CALIBRATIONS)}")


def knn_logit(real: np.ndarray, fake: np.ndarray, neighbours: int) -> Logit:
    """log r(x) from the k nearest of the held-out real and fake points: log((R + 1/2) / (F + 1/2)).

    R and F count real and fake points among the k neighbours (R + F = k), corrected for unequal
    numbers of real and fake points; the 1/2 keeps the logit finite where a class is absent.
    """
    from sklearn.neighbors import NearestNeighbors

    pooled = np.concatenate([_flat(real), _flat(fake)])
    is_real = np.concatenate([np.ones(len(real)), np.zeros(len(fake))])
    index = NearestNeighbors(n_neighbors=neighbours).fit(pooled)
    prior = math.log(len(fake) / len(real))

    def logit(x: np.ndarray) -> np.ndarray:
        _, nearest = index.kneighbors(_flat(x))
        real_count = is_real[nearest].sum(axis=1)
        return np.log((real_count + 0.5) / (neighbours - real_count + 0.5)) + prior

    return logit


def discriminator_logit(
    discriminator: torch.nn.Module, pack: int = 1, batch: int = 8192, label: int | None = None
) -> Logit:
    """D's estimate of log r(x) per point: its raw score, divided by ``pack`` for a packed D.

    A PacGAN D sees ``pack`` samples at once; trained to its optimum on independent tuples it
    outputs log prod_i r(x_i) = sum_i log r(x_i). Scored on ``pack`` copies of x it gives
    pack * log r(x), so the score is divided by ``pack``: without that, DRS and MH-GAN would target
    p_G * r^pack instead of p_data (modes squeezed tighter than the data's). A projection D of a
    conditional run scores each point as of class ``label``.
    """

    @torch.no_grad()
    def logit(x: np.ndarray) -> np.ndarray:
        was_training = discriminator.training
        discriminator.eval()
        try:
            points = torch.as_tensor(x, dtype=torch.float32)
            if pack > 1:  # (n, *shape) -> (n * pack, *shape): D sees x next to copies of itself
                points = points.repeat_interleave(pack, dim=0)
            parts = [
                discriminator(chunk, **_label_args(label, len(chunk))) for chunk in points.split(batch * pack)
            ]
        finally:
            discriminator.train(was_training)
        return torch.cat(parts).double().numpy().reshape(-1) / pack

    return logit


# --- a trained run ---------------------------------------------------------------------------------

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
    _check_n(n)
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
            raise GankitError(f"a {config.model} run has no discriminator; use --refine-scores knn")
        if not _d_gives_log_ratio(options, config):
            raise GankitError(
                f"a {config.objective} critic's score is not a log density ratio; "
                "use --refine-calibration logistic|isotonic or --refine-scores knn"
            )
    elif len(shape) != 1:
        raise GankitError("--refine-scores knn needs flat (toy) data; use --refine-scores d for images")


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
    return np.concatenate([_logits(logit, draw(size, rng)) for size in sizes])


def resolve_scores(options: RefineOptions, config, shape: tuple[int, ...]) -> RefineOptions:
    """The options with ``scores="auto"`` replaced by what suits the run (module docstring)."""
    if options.scores != "auto":
        return options
    if _d_gives_log_ratio(options, config):
        return replace(options, scores="d")
    if len(shape) == 1:
        return replace(options, scores="knn")
    if config.model == "gan":
        return replace(options, scores="d", calibration="logistic")
    raise GankitError(
        f"a {config.model} run on images cannot be refined: no discriminator, and knn needs flat data"
    )


def _d_gives_log_ratio(options: RefineOptions, config) -> bool:
    """Whether the run's D scores estimate log r: a classifier's logit, or any GAN's D once calibrated."""
    return config.model == "gan" and (
        get_objective(config.objective).is_classifier or options.calibration != "none"
    )


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
                generator(chunk, **_label_args(label, len(chunk))).float().cpu() for chunk in z.split(batch)
            ]
    finally:
        generator.train(was_training)
    return torch.cat(parts).double().numpy()


def _label_args(label: int | None, count: int) -> dict[str, torch.Tensor]:
    """G's or D's keyword arguments for ``count`` points of class ``label`` (none: unconditional)."""
    return {} if label is None else {"labels": torch.full((count,), label, dtype=torch.long)}


def _derived(seed: int, stream: int) -> int:
    """A seed for one of refinement's own streams, far from ``seed`` and from each other."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0] >> 2)


def _logits(logit: Logit, x: np.ndarray) -> np.ndarray:
    values = np.asarray(logit(x), dtype=np.float64).reshape(-1)
    if len(values) != len(x):
        raise GankitError(f"the scores gave {len(values)} values for {len(x)} points")
    return np.nan_to_num(values, nan=-np.inf)  # a point D cannot score is never preferred


def _logit_of(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GankitError(f"n must be an integer >= 1, got {n!r}")
