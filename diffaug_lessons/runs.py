"""Saved runs and the run cache.

A run is a folder::

    config.json      the TrainConfig
    meta.json        status (running / stopped / complete / diverged), package version, config key
    history.json     one metrics row per evaluation
    samples/step_000250.png   sample grids from the fixed z
    checkpoint.pt    models, optimisers, random states (loaded with weights_only=True)
    .lock            held (flock) by the one process that trains it

Every file is written atomically; the checkpoint holds the history too, so a folder
killed between two writes resumes from a consistent state. :func:`cached_train` turns
"train this config" into "load it if it is already done": re-opening a lesson is instant.
Two processes asking for the same run: one trains, the other waits and then loads it.
Finished runs load from a read-only cache (a class sharing pre-trained runs); only training
writes. Nothing the user made is overwritten: ``retrain=True`` moves the old folder aside,
and a folder that is not a run is never written into. A run folder that is a symbolic link (a
class's shared runs linked into each student's cache) is loaded and resumed through the link, but
never retrained through it: ``retrain=True`` moves the link aside, the folder it points to stays
as it is, and the run trains afresh in a real folder.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import __version__, settings
from .atomic import atomic_save_torch, atomic_write_bytes, atomic_write_json
from .distributed import setup as distributed_setup
from .models import build_models
from .plots import grid_png
from .train import Experiment, Record, TrainConfig, TrainResult, resolve_device, train

K = TypeVar("K")

STATUSES = ("running", "stopped", "complete", "diverged")


class CorruptRunError(RuntimeError):
    """A run folder is half-written or unreadable; it is reported, never silently loaded."""


class RunBusyError(RuntimeError):
    """Another process is training this run right now."""


class NotARunError(RuntimeError):
    """A folder holds files that are not a run's: the package will not write into it."""


class ReadOnlyCacheError(RuntimeError):
    """A run must be trained but its folder cannot be written."""


def runs_dir() -> Path:
    path = settings.home() / "runs"
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
    return path


def run_name(config: TrainConfig) -> str:
    """Folder name of a config in the cache: readable prefix + config key."""
    if config.n_train is not None:
        amount = f"n{config.n_train}"
    else:
        amount = "all" if config.fraction is None else f"f{config.fraction:g}"
    return f"{config.dataset}-{amount}-{config.strategy}-{config.key()}"


_RETRAIN_HINT = "Train it again with retrain=True (the broken folder is kept aside, not deleted)."


