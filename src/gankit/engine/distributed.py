"""Data-parallel training over processes and machines: PyTorch DistributedDataParallel + torchrun.

    torchrun --nproc-per-node 2 -m gankit train --data ring ...     # or: gankit train --nproc 2 ...

torchrun starts the processes ("ranks") and tells each its RANK, LOCAL_RANK and WORLD_SIZE; the
trainer then joins the process group (gloo for CPU tensors, NCCL for GPU tensors). Every rank holds
a full copy of G and D, and:

- draws the *global* batch (real data, noise, penalty weights) from the shared seed and keeps only
  its own rows (``ProcessGroup.shard``): ranks see different samples, and N ranks compute exactly
  the gradient that one process would for the same global batch (every loss is a mean over the batch,
  and DDP averages the ranks' gradients);
- trains each player through its DDP wrapper: D's losses *and* the gradient penalty's double backward
  run inside one ``backward()``, after which DDP averages D's gradients once; G's step goes through
  DDP(G) and the plain D (D gets no gradient there);
- logs the mean of the ranks' statistics (one all-reduce per logged row, none per step), so every
  rank sees the same rows and callbacks decide the same things (e.g. to stop early);
- writes nothing unless it is rank 0, which alone owns the run directory (config, metrics,
  checkpoints, samples). On resume, rank 0 reads the checkpoint and sends it to the others, so other
  machines need no copy of the run directory.

Batch norm layers (DCGAN's generator, the classifier-GAN discriminator) normalise over each rank's
rows only, as in most data-parallel GAN code; networks without them follow one process closely.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from gankit.config import TrainConfig
from gankit.engine.restore import load_train_data_and_config
from gankit.errors import GankitError

T = TypeVar("T")


def launched_by_torchrun() -> bool:
    """True inside a process that torchrun started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_rank_zero() -> bool:
    """True in a plain process and in rank 0 of a torchrun job: the one that prints and writes."""
    return os.environ.get("RANK", "0") == "0"


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in a torchrun job, and the few collective operations training needs."""

    rank: int
    world_size: int
    local_rank: int

    def device(self, name: str) -> torch.device:
        """The device of this rank for ``--device NAME``: one GPU per local rank, or the CPU."""
        if name == "mps":
            raise GankitError("distributed training supports --device cpu or cuda, not mps")
        if name.startswith("cuda") or (name == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise GankitError("--device cuda was asked for, but no CUDA GPU is available")
            if self.local_rank >= torch.cuda.device_count():  # NCCL needs one GPU per process
                raise GankitError(
                    f"{self.local_rank + 1} or more processes per machine need as many GPUs; this one "
                    f"has {torch.cuda.device_count()}"
                )
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
            return device
        return torch.device("cpu")

    def shard(self, batch_size: int, pack: int = 1) -> slice:
        """This rank's rows of a global batch of ``batch_size`` samples."""
        per_rank = batch_size // self.world_size
        if batch_size % self.world_size or per_rank % pack:
            raise GankitError(
                f"batch_size ({batch_size}) must split evenly over {self.world_size} processes into "
                f"batches that are a multiple of pack ({pack})"
            )
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP around ``module``: its gradients are averaged over the ranks during backward()."""
        device = next(module.parameters()).device
        return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)

    def average(self, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
        """The mean over ranks of each tensor (one all-reduce for all of them)."""
        keys = list(tensors)
        stacked = torch.stack([tensors[key].detach().float() for key in keys])
        dist.all_reduce(stacked)  # a sum: gloo has no average
        return dict(zip(keys, stacked / self.world_size, strict=True))

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (any picklable object, tensors included)."""
        box = [value if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
        return box[0]

    def on_rank_zero(self, make: Callable[[], T]) -> T | None:
        """``make()`` on rank 0 only (None elsewhere); if it raises, every rank raises.

        Without this, the other ranks would wait forever for a rank 0 that gave up.
        """
        result, failure = None, None
        try:
            if self.rank == 0:
                result = make()
        except Exception as error:
            failure = error
        news = self.broadcast(None if failure is None else (isinstance(failure, GankitError), str(failure)))
        if failure is not None:
            raise failure
        if news is not None:
            user_error, message = news
            raise GankitError(message) if user_error else RuntimeError(f"rank 0 failed: {message}")
        return result


_GROUP: ProcessGroup | None = None


def _leave_process_group() -> None:
    """At exit, wait for every rank before tearing the group down: a rank that destroys its gloo
    connections while another is still sending aborts that rank ("terminate called ...")."""
    with contextlib.suppress(Exception):  # a rank that failed: torchrun ends the job; just leave
        dist.barrier()
    dist.destroy_process_group()


def exit_rank(code: int) -> None:
    """End this torchrun process with ``code``: leave the group (every rank together), flush, and
    exit without the interpreter's finalization. There, objects that still hold the gloo group
    (DDP's reducer) are destroyed while gloo's threads run, which now and then aborts a rank with
    "terminate called without an active exception" (SIGABRT) after its work is done and saved, and
    torchrun then reports the whole job as failed."""
    if dist.is_initialized():
        _leave_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def process_group() -> ProcessGroup | None:
    """Join the torchrun job this process belongs to (once); None in a plain process."""
    global _GROUP
    if _GROUP is None and launched_by_torchrun():
        if not dist.is_initialized():
            # CPU tensors (and the small objects of broadcast) go over gloo, GPU tensors over NCCL.
            backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
            atexit.register(_leave_process_group)
        _GROUP = ProcessGroup(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return _GROUP


def launch(args: list[str], nproc: int) -> int:
    """Run ``gankit <args>`` as ``nproc`` processes on this machine with torchrun; its exit code.

    For several machines, run torchrun yourself on each (see docs/scaling.md). Each process is
    given its share of this process's cores as OMP_NUM_THREADS (torchrun would give it 1), the most
    that ``--threads auto`` then takes; a value set by the user is kept.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    command += ["-m", "gankit", *args]
    share = max(1, len(os.sched_getaffinity(0)) // nproc) if hasattr(os, "sched_getaffinity") else 1
    env = {"OMP_NUM_THREADS": str(share), **os.environ}
    return subprocess.run(command, check=False, env=env).returncode


def relaunch(args: list[str], nproc: int, config: TrainConfig) -> int:
    """``gankit train --nproc N ...``: check here that ``config``'s batch splits over N processes
    (bad input: one line, exit 2, before any process starts), then run ``gankit <args>``, the same
    command line without --nproc, as N torchrun processes; their exit code."""
    _, resolved = load_train_data_and_config(config)
    if resolved.batch_size % (nproc * resolved.pack):
        raise GankitError(
            f"batch_size ({resolved.batch_size}) must split evenly over {nproc} processes into "
            f"batches that are a multiple of pack ({resolved.pack})"
        )
    return launch(args, nproc)
