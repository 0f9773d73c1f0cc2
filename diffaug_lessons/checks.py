"""The student checkers: write a piece of DiffAugment yourself, and get told whether it is right.

Each ``check_<thing>(student_fn)`` runs ``student_fn`` on test inputs, compares it with the package's
own code (the readable formulas of :mod:`diffaug_lessons.augment`, the table of
:mod:`diffaug_lessons.train`) and shows a verdict: "correct", or the first mismatch (which op, which
image and pixel, expected vs got) with a hint for the mistakes students actually make. It returns
True when the function is right and False otherwise; it never raises for a wrong function, so a
notebook cell always shows the message.

=====================================  ===================================================
checker                                the student writes
=====================================  ===================================================
:func:`check_brightness`               ``fn(x, shift)``
:func:`check_saturation`               ``fn(x, factor)``
:func:`check_contrast`                 ``fn(x, factor)``
:func:`check_translation`              ``fn(x, shift_h, shift_w)``
:func:`check_cutout`                   ``fn(x, centre_h, centre_w, size_h, size_w)``
:func:`check_policy`                   ``fn(x, params)``: T = the ops of ``params`` in order
:func:`check_differentiable`           ``fn(x)``, any op of T with its parameters fixed
:func:`check_d_gap`                    ``fn(D, train_reals, heldout_reals)``: D's overfitting gap
:func:`check_train_step`               ``fn(G, D, opt_g, opt_d, x_real, z, T, strategy)``
:func:`check_ada_update`               ``fn(p, r_t, target, batch_size, interval, ada_kimg)``
=====================================  ===================================================

Images are NCHW tensors in [-1, 1]; per-image parameters are tensors of shape (N,).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import augment
from .metrics import discriminator_report, novelty
from .train import WHERE_T_IS_APPLIED

Tensor = torch.Tensor

TOLERANCE = 1e-5
OK_COLOUR, BAD_COLOUR = "#1b7a1b", "#b00020"


# ---------------------------------------------------------------------------------------------------
# Verdicts


@dataclass
class Verdict:
    """What a checker found: ``ok``, a headline, details (one line each) and an optional hint."""

    ok: bool
    headline: str
    details: list[str] = field(default_factory=list)
    hint: str = ""

    def text(self) -> str:
        mark = "correct" if self.ok else "not yet"
        lines = [f"{mark}: {self.headline}", *(f"  {line}" for line in self.details)]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def html(self) -> str:
        colour, mark = (OK_COLOUR, "&#10004; correct") if self.ok else (BAD_COLOUR, "&#10008; not yet")
        details = "".join(f"<li>{html.escape(line)}</li>" for line in self.details)
        hint = f"<div><b>Hint:</b> {html.escape(self.hint)}</div>" if self.hint else ""
        return (f"<div class='diffaug-verdict {'ok' if self.ok else 'wrong'}' style='border-left:4px solid {colour};"
                f"padding:4px 10px'><b style='color:{colour}'>{mark}:</b> {html.escape(self.headline)}"
                f"{f'<ul style=margin:2px>{details}</ul>' if details else ''}{hint}</div>")


def show(verdict: Verdict) -> bool:
    """Display ``verdict`` (HTML in a Jupyter kernel, text otherwise) and return ``verdict.ok``."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import display

        display({"text/html": verdict.html(), "text/plain": verdict.text()}, raw=True)
    else:
        print(verdict.text())
    return verdict.ok


def _not_written(what: str) -> Verdict:
    return Verdict(False, f"{what} returned None: not written yet?",
                   hint="replace the `...` in the exercise cell with your code and return the result")


def _raised(what: str, error: Exception, hint: str = "") -> Verdict:
    return Verdict(False, f"{what} raised {type(error).__name__}: {error}", hint=hint)


# ---------------------------------------------------------------------------------------------------
# The ops of T


@dataclass
class _Case:
    """One call of an op: the arguments after x, and how to print them for image ``i``."""

    args: tuple[Any, ...]
    describe: Callable[[int], str]


