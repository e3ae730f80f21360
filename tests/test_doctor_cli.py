"""``gankit doctor``: the verdict, the remedies, the plot, --json, and clear errors on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gankit.diagnose.doctor import diagnose, format_diagnosis

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(path, rows, findings=None, **config):
    """A hand-made run directory: the doctor reads only these files. Its config.json spells out every
    setting, the thresholds as flat monitor_* keys, as a trained run's does."""
    from gankit.config import from_dict, to_dict
    from gankit.diagnose.thresholds import spelled_out

    path.mkdir()
    (path / "config.json").write_text(json.dumps(to_dict(spelled_out(from_dict(config)))))
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    if findings is not None:
        (path / "findings.jsonl").write_text("".join(json.dumps(f) + "\n" for f in findings))
    return path


def healthy_rows(n=20, evaluated=True):
    """A healthy classifier's rows, every 10 steps; ``evaluated``: samples as diverse as the data's
    at every fifth row (without any evaluation the doctor cannot call a run healthy)."""
    rows = [
        {"step": 10 * i, "d_loss": 1.3, "g_loss": 0.7, "p_real": 0.6, "p_fake": 0.4, "g_grad_norm": 1.0}
        for i in range(1, n + 1)
    ]
    for row in rows[4::5] if evaluated else []:
        row["eval_diversity"] = 1.0
    return rows


def test_broken_recipe_from_the_docs_is_named_with_its_remedy(cli, tmp_path):
    run = tmp_path / "minimax"
    code, out, err = cli(
        "train", "--objective", "minimax", "--d-lr", "0.01", "--critic-steps", "5", "--steps", "300",
        "--width", "32", "--batch-size", "64", "--log-every", "5", "--eval-every", "0", "--sample-every", "0",
        "--stop-on", "vanishing-gradients", "--out", run,
    )  # fmt: skip
    assert code == 1 and "finding vanishing-gradients" in err  # the live alarm, printed once
    assert err.count("finding vanishing-gradients") == 1
    assert "training stopped at step" in err and "trained 300 steps" not in out  # --stop-on: exit 1
    code, out, _ = cli("doctor", run)
    assert code == 0
    assert out.startswith("verdict: problems now:") and "vanishing-gradients (since" in out.splitlines()[0]
    assert "vanishing-gradients: open since step" in out
    assert "--objective ns" in out and "try 3e-3 (--d-lr 3e-3)" in out  # remedies fitted to d_lr 1e-2
    assert (run / "doctor.png").read_bytes().startswith(PNG_MAGIC)


def test_healthy_run_comes_back_clean_and_json_is_machine_readable(cli, tmp_path):
    run = write_run(tmp_path / "ok", healthy_rows(), findings=[], objective="ns")
    code, out, _ = cli("doctor", run, "--json", "--plot", tmp_path / "curves.png")
    report = json.loads(out)
    assert code == 0 and report["verdict"] == "healthy" and report["findings"] == []
    assert report["last_step"] == 200 and report["plot"] == str(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_MAGIC)
    assert "verdict: healthy" in format_diagnosis(diagnose(run))


def test_doctor_replays_the_monitors_when_a_run_has_no_findings_file(tmp_path):
    rows = healthy_rows(3) + [
        {"step": 40 + 10 * i, "d_loss": 0.0, "g_loss": 0.0, "p_real": 1.0, "p_fake": 0.0, "g_grad_norm": 1e-5}
        for i in range(6)
    ]
    run = write_run(tmp_path / "old", rows, objective="minimax")  # trained with monitors off
    report = diagnose(run)
    assert [f["name"] for f in report["findings"]] == ["vanishing-gradients", "discriminator-overpowers"]
    assert report["findings"][0]["step"] == 40 and report["verdict"] == "problems"


def test_live_findings_win_over_replayed_ones_and_keep_their_keys(tmp_path):
    live = {
        "name": "divergence",
        "step": 30,
        "detected_at": 30,
        "message": "non-finite d_loss between steps 20 and 30; training stopped and the last good checkpoint "
        "(step 20) is kept",
        "evidence": {"last_finite_step": 20, "last_good_checkpoint": 20},
        "remedies": ["resume from the last good checkpoint with smaller learning rates (--g-lr, --d-lr)"],
    }
    rows = healthy_rows(2) + [{"step": 30, "d_loss": None, "g_loss": None, "g_grad_norm": None}]
    report = diagnose(write_run(tmp_path / "nan", rows, findings=[live], objective="ns"))
    ranked = report["findings"][0].pop("ranked_remedies")  # an open finding's remedies, ordered (measured.py)
    assert report["findings"] == [{**live, "ended": None, "closed_at": None}]  # an old record reads as open
    assert [entry["text"] for entry in ranked if entry["status"] == "not measured"] == [
        f"{remedy} (not measured)" for remedy in live["remedies"]
    ]


