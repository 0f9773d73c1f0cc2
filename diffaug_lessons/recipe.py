"""The recipe study: which T (and which training settings) the lessons use, and why.

The paper's policy for very small data is ``color,translation,cutout`` at the official strengths, but
the lessons' data are not the paper's: on one channel ``color`` is a brightness shift of up to ±0.5
and a contrast factor of 0.5-1.5 on every image at every step, and cutout's square (half the side)
hides half of a 16-pixel digit. So the lessons' recipe is chosen by a protocol that luck cannot tune:

1. a fixed list of candidate settings, each with its reason (:data:`STUDIES`), written before any run;
2. every candidate's DiffAugment run and its baseline (the same training settings, no T) trained on
   the **selection seeds** :data:`SELECTION_SEEDS`;
3. a decision rule written here (:func:`choose`): the lowest worst-seed ratio of DiffAugment's FID to
   the baseline's (each run's FID: the mean of its last three evaluations); candidates within
   :data:`TIE` of that lowest worst ratio are tied, and the tie goes to the lowest mean ratio;
4. the chosen candidate trained again on the fresh **confirmation seeds** :data:`CONFIRMATION_SEEDS`,
   whose result is reported whatever it shows.

``python -m diffaug_lessons recipe --dataset digits`` runs the study and writes its JSON
(:func:`run_study`); the committed results are ``reference/recipe-<dataset>.json`` and the lessons
train the candidate named in :data:`CHOSEN` (a test checks it is the study's choice).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import check_choice
from .numerics import NUMERICS_VERSION
from .reference import SUMMARY_LAST, Reference, summary_value
from .train import TrainConfig, lesson_config, resolve_preset

SELECTION_SEEDS = (0, 1, 2, 3, 4)
CONFIRMATION_SEEDS = (5, 6, 7, 8, 9)
TIE = 0.05  # worst-seed ratios closer than this to the lowest are a tie, decided by the mean ratio
STUDY_DIR = Path(__file__).resolve().parent / "reference"
SIZE_FIELDS = ("steps", "eval_every", "n_eval_samples")  # how long a run is: the quick preset keeps its own


@dataclass(frozen=True)
class Candidate:
    """One setting of the study.

    ``training``: fields both runs get (the baseline too: a candidate that trains longer has a longer
    baseline); ``t``: the fields of T, DiffAugment's run only (the baseline applies no T).
    """

    name: str
    reason: str
    training: Mapping[str, Any] = field(default_factory=dict)
    t: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """A dataset's candidates and the base config they change (a function of the preset)."""

    dataset: str
    base: Callable[[str | None], TrainConfig]
    candidates: tuple[Candidate, ...]

    def candidate(self, name: str) -> Candidate:
        names = [candidate.name for candidate in self.candidates]
        check_choice(f"candidate of the {self.dataset} study", name, names)
        return self.candidates[names.index(name)]

    def configs(self, name: str, preset: str | None = None, seed: int = 0) -> dict[str, TrainConfig]:
        """{"baseline": ..., "DiffAugment": ...} of candidate ``name`` at ``seed``. In quick mode a candidate's
        run lengths (:data:`SIZE_FIELDS`) give way to the quick preset's, so CI stays quick."""
        candidate = self.candidate(name)
        training = {key: value for key, value in candidate.training.items()
                    if resolve_preset(preset) != "quick" or key not in SIZE_FIELDS}
        base = self.base(preset).replace(seed=seed, **training)
        return {"baseline": base.without_t(),
                "DiffAugment": base.replace(strategy="diffaugment", **candidate.t)}


def _digits_base(preset: str | None) -> TrainConfig:
    return lesson_config(preset, n_train=100)


# The 100 faces (lesson 08): every face trains, x-flipped as in the paper. The small DCGAN learns the
# low-contrast faces far too slowly at the digits' lr of 2e-4 (after 1,000 steps still one grey texture);
# at 1e-3 faces appear within 400 steps. EMA over ~100 steps, not 1,000: the runs are short.
FACES_RECIPE = dict(lr_g=1e-3, lr_d=1e-3, ema_decay=0.99)
# 16x16, 800 steps: about 2 minutes per run on one core (the study's candidates train longer).
FACES_CPU_SIZES = dict(steps=800, eval_every=100, n_eval_samples=500)


