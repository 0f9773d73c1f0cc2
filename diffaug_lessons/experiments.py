"""The experiments behind the lessons, and the measures that turn pictures into numbers.

- ``artifact_measures``: how often samples show the augmentation's traces (flat
  mid-grey cutout squares, mid-grey translation borders, shifted colour statistics).
- ``summarise``: the last evaluation of a run, averaged over its final rows so one
  noisy evaluation does not decide a lesson.
- ``reproduce``: the four strategies at several data amounts, with a markdown report
  and figures; ``python -m diffaug_lessons reproduce`` calls it.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .metrics import FidKid, feature_network, nearest_neighbours
from .recipe import lesson_fields
from .train import STRATEGIES, TrainConfig, lesson_config, load_split

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
    to_original, _ = nearest_neighbours(samples, train_images)
    to_mirrored, _ = nearest_neighbours(samples, train_images.flip(3))
    return to_mirrored < to_original


def nearest_rotation(samples: Tensor, train_images: Tensor) -> Tensor:
    """Per sample: how many quarter turns (0-3) the nearest training image must be rotated by.

    0 means the sample sits closest to an upright training image. A generator into which a
    random 90-degree rotation has leaked produces samples whose nearest match is rotated.
    """
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
# The 100 faces are already the paper's 100-shot setting: they train whole (lesson 08).
FACES_AMOUNTS = ("all",)


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


def spread(values: Sequence[float], digits: int = 1) -> str:
    """'mean ± standard deviation' over seeds (just the value for one seed)."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


@dataclass
class GridResult:
    """The runs of a grid, keyed by (strategy, amount, seed)."""

    configs: dict[tuple[str, str, int], TrainConfig]
    runs: dict[tuple[str, str, int], Any]  # runs.Run
    seeds: tuple[int, ...] = (0,)

    def summary(self, strategy: str, amount: str, seed: int) -> dict[str, float]:
        """The averaged last evaluations of one run (see :func:`summarise`)."""
        return summarise(self.runs[(strategy, amount, seed)].history)

    def summaries(self, strategy: str, amount: str) -> list[dict[str, float]]:
        """:meth:`summary` for every seed, in seed order."""
        return [self.summary(strategy, amount, seed) for seed in self.seeds]


def run_grid(
    strategies: Sequence[str] = STRATEGIES,
    amounts: Sequence[str] = ("100",),
    preset: str | None = None,
    retrain: bool = False,
    seeds: int | Sequence[int] = 1,
    **overrides: Any,
) -> GridResult:
    """Train (or load from the cache) every strategy x amount ('all', '20%', '100') x seed.

    ``seeds``: how many (seeds 0, 1, ...) or which. A seed changes everything random in a run: the
    training subset, the held-out set, the initial weights, the batches and T's draws. Runs missing
    from the cache train side by side (:func:`diffaug_lessons.runs.train_many`).
    """
    from .runs import seed_list, train_many

    chosen = seed_list(seeds)
    configs = {
        (strategy, amount, seed): lesson_config(preset, strategy=strategy, seed=seed, **parse_amount(amount), **overrides)
        for amount in amounts for strategy in strategies for seed in chosen
    }
    return GridResult(configs, train_many(configs, retrain=retrain), chosen)


# ---------------------------------------------------------------------------
# T's strength swept
# ---------------------------------------------------------------------------

SWEEP_STRENGTHS = (0.0, 0.5, 1.0, 2.0)
SWEEP_STRATEGIES = ("reals_only", "d_only", "diffaugment")


