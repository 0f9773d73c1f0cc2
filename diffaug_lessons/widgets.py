"""Interactive widgets for the lessons (ipywidgets 8: nothing to build or install in JupyterLab 4).

Five widgets, each a thin layer over functions of this module that are tested on their own:

- :func:`predict`: a multiple-choice question to answer before an experiment runs; on a static
  page (no widget JavaScript) it reads as the question and its lettered choices;

- :func:`policy_playground`: tick transforms, move their strengths, see x above T(x) and the
  ``DiffAugment(...)`` call that does it;
- :func:`strategy_explorer`: the paper's table of where T is applied, beside the lines of
  :func:`~diffaug_lessons.train.train_step` that apply it;
- :func:`training_dashboard`: start, stop and resume a run in a background thread, with live
  curves of D's outputs, FID, KID and samples from a fixed z; it opens on the finished run of its
  settings when the cache holds one;
- :func:`run_comparison`: saved runs side by side, named in words (curves, a table of final
  numbers or means of the last evaluations, final samples).

And one static display, :func:`formulas_html`: the source of each readable op of T beside a
picture of what it does.

Each returns an object that displays itself, keeps its box in ``.widget`` and its controls as
attributes, so a notebook or a test can drive it from code (``playground.sliders["p"].value = 0.5``).
Every argument is checked where it enters: an odd value is refused with a ValueError that names
the argument, the value and what it may be.
"""

from __future__ import annotations

import base64
import functools
import html
import inspect
import io
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import torch
from IPython.display import display

from . import solutions
from .augment import (
    COLOR_OPS,
    GEOMETRIC_OPS,
    AugmentParams,
    Strengths,
    apply,
    brightness,
    contrast,
    cutout,
    parse_policy,
    sample_params,
    saturation,
    translation,
)
from .data import load_dataset
from .errors import check_choice, check_kind, check_number, choice_error, short_repr
from .experiments import STRATEGY_LABELS as STRATEGY_WORDS
from .plots import STRATEGY_COLOURS, colours_for, grid_png, plot_d_outputs, plot_metric
from .predictions import answer as answer_of
from .runs import STATUSES, CorruptRunError, Run, list_runs, run_name, runs_dir, train_in_folder
from .train import STRATEGIES, WHERE_T_IS_APPLIED, Record, TrainConfig, lesson_config, train_step

PLAYGROUND_OPS = COLOR_OPS + GEOMETRIC_OPS
PLAYGROUND_DATASETS = ("digits", "shapes", "faces")
PREVIEW_RESOLUTIONS = (8, 16, 32, 64)  # what every playground dataset offers
MAX_PREVIEW_IMAGES = 64  # one row of images: more would be too small to see
MAX_SCALE = 128  # integer zoom of a picture (the playground zooms one 8x8 image 80 times)
MAX_SEED = 2**63 - 1  # as TrainConfig.seed
STRENGTH_SLIDERS = {  # Strengths field -> slider label
    "translation_ratio": "translation ratio",
    "cutout_ratio": "cutout ratio",
    "color_strength": "colour strength",
    "p": "probability p",
}
STRATEGY_LABELS = {"none": "none (baseline)", "reals_only": "reals only", "d_only": "D only", "diffaugment": "DiffAugment"}
N_TRAIN_CHOICES = (50, 100, 200, 500, 1000)
COMPARISON_METRICS = ("d_gap", "fid", "kid", "d_train", "d_heldout", "d_fake", "acc_fake", "acc_fake_aug")
CLIPPED_METRICS = ("fid", "kid")  # their first evaluations run into the thousands: the axis is sized without them
TABLE_METRICS = {"fid": "FID", "kid": "KID", "d_gap": "D gap", "d_train": "D(train reals)",
                 "d_heldout": "D(held-out reals)", "d_fake": "D(fakes)"}
STATISTICS = {"last3": "mean of the last 3 evaluations", "final": "final value (last evaluation)"}
LETTERS = "ABCDEFGHIJ"
ERROR_COLOUR = "#b00020"
ROW_KEYS = ("step", "d_train", "d_heldout", "d_fake", "fid", "kid")  # what the dashboard shows of a metrics row


class _Panel:
    """Displays as its ``widget``: ``PolicyPlayground(...)`` as the last line of a cell shows it."""

    widget: widgets.Widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _red(message: str) -> str:
    return f'<span style="color:{ERROR_COLOUR}">{html.escape(message)}</span>'


def _scale_to(width_px: int, per_row: int, side: int) -> int:
    """Integer zoom that makes a row of ``per_row`` images of ``side`` pixels about ``width_px`` wide."""
    return max(1, round(width_px / (per_row * (side + 1))))


def _image(value: bytes = b"", css_class: str | None = None) -> widgets.Image:
    """A PNG Image widget shown at its own size (flex boxes would otherwise stretch it)."""
    image = widgets.Image(value=value, format="png", layout=widgets.Layout(align_self="flex-start"))
    if css_class:
        image.add_class(css_class)
    return image


def _figure_png(draw: Callable[[Any], None], panels: int, height: float = 2.8, width: float | None = None) -> bytes:
    """Render ``draw(axes)`` on a fresh figure to PNG bytes (no pyplot: safe from any thread)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width or 3.6 * panels, height), dpi=80)
    draw(figure.subplots(1, panels, squeeze=False)[0])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _check_text(name: str, value: object, *, empty: bool = False) -> str:
    """``value`` if it is a string (a non-empty one unless ``empty``), else a ValueError naming ``name``."""
    check_kind(name, value, str, "a string" if empty else "a non-empty string")
    if not empty and not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    return value


def _check_list(name: str, value: object, item: type | tuple[type, ...], what: str, low: int = 0,
                high: float = math.inf) -> list[Any]:
    """``value`` as a list if it is a collection (not a string or a dict) of ``low`` to ``high`` entries,
    each an ``item``; else a ValueError naming ``name`` and ``what`` it must be."""
    items = list(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)) else None
    if items is None or not low <= len(items) <= high or not all(isinstance(entry, item) for entry in items):
        raise ValueError(f"{name} must be {what}; got {short_repr(value)}")
    return items


def _check_row(name: str, row: object, keys: Sequence[str]) -> Mapping[str, float]:
    """``row`` if it is a metrics row (a dict, as in ``run.history``) holding ``keys``, else a ValueError naming it."""
    check_kind(name, row, Mapping, "a metrics row (a dict, as in run.history)")
    missing = [key for key in keys if key not in row]
    if missing:
        raise ValueError(f"{name} lacks {', '.join(missing)}: {short_repr(row)}; give a run's metrics row "
                         "(as in run.history)")
    return row


def _check_history(name: str, history: object, keys: Sequence[str] = ("step",)) -> list[Mapping[str, float]]:
    """``history`` as a list if it is a run's metrics rows (dicts holding ``keys``), else a ValueError naming it."""
    rows = _check_list(name, history, object, "a list of metrics rows (dicts, as run.history)")
    for index, row in enumerate(rows):
        _check_row(f"{name}[{index}]", row, keys)
    return rows


