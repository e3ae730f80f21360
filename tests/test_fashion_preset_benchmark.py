"""The fashion preset's driver (benchmarks/fashion_preset.py): the choice is made on the tuning seed's
validation score only when every design cell finished, and the report seeds never include it."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
preset = pytest.importorskip("fashion_preset")
COMPLETE = preset.comparing.COMPLETE


def record(g_lr, d_lr, value, status=COMPLETE):
    return SimpleNamespace(config={"g_lr": g_lr, "d_lr": d_lr, "seed": 0}, value=value, status=status)


def test_the_lowest_validation_fid_is_chosen_once_every_cell_finished():
    cells = [record(2e-4, 2e-4, 40.0), record(1e-3, 2e-4, 31.0), record(1e-3, 1e-3, 35.0)]
    assert preset.chosen_cell(cells) is cells[1]
    assert preset.chosen_cell([*cells, record(2e-4, 1e-3, None, status="RUNNING")]) is None
    assert preset.chosen_cell([]) is None


def test_the_report_seeds_carry_the_chosen_rates_and_never_the_tuning_seed():
    design = preset.design_text(quick=False)
    text = preset.seeds_text(design, record(1e-3, 2e-4, 31.0), seeds=5)
    values = tomllib.loads(text)
    assert (values["base"]["g_lr"], values["base"]["d_lr"]) == (1e-3, 2e-4)
    assert values["grid"] == {"seed": [200, 201, 202, 203, 204]}
    tuning = tomllib.loads(design)["base"]
    assert "seed" not in values["base"] and tuning["seed"] not in values["grid"]["seed"]
    shared = {k: v for k, v in tuning.items() if k not in ("seed", "g_lr", "d_lr")}
    assert shared.items() <= values["base"].items()  # same steps, networks, split and evaluation


def test_the_widened_design_is_the_full_three_by_three_grid_on_one_protocol():
    texts = [tomllib.loads(text) for text in preset.design_texts(quick=False)]
    cells = [(g, d) for spec in texts for g in spec["grid"]["g_lr"] for d in spec["grid"]["d_lr"]]
    rates = (2e-4, 1e-3, 3e-3)
    assert sorted(cells) == sorted((g, d) for g in rates for d in rates)  # each cell once
    assert all(spec["base"] == texts[0]["base"] and spec["metric"] == texts[0]["metric"] for spec in texts)


def test_the_shipped_preset_is_the_cell_the_committed_journal_chose():
    from gankit.presets import PRESETS

    texts = preset.design_texts(quick=False)
    done = [preset.stored(preset.JOURNAL, text) for text in texts]
    assert all(records is not None for records in done), "the design sweeps are in the committed journal"
    chosen = preset.chosen_cell([record for records in done for record in records])
    assert chosen is not None
    assert PRESETS["fashion"] == preset.final_preset(texts[0], chosen)  # stage 4's, as measured


def test_the_long_runs_are_the_chosen_cell_on_tuning_seeds_in_both_precisions_at_twice_the_steps():
    design = preset.design_text(quick=False)
    values = tomllib.loads(preset.long_text(design, record(1e-3, 2e-4, 31.0), preset.TUNING_SEEDS))
    tuning = tomllib.loads(design)["base"]
    assert values["grid"] == {"amp": [False, True], "seed": [0, 1, 2, 3, 4]}
    assert not set(values["grid"]["seed"]) & set(range(preset.REPORT_SEED, preset.REPORT_SEED + 5))
    assert values["base"]["steps"] == 2 * tuning["steps"] and "amp" not in values["base"]
    assert values["base"]["validation_fraction"] == tuning["validation_fraction"]  # scored on validation


def long_run(seed, amp, fids, cpu=100.0):
    rows = [{"step": 200 * (i + 1), "eval_fid": fid} for i, fid in enumerate(fids)]
    return SimpleNamespace(
        config={"seed": seed, "amp": amp}, steps=200 * len(fids), trial={"cpu_time": cpu}, rows=rows
    )


def test_the_bf16_section_reads_the_paired_difference_at_the_presets_steps_and_at_the_end(monkeypatch):
    def curve(record, key):
        return [r["step"] for r in record.rows], [r[key] for r in record.rows]

    monkeypatch.setattr(preset.comparing, "evaluation_curve", curve)
    monkeypatch.setattr(
        preset.comparing,
        "common_curves",
        lambda records, key: (
            curve(records[0], key)[0],
            preset.np.array([curve(r, key)[1] for r in records]),
        ),
    )
    base = {"steps": 400, "eval_every": 200}
    fp32 = [long_run(s, False, [60.0 + s, 50.0 + s, 49.0 + s, 49.0 + s]) for s in range(3)]
    same = [long_run(s, True, [60.0 + s, 50.5 + s, 49.0 + s, 48.8 + s], cpu=60.0) for s in range(3)]
    text = "\n".join(preset.long_lines(base, fp32 + same))
    assert (
        "bf16 - fp32 at 400 steps**, paired on seeds 0, 1, 2: validation FID 0.50 [0.50, 0.50] (bf16 worse)"
        in text
    )
    assert (
        "bf16 - fp32 at 800 steps**, paired on seeds 0, 1, 2: validation FID -0.20 [-0.20, -0.20]"
        " (bf16 better)" in text
    )
    noisy = [long_run(s, True, [60.0 + s, 50.0 + s + (-1) ** s, 49.0 + s, 49.0 + s]) for s in range(3)]
    assert "(the interval holds 0: no difference shown)" in "\n".join(preset.long_lines(base, fp32 + noisy))
    assert "1 of 10 runs finished" in "\n".join(preset.long_lines(base, fp32[:1]))


def test_the_final_preset_runs_twice_the_steps_within_the_budget_at_the_default_precision_on_fresh_seeds():
    design = preset.design_text(quick=False)
    chosen = record(3e-3, 1e-3, 31.0)
    values = tomllib.loads(preset.final_text(design, chosen, 5, quick=False))
    tuning = tomllib.loads(design)["base"]
    base = values["base"]
    assert (base["steps"], base["time_budget_s"], base["amp"]) == (2 * tuning["steps"], 840, "auto")
    assert (base["g_lr"], base["d_lr"]) == (3e-3, 1e-3) and "seed" not in base
    used = {*preset.TUNING_SEEDS, *range(preset.REPORT_SEED, preset.REPORT_SEED + 5)}
    assert values["grid"] == {"seed": [210, 211, 212, 213, 214]} and not used & set(values["grid"]["seed"])
    shipped = preset.final_preset(design, chosen)  # what presets.py writes once it is measured
    assert {key: base[key] for key in ("steps", "time_budget_s", "g_lr", "d_lr")}.items() <= shipped.items()
