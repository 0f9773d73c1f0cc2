"""Generators and discriminators.

- ``DCGANGenerator`` / ``DCGANDiscriminator``: small DCGAN-style pair for resolutions
  8..64, width configurable, spectral norm optional in D. The CPU lessons use these.
- ``ResNetGenerator`` / ``ResNetDiscriminator``: the SNGAN/BigGAN-style 32x32 pair for
  GPU CIFAR runs.
- ``biggan``: the class-conditional BigGAN pair of the paper's CIFAR table, in :mod:`.biggan`.

Generators map z (N, z_dim) to images (N, C, H, W) in [-1, 1] (tanh); discriminators
map images to one logit per image, shape (N,). Every model takes a class label y (N,) as its
second argument: the conditional ones (CONDITIONAL_ARCHITECTURES) need it, the others accept None.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import spectral_norm as _spectral_norm

from .biggan import BigGANDiscriminator, BigGANGenerator
from .errors import check_choice

RESOLUTIONS = (8, 16, 32, 64)
ARCHITECTURES = ("dcgan", "resnet", "biggan")
CONDITIONAL_ARCHITECTURES = ("biggan",)


def _check_resolution(resolution: int, allowed: tuple[int, ...] = RESOLUTIONS) -> int:
    if resolution not in allowed:
        raise ValueError(f"resolution {resolution!r} is not supported; choose from {', '.join(map(str, allowed))}")
    return resolution


def _sn(module: nn.Module, enabled: bool) -> nn.Module:
    return _spectral_norm(module) if enabled else module


class DCGANGenerator(nn.Module):
    """z -> 4x4 feature map -> (transposed conv, BN, ReLU) x log2(res/4) -> conv -> tanh."""

    def __init__(self, z_dim: int = 64, channels: int = 1, resolution: int = 16, width: int = 32) -> None:
        super().__init__()
        _check_resolution(resolution)
        self.z_dim, self.resolution = z_dim, resolution
        n_up = int(math.log2(resolution // 4))
        ch = width * 2**n_up
        self.stem = nn.Sequential(nn.Linear(z_dim, ch * 16), nn.Unflatten(1, (ch, 4, 4)), nn.BatchNorm2d(ch), nn.ReLU())
        blocks: list[nn.Module] = []
        for _ in range(n_up):
            blocks += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.Sequential(nn.Conv2d(ch, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        return self.to_image(self.blocks(self.stem(z)))


class DCGANDiscriminator(nn.Module):
    """(strided conv, LeakyReLU) down to 4x4 -> linear logit. No batch norm: D sees augmented
    and un-augmented batches separately, and batch statistics would leak between them."""

    def __init__(self, channels: int = 1, resolution: int = 16, width: int = 32, spectral_norm: bool = True) -> None:
        super().__init__()
        _check_resolution(resolution)
        n_down = int(math.log2(resolution // 4))
        layers: list[nn.Module] = [_sn(nn.Conv2d(channels, width, 3, 1, 1), spectral_norm), nn.LeakyReLU(0.2)]
        ch = width
        for _ in range(n_down):
            layers += [_sn(nn.Conv2d(ch, ch * 2, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2)]
            ch *= 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.logit = _sn(nn.Linear(ch * 16, 1), spectral_norm)

    def forward(self, x: torch.Tensor, y: None = None) -> torch.Tensor:
        return self.logit(self.features(x)).squeeze(1)


class _GBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, 1, 1),
            nn.BatchNorm2d(cout), nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class _DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, downsample: bool, first: bool, sn: bool) -> None:
        super().__init__()
        pre = [] if first else [nn.ReLU()]
        pool = [nn.AvgPool2d(2)] if downsample else []
        self.residual = nn.Sequential(
            *pre, _sn(nn.Conv2d(cin, cout, 3, 1, 1), sn), nn.ReLU(), _sn(nn.Conv2d(cout, cout, 3, 1, 1), sn), *pool
        )
        self.shortcut = nn.Sequential(_sn(nn.Conv2d(cin, cout, 1), sn), *pool) if (downsample or cin != cout) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class ResNetGenerator(nn.Module):
    """SNGAN-style 32x32 generator: z -> 4x4 -> three residual up-blocks -> conv -> tanh."""

    def __init__(self, z_dim: int = 128, channels: int = 3, resolution: int = 32, width: int = 256) -> None:
        super().__init__()
        _check_resolution(resolution, (32,))
        self.z_dim, self.resolution = z_dim, resolution
        self.stem = nn.Sequential(nn.Linear(z_dim, width * 16), nn.Unflatten(1, (width, 4, 4)))
        self.blocks = nn.Sequential(*[_GBlock(width, width) for _ in range(3)])
        self.to_image = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, y: None = None) -> torch.Tensor:
        return self.to_image(self.blocks(self.stem(z)))


class ResNetDiscriminator(nn.Module):
    """SNGAN-style 32x32 discriminator: four residual blocks (two downsampling), sum-pool, linear."""

    def __init__(self, channels: int = 3, resolution: int = 32, width: int = 128, spectral_norm: bool = True) -> None:
        super().__init__()
        _check_resolution(resolution, (32,))
        sn = spectral_norm
        self.blocks = nn.Sequential(
            _DBlock(channels, width, True, True, sn), _DBlock(width, width, True, False, sn),
            _DBlock(width, width, False, False, sn), _DBlock(width, width, False, False, sn), nn.ReLU(),
        )
        self.logit = _sn(nn.Linear(width, 1), sn)

    def forward(self, x: torch.Tensor, y: None = None) -> torch.Tensor:
        return self.logit(self.blocks(x).sum(dim=(2, 3))).squeeze(1)


def build_models(
    architecture: str, channels: int, resolution: int, z_dim: int, g_width: int, d_width: int, spectral_norm: bool,
    n_classes: int = 0,
) -> tuple[nn.Module, nn.Module]:
    """(G, D) for ``architecture`` in ARCHITECTURES; ``n_classes`` for the conditional ones.

    ``spectral_norm``: in D for dcgan and resnet; in G and D for biggan (as the official code).
    """
    check_choice("architecture", architecture, ARCHITECTURES)
    if architecture == "biggan":
        return (
            BigGANGenerator(z_dim, channels, resolution, g_width, n_classes, spectral_norm),
            BigGANDiscriminator(channels, resolution, d_width, n_classes, spectral_norm),
        )
    if architecture == "dcgan":
        return (
            DCGANGenerator(z_dim, channels, resolution, g_width),
            DCGANDiscriminator(channels, resolution, d_width, spectral_norm),
        )
    return (
        ResNetGenerator(z_dim, channels, resolution, g_width),
        ResNetDiscriminator(channels, resolution, d_width, spectral_norm),
    )
