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
# # Understanding GANs, by running them
#
# *Also in Chinese: [01-understanding-gans.zh.ipynb](01-understanding-gans.zh.ipynb).*
#
# Long ago, eagles hunted snakes. Snakes that were harder to grip survived, so snakes grew smoother
# skin; eagles with sharper claws ate better, so claws grew sharper. Then snakes took on the colours
# of the grass, and eagles' eyes grew keener. Each side improves *because* the other does.
#
# A generative adversarial network (GAN) is that arms race between two networks:
#
# * the **generator** G turns random noise z into samples x = G(z) (the snake, learning camouflage);
# * the **discriminator** D looks at a sample and says how likely it is to be real (the eagle).
#
# This notebook checks every claim of the classic lesson on GANs with code you can run on a laptop
# CPU in a few minutes:
#
# 1. G and D take turns: freeze D and update G, then freeze G and update D.
# 2. Round by round, the generated distribution p_g moves onto the data's p_data.
# 3. The discriminator is a *learned loss function* for the generator.
# 4. A discriminator that is too strong too early starves the generator: its gradient vanishes.
# 5. A Wasserstein GAN (WGAN) keeps the gradient alive and recovers.
# 6. Next to a VAE on digits, GAN samples are closer to real ones, in a sense the numbers make precise.
#
# Everything runs on gankit's engine, the same one behind the `gankit` command line.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import gankit

# The test suite runs every tutorial with tiny settings (GANKIT_TUTORIAL_QUICK=1): the cells must
# run, the pictures are not meant to be convincing. Leave it unset to see the real thing.
QUICK = os.environ.get("GANKIT_TUTORIAL_QUICK") == "1"
torch.set_num_threads(1)  # networks this small train fastest on one CPU thread
RUNS = Path("runs/tutorial-01")  # every run below is a run directory you can reopen with gankit.load
print("quick settings" if QUICK else "full settings")

# %% [markdown]
# ## 1. The two players, and one round of the game
#
# Our data is one-dimensional so that we can *see* everything: `mixture-1d` is two bumps, normal
# distributions at -2 and +2 with standard deviation 0.5. The generator is a small MLP from a 2-D
# noise vector z to a number; the discriminator is a small MLP from a number to a score (a logit:
# D(x) = sigmoid(score) is its probability that x is real).
#
# gankit's `Trainer` holds both networks, their optimisers and the random number generator.

# %%
from gankit.config import TrainConfig, resolve
from gankit.data import load_data
from gankit.engine.loop import Trainer, d_step, g_step

data = load_data("mixture-1d")
config = TrainConfig(data="mixture-1d", objective="ns", width=64, depth=2, batch_size=128)
config = resolve(config, data.shape)  # fill in the defaults (latent size, optimiser, ...)
trainer = Trainer(config, data)
G, D = trainer.generator, trainer.discriminator
print(G)
print(D)

# %% [markdown]
# **Freeze D, update G.** The generator's loss is computed *through* the discriminator: with the
# non-saturating loss of Goodfellow et al. (2014), L_G = -E[log D(G(z))]. Backpropagation carries the
# gradient through D into G. D must not learn from this step, so we switch off its gradients with
# `requires_grad_(False)` first. Here is that mechanism by hand:

# %%
z = torch.randn(128, config.latent_dim)
D.requires_grad_(False)  # freeze D: it is the loss here, not a learner
generator_loss = trainer.objective.generator_loss(D(G(z)))
generator_loss.backward()
D.requires_grad_(True)
print("G has gradients:", all(p.grad is not None for p in G.parameters()))
print("D has gradients:", any(p.grad is not None for p in D.parameters()))
G.zero_grad(set_to_none=True)

# %% [markdown]
# `g_step` in `gankit.engine.loop` is exactly this plus an optimiser step. And `d_step` is the mirror
# image: **freeze G, update D**. G's samples are made under `torch.no_grad()`, so only D changes.
# Let us check which network each step really changes:


# %%
def snapshot(network):
    return [p.detach().clone() for p in network.parameters()]


def changed(before, network):
    return any(not torch.equal(old, new) for old, new in zip(before, network.parameters()))


g_before, d_before = snapshot(G), snapshot(D)
g_step(G, D, trainer.g_optimizer, trainer.objective, config, trainer.rng)
print(f"after g_step: G changed {changed(g_before, G)}, D changed {changed(d_before, D)}")

g_before, d_before = snapshot(G), snapshot(D)
d_step(G, D, trainer.d_optimizer, trainer.objective, config, data, trainer.rng)
print(f"after d_step: G changed {changed(g_before, G)}, D changed {changed(d_before, D)}")

