"""Fault injection: interrupted, concurrent and shared runs, hostile files and odd values.

Each fault is injected at every place it can strike, not at one chosen moment: an interrupt at
every step and at every write of a run, at every evaluation; real processes interrupted (SIGINT)
and killed (SIGKILL) at random moments; two processes asking for the same run; a read-only cache;
downloads that break off. The tables of odd values are built from the config's fields, the
command line's options and the widgets' signatures themselves, so a new field, option or widget
argument gets the same treatment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import inspect
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import pytest
import torch

from diffaug_lessons import __version__, atomic, augment_cpu, cli, metrics, runs, widgets
from diffaug_lessons import train as train_module
from diffaug_lessons.augment import Strengths, apply, apply_reference, sample_params
from diffaug_lessons.data import image_folder
from diffaug_lessons.download import DownloadError
from diffaug_lessons.runs import (
    NotARunError,
    ReadOnlyCacheError,
    Run,
    RunBusyError,
    cached_train,
    open_run,
    run_name,
    scan_runs,
    set_aside,
    train_in_folder,
)
from diffaug_lessons.train import TrainConfig, TrainingStopped, train

TIMING = ("seconds", "it_per_s")
TINY = dict(resolution=8, g_width=8, d_width=8, z_dim=16, n_train=64, n_heldout=64, batch_size=16, steps=12,
            eval_every=4, n_eval_samples=32, device="cpu", strategy="diffaugment", ada_target=0.6, p=0.3)


def numbers(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


@pytest.fixture(scope="module")
def uninterrupted():
    config = TrainConfig(**TINY)
    return config, numbers(train(config, progress=False).history)


def finish(config, folder):
    """Start the run again until it completes (as a user re-running the cell would)."""
    result = train_in_folder(config, folder, progress=False)
    assert result.status == "complete" and Run(folder).check(config).status == "complete"
    return numbers(Run(folder).history)


class Strike:
    """Raises ``error`` at the ``at``-th call of the patched function (counting from 1)."""

    def __init__(self, function, at, error):
        self.function, self.at, self.error, self.calls = function, at, error, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            raise self.error
        return self.function(*args, **kwargs)


# --- 1. A run stopped at any moment resumes to the uninterrupted numbers -------------------------

# 12 steps, evaluations at 4, 8, 12: each save writes a sample grid, the checkpoint, history.json and
# meta.json (5 atomic writes with config.json and the first meta.json before the first step).
@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError("No space left on device")], ids=["ctrl-c", "disk-full"])
@pytest.mark.parametrize("write", range(1, 15))
def test_a_fault_at_every_write_resumes_to_the_same_numbers(uninterrupted, tmp_path, monkeypatch, error, write):
    config, expected = uninterrupted
    strike = Strike(atomic.atomic_write_bytes, write, error)
    monkeypatch.setattr(atomic, "atomic_write_bytes", strike)  # atomic_write_json and atomic_save_torch use it
    monkeypatch.setattr(runs, "atomic_write_bytes", strike)  # the sample grids
    folder = tmp_path / "run"
    try:
        train_in_folder(config, folder, progress=False)
    except type(error):
        pass
    monkeypatch.undo()
    assert finish(config, folder) == expected


@pytest.mark.parametrize("call", [2, 5, 6, 7, 11, 12])  # mid-interval, just after an evaluation, the last step
def test_ctrl_c_inside_a_step_after_d_was_updated_resumes_to_the_same_numbers(uninterrupted, tmp_path, monkeypatch,
                                                                              call):
    """The G loss is computed after D's update: an interrupt there leaves a half-done step in memory."""
    config, expected = uninterrupted
    monkeypatch.setattr(train_module, "g_loss", Strike(train_module.g_loss, call, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        train_in_folder(config, tmp_path / "run", progress=False)
    monkeypatch.undo()
    assert Run(tmp_path / "run").status == "stopped"
    assert finish(config, tmp_path / "run") == expected


@pytest.mark.parametrize("evaluation", [1, 2, 3])  # the last one too: the run must still reach "complete"
@pytest.mark.parametrize("where", ["fid", "d-report", "callback"])
def test_ctrl_c_during_an_evaluation_resumes_to_the_same_numbers(uninterrupted, tmp_path, monkeypatch, evaluation,
                                                                 where):
    config, expected = uninterrupted
    callbacks = []
    if where == "fid":
        strike = Strike(metrics.FidKid.score, evaluation, KeyboardInterrupt())
        monkeypatch.setattr(metrics.FidKid, "score", lambda self, fakes: strike(self, fakes))
    elif where == "d-report":  # seven D reports per evaluation: strike in the middle one
        monkeypatch.setattr(train_module, "discriminator_report",
                            Strike(train_module.discriminator_report, 7 * (evaluation - 1) + 4, KeyboardInterrupt()))
    else:
        callbacks = [Strike(lambda record: None, evaluation, KeyboardInterrupt())]
    with pytest.raises(KeyboardInterrupt):
        train_in_folder(config, tmp_path / "run", callbacks=callbacks, progress=False)
    monkeypatch.undo()
    assert finish(config, tmp_path / "run") == expected


@pytest.mark.parametrize("stop_before_step", range(1, 13))
def test_a_stop_between_any_two_steps_resumes_to_the_same_numbers(uninterrupted, tmp_path, stop_before_step):
    config, expected = uninterrupted
    polls = iter(range(1, 1000))
    stopped = train_in_folder(config, tmp_path / "run", should_stop=lambda: next(polls) == stop_before_step,
                              progress=False)
    assert stopped.status == "stopped"
    assert finish(config, tmp_path / "run") == expected


def test_a_callback_that_stops_the_run_saves_it_resumably(uninterrupted, tmp_path):
    config, expected = uninterrupted

    def stop(record):
        raise TrainingStopped

    assert train_in_folder(config, tmp_path / "run", callbacks=[stop], progress=False).status == "stopped"
    assert finish(config, tmp_path / "run") == expected


def test_a_run_killed_between_its_final_writes_still_completes(uninterrupted, tmp_path, monkeypatch):
    """Killed after the final checkpoint but before history.json and meta.json: the next start must
    finish it (it used to be skipped forever, with the CLI ending in an IndexError)."""
    config, expected = uninterrupted
    real = runs.atomic_write_json
    written = []

    def die_after_the_last_checkpoint(obj, path):
        written.append(Path(path).name)
        if Path(path).name == "history.json" and isinstance(obj, list) and obj and obj[-1]["step"] == config.steps:
            raise KeyboardInterrupt
        return real(obj, path)

    monkeypatch.setattr(runs, "atomic_write_json", die_after_the_last_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train_in_folder(config, tmp_path / "run", progress=False)
    monkeypatch.undo()
    assert Run(tmp_path / "run").load_checkpoint()["step"] == config.steps
    assert Run(tmp_path / "run").status == "stopped"
    assert finish(config, tmp_path / "run") == expected


# --- Real processes: SIGINT and SIGKILL at random moments -----------------------------------------

CLI_TINY = ["--resolution", "8", "--g-width", "8", "--d-width", "8", "--z-dim", "16", "--n-train", "64",
            "--n-heldout", "64", "--batch-size", "16", "--steps", "60", "--eval-every", "12", "--n-eval-samples", "32",
            "--device", "cpu", "--strategy", "diffaugment"]


def _cli(run_dir, env):
    return [sys.executable, "-m", "diffaug_lessons", "train", *CLI_TINY, "--run-dir", str(run_dir)], env


@pytest.mark.slow
def test_real_processes_interrupted_or_killed_at_random_moments_resume_to_the_same_numbers(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIFFAUG_LESSONS_HOME": str(tmp_path / "home")}
    command, env = _cli(tmp_path / "reference", env)
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    duration = time.perf_counter() - started
    expected = numbers(Run(tmp_path / "reference").history)
    rng = random.Random(15)
    for case, sig in enumerate([signal.SIGINT, signal.SIGKILL, signal.SIGINT, signal.SIGKILL]):
        folder = tmp_path / f"run{case}"
        command, _ = _cli(folder, env)
        for _attempt in range(2):  # up to two faults per run
            child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.3, 0.95) * duration)
            child.send_signal(sig)
            _, err = child.communicate()
            # 130: the CLI caught it; -SIGINT: it struck while Python was still starting up
            if sig == signal.SIGINT and child.returncode not in (0, 130, -signal.SIGINT):
                pytest.fail(f"SIGINT ended the CLI with {child.returncode}: {err.decode()[-500:]}")
        finished = subprocess.run(command, env=env, capture_output=True, text=True)
        assert finished.returncode == 0, finished.stderr
        assert "(complete)" in finished.stdout
        assert numbers(Run(folder).history) == expected, f"case {case} ({sig.name})"


# --- 2. Concurrency on one cache -------------------------------------------------------------------

WORKER = """
import sys, torch
from diffaug_lessons.runs import cached_train
from diffaug_lessons.train import TrainConfig
torch.set_num_threads(1)
run = cached_train(TrainConfig.from_dict({config!r}), progress=False)
print("RESULT", run.path, len(run.history))
"""


@pytest.mark.slow
def test_two_processes_asking_for_the_same_run_one_trains_the_other_waits_and_loads(tmp_path):
    config = TrainConfig(**{**TINY, "steps": 40, "eval_every": 8})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIFFAUG_LESSONS_HOME": str(tmp_path)}
    code = WORKER.format(config=config.to_dict())
    children = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]  # started together
    outputs = [child.communicate() for child in children]
    assert all(child.returncode == 0 for child in children), [err[-800:] for _, err in outputs]
    results = [line for out, _ in outputs for line in out.splitlines() if line.startswith("RESULT")]
    assert len(results) == 2 and results[0] == results[1]
    assert sum("waiting for it to finish" in out for out, _ in outputs) <= 1
    folders = list((tmp_path / "runs").iterdir())
    assert [folder.name for folder in folders] == [run_name(config)]  # one folder, nothing set aside
    assert Run(folders[0]).check(config).status == "complete"


def test_retrain_refuses_while_another_process_trains_the_run(tmp_path):
    config = TrainConfig(**TINY)
    holder = open_run(tmp_path / run_name(config), config)  # another process, mid-training
    try:
        with pytest.raises(RunBusyError, match="another process is training.*Wait for it to finish, then retrain"):
            cached_train(config, retrain=True, progress=False, root=tmp_path)
        with pytest.raises(RunBusyError):
            train_in_folder(config, tmp_path / run_name(config), retrain=True, progress=False)
        assert [p.name for p in tmp_path.iterdir()] == [run_name(config)]  # not set aside under its feet
    finally:
        holder.close()


def test_a_process_waiting_while_the_folder_is_set_aside_locks_the_new_folder(tmp_path):
    config = TrainConfig(**TINY)
    path = tmp_path / "run"
    old = open_run(path, config)
    waiter = Run(path)
    got_it = threading.Event()
    thread = threading.Thread(target=lambda: (waiter.lock(wait=True), got_it.set()))
    thread.start()
    time.sleep(0.3)
    set_aside(path)  # a retrain: the old folder (and its lock file) moves away
    fresh = open_run(path, config)
    old.close()
    assert not got_it.wait(0.5)  # the waiter must not take the set-aside folder's lock for the new one
    fresh.close()
    assert got_it.wait(5)
    thread.join()
    assert os.fstat(waiter._lock_file.fileno()).st_ino == os.stat(path / ".lock").st_ino
    waiter.close()


def test_set_aside_names_never_collide(tmp_path):
    names = set()
    for _ in range(4):  # within the same second
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "marker").write_text("x")
        names.add(set_aside(tmp_path / "run").name)
    assert len(names) == 4
    assert all((tmp_path / name / "marker").exists() for name in names)


