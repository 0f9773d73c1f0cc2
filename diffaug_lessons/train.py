"""One GAN experiment: the training loop of the lessons.

The paper's four strategies differ only in *where T is applied*. That is the table
``WHERE_T_IS_APPLIED`` and the few lines of :func:`train_step` marked "the lesson".
Everything else here is plumbing: data, evaluation at intervals, EMA, ADA, checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import settings
from .augment import Strengths, apply, parse_policy, sample_params
from .biggan import CIFAR_TRAIN_IMAGES, official_iterations
from .data import DATASETS, N_FACES, ImageSet, load_dataset, train_heldout_split
from .distributed import Distributed, all_finite
from .distributed import setup as distributed_setup
from .errors import check_choice, check_number
from .metrics import FidKid, discriminator_report, feature_network, judge
from .models import ARCHITECTURES, CONDITIONAL_ARCHITECTURES, build_models
from .numerics import NUMERICS_VERSION

Tensor = torch.Tensor

STRATEGIES = ("none", "reals_only", "d_only", "diffaugment")
LOSSES = ("nonsaturating", "hinge")
DEVICES = ("auto", "cpu", "cuda", "mps")

# The numeric fields: type, lower and upper bound, lower bound excluded?, None allowed?
NUMBER_FIELDS = {
    "resolution": (int, 1, 1024, False, False),
    "n_train": (int, 1, 10**8, False, True),
    "fraction": (float, 0.0, 1.0, True, True),
    "n_heldout": (int, 2, 10**8, False, False),  # FID/KID and D's held-out verdict need two at least
    "translation_ratio": (float, 0.0, 1.0, False, False),
    "cutout_ratio": (float, 0.0, 1.0, False, False),
    "color_strength": (float, 0.0, 2.0, False, False),  # > 1: beyond the official range
    "p": (float, 0.0, 1.0, False, False),
    "ada_target": (float, -1.0, 1.0, False, True),
    "ada_kimg": (float, 0.0, 10**6, True, False),
    "ada_interval": (int, 1, 10**6, False, False),
    "z_dim": (int, 1, 4096, False, False),
    "g_width": (int, 1, 4096, False, False),
    "d_width": (int, 1, 4096, False, False),
    "steps": (int, 1, 10**9, False, False),
    "batch_size": (int, 1, 65536, False, False),
    "lr_g": (float, 0.0, 1.0, True, False),
    "lr_d": (float, 0.0, 1.0, True, False),
    "d_steps": (int, 1, 100, False, False),
    "ema_start": (int, 0, 10**9, False, False),
    "ema_decay": (float, 0.0, 0.999999, False, True),
    "eval_every": (int, 1, 10**9, False, False),
    "n_eval_samples": (int, 2, 10**6, False, False),
    "seed": (int, 0, 2**63 - 1, False, False),
}

# The fields that say what T does (and how ADA adapts it): a run without T ignores them.
T_FIELDS = ("policy", "translation_ratio", "cutout_ratio", "color_strength", "p", "ada_target", "ada_kimg", "ada_interval")

# Where T is applied: the whole difference between the paper's four strategies.
#                     D step: reals   D step: fakes   G step: fakes (gradient through T)
WHERE_T_IS_APPLIED = {
    "none":        (False,          False,          False),
    "reals_only":  (True,           False,          False),
    "d_only":      (True,           True,           False),
    "diffaugment": (True,           True,           True),
}  # fmt: skip


@dataclass
class TrainConfig:
    """Everything that defines one experiment. Same config + same seed = same numbers (on CPU)."""

    # data
    dataset: str = "digits"
    resolution: int = 16
    n_train: int | None = 100  # training images; or give `fraction` instead
    fraction: float | None = None
    n_heldout: int = 500  # reals of the same distribution D never trains on (faces: none, see load_split)
    data_path: str | None = None  # image folder, for dataset="folder"
    flip_reals: bool = False  # random x-flip of reals, applied in every strategy (not part of T)
    # what the lessons vary
    strategy: str = "none"
    policy: str = "color,translation,cutout"
    translation_ratio: float = 0.125
    cutout_ratio: float = 0.5
    color_strength: float = 1.0
    p: float = 1.0  # probability each op of T applies to each image (initial p when adaptive)
    ada_target: float | None = None  # adapt p so that E[sign(D(x_real))] moves to this (ADA: 0.6)
    ada_kimg: float = 10.0  # images for p to move by 1 (ADA used 500; small runs need faster)
    ada_interval: int = 4
    # models
    architecture: str = "dcgan"  # "biggan" is class-conditional: G and D get the labels
    z_dim: int = 64
    g_width: int = 32
    d_width: int = 32
    spectral_norm: bool = False  # off for the small DCGAN: D overfits as in the paper; on for ResNet
    loss: str = "nonsaturating"
    # optimisation
    steps: int = 4000
    batch_size: int = 32
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1  # D steps per G step, each on its own batch (the official BigGAN-CIFAR: 4)
    ema_decay: float | None = 0.999
    ema_start: int = 0  # before this step the EMA generator is a copy of G (BigGAN-PyTorch's --ema_start)
    sample_with_batch_stats: bool = False  # the EMA G samples in training mode: its batch norms use each
    # batch's own statistics (BigGAN-PyTorch samples so: its --G_eval_mode is off)
    # bookkeeping
    eval_every: int = 250
    n_eval_samples: int = 500
    seed: int = 0
    device: str = "auto"
    amp: bool = False  # bf16 autocast (CUDA)
    channels_last: bool = False
    compile: bool = False  # torch.compile G and D

    def __post_init__(self) -> None:
        if isinstance(self.betas, list):  # JSON gives lists back
            self.betas = tuple(self.betas)  # type: ignore[assignment]
        self.validate()

    def validate(self) -> None:
        """Refuse impossible settings with a message naming the value and the valid choices."""
        for field in dataclasses.fields(self):  # flags and names: the type of their default
            value = getattr(self, field.name)
            if isinstance(field.default, bool) and not isinstance(value, bool):
                raise ValueError(f"{field.name} must be True or False; got {value!r}")
            if isinstance(field.default, str) and not isinstance(value, str):
                raise ValueError(f"{field.name} must be a string; got {value!r}")
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("strategy", self.strategy, STRATEGIES)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("loss", self.loss, LOSSES)
        check_choice("device", self.device, DEVICES)
        parse_policy(self.policy)
        for name, (kind, low, high, low_open, optional) in NUMBER_FIELDS.items():
            check_number(name, getattr(self, name), kind, low, high, low_open=low_open, optional=optional)
        allowed = {"resnet": (32,), "biggan": (16, 32)}.get(self.architecture, (8, 16, 32, 64))
        if self.resolution not in allowed:
            raise ValueError(
                f"resolution {self.resolution} does not work with architecture {self.architecture!r}; "
                f"choose from {', '.join(map(str, allowed))}"
            )
        if not isinstance(self.betas, tuple) or len(self.betas) != 2:
            raise ValueError(f"betas must be two numbers in [0, 1); got {self.betas!r}")
        for beta in self.betas:
            check_number("each of betas", beta, float, 0.0, 0.999999)
        if self.n_train is not None and self.fraction is not None:
            raise ValueError(f"give n_train ({self.n_train}) or fraction ({self.fraction}), not both")
        if self.n_train is not None and self.batch_size > self.n_train:
            raise ValueError(f"batch_size {self.batch_size} is larger than the {self.n_train} training images")
        if self.data_path is not None and not isinstance(self.data_path, str):
            raise ValueError(f"data_path must be a folder path (a string); got {self.data_path!r}")
        if self.dataset == "faces" and self.n_train is not None and self.n_train > N_FACES:
            raise ValueError(f"dataset 'faces' has {N_FACES} images; n_train must be at most {N_FACES} "
                             f"(None: all of them); got {self.n_train}")
        if self.dataset == "folder" and not self.data_path:
            raise ValueError("dataset='folder' needs data_path, the folder of images")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config field(s) {', '.join(unknown)}; valid fields: {', '.join(sorted(known))}")
        return cls(**values)

    def key(self) -> str:
        """The run cache's key: a short hash of the fields that differ from their defaults and of
        :data:`~diffaug_lessons.numerics.NUMERICS_VERSION` (so runs of code that computes differently
        are never reused). A field added later with a default that keeps the old behaviour leaves the
        keys of existing runs alone; a changed default is caught by :meth:`runs.Run.check`, which
        compares the whole saved config."""
        changed = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) != f.default}
        text = json.dumps({"config": changed, "numerics": NUMERICS_VERSION}, sort_keys=True, default=list)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def without_t(self) -> TrainConfig:
        """The baseline of this config: strategy "none" and every field of T at its default, so the
        baselines of runs that differ only in T are one run (one cache key)."""
        defaults = {field.name: field.default for field in dataclasses.fields(self) if field.name in T_FIELDS}
        return dataclasses.replace(self, strategy="none", **defaults)


# ---------------------------------------------------------------------------
# The training step: the lesson
# ---------------------------------------------------------------------------


def d_loss(loss: str, d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Discriminator loss: non-saturating f = softplus, or hinge."""
    if loss == "hinge":
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def g_loss(loss: str, d_fake: Tensor) -> Tensor:
    """Generator loss: non-saturating softplus(-D(.)), or hinge -D(.)."""
    if loss == "hinge":
        return -d_fake.mean()
    return F.softplus(-d_fake).mean()


