"""Speed: gankit's Trainer against a minimal hand-written PyTorch loop, side by side in one process.

Both sides train the same networks (gankit's builders, same seed), with the same objective,
optimiser, batch size, critic steps and data sampler; the hand loop is what a user would write
(separate critic calls on real, fake and interpolates; no statistics, no logging). gankit runs
through ``Trainer.fit`` as ``gankit train`` does (a metrics row every ``log_every`` steps).

Timing alternates blocks of steps of the two sides (order flipped every round) and reports
medians; the overhead is the ratio of the two sides' median step times (the same numbers as the
steps/s columns). A page is written only when the load average stayed at or below MAX_LOAD.
FLOPs per generator step are counted with ``torch.profiler``
(``with_flops=True``: matrix products and element-wise arithmetic; convolution *backward* is not
counted, so conv rows are lower bounds), and compared with the best fp32 ``torch.mm`` throughput
measured in the same run at the shapes of the row's matrix products.

    .venv/bin/python benchmarks/speed.py            # writes docs/benchmarks/speed.md and speed.json
    .venv/bin/python benchmarks/speed.py --render   # the page again from speed.json, measuring nothing
    .venv/bin/python benchmarks/speed.py --quick    # a smoke run: few steps, prints only

Every explanatory sentence of the page is written from the measurements it explains (and left out
when they do not show it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.config import TrainConfig, resolve
from gankit.data import load_data
from gankit.engine.loop import Trainer, pick_device
from gankit.nets import build_networks

ROOT = Path(__file__).resolve().parents[1]
NETS = {  # name: (data, config overrides)
    "MLP 3x128": ("ring", {"width": 128, "depth": 3, "batch_size": 256}),
    "MLP 3x512": ("ring", {"width": 512, "depth": 3, "batch_size": 256}),
    "DCGAN digits": ("digits", {"batch_size": 64}),
    # the `fashion` preset's networks (28x28, width 32): its speed options only, not a gankit-vs-hand row
    "DCGAN fashion": ("fashion-mnist", {"batch_size": 64, "width": 32}),
}
ROWS = [(objective, net) for net in NETS if net != "DCGAN fashion" for objective in ("wgan-gp", "ns")]
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mv", "aten::addmv")
TOP_OPS = 3  # the other ops the page names, by self CPU time
MAX_LOAD = 2.0  # the project's rule: a speed table measured above load average 2 is not published
OVERHEAD_TARGET, PEAK_TARGET = 0.03, 0.8  # the targets: overhead <= 3 %, >= 80 % of the mm peak
OPTION_ROWS = [  # (objective, net, option label, config overrides): each against its default
    ("wgan-gp", "MLP 3x512", "--amp", {"amp": True}),
    ("wgan-gp", "MLP 3x512", "--compile", {"compile": True}),
    ("ns", "DCGAN digits", "--channels-last", {"channels_last": True}),
    ("ns", "DCGAN digits", "--amp", {"amp": True}),
    ("ns", "DCGAN digits", "--compile", {"compile": True}),
    ("ns", "DCGAN fashion", "--channels-last", {"channels_last": True}),
    ("ns", "DCGAN fashion", "--amp", {"amp": True}),
]


def make_config(objective: str, net: str, **changes) -> tuple[TrainConfig, object]:
    data_name, overrides = NETS[net]
    data = load_data(data_name)
    config = TrainConfig(data=data_name, objective=objective, eval_every=0, seed=0, **overrides, **changes)
    return resolve(config, tuple(data.shape)), data


# --- the minimal hand-written loop --------------------------------------------------------------


def hand_loop(config: TrainConfig, data, device: torch.device) -> Callable[[int], None]:
    """What a user writes by hand for ``config``: returns run(n) doing n generator steps."""
    torch.manual_seed(config.seed)
    G, D = (net.to(device) for net in build_networks(config, tuple(data.shape)))
    assert config.optimizer == config.g_optimizer == "adam"  # both rows' paper default
    opt_g = torch.optim.Adam(G.parameters(), lr=config.g_lr, betas=config.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.d_lr, betas=config.betas)
    rng = torch.Generator(device).manual_seed(config.seed)
    B, Z, wgan = config.batch_size, config.latent_dim, config.objective == "wgan-gp"

    def run(n: int) -> None:
        for _ in range(n):
            for _ in range(config.critic_steps):
                real = data.sample(B, rng)
                with torch.no_grad():
                    fake = G(torch.randn(B, Z, generator=rng, device=device))
                if wgan:
                    eps = torch.rand((B,) + (1,) * (real.dim() - 1), generator=rng, device=device)
                    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
                    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
                    penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
                    loss = D(fake).mean() - D(real).mean() + config.gradient_penalty_weight * penalty
                else:
                    loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
                opt_d.zero_grad(set_to_none=True)
                loss.backward()
                opt_d.step()
            D.requires_grad_(False)
            scores = D(G(torch.randn(B, Z, generator=rng, device=device)))
            loss = -scores.mean() if wgan else F.softplus(-scores).mean()
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            D.requires_grad_(True)

    return run


def gankit_loop(config: TrainConfig, data, device: torch.device) -> Callable[[int], None]:
    """gankit's Trainer.fit, n generator steps at a time (the same path as `gankit train`)."""
    threads = torch.get_num_threads() if config.threads == "auto" else config.threads
    trainer = Trainer(config, data, device)

    def run(n: int) -> None:
        torch.set_num_threads(threads)  # a --threads variant timed beside the default sets its own
        trainer.config = trainer.config.replace(steps=trainer.step + n)
        trainer.fit()

    return run


