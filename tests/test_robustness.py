"""The catalogue of bad inputs and faults, each with its expected outcome.

Bad data files, downloads and image folders are in tests/test_data.py; interrupted, diverged,
killed and concurrent runs in tests/test_train.py and tests/test_runs.py. This file holds the
table of bad inputs to T, to the training config and to the command line, tiny images, and the
checks that nothing untrusted executes.
"""

import io
import re
from pathlib import Path

import pytest
import torch

from diffaug_lessons.augment import DiffAugment, Strengths, sample_params
from diffaug_lessons.cli import main
from diffaug_lessons.runs import CorruptRunError, Run, cached_train
from diffaug_lessons.train import TrainConfig, lesson_config

x = torch.zeros(2, 3, 8, 8)

# (what the user did, the call, expected exception, what the message must say)
BAD_INPUTS = [
    ("misspelt op", lambda: DiffAugment(x, "colour"), ValueError, r"unknown augmentation 'colour'.*did you mean 'color'"),
    ("misspelt op in a list", lambda: DiffAugment(x, ["translation", "cutuot"]), ValueError, r"did you mean 'cutout'"),
    ("unknown op", lambda: DiffAugment(x, "blur"), ValueError, r"unknown augmentation 'blur'; choose from brightness"),
    ("3-D tensor", lambda: DiffAugment(torch.zeros(3, 8, 8)), ValueError, r"4 dims.*\(3, 8, 8\)"),
    ("5-D tensor", lambda: DiffAugment(torch.zeros(1, 2, 3, 8, 8)), ValueError, r"4 dims"),
    ("numpy array", lambda: DiffAugment(x.numpy()), TypeError, r"expects a torch.Tensor; got ndarray"),
    ("uint8 images", lambda: DiffAugment(x.to(torch.uint8)), TypeError, r"torch.uint8.*x.float\(\) / 127.5 - 1"),
    ("int64 images", lambda: DiffAugment(x.long()), TypeError, r"torch.int64"),
    ("translation ratio > 1", lambda: DiffAugment(x, translation_ratio=1.01), ValueError, r"translation_ratio.*1.01"),
    ("translation ratio < 0", lambda: DiffAugment(x, translation_ratio=-0.5), ValueError, r"got -0.5"),
    ("cutout ratio > 1", lambda: DiffAugment(x, cutout_ratio=2), ValueError, r"cutout_ratio must be in \[0.0, 1.0\]; got 2"),
    ("colour strength > 2", lambda: DiffAugment(x, color_strength=2.5), ValueError, r"color_strength.*2.5"),
    ("p > 1", lambda: DiffAugment(x, p=1.0001), ValueError, r"p must be in \[0.0, 1.0\]; got 1.0001"),
    ("p < 0", lambda: DiffAugment(x, p=-0.1), ValueError, r"got -0.1"),
    ("p is NaN", lambda: DiffAugment(x, p=float("nan")), ValueError, r"got nan"),
    ("rot90 on a non-square image", lambda: DiffAugment(torch.zeros(1, 1, 4, 6), "rot90"), ValueError, r"square.*4x6"),
    ("unknown strategy", lambda: TrainConfig(strategy="diff"), ValueError, r"strategy 'diff'.*did you mean 'diffaugment'"),
    ("unknown preset", lambda: lesson_config("laptop"), ValueError, r"preset 'laptop'; choose from cpu, gpu, quick"),
    ("unknown dataset", lambda: TrainConfig(dataset="cifar"), ValueError, r"dataset 'cifar'.*cifar10"),
    ("unknown architecture", lambda: TrainConfig(architecture="stylegan"), ValueError, r"choose from dcgan, resnet"),
    ("resolution not in 8..64", lambda: TrainConfig(resolution=128), ValueError, r"resolution 128.*8, 16, 32, 64"),
    ("ResNet at 64px", lambda: TrainConfig(architecture="resnet", resolution=64), ValueError, r"choose from 32"),
    ("steps = 0", lambda: TrainConfig(steps=0), ValueError, r"steps must be an integer in \[1, 1000000000\]; got 0"),
    ("steps < 0", lambda: TrainConfig(steps=-1), ValueError, r"got -1"),
    ("steps not an integer", lambda: TrainConfig(steps=10.5), ValueError, r"got 10.5"),
    ("batch larger than the data", lambda: TrainConfig(n_train=20, batch_size=32), ValueError, r"batch_size 32.*20 training"),
    ("n_train = 0", lambda: TrainConfig(n_train=0), ValueError, r"n_train must be an integer in \[1, 100000000\].*got 0"),
    ("fraction = 0", lambda: TrainConfig(n_train=None, fraction=0.0), ValueError, r"fraction must be a number in \(0, 1\].*0.0"),
    ("n_train and fraction", lambda: TrainConfig(n_train=10, fraction=0.5), ValueError, r"not both"),
    ("EMA decay > 1", lambda: TrainConfig(ema_decay=1.5), ValueError, r"ema_decay.*1.5"),
    ("ADA target > 1", lambda: TrainConfig(ada_target=2.0), ValueError, r"ada_target.*2.0"),
    ("policy typo in a config", lambda: TrainConfig(policy="translaton"), ValueError, r"did you mean 'translation'"),
    ("unknown config field", lambda: TrainConfig.from_dict({"lr": 1}), ValueError, r"unknown config field\(s\) lr"),
    ("no held-out reals", lambda: TrainConfig(n_heldout=0), ValueError, r"n_heldout must be an integer in \[2, .*got 0"),
    ("folder dataset without a path", lambda: TrainConfig(dataset="folder"), ValueError, r"needs data_path"),
]


