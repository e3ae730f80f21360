"""benchmarks/remedies.py, piece by piece (its --quick run takes minutes): the spec builds valid runs,
which broken runs count, where init-from starts, what "fixed" means, and a rates file the doctor reads."""

import json
import sys
from pathlib import Path

import pytest

from gankit.config import TrainConfig, from_dict, to_dict
from gankit.diagnose import measured
from gankit.diagnose.doctor import diagnose
from gankit.runs import compare as comparing

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
remedies = pytest.importorskip("remedies")


@pytest.fixture(scope="module")
def bench():
    return remedies.load_benchmark(remedies.SPEC, quick=False)


def record(seed, findings, metrics=None, status=comparing.COMPLETE, init_from=None):
    config = {"seed": seed} | ({"init_from": init_from} if init_from else {})
    doctor = {"open": [f["name"] for f in findings if f["ended"] is None], "findings": findings}
    trial = {"doctor": doctor, "metrics": metrics or {}, "cpu_time": 10.0}
    return comparing.RunRecord(Path(f"trials/seed-{seed}_t0"), config, None, trial, status=status)


def collapse(detected_at, ended=None):
    return {"name": "mode-collapse", "step": detected_at - 500, "detected_at": detected_at, "ended": ended}


def test_every_case_and_remedy_of_the_spec_is_a_valid_run_each_way_it_applies(bench):
    assert len(bench.seeds) == 5 and {c.finding for c in bench.cases} >= {
        "mode-collapse",
        "vanishing-gradients",
    }
    assert {"grid", "ring", "digits"} <= {c.broken["data"] for c in bench.cases}
    names = {remedy.name for case in bench.cases for remedy in case.remedies}
    assert {"coverage", "ema", "toy-cover", "rpgan", "lr-decay", "refine"} <= names  # what the issue asks
    for case in bench.cases:
        from_dict(remedies.broken_recipe(bench, case))
        for remedy in case.remedies:
            if remedy.refine is None:
                config = from_dict(remedies.remedy_config(bench, case, remedy))
                assert config.steps == case.broken["steps"]  # the broken run's budget, also under a preset
                assert config.eval_every == bench.base["eval_every"] and config.threads == 1


def test_a_preset_keeps_the_broken_recipes_own_keys_and_flags_say_what_a_user_types(bench):
    grid = next(case for case in bench.cases if case.name == "grid-ns")
    cover = bench.remedies["toy-cover"]
    config = remedies.remedy_config(bench, grid, cover)
    assert (config["steps"], config["coverage_weight"], config["standardize"]) == (20000, 10.0, True)
    assert cover.flags == "--preset toy-cover" and cover.applies("restart") and not cover.applies("init-from")
    assert bench.remedies["coverage"].flags == "--coverage-weight 10"
    assert bench.remedies["augment"].flags == "--augment color,translation,cutout"
    assert not bench.remedies["pack"].applies("init-from")  # other networks: no checkpoint fits them
    assert bench.remedies["refine"].applies("sampling") and not bench.remedies["refine"].applies("restart")
    assert bench.remedies["ema"].applies("init-from")
    assert not remedies.already_broken(bench, grid, bench.remedies["refine"])  # no values, still measured
    assert not remedies.already_broken(bench, grid, cover)
    strong = next(case for case in bench.cases if case.name == "ring-strong-d")
    assert not remedies.already_broken(bench, strong, bench.remedies["d-default"])
    assert remedies.already_broken(bench, grid, remedies.Remedy("same", values={"objective": "ns"}))


def test_only_runs_with_the_finding_open_at_the_end_count_and_init_from_resumes_each_where_detected(bench):
    grid = next(case for case in bench.cases if case.name == "grid-ns")
    runs = [
        record(300, [collapse(4250)]),
        record(301, [collapse(3000, ended=6000)]),  # collapsed, then recovered: not a broken run
        record(302, [collapse(9100)]),
        record(303, [], status=comparing.UNFINISHED),
    ]
    found, missed = remedies.broken_runs(grid, runs)
    assert [(b.seed, b.detected_at) for b in found] == [(300, 4250), (302, 9100)] and missed == [301]
    late = remedies.Broken(304, runs[0], 19_800)  # its first checkpoint after it is the run's end
    # each seed's first checkpoint (every 500) at or after its detection; nothing left for seed 304
    assert remedies.init_steps(bench, grid, [*found, late]) == {300: 4500, 302: 9500}
    text = remedies.init_spec(bench, grid, bench.remedies["coverage"], "runs/b", 9500)
    assert "init_from_step = 9500" in text and "steps = 10500" in text
    assert 'init_from = ["runs/b"]' in text and "coverage_weight = 10.0" in text


def test_a_diverged_run_resumes_from_its_last_good_checkpoint_and_one_without_any_is_left_out(bench):
    case = remedies.Case("sgd", "divergence", "diverged runs", {"data": "ring", "steps": 5000}, [])
    diverged = {"name": "divergence", "step": 1850, "detected_at": 1850, "ended": None}
    runs = [record(300, [diverged]), record(301, [diverged | {"step": 50, "detected_at": 50}])]
    found, _ = remedies.broken_runs(case, runs)
    # training stopped at 1,850: its checkpoints end at 1,500 (none at or after the detection)
    assert remedies.kept_steps(bench, case, found[0])[-1] == 1500
    assert remedies.init_steps(bench, case, found) == {300: 1500}  # 301 stopped before its first one


