"""The class-conditional BigGAN pair behind the paper's CIFAR table.

The official DiffAugment-biggan-cifar code (BigGAN-PyTorch, configured by its scripts) trains these
two networks; this module rebuilds them for 32x32 (CIFAR) and 16x16 (the digits miniature).

- ``BigGANGenerator``: z (N, z_dim) and a class y (N,) -> image (N, C, H, W) in [-1, 1]. A linear
  layer makes a 4x4 map; residual up-blocks follow, whose batch norms take their scale and shift
  from the class (conditional batch norm: ``BN(h) * (1 + gain[y]) + bias[y]``); then BN, ReLU,
  3x3 conv, tanh.
- ``BigGANDiscriminator``: image and class -> one logit per image (N,). Residual down-blocks, ReLU,
  a sum over the pixels gives features h; the logit is ``linear(h) + <embed[y], h>``: the
  projection discriminator (Miyato & Koyama 2018), which asks "is this a real image *of class y*".

Spectral norm (one power iteration per forward, eps 1e-8) wraps every conv and linear layer of both
networks and D's class embedding; G's class embeddings stay plain, as in the official code. Weights
start from N(0, 0.02) (the scripts' ``--G_init N02 --D_init N02``), biases from PyTorch's default.
Channels: 256 in every block at the official width (``G_ch = D_ch = 64``, times 4 at 32x32).

32x32: G 4 -> 8 -> 16 -> 32; D 32 -> 16 -> 8, then two blocks at 8x8. 16x16: one up-block and one
down-block fewer, so D also ends at 8x8.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

Tensor = torch.Tensor

RESOLUTIONS = (16, 32)
SN_EPS = 1e-8  # BigGAN-PyTorch's --SN_eps default, which the official scripts keep
INIT_STD = 0.02


def _init(module: nn.Module, sn: bool) -> nn.Module:
    """N(0, 0.02) weights, then spectral norm if ``sn``."""
    nn.init.normal_(module.weight, 0.0, INIT_STD)
    return spectral_norm(module, eps=SN_EPS) if sn else module


def _check(resolution: int, n_classes: int) -> None:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"BigGAN resolution {resolution!r} is not supported; choose from "
                         f"{', '.join(map(str, RESOLUTIONS))}")
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"a class-conditional BigGAN needs n_classes >= 1; got {n_classes!r}")


class ConditionalBatchNorm(nn.Module):
    """Batch norm without its own affine part; the class y sets the scale 1 + gain[y] and the shift bias[y]."""

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = _init(nn.Embedding(n_classes, channels), sn=False)
        self.bias = _init(nn.Embedding(n_classes, channels), sn=False)

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        gain, bias = self.gain(y)[:, :, None, None], self.bias(y)[:, :, None, None]
        return self.bn(h) * (1 + gain) + bias


class GBlock(nn.Module):
    """cBN, ReLU, 2x nearest upsample, conv 3x3, cBN, ReLU, conv 3x3; shortcut: upsample, conv 1x1."""

    def __init__(self, cin: int, cout: int, n_classes: int, sn: bool) -> None:
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm(cin, n_classes), ConditionalBatchNorm(cout, n_classes)
        self.conv1 = _init(nn.Conv2d(cin, cout, 3, 1, 1), sn)
        self.conv2 = _init(nn.Conv2d(cout, cout, 3, 1, 1), sn)
        self.conv_sc = _init(nn.Conv2d(cin, cout, 1), sn)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    """[ReLU], conv 3x3, ReLU, conv 3x3, [avg-pool 2]; shortcut: conv 1x1 and pool when shapes change.

    The first block sees the image itself: no ReLU before it, and its shortcut pools before the conv
    (the others convolve first), as in BigGAN-PyTorch.
    """

    def __init__(self, cin: int, cout: int, downsample: bool, preactivation: bool, sn: bool) -> None:
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1 = _init(nn.Conv2d(cin, cout, 3, 1, 1), sn)
        self.conv2 = _init(nn.Conv2d(cout, cout, 3, 1, 1), sn)
        self.conv_sc = _init(nn.Conv2d(cin, cout, 1), sn) if (cin != cout or downsample) else None

    def _pool(self, h: Tensor) -> Tensor:
        return F.avg_pool2d(h, 2) if self.downsample else h

    def shortcut(self, x: Tensor) -> Tensor:
        if self.conv_sc is None:
            return self._pool(x)
        return self._pool(self.conv_sc(x)) if self.preactivation else self.conv_sc(self._pool(x))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        return h + self.shortcut(x)


class BigGANGenerator(nn.Module):
    """Class-conditional BigGAN generator: (z (N, z_dim), y (N,) int64 in [0, n_classes)) -> (N, C, H, W) in [-1, 1]."""

    def __init__(self, z_dim: int = 128, channels: int = 3, resolution: int = 32, width: int = 256,
                 n_classes: int = 10, spectral_norm: bool = True) -> None:
        super().__init__()
        _check(resolution, n_classes)
        self.z_dim, self.resolution, self.n_classes, self.width = z_dim, resolution, n_classes, width
        self.linear = _init(nn.Linear(z_dim, width * 4 * 4), spectral_norm)
        n_up = int(math.log2(resolution // 4))
        self.blocks = nn.ModuleList(GBlock(width, width, n_classes, spectral_norm) for _ in range(n_up))
        self.to_image = nn.Sequential(
            nn.BatchNorm2d(width), nn.ReLU(), _init(nn.Conv2d(width, channels, 3, 1, 1), spectral_norm), nn.Tanh()
        )

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """y: the classes (N,); None gives a balanced set, class i % n_classes for the i-th z."""
        if y is None:
            y = torch.arange(len(z), device=z.device) % self.n_classes
        h = self.linear(z).view(len(z), self.width, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return self.to_image(h)


class BigGANDiscriminator(nn.Module):
    """Projection discriminator: (x (N, C, H, W) in [-1, 1], y (N,)) -> logit (N,)."""

    def __init__(self, channels: int = 3, resolution: int = 32, width: int = 256, n_classes: int = 10,
                 spectral_norm: bool = True) -> None:
        super().__init__()
        _check(resolution, n_classes)
        self.n_classes = n_classes
        n_down = int(math.log2(resolution // 8))
        blocks = [DBlock(channels, width, downsample=n_down > 0, preactivation=False, sn=spectral_norm)]
        blocks += [DBlock(width, width, downsample=True, preactivation=True, sn=spectral_norm) for _ in range(n_down - 1)]
        blocks += [DBlock(width, width, downsample=False, preactivation=True, sn=spectral_norm) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.linear = _init(nn.Linear(width, 1), spectral_norm)
        self.embed = _init(nn.Embedding(n_classes, width), spectral_norm)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)


# ---------------------------------------------------------------------------
# The official schedule
# ---------------------------------------------------------------------------

CIFAR_TRAIN_IMAGES = 50_000
OFFICIAL_EPOCHS_ALL_DATA = 1000  # scripts/DiffAugment-biggan-cifar10.sh: --num_epochs 1000
OFFICIAL_EPOCHS_SUBSET = 5000  # scripts/DiffAugment-biggan-cifar10-0.1.sh and -0.2.sh: --num_epochs 5000


def official_iterations(n_images: int, batch_size: int = 50, d_steps: int = 4,
                        total_images: int = CIFAR_TRAIN_IMAGES) -> int:
    """The G steps that the official scripts' epochs give for ``n_images`` training images.

    BigGAN-PyTorch's multi-epoch sampler deals ``n_images * num_epochs`` indices in loader batches of
    ``batch_size * d_steps`` (one batch per G step: 4 D steps of 50 reals each), the last one partial.
    The scripts train 1000 epochs on all 50,000 images and 5000 on the 10% and 20% subsets:
    100% -> 250,000, 20% -> 250,000, 10% -> 125,000 iterations.
    """
    epochs = OFFICIAL_EPOCHS_ALL_DATA if n_images >= total_images else OFFICIAL_EPOCHS_SUBSET
    return math.ceil(n_images * epochs / (batch_size * d_steps))


@torch.no_grad()
def samples_per_class(G: BigGANGenerator, per_class: int = 10, seed: int = 0) -> Tensor:
    """``per_class`` samples of each class, class by class: (n_classes * per_class, C, H, W) in [-1, 1].

    Column j uses the same z in every class, so a grid with ``nrow=per_class`` shows one class per row
    and, down a column, what the class changes while z stays. G is used in the mode it is in.
    """
    device = next(G.parameters()).device
    z = torch.randn(per_class, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    y = torch.arange(G.n_classes, device=device).repeat_interleave(per_class)
    return G(z.repeat(G.n_classes, 1), y).float()
