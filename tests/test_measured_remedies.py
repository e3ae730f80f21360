"""The doctor's remedies ordered by the benchmark's measured fix rates (a fixture rates file, not the
shipped one): order, wording, the basis of each rate, and what --json carries."""

from __future__ import annotations

import json

import pytest

import gankit
from gankit.api import Diagnosis
from gankit.config import TrainConfig, from_dict, to_dict
from gankit.diagnose import measured
from gankit.diagnose.doctor import diagnose, format_diagnosis
from gankit.errors import GankitError
from gankit.presets import PRESETS


def rate(remedy, flags, values, way, fixed, n=5, data="grid", objective="ns", interval=(0.1, 0.9)):
    return {
        "finding": "mode-collapse",
        "case": f"{data}-{objective}",
        "runs": f"collapsed {data} runs",
        "data": data,
        "objective": objective,
        "remedy": remedy,
        "way": way,
        "flags": flags,
        "values": values,
        "fixed": fixed,
        "n": n,
        "interval": list(interval),
    }


RATES = [
    rate("pack", "--pack 2", {"pack": 2}, "restart", 0),
    rate("ema", "--ema-decay 0.999", {"ema_decay": 0.999}, "restart", 2),
    rate("coverage", "--coverage-weight 10", {"coverage_weight": 10.0}, "restart", 5, interval=(0.57, 1.0)),
    rate("coverage", "--coverage-weight 10", {"coverage_weight": 10.0}, "init-from", 3),
    rate("refine", "--refine drs", {}, "sampling", 1),
    rate("coverage", "--coverage-weight 10", {"coverage_weight": 10.0}, "restart", 0, data="ring"),
]


