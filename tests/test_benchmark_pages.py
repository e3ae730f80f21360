"""Benchmark pages say only what their own numbers show (benchmarks/images.py, benchmarks/speed.py)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
images = pytest.importorskip("images")
speed = pytest.importorskip("speed")


def test_the_page_calls_nothing_a_floor_that_is_not_at_the_runs_sample_size():
    # gankit eval computes a floor only with as many real images as samples (metrics.images); the
    # rows score 2,500 samples, so a floor at another size is named for what it is, not drawn as one
    small = {"test_no_floor": "no real-vs-real floor: the reference's other half has 225 images"}
    assert images.floor_reading([small]) == "No floor row: the reference's other half has 225 images."
    assert images.floor_reading([]) == "No floor row: no run was scored on the test part yet."
    equal_n = {"test_floor_fid": 14.53, "test_n_floor": 225, "test_n_reference": 224}
    text = images.floor_reading([equal_n])
    assert "(225 test digits against 224): FID 14.53" in text
    assert "The rows score 2,500 samples, another size, so it is no floor for them" in text


def _row(**changes):
    row = {
        "objective": "wgan-gp",
        "net": "MLP 3x512",
        "batch": 256,
        "critic_steps": 5,
        "gankit_steps_s": 4.61,
        "hand_steps_s": 4.35,
        "overhead": -0.065,
        "rate_spread": 0.30,
        "ratio_spread": 0.04,
        "gflop_step_gankit": 18.84,
        "gflop_step_hand": 18.84,
        "gflops_gankit": 86.8,
        "gflops_hand": 82.0,
        "memory_gankit": 2**20,
        "memory_hand": 2**20,
        "matmul_share_gankit": 0.55,
        "top_ops_gankit": [["aten::leaky_relu_backward", 0.12], ["aten::mul", 0.08]],
        "peak_gflops": 148.7,
        "mm_shape": [512, 512, 512],
        "gankit_of_peak": 0.58,
        "hand_of_peak": 0.55,
    }
    return row | changes


def _option(option, speedup):
    return {
        "objective": "wgan-gp",
        "net": "MLP 3x512",
        "option": option,
        "speedup": speedup,
        "steps_s": 4.5 * speedup,
        "default_steps_s": 4.5,
        "first_steps_s": 0.3,
    }


def _page(tmp_path, rows, options, **facts):
    conditions = {
        "date": "2026-11-25 16:12 UTC",
        "torch": "2.13.0+cpu",
        "python": "3.11.7",
        "device": "cpu",
        "cpu": "a CPU",
        "amx_bf16": True,
        "cores": 2,
        "threads": 1,
        "gpu": None,
        "gpu_available": False,
        "load_before": 7.1,
        "load_after": 3.1,
    } | facts
    measured = {"command": "cmd", "conditions": conditions, "log_every": 50, "rows": rows, "options": options}
    page = tmp_path / "speed.md"
    page.with_suffix(".json").write_text(json.dumps(measured))
    assert speed.main(["--render", "--out", str(page)]) == 0  # from the .json alone
    return page.read_text()


def test_the_speed_page_explains_only_what_its_measurements_show(tmp_path):
    text = _page(tmp_path, [_row()], [_option("--amp", 1.94), _option("--compile", 0.78)])
    assert "`--amp` ran this row 1.94x as fast" in text and "`--compile` ran" not in text
    assert "(gankit's path differs from it by the joint critic call and fused Adam)" in text
    assert "55 % of gankit's step (self CPU time) in matrix products" in text
    assert "`aten::leaky_relu_backward` 12 %" in text
    assert "Other work was running when it began" in text
    assert "the side-by-side ratios are steadier than the absolute steps/s" in text
    assert "no GPU was visible, so every number above is CPU-only" in text
    assert "A `--compile` row's first two steps include torch.compile's compilation." in text

    quiet = _page(
        tmp_path,
        [_row(ratio_spread=0.5, gankit_of_peak=0.5)],
        [_option("--amp", 0.9)],
        load_before=0.2,
        gpu_available=True,
    )
    assert "ran this row" not in quiet and "differs from it by" not in quiet
    assert "Other work was running" not in quiet and "steadier" not in quiet
    assert "a GPU was visible but not used" in quiet and "torch.compile's compilation" not in quiet
    on_gpu = _page(tmp_path, [_row(gankit_of_peak=0.85)], [], gpu="NVIDIA H100")
    assert "85 % measured, met." in on_gpu and "every number above is from NVIDIA H100" in on_gpu


def test_the_speed_page_refuses_to_render_without_its_measurements(tmp_path):
    with pytest.raises(SystemExit, match="no .*speed.json"):
        speed.main(["--render", "--out", str(tmp_path / "speed.md")])
