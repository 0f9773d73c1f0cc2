"""What each lesson trains: one place for the runs behind every finding.

``lesson_configs(lesson, preset)`` gives a lesson's runs as ``{label: TrainConfig}`` (seed 0); the
notebooks ask for them and the reference results (:mod:`diffaug_lessons.evidence`) are built from
the same lists, so a lesson's band and the student's run always describe the same settings.
"""

from __future__ import annotations

from .experiments import STRATEGY_LABELS, SWEEP_STRATEGIES, SWEEP_STRENGTHS, strength_config
from .train import STRATEGIES, TrainConfig, lesson_config

LESSONS = ("01", "02", "03", "04", "04-sweep", "05", "06", "06-rot90")
# Seeds behind each lesson's reference results (the strength sweep: 2 seeds for each of its 10 runs).
REFERENCE_SEEDS = {"04-sweep": 2}
DEFAULT_REFERENCE_SEEDS = 3


# Runs the shipped reference holds fewer seeds of than their lesson's count (CPU time ran out before
# their seeds 1 and 2 were trained); the lessons print "one seed only" beside their rows, and
# `python -m diffaug_lessons reference --preset cpu` trains the rest.
SHIPPED_SHORT: dict[tuple[str, str], int] = {
    ("01", "100%"): 2, ("01", "20%"): 2,
    **{("02", f"reals only: {policy}"): 1 for policy in ("color", "translation", "cutout", "flip")},
    **{("05", name): 1 for name in ("color", "translation", "cutout", "translation,cutout",
                                    "color,translation,cutout (weaker: cutout 1/4, shift 1/16)")},
    ("06-rot90", "rot90, p = 1"): 1, ("06-rot90", "rot90, p = 0.3"): 1,
}


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
        runs = {"baseline": base.replace(strategy="none")}
        for policy in ("color", "translation", "cutout", "flip"):
            runs[f"reals only: {policy}"] = base.replace(strategy="reals_only", policy=policy)
        return runs
    if lesson == "03":
        base = lesson_config(preset, n_train=100, policy="color,translation,cutout")
        return {"baseline": base.replace(strategy="none"), "D only": base.replace(strategy="d_only"),
                "DiffAugment": base.replace(strategy="diffaugment")}
    if lesson == "04":
        base = lesson_config(preset, n_train=100, policy="color,translation,cutout")
        return {strategy: base.replace(strategy=strategy) for strategy in STRATEGIES}
    if lesson == "04-sweep":
        base = lesson_config(preset, n_train=100, policy="color,translation,cutout")
        return {sweep_label(strategy, strength): strength_config(base, strategy, strength)
                for strategy in SWEEP_STRATEGIES for strength in SWEEP_STRENGTHS}
    if lesson == "05":
        base = lesson_config(preset, n_train=100, strategy="diffaugment")
        variants = {
            "baseline (no T)": dict(strategy="none"),
            "color": dict(policy="color"),
            "translation": dict(policy="translation"),
            "cutout": dict(policy="cutout"),
            "translation,cutout": dict(policy="translation,cutout"),
            "color,translation,cutout": dict(policy="color,translation,cutout"),
            # weaker than the official strengths: cutout side 1/4 (official 1/2), shifts up to 1/16 (official 1/8)
            "color,translation,cutout (weaker: cutout 1/4, shift 1/16)": dict(
                policy="color,translation,cutout", cutout_ratio=0.25, translation_ratio=0.0625),
        }
        return {name: base.replace(**change) for name, change in variants.items()}
    if lesson in ("06", "06-rot90"):
        base = lesson_config(preset, n_train=100, strategy="diffaugment", policy="color,translation,cutout")
        if lesson == "06":
            return {"baseline (no T)": base.replace(strategy="none"), "DiffAugment, p = 1": base,
                    "DiffAugment + ADA (p adapts)": base.replace(p=0.0, ada_target=0.6)}
        return {"baseline (no T)": base.replace(strategy="none"), "rot90, p = 1": base.replace(policy="rot90"),
                "rot90, p = 0.3": base.replace(policy="rot90", p=0.3)}
    raise ValueError(f"lesson must be one of {', '.join(LESSONS)}; got {lesson!r}")


def sweep_label(strategy: str, strength: float) -> str:
    """The strength sweep's label of one run, e.g. 'DiffAugment x2' (strength 0: the baseline)."""
    return f"{STRATEGY_LABELS[strategy]} x{strength:g}"
