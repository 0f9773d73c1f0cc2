"""The lessons' tables and findings, one function each, for the notebooks and the README alike.

A lesson calls, e.g., ``strategies_table(ev)`` on its :class:`~diffaug_lessons.evidence.Evidence` (your runs
and the reference's other seeds); ``python -m diffaug_lessons results`` calls the same functions on the
shipped reference alone and prints the README's results section, and a test keeps the README equal to it.
Every finding is a claim counted over seeds ("in k of n seeds"), with each seed's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from .evidence import Evidence, Table, gather
from .experiments import STRATEGY_LABELS, SWEEP_STRENGTHS
from .lessons import SHIPPED_SHORT, lesson_configs, reference_seeds, sweep_label
from .recipe import CHOSEN, Candidate, chosen
from .reference import REFERENCE_COMMAND, SUMMARY_LAST, Reference
from .train import STRATEGIES

# BigGAN on 10% of CIFAR-10, the official README: the ratio our runs' is set beside.
PAPER_FID = {"none": "39.78", "diffaugment": "22.40"}
PAPER_RATIO = 22.40 / 39.78
BASELINE, DIFFAUGMENT = "baseline (no T)", "DiffAugment"  # the two runs of lessons 07 and 08


# ---------------------------------------------------------------------------
# Lesson 04 (and 03): the four strategies


def strategies_table(ev: Evidence) -> Table:
    """The four strategies over seeds: FID, KID, D's gap and accuracies, cutout patches, the paper's FID."""
    labels = {s: STRATEGY_LABELS[s] for s in STRATEGIES}
    table = ev.table(("fid", "best_fid", "kid", "d_gap", "acc_train", "acc_heldout", "acc_fake", "acc_fake_aug"),
                     labels=labels)
    table.header[-1:-1] = ["cutout patches", "paper FID"]
    for row, strategy in zip(table.rows, STRATEGIES):
        row[-1:-1] = [ev.measure_spread(strategy, "cutout_patches", percent=True), PAPER_FID.get(strategy, "—")]
    return table


def strategy_findings(ev: Evidence) -> list[str]:
    """The paper's findings on the four strategies, each counted over the seeds with its numbers."""
    v, m = ev.value, ev.measure

    def acc_gap(strategy: str, s: int) -> float:
        return v(strategy, s, "acc_train") - v(strategy, s, "acc_heldout")

    def ratio(s: int, key: str = "fid") -> float:
        return v("diffaugment", s, key) / v("none", s, key)

    return [
        ev.claim("D overfits without T: accuracy on training reals above held-out reals by > 0.2 (baseline)",
                 lambda s: acc_gap("none", s) > 0.2, numbers=lambda s: f"gap {acc_gap('none', s):.2f}"),
        ev.claim("DiffAugment closes most of that gap (below half the baseline's)",
                 lambda s: acc_gap("diffaugment", s) < acc_gap("none", s) / 2,
                 numbers=lambda s: f"{acc_gap('diffaugment', s):.2f} vs {acc_gap('none', s):.2f}"),
        ev.claim("T on reals only paints cutout-like patches into G's samples (10 points above the baseline)",
                 lambda s: m("reals_only", s, "cutout_patches") > m("none", s, "cutout_patches") + 0.1,
                 numbers=lambda s: f"{m('reals_only', s, 'cutout_patches'):.0%} vs {m('none', s, 'cutout_patches'):.0%}"),
        ev.claim("T in the D step only: D right on T(G(z)), wrong on G(z) (accuracy split > 0.3)",
                 lambda s: v("d_only", s, "acc_fake_aug") - v("d_only", s, "acc_fake") > 0.3,
                 numbers=lambda s: f"{v('d_only', s, 'acc_fake_aug'):.0%} vs {v('d_only', s, 'acc_fake'):.0%}"),
        ev.claim("DiffAugment's FID below the baseline's", lambda s: ratio(s) < 1,
                 numbers=lambda s: f"{v('diffaugment', s):.1f} vs {v('none', s):.1f}, {ratio(s):.2f}x"),
        ev.claim("DiffAugment's FID at most 0.8x the baseline's", lambda s: ratio(s) <= 0.8),
        ev.claim("DiffAugment's best FID below the baseline's best", lambda s: ratio(s, "best_fid") < 1,
                 numbers=lambda s: f"{ratio(s, 'best_fid'):.2f}x"),
        ev.claim("D only's FID above the baseline's", lambda s: v("d_only", s) > v("none", s),
                 numbers=lambda s: f"{v('d_only', s):.1f} vs {v('none', s):.1f}"),
    ]


def fid_ratio_line(ev: Evidence, diffaugment: str = "diffaugment", baseline: str = "none") -> str:
    """DiffAugment's FID over the baseline's, seed by seed, its mean, and the paper's."""
    ratios = [ev.value(diffaugment, s) / ev.value(baseline, s) for s in ev.seeds(diffaugment, baseline)]
    return (f"DiffAugment / baseline FID over seeds {ev.seeds(diffaugment, baseline)}: "
            f"{', '.join(f'{r:.2f}' for r in ratios)} (mean {sum(ratios) / len(ratios):.2f}); "
            f"the paper (BigGAN, CIFAR-10 10%): 22.40 / 39.78 = {PAPER_RATIO:.2f}")