def strength_config(base: TrainConfig, strategy: str, strength: float) -> TrainConfig:
    """``base`` with its T at ``strength`` times ``base``'s own strengths, all of its ops scaled together.

    Strength s: shifts, cutout squares and colour ranges s times those of ``base`` (the lessons' recipe,
    :func:`diffaug_lessons.recipe.lesson_fields`); a field whose op the policy does not use stays as it
    is, so the run is the very run of any config with the same T. s = 1 is ``base`` itself (the lessons'
    other runs: they share the cache); s = 0 is no T at all, which is the baseline for every strategy;
    s = 2 doubles everything (within each field's range: a shift of at most the whole side, a cutout
    square at most the image, colour ranges at most twice the official ones).
    """
    from .augment import COLOR_OPS, parse_policy

    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 2:
        raise ValueError(f"strength must be a number in [0, 2]; got {strength!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if strength == 0 or strategy == "none":
        return base.without_t()
    if strength == 1:
        return base.replace(strategy=strategy)
    ops = set(parse_policy(base.policy))
    scaled = {}
    if "translation" in ops:
        scaled["translation_ratio"] = min(1.0, base.translation_ratio * strength)
    if "cutout" in ops:
        scaled["cutout_ratio"] = min(1.0, base.cutout_ratio * strength)
    if ops & set(COLOR_OPS):
        scaled["color_strength"] = min(2.0, base.color_strength * strength)
    return base.replace(strategy=strategy, **scaled)


def strength_sweep(
    preset: str | None = None,
    strengths: Sequence[float] = SWEEP_STRENGTHS,
    strategies: Sequence[str] = SWEEP_STRATEGIES,
    seeds: int | Sequence[int] = 2,
    retrain: bool = False,
    progress: bool = True,
    **overrides: Any,
) -> dict[tuple[str, float, int], Any]:
    """Train (or load) every strategy x strength x seed on the lessons' 100-image setting.

    Returns runs keyed (strategy, strength, seed); strength 0 is the same baseline run under every
    strategy (trained once).
    """
    from .runs import seed_list, train_many

    chosen = seed_list(seeds)
    base = lesson_config(preset, **{"n_train": 100, **lesson_fields("digits"), **overrides})
    wanted = {(strategy, float(strength), seed): strength_config(base, strategy, strength).replace(seed=seed)
              for strategy in strategies for strength in strengths for seed in chosen}
    unique: dict[str, TrainConfig] = {}
    for config in wanted.values():
        unique.setdefault(config.key(), config)
    trained = train_many(unique, retrain=retrain, progress=progress)
    return {key: trained[config.key()] for key, config in wanted.items()}


def _amount_label(config: TrainConfig, total: int) -> str:

    n = len(load_split(config)[0])
    return f"{n} ({100 * n / total:.0f}%)"


def reproduce(
    preset: str | None = None,
    dataset: str = "digits",
    amounts: Sequence[str] | None = None,
    steps: int | None = None,
    out: str | Path = "report",
    retrain: bool = False,
    seeds: int = 1,
) -> Path:
    """Train the four strategies at each amount over ``seeds`` seeds and write ``out/report.md``.

    Returns the report's path. Each number is a mean ± standard deviation over the seeds, and each of
    the paper's four findings is stated with the count of seeds in which it holds ("in 3 of 3 seeds").
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import plot_d_outputs, show_grids

    started = time.perf_counter()
    preset_name = preset or _preset_name()
    default_amounts = FACES_AMOUNTS if dataset == "faces" else DEFAULT_AMOUNTS[preset_name]
    chosen = [str(a) for a in amounts] if amounts else list(default_amounts)
    overrides: dict[str, Any] = {"dataset": dataset}
    if steps is not None:
        overrides["steps"] = steps
    grid = run_grid(STRATEGIES, chosen, preset, retrain, seeds, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    first = grid.configs[(STRATEGIES[0], chosen[0], grid.seeds[0])]
    pool = len(load_split(first.replace(n_train=None, fraction=None))[0])
    n_seeds = len(grid.seeds)

    command = f"python -m diffaug_lessons reproduce --preset {preset_name} --dataset {dataset}"
    command += f" --amounts {' '.join(chosen)}" + (f" --steps {steps}" if steps else "") + f" --seeds {n_seeds}"
    lines = [
        "# DiffAugment lessons: reproduction report",
        "",
        f"Command: `{command}`",
        f"Dataset {dataset} at {first.resolution}px, {first.steps} steps per run, policy `{first.policy}`, "
        + (f"held-out reals: {first.n_heldout}" if dataset != "faces" else
         "held-out reals: none; FID/KID and D's 'held-out' verdict use the training faces (the paper's 100-shot "
         "protocol), so D's train/held-out gap is 0 by construction")
        + f"; {n_seeds} seed(s) ({', '.join(map(str, grid.seeds))}). Each number is the mean of the last three "
        "evaluations of a run" + (", then mean ± standard deviation over the seeds." if n_seeds > 1 else "."),
        "",
        "| training images | strategy | FID | KID | D acc. train reals | D acc. held-out reals | D acc. G(z) "
        "| D acc. T(G(z)) | cutout-like patches |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cut = int(first.resolution * first.cutout_ratio + 0.5)
    patches: dict[tuple[str, str], list[float]] = {}
    for amount in chosen:
        for strategy in STRATEGIES:
            patches[(strategy, amount)] = [
                artifact_measures(_samples(grid.runs[(strategy, amount, seed)], 500, first.z_dim), cut)["cutout_patches"]
                for seed in grid.seeds
            ]
            rows = grid.summaries(strategy, amount)
            label = _amount_label(grid.configs[(strategy, amount, grid.seeds[0])], pool)
            cells = [spread([r["fid"] for r in rows]), spread([r["kid"] for r in rows])]
            cells += [spread([r[k] for r in rows], 2) for k in ("acc_train", "acc_heldout", "acc_fake", "acc_fake_aug")]
            cells.append(spread(patches[(strategy, amount)], 2))
            lines.append(f"| {label} | {STRATEGY_LABELS[strategy]} | " + " | ".join(cells) + " |")

    smallest = chosen[-1]
    base, diff = grid.summaries("none", smallest), grid.summaries("diffaugment", smallest)
    d_only = grid.summaries("d_only", smallest)
    gap = [b["acc_train"] - b["acc_heldout"] for b in base]
    diff_gap = [d["acc_train"] - d["acc_heldout"] for d in diff]
    reals_patches, base_patches = patches[("reals_only", smallest)], patches[("none", smallest)]
    d_only_split = [d["acc_fake_aug"] - d["acc_fake"] for d in d_only]
    checks = [
        ("D overfits: accuracy on training reals above held-out reals by > 0.2 (baseline)",
         [g > 0.2 for g in gap], "gap " + ", ".join(f"{g:.2f}" for g in gap)),
        ("DiffAugment narrows that gap", [d < g for d, g in zip(diff_gap, gap)],
         "gap " + ", ".join(f"{d:.2f} vs {g:.2f}" for d, g in zip(diff_gap, gap))),
        ("T on reals only paints cutout-like patches into G's samples",
         [r > b + 0.1 for r, b in zip(reals_patches, base_patches)],
         ", ".join(f"{r:.2f} vs {b:.2f}" for r, b in zip(reals_patches, base_patches)) + " of samples (baseline second)"),
        ("T in the D step only: D right on T(G(z)), wrong on G(z) (split > 0.3)", [v > 0.3 for v in d_only_split],
         ", ".join(f"{d['acc_fake_aug']:.2f} on T(G(z)) vs {d['acc_fake']:.2f} on G(z)" for d in d_only)),
        ("DiffAugment's FID and KID beat the baseline's",
         [d["fid"] < b["fid"] and d["kid"] < b["kid"] for d, b in zip(diff, base)],
         "FID " + ", ".join(f"{d['fid']:.1f} vs {b['fid']:.1f}" for d, b in zip(diff, base))),
        ("T in the D step only: FID worse than the baseline's", [d["fid"] > b["fid"] for d, b in zip(d_only, base)],
         "FID " + ", ".join(f"{d['fid']:.1f} vs {b['fid']:.1f}" for d, b in zip(d_only, base))),
    ]
    lines += ["", f"## The paper's findings at {_amount_label(grid.configs[('none', smallest, grid.seeds[0])], pool)} "
              "training images, seed by seed", ""]
    for text, holds, numbers in checks:
        count = sum(holds)
        mark = "x" if count == n_seeds else ("~" if count else " ")
        lines.append(f"- [{mark}] {text}: in {count} of {n_seeds} seeds ({numbers})")

    if dataset != "faces":
        real = real_reference(grid.configs[("none", smallest, grid.seeds[0])])
        lines += ["", f"For scale: the {real['n_train']} training reals of seed {grid.seeds[0]} against the "
                  f"{real['n_heldout']} held-out reals score FID {real['fid']:.1f}, KID {real['kid']:.1f}."]
    seed = grid.seeds[0]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, strategy in zip(axes, STRATEGIES):
        plot_d_outputs(grid.runs[(strategy, smallest, seed)].history, ax, STRATEGY_LABELS[strategy])
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "d_outputs.png", dpi=100)
    plt.close(fig)
    fig = show_grids({STRATEGY_LABELS[s]: _samples(grid.runs[(s, smallest, seed)], 64, first.z_dim) for s in STRATEGIES})
    fig.savefig(out / "samples.png", dpi=100)
    plt.close(fig)
    lines += [
        "", f"Figures: seed {seed}.", "", "![D outputs](d_outputs.png)", "", "![samples](samples.png)", "",
        f"Wall time of this command: {time.perf_counter() - started:.0f} s (cached runs load instantly).",
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def _samples(run: Any, n: int, z_dim: int) -> Tensor:
    """``n`` samples of a run's generator from a fixed z (the same z for every run)."""
    with torch.no_grad():
        return run.generator()(torch.randn(n, z_dim, generator=torch.Generator().manual_seed(7)))


def _preset_name() -> str:
    from . import settings
    from .train import default_device_preset

    return "quick" if settings.quick_mode() else default_device_preset()


# ---------------------------------------------------------------------------
# The real-vs-real scale
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _real_reference(config_json: str) -> dict[str, float]:
    config = TrainConfig.from_dict(json.loads(config_json))
    train_set, heldout = load_split(config)
    n = min(len(train_set), config.n_eval_samples)
    fidkid = FidKid(feature_network(config.dataset, config.resolution), heldout.images)
    fid, kid = fidkid.score(train_set.images[:n])
    return {"fid": fid, "kid": kid, "n_train": n, "n_heldout": len(heldout)}


def real_reference(config: TrainConfig) -> dict[str, float]:
    """FID and KID of the training reals against the held-out reals, with the evaluation's feature network.

    What a generator that copies its training set would score: the scale for "good" on a FID/KID plot.
    At most ``n_eval_samples`` training reals (the run's fakes count); with 100 training images, 100.
    """
    return dict(_real_reference(json.dumps(config.to_dict(), sort_keys=True)))