# %% [markdown]
# One *step* of training is `d_step` (the eagle's turn, `critic_steps` times) followed by `g_step`
# (the snake's turn). Repeat, and you have a GAN. `Trainer.fit` only adds logging, evaluation and
# checkpoints around this loop; `gankit.train` runs it and writes a run directory.
#
# Notice what D is trained on. Learning the data's distribution is *unsupervised*: nobody labels the
# images. Yet D's loss is an ordinary supervised classification loss (binary cross-entropy) with
# labels that come for free: 1 for every sample from the data set, 0 for every sample G made. The
# labels are implicit in where a sample came from, so the game turns an unsupervised problem into
# a supervised one that keeps changing as G improves. The two numbers below are the same loss:

# %%
bce = torch.nn.functional.binary_cross_entropy_with_logits
with torch.no_grad():
    real_scores, fake_scores = D(data.sample(64, trainer.rng)), D(G(torch.randn(64, config.latent_dim)))
    # labels: 1 for real, 0 for fake; nobody wrote them, they come from where each sample came from
    labelled = bce(real_scores, torch.ones_like(real_scores)) + bce(fake_scores, torch.zeros_like(fake_scores))
    print(f"cross-entropy with the implicit labels: {labelled.item():.4f}")
    print(f"D's loss in gankit (objectives.py):      {trainer.objective.discriminator_loss(real_scores, fake_scores).item():.4f}")

# %% [markdown]
# ## 2. Watch p_g move onto p_data
#
# Goodfellow et al. (2014, Fig. 1) drew the game in one dimension: the data (black), the generator's
# distribution (green) and the discriminator D(x) (blue). We train in stages with `gankit.resume`,
# which continues a run bit-exactly, and draw the same picture after each stage.

# %%
STAGES = [10, 20, 40] if QUICK else [25, 150, 1000]
ONE_D = dict(width=64, depth=2, batch_size=128, g_lr=1e-3, d_lr=1e-3, log_every=25, eval_every=25)
ONE_D |= dict(eval_samples=500, sample_every=0) if QUICK else {}
grid = np.linspace(-4.5, 4.5, 200)[:, None]
real = data.sample(5000, torch.Generator().manual_seed(0)).numpy()


def draw_stage(ax, run):
    """The data, the generator's samples and D(x) at the run's current step."""
    bins = np.linspace(-4.5, 4.5, 60)
    ax.hist(real[:, 0], bins=bins, density=True, histtype="step", color="black", label="p_data")
    ax.hist(run.sample(5000)[:, 0], bins=bins, density=True, alpha=0.5, color="#2a9d3a", label="p_g")
    d_of_x = 1 / (1 + np.exp(-run.discriminator_scores(grid)))
    ax.plot(grid[:, 0], d_of_x, "--", color="#1f5fbf", label="D(x)")
    ax.set(title=f"step {run.step}", xlabel="x", ylim=(0, 1.05))


run = None
fig, axes = plt.subplots(1, len(STAGES), figsize=(4 * len(STAGES), 3.2), sharey=True)
for ax, stage in zip(axes, STAGES):
    if run is None:
        run = gankit.train("mixture-1d", "ns", stage, out=RUNS / "evolution", overwrite=True, **ONE_D)
    else:
        run = gankit.resume(run, steps=stage)
    draw_stage(ax, run)
axes[0].legend(loc="upper left", fontsize=8)
plt.show()

# %% [markdown]
# Early on, p_g sits in one place and D(x) is a clear verdict: high where real data has no fakes
# next to it, low where the fakes pile up. The generator follows D's slope towards the data; D
# re-learns where the fakes are now; round after round. In the end p_g covers both bumps and D(x)
# flattens towards 1/2 wherever the two distributions agree: it can no longer tell them apart. That
# flat D is the equilibrium of the game.
#
# (While it trained, gankit's monitors may have warned about *mode collapse*: early on, the
# generator often finds one bump before the other. Here it is a passing phase; tutorial 2 is about
# when it is not.)
#
# The metrics log tells the same story in numbers: `eval_w1` is the Wasserstein-1 distance between
# generated and real samples, `eval_modes` how many of the two bumps are covered.

# %%
for row in run.metrics:
    if row["step"] in STAGES and "eval_w1" in row:  # the end of each stage
        print(f"step {row['step']:5d}   W1 {row['eval_w1']:.3f}   bumps covered {row['eval_modes']} of 2")
run.plot()

