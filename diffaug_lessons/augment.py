"""DiffAugment: differentiable augmentations applied to reals and fakes alike.

Images are NCHW tensors in [-1, 1]. Every transform below is differentiable with
respect to its input, so gradients reach the generator through T.

The module has two layers:

- the *readable* per-op formulas (``brightness``, ``saturation``, ...), one short
  function each, exactly as in the official DiffAugment code. They take the random
  parameters explicitly, so a lesson can show what T did;
- a *fast* path (``apply``) that fuses consecutive colour ops into one elementwise
  pass and translation + cutout into one gather and one mask. On the CPU (float32/64)
  each fused run is a compiled kernel (:mod:`diffaug_lessons.augment_cpu`); on CUDA,
  in bf16/fp16 and under ``torch.compile`` it is a handful of torch ops (below). The
  tests check that all give the same output and gradients for the same random draws.

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

from . import augment_cpu
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


def _index_grid(n: int, h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """(image, row, column) index of every position of an (n, h, w) block."""
    return torch.meshgrid(
        torch.arange(n, device=device), torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
    )


def translation(x: Tensor, shift_h: Tensor, shift_w: Tensor) -> Tensor:
    """out(i, j) = x(i + shift_h, j + shift_w) where that pixel exists, else 0 (mid-grey).

    ``shift_h``, ``shift_w``: integer tensors (N,). Written as the official code does it:
    pad by one pixel of zeros, then index every output pixel, clamping into the padding.
    """
    n, _, h, w = x.shape
    batch, rows, cols = _index_grid(n, h, w, x.device)
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
    batch, rows, cols = _index_grid(n, size_h, size_w, x.device)
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
      s = 1 is the official range, s = 0 the identity; up to s = 2 for strength sweeps beyond the
      official range (there the saturation factor reaches -1: colours flip about the pixel mean).
    - ``translation_ratio``: max shift as a fraction of the side (official 1/8).
    - ``cutout_ratio``: side of the cut square as a fraction of the side (official 1/2).
    - ``p``: probability that each op is applied to each image (official: always, p = 1). A 0-dim
      tensor on the images' device also works: adaptive training (ADA) updates it there, without
      waiting for the device to report a number.
    """

    translation_ratio: float = 0.125
    cutout_ratio: float = 0.5
    color_strength: float = 1.0
    p: float | Tensor = 1.0

    def __post_init__(self) -> None:
        check_range("translation_ratio", self.translation_ratio, 0.0, 1.0)
        check_range("cutout_ratio", self.cutout_ratio, 0.0, 1.0)
        check_range("color_strength", self.color_strength, 0.0, 2.0)
        if not isinstance(self.p, Tensor):  # a tensor p is the training loop's own, kept in [0, 1] there
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
    if x.shape[1] < 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"DiffAugment needs images of at least 1 channel and 1x1 pixels; got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"DiffAugment expects floating-point images in [-1, 1]; got dtype {x.dtype} "
            "(convert uint8 images with x.float() / 127.5 - 1)"
        )


_is_compiling = augment_cpu.is_compiling


def _cached(function: Callable) -> Callable:
    """``functools.lru_cache`` for the small plans and constants of the fast path.

    While ``torch.compile`` traces, the function is called directly instead: the compiler folds its
    result into the graph anyway, and it does not look into caches.
    """
    cached = functools.lru_cache(maxsize=64)(function)

    @functools.wraps(function)
    def call(*args: object) -> object:
        return function(*args) if _is_compiling() else cached(*args)

    return call


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


