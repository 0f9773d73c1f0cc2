"""Lesson 08's experiment: 100-shot generation of real faces, its settings and its runs.

The paper's 100-shot protocol on the 100 LFW faces (:func:`diffaug_lessons.data.faces`): every face
trains, and FID/KID compare a fixed number of samples with those same 100 faces. Two settings, each
with :data:`SEEDS`: ``baseline (no T)`` and ``DiffAugment``, both with the paper's x-flip of the reals
and the training settings and T that the recipe study chose for the faces (:mod:`diffaug_lessons.recipe`).
(ADA, p adapting towards r_t = 0.6, is an exercise of the lesson:
``faces_config("DiffAugment", seed).replace(p=0.0, ada_target=0.6)``.)
"""

from __future__ import annotations

from typing import Any

from .errors import check_choice
from .recipe import FACES_CPU_SIZES as CPU_SIZES  # noqa: F401  (lesson 08 prints them)
from .recipe import FACES_RECIPE as RECIPE  # noqa: F401
from .recipe import STUDIES, chosen
from .train import TrainConfig

SETTINGS: dict[str, dict[str, Any]] = {
    "baseline (no T)": dict(strategy="none"),
    "DiffAugment": dict(strategy="diffaugment"),
}
SEEDS = (0, 1, 2)


def faces_config(setting: str, seed: int = 0, preset: str | None = None) -> TrainConfig:
    """The TrainConfig of one of :data:`SETTINGS` with ``seed``: the faces study's chosen candidate
    (:func:`diffaug_lessons.recipe.chosen`) for the preset."""
    check_choice("setting", setting, SETTINGS)
    configs = STUDIES["faces"].configs(chosen("faces").name, preset, seed)
    return configs["baseline" if SETTINGS[setting]["strategy"] == "none" else "DiffAugment"]


def train_or_load(retrain: bool = False, preset: str | None = None) -> dict[tuple[str, int], Any]:
    """Every setting x seed, trained (side by side, one per core) or loaded from the run cache: runs.Run by
    (setting, seed)."""
    from .runs import train_many

    configs = {(setting, seed): faces_config(setting, seed, preset) for seed in SEEDS for setting in SETTINGS}
    return train_many(configs, retrain=retrain)
