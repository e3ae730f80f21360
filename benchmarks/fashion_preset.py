"""The `fashion` preset: chosen on validation, then measured once on seeds and images it never saw.

Its sweeps, all kept in one journal (benchmarks/journals/fashion_preset.journal), so the page is
written from the journal alone (``--render``) and a fresh clone continues where the last one stopped:

1. Design (benchmarks/specs/fashion_preset.toml, widened by WIDENINGS to a 3 x 3 grid of learning
   rates 2e-4, 1e-3, 3e-3 for G and D): learning-rate cells of the non-saturating GAN
   with width-32 DCGAN networks on Fashion-MNIST, trained on the tuning seed 0 for the preset's
   2,400 steps, scored by `gankit eval` on the validation part (6,000 held-out training images). The
   cell with the lowest validation FID at the end is the preset.
2. Report seeds (200..204): the chosen cell, each run's validation FID and classes covered every 200
   steps (the curve, and whether it settled: gankit.stats.settled), then its final weights scored
   *once* on the test split (t10k), the score kept in the journal beside the run (a study of its own,
   as benchmarks/images.py keeps its test scores), and a grid of its samples drawn once to
   docs/benchmarks/fashion_preset_samples_SEED.png.

3. Longer, and in bf16 (the tuning seeds 0..4, the validation part): the chosen cell trained for twice
   the preset's steps, in fp32 and with `--amp` (bf16 autocast), its validation FID every 200 steps.
   The fp32 curve says where the preset's budget sits on it (settled or not); the paired difference
   bf16 - fp32 on the same seeds, at the preset's steps and at the end, with each precision's CPU a
   step, says whether `amp = auto` (the preset's default, which keeps bf16 where it is faster) costs
   quality. Nothing here touches the report seeds or the test split.
4. The preset at stage 3's length (report seeds 210..214, fresh): the chosen cell for twice the
   design's steps or FINAL_BUDGET_S of training CPU, whichever comes first, at the default precision
   (`amp = auto`), each run's validation curve, then its final weights on the test split once. What
   src/gankit/presets.py ships.

The page (docs/benchmarks/fashion_preset.md) says whether every seed covers all 10 classes (the
shipped Fashion-MNIST classifier reads each sample; gankit.metrics.labels.class_metrics) and how
many CPU-minutes a run took, against the preset's promise: recognisable samples of every class in at
most 15 CPU-minutes.

Cost, measured with one thread on the 2-core machine while other benchmarks ran: about 0.3 CPU-s a
generator step and 2 CPU-s an evaluation, so a run is 12-14 CPU-minutes; 9 + 5 runs are about 3
CPU-hours (1.5 hours with --workers 2 on two free cores). Stage 3: 5 fp32 runs of 4,800 steps (~26
CPU-minutes each) and 5 in bf16 (1.71x faster a step in docs/benchmarks/speed.md: ~16), about 3.5
CPU-hours more; its longest run is well inside a session. Stage 4: 5 runs of at most 15 CPU-minutes.

    nice -n 10 python benchmarks/fashion_preset.py --workers 2   # run or continue, then write the page
    python benchmarks/fashion_preset.py --render                  # the page from the journal alone
    python benchmarks/fashion_preset.py --quick                   # smoke test: runs/fashion-preset-quick

Stopped (Ctrl-C, SIGTERM), the same command continues; finished runs are never trained again.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import tomllib
import torch
from images import keep_test, read_tests
from journaled import guarded, settled_text
from mode_coverage import ci_text, curve_table, driver_arguments, plot_curves, run_sweep, stored, toml_text

from gankit import stats
from gankit.metrics.evaluate import evaluate_run
from gankit.runs import compare as comparing
from gankit.runs import sweep as sweeps

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "fashion_preset.toml"
JOURNAL = ROOT / "benchmarks" / "journals" / "fashion_preset.journal"
REPORT_SEED = 200  # report seeds 200, 201, ...: never used to choose anything
TUNING_SEEDS = [0, 1, 2, 3, 4]  # stage 3: seed 0 chose the rates; all five measure budget and precision
LONG_FACTOR = 2  # stage 3 trains twice the preset's steps
BUDGET_MINUTES = 15  # the preset's promise: CPU-minutes a run, evaluations included
# Stage 4: the preset at stage 3's length, with `amp` at its default (auto) and a training-CPU budget
# that keeps a run within the promise where a step costs more (fp32, or a slower machine): 24
# evaluations take about a CPU-minute of the 15
FINAL_BUDGET_S = 840
FINAL_SEED = 210  # stage 4's report seeds 210, 211, ...: fresh, as 200.. measured the first preset
TEST_SAMPLES = 2500
QUICK = {
    "width": 4,
    "steps": 40,
    "eval_every": 20,
    "checkpoint_every": 20,
    "eval_samples": 300,
    "log_every": 10,
}
TEST_KEYS = (("fid", 2), ("kid", 3), ("precision", 3), ("recall", 3), ("sharpness", 2), ("class_kl", 3))


# The grid widened: the first four cells' best (g_lr = d_lr = 1e-3) lay on the grid's edge, so the design
# goes on to 3e-3 for each network (the range the digits search found best), completing a 3 x 3 grid. Each
# widening is a sweep of its own in the same journal: the finished cells are kept, never trained again.
# (The shipped spec's text names its sweep in the journal, comments included: it is left as it ran.)
WIDENINGS = ({"g_lr": [3e-3], "d_lr": [2e-4, 1e-3, 3e-3]}, {"g_lr": [2e-4, 1e-3], "d_lr": [3e-3]})


def design_text(quick: bool) -> str:
    """Stage 1's first spec as shipped, or shrunk for --quick."""
    if not quick:
        return SPEC.read_text()
    values = tomllib.loads(SPEC.read_text())
    values["base"] |= QUICK
    return toml_text(values)


