# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Mode collapse: fooling the discriminator with a few modes
#
# *Also in Chinese: [02-mode-collapse.zh.ipynb](02-mode-collapse.zh.ipynb).*
#
# A generator is rewarded for samples the discriminator believes. Nothing in that reward asks for
# *variety*: a generator that produces one very convincing kind of sample, over and over, can win
# for a while. It is called **mode collapse**, and it is the most common way a GAN fails quietly:
# the samples look fine, there are just too few kinds of them.
#
# Toy data makes it measurable. We use two data sets whose modes we know exactly and count, with
# the protocol of PacGAN (Lin et al. 2018), how many of them the generator covers:
#
# * `ring`: 8 narrow Gaussians (standard deviation 0.01) on the unit circle;
# * `grid`: 25 Gaussians (standard deviation 0.05) on a 5 x 5 grid.
#
# Then we try the classic remedies one at a time, with the same training budget, and read how each
# one changes the numbers.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import gankit
from gankit.data import load_data

# The test suite runs every tutorial with tiny settings (GANKIT_TUTORIAL_QUICK=1): the cells must
# run, the numbers mean nothing. Leave it unset to see the real thing (a few minutes on a laptop).
QUICK = os.environ.get("GANKIT_TUTORIAL_QUICK") == "1"
torch.set_num_threads(1)  # networks this small train fastest on one CPU thread
RUNS = Path("runs/tutorial-02")
print("quick settings" if QUICK else "full settings")

# %% [markdown]
# ## 1. The data, and how coverage is counted
#
# For 2,500 generated samples, each sample is assigned to its nearest mode. It is **high quality**
# if it lies within 3 standard deviations of that mode. A mode is **covered** if at least 20 of the
# 2,500 samples (0.8 %) are high-quality samples of it. **Reverse KL** compares how the high-quality
# samples spread over the modes with the data's uniform spread: 0 when every mode gets its share,
# ln 8 ≈ 2.08 on the ring when all of them sit on one mode. gankit computes these every
# `eval_every` steps and logs them as `eval_modes`, `eval_high_quality`, `eval_reverse_kl`, together
# with `eval_w1`, the Wasserstein-1 distance to the data.

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, name in zip(axes, ("ring", "grid")):
    toy = load_data(name)
    points = toy.sample(2500, torch.Generator().manual_seed(0)).numpy()
    ax.scatter(points[:, 0], points[:, 1], s=2, color="black")
    ax.set(title=f"{name}: {len(toy.modes)} modes, sigma {toy.sigma}", aspect="equal")
plt.show()

# %% [markdown]
# ## 2. A plain GAN on the ring
#
# The non-saturating GAN (`ns`) with its paper's settings (DCGAN's Adam: learning rate 2e-4,
# β1 = 0.5), networks 128 units wide and 3 layers deep, a batch of 256: the GAN of `make demo`. We
# train it in stages with `gankit.resume` and look at where the samples are after each stage. Watch
# two things: how many of the 8 modes are covered, and whether the samples sit *on* the modes or are
# smeared between them.

# %%
STAGES = [10, 20, 40] if QUICK else [1000, 2000, 4000]
PLAIN = dict(width=128, depth=3, batch_size=256, eval_every=500, log_every=50, sample_every=0)
if QUICK:
    PLAIN |= dict(width=32, batch_size=64, eval_every=10, log_every=5, eval_samples=500)
ring = load_data("ring")
ring_modes = ring.modes.numpy()

run = None
fig, axes = plt.subplots(1, len(STAGES), figsize=(4 * len(STAGES), 4))
for ax, stage in zip(axes, STAGES):
    if run is None:
        run = gankit.train("ring", "ns", stage, out=RUNS / "ns-stages", overwrite=True, **PLAIN)
    else:
        run = gankit.resume(run, steps=stage)
    samples = run.sample(2500, seed=10_000)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color="#2a9d3a", alpha=0.5)
    ax.scatter(ring_modes[:, 0], ring_modes[:, 1], marker="x", color="#c0392b")
    last = [row for row in run.metrics if "eval_modes" in row][-1]
    ax.set(title=f"step {run.step}: {last['eval_modes']} of 8 modes", aspect="equal")
    ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6))
plt.show()

# %% [markdown]
# The monitors watched the run while it trained (the lines printed during the last stage), and the
# doctor reads its metrics afterwards and says whether, and since when, it sees a problem:

# %%
gankit.doctor(run)

# %% [markdown]
# At full settings it names `mode-collapse`: at step 4,000 only 3 of the 8 modes are covered while
# 71 % of the samples are good ones. The generator found a few modes and stays on them: each of its
# samples looks real, there are just too few kinds. (It also reports `no-progress`: W1 has not
# improved since step 2,500.) Its remedies are the subject of section 4.