@pytest.mark.parametrize(
    ("data", "metrics", "fixed"),
    [
        ("grid", {"modes": 20, "high_quality": 0.5}, True),  # the bar: >= 20 of 25
        ("grid", {"modes": 19, "high_quality": 0.9}, False),
        ("grid", {"modes": 25, "high_quality": 0.3}, False),  # every mode, but smeared between them
        ("ring", {"modes": 7, "high_quality": 0.6}, True),
        ("ring", {"modes": 6, "high_quality": 0.6}, False),
        ("digits", {"fid": 49.0}, True),
        ("digits", {"fid": 51.0}, False),
        ("grid", {"modes": None, "high_quality": None}, False),
    ],
)
def test_the_outcome_recovers_at_the_specs_bars(bench, data, metrics, fixed):
    assert remedies.recovered(bench, data, metrics) is fixed


def test_fixed_needs_the_finding_closed_and_the_outcome_recovered(bench):
    grid = next(case for case in bench.cases if case.name == "grid-ns")
    good = {"eval_modes": 23, "eval_high_quality": 0.8}
    assert remedies.trial_fixed(bench, grid, record(300, [], good))
    assert not remedies.trial_fixed(bench, grid, record(300, [collapse(1000)], good))  # still open
    assert not remedies.trial_fixed(
        bench, grid, record(300, [], {"eval_modes": 12, "eval_high_quality": 0.8})
    )


def test_wilson_interval_at_five_runs():
    low, high = remedies.wilson(5, 5)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.5655, abs=1e-3)
    low, high = remedies.wilson(0, 5)
    assert low == pytest.approx(0.0) and high == pytest.approx(0.4345, abs=1e-3)


def test_the_rates_file_it_writes_is_what_the_doctor_ranks_by(bench, tmp_path):
    grid = next(case for case in bench.cases if case.name == "grid-ns")
    found = [remedies.Broken(300 + i, record(300 + i, [collapse(4000)]), 4000) for i in range(5)]
    coverage = remedies.Result(grid, bench.remedies["coverage"], "restart")
    pack = remedies.Result(grid, bench.remedies["pack"], "restart")
    for i in range(5):
        coverage.add(300 + i, i < 4, {"modes": 22, "high_quality": 0.7})
        pack.add(300 + i, False, {"modes": 9, "high_quality": 0.7})
    starts = {b.seed: 4000 for b in found[:4]}  # seed 304 (say) was detected at its last checkpoint
    results = remedies.CaseResults(grid, found, [], starts, [pack, coverage])
    remedies.write_rates(tmp_path / "rates.json", bench, [results])
    page = remedies.render(bench, [results], "python benchmarks/remedies.py")
    assert page.index("| coverage | restart |") < page.index("| pack | restart |")  # by rate
    # the runs train on the papers' settings: without --preset paper the command would train the
    # grid's data-aware default, which does not collapse
    assert "`gankit train --preset paper --data grid --objective ns --steps 20000`" in page
    assert "| 4 of 5 | 38%–96% | – | 22.0 / 25 modes, HQ 70%" in page  # added by hand: no closed count
    words = " ".join(page.split())  # the page's paragraphs are wrapped
    assert "resumes each from its first checkpoint at or after the detection: 300 (step 4,000)," in words
    assert "Detected at the last checkpoint, with no steps left to resume: 304." in words
    rows = measured.load_rates(tmp_path / "rates.json")
    assert {(r["remedy"], r["fixed"], r["n"]) for r in rows} == {("coverage", 4, 5), ("pack", 0, 5)}
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(
        json.dumps(to_dict(TrainConfig(data="grid", objective="ns", eval_every=100)))
    )
    rows_ = [
        {"step": s, "eval_w1": 1.0, "eval_modes": 2, "eval_modes_total": 25, "eval_high_quality": 0.9}
        for s in range(100, 1001, 100)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_))
    finding = next(f for f in diagnose(run, rates=rows)["findings"] if f["name"] == "mode-collapse")
    texts = [entry["text"] for entry in finding["ranked_remedies"]]
    assert texts[0].startswith("fixed 4 of 5 collapsed grid runs") and "--coverage-weight 10" in texts[0]
    assert texts[-1].startswith("restart with --pack 2: did not help in the benchmark")


def test_the_page_counts_the_finding_closed_apart_from_fixed(bench):
    strong = next(case for case in bench.cases if case.name == "ring-strong-d")
    found = [remedies.Broken(300 + i, record(300 + i, [collapse(350)]), 350) for i in range(5)]
    ns = remedies.Result(strong, bench.remedies["ns"], "restart")
    for i in range(5):  # gradients back, but 2 of 8 ring modes at the broken run's 2,000 steps
        ns.add(300 + i, False, {"modes": 2, "high_quality": 0.6}, 45.0, closed=True)
    page = remedies.render(bench, [remedies.CaseResults(strong, found, [], {}, [ns])], "cmd")
    assert "| ns | restart | `--objective ns` | 0 of 5 | 0%–43% | 5 of 5 | 2.0 / 8 modes, HQ 60% |" in page
    limits = page.split("| ns | restart |")[1].split("\n\n")[1]  # the paragraph under the case's table
    assert (
        limits.startswith("Limits: at the broken run's 2,000 steps") and strong.limits.split()[-1] in limits
    )
    grid = next(case for case in bench.cases if case.name == "grid-ns")
    assert not grid.limits and "Limits:" not in "\n".join(
        remedies.case_section(remedies.CaseResults(grid, found, [], {}, []))
    )


def test_every_finding_the_doctor_names_has_a_case(bench):
    from gankit.diagnose.remedies import REMEDIES

    assert {case.finding for case in bench.cases} == set(REMEDIES)
