"""Remedies with measured success: how often each remedy fixes a run in which the doctor found a problem.

A driver over `gankit sweep` whose record is its journals (one per case, benchmarks/journals/
remedies_<case>.journal, committed), as benchmarks/mode_coverage.py. The cases and the candidate
remedies are in benchmarks/specs/remedies.toml, which says what each one is and where each remedy's
setting was chosen (never on this benchmark's seeds: the rates are held out).

1. Broken runs: each case's broken recipe on the report seeds (a grid sweep over `seed`). A seed counts
   where `gankit doctor` finds the case's finding open at the run's end; the doctor's verdict is kept
   with each trial's result in the journal (runs/sweep.py: doctor_verdict).
2. Remedies, at the broken run's budget: *restart* (the broken recipe plus the remedy, from scratch, for
   the broken run's steps, on the counted seeds); *init-from* (`gankit train --init-from BROKEN:S` plus
   the remedy for the steps left, where S is that seed's first checkpoint at or after the step where the
   doctor detected the finding, as the doctor's own init-from command resumes a run; a seed detected at
   its last checkpoint has no steps left and is not counted for init-from); *sampling* (refinement:
   `gankit eval BROKEN --refine drs` on the broken run's last checkpoint, no training; its result is
   kept as a user attribute of the study ``<case>/sampling`` in the case's journal).
3. Fixed: the finding is not open at the end of the new run (the doctor's replay) AND the outcome
   recovered: toy data, at least 80 % of the modes with at least 50 % high-quality samples (20 of 25
   on the grid); images, FID at most 50. Per (case, remedy, way): fixed k of n with Wilson's 95 %
   interval (scipy), and the outcome's mean.
4. `--render` writes docs/benchmarks/remedies.md and src/gankit/diagnose/remedy_rates.json (what
   `gankit doctor` prints) from the journals alone.

Cost. Measured step times at one thread (fp32, 3x128 MLPs at batch 256, benchmarks/mode_coverage.py
on this 2-core machine): 7-10 ms a step for ns, 35 ms for wgan-gp with 5 critic steps, 12 ms rpgan;
0.4 s an evaluation, one every 250 steps. So a 20,000-step grid run is about 200 CPU-s (wgan-gp 730,
rpgan 270); a 5,000-step ring run about 50 (wgan-gp 180). The strong-D case's 20 critic steps at
width 64 and batch 128 measured 20 ms a step at width 32 and batch 64 (--quick); about 25 ms here,
50 CPU-s a 2,000-step run. A 2,000-step digits run is estimated at 60 CPU-s (not timed here). Per
case, 5 broken runs, each restart on 5 seeds, each init-from remedy for the steps left: grid about
3.8 CPU-hours (1,000 s broken, 10,600 restarts, 2,100 init-from, 150 refinement), ring 1.1, strong
D 0.8, digits 0.7. The later cases, on the ring at 5,000 steps (estimated from one probe run each):
no progress about 0.3 CPU-hours, divergence 0.4 (its broken runs stop early), oscillation 0.6 (wgan-gp
at one critic step, ~12 ms a step; its five-step remedy ~35 ms), D overpowers 1.5 (wgan-gp's five
critic steps in every run); memorisation, 15,000 steps on digits (~450 CPU-s a run, from one probe
under load), about 3.4. About 13 CPU-hours in all (EXPECTED_CPU_HOURS): 6.5 hours of wall time with
--workers 2 on two free cores. The longest run (wgan-gp on the grid) takes about 13 CPU-minutes.

    nice -n 10 python benchmarks/remedies.py --workers 2    # run or continue, then write page and rates
    python benchmarks/remedies.py --render                   # page and rates from the journals alone
    python benchmarks/remedies.py --quick                    # smoke test: a tiny case, temp journals

The driver runs from the repository root whatever the current directory (the init-from sweeps name
the broken runs relative to it, so a clone finds the same sweeps in the journals); --render reads the
journals with the same --out as the run. Continuing: the same command resumes (finished trials are
kept in the journals, never rerun; a trial stopped by a session's end resumes from its checkpoint).
In a fresh clone whose runs/ is gone, an init-from or sampling remedy that still needs a broken run's
checkpoints retrains that broken run into its old place from its stored config (one thread, fp32:
the same numbers) and checks its last evaluation against the journal's. Commit
benchmarks/journals/remedies_*.journal, the page and the rates file after each session.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent))
from journaled import guarded  # noqa: E402
from mode_coverage import _wrap, driver_arguments, run_sweep, stored, toml_text  # noqa: E402

from gankit.config import FLAGS, from_dict  # noqa: E402
from gankit.data.toy import TOY_DATASETS, get_toy  # noqa: E402
from gankit.diagnose.monitors import Divergence  # noqa: E402
from gankit.diagnose.remedies import CAUSES  # noqa: E402
from gankit.engine.restore import checkpoint_after_detection  # noqa: E402
from gankit.presets import PRESETS, data_default  # noqa: E402
from gankit.rundir import dumps, is_run_dir, read_metrics  # noqa: E402
from gankit.runs import compare as comparing  # noqa: E402
from gankit.runs import sweep as sweeps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "remedies.toml"
JOURNALS = ROOT / "benchmarks" / "journals"
PAGE = ROOT / "docs" / "benchmarks" / "remedies.md"
RATES = ROOT / "src" / "gankit" / "diagnose" / "remedy_rates.json"
EXPECTED_CPU_HOURS = 13  # see the module docstring
EVAL_SEED, EVAL_SAMPLES = 0, 2500  # the sampling remedy's `gankit eval` (its defaults on toy data)
ARCHITECTURE = ("width", "d_width", "depth", "latent_dim", "latent", "pack", "standardize", "spectral_norm")

# --quick: one case broken from its first steps (tutorial 01's strong D), tiny runs, two seeds
QUICK_CASE = {
    "finding": "vanishing-gradients",
    "runs": "ring runs with a too-strong minimax D",
    "broken": {"data": "ring", "objective": "minimax", "critic_steps": 20, "d_lr": 1e-3, "g_lr": 2e-5},
    "remedies": ["ns", "refine"],
}
QUICK_BASE = {"steps": 300, "eval_every": 50, "log_every": 10, "checkpoint_every": 50, "width": 32}
QUICK_BASE |= {"batch_size": 64, "eval_samples": 500}
QUICK_SEEDS = [0, 1]


@dataclass
class Remedy:
    name: str
    values: dict = field(default_factory=dict)  # train config keys
    preset: str | None = None
    refine: str | None = None
    ways: tuple[str, ...] = ("restart", "init-from")
    chosen: str = ""

    @property
    def flags(self) -> str:
        if self.refine is not None:
            return f"--refine {self.refine}"
        if self.preset is not None:
            return f"--preset {self.preset}"
        return " ".join(flag(key, value) for key, value in self.values.items())

    def applies(self, way: str) -> bool:
        if self.refine is not None:
            return way == "sampling"
        if self.preset is not None or any(key in ARCHITECTURE for key in self.values):
            return way == "restart"  # other networks: no checkpoint of the broken run fits them
        return way in self.ways


def flag(key: str, value) -> str:
    """A config value as the `gankit train` flag that sets it, as a user types it: the flag's shortest
    spelling (--gp-weight), numbers without padding (7e-5, 0.0002, 10)."""
    names = FLAGS[key].names if key in FLAGS else ()
    name = min(names, key=len) if names else "--" + key.replace("_", "-")
    if isinstance(value, bool):
        return name if value else ""
    if isinstance(value, (list, tuple)):
        return f"{name} {','.join(str(v) for v in value)}"
    if isinstance(value, float):  # 7e-05 -> 7e-5, 1e+06 -> 1e6
        return f"{name} " + re.sub(r"e([+-])0*(?=\d)", lambda m: "e" + m[1].strip("+"), f"{value:g}")
    return f"{name} {value}"


@dataclass
class Case:
    name: str
    finding: str
    runs: str
    broken: dict
    remedies: list[Remedy]
    limits: str = ""  # what the case's table cannot show, printed under it
    cause: str = ""  # gankit.diagnose.remedies.CAUSES: the doctor offers its rates only to runs with it


@dataclass
class Benchmark:
    seeds: list[int]
    base: dict
    recovered: dict
    cases: list[Case]
    remedies: dict[str, Remedy]


def load_benchmark(path: Path, quick: bool) -> Benchmark:
    values = tomllib.loads(path.read_text())
    remedies = {name: Remedy(name, **table) for name, table in values["remedies"].items()}
    for remedy in remedies.values():
        remedy.ways = tuple(remedy.ways)
    tables = {"quick": QUICK_CASE} if quick else values["cases"]
    cases = [
        Case(
            name,
            t["finding"],
            t["runs"],
            dict(t["broken"]),
            [remedies[r] for r in t["remedies"]],
            t.get("limits", ""),
            t.get("cause", ""),
        )
        for name, t in tables.items()
    ]
    for case in cases:
        if case.cause and case.cause not in CAUSES:
            raise SystemExit(f"case {case.name}: unknown cause {case.cause!r}; allowed: {', '.join(CAUSES)}")
    base = values["base"] | (QUICK_BASE if quick else {})
    return Benchmark(QUICK_SEEDS if quick else values["seeds"], base, values["recovered"], cases, remedies)


# ---------------------------------------------------------------------------------------------------
# The sweeps of one case


def spec_text(metric: str, direction: str, base: dict, grid: dict) -> str:
    return toml_text({"metric": metric, "direction": direction, "base": base, "grid": grid})


def scored_by(case: Case) -> tuple[str, str]:
    """A sweep's metric (it only names what `gankit compare` would rank by: nothing is searched)."""
    return ("eval_modes", "maximize") if case.broken["data"] in TOY_DATASETS else ("eval_fid", "minimize")


