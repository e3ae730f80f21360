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
# Then we let `gankit doctor` name the failure, read how often each remedy fixed runs like this one
# in gankit's own benchmark, and apply the remedy it puts first.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import gankit
from gankit.data import load_data
from gankit.diagnose.measured import load_rates  # the benchmark's rates, which the doctor prints

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
# β1 = 0.5), networks 128 units wide and 3 layers deep, a batch of 256: the GAN of `make demo`, and
# the broken recipe of the remedies benchmark's ring case (`gankit train --data ring --objective ns
# --steps 5000`). We train it in stages with `gankit.resume` and look at where the samples are after
# each stage. Watch two things: how many of the 8 modes are covered, and whether the samples sit
# *on* the modes or are smeared between them.

# %%
STEPS = {"ring": 40, "grid": 40} if QUICK else {"ring": 5000, "grid": 20000}
STAGES = [STEPS["ring"] // 4, STEPS["ring"] // 2, STEPS["ring"]]
MINE = dict(eval_every=250, log_every=50, sample_every=0)  # how often to measure; the recipe is the default
# one thread, fp32: gankit's auto speed settings would time both on this machine and keep the faster,
# and bf16 rounds differently, so the numbers below would depend on the machine's load
MINE |= dict(threads=1, amp=False)
if QUICK:
    MINE |= dict(width=32, batch_size=64, eval_every=10, log_every=5, eval_samples=500)
ring = load_data("ring")
ring_modes = ring.modes.numpy()


def show(ax, a_run, modes, title):
    """A run's samples (green) over the data's modes (red crosses), with the last evaluation."""
    samples = a_run.sample(2500, seed=10_000)
    last = [row for row in a_run.metrics if "eval_modes" in row][-1]
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color="#2a9d3a", alpha=0.5)
    ax.scatter(modes[:, 0], modes[:, 1], marker="x", color="#c0392b")
    limit = 1.6 if len(modes) == 8 else 2.8
    covered = f"{last['eval_modes']} of {len(modes)} modes, {last['eval_high_quality']:.0%} HQ"
    ax.set(title=f"{title}\nstep {a_run.step}: {covered}", aspect="equal")
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit))


run = None
fig, axes = plt.subplots(1, len(STAGES), figsize=(4 * len(STAGES), 4.3))
for ax, stage in zip(axes, STAGES):
    if run is None:
        run = gankit.train("ring", "ns", stage, out=RUNS / "ring-ns", overwrite=True, **MINE)
    else:
        run = gankit.resume(run, steps=stage)
    show(ax, run, ring_modes, "ns (plain GAN)")
plt.show()

# %% [markdown]
# The monitors watched the run while it trained (the lines printed during the stages), and the
# doctor reads its metrics afterwards: its headline says how the run stands now and which problems it
# had, from which step to which. Under a finding still open at the end it lists what to change, the
# remedies measured in gankit's benchmark first, each with how often it fixed runs like this one:

# %%
diagnosis = gankit.doctor(run)
diagnosis

