"""Interactive widgets for the lessons (ipywidgets 8: nothing to build or install in JupyterLab 4).

Four widgets, each a thin layer over functions of this module that are tested on their own:

- :func:`policy_playground`: tick transforms, move their strengths, see x above T(x) and the
  ``DiffAugment(...)`` call that does it;
- :func:`strategy_explorer`: the paper's table of where T is applied, beside the lines of
  :func:`~diffaug_lessons.train.train_step` that apply it;
- :func:`training_dashboard`: start, stop and resume a run in a background thread, with live
  curves of D's outputs, FID, KID and samples from a fixed z;
- :func:`run_comparison`: saved runs side by side (curves, final numbers, final samples).

Each returns an object that displays itself, keeps its box in ``.widget`` and its controls as
attributes, so a notebook or a test can drive it from code (``playground.sliders["p"].value = 0.5``).
"""

from __future__ import annotations

import functools
import html
import inspect
import io
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import torch

from .augment import COLOR_OPS, GEOMETRIC_OPS, AugmentParams, Strengths, apply, parse_policy, sample_params
from .data import load_dataset
from .errors import check_choice, choice_error
from .plots import grid_png, plot_d_outputs, plot_metric
from .runs import CorruptRunError, Run, list_runs, run_name, runs_dir, train_in_folder
from .train import STRATEGIES, WHERE_T_IS_APPLIED, Record, TrainConfig, lesson_config, train_step

PLAYGROUND_OPS = COLOR_OPS + GEOMETRIC_OPS
PLAYGROUND_DATASETS = ("digits", "shapes")
STRENGTH_SLIDERS = {  # Strengths field -> slider label
    "translation_ratio": "translation ratio",
    "cutout_ratio": "cutout ratio",
    "color_strength": "colour strength",
    "p": "probability p",
}
STRATEGY_LABELS = {"none": "none (baseline)", "reals_only": "reals only", "d_only": "D only", "diffaugment": "DiffAugment"}
N_TRAIN_CHOICES = (50, 100, 200, 500, 1000)
COMPARISON_METRICS = ("d_gap", "fid", "kid", "d_train", "d_heldout", "d_fake", "acc_fake", "acc_fake_aug")
TABLE_METRICS = {"fid": "FID", "kid": "KID", "d_gap": "D gap", "d_train": "D(train reals)",
                 "d_heldout": "D(held-out reals)", "d_fake": "D(fakes)"}
ERROR_COLOUR = "#b00020"


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


def _figure_png(draw: Callable[[Any], None], panels: int, height: float = 2.8) -> bytes:
    """Render ``draw(axes)`` on a fresh figure to PNG bytes (no pyplot: safe from any thread)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.6 * panels, height), dpi=80)
    draw(figure.subplots(1, panels, squeeze=False)[0])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------
# 1. The policy playground: what T does to an image


def policy_from_checkboxes(checked: Mapping[str, bool]) -> str:
    """The policy string for the ticked transforms, in DiffAugment's order.

    ``checked`` maps names of :data:`PLAYGROUND_OPS` to booleans; all three colour ops together
    read ``color``, as in the paper's policies ("color,translation,cutout"). Nothing ticked: "".
    """
    for name in checked:
        if name not in PLAYGROUND_OPS:
            raise choice_error("transform", name, PLAYGROUND_OPS)
    names = [op for op in PLAYGROUND_OPS if checked.get(op)]
    if all(op in names for op in COLOR_OPS):
        names = ["color"] + [op for op in names if op not in COLOR_OPS]
    return ",".join(names)


def policy_code(policy: str, strengths: Strengths) -> str:
    """The ``DiffAugment(x, ...)`` call for ``policy`` and ``strengths``, ready to paste.

    The ratios are written whenever their transform is in the policy; ``color_strength`` and ``p``
    (not in the official code) only when they differ from 1.
    """
    ops = parse_policy(policy)
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


@functools.lru_cache(maxsize=8)
def preview_images(dataset: str, n_images: int, resolution: int) -> torch.Tensor:
    """The first ``n_images`` of an embedded dataset, (n, C, resolution, resolution) in [-1, 1]."""
    check_choice("dataset", dataset, PLAYGROUND_DATASETS)
    return load_dataset(dataset, resolution).images[:n_images]


def playground_images(images: torch.Tensor, policy: str, strengths: Strengths, seed: int,
                      scale: int = 3) -> tuple[bytes, AugmentParams]:
    """PNG of ``images`` (top row) above T(images) (bottom row), and the parameters T drew.

    ``images``: (n, C, H, W) in [-1, 1]. T's random parameters come from a generator seeded with
    ``seed``: the same arguments always give the same picture.
    """
    params = sample_params(images, policy, strengths, torch.Generator().manual_seed(seed))
    augmented = apply(images, params)
    return grid_png(torch.cat([images, augmented]), nrow=len(images), scale=scale), params


class PolicyPlayground(_Panel):
    """Checkboxes and sliders for T; redraws x over T(x) on every change. See :func:`policy_playground`."""

    def __init__(self, dataset: str = "shapes", n_images: int = 8, resolution: int = 32, seed: int = 0) -> None:
        check_choice("dataset", dataset, PLAYGROUND_DATASETS)
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
        self.seed += 1
        self.redraw()


def policy_playground(dataset: str = "shapes", n_images: int = 8, resolution: int = 32, seed: int = 0) -> PolicyPlayground:
    """A playground for T: pick transforms and strengths, see ``n_images`` images and T of them.

    dataset: "digits" (grey) or "shapes" (RGB). The same settings show the same T until
    Resample draws new random parameters (``seed`` picks the first draw).
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