def _check_policy(policy: object) -> str:
    """``policy`` if it is a policy string T understands ("" is the identity), else a ValueError naming it."""
    check_kind("policy", policy, str, "a string of transforms such as 'color,translation,cutout'")
    try:
        parse_policy(policy)
    except ValueError as error:
        raise ValueError(f"policy {policy!r}: {error}") from None
    return policy


def _check_images(images: object) -> torch.Tensor:
    """``images`` if it is a float tensor (N, C, H, W) holding at least one image, else a ValueError naming it."""
    if not (isinstance(images, torch.Tensor) and images.dim() == 4 and images.is_floating_point()
            and images.numel() > 0):
        raise ValueError(f"images must be a float tensor (N, C, H, W) in [-1, 1] with at least one image; "
                         f"got {short_repr(images)}")
    return images


def _check_preview(dataset: object, n_images: object, resolution: object) -> None:
    """Refuse a dataset, count or resolution the playground cannot show, naming it."""
    check_choice("dataset", dataset, PLAYGROUND_DATASETS)
    check_number("n_images", n_images, int, 1, MAX_PREVIEW_IMAGES)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution not in PREVIEW_RESOLUTIONS:
        raise ValueError(f"resolution must be one of {', '.join(map(str, PREVIEW_RESOLUTIONS))}; "
                         f"got {short_repr(resolution)}")


def _check_runs(name: str, runs: object, *, optional: bool = True) -> list[Run] | None:
    """``runs`` as a list of :class:`~diffaug_lessons.runs.Run` (None passes when ``optional``), else a
    ValueError naming ``name``."""
    if runs is None and optional:
        return None
    return _check_list(name, runs, Run, "a list of saved runs (Run, as cached_train returns)"
                       + (" or None" if optional else ""))


# ---------------------------------------------------------------------------------------------------
# 0. Predict, then run


def _choice_index(name: str, value: object, n_choices: int) -> int:
    """The index of a choice given by index or letter, else a ValueError naming ``name`` and the valid ones."""
    if isinstance(value, str):
        return LETTERS.index(check_choice(name, value, LETTERS[:n_choices]))
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n_choices:
        raise ValueError(f"{name} must be a choice's index (0 to {n_choices - 1}) or letter "
                         f"({', '.join(LETTERS[:n_choices])}); got {short_repr(value)}")
    return value


def _check_choices(choices: object) -> list[str]:
    """``choices`` as a list if it holds 2 to 10 non-empty strings, else a ValueError naming it."""
    what = f"a list of 2 to {len(LETTERS)} non-empty strings"
    listed = _check_list("choices", choices, str, what, 2, len(LETTERS))
    if not all(choice.strip() for choice in listed):
        raise ValueError(f"choices must be {what}; got {short_repr(choices)}")
    return listed


def prediction_text(question: str, choices: Sequence[str]) -> str:
    """The question and its lettered choices as plain text: what a static page shows of :func:`predict`."""
    _check_text("question", question)
    choices = _check_choices(choices)
    lines = [f"Predict: {question}", *(f"  {LETTERS[i]}. {choice}" for i, choice in enumerate(choices))]
    return "\n".join([*lines, "(In a live notebook: pick an answer and press Check.)"])


def prediction_feedback(chosen: int | str | None, answer: int | str, choices: Sequence[str],
                        explanation: str) -> tuple[bool | None, str]:
    """(right?, HTML) for the choice ``chosen`` (None: nothing picked yet) against ``answer``.

    ``chosen`` and ``answer``: a choice's index (0 to len(choices) - 1) or letter ("A", "B", ...).
    """
    choices = _check_choices(choices)
    answer = _choice_index("answer", answer, len(choices))
    _check_text("explanation", explanation, empty=True)
    if chosen is None:
        return None, "<i>Pick an answer first.</i>"
    chosen = _choice_index("chosen", chosen, len(choices))
    right = LETTERS[answer] + ". " + html.escape(choices[answer])
    if chosen == answer:
        verdict = f"<b style='color:#1b7a1b'>&#10004; Right: {right}</b>"
    else:
        verdict = (f"<b style='color:{ERROR_COLOUR}'>&#10008; Not quite: you chose {LETTERS[chosen]}; "
                   f"the answer is {right}</b>")
    return chosen == answer, f"{verdict}<br>{html.escape(explanation)}"


class Prediction(_Panel):
    """Radio buttons for the choices, a Check button and the feedback. See :func:`predict`."""

    def __init__(self, question: str, choices: Sequence[str], answer: int | str, explanation: str) -> None:
        self.question = _check_text("question", question)
        self.choices = _check_choices(choices)
        self.answer = _choice_index("answer", answer, len(self.choices))
        self.explanation = _check_text("explanation", explanation, empty=True)
        self.options = widgets.RadioButtons(options=[(f"{LETTERS[i]}. {c}", i) for i, c in enumerate(self.choices)],
                                            value=None, layout=widgets.Layout(width="auto"))
        self.check_button = widgets.Button(description="Check", icon="check", button_style="info")
        self.feedback = widgets.HTML()
        self.check_button.on_click(lambda _button: self.check())
        self.check_button.add_class("diffaug-predict-check")
        self.feedback.add_class("diffaug-predict-feedback")
        self.widget = widgets.VBox([widgets.HTML(f"<b>Predict:</b> {html.escape(question)}"), self.options,
                                    self.check_button, self.feedback])
        self.widget.add_class("diffaug-predict")

    def check(self) -> bool | None:
        """Show whether the chosen answer is right; None (and a request to pick one) when none is chosen."""
        right, self.feedback.value = prediction_feedback(self.options.value, self.answer, self.choices, self.explanation)
        return right

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs))
        bundle["text/plain"] = prediction_text(self.question, self.choices)
        return bundle


