"""The shipped reference results: every lesson run's config and metrics history, read by run key.

``reference/cpu.json`` (package data) holds, for the runs behind the committed lessons, the config's
non-default fields, the history columns the lessons read and sample measures of the final generator.
It is written by :func:`diffaug_lessons.evidence.build_reference`; this module only reads it, so the
modules that need a run's reference history (the evidence, the recipe study) depend on this one and
not on each other. Run keys include the numerics version: a reference made by code that computes
differently never matches today's runs.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .train import TrainConfig

REFERENCE_FILE = Path(__file__).resolve().parent / "reference" / "cpu.json"
REFERENCE_COMMAND = "python -m diffaug_lessons reference --preset cpu"


SUMMARY_LAST = 3  # a run's number: the mean of its last three evaluations
BEST = "best_"  # "best_fid": the lowest FID of any evaluation (what a best-FID checkpoint keeps)


def summary_value(history: Sequence[Mapping[str, float]], key: str, last: int = SUMMARY_LAST) -> float:
    """A run's number for ``key``: the mean over its last ``last`` evaluations; for ``best_<key>`` (e.g.
    ``best_fid``) the lowest value of any evaluation, as the official BigGAN code keeps its best-FID
    checkpoint."""
    rows = list(history)
    if not rows:
        raise ValueError("a run with no evaluation has no summary value")
    if key.startswith(BEST):
        return min(float(row[key[len(BEST):]]) for row in rows)
    rows = rows[-last:]
    return sum(float(row[key]) for row in rows) / len(rows)



@dataclass
class Reference:
    """The reference results: run key -> (config fields, history, sample measures)."""

    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> Reference:
        """Read a reference file (default: the one shipped with the package)."""
        file = Path(path) if path is not None else REFERENCE_FILE
        try:
            data = json.loads(file.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no reference results at {file}; make them with `{REFERENCE_COMMAND}`"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
            raise ValueError(f"{file} is not a reference file (no 'runs' table); remake it with `{REFERENCE_COMMAND}`")
        return cls(data, file)

    @staticmethod
    def load_default() -> Reference:
        """The shipped reference (read once per process); empty if the package has none."""
        return _default_reference()

    @property
    def command(self) -> str:
        return self.data.get("command", REFERENCE_COMMAND)

    def history(self, config: TrainConfig) -> list[dict[str, float]] | None:
        """The reference history of exactly this config (its seed included), or None."""
        entry = self.data.get("runs", {}).get(config.key())
        return None if entry is None else entry["history"]

    def measures(self, config: TrainConfig) -> dict[str, float]:
        """The reference's sample measures of exactly this config (empty if it has none)."""
        entry = self.data.get("runs", {}).get(config.key())
        return {} if entry is None else dict(entry.get("measures", {}))

    def samples(self, config: TrainConfig) -> torch.Tensor | None:
        """The samples of the final generator of exactly this config, (N, C, H, W) in [-1, 1]; None if the
        reference keeps none for it."""
        entry = self.data.get("runs", {}).get(config.key())
        return None if entry is None or "samples" not in entry else decode_samples(entry["samples"])

    def seeds(self, config: TrainConfig, most: int = 100) -> list[int]:
        """The seeds the reference holds for ``config`` (its other fields as they are)."""
        return [seed for seed in range(most) if self.history(config.replace(seed=seed)) is not None]


def encode_samples(images: torch.Tensor) -> str:
    """Images (N, C, H, W) in [-1, 1] (C = 1 or 3) as text: one PNG row of N tiles, 8 bits, base64."""
    if images.ndim != 4 or images.shape[1] not in (1, 3) or len(images) == 0:
        raise ValueError(f"samples must be (N, 1 or 3, H, W) with N >= 1; got shape {tuple(images.shape)}")
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    row = pixels.permute(2, 0, 3, 1).reshape(images.shape[2], -1, images.shape[1])  # H, N*W, C
    image = Image.fromarray(row.squeeze(2).numpy() if images.shape[1] == 1 else row.numpy())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return f"{len(images)}:" + base64.b64encode(buffer.getvalue()).decode()


def decode_samples(text: str) -> torch.Tensor:
    """The inverse of :func:`encode_samples`: (N, C, H, W) in [-1, 1] (8-bit steps)."""
    count, data = text.split(":", 1)
    array = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
    pixels = torch.from_numpy(array.copy())
    if pixels.ndim == 2:
        pixels = pixels.unsqueeze(2)
    n = int(count)
    h, width, c = pixels.shape
    images = pixels.reshape(h, n, width // n, c).permute(1, 3, 0, 2)
    return images.float() / 127.5 - 1


@functools.cache
def _default_reference() -> Reference:
    return Reference.load() if REFERENCE_FILE.exists() else Reference()
