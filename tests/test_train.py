"""The training loop: where T is applied, reproducibility, resume, divergence, errors."""

import dataclasses
import math

import pytest
import torch

from diffaug_lessons import train as train_module
from diffaug_lessons.augment import make_augment
from diffaug_lessons.models import DCGANDiscriminator, DCGANGenerator
from diffaug_lessons.runs import Run, train_in_folder
from diffaug_lessons.train import (
    STRATEGIES,
    WHERE_T_IS_APPLIED,
    Experiment,
    TrainConfig,
    TrainingDiverged,
    TrainingStopped,
    train,
    train_step,
)

TIMING_KEYS = {"seconds", "it_per_s"}


def _without_timing(history):
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in history]


class RecordingT:
    """A T that records what it was applied to: reals or fakes, and whether G gets a gradient."""

    def __init__(self, x_real):
        self.x_real, self.calls = x_real, []

    def __call__(self, x):
        kind = "real" if torch.equal(x, self.x_real) else "fake"
        self.calls.append((kind, x.requires_grad))
        return x.flip(3)


def _nets():
    torch.manual_seed(0)
    G, D = DCGANGenerator(8, 1, 8, 8), DCGANDiscriminator(1, 8, 8)
    return G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_applies_T_where_the_paper_says(strategy):
    G, D, opt_g, opt_d = _nets()
    x_real, z = torch.rand(4, 1, 8, 8) * 2 - 1, torch.randn(4, 8)
    T = RecordingT(x_real)
    train_step(G, D, opt_g, opt_d, x_real, z, T, strategy)
    reals_d, fakes_d, fakes_g = WHERE_T_IS_APPLIED[strategy]
    expected = [("real", False)] * reals_d + [("fake", False)] * fakes_d + [("fake", True)] * fakes_g
    assert T.calls == expected  # the G-step call is the only one that carries G's gradient


def test_diffaugment_gradient_reaches_G_through_T():
    """A T that erases its input cuts G off in DiffAugment's G step but not in d_only's."""
    grads = {}
    for strategy in ("d_only", "diffaugment"):
        G, D, opt_g, opt_d = _nets()
        x_real, z = torch.rand(4, 1, 8, 8) * 2 - 1, torch.randn(4, 8)
        train_step(G, D, opt_g, opt_d, x_real, z, lambda x: x * 0, strategy)
        grads[strategy] = sum(p.grad.abs().sum().item() for p in G.parameters())
    assert grads["d_only"] > 0 and grads["diffaugment"] == 0
    # and with the real DiffAugment, gradients do flow through T
    G, D, opt_g, opt_d = _nets()
    train_step(G, D, opt_g, opt_d, torch.rand(4, 1, 8, 8), torch.randn(4, 8), make_augment("color,translation,cutout"),
               "diffaugment")
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters())
    assert sum(p.grad.abs().sum().item() for p in G.parameters()) > 0


def test_history_records_every_metric_at_the_interval(tiny_config):
    result = train(tiny_config(strategy="diffaugment"), progress=False)
    assert [row["step"] for row in result.history] == [4, 8, 12]
    row = result.history[-1]
    for key in ("loss_d", "loss_g", "d_train", "d_heldout", "d_fake", "acc_train", "acc_heldout", "acc_fake",
                "d_train_aug", "d_fake_aug", "acc_fake_aug", "d_gap", "fid", "kid", "seconds", "it_per_s"):
        assert key in row and math.isfinite(row[key]), key
    assert 0 <= row["d_train"] <= 1 and 0 <= row["acc_fake"] <= 1
    assert result.samples.shape == (64, 1, 8, 8)


def test_same_seed_same_numbers_other_seed_other_numbers(tiny_config):
    a = train(tiny_config(), progress=False).history
    b = train(tiny_config(), progress=False).history
    c = train(tiny_config(seed=1), progress=False).history
    assert _without_timing(a) == _without_timing(b)
    assert _without_timing(a) != _without_timing(c)