@pytest.mark.parametrize("what, call, error, message", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_is_refused_with_a_message_naming_it(what, call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("side", [1, 2, 3])
def test_tiny_images_translation_is_identity_and_cutout_hits_at_most_a_small_square(side):
    images = torch.rand(50, 2, side, side) * 2 - 1
    assert torch.equal(DiffAugment(images, "translation"), images)  # shift int(side/8 + 0.5) = 0
    cut = int(side * 0.5 + 0.5)  # 1, 1, 2
    out = DiffAugment(images, "cutout")
    changed = (out != images).any(dim=1).flatten(1).sum(dim=1)
    assert changed.max() <= cut * cut and (out[out != images] == 0).all()


def test_empty_policy_is_the_identity():
    images = torch.rand(4, 3, 8, 8)
    for policy in ("", " ", ",", []):
        assert torch.equal(DiffAugment(images, policy), images)
    assert sample_params(images, "").ops == ()


@pytest.mark.parametrize("p, expected_applied", [(0.0, 0.0), (1.0, 1.0)])
def test_p_at_its_bounds(p, expected_applied):
    params = sample_params(torch.zeros(100, 1, 8, 8), "cutout,brightness", Strengths(p=p))
    assert all(applied.float().mean().item() == expected_applied for applied in params.applied)


# --- the command line ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--strategy", "augment"], r"unknown strategy 'augment'; choose from none"),
        (["train", "--steps", "0"], r"steps must be an integer in \[1, 1000000000\]; got 0"),
        (["train", "--batch-size", "500"], r"batch_size 500 is larger than the 100 training images"),
        (["train", "--resolution", "20"], r"resolution 20"),
        (["train", "--policy", "cutout,colr"], r"did you mean 'color'"),
    ],
)
def test_cli_refuses_bad_values_with_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err)


@pytest.mark.parametrize("argv", [["train", "--preset", "laptop"], ["train", "--steps", "ten"], ["fly"]])
def test_cli_argument_errors_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "usage:" in capsys.readouterr().err


def test_cli_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--strategy", "--policy", "--n-train", "--fraction", "--steps", "--cutout-ratio", "--retrain"):
        assert option in text


def test_cli_trains_and_then_loads_from_the_cache(capsys):
    argv = ["train", "--preset", "quick", "--resolution", "8", "--g-width", "8", "--d-width", "8", "--steps", "4",
            "--eval-every", "2", "--n-eval-samples", "32", "--n-heldout", "64", "--n-train", "40", "--batch-size", "8"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "run saved in" in first and "FID" in first
    assert main(argv) == 0  # the second time it loads
    assert capsys.readouterr().out == first


# --- nothing untrusted executes ----------------------------------------------------------------

class _Exploit:
    def __reduce__(self):
        return (Path("/tmp/diffaug_exploit_marker").touch, ())


def test_a_checkpoint_that_tries_to_run_code_is_refused(tiny_config, tmp_path):
    run = cached_train(tiny_config(), progress=False, root=tmp_path)
    marker = Path("/tmp/diffaug_exploit_marker")
    marker.unlink(missing_ok=True)
    buffer = io.BytesIO()
    torch.save({"step": 1, "G": _Exploit()}, buffer)
    (run.path / "checkpoint.pt").write_bytes(buffer.getvalue())
    with pytest.raises(CorruptRunError, match="cannot be loaded"):
        Run(run.path).load_checkpoint()
    assert not marker.exists()


def test_readme_documents_the_localhost_token_default():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "--ip=127.0.0.1" in makefile and "token" in readme and "127.0.0.1" in readme


def test_python_dash_m_runs_the_command_line():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "diffaug_lessons", "train", "--strategy", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown strategy 'nope'" in done.stderr
    done = subprocess.run([sys.executable, "-m", "diffaug_lessons", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "reproduce" in done.stdout


def test_a_path_under_the_home_folder_is_shown_with_a_tilde(monkeypatch, tmp_path):
    from pathlib import Path

    from diffaug_lessons import settings

    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    assert settings.shown(tmp_path / ".cache" / "diffaug_lessons") == "~/.cache/diffaug_lessons"
    assert settings.shown("/srv/class/runs") == "/srv/class/runs"  # elsewhere: as it is
    assert settings.shown_text(f"no file at {tmp_path}/x.npz") == "no file at ~/x.npz"
