"""The student checkers: right implementations pass, the mistakes students make fail with a precise message."""

import contextlib

import pytest
import torch
import torch.nn.functional as F

from diffaug_lessons import augment, checks
from diffaug_lessons.train import WHERE_T_IS_APPLIED, d_loss, g_loss, train_step

# -- student implementations, right and wrong -----------------------------------------------------


def brightness_right(x, shift):
    return x + shift[:, None, None, None]


def brightness_same_for_all(x, shift):
    return x + shift.mean()


def saturation_right(x, factor):
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * factor.view(-1, 1, 1, 1) + mean


def saturation_about_channel_mean_over_image(x, factor):
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean) * factor.view(-1, 1, 1, 1) + mean


def contrast_right(x, factor):
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * factor.view(-1, 1, 1, 1) + mean


def contrast_per_channel_mean(x, factor):
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean) * factor.view(-1, 1, 1, 1) + mean


def translation_right(x, shift_h, shift_w):
    n, _, h, w = x.shape
    padded = F.pad(x, [w, w, h, h])  # zeros all round, wide enough for any shift
    out = []
    for i in range(n):
        top, left = h + int(shift_h[i]), w + int(shift_w[i])
        out.append(padded[i, :, top:top + h, left:left + w])
    return torch.stack(out)


def translation_roll(x, shift_h, shift_w):
    return torch.stack([torch.roll(image, (-int(h), -int(w)), dims=(1, 2)) for image, h, w in zip(x, shift_h, shift_w)])


def translation_opposite(x, shift_h, shift_w):
    return translation_right(x, -shift_h, -shift_w)


def cutout_right(x, centre_h, centre_w, size_h, size_w):
    mask = torch.ones_like(x)
    for i in range(len(x)):
        top, left = int(centre_h[i]) - size_h // 2, int(centre_w[i]) - size_w // 2
        mask[i, :, max(top, 0):top + size_h, max(left, 0):left + size_w] = 0
    return x * mask


def cutout_centre_off_by_one(x, centre_h, centre_w, size_h, size_w):
    return cutout_right(x, centre_h + 1, centre_w + 1, size_h, size_w)


def cutout_in_place(x, centre_h, centre_w, size_h, size_w):
    for i in range(len(x)):
        top, left = int(centre_h[i]) - size_h // 2, int(centre_w[i]) - size_w // 2
        x[i, :, max(top, 0):top + size_h, max(left, 0):left + size_w] = 0
    return x


def cutout_not_clipped(x, centre_h, centre_w, size_h, size_w):
    mask = torch.ones_like(x)
    for i in range(len(x)):
        top, left = int(centre_h[i]) - size_h // 2, int(centre_w[i]) - size_w // 2
        mask[i, :, top:top + size_h, left:left + size_w] = 0  # a negative start wraps to the far side
    return x * mask


def not_written(*args):
    ...


def verdict_of(check, fn):
    return getattr(checks, check.replace("check_", "") + "_verdict")(fn)


# -- the ops of T -----------------------------------------------------------------------------------


@pytest.mark.parametrize("check, fn", [
    ("check_brightness", brightness_right), ("check_brightness", augment.brightness),
    ("check_saturation", saturation_right), ("check_saturation", augment.saturation),
    ("check_contrast", contrast_right), ("check_contrast", augment.contrast),
    ("check_translation", translation_right), ("check_translation", augment.translation),
    ("check_cutout", cutout_right), ("check_cutout", augment.cutout),
])
def test_a_right_op_is_correct(check, fn, capsys):
    assert getattr(checks, check)(fn) is True
    assert capsys.readouterr().out.startswith("correct: ")


@pytest.mark.parametrize("check, fn, expected", [
    ("check_brightness", brightness_same_for_all, "every image got the same shift"),
    ("check_saturation", saturation_about_channel_mean_over_image, "mean of each channel over the image"),
    ("check_contrast", contrast_per_channel_mean, "mean of each channel separately"),
    ("check_translation", translation_roll, "wrap-around, as torch.roll does"),
    ("check_translation", translation_opposite, "the image moves the opposite way"),
    ("check_cutout", cutout_centre_off_by_one, "one pixel too far down/right"),
    ("check_cutout", cutout_in_place, "changed its input x in place"),
    ("check_cutout", cutout_not_clipped, "clipped at the border"),
])
def test_a_students_mistake_is_named(check, fn, expected, capsys):
    assert getattr(checks, check)(fn) is False
    out = capsys.readouterr().out
    assert out.startswith("not yet: ") and expected in out


