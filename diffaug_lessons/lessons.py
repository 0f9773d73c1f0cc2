"""What each lesson trains: one place for the runs behind every finding.

``lesson_configs(lesson, preset)`` gives a lesson's runs as ``{label: TrainConfig}`` (seed 0); the
notebooks ask for them and the reference results (:mod:`diffaug_lessons.evidence`) are built from
the same lists, so a lesson's band and the student's run always describe the same settings.
"""

from __future__ import annotations

from .experiments import STRATEGY_LABELS, SWEEP_STRATEGIES, SWEEP_STRENGTHS, strength_config
from .recipe import STUDIES, chosen, lesson_fields
from .train import STRATEGIES, TrainConfig, lesson_config

LESSONS = ("01", "02", "03", "04", "04-sweep", "05", "06", "06-rot90", "07", "08")
# Seeds behind each lesson's reference results: five for the four strategies (lessons 03 and 04 share
# them) and the recipe study's policies (lesson 05); ten for lessons 07 and 08, whose runs are their
# study's chosen setting: the selection seeds 0-4 it was chosen on and the confirmation seeds 5-9 (a lesson
# that showed only the seeds a setting was chosen on would show its luck); three for every other run.
REFERENCE_SEEDS = {"03": 5, "04": 5, "05": 5, "07": 10, "08": 10}
DEFAULT_REFERENCE_SEEDS = 3


# Runs the shipped reference holds fewer seeds of than their lesson's count (0: none yet); empty while the
# reference is complete (a test keeps it exact). Where a run falls short, the lessons print the seeds behind
# each row (and train seed 0 of a run the reference lacks), and `python -m diffaug_lessons reference
# --preset cpu` trains the rest.
SHIPPED_SHORT: dict[tuple[str, str], int] = {}


def reference_seeds(lesson: str) -> int:
    """How many seeds (0, 1, ...) the reference results are made of for ``lesson``."""
    return REFERENCE_SEEDS.get(lesson, DEFAULT_REFERENCE_SEEDS)


def shipped_seeds(lesson: str, label: str) -> int:
    """How many seeds the shipped reference file holds for one run of ``lesson``."""
    return SHIPPED_SHORT.get((lesson, label), reference_seeds(lesson))


def lesson_configs(lesson: str, preset: str | None = None) -> dict[str, TrainConfig]:
    """The runs of ``lesson`` (seed 0), labelled as the lesson labels them."""
    if lesson == "01":
        base = lesson_config(preset, strategy="none")  # the baseline: no augmentation at all
        return {"100%": base.replace(n_train=None), "20%": base.replace(n_train=None, fraction=0.2),
                "100 images": base.replace(n_train=100)}
    if lesson == "02":
        base = lesson_config(preset, n_train=100)
        runs = {"baseline": base.without_t()}
        for policy in ("color", "translation", "cutout", "flip"):
            runs[f"reals only: {policy}"] = base.replace(strategy="reals_only", policy=policy)
        return runs
    recipe = lesson_fields("digits")  # T (and training settings) the recipe study chose for the digits
    if lesson == "03":
        base = lesson_config(preset, n_train=100, **recipe)
        return {"baseline": base.without_t(), "D only": base.replace(strategy="d_only"),
                "DiffAugment": base.replace(strategy="diffaugment")}
    if lesson == "04":
        base = lesson_config(preset, n_train=100, **recipe)
        return {strategy: base.replace(strategy=strategy) if strategy != "none" else base.without_t()
                for strategy in STRATEGIES}
    if lesson == "04-sweep":
        base = lesson_config(preset, n_train=100, **recipe)
        return {sweep_label(strategy, strength): strength_config(base, strategy, strength)
                for strategy in SWEEP_STRATEGIES for strength in SWEEP_STRENGTHS}
    if lesson == "05":  # the recipe study's candidates, and two of their ops alone
        study = STUDIES["digits"]
        base = lesson_config(preset, n_train=100, strategy="diffaugment")
        runs = {"baseline (no T)": base.without_t()}
        runs.update({name: base.replace(policy=name) for name in ("color", "cutout")})
        runs.update({candidate.name: study.configs(candidate.name, preset)["DiffAugment"]
                     for candidate in study.candidates})
        return runs
    if lesson in ("06", "06-rot90"):
        base = lesson_config(preset, n_train=100, strategy="diffaugment", **recipe)
        if lesson == "06":
            return {"baseline (no T)": base.without_t(), "DiffAugment, p = 1": base,
                    "DiffAugment + ADA (p adapts)": base.replace(p=0.0, ada_target=0.6)}
        rot90 = lesson_config(preset, n_train=100, strategy="diffaugment", policy="rot90")
        return {"baseline (no T)": base.without_t(), "rot90, p = 1": rot90,
                "rot90, p = 0.3": rot90.replace(p=0.3)}
    if lesson in ("07", "08"):  # the conditional miniature and the 100 faces: their study's chosen candidate
        dataset = "conditional-digits" if lesson == "07" else "faces"
        configs = STUDIES[dataset].configs(chosen(dataset).name, preset)
        return {"baseline (no T)": configs["baseline"], "DiffAugment": configs["DiffAugment"]}
    raise ValueError(f"lesson must be one of {', '.join(LESSONS)}; got {lesson!r}")


def sweep_label(strategy: str, strength: float) -> str:
    """The strength sweep's label of one run, e.g. 'DiffAugment x2' (strength 0: the baseline)."""
    return f"{STRATEGY_LABELS[strategy]} x{strength:g}"