class Solution(_Panel):
    """A button that reveals a solution's code; hidden until pressed. See :func:`solution`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.function = solutions.get(name)
        self.code = widgets.HTML()
        self.button = widgets.Button(description="Show the solution", icon="eye", button_style="warning")
        self.button.on_click(lambda _button: self.reveal())
        self.button.add_class("diffaug-solution-show")
        self.code.add_class("diffaug-solution-code")
        self.widget = widgets.VBox([self.button, self.code])
        self.widget.add_class("diffaug-solution")

    def reveal(self) -> str:
        """Show the code (and return it)."""
        source = inspect.getsource(self.function)
        self.code.value = f"<pre style='font-size:12px'>{html.escape(source)}</pre>"
        self.button.layout.display = "none"
        return source

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs))
        bundle["text/plain"] = (f"(the solution {self.name!r} is hidden: press 'Show the solution' in a live notebook, "
                                "or read diffaug_lessons/solutions.py)")
        return bundle


def solution(name: str) -> Callable:
    """Show a button that reveals the solution called ``name`` (:data:`diffaug_lessons.solutions.SOLUTIONS`)
    and return the solution, so the cell can run the exercise's checker on it. Saved in a notebook, the cell
    shows the button and the checker's verdict, never the code."""
    panel = Solution(name)
    display(panel)
    return panel.function


def predict(name: str, question: str, choices: Sequence[str]) -> Prediction:
    """Commit to a prediction before running an experiment.

    ``name``: the prediction's key in :data:`diffaug_lessons.predictions.ANSWERS`, which holds the right
    choice and the explanation, so the notebook never shows them before a choice is checked;
    ``question``: a non-empty string; ``choices``: 2 to 10 non-empty answers, shown lettered A, B, ...
    Saved in a notebook, the cell's plain-text output lists the question and the choices, so a static
    page still reads, and still without the answer.
    """
    known = answer_of(name)
    return Prediction(question, choices, known.answer, known.explanation)


# ---------------------------------------------------------------------------------------------------
# 1. The policy playground: what T does to an image


def policy_from_checkboxes(checked: Mapping[str, bool]) -> str:
    """The policy string for the ticked transforms, in DiffAugment's order.

    ``checked`` maps names of :data:`PLAYGROUND_OPS` to booleans; all three colour ops together
    read ``color``, as in the paper's policies ("color,translation,cutout"). Nothing ticked: "".
    """
    check_kind("checked", checked, Mapping, f"a dict of transform -> True/False ({', '.join(PLAYGROUND_OPS)})")
    for name, ticked in checked.items():
        if name not in PLAYGROUND_OPS:
            raise ValueError(f"checked: {choice_error('transform', name, PLAYGROUND_OPS)}")
        check_kind(f"checked[{name!r}]", ticked, bool, "True or False")
    names = [op for op in PLAYGROUND_OPS if checked.get(op)]
    if all(op in names for op in COLOR_OPS):
        names = ["color"] + [op for op in names if op not in COLOR_OPS]
    return ",".join(names)


def policy_code(policy: str, strengths: Strengths) -> str:
    """The ``DiffAugment(x, ...)`` call for ``policy`` and ``strengths``, ready to paste.

    The ratios are written whenever their transform is in the policy; ``color_strength`` and ``p``
    (not in the official code) only when they differ from 1.
    """
    ops = parse_policy(_check_policy(policy))
    check_kind("strengths", strengths, Strengths, "a Strengths")
    arguments = [f'DiffAugment(x, "{policy}"']
    if "translation" in ops:
        arguments.append(f"translation_ratio={strengths.translation_ratio:g}")
    if "cutout" in ops:
        arguments.append(f"cutout_ratio={strengths.cutout_ratio:g}")
    if any(op in COLOR_OPS for op in ops) and strengths.color_strength != 1:
        arguments.append(f"color_strength={strengths.color_strength:g}")
    if ops and strengths.p != 1:
        arguments.append(f"p={strengths.p:g}")
    return ", ".join(arguments) + ")"


def preview_images(dataset: str, n_images: int, resolution: int) -> torch.Tensor:
    """The first ``n_images`` of an embedded dataset, (n, C, resolution, resolution) in [-1, 1].

    ``dataset``: one of :data:`PLAYGROUND_DATASETS`; ``n_images``: 1 to :data:`MAX_PREVIEW_IMAGES`;
    ``resolution``: one of :data:`PREVIEW_RESOLUTIONS`.
    """
    _check_preview(dataset, n_images, resolution)
    return _preview_images(dataset, n_images, resolution)


@functools.lru_cache(maxsize=8)
def _preview_images(dataset: str, n_images: int, resolution: int) -> torch.Tensor:
    return load_dataset(dataset, resolution).images[:n_images]


def playground_images(images: torch.Tensor, policy: str, strengths: Strengths, seed: int,
                      scale: int = 3) -> tuple[bytes, AugmentParams]:
    """PNG of ``images`` (top row) above T(images) (bottom row), and the parameters T drew.

    ``images``: (n, C, H, W) in [-1, 1]. T's random parameters come from a generator seeded with
    ``seed`` (0 to 2**63 - 1): the same arguments always give the same picture. ``scale``: integer
    zoom, 1 to :data:`MAX_SCALE`.
    """
    _check_images(images)
    _check_policy(policy)
    check_kind("strengths", strengths, Strengths, "a Strengths")
    check_number("seed", seed, int, 0, MAX_SEED)
    check_number("scale", scale, int, 1, MAX_SCALE)
    params = sample_params(images, policy, strengths, torch.Generator().manual_seed(seed))
    augmented = apply(images, params)
    return grid_png(torch.cat([images, augmented]), nrow=len(images), scale=scale), params