def test_a_mismatch_says_which_image_pixel_and_values():
    verdict = checks.translation_verdict(translation_roll)
    assert verdict.headline == "translation differs from the formula"
    image_line, pixel_line = verdict.details
    assert image_line.startswith("image 0, shift_h 1, shift_w 0: 8 of its 64 pixels differ")
    assert pixel_line.startswith("first at row 7, column 0, channel 0: expected 0.0000, got ")
    brightness = checks.brightness_verdict(lambda x, shift: x + 0.3)
    assert "image 1, shift -0.45" in brightness.details[0]
    assert "x + shift.view(-1, 1, 1, 1)" in brightness.hint


@pytest.mark.parametrize("check", ["check_brightness", "check_saturation", "check_contrast", "check_translation",
                                   "check_cutout", "check_policy", "check_differentiable", "check_d_gap",
                                   "check_train_step", "check_ada_update"])
def test_an_unwritten_stub_says_so_and_does_not_raise(check, capsys):
    assert getattr(checks, check)(not_written) is False
    assert "not written yet?" in capsys.readouterr().out


def test_a_crash_or_a_wrong_type_is_a_verdict():
    crash = checks.brightness_verdict(lambda x, shift: x + shift)  # (3,) does not broadcast against (3, 3, 8, 8)
    assert not crash.ok and crash.headline.startswith("your brightness raised RuntimeError")
    numpy = checks.contrast_verdict(lambda x, factor: x.numpy())
    assert not numpy.ok and "returned a ndarray, not a torch.Tensor" in numpy.headline
    shape = checks.saturation_verdict(lambda x, factor: x.mean(dim=1))
    assert not shape.ok and "returned shape (3, 8, 8); expected (3, 3, 8, 8)" in shape.headline


def test_the_diagnostic_variants_agree_with_the_package():
    x = checks._test_images()
    centre_h, centre_w = torch.tensor([3, 0, 8]), torch.tensor([4, 7, 1])
    for size in (3, 4):
        assert torch.equal(checks._cutout_from(x, centre_h, centre_w, size, size, 0),
                           augment.cutout(x, centre_h, centre_w, size, size))
    shift_h, shift_w = torch.tensor([1, -2, 3]), torch.tensor([0, 2, -1])
    assert torch.equal(translation_right(x, shift_h, shift_w), augment.translation(x, shift_h, shift_w))


# -- a policy: the ops in order ---------------------------------------------------------------------

FORMULAS = {"brightness": brightness_right, "saturation": saturation_right, "contrast": contrast_right,
            "translation": translation_right}


def policy_right(x, params):
    for op, values, applied in zip(params.ops, params.values, params.applied):
        if op == "cutout":
            cut = cutout_right(x, values["centre_h"], values["centre_w"], *params.cutout_size)
            x = torch.where(applied.view(-1, 1, 1, 1), cut, x)
        else:
            x = FORMULAS[op](x, **values)
    return x


def policy_cutout_everywhere(x, params):
    for op, values in zip(params.ops, params.values):
        if op == "cutout":
            x = cutout_right(x, values["centre_h"], values["centre_w"], *params.cutout_size)
        else:
            x = FORMULAS[op](x, **values)
    return x


def policy_in_official_order(x, params):
    order = ["brightness", "saturation", "contrast", "translation", "cutout"]
    steps = sorted(zip(params.ops, params.values, params.applied), key=lambda step: order.index(step[0]))
    for op, values, applied in steps:
        if op == "cutout":
            x = torch.where(applied.view(-1, 1, 1, 1), cutout_right(x, values["centre_h"], values["centre_w"],
                                                                      *params.cutout_size), x)
        else:
            x = FORMULAS[op](x, **values)
    return x


def test_policy(capsys):
    assert checks.check_policy(policy_right) is True
    assert checks.check_policy(lambda x, params: augment.apply(x, params)) is True  # the fast path agrees
    capsys.readouterr()
    assert checks.check_policy(policy_in_official_order) is False
    out = capsys.readouterr().out
    assert "policy 'cutout,translation,contrast'" in out and "in the order of params.ops" in out
    assert checks.check_policy(policy_cutout_everywhere) is False
    out = capsys.readouterr().out
    assert "p = 0.5" in out and "cut only where params.applied[i] is True" in out and "cutout: skipped" in out


# -- D's gap ----------------------------------------------------------------------------------------


def d_gap_right(D, train_reals, heldout_reals):
    with torch.no_grad():
        return (torch.sigmoid(D(train_reals)).mean() - torch.sigmoid(D(heldout_reals)).mean()).item()


@pytest.mark.parametrize("fn, expected", [
    (lambda D, a, b: d_gap_right(D, b, a), "the sign is reversed"),
    (lambda D, a, b: (D(a).mean() - D(b).mean()).item(), "you compared D's logits"),
    (lambda D, a, b: ((D(a) > 0).float().mean() - (D(b) > 0).float().mean()).item(), "that is the gap in accuracy"),
])
def test_d_gap(fn, expected, capsys):
    assert checks.check_d_gap(d_gap_right) is True
    capsys.readouterr()
    assert checks.check_d_gap(fn) is False
    assert expected in capsys.readouterr().out


