"""Class labels end to end, the conditional BigGAN pair, n D steps per G step, EMA start, IS, the paper's preset."""

import math

import pytest
import torch
from torch import nn

from diffaug_lessons.biggan import BigGANDiscriminator, BigGANGenerator, official_iterations, samples_per_class
from diffaug_lessons.data import ImageSet, digits, train_heldout_split
from diffaug_lessons.download import file_digest
from diffaug_lessons.metrics import FidKid, InceptionFeatures, discriminator_report, inception_score
from diffaug_lessons.models import build_models
from diffaug_lessons.runs import Run, train_in_folder
from diffaug_lessons.train import Experiment, TrainConfig, lesson_config, train_step

# ---------------------------------------------------------------------------------------------------
# Labels from the data


def test_datasets_with_classes_return_them_and_the_split_keeps_each_image_with_its_label():
    dataset = digits(8)
    assert dataset.labels.dtype == torch.int64 and set(dataset.labels.tolist()) == set(range(10))
    train_set, heldout = train_heldout_split(dataset, n_train=300, n_heldout=200, seed=3)
    for part in (train_set, heldout):
        # every (image, label) pair of the split is a pair of the dataset
        match = (part.images.flatten(1)[:, None] == dataset.images.flatten(1)[None]).all(dim=2)
        found = match.float().argmax(dim=1)
        assert match.any(dim=1).all() and torch.equal(dataset.labels[found], part.labels)


def test_a_test_split_held_out_keeps_its_labels_too():
    # CIFAR's case: held-out reals from the test split, labels along
    train_source = ImageSet(torch.arange(40.0).view(40, 1, 1, 1).expand(40, 1, 2, 2), torch.arange(40) % 10, "train")
    test_source = ImageSet(-torch.arange(20.0).view(20, 1, 1, 1).expand(20, 1, 2, 2), torch.arange(20) % 10, "test")
    train_set, heldout = train_heldout_split(train_source, fraction=0.5, n_heldout=10, heldout_from=test_source)
    assert torch.equal(train_set.labels, train_set.images[:, 0, 0, 0].long() % 10)
    assert torch.equal(heldout.labels, (-heldout.images[:, 0, 0, 0]).long() % 10)


# ---------------------------------------------------------------------------------------------------
# The conditional pair


@pytest.mark.parametrize("resolution, channels", [(32, 3), (16, 1)])
def test_conditional_pair_shapes_and_both_depend_on_the_class(resolution, channels):
    torch.manual_seed(0)
    G, D = build_models("biggan", channels, resolution, z_dim=16, g_width=16, d_width=16, spectral_norm=True,
                        n_classes=10)
    z, y = torch.randn(6, 16), torch.arange(6)
    x = G(z, y)
    assert x.shape == (6, channels, resolution, resolution) and x.abs().max() <= 1
    assert D(x, y).shape == (6,)
    G.eval(), D.eval()  # eval: spectral norm keeps its vectors, batch norm its running statistics
    with torch.no_grad():
        assert not torch.allclose(G(z, y), G(z, (y + 1) % 10))  # conditional batch norm
        assert not torch.allclose(D(x, y), D(x, (y + 1) % 10))  # projection
        assert torch.equal(G(z), G(z, torch.arange(6) % 10))  # no labels: a balanced set


def test_the_official_layout_spectral_norm_and_init():
    torch.manual_seed(0)
    G, D = BigGANGenerator(z_dim=128, width=256, n_classes=10), BigGANDiscriminator(width=256, n_classes=10)
    assert len(G.blocks) == 3 and len(D.blocks) == 4  # 4 -> 8 -> 16 -> 32; 32 -> 16 -> 8 -> 8 -> 8
    assert [block.downsample for block in D.blocks] == [True, True, False, False]
    assert [block.preactivation for block in D.blocks] == [False, True, True, True]
    # spectral norm on every conv and linear of both, and on D's embedding; not on G's class embeddings
    for model in (G, D):
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                assert hasattr(module, "weight_orig"), module
    assert hasattr(D.embed, "weight_orig")
    assert not hasattr(G.blocks[0].bn1.gain, "weight_orig")
    # N(0, 0.02) weights
    weight = G.blocks[0].conv1.weight_orig
    assert weight.mean().abs() < 2e-3 and abs(weight.std().item() - 0.02) < 1e-3
    # the parameter counts of the official layer list at G_ch = D_ch = 64 (G 4.30M, D 4.21M)
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert 4.2e6 < count(G) < 4.4e6 and 4.1e6 < count(D) < 4.3e6