# %% [markdown]
# ## 3. Why it happens
#
# The discriminator judges **one sample at a time**. A sample sitting exactly on a real mode is, on
# its own, perfectly realistic, whether or not all the other samples sit on the same mode. So the
# generator can gain by moving everything onto the modes D currently finds most convincing. D then
# learns that those modes are suspicious, the generator hops elsewhere, and the two can chase each
# other around the ring instead of settling on all eight modes.
#
# Each classic remedy attacks a different part of that story:
#
# | remedy | knob | idea |
# |---|---|---|
# | Wasserstein loss with gradient penalty | `objective="wgan-gp"` | the critic estimates a *distance between distributions* (W1): mass missing from a mode costs, however real each sample looks |
# | PacGAN | `pack=2` | D scores `pack` samples *together*, so a batch of look-alikes is itself a give-away |
# | generator EMA | `ema_decay=0.99` | sample from a running average of G's recent weights (about the last 1 / (1 - decay) = 100 steps; fewer early on, as gankit ramps the average up so that its half-life stays under 5 % of the steps trained): it smooths a generator that oscillates, but lags behind one that is still travelling |
# | PacGAN + EMA | `pack=2, ema_decay=0.99` | both together; gankit's `--preset toy-best` adds an 8-D latent and 50,000 steps (docs/benchmarks/mode_coverage.md), too long for this notebook |
#
# ## 4. Each remedy, same budget
#
# Every recipe trains for the same number of generator steps, with several seeds (GAN training is
# noisy: one seed can flatter or sink any recipe). We report the median over seeds. To fit fifteen
# runs in a few minutes, the networks are smaller (64 wide, batch 128) and Adam's learning rate is
# 1e-3, and each run is 1,000 steps long: a budget at which nothing has converged, so read the
# table as "which remedy helps soonest". (WGAN-GP also takes its paper's 5 critic steps per
# generator step, so it spends more compute than the others.)

# %%
SEEDS = (0,) if QUICK else (0, 1, 2)
STEPS = 40 if QUICK else 1000
# preset="paper": the papers' settings, not the grid's measured recipe, which would add PacGAN and EMA
COMMON = dict(preset="paper", g_lr=1e-3, d_lr=1e-3, eval_every=STEPS // 4, sample_every=0)
COMMON |= dict(log_every=10 if QUICK else 50)
COMMON |= dict(width=32, batch_size=64, eval_samples=500) if QUICK else dict(width=64, batch_size=128)
RECIPES = {
    "ns (plain GAN)": dict(objective="ns"),
    "wgan-gp": dict(objective="wgan-gp", g_lr=1e-4, d_lr=1e-4),  # its paper's learning rate
    "ns + PacGAN (pack=2)": dict(objective="ns", pack=2),
    "ns + EMA (0.99)": dict(objective="ns", ema_decay=0.99),
    "ns + PacGAN + EMA": dict(objective="ns", pack=2, ema_decay=0.99),
}


def final_numbers(run):
    """The last evaluation of a run: modes covered, high-quality fraction, reverse KL, W1."""
    row = [row for row in run.metrics if "eval_modes" in row][-1]
    kl = row["eval_reverse_kl"]
    return [row["eval_modes"], row["eval_high_quality"], np.inf if kl is None else kl, row["eval_w1"]]


def compare(data, recipes, steps):
    """Train every recipe on every seed; the median of each number over seeds, per recipe."""
    table, last_runs = {}, {}
    for label, recipe in recipes.items():
        numbers = []
        for seed in SEEDS:
            name = f"{data}-{label.split()[0]}-{'-'.join(f'{k}{v}' for k, v in recipe.items())}-seed{seed}"
            settings = COMMON | recipe | dict(steps=steps, seed=seed, out=RUNS / name, overwrite=True)
            a_run = gankit.train(data, **settings)
            numbers.append(final_numbers(a_run))
        table[label], last_runs[label] = np.median(np.array(numbers, dtype=float), axis=0), a_run
    return table, last_runs


def show_table(data, table, steps):
    total = len(load_data(data).modes)
    print(f"{data}: median over seeds {SEEDS}, {steps} steps each")
    print(f"{'recipe':24s} {'modes':>9s} {'high quality':>13s} {'reverse KL':>11s} {'W1':>7s}")
    for label, (modes, quality, kl, w1) in table.items():
        print(f"{label:24s} {modes:5.1f}/{total:<3d} {quality:12.1%} {kl:11.3f} {w1:7.3f}")


ring_table, ring_runs = compare("ring", RECIPES, STEPS)
show_table("ring", ring_table, STEPS)

# %%
fig, axes = plt.subplots(1, len(ring_runs), figsize=(3.3 * len(ring_runs), 3.5))
for ax, (label, a_run) in zip(axes, ring_runs.items()):
    samples = a_run.sample(2500, seed=10_000)
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color="#2a9d3a", alpha=0.5)
    ax.scatter(ring_modes[:, 0], ring_modes[:, 1], marker="x", color="#c0392b")
    ax.set(title=label, aspect="equal", xlim=(-1.6, 1.6), ylim=(-1.6, 1.6))