# -- T is differentiable ----------------------------------------------------------------------------


def test_differentiable_accepts_the_ops_of_t(capsys):
    shift, factor = torch.tensor([0.2, -0.1]), torch.tensor([1.3, 0.6])
    centre = torch.tensor([1, 4])
    for op in (lambda x: augment.brightness(x, shift), lambda x: augment.contrast(x, factor),
               lambda x: augment.translation(x, torch.tensor([1, -1]), torch.tensor([0, 2])),
               lambda x: augment.cutout(x, centre, centre, 2, 2), lambda x: saturation_right(x, factor)):
        assert checks.check_differentiable(op) is True
    assert "gradcheck agrees" in capsys.readouterr().out


@pytest.mark.parametrize("fn, expected", [
    (lambda x: augment.brightness(x.detach(), torch.tensor([0.2, -0.1])), "no gradient reaches x"),
    (lambda x: torch.from_numpy(x.detach().numpy() + 0.2), "no gradient reaches x"),
    (lambda x: torch.round(x * 4) / 4, "the gradient of T is zero everywhere"),
    (lambda x: x.numpy(), "raised RuntimeError"),
    (lambda x: augment.brightness(x, torch.rand(2, dtype=x.dtype) - 0.5), "gradcheck failed"),
])
def test_differentiable_refuses_what_cuts_g_off(fn, expected, capsys):
    with torch.random.fork_rng():
        assert checks.check_differentiable(fn) is False
    assert expected in capsys.readouterr().out


def test_differentiable_catches_a_custom_function_with_a_wrong_backward():
    class WrongBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad  # should be 2 * grad

    verdict = checks.differentiable_verdict(WrongBackward.apply)
    assert not verdict.ok and "gradcheck failed" in verdict.headline


# -- the train step ---------------------------------------------------------------------------------


def step_right(G, D, opt_g, opt_d, x_real, z, T, strategy):
    return train_step(G, D, opt_g, opt_d, x_real, z, T, strategy)


def _step(where, g_step_images):
    """A train step that applies T where ``where(strategy)`` says, with the G step's images from ``g_step_images``."""
    def step(G, D, opt_g, opt_d, x_real, z, T, strategy):
        reals_d, fakes_d, fakes_g = where(strategy)
        x_fake = G(z)
        loss_d = d_loss("nonsaturating", D(T(x_real) if reals_d else x_real),
                        D(T(x_fake.detach()) if fakes_d else x_fake.detach()))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = g_loss("nonsaturating", D(g_step_images(x_fake, T, fakes_g)))
        opt_g.zero_grad()
        loss_g.backward() if loss_g.requires_grad else None
        opt_g.step()
    return step


def _fakes_no_grad(x_fake, T, augment_it):
    with torch.no_grad():
        return T(x_fake) if augment_it else x_fake


def _fakes_detached(x_fake, T, augment_it):
    return T(x_fake.detach()) if augment_it else x_fake


def _fakes_right(x_fake, T, augment_it):
    return T(x_fake) if augment_it else x_fake


def test_train_step_accepts_the_package_step_and_a_students(capsys):
    assert checks.check_train_step(step_right) is True
    assert checks.check_train_step(_step(WHERE_T_IS_APPLIED.get, _fakes_right)) is True
    assert "for all four strategies" in capsys.readouterr().out


@pytest.mark.parametrize("fn, expected", [
    (_step(WHERE_T_IS_APPLIED.get, _fakes_no_grad),
     "strategy 'diffaugment', G step: no gradient flows from D's verdict back to G through T(G(z))"),
    (_step(WHERE_T_IS_APPLIED.get, _fakes_detached),
     "strategy 'diffaugment', G step: no gradient flows from D's verdict back to G through T(G(z))"),
    (_step(lambda s: (s != "none", s != "none", s != "none"), _fakes_right),
     "strategy 'reals_only', D step: D saw T(G(z)); expected G(z)"),
    (_step(lambda s: (s != "none", s in ("d_only", "diffaugment"), s == "d_only"), _fakes_right),
     "strategy 'd_only', G step: D saw T(G(z)); expected G(z)"),
    (_step(lambda s: (s == "diffaugment",) * 3, _fakes_right),
     "strategy 'reals_only', D step: D saw x; expected T(x)"),
])
def test_train_step_names_the_wrong_place(fn, expected, capsys):
    assert checks.check_train_step(fn) is False
    out = capsys.readouterr().out
    assert expected in out, out


