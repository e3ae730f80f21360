"""The stacked-digits benchmark's fairness check and labels (benchmarks/stacked_digits.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
stacked = pytest.importorskip("stacked_digits")


def test_cells_are_labelled_by_lever_and_name_their_directories():
    assert stacked.cell_label({"objective": "ns", "pack": 2}) == "ns + PacGAN2"
    assert stacked.cell_label({"objective": "ns", "ema_decay": 0.999}) == "ns + EMA"
    assert stacked.cell_label({"objective": "ns", "ema_decay": 0.999, "ema_rampup": 0.05}) == "ns + EMA"
    plain = stacked.cell_label({"objective": "ns", "ema_decay": 0.999, "ema_rampup": 0.0})
    assert plain == "ns + plain EMA" and stacked.directory_name(plain) == "ns-plain-EMA"


def test_rpgan_cells_are_labelled_by_their_penalties_a_searched_weight_reading_as_on():
    assert stacked.cell_label({"objective": "rpgan", "r1_gamma": True, "r2_gamma": True}) == "rpgan + R1 + R2"
    assert stacked.cell_label({"objective": "rpgan", "r1_gamma": True, "r2_gamma": 0.0}) == "rpgan + R1"
    assert stacked.cell_label({"objective": "rpgan"}) == "rpgan + R1 + R2"  # rpgan's defaults: both on
    assert stacked.cell_label({"objective": "ns", "r1_gamma": 0.0}) == "ns"  # ns's default: no penalty
    assert stacked.directory_name("rpgan + R1 + R2") == "rpgan-R1-R2"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The shipped search specs and their cells as read from journals not yet written (each spec's
    cells are checked as train configs when it is parsed: read once for the tests below)."""
    from journaled import read_cells

    specs = [(path, path.read_text()) for path in stacked.SPECS]
    journals = tmp_path_factory.mktemp("journals")
    return specs, read_cells(specs, journals, 5, stacked.cell_label, stacked.PREFIX), journals


def test_the_shipped_specs_give_every_cell_its_label_and_rpgan_searches_its_penalty_weights(shipped):
    specs, cells, _ = shipped
    stacked.check_specs(specs)  # the shipped searches have equal budgets
    labels = [cell.label for cell in cells]
    assert labels[-2:] == ["rpgan + R1 + R2", "rpgan + R1"] and len(set(labels)) == len(labels) == 14
    assert stacked.extra_searches(specs) == [
        "rpgan + R1 + R2 also searches r1_gamma in [0.001, 10] (log), r2_gamma in [0.001, 10] (log)",
        "rpgan + R1 also searches r1_gamma in [0.001, 10] (log)",
    ]


def test_a_spec_may_search_more_keys_than_the_first_but_not_other_learning_rate_ranges():
    import tomllib
    from mode_coverage import toml_text

    first = (stacked.SPEC, stacked.SPEC.read_text())
    values = tomllib.loads(first[1])

    def variant(**search):
        changed = values | {"search": values["search"] | search}
        return (Path("variant.toml"), toml_text(changed))

    stacked.check_specs([first, variant(r1_gamma={"low": 0.001, "high": 10.0, "log": True})])  # accepted
    with pytest.raises(SystemExit, match=r"may search more keys.*differs in search\.g_lr$"):
        stacked.check_specs([first, variant(g_lr={"low": 1e-4, "high": 1e-2, "log": True})])
    fewer = values | {"search": {"d_lr": values["search"]["d_lr"]}}  # g_lr not searched: a smaller search
    with pytest.raises(SystemExit, match=r"differs in search\.g_lr$"):
        stacked.check_specs([first, (Path("fewer.toml"), toml_text(fewer))])
    budget = values | {"base": values["base"] | {"time_budget_s": 480}}
    with pytest.raises(SystemExit, match=r"differs in base$"):
        stacked.check_specs([first, (Path("budget.toml"), toml_text(budget))])


def test_an_ema_row_that_bought_many_more_steps_than_its_objective_is_flagged():
    steps = {"hinge": 2481, "hinge + EMA": 4305, "ns": 2500, "ns + EMA": 2420}
    rows = {label: {"steps": value} for label, value in steps.items()}
    warning = " ".join(stacked.speed_check(rows))
    assert "not a fair comparison" in warning
    assert "hinge + EMA 4,305 steps against hinge's 2,481" in warning and "ns + EMA" not in warning
    rows["hinge + EMA"]["steps"] = 2450
    assert stacked.speed_check(rows) == []