def design_texts(quick: bool) -> list[str]:
    """Every design sweep's spec: the shipped grid, then each of WIDENINGS in its place."""
    first = design_text(quick)
    widened = [toml_text(tomllib.loads(first) | {"grid": grid}) for grid in WIDENINGS]
    return [first, *widened]


def preset_values(base: dict, chosen) -> dict:
    """The `fashion` preset the design chose: the design's fixed settings and the chosen cell's rates."""
    preset = {"data": "fashion-mnist", "objective": "ns", "width": base["width"]}
    preset |= {"batch_size": base["batch_size"], "g_lr": chosen.config["g_lr"], "d_lr": chosen.config["d_lr"]}
    return preset | {"steps": base["steps"], "eval_every": base["eval_every"]}


def chosen_cell(records: list) -> comparing.RunRecord | None:
    """The design run with the lowest validation FID at the end (None until every cell finished)."""
    complete = [r for r in records if r.status == comparing.COMPLETE and r.value is not None]
    if not records or len(complete) < len(records):
        return None
    return min(complete, key=lambda r: r.value)


def seeds_text(design: str, chosen, seeds: int) -> str:
    """Stage 2's spec: the chosen cell's learning rates on the report seeds."""
    values = tomllib.loads(design)
    values["base"] |= {"g_lr": chosen.config["g_lr"], "d_lr": chosen.config["d_lr"]}
    values["base"].pop("seed")
    values["grid"] = {"seed": list(range(REPORT_SEED, REPORT_SEED + seeds))}
    return toml_text(values)


def final_text(design: str, chosen, seeds: int, quick: bool) -> str:
    """Stage 4's spec: the chosen cell for LONG_FACTOR x the design's steps or FINAL_BUDGET_S of
    training CPU, whichever comes first, at the default precision (auto), on fresh report seeds."""
    values = tomllib.loads(seeds_text(design, chosen, seeds))
    base = values["base"]
    base |= {"steps": LONG_FACTOR * base["steps"], "time_budget_s": 4 if quick else FINAL_BUDGET_S}
    base["amp"] = "auto"
    values["grid"] = {"seed": list(range(FINAL_SEED, FINAL_SEED + seeds))}
    return toml_text(values)


def final_preset(design: str, chosen) -> dict:
    """The `fashion` preset stage 4 measures (src/gankit/presets.py writes it)."""
    base = tomllib.loads(design)["base"]
    longer = {"steps": LONG_FACTOR * base["steps"], "time_budget_s": FINAL_BUDGET_S}
    return preset_values(base, chosen) | longer