@dataclass
class StepOutput:
    loss_d: Tensor
    loss_g: Tensor
    d_real_logits: Tensor  # what D said on the (possibly augmented) training reals, for ADA


def train_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x_real: Tensor,
    z: Tensor,
    T: Callable[[Tensor], Tensor],
    strategy: str,
    loss: str = "nonsaturating",
    autocast: Callable[[], Any] = contextlib.nullcontext,
    y_real: Tensor | None = None,
    y_fake: Tensor | None = None,
    d_steps: int = 1,
) -> StepOutput:
    """``d_steps`` D steps, then one G step. ``strategy`` decides where T is applied.

    x_real and z hold ``d_steps`` batches one after the other, each D step takes the next; the G step
    scores the last D step's fakes. A class-conditional pair also gets the labels of the reals
    (y_real) and the labels drawn for the fakes (y_fake); unconditional models get None. T never
    sees a label: it changes the image, not its class.
    """
    augment_reals_in_d, augment_fakes_in_d, augment_fakes_in_g = WHERE_T_IS_APPLIED[strategy]

    for x_real, z, y_real, y_fake in _per_d_step(d_steps, x_real, z, y_real, y_fake):  # noqa: B020
        # D step: L_D = f(-D(x or T(x))) + f(D(G(z) or T(G(z))))
        with autocast():
            x_fake = G(z, y_fake)
            d_real = D(T(x_real) if augment_reals_in_d else x_real, y_real)
            d_fake = D(T(x_fake.detach()) if augment_fakes_in_d else x_fake.detach(), y_fake)
            loss_d = d_loss(loss, d_real, d_fake)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

    # G step: L_G = f(-D(G(z) or T(G(z)))); with DiffAugment the gradient flows through T into G
    D.requires_grad_(False)
    with autocast():
        loss_g = g_loss(loss, D(T(x_fake) if augment_fakes_in_g else x_fake, y_fake))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)
    return StepOutput(loss_d.detach(), loss_g.detach(), d_real.detach())