def test_reading_compares_the_ramped_ema_with_the_plain_one():
    def row(mean, low, high):
        return {"mean": mean, "ci_low": low, "ci_high": high, "n": 5}

    rows = {
        "ns + EMA": row(0.23, 0.20, 0.26),
        "ns + plain EMA": row(0.30, 0.28, 0.32),
        "ns": row(0.27, 0.24, 0.31),
    }
    text = "\n".join(stacked.reading(rows, sorted(rows, key=lambda label: rows[label]["mean"])))
    assert "The EMA's ramp-up with ns** lowers KL from 0.300 (plain EMA) to 0.230 (CIs apart)" in text
    assert "**plain EMA with ns** raises KL from 0.270 to 0.300" in text


def test_reading_compares_rpgan_with_r2_against_r1_alone():
    def row(mean, low, high):
        return {"mean": mean, "ci_low": low, "ci_high": high, "n": 5}

    rows = {"rpgan + R1 + R2": row(0.05, 0.04, 0.06), "rpgan + R1": row(0.9, 0.5, 1.3)}
    text = "\n".join(stacked.reading(rows, list(rows)))
    assert "**R2 with rpgan + R1** lowers KL from 0.900 (R1 alone) to 0.050 (CIs apart)" in text
    assert "rpgan with" not in text  # 'R1 + R2' is not read as a lever of a bare 'rpgan' row


long_budget = pytest.importorskip("stacked_digits_long")


def test_the_long_budget_page_says_whether_the_goal_is_reached():
    def kl(mean, low, high):
        return {"mean": mean, "ci_low": low, "ci_high": high}

    surely = long_budget.goal_reading(kl(0.08, 0.07, 0.09), [1000] * 5)
    assert surely.startswith("**Goal reached**") and "every seed" in surely
    on_average = long_budget.goal_reading(kl(0.095, 0.08, 0.12), [1000] * 5)
    assert "reached on average, not surely" in on_average and "reaches 0.120" in on_average
    assert "not reached" in long_budget.goal_reading(kl(0.15, 0.1, 0.2), [1000] * 5)
    missing = long_budget.goal_reading(kl(0.08, 0.07, 0.09), [1000, 999, 1000])
    assert "not reached" in missing and "2 of 3 seeds (fewest 999)" in missing
    points = [{"step": 2500, "mean": 0.2}, {"step": 5000, "mean": 0.1}, {"step": 7500, "mean": 0.09}]
    assert "at 5,000 steps (2x the table's)" in long_budget.first_budget(points, 2500)
    assert "stays above" in long_budget.first_budget(points[:1], 2500)


def test_the_long_budget_curve_is_read_at_common_steps_of_every_run():
    def run(last, kl_at):
        return {step: {"kl_to_uniform": kl_at(step), "modes": 1000} for step in range(500, last + 1, 500)}

    runs = [run(31_000, lambda step: 1 / step), run(29_500, lambda step: 2 / step)]
    targets = long_budget.step_targets(runs, 2500)
    assert targets == [2500, 5000, 7500, 10_000, 15_000, 20_000, 25_000, 29_500]  # the shortest run's end
    points = long_budget.step_points(runs, targets, "kl_to_uniform")
    assert points[0]["step"] == 2500 and points[0]["mean"] == pytest.approx(1.5 / 2500)
    assert points[-1]["mean"] == pytest.approx(1.5 / 29_500) and points[-1]["n"] == 2
    assert long_budget.step_targets([run(1000, lambda step: 0.5)], 2500) == [1000]  # shorter than a unit


def test_the_long_budget_spec_is_the_shipped_one_unless_shrunk():
    import tomllib

    assert long_budget.spec_text(False, None) == long_budget.SPEC.read_text()
    shipped = tomllib.loads(long_budget.SPEC.read_text())
    shrunk = tomllib.loads(long_budget.spec_text(True, 2))
    assert shrunk["grid"]["seed"] == shipped["grid"]["seed"][:2]
    assert shrunk["base"]["time_budget_s"] < shipped["base"]["time_budget_s"]
    assert shrunk["base"]["g_lr"] == shipped["base"]["g_lr"]  # the recipe is the same, only smaller


