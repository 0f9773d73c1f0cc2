"""The CPU kernel of DiffAugment's fast path: a run of colour ops and translations/cutouts, compiled by numba.

On a CPU, a batch of small images makes each torch op cost microseconds of dispatch whatever its
size, and T written with torch ops needs dozens of them (working out per-image coefficients,
masks, row offsets). Here the whole run is one compiled loop over the images, so T costs a few
passes over memory. :mod:`diffaug_lessons.augment` calls it for float32/float64 images on the CPU
and keeps its torch path for CUDA, bf16/fp16 and ``torch.compile``; the tests check all of them
against the readable formulas.

Per image, with m_c the per-pixel channel mean and m the image mean of x (see ``augment``)::

    T(x) = keep * shift(a x + b m_c + c m + d)

- the colour ops compose to the four coefficients a, b, c, d (:func:`_coefficients`);
- the translations compose to one total shift, valid on a rectangle of output pixels, and each
  cutout is a rectangle of output pixels set to zero (:func:`_geometry`).

T is affine in x, so its gradient is the transposed linear map, and the gradient of that is T
again without d. The two autograd Functions below are each other's backward: gradients of any
order (gradient penalties) come for free.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import torch

Tensor = torch.Tensor
is_compiling = getattr(torch.compiler, "is_compiling", lambda: False)  # torch >= 2.3

BRIGHTNESS, SATURATION, CONTRAST = 0, 1, 2  # colour kinds
TRANSLATION, CUTOUT = 0, 1  # geometry kinds
_COLOR_KINDS = {"brightness": BRIGHTNESS, "saturation": SATURATION, "contrast": CONTRAST}

# Reassociation lets the compiler vectorise the sums; no "finite values" assumption, so NaN still propagates.
_FLAGS = dict(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})


_enabled = True


def supports(x: Tensor) -> bool:
    """Whether the kernel takes ``x``: a non-empty float32/float64 CPU tensor, outside ``torch.compile``."""
    return (_enabled and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and x.numel() > 0 and not is_compiling())


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Within the block the fast path uses its torch implementation on the CPU too (tests, benchmarks)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


@dataclass(frozen=True)
class Plan:
    """What a run does to each image, as arrays the kernel reads.

    color_kinds (K,) and color_values (K, N): the colour ops in order and their values;
    geometry_kinds (G,) and geometry_values (G, 3, N) int64: per translation (shift_h, shift_w, -),
    per cutout (centre_h, centre_w, applied); cut: the cutout square's side (rows, columns).
    """

    color_kinds: np.ndarray
    color_values: np.ndarray
    geometry_kinds: np.ndarray
    geometry_values: np.ndarray
    cut: tuple[int, int]


def make_plan(
    color_steps: Sequence[tuple[str, dict[str, Tensor], Tensor]],
    geometry_steps: Sequence[tuple[str, dict[str, Tensor], Tensor]],
    cut: tuple[int, int],
    n: int,
) -> Plan:
    """The :class:`Plan` of a run of (op, values, applied) steps as drawn by ``augment.sample_params``."""
    color_kinds, geometry_kinds = _kinds(tuple(op for op, _, _ in color_steps), tuple(op for op, _, _ in geometry_steps))
    color_values = np.zeros((0, n), dtype=np.float32)
    if color_steps:  # one value per colour op (neutral where the op did not apply)
        color_values = torch.stack([next(iter(values.values())) for _, values, _ in color_steps]).numpy()
    columns = []
    for op, values, applied in geometry_steps:
        if op == "translation":
            columns += [values["shift_h"], values["shift_w"], values["shift_w"]]
        else:
            columns += [values["centre_h"], values["centre_w"], applied.long()]
    geometry_values = np.zeros((0, 3, n), dtype=np.int64)
    if columns:
        geometry_values = torch.stack(columns).view(-1, 3, n).numpy()
    return Plan(color_kinds, color_values, geometry_kinds, geometry_values, cut)


@functools.lru_cache(maxsize=64)
def _kinds(color_ops: tuple[str, ...], geometry_ops: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's codes of the colour ops and of the geometry ops (arrays never modified)."""
    color = np.array([_COLOR_KINDS[op] for op in color_ops], dtype=np.int64)
    geometry = np.array([TRANSLATION if op == "translation" else CUTOUT for op in geometry_ops], dtype=np.int64)
    return color, geometry