def test_train_step_wants_one_d_step_then_one_g_step():
    def g_first(G, D, opt_g, opt_d, x_real, z, T, strategy):
        opt_g.step()
        opt_d.step()

    verdict = checks.train_step_verdict(g_first)
    assert not verdict.ok and verdict.headline == "strategy 'none': your train step called opt_g.step() then opt_d.step()"

    def skips_the_fakes(G, D, opt_g, opt_d, x_real, z, T, strategy):
        D(x_real).mean().backward()
        opt_d.step()
        D(G(z)).mean().backward()
        opt_g.step()

    verdict = checks.train_step_verdict(skips_the_fakes)
    assert not verdict.ok and verdict.headline == "strategy 'none', D step: D never saw the fakes"


# -- ADA --------------------------------------------------------------------------------------------


def ada_right(p, r_t, target, batch_size, interval, ada_kimg):
    p = p + torch.sign(torch.tensor(r_t - target)).item() * batch_size * interval / (ada_kimg * 1000)
    return min(max(p, 0.0), 1.0)


@pytest.mark.parametrize("fn, expected", [
    (lambda p, r, t, b, i, k: min(max(p - (r > t) * b * i / (k * 1000) + (r < t) * b * i / (k * 1000), 0), 1),
     "p moved the wrong way"),
    (lambda p, r, t, b, i, k: p + ((r > t) - (r < t)) * b * i / (k * 1000), "clamp it to [0, 1]"),
    (lambda p, r, t, b, i, k: min(max(p + ((r > t) - (r < t)) * b / (k * 1000), 0), 1),
     "p moves by batch_size * interval / (ada_kimg * 1000) = 0.0128"),
])
def test_ada_update(fn, expected, capsys):
    assert checks.check_ada_update(ada_right) is True
    capsys.readouterr()
    assert checks.check_ada_update(fn) is False
    out = capsys.readouterr().out
    assert expected in out and "expected p = " in out


# -- how a verdict shows ----------------------------------------------------------------------------


def test_in_a_kernel_the_verdict_is_displayed_as_html_with_a_text_fallback(monkeypatch):
    shown = []

    class Kernel:
        kernel = object()

    monkeypatch.setattr("IPython.get_ipython", lambda: Kernel())
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    with contextlib.redirect_stdout(None):
        assert checks.check_contrast(contrast_per_channel_mean) is False
    (bundle, raw), = shown
    assert raw and "diffaug-verdict wrong" in bundle["text/html"] and "&#10008; not yet" in bundle["text/html"]
    assert bundle["text/plain"].startswith("not yet: contrast differs from the formula")


# Lesson 07: the conditional D step

def _conditional(swap=False, plain=False, softplus=False, attached=False, t_on_labels=False):
    def d_loss(D, x_real, y_real, x_fake, y_fake, T):
        fake = x_fake if attached else x_fake.detach()
        yr, yf = (y_fake, y_real) if swap else (y_real, y_fake)
        if t_on_labels:
            yr = T(yr.float().view(-1, 1, 1, 1)).view(-1).long()
        d_real = D(x_real if plain else T(x_real), yr)
        d_fake = D(fake if plain else T(fake), yf)
        if softplus:
            return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    return d_loss


@pytest.mark.parametrize("mistake, says", [
    ({"swap": True}, "labels are swapped"), ({"plain": True}, "plain reals"), ({"softplus": True}, "non-saturating"),
    ({"attached": True}, "reaches G's images"), ({"t_on_labels": True}, "other labels"),
])
def test_the_conditional_d_loss_checker_names_each_mistake(mistake, says):
    from diffaug_lessons.checks import conditional_d_loss_verdict

    assert conditional_d_loss_verdict(_conditional()).ok
    verdict = conditional_d_loss_verdict(_conditional(**mistake))
    assert not verdict.ok and says in verdict.text()


def test_the_novelty_checker_refuses_a_denominator_that_counts_each_image_itself():
    from diffaug_lessons.checks import novelty_verdict

    def with_self(samples, train_images):
        train = train_images.flatten(1)
        to_train = torch.cdist(samples.flatten(1), train).min(dim=1).values
        return (to_train.median() / torch.cdist(train, train).min(dim=1).values.median()).item()

    def mean_not_median(samples, train_images):
        train = train_images.flatten(1)
        to_train = torch.cdist(samples.flatten(1), train).min(dim=1).values
        between = torch.cdist(train, train).fill_diagonal_(float("inf")).min(dim=1).values
        return (to_train.mean() / between.mean()).item()

    verdict = novelty_verdict(with_self)
    assert not verdict.ok and "nearest *other*" in verdict.text()
    assert not novelty_verdict(mean_not_median).ok
    assert not novelty_verdict(lambda samples, train: None).ok
