"""Several processes, one GAN: DistributedDataParallel under ``torchrun``.

Launch any training command with torchrun and it trains data-parallel::

    torchrun --nproc_per_node=4 -m diffaug_lessons train --preset gpu --strategy diffaugment
    torchrun --nnodes=2 --node_rank=0 --rdzv_endpoint=HOST:29500 --nproc_per_node=8 -m diffaug_lessons train ...

Each rank trains on its own batches (``batch_size`` is per rank) and draws its own T;
gradients are averaged by DDP, so every rank holds the same weights. Only rank 0
evaluates, logs and writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup() -> Distributed:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return Distributed(dist.get_rank(), dist.get_world_size(), local_rank)


def all_finite(value: float, info: Distributed) -> bool:
    """True when ``value`` is finite on every rank (so all ranks stop together on a NaN)."""
    import math

    ok = torch.tensor([1.0 if math.isfinite(value) else 0.0])
    if info.enabled:
        if dist.get_backend() == "nccl":
            ok = ok.cuda()
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    return bool(ok.item() > 0)


def shutdown(info: Distributed) -> None:
    """Leave the process group and end the process.

    Every rank waits for the others, then the group is destroyed. The process then exits at once:
    letting the interpreter tear down with gloo's threads still registered can abort it
    ("terminate called without an active exception") after a run that finished fine, which
    torchrun would report as a failure.
    """
    import sys

    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
