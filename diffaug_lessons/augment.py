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

import functools
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


def _value_ranges(op: str, strengths: Strengths, h: int, w: int) -> list[tuple[str, float, float, bool]]:
    """What each value of ``op`` is, from one uniform u ~ U[0, 1): (name, low, span, integer).

    A value is low + span * u, or for integers low + floor(span * u): uniform over low .. low + span - 1.
    """
    s = strengths.color_strength
    if op == "brightness":
        return [("shift", -0.5 * s, s, False)]  # (u - 0.5) s
    if op == "saturation":
        return [("factor", 1 - s, 2 * s, False)]  # 1 + (2u - 1) s
    if op == "contrast":
        return [("factor", 1 - 0.5 * s, s, False)]  # 1 + (u - 0.5) s
    if op == "translation":
        max_h, max_w = _side(h, strengths.translation_ratio), _side(w, strengths.translation_ratio)
        return [("shift_h", -max_h, 2 * max_h + 1, True), ("shift_w", -max_w, 2 * max_w + 1, True)]
    if op == "cutout":
        # Official: centre uniform over [0, side + (1 - size % 2)), so the square may be clipped.
        cut_h, cut_w = _side(h, strengths.cutout_ratio), _side(w, strengths.cutout_ratio)
        return [("centre_h", 0, h + 1 - cut_h % 2, True), ("centre_w", 0, w + 1 - cut_w % 2, True)]
    if op == "flip":
        return [("flip", 0, 1, False)]  # flip where u < 0.5
    return [("quarter_turns", 0, 4, True)]  # rot90


@functools.lru_cache(maxsize=64)
def _draw_plan(
    ops: tuple[str, ...], h: int, w: int, color_strength: float, translation_ratio: float, cutout_ratio: float,
    dtype: torch.dtype, device: torch.device,
) -> tuple[tuple[list[tuple[str, float, float, bool]], ...], tuple[bool, ...], Tensor, Tensor]:
    """What :func:`sample_params` does with each uniform column, worked out once per setting.

    Returns each op's value ranges, which columns are integers, and (low, span) as float and
    (low, span - 1) as integer tensors over all columns: first one "applies?" column per op, then the values.
    """
    strengths = Strengths(translation_ratio, cutout_ratio, color_strength)
    ranges = tuple(_value_ranges(op, strengths, h, w) for op in ops)
    columns = [("applied", 0, 1, False)] * len(ops) + [value for op_ranges in ranges for value in op_ranges]
    _, lows, spans, integer = zip(*columns)
    reals = torch.tensor([lows, spans], dtype=dtype, device=device)
    integers = torch.tensor([lows, [span - 1 for span in spans]], dtype=torch.long, device=device)
    return ranges, integer, reals, integers


def sample_params(
    x: Tensor,
    policy: str | Sequence[str],
    strengths: Strengths | None = None,
    generator: torch.Generator | None = None,
) -> AugmentParams:
    """Draw T's random parameters for a batch shaped like ``x``, one set per image.

    Per op and image, one uniform u ~ U[0, 1) decides whether the op applies (u < p), and one
    uniform per value gives the value (see :func:`_value_ranges`: colour factors and shifts
    uniform over their range, translations and cutout centres uniform integers).
    With ``generator`` the draws are reproducible (a lesson can show the same T twice).
    """
    _check_images(x)
    strengths = strengths or Strengths()
    ops = parse_policy(policy)
    n, _, h, w = x.shape
    if "rot90" in ops and h != w:
        raise ValueError(f"rot90 needs square images; got {h}x{w}")
    cut_h, cut_w = _side(h, strengths.cutout_ratio), _side(w, strengths.cutout_ratio)
    params = AugmentParams(ops=ops, cutout_size=(cut_h, cut_w))
    if not ops:
        return params

    # All uniforms of this call in one draw, (N, ops + values), turned into values all at once:
    # ten small tensor ops, where one draw per value took some forty (each costs microseconds).
    ranges, integer, (low, span), (low_int, largest) = _draw_plan(
        ops, h, w, strengths.color_strength, strengths.translation_ratio, strengths.cutout_ratio,
        torch.get_default_dtype(), x.device,
    )
    draw_device = generator.device if generator is not None else x.device
    uniforms = torch.rand(n, len(integer), generator=generator, device=draw_device).to(x.device)
    applied_all = (uniforms < strengths.p).unbind(1)  # only the first len(ops) columns are used
    scaled = uniforms * span
    reals = (scaled + low).unbind(1)
    # floor(span * u), clamped: in float32, span * u may round up to span
    whole = torch.minimum(scaled.long(), largest).add_(low_int).unbind(1) if any(integer) else reals
    columns = iter([whole[i] if is_integer else reals[i] for i, is_integer in enumerate(integer)][len(ops):])

    always = strengths.p >= 1  # the official setting: no masking needed
    for op, op_ranges, applied in zip(ops, ranges, applied_all):
        values = {name: next(columns) for name, _, _, _ in op_ranges}
        if op == "cutout":
            if cut_h == 0 or cut_w == 0:
                applied = torch.zeros_like(applied)
        elif op == "flip":
            values["flip"] = (values["flip"] < 0.5) & applied
        elif not always:  # where not applied: the neutral value (shift 0, factor 1)
            neutral = 1.0 if op in ("saturation", "contrast") else 0
            values = {name: torch.where(applied, value, neutral) for name, value in values.items()}
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


