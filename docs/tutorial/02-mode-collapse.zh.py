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
# 然后让 `gankit doctor` 说出问题所在,看看每种对策在 gankit 自己的基准测试里修好了多少次类似的训练,
# 再照它排在第一位的对策去做。

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import gankit
from gankit.data import load_data
from gankit.diagnose.measured import load_rates  # 基准测试测得的成功率,doctor 打印的就是它

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
# 深 3 层,批大小 256:也就是 `make demo` 里的那个 GAN,也是 remedies 基准测试里圆环案例的"坏配方"
# (`gankit train --data ring --objective ns --steps 5000`)。我们用 `gankit.resume` 分阶段训练,每个
# 阶段结束后看看样本都落在哪里。注意两件事:8 个模式覆盖了几个;样本是落在模式**上**,还是散在模式之间。

# %%
STEPS = {"ring": 40, "grid": 40} if QUICK else {"ring": 5000, "grid": 20000}
STAGES = [STEPS["ring"] // 4, STEPS["ring"] // 2, STEPS["ring"]]
MINE = dict(eval_every=250, log_every=50, sample_every=0)  # 多久评估一次;配方本身用默认设置
# 单线程、fp32:gankit 的自动速度设置会在这台机器上计时、选更快的那种,而 bf16 的舍入不同,
# 下面的数字就会随机器的负载而变
MINE |= dict(threads=1, amp=False)
if QUICK:
    MINE |= dict(width=32, batch_size=64, eval_every=10, log_every=5, eval_samples=500)
ring = load_data("ring")
ring_modes = ring.modes.numpy()


def show(ax, a_run, modes, title):
    """一次训练的样本(绿色)和数据的模式(红叉),标题里是最后一次评估的结果。"""
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
# 训练过程中监视器一直在看着(各阶段训练时打印出来的那几行);训练结束后,doctor 读取这次训练的指标
# (报告是英文的,与命令行 `gankit doctor` 的输出一致):第一行说明训练现在的状态,以及出过哪些问题、
# 从哪一步到哪一步。对训练结束时仍未解决的问题,它列出该改什么:先列在 gankit 基准测试里测过的对策,
# 每条都注明它修好了多少次类似的训练:

# %%
diagnosis = gankit.doctor(run)
diagnosis

# %% [markdown]
# ## 3. 为什么会这样
#
# 判别器**一次只看一个样本**。一个恰好落在真实模式上的样本,单独看是完全逼真的,不管其他样本是不是
# 也都挤在同一个模式上。于是生成器把所有样本都搬到 D 眼下最信服的那几个模式上,就能占到便宜。接着 D
# 学会了怀疑这几个模式,生成器又跳到别处;两者可能绕着圆环你追我赶,而不是稳定地覆盖全部八个模式。
#
# 每种对策针对的是这个过程的不同环节:
#
# | 对策 | 参数 | 思路 |
# |---|---|---|
# | 覆盖项 | `--coverage-weight 10` | 每个真实样本把离它最近的生成样本拉向自己(IMLE 的思路),于是 G 还没到达的模式会把质量拉过空隙;它的权重在训练中逐渐降到 0,同时对抗博弈把模式收紧 |
# | 网格上测得的配方 | `--preset toy-cover`、`--preset toy-modes` | PacGAN + EMA + 低维隐变量,批大小 512,Adam 1e-3;toy-cover 还加上覆盖项(docs/refinement.md) |
# | 相对配对损失 | `--objective rpgan` | D 把每个真实样本和一个生成样本**成对**比较,两边都加梯度惩罚(R3GAN) |
# | PacGAN | `--pack 2` | D 把 2 个样本**放在一起**打分,一批长得一模一样的样本本身就露了馅 |
# | 带梯度惩罚的 Wasserstein 损失 | `--objective wgan-gp` | 评论家估计的是**两个分布之间的距离**(W1):某个模式缺了样本就要付出代价,不管每个样本单独看多逼真 |
# | 生成器 EMA | `--ema-decay 0.999` | 从生成器最近权重的滑动平均中采样:生成器来回振荡时能把它平滑掉,但生成器还在大步移动时,平均值会落在后面 |
# | 学习率衰减 | `--lr-decay-start 0` | 两个学习率线性降到 0,你追我赶就慢了下来 |
# | 采样时精炼 | `gankit eval RUN --refine drs` | 不再训练:用训练好的 D 拒绝它认为最不真实的样本(DRS) |
#
# 民间经验说它们都有用。基准测试把它量了出来。
#
# ## 4. 量出来的对策
#
# `benchmarks/remedies.py` 在五个报告种子上训练"坏配方",保留 doctor 在训练结束时仍指出该问题的那些。
# 然后在与坏训练相同的预算下施用每种对策:从头开始(*restart*:同样的参数再加上对策的参数),以及从
# doctor 第一次发现崩溃时的检查点开始(*init-from*);一次训练算作**修好**,要求训练结束时问题已经消失,
# **并且**至少 80 % 的模式被覆盖、高质量样本至少占 50 %。doctor 读的就是这些计数
# (`src/gankit/diagnose/remedy_rates.json`);包含所有案例及其评测方法的页面是
# [docs/benchmarks/remedies.md](../benchmarks/remedies.md)。它的网格案例,也就是第 5 节的坏配方:


# %%
def measured_table(case):
    """基准测试中一个案例的成功率:每种对策、每种施用方式,n 次中修好 k 次,以及区间。"""
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
# 五个种子不算多:即使 5 次全部修好,区间的下限也只有大约 57 %。但这张表已经把有用的和没用的分开了,
# 有些民间经验排在最后。
#
# 圆环上没有成功率:在基准测试的五个报告种子上,第 2 节配方的普通 GAN 到第 5,000 步时没有一个仍处于
# 崩溃状态(页面上的 ring-ns 案例),所以没有什么可修的。在圆环上,崩溃常常只是普通 GAN 会自己走出来的
# 一段**经历**,doctor 也把它当作一段经历来报告,写明它从哪一步开始、到哪一步结束。如果某次圆环上的训练
# 到结束时仍然崩溃(我们这一次可能就是),doctor 会退而使用最接近的已测案例,并写明是哪一个("collapsed
# grid runs")。在网格上,用论文的设置,崩溃大多会一直持续下去:基准测试的 5 次坏训练里有 4 次到结束时
# 仍然崩溃(页面上的 grid-ns 案例)。
#
# ## 5. 网格:一直持续的崩溃,以及 doctor 的对策
#
# 网格更难:25 个模式分布在更大的正方形里,生成器还得够到四个角。这正是用户会带来的问题:
# `gankit train --data grid --objective ns --preset paper --steps 20000`。(不加 `--preset paper`
# 时,gankit 在网格上训练的是**测出来的**配方,它不会崩溃:见 docs/benchmarks/toy_defaults.md。)大多数
# 种子到结束时都崩溃,但不是每一个;哪些会崩溃还取决于机器(它的浮点运算内核),所以下面的单元依次训练
# 种子 0、1、2,留下第一个到结束时仍然崩溃的:也就是用户会带给 doctor 的那次训练。这一节要跑几分钟,
# 遇到不崩溃的种子时更久。

# %%
grid = load_data("grid")
grid_modes = grid.modes.numpy()
# 我们的命令 `--data grid --objective ns --preset paper --steps 20000`,写成关键字参数
OURS = dict(data="grid", objective="ns", preset="paper", steps=STEPS["grid"]) | MINE
for seed in range(3):
    grid_run = gankit.train(out=RUNS / "grid-ns", overwrite=True, seed=seed, **OURS)
    grid_diagnosis = gankit.doctor(grid_run)
    if "mode-collapse" in grid_diagnosis["open"]:
        break
    print(f"seed {seed} did not end collapsed ({grid_diagnosis['headline']})")
OURS |= dict(seed=seed)  # 下面重新训练时保留这个种子
grid_diagnosis

# %% [markdown]
# 现在照 doctor 说的做。`grid_diagnosis.remedies()` 就是它打印的那张列表,最好的排在最前;每一项的
# `settings` 是 `gankit.train` 的关键字参数:把它叠加在我们自己的设置上,就是带着这条对策重新训练,和在
# 命令行里加上它的参数一样。我们也用它列出的第一条"在基准测试里没有帮助"的对策重新训练一次。


# %%
def restart_with(entry, name):
    """把 doctor 的一条对策叠加在我们自己的设置上,把网格上的训练从头再跑一遍。"""
    print(entry["text"])
    return gankit.train(out=RUNS / name, overwrite=True, **(OURS | entry["settings"]))


remedies = grid_diagnosis.remedies("mode-collapse")
if not remedies:  # 换一个没有崩溃的种子时,单元格照样要能跑通
    quick = [({"coverage_weight": 10.0}, "helped"), ({"ema_decay": 0.999}, "did not help")]
    remedies = [dict(text=f"(no collapse) {s}", settings=s, status=status) for s, status in quick]
failed = [e for e in remedies if e["status"] == "did not help" and e["settings"]]  # 需要训练的那种
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
# 注意重新训练时保留了什么:我们的数据、目标函数、步数和种子。预设类的对策用它自己的配方替换论文的设置
# (`--preset paper`);参数类的对策(`--coverage-weight 10`)则叠加在论文的设置之上。
#
# ## 6. 公平地比较目标函数
#
# 对策表回答的是"什么能修好**这一次**坏掉的训练"。哪个目标函数覆盖模式最好,是另一个问题:它需要
# **相同的计算量**(WGAN-GP 的 5 次评论家更新大约相当于 5 个生成器步)、**每个目标函数各自搜索超参数**
# (所有人共用一个学习率,只会偏向恰好适合它的那一个),以及带置信区间的**新种子**。
# `benchmarks/mode_coverage.py` 用 `gankit sweep` 和 `gankit compare` 做到了这些:
# [docs/benchmarks/mode_coverage.md](../benchmarks/mode_coverage.md)。你自己的问题("我的数据该用多大的
# 学习率?")也用这两个命令:见 [docs/sweeps.md](../sweeps.md)。覆盖项和采样时精炼的原理见
# [docs/refinement.md](../refinement.md)。
#
# ## 小结
#
# * 覆盖率(模式数、反向 KL)必须和质量(高质量比例、W1)放在一起**量出来**:生成器可能在一部分模式
#   上产出好样本却漏掉其余的。gankit 的监视器在训练中报警,doctor 把它叫作 `mode-collapse`,并写明它从
#   哪一步开始(以及在哪一步结束:在圆环上它常常只是一段经历;在网格上,用论文的设置,它大多会一直持续)。
# * 对策是需要测量的论断,而不是民间经验:doctor 按每条对策在基准测试里修好类似训练的频率排序,
#   没有帮助的排在最后。
# * 施用第一条对策只需一行(`diagnosis.remedies()[0]["settings"]`),上面的数字会告诉你它在**你的**种子上
#   是否奏效。
#
# 返回 [01-understanding-gans.zh.ipynb](01-understanding-gans.zh.ipynb)。
