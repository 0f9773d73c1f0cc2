"""How fast is T? Forward + backward time of DiffAugment against its floor, the readable path and kornia.

Run from the repository root::

    python benchmarks/bench_augment.py                 # CPU, all torch threads
    python benchmarks/bench_augment.py --threads 1 --repeats 9
    python benchmarks/bench_augment.py --device cuda   # CUDA events, plus the GPU lesson preset

Every figure is the median over ``--repeats`` timed repeats (each repeat runs enough calls to last
about ``--min-time`` seconds), after warm-up. Timings on a shared machine move with its load: the
script prints the load average next to the figures; compare ratios rather than milliseconds.

Columns of the first table (all forward + backward of ``color,translation,cutout``, default strengths):

- ``fast``: ``DiffAugment(x)``, i.e. drawing the parameters and the fused path (what training calls);
  on the CPU its compiled kernel (``diffaug_lessons.augment_cpu``);
- ``apply``: the fused path alone, parameters drawn once beforehand;
- ``torch ops`` (CPU only): ``DiffAugment(x)`` with the fused path's torch ops instead of the kernel,
  what runs on CUDA, in bf16/fp16 and under ``torch.compile``;
- ``reference``: ``apply_reference(x, sample_params(x, ...))``, the readable per-op formulas;
- ``kornia``: the closest kornia pipeline (see :func:`kornia_pipeline`), when kornia is installed;
- ``floor``: one trivial elementwise pass ``x * 1.0`` forward + backward, what any T must at least cost.

The second table times one training step (one D step + one G step) of the lesson presets with
strategy "none" and "diffaugment" (alternating repeats in one process), and measures each one's peak
memory in a fresh process of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from diffaug_lessons import augment_cpu  # noqa: E402
from diffaug_lessons.augment import DiffAugment, apply, apply_reference, sample_params  # noqa: E402

POLICY = "color,translation,cutout"
SHAPES = ((64, 3, 32, 32), (64, 3, 64, 64), (32, 3, 128, 128))


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_calls(fn: Callable[[], object], calls: int, device: torch.device, clock: str) -> float:
    """Seconds per call of ``fn`` averaged over ``calls`` back-to-back calls (CUDA: events)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000 / calls
    now = time.process_time if clock == "cpu" else time.perf_counter
    begin = now()
    for _ in range(calls):
        fn()
    return (now() - begin) / calls


def median_times(
    closures: dict[str, Callable[[], object]], device: torch.device, repeats: int, min_time: float, clock: str
) -> dict[str, float]:
    """Median seconds per call of each closure over ``repeats`` timed repeats, after warm-up.

    Each repeat of a closure lasts about ``min_time``; the repeats of the closures alternate, so
    that a change in the machine's load hits all of them alike.
    """
    calls = {}
    for name, fn in closures.items():
        for _ in range(3):
            fn()
        _synchronize(device)
        once = _time_calls(fn, 1, device, clock)
        calls[name] = max(1, int(min_time / max(once, 1e-7)))
    samples: dict[str, list[float]] = {name: [] for name in closures}
    for _ in range(repeats):
        for name, fn in closures.items():
            samples[name].append(_time_calls(fn, calls[name], device, clock))
    return {name: statistics.median(times) for name, times in samples.items()}


