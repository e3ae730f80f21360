"""``gankit compare``: the numbers of each group (n, mean, std, median, t interval of the mean, best,
missing and why) on hand-made run directories with known metric values, the output formats, the
plot, the curves behind the budget rules, bad input. The statistics themselves: tests/test_stats.py."""

import csv
import io
import json
import math

import numpy as np
import pytest

from gankit.config import TrainConfig, to_dict
from gankit.runs import compare as comparing

# objective -> final eval_w1 of each of its runs (None: a run that never logged it)
RUNS = {"ns": [1.0, 2.0, 3.0, 4.0, None], "wgan": [5.0], "lsgan": [2.0, 2.0, 2.0]}


def make_run(path, objective: str, seed: int, value: float | None, **extra) -> None:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(to_dict(TrainConfig(objective=objective, seed=seed))))
    rows = [{"step": 10, "d_loss": 0.5, "eval_w1": 9.0}, {"step": 20, "d_loss": 0.4}]  # W1 logged at 10...
    if value is not None:
        rows.append({"step": 30, "eval_w1": value})  # ... and last at 30: the value compare reads
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    for name, record in extra.items():
        (path / f"{name}.json").write_text(json.dumps(record))


@pytest.fixture
def runs(tmp_path):
    paths = []
    for objective, values in RUNS.items():
        for seed, value in enumerate(values):
            path = tmp_path / f"{objective}-{seed}"
            if value is None:  # a run whose metrics.jsonl never had eval_w1
                path.mkdir()
                (path / "config.json").write_text(
                    json.dumps(to_dict(TrainConfig(objective=objective, seed=seed)))
                )
                (path / "metrics.jsonl").write_text('{"step": 10, "d_loss": 0.5}\n')
            else:
                make_run(path, objective, seed, value)
            paths.append(path)
    return paths


def test_each_group_gets_n_mean_std_median_a_ci_around_the_mean_and_its_best(runs):
    comparison = comparing.compare(runs, by=["objective"], metric="eval_w1")
    rows = {row["group"]: row for row in comparison.rows}
    assert list(rows) == ["objective=ns", "objective=wgan", "objective=lsgan"]
    ns = rows["objective=ns"]
    assert (ns["n"], ns["missing"]) == (4, 1)  # the run without the metric is counted, not dropped
    assert ns["mean"] == 2.5 and ns["median"] == 2.5 and ns["best"] == 1.0
    assert math.isclose(ns["std"], np.std([1, 2, 3, 4], ddof=1))
    # 2.5 ± t(0.975, 3 df) · s / √4 = 2.5 ± 3.182446 · 1.290994 / 2 (t from a table)
    assert math.isclose(ns["ci_low"], 0.445740, abs_tol=1e-6)
    assert math.isclose(ns["ci_high"], 4.554260, abs_tol=1e-6)
    wgan = rows["objective=wgan"]
    assert wgan["n"] == 1 and wgan["std"] is None and wgan["ci_low"] is None and wgan["ci_high"] is None
    lsgan = rows["objective=lsgan"]
    assert (lsgan["ci_low"], lsgan["ci_high"], lsgan["std"]) == (2.0, 2.0, 0.0)  # constant sample
    assert comparison.missing == 1 and comparison.direction == "minimize"


def test_a_maximized_metric_picks_the_largest_as_best(tmp_path):
    for seed, modes in enumerate([3, 8]):
        path = tmp_path / f"run{seed}"
        make_run(path, "ns", seed, 1.0)
        with (path / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps({"step": 40, "eval_modes": modes}) + "\n")
    comparison = comparing.compare(sorted(tmp_path.iterdir()), by=["objective"], metric="eval_modes")
    assert comparison.direction == "maximize" and comparison.rows[0]["best"] == 8


def test_plain_runs_group_by_the_config_keys_that_differ_except_seed(runs):
    comparison = comparing.compare(runs[:4], metric="eval_w1")  # four ns runs, seeds 0..3
    assert comparison.by == [] and [row["group"] for row in comparison.rows] == ["all"]