# --- 3. The user's files are theirs ----------------------------------------------------------------

def test_run_dir_pointing_at_a_users_folder_is_refused_and_left_alone(tmp_path, capsys):
    folder = tmp_path / "my-results"
    folder.mkdir()
    (folder / "history.json").write_text("my own notes")
    code = cli.main(["train", *CLI_TINY, "--run-dir", str(folder)])
    assert code == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert (folder / "history.json").read_text() == "my own notes"
    assert sorted(p.name for p in folder.iterdir()) == ["history.json"]
    with pytest.raises(NotARunError):
        open_run(folder, TrainConfig(**TINY))


def test_retrain_with_run_dir_sets_the_old_run_aside_and_trains_afresh(tmp_path, capsys):
    folder = tmp_path / "run"
    assert cli.main(["train", *CLI_TINY, "--steps", "4", "--eval-every", "4", "--run-dir", str(folder)]) == 0
    first = (folder / "checkpoint.pt").read_bytes()
    assert cli.main(["train", *CLI_TINY, "--steps", "4", "--eval-every", "4", "--run-dir", str(folder),
                     "--retrain"]) == 0
    aside = [p for p in tmp_path.iterdir() if ".old-" in p.name]
    assert len(aside) == 1 and (aside[0] / "checkpoint.pt").read_bytes() == first
    assert Run(folder).status == "complete"