def collapsed_run(path, checkpoints=(), **config):
    """A grid run whose last evaluations cover 2 of 25 modes with good samples: mode collapse."""
    values = dict(data="grid", objective="ns", steps=1000, eval_every=100) | config
    path.mkdir()
    (path / "config.json").write_text(json.dumps(to_dict(from_dict(values))))
    rows = [
        {"step": step, "eval_w1": 1.0, "eval_modes": 2, "eval_modes_total": 25, "eval_high_quality": 0.9}
        for step in range(100, 1001, 100)
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (path / "checkpoints").mkdir()
    for step in checkpoints:
        (path / "checkpoints" / f"step_{step:08d}.pt").write_bytes(b"")
    return path


def collapse(report):
    return next(f for f in report["findings"] if f["name"] == "mode-collapse")


def test_measured_remedies_come_first_by_rate_then_unmeasured_then_those_that_did_not_help(tmp_path):
    run = collapsed_run(tmp_path / "run", checkpoints=(200, 400, 600))
    finding = collapse(diagnose(run, rates=RATES))
    ranked = finding["ranked_remedies"]
    statuses = [entry["status"] for entry in ranked]
    assert statuses == sorted(statuses, key=["helped", "not measured", "did not help"].index)
    helped = [(e["remedy"], e["way"], e["fixed"]) for e in ranked if e["status"] == "helped"]
    assert helped == [
        ("coverage", "restart", 5),
        ("coverage", "init-from", 3),
        ("ema", "restart", 2),
        ("refine", "sampling", 1),
    ]
    assert ranked[-1]["remedy"] == "pack" and ranked[-1]["status"] == "did not help"
    # the folklore's --pack 2 and --ema-decay lines were measured: said once, with their numbers
    texts = [entry["text"] for entry in ranked]
    assert sum("--pack 2" in text for text in texts) == 1
    assert sum("--ema-decay 0.999" in text for text in texts) == 1
    assert any("--objective wgan-gp" in t and t.endswith("(not measured)") for t in texts)
    first = ranked[0]
    assert first["text"] == (
        "fixed 5 of 5 collapsed grid runs (95 % interval 57%-100%) (restart with --coverage-weight 10)"
    )
    assert ranked[-1]["text"].startswith("restart with --pack 2: did not help in the benchmark (fixed 0 of 5")


def test_init_from_command_names_the_first_checkpoint_after_the_detection_and_the_remaining_steps(tmp_path):
    run = collapsed_run(tmp_path / "run", checkpoints=(200, 400, 600))
    finding = collapse(diagnose(run, rates=RATES))
    entry = next(e for e in finding["ranked_remedies"] if e["way"] == "init-from")
    assert finding["detected_at"] == 200  # the second of two evaluations in a row (every 100 steps)
    assert entry["command"] == f"--init-from {run}:200 --coverage-weight 10 --steps 800"
    sampling = next(e for e in finding["ranked_remedies"] if e["way"] == "sampling")
    assert sampling["command"] == f"gankit eval {run} --refine drs"


def test_an_init_from_remedy_is_not_offered_where_it_would_resume_at_the_runs_last_step(tmp_path):
    run = collapsed_run(tmp_path / "run", checkpoints=(1000,))  # the first checkpoint after 200: the end
    ways = {e["way"] for e in collapse(diagnose(run, rates=RATES))["ranked_remedies"]}
    assert "init-from" not in ways and "restart" in ways  # the benchmark counts no such run either


def test_the_nearest_case_is_used_and_what_the_run_already_does_is_left_out(tmp_path):
    ring = rate("coverage", "--coverage-weight 10", {"coverage_weight": 10.0}, "restart", 0, data="ring")
    grid = rate("coverage", "--coverage-weight 10", {"coverage_weight": 10.0}, "restart", 4)
    report = diagnose(collapsed_run(tmp_path / "grid"), rates=[ring, grid])
    coverage = [e for e in collapse(report)["ranked_remedies"] if e["remedy"] == "coverage"]
    assert [e["fixed"] for e in coverage] == [4]  # the grid case, not the ring's
    applied = diagnose(collapsed_run(tmp_path / "has", coverage_weight=10.0), rates=[grid])
    assert all(e["remedy"] != "coverage" for e in collapse(applied)["ranked_remedies"])
    other = measured.cases_for("mode-collapse", TrainConfig(data="spiral", objective="ns"), [ring, grid])
    assert other == [ring, grid]  # no case on this data: every case of the finding, each naming its data
    critic = measured.cases_for("mode-collapse", TrainConfig(data="grid", objective="wgan-gp"), [ring, grid])
    assert critic == []  # measured on classifier GANs: not advice for a critic (folklore, not measured)
    wgan = rate("critic", "--critic-steps 5", {"critic_steps": 5}, "restart", 3, objective="wgan-gp")
    assert measured.cases_for("mode-collapse", TrainConfig(data="grid", objective="wgan"), [grid, wgan]) == [
        wgan
    ]


def test_a_case_with_a_cause_is_offered_only_to_runs_that_share_it():
    """A stalled case's rates are for runs at far too small learning rates, not any plateau."""
    stalled = rate("default-lrs", "--g-lr 2e-4 --d-lr 2e-4", {"g_lr": 2e-4, "d_lr": 2e-4}, "restart", 5)
    stalled |= {"finding": "no-progress", "cause": "rates-far-below-defaults"}
    tiny = TrainConfig(data="grid", objective="ns", g_lr=1e-7, d_lr=1e-7)
    assert measured.cases_for("no-progress", tiny, [stalled]) == [stalled]
    plateau = TrainConfig(data="grid", objective="ns", g_lr=1e-3, d_lr=1e-3)
    assert measured.cases_for("no-progress", plateau, [stalled]) == []  # its remedies: folklore, not measured
    unknown = stalled | {"cause": "a cause from a newer gankit"}
    assert measured.cases_for("no-progress", tiny, [unknown]) == []
    held_out = rate(
        "more", "--validation-fraction 0.2", {"validation_fraction": 0.2}, "restart", 5, data="digits"
    )
    held_out |= {"cause": "held-out-more-than-usual"}
    for fraction, offered in ((0.99, True), (0.1, False)):  # holding out 0.2 would *take* images from 0.1
        config = TrainConfig(data="digits", objective="ns", validation_fraction=fraction)
        assert measured.cases_for("mode-collapse", config, [held_out]) == ([held_out] if offered else [])


def test_every_cause_the_benchmark_names_is_one_the_doctor_knows():
    from pathlib import Path

    import tomllib

    from gankit.diagnose.remedies import CAUSES

    spec = tomllib.loads((Path(__file__).resolve().parents[1] / "benchmarks/specs/remedies.toml").read_text())
    causes = {case["cause"] for case in spec["cases"].values() if "cause" in case}
    assert causes and causes <= set(CAUSES)
    sgd, adam = TrainConfig(objective="ns", optimizer="sgd"), TrainConfig(objective="ns")
    assert CAUSES["sgd"][0](sgd) and not CAUSES["sgd"][0](adam)
    off, on = TrainConfig(objective="wgan-gp", gradient_penalty_weight=0.0), TrainConfig(objective="wgan-gp")
    assert CAUSES["gradient-penalty-off"][0](off) and not CAUSES["gradient-penalty-off"][0](on)


def test_without_measurements_every_remedy_says_not_measured(tmp_path):
    finding = collapse(diagnose(collapsed_run(tmp_path / "run"), rates=[]))
    assert finding["ranked_remedies"] and all(
        e["status"] == "not measured" for e in finding["ranked_remedies"]
    )
    assert [e["text"] for e in finding["ranked_remedies"]] == [
        f"{r} (not measured)" for r in finding["remedies"]
    ]


def test_the_printed_verdict_opens_with_the_finding_and_lists_the_best_remedy_first(tmp_path):
    text = format_diagnosis(diagnose(collapsed_run(tmp_path / "run"), rates=RATES))
    assert text.splitlines()[0].startswith("verdict: problems now: mode-collapse")
    remedies = text.split("what to change in this run:\n")[1].splitlines()
    assert remedies[0] == "    - " + RATES[2]["runs"].join(["fixed 5 of 5 ", " (95 % interval 57%-100%)"]) + (
        " (restart with --coverage-weight 10)"
    )


def test_remedies_that_did_not_help_are_printed_together_on_one_last_line(tmp_path):
    failed = rate("lr-decay", "--lr-decay-start 0", {"lr_decay_start": 0}, "restart", 0, n=4)
    text = format_diagnosis(diagnose(collapsed_run(tmp_path / "run"), rates=[*RATES, failed]))
    remedies = [line for line in text.split("what to change in this run:\n")[1].splitlines() if line]
    assert sum("did not help" in line for line in remedies) == 1
    assert remedies[-1] == (
        "    - did not help in the benchmark's collapsed grid runs: restart with --pack 2 (0 of 5),"
        " restart with --lr-decay-start 0 (0 of 4)"
    )
    assert "(not measured)" in remedies[-2]  # what was never measured comes before


def test_a_remedy_that_ended_the_finding_without_recovering_the_outcome_says_so(tmp_path):
    """Not "did not help": it ended the finding in some runs, but the outcome bar was not reached in
    the broken run's budget (the strong-D case: gradients back, the ring not learned in 2,000 steps)."""
    ended = rate("wgan-gp", "--objective wgan-gp", {"objective": "wgan-gp"}, "restart", 0, n=4)
    ended["closed"] = 4
    finding = collapse(diagnose(collapsed_run(tmp_path / "run"), rates=[*RATES, ended]))
    entry = next(e for e in finding["ranked_remedies"] if e["remedy"] == "wgan-gp")
    assert entry["status"] == "closed the finding"
    assert entry["text"] == (
        "restart with --objective wgan-gp: ended the finding in 4 of 4 collapsed grid runs in the"
        " benchmark, but none recovered its outcome within the broken run's budget"
    )
    statuses = [e["status"] for e in finding["ranked_remedies"]]
    assert (
        statuses.index("not measured") < statuses.index("closed the finding") < statuses.index("did not help")
    )
    lines = measured.remedy_lines(finding["ranked_remedies"])  # printed on one line of their own
    assert lines[-2] == (
        "ended the finding in the benchmark's collapsed grid runs, but no run's outcome recovered within the"
        " broken run's budget: restart with --objective wgan-gp (4 of 4)"
    )
    assert lines[-1].startswith("did not help in") and "--objective wgan-gp" not in lines[-1]


def test_json_carries_rate_n_flags_and_way(cli, tmp_path, monkeypatch):
    rates_file = tmp_path / "rates.json"
    rates_file.write_text(json.dumps({"rates": RATES}))
    monkeypatch.setattr(measured, "RATES_FILE", rates_file)
    code, out, err = cli("doctor", collapsed_run(tmp_path / "run"), "--json")
    assert code == 0, err
    entry = collapse(json.loads(out))["ranked_remedies"][0]
    assert (entry["rate"], entry["n"], entry["flags"], entry["way"]) == (
        1.0,
        5,
        "--coverage-weight 10",
        "restart",
    )
    assert entry["interval"] == [0.57, 1.0] and entry["case"] == "grid-ns"
    assert entry["settings"] == {"coverage_weight": 10.0} and entry["runs"] == "collapsed grid runs"


def test_flags_are_matched_as_sets_of_flag_value_pairs():
    line = "D sees 1 sample(s) at once: let it see 2 (PacGAN: --pack 2)"
    assert measured.flag_set(line) == {"--pack 2"}
    assert measured.flag_set("--objective rpgan --ema-decay 0.999") == {
        "--objective rpgan",
        "--ema-decay 0.999",
    }
    assert measured.flag_set("(--spectral-norm)") == {"--spectral-norm"}


def test_a_suggestion_matches_its_measurement_whatever_the_spelling_of_its_flags_and_numbers():
    meaning = measured.flag_meaning
    assert meaning("try 0.1 (--gp-weight 0.1)") == meaning("--gradient-penalty-weight 0.1")
    assert meaning("try 7e-5 (--d-lr 7e-5)") == meaning("--d-lr 7e-05")
    assert meaning("(--g-lr 2e-4 --d-lr 2e-4)") == meaning("--d-lr 0.0002 --g-lr 0.0002")
    assert meaning("(--d-lr 3e-5)") != meaning("--d-lr 3e-4")
    assert meaning("(--augment color,translation)") == {("augment", "color,translation")}


def test_of_two_open_findings_the_one_with_a_measured_fix_is_printed_first(tmp_path):
    """The issue's collapsed grid run: no-progress opens before mode-collapse, but only mode-collapse has
    a remedy that the benchmark saw work, so the doctor's advice opens with it."""
    rows = [
        {"step": step, "eval_w1": 0.8 if step == 100 else 1.5, "eval_modes": 20 if step < 700 else 2}
        | {"eval_modes_total": 25, "eval_high_quality": 0.9}
        for step in range(100, 2001, 100)
    ]
    run = collapsed_run(tmp_path / "run", steps=2000, monitor_patience=300)
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = diagnose(run, rates=RATES)
    assert report["open"] == ["no-progress", "mode-collapse"]  # in the order they started
    text = format_diagnosis(report)
    body = text.split("\n\n", 1)[1]
    assert body.startswith("mode-collapse: open since")
    assert text.index("mode-collapse: open") < text.index("no-progress: open")


def test_settings_apply_each_remedy_the_way_its_command_says(tmp_path):
    toy_cover = rate("toy-cover", "--preset toy-cover", {"pack": 2, "coverage_weight": 10.0}, "restart", 4)
    toy_cover["preset"] = "toy-cover"
    run = collapsed_run(tmp_path / "run", checkpoints=(200, 400, 600))
    finding = collapse(diagnose(run, rates=[*RATES, toy_cover]))
    by_way = {(e["remedy"], e["way"]): e for e in finding["ranked_remedies"] if e["remedy"]}
    assert by_way["coverage", "restart"]["settings"] == {"coverage_weight": 10.0}
    assert by_way["toy-cover", "restart"]["settings"] == {"preset": "toy-cover"}  # by name, not its values
    step = int(by_way["coverage", "init-from"]["command"].split(":")[1].split()[0])
    assert by_way["coverage", "init-from"]["settings"] == {
        "coverage_weight": 10.0,
        "init_from": str(run),
        "init_from_step": step,
        "steps": 1000 - step,
    }
    assert by_way["refine", "sampling"]["settings"] is None  # trains nothing
    assert all(e["settings"] is None for e in finding["ranked_remedies"] if e["status"] == "not measured")


def test_a_remedys_settings_train_as_keyword_arguments(tmp_path):
    """What tutorial 02 does: the run's own settings with the doctor's first remedy laid over them."""
    run = collapsed_run(tmp_path / "run", data="ring")
    toy_cover = rate("toy-cover", "--preset toy-cover", PRESETS["toy-cover"], "restart", 4, data="ring")
    toy_cover["preset"] = "toy-cover"
    first = Diagnosis(diagnose(run, rates=[toy_cover])).remedies()[0]
    mine = dict(data="ring", objective="ns", steps=3, log_every=1, eval_every=0, monitors=False)
    fixed = gankit.train(out=tmp_path / "fixed", progress=False, **(mine | first["settings"]))
    config = json.loads((fixed.path / "config.json").read_text())
    assert (config["coverage_weight"], config["pack"], config["steps"]) == (10.0, 2, 3)  # preset, my steps


def test_diagnosis_remedies_picks_the_open_finding_and_refuses_an_unknown_name(tmp_path):
    report = Diagnosis(diagnose(collapsed_run(tmp_path / "run"), rates=RATES))
    assert report.remedies() == report.remedies("mode-collapse") == collapse(report)["ranked_remedies"]
    assert report.remedies("divergence") == []  # not open in this run
    with pytest.raises(GankitError, match="unknown finding 'collapse'"):
        report.remedies("collapse")
