"""Pictures: sample grids and training curves (matplotlib), in one set of colours.

Every plot of the lessons gives a strategy the same colour (:data:`STRATEGY_COLOURS`), so a reader
who learnt "blue is DiffAugment" in one lesson reads the next one at a glance; runs that share a
strategy (data amounts, policies) take :data:`OTHER_COLOURS` in order. :func:`colours_for` decides.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# One colour per strategy of train.STRATEGIES, from Okabe & Ito's palette (told apart with every common
# colour-vision deficiency): the baseline grey, DiffAugment (what the lessons teach) the strongest, a deep blue.
STRATEGY_COLOURS = {
    "none": "#7f7f7f",  # grey
    "reals_only": "#E69F00",  # orange
    "d_only": "#CC79A7",  # reddish purple
    "diffaugment": "#0072B2",  # blue
}
# Runs that share a strategy (or whose strategy is not known): Okabe & Ito's palette, in this order.
OTHER_COLOURS = ("#D55E00", "#009E73", "#56B4E9", "#0072B2", "#E69F00", "#CC79A7", "#000000", "#F0E442")
# What D is shown, in every plot of D's outputs or accuracies: training reals, held-out reals, fakes (plain and
# through T; the augmented versions share their image's colour). And ADA's two curves.
KEY_COLOURS = {
    **{f"{prefix}{what}{suffix}": colour for prefix in ("d_", "acc_") for suffix in ("", "_aug")
       for what, colour in (("train", "#0072B2"), ("heldout", "#009E73"), ("fake", "#D55E00"))},
    "acc_fake_g": "#CC79A7", "d_fake_g": "#CC79A7", "p": "#CC79A7", "r_t": "#E69F00",
}

REAL_COLOUR = KEY_COLOURS["d_heldout"]  # lines that mark real images (the data's own measure) in a plot


def key_colours(keys: Iterable[str]) -> list[str]:
    """One colour per history key (:data:`KEY_COLOURS`; unknown keys take :data:`OTHER_COLOURS` in order);
    two keys of one plot that would share a colour (a key and its ``_aug``) take the next free ones."""
    chosen: list[str] = []
    spare = iter(colour for colour in OTHER_COLOURS)
    for key in keys:
        colour = KEY_COLOURS.get(key)
        while colour is None or colour in chosen:
            colour = next(spare, "#000000")
        chosen.append(colour)
    return chosen


# The lines between the images of a grid: a saturated blue. T fills with 0 (mid-grey, 128), and a grey
# image (digits, faces) is grey everywhere, so no grey border of T can merge into a separator.
SEPARATOR_COLOUR = (0, 102, 255)


def strategy_of(run: object) -> str | None:
    """The strategy of ``run`` (a TrainConfig, a saved Run or a strategy's name), or None if it names none."""
    strategy = getattr(getattr(run, "config", run), "strategy", run)
    return strategy if isinstance(strategy, str) and strategy in STRATEGY_COLOURS else None


def colours_for(runs: Iterable[object]) -> list[str]:
    """One colour per run, in order: its strategy's (:data:`STRATEGY_COLOURS`) when every run is of a
    different strategy; else (two runs share a strategy, or one's is unknown) :data:`OTHER_COLOURS` in
    order, repeated after the eighth. ``runs``: TrainConfigs, saved Runs or strategy names."""
    strategies = [strategy_of(run) for run in runs]
    if None not in strategies and len(set(strategies)) == len(strategies):
        return [STRATEGY_COLOURS[strategy] for strategy in strategies]
    return [OTHER_COLOURS[i % len(OTHER_COLOURS)] for i in range(len(strategies))]


def late_top(histories: Iterable[Sequence[Mapping[str, float]]], key: str, after: float = 0.25,
             margin: float = 1.15) -> float | None:
    """The top of a y axis sized to what decides a comparison: the highest finite ``key`` any run reaches
    after the first ``after`` of its evaluated steps (step > after x its last step), times ``margin``.
    None when no run has such a value. (A GAN's first FIDs run into the thousands; they say nothing
    about which run ends best, and on a shared linear axis they flatten every other curve.)"""
    late = [float(row[key]) for history in histories if history
            for row in history if key in row and row["step"] > after * history[-1]["step"] and math.isfinite(row[key])]
    return max(late) * margin if late else None


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 1) -> np.ndarray:
    """Tile images (N, C, H, W) in [-1, 1] into one uint8 array (rows, cols, 3), ``nrow`` images a row,
    ``padding`` pixels of :data:`SEPARATOR_COLOUR` between them (never a grey that T's fill could be)."""
    images = images.detach().float().cpu().clamp(-1, 1)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n, _, h, w = images.shape
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    ncol_rows = int(np.ceil(n / nrow))
    grid = np.empty((ncol_rows * (h + padding) + padding, nrow * (w + padding) + padding, 3), np.uint8)
    grid[:] = SEPARATOR_COLOUR
    pixels = ((images + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i, image in enumerate(pixels):
        r, c = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = image
    return grid


def grid_png(images: torch.Tensor, nrow: int | None = None, scale: int = 1) -> bytes:
    """A sample grid as PNG bytes (``scale`` enlarges pixels without blurring)."""
    from PIL import Image

    picture = Image.fromarray(image_grid(images, nrow))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def show_grid(images: torch.Tensor, title: str = "", ax: Axes | None = None, nrow: int | None = None) -> Axes:
    """Draw a sample grid on ``ax`` (a new figure if None)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(image_grid(images, nrow), interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    return ax


def show_grids(grids: dict[str, torch.Tensor], nrow: int | None = None, size: float = 3.2) -> Figure:
    """Several sample grids side by side, one titled panel each."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(grids), figsize=(size * len(grids), size), squeeze=False)
    for ax, (title, images) in zip(axes[0], grids.items()):
        show_grid(images, title, ax, nrow)
    fig.tight_layout()
    return fig


D_OUTPUT_LINES = tuple((key, label, KEY_COLOURS[key]) for key, label in (
    ("d_train", "training reals"), ("d_heldout", "held-out reals"), ("d_fake", "fakes G(z)")))


def plot_d_outputs(history: Sequence[dict[str, float]], ax: Axes, title: str = "", augmented: bool = False) -> Axes:
    """D's mean output (sigmoid, 1 = "real") on training reals, held-out reals and fakes over training."""
    steps = [row["step"] for row in history]
    suffix = "_aug" if augmented else ""
    for key, label, color in D_OUTPUT_LINES:
        ax.plot(steps, [row[key + suffix] for row in history], label=label, color=color, marker=".")
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("mean sigmoid(D)" + (" on T(.)" if augmented else ""))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def plot_metric(runs: Mapping[str, Sequence[Mapping[str, float]]], key: str, ax: Axes, ylabel: str | None = None,
                colors: Sequence[str] | None = None, clip_early: bool = False) -> Axes:
    """One metric (``fid``, ``kid``, ``d_gap``, ...) over training, a line per run (label -> history).

    ``colors``: one per run, in order (default: :func:`colours_for` of the labels, so labels that are
    strategy names get their strategy's colour). ``clip_early``: size the y axis to :func:`late_top` (the
    first quarter of training, far higher, runs off the top; the axes say how high it went)."""
    colors = list(colors) if colors is not None else colours_for(runs)
    for (label, history), color in zip(runs.items(), colors):
        ax.plot([row["step"] for row in history], [row[key] for row in history], label=label, marker=".", color=color)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or key)
    ax.grid(alpha=0.3)
    if runs:
        ax.legend(fontsize=8)
    if clip_early:
        _clip_early(ax, runs.values(), key)
    return ax


def _clip_early(ax: Axes, histories: Iterable[Sequence[Mapping[str, float]]], key: str) -> None:
    """Cut the y axis at :func:`late_top` when the curves go higher, and write how high they went."""
    histories = list(histories)
    top = late_top(histories, key)
    values = [float(row[key]) for history in histories for row in history if math.isfinite(row[key])]
    if top is None or not values or max(values) <= top:
        return
    ax.set_ylim(min(0.0, min(values) * 1.15), top)  # 0 in view; an unbiased KID can dip below it
    ax.text(0.99, 0.98, f"early values up to {max(values):.4g} run off the top", transform=ax.transAxes,
            ha="right", va="top", fontsize=7, color="#555555")


def plot_seeds(
    runs: Mapping[str, Sequence[Sequence[Mapping[str, float]]]], key: str, ax: Axes, scale: float = 1.0,
    ylabel: str | None = None, colors: Sequence[str] | None = None,
) -> Axes:
    """One metric over training for several settings, each over seeds: every seed thin, the mean thick,
    and a band from the lowest to the highest seed. runs: label -> one history per seed. ``scale``
    multiplies the values (e.g. 1000 for KID in units of 10^-3); ``colors``: one per label, in order
    (default: :func:`colours_for` of the labels: a label that is a strategy name gets its strategy's colour)."""
    colors = list(colors) if colors is not None else colours_for(runs)
    for (label, histories), color in zip(runs.items(), colors):
        steps = np.array([row["step"] for row in histories[0]])
        values = np.array([[row[key] * scale for row in history] for history in histories])
        for seed_values in values:
            ax.plot(steps, seed_values, color=color, lw=0.7, alpha=0.5)
        ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.15)
        ax.plot(steps, values.mean(axis=0), color=color, lw=2, label=f"{label} (mean of {len(values)} seeds)")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or key)
    ax.grid(alpha=0.3)
    return ax
