"""Findings over seeds: a student's runs drawn over the reference results of the committed lessons.

A GAN run is noisy, so a lesson's finding is a claim about every seed. The package ships the
reference results behind the committed notebooks (``reference/cpu.json``: each run's config and
metrics history, no weights) for seeds 0, 1, 2. :func:`gather` trains the seeds a student asks for
(by default only seed 0) and fills the other seeds from the reference, marking which is which::

    ev = gather(lesson_configs("04"), seeds=1)   # trains seed 0, seeds 1 and 2 come from the reference
    ev.plot(ax, "fid")                           # band over seeds, the student's run drawn on top
    print(ev.band_line("diffaugment"))           # is the student's run inside the reference band?
    print(ev.claim("DiffAugment beats the baseline", lambda s: ev.value("diffaugment", s) < ev.value("none", s)))

The reference is regenerated with ``python -m diffaug_lessons reference`` (which trains what the
cache lacks); its run keys hold the numerics version, so a reference made by code that computes
differently is never matched to today's runs.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .experiments import (
    STRATEGY_LABELS,
    SWEEP_STRATEGIES,
    SWEEP_STRENGTHS,
    artifact_measures,
    closer_to_mirrored,
    nearest_rotation,
    real_reference,
)
from .lessons import LESSONS, lesson_configs, reference_seeds, sweep_label
from .numerics import NUMERICS_VERSION
from .plots import STRATEGY_COLOURS, colours_for, key_colours
from .reference import (
    BEST,
    REFERENCE_COMMAND,
    REFERENCE_FILE,
    SUMMARY_LAST,
    Reference,
    decode_samples,
    encode_samples,
    summary_value,
)
from .train import TrainConfig

# The history columns the reference keeps (the lessons' plots and tables read no others).
KEPT = (
    "step", "loss_d", "loss_g", "fid", "kid", "d_gap",
    "d_train", "d_heldout", "d_fake", "d_fake_aug", "d_train_aug", "d_heldout_aug", "d_fake_g",
    "acc_train", "acc_heldout", "acc_fake", "acc_fake_aug", "acc_train_aug", "acc_heldout_aug", "acc_fake_g",
    "g_grad", "p", "r_t",
)
# How a metric is shown: (scale, label). KID in the usual units of 10^-3 on Inception and face features;
# the embedded datasets' classifier features are not normalised, so their KID is in the thousands: raw.
SCALES = {"kid": (1000.0, "KID × 10³"), "fid": (1.0, "FID")}
RAW_KID = (1.0, "KID (classifier features, raw)")
LABELS = {
    "d_gap": "D gap (train − held-out)", "acc_train": "D acc. train reals", "acc_heldout": "D acc. held-out reals",
    "acc_fake": "D acc. G(z), EMA G", "acc_fake_aug": "D acc. T(G(z)), EMA G", "acc_train_aug": "D acc. T(x)",
    "acc_fake_g": "D acc. G(z), trained G", "d_fake_g": "D(G(z)), trained G", "g_grad": "G's image gradient",
    "loss_g": "G's loss", "loss_d": "D's loss",
    "d_heldout": "D(held-out reals)", "d_train": "D(train reals)", "d_fake": "D(G(z)), EMA G", "d_fake_aug": "D(T(G(z))), EMA G",
}


def metric_scale(key: str, config: TrainConfig | None = None) -> tuple[float, str]:
    """(scale, label) to show ``key`` of runs of ``config`` with (KID x10^3 except on raw classifier features);
    ``best_<key>``: the scale of ``key``, labelled "best ..."."""
    from .metrics import EMBEDDED_DATASETS

    if key.startswith(BEST):
        scale, label = metric_scale(key[len(BEST):], config)
        return scale, f"best {label}"
    if key == "kid" and config is not None and config.dataset in EMBEDDED_DATASETS:
        return RAW_KID
    return SCALES.get(key, (1.0, LABELS.get(key, key)))
YOURS, REFERENCE = "your run", "reference"


# ---------------------------------------------------------------------------
# The reference results
# ---------------------------------------------------------------------------

def _round(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.5g}")
    return value


N_MEASURED = 500  # samples behind each sample measure, from one fixed z (seed 0) for every run
N_SAMPLES_KEPT = 16  # samples of each run's final generator the reference keeps, so lessons show them untrained


def sample_measures(run: Any) -> dict[str, float]:
    """What a run's final generator draws, as numbers: 500 samples from a fixed z.

    - ``cutout_patches``, ``grey_borders``, ``brightness``, ``brightness_spread``, ``contrast``:
      :func:`experiments.artifact_measures` (cutout squares of the official side, half the image);
    - ``mirrored``: the fraction closer to a mirrored training image than to any training image;
    - ``rotated``: the fraction whose nearest training image is turned by 90, 180 or 270 degrees;
    - ``memorisation``: median distance of the samples to the training set over that of held-out
      reals (:func:`metrics.memorisation`; below 1: closer to the training images than new reals are);
      absent for the 100 faces, which hold no reals out;
    - ``novelty``: the samples' median distance to the nearest training image over the training images'
      own spacing (:func:`metrics.novelty`; well below 1: copies).
    """
    import torch

    from .metrics import memorisation, novelty
    from .train import load_split

    config = run.config
    train_set, heldout = load_split(config)
    z = torch.randn(N_MEASURED, config.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        samples = run.generator()(z)
    measures = artifact_measures(samples, int(config.resolution * 0.5 + 0.5))
    measures["mirrored"] = closer_to_mirrored(samples, train_set.images).float().mean().item()
    measures["rotated"] = (nearest_rotation(samples, train_set.images) != 0).float().mean().item()
    if config.dataset != "faces":  # the faces' "held-out" set is the training set (100-shot protocol)
        measures["memorisation"] = memorisation(samples, train_set.images, heldout.images).ratio
    measures["novelty"] = novelty(samples, train_set.images, with_mirrors=config.flip_reals)
    return {key: float(value) for key, value in measures.items()}


def reference_entry(config: TrainConfig, history: Sequence[Mapping[str, Any]],
                    measures: Mapping[str, float] | None = None, samples: str | None = None) -> dict[str, Any]:
    """One run as the reference keeps it: the config's non-default fields, the kept history columns, the
    sample measures and (when given) a few samples of its final generator (:func:`reference.encode_samples`)."""
    defaults = TrainConfig()
    changed = {name: value for name, value in config.to_dict().items() if value != getattr(defaults, name, None)}
    rows = [{key: _round(row[key]) for key in KEPT if key in row} for row in history]
    entry = {"config": changed, "history": rows, "measures": {k: _round(v) for k, v in (measures or {}).items()}}
    if samples is not None:
        entry["samples"] = samples
    return entry


def final_samples(run: Any, n: int = N_SAMPLES_KEPT) -> str:
    """``n`` samples of a run's final generator from a fixed z (seed 0), encoded for the reference."""
    import torch

    z = torch.randn(n, run.config.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return encode_samples(run.generator()(z))


def build_reference(
    lessons: Sequence[str] | None = None,
    preset: str | None = "cpu",
    out: str | Path = REFERENCE_FILE,
    seeds: int | None = None,
    progress: bool = True,
    cached_only: bool = False,
) -> Path:
    """Train (or load) every run of ``lessons`` over their reference seeds and write the reference file.

    ``seeds``: the same count for every lesson (default: :func:`lessons.reference_seeds` per lesson).
    ``cached_only``: train nothing; keep the finished runs the cache holds, and for the runs and seeds
    it lacks, the entries the file at ``out`` already has (so a reference grows in parts as seeds
    finish, and a cache that lost old runs never shrinks it). Returns the file's path.
    The file records the command, the package and numerics versions.
    """
    from .atomic import atomic_write_bytes
    from .runs import finished_run, train_seeds

    previous = Reference.load(out) if cached_only and Path(out).exists() else Reference()
    chosen = list(lessons or LESSONS)
    runs: dict[str, Any] = {}
    lesson_keys: dict[str, dict[str, list[str]]] = {}
    for lesson in chosen:
        configs = lesson_configs(lesson, preset)
        count = seeds or reference_seeds(lesson)
        if cached_only:
            trained = {name: [run for seed in range(count) if (run := finished_run(config.replace(seed=seed)))]
                       for name, config in configs.items()}
        else:
            trained = train_seeds(configs, count, progress=progress)
        lesson_keys[lesson] = {}
        for name, seed_runs in trained.items():
            for run in seed_runs:
                if run.config.key() not in runs:
                    runs[run.config.key()] = reference_entry(run.config, run.history, sample_measures(run),
                                                             final_samples(run))
            for seed in range(count):
                key = configs[name].replace(seed=seed).key()
                if key not in runs and key in previous.data["runs"]:
                    runs[key] = previous.data["runs"][key]
            lesson_keys[lesson][name] = [key for seed in range(count)
                                         if (key := configs[name].replace(seed=seed).key()) in runs]
    command = f"python -m diffaug_lessons reference --preset {preset}" + (f" --seeds {seeds}" if seeds else "")
    if lessons:
        command += " --lessons " + " ".join(chosen)
    if cached_only:
        command += " --cached-only"
    data = {
        "command": command, "package_version": __version__, "numerics_version": NUMERICS_VERSION,
        "made": datetime.date.today().isoformat(), "preset": preset, "lessons": lesson_keys, "runs": runs,
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"
    path = atomic_write_bytes(text.encode(), out)
    path.chmod(0o644)  # package data: readable by everyone who installs it
    return Path(path)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


# Student's t, 97.5% quantile, by degrees of freedom (beyond 30: the normal's 1.96).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         15: 2.131, 20: 2.086, 30: 2.042}


def prediction_interval(values: Sequence[float]) -> tuple[float, float]:
    """95% prediction interval for one more draw from the distribution of ``values`` (two or more)."""
    n = len(values)
    if n < 2:
        raise ValueError(f"a prediction interval needs two values at least; got {n}")
    mean, sd = mean_sd(values)
    df = n - 1
    t = _T975.get(df) or (1.96 if df > 30 else _T975[max(k for k in _T975 if k < df)])
    half = t * sd * math.sqrt(1 + 1 / n)
    return mean - half, mean + half


class Table:
    """A small results table: markdown in JupyterLab, aligned text elsewhere."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str]], note: str = "") -> None:
        self.header, self.rows, self.note = list(header), [list(r) for r in rows], note

    def _repr_markdown_(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines) + (f"\n\n{self.note}" if self.note else "")

    def __str__(self) -> str:
        widths = [max(len(str(x)) for x in column) for column in zip(self.header, *self.rows)]
        lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [self.header, *self.rows]]
        return "\n".join(lines) + (f"\n{self.note}" if self.note else "")

    __repr__ = __str__


@dataclass
class Evidence:
    """A lesson's runs over seeds: the student's trained runs and the reference's other seeds.

    ``histories[name][seed]`` is a history; ``sources[name][seed]`` says where it came from
    (``"your run"`` or ``"reference"``); ``runs[name]`` lists the trained runs (with weights).
    """

    configs: dict[str, TrainConfig]
    runs: dict[str, list[Any]]
    histories: dict[str, dict[int, list[dict[str, float]]]]
    sources: dict[str, dict[int, str]]
    reference_command: str = REFERENCE_COMMAND
    reference: Reference = field(default_factory=Reference)
    _measured: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict, repr=False)

    def common(self) -> Evidence:
        """The same runs limited to the seeds every run has (a sweep's points then share their seeds)."""
        keep = set(self.seeds())
        histories = {name: {s: h for s, h in by_seed.items() if s in keep} for name, by_seed in self.histories.items()}
        sources = {name: {s: v for s, v in by_seed.items() if s in keep} for name, by_seed in self.sources.items()}
        return Evidence(self.configs, self.runs, histories, sources, self.reference_command, self.reference)

    # -- numbers --------------------------------------------------------------
    def scale(self, key: str) -> tuple[float, str]:
        """(scale, label) of ``key`` for these runs (:func:`metric_scale`)."""
        return metric_scale(key, next(iter(self.configs.values()), None))

    def seeds(self, *names: str) -> list[int]:
        """The seeds every one of ``names`` (default: all) has, in order."""
        chosen = names or tuple(self.configs)
        common = set.intersection(*(set(self.histories[name]) for name in chosen))
        return sorted(common)

    def value(self, name: str, seed: int, key: str = "fid") -> float:
        """One run's number: ``key`` averaged over its last three evaluations (``best_fid``: its lowest FID)."""
        return summary_value(self.histories[name][seed], key)

    def measure(self, name: str, seed: int, key: str) -> float:
        """A sample measure (:func:`sample_measures`) of one run: computed from your run's generator,
        read from the reference for its seeds."""
        if (name, seed) not in self._measured:
            if self.sources[name][seed] == YOURS:
                run = next(run for run in self.runs[name] if run.config.seed == seed)
                self._measured[(name, seed)] = sample_measures(run)
            else:
                self._measured[(name, seed)] = self.reference.measures(self.configs[name].replace(seed=seed))
        return self._measured[(name, seed)][key]

    def samples(self, name: str, seed: int) -> Any:
        """The final generator's samples of one run, from the fixed z of the reference (:func:`final_samples`):
        drawn by your run's generator, read from the reference for its seeds (None if it keeps none)."""
        if self.sources[name][seed] == YOURS:
            run = next(run for run in self.runs[name] if run.config.seed == seed)
            return decode_samples(final_samples(run))  # the same 8-bit steps as the reference's
        return self.reference.samples(self.configs[name].replace(seed=seed))

    def show_samples(self, names: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
                     width: float = 11.0) -> Any:
        """A panel per run of ``names``, one above the other: a row of the final generator's samples per seed
        (the same z in every row and panel), without training (the reference keeps them). Returns the figure."""
        import matplotlib.pyplot as plt
        import torch

        from .plots import show_grid

        labels = labels or {}
        panels = []
        for name in names or self.configs:
            rows = [(seed, images) for seed in self.seeds(name) if (images := self.samples(name, seed)) is not None]
            if not rows:
                continue
            seeds = [seed for seed, _ in rows]
            mine = [seed for seed in seeds if self.sources[name][seed] == YOURS]
            title = f"{labels.get(name, name)}: seeds {_seed_list(seeds)}, a row each" + (
                f" (seed {_seed_list(mine)}: your run)" if mine else "")
            panels.append((title, torch.cat([images for _, images in rows]), len(rows[0][1]), len(rows)))
        if not panels:
            raise ValueError("no samples to show: the reference keeps none for these runs and you trained none")
        heights = [width * n_rows / per_row + 0.35 for _, _, per_row, n_rows in panels]
        fig, axes = plt.subplots(len(panels), 1, figsize=(width, sum(heights)), squeeze=False,
                                 gridspec_kw={"height_ratios": heights})
        for ax, (title, images, per_row, _) in zip(axes[:, 0], panels):
            show_grid(images, title, ax, per_row)
        fig.tight_layout()
        return fig

    def measures(self, name: str, key: str) -> list[float]:
        """:meth:`measure` for every seed of ``name``, in seed order."""
        return [self.measure(name, seed, key) for seed in self.seeds(name)]

    def measure_spread(self, name: str, key: str, percent: bool = False) -> str:
        """'mean ± sd' over the seeds of a sample measure (as percentages with ``percent``)."""
        values = [v * (100 if percent else 1) for v in self.measures(name, key)]
        mean, sd = mean_sd(values)
        unit, digits = ("%", 1) if percent else ("", 3)
        return f"{mean:.{digits}f}{unit}" if len(values) == 1 else f"{mean:.{digits}f} ± {sd:.{digits}f}{unit}"

    def values(self, name: str, key: str = "fid") -> list[float]:
        return [self.value(name, seed, key) for seed in self.seeds(name)]

    def spread(self, name: str, key: str = "fid", digits: int | None = None) -> str:
        """'mean ± sd' over the seeds (KID scaled as :func:`metric_scale` says)."""
        scale = self.scale(key)[0]
        values = [v * scale for v in self.values(name, key)]
        digits = (1 if key.removeprefix(BEST) in SCALES else 2) if digits is None else digits
        mean, sd = mean_sd(values)
        return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {sd:.{digits}f}"

    def count(self, holds: Callable[[int], bool], *names: str) -> tuple[int, int]:
        """(seeds where ``holds(seed)``, seeds) over the seeds every one of ``names`` has."""
        seeds = self.seeds(*names)
        return sum(bool(holds(seed)) for seed in seeds), len(seeds)

    def claim(self, text: str, holds: Callable[[int], bool], *names: str,
              numbers: Callable[[int], str] | None = None) -> str:
        """'text: in k of n seeds (seed 0: ..., seed 1: ...)'."""
        k, n = self.count(holds, *names)
        line = f"{text}: in {k} of {n} seeds"
        if numbers is not None:
            line += " (" + "; ".join(f"seed {s}: {numbers(s)}" for s in self.seeds(*names)) + ")"
        return line

    def table(self, keys: Sequence[str] = ("fid", "kid"), names: Sequence[str] | None = None,
              labels: Mapping[str, str] | None = None) -> Table:
        """Mean ± sd over the seeds of each key for each run, and the seeds it rests on."""
        labels = labels or {}
        names = list(names or self.configs)
        header = ["run", *(self.scale(key)[1] for key in keys), "seeds"]
        rows = []
        for name in names:
            seeds = self.seeds(name)
            mine = [s for s in seeds if self.sources[name][s] == YOURS]
            where = f"{len(seeds)}" + (f" (yours: {', '.join(map(str, mine))})" if mine and len(mine) < len(seeds) else "")
            rows.append([labels.get(name, name), *(self.spread(name, key) for key in keys), where])
        note = (f"Each number: the mean of a run's last {SUMMARY_LAST} evaluations (a 'best' column: its lowest value "
                "of any evaluation), then mean ± standard deviation over the seeds.")
        return Table(header, rows, note)

    def band_line(self, name: str, key: str = "fid") -> str:
        """One line: the student's run of ``name`` against the reference's other seeds.

        The band is the 95% prediction interval for one more seed from those seeds (Student's t:
        mean ± t(0.975, n-1) · sd · sqrt(1 + 1/n)); with two or three reference seeds it is wide,
        which is the honest answer to "is my run unusual?" from so few runs.
        """
        scale, label = self.scale(key)
        mine = [s for s, source in self.sources[name].items() if source == YOURS]
        others = [s for s, source in sorted(self.sources[name].items()) if source == REFERENCE]
        if not mine:
            return f"{name}: no run of yours (reference seeds {others})"
        seed = mine[0]
        value = self.value(name, seed, key) * scale
        if len(others) < 2:
            return (f"{name}: your run (seed {seed}) {label} {value:.1f}; the reference holds no other seeds of "
                    "these settings to compare with")
        reference = [self.value(name, s, key) * scale for s in others]
        low, high = prediction_interval(reference)
        if key == "fid":
            low = max(low, 0.0)  # a FID is never below 0
        verdict = "inside" if low <= value <= high else ("below" if value < low else "above")
        return (f"{name}: your run (seed {seed}) {label} {value:.1f}, {verdict} the reference band [{low:.1f}, {high:.1f}] "
                f"(95% prediction interval from seeds {', '.join(map(str, others))}: "
                f"{', '.join(f'{v:.1f}' for v in reference)})")

    def band_lines(self, key: str = "fid", names: Sequence[str] | None = None) -> str:
        """:meth:`band_line` for every run the student trained (or a line saying there are none)."""
        names = [name for name in (names or self.configs) if YOURS in self.sources[name].values()]
        if not names:
            return "no runs of yours here: every number comes from the reference results"
        return "\n".join(self.band_line(name, key) for name in names)

    # -- plots ----------------------------------------------------------------
    def plot_keys(self, ax: Any, name: str, keys: Mapping[str, str], colors: Sequence[str] | None = None) -> Any:
        """Several keys of one run over training (``keys``: key -> label), each as a band over seeds with
        its mean, the student's run dashed. ``colors``: one per key (default :func:`plots.key_colours`: training
        reals blue, held-out reals green, fakes vermilion, in every lesson)."""
        import numpy as np

        colors = list(colors or key_colours(keys))
        seeds = self.seeds(name)
        steps = np.array([row["step"] for row in self.histories[name][seeds[0]]])
        for (key, label), color in zip(keys.items(), colors):
            values = np.array([[row[key] for row in self.histories[name][s]] for s in seeds])
            ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.15, lw=0)
            ax.plot(steps, values.mean(axis=0), color=color, lw=2, label=f"{label} ({_of_seeds(len(seeds))})")
            for i, seed in enumerate(seeds):
                mine = self.sources[name][seed] == YOURS
                ax.plot(steps, values[i], color=color, lw=1 if mine else 0.5, ls="--" if mine else "-",
                        alpha=1 if mine else 0.5)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        return ax

    def bars(self, ax: Any, key: str = "fid", names: Sequence[str] | None = None,
             labels: Mapping[str, str] | None = None, color: str | None = None, measure: bool = False) -> Any:
        """A bar per run at its mean over seeds, every seed as a point (the student's as a black cross).
        ``measure``: ``key`` is a sample measure (:meth:`measure`), not a history column. ``color``: every
        bar's (default: each run its own, :func:`plots.colours_for`: runs of different strategies in their
        strategy's colour)."""
        scale, ylabel = (1.0, key.replace("_", " ")) if measure else self.scale(key)
        labels = labels or {}
        names = list(names or self.configs)
        colors = [color] * len(names) if color is not None else colours_for(self.configs[name] for name in names)
        for i, (name, bar_colour) in enumerate(zip(names, colors)):
            seeds = self.seeds(name)
            values = [(self.measure(name, s, key) if measure else self.value(name, s, key)) * scale for s in seeds]
            ax.bar(i, sum(values) / len(values), color=bar_colour, alpha=0.35)
            for j, (seed, value) in enumerate(zip(seeds, values)):
                mine = self.sources[name][seed] == YOURS
                ax.plot(i + (j - (len(seeds) - 1) / 2) * 0.12, value, "x" if mine else "o",
                        color="black" if mine else bar_colour, ms=7 if mine else 5)
        ax.set_xticks(range(len(names)), [labels.get(n, n) for n in names], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
        return ax

    def plot(self, ax: Any, key: str = "fid", names: Sequence[str] | None = None,
             labels: Mapping[str, str] | None = None, colors: Sequence[str] | None = None,
             real_line: bool = True, from_step: int | None = None, log: bool = False) -> Any:
        """``key`` over training: for each run a band from the lowest to the highest seed, the mean over
        seeds thick, the student's own runs drawn on top (dashed). FID/KID get the reals' reference line.
        ``colors``: one per run, in order (default :func:`plots.colours_for`: runs of different strategies in
        their strategy's colour, runs that share one in :data:`plots.OTHER_COLOURS`).
        ``from_step``: size the y axis to the values from that step on (the first evaluations, far
        higher, run off the top), so a late rise stays visible on a linear axis. ``log``: a log y axis
        instead."""
        import numpy as np

        scale, ylabel = self.scale(key)
        labels = labels or {}
        names = list(names or self.configs)
        colors = list(colors or colours_for(self.configs[name] for name in names))
        for name, color in zip(names, colors):
            seeds = self.seeds(name)
            steps = np.array([row["step"] for row in self.histories[name][seeds[0]]])
            values = np.array([[row[key] * scale for row in self.histories[name][s]] for s in seeds])
            label = labels.get(name, name)
            ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.15, lw=0)
            ax.plot(steps, values.mean(axis=0), color=color, lw=2, label=f"{label} ({_of_seeds(len(seeds))})")
            for i, seed in enumerate(seeds):
                if self.sources[name][seed] == YOURS:
                    ax.plot(steps, values[i], color=color, lw=1, ls="--", label=f"{label}: your run (seed {seed})"
                            if len(seeds) > 1 and i == 0 else None)
                else:
                    ax.plot(steps, values[i], color=color, lw=0.5, alpha=0.5)
        bottom = 0.0
        if real_line and key in ("fid", "kid") and names:
            real = real_reference(self.configs[names[0]])
            ax.axhline(real[key] * scale, color="black", ls=":", lw=1.2,
                       label=f"real vs real: {real['n_train']} training vs {real['n_heldout']} held-out reals")
            bottom = min(0.0, real[key] * scale * 1.15)  # an unbiased KID of near-identical sets can be below 0
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        if log:  # a log axis: every decade readable, from the first evaluations to the last
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=bottom)
        if from_step is not None:
            top = self.highest(key, names, from_step)
            if top is not None:
                ax.set_ylim(top=top * 1.15)
        ax.grid(alpha=0.3)
        return ax

    def highest(self, key: str = "fid", names: Sequence[str] | None = None, from_step: int = 0) -> float | None:
        """The highest ``key`` (scaled as plotted) of any evaluation from ``from_step`` on, over every seed of
        ``names`` (default: all); None where there is none. With ``from_step`` it is what :meth:`plot` sizes its
        axis to; without, what such an axis cuts off."""
        scale = self.scale(key)[0]
        values = [row[key] * scale for name in (names or self.configs) for history in self.histories[name].values()
                  for row in history if row["step"] >= from_step]
        return max(values, default=None)


def gather(
    configs: Mapping[str, TrainConfig],
    seeds: int | Sequence[int] = 1,
    *,
    reference: Reference | None = None,
    retrain: bool = False,
    progress: bool = True,
) -> Evidence:
    """Train ``configs`` at ``seeds`` (a count n: seeds 0 .. n-1) and add the reference's other seeds.

    ``seeds=0``: the reference alone, except for configs it has no results for (another preset,
    quick mode), whose seed 0 trains. The student's runs always win over the reference
    for the same seed. Returns an :class:`Evidence`.
    """
    from .runs import train_seeds

    reference = reference if reference is not None else Reference.load_default()
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds == 0:
        missing = {name: config for name, config in configs.items() if not reference.seeds(config)}
        if missing:
            print(f"the reference holds no results for {', '.join(missing)} with these settings "
                  "(another preset, or quick mode): training seed 0 of them")
        trained = {name: [] for name in configs}
        trained.update(train_seeds(missing, 1, retrain=retrain, progress=progress) if missing else {})
    else:
        trained = train_seeds(configs, seeds, retrain=retrain, progress=progress)
    histories: dict[str, dict[int, list[dict[str, float]]]] = {}
    sources: dict[str, dict[int, str]] = {}
    for name, config in configs.items():
        histories[name], sources[name] = {}, {}
        for run in trained[name]:
            histories[name][run.config.seed], sources[name][run.config.seed] = run.history, YOURS
        for seed in reference.seeds(config):
            if seed not in histories[name]:
                histories[name][seed] = reference.history(config.replace(seed=seed))
                sources[name][seed] = REFERENCE
        histories[name] = dict(sorted(histories[name].items()))
    return Evidence(dict(configs), trained, histories, sources, reference.command, reference)


def _seed_list(seeds: Sequence[int]) -> str:
    """0-4 for a run of consecutive seeds, else 0, 2, 5."""
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _of_seeds(n: int) -> str:
    return "one seed" if n == 1 else f"mean of {n} seeds"


def plot_sweep(evidence: Evidence, ax: Any, key: str = "fid", strategies: Sequence[str] | None = None,
               strengths: Sequence[float] | None = None, colors: Sequence[str] | None = None) -> Any:
    """The strength sweep (the runs of ``lesson_configs("04-sweep")``): ``key`` against T's strength,
    a line per strategy through the means over seeds, every seed a point. ``colors``: one per strategy
    (default: each strategy's :data:`plots.STRATEGY_COLOURS`)."""

    scale, ylabel = evidence.scale(key)
    strategies, strengths = list(strategies or SWEEP_STRATEGIES), list(strengths or SWEEP_STRENGTHS)
    colors = list(colors or (STRATEGY_COLOURS[strategy] for strategy in strategies))
    for strategy, color in zip(strategies, colors):
        means = []
        for strength in strengths:
            name = sweep_label(strategy, strength)
            values = [evidence.value(name, seed, key) * scale for seed in evidence.seeds(name)]
            means.append(sum(values) / len(values))
            ax.plot([strength] * len(values), values, "o", color=color, ms=4, alpha=0.6)
        ax.plot(strengths, means, "-", color=color, lw=2, label=f"{STRATEGY_LABELS[strategy]} (mean over seeds)")
    ax.set_xlabel("strength of T (1 = the lessons' T as chosen; 0 = no T, the baseline)")
    ax.set_ylabel(ylabel)
    ax.set_xticks(strengths)
    ax.grid(alpha=0.3)
    return ax
