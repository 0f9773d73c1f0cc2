"""The feature space for FID/KID on the 100 faces: a small CNN that tells faces from non-faces.

Why this network. FID/KID are only as good as their features. The digit classifier's features know
nothing of faces, and NVIDIA's Inception needs a download and sees 16x16 greyscale crops as
blurry noise. scikit-image's LFW subset ships, besides its 100 faces, 100 background crops of the
same photographs (:func:`diffaug_lessons.data.lfw_subset`). A CNN trained to tell the two apart
has to encode what makes a crop a face (two eyes above a nose above a mouth, the oval of the
head, skin against background), which is what a face generator must get right. It trains in
seconds on the 200 crops, deterministically for a seed, and is cached like the digit classifier.

It is trained with augmentations that keep a face a face (shifts of a pixel or two, brightness
and contrast jitter), so that its features describe faces rather than the 100 exact crops it
saw. It is *not* trained with blur, noise, holes or flips: those would teach it to ignore the
very defects FID must see, and a mirrored face should stay measurably different from the
original so that "the training faces flipped" gives a non-zero reference score.

:data:`DEGRADATIONS` and :func:`degrade` damage faces in controlled ways; the metric is sane when
stronger damage scores monotonically worse (``tests/test_faces.py`` checks that ordering).
All images are NCHW in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import settings
from .atomic import atomic_save_torch
from .data import faces, lfw_subset
from .errors import check_choice

Tensor = torch.Tensor

FACE_FEATURES_VERSION = 1


class FaceFeatureNet(nn.Module):
    """Face vs non-face classifier whose features for FID/KID are taken at three depths: (N, 160).

    Input: (N, 1, H, W) in [-1, 1], H = W a power of two >= 8. ``classify`` returns the logit (N,)
    of "this is a face". The features are the spatial means of the first two conv layers' responses
    (32 + 64: local texture, where noise and blur show) and the 64-d penultimate layer (the layout of
    a face), each group multiplied by its entry of ``scales`` so that it has unit root-mean-square on
    the real faces: no group drowns the others, and KID's cubic kernel stays in its usual range.
    """

    num_features = 160

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1), nn.LeakyReLU(0.2))
        self.conv2 = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(32, 64, 3, 1, 1), nn.LeakyReLU(0.2))
        self.top = nn.Sequential(
            nn.AvgPool2d(2), nn.Conv2d(64, 64, 3, 1, 1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(256, 64), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.head = nn.Linear(64, 1)
        self.register_buffer("scales", torch.ones(3))

    def groups(self, x: Tensor) -> list[Tensor]:
        """Unscaled features: [layer 1 means (N, 32), layer 2 means (N, 64), penultimate (N, 64)]."""
        first = self.conv1(x.float())
        second = self.conv2(first)
        return [first.mean(dim=(2, 3)), second.mean(dim=(2, 3)), self.top(second)]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([group * scale for group, scale in zip(self.groups(x), self.scales)], dim=1)

    def classify(self, x: Tensor) -> Tensor:
        return self.head(self.top(self.conv2(self.conv1(x.float()))))[:, 0]


def _jitter(x: Tensor, generator: torch.Generator) -> Tensor:
    """Augmentations that keep a face a face: shift by up to 1/16 of the side, brightness, contrast."""
    n, _, h, w = x.shape
    shift = max(1, round(h / 16))
    dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=generator))
    x = torch.roll(x, (dy, dx), dims=(2, 3))
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.4
    contrast = 0.75 + 0.5 * torch.rand(n, 1, 1, 1, generator=generator)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + brightness).clamp(-1, 1)


def train_face_features(resolution: int, steps: int = 300, seed: int = 0) -> FaceFeatureNet:
    """Train a :class:`FaceFeatureNet` on the 200 LFW crops at ``resolution``; deterministic for a seed."""
    crops = lfw_subset(resolution)
    is_face = crops.labels.float()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FaceFeatureNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(steps):
        batch = torch.randint(len(crops), (32,), generator=generator)
        logits = net.classify(_jitter(crops.images[batch], generator))
        loss = F.binary_cross_entropy_with_logits(logits, is_face[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval().requires_grad_(False)
    with torch.no_grad():
        groups = net.groups(crops.images[crops.labels == 1])
        net.scales.copy_(torch.stack([group.pow(2).mean().rsqrt() for group in groups]))
    return net


def face_feature_network(resolution: int) -> FaceFeatureNet:
    """The faces' feature network at ``resolution``, trained on first use and cached under ``settings.home()``."""
    path = settings.home() / "features" / f"faces_{resolution}px_v{FACE_FEATURES_VERSION}.pt"
    if path.exists():
        net = FaceFeatureNet()
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval().requires_grad_(False)
    net = train_face_features(resolution)
    atomic_save_torch(net.state_dict(), path)
    return net


