"""Data-parallel training: 2 gloo processes on loopback follow 1 process with the same global batch.

The 2-process runs go through the real launcher (`gankit train --nproc 2` -> torchrun -> DDP).
Tolerance: SGD makes the parameters a smooth function of the gradients, so the only difference
left between 1 and 2 processes is float rounding in the order of sums (DDP's all-reduce): after a
few steps it stays below 1e-4, while the parameters move by far more than that.
"""

import json

import pytest
import torch

from gankit.cli import main
from gankit.config import TrainConfig
from gankit.engine import distributed
from gankit.engine.distributed import ProcessGroup
from gankit.errors import GankitError
from gankit.rundir import load_latest_checkpoint
from gankit.runs import assemble

TOLERANCE = 1e-4
FLAGS = {  # wgan-gp: the penalty's double backward must be averaged over processes too
    "data": "ring",
    "objective": "wgan-gp",
    "batch_size": 32,
    "width": 16,
    "depth": 2,
    "critic_steps": 2,
    "optimizer": "sgd",
    "g_lr": 0.05,
    "d_lr": 0.05,
    "log_every": 2,
    "checkpoint_every": 3,
    "eval_every": 0,
    "sample_every": 0,
    "monitors": False,
    "device": "cpu",
    "seed": 7,
}


def as_args(values: dict) -> list[str]:
    args = []
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args += [flag] if value else []
        else:
            args += [flag, str(value)]
    return args


def parameters(state: dict) -> torch.Tensor:
    return torch.cat([t.flatten() for part in ("generator", "discriminator") for t in state[part].values()])


def test_two_gloo_processes_match_one_process_and_resume(capfd, tmp_path):
    def cli(*args) -> tuple[int, str, str]:  # capfd: the processes write to the real stdout
        code = main([str(a) for a in args])
        return code, *capfd.readouterr()

    run_dir = tmp_path / "ddp"
    code, out, err = cli("train", *as_args(FLAGS | {"steps": 3}), "--out", run_dir, "--nproc", 2)
    assert code == 0, err
    assert out.count("trained 3 steps") == 1  # only rank 0 prints
    code, out, err = cli("train", "--resume", run_dir, "--steps", 6, "--nproc", 2)
    assert code == 0, err

    single = assemble.train(TrainConfig(**FLAGS | {"steps": 6}), tmp_path / "single")
    start = parameters(assemble.Trainer(single.config, single.trainer.data, "cpu").state_dict())
    one = parameters(single.trainer.state_dict())
    two = parameters(load_latest_checkpoint(run_dir / "checkpoints", map_location="cpu"))
    assert (one - start).abs().max() > 100 * TOLERANCE  # training moved the weights
    assert (one - two).abs().max() < TOLERANCE

    # written once, by rank 0: one row per logged step (and one where the first launch ended),
    # holding the mean over both processes, which is the single process's value
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    single_rows = [json.loads(line) for line in (tmp_path / "single/metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2, 3, 4, 6]
    for key in ("d_loss", "gradient_penalty", "g_loss"):
        assert rows[-1][key] == pytest.approx(single_rows[-1][key], rel=1e-3)
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")) == sorted(
        p.name for p in (tmp_path / "single/checkpoints").glob("*.pt")
    )


def test_a_cpu_budget_stops_every_process_at_the_same_step(capfd, tmp_path):
    """Each rank measures its own CPU time; if each decided alone, one would stop while the other
    waits in DDP's all-reduce for it. The ranks' mean decides, so the job ends, and early."""
    run_dir = tmp_path / "budget"
    args = as_args(FLAGS | {"steps": 100_000, "log_every": 10, "checkpoint_every": 100_000})
    code = main(["train", *args, "--time-budget-s", "0.5", "--out", str(run_dir), "--nproc", "2"])
    out, err = capfd.readouterr()
    assert code == 0, err
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]["step"]
    assert 0 < last < 100_000 and f"trained {last} steps" in out
    assert load_latest_checkpoint(run_dir / "checkpoints", map_location="cpu")["step"] == last


def test_each_process_trains_on_its_own_rows_of_the_global_batch():
    shards = [ProcessGroup(rank, 4, rank).shard(32, pack=2) for rank in range(4)]
    rows = torch.arange(32)
    assert torch.equal(torch.cat([rows[s] for s in shards]), rows)  # disjoint and complete
    with pytest.raises(GankitError, match="split evenly over 4 processes"):
        ProcessGroup(0, 4, 0).shard(36, pack=2)  # 9 per process is not a multiple of pack 2


def test_nproc_with_a_batch_that_does_not_split_is_one_line_and_writes_nothing(cli, tmp_path):
    code, _, err = cli("train", "--batch-size", 33, "--nproc", 2, "--out", tmp_path / "x")
    assert code == 2
    assert err.strip().splitlines() == [
        "gankit: error: batch_size (33) must split evenly over 2 processes into batches that are a "
        "multiple of pack (1)"
    ]
    assert not (tmp_path / "x").exists()


def test_nproc_reruns_the_command_line_without_it(cli, monkeypatch, tmp_path):
    """The options given, each as it was given (--no-amp too; in --help's order), without --nproc; a
    comma list (--stop-on) is checked once here, as the config takes it, before any process starts."""
    launched = []
    monkeypatch.setattr(distributed, "launch", lambda args, nproc: launched.append((args, nproc)) or 0)
    given = ["--out", str(tmp_path / "x"), "--r1", "0.5", "--no-amp", "--threads", "1"]
    code, _, err = cli("train", "--stop-on", "divergence,mode-collapse", "--nproc", 2, *given)
    assert code == 0, err
    assert launched == [(["train", *given, "--stop-on", "divergence,mode-collapse"], 2)]
    assert not (tmp_path / "x").exists()


def test_nproc_must_be_positive(cli):
    code, _, err = cli("train", "--nproc", 0)
    assert code == 2 and "--nproc" in err


def test_distributed_training_refuses_mps():
    with pytest.raises(GankitError, match="cpu or cuda, not mps"):
        ProcessGroup(0, 2, 0).device("mps")


def test_nproc_resume_of_a_missing_run_is_one_line(cli, tmp_path):
    code, _, err = cli("train", "--resume", tmp_path / "nothing", "--nproc", 2)
    assert code == 2
    assert err.strip().splitlines() == [f"gankit: error: run directory not found: {tmp_path / 'nothing'}"]