@pytest.mark.parametrize("stop_after", [5, 8])  # mid-interval and exactly at an evaluation
def test_resume_after_stop_gives_the_uninterrupted_history(tiny_config, tmp_path, stop_after):
    config = tiny_config(strategy="diffaugment", ada_target=0.6, p=0.2)
    uninterrupted = train(config, progress=False).history
    polls = iter(range(10_000))
    stopped = train_in_folder(config, tmp_path / "run", should_stop=lambda: next(polls) >= stop_after, progress=False)
    assert stopped.status == "stopped" and Run(tmp_path / "run").status == "stopped"
    resumed = train_in_folder(config, tmp_path / "run", progress=False)
    assert resumed.status == "complete"
    assert _without_timing(resumed.history) == _without_timing(uninterrupted)


def test_keyboard_interrupt_saves_a_resumable_run(tiny_config, tmp_path):
    config = tiny_config()

    def interrupt(record):
        if record.step == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_in_folder(config, tmp_path / "run", callbacks=[interrupt], progress=False)
    run = Run(tmp_path / "run")
    assert run.status == "stopped" and run.history[-1]["step"] == 8
    resumed = train_in_folder(config, tmp_path / "run", progress=False)
    assert _without_timing(resumed.history) == _without_timing(train(config, progress=False).history)


def test_callback_can_stop_cleanly(tiny_config):
    def stop(record):
        raise TrainingStopped

    result = train(tiny_config(), callbacks=[stop], progress=False)
    assert result.status == "stopped" and len(result.history) == 1


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_g_loss = train_module.g_loss

    def poisoned(loss, d_fake):
        calls["n"] += 1
        value = real_g_loss(loss, d_fake)
        return value * float("nan") if calls["n"] > 6 else value

    monkeypatch.setattr(train_module, "g_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"between steps 4 and 8.*step 4\) is kept"):
        train_in_folder(tiny_config(), tmp_path / "run", progress=False)
    run = Run(tmp_path / "run")
    assert run.status == "diverged"
    assert run.load_checkpoint()["step"] == 4
    assert all(math.isfinite(v) for v in run.load_checkpoint()["G"]["stem.0.weight"].flatten().tolist())


def test_ada_moves_p_and_records_it(tiny_config):
    history = train(tiny_config(strategy="diffaugment", p=0.5, ada_target=0.6, ada_kimg=1.0), progress=False).history
    ps = [row["p"] for row in history]
    assert len(set(ps)) > 1 and all(0 <= p <= 1 for p in ps)
    assert all(-1 <= row["r_t"] <= 1 for row in history)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(strategy="diffaug"), r"unknown strategy 'diffaug'; choose from none, reals_only, d_only, diffaugment"),
        (dict(dataset="mnist"), r"unknown dataset 'mnist'; choose from digits"),
        (dict(resolution=24), r"resolution 24 .* choose from 8, 16, 32, 64"),
        (dict(architecture="resnet", resolution=16), r"resolution 16 does not work with architecture 'resnet'"),
        (dict(steps=0), r"steps must be an integer in \[1, 1000000000\]; got 0"),
        (dict(steps=-5), r"steps must be an integer in \[1, 1000000000\]; got -5"),
        (dict(batch_size=200), r"batch_size 200 is larger than the 100 training images"),
        (dict(n_train=50, fraction=0.1), r"n_train \(50\) or fraction \(0.1\), not both"),
        (dict(n_train=None, fraction=1.5), r"fraction must be a number in \(0, 1\] \(or None\); got 1.5"),
        (dict(policy="color,flipp"), r"unknown augmentation 'flipp'.*did you mean 'flip'"),
        (dict(loss="wgan"), r"unknown loss 'wgan'; choose from nonsaturating, hinge"),
        (dict(p=1.2), r"p must be a number in \[0, 1\]; got 1.2"),
        (dict(device="tpu"), r"unknown device 'tpu'"),
        (dict(dataset="folder"), r"needs data_path"),
    ],
)
def test_bad_configs_are_refused_with_the_value_and_the_choices(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)