# %% [markdown]
# ## 3. Why it happens
#
# The discriminator judges **one sample at a time**. A sample sitting exactly on a real mode is, on
# its own, perfectly realistic, whether or not all the other samples sit on the same mode. So the
# generator can gain by moving everything onto the modes D currently finds most convincing. D then
# learns that those modes are suspicious, the generator hops elsewhere, and the two can chase each
# other around the ring instead of settling on all eight modes.
#
# Each remedy attacks a different part of that story:
#
# | remedy | flag | idea |
# |---|---|---|
# | coverage term | `--coverage-weight 10` | every real sample pulls its nearest generated sample towards it (IMLE's idea), so a mode G has not reached pulls mass across the gap; the weight falls to 0 over the run while the adversarial game sharpens the modes |
# | the grid's measured recipes | `--preset toy-cover`, `--preset toy-modes` | PacGAN + EMA + a small latent, batch 512, Adam 1e-3; toy-cover adds the coverage term (docs/refinement.md) |
# | relativistic pairing loss | `--objective rpgan` | D judges each real sample *against* a generated one, with gradient penalties on both (R3GAN) |
# | PacGAN | `--pack 2` | D scores 2 samples *together*, so a batch of look-alikes is itself a give-away |
# | Wasserstein loss with gradient penalty | `--objective wgan-gp` | the critic estimates a *distance between distributions* (W1): mass missing from a mode costs, however real each sample looks |
# | generator EMA | `--ema-decay 0.999` | sample from a running average of G's recent weights: it smooths a generator that oscillates, but lags behind one that is still travelling |
# | learning-rate decay | `--lr-decay-start 0` | both learning rates fall linearly to 0, so the chase slows down |
# | refinement at sampling time | `gankit eval RUN --refine drs` | no training: the trained D rejects the samples it finds least real (DRS) |
#
# Folklore says each of them helps. The benchmark measured it.
#
# ## 4. The remedies, measured
#
# `benchmarks/remedies.py` trains the broken recipe on five report seeds and keeps the runs where the
# doctor names the finding at the end. It then applies each remedy at the broken run's budget, from
# scratch (*restart*: the same flags plus the remedy's) and from the checkpoint where the doctor first
# saw the collapse (*init-from*), and counts a run **fixed** when the finding is closed at its end
# *and* at least 80 % of the modes are covered with at least 50 % high-quality samples. The doctor
# reads these counts (`src/gankit/diagnose/remedy_rates.json`); the page with every case and its
# protocol is [docs/benchmarks/remedies.md](../benchmarks/remedies.md). Its grid case, the broken
# recipe of section 5:


# %%
def measured_table(case):
    """The benchmark's rates for one case: each remedy and way, fixed k of n, with its interval."""
    rows = [row for row in load_rates() if row["case"] == case]
    print(f"{case}: {rows[0]['runs'] if rows else 'no rates'}")
    for row in sorted(rows, key=lambda r: -r["fixed"] / r["n"]):
        low, high = row["interval"]
        print(
            f"  {row['remedy']:10s} {row['way']:9s} {row['flags']:24s} "
            f"fixed {row['fixed']} of {row['n']}  (95 % interval {low:.0%}-{high:.0%})"
        )


measured_table("grid-ns")

# %% [markdown]
# Five seeds are few: an interval of 5 of 5 still reaches down to about 57 %. But the table already
# separates what works from what does not, and some of the folklore sits at the bottom.
#
# The ring has no rates: on the benchmark's five report seeds, no plain-GAN run of section 2's
# recipe was still collapsed at step 5,000 (the page's ring-ns case), so there was nothing to fix.
# On the ring, collapse is often an *episode* the plain GAN grows out of, and the doctor reports it
# as one, with the steps where it began and ended. For a ring run still collapsed at its end, as
# ours may be, the doctor falls back on the nearest measured case and names it ("collapsed grid
# runs"). On the grid, with the papers' settings, the collapse mostly stays: 4 of the benchmark's 5
# broken grid runs ended collapsed (the page's grid-ns case).
#
# ## 5. The grid: a collapse that stays, and the doctor's remedy
#
# The grid is harder: 25 modes over a larger square, and the generator has to reach the corners.
# Here is the issue a user would bring: `gankit train --data grid --objective ns --preset paper
# --steps 20000`. (Without `--preset paper`, gankit trains the grid's *measured* recipe, which does
# not collapse: docs/benchmarks/toy_defaults.md.) Most seeds end collapsed, not every one, and
# which do depends on the machine too (its floating-point kernels), so the cell trains seeds 0, 1
# and 2 in turn and keeps the first that ends collapsed: the run a user would bring to the doctor.
# This section takes a few minutes, more when a seed does not collapse.

