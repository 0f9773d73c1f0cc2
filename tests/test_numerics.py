"""The run cache reuses a run only if today's code would give the same numbers (see diffaug_lessons.numerics)."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from diffaug_lessons import numerics
from diffaug_lessons import train as train_module
from diffaug_lessons.train import TrainConfig, numerics_changed, numerics_probe

PRINT_PROBE = "import json, torch; torch.set_num_threads(1); from diffaug_lessons.train import numerics_probe; " \
              "print(json.dumps(numerics_probe()))"


def changed_indices() -> list[int]:
    return numerics_changed(numerics_probe(), numerics.PROBE, numerics.TOLERANCE)


def test_the_numerics_probe_gives_the_recorded_numbers():
    torch.set_num_threads(1)
    found = numerics_probe()
    changed = numerics_changed(found, numerics.PROBE, numerics.TOLERANCE)
    assert not changed, (
        f"the training code now computes other numbers (probe numbers {changed} moved beyond {numerics.TOLERANCE:g}: "
        f"{[found[i] for i in changed]} vs {[numerics.PROBE[i] for i in changed]}). Cached runs of the old code must "
        "not be reused: bump NUMERICS_VERSION in diffaug_lessons/numerics.py and set PROBE to the new numbers."
    )


@pytest.mark.slow
@pytest.mark.parametrize("variable, value", [("ATEN_CPU_CAPABILITY", "default"), ("ATEN_CPU_CAPABILITY", "avx2"),
                                             ("ATEN_CPU_CAPABILITY", "avx512"), ("NUMBA_CPU_NAME", "generic")])
def test_another_cpus_kernels_pass_the_guard(variable, value):
    """What another CPU model would run (PyTorch's dispatch level, numba's generic kernel): the guard passes."""
    env = {**os.environ, variable: value, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PRINT_PROBE], env=env, capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert not numerics_changed(found, numerics.PROBE, numerics.TOLERANCE)


def _reordered_step(G, D, opt_g, opt_d, x_real, z, T, strategy, loss="nonsaturating", autocast=None, y_real=None,
                    y_fake=None, d_steps=1):
    """The G step before the D step: a plausible refactoring that changes what training computes."""
    x_fake = G(z, y_fake)
    D.requires_grad_(False)
    loss_g = train_module.g_loss(loss, D(T(x_fake), y_fake))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)
    d_real = D(T(x_real), y_real)
    loss_d = train_module.d_loss(loss, d_real, D(T(x_fake.detach()), y_fake))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    return train_module.StepOutput(loss_d.detach(), loss_g.detach(), d_real.detach())


def _adam_with_lr_times(factor):
    original = torch.optim.Adam.step

    def step(self, closure=None):
        for group in self.param_groups:
            group["lr"] = group["lr"] * factor
        return original(self, closure)

    return step


CODE_CHANGES = {
    # a learning rate changed by one part in a million (far below any printed digit)
    "learning rate": lambda mp: mp.setattr(torch.optim.Adam, "step", _adam_with_lr_times(1 + 1e-6)),
    # T: cutout's square one pixel smaller (side 3 of 8, not 4)
    "T": lambda mp: mp.setattr(train_module, "sample_params", _smaller_cutout(train_module.sample_params)),
    # the G step moved before the D step
    "step order": lambda mp: mp.setattr(train_module, "train_step", _reordered_step),
    # the non-saturating loss with a tiny margin
    "loss": lambda mp: mp.setattr(train_module, "d_loss", lambda loss, r, f: F.softplus(-r + 1e-6).mean()
                                  + F.softplus(f).mean()),
    # EMA: the decay read one step late
    "EMA": lambda mp: mp.setattr(train_module, "_ema_update", _late_ema(train_module._ema_update)),
}


def _smaller_cutout(sample_params):
    def sample(x, policy, strengths, generator=None):
        return sample_params(x, policy, dataclasses.replace(strengths, cutout_ratio=strengths.cutout_ratio * 0.7),
                             generator)

    return sample


def _late_ema(update):
    def late(G_ema, G, decay):
        return update(G_ema, G, min(decay * 1.0001, 0.9999))

    return late


@pytest.mark.parametrize("change", list(CODE_CHANGES))
def test_the_guard_catches_a_change_of_what_training_computes(change, monkeypatch):
    torch.set_num_threads(1)
    assert not changed_indices()
    CODE_CHANGES[change](monkeypatch)
    assert changed_indices(), f"a change of the {change} went unnoticed"


def test_numerics_changed_compares_relatively_and_counts():
    assert numerics_changed([1.0, 100.0], [1.0 + 1e-12, 100.0 + 1e-9], 1e-10) == []
    assert numerics_changed([1.0, 100.0], [1.0, 100.1], 1e-10) == [1]
    assert numerics_changed([0.0], [1e-9], 1e-10) == [0]  # near 0 the tolerance is absolute
    assert numerics_changed([1.0], [1.0, 2.0], 1e-10) == [0, 1]
    assert numerics_changed([float("nan")], [1.0], 1e-10) == [0]


def test_the_cache_key_follows_the_numerics_version_and_the_changed_fields(monkeypatch):
    config = TrainConfig(strategy="diffaugment")
    key = config.key()
    monkeypatch.setattr("diffaug_lessons.train.NUMERICS_VERSION", numerics.NUMERICS_VERSION + 1)
    assert config.key() != key
    monkeypatch.undo()
    assert config.key() == key
    assert TrainConfig(strategy="diffaugment", seed=1).key() != key


def test_a_new_field_at_its_default_leaves_existing_keys_alone():
    @dataclasses.dataclass
    class Extended(TrainConfig):
        d_steps_per_g_step_added_later: int = 1

    assert Extended(strategy="d_only").key() == TrainConfig(strategy="d_only").key()
    assert Extended(strategy="d_only", d_steps_per_g_step_added_later=4).key() != TrainConfig(strategy="d_only").key()
