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
- ``"auto"`` (the default): on flat (toy) data ``"d"`` where the run's D gives a log ratio (a
  classifier objective, or any GAN when a calibration is asked for), else ``"knn"``; on images
  ``"d"`` calibrated (logistic unless another is asked for) on held-out reals, for every objective:
  a batch-norm D's raw logit on digits barely separated held-out reals from fakes, and DRS on it
  worsened FID (docs/benchmarks/refine_batchnorm.md). On the toy benchmarks (docs/refinement.md)
  knn helped only a smeared generator (toy-best); for the well-trained presets it lowered grid
  quality, while MH-GAN with a calibrated D raised it in every case and DRS with D's raw scores in
  most, for less.

Everything is a pure function of (proposal sampler, logit function, n, seed, options): the same
seed gives the same refined samples, and exactly ``n`` come back. With a logit that is the same
everywhere, DRS accepts every proposal (its samples are then the raw draw ``run.sample(n, seed)``)
and every MH move is accepted.
"""

from gankit.refine.algorithms import drs, drs_f, mh
from gankit.refine.options import CALIBRATIONS, METHODS, SCORES, Logit, Proposer, Refined, RefineOptions
from gankit.refine.scores import calibrate, calibrate_scores, discriminator_logit, knn_logit, resolve_scores
from gankit.refine.trained import SCORE_BATCH, heldout_real_data, refine_trainer

__all__ = [
    "CALIBRATIONS",
    "METHODS",
    "SCORES",
    "SCORE_BATCH",
    "Logit",
    "Proposer",
    "RefineOptions",
    "Refined",
    "calibrate",
    "calibrate_scores",
    "discriminator_logit",
    "drs",
    "drs_f",
    "heldout_real_data",
    "knn_logit",
    "mh",
    "refine_trainer",
    "resolve_scores",
]