def long_text(design: str, chosen, seeds: list[int]) -> str:
    """Stage 3's spec: the chosen cell, LONG_FACTOR x the preset's steps, tuning seeds, fp32 and bf16."""
    values = tomllib.loads(design)
    base = values["base"]
    base |= {
        "g_lr": chosen.config["g_lr"],
        "d_lr": chosen.config["d_lr"],
        "steps": LONG_FACTOR * base["steps"],
    }
    base.pop("seed")
    base.pop("amp")
    values["grid"] = {"amp": [False, True], "seed": seeds}
    return toml_text(values)


def test_runs(records: list, sweep_dir: Path, journal: Path, text: str, pictures: Path) -> None:
    """Score each finished report seed's final weights on the test split, once, and keep the score in
    the journal; draw its samples once (the page's pictures)."""
    from gankit.engine.restore import load_trainer
    from gankit.report.plots import plot_samples

    done = read_tests(journal, text)
    for record in records:
        run_dir = sweep_dir / record.path
        if str(record.path) in done or not run_dir.is_dir():
            continue
        tested = evaluate_run(run_dir, n=TEST_SAMPLES, seed=sweeps.EVAL_SEED, part="test")
        keep_test(journal, text, str(record.path), {f"test_{k}": v for k, v in tested.items()})
        trainer = load_trainer(run_dir)
        samples = trainer.sample(64, seed=sweeps.EVAL_SEED).numpy()
        title = f"fashion preset, seed {record.config['seed']}, {record.steps:,} steps"
        plot_samples(samples, pictures / f"fashion_preset_samples_{record.config['seed']}.png", title=title)


def cpu_minutes(records: list) -> dict:
    return stats.summarize([r.trial["cpu_time"] / 60 for r in records], "minimize")


def design_table(records: list, chosen) -> list[str]:
    lines = [
        "| g_lr | d_lr | validation FID at the end | classes at the end | lowest validation FID (step) |"
        " CPU-minutes |",
        "|---|---|---|---|---|---|",
    ]
    for record in sorted(records, key=lambda r: (r.config["g_lr"], r.config["d_lr"])):
        steps, fids = comparing.evaluation_curve(record, "eval_fid")
        best = min((f, s) for s, f in zip(steps, fids, strict=True) if f is not None)
        mark = " **(chosen)**" if record is chosen else ""
        lines.append(
            f"| {record.config['g_lr']:g} | {record.config['d_lr']:g} | {record.value:.2f}{mark} |"
            f" {record.trial['eval']['classes']} / 10 | {best[0]:.2f} ({best[1]:,}) |"
            f" {record.trial['cpu_time'] / 60:.1f} |"
        )
    return lines


def curve_points(records: list, key: str) -> tuple[list[int], list[dict]]:
    steps, curves = comparing.common_curves(records, key)
    direction = "maximize" if key == "eval_classes" else "minimize"
    return steps, [stats.summarize([v for v in column if np.isfinite(v)], direction) for column in curves.T]


def fid_at(record, step: int) -> float:
    """A run's validation FID at ``step`` (its evaluation there)."""
    steps, fids = comparing.evaluation_curve(record, "eval_fid")
    return fids[steps.index(step)]


