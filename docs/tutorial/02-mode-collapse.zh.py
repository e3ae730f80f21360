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
# # 模式崩溃:只靠几个模式骗过判别器
#
# *English version: [02-mode-collapse.en.ipynb](02-mode-collapse.en.ipynb)。*
#
# 生成器的奖励来自判别器的"相信":判别器信以为真的样本,就是好样本。可这份奖励里没有一条要求
# **多样性**:一个生成器哪怕翻来覆去只产出同一种很逼真的样本,也能赢上一阵子。这就是**模式崩溃**
# (mode collapse),也是 GAN 最常见的"悄无声息"的失败方式:每个样本看起来都不错,只是种类太少。
#
# 用玩具数据就能把它量化。我们用两个模式(mode,即数据分布中的一个个"峰")位置完全已知的数据集,按
# PacGAN(Lin 等人 2018)的评测方法数一数生成器覆盖了其中几个:
#
# * `ring`:单位圆上 8 个很窄的高斯分布(标准差 0.01);
# * `grid`:5 x 5 网格上 25 个高斯分布(标准差 0.05)。
#
# 然后在相同的训练预算下逐一尝试几种经典对策,看看每一种把数字改变了多少。

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import gankit
from gankit.data import load_data

# 测试时会设置 GANKIT_TUTORIAL_QUICK=1,用极小的设置把每个单元格跑一遍(只检查能不能跑通,
# 数字没有意义)。自己学习时不要设置它,才能看到真实的结果(笔记本电脑上几分钟)。
QUICK = os.environ.get("GANKIT_TUTORIAL_QUICK") == "1"
torch.set_num_threads(1)  # 这么小的网络,单线程在 CPU 上反而最快
RUNS = Path("runs/tutorial-02")
print("quick settings" if QUICK else "full settings")

# %% [markdown]
# 图中的文字标注保留英文,以免系统缺少中文字体时显示成方块。
#
# ## 1. 数据,以及怎样数"覆盖了几个模式"
#
# 取 2,500 个生成样本,把每个样本归到离它最近的模式。如果它落在该模式 3 个标准差以内,就算
# **高质量**样本。如果某个模式分到的高质量样本不少于 20 个(2,500 的 0.8%),这个模式就算被
# **覆盖**了。**反向 KL** 比较高质量样本在各模式间的分布和真实数据的均匀分布:每个模式都分到应得的
# 一份时为 0;在圆环上,所有样本都挤在一个模式时为 ln 8 ≈ 2.08。gankit 每隔 `eval_every` 步计算一次
# 这些指标,记录为 `eval_modes`、`eval_high_quality`、`eval_reverse_kl`,另外还有 `eval_w1`,即与
# 真实数据之间的 Wasserstein-1 距离。

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, name in zip(axes, ("ring", "grid")):
    toy = load_data(name)
    points = toy.sample(2500, torch.Generator().manual_seed(0)).numpy()
    ax.scatter(points[:, 0], points[:, 1], s=2, color="black")
    ax.set(title=f"{name}: {len(toy.modes)} modes, sigma {toy.sigma}", aspect="equal")
plt.show()

# %% [markdown]
# ## 2. 普通 GAN 在圆环上
#
# 用非饱和损失的 GAN(`ns`),采用其论文的设置(DCGAN 的 Adam:学习率 2e-4,β1 = 0.5),网络宽 128、
# 深 3 层,批大小 256:也就是 `make demo` 里的那个 GAN。我们用 `gankit.resume` 分阶段训练,每个阶段
# 结束后看看样本都落在哪里。注意两件事:8 个模式覆盖了几个;样本是落在模式**上**,还是散在模式之间。

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
# 训练过程中监视器一直在看着(最后一个阶段训练时打印出来的那几行);训练结束后,doctor 读取这次训练的
# 指标,告诉我们它是否看到了问题、从哪一步开始(报告是英文的,与命令行 `gankit doctor` 的输出一致):

# %%
gankit.doctor(run)

# %% [markdown]
# 在完整设置下,它报告了 `mode-collapse`(模式崩溃):到第 4,000 步,8 个模式只覆盖了 3 个,而 71 % 的
# 样本是好样本。生成器找到了少数几个模式,就一直待在那里:每个样本单独看都很真,只是种类太少。(它还报告了
# `no-progress`:从第 2,500 步起 W1 就没有再变好。)怎么治,是第 4 节的内容。