# The fast path. A run of colour ops followed by a run of translations and cutouts becomes
#
#     T(x) = shift(keep * (a x + b m_c + c m + d))
#
# - colour: every colour op maps y = a x + b m_c + c m + d (m_c: per-pixel channel mean of x,
#   m: image mean of x; a..d per image) to another of that form, because
#   mean_c(y) = (a + b) m_c + c m + d and mean(y) = (a + b + c) m + d;
# - geometry: translations compose to one total shift, after which each pixel of x is at one
#   output pixel or gone. ``keep`` (N, 1, H, W) marks, in x's coordinates, the pixels that arrive:
#   not covered by a cutout, never pushed off the image.
#
# ``shift`` copies each output row as one contiguous run of elements (an ``index_select`` of rows,
# a memcpy each: several times faster on CPU than a per-pixel gather): output row r of an image is
# its row r + shift_h starting shift_w elements in. Where that run crosses the row's end it reads
# the neighbouring row, or the zero gap stored between images; those pixels are the ones that left
# the image, which ``keep`` has already zeroed. Rows shifted in from outside read the zero gap.
# The gradient of this copy is the same copy with the opposite shift, and the colour part's is again
# affine, so ``_ColorShiftKeep.backward`` is written out: 4 passes over the images, not ~10.


def _affine(x: Tensor, scale: Tensor | None, offset: Tensor | None, out: Tensor | None = None) -> Tensor:
    """scale * x + offset (None: 1 and 0), into ``out`` if given; shapes broadcast against x."""
    if scale is not None and offset is not None:
        return torch.addcmul(offset, x, scale, out=out)
    if scale is not None:
        return torch.mul(x, scale, out=out)
    if offset is not None:
        return torch.add(x, offset, out=out)
    return x if out is None else out.copy_(x)


def _gapped(shape: torch.Size, channels_last: bool) -> tuple[int, int, int]:
    """Layout of the copy buffer: (row length, gap = one row of zeros, image stride incl. its gap)."""
    _, channels, h, w = shape
    row = w * channels if channels_last else w
    return row, row, channels * h * w + row


def _gapped_buffer(like: Tensor, channels_last: bool) -> tuple[Tensor, Tensor]:
    """A flat buffer [gap, image 0, gap, image 1, ..., gap] with zero gaps, and its images as an NCHW view."""
    n, channels, h, w = like.shape
    _, gap, stride = _gapped(like.shape, channels_last)
    buffer = like.new_empty(n * stride + gap)
    buffer.as_strided((n + 1, gap), (stride, 1)).zero_()
    if channels_last:
        return buffer, buffer.as_strided((n, channels, h, w), (stride, 1, w * channels, channels), gap)
    return buffer, buffer.as_strided((n, channels, h, w), (stride, h * w, w, 1), gap)


def _shifted_rows(buffer: Tensor, starts: Tensor, shape: torch.Size, channels_last: bool) -> Tensor:
    """The rows of ``buffer`` that begin at ``starts``, as images of ``shape`` (NCHW view)."""
    n, channels, h, w = shape
    row, _, _ = _gapped(shape, channels_last)
    rows = buffer.unfold(0, row, 1).index_select(0, starts)
    if channels_last:
        return rows.view(n, h, w, channels).permute(0, 3, 1, 2)
    return rows.view(n, channels, h, w)