def forward_backward(transform: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    """A closure running ``transform(x)`` and its backward pass with a fixed upstream gradient."""
    upstream = torch.randn_like(x)

    def step() -> None:
        x.grad = None
        transform(x).backward(upstream)

    return step


# ---------------------------------------------------------------------------
# The contenders
# ---------------------------------------------------------------------------


def kornia_pipeline() -> Callable[[torch.Tensor], torch.Tensor] | None:
    """kornia's nearest equivalent of ``color,translation,cutout``, or None without kornia.

    - ``ColorJitter(brightness=0.5, contrast=0.5, saturation=1.0, order=brightness, contrast, saturation)``:
      brightness shift in [-0.5, 0.5], contrast and saturation factors in [0.5, 1.5] and [0, 2]
      (kornia clamps to [0, 1] afterwards, DiffAugment does not);
    - ``RandomAffine(degrees=0, translate=(1/8, 1/8), resample="nearest", padding_mode="zeros")``:
      a shift of up to 1/8 of the side through an affine grid sample, zero padding;
    - ``RandomErasing(scale=(1/4, 1/4), ratio=(1, 1), value=0)``: a square of half the side set to 0
      (kornia keeps the square inside the image, DiffAugment may clip it at the border).

    Every op with p=1, as in DiffAugment. kornia expects images in [0, 1]; that does not change the cost.
    """
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    return torch.nn.Sequential(
        K.ColorJitter(brightness=0.5, contrast=0.5, saturation=1.0, p=1.0, order=[0, 1, 2]),
        K.RandomAffine(degrees=0.0, translate=(0.125, 0.125), resample="nearest", padding_mode="zeros", p=1.0),
        K.RandomErasing(scale=(0.25, 0.25), ratio=(1.0, 1.0), value=0.0, p=1.0),
    )


def _with_torch_ops(x: torch.Tensor) -> torch.Tensor:
    """The fast path with its torch ops instead of the compiled CPU kernel (what CUDA and bf16 run)."""
    with augment_cpu.disabled():
        out = DiffAugment(x, POLICY)
    return out  # its backward runs the torch ops too: they are recorded in the graph


def augment_rows(device: torch.device, repeats: int, min_time: float, clock: str) -> list[dict[str, object]]:
    kornia_T = kornia_pipeline()
    rows = []
    for shape in SHAPES:
        x = (torch.rand(shape, device=device) * 2 - 1).requires_grad_(True)
        params = sample_params(x, POLICY)
        contenders: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
            "fast": lambda x: DiffAugment(x, POLICY),
            "apply": lambda x, params=params: apply(x, params),
            "reference": lambda x: apply_reference(x, sample_params(x, POLICY)),
            "floor": lambda x: x * 1.0,
        }
        if device.type == "cpu":
            contenders["torch ops"] = _with_torch_ops
        if kornia_T is not None:
            contenders["kornia"] = kornia_T
        closures = {name: forward_backward(transform, x) for name, transform in contenders.items()}
        times = median_times(closures, device, repeats, min_time, clock)
        rows.append({"shape": "x".join(map(str, shape)), **{name: t * 1000 for name, t in times.items()}})
    return rows


# ---------------------------------------------------------------------------
# A training step of the lesson presets, in a fresh process per strategy
# ---------------------------------------------------------------------------


def _current_rss_mib() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: no baseline
        return float("nan")


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _experiment(preset: str, strategy: str, device: str):  # -> diffaug_lessons.train.Experiment
    from diffaug_lessons.train import Experiment, lesson_config

    return Experiment(lesson_config(preset, strategy=strategy, device=device))


def peak_memory_of_training(preset: str, strategy: str, device: str, steps: int = 20) -> dict[str, float]:
    """Peak memory of this (fresh) process while training ``steps`` steps: RSS, and CUDA allocations."""
    rss_before = _current_rss_mib()
    experiment = _experiment(preset, strategy, device)
    for _ in range(steps):
        experiment.run_step()
    result = {"peak_rss_mib": _peak_rss_mib(), "rss_before_mib": rss_before}
    if experiment.device.type == "cuda":
        torch.cuda.synchronize(experiment.device)
        result["cuda_peak_mib"] = torch.cuda.max_memory_allocated(experiment.device) / 2**20
    return result


def train_row(preset: str, device: str, repeats: int, min_time: float, threads: int, clock: str) -> dict[str, object]:
    """ms per ``Experiment.run_step()`` (one D step + one G step) for strategy "none" and "diffaugment".

    Both experiments live in this process and their timed repeats alternate, so that a change of the
    machine's load hits both alike. Peak memory comes from one fresh process per strategy.
    """
    row: dict[str, object] = {"preset": preset}
    try:
        experiments = {strategy: _experiment(preset, strategy, device) for strategy in ("none", "diffaugment")}
    except Exception as error:  # a preset this machine cannot run (e.g. no dataset): say so, keep the table
        row["error"] = f"{type(error).__name__}: {error}"
        return row
    steps = {strategy: experiment.run_step for strategy, experiment in experiments.items()}
    for _ in range(5):  # warm-up: allocator, optimiser state, lazy initialisations
        for step in steps.values():
            step()
    times = median_times(steps, experiments["none"].device, repeats, min_time, clock)
    for strategy in experiments:
        row[strategy] = {"ms": times[strategy] * 1000}
        command = [sys.executable, __file__, "--_peak-memory", preset, strategy, "--device", device,
                   "--threads", str(threads)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            row[strategy].update(json.loads(done.stdout.strip().splitlines()[-1]))
        else:
            row["error"] = f"{strategy} peak memory: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return row


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} CPUs"
    except OSError:
        pass
    return f"CPU, {os.cpu_count()} CPUs"


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" (1/5/15 min) on {os.cpu_count()} CPUs"
    except OSError:
        return "unknown"


