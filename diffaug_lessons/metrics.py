"""How good are the samples, and is D memorising?

- FID and KID come from torchmetrics (maintained, offline, accepts any feature network).
- The Inception Score (IS) is computed here from the same network's class probabilities, with the
  formula and the 10 consecutive splits of the official BigGAN code (:func:`inception_score`), so one
  weights file serves FID and IS (torchmetrics' IS would load torch-fidelity's copy of the network,
  a second download, and shuffles the samples before splitting them).
- Features: for the embedded datasets a small classifier trained once on that dataset
  (seeded, cached under ``settings.home()``); for the faces a face vs non-face network
  (:mod:`diffaug_lessons.face_features`); for CIFAR and image folders NVIDIA's
  TorchScript Inception (``inception-2015-12-05.pt``), downloaded once, or taken from
  the path in ``DIFFAUG_LESSONS_INCEPTION``.
- ``discriminator_report``: D's mean output and accuracy on a set of images; the gap
  between training and held-out reals is the overfitting signal of lesson 01.
- ``memorisation``: how close generated samples sit to their nearest training image,
  relative to how close unseen reals sit.

All images are NCHW in [-1, 1].
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from . import settings
from .atomic import atomic_save_torch
from .download import DownloadError, fetch_verified, file_digest
from .face_features import face_feature_network

Tensor = torch.Tensor

FEATURE_NET_VERSION = 1
EMBEDDED_DATASETS = ("digits", "shapes")
INCEPTION_ENV = "DIFFAUG_LESSONS_INCEPTION"
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
# SHA-256 of NVIDIA's file (95,607,719 bytes), as pinned by other projects that load it (k-diffusion, clean-fid users).
INCEPTION_SHA256 = "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"


class FeatureClassifier(nn.Module):
    """A small CNN classifier; its 64-d penultimate layer is the feature space for FID/KID.

    ``forward`` returns features (N, 64) so torchmetrics can use it directly;
    ``classify`` returns class logits.
    """

    num_features = 64

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(256, self.num_features), nn.ReLU(),
        )
        self.head = nn.Linear(self.num_features, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x.float())

    def classify(self, x: Tensor) -> Tensor:
        return self.head(self.body(x.float()))

    def class_probabilities(self, x: Tensor) -> Tensor:
        """Softmax over the dataset's classes (N, n_classes): a classifier-based Inception Score."""
        return self.classify(x).softmax(dim=1)


