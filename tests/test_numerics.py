"""The run cache reuses a run only if today's code would give the same numbers (see diffaug_lessons.numerics)."""

import dataclasses

import torch

from diffaug_lessons import numerics
from diffaug_lessons.train import TrainConfig, numerics_fingerprint


def test_the_numerics_fingerprint_is_the_recorded_one():
    torch.set_num_threads(1)
    found = numerics_fingerprint()
    assert found == numerics.FINGERPRINT, (
        f"the training code now computes other numbers (fingerprint {found}, recorded {numerics.FINGERPRINT}). "
        "Cached runs of the old code must not be reused: bump NUMERICS_VERSION in diffaug_lessons/numerics.py "
        "and set FINGERPRINT to the new value."
    )


def test_the_fingerprint_sees_a_change_of_rounding(monkeypatch):
    torch.set_num_threads(1)
    before = numerics_fingerprint()
    original = torch.optim.Adam.step

    def step_in_another_order(self, closure=None):
        for group in self.param_groups:
            group["lr"] = group["lr"] * (1 + 1e-6)  # a change far below any printed digit
        return original(self, closure)

    monkeypatch.setattr(torch.optim.Adam, "step", step_in_another_order)
    assert numerics_fingerprint() != before


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