def print_augment_table(rows: list[dict[str, object]]) -> None:
    has_kornia = "kornia" in rows[0]
    names = ["fast", "apply"] + (["torch ops"] if "torch ops" in rows[0] else []) + ["reference"]
    names += (["kornia"] if has_kornia else []) + ["floor"]
    header = f"{'N x C x H x W':<14}" + "".join(f"{n + ' ms':>13}" for n in names)
    header += f"{'fast/floor':>12}{'ref/fast':>10}" + (f"{'kornia/fast':>13}" if has_kornia else "")
    print(header)
    for row in rows:
        line = f"{row['shape']:<14}" + "".join(f"{row[n]:>13.3f}" for n in names)
        line += f"{row['fast'] / row['floor']:>12.1f}{row['reference'] / row['fast']:>10.1f}"
        if has_kornia:
            line += f"{row['kornia'] / row['fast']:>13.1f}"
        print(line)


def print_train_table(rows: list[dict[str, object]]) -> None:
    print(f"{'preset':<8}{'none ms':>10}{'diffaug ms':>12}{'T overhead':>12}{'peak RSS none / diffaug':>27}"
          f"{'CUDA peak none / diffaug':>27}")
    for row in rows:
        if "error" in row:
            print(f"{row['preset']:<8} failed: {row['error']}")
            continue
        none, diffaug = row["none"], row["diffaugment"]
        overhead = (diffaug["ms"] - none["ms"]) / diffaug["ms"] * 100
        line = f"{row['preset']:<8}{none['ms']:>10.2f}{diffaug['ms']:>12.2f}{overhead:>11.1f}%"
        line += f"{none['peak_rss_mib']:>14.0f} / {diffaug['peak_rss_mib']:.0f} MiB"
        if "cuda_peak_mib" in none:
            line += f"{none['cuda_peak_mib']:>15.1f} / {diffaug['cuda_peak_mib']:.1f} MiB"
        print(line)
    print("T overhead = (diffaugment - none) / diffaugment step time: three calls of T per step "
          "(reals and fakes in the D step, fakes in the G step) and the backward through T into G.")
    before = next((row["none"]["rss_before_mib"] for row in rows if "rss_before_mib" in row.get("none", {})), float("nan"))
    print(f"Peak RSS: the whole process (Python, torch, data, models) over 20 steps; {before:.0f} MiB before the "
          "experiment was built. Step times: medians of alternating repeats, both experiments in one process.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per figure; the median is shown")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds each timed repeat lasts at least")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="CPU timings: wall clock, or this process's CPU time (steadier on a busy machine; "
                             "with --threads 1 it is the work done, without the time others held the CPU)")
    parser.add_argument("--skip-train", action="store_true", help="only the transform table")
    parser.add_argument("--_peak-memory", nargs=2, metavar=("PRESET", "STRATEGY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args._peak_memory:  # child process: one preset and strategy, JSON on the last line
        print(json.dumps(peak_memory_of_training(*args._peak_memory, args.device)))
        return

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available in this torch build / on this machine")
    print("command:", shlex.join([sys.executable, *sys.argv]))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device} ({name})")
    try:
        import kornia

        print(f"kornia {kornia.__version__}: ColorJitter(brightness 0.5, contrast 0.5, saturation 1) + RandomAffine("
              "translate 1/8, nearest, zeros) + RandomErasing(square of 1/4 the area, value 0), all with p=1")
    except ImportError:
        print("kornia not installed: no kornia column (pip install kornia)")
    print(f"load average before: {_load()}")
    clock = "CUDA events" if device.type == "cuda" else {"wall": "wall clock", "cpu": "process CPU time"}[args.clock]
    print(f"{clock}; median of {args.repeats} alternating repeats, each at least {args.min_time} s; "
          f"forward + backward of {POLICY!r}\n")

    print_augment_table(augment_rows(device, args.repeats, args.min_time, args.clock))
    print(f"\nload average after: {_load()}")
    if args.skip_train:
        return
    presets = ["cpu"] + (["gpu"] if device.type == "cuda" else [])
    print("\nOne training step (D step + G step) of the lesson presets, Experiment.run_step():")
    rows = [train_row(preset, args.device, args.repeats, args.min_time, args.threads, args.clock) for preset in presets]
    print_train_table(rows)
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