def long_lines(base: dict, records: list) -> list[str]:
    """Stage 3's section: the fp32 and bf16 curves on the tuning seeds, whether each settled, and the
    paired difference bf16 - fp32 at the preset's steps and at the end."""
    seeds = sorted({r.config["seed"] for r in records}) or TUNING_SEEDS
    lines = [
        "## 3. Longer, and in bf16: on the tuning seeds and the validation part",
        "",
        f"The chosen cell on tuning seeds {', '.join(map(str, seeds))} for {LONG_FACTOR} x the"
        f" preset's steps, in fp32 (`amp = false`) and in bf16 (`amp = true`); validation FID every"
        f" {base['eval_every']} steps (mean [95 % t interval]). The preset's default `amp = auto` times"
        " both at a run's start and keeps the faster, so this is what it costs a user.",
        "",
    ]
    by_amp = {amp: [r for r in records if r.config["amp"] is amp] for amp in (False, True)}
    if min(len(runs) for runs in by_amp.values()) < 2:
        return lines + [
            f"{len(records)} of {2 * len(TUNING_SEEDS)} runs finished; the section needs 2 of each.",
            "",
        ]
    names = {False: "fp32", True: "bf16 (--amp)"}
    curves = {names[amp]: curve_points(runs, "eval_fid") for amp, runs in by_amp.items()}
    steps = curves["fp32"][0]
    shown = [i for i, step in enumerate(steps) if step % (4 * base["eval_every"]) == 0 or i == len(steps) - 1]
    lines += curve_table(
        "generator steps",
        [f"{steps[i]:,}" for i in shown],
        {n: [p[i] for i in shown] for n, (_, p) in curves.items()},
        2,
    )
    lines.append("")
    for amp, runs in by_amp.items():
        _, words = settled_text(SimpleNamespace(complete_seeds=runs), "eval_fid")
        per_step = stats.summarize([r.trial["cpu_time"] / r.steps for r in runs], "minimize")
        lines.append(
            f"- **{names[amp]}**: {words}; {ci_text(per_step, 1, 3)} CPU-s a generator step, evaluations"
            f" included ({len(runs)} runs, one thread; {comparing.load_words(runs, os.cpu_count())})."
        )
    paired = sorted(
        set(r.config["seed"] for r in by_amp[False]) & set(r.config["seed"] for r in by_amp[True])
    )
    seed_of = {amp: {r.config["seed"]: r for r in runs} for amp, runs in by_amp.items()}
    for step in (base["steps"], steps[-1]):
        diff = stats.summarize(
            [fid_at(seed_of[True][s], step) - fid_at(seed_of[False][s], step) for s in paired], "minimize"
        )
        verdict = (
            "too few seeds in both to tell"
            if diff["ci_low"] is None
            else "the interval holds 0: no difference shown"
            if diff["ci_low"] <= 0 <= diff["ci_high"]
            else ("bf16 worse" if diff["ci_low"] > 0 else "bf16 better")
        )
        lines.append(
            f"- **bf16 - fp32 at {step:,} steps**, paired on seeds {', '.join(map(str, paired))}:"
            f" validation FID {ci_text(diff, 1, 2)} ({verdict})."
        )
    return lines + ["", "![validation FID on the tuning seeds, fp32 and bf16](fashion_preset_long.png)", ""]


def report_lines(base: dict, records: list, tests: dict) -> list[str]:
    """A set of report seeds: the validation curve, whether it settled, the cost, and the test split
    (scored once), with two seeds' samples (sections 2 and 4)."""
    seeds = [r.config["seed"] for r in records]
    steps, fid = curve_points(records, "eval_fid")
    _, classes = curve_points(records, "eval_classes")
    shown = [i for i, step in enumerate(steps) if step % (2 * base["eval_every"]) == 0 or i == len(steps) - 1]
    _, settled_words = settled_text(SimpleNamespace(complete_seeds=records), "eval_fid")
    cpu = cpu_minutes(records)
    lines = [
        f"Report seeds {', '.join(map(str, seeds))} (mean [95 % Student's t interval of the mean]).",
        "",
        *curve_table(
            "generator steps",
            [f"{steps[i]:,}" for i in shown],
            {"validation FID": [fid[i] for i in shown]},
            2,
        ),
        "| classes covered (of 10) | " + " | ".join(ci_text(classes[i], 1, 1) for i in shown) + " |",
        "",
        f"- **Settled?** The validation FID curve: {settled_words} (`gankit.stats.settled`: the last"
        " quarter's least-squares change of the seeds' mean against their standard deviation at the end).",
        f"- **Cost.** {ci_text(cpu, 1, 1)} CPU-minutes a run, evaluations included (most"
        f" {max(r.trial['cpu_time'] for r in records) / 60:.1f}), at one thread; the promise is at most"
        f" {BUDGET_MINUTES}; {comparing.load_words(records, os.cpu_count())}.",
        f"- **Steps and precision.** {min(r.steps for r in records):,}-{max(r.steps for r in records):,}"
        f" generator steps; bf16 in {sum(r.config['amp'] is True for r in records)} of {len(records)} runs"
        " (the rest fp32).",
    ]
    tested = [tests[str(r.path)] for r in records if str(r.path) in tests]
    if tested:
        every = [t["test_classes"] for t in tested]
        rows = {key: stats.summarize([t[f"test_{key}"] for t in tested], "minimize") for key, _ in TEST_KEYS}
        floors = tested[0]
        lines += [
            f"- **Test split, once** ({len(tested)} seeds, final weights, {TEST_SAMPLES:,} samples against"
            f" {floors['test_reference']}): classes covered per seed {', '.join(map(str, every))};"
            + "".join(f" {key} {ci_text(rows[key], 1, digits)};" for key, digits in TEST_KEYS)
            + f" real test images at equal n (the floor): FID {floors['test_floor_fid']:.2f}, classes"
            f" {floors['test_floor_classes']}, class_kl {floors['test_floor_class_kl']:.3f}, sharpness"
            f" {floors['test_floor_sharpness']:.2f}.",
            f"- **Every class in every seed?** {'Yes' if min(every) == 10 else 'No'}: the fewest classes"
            f" covered by a seed is {min(every)} of 10.",
            "",
            *(f"![samples, seed {t}](fashion_preset_samples_{t}.png)" for t in seeds[:2]),
        ]
    return lines