def broken_recipe(bench: Benchmark, case: Case) -> dict:
    return bench.base | case.broken


def remedy_config(bench: Benchmark, case: Case, remedy: Remedy) -> dict:
    """The broken recipe with the remedy: its values win; a preset sits under the recipe's own keys
    (what `gankit train --preset P <the run's flags>` does), the benchmark's bookkeeping over both."""
    if remedy.preset is not None:
        return PRESETS[remedy.preset] | case.broken | bench.base
    return broken_recipe(bench, case) | remedy.values


def broken_spec(bench: Benchmark, case: Case) -> str:
    return spec_text(*scored_by(case), broken_recipe(bench, case), {"seed": bench.seeds})


def restart_spec(bench: Benchmark, case: Case, remedy: Remedy, seeds: list[int]) -> str:
    return spec_text(*scored_by(case), remedy_config(bench, case, remedy), {"seed": seeds})


def init_spec(bench: Benchmark, case: Case, remedy: Remedy, source: str, step: int) -> str:
    """One counted seed's init-from sweep: its broken run's weights at ``step``, then the steps left."""
    base = remedy_config(bench, case, remedy) | {
        "init_from_step": step,
        "steps": broken_steps(bench, case) - step,
    }
    return spec_text(*scored_by(case), base, {"init_from": [source]})