def _faces_base(preset: str | None) -> TrainConfig:
    sizes = FACES_CPU_SIZES if resolve_preset(preset) == "cpu" else {}
    return lesson_config(preset, dataset="faces", n_train=None, flip_reals=True, policy="color,translation,cutout",
                         strategy="none", **FACES_RECIPE, **sizes)


def _conditional_base(preset: str | None) -> TrainConfig:
    """Lesson 07's CPU miniature of the paper's CIFAR setting: a class-conditional BigGAN pair (32 channels,
    spectral norm, hinge loss, betas (0, 0.999), 2 D steps per G step, EMA from step 100) on 100 digits,
    a quarter of the preset's steps (each costs about three DCGAN steps)."""
    small = lesson_config(preset)
    return small.replace(architecture="biggan", loss="hinge", spectral_norm=True, g_width=32, d_width=32, d_steps=2,
                         betas=(0.0, 0.999), steps=small.steps // 4, ema_decay=0.99, ema_start=min(100, small.steps // 8),
                         n_train=100, strategy="none")


# Half the official strengths: shifts up to 1/16 of the side, cutout squares of side 1/4, colour ranges x 0.5.
HALF = dict(translation_ratio=0.0625, cutout_ratio=0.25, color_strength=0.5)

STUDIES: dict[str, Study] = {
    "digits": Study("digits", _digits_base, (
        Candidate("color,translation,cutout", "the paper's policy for very small data, at the official strengths "
                  "(what the lessons trained so far)", t=dict(policy="color,translation,cutout")),
        Candidate("color,translation,cutout at half strength", "the same ops, gentler: on 16-pixel digits cutout's "
                  "half-side square hides half a digit, and on one channel colour is brightness and contrast at full "
                  "range on every image (the strength sweep's best point, seeds 0-1)",
                  t=dict(policy="color,translation,cutout", **HALF)),
        Candidate("translation,cutout", "the paper's BigGAN-CIFAR policy: no colour op, whose brightness and contrast "
                  "jitter is most of what it does on greyscale", t=dict(policy="translation,cutout")),
        Candidate("translation,cutout at half strength", "BigGAN-CIFAR's ops with a 1-pixel shift and a quarter-side "
                  "square: a digit keeps its shape", t=dict(policy="translation,cutout", translation_ratio=0.0625,
                                                           cutout_ratio=0.25)),
        Candidate("translation", "the paper's ImageNet policy: the gentlest T that still regularises D",
                  t=dict(policy="translation")),
    )),
    "faces": Study("faces", _faces_base, (
        Candidate("800 steps, color,translation,cutout", "lesson 08's settings so far: 256 passes over the 100 faces",
                  t=dict(policy="color,translation,cutout")),
        Candidate("2500 steps, translation,cutout", "800 passes, so the baseline's D has time to overfit (the paper's "
                  "premise); no colour op, which darkens and flattens the greyscale faces",
                  training=dict(steps=2500, eval_every=250), t=dict(policy="translation,cutout")),
        Candidate("2500 steps, D width 64, translation,cutout", "a D of four times the parameters memorises 100 "
                  "faces sooner: the setting in which augmentation should matter most",
                  training=dict(steps=2500, eval_every=250, d_width=64), t=dict(policy="translation,cutout")),
        Candidate("2500 steps, D width 64, color,translation,cutout at half strength", "the wide D with all three "
                  "ops, gentler", training=dict(steps=2500, eval_every=250, d_width=64),
                  t=dict(policy="color,translation,cutout", **HALF)),
    )),
    "conditional-digits": Study("digits", _conditional_base, (
        Candidate("translation,cutout", "the paper's policy for BigGAN on CIFAR, which this miniature copies "
                  "(lesson 07's setting so far)", t=dict(policy="translation,cutout")),
        Candidate("translation,cutout at half strength", "a 1-pixel shift and a quarter-side square: a 16-pixel "
                  "digit keeps its class", t=dict(policy="translation,cutout", translation_ratio=0.0625,
                                                  cutout_ratio=0.25)),
        Candidate("2000 iterations, translation,cutout", "twice as long: at 1,000 iterations the baseline's D "
                  "had not yet memorised its 100 digits (accuracy 0.64 on them, 0.49 on held-out digits, one seed), "
                  "and overfitting is the paper's premise", training=dict(steps=2000),
                  t=dict(policy="translation,cutout")),
    )),
}

