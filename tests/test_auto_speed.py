"""amp and threads "auto": decided by timing a few steps at the start of a new run (engine/speed.py).

No test depends on real timings: the decision rules are pure functions, and the runs below replace
the measurement with one that still trains each probe (so that it would disturb the run if the
probes were not isolated) but reports made-up step times.
"""

import json

import pytest
import torch

from gankit.config import TrainConfig, resolve
from gankit.data import load_data
from gankit.engine import speed
from gankit.errors import GankitError
from gankit.rundir import read_config
from gankit.runs import assemble

TINY = {
    "data": "ring",
    "objective": "wgan-gp",
    "batch_size": 16,
    "width": 8,
    "depth": 1,
    "critic_steps": 1,
    "steps": 4,
    "log_every": 1,
    "checkpoint_every": 2,
    "eval_every": 0,
    "sample_every": 0,
    "device": "cpu",
    "seed": 5,
}
FLAGS = [arg for key, value in TINY.items() for arg in (f"--{key.replace('_', '-')}", str(value))]
time_steps = speed.time_steps  # the real measurement, which the fakes below call


RULE_MIN_STEPS = speed.MIN_STEPS  # read before conftest's untimed_runs puts it past every run


@pytest.fixture(autouse=True)
def _timing_rules(untimed_runs, monkeypatch):
    """These tests time runs (with made-up clocks) under the real short-run rule; probes and trainers
    set torch's process-wide thread count, which is put back for the next test."""
    monkeypatch.setattr(speed, "MIN_STEPS", RULE_MIN_STEPS)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def fake_measure(ms: dict, calls: list | None = None):
    """A measurement that trains the probe like the real one but reports ``ms[(amp, threads)]``."""

    def measure(probe):
        amp = probe.plan.autocast_dtype == torch.bfloat16
        threads = torch.get_num_threads()
        if calls is not None:
            calls.append((amp, threads))
        _, losses = time_steps(probe)
        return ms[(amp, threads)], losses

    return measure


def refuse_to_measure(probe):
    raise AssertionError("nothing should be timed here")


def resolved(**overrides) -> tuple[TrainConfig, object]:
    data = load_data("ring")
    return resolve(TrainConfig(**TINY | overrides), tuple(data.shape)), data


# --- the decision rules -------------------------------------------------------------------------


def test_bf16_is_kept_only_when_faster_by_the_margin_and_its_losses_match():
    assert speed.keeps_bf16(fp32_ms=10.0, bf16_ms=9.0, matches=True)  # exactly 10 % faster
    assert not speed.keeps_bf16(fp32_ms=10.0, bf16_ms=9.2, matches=True)  # 8 % faster: not enough
    assert not speed.keeps_bf16(fp32_ms=10.0, bf16_ms=2.0, matches=False)  # fast but different
    assert not speed.keeps_bf16(fp32_ms=0.5, bf16_ms=5.7, matches=True)


def test_losses_match_within_bf16_rounding_as_the_speed_option_tests_hold_it():
    fp32 = {"d_loss": 1.0, "g_loss": -0.5, "gradient_penalty": 0.0}
    assert speed.losses_match(fp32, {"d_loss": 1.019, "g_loss": -0.509, "gradient_penalty": 0.0009})
    assert not speed.losses_match(fp32, {"d_loss": 1.03, "g_loss": -0.5, "gradient_penalty": 0.0})
    assert not speed.losses_match(fp32, {"d_loss": 1.0, "g_loss": -0.5, "gradient_penalty": 0.002})
    assert not speed.losses_match(fp32, {"d_loss": float("nan"), "g_loss": -0.5, "gradient_penalty": 0.0})


def test_threads_are_the_fewest_within_5_percent_of_the_fastest_and_never_above_the_share():
    assert speed.pick_threads({1: 10.0, 2: 6.0, 4: 5.8}, share=4) == 2  # 6.0 <= 5.8 * 1.05
    assert speed.pick_threads({1: 10.0, 2: 6.5, 4: 5.8}, share=4) == 4
    assert speed.pick_threads({1: 5.0, 2: 5.1}, share=2) == 1
    assert speed.pick_threads({1: 10.0, 2: 6.0, 4: 1.0}, share=2) == 2  # 4 is past the share
    assert speed.thread_counts(1) == [1]
    assert speed.thread_counts(2) == [1, 2]
    assert speed.thread_counts(6) == [1, 2, 4, 6]
    assert speed.thread_counts(8) == [1, 2, 4, 8]