plt.show()

# %% [markdown]
# Read the table column by column. *Modes* and *reverse KL* measure coverage: does every mode get
# its share? *High quality* measures precision: are the samples on a mode at all, or smeared between
# them? *W1* mixes both. A recipe can trade one for the other, which is why PacGAN's and VEEGAN's
# papers report several numbers instead of one. What the remedies changed, in numbers:


# %%
def verdicts(table, baseline="ns (plain GAN)"):
    base_modes, base_quality, base_kl, _ = table[baseline]
    for label, (modes, quality, kl, _) in table.items():
        if label != baseline:
            print(
                f"{label}: {modes - base_modes:+.1f} modes, {quality - base_quality:+.1%} high quality, "
                f"reverse KL {base_kl:.2f} -> {kl:.2f}, compared with the plain GAN"
            )


verdicts(ring_table)

# %% [markdown]
# ## 5. The grid, and a comparison you can trust
#
# The grid is harder: 25 modes over a larger square, and the generator has to reach the corners.
# It takes far longer than a notebook's budget (`--preset toy-best` trains for 50,000 steps), so
# this notebook does not train on it. And the ring table has three limits that a comparison you can
# trust must remove:
#
# * **equal compute**, not equal steps: WGAN-GP's 5 critic steps cost about five generator steps;
# * **a search per recipe**: one learning rate for everyone favours whoever it happens to suit;
# * **more seeds and confidence intervals**, measured on seeds the search never saw.
#
# `benchmarks/mode_coverage.py` does exactly that with `gankit sweep` and `gankit compare`: every
# objective gets the same number of tuned trials over its sensitive knobs, every run the same CPU
# budget, and each objective's best configuration is trained again on five fresh seeds. Its table,
# with confidence intervals, a budget curve and the published PacGAN, VEEGAN and WGAN-GP rows beside
# it, is [docs/benchmarks/mode_coverage.md](../benchmarks/mode_coverage.md). For your own question
# ("which learning rate for my data?") the same two commands apply: see
# [docs/sweeps.md](../sweeps.md).
#
# Two more levers reach every grid mode *and* keep the samples sharp. A continuous generator fed a
# connected latent space must put some mass on the paths between modes, and the 3σ test rejects
# those seam points. `--preset toy-cover` adds a **coverage term** to G's loss (IMLE's idea: every
# real sample pulls its nearest generated sample towards it, so a mode that G has not reached pulls
# mass across the gap), its weight falling to 0 over the run while the adversarial game sharpens the
# modes. And `gankit eval RUN --refine drs` (or `mh`) uses the trained D at sampling time to reject
# the seam points (Discriminator Rejection Sampling, Metropolis-Hastings GAN); the refined numbers
# are reported apart from the raw ones. Both, measured on five seeds each of the ring and the grid,
# are in [docs/benchmarks/refinement_cover.md](../benchmarks/refinement_cover.md); how they work is
# in [docs/refinement.md](../refinement.md).
#
# ## What we saw
#
# * Coverage (modes, reverse KL) has to be *measured* next to quality (high-quality fraction, W1):
#   a generator can put good samples on some modes and miss the rest, or reach every mode with
#   samples smeared between them. The plain GAN of section 2 collapsed (good samples, 3 of 8
#   modes); gankit's monitors warned while it trained and the doctor named it `mode-collapse`.
# * A remedy is a trade, and its payoff depends on the budget: one that needs more steps (WGAN-GP at
#   its paper's small learning rate, PacGAN's harder task for D) can trail the plain GAN after a
#   thousand steps. The ring table is an honest comparison for *this* budget and these settings
#   only, over three seeds.
# * A claim that one objective covers modes better than another needs equal compute, a search per
#   objective and fresh seeds: `python benchmarks/mode_coverage.py`
#   ([its table](../benchmarks/mode_coverage.md)).
#
# Back to [01-understanding-gans.en.ipynb](01-understanding-gans.en.ipynb).
