"""The solutions of the lessons' exercises, kept out of the notebooks.

A notebook's solution cell asks ``solution(name)`` (:func:`diffaug_lessons.widgets.solution`): the
student sees a button that reveals the code, and the cell runs the checker on it, so the committed
notebook shows the checker's verdict but not the code, wherever it is read. ``tests/test_solutions.py``
runs every solution through its checker: a solution that stops passing fails the tests.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .augment import brightness, contrast, cutout, saturation, translation
from .errors import check_choice
from .train import WHERE_T_IS_APPLIED


# Lesson 00. The shift needs a shape that broadcasts over C, H and W: (N, 1, 1, 1).
def solution_brightness(x, shift):
    return x + shift.view(-1, 1, 1, 1)


# Lesson 00: pad with H rows and W columns of zeros on every side, then crop each image's window.
def solution_translation(x, shift_h, shift_w):
    n, _, h, w = x.shape
    padded = F.pad(x, [w, w, h, h])
    windows = []
    for i in range(n):
        top, left = h + int(shift_h[i]), w + int(shift_w[i])
        windows.append(padded[i, :, top:top + h, left:left + w])
    return torch.stack(windows)


# Lesson 00: a mask of ones with each image's square set to 0; max(..., 0) clips at the top and left,
# and slicing past the end clips at the bottom and right by itself.
def solution_cutout(x, centre_h, centre_w, size_h, size_w):
    mask = torch.ones_like(x[:, :1])
    for i in range(len(x)):
        top, left = int(centre_h[i]) - size_h // 2, int(centre_w[i]) - size_w // 2
        mask[i, :, max(top, 0):top + size_h, max(left, 0):left + size_w] = 0
    return x * mask


# Lesson 01: D's mean verdict (a probability) on its training reals minus that on held-out reals.
def solution_d_gap(D, train_reals, heldout_reals):
    with torch.no_grad():
        return (torch.sigmoid(D(train_reals)).mean() - torch.sigmoid(D(heldout_reals)).mean()).item()


# Lesson 02: saturation scales each pixel's distance to the mean over its channels.
def solution_saturation(x, factor):
    pixel_mean = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
    return (x - pixel_mean) * factor.view(-1, 1, 1, 1) + pixel_mean


# Lesson 02: contrast scales each pixel's distance to the mean of the whole image.
def solution_contrast(x, factor):
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    return (x - image_mean) * factor.view(-1, 1, 1, 1) + image_mean


# Lesson 03: the package's train_step (lesson 04 prints it) without autocast and the hinge loss.
def solution_train_step(G, D, opt_g, opt_d, x_real, z, T, strategy):
    augment_reals_in_d, augment_fakes_in_d, augment_fakes_in_g = WHERE_T_IS_APPLIED[strategy]
    x_fake = G(z)
    d_real = D(T(x_real) if augment_reals_in_d else x_real)
    d_fake = D(T(x_fake.detach()) if augment_fakes_in_d else x_fake.detach())
    loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()

    loss_g = F.softplus(-D(T(x_fake) if augment_fakes_in_g else x_fake)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()


# Lesson 04: contrast, translation and cutout chained, each from the package's differentiable formulas.
def solution_differentiable_T(x):
    x = contrast(x, torch.tensor([1.3, 0.7], dtype=x.dtype))
    x = translation(x, torch.tensor([1, -1]), torch.tensor([0, 2]))
    return cutout(x, torch.tensor([1, 3]), torch.tensor([1, 0]), 2, 2)


FORMULAS = {"brightness": brightness, "saturation": saturation, "contrast": contrast, "translation": translation}


# Lesson 05: each op of the policy in order with its drawn values; cutout only where it was applied.
def solution_policy_T(x, params):
    for op, values, applied in zip(params.ops, params.values, params.applied):
        if op == "cutout":
            cut = cutout(x, values["centre_h"], values["centre_w"], *params.cutout_size)
            x = torch.where(applied.view(-1, 1, 1, 1), cut, x)
        else:
            x = FORMULAS[op](x, **values)
    return x


# Lesson 06: ADA's step: p moves by batch * interval / (ada_kimg * 1000) towards r_t = target, within [0, 1].
def solution_ada_update(p, r_t, target, batch_size, interval, ada_kimg):
    sign = (r_t > target) - (r_t < target)  # +1, 0 or -1
    p = p + sign * batch_size * interval / (ada_kimg * 1000)
    return min(max(p, 0.0), 1.0)


# Lesson 07: T on the images only; each side with its own labels; the fakes detached; BigGAN's hinge loss.
def solution_conditional_d_loss(D, x_real, y_real, x_fake, y_fake, T):
    d_real = D(T(x_real), y_real)
    d_fake = D(T(x_fake.detach()), y_fake)
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


# Lesson 08: nearest distances by torch.cdist; a training image's own distance (0) must not count.
def solution_novelty(samples, train_images):
    train = train_images.flatten(1)
    to_train = torch.cdist(samples.flatten(1), train).min(dim=1).values
    between = torch.cdist(train, train).fill_diagonal_(float("inf")).min(dim=1).values
    return (to_train.median() / between.median()).item()


SOLUTIONS: dict[str, Callable] = {
    "00-brightness": solution_brightness, "00-translation": solution_translation, "00-cutout": solution_cutout,
    "01-d-gap": solution_d_gap, "02-saturation": solution_saturation, "02-contrast": solution_contrast,
    "03-train-step": solution_train_step, "04-differentiable-t": solution_differentiable_T,
    "05-policy": solution_policy_T, "06-ada-update": solution_ada_update,
    "07-conditional-d-loss": solution_conditional_d_loss, "08-novelty": solution_novelty,
}


def get(name: str) -> Callable:
    """The solution called ``name`` (one of :data:`SOLUTIONS`)."""
    return SOLUTIONS[check_choice("solution name", name, SOLUTIONS)]
