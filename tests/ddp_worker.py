"""Run under torchrun by tests/test_distributed.py: train, optionally stop early, compare ranks.

Usage: torchrun --nproc_per_node=2 tests/ddp_worker.py RUN_DIR [STOP_AFTER_STEPS]
Then runs 12 ADA steps and compares p across the ranks. With DDP_WORKER_ARCHITECTURE=biggan the pair is
the class-conditional one (labels to G and D, 2 D steps per G step), and each rank reports the labels of
its reals and the classes it drew for its fakes.
"""

import os
import sys

import torch
import torch.distributed as dist

from diffaug_lessons.distributed import setup, shutdown
from diffaug_lessons.runs import train_in_folder
from diffaug_lessons.train import Experiment, TrainConfig

run_dir = sys.argv[1]
stop_after = int(sys.argv[2]) if len(sys.argv) > 2 else None
config = TrainConfig(resolution=8, g_width=8, d_width=8, z_dim=16, n_train=64, n_heldout=64, batch_size=8,
                     steps=12, eval_every=4, n_eval_samples=32, device="cpu", strategy="diffaugment", ema_decay=None)
if os.environ.get("DDP_WORKER_ARCHITECTURE") == "biggan":
    config = config.replace(architecture="biggan", resolution=16, loss="hinge", d_steps=2)
    labelled = Experiment(config, dist_info=setup())
    _, _, y_real, y_fake = labelled.next_batch()
    index_ok = all(labelled.train_set.labels.tolist().count(int(y)) > 0 for y in y_real)
    print(f"rank {dist.get_rank()} labels real {y_real.tolist()} fake {y_fake.tolist()} real labels valid {index_ok}",
          flush=True)
polls = iter(range(10_000))
should_stop = (lambda: next(polls) >= stop_after) if stop_after is not None else None
result = train_in_folder(config, run_dir, should_stop=should_stop, progress=False)

weights = torch.cat([p.detach().flatten() for p in [*result.G.parameters(), *result.D.parameters()]])
gathered = [torch.zeros_like(weights) for _ in range(dist.get_world_size())]
dist.all_gather(gathered, weights)
identical = all(torch.equal(gathered[0], other) for other in gathered[1:])
# ADA: p adapts from r_t; every rank must keep the same p (r_t is averaged over the ranks)
ada = Experiment(config.replace(ada_target=0.0, p=0.5, ada_interval=1, ada_kimg=0.1), dist_info=setup())
ps = []
for _ in range(12):
    ada.run_step()
    ps.append(float(ada.strengths.p))
mine = torch.tensor(ps)
all_ps = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
dist.all_gather(all_ps, mine)
same_p = all(torch.equal(all_ps[0], other) for other in all_ps[1:]) and len(set(ps)) > 1  # and p moved
print(f"rank {dist.get_rank()} of {dist.get_world_size()}: status {result.status}, identical weights {identical}, "
      f"identical ADA p {same_p}", flush=True)
shutdown(setup())