# --- measurements -------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(run: Callable[[int], None], n: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    run(n)
    synchronize(device)
    return time.perf_counter() - start


def interleaved(runs: dict[str, Callable[[int], None]], device, rounds: int, block_s: float) -> dict:
    """Seconds per call of each run, timed in blocks of about ``block_s`` that take turns (the order
    rotates every round), so that a machine shared with other jobs slows every run alike."""
    for run in runs.values():  # warm up (and let torch.compile compile)
        run(2)
    calls = {name: max(2, round(block_s * 2 / seconds(run, 2, device))) for name, run in runs.items()}
    names, per_call = list(runs), {name: [] for name in runs}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            per_call[name].append(seconds(runs[name], calls[name], device) / calls[name])
    return per_call


def median_ratio(a: list[float], b: list[float]) -> float:
    """The median over rounds of a[r] / b[r]: robust to the load changing between rounds."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def spread(values: list[float]) -> float:
    """max / min - 1 over rounds: how much a timing moved between rounds (0: not at all)."""
    return max(values) / min(values) - 1


def profile_step(run: Callable[[int], None], device: torch.device) -> dict:
    """One generator step under torch.profiler: its FLOPs (``flops``), the peak bytes of tensors
    allocated during it (``memory``), the share of its self CPU time in matrix products
    (``matmul_share``) and the TOP_OPS other ops with the largest shares (``top_ops``)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    run(1)  # warm
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with profile(activities=activities, with_flops=True, profile_memory=True) as prof:
        run(2)
    averages = prof.key_averages()
    flops = sum(event.flops for event in averages) / 2
    self_time = {event.key: event.self_cpu_time_total for event in averages}
    total_time = sum(self_time.values()) or 1.0
    others = sorted((key for key in self_time if key not in MATMUL_OPS), key=self_time.get, reverse=True)
    found = {
        "flops": flops,
        "matmul_share": sum(self_time.get(key, 0.0) for key in MATMUL_OPS) / total_time,
        "top_ops": [[key, self_time[key] / total_time] for key in others[:TOP_OPS]],
    }
    if device.type == "cuda":
        return found | {"memory": torch.cuda.max_memory_allocated(device) - base}
    # CPU: replay every event's own allocations minus frees (ops, and the "[memory]" frees outside
    # them) in time order; the running total's maximum is the step's peak
    total = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        total += event.self_cpu_memory_usage
        peak = max(peak, total)
    return found | {"memory": peak}


def matmul(shape: tuple[int, int, int], device: torch.device) -> tuple[Callable[[int], None], float]:
    """(run(n): n fp32 torch.mm of an (m, k) by (k, n) matrix, FLOPs of one)."""
    m, k, n = shape
    x, w = torch.randn(m, k, device=device), torch.randn(k, n, device=device)

    def run(calls: int) -> None:
        for _ in range(calls):
            torch.mm(x, w)

    return run, 2 * m * k * n