def test_batch_larger_than_a_fractional_subset_is_refused(tiny_config):
    with pytest.raises(ValueError, match=r"batch_size 16 is larger than the 9 training images"):
        train(tiny_config(n_train=None, fraction=0.005, n_heldout=64), progress=False)


def test_config_round_trips_through_a_dict_and_rejects_unknown_fields():
    config = TrainConfig(strategy="d_only", betas=[0.0, 0.99])
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown config field\(s\) stepz"):
        TrainConfig.from_dict({"stepz": 3})
    assert config.key() == TrainConfig(strategy="d_only", betas=(0.0, 0.99)).key() != TrainConfig().key()


def test_the_inner_loop_never_turns_a_tensor_into_a_number(tiny_config, monkeypatch):
    """Between evaluations no tensor becomes a Python number, ADA's p included: on a GPU each such
    conversion would make the loop wait for the device. (Adam's step counters live on the host.)"""
    experiment = Experiment(tiny_config(strategy="diffaugment", ada_target=0.6, p=0.5, ada_interval=2))
    experiment.run_step()  # creates the optimizers' state
    host_counters = {id(state["step"]) for opt in (experiment.opt_g, experiment.opt_d) for state in opt.state.values()}
    originals = {}

    def refusing(name):
        def convert(self, *args):
            if id(self) not in host_counters:
                raise AssertionError(f"Tensor.{name} inside the training loop")
            return originals[name](self, *args)
        return convert

    for name in ("item", "__float__", "__int__", "__bool__", "tolist"):
        originals[name] = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, refusing(name))
    p_before = experiment.strengths.p  # a number until the first adjustment (after 2 steps)
    for _ in range(6):
        experiment.run_step()
    monkeypatch.undo()
    assert p_before == 0.5 and isinstance(experiment.strengths.p, torch.Tensor)
    assert float(experiment.strengths.p) != 0.5  # p moved three times


def test_history_has_d_on_the_raw_generator_and_the_gradient_g_receives(tiny_config):
    history = train(tiny_config(strategy="d_only"), progress=False).history
    for row in history:
        assert 0 <= row["acc_fake_g"] <= 1 and 0 < row["d_fake_g"] < 1
        assert row["g_grad"] > 0


def test_image_gradient_follows_the_strategys_g_step(tiny_config):
    """With a linear D and the hinge loss, dL_G/dx is -w per image; a T that halves x halves it."""
    experiment = Experiment(tiny_config(strategy="diffaugment", loss="hinge"))
    experiment.D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1), torch.nn.Flatten(0))
    weight_norm = experiment.D[1].weight.norm().item()
    fakes = experiment.generate(experiment.z_fixed[:16], ema=False)
    halve = lambda x: x * 0.5  # noqa: E731
    assert experiment.image_gradient(fakes, halve) == pytest.approx(0.5 * weight_norm, rel=1e-5)
    for strategy in ("d_only", "none", "reals_only"):  # no T in their G step
        experiment.config.strategy = strategy
        assert experiment.image_gradient(fakes, halve) == pytest.approx(weight_norm, rel=1e-5)


def test_without_t_resets_every_field_of_t_and_keeps_the_rest():
    from diffaug_lessons.train import T_FIELDS

    config = TrainConfig(strategy="diffaugment", policy="translation", translation_ratio=0.25, cutout_ratio=0.1,
                         color_strength=0.5, p=0.3, ada_target=0.6, ada_kimg=5.0, ada_interval=8, steps=77, seed=3)
    baseline = config.without_t()
    assert baseline.strategy == "none" and (baseline.steps, baseline.seed) == (77, 3)
    assert baseline == TrainConfig(strategy="none", steps=77, seed=3)
    assert set(T_FIELDS) <= {field.name for field in dataclasses.fields(TrainConfig)}