class Run:
    """A run folder on disk. Open with :func:`open_run` (to write) or :func:`load_run` (to read)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_file: Any = None

    # -- reading ----------------------------------------------------------------
    def _read_json(self, name: str, kind: type) -> Any:
        file = self.path / name
        try:
            value = json.loads(file.read_text())
        except FileNotFoundError as error:
            raise CorruptRunError(f"{self.path} has no {name}: the run is incomplete. {_RETRAIN_HINT}") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CorruptRunError(f"{file} is not valid JSON ({error}). {_RETRAIN_HINT}") from error
        except OSError as error:
            raise CorruptRunError(f"{file} cannot be read ({error})") from error
        if not isinstance(value, kind):
            raise CorruptRunError(f"{file} holds a {type(value).__name__}, not a {kind.__name__}. {_RETRAIN_HINT}")
        return value

    @property
    def meta(self) -> dict[str, Any]:
        return self._read_json("meta.json", dict)

    @property
    def status(self) -> str:
        return self.meta["status"]

    @property
    def config(self) -> TrainConfig:
        try:
            return TrainConfig.from_dict(self._read_json("config.json", dict))
        except (TypeError, ValueError) as error:
            raise CorruptRunError(f"{self.path}/config.json is not a valid config ({error}). {_RETRAIN_HINT}") from error

    @property
    def history(self) -> list[dict[str, float]]:
        if not (self.path / "history.json").exists():
            return []
        rows = self._read_json("history.json", list)
        if not all(isinstance(row, dict) and isinstance(row.get("step"), int) for row in rows):
            raise CorruptRunError(f"{self.path}/history.json has rows that are not metrics rows. {_RETRAIN_HINT}")
        return rows

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

    def resume_state(self) -> dict[str, Any] | None:
        """The checkpoint to resume from, or None for a fresh run."""
        return self.load_checkpoint() if self.has_checkpoint() else None

    def _models(self) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
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

    def is_run(self) -> bool:
        """Does the folder hold a run (its config.json and meta.json), whatever its state?"""
        return (self.path / "config.json").is_file() and (self.path / "meta.json").is_file()

    # -- writing ----------------------------------------------------------------
    def lock(self, wait: bool = False) -> None:
        """Take the exclusive lock on the folder (released by :meth:`close` or when the process dies).

        Without ``wait`` a lock held elsewhere raises :class:`RunBusyError`; with it, block until free.
        A folder set aside (retrained) while this process waited has taken its lock file with it: then
        the lock of the folder now at this path is taken instead.
        """
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; unique run folders still keep runs apart
            self.path.mkdir(parents=True, exist_ok=True)
            return
        while True:
            _make_folder(self.path)
            handle = open(self.path / ".lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as error:
                handle.close()
                raise RunBusyError(
                    f"another process is training {self.path}; wait for it or use another run folder"
                ) from error
            try:
                same_file = os.fstat(handle.fileno()).st_ino == os.stat(self.path / ".lock").st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                self._lock_file = handle
                return
            handle.close()

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def mark(self, status: str, **extra: Any) -> None:
        meta = self.meta if (self.path / "meta.json").exists() else {}
        meta.update(status=status, version=__version__, updated=time.strftime("%Y-%m-%d %H:%M:%S"), **extra)
        atomic_write_json(meta, self.path / "meta.json")

    def save(self, experiment: Experiment, record: Record | None, status: str) -> None:
        """Save the experiment's state. The checkpoint (which holds the history too) goes first and
        meta.json last, so a crash in between leaves a folder that resumes consistently."""
        if record is not None:
            atomic_write_bytes(grid_png(record.samples), self.path / "samples" / f"step_{record.step:06d}.png")
        atomic_save_torch(experiment.state_dict(), self.path / "checkpoint.pt")
        atomic_write_json(experiment.history, self.path / "history.json")
        self.mark(status, channels=experiment.train_set.images.shape[1], n_classes=experiment.n_classes,
                  torch_threads=torch.get_num_threads())


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReadOnlyCacheError(
            f"cannot create the run folder {path} ({error.strerror or error}): {path.parent} is read-only for this "
            f"user or not a folder. Finished runs load from a read-only cache, but this one must be trained: set "
            f"{settings.HOME_ENV} to a folder you can write to (copy the shared runs/ into it to keep them)."
        ) from error
    if not os.access(path, os.W_OK):
        raise ReadOnlyCacheError(
            f"the run folder {path} is read-only: finished runs load from it, but this one must be trained. "
            f"Set {settings.HOME_ENV} to a folder you can write to (copy the shared runs/ into it to keep them)."
        )


def _check_is_run_or_empty(path: Path) -> None:
    """Refuse to write into a folder of the user's that is not a run folder.

    A run folder holds config.json and meta.json; a folder whose run was cut short while it was being
    created holds nothing but its lock, our temporary files and perhaps a config.json of ours.
    """
    if not path.exists() or Run(path).is_run():
        return
    if not path.is_dir():
        raise NotARunError(f"{path} is a file, not a run folder")
    foreign = sorted(p.name for p in path.iterdir() if not _ours_while_creating(p))
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise NotARunError(
            f"{path} is not a run folder (it holds {shown} but no config.json and meta.json of a run); "
            "nothing was written to it. Choose a new or empty folder for the run."
        )


def _ours_while_creating(entry: Path) -> bool:
    """Is ``entry`` something :func:`open_run` writes before meta.json exists?"""
    if entry.name == ".lock" or (entry.name.startswith(".") and entry.name.endswith(".tmp")):
        return True
    if entry.name != "config.json":
        return False
    try:
        TrainConfig.from_dict(json.loads(entry.read_text()))
    except (OSError, ValueError, TypeError):
        return False
    return True


def open_run(path: str | Path, config: TrainConfig, *, wait: bool = False) -> Run:
    """Open (or create) the run folder ``path`` for training ``config``, locked.

    Refuses a folder that holds anything but a run (:class:`NotARunError`) and a run of another config.
    """
    path = Path(path)
    _check_is_run_or_empty(path)
    run = Run(path)
    run.lock(wait=wait)
    try:
        return _adopt(run, config)
    except BaseException:
        run.close()
        raise


def load_run(path: str | Path) -> Run:
    """A finished or stopped run folder, checked for consistency."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no run folder at {path}")
    return Run(path).check()