def test_the_share_is_the_cores_over_the_processes_and_never_more_than_the_process_was_given(monkeypatch):
    monkeypatch.setattr(speed.os, "sched_getaffinity", lambda pid: set(range(16)))
    torch.set_num_threads(16)
    assert speed.core_share() == 16
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # 4 torchrun processes on this machine
    assert speed.core_share() == 4
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    torch.set_num_threads(3)  # a sweep worker's share (or OMP_NUM_THREADS)
    assert speed.core_share() == 3
    speed.set_threads(1)  # a run's own choice does not cap the next run's
    assert speed.core_share() == 3


# --- choosing at the start of a run -------------------------------------------------------------


def test_auto_times_threads_then_precision_and_records_both(monkeypatch):
    monkeypatch.setattr(speed, "core_share", lambda: 4)
    config, data = resolved(steps=speed.MIN_STEPS)
    calls = []
    ms = {(False, 1): 10.0, (False, 2): 6.0, (False, 4): 5.9, (True, 2): 4.0}
    chosen, lines = speed.choose(config, data, torch.device("cpu"), measure=fake_measure(ms, calls))
    assert calls == [(False, 1), (False, 2), (False, 4), (True, 2)]  # fp32 at 2 threads is reused
    assert (chosen.amp, chosen.threads) == (True, 2)
    assert chosen.speed == {
        "amp": "auto",
        "threads": "auto",
        "thread_share": 4,
        "threads_ms_per_step": {"1": 10.0, "2": 6.0, "4": 5.9},
        "precision_ms_per_step": {"fp32": 6.0, "bf16": 4.0},
        "bf16_losses_match": True,
    }
    assert lines == [
        "threads: 2 of 4 (ms/step with 1: 10, 2: 6, 4: 5.9)",
        "precision: bf16 (4 ms/step against fp32's 6)",
    ]


def test_the_thread_sweep_stops_where_more_threads_stop_helping(monkeypatch):
    monkeypatch.setattr(speed, "core_share", lambda: 8)
    config, data = resolved(steps=speed.MIN_STEPS, amp=False)
    calls = []
    ms = {(False, 1): 10.0, (False, 2): 9.8, (False, 4): 1.0}
    chosen, _ = speed.choose(config, data, torch.device("cpu"), measure=fake_measure(ms, calls))
    assert calls == [(False, 1), (False, 2)]  # 2 threads were not 5 % faster than 1: stop there
    assert chosen.threads == 1


def test_auto_keeps_fp32_when_bf16_is_slower_and_says_so(monkeypatch):
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    config, data = resolved(steps=speed.MIN_STEPS)
    ms = {(False, 1): 0.5, (True, 1): 5.7}
    chosen, lines = speed.choose(config, data, torch.device("cpu"), measure=fake_measure(ms))
    assert (chosen.amp, chosen.threads) == (False, 1)
    assert lines == ["precision: fp32 (bf16 took 5.7 ms/step against 0.5)"]


def test_auto_keeps_fp32_when_bf16_is_faster_by_less_than_its_margin_and_says_so(monkeypatch):
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    config, data = resolved(steps=speed.MIN_STEPS)
    ms = {(False, 1): 7.73, (True, 1): 7.46}  # 3.5 % faster: under BF16_MARGIN
    chosen, lines = speed.choose(config, data, torch.device("cpu"), measure=fake_measure(ms))
    assert chosen.amp is False
    assert lines == [
        "precision: fp32 (bf16 took 7.46 ms/step against 7.73: less than 10% faster, auto's margin)"
    ]


def test_auto_keeps_fp32_when_bf16_losses_differ(monkeypatch):
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    config, data = resolved(steps=speed.MIN_STEPS)

    def measure(probe):
        bf16 = probe.plan.autocast_dtype == torch.bfloat16
        return (1.0, {"d_loss": 2.0}) if bf16 else (5.0, {"d_loss": 1.0})

    chosen, lines = speed.choose(config, data, torch.device("cpu"), measure=measure)
    assert chosen.amp is False and chosen.speed["bf16_losses_match"] is False
    assert "differed from fp32's by more than bf16 rounding" in lines[0]


