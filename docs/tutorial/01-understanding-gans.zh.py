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
# # 动手理解 GAN
#
# *English version: [01-understanding-gans.en.ipynb](01-understanding-gans.en.ipynb)。*
#
# 很久以前,鹰就爱抓蛇吃。为了不被抓住,蛇进化出更光滑的表皮;为了抓得住,鹰的爪子越来越锋利。
# 后来蛇有了和草地融为一体的保护色,鹰也练就了更犀利的眼神。双方在竞争中互相逼着对方进步。
#
# 生成对抗网络(GAN)就是两个神经网络之间的这场"军备竞赛":
#
# * **生成器** G 把随机噪声 z 变成样本 x = G(z),好比学着伪装的蛇;
# * **判别器** D 看一个样本,给出它是真实数据的概率,好比练眼力的鹰。
#
# 这个 notebook 把经典 GAN 课程里的每个论断都变成可以运行的代码,在笔记本电脑的 CPU 上几分钟就能跑完:
#
# 1. G 和 D 轮流训练:固定 D、更新 G;再固定 G、更新 D。
# 2. 一轮又一轮,生成分布 p_g 逐渐逼近真实分布 p_data。
# 3. 判别器就是生成器的**损失函数**,而且是学出来的。
# 4. 判别器一开始就太强,反而害了生成器:生成器的梯度消失了。
# 5. 换成 Wasserstein GAN(WGAN),梯度回来了,训练也恢复了。
# 6. 在手写数字上和 VAE 相比,GAN 的样本更接近真实数据;至于是在什么意义上更接近,由数字来说明。
#
# 下面所有代码都跑在 gankit 的训练引擎上,和命令行工具 `gankit` 用的是同一套。

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import gankit

# 测试时会设置 GANKIT_TUTORIAL_QUICK=1,用极小的设置把每个单元格跑一遍(只检查能不能跑通,
# 图不必好看)。自己学习时不要设置它,才能看到真实的效果。
QUICK = os.environ.get("GANKIT_TUTORIAL_QUICK") == "1"
torch.set_num_threads(1)  # 这么小的网络,单线程在 CPU 上反而最快
RUNS = Path("runs/tutorial-01")  # 下面每次训练都会写一个运行目录,之后可以用 gankit.load 重新打开
print("quick settings" if QUICK else "full settings")

# %% [markdown]
# 图中的文字标注保留英文(p_data、p_g、D(x) 等),以免系统缺少中文字体时显示成方块。
#
# ## 1. 两位玩家,以及一轮对抗
#
# 为了把一切都**画出来**,我们用一维数据:`mixture-1d` 是两个"鼓包",即中心在 -2 和 +2、标准差为
# 0.5 的两个正态分布。生成器是一个小的多层感知机(MLP),把二维噪声 z 映射成一个数;判别器也是一个小
# MLP,把一个数映射成一个分数(logit),D(x) = sigmoid(分数) 就是它认为 x 是真实数据的概率。
#
# gankit 的 `Trainer` 管理这两个网络、它们的优化器和随机数生成器。

# %%
from gankit.config import TrainConfig, resolve
from gankit.data import load_data
from gankit.engine.loop import Trainer, d_step, g_step

data = load_data("mixture-1d")
config = TrainConfig(data="mixture-1d", objective="ns", width=64, depth=2, batch_size=128)
config = resolve(config, data.shape)  # 补全默认值(噪声维度、优化器等)
trainer = Trainer(config, data)
G, D = trainer.generator, trainer.discriminator
print(G)
print(D)

# %% [markdown]
# **固定 D,更新 G。** 生成器的损失要**穿过**判别器来计算。这里用 Goodfellow 等人(2014)提出的
# 非饱和损失 L_G = -E[log D(G(z))]。反向传播时,梯度经过 D 流回 G。这一步 D 不应该学习,所以先用
# `requires_grad_(False)` 关掉它的梯度。下面把这个机制手写一遍:

# %%
z = torch.randn(128, config.latent_dim)
D.requires_grad_(False)  # 固定 D:此刻它是损失函数,不是学习者
generator_loss = trainer.objective.generator_loss(D(G(z)))
generator_loss.backward()
D.requires_grad_(True)
print("G 有梯度:", all(p.grad is not None for p in G.parameters()))
print("D 有梯度:", any(p.grad is not None for p in D.parameters()))
G.zero_grad(set_to_none=True)