def apply_run(x: Tensor, plan: Plan) -> Tensor:
    """T(x) for one run (differentiable to any order in ``x``); x: (N, C, H, W) float32/float64 on the CPU."""
    return _Augment.apply(x, plan, True)


def _run_kernel(kernel, images: Tensor, plan: Plan, *extra: object) -> Tensor:
    """``kernel`` on a contiguous copy of ``images`` where needed; the result keeps their memory format."""
    source = images.detach().contiguous()  # e.g. channels-last images, or the expanded gradient of a sum
    out = torch.empty_like(source)
    kernel(source.numpy(), out.numpy(), plan.color_kinds, plan.color_values, plan.geometry_kinds,
           plan.geometry_values, plan.cut[0], plan.cut[1], *extra)
    if not images.is_contiguous() and images.is_contiguous(memory_format=torch.channels_last):
        return out.contiguous(memory_format=torch.channels_last)
    return out


class _Augment(torch.autograd.Function):
    """x -> keep * shift(a x + b m_c + c m + d); without the offset d when it is the transpose's backward."""

    @staticmethod
    def forward(ctx, x, plan, with_offset):
        ctx.plan = plan
        return _run_kernel(_forward, x, plan, with_offset)

    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():  # building a graph of the gradient (double backward)
            return _Transpose.apply(grad, ctx.plan), None, None
        return _run_kernel(_transpose, grad, ctx.plan), None, None


class _Transpose(torch.autograd.Function):
    """The gradient of :class:`_Augment` with respect to x: the transposed linear map, applied to ``grad``."""

    @staticmethod
    def forward(ctx, grad, plan):
        ctx.plan = plan
        return _run_kernel(_transpose, grad, plan)

    @staticmethod
    def backward(ctx, grad_of_grad):
        return _Augment.apply(grad_of_grad, ctx.plan, False), None


# ---------------------------------------------------------------------------
# The compiled part
# ---------------------------------------------------------------------------


@numba.njit(**_FLAGS)
def _coefficients(color_kinds, color_values, i, channels, pixels, coefficients):
    """Write a, b / C, c / (C H W), d of image i's colour ops, and 0, into ``coefficients`` (5,).

    (In the images' dtype, so that the loops over pixels stay in it.)

    Each op maps y = a x + b m_c + c m + d to another of that form, because
    mean_c(y) = (a + b) m_c + c m + d and mean(y) = (a + b + c) m + d.
    """
    a, b, c, d = 1.0, 0.0, 0.0, 0.0
    for k in range(color_kinds.shape[0]):
        value = np.float64(color_values[k, i])
        if color_kinds[k] == BRIGHTNESS:  # y + value
            d += value
        elif color_kinds[k] == SATURATION:  # value (y - mean_c(y)) + mean_c(y)
            b = a + b - value * a
            a = value * a
        else:  # contrast: value (y - mean(y)) + mean(y)
            c = value * c + (1.0 - value) * (a + b + c)
            a = value * a
            b = value * b
    coefficients[0], coefficients[1], coefficients[2] = a, b / channels, c / (channels * pixels)
    coefficients[3], coefficients[4] = d, 0.0


