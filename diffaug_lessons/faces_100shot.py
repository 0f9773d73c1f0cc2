"""Lesson 08's experiment: 100-shot generation of real faces, its settings and its committed results.

The paper's 100-shot protocol on the 100 LFW faces (:func:`diffaug_lessons.data.faces`): every face
trains, and FID/KID compare a fixed number of samples with those same 100 faces. Two settings,
each with :data:`SEEDS`: ``baseline (no T)`` and ``DiffAugment`` (color,translation,cutout, p = 1),
both with the paper's x-flip of the reals. (ADA, p adapting towards r_t = 0.6, is an exercise of
the lesson: ``faces_config("DiffAugment", seed).replace(p=0.0, ada_target=0.6)``.)

:func:`faces_config` gives the TrainConfig of a setting and seed. The lesson trains seed 0 of each
setting on a laptop and draws the other seeds from the results committed with the package
(``faces_100shot.json``), unless they are in the run cache or it is asked to train them. That file
is made from the cached runs by ``python -m diffaug_lessons.faces_100shot``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
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
# 16x16: about 4 minutes per run on one laptop core (lesson 08 measures it).
CPU_SIZES = dict(steps=1500, eval_every=150, n_eval_samples=500)
COMMITTED = Path(__file__).with_name("faces_100shot.json")
# What the committed file keeps of each evaluation row.
COMMITTED_KEYS = ("step", "fid", "kid", "d_train", "d_fake", "d_fake_g", "acc_train", "acc_fake", "p", "r_t", "seconds")


def faces_config(setting: str, seed: int = 0, preset: str | None = None) -> TrainConfig:
    """The TrainConfig of one of :data:`SETTINGS` with ``seed``: the preset's, with :data:`RECIPE`, and for the cpu
    preset :data:`CPU_SIZES`."""
    check_choice("setting", setting, SETTINGS)
    preset = preset or ("quick" if settings.quick_mode() else default_device_preset())
    sizes = CPU_SIZES if preset == "cpu" else {}
    return lesson_config(preset, dataset="faces", n_train=None, flip_reals=True, policy="color,translation,cutout",
                         seed=seed, **SETTINGS[setting], **RECIPE, **sizes)


def committed_histories() -> dict[str, dict[int, dict[str, Any]]]:
    """setting -> seed -> {"config": the run's config (dict), "history": its rows (COMMITTED_KEYS)}."""
    if not COMMITTED.exists():
        return {}
    saved = json.loads(COMMITTED.read_text())
    return {setting: {int(seed): run for seed, run in by_seed.items()} for setting, by_seed in saved["runs"].items()}


def committed_history(config: TrainConfig, setting: str, seed: int) -> list[dict[str, float]] | None:
    """The committed history of ``setting`` and ``seed`` if it was trained with exactly ``config``, else None."""
    run = committed_histories().get(setting, {}).get(seed)
    if run is None or TrainConfig.from_dict(run["config"]).to_dict() != config.to_dict():
        return None
    return run["history"]


@dataclass
class FacesRuns:
    """Lesson 08's runs. ``runs``: the runs at hand (trained here or cached), by (setting, seed);
    ``histories``: setting -> one history per seed of SEEDS; ``source``: (setting, seed) -> "run" or
    "committed" (a seed drawn from the committed results, with no generator to sample from)."""

    runs: dict[tuple[str, int], Any]
    histories: dict[str, list[list[dict[str, float]]]]
    source: dict[tuple[str, int], str]


def train_or_load(train_every_seed: bool = False, retrain: bool = False, preset: str | None = None) -> FacesRuns:
    """Train (or load from the cache) seed 0 of every setting, and every other seed that is cached, asked
    for (``train_every_seed``), or has no committed result for the same config; draw the rest from the
    committed results."""
    from .runs import Run, run_name, runs_dir, train_many

    configs, committed = {}, {}
    for setting in SETTINGS:
        for seed in SEEDS:
            config = faces_config(setting, seed, preset)
            folder = runs_dir() / run_name(config)
            cached = (folder / "meta.json").exists() and Run(folder).status == "complete"
            history = committed_history(config, setting, seed)
            if seed == 0 or train_every_seed or retrain or cached or history is None:
                configs[(setting, seed)] = config
            else:
                committed[(setting, seed)] = history
    runs = train_many(configs, retrain=retrain)
    histories = {setting: [runs[(setting, seed)].history if (setting, seed) in runs else committed[(setting, seed)]
                           for seed in SEEDS] for setting in SETTINGS}
    source = {key: "run" if key in runs else "committed" for key in [(s, seed) for s in SETTINGS for seed in SEEDS]}
    return FacesRuns(runs, histories, source)


def write_committed(path: Path = COMMITTED) -> Path:
    """Write every setting x seed of the cpu preset from the run cache to ``path`` (all must be cached)."""
    from .runs import cached_train, run_name, runs_dir

    runs: dict[str, dict[int, Any]] = {}
    for setting in SETTINGS:
        for seed in SEEDS:
            config = faces_config(setting, seed, "cpu")
            if not (runs_dir() / run_name(config)).exists():
                raise FileNotFoundError(f"{setting}, seed {seed} is not in the run cache; train it first")
            history = cached_train(config, progress=False).history
            rows = [{key: row[key] for key in COMMITTED_KEYS} for row in history]
            runs.setdefault(setting, {})[seed] = {"config": config.to_dict(), "history": rows}
    command = "python -m diffaug_lessons.faces_100shot"
    path.write_text(json.dumps({"made_by": command, "runs": runs}, indent=1) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write_committed()}")