def set_aside(path: Path) -> Path:
    """Rename a run folder to ``<name>.old-<time>[-<n>]`` so nothing is lost when it is retrained.

    The new name never replaces anything: a name already taken gets the next free number. A symbolic
    link (dangling or not) is itself moved to the new name, still pointing where it pointed; what it
    points to is not touched.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(10_000):
        target = path.with_name(f"{path.name}.old-{stamp}" + (f"-{attempt}" if attempt else ""))
        if path.is_symlink():
            try:
                os.symlink(os.readlink(path), target)  # the same link under the new name, created atomically
            except FileExistsError:
                continue
            path.unlink()
            return target
        try:
            target.mkdir()  # claims the name atomically; an empty folder is what rename may replace
        except FileExistsError:
            continue
        try:
            os.rename(path, target)
        except BaseException:
            target.rmdir()  # give the claimed name back: no empty folder is left behind
            raise
        return target
    raise RuntimeError(f"no free name to set {path} aside")


def train_in_folder(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    retrain: bool = False,
    callbacks: Sequence[Callable[[Record], None]] = (),
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
) -> TrainResult:
    """:func:`~diffaug_lessons.train.train` saving to (and resuming from) the run folder ``run_dir``.

    With ``retrain`` a run already in the folder is set aside first (never while another process trains
    it: :class:`RunBusyError`); a ``run_dir`` that is a symbolic link is set aside as a link and the run
    trains in a real folder, leaving the link's target as it was. Under torchrun rank 0 writes the folder;
    the other ranks only resume from it.
    """
    run_dir = Path(run_dir)
    if not distributed_setup().is_main:
        return train(config, store=_ReadOnlyStore(run_dir), callbacks=callbacks, should_stop=should_stop,
                     progress=progress)
    run = _open_for_training(run_dir, config, retrain=retrain)
    try:
        return train(config, store=run, callbacks=callbacks, should_stop=should_stop, progress=progress)
    finally:
        run.close()


@dataclass
class _ReadOnlyStore:
    """What a non-main rank uses: it resumes from the folder and never writes."""

    path: Path

    def resume_state(self) -> dict[str, Any] | None:
        return Run(self.path).resume_state()

    def save(self, experiment: Experiment, record: Record | None, status: str) -> None:
        raise AssertionError("only rank 0 saves")  # train() never calls it on other ranks

    def mark(self, status: str) -> None:
        raise AssertionError("only rank 0 saves")


def _open_for_training(path: Path, config: TrainConfig, *, retrain: bool) -> Run:
    """The run folder at ``path``, locked by this process, ready to train ``config``.

    Another process training it: with ``retrain``, refuse (:class:`RunBusyError`); otherwise wait.
    A symbolic link is trained through (resumed) without ``retrain`` and set aside with it; a dangling
    link is refused without ``retrain`` (:class:`NotARunError`).
    """
    _check_is_run_or_empty(path)
    if path.is_symlink():
        if retrain:
            return _retrain_in_place_of_link(path, config)
        if not path.exists():
            raise NotARunError(
                f"{path} is a symbolic link to {os.readlink(path)}, which does not exist; nothing was written. "
                "Retrain (retrain=True) to set the link aside and train afresh, or remove the link."
            )
    run = Run(path)
    try:
        run.lock()
    except RunBusyError:
        if retrain:
            raise RunBusyError(
                f"another process is training {path} right now; retraining would disturb it. "
                "Wait for it to finish, then retrain."
            ) from None
        print(f"another process is training {path.name}; waiting for it to finish...", flush=True)
        run.lock(wait=True)
    try:
        if retrain and run.is_run():
            set_aside(path)  # the lock file moves along: processes waiting on it will retry on the new folder
            fresh = Run(path)
            fresh.lock()
            run.close()
            run = fresh
        return _adopt(run, config)
    except BaseException:
        run.close()
        raise


def _retrain_in_place_of_link(path: Path, config: TrainConfig) -> Run:
    """Set the symbolic link ``path`` aside and open a fresh real folder there, locked, for ``config``.

    The link's target is never written: its lock is only taken (not created) to refuse while another
    process trains it through the link, whose next writes would otherwise land in the new folder.
    """
    target_lock = _hold_existing_lock(path)
    try:
        set_aside(path)
        run = Run(path)
        run.lock()
    finally:
        if target_lock is not None:
            target_lock.close()  # a process waiting on it finds a new folder at path and retries there
    try:
        return _adopt(run, config)
    except BaseException:
        run.close()
        raise


def _hold_existing_lock(path: Path) -> TextIO | None:
    """The lock of the run folder ``path`` taken through its existing lock file, which is opened
    read-only and never created; None when there is no lock file to take (or no flock on this system).
    Raises :class:`RunBusyError` while another process holds it."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        handle = open(path / ".lock")
    except OSError:  # no lock file: nobody trains there (a dangling link, a run copied in without it)
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.close()
        raise RunBusyError(
            f"another process is training {path} (a link to {os.readlink(path)}) right now; retraining would "
            "disturb it. Wait for it to finish, then retrain."
        ) from error
    return handle