@numba.njit(**_FLAGS)
def _geometry(geometry_kinds, geometry_values, i, h, w, cut_h, cut_w, cutouts):
    """Image i's translations and cutouts as (shift_h, shift_w, row0, row1, col0, col1, number of cutouts).

    Output pixel (q, r) reads pixel (q + shift_h, r + shift_w) of its input when row0 <= q < row1
    and col0 <= r < col1 (all six 0 when nothing arrives), else it is 0; ``cutouts[j]`` = (row0, row1, col0, col1) of the j-th
    zeroed rectangle in output coordinates (not clipped).
    """
    shift_h = shift_w = 0
    row0, row1, col0, col1 = 0, h, 0, w
    count = 0
    for k in range(geometry_kinds.shape[0]):
        first, second = geometry_values[k, 0, i], geometry_values[k, 1, i]
        if geometry_kinds[k] == TRANSLATION:  # out(q) = in(q + t) where that pixel exists
            shift_h += first
            shift_w += second
            row0, row1 = max(0, row0 - first), min(h, row1 - first)
            col0, col1 = max(0, col0 - second), min(w, col1 - second)
            for j in range(count):  # earlier cutouts move with the image
                cutouts[j, 0] -= first
                cutouts[j, 1] -= first
                cutouts[j, 2] -= second
                cutouts[j, 3] -= second
        elif geometry_values[k, 2, i] != 0 and cut_h > 0 and cut_w > 0:  # an applied cutout
            cutouts[count, 0] = first - cut_h // 2
            cutouts[count, 1] = first - cut_h // 2 + cut_h
            cutouts[count, 2] = second - cut_w // 2
            cutouts[count, 3] = second - cut_w // 2 + cut_w
            count += 1
    if row1 <= row0 or col1 <= col0:  # nothing arrives: every output pixel is 0
        return 0, 0, 0, 0, 0, 0, count
    return shift_h, shift_w, row0, row1, col0, col1, count


# Index arithmetic below is unsigned (``_u``): with signed indices numba adds a negative-index check
# to every access, which stops the compiler from vectorising the loops (about 5x slower).
_u = np.uint64


@numba.njit(**_FLAGS)
def _fill(flat, start, stop, value):
    for k in range(_u(start), _u(stop)):
        flat[k] = value


@numba.njit(**_FLAGS)
def _keep(w, row0, row1, col0, col1, cutouts, count, keep):
    """keep (H W,) = 1 at the output pixels that read an input pixel, 0 elsewhere: off the
    rectangle [row0, row1) x [col0, col1), or under a cutout."""
    _fill(keep, 0, keep.shape[0], 0)
    for q in range(row0, row1):
        _fill(keep, q * w + col0, q * w + col1, 1)
    for j in range(count):
        first_col, last_col = max(col0, cutouts[j, 2]), min(col1, cutouts[j, 3])
        for q in range(max(row0, cutouts[j, 0]), min(row1, cutouts[j, 1])):
            _fill(keep, q * w + first_col, q * w + max(first_col, last_col), 0)


@numba.njit(**_FLAGS)
def _channel_sum(flat, start, channels, pixels, plane):
    """plane[k] = sum over the channels of the image at ``start`` of its pixel k (flat NCHW)."""
    first, size = _u(start), _u(pixels)
    for k in range(size):
        plane[k] = flat[first + k]
    for ch in range(1, channels):
        base = first + _u(ch) * size
        for k in range(size):
            plane[k] += flat[base + k]


@numba.njit(**_FLAGS)
def _buffers(dtype, pixels, geometry_count):
    """Scratch space reused image after image: coefficients (5,), cutouts (G, 4), plane and keep (H W,)."""
    cutouts = np.empty((max(1, geometry_count), 4), np.int64)
    return np.empty(5, dtype), cutouts, np.zeros(pixels, dtype), np.empty(pixels, dtype)


# Within an image, output pixel k = q W + r (row-major) reads input pixel k + shift_h W + shift_w, for
# k from row0 W + col0 to (row1 - 1) W + col1, where ``keep`` says whether it arrives. So each channel
# is one loop over a contiguous run of pixels (rows of 32 pixels each in their own loop cost more in
# loop overhead than in memory traffic).


@numba.njit(**_FLAGS)
def _image_setup(i, channels, h, w, color_kinds, color_values, geometry_kinds, geometry_values, cut_h, cut_w,
                 coefficients, cutouts, keep):
    """Image i's colour coefficients (into ``coefficients``) and ``keep``; returns its run of output
    pixels [first, last) and the offset ``delta`` from an output pixel to the input pixel it reads."""
    _coefficients(color_kinds, color_values, i, channels, h * w, coefficients)
    shift_h, shift_w, row0, row1, col0, col1, count = _geometry(
        geometry_kinds, geometry_values, i, h, w, cut_h, cut_w, cutouts)
    _keep(w, row0, row1, col0, col1, cutouts, count, keep)
    first = row0 * w + col0
    return first, max(first, (row1 - 1) * w + col1), shift_h * w + shift_w