def test_the_goal_is_judged_by_one_rule_on_both_pages():
    assert stacked.kl_goal({"mean": 0.08, "ci_high": 0.09}) == "surely"
    assert stacked.kl_goal({"mean": 0.09, "ci_high": 0.11}) == "on average"
    assert stacked.kl_goal({"mean": 0.09, "ci_high": None}) == "on average"
    assert stacked.kl_goal({"mean": 0.11, "ci_high": 0.12}) is None


def test_a_curve_levels_off_only_when_its_mean_stops_moving_not_when_its_cis_overlap():
    def point(step, mean, low, high):
        return {"step": step, "mean": mean, "ci_low": low, "ci_high": high, "n": 5}

    def where(point):
        return f"{point['step']:,} steps"

    # stacked_digits.md's curve: the last CIs overlap, but the mean fell 21 % over the last stretch
    short = [
        point(120, 0.214, 0.176, 0.253),
        point(240, 0.148, 0.110, 0.200),
        point(360, 0.117, 0.088, 0.164),
    ]
    assert stacked.ending(short, "step", where) == (
        "was still falling over its last stretch (0.148 at 240 steps, CIs overlap)"
    )
    # stacked_digits_long.md's: the stretch starts at the column nearest 3/4 of 34,902 (25,000)
    steps = [2500, 5000, 7500, 10_000, 15_000, 20_000, 25_000, 30_000, 34_902]
    means = [0.228, 0.133, 0.102, 0.087, 0.076, 0.072, 0.074, 0.073, 0.073]
    long = [point(step, mean, mean - 0.009, mean + 0.01) for step, mean in zip(steps, means, strict=True)]
    assert stacked.last_stretch_start(long, "step")["step"] == 25_000
    assert stacked.ending(long, "step", where) == (
        "had levelled off over its last stretch (0.074 at 25,000 steps, CIs overlap)"
    )
    rising = [point(1, 0.10, 0.09, 0.11), point(2, 0.10, 0.09, 0.11), point(3, 0.13, 0.12, 0.14)]
    assert stacked.ending(rising, "step", where).startswith("was rising again") and "CIs apart" in (
        stacked.ending(rising, "step", where)
    )
    one_seed = [dict(p, ci_low=None, ci_high=None) for p in short]
    assert "one seed, no CI" in stacked.ending(one_seed, "step", where)
    assert '5 % or more "was still falling"' in stacked.ending_rule()


def _record(seed: int, kl_curve: list[float], final_kl: float, steps: int = 1000):
    """A report seed's run as its journal keeps it: evaluations every 250 steps, its eval record."""
    from gankit.runs.compare import RunRecord

    evaluations = {
        "step": [250 * (k + 1) for k in range(len(kl_curve))],
        "eval_kl_to_uniform": kl_curve,
        "eval_modes": [1000] * len(kl_curve),
    }
    evaluated = {
        "n": 26000,
        "modes": 1000,
        "kl_to_uniform": final_kl,
        "kl_channels": final_kl / 2,
        "fid": 2.0,
    }
    evaluated |= {"floor_modes": 1000, "floor_kl_to_uniform": 0.02, "floor_kl_channels": 0.001}
    trial = {"evaluations": evaluations, "eval": evaluated, "cpu_time": 250.0, "metrics": {}}
    return RunRecord(Path(f"trials/seed-{seed}"), {"seed": seed}, final_kl, trial, steps)


def test_settled_arms_are_ranked_and_the_others_shown_as_curves_from_the_journal_alone():
    from journaled import Cell

    def cell(label, curves):
        made = Cell(label, Path("spec.toml"), "trials = 3\n[base]\nseed = 0\n", {"objective": label})
        made.best = {"params": {"g_lr": 0.002}}
        made.seeds_text = "seeds"
        made.seeds = [_record(100 + k, curve, curve[-1]) for k, curve in enumerate(curves)]
        return made

    flat = cell("ns", [[0.5, 0.3, 0.2, 0.2], [0.6, 0.3, 0.25, 0.25]])  # last-quarter change 0 <= sd
    falling = cell("hinge", [[0.9, 0.7, 0.5, 0.3], [1.0, 0.8, 0.6, 0.4]])  # falls 0.2 > sd 0.07
    settled, unsettled, waiting = stacked.arms([falling, flat], "minimize")
    assert list(settled) == ["ns"] and settled["ns"][1]["kl_to_uniform"]["mean"] == pytest.approx(0.225)
    assert settled["ns"][1]["kl_channels"]["mean"] == pytest.approx(0.1125)  # the eval record's, per seed
    assert [c.label for c, _ in unsettled] == ["hinge"] and "not settled (-0.2 over steps" in unsettled[0][1]
    assert waiting == []
    lonely = cell("wgan-gp", [[0.5, 0.4, 0.3, 0.3]])  # one seed: no rule, no rank
    assert stacked.arms([lonely], "minimize")[2] == [
        "wgan-gp (1 report seeds finished: fewer than 2 report seeds finished)"
    ]