def _row_starts(shape: torch.Size, shift_h: Tensor, shift_w: Tensor, channels_last: bool) -> Tensor:
    """Where each output row (image, [channel,] row) begins in the gapped buffer, for a shift (N,) x 2."""
    n, channels, h, w = shape
    row, gap, stride = _gapped(shape, channels_last)
    device = shift_h.device
    source_row = torch.arange(h, device=device) + shift_h.view(-1, 1)  # (N, H)
    within = torch.add(shift_w.view(-1, 1) * (channels if channels_last else 1), source_row, alpha=row)
    planes = (1, 1) if channels_last else (channels, h * w)  # planes per image, their size
    image_starts = torch.arange(gap, n * stride, stride, device=device).view(n, 1, 1)
    starts = (image_starts + torch.arange(0, planes[0] * planes[1], planes[1], device=device).view(1, -1, 1)
              + within.unsqueeze(1))
    outside = ((source_row < 0) | (source_row >= h)).unsqueeze(1)
    return torch.where(outside, n * stride, starts).view(-1)  # rows from outside: the last gap


class _ColorShiftKeep(torch.autograd.Function):
    """shift(keep * (a x + b m_c + c m + d)) with a hand-written backward (see above).

    Coefficients are (N, 1, 1, 1) or None (a: 1; b, c, d: 0), ``keep`` (N, 1, H, W) or None;
    ``starts``/``back_starts`` are the row starts of the shift and of its inverse (None: no shift).
    Only x is differentiated; the rest are constants drawn by ``sample_params``.
    """

    @staticmethod
    def forward(ctx, x, a, b, c, d, keep, starts, back_starts, channels_last):
        channel_mean = x.mean(dim=1, keepdim=True) if b is not None else None
        offset = None
        if c is not None:
            image_mean = (channel_mean if channel_mean is not None else x).mean(dim=(1, 2, 3), keepdim=True)
            offset = c * image_mean if d is None else torch.addcmul(d, c, image_mean)
        elif d is not None:
            offset = d
        if channel_mean is not None:
            offset = b * channel_mean if offset is None else torch.addcmul(offset, b, channel_mean)
        scale = a
        if keep is not None:
            scale = keep if a is None else a * keep
            offset = None if offset is None else offset * keep
        ctx.save_for_backward(scale, keep, b, c, back_starts)
        ctx.channels_last = channels_last
        if starts is None:
            return _affine(x, scale, offset)
        buffer, images = _gapped_buffer(x, channels_last)
        _affine(x, scale, offset, out=images)
        return _shifted_rows(buffer, starts, x.shape, channels_last)

    @staticmethod
    def backward(ctx, grad):
        scale, keep, b, c, back_starts = ctx.saved_tensors
        n, channels, h, w = grad.shape
        if back_starts is not None:  # the gradient of a shifted copy is the copy shifted back
            buffer, images = _gapped_buffer(grad, ctx.channels_last)
            images.copy_(grad)
            grad = _shifted_rows(buffer, back_starts, grad.shape, ctx.channels_last)
        # d/dx of keep (a x + b m_c + c m): a keep g + b/C sum_c(keep g) + c/(CHW) sum(keep g)
        offset = None
        if b is not None or c is not None:
            kept_sum = grad.sum(dim=1, keepdim=True)
            if keep is not None:
                kept_sum = kept_sum * keep
            if c is not None:
                offset = kept_sum.sum(dim=(2, 3), keepdim=True) * (c / (channels * h * w))
            if b is not None:
                offset = kept_sum * (b / channels) if offset is None else torch.addcmul(offset, kept_sum, b / channels)
        return _affine(grad, scale, offset), None, None, None, None, None, None, None, None


