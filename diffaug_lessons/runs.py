"""Saved runs and the run cache.

A run is a folder::

    config.json      the TrainConfig
    meta.json        status (running / stopped / complete / diverged), package version, config key
    history.json     one metrics row per evaluation
    samples/step_000250.png   sample grids from the fixed z
    checkpoint.pt    models, optimisers, random states (loaded with weights_only=True)

Every file is written atomically, a lock keeps two processes from training the same
run, and :func:`cached_train` turns "train this config" into "load it if it is already
done": re-opening a lesson is instant. Nothing is overwritten without being asked:
``retrain=True`` moves the old folder aside rather than deleting it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import __version__, settings
from .atomic import atomic_save_torch, atomic_write_bytes, atomic_write_json
from .plots import grid_png

K = TypeVar("K")

if TYPE_CHECKING:
    from .train import Experiment, Record, TrainConfig

STATUSES = ("running", "stopped", "complete", "diverged")


class CorruptRunError(RuntimeError):
    """A run folder is half-written or unreadable; it is reported, never silently loaded."""


class RunBusyError(RuntimeError):
    """Another process is training this run right now."""


def runs_dir() -> Path:
    path = settings.home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_name(config: TrainConfig) -> str:
    """Folder name of a config in the cache: readable prefix + config key."""
    if config.n_train is not None:
        amount = f"n{config.n_train}"
    else:
        amount = "all" if config.fraction is None else f"f{config.fraction:g}"
    return f"{config.dataset}-{amount}-{config.strategy}-{config.key()}"


class Run:
    """A run folder on disk. Open with :func:`open_run` (to write) or :func:`load_run` (to read)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_file: Any = None

    # -- reading ----------------------------------------------------------------
    def _read_json(self, name: str) -> Any:
        file = self.path / name
        try:
            return json.loads(file.read_text())
        except FileNotFoundError as error:
            raise CorruptRunError(f"{self.path} has no {name}: the run is incomplete. {_RETRAIN_HINT}") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CorruptRunError(f"{file} is not valid JSON ({error}). {_RETRAIN_HINT}") from error

    @property
    def meta(self) -> dict[str, Any]:
        return self._read_json("meta.json")

    @property
    def status(self) -> str:
        return self.meta["status"]

    @property
    def config(self) -> TrainConfig:
        from .train import TrainConfig

        return TrainConfig.from_dict(self._read_json("config.json"))

    @property
    def history(self) -> list[dict[str, float]]:
        return self._read_json("history.json") if (self.path / "history.json").exists() else []

    def column(self, name: str) -> np.ndarray:
        """One metric over training, e.g. ``run.column('fid')``."""
        return np.array([row[name] for row in self.history])

    def sample_grids(self) -> list[Path]:
        return sorted((self.path / "samples").glob("step_*.png"))

    def has_checkpoint(self) -> bool:
        return (self.path / "checkpoint.pt").exists()

    def load_checkpoint(self) -> dict[str, Any]:
        try:
            return torch.load(self.path / "checkpoint.pt", weights_only=True, map_location="cpu")
        except Exception as error:  # a truncated or foreign file
            raise CorruptRunError(f"{self.path / 'checkpoint.pt'} cannot be loaded ({error}). {_RETRAIN_HINT}") from error

    def _models(self) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
        from .models import build_models

        config, state = self.config, self.load_checkpoint()
        channels = self.meta["channels"]
        G, D = build_models(config.architecture, channels, config.resolution, config.z_dim, config.g_width,
                            config.d_width, config.spectral_norm, self.meta.get("n_classes", 0))
        return G, D, state

    def generator(self, device: str | torch.device = "cpu") -> nn.Module:
        """The trained generator (EMA weights when the run kept them), in eval mode."""
        G, _, state = self._models()
        G.load_state_dict(state.get("G_ema", state["G"]))
        return G.to(device).eval().requires_grad_(False)

    def discriminator(self, device: str | torch.device = "cpu") -> nn.Module:
        """The trained discriminator, in eval mode."""
        _, D, state = self._models()
        D.load_state_dict(state["D"])
        return D.to(device).eval().requires_grad_(False)

    def check(self, config: TrainConfig | None = None) -> Run:
        """Raise :class:`CorruptRunError` unless the folder is a consistent run (of ``config``)."""
        meta, saved = self.meta, self.config
        for key in ("status", "version", "key"):
            if key not in meta:
                raise CorruptRunError(f"{self.path}/meta.json lacks {key!r}. {_RETRAIN_HINT}")
        if meta["status"] not in STATUSES:
            raise CorruptRunError(f"{self.path}: unknown status {meta['status']!r}. {_RETRAIN_HINT}")
        if config is not None and saved.to_dict() != config.to_dict():
            changed = sorted(k for k, v in config.to_dict().items() if saved.to_dict().get(k) != v)
            raise ValueError(f"{self.path} holds a run of another config (differs in {', '.join(changed)})")
        if meta["status"] == "complete":
            history = self.history
            if not history or history[-1]["step"] != saved.steps or not self.has_checkpoint():
                raise CorruptRunError(f"{self.path} says complete but its history or checkpoint is missing. {_RETRAIN_HINT}")
        return self

    # -- writing ----------------------------------------------------------------
    def lock(self, wait: bool = False) -> None:
        """Take an exclusive lock on the folder (released by :meth:`close` or when the process dies).

        Without ``wait`` a lock held elsewhere raises :class:`RunBusyError`; with it, block until free.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; unique run folders still keep runs apart
            return
        self._lock_file = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as error:
            self._lock_file.close()
            self._lock_file = None
            raise RunBusyError(f"another process is training {self.path}; wait for it or use another run folder") from error

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def mark(self, status: str, **extra: Any) -> None:
        meta = self.meta if (self.path / "meta.json").exists() else {}
        meta.update(status=status, version=__version__, updated=time.strftime("%Y-%m-%d %H:%M:%S"), **extra)
        atomic_write_json(meta, self.path / "meta.json")

    def save(self, experiment: Experiment, record: Record | None, status: str) -> None:
        """Save the experiment's state. The checkpoint goes first and meta.json last, so a
        crash in between leaves the previous consistent state described by meta.json."""
        if record is not None:
            atomic_write_bytes(grid_png(record.samples), self.path / "samples" / f"step_{record.step:06d}.png")
        atomic_save_torch(experiment.state_dict(), self.path / "checkpoint.pt")
        atomic_write_json(experiment.history, self.path / "history.json")
        self.mark(status, channels=experiment.train_set.images.shape[1], n_classes=experiment.n_classes)


_RETRAIN_HINT = "Train it again with retrain=True (the broken folder is kept aside, not deleted)."


def open_run(path: str | Path, config: TrainConfig) -> Run:
    """Open (or create) the run folder ``path`` for training ``config``, locked."""
    run = Run(path)
    run.lock()
    try:
        if (run.path / "config.json").exists():
            run.check(config)
        else:
            atomic_write_json(config.to_dict(), run.path / "config.json")
            atomic_write_json({"status": "running", "version": __version__, "key": config.key()}, run.path / "meta.json")
    except BaseException:
        run.close()
        raise
    return run


def load_run(path: str | Path) -> Run:
    """A finished or stopped run folder, checked for consistency."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no run folder at {path}")
    return Run(path).check()