# ---------------------------------------------------------------------------
# Lesson 04: T's strength


def sweep_table(sweep: Evidence) -> Table:
    """FID of the three strategies at each strength of T (mean ± sd over the seeds every run has)."""
    rows = [[STRATEGY_LABELS[strategy]] + [sweep.spread(sweep_label(strategy, k), "fid") for k in SWEEP_STRENGTHS]
            for strategy in ("reals_only", "d_only", "diffaugment")]
    return Table(["FID at strength s"] + [f"s = {k:g}" for k in SWEEP_STRENGTHS], rows,
                 f"mean ± sd over seeds {sweep.seeds()}; s = 0 is the same baseline run for every row")


def sweep_findings(sweep: Evidence) -> list[str]:
    """What the strength sweep shows, each finding counted over its seeds."""
    def fid(strategy: str, k: float, s: int) -> float:
        return sweep.value(sweep_label(strategy, k), s)

    def gap(strategy: str, k: float, s: int) -> float:
        return sweep.value(sweep_label(strategy, k), s, "d_gap")

    def best(s: int) -> float:
        return min(SWEEP_STRENGTHS, key=lambda k: fid("diffaugment", k, s))

    stronger = list(zip(SWEEP_STRENGTHS, SWEEP_STRENGTHS[1:]))
    lines = [
        sweep.claim("T on reals only: FID rises with every step up in strength",
                    lambda s: all(fid("reals_only", a, s) < fid("reals_only", b, s) for a, b in stronger),
                    numbers=lambda s: " < ".join(f"{fid('reals_only', k, s):.0f}" for k in SWEEP_STRENGTHS)),
        sweep.claim("DiffAugment: the lowest FID of the three strategies at every strength s > 0",
                    lambda s: all(fid("diffaugment", k, s) < min(fid("d_only", k, s), fid("reals_only", k, s))
                                  for k in SWEEP_STRENGTHS[1:])),
        sweep.claim("T in the D step only at s = 2: FID over 3x the baseline's (D-only clearly fails)",
                    lambda s: fid("d_only", 2.0, s) > 3 * fid("d_only", 0.0, s),
                    numbers=lambda s: f"{fid('d_only', 2.0, s):.0f} vs {fid('d_only', 0.0, s):.0f}"),
    ]
    lines += [sweep.claim(f"DiffAugment at s = {k:g}: FID below the baseline's",
                          lambda s, k=k: fid("diffaugment", k, s) < fid("diffaugment", 0.0, s),
                          numbers=lambda s, k=k: f"{fid('diffaugment', k, s):.0f} vs {fid('diffaugment', 0.0, s):.0f}")
              for k in SWEEP_STRENGTHS[1:]]
    lines += [
        sweep.claim("DiffAugment's D gap shrinks with every step up in strength",
                    lambda s: all(gap("diffaugment", a, s) > gap("diffaugment", b, s) for a, b in stronger),
                    numbers=lambda s: " > ".join(f"{gap('diffaugment', k, s):.2f}" for k in SWEEP_STRENGTHS)),
        sweep.claim("DiffAugment's best strength is the chosen policy's (s = 1)", lambda s: best(s) == 1,
                    numbers=lambda s: f"best s = {best(s):g}"),
    ]
    return lines


# ---------------------------------------------------------------------------
# Lessons 07 and 08: a baseline and DiffAugment


def pair_table(ev: Evidence, keys: Sequence[str] = ("fid", "best_fid", "kid")) -> Table:
    """Baseline vs DiffAugment over seeds (lessons 07 and 08)."""
    return ev.table(keys)


def pair_findings(ev: Evidence, gap: str = "d_gap") -> list[str]:
    """DiffAugment against the baseline, seed by seed: FID (last 3 and best) and D's gap (``gap``: a history
    key, or "d_train-d_fake" for D's verdict on training reals minus fakes, the 100-shot runs' only gap)."""
    v = ev.value

    def ratio(s: int, key: str = "fid") -> float:
        return v(DIFFAUGMENT, s, key) / v(BASELINE, s, key)

    def d_gap(name: str, s: int) -> float:
        if gap == "d_train-d_fake":
            return v(name, s, "d_train") - v(name, s, "d_fake")
        return v(name, s, gap)

    return [
        ev.claim("DiffAugment's FID below the baseline's", lambda s: ratio(s) < 1,
                 numbers=lambda s: f"{v(DIFFAUGMENT, s):.2f} vs {v(BASELINE, s):.2f}, {ratio(s):.2f}x"),
        ev.claim("DiffAugment's FID at most 0.8x the baseline's", lambda s: ratio(s) <= 0.8),
        ev.claim("DiffAugment's best FID below the baseline's best", lambda s: ratio(s, "best_fid") < 1,
                 numbers=lambda s: f"{ratio(s, 'best_fid'):.2f}x"),
        ev.claim("DiffAugment's D separates its training reals from " + (
                 "fakes" if gap == "d_train-d_fake" else "held-out reals") + " less than the baseline's",
                 lambda s: d_gap(DIFFAUGMENT, s) < d_gap(BASELINE, s),
                 numbers=lambda s: f"{d_gap(DIFFAUGMENT, s):.2f} vs {d_gap(BASELINE, s):.2f}"),
    ]