# %% [markdown]
# `gankit.engine.loop` 里的 `g_step` 就是上面这几行再加一步优化器更新。`d_step` 正好反过来:**固定 G,
# 更新 D**。G 的样本在 `torch.no_grad()` 下生成,所以只有 D 会变。我们来验证每一步到底改动了哪个网络:


# %%
def snapshot(network):
    return [p.detach().clone() for p in network.parameters()]


def changed(before, network):
    return any(not torch.equal(old, new) for old, new in zip(before, network.parameters()))


g_before, d_before = snapshot(G), snapshot(D)
g_step(G, D, trainer.g_optimizer, trainer.objective, config, trainer.rng)
print(f"g_step 之后:G 变了 {changed(g_before, G)},D 变了 {changed(d_before, D)}")

g_before, d_before = snapshot(G), snapshot(D)
d_step(G, D, trainer.d_optimizer, trainer.objective, config, data, trainer.rng)
print(f"d_step 之后:G 变了 {changed(g_before, G)},D 变了 {changed(d_before, D)}")

# %% [markdown]
# 训练的一"步"就是先 `d_step`(鹰的回合,重复 `critic_steps` 次),再 `g_step`(蛇的回合)。如此反复,
# 就是一个 GAN。`Trainer.fit` 只是在这个循环外面加上日志、评估和检查点;`gankit.train` 调用它,并把
# 结果写进运行目录。
#
# 注意 D 是用什么训练的。学习数据的分布是**无监督**的:没有人给图片打标签。可 D 的损失却是一个普通的
# 有监督分类损失(二元交叉熵),标签是白送的:来自数据集的样本标 1,G 生成的样本标 0。标签隐含在样本的
# 来源里,于是这场博弈把一个无监督问题变成了一个随 G 的进步而不断变化的有监督问题。下面两个数是同一个损失:

# %%
bce = torch.nn.functional.binary_cross_entropy_with_logits
with torch.no_grad():
    real_scores, fake_scores = D(data.sample(64, trainer.rng)), D(G(torch.randn(64, config.latent_dim)))
    # labels: 1 for real, 0 for fake; nobody wrote them, they come from where each sample came from
    labelled = bce(real_scores, torch.ones_like(real_scores)) + bce(fake_scores, torch.zeros_like(fake_scores))
    print(f"cross-entropy with the implicit labels: {labelled.item():.4f}")
    print(f"D's loss in gankit (objectives.py):      {trainer.objective.discriminator_loss(real_scores, fake_scores).item():.4f}")


# %% [markdown]
# ## 2. 看着 p_g 一步步走向 p_data
#
# Goodfellow 等人(2014)的图 1 用一维的例子画出了这场博弈:黑线是真实数据,绿色是生成分布,蓝色虚线是
# 判别器 D(x)。我们分阶段训练:`gankit.resume` 会从上次停下的地方**逐位精确地**接着训练,每个阶段结束后
# 画一张同样的图。

# %%
STAGES = [10, 20, 40] if QUICK else [25, 150, 1000]
ONE_D = dict(width=64, depth=2, batch_size=128, g_lr=1e-3, d_lr=1e-3, log_every=25, eval_every=25)
ONE_D |= dict(eval_samples=500, sample_every=0) if QUICK else {}
grid = np.linspace(-4.5, 4.5, 200)[:, None]
real = data.sample(5000, torch.Generator().manual_seed(0)).numpy()


def draw_stage(ax, run):
    """在当前步数下画出真实数据、生成样本和 D(x)。"""
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
# 一开始 p_g 挤在一处,D(x) 的判断也很干脆:在旁边没有假样本的真实数据处高,在假样本扎堆的地方低。
# 生成器顺着 D 的斜坡朝真实数据移动;D 又重新学习假样本现在在哪里;一轮接一轮。最后 p_g 盖住了两个
# 鼓包,而 D(x) 在两个分布重合的地方趋于 1/2:它已经分不清真假了。这条平坦的 D 就是博弈的均衡点。
#
# (训练过程中,gankit 的监视器可能会报出"模式崩溃"(mode collapse)的警告:生成器往往先找到一个鼓包,
# 再找到另一个。在这里这只是暂时现象;什么时候它不再是暂时的,是第 2 篇教程的主题。)
#
# 指标日志用数字讲的是同一个故事:`eval_w1` 是生成样本与真实样本之间的 Wasserstein-1 距离,
# `eval_modes` 是两个鼓包中被覆盖了几个。

# %%
for row in run.metrics:
    if row["step"] in STAGES and "eval_w1" in row:  # 每个阶段结束时
        print(f"第 {row['step']:5d} 步  W1 {row['eval_w1']:.3f}  覆盖了 {row['eval_modes']} 个鼓包(共 2 个)")