class PolicyPlayground(_Panel):
    """Checkboxes and sliders for T; redraws x over T(x) on every change. See :func:`policy_playground`."""

    def __init__(self, dataset: str = "shapes", n_images: int = 8, resolution: int = 32, seed: int = 0) -> None:
        _check_preview(dataset, n_images, resolution)
        check_number("seed", seed, int, 0, MAX_SEED)
        self.n_images, self.resolution, self.seed = n_images, resolution, seed
        self.scale = _scale_to(720, n_images, resolution)
        self.checkboxes = {op: widgets.Checkbox(value=True, description=op, indent=False,
                                                layout=widgets.Layout(width="auto")) for op in PLAYGROUND_OPS}
        defaults = Strengths()
        self.sliders = {
            name: widgets.FloatSlider(value=getattr(defaults, name), min=0.0, max=1.0, step=0.025, description=label,
                                      readout_format=".3f", style={"description_width": "120px"})
            for name, label in STRENGTH_SLIDERS.items()
        }
        self.dataset = widgets.Dropdown(options=PLAYGROUND_DATASETS, value=dataset, description="dataset")
        self.resample_button = widgets.Button(description="Resample", icon="refresh",
                                              tooltip="draw new random parameters for T")
        self.image = _image(css_class="diffaug-playground-image")
        self.info = widgets.Label()
        self.code = widgets.HTML()
        self.description = widgets.HTML()
        for control in [*self.checkboxes.values(), *self.sliders.values(), self.dataset]:
            control.observe(self._on_change, names="value")
        self.resample_button.on_click(self._on_resample)
        self.widget = widgets.VBox([
            widgets.HBox([widgets.Label("T ="), *self.checkboxes.values()]),
            widgets.HBox([widgets.VBox(list(self.sliders.values())[:2]), widgets.VBox(list(self.sliders.values())[2:])]),
            widgets.HBox([self.dataset, self.resample_button]),
            self.info, self.image, self.code, self.description,
        ])
        self.widget.add_class("diffaug-playground")
        self.redraw()

    def strengths(self) -> Strengths:
        return Strengths(**{name: slider.value for name, slider in self.sliders.items()})

    def policy(self) -> str:
        return policy_from_checkboxes({op: box.value for op, box in self.checkboxes.items()})

    def redraw(self) -> None:
        """Draw the picture, the code line and the description for the current settings."""
        policy, strengths = self.policy(), self.strengths()
        images = preview_images(self.dataset.value, self.n_images, self.resolution)
        self.image.value, params = playground_images(images, policy, strengths, self.seed, self.scale)
        channels = "1 channel, grey" if images.shape[1] == 1 else f"{images.shape[1]} channels, RGB"
        self.info.value = (f"{self.dataset.value}: {len(images)} images, {images.shape[2]}x{images.shape[3]} "
                           f"({channels}). Top row: x. Bottom row: T(x).")
        self.code.value = f"<code>{html.escape(policy_code(policy, strengths))}</code>"
        self.description.value = f"<small>T on the first image: {html.escape(params.describe(0))}</small>"

    def _on_change(self, _change: Any) -> None:
        self.redraw()

    def _on_resample(self, _button: widgets.Button) -> None:
        self.seed = (self.seed + 1) % (MAX_SEED + 1)
        self.redraw()


def policy_playground(dataset: str = "shapes", n_images: int = 8, resolution: int = 32, seed: int = 0) -> PolicyPlayground:
    """A playground for T: pick transforms and strengths, see ``n_images`` images and T of them.

    dataset: "digits" or "faces" (grey) or "shapes" (RGB); ``n_images``: 1 to 64; ``resolution``: 8,
    16, 32 or 64. The same settings show the same T until Resample draws new random parameters
    (``seed``, 0 to 2**63 - 1, picks the first draw).
    """
    return PolicyPlayground(dataset, n_images, resolution, seed)


# ---------------------------------------------------------------------------------------------------
# 2. The strategy explorer: where T is applied


def strategy_table_html(strategy: str) -> str:
    """The paper's table (strategy x {D step: reals, D step: fakes, G step: fakes}) with ``strategy``'s row marked."""
    check_choice("strategy", strategy, STRATEGIES)
    columns = (("D step: reals", "x"), ("D step: fakes", "G(z)"), ("G step: fakes", "G(z)"))
    header = "".join(f"<th style='padding:2px 10px'>{name}</th>" for name in ("strategy", *(c for c, _ in columns)))
    rows = []
    for name, applied in WHERE_T_IS_APPLIED.items():
        cells = "".join(
            f"<td style='padding:2px 10px;color:#0b5394'><b>T({x})</b></td>" if on else f"<td style='padding:2px 10px'>{x}</td>"
            for (_, x), on in zip(columns, applied)
        )
        chosen = name == strategy
        style = "background:#fff2a8;font-weight:bold" if chosen else ""
        rows.append(f"<tr data-strategy='{name}' class='{'chosen' if chosen else ''}' style='{style}'>"
                    f"<td style='padding:2px 10px'>{STRATEGY_LABELS[name]}</td>{cells}</tr>")
    note = "<br><small>In DiffAugment's G step the gradient flows through T into G.</small>"
    return f"<table style='border-collapse:collapse'><tr>{header}</tr>{''.join(rows)}</table>{note}"


def train_step_source_html(strategy: str) -> str:
    """The source of :func:`~diffaug_lessons.train.train_step` in a <pre>, its ``T(`` lines highlighted.

    A line is green when ``strategy`` applies T there and grey when it does not (read from the
    flags the function unpacks from ``WHERE_T_IS_APPLIED``).
    """
    check_choice("strategy", strategy, STRATEGIES)
    lines = inspect.getsource(train_step).splitlines()
    flags: dict[str, bool] = {}
    for line in lines:
        if "= WHERE_T_IS_APPLIED[strategy]" in line:
            names = [name.strip() for name in line.split("=")[0].split(",")]
            flags = dict(zip(names, WHERE_T_IS_APPLIED[strategy]))
    shown = []
    for line in lines:
        text = html.escape(line)
        if "T(" in line and not line.lstrip().startswith("#"):
            applied = all(on for flag, on in flags.items() if flag in line)
            kind, colour, note = ("t-applied", "#c9f2c7", "T applied") if applied else ("t-skipped", "#e6e6e6", "T not applied")
            text = f"<span class='{kind}' style='background:{colour}'>{text}</span>  <i>&lt;- {note}</i>"
        shown.append(text)
    return f"<pre style='font-size:11px;line-height:1.3'>{chr(10).join(shown)}</pre>"


class StrategyExplorer(_Panel):
    """Toggle a strategy; see its row of the table and the lines of train_step. See :func:`strategy_explorer`."""

    def __init__(self, strategy: str = "diffaugment") -> None:
        check_choice("strategy", strategy, STRATEGIES)
        self.toggles = widgets.ToggleButtons(options=[(STRATEGY_LABELS[s], s) for s in STRATEGIES], value=strategy)
        self.table = widgets.HTML()
        self.source = widgets.HTML()
        self.toggles.observe(self._on_change, names="value")
        self.table.layout.margin = "0 24px 0 0"
        self.widget = widgets.VBox([self.toggles, widgets.Box([self.table, self.source],
                                                              layout=widgets.Layout(flex_flow="row wrap"))])
        self.widget.add_class("diffaug-explorer")
        self.redraw()

    def redraw(self) -> None:
        self.table.value = strategy_table_html(self.toggles.value)
        self.source.value = train_step_source_html(self.toggles.value)

    def _on_change(self, _change: Any) -> None:
        self.redraw()


def strategy_explorer(strategy: str = "diffaugment") -> StrategyExplorer:
    """Pick none / reals_only / d_only / diffaugment and see where each applies T, in the table and in the code."""
    return StrategyExplorer(strategy)


# ---------------------------------------------------------------------------------------------------
# 3. The training dashboard