def _per_d_step(d_steps: int, *batches: Tensor | None) -> Iterator[tuple[Tensor | None, ...]]:
    """Cut each batch (or None) into ``d_steps`` equal parts along N: one tuple of parts per D step."""
    parts = [batch.chunk(d_steps) if batch is not None else (None,) * d_steps for batch in batches]
    return zip(*parts, strict=True)


# ---------------------------------------------------------------------------
# Plumbing
# ---------------------------------------------------------------------------


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingStopped(Exception):
    """Raised by a callback (or the dashboard's Stop) to end a run cleanly and save it."""


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU; a device that is not there is refused by name."""
    check_choice("device", device, DEVICES)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        why = "this PyTorch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ValueError(f"device 'cuda' was asked for, but {why} (torch {torch.__version__}); "
                         "use device 'auto' or 'cpu', or install a CUDA build of PyTorch")
    if device == "mps" and not _mps_available():
        raise ValueError("device 'mps' was asked for, but Apple's MPS is not available here; use 'auto' or 'cpu'")
    return torch.device(device)


def load_split(config: TrainConfig) -> tuple[ImageSet, ImageSet]:
    """(training subset, held-out reals) for ``config``; they never overlap, except for ``faces``.

    ``faces`` follows the paper's 100-shot protocol: there is nothing to hold out, so every face
    trains and the "held-out" set is the training set itself (FID/KID against the training images,
    ``n_heldout`` unused); D's train/held-out gap is then 0 by construction.
    """
    if config.dataset == "faces":
        faces, _ = train_heldout_split(
            load_dataset("faces", config.resolution), n_train=config.n_train, fraction=config.fraction, n_heldout=0,
            seed=config.seed,
        )
        return faces, dataclasses.replace(faces, name=f"{faces.name}, also the FID/KID reference (100-shot protocol)")
    if config.dataset in ("cifar10", "cifar100"):
        train_set = load_dataset(config.dataset, config.resolution, split="train")
        test_set = load_dataset(config.dataset, config.resolution, split="test")
        return train_heldout_split(
            train_set, n_train=config.n_train, fraction=config.fraction, n_heldout=config.n_heldout,
            seed=config.seed, heldout_from=test_set,
        )
    dataset = load_dataset(config.dataset, config.resolution, path=config.data_path)
    return train_heldout_split(
        dataset, n_train=config.n_train, fraction=config.fraction, n_heldout=config.n_heldout, seed=config.seed
    )


@dataclass
class Record:
    """What a callback receives at each evaluation: the metrics row and a sample grid batch."""

    row: dict[str, float]
    samples: Tensor  # (64, C, H, W) in [-1, 1], from the fixed z
    step: int
    total_steps: int


@dataclass
class TrainResult:
    config: TrainConfig
    history: list[dict[str, float]]
    G: nn.Module  # the EMA generator when ema_decay is set
    D: nn.Module
    train_set: ImageSet
    heldout_set: ImageSet
    samples: Tensor  # final sample batch from the fixed z
    status: str = "complete"  # or "stopped"
    run_dir: Path | None = None


def _ema_update(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.lerp_(p, 1 - decay)
        for b_ema, b in zip(G_ema.buffers(), G.buffers()):
            b_ema.copy_(b)


class Experiment:
    """The state of one training run; :func:`train` drives it.

    Kept as an object so a checkpoint can capture all of it and a resumed run continues
    with the very same random streams.
    """

    def __init__(self, config: TrainConfig, dist_info: Distributed | None = None) -> None:
        config.validate()
        self.config = config
        self.dist = dist_info or Distributed()
        self.device = resolve_device(config.device)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.train_set, self.heldout_set = load_split(config)
        if config.batch_size > len(self.train_set):
            raise ValueError(f"batch_size {config.batch_size} is larger than the {len(self.train_set)} training images")
        torch.manual_seed(config.seed)
        channels = self.train_set.images.shape[1]
        # Classes: those of the whole dataset (a small subset may miss some); a folder has one, label 0.
        self.n_classes = int(max(self.train_set.labels.max(), self.heldout_set.labels.max())) + 1
        self.conditional = config.architecture in CONDITIONAL_ARCHITECTURES
        self.G, self.D = build_models(
            config.architecture, channels, config.resolution, config.z_dim, config.g_width, config.d_width,
            config.spectral_norm, self.n_classes,
        )
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.G.to(self.device, memory_format=memory_format)
        self.D.to(self.device, memory_format=memory_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if config.ema_decay else None
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=config.betas)
        self.reals = self.train_set.images.to(self.device)
        self.heldout = self.heldout_set.images.to(self.device)
        # Labels go to conditional models only; unconditional ones get None wherever a label could go.
        self.real_labels = self.train_set.labels.to(self.device) if self.conditional else None
        self.heldout_labels = self.heldout_set.labels.to(self.device) if self.conditional else None
        # Rank 0 draws exactly what a single process draws; other ranks get their own batches and T.
        self.data_generator = torch.Generator().manual_seed(config.seed + 1 + 7919 * self.dist.rank)
        if self.dist.rank > 0:
            torch.manual_seed(config.seed + 104_729 * self.dist.rank)
        fixed = torch.Generator().manual_seed(config.seed + 2)
        self.z_fixed = torch.randn(max(64, config.n_eval_samples), config.z_dim, generator=fixed).to(self.device)
        self.strengths = Strengths(config.translation_ratio, config.cutout_ratio, config.color_strength, config.p)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.sums = {"loss_d": 0.0, "loss_g": 0.0, "sign_real": 0.0, "n": 0}
        self.ada_sign_sum, self.ada_count = 0.0, 0
        self.train_seconds = 0.0
        self._fidkid: FidKid | None = None
        self._G_step, self._D_step = self.G, self.D
        if self.dist.enabled:  # DDP averages the gradients of every rank in the backward pass
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._G_step = DistributedDataParallel(self.G, device_ids=ids)
            self._D_step = DistributedDataParallel(self.D, device_ids=ids)
        if config.compile:
            self._G_step, self._D_step = torch.compile(self._G_step), torch.compile(self._D_step)

    # -- T and data -------------------------------------------------------
    def T(self, x: Tensor) -> Tensor:
        """The training-time augmentation with the current strengths (p may adapt)."""
        return apply(x, sample_params(x, self.config.policy, self.strengths))

    def T_eval(self, step: int) -> Callable[[Tensor], Tensor]:
        """T with its own seeded generator, so evaluation never disturbs the training streams."""
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + step)
        return lambda x: apply(x, sample_params(x, self.config.policy, self.strengths, generator))

    def next_batch(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """(x_real, z, y_real, y_fake) for one G step: ``d_steps`` batches of ``batch_size`` one after the other.

        Labels only for a conditional pair (else None): the reals' own, and classes drawn uniformly for
        the fakes (as BigGAN-PyTorch draws them). They are drawn last, so an unconditional run draws
        exactly the numbers it always drew.
        """
        n = self.config.batch_size * self.config.d_steps
        index = torch.randint(len(self.reals), (n,), generator=self.data_generator).to(self.device)
        x_real = self.reals[index]
        if self.config.flip_reals:
            flip = (torch.rand(n, generator=self.data_generator) < 0.5).to(self.device)
            x_real = torch.where(flip.view(-1, 1, 1, 1), x_real.flip(3), x_real)
        z = torch.randn(n, self.config.z_dim, generator=self.data_generator).to(self.device)
        if self.config.channels_last:
            x_real = x_real.contiguous(memory_format=torch.channels_last)
        y_real = y_fake = None
        if self.conditional:
            y_real = self.real_labels[index]
            y_fake = torch.randint(self.n_classes, (n,), generator=self.data_generator).to(self.device)
        return x_real, z, y_real, y_fake

    def autocast(self) -> Any:
        enabled = self.config.amp and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    # -- one step -------------------------------------------------------------
    def run_step(self) -> None:
        x_real, z, y_real, y_fake = self.next_batch()
        out = train_step(
            self._G_step, self._D_step, self.opt_g, self.opt_d, x_real, z, self.T, self.config.strategy,
            self.config.loss, self.autocast, y_real, y_fake, self.config.d_steps,
        )
        if self.G_ema is not None:  # before ema_start the EMA is pegged to G (decay 0)
            decay = self.config.ema_decay if self.step >= self.config.ema_start else 0.0
            _ema_update(self.G_ema, self.G, decay)
        # Kept as tensors: no host-device sync until the next evaluation.
        sign = out.d_real_logits.sign().mean()
        self.sums["loss_d"] = self.sums["loss_d"] + out.loss_d
        self.sums["loss_g"] = self.sums["loss_g"] + out.loss_g
        self.sums["sign_real"] = self.sums["sign_real"] + sign
        self.sums["n"] += 1
        if self.config.ada_target is not None:
            self.ada_sign_sum = self.ada_sign_sum + sign
            self.ada_count += 1
            if self.ada_count == self.config.ada_interval:
                self._adjust_p()
        self.step += 1

    def _adjust_p(self) -> None:
        """ADA: move p towards the value at which E[sign(D(x_real))] equals the target.

        p stays a tensor on the training device (no host-device sync): it becomes a number only when
        logged or saved.
        """
        sign_sum = torch.as_tensor(self.ada_sign_sum, dtype=torch.float32, device=self.device)
        images = self.config.batch_size * self.ada_count
        if self.dist.enabled:  # as in ADA, r_t over every rank's reals: all ranks keep the same p
            torch.distributed.all_reduce(sign_sum)  # in place: the running sum is reset below
            sign_sum = sign_sum / self.dist.world_size
        r_t = sign_sum / self.ada_count
        delta = torch.sign(r_t - self.config.ada_target) * (images / (self.config.ada_kimg * 1000))
        p = torch.as_tensor(self.strengths.p, dtype=torch.float32, device=self.device)
        self.strengths.p = (p + delta).clamp(0.0, 1.0)
        self.ada_sign_sum, self.ada_count = 0.0, 0

    # -- evaluation -----------------------------------------------------------
    def fixed_labels(self, n: int) -> Tensor | None:
        """Labels for n evaluation samples of a conditional G: 0, 1, ..., n_classes - 1, 0, 1, ... (None if unconditional)."""
        return torch.arange(n, device=self.device) % self.n_classes if self.conditional else None

    @torch.no_grad()
    def generate(self, z: Tensor, ema: bool = True, labels: Tensor | None = None) -> Tensor:
        """G(z, y) in [-1, 1], from the EMA generator when there is one (unless ``ema=False``).

        labels: the classes (N,) for a conditional G; default :meth:`fixed_labels`. With
        ``sample_with_batch_stats`` the EMA G samples in training mode, ``batch_size`` images at a time.
        """
        use_ema = self.G_ema is not None and ema
        G = self.G_ema if use_ema else self.G
        batch_stats = use_ema and self.config.sample_with_batch_stats
        if labels is None:
            labels = self.fixed_labels(len(z))
        size = self.config.batch_size if batch_stats else 256
        label_batches = labels.split(size) if labels is not None else [None] * len(z.split(size))
        was_training = G.training
        G.train(batch_stats)
        images = torch.cat([G(batch, y).float() for batch, y in zip(z.split(size), label_batches, strict=True)])
        G.train(was_training)
        return images

    def image_gradient(self, fakes: Tensor, T: Callable[[Tensor], Tensor], labels: Tensor | None = None) -> float:
        """Mean per-image L2 norm of dL_G/dG(z) in this strategy's G step (through T where it applies T).

        The size of what D tells G to change: near 0 when D's verdict on what G is scored by has
        saturated, so G learns nothing whatever its images look like.
        """
        augment_fakes_in_g = WHERE_T_IS_APPLIED[self.config.strategy][2]
        with torch.enable_grad():
            x_fake = fakes.detach().requires_grad_(True)
            loss = g_loss(self.config.loss, judge(self.D, T(x_fake) if augment_fakes_in_g else x_fake, labels).float())
            (gradient,) = torch.autograd.grad(loss, x_fake)
        return (gradient.flatten(1).norm(dim=1) * len(x_fake)).mean().item()  # undo the batch mean: per image

    def check_finite(self) -> None:
        """Raise :class:`TrainingDiverged` if a loss of this interval is NaN or infinite (on any rank)."""
        n = max(self.sums["n"], 1)
        loss_d, loss_g = (float(self.sums[k]) / n for k in ("loss_d", "loss_g"))
        if not all_finite(loss_d + loss_g, self.dist):
            last = self.history[-1]["step"] if self.history else 0
            which, value = ("D", loss_d) if not math.isfinite(loss_d) else ("G", loss_g)
            raise TrainingDiverged(
                f"the {which} loss became {value} between steps {last} and {self.step}; the last good checkpoint "
                f"(step {last}) is kept. Try lower learning rates (lr_d, lr_g) or spectral_norm=True."
            )

    def evaluate(self, elapsed: float) -> Record:
        """One metrics row: losses, D on train/held-out reals and fakes (raw and with T), D on the raw G's
        fakes, the gradient G's images receive, FID, KID."""
        n = self.sums["n"]
        loss_d, loss_g = (float(self.sums[k]) / max(n, 1) for k in ("loss_d", "loss_g"))
        n_eval = self.config.n_eval_samples
        with torch.random.fork_rng(devices=[]):
            fakes = self.generate(self.z_fixed[:n_eval])
            D = self.D.eval()
            T = self.T_eval(self.step)
            train_reals = self.reals[:n_eval]
            heldout = self.heldout[:n_eval]
            fake_labels = self.fixed_labels(len(fakes))
            train_labels, heldout_labels = (None if y is None else y[:n_eval] for y in (self.real_labels, self.heldout_labels))
            row: dict[str, float] = {"step": self.step, "loss_d": loss_d, "loss_g": loss_g}
            for name, images, labels, is_real in (("train", train_reals, train_labels, True),
                                                  ("heldout", heldout, heldout_labels, True),
                                                  ("fake", fakes, fake_labels, False)):
                raw = discriminator_report(D, images, is_real, labels=labels)
                augmented = discriminator_report(D, images, is_real, T, labels=labels)
                row[f"d_{name}"], row[f"acc_{name}"] = raw.mean_output, raw.accuracy
                row[f"d_{name}_aug"], row[f"acc_{name}_aug"] = augmented.mean_output, augmented.accuracy
            # D against the generator it trains against (G itself; the samples above come from its EMA),
            # and how hard this strategy's G step pushes on G's images.
            g_fakes = self.generate(self.z_fixed[:n_eval], ema=False)
            verdict = discriminator_report(D, g_fakes, False, labels=fake_labels)
            row["d_fake_g"], row["acc_fake_g"] = verdict.mean_output, verdict.accuracy
            row["g_grad"] = self.image_gradient(g_fakes, T, fake_labels)
            D.train()
            row["d_gap"] = row["d_train"] - row["d_heldout"]
            row["fid"], row["kid"] = self.fidkid().score(fakes)
            row["is"], row["is_std"] = self.fidkid().inception_score(fakes)
        row["p"] = float(self.strengths.p)
        row["r_t"] = float(self.sums["sign_real"]) / max(n, 1)
        row["seconds"] = elapsed
        row["it_per_s"] = n / max(self.train_seconds, 1e-9)
        self.history.append(row)
        self.sums = {"loss_d": 0.0, "loss_g": 0.0, "sign_real": 0.0, "n": 0}
        self.train_seconds = 0.0
        return Record(row, fakes[:64], self.step, self.config.steps)

    def fidkid(self) -> FidKid:
        if self._fidkid is None:
            features = feature_network(self.config.dataset, self.config.resolution).to(self.device)
            self._fidkid = FidKid(features, self.heldout)
        return self._fidkid

    def skip_evaluation(self) -> None:
        """What a non-main rank does at an evaluation: start the next interval."""
        self.sums = {"loss_d": 0.0, "loss_g": 0.0, "sign_real": 0.0, "n": 0}
        self.train_seconds = 0.0

    # -- checkpoints -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {
            "step": self.step,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "history": self.history,
            "p": float(self.strengths.p),
            "rng_cpu": torch.get_rng_state(),
            "rng_data": self.data_generator.get_state(),
            "ada": [float(self.ada_sign_sum), self.ada_count],
            "sums": {k: float(v) for k, v in self.sums.items()},
        }
        if self.G_ema is not None:
            state["G_ema"] = self.G_ema.state_dict()
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"])
        self.history = list(state["history"])
        self.strengths.p = state["p"]
        if self.dist.rank == 0:
            torch.set_rng_state(state["rng_cpu"])
            self.data_generator.set_state(state["rng_data"])
        else:  # the checkpoint holds rank 0's streams; the others continue on fresh, distinct ones
            seed = self.config.seed + 104_729 * self.dist.rank + 15_485_863 * self.step
            torch.manual_seed(seed)
            self.data_generator.manual_seed(seed + 1)
        if "rng_cuda" in state and self.device.type == "cuda" and self.dist.rank == 0:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.ada_sign_sum, self.ada_count = state["ada"][0], int(state["ada"][1])
        self.sums = dict(state["sums"])
        self.sums["n"] = int(self.sums["n"])