def init_specs(bench: Benchmark, case: Case, remedy: Remedy, found: list, starts: dict, out: Path) -> dict:
    """{seed: its init-from sweep's spec} for the counted runs with steps left after the detection."""
    return {
        b.seed: init_spec(bench, case, remedy, source_path(b, out, case), starts[b.seed])
        for b in found
        if b.seed in starts
    }


def broken_steps(bench: Benchmark, case: Case) -> int:
    return case.broken.get("steps", bench.base.get("steps", 2000))


def journal(journals: Path, case: Case) -> Path:
    return journals / f"remedies_{case.name}.journal"


@dataclass
class Broken:
    """A broken run that shows the case's finding at its end."""

    seed: int
    record: comparing.RunRecord
    detected_at: int


def broken_runs(case: Case, records: list) -> tuple[list[Broken], list[int]]:
    """The broken runs whose finding is open at the end, and the seeds of the complete runs without it."""
    found, missed = [], []
    for record in records:
        if record.status != comparing.COMPLETE:
            continue
        doctor = record.trial.get("doctor") or {}
        episodes = [
            f for f in doctor.get("findings", []) if f["name"] == case.finding and f.get("ended") is None
        ]
        if episodes:
            found.append(Broken(record.config["seed"], record, episodes[-1]["detected_at"]))
        else:
            missed.append(record.config["seed"])
    return sorted(found, key=lambda b: b.seed), sorted(missed)


def kept_steps(bench: Benchmark, case: Case, broken: Broken) -> list[int]:
    """The checkpoints a counted broken run keeps: every one to its last step ([base] keep_checkpoints),
    except that a diverged run stopped where the doctor detected it and kept only those before (the
    checkpointer never saves a non-finite state; its newest is the last good one)."""
    every, last = broken_recipe(bench, case)["checkpoint_every"], broken_steps(bench, case)
    if case.finding == Divergence.name:
        last = broken.detected_at - 1
    return list(range(every, last + 1, every))