DASHBOARD_SETTINGS = {  # TrainConfig field -> label of its control (besides strategy, policy, amount, steps)
    "p": "probability p",
    "translation_ratio": "translation ratio",
    "cutout_ratio": "cutout ratio",
    "color_strength": "colour strength",
    "seed": "seed",
}


def dashboard_config(base: TrainConfig, strategy: str, policy: str, n_train: int, steps: int,
                     **settings: Any) -> TrainConfig:
    """The run the dashboard's controls describe: ``base`` with these values.

    ``settings``: any of :data:`DASHBOARD_SETTINGS` (p, the strengths, the seed). With the base's own
    number of steps the base's evaluation schedule is kept, so a lesson's cached run is found;
    other step counts get about 20 evaluations. Raises ValueError (naming the bad value) for
    settings ``TrainConfig`` refuses.
    """
    check_kind("base", base, TrainConfig, "a TrainConfig")
    _check_policy(policy)
    for name in settings:
        if name not in DASHBOARD_SETTINGS:
            raise choice_error("dashboard setting", name, DASHBOARD_SETTINGS)
    # TrainConfig checks the values (naming each) before the schedule is worked out from the steps
    config = base.replace(strategy=strategy, policy=policy, n_train=n_train, fraction=None, steps=steps, **settings)
    return config.replace(eval_every=base.eval_every if steps == base.steps else max(1, steps // 20))


def curves_png(history: Sequence[Mapping[str, float]], strategy: str | None = None) -> bytes:
    """Three panels as PNG: D's mean output on training reals, held-out reals and fakes; FID; KID.

    ``history``: a run's metrics rows (each with step, d_train, d_heldout, d_fake, fid and kid). With
    no evaluation yet it says so instead of drawing empty axes. ``strategy``: the run's (one of
    train.STRATEGIES), whose colour (:data:`plots.STRATEGY_COLOURS`) its FID and KID are drawn in.
    """
    history = _check_history("history", history, ROW_KEYS)
    if strategy is not None:
        check_choice("strategy", strategy, STRATEGIES)
    colors = [STRATEGY_COLOURS[strategy]] if strategy is not None else None

    def draw(axes: Any) -> None:
        if not history:
            for ax in axes:
                ax.set_axis_off()
            axes[1].text(0.5, 0.5, "No run to show yet: press Start.\nD's outputs, FID and KID appear here\n"
                         "after the first evaluation.", ha="center", va="center", transform=axes[1].transAxes)
            return
        plot_d_outputs(history, axes[0], title="D's mean output")
        for line in axes[0].lines:
            line.set_marker(".")  # a single evaluation shows as a point
        axes[0].legend(fontsize=7, loc="best")
        plot_metric({"FID": history}, "fid", axes[1], "FID (lower is better)", colors)
        plot_metric({"KID": history}, "kid", axes[2], "KID (lower is better)", colors)

    return _figure_png(draw, 3)


def samples_placeholder_png(width_px: int = 280) -> bytes:
    """A square PNG, ``width_px`` (16 to 4096) pixels wide, that says where G's samples will appear."""
    check_number("width_px", width_px, int, 16, 4096)

    def draw(axes: Any) -> None:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "G(z) appears here\nafter the first\nevaluation", ha="center", va="center",
                     transform=axes[0].transAxes, color="#555555")

    side = width_px / 80
    return _figure_png(draw, 1, height=side, width=side)


def run_summary(row: Mapping[str, float] | None, steps: int, status: str) -> str:
    """One line for the dashboard: ``status`` (one of runs.STATUSES), step out of ``steps`` and the latest
    metrics ``row`` (None: no evaluation yet)."""
    if row is not None:
        _check_row("row", row, ROW_KEYS)
    check_number("steps", steps, int, 1, math.inf)
    check_choice("status", status, STATUSES)
    if row is None:
        return f"{status}: no evaluation yet"
    return (f"{status}: step {int(row['step'])}/{steps} | FID {row['fid']:.4g} | KID {row['kid']:.3g} | "
            f"D on training reals {row['d_train']:.2f}, held-out reals {row['d_heldout']:.2f}, fakes {row['d_fake']:.2f}")


def finished_run(config: TrainConfig) -> Run | None:
    """The complete run of ``config`` in the cache, or None (none, unfinished or unreadable)."""
    check_kind("config", config, TrainConfig, "a TrainConfig")
    path = runs_dir() / run_name(config)
    if not (path / "meta.json").exists():
        return None
    try:
        run = Run(path).check(config)
    except (CorruptRunError, ValueError):
        return None
    return run if run.status == "complete" else None


class TrainingDashboard(_Panel):
    """Controls, Start/Stop, live curves and samples for one run. See :func:`training_dashboard`."""

    def __init__(self, base_config: TrainConfig | None = None) -> None:
        if base_config is not None:
            check_kind("base_config", base_config, TrainConfig, "a TrainConfig or None")
        self.base_config = base = base_config or lesson_config(None)
        self.strategy = widgets.Dropdown(options=[(STRATEGY_LABELS[s], s) for s in STRATEGIES], value=base.strategy,
                                         description="strategy")
        self.policy = widgets.Text(value=base.policy, description="policy T")
        self.policy_error = widgets.HTML()
        default_n = base.n_train or 100
        self.n_train = widgets.Dropdown(options=sorted({*N_TRAIN_CHOICES, default_n}), value=default_n,
                                        description="training images", style={"description_width": "initial"})
        self.steps = widgets.IntText(value=base.steps, description="steps")
        self.settings: dict[str, widgets.ValueWidget] = {
            name: widgets.FloatSlider(value=getattr(base, name), min=0.0, max=1.0, step=0.025, description=label,
                                      readout_format=".3f", style={"description_width": "120px"})
            for name, label in DASHBOARD_SETTINGS.items() if name != "seed"
        }
        self.settings["seed"] = widgets.BoundedIntText(value=base.seed, min=0, max=2**31 - 1, description="seed",
                                                       layout=widgets.Layout(width="180px"))
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop")
        self.progress = widgets.IntProgress(value=0, min=0, max=base.steps, description="progress")
        self.sample_scale = _scale_to(280, 8, base.resolution)
        self.curves = _image(curves_png([]), "diffaug-dashboard-curves")
        self.samples = _image(samples_placeholder_png(), "diffaug-dashboard-samples")
        self.message = widgets.HTML("Choose the settings and press Start.")
        self.history: list[dict[str, float]] = []
        self.run_dir: Path | None = None
        self._status = "idle"
        self._thread: threading.Thread | None = None
        self._stop_requested = False
        self.policy.observe(self._on_policy, names="value")
        for control in (self.strategy, self.policy, self.n_train, self.steps, *self.settings.values()):
            control.observe(self._on_setting, names="value")
        self.start_button.on_click(lambda _button: self.start())
        self.stop_button.on_click(lambda _button: self.stop())
        for widget, name in ((self.start_button, "start"), (self.stop_button, "stop"), (self.steps, "steps"),
                             (self.message, "message")):
            widget.add_class(f"diffaug-dashboard-{name}")
        sliders = [self.settings[name] for name in DASHBOARD_SETTINGS if name != "seed"]
        self.widget = widgets.VBox([
            widgets.HBox([self.strategy, self.n_train, self.steps]),
            widgets.HBox([self.policy, self.policy_error]),
            widgets.HBox([widgets.VBox(sliders[:2]), widgets.VBox(sliders[2:]), self.settings["seed"]]),
            widgets.HBox([self.start_button, self.stop_button, self.progress]),
            self.message,
            widgets.Box([self.curves, widgets.VBox([widgets.Label("G(z) for a fixed z"), self.samples])],
                        layout=widgets.Layout(flex_flow="row wrap")),
        ])
        self.widget.add_class("diffaug-dashboard")
        self.show_saved()

    @property
    def status(self) -> str:
        """idle, running, stopped, complete or error."""
        return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def config(self) -> TrainConfig:
        """The config the controls describe (ValueError for impossible settings)."""
        settings = {name: control.value for name, control in self.settings.items()}
        return dashboard_config(self.base_config, self.strategy.value, self.policy.value, self.n_train.value,
                                self.steps.value, **settings)

    def show_saved(self) -> bool:
        """Draw the finished run the controls describe if the cache holds one (True), else say it is
        not trained yet (False), or why the settings are refused (steps 0, say). Nothing changes while
        a run trains."""
        if self.running:
            return False
        try:
            config = self.config()
        except ValueError as error:
            self._say(str(error), error=True)
            return False
        run = finished_run(config)
        if run is None:
            self.history = []
            self.curves.value, self.samples.value = curves_png([]), samples_placeholder_png()
            self.progress.value = 0
            self._say("Not trained yet with these settings: press Start.")
            return False
        self.history = run.history
        self.curves.value = curves_png(self.history, config.strategy)
        grids = run.sample_grids()
        if grids:
            self.samples.value = _enlarged_png(grids[-1].read_bytes(), 280)
        self.progress.max = self.progress.value = config.steps
        self._say(f"From the cache ({run.path.name}). {run_summary(self.history[-1], config.steps, 'complete')}. "
                  "Change a setting and press Start to train another run.")
        return True

    def start(self) -> bool:
        """Train (or resume) the run the controls describe in a background thread; False if refused."""
        if self.running:
            self._say("a run is already training: press Stop first", error=True)
            return False
        try:
            config = self.config()
        except ValueError as error:
            self._say(str(error), error=True)
            return False
        self.run_dir = runs_dir() / run_name(config)
        try:
            self.history = Run(self.run_dir).history  # a stopped run resumes: show what it did so far
        except CorruptRunError:
            self.history = []
        self._stop_requested = False
        self._status = "running"
        self.progress.max = config.steps
        self.progress.value = int(self.history[-1]["step"]) if self.history else 0
        self._say(f"{'resuming' if self.history else 'starting'} {self.run_dir.name} ...")
        self._thread = threading.Thread(target=self._train, args=(config,), name="diffaug-dashboard", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Ask the run to stop after its current step; it is saved and Start resumes it."""
        if not self.running:
            self._say("no run is training")
            return
        self._stop_requested = True
        self._say("stopping: the run is saved and Start resumes it ...")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (or ``timeout`` seconds pass); True if no run is training."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _train(self, config: TrainConfig) -> None:
        try:
            result = train_in_folder(config, self.run_dir, callbacks=[lambda record: self._on_record(record, config)],
                           should_stop=lambda: self._stop_requested, progress=False)
        except Exception as error:  # this thread has nobody else to tell: show it in the dashboard
            self._say(f"{type(error).__name__}: {error}", error=True)
            self._status = "error"
            return
        self.history = list(result.history)
        self.samples.value = grid_png(result.samples, scale=self.sample_scale)
        self.curves.value = curves_png(self.history, config.strategy)
        if self.history:
            self.progress.value = int(self.history[-1]["step"])
        self._say(run_summary(self.history[-1] if self.history else None, config.steps, result.status))
        self._status = result.status

    def _on_record(self, record: Record, config: TrainConfig) -> None:
        self.history = [*self.history, record.row]
        self.progress.value = record.step
        self.samples.value = grid_png(record.samples, scale=self.sample_scale)
        self.curves.value = curves_png(self.history, config.strategy)
        self._say(run_summary(record.row, record.total_steps, "running"))

    def _on_policy(self, change: Any) -> None:
        try:
            parse_policy(change["new"])
            self.policy_error.value = ""
        except ValueError as error:
            self.policy_error.value = _red(str(error))

    def _on_setting(self, _change: Any) -> None:
        self.show_saved()

    def _say(self, message: str, error: bool = False) -> None:
        self.message.value = _red(message) if error else html.escape(message)


def training_dashboard(base_config: TrainConfig | None = None) -> TrainingDashboard:
    """Train one GAN with live curves and samples, without blocking the notebook.

    The controls replace the strategy, policy, number of training images, steps, p, the strengths
    (translation and cutout ratios, colour strength) and the seed of ``base_config`` (default
    ``lesson_config()``, which follows quick mode). When the cache holds the finished run of the
    settings shown, the dashboard draws it (on opening and after every change of a setting). Start
    trains in a background thread into the run cache; Stop saves the run and a later Start resumes it.
    From code: ``dashboard.start()``, ``dashboard.wait()``, ``dashboard.history``, ``dashboard.status``.
    """
    return TrainingDashboard(base_config)


# ---------------------------------------------------------------------------------------------------
# 4. Comparing saved runs


def run_description(config: TrainConfig) -> str:
    """A run in words: strategy, data amount, policy, the strengths that differ from the official ones, seed.

    e.g. "DiffAugment, 100 images, T = color,translation,cutout, seed 0".
    """
    check_kind("config", config, TrainConfig, "a TrainConfig")
    if config.n_train is not None:
        amount = f"{config.n_train} images"
    else:
        amount = "all the data" if config.fraction is None else f"{config.fraction:.0%} of the data"
    parts = [STRATEGY_WORDS[config.strategy], amount]
    if config.dataset != "digits":
        parts.insert(1, config.dataset)
    if config.strategy != "none":
        parts.append(f"T = {config.policy}")
        defaults = TrainConfig()
        parts += [f"{label} {getattr(config, name):g}" for name, label in DASHBOARD_SETTINGS.items()
                  if name != "seed" and getattr(config, name) != getattr(defaults, name)]
        if config.ada_target is not None:
            parts.append(f"ADA target {config.ada_target:g}")
    parts.append(f"seed {config.seed}")
    return ", ".join(parts)


def run_label(run: Run) -> str:
    """How a run is listed: its description in words and its status."""
    check_kind("run", run, Run, "a saved run (Run)")
    return f"{run_description(run.config)} ({run.status})"


def run_statistic(history: Sequence[Mapping[str, float]], key: str, statistic: str = "last3") -> float | None:
    """``key`` at the last evaluation ("final") or averaged over the last three ("last3"); None if absent.

    ``history``: a run's metrics rows; ``key``: a metric's name (fid, kid, d_gap, ...).
    """
    history = _check_history("history", history)
    _check_text("key", key)
    check_choice("statistic", statistic, STATISTICS)
    rows = [row for row in history if key in row][-1 if statistic == "final" else -3:]
    return sum(row[key] for row in rows) / len(rows) if rows else None


def comparison_table_html(chosen: Sequence[Run], statistic: str = "last3") -> str:
    """An HTML table of the runs (named in words) with their metrics, as ``statistic`` says (see :data:`STATISTICS`)."""
    chosen = _check_runs("chosen", chosen, optional=False)
    check_choice("statistic", statistic, STATISTICS)
    header = ["run", "steps done", "status", *TABLE_METRICS.values()]
    rows = []
    for run in chosen:
        config, history = run.config, run.history
        done = f"{int(history[-1]['step'])}/{config.steps}" if history else f"0/{config.steps}"
        values = [run_statistic(history, key, statistic) for key in TABLE_METRICS]
        metrics = [html.escape(f"{value:.4g}") if value is not None else "-" for value in values]
        name = (f"{html.escape(run_description(config))}<br><small style='color:#777'>"
                f"{html.escape(run.path.name)}</small>")
        cells = [name, html.escape(done), html.escape(run.status), *metrics]
        rows.append("".join(f"<td style='padding:2px 8px'>{cell}</td>" for cell in cells))
    head = "".join(f"<th style='padding:2px 8px'>{html.escape(name)}</th>" for name in header)
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    caption = f"<caption style='caption-side:top;text-align:left'>Metrics: {STATISTICS[statistic]}.</caption>"
    return f"<table style='border-collapse:collapse'>{caption}<tr>{head}</tr>{body}</table>"


def comparison_curves_png(histories: Mapping[str, Sequence[Mapping[str, float]]], metric: str,
                          strategies: Sequence[str] | None = None) -> bytes:
    """``metric`` over training, a line per run (``histories``: label -> history rows), as PNG.

    ``strategies``: each run's strategy (of train.STRATEGIES), in the order of ``histories``: runs of
    different strategies are drawn in their strategy's colour, runs that share one in a shared palette
    (:func:`plots.colours_for`; default: the labels, when they are strategy names). FID and KID
    (:data:`CLIPPED_METRICS`) get a y axis sized to what the runs reach after their first quarter of
    training (:func:`plots.late_top`): the first evaluations, in the thousands, run off the top and the
    picture says how high they went, so one early outlier does not flatten every other curve.
    """
    check_choice("metric", metric, COMPARISON_METRICS)
    check_kind("histories", histories, Mapping, "a dict of label -> a run's metrics rows")
    rows_by_label = {}
    for label, history in histories.items():
        rows_by_label[_check_text("histories' labels", label)] = _check_history(f"histories[{label!r}]", history,
                                                                                ("step", metric))
    if strategies is not None:
        strategies = _check_list("strategies", strategies, str, "a list of one strategy name per run "
                                 f"({len(histories)} in all)", len(histories), len(histories))
        for strategy in strategies:
            check_choice("strategy in strategies", strategy, STRATEGIES)
    colors = colours_for(strategies if strategies is not None else rows_by_label)

    def draw(axes: Any) -> None:
        if rows_by_label:
            plot_metric(rows_by_label, metric, axes[0], colors=colors, clip_early=metric in CLIPPED_METRICS)
            axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        else:
            axes[0].text(0.5, 0.5, "no runs chosen", ha="center", va="center", transform=axes[0].transAxes)

    return _figure_png(draw, 1, height=3.2, width=9.0)


def _enlarged_png(data: bytes, width_px: int) -> bytes:
    """A PNG zoomed by an integer factor (no blurring) to about ``width_px`` wide."""
    from PIL import Image

    picture = Image.open(io.BytesIO(data))
    scale = max(1, round(width_px / picture.width))
    buffer = io.BytesIO()
    picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def listed_runs() -> list[Run]:
    """The runs the comparison offers by default: every run in the cache that is not training now
    (complete, stopped or diverged), newest first."""
    return [run for run in list_runs() if run.status != "running"]


def _lesson_04_runs(runs: Sequence[Run]) -> set[Path]:
    """The folders among ``runs`` of lesson 04's four strategies at seed 0 (this machine's preset)."""
    from .lessons import lesson_configs
    from .runs import run_name

    names = {run_name(config) for config in lesson_configs("04").values()}
    return {run.path for run in runs if run.path.name in names}


class RunComparison(_Panel):
    """Pick saved runs; see their curves, final numbers and samples. See :func:`run_comparison`."""

    def __init__(self, runs: Sequence[Run] | None = None, selected: Sequence[Run] | None = None) -> None:
        offered, selected = _check_runs("runs", runs), _check_runs("selected", selected)
        self._source: Callable[[], list[Run]] = (lambda: list(offered)) if offered is not None else listed_runs
        self.runs: list[Run] = []
        self.selector = widgets.SelectMultiple(description="runs", rows=6, layout=widgets.Layout(width="70%"))
        self.metric = widgets.Dropdown(options=COMPARISON_METRICS, value="fid", description="metric",
                                       layout=widgets.Layout(width="220px"))
        self.statistic = widgets.Dropdown(options=[(label, key) for key, label in STATISTICS.items()], value="last3",
                                          description="table", layout=widgets.Layout(width="320px"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", tooltip="list the saved runs again")
        self.curves = _image()
        self.table = widgets.HTML()
        self.grids = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self._quiet = False
        self.selector.observe(self._on_change, names="value")
        self.metric.observe(self._on_change, names="value")
        self.statistic.observe(self._on_change, names="value")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.refresh_button.add_class("diffaug-comparison-refresh")
        self.table.add_class("diffaug-comparison-table")
        self.widget = widgets.VBox([
            widgets.HBox([self.selector, widgets.VBox([self.metric, self.statistic, self.refresh_button])]),
            self.table, self.curves, self.grids,
        ])
        self.widget.add_class("diffaug-comparison")
        self.refresh(selected)

    def chosen(self) -> list[Run]:
        return [self.runs[i] for i in self.selector.value if i < len(self.runs)]

    def refresh(self, selected: Sequence[Run] | None = None) -> None:
        """List the runs again, keeping the chosen ones chosen (or choosing ``selected``; default: the four newest)."""
        first = not self.runs and selected is None
        kept = {run.path for run in (selected if selected is not None else self.chosen())}
        self.runs = self._source()
        if first:  # opening: lesson 04's four strategies (seed 0) where the cache has them
            kept = _lesson_04_runs(self.runs)
        chosen = [i for i, run in enumerate(self.runs) if run.path in kept] or list(range(min(4, len(self.runs))))
        labels = [run_label(run) for run in self.runs]
        labels = [f"{label} [{run.path.name}]" if labels.count(label) > 1 else label
                  for label, run in zip(labels, self.runs)]
        self._quiet = True
        try:
            self.selector.options = [(label, i) for i, label in enumerate(labels)]
            self.selector.value = tuple(chosen)
        finally:
            self._quiet = False
        self.redraw()

    def redraw(self) -> None:
        chosen = self.chosen()
        if not chosen:
            self.table.value = ("<i>No saved runs chosen. Runs appear here once trained (by the lessons or the "
                                "dashboard); press Refresh to list them again.</i>")
        else:
            self.table.value = comparison_table_html(chosen, self.statistic.value)
        descriptions = [run_description(run.config) for run in chosen]
        labels = [f"{text} [{run.path.name}]" if descriptions.count(text) > 1 else text
                  for text, run in zip(descriptions, chosen)]
        self.curves.value = comparison_curves_png({label: run.history for label, run in zip(labels, chosen)},
                                                  self.metric.value, [run.config.strategy for run in chosen])
        self.grids.children = [self._grid(run) for run in chosen]

    def _grid(self, run: Run) -> widgets.Widget:
        grids = run.sample_grids()
        step = f"samples at step {int(grids[-1].stem.split('_')[-1])}" if grids else ""
        title = widgets.HTML(f"<small><b>{html.escape(run_description(run.config))}</b><br>{html.escape(step)}</small>",
                             layout=widgets.Layout(width="230px"))
        if not grids:
            return widgets.VBox([title, widgets.Label("no samples yet")])
        return widgets.VBox([title, _image(_enlarged_png(grids[-1].read_bytes(), 220))])

    def _on_change(self, _change: Any) -> None:
        if not self._quiet:
            self.redraw()


def run_comparison(runs: Sequence[Run] | None = None, selected: Sequence[Run] | None = None) -> RunComparison:
    """Saved runs side by side: a metric's curves, a table of numbers and the final samples.

    ``runs``: the runs to offer (default: every run in the cache that is not training now, newest first;
    Refresh lists again). ``selected``: the runs chosen at first (default: lesson 04's four strategies at seed
    0 where they are offered, else the four newest). Runs are named in words (strategy, data amount, policy,
    strengths, seed); the table says which statistic it shows: the mean of the last three evaluations (as the
    lessons' tables) or the final value. A run's curve is in its strategy's colour (runs of one strategy share
    a palette), and the FID/KID axis is sized to what the chosen runs reach after their first quarter of
    training, so a run whose early FID ran into the thousands does not flatten the others
    (:func:`comparison_curves_png`).
    """
    return RunComparison(runs, selected)


# ---------------------------------------------------------------------------------------------------
# 5. The formulas on one screen

READABLE_OPS = {"brightness": brightness, "saturation": saturation, "contrast": contrast, "translation": translation,
                "cutout": cutout}


def _arguments_text(args: Sequence[Any]) -> str:
    shown = [", ".join(f"{v:g}" for v in arg.tolist()) if isinstance(arg, torch.Tensor) else f"{arg:g}" for arg in args]
    return "; ".join(f"[{text}]" if "," in text else text for text in shown)


def formulas_html(images: torch.Tensor, examples: Mapping[str, Sequence[Any]], scale: int = 3) -> str:
    """The readable ops of T on one screen: each op's source code (read from the package with
    :func:`inspect.getsource`, the very code the checkers and the fast path are tested against) beside
    a picture of ``images`` (top row) and of the op applied to them (bottom row).

    ``images``: (N, C, H, W) in [-1, 1]. ``examples``: op name (brightness, saturation, contrast,
    translation, cutout) -> the arguments after x, e.g. ``{"brightness": (torch.tensor([0.4, -0.4]),)}``;
    at least one op. ``scale``: integer zoom, 1 to :data:`MAX_SCALE`.
    """
    _check_images(images)
    check_number("scale", scale, int, 1, MAX_SCALE)
    if not isinstance(examples, Mapping) or not examples:
        raise ValueError(f"examples must map at least one op ({', '.join(READABLE_OPS)}) to its arguments "
                         f"after x; got {short_repr(examples)}")
    rows = []
    for name, args in examples.items():
        if name not in READABLE_OPS:
            raise ValueError(f"examples: {choice_error('op', name, READABLE_OPS)}")
        op = READABLE_OPS[name]
        signature = f"{name}{inspect.signature(op)}"
        args = _check_list(f"examples[{name!r}]", args, object, f"a list of the arguments after x of {signature}")
        try:
            transformed = op(images, *args)
        except Exception as error:  # the user's arguments, in whatever way they do not fit: say which they were
            shown = ", ".join(["x", *map(short_repr, args)])
            raise ValueError(f"examples[{name!r}]: {name}({shown}) failed ({error}); give the arguments "
                             f"after x of {signature}") from error
        png = grid_png(torch.cat([images, transformed]), nrow=len(images), scale=scale)
        picture = base64.b64encode(png).decode()
        source = html.escape(inspect.getsource(op))
        rows.append(
            f"<tr class='diffaug-formula' data-op='{name}'>"
            f"<td style='vertical-align:top;text-align:left'>"
            f"<pre style='font-size:11px;margin:0;white-space:pre;overflow-x:auto'>{source}</pre></td>"
            f"<td style='vertical-align:top;text-align:left'><img src='data:image/png;base64,{picture}'><br>"
            f"<small>top: x; bottom: {name}(x, {html.escape(_arguments_text(args))})</small></td></tr>"
        )
    return f"<table class='diffaug-formulas'>{''.join(rows)}</table>"
