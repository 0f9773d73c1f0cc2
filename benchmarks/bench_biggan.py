"""How long does the paper's CIFAR-10 table take? Times the ``biggan-cifar`` preset on this machine.

Run from the repository root::

    python benchmarks/bench_biggan.py                  # CUDA if present, else the CPU
    python benchmarks/bench_biggan.py --tiny           # CPU-sized: narrow nets, small batch (a smoke test)
    python benchmarks/bench_biggan.py --json out.json  # also write the figures as JSON

For baseline ("none") and DiffAugment, in fp32 (the official setting) and bf16 autocast (CUDA only),
it prints: ms per iteration (``Experiment.run_step()``: 4 D steps of 50 reals + 50 fakes, then one G
step of 50, and the EMA update), real images per second, T's share of the iteration ((DiffAugment -
baseline) / DiffAugment), the peak memory of training, and the projected wall time of each row of
the paper's table (10%, 20%, 100% of CIFAR-10: 125k, 250k, 250k iterations), with the evaluations
(IS/FID on 10k samples every 4,000 iterations) when the Inception weights are present to time one.

Without the CIFAR-10 tarball it trains on random images with random labels in CIFAR's shapes: the
timing does not depend on the pixels. Budget: under 5 minutes on one GPU (about 1 minute on an H100-class
chip); the figures are medians of repeats that alternate between the four settings.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench_augment import _cpu_name, _load, median_times  # noqa: E402  (same folder)

from diffaug_lessons import train as train_module  # noqa: E402
from diffaug_lessons.biggan import CIFAR_TRAIN_IMAGES, official_iterations  # noqa: E402
from diffaug_lessons.data import DatasetUnavailableError, ImageSet, load_dataset  # noqa: E402
from diffaug_lessons.train import Experiment, TrainConfig, lesson_config  # noqa: E402

TABLE_ROWS = {"10%": 0.1, "20%": 0.2, "100%": 1.0}
STRATEGIES = ("none", "diffaugment")


def cifar_available() -> bool:
    try:
        load_dataset("cifar10", split="test", download=False)
        return True
    except (DatasetUnavailableError, FileNotFoundError):
        return False


def use_synthetic_data(n_train: int) -> None:
    """Make every Experiment train on random images (N, 3, 32, 32) in [-1, 1] with random labels 0..9."""

    def synthetic_split(config: TrainConfig) -> tuple[ImageSet, ImageSet]:
        generator = torch.Generator().manual_seed(config.seed)
        side = config.resolution

        def images(n: int, name: str) -> ImageSet:
            return ImageSet(torch.rand(n, 3, side, side, generator=generator) * 2 - 1,
                            torch.randint(10, (n,), generator=generator), name)

        return images(config.n_train or n_train, "synthetic train"), images(config.n_heldout, "synthetic held-out")

    train_module.load_split = synthetic_split


def settings(args: argparse.Namespace) -> dict[tuple[str, str], TrainConfig]:
    """The preset for each (strategy, precision); --tiny narrows it for a CPU."""
    tiny = dict(g_width=32, d_width=32, batch_size=10, n_train=500, n_heldout=100, n_eval_samples=100) if args.tiny else {}
    precisions = ("fp32", "bf16") if args.device == "cuda" else ("fp32",)
    return {(strategy, precision): lesson_config("biggan-cifar", strategy=strategy, device=args.device,
                                                 amp=precision == "bf16", **tiny)
            for strategy in STRATEGIES for precision in precisions}


def peak_memory_mib(config: TrainConfig, steps: int = 5) -> float:
    """Peak CUDA memory allocated while ``steps`` iterations train (this experiment alone), or the
    process's peak RSS on the CPU (everything so far: torch, data, models)."""
    if config.device != "cuda":
        experiment = Experiment(config)
        for _ in range(steps):
            experiment.run_step()
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    experiment = Experiment(config)
    for _ in range(steps):
        experiment.run_step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20
    del experiment
    torch.cuda.empty_cache()
    return peak


