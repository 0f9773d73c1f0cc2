"""Run under torchrun by tests/test_distributed.py: train, optionally stop early, compare ranks.

Usage: torchrun --nproc_per_node=2 tests/ddp_worker.py RUN_DIR [STOP_AFTER_STEPS]
"""

import sys

import torch
import torch.distributed as dist

from diffaug_lessons.distributed import setup, shutdown
from diffaug_lessons.train import TrainConfig, train

run_dir = sys.argv[1]
stop_after = int(sys.argv[2]) if len(sys.argv) > 2 else None
config = TrainConfig(resolution=8, g_width=8, d_width=8, z_dim=16, n_train=64, n_heldout=64, batch_size=8,
                     steps=12, eval_every=4, n_eval_samples=32, device="cpu", strategy="diffaugment", ema_decay=None)
polls = iter(range(10_000))
should_stop = (lambda: next(polls) >= stop_after) if stop_after is not None else None
result = train(config, run_dir=run_dir, should_stop=should_stop, progress=False)

weights = torch.cat([p.detach().flatten() for p in [*result.G.parameters(), *result.D.parameters()]])
gathered = [torch.zeros_like(weights) for _ in range(dist.get_world_size())]
dist.all_gather(gathered, weights)
identical = all(torch.equal(gathered[0], other) for other in gathered[1:])
print(f"rank {dist.get_rank()} of {dist.get_world_size()}: status {result.status}, identical weights {identical}",
      flush=True)
shutdown(setup())