def test_unconditional_models_take_none_for_the_label():
    G, D = build_models("dcgan", 1, 8, 8, 8, 8, False)
    assert D(G(torch.randn(3, 8), None), None).shape == (3,)


# ---------------------------------------------------------------------------------------------------
# The training step: labels and several D steps per G step


class CountingOptimizer(torch.optim.SGD):
    def __init__(self, params):
        super().__init__(params, lr=0.0)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


class RecordingD(nn.Module):
    """Wraps a conditional D and records the (images, labels) of each call."""

    def __init__(self, D):
        super().__init__()
        self.D, self.calls = D, []

    def forward(self, x, y):
        self.calls.append((x.detach().clone(), y.clone()))
        return self.D(x, y)


def test_d_steps_each_take_their_own_batch_then_one_g_step():
    torch.manual_seed(0)
    G, D = build_models("biggan", 1, 16, 8, 8, 8, True, n_classes=10)
    D = RecordingD(D)
    opt_g, opt_d = CountingOptimizer(G.parameters()), CountingOptimizer(D.parameters())
    x_real = torch.rand(12, 1, 16, 16) * 2 - 1
    y_real, y_fake = torch.arange(12) % 10, torch.randint(10, (12,))
    seen_by_t = []

    def T(x):
        seen_by_t.append(x.shape)
        return x

    train_step(G, D, opt_g, opt_d, x_real, torch.randn(12, 8), T, "diffaugment", "hinge", y_real=y_real, y_fake=y_fake,
               d_steps=3)
    assert (opt_d.steps, opt_g.steps) == (3, 1)
    # D calls: (reals, fakes) per D step, then the G step's fakes; each D step on its own 4 reals with their labels
    assert len(D.calls) == 7
    for step in range(3):
        x, y = D.calls[2 * step]
        assert torch.equal(x, x_real[4 * step: 4 * step + 4]) and torch.equal(y, y_real[4 * step: 4 * step + 4])
        assert torch.equal(D.calls[2 * step + 1][1], y_fake[4 * step: 4 * step + 4])
    assert torch.equal(D.calls[6][1], y_fake[8:])  # the G step scores the last D step's fakes
    assert seen_by_t == [(4, 1, 16, 16)] * 7  # T only ever gets images


def _tiny_conditional(tiny_config, **overrides):
    return tiny_config(architecture="biggan", resolution=16, g_width=8, d_width=8, loss="hinge", **overrides)


def test_the_training_loop_feeds_each_real_with_its_own_label(tiny_config):
    experiment = Experiment(_tiny_conditional(tiny_config, d_steps=2, batch_size=8))
    assert experiment.conditional and experiment.n_classes == 10
    experiment.D = experiment._D_step = RecordingD(experiment.D)
    experiment.run_step()
    reals = experiment.reals.flatten(1)
    for x, y in experiment.D.calls[0:4:2]:  # the reals of both D steps (strategy none: no T)
        assert len(x) == 8
        index = (x.flatten(1)[:, None] == reals[None]).all(dim=2).float().argmax(dim=1)
        assert torch.equal(experiment.train_set.labels[index], y)


def test_an_unconditional_run_draws_no_labels(tiny_config):
    experiment = Experiment(tiny_config())
    x_real, z, y_real, y_fake = experiment.next_batch()
    assert y_real is None and y_fake is None and experiment.fixed_labels(4) is None