def render(
    args, design: str, design_records: list, chosen, records: list, tests: dict, long: list, final: dict
) -> list[str]:
    base = tomllib.loads(design)["base"]
    journal = os.path.relpath(args.journal, ROOT) if args.journal.is_relative_to(ROOT) else args.journal
    lines = [
        "# The `fashion` preset",
        "",
        f"Generated by `benchmarks/fashion_preset.py` from its journal `{journal}` alone (`--render`"
        " rewrites it; without it the same command runs or continues the runs first); do not edit by hand.",
        "",
        f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores,"
        f" torch {torch.__version__}; one thread a run, fp32, two runs side by side.",
        "",
        f"**Recipe.** The non-saturating GAN, DCGAN networks of width {base['width']} (batch norm), batch"
        f" {base['batch_size']}, Adam (0.5, 0.999), {base['steps']:,} generator steps on Fashion-MNIST's"
        f" 60,000 training images, {base['validation_fraction']:.0%} of them held out as the validation"
        " part; the published t10k split is the test part.",
        "",
        "## 1. Design: the learning rates, on the tuning seed and the validation part",
        "",
        f"Tuning seed {base['seed']}; each cell scored by `gankit eval` on the validation part (2,500"
        " samples, the shipped Fashion-MNIST feature network). The first four cells crossed 2e-4 and 1e-3;"
        " their best lay on the grid's edge, so the grid was widened to 3e-3 for each network (3 x 3 cells).",
        "",
    ]
    if not design_records:
        return lines + ["Not measured yet: run the command above."]
    finished = [r for r in design_records if r.status == comparing.COMPLETE]
    lines += design_table(finished, chosen)
    if len(finished) < 9:
        lines += ["", f"{len(finished)} of the 9 cells finished; the rest run when the same command goes on."]
    if chosen is None:
        return lines + ["", "The design sweep has not finished: the preset is chosen when every cell has."]
    text = ", ".join(f'"{key}": {json.dumps(value)}' for key, value in preset_values(base, chosen).items())
    lines += ["", f'The preset (src/gankit/presets.py): `"fashion": {{{text}}}`.', ""]
    lines += ["## 2. Report seeds: the validation curve, then the test split once", ""]
    if len(records) < 2:
        return lines + [f"{len(records)} report seeds finished; the page needs 2."]
    lines += report_lines(base, records, tests)
    lines += ["", *long_lines(base, long), *final_lines(base, final)]
    lines += [
        f"**Limits.** One network size (width {base['width']}, chosen for the machine, not searched) and nine"
        " learning-rate cells on one tuning seed: a design choice, not a tuned optimum. The design and"
        " section 2's report seeds trained in fp32, section 4's at the preset's default `amp`, which times"
        " both precisions and keeps the faster; section 3 measures what bf16 changes. GAN against VAE on"
        " this data, with an equal search per model, is [fashion.md](fashion.md).",
        "",
        "![validation FID of the report seeds](fashion_preset.png)",
    ]
    return lines


