"""The two samplers, on any proposal function and log-ratio estimate: DRS and MH-GAN (see gankit.refine)."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.refine.options import Logit, Proposer, Refined


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
    from scipy.special import expit  # scipy: paid only when a run is refined

    check_count(n)
    start = time.process_time()
    rng = torch.Generator().manual_seed(seed)
    batch = propose(n, rng)
    if burn_in > n:
        batch = np.concatenate([batch, propose(burn_in - n, rng)])

    def gamma_for(pool: np.ndarray, max_logit: float) -> float:
        # never above 0: gamma only ever accepts more than exact rejection sampling would
        return min(0.0, float(np.percentile(drs_f(pool, max_logit, epsilon), gamma_percentile)))

    batch_logits = scores_of(logit, batch)
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
                "a lower gamma percentile accepts more, or use MH-GAN (method mh)"
            )
        rate = max(accepted / proposals, 1e-3)
        batch = propose(min(math.ceil(1.2 * needed / rate) + 16, 10 * n + 1000), rng)
        batch_logits = scores_of(logit, batch)
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
    check_count(n)
    start = time.process_time()
    rng = torch.Generator().manual_seed(seed)
    last = propose(n, rng)
    chain = [propose(n, rng) for _ in range(chain_length - 1)] + [last]
    state = draw_real(n, rng).astype(np.float64)
    state_logit = scores_of(logit, state)
    moved = np.zeros(n, dtype=bool)
    accepted = 0
    for proposal in chain:
        accept = _mh_step(proposal, scores_of(logit, proposal), state, state_logit, rng)
        moved |= accept
        accepted += int(accept.sum())
    proposals = chain_length * n
    stuck = np.flatnonzero(~moved)
    if len(stuck):  # restart those chains from a generated sample (accepted by construction)
        restart = propose(len(stuck), rng)
        restart_logit = scores_of(logit, restart)
        for _ in range(chain_length):
            proposal = propose(len(stuck), rng)
            accepted += int(_mh_step(proposal, scores_of(logit, proposal), restart, restart_logit, rng).sum())
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


def scores_of(logit: Logit, x: np.ndarray) -> np.ndarray:
    values = np.asarray(logit(x), dtype=np.float64).reshape(-1)
    if len(values) != len(x):
        raise GankitError(f"the scores gave {len(values)} values for {len(x)} points")
    return np.nan_to_num(values, nan=-np.inf)  # a point D cannot score is never preferred


def check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GankitError(f"n must be an integer >= 1, got {n!r}")
