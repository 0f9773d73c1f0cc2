"""Saved runs: atomic writes, the cache, locks, corrupt folders, nothing overwritten."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from diffaug_lessons import runs as runs_module
from diffaug_lessons.runs import (
    CorruptRunError,
    Run,
    RunBusyError,
    cached_train,
    list_runs,
    load_run,
    open_run,
    train_in_folder,
)


def test_cached_train_trains_once_then_loads(tiny_config, tmp_path, monkeypatch):
    config = tiny_config()
    run = cached_train(config, progress=False, root=tmp_path)
    assert run.status == "complete" and [row["step"] for row in run.history] == [4, 8, 12]
    assert len(run.sample_grids()) == 3
    assert run.generator()(torch.randn(2, 16)).shape == (2, 1, 8, 8)

    import diffaug_lessons.train as train_module

    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("a cached run was retrained"))
    again = cached_train(config, progress=False, root=tmp_path)
    assert again.path == run.path and again.history == run.history


def test_retrain_keeps_the_old_run_aside(tiny_config, tmp_path):
    config = tiny_config()
    first = cached_train(config, progress=False, root=tmp_path)
    cached_train(config, retrain=True, progress=False, root=tmp_path)
    kept = [p for p in tmp_path.iterdir() if ".old-" in p.name]
    assert len(kept) == 1 and (kept[0] / "history.json").exists() and first.path.exists()


def test_a_different_config_gets_a_different_run(tiny_config, tmp_path):
    a = cached_train(tiny_config(), progress=False, root=tmp_path)
    b = cached_train(tiny_config(strategy="diffaugment"), progress=False, root=tmp_path)
    assert a.path != b.path
    with pytest.raises(ValueError, match="another config.*strategy"):
        open_run(a.path, tiny_config(strategy="diffaugment"))


def test_runs_of_code_with_other_numerics_are_not_reused(tiny_config, tmp_path, monkeypatch):
    config = tiny_config()
    old_key = config.key()
    monkeypatch.setattr("diffaug_lessons.train.NUMERICS_VERSION", -1)
    assert config.key() != old_key
    assert runs_module.run_name(config) != runs_module.run_name(config).replace(config.key(), old_key)


def test_corrupt_runs_are_reported_not_loaded(tiny_config, tmp_path):
    run = cached_train(tiny_config(), progress=False, root=tmp_path)
    (run.path / "history.json").write_text('[{"step": 4, "fi')
    with pytest.raises(CorruptRunError, match="history.json is not valid JSON.*retrain=True"):
        load_run(run.path)
    with pytest.raises(CorruptRunError):
        cached_train(tiny_config(), progress=False, root=tmp_path)
    assert list_runs(tmp_path) == []
    repaired = cached_train(tiny_config(), retrain=True, progress=False, root=tmp_path)
    assert repaired.status == "complete"


def test_missing_checkpoint_of_a_complete_run_is_reported(tiny_config, tmp_path):
    run = cached_train(tiny_config(), progress=False, root=tmp_path)
    (run.path / "checkpoint.pt").unlink()
    with pytest.raises(CorruptRunError, match="history or checkpoint is missing"):
        load_run(run.path)


def test_truncated_checkpoint_is_reported(tiny_config, tmp_path):
    run = cached_train(tiny_config(), progress=False, root=tmp_path)
    data = (run.path / "checkpoint.pt").read_bytes()
    (run.path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptRunError, match="cannot be loaded"):
        run.load_checkpoint()


def test_two_trainers_cannot_share_a_run(tiny_config, tmp_path):
    first = open_run(tmp_path / "run", tiny_config())
    try:
        with pytest.raises(RunBusyError, match="another process is training"):
            open_run(tmp_path / "run", tiny_config())
    finally:
        first.close()
    open_run(tmp_path / "run", tiny_config()).close()  # free again


def test_lock_held_by_another_process(tiny_config, tmp_path):
    config = tiny_config()
    code = textwrap.dedent(f"""
        import sys, time
        from diffaug_lessons.runs import open_run
        from diffaug_lessons.train import TrainConfig
        run = open_run({str(tmp_path / 'run')!r}, TrainConfig.from_dict({config.to_dict()!r}))
        print("locked", flush=True)
        time.sleep(30)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RunBusyError):
            open_run(tmp_path / "run", config)
    finally:
        child.kill()
        child.wait()
    open_run(tmp_path / "run", config).close()  # a dead process's lock is released


