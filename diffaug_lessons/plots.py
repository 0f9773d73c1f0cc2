"""Pictures: sample grids and training curves (matplotlib)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure



def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 1) -> np.ndarray:
    """Tile images (N, C, H, W) in [-1, 1] into one uint8 array (rows, cols, 3), grey padding."""
    images = images.detach().float().cpu().clamp(-1, 1)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n, _, h, w = images.shape
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    ncol_rows = int(np.ceil(n / nrow))
    grid = np.full((ncol_rows * (h + padding) + padding, nrow * (w + padding) + padding, 3), 128, np.uint8)
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


D_OUTPUT_LINES = (
    ("d_train", "training reals", "tab:blue"),
    ("d_heldout", "held-out reals", "tab:green"),
    ("d_fake", "fakes G(z)", "tab:red"),
)


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


def plot_metric(runs: dict[str, Sequence[dict[str, float]]], key: str, ax: Axes, ylabel: str | None = None) -> Axes:
    """One metric (``fid``, ``kid``, ``d_gap``, ...) over training, a line per run."""
    for label, history in runs.items():
        ax.plot([row["step"] for row in history], [row[key] for row in history], label=label, marker=".")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or key)
    ax.grid(alpha=0.3)
    if runs:
        ax.legend(fontsize=8)
    return ax


def plot_seeds(
    runs: dict[str, Sequence[Sequence[dict[str, float]]]], key: str, ax: Axes, scale: float = 1.0,
    ylabel: str | None = None, colors: Sequence[str] = ("tab:red", "tab:blue", "tab:purple", "tab:green"),
) -> Axes:
    """One metric over training for several settings, each over seeds: every seed thin, the mean thick,
    and a band from the lowest to the highest seed. runs: label -> one history per seed. ``scale``
    multiplies the values (e.g. 1000 for KID in units of 10^-3); ``colors``: one per label, in order."""
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