def fastest_matmul(config: TrainConfig, device: torch.device) -> tuple[tuple[int, int, int], float]:
    """The MLP step's matrix-product shape that torch.mm runs fastest here, and its FLOP/s: rows x
    width @ width x width and the weight gradient width x rows @ rows x width, for rows = batch and
    2 x batch (the joint critic call)."""
    B, w = config.batch_size, config.width
    best = (None, 0.0)
    for shape in [(B, w, w), (2 * B, w, w), (w, B, w), (w, 2 * B, w)]:
        run, flops = matmul(shape, device)
        rate = flops / statistics.median(interleaved({"mm": run}, device, 3, 0.2)["mm"])
        best = max(best, (shape, rate), key=lambda item: item[1])
    return best


# --- the report ---------------------------------------------------------------------------------


def measure(args, device: torch.device) -> tuple[list[dict], list[dict]]:
    rows, options = [], []
    for objective, net in ROWS:
        config, data = make_config(objective, net)
        profile_g = profile_step(gankit_loop(config, data, device), device)
        profile_h = profile_step(hand_loop(config, data, device), device)
        flops_g, flops_h = profile_g["flops"], profile_h["flops"]
        runs = {"gankit": gankit_loop(config, data, device), "hand": hand_loop(config, data, device)}
        if net.startswith("MLP"):  # the fp32 matmul ceiling, timed in turns with the two loops
            shape, _ = fastest_matmul(config, device)
            runs["mm"], mm_flops = matmul(shape, device)
        times = interleaved(runs, device, args.rounds, args.block)
        row = {
            "objective": objective,
            "net": net,
            "batch": config.batch_size,
            "critic_steps": config.critic_steps,
            "gankit_steps_s": 1 / statistics.median(times["gankit"]),
            "hand_steps_s": 1 / statistics.median(times["hand"]),
            # from the same medians as the two steps/s columns, so the columns agree with each other
            "overhead": statistics.median(times["gankit"]) / statistics.median(times["hand"]) - 1,
            # how much each side's time per step, and their ratio, moved between rounds
            "rate_spread": max(spread(times["gankit"]), spread(times["hand"])),
            "ratio_spread": spread([g / h for g, h in zip(times["gankit"], times["hand"], strict=True)]),
            # the overhead of each round on its own: its lowest and highest
            "overhead_range": [
                f([g / h - 1 for g, h in zip(times["gankit"], times["hand"], strict=True)])
                for f in (min, max)
            ],
            "gflop_step_gankit": flops_g / 1e9,
            "gflop_step_hand": flops_h / 1e9,
            "memory_gankit": profile_g["memory"],
            "memory_hand": profile_h["memory"],
            "matmul_share_gankit": profile_g["matmul_share"],
            "top_ops_gankit": profile_g["top_ops"],
            "peak_gflops": None,
        }
        row["gflops_gankit"] = flops_g * row["gankit_steps_s"] / 1e9
        row["gflops_hand"] = flops_h * row["hand_steps_s"] / 1e9
        if "mm" in runs:
            row["peak_gflops"] = mm_flops / statistics.median(times["mm"]) / 1e9
            row["mm_shape"] = shape
            # fraction of peak per round (flops / t_loop) / (mm_flops / t_mm), then the median
            row["gankit_of_peak"] = median_ratio(times["mm"], times["gankit"]) * flops_g / mm_flops
            row["hand_of_peak"] = median_ratio(times["mm"], times["hand"]) * flops_h / mm_flops
        rows.append(row)
        print(_row_line(row), flush=True)
    other_threads = 1 if torch.get_num_threads() > 1 else 2  # the threads row: the other count
    threads_row = ("ns", "MLP 3x512", f"--threads {other_threads}", {"threads": other_threads})
    for objective, net, label, changes in [threads_row, *OPTION_ROWS]:
        base, data = make_config(objective, net)
        config, _ = make_config(objective, net, **changes)
        threads = torch.get_num_threads()
        try:
            default = gankit_loop(base, data, device)  # first: it keeps the process's thread count
            compile_start = time.perf_counter()
            variant = gankit_loop(config, data, device)
            variant(2)  # first steps: torch.compile compiles here
            first_s = time.perf_counter() - compile_start
            times = interleaved({"variant": variant, "default": default}, device, args.rounds, args.block)
        finally:
            torch.set_num_threads(threads)  # --threads changes the process-wide setting
        option = {
            "objective": objective,
            "net": net,
            "option": label,
            "speedup": median_ratio(times["default"], times["variant"]),
            "steps_s": 1 / statistics.median(times["variant"]),
            "default_steps_s": 1 / statistics.median(times["default"]),
            "first_steps_s": first_s,
        }
        options.append(option)
        print(option, flush=True)
    return rows, options