# %% [markdown]
# ## 3. 为什么会这样
#
# 判别器**一次只看一个样本**。一个恰好落在真实模式上的样本,单独看是完全逼真的,不管其他样本是不是
# 也都挤在同一个模式上。于是生成器把所有样本都搬到 D 眼下最信服的那几个模式上,就能占到便宜。接着 D
# 学会了怀疑这几个模式,生成器又跳到别处;两者可能绕着圆环你追我赶,而不是稳定地覆盖全部八个模式。
#
# 每种经典对策针对的是这个过程的不同环节:
#
# | 对策 | 参数 | 思路 |
# |---|---|---|
# | 带梯度惩罚的 Wasserstein 损失 | `objective="wgan-gp"` | 评论家估计的是**两个分布之间的距离**(W1):某个模式缺了样本就要付出代价,不管每个样本单独看多逼真 |
# | PacGAN | `pack=2` | D 把 `pack` 个样本**放在一起**打分,一批长得一模一样的样本本身就露了馅 |
# | 生成器 EMA | `ema_decay=0.99` | 从生成器最近权重的滑动平均(约最近 1 / (1 - decay) = 100 步;训练初期更短:gankit 让平均逐步增长,其半衰期不超过已训练步数的 5 %)中采样:生成器来回振荡时能把它平滑掉,但生成器还在大步移动时,平均值会落在后面 |
# | PacGAN + EMA | `pack=2, ema_decay=0.99` | 两者一起用;gankit 的 `--preset toy-best` 还加上 8 维隐变量和 50,000 步训练(见 docs/benchmarks/mode_coverage.md),对这个 notebook 来说太长 |
#
# ## 4. 每种对策,相同的预算
#
# 每个配方都训练相同的生成器步数,并且用多个随机种子(GAN 训练的随机性很大:单个种子可能让任何配方
# 显得特别好或特别差)。我们报告各种子结果的中位数。为了让 15 次训练在几分钟内跑完,这里的网络更小
# (宽 64,批大小 128),Adam 学习率取 1e-3,每次只训练 1,000 步:在这个预算下谁都还没有收敛,所以请把
# 表格读成"哪种对策最先见效"。(WGAN-GP 按其论文的默认设置,每更新一次生成器要更新 5 次评论家,所以它
# 花的计算量比其他配方多。)