def _test_images(n: int = 3, channels: int = 3, side: int = 8, seed: int = 0) -> Tensor:
    """Random images in [-1, 1] whose channels differ (so channel means and image means differ)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, channels, side, side, generator=generator) * 2 - 1
    return x * torch.linspace(0.5, 1.0, channels).view(1, -1, 1, 1) + torch.linspace(-0.3, 0.3, channels).view(1, -1, 1, 1)


def _first_mismatch(expected: Tensor, got: Tensor) -> tuple[int, int, int, int, int]:
    """(image, channel, row, column, how many pixels of that image differ) of the first differing value."""
    wrong = (expected - got).abs() > TOLERANCE
    i, c, r, col = (int(v) for v in wrong.nonzero()[0])
    return i, c, r, col, int(wrong[i].any(dim=0).sum())


def _compare_op(op: str, student_fn: Callable[..., Any], reference: Callable[..., Tensor], cases: Sequence[_Case],
                x: Tensor, mistakes: Sequence[tuple[Callable[..., Tensor], str]], hint: str) -> Verdict:
    """Run ``student_fn(x, *case.args)`` for every case and compare it with ``reference``.

    On a mismatch, ``mistakes`` (a wrong implementation, the hint for it) name the mistake when the
    student's output equals one of them; ``hint`` is said otherwise.
    """
    what = f"your {op}"
    for case in cases:
        x_in = x.clone()
        try:
            got = student_fn(x_in, *case.args)
        except Exception as error:  # a student's bug is a verdict, not a crash of the lesson
            return _raised(what, error, hint)
        if got is None:
            return _not_written(what)
        if not isinstance(got, Tensor):
            return Verdict(False, f"{what} returned a {type(got).__name__}, not a torch.Tensor",
                           hint="work on tensors with torch operations, so that T stays differentiable")
        if not torch.equal(x_in, x):
            return Verdict(False, f"{what} changed its input x in place",
                           hint="return a new tensor (e.g. x * mask, not x[...] = 0): an in-place change "
                                "breaks autograd and changes the images the caller still holds")
        expected = reference(x, *case.args)
        if got.shape != expected.shape:
            return Verdict(False, f"{what} returned shape {tuple(got.shape)}; expected {tuple(expected.shape)} "
                                  f"(the shape of x)", hint=hint)
        if torch.allclose(got.to(expected.dtype), expected, atol=TOLERANCE, rtol=0):
            continue
        i, c, r, col, count = _first_mismatch(expected, got.to(expected.dtype))
        details = [f"image {i}, {case.describe(i)}: {count} of its {x.shape[2] * x.shape[3]} pixels differ",
                   f"first at row {r}, column {col}, channel {c}: expected {float(expected[i, c, r, col]) + 0.0:.4f}, "
                   f"got {float(got[i, c, r, col]) + 0.0:.4f}"]  # + 0.0: print -0.0 as 0.0
        named = next((text for wrong, text in mistakes if torch.allclose(got.to(expected.dtype), wrong(x, *case.args),
                                                                         atol=TOLERANCE, rtol=0)), hint)
        return Verdict(False, f"{op} differs from the formula", details, named)
    return Verdict(True, f"{op} matches the package's formula on {len(cases)} calls of {x.shape[0]} images each")


def _values(*rows: Sequence[float], integer: bool = False) -> list[Tensor]:
    dtype = torch.long if integer else torch.float32
    return [torch.tensor(row, dtype=dtype) for row in rows]


def _scaled_about_mean(mean_dims: tuple[int, ...]) -> Callable[[Tensor, Tensor], Tensor]:
    """(x - m) * factor + m with m the mean over ``mean_dims``: saturation and contrast, and their mix-ups."""
    def scaled(x: Tensor, factor: Tensor) -> Tensor:
        mean = x.mean(dim=mean_dims, keepdim=True)
        return (x - mean) * factor.view(-1, 1, 1, 1) + mean
    return scaled


def brightness_verdict(student_fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """The verdict of :func:`check_brightness` (without displaying it)."""
    x = _test_images()
    cases = [_Case((shift,), lambda i, s=shift: f"shift {s[i]:.2f}") for shift in _values([0.3, -0.45, 0.0], [-0.2, 0.1, 0.49])]
    mistakes = [(lambda x, shift: x + shift.mean(), "every image got the same shift; each image has its own: "
                 "shift[i] goes to image i (reshape shift to (N, 1, 1, 1))")]
    return _compare_op("brightness", student_fn, augment.brightness, cases, x, mistakes,
                       "brightness adds shift[i] to every pixel and channel of image i: x + shift.view(-1, 1, 1, 1)")


def check_brightness(student_fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``student_fn(x, shift)`` = x + shift per image. ``shift``: (N,). Shows the verdict; True if right."""
    return show(brightness_verdict(student_fn))