def dashboard_config(base: TrainConfig, strategy: str, policy: str, n_train: int, steps: int) -> TrainConfig:
    """The run the dashboard's controls describe: ``base`` with these values and about 20 evaluations.

    Raises ValueError (naming the bad value) for settings ``TrainConfig`` refuses.
    """
    return base.replace(strategy=strategy, policy=policy, n_train=n_train, fraction=None, steps=steps,
                        eval_every=max(1, steps // 20))


def curves_png(history: Sequence[Mapping[str, float]]) -> bytes:
    """Three panels as PNG: D's mean output on training reals, held-out reals and fakes; FID; KID."""
    def draw(axes: Any) -> None:
        plot_d_outputs(history, axes[0], title="D's mean output")
        for line in axes[0].lines:
            line.set_marker(".")  # a single evaluation shows as a point
        axes[0].legend(fontsize=7, loc="best")
        plot_metric({"FID": history}, "fid", axes[1], "FID (lower is better)")
        plot_metric({"KID": history}, "kid", axes[2], "KID (lower is better)")

    return _figure_png(draw, 3)


def run_summary(row: Mapping[str, float] | None, steps: int, status: str) -> str:
    """One line for the dashboard: status, step and the latest metrics ``row`` (None: no evaluation yet)."""
    if row is None:
        return f"{status}: no evaluation yet"
    return (f"{status}: step {int(row['step'])}/{steps} | FID {row['fid']:.4g} | KID {row['kid']:.3g} | "
            f"D on training reals {row['d_train']:.2f}, held-out reals {row['d_heldout']:.2f}, fakes {row['d_fake']:.2f}")


class TrainingDashboard(_Panel):
    """Controls, Start/Stop, live curves and samples for one run. See :func:`training_dashboard`."""

    def __init__(self, base_config: TrainConfig | None = None) -> None:
        self.base_config = base = base_config or lesson_config(None)
        self.strategy = widgets.Dropdown(options=[(STRATEGY_LABELS[s], s) for s in STRATEGIES], value=base.strategy,
                                         description="strategy")
        self.policy = widgets.Text(value=base.policy, description="policy T")
        self.policy_error = widgets.HTML()
        default_n = base.n_train or 100
        self.n_train = widgets.Dropdown(options=sorted({*N_TRAIN_CHOICES, default_n}), value=default_n,
                                        description="training images", style={"description_width": "initial"})
        self.steps = widgets.IntText(value=base.steps, description="steps")
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop")
        self.progress = widgets.IntProgress(value=0, min=0, max=base.steps, description="progress")
        self.sample_scale = _scale_to(280, 8, base.resolution)
        self.curves = _image(curves_png([]), "diffaug-dashboard-curves")
        placeholder = torch.zeros(64, 1, base.resolution, base.resolution)  # mid-grey until the first samples
        self.samples = _image(grid_png(placeholder, scale=self.sample_scale), "diffaug-dashboard-samples")
        self.message = widgets.HTML("Choose the settings and press Start.")
        self.history: list[dict[str, float]] = []
        self.run_dir: Path | None = None
        self._status = "idle"
        self._thread: threading.Thread | None = None
        self._stop_requested = False
        self.policy.observe(self._on_policy, names="value")
        self.start_button.on_click(lambda _button: self.start())
        self.stop_button.on_click(lambda _button: self.stop())
        for widget, name in ((self.start_button, "start"), (self.stop_button, "stop"), (self.steps, "steps"),
                             (self.message, "message")):
            widget.add_class(f"diffaug-dashboard-{name}")
        self.widget = widgets.VBox([
            widgets.HBox([self.strategy, self.n_train, self.steps]),
            widgets.HBox([self.policy, self.policy_error]),
            widgets.HBox([self.start_button, self.stop_button, self.progress]),
            self.message,
            widgets.Box([self.curves, widgets.VBox([widgets.Label("G(z) for a fixed z"), self.samples])],
                        layout=widgets.Layout(flex_flow="row wrap")),
        ])
        self.widget.add_class("diffaug-dashboard")

    @property
    def status(self) -> str:
        """idle, running, stopped, complete or error."""
        return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def config(self) -> TrainConfig:
        """The config the controls describe (ValueError for impossible settings)."""
        return dashboard_config(self.base_config, self.strategy.value, self.policy.value, self.n_train.value,
                                self.steps.value)

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
            result = train_in_folder(config, self.run_dir, callbacks=[self._on_record],
                           should_stop=lambda: self._stop_requested, progress=False)
        except Exception as error:  # this thread has nobody else to tell: show it in the dashboard
            self._say(f"{type(error).__name__}: {error}", error=True)
            self._status = "error"
            return
        self.history = list(result.history)
        self.samples.value = grid_png(result.samples, scale=self.sample_scale)
        self.curves.value = curves_png(self.history)
        if self.history:
            self.progress.value = int(self.history[-1]["step"])
        self._say(run_summary(self.history[-1] if self.history else None, config.steps, result.status))
        self._status = result.status

    def _on_record(self, record: Record) -> None:
        self.history = [*self.history, record.row]
        self.progress.value = record.step
        self.samples.value = grid_png(record.samples, scale=self.sample_scale)
        self.curves.value = curves_png(self.history)
        self._say(run_summary(record.row, record.total_steps, "running"))

    def _on_policy(self, change: Any) -> None:
        try:
            parse_policy(change["new"])
            self.policy_error.value = ""
        except ValueError as error:
            self.policy_error.value = _red(str(error))

    def _say(self, message: str, error: bool = False) -> None:
        self.message.value = _red(message) if error else html.escape(message)


def training_dashboard(base_config: TrainConfig | None = None) -> TrainingDashboard:
    """Train one GAN with live curves and samples, without blocking the notebook.

    The controls replace the strategy, policy, number of training images and steps of
    ``base_config`` (default ``lesson_config()``, which follows quick mode). Start trains in a
    background thread into the run cache; Stop saves the run and a later Start resumes it.
    From code: ``dashboard.start()``, ``dashboard.wait()``, ``dashboard.history``, ``dashboard.status``.
    """
    return TrainingDashboard(base_config)


# ---------------------------------------------------------------------------------------------------
# 4. Comparing saved runs


def run_label(run: Run) -> str:
    """How a run is listed: its folder name and status."""
    return f"{run.path.name} ({run.status})"


def comparison_table_html(chosen: Sequence[Run]) -> str:
    """An HTML table of the runs' settings and final metrics (FID, KID, D gap, D's outputs)."""
    header = ["run", "strategy", "policy", "train images", "steps", "status", *TABLE_METRICS.values()]
    rows = []
    for run in chosen:
        config, history = run.config, run.history
        last = history[-1] if history else {}
        done = f"{int(last['step'])}/{config.steps}" if last else f"0/{config.steps}"
        metrics = [f"{last[key]:.4g}" if key in last else "-" for key in TABLE_METRICS]
        policy = config.policy if config.strategy != "none" else "-"
        amount = str(config.n_train) if config.n_train else f"{config.fraction or 1:.0%} of the data"
        cells = [run.path.name, config.strategy, policy, amount, done, run.status, *metrics]
        rows.append("".join(f"<td style='padding:2px 8px'>{html.escape(cell)}</td>" for cell in cells))
    head = "".join(f"<th style='padding:2px 8px'>{html.escape(name)}</th>" for name in header)
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    return f"<table style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"


def comparison_curves_png(histories: Mapping[str, Sequence[Mapping[str, float]]], metric: str) -> bytes:
    """``metric`` over training, a line per run (``histories``: label -> history rows), as PNG."""
    check_choice("metric", metric, COMPARISON_METRICS)

    def draw(axes: Any) -> None:
        if histories:
            plot_metric(dict(histories), metric, axes[0])
        else:
            axes[0].text(0.5, 0.5, "no runs chosen", ha="center", va="center", transform=axes[0].transAxes)

    return _figure_png(draw, 1, height=3.2)


def _enlarged_png(data: bytes, width_px: int) -> bytes:
    """A PNG zoomed by an integer factor (no blurring) to about ``width_px`` wide."""
    from PIL import Image

    picture = Image.open(io.BytesIO(data))
    scale = max(1, round(width_px / picture.width))
    buffer = io.BytesIO()
    picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


class RunComparison(_Panel):
    """Pick saved runs; see their curves, final numbers and samples. See :func:`run_comparison`."""

    def __init__(self, runs_to_show: Sequence[Run] | None = None) -> None:
        self._source: Callable[[], list[Run]] = (
            (lambda: list(runs_to_show)) if runs_to_show is not None else list_runs
        )
        self.runs: list[Run] = []
        self.selector = widgets.SelectMultiple(description="runs", rows=6, layout=widgets.Layout(width="70%"))
        self.metric = widgets.Dropdown(options=COMPARISON_METRICS, value="fid", description="metric",
                                       layout=widgets.Layout(width="220px"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", tooltip="list the saved runs again")
        self.curves = _image()
        self.table = widgets.HTML()
        self.grids = widgets.HBox()
        self._quiet = False
        self.selector.observe(self._on_change, names="value")
        self.metric.observe(self._on_change, names="value")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.refresh_button.add_class("diffaug-comparison-refresh")
        self.table.add_class("diffaug-comparison-table")
        self.widget = widgets.VBox([
            widgets.HBox([self.selector, widgets.VBox([self.metric, self.refresh_button])]),
            self.table, self.curves, self.grids,
        ])
        self.widget.add_class("diffaug-comparison")
        self.refresh()

    def chosen(self) -> list[Run]:
        return [self.runs[i] for i in self.selector.value if i < len(self.runs)]

    def refresh(self) -> None:
        """List the runs again, keeping the chosen ones chosen (default: the four newest)."""
        kept = {run.path for run in self.chosen()}
        self.runs = self._source()
        chosen = [i for i, run in enumerate(self.runs) if run.path in kept] or list(range(min(4, len(self.runs))))
        self._quiet = True
        try:
            self.selector.options = [(run_label(run), i) for i, run in enumerate(self.runs)]
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
            self.table.value = comparison_table_html(chosen)
        self.curves.value = comparison_curves_png({run.path.name: run.history for run in chosen}, self.metric.value)
        self.grids.children = [self._grid(run) for run in chosen]

    def _grid(self, run: Run) -> widgets.Widget:
        grids = run.sample_grids()
        step = grids[-1].stem if grids else ""
        title = widgets.HTML(f"<small><b>{html.escape(run.path.name)}</b><br>{html.escape(step)}</small>")
        if not grids:
            return widgets.VBox([title, widgets.Label("no samples yet")])
        return widgets.VBox([title, _image(_enlarged_png(grids[-1].read_bytes(), 220))])

    def _on_change(self, _change: Any) -> None:
        if not self._quiet:
            self.redraw()


def run_comparison(runs: Sequence[Run] | None = None) -> RunComparison:
    """Saved runs side by side: a metric's curves, a table of final numbers and the final samples.

    ``runs``: the runs to offer (default: every run in the cache, newest first; Refresh lists again).
    """
    return RunComparison(runs)