@numba.njit(**_FLAGS)
def _forward(x, out, color_kinds, color_values, geometry_kinds, geometry_values, cut_h, cut_w, with_offset):
    """out = T(x) for contiguous (N, C, H, W) arrays (or T without d when not ``with_offset``)."""
    n, channels, h, w = x.shape
    pixels = h * w
    x_flat, out_flat = x.reshape(-1), out.reshape(-1)
    coefficients, cutouts, plane, keep = _buffers(x.dtype, pixels, geometry_kinds.shape[0])
    for i in range(n):
        first, last, delta = _image_setup(i, channels, h, w, color_kinds, color_values, geometry_kinds,
                                          geometry_values, cut_h, cut_w, coefficients, cutouts, keep)
        a, b, c = coefficients[0], coefficients[1], coefficients[2]
        offset = coefficients[3] if with_offset else coefficients[4]
        image = i * channels * pixels
        if b != 0 or c != 0:
            _channel_sum(x_flat, image, channels, pixels, plane)
            if c != 0:
                total = coefficients[4]
                for k in range(_u(pixels)):
                    total += plane[k]
                offset += c * total
        for ch in range(channels):
            base = image + ch * pixels
            _fill(out_flat, base, base + first, 0)
            _fill(out_flat, base + last, base + pixels, 0)
            to, source, source_pixel, kept = _u(base + first), _u(base + first + delta), _u(first + delta), _u(first)
            if b != 0:
                for k in range(_u(last - first)):
                    out_flat[to + k] = keep[kept + k] * (a * x_flat[source + k] + b * plane[source_pixel + k] + offset)
            else:
                for k in range(_u(last - first)):
                    out_flat[to + k] = keep[kept + k] * (a * x_flat[source + k] + offset)


@numba.njit(**_FLAGS)
def _transpose(grad, out, color_kinds, color_values, geometry_kinds, geometry_values, cut_h, cut_w):
    """out = the gradient of sum(grad * T(x)) with respect to x, for contiguous (N, C, H, W) arrays.

    d/dx of sum(g keep shift(a x + b m_c + c m)) = a g' + b/C sum_c(g') + c/(CHW) sum(g'), where
    g' is keep g moved back to the pixels of x that the output pixels read (0 at the others).
    """
    n, channels, h, w = grad.shape
    pixels = h * w
    grad_flat, out_flat = grad.reshape(-1), out.reshape(-1)
    coefficients, cutouts, plane, keep = _buffers(grad.dtype, pixels, geometry_kinds.shape[0])
    for i in range(n):
        first, last, delta = _image_setup(i, channels, h, w, color_kinds, color_values, geometry_kinds,
                                          geometry_values, cut_h, cut_w, coefficients, cutouts, keep)
        a, b, c = coefficients[0], coefficients[1], coefficients[2]
        image = i * channels * pixels
        constant = coefficients[4]  # c/(CHW) sum(g'): the same for every pixel
        if b != 0 or c != 0:
            _channel_sum(grad_flat, image, channels, pixels, plane)
            if c != 0:
                kept_sum = coefficients[4]
                for k in range(_u(first), _u(last)):
                    kept_sum += keep[k] * plane[k]
                constant = c * kept_sum
        for ch in range(channels):
            base = image + ch * pixels
            _fill(out_flat, base, base + first + delta, constant)
            _fill(out_flat, base + last + delta, base + pixels, constant)
            to, source, kept = _u(base + first + delta), _u(base + first), _u(first)
            if b != 0:
                for k in range(_u(last - first)):
                    out_flat[to + k] = constant + keep[kept + k] * (a * grad_flat[source + k] + b * plane[kept + k])
            else:
                for k in range(_u(last - first)):
                    out_flat[to + k] = constant + keep[kept + k] * a * grad_flat[source + k]