def init_steps(bench: Benchmark, case: Case, found: list[Broken]) -> dict[int, int]:
    """{seed: S} for the counted broken runs an init-from remedy resumes: S is the run's first checkpoint
    at or after the step where the doctor detected the finding, else its last (a diverged run's last
    good one), as ``gankit train --init-from`` picks; a run whose S is its last step has nothing left
    to train, and one that kept no checkpoint nothing to resume: both are left out."""
    steps, starts = broken_steps(bench, case), {}
    for b in found:
        kept = kept_steps(bench, case, b)
        if kept:
            starts[b.seed] = checkpoint_after_detection(kept, b.detected_at)
    return {seed: step for seed, step in starts.items() if step < steps}


def source_path(broken: Broken, out: Path, case: Case) -> str:
    """Where a counted broken run's directory is, as its init-from spec names it (relative to the
    repository when it is inside it: the same text, so the same sweep, in every clone)."""
    path = (out / case.name / "broken" / broken.record.path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def ensure_source(broken: Broken, out: Path, case: Case) -> Path:
    """The broken run's directory; in a clone without it, the run trained again into the same place
    from its stored config (one thread, fp32: the same numbers, checked against the journal's)."""
    path = ROOT / source_path(broken, out, case)
    if is_run_dir(path):
        return path
    from gankit.runs import assemble

    config = from_dict(broken.record.config)
    assemble.train(config, path, overwrite=path.exists(), echo=lambda line: None)
    key = scored_by(case)[0]
    expected = broken.record.trial["metrics"].get(key)
    got = sweeps.last_values(read_metrics(path)).get(key)
    if got != expected:
        sys.exit(f"{path} does not repeat its journal's broken run ({key} {got} != {expected}); stopping")
    return path


SAMPLING = "sampling"  # the way without training; its results are user attributes of a study


def sampling_study(journal_file: Path, case: Case, create: bool):
    """The study in a case's journal whose user attributes keep the sampling remedies' results."""
    import optuna

    storage = sweeps.open_storage(sweeps.JOURNAL + str(journal_file))
    name = f"remedies/{case.name}/{SAMPLING}"
    if any(s.study_name == name for s in storage.get_all_studies()):
        return optuna.load_study(study_name=name, storage=storage)
    return optuna.create_study(study_name=name, storage=storage) if create else None


def run_sampling(journal_file: Path, case: Case, remedy: Remedy, found: list[Broken], out: Path) -> None:
    """`gankit eval BROKEN --refine METHOD` on each counted broken run, kept in the journal once."""
    from gankit.metrics.evaluate import evaluate_refined
    from gankit.refine.options import RefineOptions

    study = sampling_study(journal_file, case, create=True)
    for broken in found:
        key = f"{remedy.name}/{broken.seed}"
        if key in study.user_attrs:
            continue
        path = ensure_source(broken, out, case)
        refined = evaluate_refined(path, RefineOptions(method=remedy.refine), n=EVAL_SAMPLES, seed=EVAL_SEED)
        study.set_user_attr(key, json_safe({k: v for k, v in refined.items() if k != "options"}))


def json_safe(value):
    import json

    return json.loads(dumps(value))  # non-finite numbers as null, tuples as lists


def run_case(bench: Benchmark, case: Case, journals: Path, out: Path, workers: int) -> None:
    """Every sweep of one case, in order: broken runs, then each remedy each way it applies."""
    log, broken = journal(journals, case), broken_spec(bench, case)
    if not finished(log, broken, len(bench.seeds)):
        run_sweep(out / case.name / "broken", broken, workers, log)
    found, _ = broken_runs(case, stored(log, broken) or [])
    if not found:
        print(f"{case.name}: the doctor found {case.finding} in no broken run", file=sys.stderr)
        return
    seeds = [b.seed for b in found]
    for remedy in case.remedies:
        if remedy.applies("restart") and not already_broken(bench, case, remedy):
            text = restart_spec(bench, case, remedy, seeds)
            if not finished(log, text, len(seeds)):
                run_sweep(out / case.name / f"restart-{remedy.name}", text, workers, log)
        if remedy.applies(SAMPLING):
            run_sampling(log, case, remedy, found, out)
    starts, by_seed = init_steps(bench, case, found), {b.seed: b for b in found}
    # one trial a sweep (each seed resumes from its own step), one sweep at a time: a journal takes
    # one sweep at a time on a machine (gankit.runs.sweep.lock_journal), so the second worker idles
    for remedy in case.remedies:
        if remedy.applies("init-from") and not already_broken(bench, case, remedy):
            for seed, text in init_specs(bench, case, remedy, found, starts, out).items():
                if not finished(log, text, 1):  # a clone retrains a broken run only for what is left
                    ensure_source(by_seed[seed], out, case)
                    run_sweep(out / case.name / f"init-{remedy.name}" / str(seed), text, workers, log)


def finished(log: Path, text: str, trials: int) -> bool:
    """Whether the sweep that spec ``text`` makes has its ``trials`` trials complete: then it is not
    opened again (opening a finished sweep only appends its studies' creation to the journal)."""
    records = stored(log, text) or []
    return sum(record.status == comparing.COMPLETE for record in records) >= trials


def already_broken(bench: Benchmark, case: Case, remedy: Remedy) -> bool:
    """Whether the broken recipe already has every value of the remedy (nothing to measure)."""
    if remedy.preset is not None or remedy.refine is not None:
        return False
    recipe = broken_recipe(bench, case)
    return all(recipe.get(key) == value for key, value in remedy.values.items())


# ---------------------------------------------------------------------------------------------------
# Fixed or not, and the rates


def recovered(bench: Benchmark, data: str, metrics: dict) -> bool:
    """Whether the outcome recovered (``metrics``: `gankit eval` keys, without the eval_ prefix)."""
    if data in TOY_DATASETS:
        least = math.ceil(bench.recovered["modes_fraction"] * len(get_toy(data).modes))
        modes, quality = metrics.get("modes"), metrics.get("high_quality")
        return None not in (modes, quality) and modes >= least and quality >= bench.recovered["high_quality"]
    fid = metrics.get("fid")
    return fid is not None and fid <= bench.recovered["max_fid"]


def outcome_of(record) -> dict:
    """A finished trial's last evaluation, as `gankit eval` keys."""
    metrics = record.trial["metrics"]
    return {key.removeprefix("eval_"): value for key, value in metrics.items() if key.startswith("eval_")}


def finding_closed(case: Case, record) -> bool:
    """The finding is not open at the run's end (no stored verdict: not shown closed)."""
    doctor = record.trial.get("doctor") or {"open": [case.finding]}
    return case.finding not in doctor["open"]


def trial_fixed(bench: Benchmark, case: Case, record) -> bool:
    """The finding closed and the outcome recovered."""
    return finding_closed(case, record) and recovered(bench, case.broken["data"], outcome_of(record))


def wilson(fixed: int, n: int) -> tuple[float, float]:
    """Wilson's 95 % score interval of fixed / n (sound at n = 5, where the normal one is not)."""
    from scipy.stats import binomtest

    interval = binomtest(fixed, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(interval.low), float(interval.high))


@dataclass
class Result:
    """One (case, remedy, way): per run, its seed, whether it was fixed and its outcome."""

    case: Case
    remedy: Remedy
    way: str
    seeds: list[int] = field(default_factory=list)
    fixed: list[bool] = field(default_factory=list)
    outcomes: list[dict] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    closed: list[bool] = field(default_factory=list)  # the finding alone closed (trained ways only)

    @property
    def n(self) -> int:
        return len(self.fixed)

    def add(
        self, seed: int, fixed: bool, outcome: dict, cpu: float = 0.0, closed: bool | None = None
    ) -> None:
        self.seeds.append(seed)
        self.fixed.append(fixed)
        self.outcomes.append(outcome)
        self.cpu.append(cpu)
        if closed is not None:
            self.closed.append(closed)


@dataclass
class CaseResults:
    case: Case
    found: list[Broken]
    missed: list[int]  # complete broken runs in which the doctor did not find the finding open
    starts: dict[int, int]  # {seed: the init-from checkpoint} of the counted runs with steps left
    rows: list[Result]


def case_results(bench: Benchmark, case: Case, journals: Path, out: Path) -> CaseResults:
    """Everything the page and the rates need of one case, from its journal alone."""
    log = journal(journals, case)
    found, missed = broken_runs(case, stored(log, broken_spec(bench, case)) or [])
    if not found:
        return CaseResults(case, found, missed, {}, [])
    seeds, starts = [b.seed for b in found], init_steps(bench, case, found)
    study = sampling_study(log, case, create=False) if log.is_file() else None
    sampled = study.user_attrs if study is not None else {}
    rows = []
    for remedy in case.remedies:
        if already_broken(bench, case, remedy):
            continue
        for way in ("restart", "init-from", SAMPLING):
            if not remedy.applies(way) or (way == "init-from" and not starts):
                continue
            result = Result(case, remedy, way)
            if way == SAMPLING:
                for broken in found:
                    metrics = sampled.get(f"{remedy.name}/{broken.seed}")
                    if metrics is not None:
                        result.add(broken.seed, recovered(bench, case.broken["data"], metrics), metrics)
            else:
                if way == "restart":  # one sweep over the seeds; init-from: one sweep a seed
                    texts = {None: restart_spec(bench, case, remedy, seeds)}
                else:
                    texts = init_specs(bench, case, remedy, found, starts, out)
                for seed, text in texts.items():
                    for record in stored(log, text) or []:
                        if record.status == comparing.COMPLETE:
                            cpu = record.trial.get("cpu_time") or 0.0
                            fixed, closed = trial_fixed(bench, case, record), finding_closed(case, record)
                            seed_of = record.config["seed"] if seed is None else seed
                            result.add(seed_of, fixed, outcome_of(record), cpu, closed)
            rows.append(result)
    return CaseResults(case, found, missed, starts, rows)


def rate_rows(bench: Benchmark, measured: list[CaseResults]) -> list[dict]:
    """What `gankit doctor` reads (gankit.diagnose.measured): one row per measured (case, remedy, way)."""
    rows = []
    for results in measured:
        case = results.case
        for result in results.rows:
            if not result.n:
                continue
            remedy = result.remedy
            values = dict(PRESETS[remedy.preset]) if remedy.preset else dict(remedy.values)
            rows.append(
                {
                    "finding": case.finding,
                    "case": case.name,
                    "runs": case.runs,
                    "data": case.broken["data"],
                    "objective": case.broken.get("objective"),
                    "cause": case.cause or None,  # gankit.diagnose.remedies.CAUSES
                    "remedy": remedy.name,
                    "way": result.way,
                    "flags": remedy.flags,
                    "preset": remedy.preset,  # a preset remedy is applied by name (measured.settings)
                    "values": json_safe(values) if result.way != SAMPLING else {},
                    "fixed": sum(result.fixed),
                    "closed": sum(result.closed) if result.closed else None,  # the finding alone
                    "n": result.n,
                    "interval": [round(x, 4) for x in wilson(sum(result.fixed), result.n)],
                    "seeds": result.seeds,
                }
            )
    return rows


# ---------------------------------------------------------------------------------------------------
# The page and the rates file


def outcome_text(data: str, outcomes: list[dict]) -> str:
    """The outcome's mean over the runs: modes and HQ on toy data, FID on images."""
    if not outcomes:
        return "–"
    if data in TOY_DATASETS:
        total = len(get_toy(data).modes)
        modes = np.mean([o.get("modes") or 0 for o in outcomes])
        quality = np.mean([o.get("high_quality") or 0.0 for o in outcomes])
        return f"{modes:.1f} / {total} modes, HQ {quality:.0%}"
    fids = [o["fid"] for o in outcomes if o.get("fid") is not None]
    return f"FID {np.mean(fids):.1f}" if fids else "–"


def render(bench: Benchmark, measured: list[CaseResults], command: str) -> str:
    least = {
        name: math.ceil(bench.recovered["modes_fraction"] * len(get_toy(name).modes))
        for name in ("ring", "grid")
    }
    cpu = sum(sum(r.cpu) for m in measured for r in m.rows) + sum(
        b.record.trial.get("cpu_time") or 0.0 for m in measured for b in m.found
    )
    lines = [
        "# Remedies with measured success",
        "",
        _wrap(
            f"Written by `{command}` from the journals benchmarks/journals/remedies_*.journal alone"
            " (`--render` rewrites it without training). `gankit doctor` prints these rates"
            " beside its remedies (src/gankit/diagnose/remedy_rates.json, written with this page)."
            f" Training CPU in the journals: {cpu / 3600:.1f} hours at one thread (the driver's docstring"
            f" estimated about {EXPECTED_CPU_HOURS} for the whole benchmark, and gives the arithmetic)."
        ),
        "",
        "**Protocol** (benchmarks/specs/remedies.toml):",
        "",
        _wrap(
            "1. **Broken runs.** Each case's broken recipe trains on the report seeds"
            f" {', '.join(map(str, bench.seeds))}, one thread, fp32, every checkpoint kept. A seed counts"
            " where `gankit doctor` finds the case's finding open at the run's end; the others are listed.",
            "   ",
        ),
        _wrap(
            "2. **Remedies at the broken run's budget.** *restart*: the broken recipe plus the remedy's"
            " flags, from scratch, for the broken run's generator steps. *init-from*: `gankit train"
            " --init-from BROKEN:S` plus the flags for the steps left, where S is the seed's first"
            " checkpoint at or after the step where the doctor detected the finding, as the doctor's"
            " init-from command resumes a run (G, D and EMA weights; fresh optimisers); a seed detected at"
            " its last checkpoint has no steps left and is not counted for init-from. *sampling*: `gankit"
            " eval BROKEN --refine drs` on the broken run's last"
            f" checkpoint ({EVAL_SAMPLES:,} samples, seed {EVAL_SEED}), no training.",
            "   ",
        ),
        _wrap(
            "3. **Fixed** = the finding is not open at the end of the new run (the doctor's replay) *and*"
            f" the outcome recovered: at least {bench.recovered['modes_fraction']:.0%} of the modes"
            f" ({least['grid']} of 25 on the grid, {least['ring']} of 8 on the ring) with at least"
            f" {bench.recovered['high_quality']:.0%} high-quality samples (the mode-collapse monitor's"
            " quality bar), from the run's last evaluation; on images FID at most"
            f" {bench.recovered['max_fid']:g} against the validation part. Refinement trains nothing, so"
            " its outcome alone decides. *Finding closed* counts the first half alone: a remedy can end"
            " the finding without the outcome recovering within the broken run's budget.",
            "   ",
        ),
        _wrap(
            "4. **Rates**: fixed k of n counted seeds, with Wilson's 95 % score interval (scipy), and the"
            " outcome's mean over those runs.",
            "   ",
        ),
        "",
        _wrap(
            "**Held out.** No remedy's setting was chosen on these seeds: each is a shipped default, a"
            " paper's value or a preset tuned elsewhere (the last column says which). So the rates are"
            " not flattered by a choice made on the same runs."
        ),
        "",
    ]
    for results in measured:
        lines += case_section(results)
    lines += [
        _wrap(
            "**What the table cannot show.** Five seeds per cell: an interval of 5 of 5 runs still reaches"
            " down to 57 %. A remedy is measured at one setting, at the broken run's budget; another"
            " setting or budget may rank it otherwise, and a remedy marked as not helping here may help"
            " a run broken another way. An init-from remedy gets the steps its seed had left after the"
            " detection, so a seed detected late gets fewer steps to recover in than a restart. Each"
            " finding has one or two causes here, and a rate measured on one cause (no progress at"
            " learning rates of 1e-7: a wider network cannot help there) says little about another (no"
            " progress on a plateau at the default rates). So where a case names its cause, the doctor"
            " offers its rates only to runs that share it; a case without one stands for every run of"
            " its finding whose D is of the case's kind, and the doctor names the case's runs beside"
            " each rate."
        ),
    ]
    return "\n".join(lines) + "\n"


def case_section(results: CaseResults) -> list[str]:
    case = results.case
    recipe = " ".join(flag(k, v) for k, v in case.broken.items())
    if data_default(case.broken["data"], from_dict(case.broken).objective):
        recipe = "--preset paper " + recipe  # the runs train on the papers' settings, not the data's default
    lines = [f"## {case.name}: {case.finding}", "", f"Broken recipe: `gankit train {recipe}`.", ""]
    if case.cause:
        cause = CAUSES[case.cause][1]
        lines += [_wrap(f"The doctor offers these rates only to runs with its cause: {cause}."), ""]
    if not results.found:
        if not results.missed:
            return lines + ["Not measured yet: no broken run has finished.", ""]
        missed = ", ".join(map(str, results.missed))
        return lines + [
            _wrap(f"No broken run shows {case.finding} at its end (finished seeds: {missed})."),
            "",
        ]
    detected = ", ".join(f"{b.seed} (step {b.detected_at:,})" for b in results.found)
    text = f"The doctor found {case.finding} open at the end in {len(results.found)} of"
    text += f" {len(results.found) + len(results.missed)} finished broken runs, detected at: {detected}."
    if results.missed:
        text += f" Not found in seeds {', '.join(map(str, results.missed))}: they are not counted."
    diverged = case.finding == Divergence.name  # training stopped at the detection
    if results.starts:
        starts = ", ".join(f"{seed} (step {step:,})" for seed, step in results.starts.items())
        where = "its last good checkpoint" if diverged else "its first checkpoint at or after the detection"
        text += f" init-from resumes each from {where}: {starts}."
    if late := [b.seed for b in results.found if b.seed not in results.starts]:
        why = "No checkpoint kept before the divergence" if diverged else "Detected at the last checkpoint"
        what = "nothing to resume" if diverged else "with no steps left to resume"
        text += f" {why}, {what}: {', '.join(map(str, late))}."
    lines += [_wrap(text), ""]
    lines += [
        "| remedy | way | flags | fixed | 95 % interval | finding closed | outcome (mean) | CPU-s per run |"
        " setting chosen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ranked = sorted(results.rows, key=lambda r: (-(sum(r.fixed) / r.n) if r.n else 1, -r.n))
    for row in ranked:
        if row.n:
            low, high = wilson(sum(row.fixed), row.n)
            fixed, interval = f"{sum(row.fixed)} of {row.n}", f"{low:.0%}–{high:.0%}"
        else:
            fixed, interval = "not run yet", "–"
        cpu = f"{np.mean(row.cpu):,.0f}" if row.n and row.way != SAMPLING else "–"
        closed = f"{sum(row.closed)} of {len(row.closed)}" if row.closed else "–"
        lines.append(
            f"| {row.remedy.name} | {row.way} | `{row.remedy.flags}` | {fixed} | {interval} | {closed} |"
            f" {outcome_text(case.broken['data'], row.outcomes)} | {cpu} | {row.remedy.chosen} |"
        )
    return lines + [""] + ([_wrap(f"Limits: {case.limits}"), ""] if case.limits else [])


def write_rates(path: Path, bench: Benchmark, measured: list[CaseResults]) -> None:
    record = {
        "written_by": "benchmarks/remedies.py --render (never edit by hand)",
        "page": "docs/benchmarks/remedies.md",
        "seeds": bench.seeds,
        "recovered": bench.recovered,
        "rates": rate_rows(bench, measured),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(record, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    def more(parser) -> None:
        parser.add_argument(
            "--render", action="store_true", help="only write the page and rates, from the journals"
        )
        parser.add_argument("--journals", type=Path, help="(benchmarks/journals; --quick: OUT/journals)")
        parser.add_argument("--page", type=Path, help="(docs/benchmarks/remedies.md; --quick: OUT/)")
        parser.add_argument(
            "--rates", type=Path, help="(src/gankit/diagnose/remedy_rates.json; --quick: OUT/)"
        )

    args = driver_arguments(argv, "remedies", __doc__, "one tiny case broken from its start, 2 seeds", more)
    for name in ("out", "journals", "page", "rates"):  # as given, before the run moves to the repository
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).resolve())
    os.chdir(ROOT)  # the init-from specs name the broken runs relative to it: the same text in every clone
    sweeps.quiet_optuna()
    bench = load_benchmark(SPEC, args.quick)
    journals = args.journals or (args.out / "journals" if args.quick else JOURNALS)
    page = args.page or (args.out / "remedies.md" if args.quick else PAGE)
    rates = args.rates or (args.out / "remedy_rates.json" if args.quick else RATES)

    def body() -> None:
        if not args.render:
            for case in bench.cases:
                run_case(bench, case, journals, args.out, args.workers)
        measured = [case_results(bench, case, journals, args.out) for case in bench.cases]
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(render(bench, measured, args.command))
        write_rates(rates, bench, measured)
        print(f"wrote {page} and {rates}")

    guarded(body, lambda: journals)  # Ctrl-C or SIGTERM: one line, the journals keep what finished


if __name__ == "__main__":
    main()