# What the lessons train: the study's choice (tests/test_recipe.py checks it against the committed study).
# None: no study committed yet, the lessons train the first candidate (the paper's policy).
CHOSEN: dict[str, str | None] = {
    "digits": "translation,cutout",
    "faces": "2500 steps, D width 64, color,translation,cutout at half strength",
    "conditional-digits": "2000 iterations, translation,cutout",
}


def chosen(dataset: str) -> Candidate:
    """The candidate the lessons train on ``dataset``: the study's choice (:data:`CHOSEN`)."""
    check_choice("dataset", dataset, STUDIES)
    study = STUDIES[dataset]
    return study.candidate(CHOSEN[dataset]) if CHOSEN[dataset] else study.candidates[0]


def lesson_fields(dataset: str, t: bool = True) -> dict[str, Any]:
    """The TrainConfig fields of the chosen recipe on ``dataset``: its training settings, and with ``t``
    the fields of T (what a DiffAugment run of the lessons gets)."""
    candidate = chosen(dataset)
    return {**candidate.training, **(candidate.t if t else {})}


# ---------------------------------------------------------------------------
# Numbers of a run and the decision rule
# ---------------------------------------------------------------------------

def choose(ratios: Mapping[str, Sequence[float]], tie: float = TIE) -> str:
    """The decision rule: the candidate with the lowest worst-seed ratio (DiffAugment's FID over the
    baseline's); those within ``tie`` of it are tied and the lowest mean ratio wins (then the earlier one)."""
    if not ratios or any(not values for values in ratios.values()):
        raise ValueError("every candidate needs at least one seed's ratio")
    worst = {name: max(values) for name, values in ratios.items()}
    lowest = min(worst.values())
    tied = [name for name in ratios if worst[name] <= lowest + tie]
    return min(tied, key=lambda name: sum(ratios[name]) / len(ratios[name]))


# ---------------------------------------------------------------------------
# Running the study
# ---------------------------------------------------------------------------