def final_lines(base: dict, final: dict) -> list[str]:
    """Stage 4's section: the preset at stage 3's length on fresh report seeds, its test split once."""
    preset = ", ".join(f'"{key}": {json.dumps(value)}' for key, value in final["preset"].items())
    lines = [
        "## 4. The preset at the longer budget, on fresh report seeds",
        "",
        f"Sections 2 and 3 say whether the curve had settled at {base['steps']:,} steps and what bf16 costs"
        f" against fp32. The preset then trains {LONG_FACTOR} x as long, at the default precision"
        f" (`amp = auto`: the faster, timed at the start), and stops earlier where {FINAL_BUDGET_S} CPU-s of"
        f" training come first (a slower step: fp32, or another machine), which keeps a run within"
        f" {BUDGET_MINUTES} CPU-minutes with its evaluations. Measured once on report seeds"
        f" {FINAL_SEED}.. (fresh: section 2's measured the first preset) and the test split once.",
        "",
        f'The preset (src/gankit/presets.py): `"fashion": {{{preset}}}`.',
        "",
    ]
    if len(final["records"]) < 2:
        return lines + [f"{len(final['records'])} report seeds finished; the section needs 2.", ""]
    return lines + report_lines(base, final["records"], final["tests"]) + [""]


def figure(curves: dict[str, list], title: str):
    """Validation FID against generator steps, one line (mean, 95 % CI band) per set of runs."""
    figure = plot_curves(
        {name: curve_points(runs, "eval_fid") for name, runs in curves.items()}, "validation FID", title
    )
    figure.axes[0].set_xlabel("generator steps")
    return figure


def main(argv: list[str] | None = None) -> None:
    def more(parser) -> None:
        parser.add_argument("--render", action="store_true", help="only write the page, from the journal")
        parser.add_argument("--journal", type=Path, help="(benchmarks/journals/...; --quick: OUT/journals/)")

    args = driver_arguments(
        argv, "fashion-preset", __doc__, "tiny nets, 40 steps, 2 seeds, temp journal", more
    )
    args.journal = args.journal or (args.out / "journals" / JOURNAL.name if args.quick else JOURNAL)
    docs = args.out if args.quick else ROOT / "docs" / "benchmarks"

    def body() -> None:
        texts = design_texts(args.quick)
        design = texts[0]
        for number, text in enumerate(texts):
            if not args.render:
                out = args.out / ("design" if number == 0 else f"design-{number}")
                run_sweep(out, text, args.workers, args.journal)
        done = [stored(args.journal, text) for text in texts]  # None: a sweep not started
        design_records = [record for records in done for record in records or []]
        chosen = chosen_cell(design_records) if all(records is not None for records in done) else None
        records, tests, long, final = [], {}, [], {}
        if chosen is not None:
            records, tests = tested_seeds(seeds_text(design, chosen, args.seeds), "seeds")
            text = long_text(design, chosen, TUNING_SEEDS[:2] if args.quick else TUNING_SEEDS)
            if not args.render:
                run_sweep(args.out / "long", text, args.workers, args.journal)
            long = [r for r in stored(args.journal, text) or [] if r.status == comparing.COMPLETE]
            final_records, final_tests = tested_seeds(
                final_text(design, chosen, args.seeds, args.quick), "final"
            )
            final = {"records": final_records, "tests": final_tests, "preset": final_preset(design, chosen)}
        docs.mkdir(parents=True, exist_ok=True)
        if len(records) >= 2:
            figure({"fashion preset": records}, "The fashion preset's report seeds (mean, 95 % CI)").savefig(
                docs / "fashion_preset.png", dpi=110
            )
        if min(sum(r.config["amp"] is amp for r in long) for amp in (False, True)) >= 2:
            runs = {
                "fp32": [r for r in long if not r.config["amp"]],
                "bf16": [r for r in long if r.config["amp"]],
            }
            figure(runs, "Tuning seeds, twice the preset's steps (mean, 95 % CI)").savefig(
                docs / "fashion_preset_long.png", dpi=110
            )
        page = docs / "fashion_preset.md"
        lines = render(args, design, design_records, chosen, records, tests, long, final)
        page.write_text("\n".join(lines) + "\n")
        print(f"wrote {page}")

    def tested_seeds(text: str, name: str) -> tuple[list, dict]:
        """A report-seeds sweep (stage 2 or 4): run or continue it in OUT/name, score each finished
        run on the test split once; its finished runs by seed and their test records."""
        if not args.render:
            run_sweep(args.out / name, text, args.workers, args.journal)
        records = [r for r in stored(args.journal, text) or [] if r.status == comparing.COMPLETE]
        records.sort(key=lambda record: record.config["seed"])
        if not args.render:
            test_runs(records, args.out / name, args.journal, text, docs)
        return records, read_tests(args.journal, text)

    guarded(body, lambda: args.journal.parent)


if __name__ == "__main__":
    sys.exit(main())