# %%
SEEDS = (0,) if QUICK else (0, 1, 2)
STEPS = 40 if QUICK else 1000
# preset="paper":论文的设置,而不是 grid 上测得的配方(那会自动加上 PacGAN 和 EMA)
COMMON = dict(preset="paper", g_lr=1e-3, d_lr=1e-3, eval_every=STEPS // 4, sample_every=0)
COMMON |= dict(log_every=10 if QUICK else 50)
COMMON |= dict(width=32, batch_size=64, eval_samples=500) if QUICK else dict(width=64, batch_size=128)
RECIPES = {
    "ns (plain GAN)": dict(objective="ns"),
    "wgan-gp": dict(objective="wgan-gp", g_lr=1e-4, d_lr=1e-4),  # 用其论文的学习率
    "ns + PacGAN (pack=2)": dict(objective="ns", pack=2),
    "ns + EMA (0.99)": dict(objective="ns", ema_decay=0.99),
    "ns + PacGAN + EMA": dict(objective="ns", pack=2, ema_decay=0.99),
}


def final_numbers(run):
    """一次训练最后一次评估的结果:覆盖的模式数、高质量比例、反向 KL、W1。"""
    row = [row for row in run.metrics if "eval_modes" in row][-1]
    kl = row["eval_reverse_kl"]
    return [row["eval_modes"], row["eval_high_quality"], np.inf if kl is None else kl, row["eval_w1"]]


def compare(data, recipes, steps):
    """每个配方在每个种子上各训练一次;返回每个配方各项数字在种子间的中位数。"""
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
    print(f"{data}:种子 {SEEDS} 的中位数,每次训练 {steps} 步")
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
# 按列读这张表。*modes*(模式数)和 *reverse KL*(反向 KL)衡量覆盖:每个模式是否分到了应得的一份?
# *high quality*(高质量比例)衡量精度:样本到底有没有落在模式上,还是散落在模式之间?*W1* 两者兼有。
# 一个配方可能用一项换另一项,这也是 PacGAN 和 VEEGAN 的论文同时报告好几个数字、而不是只报一个的
# 原因。各对策相对普通 GAN 的变化:


# %%
def verdicts(table, baseline="ns (plain GAN)"):
    base_modes, base_quality, base_kl, _ = table[baseline]
    for label, (modes, quality, kl, _) in table.items():
        if label != baseline:
            print(
                f"{label}:与普通 GAN 相比,模式数 {modes - base_modes:+.1f},"
                f"高质量比例 {quality - base_quality:+.1%},反向 KL {base_kl:.2f} -> {kl:.2f}"
            )


verdicts(ring_table)

# %% [markdown]
# ## 5. 网格,以及一个可信的比较
#
# 网格更难:25 个模式分布在更大的正方形里,生成器还得够到四个角。它需要的训练远远超过一个 notebook 的
# 预算(`--preset toy-best` 要训练 50,000 步),所以这个 notebook 不在网格上训练。而且圆环上的那张表有
# 三个局限,一个可信的比较必须把它们去掉:
#
# * **相同的计算量**,而不是相同的步数:WGAN-GP 的 5 次评论家更新大约相当于 5 个生成器步;
# * **每个配方各自搜索超参数**:所有人共用一个学习率,只会偏向恰好适合它的那一个;
# * **更多的随机种子和置信区间**,而且是在搜索从没见过的种子上量出来的。
#
# `benchmarks/mode_coverage.py` 正是用 `gankit sweep` 和 `gankit compare` 这样做的:每个目标函数在
# 各自敏感的超参数上得到同样多次的搜索,每次训练的 CPU 预算相同,每个目标函数的最佳配置再在五个新种子上
# 重新训练。它的表格(带置信区间、预算曲线,旁边列着 PacGAN、VEEGAN、WGAN-GP 论文公布的数字)在
# [docs/benchmarks/mode_coverage.md](../benchmarks/mode_coverage.md)。你自己的问题("我的数据该用
# 多大的学习率?")也用这两个命令:见 [docs/sweeps.md](../sweeps.md)。
#
# 还有两个手段能让网格的每个模式都被覆盖,同时样本依然清晰。连续的生成器接在连通的隐空间上,必然会在
# 模式之间的路径上放一些概率质量,而 3σ 检验恰恰拒绝这些"接缝"上的点。`--preset toy-cover` 给 G 的
# 损失加上一个**覆盖项**(IMLE 的思路:每个真实样本把离它最近的生成样本拉向自己,于是 G 还没到达的模式
# 会把质量拉过空隙),它的权重在训练中逐渐降到 0,同时对抗博弈把模式收紧。`gankit eval RUN --refine drs`
# (或 `mh`)则在采样时用训练好的 D 拒绝接缝上的点(判别器拒绝采样、Metropolis-Hastings GAN);精炼后的
# 数字和原始数字分开报告。两者在圆环和网格上各五个种子的测量结果见
# [docs/benchmarks/refinement_cover.md](../benchmarks/refinement_cover.md),原理见
# [docs/refinement.md](../refinement.md)。
#
# ## 小结
#
# * 覆盖率(模式数、反向 KL)必须和质量(高质量比例、W1)放在一起**量出来**:生成器可能在一部分模式
#   上产出好样本却漏掉其余的,也可能每个模式都碰到了,样本却散在模式之间。第 2 节的普通 GAN 就崩溃了
#   (样本好,模式只有 8 个中的 3 个);gankit 的监视器在训练中报了警,doctor 把它叫作 `mode-collapse`。
# * 每种对策都是一种取舍,效果取决于预算:需要更多步数才见效的对策(学习率很小的 WGAN-GP、让 D 的任务
#   更难的 PacGAN),训练一千步后可能还不如普通 GAN。圆环上的表格只是在**这个**预算、这些设置下,跨三个
#   种子的如实比较。
# * 要说"某个目标函数比另一个覆盖更多模式",需要相同的计算量、每个目标函数各自的搜索和新的种子:
#   `python benchmarks/mode_coverage.py`([它的表格](../benchmarks/mode_coverage.md))。
#
# 返回 [01-understanding-gans.zh.ipynb](01-understanding-gans.zh.ipynb)。