# %%
grid = load_data("grid")
grid_modes = grid.modes.numpy()
# our command, `--data grid --objective ns --preset paper --steps 20000`, as keyword arguments
OURS = dict(data="grid", objective="ns", preset="paper", steps=STEPS["grid"]) | MINE
for seed in range(3):
    grid_run = gankit.train(out=RUNS / "grid-ns", overwrite=True, seed=seed, **OURS)
    grid_diagnosis = gankit.doctor(grid_run)
    if "mode-collapse" in grid_diagnosis["open"]:
        break
    print(f"seed {seed} did not end collapsed ({grid_diagnosis['headline']})")
OURS |= dict(seed=seed)  # the restarts below keep it
grid_diagnosis

# %% [markdown]
# Now do what the doctor says. `grid_diagnosis.remedies()` is the list it printed, best first, and
# each entry's `settings` are `gankit.train` keyword arguments: laid over our own settings they
# restart the run with the remedy, as adding its flags to our command would. We also restart it
# with the first remedy it lists as one that did not help in the benchmark.


# %%
def restart_with(entry, name):
    """Our grid run again, from scratch, with one of the doctor's remedies laid over our settings."""
    print(entry["text"])
    return gankit.train(out=RUNS / name, overwrite=True, **(OURS | entry["settings"]))


remedies = grid_diagnosis.remedies("mode-collapse")
if not remedies:  # a seed on which the run did not collapse: the cells still run
    quick = [({"coverage_weight": 10.0}, "helped"), ({"ema_decay": 0.999}, "did not help")]
    remedies = [dict(text=f"(no collapse) {s}", settings=s, status=status) for s, status in quick]
failed = [e for e in remedies if e["status"] == "did not help" and e["settings"]]  # a trained one
first = restart_with(remedies[0], "grid-first-remedy")
last = restart_with(failed[0], "grid-failed-remedy")
fig, axes = plt.subplots(1, 3, figsize=(12, 4.3))
titles = ("ns, --preset paper", "the doctor's first remedy", "one that did not help")
for ax, a_run, title in zip(axes, (grid_run, first, last), titles):
    show(ax, a_run, grid_modes, title)
plt.show()
print("the first remedy:      ", gankit.doctor(first)["headline"])
print("one that did not help: ", gankit.doctor(last)["headline"])

# %% [markdown]
# Note what the restart keeps: our data, objective, steps and seed. A preset remedy replaces the
# papers' settings (`--preset paper`) with its own recipe; a flag remedy (`--coverage-weight 10`)
# is added to them.
#
# ## 6. Comparing objectives, fairly
#
# The remedies table answers "what fixes *this* broken run". Which objective covers modes best is a
# different question, and it needs **equal compute** (WGAN-GP's 5 critic steps cost about five
# generator steps), **a search per objective** (one learning rate for everyone favours whoever it
# suits) and **fresh seeds** with intervals. `benchmarks/mode_coverage.py` does that with `gankit
# sweep` and `gankit compare`: [docs/benchmarks/mode_coverage.md](../benchmarks/mode_coverage.md).
# For your own question ("which learning rate for my data?") the same two commands apply: see
# [docs/sweeps.md](../sweeps.md). How the coverage term and refinement at sampling time work is in
# [docs/refinement.md](../refinement.md).
#
# ## What we saw
#
# * Coverage (modes, reverse KL) has to be *measured* next to quality (high-quality fraction, W1):
#   a generator can put good samples on some modes and miss the rest. gankit's monitors warn while a
#   run trains, and the doctor names `mode-collapse` with the steps where it began (and ended: on
#   the ring it is often an episode; on the grid, with the papers' settings, it mostly stays).
# * A remedy is a claim to be measured, not folklore: the doctor ranks its remedies by how often each
#   fixed runs like this one in the benchmark, and lists the ones that did not help last.
# * Applying the first remedy is one line (`diagnosis.remedies()[0]["settings"]`), and the numbers
#   above say whether it worked on *your* seed.
#
# Back to [01-understanding-gans.en.ipynb](01-understanding-gans.en.ipynb).