# %% [markdown]
# ## 3. The discriminator is a learned loss function
#
# Supervised learning has a fixed loss: a formula that says how wrong an output is. For "is this a
# realistic sample?" no simple formula exists: two real photos can differ in every pixel, and a fake
# can sit one pixel away from a real one. A GAN *learns* the loss instead. With D frozen, the
# generator minimises
#
# L_G(x) = -log D(x)
#
# at the points x = G(z) it produces, exactly like gradient descent on any loss. When G is frozen
# and D trains, the loss itself is replaced by a sharper one. Here is the loss surface the generator
# of the last section sees, next to where its samples are:

# %%
scores = run.discriminator_scores(grid)
loss_for_generator = np.logaddexp(0, -scores)  # -log sigmoid(score), computed stably
samples = run.sample(2000)[:, 0]
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(grid[:, 0], loss_for_generator, color="#1f5fbf", label="L_G(x) = -log D(x)")
ax.hist(samples, bins=60, density=True, alpha=0.4, color="#2a9d3a", label="G's samples")
ax.hist(real[:, 0], bins=60, density=True, histtype="step", color="black", label="data")
ax.set(xlabel="x", title="the loss the discriminator hands to the generator")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Where the generator puts samples the data does not have, the loss is high, and its slope points
# back towards the data. Where the two agree, the loss is flat at log 2 ≈ 0.69 (D(x) = 1/2).
#
# For a fixed G, the best discriminator is known in closed form (Goodfellow et al. 2014, Prop. 1):
# D*(x) = p_data(x) / (p_data(x) + p_g(x)). gankit's `optimal-discriminator` figure trains a D
# against a frozen G and compares it with that formula. Its left panel takes two overlapping
# Gaussians, whose densities are known exactly: the trained D (dashed) lies on D* (its title gives
# the largest gap). The other two panels move the Gaussians apart until they do not overlap: then the
# best D is 1 on the data, 0 on the fakes and flat on both, with a slope of ~0 where the generator's
# samples are, while a WGAN critic keeps a useful slope (section 5).

# %%
gankit.figure("optimal-discriminator", out=RUNS / "figures", quick=QUICK)

# %% [markdown]
# ## 4. A discriminator that is too strong starves the generator
#
# If D is the loss, a better D should mean a better generator. So why not train D very well, very
# early? The lesson warns: in the original GAN, the generator then gets *worse*. The eagle that is
# born with perfect eyes leaves the snake no direction to evolve in.
#
# The reason is in the loss. With the original (saturating, "minimax") loss L_G = E[log(1 - D(G(z)))]
# the derivative with respect to D's score s is -sigmoid(s) = -D(G(z)). A discriminator that
# rejects the fakes with confidence has D(G(z)) ≈ 0, so the gradient is ≈ 0: the generator stops
# learning exactly when it is losing worst. In the language of the lesson: when the two
# distributions barely overlap, the Jensen-Shannon divergence that this D estimates is stuck at
# log 2 and no longer says how far apart they are.
#
# First the clean experiment (Arjovsky & Bottou 2017, Fig. 2): freeze a generator, train a fresh
# discriminator against it, and measure the generator's gradient as D improves.

# %%
gankit.figure("vanishing-gradients", out=RUNS / "figures", quick=QUICK)

# %% [markdown]
# Does this make the *trained* generator worse? The controlled test is the `strong-discriminator`
# experiment: the data is one 2-D Gaussian away from where the generator starts; we pre-train D
# alone for k updates against the untrained generator (k = 0 is ordinary training), then train both
# for 300 generator steps and measure how far the generator ends from the data (W1, lower is better;
# the untrained generator's W1 is printed too: ending there means "never moved"). Five seeds, the
# median is shown.
#
# Plain SGD first, the 2014 paper's optimiser: a step is lr x gradient, so a vanished gradient means
# a vanished step. Both objectives get exactly the same optimiser settings (printed): the same
# learning rate for G and D, one D update per G update, the same networks, batch and number of
# generator steps. Only the loss differs (WGAN-GP with gankit's toy penalty weight, 0.1).

# %%
from gankit.experiments import strong_discriminator as strong
from gankit.experiments.common import median, toy_config

K_PRETRAIN = 100 if QUICK else 1000
STRONG_SEEDS = [0] if QUICK else [0, 1, 2, 3, 4]
G_STEPS = 30 if QUICK else 300
UNTRAINED = toy_config(objective="minimax", dim=2, latent_dim=2, width=32, depth=2)
untrained = median(
    [strong.distance_to_data(Trainer(UNTRAINED.replace(seed=s), strong.DATA, "cpu"), s) for s in STRONG_SEEDS]
)


def median_w1(objective, optimizer, k):
    return median([strong.final_w1(objective, optimizer, k, s, steps=G_STEPS) for s in STRONG_SEEDS])


