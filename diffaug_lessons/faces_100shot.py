"""Lesson 08's experiment: 100-shot generation of real faces, its settings and its runs.

The paper's 100-shot protocol on the 100 LFW faces (:func:`diffaug_lessons.data.faces`): every face
trains, and FID/KID compare a fixed number of samples with those same 100 faces. Two settings, each
with :data:`SEEDS`: ``baseline (no T)`` and ``DiffAugment`` (color,translation,cutout, p = 1), both
with the paper's x-flip of the reals. (ADA, p adapting towards r_t = 0.6, is an exercise of the
lesson: ``faces_config("DiffAugment", seed).replace(p=0.0, ada_target=0.6)``.)
"""

from __future__ import annotations

from typing import Any

from . import settings
from .errors import check_choice
from .train import TrainConfig, default_device_preset, lesson_config

SETTINGS: dict[str, dict[str, Any]] = {
    "baseline (no T)": dict(strategy="none"),
    "DiffAugment": dict(strategy="diffaugment"),
}
SEEDS = (0, 1, 2)
# The small DCGAN learns the low-contrast faces far too slowly at the digits' lr of 2e-4 (after 1,000
# steps still one grey texture); at 1e-3 faces appear within 400 steps. EMA over ~100 steps, not 1,000:
# the runs are short.
RECIPE = dict(lr_g=1e-3, lr_d=1e-3, ema_decay=0.99)
# 16x16, 800 steps: about 2 minutes per run on one core of an idle machine (lesson 08 measures it).
CPU_SIZES = dict(steps=800, eval_every=100, n_eval_samples=500)


def faces_config(setting: str, seed: int = 0, preset: str | None = None) -> TrainConfig:
    """The TrainConfig of one of :data:`SETTINGS` with ``seed``: the preset's, with :data:`RECIPE`, and for the cpu
    preset :data:`CPU_SIZES`."""
    check_choice("setting", setting, SETTINGS)
    preset = preset or ("quick" if settings.quick_mode() else default_device_preset())
    sizes = CPU_SIZES if preset == "cpu" else {}
    return lesson_config(preset, dataset="faces", n_train=None, flip_reals=True, policy="color,translation,cutout",
                         seed=seed, **SETTINGS[setting], **RECIPE, **sizes)


def train_or_load(retrain: bool = False, preset: str | None = None) -> dict[tuple[str, int], Any]:
    """Every setting x seed, trained (side by side, one per core) or loaded from the run cache: runs.Run by
    (setting, seed)."""
    from .runs import train_many

    configs = {(setting, seed): faces_config(setting, seed, preset) for seed in SEEDS for setting in SETTINGS}
    return train_many(configs, retrain=retrain)
