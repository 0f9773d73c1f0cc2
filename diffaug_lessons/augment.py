"""DiffAugment: differentiable augmentations applied to reals and fakes alike.

Images are NCHW tensors in [-1, 1]. Every transform below is differentiable with
respect to its input, so gradients reach the generator through T.

The module has two layers:

- the *readable* per-op formulas (``brightness``, ``saturation``, ...), one short
  function each, exactly as in the official DiffAugment code. They take the random
  parameters explicitly, so a lesson can show what T did;
- a *fast* path (``apply``) that fuses consecutive colour ops into one elementwise
  pass and translation + cutout into one gather and one mask. The tests check that
  both give the same output and gradients for the same random draws.

Typical use::

    x_aug = DiffAugment(x, "color,translation,cutout")

Beyond the official code: strengths (``translation_ratio``, ``cutout_ratio``,
``color_strength``), a per-image application probability ``p`` (for ADA-style
training), an optional ``torch.Generator``, and the drawn parameters on request
(``sample_params`` / ``apply``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .errors import check_range, choice_error

Tensor = torch.Tensor

# ---------------------------------------------------------------------------
# The readable formulas (the reference the fast path is tested against).
# Each takes x (N, C, H, W) and its parameters, one value per image.
# ---------------------------------------------------------------------------


def brightness(x: Tensor, shift: Tensor) -> Tensor:
    """x + shift; official shift = u - 0.5 with u ~ U[0, 1). ``shift``: (N,)."""
    return x + shift.view(-1, 1, 1, 1)


def saturation(x: Tensor, factor: Tensor) -> Tensor:
    """Scale each pixel's distance to its channel mean; official factor = 2u in [0, 2)."""
    pixel_mean = x.mean(dim=1, keepdim=True)
    return (x - pixel_mean) * factor.view(-1, 1, 1, 1) + pixel_mean


def contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Scale the distance to the image mean; official factor = u + 0.5 in [0.5, 1.5)."""
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * factor.view(-1, 1, 1, 1) + image_mean


def translation(x: Tensor, shift_h: Tensor, shift_w: Tensor) -> Tensor:
    """out(i, j) = x(i + shift_h, j + shift_w) where that pixel exists, else 0 (mid-grey).

    ``shift_h``, ``shift_w``: integer tensors (N,). Written as the official code does it:
    pad by one pixel of zeros, then index every output pixel, clamping into the padding.
    """
    n, _, h, w = x.shape
    batch, rows, cols = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    rows = torch.clamp(rows + shift_h.view(-1, 1, 1) + 1, 0, h + 1)
    cols = torch.clamp(cols + shift_w.view(-1, 1, 1) + 1, 0, w + 1)
    x_pad = F.pad(x, [1, 1, 1, 1])
    return x_pad.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: Tensor, centre_h: Tensor, centre_w: Tensor, size_h: int, size_w: int) -> Tensor:
    """Zero a size_h x size_w square (all channels) centred at (centre_h, centre_w), clipped.

    The square covers rows ``centre_h - size_h // 2 ... + size_h - 1`` (likewise columns),
    as in the official code. ``centre_*``: integer tensors (N,).
    """
    n, _, h, w = x.shape
    batch, rows, cols = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(size_h, device=x.device),
        torch.arange(size_w, device=x.device),
        indexing="ij",
    )
    rows = torch.clamp(rows + centre_h.view(-1, 1, 1) - size_h // 2, 0, h - 1)
    cols = torch.clamp(cols + centre_w.view(-1, 1, 1) - size_w // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[batch, rows, cols] = 0
    return x * mask.unsqueeze(1)


def hflip(x: Tensor, flip: Tensor) -> Tensor:
    """Mirror left-right the images where ``flip`` (bool, (N,)) is set."""
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


def rot90(x: Tensor, quarter_turns: Tensor) -> Tensor:
    """Rotate each image by ``quarter_turns`` (0..3, (N,)) x 90 degrees; needs H == W."""
    rotated = [torch.rot90(x, k, dims=(2, 3)) for k in range(4)]
    choose = quarter_turns.view(-1, 1, 1, 1)
    out = rotated[0]
    for k in range(1, 4):
        out = torch.where(choose == k, rotated[k], out)
    return out


# ---------------------------------------------------------------------------
# Policies and random parameters
# ---------------------------------------------------------------------------

COLOR_OPS = ("brightness", "saturation", "contrast")
GEOMETRIC_OPS = ("translation", "cutout")
EXTRA_OPS = ("flip", "rot90")  # not in DiffAugment; used by the lessons (flip, leaking)
OPS = COLOR_OPS + GEOMETRIC_OPS + EXTRA_OPS
ALIASES = {"color": COLOR_OPS}
POLICY_NAMES = COLOR_OPS + ("color",) + GEOMETRIC_OPS + EXTRA_OPS


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
    """Expand a policy ("color,translation") into its ops, in order.

    An empty policy ("" or []) is the identity. Unknown names raise a ValueError
    that lists the valid names and suggests the closest one.
    """
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    ops: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in ALIASES:
            ops.extend(ALIASES[name])
        elif name in OPS:
            ops.append(name)
        else:
            raise choice_error("augmentation", name, POLICY_NAMES)
    return tuple(ops)


@dataclass
class Strengths:
    """How strong each transform is. The defaults are the official DiffAugment ones.

    - ``color_strength`` s scales all colour ranges around "no change": brightness shift
      (u - 0.5) * s, saturation factor 1 + (2u - 1) * s, contrast factor 1 + (u - 0.5) * s.
      s = 1 is the official range, s = 0 the identity.
    - ``translation_ratio``: max shift as a fraction of the side (official 1/8).
    - ``cutout_ratio``: side of the cut square as a fraction of the side (official 1/2).
    - ``p``: probability that each op is applied to each image (official: always, p = 1).
    """

    translation_ratio: float = 0.125
    cutout_ratio: float = 0.5
    color_strength: float = 1.0
    p: float = 1.0

    def __post_init__(self) -> None:
        check_range("translation_ratio", self.translation_ratio, 0.0, 1.0)
        check_range("cutout_ratio", self.cutout_ratio, 0.0, 1.0)
        check_range("color_strength", self.color_strength, 0.0, 1.0)
        check_range("p", self.p, 0.0, 1.0)


@dataclass
class AugmentParams:
    """The random draws of one call of T: ``ops[i]`` uses ``values[i]`` (tensors of shape (N,)).

    ``applied[i]`` (bool, (N,)) says which images op i was applied to; where it is False
    the values are already the neutral ones (shift 0, factor 1, no cut).
    """

    ops: tuple[str, ...]
    values: list[dict[str, Tensor]] = field(default_factory=list)
    applied: list[Tensor] = field(default_factory=list)
    cutout_size: tuple[int, int] = (0, 0)

    def describe(self, index: int) -> str:
        """A one-line, human-readable account of what T did to image ``index``."""
        parts = []
        for op, values, applied in zip(self.ops, self.values, self.applied):
            if not bool(applied[index]):
                parts.append(f"{op}: skipped")
                continue
            shown = ", ".join(f"{k}={_scalar(v[index])}" for k, v in values.items())
            parts.append(f"{op}({shown})")
        return "; ".join(parts) if parts else "identity"


def _scalar(value: Tensor) -> str:
    return f"{value.item():.2f}" if value.is_floating_point() else str(value.item())


def _side(length: int, ratio: float) -> int:
    return int(length * ratio + 0.5)


def _check_images(x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"DiffAugment expects a torch.Tensor; got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"DiffAugment expects NCHW images (4 dims); got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"DiffAugment expects floating-point images in [-1, 1]; got dtype {x.dtype} "
            "(convert uint8 images with x.float() / 127.5 - 1)"
        )


def sample_params(
    x: Tensor,
    policy: str | Sequence[str],
    strengths: Strengths | None = None,
    generator: torch.Generator | None = None,
) -> AugmentParams:
    """Draw T's random parameters for a batch shaped like ``x``, one set per image.

    With ``generator`` the draws are reproducible (a lesson can show the same T twice).
    """
    _check_images(x)
    strengths = strengths or Strengths()
    ops = parse_policy(policy)
    n, _, h, w = x.shape
    draw_device = generator.device if generator is not None else x.device

    def uniform() -> Tensor:
        return torch.rand(n, generator=generator, device=draw_device).to(x.device)

    def integers(low: int, high: int) -> Tensor:  # uniform over low..high-1
        return torch.randint(low, high, (n,), generator=generator, device=draw_device).to(x.device)

    s = strengths.color_strength
    cut_h, cut_w = _side(h, strengths.cutout_ratio), _side(w, strengths.cutout_ratio)
    params = AugmentParams(ops=ops, cutout_size=(cut_h, cut_w))
    for op in ops:
        applied = uniform() < strengths.p
        if op == "brightness":
            values = {"shift": (uniform() - 0.5) * s * applied}
        elif op == "saturation":
            values = {"factor": torch.where(applied, 1 + (2 * uniform() - 1) * s, 1.0)}
        elif op == "contrast":
            values = {"factor": torch.where(applied, 1 + (uniform() - 0.5) * s, 1.0)}
        elif op == "translation":
            max_h, max_w = _side(h, strengths.translation_ratio), _side(w, strengths.translation_ratio)
            values = {
                "shift_h": integers(-max_h, max_h + 1) * applied,
                "shift_w": integers(-max_w, max_w + 1) * applied,
            }
        elif op == "cutout":
            # Official: centre uniform over [0, side + (1 - size % 2)), so the square may be clipped.
            values = {
                "centre_h": integers(0, h + (1 - cut_h % 2)),
                "centre_w": integers(0, w + (1 - cut_w % 2)),
            }
            if cut_h == 0 or cut_w == 0:
                applied = torch.zeros_like(applied)
        elif op == "flip":
            values = {"flip": (uniform() < 0.5) & applied}
        else:  # rot90
            if h != w:
                raise ValueError(f"rot90 needs square images; got {h}x{w}")
            values = {"quarter_turns": integers(0, 4) * applied}
        params.values.append(values)
        params.applied.append(applied)
    return params


# ---------------------------------------------------------------------------
# Applying T: the readable path and the fast path
# ---------------------------------------------------------------------------


def apply_reference(x: Tensor, params: AugmentParams) -> Tensor:
    """Apply ``params`` op by op with the readable formulas (slow, obviously correct)."""
    for op, values, applied in zip(params.ops, params.values, params.applied):
        if op == "brightness":
            x = brightness(x, values["shift"].to(x.dtype))
        elif op == "saturation":
            x = saturation(x, values["factor"].to(x.dtype))
        elif op == "contrast":
            x = contrast(x, values["factor"].to(x.dtype))
        elif op == "translation":
            x = translation(x, values["shift_h"], values["shift_w"])
        elif op == "cutout":
            cut = cutout(x, values["centre_h"], values["centre_w"], *params.cutout_size)
            x = torch.where(applied.view(-1, 1, 1, 1), cut, x)
        elif op == "flip":
            x = hflip(x, values["flip"])
        else:
            x = rot90(x, values["quarter_turns"])
    return x


def _fused_color(x: Tensor, steps: list[tuple[str, Tensor]]) -> Tensor:
    """Apply a run of colour ops in one elementwise pass.

    Every colour op maps an image y = A x + B m_c + C m + D (m_c: per-pixel channel mean
    of x, m: image mean of x; A..D per image) to another of the same form, because
    mean_c(y) = (A + B) m_c + C m + D and mean(y) = (A + B + C) m + D. So we track the
    four coefficients through the run and touch the pixels once.
    """
    precision = torch.promote_types(x.dtype, torch.float32)  # bf16 images still get fp32 coefficients
    a = torch.ones(x.shape[0], device=x.device, dtype=precision)
    b, c, d = torch.zeros_like(a), torch.zeros_like(a), torch.zeros_like(a)
    for op, value in steps:
        value = value.to(precision)
        if op == "brightness":
            d = d + value
        elif op == "saturation":
            a, b = value * a, (a + b) - value * a
        else:  # contrast
            a, b, c = value * a, value * b, value * c + (1 - value) * (a + b + c)

    def coeff(t: Tensor) -> Tensor:
        return t.to(x.dtype).view(-1, 1, 1, 1)

    ops = {op for op, _ in steps}
    if ops == {"brightness"}:
        return x + coeff(d)
    if "saturation" not in ops:  # b stays 0: no per-pixel mean needed
        return coeff(a) * x + (coeff(c) * x.mean(dim=(1, 2, 3), keepdim=True) + coeff(d))
    pixel_mean = x.mean(dim=1, keepdim=True)
    image_mean = pixel_mean.mean(dim=(2, 3), keepdim=True)
    return coeff(a) * x + (coeff(b) * pixel_mean + (coeff(c) * image_mean + coeff(d)))


def _fused_geometry(x: Tensor, steps: list[tuple[str, dict[str, Tensor], Tensor]], cut: tuple[int, int]) -> Tensor:
    """Apply a run of translations and cutouts with one gather and one mask multiply.

    A translation moves the source index of each output pixel and marks pixels whose
    source falls outside the image as zero; a cutout marks a square as zero. Composed,
    each output pixel either copies one input pixel or is zero.
    """
    n, c, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1).expand(n, h, w)
    cols = torch.arange(w, device=x.device).view(1, 1, w).expand(n, h, w)
    source_h, source_w = rows, cols
    keep = torch.ones(n, h, w, dtype=torch.bool, device=x.device)
    for op, values, applied in reversed(steps):  # walk back from the output to the input
        if op == "translation":
            source_h = source_h + values["shift_h"].view(-1, 1, 1)
            source_w = source_w + values["shift_w"].view(-1, 1, 1)
            keep = keep & (source_h >= 0) & (source_h < h) & (source_w >= 0) & (source_w < w)
        else:  # cutout, at the position the output pixel has at this stage
            top = values["centre_h"].view(-1, 1, 1) - cut[0] // 2
            left = values["centre_w"].view(-1, 1, 1) - cut[1] // 2
            inside = (source_h >= top) & (source_h < top + cut[0]) & (source_w >= left) & (source_w < left + cut[1])
            keep = keep & ~(inside & applied.view(-1, 1, 1))
    if all(op == "cutout" for op, _, _ in steps):
        return x * keep.unsqueeze(1).to(x.dtype)
    index = (source_h.clamp(0, h - 1) * w + source_w.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    moved = torch.gather(x.reshape(n, c, h * w), 2, index).view(n, c, h, w)
    return moved * keep.unsqueeze(1).to(x.dtype)


def apply(x: Tensor, params: AugmentParams) -> Tensor:
    """Apply ``params`` with the fast path (same result as :func:`apply_reference`)."""
    _check_images(x)
    steps = list(zip(params.ops, params.values, params.applied))
    i = 0
    while i < len(steps):
        op = steps[i][0]
        j = i
        if op in COLOR_OPS:
            while j < len(steps) and steps[j][0] in COLOR_OPS:
                j += 1
            color_steps = [(name, next(iter(values.values()))) for name, values, _ in steps[i:j]]
            x = _fused_color(x, color_steps)
        elif op in GEOMETRIC_OPS:
            while j < len(steps) and steps[j][0] in GEOMETRIC_OPS:
                j += 1
            x = _fused_geometry(x, steps[i:j], params.cutout_size)
        else:
            j = i + 1
            x = apply_reference(x, AugmentParams(params.ops[i:j], params.values[i:j], params.applied[i:j]))
        i = j
    return x


def DiffAugment(
    x: Tensor,
    policy: str | Sequence[str] = "color,translation,cutout",
    *,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
    color_strength: float = 1.0,
    p: float = 1.0,
    generator: torch.Generator | None = None,
    return_params: bool = False,
) -> Tensor | tuple[Tensor, AugmentParams]:
    """Apply the differentiable augmentation T to a batch.

    Args:
        x: images (N, C, H, W) in [-1, 1], any float dtype, any device, any C.
        policy: comma-separated op names applied in order (``color`` = brightness,
            saturation, contrast). "" is the identity.
        translation_ratio, cutout_ratio, color_strength, p: see :class:`Strengths`.
        generator: draw the random parameters from this generator.
        return_params: also return the :class:`AugmentParams` that were drawn.

    Returns:
        T(x), same shape and dtype as ``x`` (and the params if asked).
    """
    strengths = Strengths(translation_ratio, cutout_ratio, color_strength, p)
    params = sample_params(x, policy, strengths, generator)
    out = apply(x, params)
    return (out, params) if return_params else out


def make_augment(
    policy: str | Sequence[str], strengths: Strengths | None = None
) -> Callable[[Tensor], Tensor]:
    """T as a one-argument function (what the training loop calls); validates the policy now."""
    parse_policy(policy)
    strengths = strengths or Strengths()

    def T(x: Tensor) -> Tensor:
        return apply(x, sample_params(x, policy, strengths))

    return T