def test_the_long_budget_curve_is_read_from_the_runs_evaluations_as_the_journal_keeps_them():
    records = [_record(100, [0.4, 0.2, 0.1, 0.08], 0.07), _record(101, [0.5, 0.3, 0.12, None], 0.09)]
    runs = long_budget.curves_of(records)
    assert runs[0][1000] == {"kl_to_uniform": 0.08, "modes": 1000}
    assert sorted(runs[1]) == [250, 500, 750]  # an evaluation that was not finite is no point
    points = long_budget.step_points(runs, long_budget.step_targets(runs, 250), "kl_to_uniform")
    assert [point["step"] for point in points] == [250, 500, 750]
    assert points[-1]["mean"] == pytest.approx(0.11)


def test_the_page_lists_the_rpgan_cells_says_they_search_their_penalties_and_prints_r3gans_row(shipped):
    from argparse import Namespace

    specs, cells, journals = shipped
    page = stacked.render(cells, specs, Namespace(seeds=5), journals)
    assert "rpgan's cells also search their penalty weights" in page
    assert "rpgan + R1 also searches r1_gamma in [0.001, 10] (log)." in page
    assert "rpgan + R1 + R2 (search: 0 of 40 trials finished); rpgan + R1 (search: 0 of 40" in page
    assert "| R3GAN (RpGAN + R1 + R2) | Huang et al. (NeurIPS 2024)" in page
    assert "| 1000 | 0.029 |" in page


def test_a_quick_rpgan_search_hands_its_chosen_gammas_to_the_report_seeds(tmp_path, monkeypatch):
    """The --quick smoke, on the rpgan spec alone and scored by the KL it logs on 500 samples rather than
    `gankit eval`'s 26,000 (each sweep starts a worker, and a 26,000-sample score costs more than the
    runs here; the ns half of --quick and the scoring are the paths the other cells have always taken)."""
    import tomllib
    from journaled import read_cells, seeds_journal

    smaller = {"trials": 2, "n_startup_trials": 2, "metric": "eval_kl_to_uniform"}
    monkeypatch.setattr(stacked, "QUICK", stacked.QUICK | smaller)
    monkeypatch.setattr(stacked, "QUICK_BASE", stacked.QUICK_BASE | {"time_budget_s": 1, "eval_samples": 500})
    monkeypatch.setattr(stacked, "QUICK_SPECS", [stacked.RPGAN_SPEC])
    stacked.main(["--quick", "--seeds", "1", "--out", str(tmp_path)])
    specs = [(stacked.RPGAN_SPEC, stacked.search_spec(stacked.RPGAN_SPEC, True))]
    (rpgan,) = read_cells(specs, tmp_path / "journals", 1, stacked.cell_label, stacked.PREFIX)
    assert rpgan.label == "rpgan + R1 + R2" and len(rpgan.finished) == 2 and len(rpgan.complete_seeds) == 1
    chosen = rpgan.best["params"]
    assert set(chosen) == {"g_lr", "d_lr", "r1_gamma", "r2_gamma"}
    seeds_base = tomllib.loads(rpgan.seeds_text)["base"]
    assert {key: seeds_base[key] for key in chosen} == chosen  # the report seeds train the chosen gammas
    (seed_run,) = rpgan.complete_seeds
    gammas = ("r1_gamma", "r2_gamma")
    assert {key: seed_run.config[key] for key in gammas} == {key: chosen[key] for key in gammas}
    journal = seeds_journal(tmp_path / "journals", stacked.PREFIX, rpgan.label)
    assert journal.name == "stacked_digits_seeds_rpgan-R1-R2.journal" and journal.is_file()
    assert "| rpgan + R1 + R2 |" in (tmp_path / "stacked_digits.md").read_text()  # its search row