def _adopt(run: Run, config: TrainConfig) -> Run:
    """Make the folder this process has locked a run of ``config`` (or check that it is one)."""
    _check_is_run_or_empty(run.path)  # again, now that no other process can be writing
    if run.is_run():
        run.check(config)
    else:
        atomic_write_json(config.to_dict(), run.path / "config.json")
        atomic_write_json({"status": "running", "version": __version__, "key": config.key()}, run.path / "meta.json")
    return run


def cached_train(
    config: TrainConfig,
    *,
    retrain: bool = False,
    callbacks: Sequence[Callable[[Record], None]] = (),
    progress: bool = True,
    root: str | Path | None = None,
) -> Run:
    """Train ``config`` unless the cache already holds the finished run; return the run.

    A finished run is loaded without writing anything (a read-only cache works). An unfinished run
    of the same config is resumed. Another process training the same run: wait for it, then load.
    With ``retrain=True`` an existing folder (or a symbolic link in its place, whose target is left
    as it is) is moved aside and the run starts afresh in a real folder.
    """
    path = Path(root or runs_dir()) / run_name(config)
    if not retrain:
        finished = _finished_run(path, config)
        if finished is not None:
            return finished
    run = _open_for_training(path, config, retrain=retrain)
    try:
        finished = None if retrain else _finished_run(path, config)  # another process may have just finished it
        if finished is None:
            train(config, store=run, callbacks=callbacks, progress=progress)
    finally:
        run.close()
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


def seed_list(seeds: int | Sequence[int]) -> tuple[int, ...]:
    """``seeds`` as a tuple of seeds: a count n means seeds 0 .. n-1."""
    chosen = tuple(range(seeds)) if isinstance(seeds, int) and not isinstance(seeds, bool) else tuple(seeds)
    if not chosen or any(isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 for seed in chosen):
        raise ValueError(f"seeds must be a positive count or a list of seeds >= 0; got {seeds!r}")
    return chosen


def train_seeds(
    configs: Mapping[K, TrainConfig],
    seeds: int | Sequence[int] = 3,
    *,
    retrain: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict[K, list[Run]]:
    """:func:`train_many` for every config at each of ``seeds`` (a count: seeds 0 .. n-1).

    Returns, for each key, its runs in seed order. Configs that coincide once their seed is set
    (the same run asked for under two names) train once.
    """
    chosen = seed_list(seeds)
    wanted = {(key, seed): config.replace(seed=seed) for seed in chosen for key, config in configs.items()}
    unique: dict[str, TrainConfig] = {}
    for config in wanted.values():
        unique.setdefault(config.key(), config)
    trained = train_many(unique, retrain=retrain, workers=workers, progress=progress)
    return {key: [trained[wanted[(key, seed)].key()] for seed in chosen] for key in configs}


def finished_run(config: TrainConfig) -> Run | None:
    """The cache's finished run of ``config``, or None; trains and writes nothing."""
    return _finished_run(runs_dir() / run_name(config), config)


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


@dataclass
class RunProblem:
    """A folder in the cache that could not be read as a run, and why."""

    path: Path
    reason: str


def scan_runs(root: str | Path | None = None) -> tuple[list[Run], list[RunProblem]]:
    """Every readable run in the cache (newest first), and every folder that looks like a broken run.

    A broken folder (any shape of bad metadata) is reported and never stops the others from listing.
    """
    found, problems = [], []
    for path in sorted(Path(root or runs_dir()).iterdir()):
        if not path.is_dir() or not any((path / name).exists() for name in ("meta.json", "config.json")):
            continue
        try:
            run = Run(path).check()
            run.history  # noqa: B018  # read it now: a broken history is this run's problem, not a caller's
            found.append(run)
        except (CorruptRunError, ValueError, TypeError, KeyError) as error:
            problems.append(RunProblem(path, str(error)))
    found.sort(key=lambda run: (run.path / "meta.json").stat().st_mtime, reverse=True)
    return found, problems


def list_runs(root: str | Path | None = None) -> list[Run]:
    """Every readable run in the cache (newest first); broken folders are left out (see :func:`scan_runs`)."""
    return scan_runs(root)[0]