def _row_line(row: dict) -> str:
    return (
        f"{row['objective']:8} {row['net']:13} gankit {row['gankit_steps_s']:7.2f} steps/s  "
        f"hand {row['hand_steps_s']:7.2f}  overhead {100 * row['overhead']:+.1f}%  "
        f"{row['gflops_gankit']:.1f} vs {row['gflops_hand']:.1f} GFLOP/s"
        + (f" ({100 * row['gankit_of_peak']:.0f} % of mm peak)" if row["peak_gflops"] else "")
    )


def conditions(device: torch.device, load_before: tuple, load_after: tuple) -> dict:
    """The machine and its load, as measured facts (the page's conditions are written from them)."""
    cpu = platform.processor() or platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "date": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "cpu": cpu,
        "amx_bf16": "amx_bf16" in cpuinfo,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "gpu_available": torch.cuda.is_available(),
        "load_before": load_before[0],
        "load_after": load_after[0],
    }


def condition_lines(facts: dict, rows: list[dict]) -> list[str]:
    """The conditions, and how noisy the timings were, each claim only as far as the numbers show it."""
    amx = " (has AMX-BF16: bf16 matrix units)" if facts["amx_bf16"] else ""
    busy = (
        " Other work was running when it began (load average 1 or more before the first step)."
        if facts["load_before"] >= 1
        else ""
    )
    lines = [
        f"- date: {facts['date']}; torch {facts['torch']}; Python {facts['python']}",
        f"- device: {facts['device']}; CPU: {facts['cpu']}{amx}, {facts['cores']} logical cores, torch"
        f" threads {facts['threads']}; GPU: {facts['gpu'] or 'none used'}",
        f"- load average (1 min) before / after the run: {facts['load_before']:.1f} /"
        f" {facts['load_after']:.1f}.{busy}",
    ]
    if rows and all("rate_spread" in row for row in rows):
        rate = max(row["rate_spread"] for row in rows)
        ratio = max(row["ratio_spread"] for row in rows)
        lines.append(
            f"- between timing rounds, a side's time per step moved by up to {100 * rate:.0f} % (max / min"
            f" - 1, worst row) and the gankit / hand ratio by up to {100 * ratio:.0f} %"
            + (": the side-by-side ratios are steadier than the absolute steps/s." if ratio < rate else ".")
        )
    return lines


def _slower_rows(rows: list[dict]) -> list[str]:
    """Each row where gankit measured slower than the hand loop, and whether its rounds tell them apart."""
    lines = []
    for r in rows:
        if r["overhead"] <= 0 or "overhead_range" not in r:
            continue
        low, high = r["overhead_range"]
        where = f"{r['objective']}, {r['net']}: gankit {100 * r['overhead']:+.1f} %"
        if low <= 0:
            lines.append(
                f"{where}, but single rounds ranged from {100 * low:+.1f} % to {100 * high:+.1f} %: at this"
                " noise the two loops are not told apart on this row."
            )
        else:
            lines.append(
                f"{where}, slower in every round ({100 * low:+.1f} % to {100 * high:+.1f} %): what gankit"
                " does beyond the hand loop costs this here"
                " (per-step statistics, metrics rows, joint critic call)."
            )
    return [""] + lines if lines else []


def _peak_target(rows: list[dict], options: list[dict]) -> list[str]:
    """The issue's efficiency target, stated against the measured WGAN-GP 3x512 row; what the rest of
    its step is, from its profile, and whether an option measured faster on it."""
    row = next((r for r in rows if r["objective"] == "wgan-gp" and r["net"] == "MLP 3x512"), None)
    if row is None or not row["peak_gflops"]:
        return []
    met = row["gankit_of_peak"] >= PEAK_TARGET
    text = (
        f"Efficiency target (gankit's default path at >= {100 * PEAK_TARGET:.0f} % of the fp32 mm peak on"
        " WGAN-GP, MLP 3x512, batch 256):"
        f" {100 * row['gankit_of_peak']:.0f} % measured, {'met' if met else 'not met'}."
    )
    if not met:
        text += f" The hand loop reaches {100 * row['hand_of_peak']:.0f} %" + (
            " (gankit's path differs from it by the joint critic call and fused Adam)."
            if row["gankit_of_peak"] > row["hand_of_peak"]
            else "."
        )
        if "matmul_share_gankit" in row:
            others = ", ".join(f"`{key}` {100 * share:.0f} %" for key, share in row["top_ops_gankit"])
            text += (
                f" The profiler puts {100 * row['matmul_share_gankit']:.0f} % of gankit's step (self CPU"
                f" time) in matrix products; the largest other ops: {others}."
            )
        faster = [
            o
            for o in options
            if (o["objective"], o["net"]) == (row["objective"], row["net"]) and o["speedup"] > 1
        ]
        for option in faster:
            text += f" `{option['option']}` ran this row {option['speedup']:.2f}x as fast (Speed options)."
    return [text]