run.plot()

# %% [markdown]
# ## 3. 判别器是一个学出来的损失函数
#
# 监督学习有固定的损失函数:一个公式,告诉我们输出错了多少。可"这个样本像不像真的"没有简单的公式:
# 两张真实照片可能每个像素都不同,一张假照片却可能和真照片只差一个像素。GAN 干脆把损失函数**学出来**。
# 固定 D 时,生成器在它生成的点 x = G(z) 上最小化
#
# L_G(x) = -log D(x)
#
# 这和对任何损失函数做梯度下降没有区别。而固定 G、训练 D 时,相当于把损失函数换成一个更精准的新版本。
# 下面画出上一节的生成器所"看到"的损失曲面,以及它的样本所在的位置:

# %%
scores = run.discriminator_scores(grid)
loss_for_generator = np.logaddexp(0, -scores)  # 即 -log sigmoid(分数),这样算数值更稳定
samples = run.sample(2000)[:, 0]
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(grid[:, 0], loss_for_generator, color="#1f5fbf", label="L_G(x) = -log D(x)")
ax.hist(samples, bins=60, density=True, alpha=0.4, color="#2a9d3a", label="G's samples")
ax.hist(real[:, 0], bins=60, density=True, histtype="step", color="black", label="data")
ax.set(xlabel="x", title="the loss the discriminator hands to the generator")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# 生成器把样本放在真实数据没有的地方时,损失很高,斜坡指回真实数据;两者一致的地方,损失平坦地停在
# log 2 ≈ 0.69(此时 D(x) = 1/2)。
#
# 对固定的 G,最优判别器有解析解(Goodfellow 等人 2014,命题 1):
# D*(x) = p_data(x) / (p_data(x) + p_g(x))。gankit 的 `optimal-discriminator` 图针对一个固定的 G
# 训练 D,并把它和这个公式对比。左图用两个相互重叠、密度完全已知的高斯分布:训练出的 D(虚线)落在 D*
# 上(标题给出两者的最大差距)。另外两幅图把两个高斯分布拉开到互不重叠:这时最好的 D 在真实数据上为 1、在
# 假样本上为 0,两处都是平的,在生成器样本所在的位置斜率约为 0;而 WGAN 的评论家仍保有有用的斜率(第 5 节)。

# %%
gankit.figure("optimal-discriminator", out=RUNS / "figures", quick=QUICK)

# %% [markdown]
# ## 4. 判别器太强,生成器反而学不动
#
# 既然 D 就是损失函数,D 越好,生成器应该越好才对。那为什么不一开始就把 D 训练得特别好?课程里的提醒恰恰
# 相反:在原始的 GAN 中,这样做生成器会**变差**。如果鹰天生就有完美的眼力,蛇就失去了进化的方向。
#
# 原因藏在损失函数里。原始的("饱和的",minimax)损失是 L_G = E[log(1 - D(G(z)))],它对 D 的分数 s
# 的导数是 -sigmoid(s) = -D(G(z))。一个能自信地识破假样本的判别器给出 D(G(z)) ≈ 0,于是梯度 ≈ 0:
# 生成器恰恰在输得最惨的时候学不到东西。用课程里的话说:当两个分布几乎不重叠时,这个 D 所估计的
# JS 散度(Jensen-Shannon 散度)卡在 log 2,不再反映两个分布相差多远。
#
# 先看一个干净的实验(Arjovsky 和 Bottou 2017,图 2):固定一个生成器,针对它从头训练判别器,
# 并随着 D 变强测量生成器得到的梯度。

# %%
gankit.figure("vanishing-gradients", out=RUNS / "figures", quick=QUICK)

# %% [markdown]
# 这会让**训练出来的**生成器变差吗?受控的检验是 `strong-discriminator` 实验:数据是一个二维高斯分布,
# 离生成器的起点很远;先让 D 单独对着未训练的生成器预训练 k 次(k = 0 就是普通训练),再让两者一起训练
# 300 个生成器步,最后量生成器离数据有多远(W1,越小越好;也打印未训练生成器的 W1:停在那里就是"根本没动")。
# 五个随机种子,取中位数。
#
# 先用普通的 SGD,也就是 2014 年论文用的优化器:一步的大小是学习率 x 梯度,梯度消失,步子也就消失了。
# 两个目标函数的优化器设置完全相同(会打印出来):G 和 D 用同一个学习率,每个生成器步配一次 D 更新,
# 网络、批大小和生成器步数也相同。唯一不同的是损失函数(WGAN-GP 用 gankit 在玩具数据上的惩罚权重 0.1)。

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
# 在完整设置下输出是:用 SGD 时,原始 minimax GAN 普通训练后的 W1 为 0.55(起点是未训练生成器的距离
# 3.51),而 D 预训练 1,000 次之后是 3.45:过于自信的 D 没给它留下梯度,它几乎没动。优化器设置完全相同的
# WGAN-GP 生成器在同样的预训练之后停在 0.65(不预训练是 0.78):训练到最优的评论家给出的恰恰是最有用的
# 梯度,预训练它没有害处。
#
# 再用 Adam 做一遍,这是今天几乎人人都用的优化器(两个目标函数仍然用相同的设置:DCGAN 的 betas (0.5, 0.999)):