# ---------------------------------------------------------------------------
# The README's results section


def reference_evidence(lesson: str, reference: Reference | None = None) -> Evidence:
    """A lesson's runs from the shipped reference alone (nothing trains): refused, naming the command, when
    the reference lacks a run."""
    reference = reference if reference is not None else Reference.load_default()
    configs = lesson_configs(lesson, "cpu")
    missing = [name for name, config in configs.items() if not reference.seeds(config)]
    if missing:
        raise ValueError(f"the reference holds no run of lesson {lesson}'s {', '.join(missing)}; "
                         f"make it with `{REFERENCE_COMMAND}`")
    return gather(configs, seeds=0, reference=reference, progress=False)


def _lines(findings: Sequence[str]) -> list[str]:
    return [f"- {line}" for line in findings]


def _named_with_length(candidate: Candidate, steps: int) -> str:
    """A study candidate's name, with its run length where the candidate keeps the study's (a candidate that
    sets ``steps`` names its length itself)."""
    return candidate.name if "steps" in candidate.training else f"{candidate.name} ({steps:,} iterations)"


def results_markdown(reference: Reference | None = None) -> str:
    """The README's section on what the lessons show, from the shipped reference, by the lessons' functions."""
    reference = reference if reference is not None else Reference.load_default()
    four = reference_evidence("04", reference).common()
    sweep = reference_evidence("04-sweep", reference).common()
    conditional = reference_evidence("07", reference).common()
    faces = reference_evidence("08", reference).common()
    base = four.configs["diffaugment"]
    out = [
        f"From the shipped reference (`{reference.command}`), by the functions the lessons call "
        "(`diffaug_lessons/findings.py`; `python -m diffaug_lessons results` prints this section). Each number: "
        f"the mean of a run's last {SUMMARY_LAST} evaluations (best FID: its lowest evaluation), then mean ± "
        "sd over the seeds. FID/KID on 500 samples against 500 held-out digits with a digit classifier's features "
        "(comparable between runs, not with Inception FIDs; KID raw); the faces against the 100 training faces.",
        "",
        f"**The four strategies** (lessons 03-04): 100 digits, {base.steps} steps, T = `{base.policy}`, "
        f"seeds {four.seeds()}.",
        "",
        strategies_table(four)._repr_markdown_(),
        "",
        *_lines(strategy_findings(four)),
        f"- {fid_ratio_line(four)}",
        "",
        f"**T's strength** (lesson 04): the chosen T's strengths scaled by s (s = 1: `{base.policy}` as chosen, "
        f"s = 0: the baseline), seeds {sweep.seeds()}.",
        "",
        sweep_table(sweep)._repr_markdown_(),
        "",
        *_lines(sweep_findings(sweep)),
        "",
        "**Class-conditional BigGAN miniature** (lesson 07): 100 digits, "
        + ("the conditional study's choice, " if CHOSEN["conditional-digits"] else
           "the conditional study's first candidate (the study is not committed yet), ")
        + f"{_named_with_length(chosen('conditional-digits'), conditional.configs[DIFFAUGMENT].steps)}; "
        f"seeds {conditional.seeds()}.",
        "",
        pair_table(conditional, ("fid", "best_fid", "kid", "d_gap"))._repr_markdown_(),
        "",
        *_lines(pair_findings(conditional)),
        "",
        f"**100 faces** (lesson 08): the faces study's choice, {chosen('faces').name}; seeds {faces.seeds()}.",
        "",
        pair_table(faces)._repr_markdown_(),
        "",
        *_lines(pair_findings(faces, gap="d_train-d_fake")),
        "- novelty (samples' distance to the nearest training face over the training faces' own spacing; well "
        "below 1: copies): " + "; ".join(f"{name} {faces.measure_spread(name, 'novelty')}" for name in faces.configs),
    ]
    if SHIPPED_SHORT:
        short = "; ".join(f"lesson {lesson} {name}: {count} of {reference_seeds(lesson)}"
                          for (lesson, name), count in sorted(SHIPPED_SHORT.items()))
        out += ["", f"Runs the shipped reference holds fewer seeds of than their lesson asks (`lessons.SHIPPED_SHORT`; "
                    f"the lessons print the seeds behind every row, and `{REFERENCE_COMMAND}` trains the rest): {short}."]
    return "\n".join(out)