def compare(optimizer):
    settings = ", ".join(f"{key} {value}" for key, value in strong.OPTIMIZER_SETTINGS[optimizer].items())
    print(f"optimiser {optimizer} ({settings}, {strong.CRITIC_STEPS} D step per G step, both objectives)")
    print(f"  untrained generator: W1 {untrained:.2f}")
    for objective in ("minimax", "wgan-gp"):
        before, after = median_w1(objective, optimizer, 0), median_w1(objective, optimizer, K_PRETRAIN)
        verdict = "worse" if after > before else "not worse"
        print(
            f"  {objective:8s} W1 {before:.2f} with k = 0, "
            f"{after:.2f} with D pre-trained for k = {K_PRETRAIN}: {verdict}"
        )


compare("sgd")

# %% [markdown]
# At full settings this prints: with SGD, the minimax GAN ends at W1 0.55 after ordinary training
# (from 3.51, the untrained generator's distance), but at 3.45 when D was pre-trained for 1,000
# updates: a confident D left it no gradient, and it barely moved. The WGAN-GP generator, with the
# same optimiser settings, ends at 0.65 after the same pre-training (0.78 without): a critic trained
# to optimality gives its most useful gradient, so pre-training it does no harm.
#
# Now the same with Adam, the optimiser almost everyone uses today (again the same settings for
# both objectives: DCGAN's betas (0.5, 0.999)):

# %%
compare("adam")

# %% [markdown]
# At full settings: minimax ends at 0.38 with a pre-trained D and 0.60 without, so the harm is gone
# (WGAN-GP: 0.67 and 1.07; its generator is slower to arrive without a trained critic, not harmed).
# Adam divides each gradient by a running estimate of its own size, so a tiny but consistent
# gradient still makes steps of about the learning rate: Adam *masks* the vanishing gradient. The
# gradient itself is still tiny, as the next run shows, and the monitors still flag it.
#
# Now in real training. The data is `ring`: eight narrow bumps on a circle, which a fresh generator
# (a small blob at the centre) does not touch at all. We make D far stronger than G: 20 discriminator
# updates per generator update, and a discriminator learning rate 50 times the generator's.

# %%
STRONG = dict(critic_steps=20, d_lr=1e-3, g_lr=2e-5, width=64, depth=2, batch_size=128)
STRONG |= dict(log_every=2, eval_every=4, eval_samples=500) if QUICK else dict(log_every=10, eval_every=50)
STRONG_STEPS = 12 if QUICK else 300
STRONG |= dict(critic_steps=2) if QUICK else {}
minimax = gankit.train("ring", "minimax", STRONG_STEPS, out=RUNS / "strong-minimax", overwrite=True, **STRONG)

# %% [markdown]
# While it trained, gankit's monitors already raised the alarm. `gankit.doctor` reads the finished
# run directory and names the pitfall, with the numbers that show it and what to do about it:

# %%
gankit.doctor(minimax)

# %% [markdown]
# The evidence, plotted: D's verdict on the fakes, D(G(z)), collapses towards 0, and the norm of the
# generator's gradient falls by orders of magnitude below its peak.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
left.semilogy(*minimax.metric("p_fake"), color="#1f5fbf")
left.set(title="D(G(z)): D's probability that a fake is real", xlabel="step")
right.semilogy(*minimax.metric("g_grad_norm"), color="#2a9d3a")
right.set(title="generator gradient norm (minimax loss)", xlabel="step")
plt.show()

# %% [markdown]
# ## 5. Switch to a Wasserstein GAN and watch it recover
#
# Arjovsky, Chintala & Bottou (2017) replaced the divergence with the Wasserstein-1 (earth mover's)
# distance: how much mass must move how far to turn p_g into p_data. It keeps growing with the
# distance between the distributions even when they do not overlap at all, while the Jensen-Shannon
# divergence is stuck at log 2. The lesson says "KL or JS": the third panel measures
# KL(P_0 ‖ P_θ), which is worse still. It averages log p_0(x)/p_θ(x) over the data, and where the
# generator has no mass that ratio is infinite: KL is +∞ for every θ ≠ 0. A trained D's logit
# estimates that log-ratio, and its estimate keeps climbing the longer D trains (the two marker
# rows: half and all of D's updates), because there is no finite value to reach:

# %%
gankit.figure("js-saturation", out=RUNS / "figures", quick=QUICK)

