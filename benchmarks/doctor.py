"""How often is ``gankit doctor`` right? Precision and recall of each finding on labelled runs.

Trains a set of runs whose outcome is known: healthy recipes of every objective on toy data and on
the 8x8 digits (with a validation part, so the held-out probes run), several seeds each, and runs
broken on purpose in each known way (a far too strong D for minimax, an unconstrained critic, a
generator pinned to one point, an absurd learning rate, a learning rate of ~0, a generator shifted
every other evaluation, a D trained on 90 images, a generator that outputs training images plus
noise). Then runs the doctor on each and writes the table between the markers of docs/doctor.md
(``--quick`` prints it instead).

Labels (what a case *is*, decided by how it was built and by its outcome, never by the doctor):
    healthy             a recipe that learns the data, and did (``learned``): nothing may be raised
    no-progress         also a healthy recipe's run that did not learn: the doctor should say so
    <finding>           the run was broken on purpose to produce that pitfall: the doctor must raise it
Some broken runs show a second, real pitfall as a consequence (a minimax D that rejects every fake
also overpowers it): those are listed per case as ``also`` and counted as neither right nor wrong.

One rule on both sides: the doctor *raised* F on a run when F is open at the run's end, i.e. the
doctor's first line says "problems now: F" (``diagnose(run)["open"]``). An episode that opened and
closed is history ("healthy now; F from 500 to 1,750") on broken and healthy runs alike; the table
also counts that way (any episode) beside it.

Seeds: the thresholds (the monitor_* keys, gankit.diagnose.thresholds) were tuned on seeds 0-2 of
this benchmark and are frozen; the table is measured on report seeds from ``--first-seed``
(FIRST_SEED) on, used for nothing else.

    python benchmarks/doctor.py            # full: every case, 3 report seeds
    python benchmarks/doctor.py --keep DIR ...            # keep the runs; later, after changing a
    python benchmarks/doctor.py --keep DIR --rescore ...  # monitor, score them again without training
    python benchmarks/doctor.py --quick    # one seed, short runs, a subset: a smoke test (~3 CPU-min)
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gankit.config import FINDING_NAMES, TrainConfig
from gankit.data.toy import sample_numpy
from gankit.diagnose.doctor import diagnose
from gankit.engine.loop import Callback
from gankit.metrics.toy import REFERENCE_SEED, wasserstein1
from gankit.rundir import read_metrics
from gankit.runs.assemble import train

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "doctor.md"
BEGIN, END = "<!-- precision-recall: begin (benchmarks/doctor.py) -->", "<!-- precision-recall: end -->"
TUNING_SEEDS = (0, 1, 2)  # the seeds the thresholds were tuned on (git history of this file)
FIRST_SEED = 8800  # report seeds FIRST_SEED, FIRST_SEED + 1, ...: never used before this table
# did a healthy recipe learn? (``learned``): decided by outcome metrics, never by the doctor
MAX_DIGITS_FID = 50.0  # digits: the final FID against the validation part at most this
FLOOR_MULTIPLE = 2.0  # swiss roll: the final W1 at most this x the W1 between two real sample sets


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


class CopyTrainingImages(Callback):
    """From the first step on, G's output is a training image plus N(0, ``noise``^2) per pixel: a
    generator that has memorised its training set. Image and noise are functions of z (the normal
    CDF of z's first coordinate picks the image, a fixed projection of z is the noise), so samples
    stay deterministic for a seed. G's own output stays in the graph with weight 0, so its step runs
    (with a zero gradient)."""

    def __init__(self, noise: float):
        self.noise, self.hook = noise, None

    def on_step(self, trainer) -> None:
        if self.hook is not None:
            return
        images = trainer.data.all()  # the training part only
        pixels = images[0].numel()
        projection = torch.randn(
            trainer.config.latent_dim, pixels, generator=torch.Generator().manual_seed(0)
        )
        projection /= math.sqrt(trainer.config.latent_dim)  # z @ projection ~ N(0, 1) per pixel

        def copy(module, inputs, output):
            z = inputs[0]
            index = (torch.special.ndtr(z[:, 0]) * len(images)).long().clamp(max=len(images) - 1)
            noise = (z @ projection.to(z.device)).reshape(output.shape)
            return images.to(z.device)[index.cpu()] + self.noise * noise + 0 * output

        self.hook = trainer.generator.register_forward_hook(copy)


@dataclass
class Case:
    name: str
    label: str  # "healthy" or the finding induced
    config: dict
    also: tuple[str, ...] = ()  # findings that follow from the breakage too: not counted
    callbacks: list = field(default_factory=list)
    quick: bool = False  # part of the --quick subset


# A run of a healthy recipe that did not learn is labelled no-progress; a stalled generator can also
# sit on a few modes or swing, so these two are not counted against it.
DID_NOT_LEARN_ALSO = ("mode-collapse", "oscillation")


def cases(steps: int, short_steps: int, image_steps: int) -> list[Case]:
    """The labelled set: toy runs of ``steps`` steps (``short_steps`` for those broken from the
    start), digits runs of ``image_steps``. Toy networks 64 wide, batches of 128, 1,000 samples per
    evaluation: cheaper than the defaults, so that three seeds of every case fit in an hour."""
    toy = {
        "steps": steps,
        "eval_every": 250,
        "sample_every": 0,
        "checkpoint_every": steps,
        "width": 64,
        "batch_size": 128,
        "eval_samples": 1000,
    }
    short = {**toy, "steps": short_steps, "checkpoint_every": short_steps}
    fast = {"g_lr": 1e-3, "d_lr": 1e-3}
    digits = {
        "data": "digits",
        "batch_size": 64,
        "steps": image_steps,
        "eval_every": 250,
        "sample_every": 0,
        "checkpoint_every": image_steps,
        "validation_fraction": 0.2,
    }
    no_lr = {"g_lr": 1e-9, "d_lr": 1e-9}
    return [
        # healthy: recipes that learn each data set (the outcome is checked: see `learned`)
        Case("wgan-gp grid lr 1e-3", "healthy", {**toy, "data": "grid", "objective": "wgan-gp", **fast}),
        Case("wgan-gp ring lr 1e-3", "healthy", {**toy, "data": "ring", "objective": "wgan-gp", **fast}),
        Case("ns ring lr 1e-3", "healthy", {**toy, "data": "ring", "objective": "ns", **fast}, quick=True),
        Case("ns grid lr 1e-3", "healthy", {**toy, "data": "grid", "objective": "ns", **fast}),
        Case("minimax ring", "healthy", {**toy, "data": "ring", "objective": "minimax"}),
        Case("hinge ring lr 1e-3", "healthy", {**toy, "data": "ring", "objective": "hinge", **fast}),
        Case("lsgan ring lr 1e-3", "healthy", {**toy, "data": "ring", "objective": "lsgan", **fast}),
        Case("wgan ring lr 5e-4", "healthy", {**toy, "data": "ring", "objective": "wgan", "g_lr": 5e-4,
             "d_lr": 5e-4}),
        Case("wgan-gp swissroll lr 1e-3", "healthy", {**toy, "data": "swissroll", "objective": "wgan-gp",
             **fast}),
        # the digits preset's recipe (ns at its tuned rates), and lsgan (D's boundary at 1/2) at the
        # DCGAN defaults, each holding out 20 %: the held-out probes run on both
        Case("ns digits (preset rates)", "healthy", {**digits, "objective": "ns", "g_lr": 2.1e-3,
             "d_lr": 3.9e-3}, quick=True),
        Case("lsgan digits", "healthy", {**digits, "objective": "lsgan"}),
        # broken on purpose
        # D 20 steps per G step at 50x G's lr (tutorial 01's recipe): the minimax D rejects every
        # fake and G's gradient vanishes.
        Case("minimax, D 20 steps at 50x G's lr", "vanishing-gradients", {**short, "data": "ring",
             "objective": "minimax", "critic_steps": 20, "d_lr": 1e-3, "g_lr": 2e-5},
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
        # an untrained generator sits near the grid's centre mode: literally one mode of good samples
        Case("wgan-gp lr 1e-9", "no-progress", {**toy, "data": "grid", "objective": "wgan-gp", **no_lr},
             also=("mode-collapse",)),
        Case("ns ring, G shifted every other evaluation", "oscillation", {**toy, "data": "ring",
             "objective": "ns", **fast}, also=("no-progress", "mode-collapse"), callbacks=[Shake(250, 1.5)],
             quick=True),
        Case("wgan-gp grid, G shifted every other evaluation", "oscillation", {**toy, "data": "grid",
             "objective": "wgan-gp", **fast}, also=("no-progress", "mode-collapse"),
             callbacks=[Shake(250, 1.5)]),
        # 95 % held out: D trains on 90 images and learns them by heart (ADA's regime). A D that
        # calls every training image real and every fake fake also overpowers G, and a generator
        # trained against it may reproduce its 90 images.
        Case("ns digits, 90 training images", "discriminator-overfits", {**digits, "objective": "ns",
             "validation_fraction": 0.95}, also=("discriminator-overpowers", "memorisation"), quick=True),
        # G outputs a training image plus noise of std 0.1 per pixel (images span [-1, 1]); it never
        # learns, so D can win against its noise.
        Case("G copies training images + noise 0.1", "memorisation", {**digits, "objective": "ns"},
             also=("discriminator-overpowers",), callbacks=[CopyTrainingImages(0.1)], quick=True),
    ]  # fmt: skip


def learned(result: dict) -> bool:
    """A healthy recipe's outcome, decided without the doctor. Toy data with modes: at least half
    of them covered at the end; the swiss roll: final W1 at most FLOOR_MULTIPLE x the W1 between two
    real sample sets of the same size; digits: final FID (against the validation part) at most
    MAX_DIGITS_FID."""
    if result["final_modes"] is not None and result["modes_total"]:
        return result["final_modes"] >= result["modes_total"] / 2
    if result["final_w1"] is not None:
        return result["final_w1"] <= FLOOR_MULTIPLE * result["floor_w1"]
    if result["final_fid"] is not None:
        return result["final_fid"] <= MAX_DIGITS_FID
    return False  # no outcome logged (a run stopped before its first evaluation): not learned


def real_w1_floor(data: str, points: int) -> float:
    """W1 between two sets of ``points`` real samples: what even a perfect generator scores."""
    return wasserstein1(sample_numpy(data, points, 1), sample_numpy(data, points, REFERENCE_SEED))


QUICK = {"steps": 1500, "short_steps": 500, "image_steps": 500}  # --quick: shorter runs


def run_case(case: Case, seed: int, out: Path) -> dict:
    """Train the case into ``out`` (its CPU time goes to out/bench.json), then score it. A run
    already finished there (a rerun with --keep) is scored without training it again."""
    if (out / "bench.json").exists():
        return score_run(case, seed, out)
    config = TrainConfig(**{**case.config, "seed": seed, "device": "cpu"})
    started = time.process_time()
    train(config, out, callbacks=case.callbacks, echo=lambda _: None)
    (out / "bench.json").write_text(json.dumps({"cpu_s": round(time.process_time() - started, 1)}))
    return score_run(case, seed, out)


def score_run(case: Case, seed: int, out: Path) -> dict:
    """The doctor's verdict on a trained case's run directory, with what the case is and how it ended."""
    diagnosis = diagnose(out)
    evaluations = [
        row for row in read_metrics(out) if "eval_w1" in row or "eval_fid" in row or "eval_diversity" in row
    ]
    last = evaluations[-1] if evaluations else {}
    result = {
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
        "final_fid": last.get("eval_fid"),
        "floor_w1": None,
        # the held-out probes at the last evaluation (image runs with a validation part)
        "signs": [last.get(f"eval_sign_{part}") for part in ("train", "heldout", "fake")],
        "nearest": [last.get("eval_nearest_generated"), last.get("eval_nearest_heldout")],
    }
    if result["final_w1"] is not None:
        result["floor_w1"] = real_w1_floor(case.config["data"], case.config.get("eval_samples", 2500))
    return by_outcome(result)


def by_outcome(result: dict) -> dict:
    """A healthy recipe's run that did not learn (``learned``) is labelled no-progress: the doctor
    should say so. Every other run keeps the label its case gave it."""
    if result["label"] != "healthy" or learned(result):
        return result
    return {**result, "label": "no-progress", "also": list(DID_NOT_LEARN_ALSO), "did_not_learn": True}


def score(results: list[dict], rule: str = "open") -> dict[str, dict[str, int]]:
    """Per finding: runs labelled with it on which the doctor raised it (tp) or did not (fn), and
    runs it was raised on without cause (fp: healthy runs, and broken runs whose ``also`` does not
    list it). ``rule`` says what "raised" means, the same on every run: "open" (open at the end, the
    verdict "problems now: F") or "named" (an episode at any point)."""
    counts = {name: {"tp": 0, "fp": 0, "fn": 0} for name in FINDING_NAMES}
    for result in results:
        raised = set(result[rule])
        for name in FINDING_NAMES:
            if result["label"] == name:
                counts[name]["tp" if name in raised else "fn"] += 1
            elif name not in result["also"]:
                counts[name]["fp"] += name in raised
    return counts


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator}/{denominator} = {numerator / denominator:.0%}" if denominator else "–"


def _outcome(result: dict) -> str:
    """How the run ended, by the measures ``learned`` reads (toy: W1 first -> last), and on image
    runs the held-out probes' last numbers: D's sign means, the nearest-training-image distances."""
    w1 = f"W1 {result['first_w1']:.3g} → {result['final_w1']:.3g}" if result["final_w1"] is not None else ""
    if result["final_modes"] is not None:
        return f"{result['final_modes']:.0f}/{result['modes_total']:.0f} modes, {w1}"
    if result["final_w1"] is not None:
        return f"{w1} (real-vs-real {result['floor_w1']:.3g})"
    if result["final_fid"] is None:
        return "–"
    text = f"FID {result['final_fid']:.3g}"
    if None not in result.get("signs", [None]):
        text += " · D's sign mean: training {:.2f}, held-out {:.2f}, fakes {:.2f}".format(*result["signs"])
    if None not in result.get("nearest", [None]):
        text += " · nearest training image: samples {:.2f}, held-out {:.2f}".format(*result["nearest"])
    return text


def table(results: list[dict], command: str, wall_minutes: float | None) -> str:
    at_end, anywhere = score(results, "open"), score(results, "named")
    recipes = [r for r in results if r["label"] == "healthy" or r.get("did_not_learn")]
    unlearned = [r for r in recipes if r.get("did_not_learn")]
    healthy = [r for r in results if r["label"] == "healthy"]
    cpu_minutes = sum(r["cpu_s"] for r in results) / 60
    seeds = sorted({r["seed"] for r in results})
    cost = f"{len(results)} runs, {cpu_minutes:.0f} CPU-minutes at one thread a run"
    if wall_minutes is not None:
        cost += f", {wall_minutes:.0f} minutes of wall time"
    lines = [
        f"Command: `{command}` ({cost}). Report seeds {seeds[0]}–{seeds[-1]}; the thresholds were tuned "
        f"on seeds {TUNING_SEEDS[0]}–{TUNING_SEEDS[-1]}.",
        "",
        "| finding | precision | recall | runs labelled so | false alarms | precision, any episode "
        "| recall, any episode |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in FINDING_NAMES:
        c, a = at_end[name], anywhere[name]
        lines.append(
            f"| {name} | {_ratio(c['tp'], c['tp'] + c['fp'])} | {_ratio(c['tp'], c['tp'] + c['fn'])} "
            f"| {c['tp'] + c['fn']} | {c['fp']} | {_ratio(a['tp'], a['tp'] + a['fp'])} "
            f"| {_ratio(a['tp'], a['tp'] + a['fn'])} |"
        )
    lines += [
        "",
        f"Runs of a healthy recipe: {len(recipes)}; {len(unlearned)} of them did not learn (labelled "
        f"no-progress). Of the {len(healthy)} that learned, {sum(bool(r['open']) for r in healthy)} end "
        f"with a finding open and {sum(bool(r['named']) for r in healthy)} had an episode at some point.",
        "",
        "| case | label | seed | outcome | doctor's first line |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        label = "no-progress (healthy recipe, did not learn)" if r.get("did_not_learn") else r["label"]
        lines.append(f"| {r['case']} | {label} | {r['seed']} | {_outcome(r)} | {r['headline']} |")
    return "\n".join(lines)


def train_all(jobs: list[tuple[Case, int]], outs: list[Path], workers: int) -> list[dict]:
    """Train and score every (case, seed), ``workers`` at a time; results in job order."""
    context = multiprocessing.get_context("fork")  # workers inherit the cases and their callbacks
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [
            pool.submit(run_case, case, seed, out) for (case, seed), out in zip(jobs, outs, strict=True)
        ]
        for future in as_completed(futures):
            r = future.result()
            print(f"{r['case']} (seed {r['seed']}, {r['cpu_s']} CPU-s): {r['headline']}", flush=True)
        return [future.result() for future in futures]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one seed, shorter runs, a subset; print only")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per case (full run)")
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED, help="the first report seed")
    parser.add_argument("--steps", type=int, default=2500, help="length of a toy run (full run)")
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
    lengths = QUICK if args.quick else {"steps": args.steps, "short_steps": 1000, "image_steps": 1000}
    seeds = 1 if args.quick else args.seeds
    chosen = [c for c in cases(**lengths) if (c.quick or not args.quick) and args.only in c.name]
    jobs = [(case, seed) for case in chosen for seed in range(args.first_seed, args.first_seed + seeds)]
    if args.rescore and not args.keep:
        parser.error("--rescore needs --keep DIR, the run directories of an earlier run")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gankit-doctor-bench-") as scratch:
        root = args.keep or Path(scratch)
        outs = [root / f"{case.name.replace(' ', '_').replace(',', '')}-seed{seed}" for case, seed in jobs]
        if args.rescore:
            results = [score_run(case, seed, out) for (case, seed), out in zip(jobs, outs, strict=True)]
        else:
            results = train_all(jobs, outs, args.workers)
    wall = root / "wall.json"  # the training's wall time, kept for a rescore of the same runs
    if args.rescore:
        wall_minutes = json.loads(wall.read_text())["minutes"] if wall.exists() else None
    else:
        wall_minutes = (time.perf_counter() - started) / 60
        if args.keep:
            wall.write_text(json.dumps({"minutes": round(wall_minutes, 1)}))
    command = "python benchmarks/doctor.py" + (
        " --quick"
        if args.quick
        else f" --seeds {seeds} --first-seed {args.first_seed} --steps {args.steps} --workers {args.workers}"
        + (f" --only '{args.only}'" * bool(args.only))
    )
    text = table(results, command, wall_minutes)
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