@_cached
def _draw_plan(
    ops: tuple[str, ...], h: int, w: int, color_strength: float, translation_ratio: float, cutout_ratio: float,
    dtype: torch.dtype, device: torch.device,
) -> tuple[tuple[list[tuple[str, float, float, bool]], ...], list[tuple[int, str, bool, int]], tuple[Tensor, ...]]:
    """How :func:`sample_params` turns one (N, columns) draw into values, worked out once per setting.

    Columns: one "applies?" column per op, then the real values, then the integer ones. Returns
    each op's value ranges, for each value (op index, name, is integer, its index in its block),
    and the constants: (low, span) of the real values, and span, span - 1 and low of the integers.
    """
    strengths = Strengths(translation_ratio, cutout_ratio, color_strength)
    ranges = tuple(_value_ranges(op, strengths, h, w) for op in ops)
    reals: list[tuple[float, float]] = []  # (low, span) per real value, in column order
    integers: list[tuple[float, float]] = []
    where = []
    for i, op_ranges in enumerate(ranges):
        for name, low, span, integer in op_ranges:
            block = integers if integer else reals
            where.append((i, name, integer, len(block)))
            block.append((low, span))
    constants = (
        torch.tensor([low for low, _ in reals], dtype=dtype, device=device),
        torch.tensor([span for _, span in reals], dtype=dtype, device=device),
        torch.tensor([span for _, span in integers], dtype=dtype, device=device),
        torch.tensor([span - 1 for _, span in integers], dtype=torch.long, device=device),
        torch.tensor([low for low, _ in integers], dtype=torch.long, device=device),
    )
    return ranges, where, constants


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
    ranges, where, (low, span, int_span, int_largest, int_low) = _draw_plan(
        ops, h, w, strengths.color_strength, strengths.translation_ratio, strengths.cutout_ratio,
        torch.get_default_dtype(), x.device,
    )

    # All uniforms of this call in one draw, (N, columns), turned into values a block at a time:
    # ten small tensor ops, where one draw per value took some forty (each costs microseconds).
    draw_device = generator.device if generator is not None else x.device
    uniforms = torch.rand(n, len(ops) + len(where), generator=generator, device=draw_device).to(x.device)
    for_applied, for_reals, for_integers = uniforms.split([len(ops), len(low), len(int_low)], dim=1)
    applied_all = (for_applied < strengths.p).unbind(1)
    reals = torch.addcmul(low, for_reals, span).unbind(1) if len(low) else ()
    # floor(span * u), clamped: in float32, span * u may round up to span
    integers = torch.minimum((for_integers * int_span).long(), int_largest).add_(int_low).unbind(1) if len(int_low) else ()
    values: list[dict[str, Tensor]] = [{} for _ in ops]
    for i, name, integer, index in where:
        values[i][name] = integers[index] if integer else reals[index]

    always = not isinstance(strengths.p, Tensor) and strengths.p >= 1  # the official setting: no masking needed
    for op, op_values, applied in zip(ops, values, applied_all):
        if op == "cutout":
            if cut_h == 0 or cut_w == 0:
                applied = torch.zeros_like(applied)
        elif op == "flip":
            op_values["flip"] = (op_values["flip"] < 0.5) & applied
        elif not always:  # where not applied: the neutral value (shift 0, factor 1)
            neutral = 1.0 if op in ("saturation", "contrast") else 0
            op_values = {name: torch.where(applied, value, neutral) for name, value in op_values.items()}
        params.values.append(op_values)
        params.applied.append(applied)
    return params


# ---------------------------------------------------------------------------
# Applying T: the readable path and the fast path
# ---------------------------------------------------------------------------


def apply_reference(x: Tensor, params: AugmentParams) -> Tensor:
    """Apply ``params`` op by op with the readable formulas (slow, obviously correct)."""
    _check_images(x)
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
#   not covered by a cutout, not pushed off the image sideways.
#
# ``shift`` copies each output row as one run of consecutive elements (an ``index_select`` of rows,
# a memcpy each: several times faster on CPU than a per-pixel gather): output row r of an image is
# its row r + shift_h, starting shift_w pixels in. Where the run crosses the row's end it reads the
# next row (or the zero gap stored between images): pixels that left the image sideways, which
# ``keep`` has zeroed. Rows from above or below the image read the zero gap.
# The gradient of this copy is the same copy with the opposite shift, and the colour part's gradient
# is again affine, so ``_ColorShiftKeep.backward`` is written out: 4 passes over the images, where
# autograd made about 10. Images this small make every tensor op cost microseconds whatever its
# size, so the per-image parameters are worked out in as few (batched) ops as possible, and
# image-sized temporaries are reused in place (on CPU a fresh allocation can cost page faults).