def test_ema_is_a_copy_of_g_until_ema_start(tiny_config):
    experiment = Experiment(_tiny_conditional(tiny_config, ema_decay=0.9, ema_start=3))

    def same():
        return all(torch.equal(a, b) for a, b in zip(experiment.G_ema.parameters(), experiment.G.parameters()))

    for _ in range(3):
        experiment.run_step()
        assert same()  # steps 0, 1, 2 < ema_start: pegged to G
    experiment.run_step()
    assert not same()


def test_a_conditional_run_trains_saves_and_its_generator_comes_back(tiny_config, tmp_path):
    config = _tiny_conditional(tiny_config, strategy="diffaugment", policy="translation,cutout", d_steps=2,
                               ema_start=4, sample_with_batch_stats=True)
    result = train_in_folder(config, tmp_path / "run", progress=False)
    row = result.history[-1]
    assert math.isfinite(row["fid"]) and 1 <= row["is"] <= 10  # IS on the digit classifier's 10 classes
    G = Run(tmp_path / "run").generator()
    grid = samples_per_class(G, per_class=3)
    assert grid.shape == (30, 1, 16, 16)


# ---------------------------------------------------------------------------------------------------
# Inception Score plumbing


def test_inception_score_of_known_probabilities():
    sure_and_balanced = torch.eye(10).repeat(20, 1)  # 200 images, each one sure class, all classes alike
    assert inception_score(sure_and_balanced)[0] == pytest.approx(10.0)
    all_alike = torch.full((200, 10), 0.1)
    assert inception_score(all_alike) == pytest.approx((1.0, 0.0))
    one_class = torch.eye(10)[torch.zeros(200, dtype=torch.long)]
    assert inception_score(one_class)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one image per split"):
        inception_score(all_alike[:5])


class StandInInception(nn.Module):
    """Stands in for NVIDIA's TorchScript Inception: same call signature, uint8 input, a 4-class head."""

    def forward(self, x: torch.Tensor, return_features: bool = False, no_output_bias: bool = False) -> torch.Tensor:
        assert x.dtype == torch.uint8 and x.shape[1] == 3
        colours = x.float().mean(dim=(2, 3)) / 255  # (N, 3)
        if return_features:  # 2048 numbers per image, as the real one
            return (x.float().flatten(1) / 255).repeat(1, 11)[:, :2048]
        logits = torch.cat([colours, 1 - colours.mean(dim=1, keepdim=True)], dim=1) * 20
        if not no_output_bias:
            logits = logits + 100.0  # the test fails if the output bias were applied: IS is computed without it
        return logits.softmax(dim=1)


def test_is_and_fid_plumbing_with_a_stand_in_inception(tmp_path, monkeypatch):
    path = tmp_path / "stand-in.pt"
    torch.jit.script(StandInInception()).save(str(path))
    monkeypatch.setenv("DIFFAUG_LESSONS_INCEPTION", str(path))
    # only a file with the pinned SHA-256 is loaded: pin the stand-in's for this test
    monkeypatch.setattr("diffaug_lessons.metrics.INCEPTION_SHA256", file_digest(path, "sha256"))
    features = InceptionFeatures()
    reals = torch.rand(100, 1, 8, 8) * 2 - 1  # greyscale is repeated to RGB
    metric = FidKid(features, reals, kid_subsets=2, kid_subset_size=50)
    fid, _ = metric.score(reals)
    assert abs(fid) < 1e-3
    mean, std = metric.inception_score(reals)
    direct = inception_score(torch.cat([features.class_probabilities(b) for b in reals.split(256)]))
    assert (mean, std) == pytest.approx(direct) and 1 <= mean <= 4


def test_a_missing_inception_file_is_named(monkeypatch):
    monkeypatch.setenv("DIFFAUG_LESSONS_INCEPTION", "/nowhere/inception-2015-12-05.pt")
    with pytest.raises(FileNotFoundError, match="/nowhere/inception-2015-12-05.pt"):
        InceptionFeatures()


def test_discriminator_report_gives_a_conditional_d_the_labels():
    torch.manual_seed(0)
    D = BigGANDiscriminator(1, 16, 8, n_classes=10).eval()
    images, labels = torch.rand(20, 1, 16, 16), torch.arange(20) % 10
    with torch.no_grad():
        expected = torch.sigmoid(D(images, labels)).mean().item()
    assert discriminator_report(D, images, True, labels=labels, batch_size=7).mean_output == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------------