# %%
compare("adam")

# %% [markdown]
# 在完整设置下:有预训练 D 时 minimax 停在 0.38,没有时是 0.60,害处不见了(WGAN-GP:0.67 和 1.07;
# 没有训练好的评论家时它的生成器到得慢一些,但并没有受害)。Adam 把每个梯度除以它自身
# 大小的滑动估计,所以一个很小但方向一致的梯度仍然能迈出约一个学习率大小的步子:Adam **掩盖**了梯度消失。
# 梯度本身依然很小,下面的真实训练会显示这一点,监视器也照样会报警。
#
# 再看真实的训练。数据换成 `ring`:圆周上八个很窄的鼓包,刚初始化的生成器(圆心附近的一小团)和它们
# 完全不重叠。我们让 D 远强于 G:每更新一次生成器就更新 20 次判别器,判别器的学习率是生成器的 50 倍。

# %%
STRONG = dict(critic_steps=20, d_lr=1e-3, g_lr=2e-5, width=64, depth=2, batch_size=128)
STRONG |= dict(log_every=2, eval_every=4, eval_samples=500) if QUICK else dict(log_every=10, eval_every=50)
STRONG_STEPS = 12 if QUICK else 300
STRONG |= dict(critic_steps=2) if QUICK else {}
minimax = gankit.train("ring", "minimax", STRONG_STEPS, out=RUNS / "strong-minimax", overwrite=True, **STRONG)

# %% [markdown]
# 训练过程中,gankit 的监视器已经报了警。`gankit.doctor` 读取训练完的运行目录,指出问题的名字、能说明
# 问题的数字,以及该怎么办(报告是英文的,与命令行 `gankit doctor` 的输出一致):

# %%
gankit.doctor(minimax)

# %% [markdown]
# 把证据画出来:D 对假样本的判断 D(G(z)) 跌向 0,生成器的梯度范数比它的峰值低了几个数量级。

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
left.semilogy(*minimax.metric("p_fake"), color="#1f5fbf")
left.set(title="D(G(z)): D's probability that a fake is real", xlabel="step")
right.semilogy(*minimax.metric("g_grad_norm"), color="#2a9d3a")
right.set(title="generator gradient norm (minimax loss)", xlabel="step")
plt.show()

# %% [markdown]
# ## 5. 换成 Wasserstein GAN,训练恢复了
#
# Arjovsky、Chintala 和 Bottou(2017)用 Wasserstein-1 距离(又叫推土机距离,earth mover's distance)
# 代替了 JS 散度:要把 p_g 变成 p_data,需要把多少"土"搬多远。即使两个分布完全不重叠,它也会随着两者
# 距离的增大而继续增大;而 JS 散度一直卡在 log 2。课程里说"KL 或 JS 散度":第三幅图量的是
# KL(P_0 ‖ P_θ),它更糟。它是 log p_0(x)/p_θ(x) 在真实数据上的平均,而在生成器没有质量的地方这个比值是
# 无穷大:对每个 θ ≠ 0,KL 都是 +∞。训练好的 D 的 logit 估计的正是这个对数比值,它的估计值随着 D 训练得
# 越久而一直往上爬(两行标记:D 训练一半和全部更新之后),因为根本没有一个有限值可以收敛到:

# %%
gankit.figure("js-saturation", out=RUNS / "figures", quick=QUICK)