def test_a_stale_live_finding_the_rows_no_longer_show_is_dropped(tmp_path):
    # Written live by an older gankit whose monitor was stricter: today's definitions decide.
    stale = {"name": "no-progress", "step": 20, "detected_at": 20, "message": "old", "evidence": {}}
    report = diagnose(write_run(tmp_path / "old", healthy_rows(), findings=[stale], objective="ns"))
    assert report["findings"] == [] and report["verdict"] == "healthy"


def test_a_run_with_too_few_evaluations_is_not_called_healthy(cli, tmp_path):
    """The losses alone cannot vouch for the samples: 200 steps at --eval-every 250 saw none."""
    run = write_run(
        tmp_path / "short", healthy_rows(evaluated=False), findings=[], objective="ns", eval_every=250
    )
    code, out, _ = cli("doctor", run)
    assert code == 0 and out.splitlines()[0] == (
        "verdict: no findings in the losses; too early to judge the samples: 0 evaluations logged "
        "(every 250 steps, the run is at step 200); judging them needs 2: train longer or lower --eval-every"
    )
    report = json.loads(cli("doctor", run, "--json")[1])
    assert report["evaluations"] == 0 and report["too_early"].startswith("0 evaluations logged")
    off = write_run(
        tmp_path / "off", healthy_rows(evaluated=False), findings=[], objective="ns", eval_every=0
    )
    assert "evaluations are off (--eval-every 0)" in cli("doctor", off)[1].splitlines()[0]
    run = write_run(tmp_path / "evaluated", healthy_rows(10), findings=[], objective="ns", eval_every=50)
    report = json.loads(cli("doctor", run, "--json")[1])
    assert report["evaluations"] == 2 and report["too_early"] is None
    assert report["headline"] == "healthy now (no findings)"


def w1_rows(values, every=100):
    """Rows of a toy run with W1 evaluations (every other key a healthy classifier's)."""
    return [
        {"step": every * (i + 1), "p_real": 0.6, "p_fake": 0.4, "g_grad_norm": 1.0, "eval_w1": w1}
        for i, w1 in enumerate(values)
    ]


# the issue's run in miniature: W1 stalls at ~0.7 from step 200 and then learns to 0.25
STALL_THEN_LEARN = [0.82, 0.69, 0.77, 0.7, 0.72, 0.73, 0.62, 0.55, 0.4, 0.3, 0.25, 0.26, 0.25, 0.24]


def test_a_stall_that_ended_leaves_the_run_healthy_now_with_its_history(cli, tmp_path):
    run = write_run(
        tmp_path / "r", w1_rows(STALL_THEN_LEARN), data="grid", objective="wgan-gp", g_lr=1e-3, d_lr=1e-3,
        eval_every=100, monitor_patience=300,
    )  # fmt: skip
    code, out, _ = cli("doctor", run)
    assert code == 0 and out.splitlines()[0] == "verdict: healthy now; no-progress from 200 to 700"
    assert "no-progress: from step 200 to 700 (over: not acting on it now)" in out
    assert "what to change" not in out  # nothing to act on
    code, out, _ = cli("doctor", run, "--json")
    report = json.loads(out)
    assert report["verdict"] == "healthy" and report["open"] == []
    [finding] = report["findings"]
    assert (finding["step"], finding["detected_at"], finding["ended"], finding["closed_at"]) == (
        200,
        500,
        700,
        800,
    )


def test_an_open_finding_is_the_verdict_now_and_an_ended_one_its_history(tmp_path):
    rows = w1_rows(STALL_THEN_LEARN) + [  # ... and then it collapses onto one of the ring's 8 modes
        {
            "step": 1500 + 100 * i,
            "eval_w1": 0.25,
            "eval_modes": 1,
            "eval_modes_total": 8,
            "eval_high_quality": 0.9,
        }
        for i in range(3)
    ]
    report = diagnose(write_run(tmp_path / "r", rows, data="ring", eval_every=100, monitor_patience=300))
    assert (
        report["headline"]
        == "problems now: mode-collapse (since 1,500); earlier: no-progress from 200 to 700"
    )
    assert report["verdict"] == "problems" and report["open"] == ["mode-collapse"]
    text = format_diagnosis(report)
    assert text.index("mode-collapse: open since step 1500") < text.index("no-progress: from step 200")


def test_the_w1_panel_starts_at_zero_so_a_tiny_change_looks_tiny(tmp_path):
    from matplotlib.figure import Figure

    from gankit.diagnose.doctor import _quality_panel

    axis = Figure().subplots()
    _quality_panel(axis, w1_rows([0.9610, 0.9605, 0.9600]))  # a 0.1 % change
    bottom, top = axis.get_ylim()
    assert bottom == 0 and top >= 0.96
    assert (0.9610 - 0.9600) / (top - bottom) < 0.01  # drawn as under 1 % of the panel's height