def train_feature_classifier(images: Tensor, labels: Tensor, epochs: int = 15, seed: int = 0) -> FeatureClassifier:
    """Train a :class:`FeatureClassifier` on (images, labels); deterministic for a seed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = FeatureClassifier(images.shape[1], int(labels.max()) + 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for batch in order.split(64):
            loss = F.cross_entropy(net.classify(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval().requires_grad_(False)


def feature_network(dataset: str, resolution: int) -> nn.Module:
    """The feature network for FID/KID on ``dataset`` at ``resolution`` (cached after first use)."""
    if dataset == "faces":
        return face_feature_network(resolution)
    if dataset not in EMBEDDED_DATASETS:
        return InceptionFeatures()
    from .data import load_dataset

    path = settings.home() / "features" / f"{dataset}_{resolution}px_v{FEATURE_NET_VERSION}.pt"
    data = load_dataset(dataset, resolution)
    net = FeatureClassifier(data.images.shape[1], int(data.labels.max()) + 1)
    if path.exists():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval().requires_grad_(False)
    net = train_feature_classifier(data.images, data.labels)
    atomic_save_torch(net.state_dict(), path)
    return net


def classifier_accuracy(net: FeatureClassifier, images: Tensor, labels: Tensor) -> float:
    """Fraction of ``images`` that ``net`` labels correctly."""
    with torch.no_grad():
        return (net.classify(images).argmax(1) == labels).float().mean().item()


class InceptionFeatures(nn.Module):
    """2048-d pool features of NVIDIA's TorchScript Inception-v3 (the network behind reported FIDs).

    Looks for the file at ``$DIFFAUG_LESSONS_INCEPTION``, then in the cache; downloads it
    if missing. Loaded only after its SHA-256 matches the pinned one (:func:`inception_path`).
    """

    num_features = 2048

    def __init__(self) -> None:
        super().__init__()
        path = inception_path()
        self.net = torch.jit.load(str(path), map_location="cpu").eval()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self._uint8_rgb(x), return_features=True)

    def class_probabilities(self, x: Tensor) -> Tensor:
        """Softmax over Inception's 1008 classes (N, 1008), without the output layer's bias, as the
        original Inception Score code (and StyleGAN2-ADA's IS) computes it."""
        return self.net(self._uint8_rgb(x), no_output_bias=True)

    @staticmethod
    def _uint8_rgb(x: Tensor) -> Tensor:
        x = ((x.float() + 1) * 127.5).clamp(0, 255).to(torch.uint8)
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def inception_path(download: bool = True) -> Path:
    """Path of a verified local copy of ``inception-2015-12-05.pt``.

    The file is TorchScript, and loading TorchScript runs code: it is loaded only once its SHA-256
    equals the one pinned here (:data:`INCEPTION_SHA256`, the file NVIDIA publishes). Looks at
    ``$DIFFAUG_LESSONS_INCEPTION`` first (never moved or changed), then in the cache, downloading it
    there if missing and ``download`` is set.
    """
    hint = f"Or set {INCEPTION_ENV} to a verified local copy."
    if os.environ.get(INCEPTION_ENV):
        path = Path(os.environ[INCEPTION_ENV]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{INCEPTION_ENV} points at {path}, which is not a file")
        found = file_digest(path, "sha256")
        if found != INCEPTION_SHA256:
            raise DownloadError(
                f"{path} (from {INCEPTION_ENV}) has SHA-256 {found}, not the pinned {INCEPTION_SHA256} of "
                f"{INCEPTION_URL}: it is incomplete or another file, and it is not loaded (TorchScript runs code)."
            )
        return path
    path = settings.home() / "weights" / "inception-2015-12-05.pt"
    return fetch_verified(INCEPTION_URL, path, INCEPTION_SHA256, algorithm="sha256", download=download, hint=hint)


# ---------------------------------------------------------------------------
# FID / KID against a fixed set of reals
# ---------------------------------------------------------------------------


class FidKid:
    """FID and KID of generated images against a fixed reference set.

    The reference features are computed once; each :meth:`score` call only embeds the fakes.
    Compare scores only at the same number of fakes: FID is biased at small sample sizes.
    """

    def __init__(self, features: nn.Module, reals: Tensor, kid_subsets: int = 20, kid_subset_size: int = 100) -> None:
        self.device = reals.device
        self.features = features
        self.kid_subsets, self.kid_subset_size = kid_subsets, min(kid_subset_size, len(reals))
        # Only rank 0 evaluates under torchrun: the metrics must not wait for the other ranks.
        self.fid = FrechetInceptionDistance(feature=features, reset_real_features=False, sync_on_compute=False)
        self.fid = self.fid.to(self.device)
        with warnings.catch_warnings():  # it warns that it keeps all features: a few thousand here
            warnings.simplefilter("ignore", UserWarning)
            self.kid = KernelInceptionDistance(
                feature=features, reset_real_features=False, subsets=kid_subsets, subset_size=self.kid_subset_size,
                sync_on_compute=False,
            ).to(self.device)
        with torch.no_grad():
            for batch in reals.split(256):
                self.fid.update(batch, real=True)
                self.kid.update(batch, real=True)

    @torch.no_grad()
    def score(self, fakes: Tensor) -> tuple[float, float]:
        """(FID, KID) of ``fakes`` (N, C, H, W) in [-1, 1] against the reference reals."""
        self.fid.reset()
        self.kid.reset()
        self.kid.subset_size = min(self.kid_subset_size, len(fakes))
        for batch in fakes.to(self.device).split(256):
            self.fid.update(batch, real=False)
            self.kid.update(batch, real=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # KID draws random subsets: keep the score repeatable
            kid_mean, _ = self.kid.compute()
        return float(self.fid.compute()), float(kid_mean)

    @torch.no_grad()
    def inception_score(self, fakes: Tensor, splits: int = 10) -> tuple[float, float]:
        """(mean, std) of the Inception Score of ``fakes`` over ``splits`` parts, on the feature network's
        class probabilities; (nan, nan) for a feature network without them."""
        if not hasattr(self.features, "class_probabilities"):
            return float("nan"), float("nan")
        probabilities = [self.features.class_probabilities(batch) for batch in fakes.to(self.device).split(256)]
        return inception_score(torch.cat(probabilities), splits)


def inception_score(probabilities: Tensor, splits: int = 10) -> tuple[float, float]:
    """Inception Score exp(E_x KL(p(y|x) || p(y))) of class probabilities (N, classes), rows summing to 1.

    As the official BigGAN code computes it: the N images are cut into ``splits`` consecutive parts of
    N // splits (the remainder is left out), p(y) is each part's mean, and the result is the mean and the
    (population) standard deviation of the parts' scores. 1 (every image alike) to the number of classes
    (each image one sure class, all classes equally often).
    """
    if len(probabilities) < splits:
        raise ValueError(f"the Inception Score needs at least one image per split: {len(probabilities)} images, "
                         f"{splits} splits")
    size = len(probabilities) // splits
    scores = []
    for part in probabilities.double()[: size * splits].split(size):
        marginal = part.mean(dim=0, keepdim=True)
        kl = (torch.xlogy(part, part) - torch.xlogy(part, marginal)).sum(dim=1).mean()
        scores.append(kl.exp())
    stacked = torch.stack(scores)
    return stacked.mean().item(), stacked.std(unbiased=False).item()


# ---------------------------------------------------------------------------
# What D thinks, and memorisation
# ---------------------------------------------------------------------------


@dataclass
class DReport:
    """D's verdict on a set of images: mean of sigmoid(D) and the fraction judged correctly."""

    mean_output: float
    accuracy: float


def judge(D: nn.Module, images: Tensor, labels: Tensor | None = None) -> Tensor:
    """D's logits (N,) on ``images``: D(x) for an unconditional D, D(x, y) for a conditional one."""
    return D(images) if labels is None else D(images, labels)


@torch.no_grad()
def discriminator_report(
    D: nn.Module, images: Tensor, is_real: bool, T: Callable[[Tensor], Tensor] | None = None, batch_size: int = 256,
    labels: Tensor | None = None,
) -> DReport:
    """D's mean output (sigmoid of the logit, 1 = "real") and accuracy on ``images``.

    A real image is judged correctly when D's logit is > 0, a fake when it is < 0.
    With ``T`` the images are augmented first (what D sees during training).
    labels: the classes (N,) a conditional D judges the images as; None for an unconditional D.
    """
    logits = []
    label_batches = labels.split(batch_size) if labels is not None else [None] * len(images.split(batch_size))
    for batch, y in zip(images.split(batch_size), label_batches, strict=True):
        logits.append(judge(D, T(batch) if T is not None else batch, y).float())
    logit = torch.cat(logits)
    correct = logit > 0 if is_real else logit < 0
    return DReport(torch.sigmoid(logit).mean().item(), correct.float().mean().item())


@torch.no_grad()
def nearest_neighbours(queries: Tensor, references: Tensor, batch_size: int = 512) -> tuple[Tensor, Tensor]:
    """For each query image, the L2 distance to its nearest reference image and that image's index."""
    flat_refs = references.flatten(1).float()
    distances, indices = [], []
    for batch in queries.flatten(1).float().split(batch_size):
        d = torch.cdist(batch, flat_refs)
        best = d.min(dim=1)
        distances.append(best.values)
        indices.append(best.indices)
    return torch.cat(distances), torch.cat(indices)


@dataclass
class Memorisation:
    """Nearest-training-image distances of samples, relative to those of unseen reals.

    ``ratio`` = median distance of generated samples to their nearest training image /
    median distance of held-out reals to theirs. Around 1: samples are as novel as fresh
    data. Well below 1: G reproduces its training images.
    """

    sample_distance: float
    heldout_distance: float
    ratio: float


def memorisation(samples: Tensor, train_images: Tensor, heldout_images: Tensor) -> Memorisation:
    """Compare how close ``samples`` and ``heldout_images`` come to ``train_images``."""
    sample_d, _ = nearest_neighbours(samples, train_images)
    heldout_d, _ = nearest_neighbours(heldout_images, train_images)
    s, h = sample_d.median().item(), heldout_d.median().item()
    return Memorisation(s, h, s / h if h > 0 else float("nan"))


@torch.no_grad()
def nearest_other_distances(images: Tensor, with_mirrors: bool = True) -> Tensor:
    """For each image of a set, the L2 distance to its nearest *other* image of the same set: (N,).

    The yardstick of the 100-shot memorisation check, where no held-out images exist: a generated
    sample that sits much closer to a training image than the training images sit to each other is
    a copy. with_mirrors: the others' mirror images count as candidates too (not an image's own
    mirror), for runs whose reals were flipped during training.
    """
    flat = images.flatten(1).float()
    distances = torch.cdist(flat, flat)
    distances.fill_diagonal_(float("inf"))
    if with_mirrors:
        to_mirrors = torch.cdist(flat, images.flip(3).flatten(1).float())
        to_mirrors.fill_diagonal_(float("inf"))
        distances = torch.minimum(distances, to_mirrors)
    return distances.min(dim=1).values


@torch.no_grad()
def novelty(samples: Tensor, train_images: Tensor, with_mirrors: bool = False) -> float:
    """How far ``samples`` sit from the training images, on the scale of the training images' own spacing:
    the median L2 distance of a sample to its nearest training image over the median distance of a
    training image to its nearest other one (``with_mirrors``: mirror images count on both sides, for runs
    that flipped their reals). About 1 or above: as novel as another training image; well below 1: copies.
    Needs no held-out reals, so it also judges the 100-shot runs, whose FID rewards copies."""
    candidates = torch.cat([train_images, train_images.flip(3)]) if with_mirrors else train_images
    to_train = nearest_neighbours(samples, candidates)[0].median()
    between = nearest_other_distances(train_images, with_mirrors=with_mirrors).median()
    return float(to_train / between)