@_cached
def _constant(values: tuple, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A small constant tensor, made once (never modified by its users)."""
    return torch.tensor(values, dtype=dtype, device=device)


def _affine(x: Tensor, scale: Tensor | None, offset: Tensor | None, out: Tensor | None = None) -> Tensor:
    """scale * x + offset (None: 1 and 0), into ``out`` if given; shapes broadcast against x."""
    if out is not None and _is_compiling():  # torch.compile takes no strided out=; it fuses the copy anyway
        return out.copy_(_affine(x, scale, offset))
    if scale is not None and offset is not None:
        return torch.addcmul(offset, x, scale, out=out)
    if scale is not None:
        return torch.mul(x, scale, out=out)
    if offset is not None:
        return torch.add(x, offset, out=out)
    return x if out is None else out.copy_(x)


def _layout(shape: torch.Size, channels_last: bool) -> tuple[int, int, int]:
    """Copy-buffer layout: (elements per row = the gap between images, rows per image, image stride incl. gap)."""
    _, channels, h, w = shape
    if channels_last:
        return w * channels, h, h * w * channels + w * channels
    return w, channels * h, channels * h * w + w


def _gapped_buffer(like: Tensor, channels_last: bool) -> tuple[Tensor, Tensor]:
    """A flat buffer [gap, image 0, gap, image 1, ..., gap] with zero gaps, and its images as an NCHW view."""
    n = like.shape[0]
    gap, _, stride = _layout(like.shape, channels_last)
    buffer = like.new_empty(n * stride + gap)
    buffer.as_strided((n + 1, gap), (stride, 1)).zero_()
    return buffer, _gapped_buffer_images(buffer, like.shape, channels_last)


def _gapped_buffer_images(buffer: Tensor, shape: torch.Size, channels_last: bool) -> Tensor:
    """The images of a gapped buffer, as an NCHW view of ``shape``."""
    _, channels, h, w = shape
    gap, _, stride = _layout(shape, channels_last)
    if channels_last:
        return buffer.as_strided(shape, (stride, 1, w * channels, channels), gap)
    return buffer.as_strided(shape, (stride, h * w, w, 1), gap)


def _copy_rows(buffer: Tensor, starts: Tensor, shape: torch.Size, channels_last: bool) -> Tensor:
    """The rows of ``buffer`` that begin at ``starts``, as images of ``shape`` (an NCHW view)."""
    n, channels, h, w = shape
    row, _, _ = _layout(shape, channels_last)
    rows = buffer.unfold(0, row, 1).index_select(0, starts)
    if channels_last:
        return rows.view(n, h, w, channels).permute(0, 3, 1, 2)
    return rows.view(n, channels, h, w)


@_cached
def _unshifted_row_starts(shape: torch.Size, channels_last: bool, device: torch.device) -> Tensor:
    """Where each (image, [channel,] row) begins in the gapped buffer: (N, planes, H) int64, made once per shape."""
    n, _, h, _ = shape
    row, rows_per_image, _ = _layout(shape, channels_last)
    starts = torch.arange(n * rows_per_image, device=device).view(n, rows_per_image // h, h) * row
    return starts + torch.arange(row, (n + 1) * row, row, device=device).view(n, 1, 1)  # + the gaps so far


class _ColorShiftKeep(torch.autograd.Function):
    """shift(keep * (a x + b m_c + c m + d)) with a hand-written backward (see above).

    Coefficients are (N, 1, 1, 1) or None (a: 1; b, c, d: 0), ``keep`` broadcasts to (N, 1, H, W) or
    is None; ``starts`` / ``back_starts`` are the row starts of the shift and of the shift back (None:
    no shift; no gradient needed). Only x is differentiated; the rest are constants drawn by
    ``sample_params``.
    """

    @staticmethod
    def forward(ctx, x, a, b, c, d, keep, starts, back_starts, channels_last):
        n, channels, h, w = x.shape
        # b m_c + c m + d from channel sums: b/C and c/(CHW) cost (N,) ops, means would cost image-sized ones.
        b = None if b is None else b / channels
        c = None if c is None else c / (channels * h * w)
        channel_sum = _channel_sum(x) if b is not None else None
        offset = None  # c m + d, then + b m_c
        if c is not None:
            image_sum = (channel_sum if channel_sum is not None else x).sum(dim=(1, 2, 3), keepdim=True)
            offset = c * image_sum if d is None else torch.addcmul(d, c, image_sum)
        elif d is not None:
            offset = d
        if channel_sum is not None:
            offset = channel_sum.mul_(b) if offset is None else channel_sum.mul_(b).add_(offset)
        scale = a
        if keep is not None:
            scale = keep if a is None else a * keep
            if offset is not None:
                offset = offset.mul_(keep) if channel_sum is not None else offset * keep
        ctx.channels_last = channels_last
        if starts is None:
            ctx.save_for_backward(scale, keep, b, c, None)
            return _affine(x, scale, offset)
        buffer, images = _gapped_buffer(x, channels_last)
        _affine(x, scale, offset, out=images)
        ctx.save_for_backward(scale, keep, b, c, back_starts)
        # The backward shifts the gradient back through the same buffer: its gaps stay zero, and every
        # backward overwrites all of the rest. Kept aside rather than saved: saved tensors must not change.
        ctx.buffer = buffer if ctx.needs_input_grad[0] and not _is_compiling() else None
        return _copy_rows(buffer, starts, x.shape, channels_last)

    @staticmethod
    def backward(ctx, grad):
        scale, keep, b, c, back_starts = ctx.saved_tensors
        in_place = not torch.is_grad_enabled()  # not building a graph of the gradient (double backward)
        if back_starts is not None:  # the gradient of a shifted copy is the copy shifted back
            buffer = getattr(ctx, "buffer", None)
            if in_place and buffer is not None:
                images = _gapped_buffer_images(buffer, grad.shape, ctx.channels_last)
            else:
                buffer, images = _gapped_buffer(grad, ctx.channels_last)
            images.copy_(grad)
            grad = _copy_rows(buffer, back_starts, grad.shape, ctx.channels_last)
        # d/dx of keep (a x + b m_c + c m): a keep g + b/C sum_c(keep g) + c/(CHW) sum(keep g)
        offset = None
        if b is not None or c is not None:
            kept_sum = _channel_sum(grad)
            if keep is not None:
                kept_sum = kept_sum.mul_(keep) if in_place else kept_sum * keep
            if c is not None:
                offset = c * kept_sum.sum(dim=(2, 3), keepdim=True)
            if b is not None:
                if in_place:
                    offset = kept_sum.mul_(b) if offset is None else kept_sum.mul_(b).add_(offset)
                else:
                    offset = b * kept_sum if offset is None else torch.addcmul(offset, b, kept_sum)
        out = grad if in_place and back_starts is not None else None  # the shifted copy is ours to overwrite
        return _affine(grad, scale, offset, out=out), None, None, None, None, None, None, None, None


def _channel_sum(x: Tensor) -> Tensor:
    """Sum over channels, (N, 1, H, W): as C - 1 adds (faster on CPU than a reduction over dim 1)."""
    channels = x.shape[1]
    if channels == 1:
        return x.clone()
    total = torch.add(x.narrow(1, 0, 1), x.narrow(1, 1, 1))
    for i in range(2, channels):
        total.add_(x.narrow(1, i, 1))
    return total


def _color_coefficients(
    steps: Sequence[tuple[str, dict[str, Tensor], Tensor]], dtype: torch.dtype
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """(a, b, c, d) of a run of colour ops, each (N, 1, 1, 1) in ``dtype``; None where it keeps its neutral value."""
    precision = torch.promote_types(dtype, torch.float32)  # bf16 images still get fp32 coefficients
    a = b = c = d = None  # neutral: a = 1, b = c = d = 0
    for op, values, _ in steps:
        value = next(iter(values.values())).to(precision)
        if op == "brightness":
            d = value if d is None else d + value
        elif op == "saturation":  # a, b = f a, (a + b) - f a
            a_value = value if a is None else value * a
            b = (1 if a is None else a) - a_value if b is None else (b + (1 if a is None else a)) - a_value
            a = a_value
        else:  # contrast: a, b, c = f a, f b, f c + (1 - f)(a + b + c)
            total = 1 if a is None else a
            total = total if b is None else total + b
            total = total if c is None else total + c
            mixed = (1 - value) * total
            a = value if a is None else value * a
            b = None if b is None else value * b
            c = mixed if c is None else torch.addcmul(mixed, value, c)
    return tuple(None if t is None else t.to(dtype).view(-1, 1, 1, 1) for t in (a, b, c, d))


@_cached
def _geometry_plan(
    ops: tuple[str, ...], shape: torch.Size, cut: tuple[int, int], channels_last: bool, device: torch.device
) -> tuple[Tensor, Tensor, tuple[str, ...], int]:
    """The algebra of a run of translations/cutouts, worked out once per run and image shape.

    Walk each pixel of x forward through the run: a translation by t moves it to position - t
    (out(i) = x(i + t)); a cutout covers some positions. Every condition is an interval test
    ``low <= position < high`` on rows or columns, with low and high linear in the run's values
    (per translation: shift_h, shift_w; per cutout: centre_h, centre_w, applied). So all bounds
    come out of one product with a small matrix, ``matrix @ values + constant``: the J lows, the J
    highs, then the row-start offsets of the copy and of its gradient (a single translation) or
    the total shift_h, shift_w. A square that does not apply is moved off the image.
    Returns (matrix (outputs, values, 1), constant (outputs, 1), what each test is for, J).
    """
    _, channels, h, w = shape
    count = sum(2 if op == "translation" else 3 for op in ops)
    big = 2.0 * (h + w)  # far enough to move a square off the image

    def unit(column: int, scale: float = 1.0) -> list[float]:
        return [scale if i == column else 0.0 for i in range(count)] + [0.0]  # last entry: the constant

    def plus(*forms: list[float]) -> list[float]:
        return [sum(values) for values in zip(*forms)]

    def shifted(form: list[float], by: float) -> list[float]:
        return form[:-1] + [form[-1] + by]

    tests: list[tuple[str, list[float], int]] = []  # (what for, low, length)
    moved_h = moved_w = unit(-1, 0.0)  # total shift so far
    last_translation = len(ops) - 1 - ops[::-1].index("translation") if "translation" in ops else -1
    column = 0
    for i, op in enumerate(ops):
        if op == "translation":
            moved_h, moved_w = plus(moved_h, unit(column)), plus(moved_w, unit(column + 1))
            # pixel q of x is now at q - moved: on the image iff moved <= q < moved + side
            if i < last_translation:  # a later translation must not bring it back
                tests.append(("range_h", moved_h, h))
            tests.append(("range_w", moved_w, w))  # also for the last one: pushed off sideways, the copy wraps it
            column += 2
        else:  # cutout: covered iff top <= q - moved < top + size
            if cut[0] > 0 and cut[1] > 0:
                top_h = shifted(plus(unit(column), moved_h, unit(column + 2, -big)), big - cut[0] // 2)
                tests += [("cut_h", top_h, cut[0]), ("cut_w", shifted(plus(unit(column + 1), moved_w), -(cut[1] // 2)), cut[1])]
            column += 3
    translations = ops.count("translation")
    if translations:  # output row r reads row r + shift_h, gradient row r reads r - shift_h
        tests += [("read", [-v for v in moved_h], h), ("read_back", moved_h, h)]
    if not tests:
        return torch.zeros(0, count, 1, device=device), torch.zeros(0, 1, device=device), (), 0
    lows = [low for _, low, _ in tests]
    highs = [shifted(low, length) for _, low, length in tests]
    row, _, _ = _layout(shape, channels_last)
    pixel = channels if channels_last else 1
    if translations == 1:  # |shift_w| <= w already: the row-start offsets of the copy and of its gradient
        delta = plus([row * v for v in moved_h], [pixel * v for v in moved_w])
        extra = [delta, [-v for v in delta]]
    else:
        extra = [moved_h, moved_w] if translations else []
    forms = torch.tensor(lows + highs + extra, dtype=torch.float32, device=device)  # (outputs, count + 1)
    return forms[:, :-1].unsqueeze(2), forms[:, -1:].contiguous(), tuple(what for what, _, _ in tests), len(tests)


def _geometry(
    steps: Sequence[tuple[str, dict[str, Tensor], Tensor]], shape: torch.Size, cut: tuple[int, int],
    dtype: torch.dtype, channels_last: bool, need_back: bool,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """``keep`` (broadcasting to (N, 1, H, W)), the row starts of the shifted copy and those of its
    gradient, the copy shifted back (see :func:`_row_starts`); each None where not needed."""
    n, _, h, w = shape
    ops = tuple(op for op, _, _ in steps)
    values = [v for _, values, applied in steps for v in (list(values.values()) + ([applied] if "centre_h" in values else []))]
    matrix, constant, tests, count = _geometry_plan(ops, shape, cut, channels_last, values[0].device)
    if not count:
        return None, None, None
    # (outputs, N); not a matrix product, which autocast would round to bf16 (exact integers wanted)
    bounds = (matrix * torch.stack(values)).sum(dim=1).add_(constant)
    lows, highs, extra = bounds.split([count, count, bounds.shape[0] - 2 * count])
    position = _constant(tuple(range(max(h, w))), torch.float32, bounds.device)
    inside = (position >= lows.unsqueeze(2)) & (position < highs.unsqueeze(2))  # (tests, N, max(h, w))
    inside_float = inside.to(dtype)

    def test(i: int) -> Tensor:  # (N, H) or (N, W), as 0 / 1
        t = inside_float.select(0, i)
        length = w if tests[i] in ("range_w", "cut_w") else h
        return t if length == t.shape[1] else t.narrow(1, 0, length)

    range_h = range_w = None
    for i, what in enumerate(tests):
        if what == "range_h":
            range_h = test(i) if range_h is None else range_h * test(i)
        elif what == "range_w":
            range_w = test(i) if range_w is None else range_w * test(i)
    keep = None
    if range_h is not None:
        keep = range_h.view(n, 1, h, 1) * range_w.view(n, 1, 1, w)
    elif range_w is not None:
        keep = range_w.view(n, 1, 1, w)
    per_column = range_h is None and range_w is not None  # keep is range_w alone
    for i, what in enumerate(tests):
        if what != "cut_h":
            continue
        in_h, in_w = test(i).view(n, 1, h, 1), test(i + 1).view(n, 1, 1, w)
        if keep is None:
            keep = 1 - in_h * in_w
        elif per_column:  # range_w (1 - in_h in_w) = range_w - in_h (in_w range_w): one image-sized op
            keep = torch.addcmul(keep, in_h, in_w * keep, value=-1)
        else:
            keep = torch.addcmul(keep, keep * in_h, in_w, value=-1)
        per_column = False
    if "read" not in tests:
        return keep, None, None

    # Row starts of the copy (shift) and of its gradient (shift back), both at once: (2, N, planes, H).
    if ops.count("translation") == 1:  # the plan gives the offsets in elements directly
        deltas = extra.long()
    else:  # beyond a whole side every pixel is gone (keep is 0); the clamp keeps the copy inside the buffer
        shift_h, shift_w = extra.long()
        row, _, _ = _layout(shape, channels_last)
        delta = torch.add(shift_w.clamp(-w, w) * (shape[1] if channels_last else 1), shift_h, alpha=row)
        deltas = torch.stack([delta, -delta])
    starts = _unshifted_row_starts(shape, channels_last, deltas.device) + deltas.view(2, n, 1, 1)
    # Rows whose source is off the image read the last gap (zeros) instead.
    outside = inside.narrow(0, count - 2, 2).narrow(2, 0, h).logical_not().unsqueeze(2)
    starts = starts.masked_fill_(outside, n * _layout(shape, channels_last)[2])
    return keep, starts[0].view(-1), starts[1].view(-1) if need_back else None


def _fused_run(x: Tensor, color_steps: list, geometry_steps: list, cutout_size: tuple[int, int]) -> Tensor:
    """Apply a run of colour ops and then a run of translations/cutouts (either may be empty) in one pass."""
    if augment_cpu.supports(x):
        return augment_cpu.apply_run(x, augment_cpu.make_plan(color_steps, geometry_steps, cutout_size, x.shape[0]))
    a, b, c, d = _color_coefficients(color_steps, x.dtype) if color_steps else (None,) * 4
    # Work in the images' own memory layout: NHWC input gives an NHWC buffer and output.
    channels_last = x.shape[1] > 1 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    keep = starts = back_starts = None
    if geometry_steps:
        need_back = x.requires_grad and torch.is_grad_enabled()
        keep, starts, back_starts = _geometry(geometry_steps, x.shape, cutout_size, x.dtype, channels_last, need_back)
    if a is None and b is None and c is None and d is None and keep is None:
        return x  # only zero-strength ops
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