class Store(Protocol):
    """Where a run is saved and resumed from (:class:`diffaug_lessons.runs.Run` is one)."""

    path: Path

    def resume_state(self) -> dict[str, Any] | None:
        """The last consistent checkpoint, or None to start afresh."""

    def save(self, experiment: Experiment, record: Record | None, status: str) -> None:
        """Save the experiment's whole state (taken between two steps) with ``status``."""

    def mark(self, status: str) -> None:
        """Change the saved status only."""


def train(
    config: TrainConfig,
    *,
    store: Store | None = None,
    callbacks: Sequence[Callable[[Record], None]] = (),
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train one GAN as ``config`` says and return its history and models.

    With ``store`` (a run folder: :func:`diffaug_lessons.runs.train_in_folder`) the run is saved at
    every evaluation and resumed from its last checkpoint. ``callbacks`` get a :class:`Record` at every
    evaluation (a notebook can draw live); ``should_stop`` is polled between steps.

    Whatever stops a run, what is saved is a state between two steps, so resuming it gives the very
    numbers of an uninterrupted run: a stop asked for by ``should_stop`` or a callback
    (:class:`TrainingStopped`) saves the state where it stopped; anything else (Ctrl-C, an error, a
    killed process) can strike mid-step, so the state of the last evaluation is kept as it was saved
    and the folder is only marked "stopped". Under torchrun only rank 0 saves.
    """
    dist_info = distributed_setup()
    experiment = Experiment(config, dist_info)
    saving = store is not None and dist_info.is_main
    state = store.resume_state() if store is not None else None
    if state is not None:
        experiment.load_state_dict(state)
    finished_saved = False  # a run resumed at its last step still needs its final save
    status = "complete"
    started = time.perf_counter()
    bar = tqdm(total=config.steps, initial=experiment.step, desc=config.strategy, leave=False,
               disable=not progress or not dist_info.is_main)
    try:
        while experiment.step < config.steps:
            if should_stop is not None and should_stop():  # under torchrun: must answer alike on every rank
                raise TrainingStopped
            tick = time.perf_counter()
            experiment.run_step()
            experiment.train_seconds += time.perf_counter() - tick
            bar.update(1)
            if experiment.step % config.eval_every == 0 or experiment.step == config.steps:
                experiment.check_finite()
                if not dist_info.is_main:
                    experiment.skip_evaluation()
                    continue
                record = experiment.evaluate(time.perf_counter() - started)
                bar.set_postfix(fid=f"{record.row['fid']:.1f}", gap=f"{record.row['d_gap']:.2f}")
                finished_saved = experiment.step == config.steps
                if saving:
                    store.save(experiment, record, status="complete" if finished_saved else "running")
                for callback in callbacks:
                    callback(record)
        if saving and not finished_saved:
            store.save(experiment, None, status="complete")
    except TrainingStopped:  # raised between steps: the state in memory is consistent
        status = "stopped"
        if saving:
            store.save(experiment, None, status="stopped")
    except TrainingDiverged:
        if saving:
            store.mark("diverged")
        raise
    except BaseException:  # Ctrl-C, an error, a failed write: possibly mid-step, so keep the last save
        if saving:
            with contextlib.suppress(Exception):  # a full disk must not hide the original error
                store.mark("stopped")
        raise
    finally:
        bar.close()
    return TrainResult(
        config, experiment.history, experiment.G_ema or experiment.G, experiment.D, experiment.train_set,
        experiment.heldout_set, experiment.generate(experiment.z_fixed[:64]), status,
        store.path if store is not None else None,
    )


def numerics_probe(steps: int = 6) -> list[float]:
    """The numbers a tiny DiffAugment + ADA + EMA run gives in ``steps`` steps, computed in float64.

    Covers T (colour, translation, cutout, with p < 1), both models, both optimisers, EMA and ADA's p:
    the two losses, p, and for G, D and the EMA G the sum of their parameters and buffers and two fixed
    random projections of them, then two projections of T applied to eight reals. In float64 the
    rounding of one CPU's kernels differs from another's (``ATEN_CPU_CAPABILITY``, ``NUMBA_CPU_NAME``)
    by about 1e-15 relative, while a change of what the code computes moves these numbers by far more
    than :data:`~diffaug_lessons.numerics.TOLERANCE` (tests/test_numerics.py shows both). So comparing
    them with :data:`~diffaug_lessons.numerics.PROBE` tells a change of code from a change of machine.

    What it cannot see: code that only float32, bf16 autocast or CUDA runs (a change of dtype handling),
    evaluation (FID/KID, which never feeds back into training), conditional models and ``d_steps > 1``.
    """
    config = TrainConfig(
        resolution=8, g_width=8, d_width=8, z_dim=16, n_train=64, n_heldout=64, batch_size=16, steps=steps,
        eval_every=steps, n_eval_samples=32, device="cpu", strategy="diffaugment", p=0.7, ada_target=0.6,
        ada_interval=2,
    )
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.random.fork_rng(devices=[]):
            experiment = Experiment(config)
            experiment.reals = experiment.reals.double()
            experiment.heldout = experiment.heldout.double()
            for _ in range(steps):
                experiment.run_step()
            numbers = [float(experiment.sums["loss_d"]), float(experiment.sums["loss_g"]), float(experiment.strengths.p)]
            directions = torch.Generator().manual_seed(12345)
            for model in (experiment.G, experiment.D, experiment.G_ema):
                flat = torch.cat([value.detach().double().flatten() for value in model.state_dict().values()])
                numbers.append(flat.sum().item())
                numbers += [(flat @ torch.randn(len(flat), generator=directions, dtype=torch.float64)).item()
                            for _ in range(2)]
            augmented = experiment.T(experiment.reals[:8]).flatten()
            numbers += [(augmented @ torch.randn(len(augmented), generator=directions, dtype=torch.float64)).item()
                        for _ in range(2)]
    finally:
        torch.set_default_dtype(dtype)
    return numbers


def numerics_changed(found: Sequence[float], recorded: Sequence[float], tolerance: float) -> list[int]:
    """The indices where ``found`` differs from ``recorded`` by more than ``tolerance`` relative (of the
    larger magnitude, at least 1); all of them if the counts differ."""
    if len(found) != len(recorded):
        return list(range(max(len(found), len(recorded))))
    return [i for i, (a, b) in enumerate(zip(found, recorded))
            if not abs(a - b) <= tolerance * max(abs(a), abs(b), 1.0)]


def default_device_preset() -> str:
    """'gpu' when CUDA is present, else 'cpu'."""
    return "gpu" if torch.cuda.is_available() else "cpu"


PRESETS = ("cpu", "gpu", "quick", "biggan-cifar")

# The official DiffAugment-biggan-cifar scripts (e.g. scripts/DiffAugment-biggan-cifar10-0.1.sh) with the
# defaults of their train.py, as TrainConfig fields. tests/test_biggan.py lists the scripts' flags beside them.
BIGGAN_CIFAR = dict(
    dataset="cifar10", resolution=32, n_train=None, n_heldout=10_000, flip_reals=True,
    strategy="diffaugment", policy="translation,cutout",
    architecture="biggan", z_dim=128, g_width=256, d_width=256, spectral_norm=True, loss="hinge",
    batch_size=50, d_steps=4, lr_g=2e-4, lr_d=2e-4, betas=(0.0, 0.999),
    ema_decay=0.9999, ema_start=1000, sample_with_batch_stats=True,
    eval_every=4000, n_eval_samples=10_000,
)


def resolve_preset(preset: str | None) -> str:
    """``preset``, checked; None: "quick" in quick mode (``DIFFAUG_LESSONS_QUICK=1``), else by the device."""
    if preset is None:
        preset = "quick" if settings.quick_mode() else default_device_preset()
    return check_choice("preset", preset, PRESETS)


def lesson_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """The config the lessons start from, for a preset.

    - ``cpu``: 16x16 digits, small DCGAN; a few minutes per run on a laptop.
    - ``gpu``: 32x32, wider nets, bf16 autocast, longer.
    - ``quick``: tiny runs so CI executes every notebook in minutes
      (chosen automatically when ``DIFFAUG_LESSONS_QUICK=1``).
    - ``biggan-cifar``: the paper's CIFAR-10 setting (:data:`BIGGAN_CIFAR`): class-conditional BigGAN,
      4 D steps per G step, batch 50, fp32; unless ``steps`` is given, the iterations the official
      scripts' epochs give for the amount of data (100%: 250k, 20%: 250k, 10%: 125k).
    ``overrides`` replace any field.
    """
    preset = resolve_preset(preset)
    base: dict[str, Any] = {
        "cpu": {},
        "gpu": dict(resolution=32, g_width=64, d_width=64, steps=20_000, batch_size=64, eval_every=1000,
                    n_eval_samples=1000, amp=True, channels_last=True, device="cuda", spectral_norm=True),
        "quick": dict(steps=40, eval_every=20, n_eval_samples=100, n_heldout=100),
        "biggan-cifar": BIGGAN_CIFAR,
    }[preset]
    values = {**base, **overrides}
    if preset == "biggan-cifar" and "steps" not in overrides:
        values["steps"] = _official_biggan_steps(values)
    return TrainConfig(**values)


def _official_biggan_steps(values: dict[str, Any]) -> int:
    """G steps of the official schedule for the training images that ``values`` select from CIFAR's 50,000."""
    if values.get("n_train") is not None:
        images = values["n_train"]
    elif values.get("fraction") is not None:
        images = max(1, math.floor(values["fraction"] * CIFAR_TRAIN_IMAGES + 0.5))  # as train_heldout_split
    else:
        images = CIFAR_TRAIN_IMAGES
    return official_iterations(images, values.get("batch_size", 50), values.get("d_steps", 4))