# %% [markdown]
# WGAN 的"评论家"(critic)f 没有 sigmoid:它输出一个无界的分数,并被约束为 1-Lipschitz(这里用
# Gulrajani 等人 2017 提出的梯度惩罚,即 `wgan-gp`),生成器最小化 -E[f(G(z))]。无论评论家训练得多好,
# 它给生成器的梯度朝向真实数据的斜率都约为 1。数据、网络、学习率和每个生成器步配 20 次评论家更新都相同;换的是目标函数,以及随之而来的默认值:
# Adam 的 betas 从 (0.5, 0.999) 变为 (0, 0.9),外加梯度惩罚(玩具数据上 λ = 0.1):

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
# 在同样过强的评论家面前,WGAN 的生成器始终保有量级为 1 的梯度,样本一步步移向圆环(W1 下降);
# 原始 GAN 的生成器却几乎学不到任何东西。
#
# ## 6. GAN 还是 VAE?
#
# 课程是从变分自编码器(VAE)讲起的:编码器把图片映射成一个编码,并让编码的分布接近标准正态分布
# N(0, I);解码器再把编码还原成图片;训练完成后,单独拿出解码器当生成器用。它的损失函数是固定的:
# 逐像素地重建输入。当好几种输出都说得通时,像素损失在它们的**平均**处最小,所以 VAE 生成的图片往往
# 发糊。GAN 则由一个学出来的"真实度裁判"来评判,所以它的样本应当更像真的。
#
# gankit 在 scikit-learn 自带的 8x8 手写数字上公平地比较这两种模型(`python benchmarks/images.py`,
# 见 docs/benchmarks/images.md):解码器和生成器用同一个网络,每个模型的 CPU 时间相同,各自的学习率用
# 同样多次的搜索调好,检查点在数字的验证部分上挑选,下面的每个数字都在任何选择都没用过的测试部分上
# 测得,并在新的随机种子上取平均。快速设置下,笔记本改为自己训练几个很小的模型。(训练 VAE 只需一个参数:`gankit.train("digits", model="vae")`。)precision(精确率)
# 是生成图片中落在真实图片附近的比例;FID 衡量生成图片与真实图片在特征空间中的距离(越低越好);
# recall(召回率)是真实图片中附近有生成图片的比例。"real data" 一行是真实数字和另一批真实数字
# 相比的结果,也就是任何模型能做到的最好水平。

# %%
vae_vs_gan = gankit.figure("vae-vs-gan", out=RUNS / "figures", quick=QUICK)
floor = vae_vs_gan.numbers["floor"]
print(f"{'model':10s} {'FID':>8s} {'precision':>10s} {'recall':>7s}")
for model, scores in vae_vs_gan.numbers["metrics"].items():
    print(f"{model:10s} {scores['fid']:8.1f} {scores['precision']:10.2f} {scores['recall']:7.2f}")
print(f"{'real data':10s} {floor['fid']:8.1f} {floor['precision']:10.2f} {floor['recall']:7.2f}")
vae_vs_gan

# %% [markdown]
# 先看 FID:它把生成图片的整体分布和真实分布相比,所以图片不逼真、种类不够多,都会被它扣分。精确率和
# 召回率把这两件事拆开:精确率问的是每张生成图片像不像**某个**真实数字,召回率问的是真实笔迹的多样性
# 有没有被再现出来。一个总是画出模糊、"平均长相"数字的解码器,可能精确率不错、召回率却很差;而一个
# 对着"真实度裁判"训练出来的生成器,必须铺开到真实数字的各种写法上,才能一直骗过裁判。

# %% [markdown]
# ## 小结
#
# | 课程中的论断 | 在哪里看到 |
# |---|---|
# | G 和 D 轮流训练,一方学习时另一方固定 | 第 1 节:`g_step` 只改 G,`d_step` 只改 D |
# | p_g 逼近 p_data,D(x) 趋于 1/2 | 第 2 节:分阶段的图和 W1 |
# | D 是 G 学出来的损失函数 | 第 3 节:损失曲面 -log D(x) 与最优判别器 |
# | D 像分类器一样训练,标签是隐含的(真 = 1,假 = 0) | 第 1 节:交叉熵的核对 |
# | D 太强,生成器的梯度消失 | 第 4 节:经典图、真实训练和 doctor 的诊断 |
# | ……用 SGD 时生成器也会变差;Adam 掩盖了它 | 第 4 节:k = 0 与预训练 D 的对比,先 SGD 后 Adam |
# | WGAN 保住梯度,训练恢复 | 第 5 节:同样的评论家,W1 下降 |
# | GAN 的样本比 VAE 的更接近真实数据 | 第 6 节:并排的样本;FID、精确率、召回率 |
#
# 下一篇:[02-mode-collapse.zh.ipynb](02-mode-collapse.zh.ipynb):生成器只靠数据中的少数几个模式就骗过了
# 判别器,这就是模式崩溃;以及每种对策能把数字改善多少。