def evaluation_seconds(config: TrainConfig) -> float | None:
    """Seconds of one evaluation row (10k samples: IS, FID, KID, D's verdicts), or None without the
    Inception weights. The first call also embeds the 10k reference reals once; the second is timed."""
    from diffaug_lessons.metrics import inception_path

    try:
        inception_path(download=False)
    except (FileNotFoundError, RuntimeError):
        return None
    experiment = Experiment(config)
    experiment.run_step()
    experiment.evaluate(0.0)
    if experiment.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    experiment.evaluate(0.0)
    if experiment.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="narrow nets (32 channels), batch 10: for a CPU")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per figure; the median is shown")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds each timed repeat lasts at least")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="CPU timings: wall clock, or this process's CPU time (with --threads 1: the work done, "
                             "without the time other processes held the CPU)")
    parser.add_argument("--skip-eval", action="store_true", help="do not time an evaluation")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{_cpu_name()}, {args.threads} torch threads"
    real_data = cifar_available()
    if not real_data:
        use_synthetic_data(CIFAR_TRAIN_IMAGES)
    configs = settings(args)
    first = next(iter(configs.values()))
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"torch {torch.__version__}, device {device} ({name}); data: "
          f"{'CIFAR-10' if real_data else 'synthetic (CIFAR-10 tarball absent)'}")
    print(f"preset biggan-cifar{' --tiny' if args.tiny else ''}: {first.architecture} G/D width {first.g_width}/"
          f"{first.d_width}, batch {first.batch_size}, {first.d_steps} D steps per G step, policy {first.policy!r}")
    clock = "CUDA events" if device.type == "cuda" else {"wall": "wall clock", "cpu": "process CPU time"}[args.clock]
    print(f"{clock}; median of {args.repeats} alternating repeats, each at least {args.min_time} s; "
          f"load average before: {_load()}")
    if device.type == "cuda":
        print(f"TF32: matmul {torch.backends.cuda.matmul.allow_tf32}, cuDNN conv {torch.backends.cudnn.allow_tf32}")

    memory = {key: peak_memory_mib(config) for key, config in configs.items()}
    experiments = {key: Experiment(config) for key, config in configs.items()}
    steps = {f"{s}/{p}": experiment.run_step for (s, p), experiment in experiments.items()}
    for _ in range(3):  # warm-up: cuDNN's algorithm search, the allocator, Adam's state
        for step in steps.values():
            step()
    seconds = median_times(steps, device, args.repeats, args.min_time, args.clock)
    reals_per_step = first.batch_size * first.d_steps

    print(f"\n{'strategy':<12}{'precision':<11}{'ms/iter':>9}{'reals/s':>10}{'T share':>9}{'peak memory':>14}")
    results: dict[str, Any] = {"device": name, "real_data": real_data, "tiny": args.tiny, "clock": clock, "rows": {}}
    for (strategy, precision) in configs:
        ms = seconds[f"{strategy}/{precision}"] * 1000
        share = 1 - seconds[f"none/{precision}"] / seconds[f"diffaugment/{precision}"]
        share_text = f"{100 * share:.1f}%" if strategy == "diffaugment" else ""
        unit = "MiB CUDA" if device.type == "cuda" else "MiB RSS"
        print(f"{strategy:<12}{precision:<11}{ms:>9.1f}{reals_per_step / ms * 1000:>10.0f}{share_text:>9}"
              f"{memory[(strategy, precision)]:>9.0f} {unit}")
        results["rows"][f"{strategy}/{precision}"] = {"ms_per_iteration": ms, "reals_per_second": reals_per_step / ms * 1000,
                                                     "peak_memory_mib": memory[(strategy, precision)]}
    print("T share = (DiffAugment - baseline) / DiffAugment: T on reals and fakes in 4 D steps and on the fakes of "
          "the G step, and its backward into G.")

    eval_seconds = None if args.skip_eval else evaluation_seconds(configs[("diffaugment", "fp32")])
    results["evaluation_seconds"] = eval_seconds
    print(f"\nOne evaluation (10k samples, IS/FID/KID, D's verdicts): "
          f"{f'{eval_seconds:.1f} s' if eval_seconds is not None else 'not timed (no Inception weights or --skip-eval)'}")
    print("\nProjected wall time of the paper's table on this device (training"
          f"{' + evaluations every 4,000 iterations' if eval_seconds is not None else ' only'}):")
    header = f"{'data':<6}{'iterations':>11}" + "".join(f"{s + ' ' + p:>20}" for s, p in configs)
    print(header)
    for row, fraction in TABLE_ROWS.items():
        iterations = official_iterations(math.floor(fraction * CIFAR_TRAIN_IMAGES + 0.5))
        evals = math.ceil(iterations / first.eval_every) * (eval_seconds or 0.0)
        cells = [iterations * seconds[f"{s}/{p}"] + evals for s, p in configs]
        print(f"{row:<6}{iterations:>11,}" + "".join(f"{hours(c):>20}" for c in cells))
        results[f"projected_seconds_{row}"] = dict(zip((f"{s}/{p}" for s, p in configs), cells, strict=True))
    total = sum(sum(v.values()) for k, v in results.items() if k.startswith("projected_seconds_"))
    print(f"All {2 * len(TABLE_ROWS)} runs of one precision, one after the other: "
          + ", ".join(f"{p} {hours(sum(results[f'projected_seconds_{r}'][f'{s}/{p}'] for r in TABLE_ROWS for s in STRATEGIES))}"
                      for p in dict.fromkeys(p for _, p in configs)))
    results["projected_total_seconds_all_precisions"] = total
    print(f"\nload average after: {_load()}; benchmark wall time: {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