def test_a_file_given_as_run_dir_is_refused(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    with pytest.raises(NotARunError, match="is a file"):
        train_in_folder(TrainConfig(**TINY), file, progress=False)
    assert file.read_text() == "mine"


# --- 4. Shared and read-only caches ------------------------------------------------------------------

READER = """
import sys
from diffaug_lessons.runs import cached_train, ReadOnlyCacheError
from diffaug_lessons.train import TrainConfig
config = TrainConfig.from_dict({config!r})
run = cached_train(config, progress=False)
print("LOADED", run.status, len(run.history), run.generator()(__import__("torch").zeros(2, config.z_dim)).shape)
try:
    cached_train(config.replace(seed=99), progress=False)
except ReadOnlyCacheError as error:
    print("REFUSED", error)
"""


def test_a_read_only_cache_loads_finished_runs_and_names_the_folder_it_cannot_write(tmp_path):
    """Run as an unprivileged user over a cache it may read but not write (root ignores permissions)."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root's privileges")
    config = TrainConfig(**{**TINY, "steps": 4, "eval_every": 4})
    shared = Path(tempfile.mkdtemp(prefix="shared-cache-"))
    try:
        cached_train(config, progress=False, root=shared / "runs")
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        env = {**os.environ, "DIFFAUG_LESSONS_HOME": str(shared), "HOME": str(shared), "NUMBA_CACHE_DIR": "/tmp",
               "PYTHONPATH": str(Path(runs.__file__).parents[1])}
        command = [sys.executable, "-c", READER.format(config=config.to_dict())]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        probe = subprocess.run(command[:-2] + ["-c", "import diffaug_lessons"], env=env, capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"the unprivileged user cannot import the package here: {probe.stderr.decode()[-200:]}")
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "LOADED complete 1 torch.Size([2, 1, 8, 8])" in done.stdout
        refused = [line for line in done.stdout.splitlines() if line.startswith("REFUSED")]
        assert refused and str(shared / "runs") in refused[0] and "read-only" in refused[0]
    finally:
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(shared)


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """A finished run in a folder outside the cache (a class's shared runs), and its files' bytes."""
    config = TrainConfig(**{**TINY, "steps": 4, "eval_every": 4})
    run = cached_train(config, progress=False, root=tmp_path_factory.mktemp("shared") / "runs")
    return config, run.path, _files(run.path)


def _files(folder):
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _train(entry, config, path, retrain=False):
    """Train ``config`` in the run folder ``path`` through ``entry`` (cached_train or train_in_folder)."""
    if entry == "cached_train":
        return cached_train(config, retrain=retrain, progress=False, root=path.parent).path
    assert train_in_folder(config, path, retrain=retrain, progress=False).status == "complete"
    return path


@pytest.mark.parametrize("entry", ["cached_train", "train_in_folder"])
def test_retraining_a_run_linked_into_the_cache_sets_the_link_aside_and_leaves_its_target_alone(
        tmp_path, shared_run, entry):
    """The link is moved to ``<name>.old-<time>``, still pointing at the shared run; the run trains afresh
    in a real folder; the shared folder keeps every byte (it used to end in IsADirectoryError, leaving an
    empty ``.old-`` folder)."""
    config, target, files = shared_run
    link = tmp_path / run_name(config)
    link.symlink_to(target)
    assert cached_train(config, progress=False, root=tmp_path).path == link  # loaded through the link
    assert _train(entry, config, link, retrain=True) == link
    assert not link.is_symlink() and Run(link).check(config).status == "complete"
    aside = [p for p in tmp_path.iterdir() if ".old-" in p.name]
    assert len(aside) == 1 and aside[0].is_symlink() and aside[0].resolve() == target.resolve()
    assert _files(target) == files


@pytest.mark.parametrize("entry", ["cached_train", "train_in_folder"])
def test_a_dangling_link_in_the_cache_is_refused_by_name_and_set_aside_by_a_retrain(tmp_path, entry):
    """Without retrain nothing is written (the folder it points to may be a share not mounted now); with
    retrain the link is kept aside, still dangling, and the run trains in a real folder."""
    config = TrainConfig(**{**TINY, "steps": 4, "eval_every": 4})
    link = tmp_path / run_name(config)
    link.symlink_to(tmp_path / "unmounted" / "run")
    with pytest.raises(NotARunError, match=re.escape(str(link)) + " is a symbolic link to .*unmounted/run, which "
                                           "does not exist; nothing was written.*retrain=True"):
        _train(entry, config, link)
    assert [p.name for p in tmp_path.iterdir()] == [link.name] and link.is_symlink()
    assert _train(entry, config, link, retrain=True) == link
    assert not link.is_symlink() and Run(link).check(config).status == "complete"
    aside = [p for p in tmp_path.iterdir() if ".old-" in p.name]
    assert len(aside) == 1 and aside[0].is_symlink() and os.readlink(aside[0]) == str(tmp_path / "unmounted" / "run")
    assert not (tmp_path / "unmounted").exists()


def test_retrain_refuses_while_another_process_trains_the_links_target(tmp_path, shared_run):
    config, _, _ = shared_run
    target = tmp_path / "elsewhere"
    holder = open_run(target, config)  # another process, training it through its real path
    link = tmp_path / "cache" / run_name(config)
    link.parent.mkdir()
    link.symlink_to(target)
    try:
        with pytest.raises(RunBusyError, match="another process is training .*a link to .*elsewhere"):
            cached_train(config, retrain=True, progress=False, root=link.parent)
        assert [p.name for p in link.parent.iterdir()] == [link.name] and link.is_symlink()
    finally:
        holder.close()


def test_a_failed_set_aside_leaves_no_empty_folder(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(PermissionError):
        set_aside(tmp_path / "run")
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_cache_folder_that_cannot_be_created_is_named(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(ReadOnlyCacheError, match=str(blocker)):
        cached_train(TrainConfig(**TINY), progress=False, root=blocker / "runs")


# --- 5. Downloads are verified before use -------------------------------------------------------------

class _Response:
    def __init__(self, body, length=None, fail_after=None):
        self.body, self.fail_after, self.offset = body, fail_after, 0
        self.headers = {"Content-Length": str(len(body) if length is None else length)}

    def read(self, size):
        if self.fail_after is not None and self.offset >= self.fail_after:
            raise http.client.IncompleteRead(b"", 100)
        chunk = self.body[self.offset:self.offset + min(size, 1000)]
        self.offset += len(chunk)
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def test_inception_download_cut_off_midway_is_a_clear_error_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFAUG_LESSONS_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _Response(b"x" * 5000, fail_after=2000))
    with pytest.raises(DownloadError, match=r"could not download https://nvlabs.*inception-2015-12-05.pt.*IncompleteRead"
                                            r".*place it at .*DIFFAUG_LESSONS_INCEPTION"):
        metrics.inception_path()
    weights = Path(os.environ["DIFFAUG_LESSONS_HOME"]) / "weights"
    assert not weights.exists() or list(weights.iterdir()) == []


def test_inception_file_with_another_hash_is_never_loaded(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFAUG_LESSONS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: pytest.fail("an unverified TorchScript file was loaded"))
    impostor = tmp_path / "inception.pt"
    impostor.write_bytes(b"not the published file")
    monkeypatch.setenv("DIFFAUG_LESSONS_INCEPTION", str(impostor))
    with pytest.raises(DownloadError, match=r"SHA-256 .* not the pinned f58cb9b6"):
        metrics.InceptionFeatures()
    assert impostor.read_bytes() == b"not the published file"  # the user's file is left as it was
    monkeypatch.delenv("DIFFAUG_LESSONS_INCEPTION")
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _Response(b"a foreign file"))
    with pytest.raises(DownloadError, match="not the expected f58cb9b6"):
        metrics.InceptionFeatures()
    weights = Path(os.environ["DIFFAUG_LESSONS_HOME"]) / "weights"
    assert list(weights.iterdir()) == []


def test_inception_download_with_the_pinned_hash_is_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFAUG_LESSONS_HOME", str(tmp_path))
    body = b"stand-in for the published weights"
    monkeypatch.setattr(metrics, "INCEPTION_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _Response(body))
    path = metrics.inception_path()
    assert path.read_bytes() == body and path.name == "inception-2015-12-05.pt"
    assert sorted(p.name for p in path.parent.iterdir()) == ["inception-2015-12-05.pt", "inception-2015-12-05.pt.sha256ok"]


# --- 6. Every input checked where it enters ----------------------------------------------------------

ODD_VALUES = [0, -1, 0.5, float("nan"), float("inf"), -float("inf"), 10**30, "3", True, None, [1, 2], {"a": 1}]


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(TrainConfig)])
def test_every_config_field_accepts_or_refuses_odd_values_by_name(field):
    for value in ODD_VALUES:
        try:
            config = TrainConfig(**{field: value})
        except ValueError as error:
            assert field.replace("_", "") in str(error).replace("_", "") or "unknown" in str(error), (field, value, error)
            continue
        # accepted: it must be a value the training loop can use, and the cache key must work
        assert config.key()
        if isinstance(value, float) and not math.isfinite(value):
            pytest.fail(f"{field}={value!r} was accepted")


def _train_options():
    parser = cli.build_parser()
    sub = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    return [a.option_strings[0] for a in sub._actions if a.option_strings and a.option_strings[0].startswith("--")
            and a.option_strings[0] not in ("--help", "--retrain", "--run-dir", "--preset")]


@pytest.mark.parametrize("option", _train_options())
def test_every_cli_option_accepts_or_refuses_odd_values_by_name(option, capsys):
    for text in ["0", "-1", "nan", "inf", "1e30", "abc", ""]:
        parser = cli.build_parser()
        try:
            args = parser.parse_args(["train", option, *([text, text] if option == "--betas" else [text])])
        except SystemExit as exit_:
            assert exit_.code == 2 and option in capsys.readouterr().err
            continue
        try:
            cli.config_from_args(args)
        except ValueError as error:
            name = option[2:].replace("-", "_")
            assert name in str(error) or "unknown" in str(error) or "batch_size" in str(error), (option, text, error)


# The widgets: every argument of every public function and class of diffaug_lessons.widgets, fed each
# odd value in turn while the others keep a valid value (WIDGET_BASELINES).
WIDGET_ODD_VALUES = [0, -5, 10**30, float("nan"), float("inf"), -float("inf"), "3", "", "no-such-name", None, True,
                     [], (), {}, [1, 2]]

# Arguments not fuzzed as they stand, and why (each must be a real argument: checked below).
WIDGET_ARGUMENTS_FUZZED_OTHERWISE = {
    # a set of keywords, not one value: each name it takes is fuzzed as an argument of its own
    ("dashboard_config", "settings"): tuple(widgets.DASHBOARD_SETTINGS),
}


def _public_widgets():
    """Every public function and class defined in diffaug_lessons.widgets, by name."""
    return {name: item for name, item in vars(widgets).items() if not name.startswith("_")
            and (inspect.isfunction(item) or inspect.isclass(item)) and item.__module__ == widgets.__name__}


def _widget_arguments():
    for name, item in sorted(_public_widgets().items()):
        for argument in inspect.signature(item).parameters:
            yield from [(name, keyword) for keyword in WIDGET_ARGUMENTS_FUZZED_OTHERWISE.get((name, argument),
                                                                                              [argument])]


@pytest.fixture(scope="module")
def widget_baselines(tmp_path_factory):
    """Valid arguments for each public widget callable, cheap to build: a run folder written by hand
    (stopped, so it needs no checkpoint) instead of a trained one."""
    config = TrainConfig(**TINY)
    folder = tmp_path_factory.mktemp("widget-runs") / run_name(config)
    folder.mkdir()
    rows = [{**dict.fromkeys(widgets.COMPARISON_METRICS, 0.5), "step": step, "fid": 100.0 - step, "kid": 0.05}
            for step in (4, 8)]
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    (folder / "meta.json").write_text(json.dumps({"status": "stopped", "version": __version__, "key": config.key()}))
    (folder / "history.json").write_text(json.dumps(rows))
    run = Run(folder).check(config)
    images = widgets.preview_images("shapes", 2, 8)
    question = dict(question="Which?", choices=["a", "b"], answer="B", explanation="why")
    playground = dict(dataset="shapes", n_images=2, resolution=8, seed=0)
    comparison = dict(runs=[run], selected=[run])
    return {
        "prediction_text": dict(question="Which?", choices=["a", "b"]),
        "prediction_feedback": dict(chosen=0, answer=1, choices=["a", "b"], explanation="why"),
        "Prediction": question, "predict": dict(name="04-lowest-fid", question="Which?", choices=["a", "b", "c", "d"]),
        "Solution": dict(name="00-brightness"), "solution": dict(name="00-brightness"),
        "policy_from_checkboxes": dict(checked={"cutout": True}),
        "policy_code": dict(policy="translation", strengths=Strengths()),
        "preview_images": dict(dataset="shapes", n_images=2, resolution=8),
        "playground_images": dict(images=images, policy="translation", strengths=Strengths(), seed=0, scale=1),
        "PolicyPlayground": playground, "policy_playground": playground,
        "strategy_table_html": dict(strategy="d_only"), "train_step_source_html": dict(strategy="d_only"),
        "StrategyExplorer": dict(strategy="d_only"), "strategy_explorer": dict(strategy="d_only"),
        "dashboard_config": dict(base=config, strategy="diffaugment", policy="translation", n_train=64, steps=12),
        "curves_png": dict(history=rows),
        "samples_placeholder_png": dict(width_px=80),
        "run_summary": dict(row=rows[-1], steps=12, status="stopped"),
        "finished_run": dict(config=config),
        "TrainingDashboard": dict(base_config=config), "training_dashboard": dict(base_config=config),
        "run_description": dict(config=config),
        "run_label": dict(run=run),
        "run_statistic": dict(history=rows, key="fid", statistic="final"),
        "comparison_table_html": dict(chosen=[run], statistic="last3"),
        "comparison_curves_png": dict(histories={"a run": rows}, metric="fid"),
        "listed_runs": {},
        "RunComparison": comparison, "run_comparison": comparison,
        "formulas_html": dict(images=images, examples={"brightness": (torch.tensor([0.4, -0.4]),)}, scale=1),
    }


def _no_training(*args, **kwargs):
    pytest.fail("a widget started training")


def test_the_widget_tables_cover_every_public_widget_and_argument(widget_baselines):
    public = _public_widgets()
    assert set(widget_baselines) == set(public), "give a new widget function valid arguments in widget_baselines"
    for name, item in public.items():
        parameters = inspect.signature(item).parameters
        required = {argument for argument, parameter in parameters.items() if parameter.default is parameter.empty
                    and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)}
        assert required <= set(widget_baselines[name]) <= set(parameters), name
    for name, argument in WIDGET_ARGUMENTS_FUZZED_OTHERWISE:
        assert argument in inspect.signature(public[name]).parameters, (name, argument)


def test_building_the_dashboard_trains_nothing(tmp_path, monkeypatch):
    """Checked before the odd values are fed to it: a dashboard is cheap to build and starts no run."""
    monkeypatch.setenv("DIFFAUG_LESSONS_HOME", str(tmp_path))
    monkeypatch.setattr(widgets, "train_in_folder", _no_training)
    for dashboard in (widgets.training_dashboard(TrainConfig(**TINY)), widgets.TrainingDashboard()):
        assert dashboard.status == "idle" and not dashboard.running and dashboard.run_dir is None
    assert list(runs.runs_dir().iterdir()) == []


@pytest.mark.parametrize(("name", "argument"), list(_widget_arguments()))
def test_every_widget_argument_accepts_or_refuses_odd_values_by_name(name, argument, widget_baselines, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("DIFFAUG_LESSONS_HOME", str(tmp_path))  # an empty cache: "every saved run" is none
    monkeypatch.setattr(widgets, "train_in_folder", _no_training)
    widget, baseline = getattr(widgets, name), widget_baselines[name]
    widget(**baseline)
    for value in WIDGET_ODD_VALUES:
        try:
            widget(**{**baseline, argument: value})
        except (ValueError, TypeError) as error:
            assert re.search(rf"\b{re.escape(argument)}\b", str(error)), (name, argument, value, error)
            continue
        if isinstance(value, float) and not math.isfinite(value):
            pytest.fail(f"{name}({argument}={value!r}) was accepted")
        if isinstance(value, bool) and not isinstance(baseline.get(argument), bool):
            pytest.fail(f"{name}({argument}={value!r}) was accepted: a flag where a value belongs")


BROKEN_META = {
    "a list": ("meta.json", "[]"),
    "a string": ("meta.json", '"complete"'),
    "a number": ("meta.json", "3"),
    "null": ("meta.json", "null"),
    "an empty dict": ("meta.json", "{}"),
    "a numeric status": ("meta.json", '{"status": 5, "version": "x", "key": "k"}'),
    "truncated": ("meta.json", '{"status": "comp'),
    "binary": ("meta.json", b"\xff\xfe\x00"),
    "config a list": ("config.json", "[1, 2]"),
    "config with a bad value": ("config.json", '{"steps": "many"}'),
    "config with an unknown field": ("config.json", '{"stepz": 3}'),
    "history a dict": ("history.json", '{"step": 4}'),
    "history rows of numbers": ("history.json", "[1, 2, 3]"),
    "history row without step": ("history.json", '[{"fid": 3}]'),
}


def test_corrupt_run_metadata_of_any_shape_is_reported_per_run_and_never_stops_the_listing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIFFAUG_LESSONS_HOME", str(tmp_path))
    good = cached_train(TrainConfig(**{**TINY, "steps": 4, "eval_every": 4}), progress=False)
    for name, (file, content) in BROKEN_META.items():
        folder = good.path.parent / f"broken {name}"
        shutil.copytree(good.path, folder)
        (folder / file).write_bytes(content if isinstance(content, bytes) else content.encode())
    found, problems = scan_runs()
    assert [run.path for run in found] == [good.path]
    assert sorted(problem.path.name for problem in problems) == sorted(f"broken {name}" for name in BROKEN_META)
    assert cli.main(["runs"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("broken ") >= len(BROKEN_META) and good.path.name in printed


def test_odd_image_files_are_skipped_by_name(tmp_path):
    import struct
    import zlib

    from PIL import Image

    def png_header(width, height):
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))

    Image.new("L", (20, 20), 200).save(tmp_path / "good.png")
    (tmp_path / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "good.png").read_bytes()[:40])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = image_folder(tmp_path, 16)
    assert len(images) == 1
    text = " ".join(str(w.message) for w in caught)
    assert "bomb.png" in text and "decompression bomb" in text
    assert "empty.png" in text or "text.jpg" in text


EDGE_SHAPES = [(0, 3, 8, 8), (0, 1, 16, 16), (3, 1, 8, 8), (3, 2, 8, 8), (3, 4, 8, 8), (2, 5, 3, 3), (2, 3, 1, 1),
               (2, 3, 8, 5)]


@pytest.mark.parametrize("shape", EDGE_SHAPES, ids=str)
def test_edge_tensors_behave_the_same_on_every_path_of_t(shape):
    x = torch.rand(shape, dtype=torch.float64) * 2 - 1
    params = sample_params(x, "color,translation,cutout", generator=torch.Generator().manual_seed(0))
    expected = apply_reference(x, params)
    kernel = apply(x.clone().requires_grad_(), params)
    with augment_cpu.disabled():
        torch_ops = apply(x.clone().requires_grad_(), params)
    for out in (kernel, torch_ops):
        assert out.shape == x.shape and torch.allclose(out, expected)
        out.sum().backward()  # the backward works too, even with no image at all


@pytest.mark.parametrize("shape", [(2, 3, 0, 0), (2, 0, 4, 4), (2, 3, 4, 0)], ids=str)
def test_empty_images_are_refused_by_name_on_every_path(shape):
    x = torch.zeros(shape)
    with pytest.raises(ValueError, match=r"at least 1 channel and 1x1 pixels; got shape"):
        sample_params(x, "color,translation,cutout")
    from diffaug_lessons.augment import AugmentParams

    for path in (apply, apply_reference):
        with pytest.raises(ValueError, match="at least 1 channel"):
            path(x, AugmentParams(()))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_that_is_not_there_is_refused_by_name(capsys):
    with pytest.raises(ValueError, match="device 'cuda' was asked for, but"):
        train(TrainConfig(**{**TINY, "device": "cuda"}), progress=False)
    assert cli.main(["train", *CLI_TINY, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "device 'cuda'" in err and "Traceback" not in err
