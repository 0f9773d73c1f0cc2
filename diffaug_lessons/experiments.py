"""The experiments behind the lessons, and the measures that turn pictures into numbers.

- ``artifact_measures``: how often samples show the augmentation's traces (flat
  mid-grey cutout squares, mid-grey translation borders, shifted colour statistics).
- ``summarise``: the last evaluation of a run, averaged over its final rows so one
  noisy evaluation does not decide a lesson.
- ``reproduce``: the four strategies at several data amounts, with a markdown report
  and figures; ``python -m diffaug_lessons reproduce`` calls it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .train import STRATEGIES, TrainConfig, lesson_config

Tensor = torch.Tensor

# Strategy names as the paper's tables print them.
STRATEGY_LABELS = {
    "none": "baseline (no T)",
    "reals_only": "T on reals only",
    "d_only": "T in D step only",
    "diffaugment": "DiffAugment",
}


# ---------------------------------------------------------------------------
# Artifacts of an augmentation in generated images
# ---------------------------------------------------------------------------


def flat_grey_patch(images: Tensor, side: int, tolerance: float = 0.2) -> Tensor:
    """Per image: does it hold a side x side square of mid-grey (|x| <= tolerance, every channel)?

    Cutout fills its square with 0, which is mid-grey in [-1, 1]; a generator that learnt
    cutout paints such squares. Returns a bool tensor (N,).
    """
    grey = (images.abs() <= tolerance).all(dim=1, keepdim=True).float()
    side = max(1, min(side, images.shape[-1], images.shape[-2]))
    fully_grey = F.avg_pool2d(grey, side, stride=1) >= 1 - 1e-6
    return fully_grey.flatten(1).any(dim=1)


def grey_border(images: Tensor, tolerance: float = 0.2) -> Tensor:
    """Per image: is a whole outer row or column mid-grey (the zero padding of translation)?"""
    grey = (images.abs() <= tolerance).all(dim=1)  # (N, H, W)
    edges = torch.stack([grey[:, 0, :].all(1), grey[:, -1, :].all(1), grey[:, :, 0].all(1), grey[:, :, -1].all(1)])
    return edges.any(dim=0)


def colour_statistics(images: Tensor) -> dict[str, float]:
    """Colour statistics of a set of images.

    ``brightness``: mean pixel value; ``brightness_spread``: how much the per-image mean varies
    from image to image (brightness augmentation widens it); ``saturation``: mean spread across
    channels (0 for grayscale); ``contrast``: mean per-image pixel std.
    """
    per_image_mean = images.flatten(1).mean(dim=1)
    return {
        "brightness": per_image_mean.mean().item(),
        "brightness_spread": per_image_mean.std().item(),
        "saturation": images.std(dim=1).mean().item() if images.shape[1] > 1 else 0.0,
        "contrast": images.flatten(1).std(dim=1).mean().item(),
    }


def closer_to_mirrored(samples: Tensor, train_images: Tensor) -> Tensor:
    """Per sample: is its nearest neighbour a *mirrored* training image rather than an original?

    Digits are not mirror-symmetric, so for samples of a healthy generator this is mostly False
    (True only where a digit looks alike both ways, like 0, 1 or 8).
    """
    from .metrics import nearest_neighbours

    to_original, _ = nearest_neighbours(samples, train_images)
    to_mirrored, _ = nearest_neighbours(samples, train_images.flip(3))
    return to_mirrored < to_original


def nearest_rotation(samples: Tensor, train_images: Tensor) -> Tensor:
    """Per sample: how many quarter turns (0-3) the nearest training image must be rotated by.

    0 means the sample sits closest to an upright training image. A generator into which a
    random 90-degree rotation has leaked produces samples whose nearest match is rotated.
    """
    from .metrics import nearest_neighbours

    distances = torch.stack([nearest_neighbours(samples, torch.rot90(train_images, k, dims=(2, 3)))[0] for k in range(4)])
    return distances.argmin(dim=0)


def artifact_measures(samples: Tensor, cutout_side: int) -> dict[str, float]:
    """Fractions of ``samples`` with a cutout-like grey square and with a grey border,
    plus their colour statistics."""
    return {
        "cutout_patches": flat_grey_patch(samples, max(2, cutout_side // 2)).float().mean().item(),
        "grey_borders": grey_border(samples).float().mean().item(),
        **colour_statistics(samples),
    }


# ---------------------------------------------------------------------------
# Summaries of runs
# ---------------------------------------------------------------------------

SUMMARY_KEYS = (
    "fid", "kid", "d_train", "d_heldout", "d_fake", "d_fake_aug", "acc_train", "acc_heldout", "acc_fake",
    "acc_fake_aug", "acc_train_aug", "d_gap",
)


def summarise(history: Sequence[dict[str, float]], last: int = 3) -> dict[str, float]:
    """Average of the final ``last`` evaluations for each key in SUMMARY_KEYS."""
    rows = list(history)[-last:]
    return {key: sum(row[key] for row in rows) / len(rows) for key in SUMMARY_KEYS}


# ---------------------------------------------------------------------------
# The grid behind the lessons
# ---------------------------------------------------------------------------

DEFAULT_AMOUNTS = {"cpu": ("all", "20%", "100"), "gpu": ("all", "20%", "10%"), "quick": ("100",),
                   "biggan-cifar": ("all", "20%", "10%")}


def parse_amount(amount: str | int | None) -> dict[str, Any]:
    """'all' -> every training image, '20%' -> a fraction, '100' -> a count; as TrainConfig fields."""
    text = "all" if amount is None else str(amount).strip()
    if text == "all":
        return {"n_train": None, "fraction": None}
    try:
        if text.endswith("%"):
            return {"n_train": None, "fraction": float(text[:-1]) / 100}
        return {"n_train": int(text), "fraction": None}
    except ValueError:
        raise ValueError(
            f"data amount {amount!r} is not understood; use 'all', a percentage like '20%' or a count like '100'"
        ) from None


@dataclass
class GridResult:
    configs: dict[tuple[str, str], TrainConfig]
    runs: dict[tuple[str, str], Any]  # runs.Run

    def summary(self, strategy: str, amount: str) -> dict[str, float]:
        return summarise(self.runs[(strategy, amount)].history)


def run_grid(
    strategies: Sequence[str] = STRATEGIES,
    amounts: Sequence[str] = ("100",),
    preset: str | None = None,
    retrain: bool = False,
    **overrides: Any,
) -> GridResult:
    """Train (or load from the cache) every strategy x amount ('all', '20%', '100') with the preset's settings."""
    from .runs import cached_train

    configs, runs = {}, {}
    for amount in amounts:
        for strategy in strategies:
            config = lesson_config(preset, strategy=strategy, **parse_amount(amount), **overrides)
            configs[(strategy, amount)] = config
            runs[(strategy, amount)] = cached_train(config, retrain=retrain)
    return GridResult(configs, runs)