def test_the_issues_8000_step_run_is_healthy_now_with_its_history(tmp_path):
    # A real run, recorded once: gankit train --data grid --objective wgan-gp --g-lr 1e-3 --d-lr 1e-3
    # --steps 8000 --seed 1 (metrics.jsonl trimmed to the logged numbers). It ends with 25 of 25 modes
    # and W1 0.22 (from 0.82); the old doctor said "problems: no-progress (from step 500)".
    data = Path(__file__).parent / "data"
    run = tmp_path / "issue-18"
    run.mkdir()
    shutil.copy(data / "wgan_gp_grid_8000_steps.config.json", run / "config.json")
    shutil.copy(data / "wgan_gp_grid_8000_steps.jsonl", run / "metrics.jsonl")
    report = diagnose(run)
    assert report["headline"] == (
        "healthy now; no-progress from 500 to 1,750, no-progress from 3,250 to 4,500, "
        "oscillation from 4,250 to 8,000"  # modes covered swung 12 -> 1 -> 7 -> 24 -> 9 -> 22 -> 9 ...
    )
    assert report["verdict"] == "healthy" and report["open"] == []
    remedies = [remedy for finding in report["findings"] for remedy in finding["remedies"]]
    assert not any("--objective wgan-gp" in remedy for remedy in remedies)  # it is the run's own


def test_unknown_stop_on_name_is_one_line_and_writes_nothing(cli, tmp_path):
    code, _, err = cli("train", "--steps", "5", "--stop-on", "divergence,collapse", "--out", tmp_path / "r")
    assert code == 2 and "unknown finding 'collapse' in stop_on; allowed: vanishing-gradients" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda tmp: tmp / "missing", [], "run directory not found"),
        (lambda tmp: tmp, [], "is not a gankit run directory"),
        (lambda tmp: write_run(tmp / "empty", []), [], "no logged rows yet"),
        (lambda tmp: write_run(tmp / "r", healthy_rows()), ["--plot", "curves.jpg"], "--plot must end"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, make, args, message):
    code, out, err = cli("doctor", make(tmp_path), *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "doctor.png").exists()


# --- benchmarks/doctor.py: how the precision/recall table counts --------------------------------------


@pytest.fixture(scope="module")
def bench():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import doctor

    return doctor


def scored(label, named=(), open_=(), also=(), **outcome):
    result = {"label": label, "named": list(named), "open": list(open_), "also": list(also)}
    return result | {"final_modes": 8, "modes_total": 8, "final_w1": 0.1, "final_fid": None} | outcome


def test_the_benchmark_counts_an_episode_the_same_way_on_healthy_and_broken_runs(bench):
    # the issue: an oscillation episode that closed was "named" on a broken run but no alarm on a
    # healthy one. Under either rule both runs count alike: closed = not raised, or raised on both.
    history = {"named": ["oscillation"], "open_": []}
    results = [scored("healthy", **history), scored("oscillation", **history)]
    at_end, anywhere = (
        bench.score(results, "open")["oscillation"],
        bench.score(results, "named")["oscillation"],
    )
    assert at_end == {"tp": 0, "fp": 0, "fn": 1}
    assert anywhere == {"tp": 1, "fp": 1, "fn": 0}
    still_open = [
        scored("healthy", ["oscillation"], ["oscillation"]),
        scored("oscillation", ["oscillation"], ["oscillation"]),
    ]
    assert bench.score(still_open, "open")["oscillation"] == {"tp": 1, "fp": 1, "fn": 0}
    # a consequence listed in the case's `also` is neither right nor wrong
    consequence = [scored("vanishing-gradients", ["no-progress"], ["no-progress"], also=["no-progress"])]
    assert bench.score(consequence)["no-progress"] == {"tp": 0, "fp": 0, "fn": 0}


@pytest.mark.parametrize(
    ("outcome", "learned"),
    [
        ({"final_modes": 4, "modes_total": 8}, True),  # half the modes: learned
        ({"final_modes": 3, "modes_total": 8}, False),
        ({"final_modes": None, "final_w1": 0.2, "floor_w1": 0.103}, True),  # swiss roll: <= 2x real-vs-real
        ({"final_modes": None, "final_w1": 0.21, "floor_w1": 0.103}, False),
        ({"final_modes": None, "final_w1": None, "final_fid": 50.0}, True),  # digits: FID <= 50
        ({"final_modes": None, "final_w1": None, "final_fid": 50.1}, False),
        ({"final_modes": None, "final_w1": None, "final_fid": None}, False),  # no evaluation at all
    ],
)
def test_a_healthy_recipe_that_did_not_learn_is_kept_and_labelled_no_progress(bench, outcome, learned):
    result = bench.by_outcome(scored("healthy", **outcome))
    assert result["label"] == ("healthy" if learned else "no-progress")
    assert result.get("did_not_learn", False) is not learned
    broken = bench.by_outcome(scored("mode-collapse", **outcome))  # broken runs keep their label
    assert broken["label"] == "mode-collapse"