def set_aside(path: Path) -> Path:
    """Rename a run folder to ``<name>.old-<time>`` so nothing is lost when it is retrained."""
    target = path.with_name(f"{path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, target)
    return target


def cached_train(
    config: TrainConfig,
    *,
    retrain: bool = False,
    callbacks: Sequence[Callable[[Record], None]] = (),
    progress: bool = True,
    root: str | Path | None = None,
) -> Run:
    """Train ``config`` unless the cache already holds the finished run; return the run.

    An unfinished (stopped) run of the same config is resumed. With ``retrain=True`` an
    existing folder is moved aside and the run starts afresh.
    """
    from .train import train

    path = Path(root or runs_dir()) / run_name(config)
    if path.exists() and retrain:
        set_aside(path)
    _wait_if_busy(path)
    run = _finished_run(path, config)
    if run is not None:
        return run
    train(config, run_dir=path, callbacks=callbacks, progress=progress)
    return Run(path).check(config)


def train_many(
    configs: Mapping[K, TrainConfig],
    *,
    retrain: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict[K, Run]:
    """:func:`cached_train` for several configs; on the CPU the ones to train run side by side.

    A small GAN keeps one core busy and gains little from a second thread, so each run that is
    not in the cache trains in a worker process of its own with one torch thread, ``workers`` at
    a time (default: one per core). Runs on a GPU train one after the other. Returns the runs
    in the order of ``configs``.
    """
    from .train import resolve_device

    todo = [key for key, config in configs.items()
            if retrain or _finished_run(runs_dir() / run_name(config), config) is None]
    on_cpu = all(resolve_device(configs[key].device).type == "cpu" for key in todo)
    workers = min(len(todo), workers or os.cpu_count() or 1)
    if on_cpu and workers > 1:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: safe from a notebook's threads
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_train_in_worker, configs[key], retrain) for key in todo]
            bar = tqdm(as_completed(futures), total=len(futures), disable=not progress,
                       desc=f"training {len(todo)} runs, {workers} at a time")
            for future in bar:
                future.result()  # a failed run raises here
        retrain = False
    return {key: cached_train(config, retrain=retrain, progress=progress) for key, config in configs.items()}


def _finished_run(path: Path, config: TrainConfig) -> Run | None:
    """The complete run of ``config`` at ``path``, or None (none there, or unfinished); a corrupt one raises."""
    if path.exists() and (path / "meta.json").exists():
        run = Run(path).check(config)
        if run.status == "complete":
            return run
    return None


def _train_in_worker(config: TrainConfig, retrain: bool) -> None:
    torch.set_num_threads(1)
    cached_train(config, retrain=retrain, progress=False)


def _wait_if_busy(path: Path) -> None:
    """If another process (say, a second notebook) is training this very run, wait for it."""
    if not path.exists():
        return
    probe = Run(path)
    try:
        probe.lock()
    except RunBusyError:
        print(f"another process is training {path.name}; waiting for it to finish...", flush=True)
        probe.lock(wait=True)
    probe.close()


def list_runs(root: str | Path | None = None) -> list[Run]:
    """Every readable run in the cache (newest first); unreadable folders are skipped."""
    found = []
    for path in Path(root or runs_dir()).iterdir():
        if (path / "meta.json").exists():
            try:
                found.append(Run(path).check())
            except (CorruptRunError, ValueError):
                continue
    return sorted(found, key=lambda run: (run.path / "meta.json").stat().st_mtime, reverse=True)
