"""How often is ``gankit doctor`` right? Precision and recall of each finding on labelled runs.

Trains a set of runs whose outcome is known: healthy recipes of every objective on toy data (and a
small digits case), several seeds each, and runs broken on purpose in each known way (a far too
strong D for minimax, an unconstrained critic, a generator pinned to one point, an absurd learning
rate, a learning rate of ~0, a generator shifted every other evaluation). Then runs the doctor on each
and writes the table between the markers of docs/doctor.md (``--quick`` prints it instead).

Labels (what a case *is*, decided by how it was built, never by the doctor):
    healthy             a recipe that learns the data: nothing may be open at the end of the run
    <finding>           the run was broken on purpose to produce that pitfall: the doctor must name it
                        (an episode open at the end, or one that started and ended: both count)
Some broken runs show a second, real pitfall as a consequence (a minimax D that rejects every fake
also overpowers it): those are listed per case as ``also`` and counted as neither right nor wrong.

    python benchmarks/doctor.py            # full: every case, 3 seeds, 5,000-step toy runs
    python benchmarks/doctor.py --workers 2 --seeds 2   # two runs at once (on a 2-core machine)
    python benchmarks/doctor.py --keep DIR ...            # keep the runs; later, after changing a
    python benchmarks/doctor.py --keep DIR --rescore ...  # monitor, score them again without training
    python benchmarks/doctor.py --quick    # one seed, short runs, a subset: a smoke test (~3 CPU-min)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gankit.config import FINDING_NAMES, TrainConfig
from gankit.diagnose.doctor import diagnose
from gankit.engine.loop import Callback
from gankit.runs.assemble import train

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "doctor.md"
BEGIN, END = "<!-- precision-recall: begin (benchmarks/doctor.py) -->", "<!-- precision-recall: end -->"


class PinGeneratorTo(Callback):
    """Forces G's output to one point after every step: the extreme of mode collapse."""

    def __init__(self, point: list[float]):
        self.point = torch.tensor(point)

    def on_step(self, trainer) -> None:
        last = [m for m in trainer.generator.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(self.point)


class Shake(Callback):
    """Every other ``period`` steps, shifts G's output by ``delta``: G recovers in between, so the
    evaluations (every ``period`` steps) alternate between a shifted and a recovered generator."""

    def __init__(self, period: int, delta: float):
        self.period, self.delta = period, delta

    def on_step(self, trainer) -> None:
        if trainer.step % self.period == 0 and (trainer.step // self.period) % 2 == 1:
            last = [m for m in trainer.generator.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                last.bias += self.delta


@dataclass
class Case:
    name: str
    label: str  # "healthy" or the finding induced
    config: dict
    also: tuple[str, ...] = ()  # findings that follow from the breakage too: not counted
    callbacks: list = field(default_factory=list)
    quick: bool = False  # part of the --quick subset


def cases(steps: int, short_steps: int) -> list[Case]:
    """The labelled set: toy runs of ``steps`` steps (``short_steps`` for those broken from the start)."""
    toy = {"steps": steps, "eval_every": 250, "sample_every": 0, "checkpoint_every": steps}
    short = {**toy, "steps": short_steps}
    fast = {"g_lr": 1e-3, "d_lr": 1e-3}
    digits = {"data": "digits", "batch_size": 64, "steps": max(steps // 5, 300), "eval_every": 100}
    no_lr = {"g_lr": 1e-9, "d_lr": 1e-9}
    return [
        # healthy: recipes that learn each data set (the outcome is checked: see `learned`)
        Case("wgan-gp grid lr 1e-3", "healthy", {**toy, "data": "grid", "objective": "wgan-gp", **fast}),
        Case("wgan-gp ring lr 1e-3", "healthy", {**toy, "data": "ring", "objective": "wgan-gp", **fast}),
        Case("ns ring lr 1e-3", "healthy", {**toy, "data": "ring", "objective": "ns", **fast}, quick=True),
        Case("ns grid lr 1e-3", "healthy", {**toy, "data": "grid", "objective": "ns", **fast}),
        Case("minimax ring", "healthy", {**toy, "data": "ring", "objective": "minimax"}, quick=True),
        Case("hinge ring lr 1e-3", "healthy", {**toy, "data": "ring", "objective": "hinge", **fast}),
        Case("lsgan ring lr 1e-3", "healthy", {**toy, "data": "ring", "objective": "lsgan", **fast}),
        Case("wgan ring lr 5e-4", "healthy", {**toy, "data": "ring", "objective": "wgan", "g_lr": 5e-4,
             "d_lr": 5e-4}),
        Case("wgan-gp swissroll lr 1e-3", "healthy", {**toy, "data": "swissroll", "objective": "wgan-gp",
             **fast}),
        Case("wgan-gp digits", "healthy", {**digits, "objective": "wgan-gp", "sample_every": 0}),
        # broken on purpose
        # D 20 steps per G step at 50x G's lr (tutorial 01's recipe): the minimax D rejects every
        # fake and G's gradient vanishes. (D 5 steps at lr 1e-2, the earlier case, collapsed G onto
        # one mode with large gradients instead: it did not produce the pitfall it was labelled with.)
        Case("minimax, D 20 steps at 50x G's lr", "vanishing-gradients", {**short, "data": "ring",
             "objective": "minimax", "critic_steps": 20, "d_lr": 1e-3, "g_lr": 2e-5, "width": 64, "depth": 2,
             "batch_size": 128},
             also=("discriminator-overpowers", "no-progress"), quick=True),
        Case("wgan-gp without its penalty", "discriminator-overpowers", {**short, "data": "ring",
             "objective": "wgan-gp", "gradient_penalty_weight": 0.0, "d_lr": 1e-3},
             also=("no-progress", "oscillation"), quick=True),
        Case("G pinned to one point (ring)", "mode-collapse", {**short, "data": "ring", "objective": "ns"},
             also=("no-progress",), callbacks=[PinGeneratorTo([1.0, 0.0])], quick=True),
        Case("G pinned to one point (grid)", "mode-collapse", {**short, "data": "grid",
             "objective": "wgan-gp"}, also=("no-progress",), callbacks=[PinGeneratorTo([0.0, 0.0])]),
        Case("SGD at lr 10", "divergence", {**short, "data": "ring", "objective": "wgan-gp",
             "optimizer": "sgd", "g_lr": 10.0, "d_lr": 10.0}, also=FINDING_NAMES, quick=True),
        Case("ns lr 1e-9", "no-progress", {**toy, "data": "ring", "objective": "ns", **no_lr}, quick=True),
        Case("wgan-gp lr 1e-9", "no-progress", {**toy, "data": "grid", "objective": "wgan-gp", **no_lr}),
        Case("ns ring, G shifted every other evaluation", "oscillation", {**toy, "data": "ring",
             "objective": "ns", **fast}, also=("no-progress", "mode-collapse"), callbacks=[Shake(250, 1.5)],
             quick=True),
        Case("wgan-gp grid, G shifted every other evaluation", "oscillation", {**toy, "data": "grid",
             "objective": "wgan-gp", **fast}, also=("no-progress", "mode-collapse"),
             callbacks=[Shake(250, 1.5)]),
    ]  # fmt: skip


def learned(result: dict) -> bool:
    """A healthy recipe's outcome: toy data with modes: at least half of them covered at the end;
    other toy data: the final W1 at most half the first one; digits: no measure (the recipe's word)."""
    if result["final_modes"] is not None and result["modes_total"]:
        return result["final_modes"] >= result["modes_total"] / 2
    if result["final_w1"] is not None and result["first_w1"]:
        return result["final_w1"] <= result["first_w1"] / 2
    return True


QUICK_NETS = {"width": 64, "batch_size": 128, "eval_samples": 1000}  # --quick: smaller, cheaper runs


def run_case(case: Case, seed: int, out: Path, quick: bool = False) -> dict:
    """Train the case into ``out`` (its CPU time goes to out/bench.json), then score it. A run
    already finished there (a rerun with --keep) is scored without training it again."""
    if (out / "bench.json").exists():
        return score_run(case, seed, out)
    smaller = QUICK_NETS if quick and case.config["data"] != "digits" else {}
    config = TrainConfig(**{**case.config, **smaller, "seed": seed, "device": "cpu"})
    started = time.process_time()
    train(config, out, callbacks=case.callbacks, echo=lambda _: None)
    (out / "bench.json").write_text(json.dumps({"cpu_s": round(time.process_time() - started, 1)}))
    return score_run(case, seed, out)


def score_run(case: Case, seed: int, out: Path) -> dict:
    """The doctor's verdict on a trained case's run directory, with what the case is."""
    diagnosis = diagnose(out)
    evaluations = [row for row in _rows(out) if "eval_w1" in row or "eval_diversity" in row]
    last = evaluations[-1] if evaluations else {}
    return {
        "case": case.name,
        "label": case.label,
        "also": list(case.also),
        "seed": seed,
        "cpu_s": json.loads((out / "bench.json").read_text())["cpu_s"],
        "headline": diagnosis["headline"],
        "named": sorted({f["name"] for f in diagnosis["findings"]}),
        "open": sorted(set(diagnosis["open"])),
        "final_modes": last.get("eval_modes"),
        "modes_total": last.get("eval_modes_total"),
        "final_w1": last.get("eval_w1"),
        "first_w1": evaluations[0].get("eval_w1") if evaluations else None,
    }


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def score(results: list[dict]) -> dict[str, dict[str, int]]:
    """Per finding: runs that should raise it and did (tp), that raised it without cause (fp), and
    that should have and did not (fn). A healthy run's false alarm is a finding *open at its end*;
    a broken run's finding counts when named at all; a broken run's other findings count as false
    alarms unless listed in its ``also``."""
    counts = {name: {"tp": 0, "fp": 0, "fn": 0} for name in FINDING_NAMES}
    for result in results:
        if result["label"] == "healthy" and not learned(result):
            continue  # a recipe meant to be healthy that did not learn: neither label fits
        for name in FINDING_NAMES:
            if result["label"] == name:
                counts[name]["tp" if name in result["named"] else "fn"] += 1
            elif result["label"] == "healthy":
                counts[name]["fp"] += name in result["open"]
            elif name not in result["also"]:
                counts[name]["fp"] += name in result["named"]
    return counts


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator}/{denominator} = {numerator / denominator:.0%}" if denominator else "–"


def table(results: list[dict], command: str) -> str:
    counts = score(results)
    healthy = [r for r in results if r["label"] == "healthy" and learned(r)]
    unlearned = [r for r in results if r["label"] == "healthy" and not learned(r)]
    false_alarms = [r for r in healthy if r["open"]]
    minutes = sum(r["cpu_s"] for r in results) / 60
    lines = [
        f"Command: `{command}` ({len(results)} runs, {minutes:.0f} CPU-minutes).",
        "",
        "| finding | precision | recall | runs broken this way | false alarms |",
        "|---|---|---|---|---|",
    ]
    for name in FINDING_NAMES:
        c = counts[name]
        lines.append(
            f"| {name} | {_ratio(c['tp'], c['tp'] + c['fp'])} | {_ratio(c['tp'], c['tp'] + c['fn'])} "
            f"| {c['tp'] + c['fn']} | {c['fp']} |"
        )
    lines += [
        "",
        f"Healthy runs with a finding open at the end: {len(false_alarms)} of {len(healthy)}. "
        f"Runs of a healthy recipe that did not learn (not scored): {len(unlearned)}.",
        "",
        "| case | label | seed | final modes | W1 first → last | doctor's first line |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        modes = f"{r['final_modes']:.0f}/{r['modes_total']:.0f}" if r["final_modes"] is not None else "–"
        w1 = f"{r['first_w1']:.3g} → {r['final_w1']:.3g}" if r["final_w1"] is not None else "–"
        label = r["label"] if r["label"] != "healthy" or learned(r) else "healthy recipe, did not learn"
        lines.append(f"| {r['case']} | {label} | {r['seed']} | {modes} | {w1} | {r['headline']} |")
    return "\n".join(lines)


def train_all(jobs: list[tuple[Case, int]], outs: list[Path], workers: int, quick: bool) -> list[dict]:
    """Train and score every (case, seed), ``workers`` at a time; results in job order."""
    context = multiprocessing.get_context("fork")  # workers inherit the cases and their callbacks
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [
            pool.submit(run_case, case, seed, out, quick)
            for (case, seed), out in zip(jobs, outs, strict=True)
        ]
        for future in as_completed(futures):
            r = future.result()
            print(f"{r['case']} (seed {r['seed']}, {r['cpu_s']} CPU-s): {r['headline']}", flush=True)
        return [future.result() for future in futures]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="one seed, 1,500-step runs, a subset; print only"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per case (full run)")
    parser.add_argument("--steps", type=int, default=5000, help="length of a toy run (full run)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    parser.add_argument("--workers", type=int, default=1, help="runs trained at once (one CPU thread each)")
    parser.add_argument(
        "--keep", type=Path, help="keep the run directories here (default: a temporary folder)"
    )
    parser.add_argument(
        "--rescore", action="store_true", help="train nothing: rerun the doctor on the runs kept in --keep"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps, short_steps, seeds = (1500, 500, 1) if args.quick else (args.steps, 1500, args.seeds)
    chosen = [c for c in cases(steps, short_steps) if (c.quick or not args.quick) and args.only in c.name]
    jobs = [(case, seed) for case in chosen for seed in range(seeds)]
    if args.rescore and not args.keep:
        parser.error("--rescore needs --keep DIR, the run directories of an earlier run")
    with tempfile.TemporaryDirectory(prefix="gankit-doctor-bench-") as scratch:
        root = args.keep or Path(scratch)
        outs = [root / f"{case.name.replace(' ', '_').replace(',', '')}-seed{seed}" for case, seed in jobs]
        if args.rescore:
            results = [score_run(case, seed, out) for (case, seed), out in zip(jobs, outs, strict=True)]
        else:
            results = train_all(jobs, outs, args.workers, args.quick)
    command = "python benchmarks/doctor.py" + (
        " --quick"
        if args.quick
        else f" --seeds {seeds} --steps {steps}" + (f" --only '{args.only}'" * bool(args.only))
    )
    text = table(results, command)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.quick or args.only:
        print(text)
        return
    doc = DOC.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])
    print(text)
    print(f"wrote the table into {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