def test_an_explicit_amp_is_timed_and_kept_even_when_slower(monkeypatch):
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    config, data = resolved(steps=speed.MIN_STEPS, amp=True)
    ms = {(False, 1): 0.5, (True, 1): 5.7}
    chosen, lines = speed.choose(config, data, torch.device("cpu"), measure=fake_measure(ms))
    assert chosen.amp is True and chosen.speed["amp"] is True
    assert lines == [
        "precision: bf16 as asked, though it took 5.7 ms/step against fp32's 0.5 (--no-amp would be faster)"
    ]


def test_explicit_values_short_runs_and_devices_without_bf16_kernels_are_not_timed(monkeypatch):
    cpu = torch.device("cpu")
    config, data = resolved(steps=speed.MIN_STEPS, amp=False, threads=2)
    chosen, lines = speed.choose(config, data, cpu, measure=refuse_to_measure)
    assert (chosen.amp, chosen.threads, lines) == (False, 2, [])
    assert chosen.speed == {"amp": False, "threads": 2}
    # shorter than MIN_STEPS: fp32 and one thread, untimed
    monkeypatch.setattr(speed, "core_share", lambda: 4)
    config, data = resolved(steps=speed.MIN_STEPS - 1)
    chosen, lines = speed.choose(config, data, cpu, measure=refuse_to_measure)
    assert (chosen.amp, chosen.threads, lines) == (False, 1, [])
    # no bf16 kernels (a CPU without AVX512-BF16/AMX, CUDA before Ampere): fp32 without timing bf16
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    monkeypatch.setattr(speed, "has_bf16_kernels", lambda device: False)
    config, data = resolved(steps=speed.MIN_STEPS)
    chosen, lines = speed.choose(config, data, cpu, measure=refuse_to_measure)
    assert (chosen.amp, chosen.threads, lines) == (False, 1, [])


def test_the_vae_baseline_is_never_timed_in_bf16(monkeypatch):
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    data = load_data("digits")
    config = resolve(
        TrainConfig(data="digits", model="vae", steps=speed.MIN_STEPS, batch_size=8, width=8, eval_every=0),
        tuple(data.shape),
    )
    chosen, lines = speed.choose(config, data, torch.device("cpu"), measure=refuse_to_measure)
    assert (chosen.amp, lines) == (False, [])