# %% [markdown]
# The WGAN's critic f has no sigmoid: it outputs an unbounded score, is kept 1-Lipschitz (here by
# the gradient penalty of Gulrajani et al. 2017, `wgan-gp`), and the generator minimises -E[f(G(z))].
# Its gradient has slope about 1 towards the data however well the critic is trained. Same data,
# networks, learning rates and 20 critic updates per generator update; the objective changes, and
# with it its defaults: Adam's betas (0, 0.9) instead of (0.5, 0.999), and the gradient penalty
# (λ = 0.1 on toy data):

# %%
wgan = gankit.train("ring", "wgan-gp", STRONG_STEPS, out=RUNS / "strong-wgan-gp", overwrite=True, **STRONG)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
for a_run, label in ((minimax, "minimax (original GAN)"), (wgan, "wgan-gp")):
    left.semilogy(*a_run.metric("g_grad_norm"), label=label)
    right.plot(*a_run.metric("eval_w1"), marker="o", label=label)
left.set(title="generator gradient norm", xlabel="step")
right.set(title="W1(generated, data): lower is better", xlabel="step")
right.legend(fontsize=8)
plt.show()

# %%
gankit.doctor(wgan)

# %%
wgan.plot()

# %% [markdown]
# Under the same overpowering critic, the WGAN generator keeps a gradient of order 1 and its
# samples move towards the ring (W1 falls), while the original GAN's generator is left with almost
# nothing to learn from.
#
# ## 6. GAN or VAE?
#
# The lesson starts from the variational autoencoder (VAE): an encoder maps an image to a code
# whose distribution is pushed towards N(0, I), a decoder maps codes back to images, and after
# training the decoder alone is the generator. Its loss is fixed: reconstruct the input, pixel by
# pixel. When several outputs are plausible, the pixel loss is smallest for their *average*, which
# is why VAE samples tend to be blurry. A GAN is judged by a learned critic of realism instead, so
# its samples should look more like real ones.
#
# gankit compares them fairly on scikit-learn's 8x8 handwritten digits (`python
# benchmarks/images.py`, docs/benchmarks/images.md): the same network as decoder and as generator,
# the same CPU time for every model, each model's learning rates tuned with the same search budget,
# the checkpoint chosen on a validation part of the digits, and every number below measured on a
# test part that no choice ever saw, averaged over fresh seeds. At quick settings the notebook
# trains tiny models itself instead. (Training a VAE is one argument:
# `gankit.train("digits", model="vae")`.) Precision is the fraction of generated images that land
# among real ones; FID measures the distance between generated and real images in a feature space
# (lower is better); recall is the fraction of real images that have generated ones nearby. The
# "real data" row compares real digits with other real digits: the best any model can do.

# %%
vae_vs_gan = gankit.figure("vae-vs-gan", out=RUNS / "figures", quick=QUICK)
floor = vae_vs_gan.numbers["floor"]
print(f"{'model':10s} {'FID':>8s} {'precision':>10s} {'recall':>7s}")
for model, scores in vae_vs_gan.numbers["metrics"].items():
    print(f"{model:10s} {scores['fid']:8.1f} {scores['precision']:10.2f} {scores['recall']:7.2f}")
print(f"{'real data':10s} {floor['fid']:8.1f} {floor['precision']:10.2f} {floor['recall']:7.2f}")
vae_vs_gan

# %% [markdown]
# Read FID first: it compares the whole distribution of generated images with the real one, so it
# punishes both unrealistic images and missing variety. Precision and recall split that in two:
# precision asks whether each generated image looks like *some* real digit, recall whether the
# variety of real handwriting is reproduced. A decoder that always draws a blurry, average-looking
# digit can score well on precision and badly on recall; a generator trained against a learned
# critic of realism has to spread over the variety of real digits to keep fooling it.

# %% [markdown]
# ## What we saw
#
# | claim of the lesson | where you saw it |
# |---|---|
# | G and D take turns, each frozen while the other learns | section 1: `g_step` changes only G, `d_step` only D |
# | p_g approaches p_data, and D(x) flattens to 1/2 | section 2: the staged pictures and W1 |
# | D is a learned loss for G | section 3: the loss surface -log D(x) and the optimal D |
# | D is trained like a classifier, with implicit labels (real = 1, fake = 0) | section 1: the cross-entropy check |
# | too strong a D makes the generator's gradient vanish | section 4: the figure, the run, and the doctor |
# | ... and the generator worse, with SGD; Adam masks it | section 4: k = 0 vs a pre-trained D, SGD then Adam |
# | WGAN keeps the gradient and recovers | section 5: same critic, W1 falls |
# | GAN samples look more like real data than VAE samples | section 6: samples side by side; FID, precision, recall |
#
# Next: [02-mode-collapse.en.ipynb](02-mode-collapse.en.ipynb), where the generator learns to fool
# D with only a few of the data's modes, and what each remedy changes.