def _color_coefficients(
    steps: Sequence[tuple[str, dict[str, Tensor], Tensor]], dtype: torch.dtype
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """(a, b, c, d) of a run of colour ops, each (N, 1, 1, 1) in ``dtype``, or None where it keeps its neutral value."""
    precision = torch.promote_types(dtype, torch.float32)  # bf16 images still get fp32 coefficients
    a: Tensor | float = 1.0
    b: Tensor | float = 0.0
    c: Tensor | float = 0.0
    d: Tensor | float = 0.0
    for op, values, _ in steps:
        value = next(iter(values.values())).to(precision)
        if op == "brightness":
            d = d + value
        elif op == "saturation":
            a, b = value * a, (a + b) - value * a
        else:  # contrast
            a, b, c = value * a, value * b, value * c + (1 - value) * (a + b + c)
    names = {op for op, _, _ in steps}
    used = (bool(names & {"saturation", "contrast"}), "saturation" in names, "contrast" in names, "brightness" in names)
    a, b, c, d = (t.to(dtype).view(-1, 1, 1, 1) if is_used else None for t, is_used in zip((a, b, c, d), used))
    return a, b, c, d


def _geometry(
    steps: Sequence[tuple[str, dict[str, Tensor], Tensor]], shape: torch.Size, cut: tuple[int, int],
    dtype: torch.dtype, device: torch.device,
) -> tuple[Tensor | None, tuple[Tensor, Tensor] | None]:
    """``keep`` (N, 1, H, W) or None, and the total shift (shift_h, shift_w), each (N,), or None.

    Walks each pixel of x forward through the run: a translation by t moves it to position - t
    (out(i) = x(i + t)) and loses it if that is off the image; a cutout loses it if the square
    covers its position at that stage.
    """
    n, _, h, w = shape
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    moved_h: Tensor | int = 0  # total shift so far
    moved_w: Tensor | int = 0
    inside_h = inside_w = None  # (N, H), (N, W): never pushed off the image
    covered = None  # (N, H, W): under some cutout
    for op, values, applied in steps:
        if op == "translation":
            moved_h, moved_w = values["shift_h"] + moved_h, values["shift_w"] + moved_w
            at_h, at_w = rows - moved_h.view(-1, 1), cols - moved_w.view(-1, 1)
            ok_h, ok_w = (at_h >= 0) & (at_h < h), (at_w >= 0) & (at_w < w)
            inside_h = ok_h if inside_h is None else inside_h & ok_h
            inside_w = ok_w if inside_w is None else inside_w & ok_w
        elif op == "cutout" and cut[0] > 0 and cut[1] > 0:
            # The square covers positions top .. top + size - 1, where pixels top + moved .. of x are now.
            from_h = rows - (values["centre_h"] - cut[0] // 2 + moved_h).view(-1, 1)
            from_w = cols - (values["centre_w"] - cut[1] // 2 + moved_w).view(-1, 1)
            in_h = (from_h >= 0) & (from_h < cut[0]) & applied.view(-1, 1)
            in_w = (from_w >= 0) & (from_w < cut[1])
            square = in_h.unsqueeze(2) & in_w.unsqueeze(1)
            covered = square if covered is None else covered | square
    keep = None if inside_h is None else inside_h.unsqueeze(2) & inside_w.unsqueeze(1)
    if covered is not None:
        keep = ~covered if keep is None else keep & ~covered
    keep = None if keep is None else keep.unsqueeze(1).to(dtype)
    if inside_h is None:
        return keep, None
    # Beyond a whole side every pixel is gone (keep is 0); clamping keeps the row starts in the buffer.
    return keep, (moved_h, torch.clamp(moved_w, -w, w))


def _fused_run(x: Tensor, color_steps: list, geometry_steps: list, cutout_size: tuple[int, int]) -> Tensor:
    """Apply a run of colour ops and then a run of translations/cutouts (either may be empty) in one pass."""
    a, b, c, d = _color_coefficients(color_steps, x.dtype) if color_steps else (None,) * 4
    keep, shift = _geometry(geometry_steps, x.shape, cutout_size, x.dtype, x.device)
    if a is None and b is None and c is None and d is None and keep is None:
        return x  # only zero-strength ops
    starts = back_starts = None
    # Work in the images' own memory layout: NHWC input gives an NHWC buffer and output.
    channels_last = x.shape[1] > 1 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    if shift is not None:
        starts = _row_starts(x.shape, shift[0], shift[1], channels_last)
        back_starts = _row_starts(x.shape, -shift[0], -shift[1], channels_last)
    return _ColorShiftKeep.apply(x, a, b, c, d, keep, starts, back_starts, channels_last)


def apply(x: Tensor, params: AugmentParams) -> Tensor:
    """Apply ``params`` with the fast path (same result as :func:`apply_reference`).

    Each run of colour ops followed by a run of translations/cutouts is one fused pass;
    flip and rot90 use their readable formulas.
    """
    _check_images(x)
    steps = list(zip(params.ops, params.values, params.applied))
    i = 0
    while i < len(steps):
        j = i
        while j < len(steps) and steps[j][0] in COLOR_OPS:
            j += 1
        k = j
        while k < len(steps) and steps[k][0] in GEOMETRIC_OPS:
            k += 1
        if k > i:
            x = _fused_run(x, steps[i:j], steps[j:k], params.cutout_size)
        else:
            k = i + 1
            x = apply_reference(x, AugmentParams(params.ops[i:k], params.values[i:k], params.applied[i:k]))
        i = k
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