def novelty(run: Any, n: int = 500) -> float:
    """How far a run's samples sit from its training images, on the scale of the training images' own
    spacing: the median L2 distance of ``n`` samples (fixed z, seed 0) to their nearest training image
    over the median distance of a training image to its nearest other one (mirror images count on both
    sides when the run flipped its reals). About 1 or above: as novel as another training image; well
    below 1: copies. FID against the training images rewards copies; this tells them apart."""
    import torch

    from .metrics import novelty as novelty_of
    from .train import load_split

    z = torch.randn(n, run.config.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        samples = run.generator()(z)
    return novelty_of(samples, load_split(run.config)[0].images, with_mirrors=run.config.flip_reals)


def _histories(configs: Mapping[Any, TrainConfig], reference: Reference, train: bool,
               progress: bool, workers: int | None = None) -> dict[Any, tuple[list[dict[str, float]], str, float | None]]:
    """(history, source, novelty) of each config: from the run cache, else from the shipped reference
    (no novelty: it keeps no weights), else trained."""
    from .runs import finished_run, train_many

    found: dict[Any, tuple[list[dict[str, float]], str, float | None]] = {}
    missing: dict[str, TrainConfig] = {}
    for key, config in configs.items():
        run = finished_run(config)
        if run is not None:
            found[key] = (run.history, "cache", novelty(run))
        elif (history := reference.history(config)) is not None:
            found[key] = (history, "reference", None)
        else:
            missing.setdefault(config.key(), config)
    if missing:
        if not train:
            raise RuntimeError(f"{len(missing)} runs of the study are neither in the cache nor in the reference; "
                               "train them: leave out --cached-only")
        runs = train_many(missing, progress=progress, workers=workers)
        for key, config in configs.items():
            if key not in found:
                found[key] = (runs[config.key()].history, "trained", novelty(runs[config.key()]))
    return found


def _rows(study: Study, names: Sequence[str], seeds: Sequence[int], preset: str | None, reference: Reference,
          train: bool, progress: bool, workers: int | None = None) -> list[dict[str, Any]]:
    configs = {(name, seed, label): config for name in names for seed in seeds
               for label, config in study.configs(name, preset, seed).items()}
    histories = _histories(configs, reference, train, progress, workers)
    rows = []
    for name in names:
        for seed in seeds:
            row: dict[str, Any] = {"candidate": name, "seed": seed}
            for label in ("baseline", "DiffAugment"):
                history, source, distance_ratio = histories[(name, seed, label)]
                row[label] = {"last3_fid": round(summary_value(history, "fid"), 3),
                              "best_fid": round(summary_value(history, "best_fid"), 3),
                              "novelty": None if distance_ratio is None else round(distance_ratio, 4), "source": source}
            row["ratio"] = round(row["DiffAugment"]["last3_fid"] / row["baseline"]["last3_fid"], 4)
            row["best_ratio"] = round(row["DiffAugment"]["best_fid"] / row["baseline"]["best_fid"], 4)
            rows.append(row)
    return rows


def ratios_by_candidate(rows: Sequence[Mapping[str, Any]], key: str = "ratio") -> dict[str, list[float]]:
    """{candidate: [ratio of each seed]} from a study's rows."""
    out: dict[str, list[float]] = {}
    for row in rows:
        out.setdefault(row["candidate"], []).append(row[key])
    return out


def run_study(dataset: str, preset: str | None = "cpu", selection_seeds: Sequence[int] = SELECTION_SEEDS,
              confirmation_seeds: Sequence[int] = CONFIRMATION_SEEDS, out: str | Path | None = None,
              reference: Reference | None = None, train: bool = True, progress: bool = True,
              workers: int | None = None) -> dict[str, Any]:
    """Selection, the rule's choice, then confirmation; writes and returns the study's results.

    The confirmation seeds are trained only after the choice is made from the selection seeds, and the
    file is written with the choice (``"confirmation": null``) before they train.
    ``out``: the JSON file (default ``reference/recipe-<dataset>.json`` beside the package's reference).
    ``workers``: runs trained side by side (:func:`~diffaug_lessons.runs.train_many`; default one per core).
    """
    check_choice("dataset", dataset, STUDIES)
    study = STUDIES[dataset]
    reference = reference if reference is not None else Reference.load_default()
    names = [candidate.name for candidate in study.candidates]
    selection = _rows(study, names, selection_seeds, preset, reference, train, progress, workers)
    chosen = choose(ratios_by_candidate(selection))
    command = f"python -m diffaug_lessons recipe --dataset {dataset}" + (f" --preset {preset}" if preset else "")
    results = {
        "command": command, "package_version": __version__, "numerics_version": NUMERICS_VERSION,
        "made": datetime.date.today().isoformat(), "dataset": dataset, "preset": preset,
        "rule": RULE, "tie": TIE, "selection_seeds": list(selection_seeds),
        "confirmation_seeds": list(confirmation_seeds),
        "candidates": [{"name": c.name, "reason": c.reason, "training": dict(c.training), "t": dict(c.t)}
                       for c in study.candidates],
        "selection": selection, "chosen": chosen, "confirmation": None,
    }
    path = Path(out) if out is not None else STUDY_DIR / f"recipe-{dataset}.json"
    _write(results, path)  # the choice is on record before a confirmation seed trains
    results["confirmation"] = _rows(study, [chosen], confirmation_seeds, preset, reference, train, progress, workers)
    _write(results, path)
    return results


def _write(results: Mapping[str, Any], path: Path) -> None:
    from .atomic import atomic_write_bytes

    atomic_write_bytes((json.dumps(results, indent=1, sort_keys=True) + "\n").encode(), path).chmod(0o644)


RULE = ("lowest worst-seed ratio of DiffAugment's FID to the baseline's (each FID the mean of a run's last "
        f"{SUMMARY_LAST} evaluations) over the selection seeds; ratios within {TIE} of the lowest are tied, the lowest "
        "mean ratio breaks the tie")


def summary_table(results: Mapping[str, Any]) -> str:
    """The study as a markdown table: one row per candidate over the selection seeds (worst and mean ratio
    of DiffAugment's FID to the baseline's, seeds below the baseline, mean FIDs), the chosen one marked,
    then its row over the confirmation seeds."""
    def row(name: str, rows: Sequence[Mapping[str, Any]], seeds: str) -> str:
        ratios = [r["ratio"] for r in rows]
        base = sum(r["baseline"]["last3_fid"] for r in rows) / len(rows)
        diff = sum(r["DiffAugment"]["last3_fid"] for r in rows) / len(rows)
        mark = " **(chosen)**" if name == results["chosen"] and seeds == "selection" else ""
        return (f"| {name}{mark} | {seeds} | {max(ratios):.2f} | {sum(ratios) / len(ratios):.2f} | "
                f"{sum(r < 1 for r in ratios)} of {len(ratios)} | {base:.1f} | {diff:.1f} |")

    lines = ["| candidate | seeds | worst ratio | mean ratio | DiffAugment below the baseline | baseline FID | "
             "DiffAugment FID |", "|---|---|---|---|---|---|---|"]
    for name in ratios_by_candidate(results["selection"]):
        lines.append(row(name, [r for r in results["selection"] if r["candidate"] == name], "selection"))
    if results["confirmation"]:
        lines.append(row(results["chosen"], results["confirmation"], "confirmation"))
    return "\n".join(lines)


def load_study(dataset: str, path: str | Path | None = None) -> dict[str, Any]:
    """The committed study of ``dataset`` (``reference/recipe-<dataset>.json``)."""
    check_choice("dataset", dataset, STUDIES)
    file = Path(path) if path is not None else STUDY_DIR / f"recipe-{dataset}.json"
    if not file.exists():
        raise FileNotFoundError(f"no recipe study at {file}; make it with "
                                f"`python -m diffaug_lessons recipe --dataset {dataset}`")
    return json.loads(file.read_text())


def report(results: Mapping[str, Any]) -> str:
    """The study as text: the selection table (candidate x seed), the rule and the choice, the confirmation."""
    lines = [f"Recipe study, {results['dataset']} ({results['command']})", ""]

    def table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
        out = [f"{'candidate':<58} {'seed':>4} {'baseline':>9} {'DiffAug':>9} {'ratio':>6}   best FIDs (ratio)"
               "   novelty (baseline / DiffAugment)"]
        for row in rows:
            base, diff = row["baseline"], row["DiffAugment"]
            novel = " / ".join("-" if run["novelty"] is None else f"{run['novelty']:.2f}" for run in (base, diff))
            out.append(f"{row['candidate']:<58} {row['seed']:>4} {base['last3_fid']:>9.1f} {diff['last3_fid']:>9.1f} "
                       f"{row['ratio']:>6.2f}   {base['best_fid']:.1f} / {diff['best_fid']:.1f} ({row['best_ratio']:.2f})"
                       f"   {novel}")
        return out

    lines += ["Selection seeds " + ", ".join(map(str, results["selection_seeds"])) + " (FID: mean of the last "
              f"{SUMMARY_LAST} evaluations):", *table(results["selection"]), ""]
    for name, ratios in ratios_by_candidate(results["selection"]).items():
        lines.append(f"  {name:<58} worst ratio {max(ratios):.2f}, mean {sum(ratios) / len(ratios):.2f}, "
                     f"below the baseline in {sum(r < 1 for r in ratios)} of {len(ratios)} seeds")
    lines += ["", f"Rule: {results['rule']}.", f"Chosen: {results['chosen']}", ""]
    confirmation = results["confirmation"]
    if not confirmation:
        return "\n".join([*lines, "Confirmation seeds " + ", ".join(map(str, results["confirmation_seeds"]))
                          + ": not trained yet (the choice above was written before they train)"])
    ratios = [row["ratio"] for row in confirmation]
    lines += ["Confirmation seeds " + ", ".join(map(str, results["confirmation_seeds"])) + ":", *table(confirmation),
              f"  worst ratio {max(ratios):.2f}, mean {sum(ratios) / len(ratios):.2f}, below the baseline in "
              f"{sum(r < 1 for r in ratios)} of {len(ratios)} seeds, at most 0.8x in "
              f"{sum(r <= 0.8 for r in ratios)} of {len(ratios)}"]
    return "\n".join(lines)