def saturation_verdict(student_fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """The verdict of :func:`check_saturation` (without displaying it)."""
    x = _test_images()
    cases = [_Case((factor,), lambda i, f=factor: f"factor {f[i]:.2f}") for factor in _values([0.0, 1.7, 1.0], [0.4, 1.2, 1.9])]

    mistakes = [
        (_scaled_about_mean((2, 3)), "you took the mean of each channel over the image; saturation uses, at each pixel, the mean "
                        "over its channels: x.mean(dim=1, keepdim=True)"),
        (_scaled_about_mean((1, 2, 3)), "you took the mean of the whole image (that is contrast); saturation uses, "
                                        "at each pixel, the mean over its channels: x.mean(dim=1, keepdim=True)"),
        (lambda x, factor: x * factor.view(-1, 1, 1, 1), "you scaled x itself; scale its distance to the pixel's "
                                                         "channel mean m: (x - m) * factor + m"),
    ]
    return _compare_op("saturation", student_fn, augment.saturation, cases, x, mistakes,
                       "m = x.mean(dim=1, keepdim=True) (per pixel, over channels); (x - m) * factor + m, factor per image")


def check_saturation(student_fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``student_fn(x, factor)``: (x - m) * factor + m, m the per-pixel channel mean. Shows the verdict; True if right."""
    return show(saturation_verdict(student_fn))


def contrast_verdict(student_fn: Callable[[Tensor, Tensor], Tensor]) -> Verdict:
    """The verdict of :func:`check_contrast` (without displaying it)."""
    x = _test_images()
    cases = [_Case((factor,), lambda i, f=factor: f"factor {f[i]:.2f}") for factor in _values([0.5, 1.4, 1.0], [0.8, 1.1, 1.49])]

    mistakes = [
        (_scaled_about_mean((2, 3)), "you took the mean of each channel separately; contrast uses one mean per image, over "
                        "C, H and W: x.mean(dim=(1, 2, 3), keepdim=True)"),
        (_scaled_about_mean((1,)), "you took the per-pixel channel mean (that is saturation); contrast uses one mean per image, "
                      "over C, H and W: x.mean(dim=(1, 2, 3), keepdim=True)"),
        (_scaled_about_mean((0, 1, 2, 3)), "you took one mean over the whole batch; each image has its own mean: "
                              "x.mean(dim=(1, 2, 3), keepdim=True)"),
        (lambda x, factor: x * factor.view(-1, 1, 1, 1), "you scaled x itself; scale its distance to the image "
                                                         "mean m: (x - m) * factor + m"),
    ]
    return _compare_op("contrast", student_fn, augment.contrast, cases, x, mistakes,
                       "m = x.mean(dim=(1, 2, 3), keepdim=True) (one per image); (x - m) * factor + m")


def check_contrast(student_fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``student_fn(x, factor)``: (x - m) * factor + m, m the mean of each image. Shows the verdict; True if right."""
    return show(contrast_verdict(student_fn))


def _shifted(x: Tensor, shift_h: Tensor, shift_w: Tensor, sign: int, wrap: bool) -> Tensor:
    """Translation variants for diagnosis: out(i, j) = x(i + sign * shift_h, j + sign * shift_w), zero or wrapped."""
    if wrap:
        return torch.stack([torch.roll(image, (-sign * int(h), -sign * int(w)), dims=(1, 2))
                            for image, h, w in zip(x, shift_h, shift_w)])
    return augment.translation(x, sign * shift_h, sign * shift_w)


def translation_verdict(student_fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Verdict:
    """The verdict of :func:`check_translation` (without displaying it)."""
    x = _test_images()
    shifts = [_values([1, -2, 0], [0, 2, -1], integer=True), _values([-3, 2, 1], [3, 0, -2], integer=True)]
    cases = [_Case((h, w), lambda i, h=h, w=w: f"shift_h {int(h[i])}, shift_w {int(w[i])}") for h, w in shifts]
    mistakes = [
        (lambda x, h, w: _shifted(x, h, w, 1, wrap=True),
         "the pixels that leave one side come back on the other (wrap-around, as torch.roll does); translation "
         "fills the uncovered border with 0 (mid-grey)"),
        (lambda x, h, w: _shifted(x, h, w, -1, wrap=True),
         "wrap-around (torch.roll) in the opposite direction: out(i, j) = x(i + shift_h, j + shift_w), and pixels "
         "that do not exist are 0, not wrapped"),
        (lambda x, h, w: _shifted(x, h, w, -1, wrap=False),
         "the image moves the opposite way: out(i, j) = x(i + shift_h, j + shift_w), so shift_h = 1 shows the row "
         "below at each row (the image moves up)"),
    ]
    return _compare_op("translation", student_fn, augment.translation, cases, x, mistakes,
                       "out(i, j) = x(i + shift_h, j + shift_w) where that pixel exists, else 0; e.g. pad x with "
                       "zeros and crop the shifted window")


def check_translation(student_fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Check ``student_fn(x, shift_h, shift_w)`` (integer shifts (N,), zero fill). Shows the verdict; True if right."""
    return show(translation_verdict(student_fn))


def _cutout_from(x: Tensor, centre_h: Tensor, centre_w: Tensor, size_h: int, size_w: int, offset: int) -> Tensor:
    """Cutout whose square starts at centre - size // 2 + offset (offset 0 is the official one), clipped."""
    mask = torch.ones_like(x[:, :1])
    for i, (ch, cw) in enumerate(zip(centre_h.tolist(), centre_w.tolist())):
        top, left = ch - size_h // 2 + offset, cw - size_w // 2 + offset
        mask[i, :, max(top, 0):max(top + size_h, 0), max(left, 0):max(left + size_w, 0)] = 0
    return x * mask


def cutout_verdict(student_fn: Callable[[Tensor, Tensor, Tensor, int, int], Tensor]) -> Verdict:
    """The verdict of :func:`check_cutout` (without displaying it)."""
    x = _test_images()
    calls = [  # centres inside, on the border (clipped) and at the far edge, even and odd sizes
        (_values([3, 0, 8], [4, 7, 1], integer=True), 4, 4),
        (_values([1, 6, 5], [0, 8, 3], integer=True), 3, 5),
    ]
    cases = [_Case((h, w, sh, sw), lambda i, h=h, w=w, sh=sh, sw=sw: f"centre ({int(h[i])}, {int(w[i])}), size {sh}x{sw}")
             for (h, w), sh, sw in calls]
    mistakes = [
        (lambda x, h, w, sh, sw: _cutout_from(x, h, w, sh, sw, 1),
         "the square is one pixel too far down/right: it covers rows centre_h - size_h // 2 ... centre_h - size_h // 2 "
         "+ size_h - 1 (likewise columns)"),
        (lambda x, h, w, sh, sw: _cutout_from(x, h, w, sh, sw, -1),
         "the square is one pixel too far up/left: it covers rows centre_h - size_h // 2 ... centre_h - size_h // 2 "
         "+ size_h - 1 (likewise columns)"),
    ]
    return _compare_op("cutout", student_fn, augment.cutout, cases, x, mistakes,
                       "zero (all channels) rows centre_h - size_h // 2 ... + size_h - 1 and the same columns, "
                       "clipped at the border: a square that sticks out keeps only its part inside the image")


def check_cutout(student_fn: Callable[[Tensor, Tensor, Tensor, int, int], Tensor]) -> bool:
    """Check ``student_fn(x, centre_h, centre_w, size_h, size_w)`` (clipped square of zeros). Shows the verdict; True if right."""
    return show(cutout_verdict(student_fn))


POLICY_CASES = (  # policy, p: DiffAugment's order, another order, and p < 1 (some ops skipped for some images)
    ("color,translation,cutout", 1.0),
    ("cutout,translation,contrast", 1.0),
    ("color,translation,cutout", 0.5),
)


def _in_official_order(x: Tensor, params: augment.AugmentParams) -> Tensor:
    """The usual mistake for :func:`check_policy`: every op applied, but in DiffAugment's order, not the policy's."""
    order = sorted(range(len(params.ops)), key=lambda i: augment.OPS.index(params.ops[i]))
    reordered = augment.AugmentParams(tuple(params.ops[i] for i in order), [params.values[i] for i in order],
                                      [params.applied[i] for i in order], params.cutout_size)
    return augment.apply_reference(x, reordered)


def _cutout_everywhere(x: Tensor, params: augment.AugmentParams) -> Tensor:
    """The other usual mistake: cutout applied to every image, also where ``params.applied`` says it was skipped."""
    applied = [torch.ones_like(a) if op == "cutout" else a for op, a in zip(params.ops, params.applied)]
    return augment.apply_reference(x, augment.AugmentParams(params.ops, params.values, applied, params.cutout_size))


def policy_verdict(student_fn: Callable[[Tensor, augment.AugmentParams], Tensor]) -> Verdict:
    """The verdict of :func:`check_policy` (without displaying it)."""
    x = _test_images(n=4)
    what = "your T"
    for policy, p in POLICY_CASES:
        params = augment.sample_params(x, policy, augment.Strengths(p=p), torch.Generator().manual_seed(3))
        call = f"policy {policy!r}, p = {p:g}"
        try:
            got = student_fn(x.clone(), params)
        except Exception as error:
            return _raised(f"{what} ({call})", error, "look up each op's values by name: params.values[i]['shift'], ...")
        if got is None:
            return _not_written(what)
        if not isinstance(got, Tensor) or got.shape != x.shape:
            return Verdict(False, f"{what} ({call}) did not return a tensor shaped like x")
        expected = augment.apply_reference(x, params)
        if torch.allclose(got, expected, atol=TOLERANCE, rtol=0):
            continue
        i, c, r, col, count = _first_mismatch(expected, got)
        details = [f"image {i}: {params.describe(i)}", f"{count} of its pixels differ; first at row {r}, column {col}, "
                   f"channel {c}: expected {float(expected[i, c, r, col]) + 0.0:.4f}, got {float(got[i, c, r, col]) + 0.0:.4f}"]
        if torch.allclose(got, _in_official_order(x, params), atol=TOLERANCE, rtol=0):
            hint = "apply the ops in the order of params.ops (the policy's order): cutout then translation is not " \
                   "translation then cutout"
        elif torch.allclose(got, _cutout_everywhere(x, params), atol=TOLERANCE, rtol=0):
            hint = "cutout's centres are drawn for every image: cut only where params.applied[i] is True " \
                   "(the other ops already carry neutral values where they were skipped)"
        else:
            hint = "for each op in params.ops, in order, call its formula with params.values[i]; cutout also takes " \
                   "params.cutout_size and applies only where params.applied[i]"
        return Verdict(False, f"T differs from the policy's chain of ops ({call})", details, hint)
    return Verdict(True, f"your T matches the package's on {len(POLICY_CASES)} policies (two orders of the ops, "
                         "and p = 0.5)")


def check_policy(student_fn: Callable[[Tensor, augment.AugmentParams], Tensor]) -> bool:
    """Check ``student_fn(x, params)``: T applied as ``params`` (an :class:`~diffaug_lessons.augment.AugmentParams`)
    says, op after op in the policy's order, with the readable formulas. Shows the verdict; True if right."""
    return show(policy_verdict(student_fn))


# ---------------------------------------------------------------------------------------------------
# T is differentiable


def differentiable_verdict(student_fn: Callable[[Tensor], Tensor]) -> Verdict:
    """The verdict of :func:`check_differentiable` (without displaying it)."""
    x = _test_images(n=2, channels=3, side=5, seed=1).double().requires_grad_(True)
    what = "your T"
    hint = "write T with torch operations on x itself (adds, multiplies, indexing, masks): no .detach(), .numpy(), " \
           "torch.no_grad() or rounding"
    try:
        out = student_fn(x)
    except Exception as error:
        return _raised(what, error, hint)
    if out is None:
        return _not_written(what)
    if not isinstance(out, Tensor):
        return Verdict(False, f"{what} returned a {type(out).__name__}, not a torch.Tensor", hint=hint)
    if not out.requires_grad:
        return Verdict(False, "no gradient reaches x: the output of T is not connected to its input in autograd "
                              "(detached, computed under no_grad or outside torch)", hint=hint)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (gradient,) = torch.autograd.grad((out * weights).sum(), x, allow_unused=True)
    if gradient is None or not gradient.abs().gt(0).any():
        return Verdict(False, "the gradient of T is zero everywhere: G would receive no training signal through T",
                       hint="a step function (rounding, thresholds) has gradient 0; " + hint)
    try:
        passed = torch.autograd.gradcheck(student_fn, (x,), eps=1e-6, atol=1e-5, raise_exception=False)
    except Exception as error:  # gradcheck calls the function again: a T that draws new parameters fails here
        return _raised("gradcheck on your T", error, hint)
    if not passed:
        return Verdict(False, "torch.autograd.gradcheck failed: the gradient autograd computes differs from the "
                              "finite differences of T", hint="T must give the same output for the same input: fix its "
                                                              "random parameters outside the function; " + hint)
    return Verdict(True, "gradients flow through T, and torch.autograd.gradcheck agrees with finite differences "
                         "(float64)")


def check_differentiable(student_fn: Callable[[Tensor], Tensor]) -> bool:
    """Check that ``student_fn(x)`` (an op of T with fixed parameters) passes ``torch.autograd.gradcheck``
    in float64 and passes a non-zero gradient to x. Shows the verdict; True if right."""
    return show(differentiable_verdict(student_fn))


# ---------------------------------------------------------------------------------------------------
# D's overfitting gap


class _TinyD(nn.Module):
    """A fixed linear D on (N, 1, 4, 4) images whose logits are far from 0 (so sigmoid matters)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.linspace(-2, 3, 16).view(1, 16))
            self.linear.bias.fill_(0.5)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> Tensor:  # unconditional: labels unused
        return self.linear(images.flatten(1))


def d_gap_verdict(student_fn: Callable[[nn.Module, Tensor, Tensor], float]) -> Verdict:
    """The verdict of :func:`check_d_gap` (without displaying it)."""
    generator = torch.Generator().manual_seed(4)
    train_reals = torch.rand(20, 1, 4, 4, generator=generator) * 2 - 1
    heldout_reals = torch.rand(30, 1, 4, 4, generator=generator) * 2 - 1.3
    D = _TinyD()
    what = "your d_gap"
    try:
        got = student_fn(D, train_reals, heldout_reals)
    except Exception as error:
        return _raised(what, error, "D(images) gives logits of shape (N, 1); torch.sigmoid turns them into D's output")
    if got is None:
        return _not_written(what)
    got = float(got)
    with torch.no_grad():
        train, heldout = discriminator_report(D, train_reals, True), discriminator_report(D, heldout_reals, True)
        logits = (D(train_reals).mean() - D(heldout_reals).mean()).item()
    expected = train.mean_output - heldout.mean_output
    if abs(got - expected) <= 1e-5:
        return Verdict(True, f"D's gap = {expected:.4f}: mean sigmoid(D) on training reals ({train.mean_output:.4f}) "
                             f"minus on held-out reals ({heldout.mean_output:.4f})")
    details = [f"expected {expected:.4f} = {train.mean_output:.4f} (training reals) - {heldout.mean_output:.4f} "
               f"(held-out reals), got {got:.4f}"]
    if abs(got + expected) <= 1e-5:
        hint = "the sign is reversed: training reals minus held-out reals (positive when D prefers its own reals)"
    elif abs(got - logits) <= 1e-4:
        hint = "you compared D's logits; D's output is sigmoid(logit), between 0 (fake) and 1 (real)"
    elif abs(got - (train.accuracy - heldout.accuracy)) <= 1e-5:
        hint = "that is the gap in accuracy; the gap of the lessons is in D's mean output sigmoid(D(x))"
    else:
        hint = "mean of torch.sigmoid(D(train_reals)) minus mean of torch.sigmoid(D(heldout_reals))"
    return Verdict(False, "D's gap differs", details, hint)


def check_d_gap(student_fn: Callable[[nn.Module, Tensor, Tensor], float]) -> bool:
    """Check ``student_fn(D, train_reals, heldout_reals) -> float``: D's mean output sigmoid(D(x)) on the
    training reals minus on the held-out reals (the lessons' ``d_gap``). Shows the verdict; True if right."""
    return show(d_gap_verdict(student_fn))


# ---------------------------------------------------------------------------------------------------
# Where T is applied: the train step


@dataclass
class _Seen:
    """One call of D during the student's step."""

    step: str  # "D step" or "G step"
    source: str  # "reals", "fakes" or "unknown"
    augmented: bool
    reaches_generator: bool


class _TinyG(nn.Module):
    """z (N, 4) -> images (N, 1, 4, 4); remembers the storage of every image it made."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 16)
        self.outputs: list[int] = []
        self.alive: list[Tensor] = []  # kept, so that no storage address is reused during the step

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:  # unconditional: labels unused
        images = torch.tanh(self.linear(z)).view(-1, 1, 4, 4)
        self.outputs.append(images.data_ptr())
        self.alive.append(images)
        return images


class _RecordingD(nn.Module):
    """A linear D that writes down, for every input, what it was (see :class:`_Seen`)."""

    def __init__(self, describe: Callable[[Tensor], _Seen]) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 1)
        self.describe = describe
        self.seen: list[_Seen] = []

    def forward(self, images: Tensor, labels: Tensor | None = None) -> Tensor:  # unconditional: labels unused
        self.seen.append(self.describe(images))
        return self.linear(images.flatten(1))


def _run_student_step(student_fn: Callable[..., Any], strategy: str) -> list[_Seen]:
    """Run the student's step once for ``strategy`` with recording G, D and T; return what D saw."""
    torch.manual_seed(0)
    G = _TinyG()
    augmented_from: dict[int, int] = {}  # storage of T's output -> storage of its input
    alive: list[Tensor] = []  # T's inputs and outputs, kept so that no storage address is reused during the step
    steps_taken: list[str] = []
    x_real = torch.rand(6, 1, 4, 4) * 2 - 1
    z = torch.randn(6, 4)

    def T(x: Tensor) -> Tensor:
        out = x.flip(3) * 0.9
        augmented_from[out.data_ptr()] = x.data_ptr()
        alive.extend((x, out))
        return out

    def describe(images: Tensor) -> _Seen:
        pointer = images.data_ptr()
        augmented = pointer in augmented_from
        origin = augmented_from.get(pointer, pointer)
        source = "reals" if origin == x_real.data_ptr() else "fakes" if origin in G.outputs else "unknown"
        step = "G step" if "D" in steps_taken else "D step"
        return _Seen(step, source, augmented, images.requires_grad)

    D = _RecordingD(describe)
    opt_g = torch.optim.SGD(G.parameters(), lr=0.01)
    opt_d = torch.optim.SGD(D.parameters(), lr=0.01)
    opt_d.register_step_post_hook(lambda *_: steps_taken.append("D"))
    opt_g.register_step_post_hook(lambda *_: steps_taken.append("G"))
    student_fn(G, D, opt_g, opt_d, x_real, z, T, strategy)
    if steps_taken != ["D", "G"]:
        raise _StepOrder(steps_taken)
    return D.seen


class _StepOrder(Exception):
    def __init__(self, steps_taken: list[str]) -> None:
        super().__init__(steps_taken)
        self.steps_taken = steps_taken


def _name(source: str, augmented: bool) -> str:
    plain = {"reals": "x", "fakes": "G(z)", "unknown": "an image that is neither x nor G(z)"}[source]
    return f"T({plain})" if augmented and source != "unknown" else plain


def train_step_verdict(student_fn: Callable[..., Any]) -> Verdict:
    """The verdict of :func:`check_train_step` (without displaying it)."""
    what = "your train step"
    hint = "use the three flags of WHERE_T_IS_APPLIED[strategy]: D(T(x_real) if flag else x_real), and so on"
    for strategy, (reals_d, fakes_d, fakes_g) in WHERE_T_IS_APPLIED.items():
        try:
            seen = _run_student_step(student_fn, strategy)
        except _StepOrder as order:
            taken = " then ".join(f"opt_{s.lower()}.step()" for s in order.steps_taken) or "no optimizer step"
            if not order.steps_taken:
                return Verdict(False, f"{what} took no optimizer step: not written yet?",
                               hint="replace the `...` in the exercise cell with the D step and the G step")
            return Verdict(False, f"strategy {strategy!r}: {what} called {taken}",
                           hint="one D step (opt_d.step()) and then one G step (opt_g.step()), as train_step does")
        except Exception as error:
            return _raised(f"{what} (strategy {strategy!r})", error, hint)
        expected = {("D step", "reals"): reals_d, ("D step", "fakes"): fakes_d, ("G step", "fakes"): fakes_g}
        table = f"WHERE_T_IS_APPLIED[{strategy!r}] = {(reals_d, fakes_d, fakes_g)}"
        for (step, source), augment_it in expected.items():
            calls = [s for s in seen if s.step == step and s.source == source]
            if not calls:
                return Verdict(False, f"strategy {strategy!r}, {step}: D never saw the {source}",
                               [f"D saw: {', '.join(f'{s.step}: {_name(s.source, s.augmented)}' for s in seen) or 'nothing'}"],
                               "the D step scores reals and fakes; the G step scores fakes")
            for call in calls:
                if call.augmented != augment_it:
                    return Verdict(False, f"strategy {strategy!r}, {step}: D saw {_name(source, call.augmented)}; "
                                          f"expected {_name(source, augment_it)}", [table], hint)
        strays = [s for s in seen if s.source == "unknown" or (s.step == "G step" and s.source == "reals")]
        if strays:
            stray = strays[0]
            return Verdict(False, f"strategy {strategy!r}, {stray.step}: D saw {_name(stray.source, stray.augmented)}",
                           hint="give D exactly x_real, G(z) or T of them (the G step needs only fakes)")
        for call in (s for s in seen if s.step == "G step"):
            if not call.reaches_generator:
                where = "T(G(z))" if call.augmented else "G(z)"
                return Verdict(False, f"strategy {strategy!r}, G step: no gradient flows from D's verdict back to G "
                                      f"through {where}",
                               ["the images D scored in the G step are detached from G (computed under "
                                "torch.no_grad() or from x_fake.detach())"],
                               "in the G step use x_fake itself, not x_fake.detach(), and no no_grad: with DiffAugment "
                               "G learns through T")
    return Verdict(True, "for all four strategies D saw x or T(x), G(z) or T(G(z)) exactly where WHERE_T_IS_APPLIED "
                         "says, and G's gradient flowed through T in DiffAugment's G step")


def check_train_step(student_fn: Callable[..., Any]) -> bool:
    """Check ``student_fn(G, D, opt_g, opt_d, x_real, z, T, strategy)``: one D step then one G step.

    The same signature as :func:`~diffaug_lessons.train.train_step` without ``loss`` and ``autocast``.
    For each of the four strategies it runs one step with a tiny G and a D that records what it is
    shown, and compares with ``WHERE_T_IS_APPLIED``: reals and fakes in the D step, fakes in the G
    step, and that G's gradient reaches it (through T where T is applied). Shows the verdict; True if right.
    """
    return show(train_step_verdict(student_fn))


# ---------------------------------------------------------------------------------------------------
# ADA's update of p


def ada_reference(p: float, r_t: float, target: float, batch_size: int, interval: int, ada_kimg: float) -> float:
    """p + sign(r_t - target) * batch_size * interval / (ada_kimg * 1000), clamped to [0, 1]."""
    step = batch_size * interval / (ada_kimg * 1000)
    sign = (r_t > target) - (r_t < target)
    return min(max(p + sign * step, 0.0), 1.0)


ADA_CASES = (  # p, r_t, target, batch_size, interval, ada_kimg
    (0.5, 0.9, 0.6, 32, 4, 10.0),
    (0.5, 0.2, 0.6, 32, 4, 10.0),
    (0.3, 0.8, 0.6, 64, 4, 500.0),
    (0.0, 0.1, 0.6, 32, 4, 10.0),
    (0.995, 1.0, 0.6, 32, 4, 10.0),
    (0.4, 0.6, 0.6, 32, 4, 10.0),
)


def ada_update_verdict(student_fn: Callable[[float, float, float, int, int, float], float]) -> Verdict:
    """The verdict of :func:`check_ada_update` (without displaying it)."""
    what = "your ADA update"
    for p, r_t, target, batch, interval, kimg in ADA_CASES:
        call = f"p={p}, r_t={r_t}, target={target}, batch_size={batch}, interval={interval}, ada_kimg={kimg}"
        try:
            got = student_fn(p, r_t, target, batch, interval, kimg)
        except Exception as error:
            return _raised(f"{what} ({call})", error)
        if got is None:
            return _not_written(what)
        got = float(got)
        expected = ada_reference(p, r_t, target, batch, interval, kimg)
        if abs(got - expected) <= 1e-9:
            continue
        step = batch * interval / (kimg * 1000)
        unclamped = p + ((r_t > target) - (r_t < target)) * step
        if abs(got - ada_reference(p, -r_t, -target, batch, interval, kimg)) <= 1e-9:
            hint = ("p moved the wrong way: r_t above the target means D is too sure of its training reals "
                    "(overfitting), so p must go up")
        elif abs(got - unclamped) <= 1e-9:
            hint = "p must stay a probability: clamp it to [0, 1]"
        elif abs(abs(got - p) - step) > 1e-9 and abs(got - p) > 0:
            hint = f"p moves by batch_size * interval / (ada_kimg * 1000) = {step:g} per adjustment"
        else:
            hint = "p += sign(r_t - target) * batch_size * interval / (ada_kimg * 1000), then clamp to [0, 1]"
        return Verdict(False, f"ADA update with {call}: expected p = {expected:.6g}, got {got:.6g}", hint=hint)
    return Verdict(True, f"the update of p matches ADA's rule on {len(ADA_CASES)} cases (above, below and at the "
                         "target, and at both ends of [0, 1])")


def check_ada_update(student_fn: Callable[[float, float, float, int, int, float], float]) -> bool:
    """Check ``student_fn(p, r_t, target, batch_size, interval, ada_kimg) -> new p`` (numbers in, a number out):
    ADA's p += sign(r_t - target) * batch_size * interval / (ada_kimg * 1000), clamped to [0, 1].
    Shows the verdict; True if right."""
    return show(ada_update_verdict(student_fn))


# ---------------------------------------------------------------------------------------------------
# Lesson 07: the class-conditional D step


class _RecordingConditionalD(nn.Module):
    """A tiny projection-style D(x, y) that records the images and labels it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.linspace(-1.0, 1.0, 16).view(1, 1, 4, 4))
        self.embed = nn.Parameter(torch.linspace(-0.5, 0.5, 10))
        self.seen: list[tuple[Tensor, Tensor]] = []

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        self.seen.append((x.detach().clone(), y.detach().clone()))
        return (x * self.weight).sum(dim=(1, 2, 3)) + self.embed[y] * x.mean(dim=(1, 2, 3)) * 4


def _shift_right(x: Tensor) -> Tensor:
    """A fixed, differentiable T for the checker: each image moved one column right, zero fill."""
    return F.pad(x, [1, 0, 0, 0])[..., :-1]


def conditional_d_loss_verdict(student_fn: Callable[..., Tensor]) -> Verdict:
    """The verdict of :func:`check_conditional_d_loss` (without displaying it)."""
    generator = torch.Generator().manual_seed(7)
    x_real = torch.rand(6, 1, 4, 4, generator=generator) * 2 - 1
    x_fake = (torch.rand(6, 1, 4, 4, generator=generator) * 2 - 1).requires_grad_(True)
    y_real, y_fake = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([9, 8, 7, 6, 5, 4])
    D = _RecordingConditionalD()
    what = "your conditional D loss"
    try:
        loss = student_fn(D, x_real, y_real, x_fake, y_fake, _shift_right)
    except Exception as error:
        return _raised(what, error, "D takes (images, labels): D(T(x_real), y_real); T takes images only")
    if loss is None:
        return _not_written(what)
    with torch.no_grad():
        reference = _RecordingConditionalD()
        expected = (F.relu(1 - reference(_shift_right(x_real), y_real)).mean()
                    + F.relu(1 + reference(_shift_right(x_fake), y_fake)).mean()).item()
    seen = D.seen
    details: list[str] = []
    if len(seen) != 2:
        return Verdict(False, f"D was called {len(seen)} times; the D step calls it twice (reals, then fakes)",
                       hint="d_real = D(T(x_real), y_real); d_fake = D(T(x_fake.detach()), y_fake)")
    (real_images, real_labels), (fake_images, fake_labels) = seen
    with torch.no_grad():
        shifted_real, shifted_fake = _shift_right(x_real), _shift_right(x_fake)
    if torch.equal(real_labels, y_fake) or torch.equal(fake_labels, y_real):
        return Verdict(False, "the labels are swapped", hint="the reals go with their own labels y_real, the fakes "
                       "with the classes G drew them for, y_fake")
    if not (torch.equal(real_labels, y_real) and torch.equal(fake_labels, y_fake)):
        return Verdict(False, "D was shown other labels than y_real and y_fake",
                       hint="T acts on the images only: pass the labels to D unchanged")
    for name, shown, plain, shifted in (("reals", real_images, x_real, shifted_real),
                                        ("fakes", fake_images, x_fake.detach(), shifted_fake)):
        if torch.allclose(shown, plain) and not torch.allclose(shown, shifted):
            return Verdict(False, f"D saw the plain {name}", hint=f"DiffAugment: D sees T({name}) in the D step")
        if not torch.allclose(shown, shifted):
            return Verdict(False, f"D saw {name} that are neither x nor T(x)", hint="call T once on the images")
    got = float(loss.detach() if isinstance(loss, Tensor) else loss)
    if abs(got - expected) > 1e-5:
        details.append(f"expected the hinge loss {expected:.5f}, got {got:.5f}")
        with torch.no_grad():
            softplus = (F.softplus(-reference(shifted_real, y_real)).mean()
                        + F.softplus(reference(shifted_fake, y_fake)).mean()).item()
        hint = ("that is the non-saturating loss of the DCGAN lessons; BigGAN's D uses the hinge: "
                "relu(1 - d_real).mean() + relu(1 + d_fake).mean()" if abs(got - softplus) <= 1e-5 else
                "relu(1 - d_real).mean() + relu(1 + d_fake).mean()")
        return Verdict(False, "the loss differs", details, hint)
    if isinstance(loss, Tensor) and loss.requires_grad:
        loss.backward()
        if x_fake.grad is not None and x_fake.grad.abs().sum() > 0:
            return Verdict(False, "the D loss reaches G's images", hint="the D step trains D only: T(x_fake.detach())")
    return Verdict(True, f"hinge loss {expected:.5f}: T on the images of both sides, the labels untouched "
                         "(reals with y_real, fakes with y_fake), the fakes detached")


def check_conditional_d_loss(student_fn: Callable[..., Tensor]) -> bool:
    """Check ``student_fn(D, x_real, y_real, x_fake, y_fake, T) -> loss``: the class-conditional D step of
    DiffAugment with the hinge loss, relu(1 - D(T(x_real), y_real)).mean() + relu(1 + D(T(x_fake), y_fake)).mean()
    with the fakes detached. Shows the verdict; True if right."""
    return show(conditional_d_loss_verdict(student_fn))


# ---------------------------------------------------------------------------------------------------
# Lesson 08: novelty, the copy check of the 100-shot protocol


def novelty_verdict(student_fn: Callable[[Tensor, Tensor], float]) -> Verdict:
    """The verdict of :func:`check_novelty` (without displaying it)."""
    generator = torch.Generator().manual_seed(3)
    train_images = torch.rand(20, 1, 4, 4, generator=generator) * 2 - 1
    cases = {
        "copies of the training images": train_images[:10].repeat(2, 1, 1, 1),
        "new images": torch.rand(31, 1, 4, 4, generator=generator) * 2 - 1,
        "training images with a little noise": train_images + 0.1 * torch.randn(20, 1, 4, 4, generator=generator),
    }
    what = "your novelty"
    for name, samples in cases.items():
        try:
            got = student_fn(samples, train_images)
        except Exception as error:
            return _raised(what, error, "torch.cdist(a.flatten(1), b.flatten(1)) gives every pairwise distance")
        if got is None:
            return _not_written(what)
        got, expected = float(got), novelty(samples, train_images)
        if abs(got - expected) > 1e-4:
            flat = train_images.flatten(1)
            self_included = torch.cdist(flat, flat).min(dim=1).values.median()
            hint = ("the denominator is 0: a training image's nearest *other* image (fill the diagonal with inf)"
                    if self_included == 0 and not torch.isfinite(torch.tensor(got)) else
                    "median over samples of the distance to the nearest training image, over the median over training "
                    "images of the distance to the nearest other training image")
            return Verdict(False, f"{name}: expected {expected:.4f}, got {got:.4f}", hint=hint)
    return Verdict(True, "copies score 0, new images about 1: " + ", ".join(
        f"{name} {novelty(samples, train_images):.2f}" for name, samples in cases.items()))


def check_novelty(student_fn: Callable[[Tensor, Tensor], float]) -> bool:
    """Check ``student_fn(samples, train_images) -> float``: the median L2 distance of a sample to its nearest
    training image over the median distance of a training image to its nearest other one (no mirrors).
    Shows the verdict; True if right."""
    return show(novelty_verdict(student_fn))


__all__ = [
    "Verdict", "show", "check_brightness", "check_saturation", "check_contrast", "check_translation", "check_cutout",
    "check_policy", "check_differentiable", "check_d_gap", "check_train_step", "check_ada_update", "ada_reference",
    "check_conditional_d_loss", "check_novelty",
]