# ---------------------------------------------------------------------------
# Controlled damage, for checking that the metric ranks it
# ---------------------------------------------------------------------------


def blur(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels (edges replicated)."""
    radius = max(1, int(3 * sigma + 0.5))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(x.shape[1], 1, 1, -1).contiguous(), groups=x.shape[1])
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(x.shape[1], 1, -1, 1).contiguous(), groups=x.shape[1])


def add_noise(x: Tensor, std: float, generator: torch.Generator) -> Tensor:
    """Additive Gaussian noise of standard deviation ``std`` (the range [-1, 1] has width 2), clamped."""
    return (x + std * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


def cutout_hole(x: Tensor, fraction: float, generator: torch.Generator) -> Tensor:
    """A mid-grey (0) square of side ``fraction`` x the image side at a random place in each image."""
    n, _, h, w = x.shape
    side = max(1, round(fraction * h))
    top = torch.randint(0, h - side + 1, (n,), generator=generator)
    left = torch.randint(0, w - side + 1, (n,), generator=generator)
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + side).view(n, 1, 1))
              & (cols >= left.view(n, 1, 1)) & (cols < (left + side).view(n, 1, 1)))
    return x.masked_fill(inside.unsqueeze(1), 0.0)


def shuffle_pixels(x: Tensor, fraction: float, generator: torch.Generator) -> Tensor:
    """Move a random ``fraction`` of each image's pixels to each other's places (a random permutation)."""
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w).clone()
    k = round(fraction * h * w)
    for i in range(n):
        chosen = torch.randperm(h * w, generator=generator)[:k]
        flat[i, :, chosen] = flat[i, :, chosen[torch.randperm(k, generator=generator)]]
    return flat.reshape(n, c, h, w)


# Each kind of damage with three strengths, mild to severe: blur's sigma in pixels at 16px (scaled with
# the resolution), the noise's std, the hole's side as a fraction of the image's, the fraction of pixels shuffled.
DEGRADATIONS: dict[str, tuple[Callable[[Tensor, float, torch.Generator], Tensor], tuple[float, ...]]] = {
    "blur": (blur, (0.5, 1.0, 2.0)),
    "noise": (add_noise, (0.1, 0.2, 0.4)),
    "cutout": (cutout_hole, (0.25, 0.5, 0.75)),
    "shuffle": (shuffle_pixels, (0.1, 0.3, 1.0)),
}


def degrade(images: Tensor, kind: str, strength: float, seed: int = 0) -> Tensor:
    """``images`` damaged by one of :data:`DEGRADATIONS` at ``strength`` (blur's sigma scales with
    the resolution: the strengths are for 16px)."""
    check_choice("degradation", kind, tuple(DEGRADATIONS))
    function, _ = DEGRADATIONS[kind]
    if function is blur:
        strength = strength * images.shape[-1] / 16
    return function(images.float(), strength, torch.Generator().manual_seed(seed))


def reference_sets(resolution: int, n_samples: int) -> dict[str, Tensor]:
    """Two sets of real faces to score like a generator's samples, (n_samples, 1, res, res) each.

    "the training faces themselves": what a generator that copies its training set scores (FID about
    0: why the 100-shot protocol needs a memorisation check). "the training faces flipped": real faces
    that are not the training images, the "good" end of the scale for a generator that does not copy.
    Each face is repeated (in order) to make ``n_samples``, the count the runs are scored at: FID
    depends on it.
    """
    reals = faces(resolution).images
    repeated = reals.repeat(-(-n_samples // len(reals)), 1, 1, 1)[:n_samples]
    return {"the training faces themselves": repeated, "the training faces flipped": repeated.flip(3)}