def test_under_torchrun_each_rank_times_its_own_rows_and_all_take_rank_zeros_choice(monkeypatch):
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    config, data = resolved(steps=speed.MIN_STEPS)

    class Rank1:
        def shard(self, batch_size, pack):
            return slice(batch_size // 2, batch_size)

        def broadcast(self, value):
            assert value["amp"] is True  # this rank found bf16 faster ...
            return {**value, "amp": False}  # ... rank 0 did not

    shards = []

    def measure(probe):
        shards.append(probe.plan.shard)
        return (5.0 if probe.plan.autocast_dtype is None else 1.0), {}

    chosen, _ = speed.choose(config, data, torch.device("cpu"), parallel=Rank1(), measure=measure)
    assert chosen.amp is False
    assert shards == [slice(8, 16), slice(8, 16)]


# --- whole runs ---------------------------------------------------------------------------------


def rows(run) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time"} for line in lines]


@pytest.mark.parametrize(("bf16_ms", "pinned", "amp"), [(5.7, "--no-amp", False), (0.3, "--amp", True)])
def test_auto_gives_exactly_the_numbers_of_the_precision_it_picked(
    cli, tmp_path, monkeypatch, bf16_ms, pinned, amp
):
    monkeypatch.setattr(speed, "MIN_STEPS", 1)  # time this 4-step run
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    monkeypatch.setattr(speed, "time_steps", fake_measure({(False, 1): 0.5, (True, 1): bf16_ms}))
    code, _, err = cli("train", *FLAGS, "--out", tmp_path / "auto")
    assert code == 0, err
    assert f"precision: {'bf16' if amp else 'fp32'} (" in err
    code, _, err = cli("train", *FLAGS, pinned, "--threads", "1", "--out", tmp_path / "pinned")
    assert code == 0, err
    auto = read_config(tmp_path / "auto")
    assert (auto["amp"], auto["threads"]) == (amp, 1)
    assert auto["speed"]["precision_ms_per_step"] == {"fp32": 0.5, "bf16": bf16_ms}
    assert rows(tmp_path / "auto") == rows(tmp_path / "pinned")
    auto_state, pinned_state = (
        torch.load(tmp_path / name / "checkpoints/step_00000004.pt", weights_only=True)
        for name in ("auto", "pinned")
    )
    for key in ("generator", "discriminator"):
        for a, b in zip(auto_state[key].values(), pinned_state[key].values(), strict=True):
            assert torch.equal(a, b)


def test_resume_keeps_the_recorded_choice_and_never_measures(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(speed, "MIN_STEPS", 1)
    monkeypatch.setattr(speed, "core_share", lambda: 1)
    monkeypatch.setattr(speed, "time_steps", fake_measure({(False, 1): 0.5, (True, 1): 0.3}))
    code, _, err = cli("train", *FLAGS, "--out", tmp_path / "run")
    assert code == 0, err
    recorded = read_config(tmp_path / "run")
    monkeypatch.setattr(speed, "time_steps", refuse_to_measure)
    code, _, err = cli("train", "--resume", tmp_path / "run", "--steps", 6)
    assert code == 0, err
    assert "precision" not in err
    resumed = read_config(tmp_path / "run")
    assert resumed == recorded | {"steps": 6}
    assert resumed["amp"] is True


@pytest.mark.parametrize("amp", [False, True])
def test_run_directories_from_before_auto_load_and_resume_as_they_were(cli, tmp_path, monkeypatch, amp):
    monkeypatch.setattr(speed, "time_steps", refuse_to_measure)
    flag = "--amp" if amp else "--no-amp"
    code, _, err = cli("train", *FLAGS, flag, "--threads", "1", "--out", tmp_path / "old")
    assert code == 0, err
    old = read_config(tmp_path / "old")
    del old["speed"]
    (tmp_path / "old/config.json").write_text(json.dumps(old | {"threads": 0}))  # as written before
    assert read_config(tmp_path / "old")["threads"] == "auto"  # 0 was "torch's own count"
    torch.set_num_threads(1)
    trainer = assemble.resume(tmp_path / "old", steps=6).trainer
    assert trainer.step == 6 and torch.get_num_threads() == 1  # a resume keeps the process's count
    assert (trainer.plan.autocast_dtype == torch.bfloat16) is amp


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--amp", "maybe"), "gankit: error: Got unexpected extra argument(s) (maybe)"),  # a flag
        (("--threads", "0"), "gankit: error: threads must be auto or a count >= 1, got 0"),
        (("--threads", "many"), "gankit: error: --threads must be auto or a count >= 1, got 'many'"),
    ],
)
def test_bad_amp_and_threads_exit_2_with_one_line(cli, tmp_path, args, message):
    code, _, err = cli("train", *FLAGS, *args, "--out", tmp_path / "run")
    assert code == 2
    assert err.strip().splitlines() == [message]
    assert not (tmp_path / "run").exists()


def test_bad_amp_in_a_config_file_is_one_line(cli, tmp_path):
    (tmp_path / "c.toml").write_text('amp = "maybe"\n')
    code, _, err = cli("train", "--config", tmp_path / "c.toml", *FLAGS, "--out", tmp_path / "run")
    assert code == 2
    assert err.strip().splitlines() == ["gankit: error: amp must be auto, true or false, got 'maybe'"]
    with pytest.raises(GankitError, match="threads must be auto or a count >= 1, got -1"):
        TrainConfig(threads=-1)


def test_compare_reads_the_timings_as_a_record_not_a_setting(tmp_path):
    from gankit.runs.compare import RunRecord, default_by, speed_warnings

    base = {"objective": "ns", "amp": False, "threads": 1, "time_budget_s": 10.0}
    timed = [
        {**base, "seed": seed, "speed": {"threads_ms_per_step": {"1": ms}}}
        for seed, ms in ((0, 5.0), (1, 9.0))
    ]
    twins = [
        RunRecord(tmp_path / str(seed), config, 1.0, steps=steps)
        for seed, config, steps in ((0, timed[0], 100), (1, timed[1], 200))
    ]
    assert default_by(None, twins) == []  # the runs differ in seed (and timings) only
    assert len(speed_warnings(twins)) == 1  # seed-only twins whose steps differ: flagged
    other = RunRecord(tmp_path / "2", {**timed[1], "amp": True}, 1.0, steps=200)
    assert default_by(None, [twins[0], other]) == ["amp"]