# The paper's preset

# scripts/DiffAugment-biggan-cifar10-0.1.sh, -0.2.sh and DiffAugment-biggan-cifar10.sh of
# github.com/mit-han-lab/data-efficient-gans (DiffAugment-biggan-cifar), and the defaults of its utils.py
# for the flags the scripts leave out. Each: flag, the official value, our field, our value.
OFFICIAL_FLAGS = [
    ("--dataset C10", "cifar10", "dataset", "cifar10"),
    ("--DiffAugment translation,cutout", "translation,cutout", "policy", "translation,cutout"),
    ("--mirror_augment", True, "flip_reals", True),
    ("--batch_size 50", 50, "batch_size", 50),
    ("--num_D_steps 4", 4, "d_steps", 4),
    ("--G_lr 2e-4", 2e-4, "lr_g", 2e-4),
    ("--D_lr 2e-4", 2e-4, "lr_d", 2e-4),
    ("--G_B1/--D_B1 default 0.0, --G_B2/--D_B2 default 0.999", (0.0, 0.999), "betas", (0.0, 0.999)),
    ("--G_init N02 --D_init N02", "N(0, 0.02)", "architecture", "biggan"),  # biggan.INIT_STD
    ("--ema --use_ema", True, "ema_decay", 0.9999),  # --ema_decay default 0.9999
    ("--ema_start 1000", 1000, "ema_start", 1000),
    ("--G_eval_mode default off: samples in training mode", True, "sample_with_batch_stats", True),
    ("--G_param/--D_param default SN", "SN", "spectral_norm", True),
    ("--G_ch/--D_ch default 64 (x4 channels at 32x32)", 256, "g_width", 256),
    ("--D_ch default 64, D_wide", 256, "d_width", 256),
    ("--dim_z default 128", 128, "z_dim", 128),
    ("hinge loss (losses.py)", "hinge", "loss", "hinge"),
    ("--num_inception_images 10000", 10_000, "n_eval_samples", 10_000),
    ("FID against the test split (10,000 images)", 10_000, "n_heldout", 10_000),
    ("--test_every 4000", 4000, "eval_every", 4000),
    ("--seed 0", 0, "seed", 0),
]


@pytest.mark.parametrize("flag, official, field, ours", OFFICIAL_FLAGS, ids=[f[2] for f in OFFICIAL_FLAGS])
def test_the_preset_matches_the_official_script(flag, official, field, ours):
    config = lesson_config("biggan-cifar")
    assert getattr(config, field) == ours, flag
    assert config.strategy == "diffaugment" and config.architecture == "biggan" and not config.amp


@pytest.mark.parametrize("fraction, epochs, iterations", [(None, 1000, 250_000), (0.2, 5000, 250_000),
                                                          (0.1, 5000, 125_000)])
def test_the_preset_trains_the_iterations_the_scripts_epochs_give(fraction, epochs, iterations):
    images = round(50_000 * (fraction or 1))
    assert iterations == math.ceil(images * epochs / (50 * 4))  # --num_epochs, loader batch 50 x 4 D steps
    assert official_iterations(images) == iterations
    assert lesson_config("biggan-cifar", fraction=fraction).steps == iterations
    assert lesson_config("biggan-cifar", fraction=fraction, steps=10).steps == 10


def test_the_preset_is_on_the_command_line():
    from diffaug_lessons.cli import build_parser, config_from_args

    args = build_parser().parse_args(["train", "--preset", "biggan-cifar", "--fraction", "0.1", "--strategy", "none"])
    config = config_from_args(args)
    assert (config.architecture, config.d_steps, config.steps, config.strategy) == ("biggan", 4, 125_000, "none")


def test_new_fields_at_their_defaults_keep_the_old_config_key():
    assert TrainConfig().key() == TrainConfig(d_steps=1, ema_start=0, sample_with_batch_stats=False).key()