def write_report(path: Path, measured: dict) -> None:
    """The page, from the measurements alone (``measured``: what speed.json holds)."""
    rows, options, facts = measured["rows"], measured["options"], measured["conditions"]
    mib = 2**20
    out = [
        "# Speed: gankit's trainer against a hand-written loop",
        "",
        "Regenerate with:",
        "",
        "```",
        measured["command"],
        "```",
        "",
        f"(`python benchmarks/speed.py --render` rewrites this page from {path.with_suffix('.json').name},"
        " measuring nothing.)",
        "",
        "Conditions:",
        "",
        *condition_lines(facts, rows),
        "",
        "What is compared: the same networks, objective, optimiser, batch size, critic steps and data",
        "sampler. The hand loop (in `benchmarks/speed.py`) is what a user writes: separate critic",
        "calls on real, fake and interpolates, no statistics, no logging. gankit runs `Trainer.fit`",
        f"(as `gankit train` does): per-step statistics kept on the device, a metrics row every"
        f" {measured['log_every']}",
        "steps. gankit's default path differs in how, not what, it computes: one critic call on real",
        "and fake together (critics without batch norm) and fused Adam kernels. A step is one",
        "generator update after its critic steps. Overhead = (hand steps/s) / (gankit steps/s) - 1,",
        "from the two columns beside it: negative means gankit is faster.",
        "",
        "| objective | network | batch | critic steps | gankit steps/s | hand steps/s | overhead "
        "| GFLOP/step gankit / hand | gankit GFLOP/s | hand GFLOP/s | fp32 mm peak GFLOP/s "
        "| gankit % of peak | hand % of peak | peak step memory gankit / hand (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        peak, of_peak = "n/a", ("n/a (conv)", "n/a (conv)")
        if r["peak_gflops"]:
            peak = f"{r['peak_gflops']:.1f} at {'x'.join(map(str, r['mm_shape']))}"
            of_peak = (f"{100 * r['gankit_of_peak']:.0f} %", f"{100 * r['hand_of_peak']:.0f} %")
        out.append(
            f"| {r['objective']} | {r['net']} | {r['batch']} | {r['critic_steps']} "
            f"| {r['gankit_steps_s']:.2f} | {r['hand_steps_s']:.2f} | {100 * r['overhead']:+.1f} % "
            f"| {r['gflop_step_gankit']:.2f} / {r['gflop_step_hand']:.2f} "
            f"| {r['gflops_gankit']:.1f} | {r['gflops_hand']:.1f} "
            f"| {peak} | {of_peak[0]} | {of_peak[1]} "
            f"| {r['memory_gankit'] / mib:.1f} / {r['memory_hand'] / mib:.1f} |"
        )
    within = [r for r in rows if r["overhead"] <= OVERHEAD_TARGET]
    out += [
        "",
        f"Overhead target (<= {100 * OVERHEAD_TARGET:.0f} % in every row): met in {len(within)} of"
        f" {len(rows)} rows"
        + ("." if len(within) == len(rows) else "; the others are listed above as measured."),
        *_slower_rows(rows),
        "",
        *_peak_target(rows, options),
        "",
        "GFLOP/step is counted with `torch.profiler(with_flops=True)` for each loop. The fp32 mm",
        "peak is plain `torch.mm` (same threads) at the fastest of the MLP step's matrix shapes",
        "(batch x width @ width x width, the weight gradient's width x batch @ batch x width, and",
        "2 x batch rows for the joint critic call; the shape is given as m x k x n). It is timed in",
        "turns with the two loops, and % of",
        "peak is the median over rounds of (loop FLOP/s) / (mm FLOP/s), so that a change in the",
        "machine's load between rounds cancels out. Convolution backward is not counted by the",
        "profiler, so no %-of-peak is given for the DCGAN rows. Peak step memory: on the CPU, the",
        "most tensor memory allocated during one step above what was alive before it (the allocator",
        "events of `torch.profiler`, `profile_memory=True`); on a GPU, `torch.cuda.max_memory_allocated`",
        "above the start.",
        "",
        "## Speed options",
        "",
        "Each option against gankit's default path for the same row, side by side in the same run"
        " (speedup > 1: faster)."
        + (
            " A `--compile` row's first two steps include torch.compile's compilation."
            if any(o["option"] == "--compile" for o in options)
            else ""
        ),
        "",
        "| objective | network | option | speedup | steps/s | default steps/s | first 2 steps (s) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for o in options:
        out.append(
            f"| {o['objective']} | {o['net']} | `{o['option']}` | {o['speedup']:.2f}x | {o['steps_s']:.2f} "
            f"| {o['default_steps_s']:.2f} | {o['first_steps_s']:.1f} |"
        )
    out += [
        "",
        "What each option does and when it is equal to the default (tests/test_speed_options.py):",
        "`--threads N` sets torch's CPU threads (same numbers up to float summation order);",
        "`--amp` runs the forward passes under bf16 autocast (the gradient penalty's norms stay fp32;",
        "bf16 needs no loss scaling; results equal the default within bf16 rounding);",
        "`--compile` wraps the networks in `torch.compile` (the gradient penalty's double backward",
        "stays eager: torch.compile does not support it);",
        "`--channels-last` stores conv activations NHWC (equal up to float summation order).",
        "",
        *gpu_lines(facts),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))


def gpu_lines(facts: dict) -> list[str]:
    """Which device the numbers are from, and whether the other path was run."""
    if facts["gpu"]:
        return [
            f"GPU: every number above is from {facts['gpu']} (`--device cuda`); the CPU path was not"
            " measured in this run."
        ]
    seen = (
        "a GPU was visible but not used (`--device cpu`)" if facts["gpu_available"] else "no GPU was visible"
    )
    return [
        f"GPU: {seen}, so every number above is CPU-only. On CUDA the same script measures the same",
        "rows (`--device cuda`) and peak memory with `torch.cuda.max_memory_allocated`.",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--rounds", type=int, default=9, help="alternating timing rounds per row")
    parser.add_argument("--block", type=float, default=1.5, help="seconds per timed block")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds, short blocks")
    parser.add_argument(
        "--render", action="store_true", help="rewrite the page from its .json beside it; measure nothing"
    )
    parser.add_argument(
        "--out", type=Path, help="the report (default: docs/benchmarks/speed.md; none with --quick)"
    )
    args = parser.parse_args(argv)
    if args.out is None and not args.quick:
        args.out = ROOT / "docs/benchmarks/speed.md"
    if args.render:
        if args.out is None or not args.out.with_suffix(".json").is_file():
            raise SystemExit(
                f"--render needs the measurements beside the page: no {args.out.with_suffix('.json')}"
            )
        write_report(args.out, json.loads(args.out.with_suffix(".json").read_text()))
        print(f"wrote {args.out}")
        return 0
    if args.quick:
        args.rounds, args.block = 2, 0.2
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    rows, options = measure(args, device)
    facts = conditions(device, load_before, os.getloadavg())
    if args.out is not None and max(facts["load_before"], facts["load_after"]) > MAX_LOAD:
        print(
            f"not written: load average {facts['load_before']:.1f} before / {facts['load_after']:.1f} after"
            f" the run, above {MAX_LOAD:.0f}; run it again on a quiet machine",
            file=sys.stderr,
        )
        return 1
    if args.out is not None:
        command = "nice -n 0 .venv/bin/python benchmarks/speed.py" + "".join(
            f" --{name} {value}"
            for name, value in (("device", args.device), ("threads", args.threads))
            if value not in ("cpu", 0)
        )
        measured = {
            "command": command,
            "conditions": facts,
            "log_every": TrainConfig().log_every,
            "rows": rows,
            "options": options,
        }
        args.out.with_suffix(".json").write_text(json.dumps(measured, indent=1) + "\n")
        write_report(args.out, measured)
        print(f"wrote {args.out} and {args.out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
