"""DiffAugment: formulas against hand-computed values, fast path == readable path, errors."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diffaug_lessons.augment import (
    POLICY_NAMES,
    AugmentParams,
    DiffAugment,
    Strengths,
    apply,
    apply_reference,
    brightness,
    contrast,
    cutout,
    parse_policy,
    sample_params,
    saturation,
    translation,
)


def test_brightness_adds_the_shift_per_image():
    x = torch.zeros(2, 3, 2, 2)
    out = brightness(x, torch.tensor([0.25, -0.5]))
    assert torch.equal(out[0], torch.full((3, 2, 2), 0.25))
    assert torch.equal(out[1], torch.full((3, 2, 2), -0.5))


def test_saturation_scales_distance_to_the_channel_mean():
    x = torch.tensor([[0.6, 0.0, -0.3]]).view(1, 3, 1, 1)  # channel mean 0.1
    out = saturation(x, torch.tensor([2.0]))
    assert torch.allclose(out.flatten(), torch.tensor([1.1, -0.1, -0.7]))
    assert torch.allclose(saturation(x, torch.tensor([0.0])).flatten(), torch.full((3,), 0.1))


def test_contrast_scales_distance_to_the_image_mean():
    x = torch.tensor([1.0, -1.0, 0.5, 0.5]).view(1, 1, 2, 2)  # mean 0.25
    out = contrast(x, torch.tensor([0.5]))
    assert torch.allclose(out.flatten(), torch.tensor([0.625, -0.375, 0.375, 0.375]))


def test_translation_moves_pixels_and_pads_with_zero():
    x = torch.arange(1, 10, dtype=torch.float32).view(1, 1, 3, 3)
    out = translation(x, torch.tensor([1]), torch.tensor([0]))  # out(i, j) = x(i + 1, j)
    assert torch.equal(out[0, 0], torch.tensor([[4.0, 5, 6], [7, 8, 9], [0, 0, 0]]))
    out = translation(x, torch.tensor([0]), torch.tensor([-1]))  # out(i, j) = x(i, j - 1)
    assert torch.equal(out[0, 0], torch.tensor([[0.0, 1, 2], [0, 4, 5], [0, 7, 8]]))


def test_cutout_zeroes_a_clipped_square_in_every_channel():
    x = torch.ones(1, 2, 4, 4)
    out = cutout(x, torch.tensor([0]), torch.tensor([3]), 2, 2)  # rows -1..0, cols 2..3, clipped
    expected = torch.ones(4, 4)
    expected[0, 2:4] = 0
    assert torch.equal(out[0, 0], expected) and torch.equal(out[0, 1], expected)


def test_official_default_ranges():
    x = torch.zeros(4000, 3, 8, 8)
    params = sample_params(x, "color,translation,cutout")
    shift, sat, con = (next(iter(v.values())) for v in params.values[:3])
    assert -0.5 <= shift.min() and shift.max() < 0.5
    assert 0 <= sat.min() and sat.max() < 2 and sat.std() > 0.5
    assert 0.5 <= con.min() and con.max() < 1.5
    th = params.values[3]["shift_h"]
    assert set(th.tolist()) == {-1, 0, 1}  # int(8 * 1/8 + 0.5) = 1
    assert params.cutout_size == (4, 4)  # int(8 * 1/2 + 0.5)
    assert set(params.values[4]["centre_h"].tolist()) == set(range(9))  # even size: centre in 0..H


def test_parameters_are_drawn_per_image():
    out = DiffAugment(torch.zeros(64, 3, 8, 8), "brightness")
    per_image = out.flatten(1)
    assert torch.all(per_image.std(dim=1) == 0)  # one value within an image
    assert per_image[:, 0].unique().numel() == 64  # different across images


def test_color_is_brightness_saturation_contrast():
    assert parse_policy("color,cutout") == ("brightness", "saturation", "contrast", "cutout")
    assert parse_policy("") == ()
    assert parse_policy(" translation , ") == ("translation",)


@pytest.mark.parametrize(
    "policy",
    [
        "color,translation,cutout", "translation,cutout", "color", "brightness", "contrast,brightness",
        "saturation,translation,contrast,cutout", "cutout,translation,cutout", "translation", "flip,color", "rot90",
    ],
)
@pytest.mark.parametrize("p", [1.0, 0.5])
@pytest.mark.parametrize("shape", [(6, 3, 16, 16), (5, 1, 8, 8), (4, 3, 3, 3), (3, 2, 1, 1), (4, 4, 12, 12)])
def test_fast_path_equals_readable_path_forward_and_backward(policy, p, shape, cpu_path):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    params = sample_params(x, policy, Strengths(translation_ratio=0.3, p=p))
    with cpu_path():
        fast = apply(x, params)
    slow = apply_reference(x, params)
    assert torch.allclose(fast, slow, atol=1e-12)
    upstream = torch.randn_like(fast)
    (grad_fast,) = torch.autograd.grad(fast, x, upstream)
    (grad_slow,) = torch.autograd.grad(slow, x, upstream)
    assert torch.allclose(grad_fast, grad_slow, atol=1e-12)


def test_gradients_reach_the_input_through_every_op():
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    DiffAugment(x, "color,translation,cutout").square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_generator_makes_draws_reproducible():
    x = torch.randn(4, 3, 16, 16)
    a = DiffAugment(x, generator=torch.Generator().manual_seed(3))
    b = DiffAugment(x, generator=torch.Generator().manual_seed(3))
    c = DiffAugment(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_return_params_describes_what_was_done():
    out, params = DiffAugment(torch.randn(2, 3, 8, 8), "brightness,cutout", return_params=True)
    assert isinstance(params, AugmentParams) and params.ops == ("brightness", "cutout")
    assert params.describe(0).startswith("brightness(shift=")


def test_p_zero_and_zero_strengths_are_the_identity():
    x = torch.randn(5, 3, 16, 16)
    assert torch.equal(DiffAugment(x, "color,translation,cutout,flip,rot90", p=0.0), x)
    same = DiffAugment(x, "color,translation,cutout", color_strength=0.0, translation_ratio=0.0, cutout_ratio=0.0)
    assert torch.allclose(same, x, atol=1e-6)


def test_p_controls_the_fraction_of_augmented_images():
    params = sample_params(torch.zeros(20000, 1, 4, 4), "cutout", Strengths(p=0.3))
    assert abs(params.applied[0].float().mean().item() - 0.3) < 0.02


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_keeps_dtype_and_shape(dtype):
    x = torch.rand(3, 3, 8, 8).to(dtype) * 2 - 1
    out = DiffAugment(x)
    assert out.dtype == dtype and out.shape == x.shape


def test_errors_name_the_bad_value_and_the_choices():
    x = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"unknown augmentation 'cutuot'.*cutout.*did you mean 'cutout'"):
        DiffAugment(x, "color,cutuot")
    with pytest.raises(ValueError, match=r"4 dims.*\(3, 8, 8\)"):
        DiffAugment(torch.zeros(3, 8, 8))
    with pytest.raises(TypeError, match="uint8"):
        DiffAugment(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"translation_ratio must be in \[0.0, 1.0\]; got 1.5"):
        DiffAugment(x, translation_ratio=1.5)
    with pytest.raises(ValueError, match=r"cutout_ratio .* got -0.1"):
        DiffAugment(x, cutout_ratio=-0.1)
    with pytest.raises(ValueError, match=r"p must be in .* got 2"):
        DiffAugment(x, p=2)
    with pytest.raises(ValueError, match="rot90 needs square images; got 8x6"):
        DiffAugment(torch.zeros(1, 1, 8, 6), "rot90")
    for name in POLICY_NAMES:  # every listed name is accepted
        DiffAugment(torch.zeros(1, 1, 4, 4), name)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 4), c=st.integers(1, 4), h=st.integers(1, 12), w=st.integers(1, 12),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    policy=st.lists(st.sampled_from(["color", "brightness", "saturation", "contrast", "translation", "cutout", "flip"]),
                    max_size=4),
    p=st.floats(0, 1), ratio=st.floats(0, 1), strength=st.floats(0, 1),
)
def test_any_accepted_input_gives_finite_output_and_gradients(n, c, h, w, dtype, policy, p, ratio, strength, cpu_path):
    x = (torch.rand(n, c, h, w, dtype=dtype) * 2 - 1).requires_grad_(True)
    with cpu_path():
        out = DiffAugment(x, ",".join(policy), p=p, translation_ratio=ratio, cutout_ratio=ratio, color_strength=strength)
        assert out.shape == x.shape and torch.isfinite(out).all()
        out.sum().backward()  # an expanded (stride 0) gradient
    assert torch.isfinite(x.grad).all()
