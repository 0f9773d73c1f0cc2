"""Two processes on the CPU (gloo): DDP keeps the ranks identical (weights and ADA's p), rank 0 saves, resume works."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("ddp_worker.py")


def _torchrun(*args, timeout=240, **env_overrides):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env_overrides}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_two_ranks_train_identical_weights_and_resume(tmp_path):
    run_dir = tmp_path / "run"
    out = _torchrun(str(run_dir), "6")  # stop both ranks after 6 steps
    assert "rank 0 of 2: status stopped, identical weights True" in out
    assert "rank 1 of 2: status stopped, identical weights True" in out
    assert out.count("identical ADA p True") == 2  # r_t averaged over the ranks: one p for all
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "stopped"
    assert [row["step"] for row in json.loads((run_dir / "history.json").read_text())] == [4]

    out = _torchrun(str(run_dir))  # resume to the end
    assert out.count("status complete, identical weights True") == 2
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "complete"
    assert [row["step"] for row in json.loads((run_dir / "history.json").read_text())] == [4, 8, 12]
    assert len(list((run_dir / "samples").glob("*.png"))) == 3  # written once, by rank 0


def test_the_command_line_trains_under_torchrun(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    options = ["--preset", "quick", "--resolution", "8", "--g-width", "8", "--d-width", "8", "--steps", "6",
               "--eval-every", "3", "--n-eval-samples", "32", "--n-heldout", "64", "--n-train", "40",
               "--batch-size", "8", "--device", "cpu", "--run-dir", str(tmp_path / "run")]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "diffaug_lessons", "train", *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("run saved in") == 1  # rank 0 reports, rank 1 stays quiet
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["status"] == "complete"


def test_a_conditional_pair_gets_its_labels_under_ddp(tmp_path):
    out = _torchrun(str(tmp_path / "run"), DDP_WORKER_ARCHITECTURE="biggan")
    assert out.count("status complete, identical weights True") == 2  # labels in G and D, 2 D steps per G step
    assert out.count("real labels valid True") == 2
    # findall over the whole output: the two ranks print to one pipe, and their lines can run together
    fakes = re.findall(r" fake (\[[^\]]*\]) real labels", out)
    assert len(fakes) == 2 and fakes[0] != fakes[1]  # each rank draws its own classes for its fakes
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["n_classes"] == 10