def _amount_label(config: TrainConfig, total: int) -> str:
    from .train import load_split

    n = len(load_split(config)[0])
    return f"{n} ({100 * n / total:.0f}%)"


def reproduce(
    preset: str | None = None,
    dataset: str = "digits",
    amounts: Sequence[str] | None = None,
    steps: int | None = None,
    out: str | Path = "report",
    retrain: bool = False,
) -> Path:
    """Train the four strategies at each amount and write ``out/report.md`` with figures.

    Returns the report's path. The report states, with numbers, whether each of the paper's
    four findings shows in these runs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_d_outputs, show_grids
    from .train import load_split

    started = time.perf_counter()
    preset_name = preset or _preset_name()
    chosen = [str(a) for a in amounts] if amounts else list(DEFAULT_AMOUNTS[preset_name])
    overrides: dict[str, Any] = {"dataset": dataset}
    if steps is not None:
        overrides["steps"] = steps
    grid = run_grid(STRATEGIES, chosen, preset, retrain, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    first = grid.configs[(STRATEGIES[0], chosen[0])]
    pool = len(load_split(first.replace(n_train=None, fraction=None))[0])

    lines = [
        "# DiffAugment lessons: reproduction report",
        "",
        f"Command: `python -m diffaug_lessons reproduce --preset {preset_name} --dataset {dataset}`"
        + (f" --steps {steps}" if steps else ""),
        f"Dataset {dataset} at {first.resolution}px, {first.steps} steps per run, policy `{first.policy}`, "
        f"held-out reals: {first.n_heldout}.",
        "",
        "| training images | strategy | FID | KID | D acc. train reals | D acc. held-out reals | D acc. G(z) "
        "| D acc. T(G(z)) | cutout-like patches |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    patches: dict[tuple[str, int | None], float] = {}
    for amount in chosen:
        for strategy in STRATEGIES:
            run = grid.runs[(strategy, amount)]
            s = grid.summary(strategy, amount)
            samples = run.generator()(torch.randn(500, first.z_dim, generator=torch.Generator().manual_seed(7)))
            cut = int(first.resolution * first.cutout_ratio + 0.5)
            patches[(strategy, amount)] = artifact_measures(samples, cut)["cutout_patches"]
            label = _amount_label(grid.configs[(strategy, amount)], pool)
            lines.append(
                f"| {label} | {STRATEGY_LABELS[strategy]} | {s['fid']:.1f} | {s['kid']:.3f} | "
                f"{s['acc_train']:.2f} | {s['acc_heldout']:.2f} | {s['acc_fake']:.2f} | {s['acc_fake_aug']:.2f} | "
                f"{patches[(strategy, amount)]:.2f} |"
            )

    smallest = chosen[-1]
    base, diff = grid.summary("none", smallest), grid.summary("diffaugment", smallest)
    d_only = grid.summary("d_only", smallest)
    checks = [
        ("D overfits: accuracy on training reals above held-out reals (baseline, smallest amount)",
         base["acc_train"] - base["acc_heldout"] > 0.2,
         f"{base['acc_train']:.2f} vs {base['acc_heldout']:.2f}"),
        ("DiffAugment narrows that gap",
         diff["acc_train"] - diff["acc_heldout"] < base["acc_train"] - base["acc_heldout"],
         f"gap {diff['acc_train'] - diff['acc_heldout']:.2f} vs baseline {base['acc_train'] - base['acc_heldout']:.2f}"),
        ("T on reals only paints cutout-like patches into G's samples",
         patches[("reals_only", smallest)] > patches[("none", smallest)] + 0.1,
         f"{patches[('reals_only', smallest)]:.2f} of samples vs baseline {patches[('none', smallest)]:.2f}"),
        ("T in the D step only: D right on T(G(z)), wrong on G(z)",
         d_only["acc_fake_aug"] - d_only["acc_fake"] > 0.3,
         f"{d_only['acc_fake_aug']:.2f} on T(G(z)) vs {d_only['acc_fake']:.2f} on G(z)"),
        ("DiffAugment's FID and KID beat the baseline's (smallest amount)",
         diff["fid"] < base["fid"] and diff["kid"] < base["kid"],
         f"FID {diff['fid']:.1f} vs {base['fid']:.1f}, KID {diff['kid']:.3f} vs {base['kid']:.3f}"),
    ]
    lines += ["", f"## The paper's findings at {_amount_label(grid.configs[('none', smallest)], pool)} training images", ""]
    lines += [f"- [{'x' if ok else ' '}] {text}: {numbers}" for text, ok, numbers in checks]

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, strategy in zip(axes, STRATEGIES):
        plot_d_outputs(grid.runs[(strategy, smallest)].history, ax, STRATEGY_LABELS[strategy])
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "d_outputs.png", dpi=100)
    plt.close(fig)
    grids = {STRATEGY_LABELS[s]: grid.runs[(s, smallest)].generator()(
        torch.randn(64, first.z_dim, generator=torch.Generator().manual_seed(7))) for s in STRATEGIES}
    fig = show_grids(grids)
    fig.savefig(out / "samples.png", dpi=100)
    plt.close(fig)
    lines += [
        "", "![D outputs](d_outputs.png)", "", "![samples](samples.png)", "",
        f"Wall time of this command: {time.perf_counter() - started:.0f} s (cached runs load instantly).",
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def _preset_name() -> str:
    from . import settings
    from .train import default_device_preset

    return "quick" if settings.quick_mode() else default_device_preset()