def test_a_process_killed_while_saving_never_leaves_a_corrupt_file(tmp_path):
    """Kill a writer in the middle of saving large checkpoints; what remains always loads."""
    target = tmp_path / "checkpoint.pt"
    code = textwrap.dedent(f"""
        import torch
        from diffaug_lessons.atomic import atomic_save_torch
        i = 0
        while True:
            atomic_save_torch({{"i": i, "w": torch.full((4_000_000,), float(i))}}, {str(target)!r})
            i += 1
            if i == 1:
                print("first", flush=True)
    """)
    for delay in (0.05, 0.13, 0.29):
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "first"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        state = torch.load(target, weights_only=True)
        assert torch.all(state["w"] == state["i"])
    assert not [p for p in tmp_path.iterdir() if p.name != "checkpoint.pt" and not p.name.endswith(".tmp")]


def test_meta_json_is_written_last(tiny_config, tmp_path, monkeypatch):
    """If saving dies before meta.json, the folder still describes its previous state."""
    config = tiny_config()
    train_in_folder(config, tmp_path / "run", should_stop=iter([False] * 5 + [True] * 99).__next__, progress=False)
    before = json.loads((tmp_path / "run" / "meta.json").read_text())
    calls = []
    real_mark = Run.mark

    def crash(self, status, **extra):
        calls.append(status)
        raise OSError("disk full")

    monkeypatch.setattr(Run, "mark", crash)
    with pytest.raises(OSError, match="disk full"):
        train_in_folder(config, tmp_path / "run", progress=False)
    monkeypatch.setattr(Run, "mark", real_mark)
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["status"] == before["status"] == "stopped"


def test_run_names_say_how_much_data(tiny_config):
    names = [runs_module.run_name(tiny_config(n_train=n, fraction=f)) for n, f in ((64, None), (None, 0.2), (None, None))]
    assert [name.split("-")[1] for name in names] == ["n64", "f0.2", "all"]


def test_cached_train_waits_for_another_process_training_the_same_run(tiny_config, tmp_path, capsys):
    """Two notebooks asking for the same run: the second waits for the first instead of failing."""
    import threading

    config = tiny_config()
    path = tmp_path / runs_module.run_name(config)
    holder = open_run(path, config)  # stands in for another process mid-training
    threading.Timer(1.0, holder.close).start()
    start = time.perf_counter()
    run = cached_train(config, progress=False, root=tmp_path)
    assert "waiting for it to finish" in capsys.readouterr().out
    assert time.perf_counter() - start >= 0.9 and run.status == "complete"


def test_train_many_trains_the_missing_runs_in_worker_processes_then_loads_them(tiny_config, monkeypatch):
    from diffaug_lessons.runs import runs_dir, train_many

    configs = {strategy: tiny_config(strategy=strategy) for strategy in ("none", "diffaugment", "reals_only")}
    cached = cached_train(configs["none"], progress=False)
    cached_mtime = (cached.path / "meta.json").stat().st_mtime_ns
    runs = train_many(configs, workers=2, progress=False)
    assert list(runs) == list(configs) and all(run.status == "complete" for run in runs.values())
    assert (cached.path / "meta.json").stat().st_mtime_ns == cached_mtime  # the cached run was not retrained
    # trained in other processes, with the same result as here
    here = cached_train(configs["diffaugment"], retrain=True, progress=False)
    timing = ("seconds", "it_per_s")
    assert [{k: v for k, v in row.items() if k not in timing} for row in runs["diffaugment"].history] == \
        [{k: v for k, v in row.items() if k not in timing} for row in here.history]
    assert len([p for p in runs_dir().iterdir() if ".old-" in p.name]) == 1

    import diffaug_lessons.train as train_module

    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("a cached run was retrained"))
    again = train_many(configs, workers=2, progress=False)
    assert {key: run.path for key, run in again.items()} == {key: run.path for key, run in runs.items()}