def budgeted_run(path, objective: str, seed: int, steps: int, value: float, budget: float = 120.0):
    """A run that trained ``steps`` generator steps in a ``budget`` CPU-second budget."""
    path.mkdir(parents=True)
    config = TrainConfig(objective=objective, seed=seed, steps=10**6, time_budget_s=budget)
    (path / "config.json").write_text(json.dumps(to_dict(config)))
    rows = [{"step": steps // 2, "eval_w1": 9.0}, {"step": steps, "eval_w1": value}]
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_runs_under_a_cpu_budget_show_their_steps_and_unequal_speed_is_named(cli, tmp_path):
    ns = [
        budgeted_run(tmp_path / f"ns-{seed}", "ns", seed, steps, 1.0)
        for seed, steps in enumerate([2400, 2500])
    ]
    gp = [
        budgeted_run(tmp_path / f"gp-{seed}", "wgan-gp", seed, steps, 2.0)
        for seed, steps in enumerate([500, 700])
    ]
    comparison = comparing.compare(ns + gp, by=["objective"], metric="eval_w1")
    assert [row["steps"] for row in comparison.rows] == [2450, 600]  # the median steps bought
    # WGAN-GP's 5 critic updates make its steps dearer: another config, no warning; but its two
    # seeds trained 500 and 700 steps in the same budget: they ran at different speeds
    assert len(comparison.speed_warnings) == 1
    warning = comparison.speed_warnings[0]
    assert "500 (gp-0) to 700 (gp-1) steps in the same 120 CPU-s budget" in warning and "ns-" not in warning

    code, out, err = cli("compare", *ns, *gp, "--metric", "eval_w1")
    assert code == 0, err
    assert "steps (median)" in out.splitlines()[1] and "2,450" in out and "unequal speed" in out
    code, out, _ = cli("compare", *ns, *gp, "--metric", "eval_w1", "--json")
    report = json.loads(out)
    assert [group["steps"] for group in report["groups"]] == [2450, 600] and len(
        report["speed_warnings"]
    ) == 1
    code, out, _ = cli("compare", *ns, *gp, "--metric", "eval_w1", "--csv")
    assert [row["steps"] for row in csv.DictReader(io.StringIO(out))] == ["2450", "600"]

    (gp[1] / "trial.json").write_text(json.dumps({"state": "pruned"}))  # stopped early on purpose
    assert comparing.compare(ns + gp, metric="eval_w1").speed_warnings == []
    budgeted_run(tmp_path / "gp-2", "wgan-gp", 2, 2000, 2.0, budget=480.0)  # another budget: no twin
    assert len(comparing.compare([*ns, gp[0], tmp_path / "gp-2"], metric="eval_w1").speed_warnings) == 0


def test_runs_without_a_cpu_budget_have_no_steps_column(runs):
    comparison = comparing.compare(runs, by=["objective"], metric="eval_w1")
    assert not comparison.time_budgeted and "steps" not in comparison.rows[0]
    assert "steps (median)" not in comparing.format_text(comparison)


def test_json_markdown_and_csv_formats(cli, runs):
    code, out, err = cli("compare", *runs, "--by", "objective", "--metric", "eval_w1", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["metric"] == "eval_w1" and report["by"] == ["objective"] and report["missing"] == 1
    assert [group["n"] for group in report["groups"]] == [4, 1, 3]

    code, out, _ = cli("compare", *runs, "--by", "objective", "--metric", "eval_w1", "--markdown")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("| group | n | missing | mean ± std")
    assert lines[2] == "| objective=ns | 4 | 1 | 2.5 ± 1.3 | 2.5 | " + lines[2].split(" | ")[5] + " | 1 |"
    assert "1 run(s) without a finite eval_w1" in out

    code, out, _ = cli("compare", *runs, "--by", "objective", "--metric", "eval_w1", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [row["group"] for row in rows] == [
        "objective=ns",
        "objective=wgan",
        "objective=lsgan",
    ]
    assert float(rows[0]["mean"]) == 2.5 and rows[1]["ci_low"] == "" and rows[0]["missing"] == "1"

    code, out, _ = cli("compare", *runs, "--by", "objective", "--metric", "eval_w1")
    assert code == 0 and "eval_w1 (minimize), grouped by objective" in out and "2.5 ± 1.3" in out


def test_a_sweep_dir_gets_its_metric_groups_budget_plot_and_best_configuration(cli, tmp_path):
    sweep = tmp_path / "sweep"
    (sweep / "trials").mkdir(parents=True)
    spec = (
        'metric = "eval_w1"\ntrials = 2\n[base]\ndata = "ring"\nsteps = 10\n'
        '[grid]\nobjective = ["ns", "lsgan"]\nseed = [0]\n'
        "[search]\ng_lr = { low = 1e-4, high = 1e-2, log = true }\n"
    )
    (sweep / "spec.toml").write_text(spec)
    (sweep / "sweep.json").write_text('{"name": "x", "shared_storage": false}')
    values = {
        ("ns", 0): (0.5, 1e-3),
        ("ns", 1): (0.2, 3e-3),
        ("lsgan", 0): (0.9, 1e-4),
        ("lsgan", 1): (None, 2e-4),
    }
    for minute, ((objective, number), (value, lr)) in enumerate(values.items()):
        trial = {
            "number": number,
            "cell": {"objective": objective, "seed": 0},
            "params": {"g_lr": lr},
            "value": value,
            "state": "complete" if value is not None else "pruned",
            "cpu_time": 10.0,
            "finished_at": f"2026-01-01T00:0{minute}:00",
        }
        make_run(sweep / "trials" / f"{objective}_t{number}", objective, 0, value or 0.1, trial=trial)
    plot = tmp_path / "compare.png"
    code, out, err = cli("compare", sweep, "--json", "--plot", plot)
    assert code == 0, err
    report = json.loads(out)
    assert report["metric"] == "eval_w1" and report["by"] == ["objective"]  # grid keys but seed
    assert [(g["group"], g["n"], g["missing"]) for g in report["groups"]] == [
        ("objective=ns", 2, 0),
        ("objective=lsgan", 1, 1),  # the pruned trial is counted as missing
    ]
    best = {b["group"]: b for b in report["best_configs"]}
    assert best["objective=ns"]["params"] == {"g_lr": 3e-3} and best["objective=ns"]["value"] == 0.2
    assert best["objective=ns"]["cell"] == {"objective": "ns", "seed": 0}  # typed grid values, to re-run
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = comparing.compare([sweep]).records["objective=ns"]
    assert comparing.budget_curves(records, "minimize") == ([1, 2], [10.0, 20.0], [0.5, 0.2])
    code, out, _ = cli("compare", sweep)
    assert "best configuration per group:" in out and "objective=ns: eval_w1 0.2 with g_lr=0.003" in out


def test_a_sweep_trial_that_did_not_finish_is_missing_and_the_footer_says_why(cli, tmp_path):
    """It entered the mean at its last logged value: one finished trial and one stopped at step 10 gave
    n = 2, missing = 0. Given as plain run directories, the same runs keep that rule."""
    sweep = tmp_path / "sweep"
    (sweep / "trials").mkdir(parents=True)
    spec = 'metric = "eval_w1"\n[base]\ndata = "ring"\nsteps = 30\n[grid]\nseed = [0, 1, 2, 3]\n'
    (sweep / "spec.toml").write_text(spec)
    (sweep / "sweep.json").write_text('{"name": "x", "shared_storage": false}')
    states = {0: "complete", 1: None, 2: "failed", 3: "pruned"}  # None: no trial.json (stopped at 30)
    for seed, state in states.items():
        trial = {"number": 0, "cell": {"seed": seed}, "params": {}, "state": state}
        files = {"trial": trial} if state else {}
        make_run(sweep / "trials" / f"seed-{seed}_t0", "ns", seed, 1.0 + seed, **files)
    comparison = comparing.compare([sweep])
    (row,) = comparison.rows
    assert (row["n"], row["mean"], row["missing"]) == (1, 1.0, 3)
    assert (row["unfinished"], row["crashed"], row["pruned"]) == (1, 1, 1)
    code, out, err = cli("compare", sweep)
    assert code == 0, err
    assert "3 run(s) missing (the missing column): 1 unfinished, 1 crashed, 1 pruned" in out

    plain = comparing.compare(sorted((sweep / "trials").iterdir()), metric="eval_w1").rows[0]
    assert (plain["n"], plain["missing"], plain["pruned"], plain["crashed"]) == (2, 2, 1, 1)  # 1.0 and 2.0


def test_compare_from_a_storage_counts_the_trials_that_did_not_finish_as_missing(tmp_path):
    """The latest attempt of each run directory a trial named counts, as the directory would."""
    import optuna
    from optuna.trial import TrialState, create_trial

    from gankit.runs import sweep as sweeps
    from gankit.runs.spec import parse_spec

    spec = parse_spec('metric = "eval_w1"\n[base]\ndata = "ring"\nsteps = 30\n')
    url = f"journal:{tmp_path / 'lr.journal'}"
    sweeps.quiet_optuna()
    study = optuna.create_study(storage=sweeps.open_storage(url), study_name=f"{spec.name}/all")
    study.set_user_attr("spec", spec.text)
    study.set_user_attr("cell", {})

    def result(state: str, value: float | None = None) -> dict:
        return {"state": state, "metrics": {"eval_w1": 9.0 if value is None else value}, "steps": 30}

    def trial(state, run_dir: str | None, **attrs) -> None:
        attrs |= {"run_dir": run_dir} if run_dir else {}
        study.add_trial(create_trial(state=state, value=attrs.pop("value", None), user_attrs=attrs))

    trial(TrialState.COMPLETE, "trials/t0", value=1.5, result=result("complete", 1.5))
    trial(TrialState.RUNNING, "trials/t1")  # unfinished: running
    trial(TrialState.FAIL, "trials/t2", interrupted=True)  # unfinished: rerun at the next start
    trial(TrialState.FAIL, "trials/t3", result=result("failed"))  # crashed: its training raised
    trial(TrialState.PRUNED, "trials/t4", result=result("pruned"))
    trial(TrialState.FAIL, "trials/t5")  # crashed: died, no rerun left
    trial(TrialState.WAITING, None)  # never started: no run directory, not counted
    trial(TrialState.FAIL, "trials/t7", interrupted=True, result=result("complete", 0.5))  # died after
    trial(TrialState.WAITING, "trials/t7", result=result("complete", 0.5))  # its rerun, queued
    (row,) = comparing.compare([], storage=url).rows
    assert (row["n"], row["mean"], row["missing"]) == (1, 1.5, 6)
    assert (row["unfinished"], row["crashed"], row["pruned"]) == (3, 2, 1)


def test_bad_compare_input_exits_2_with_one_line(cli, runs, tmp_path):
    for args, message in (
        ((tmp_path / "nowhere",), "run directory not found"),
        ((*runs, "--json", "--csv", "--metric", "eval_w1"), "choose one of"),
        ((*runs,), "--metric is required"),
        ((*runs, "--metric", "eval_w1", "--by", "colour"), "--by 'colour' is not a config key"),
        ((*runs, "--metric", "eval_w1", "--plot", tmp_path / "x.jpg"), "--plot must end in .png"),
        ((), "give sweep or run directories, or --storage"),
        (("--storage", f"journal:{tmp_path / 'none.journal'}"), "sweep journal not found"),
        ((*runs, "--sweep", "gankit-x"), "--sweep NAME picks a sweep of --storage"),
    ):
        code, _, err = cli("compare", *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)


# ---------------------------------------------------------------------------------------------------
# The curves the budget rules read (gankit.stats: tests/test_stats.py)


def test_validation_curves_are_read_from_a_stored_result_at_the_steps_every_run_evaluated(tmp_path):
    def stored(steps, values):
        result = {"evaluations": {"step": steps, "eval_w1": values}}
        return comparing.RunRecord(tmp_path / "gone", {}, 1.0, trial=result)

    records = [stored([10, 20, 30], [3.0, 2.0, None]), stored([10, 20], [4.0, 1.0])]  # one stopped at 20
    steps, curves = comparing.common_curves(records, "eval_w1")
    assert steps == [10, 20] and curves.tolist() == [[3.0, 2.0], [4.0, 1.0]]
    steps, curves = comparing.common_curves(records[:1], "eval_w1")
    assert steps == [10, 20, 30] and np.isnan(curves[0, 2])  # not finite: NaN


def test_a_run_directory_gives_its_validation_curve_from_metrics_jsonl(tmp_path):
    make_run(tmp_path / "run", "ns", 0, 0.5)
    record = comparing.read_record(tmp_path / "run", "eval_w1")
    assert comparing.evaluation_curve(record, "eval_w1") == ([10, 30], [9.0, 0.5])


def test_load_words_give_the_range_of_recorded_loads_and_say_when_cpu_figures_are_not_a_speed_comparison(
    tmp_path,
):
    def finished(load):
        trial = {"cpu_time": 10.0} | ({"load_average": [9.0, 9.0, load]} if load is not None else {})
        return comparing.RunRecord(tmp_path / "gone", {}, 1.0, trial=trial)

    calm = comparing.load_words([finished(1.2), finished(1.8)], cores=2)
    assert calm == "load average (15 min) 1.2-1.8 as the runs finished"  # the 15-minute figure
    busy = comparing.load_words([finished(1.2), finished(2.6), finished(None)], cores=2)
    assert busy.startswith("load average (15 min) 1.2-2.6 as the runs finished (2 of 3 runs recorded it)")
    assert "not a speed comparison" in busy
    assert "not recorded" in comparing.load_words([finished(None)], cores=2)
