"""DiffAugment's fast path in the modes training uses: memory layouts, low precision, autocast, torch.compile.

Each test compares the fast path (``apply``) with the readable per-op formulas (``apply_reference``)
for the same drawn parameters, or with its own float32 / contiguous result.
"""

import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diffaug_lessons import augment_cpu
from diffaug_lessons.augment import DiffAugment, Strengths, apply, apply_reference, sample_params

POLICIES = ["color,translation,cutout", "translation,cutout", "color", "translation", "cutout",
            "saturation,translation,contrast,cutout", "translation,cutout,translation", "flip,color,translation"]


def _grad(out: torch.Tensor, x: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(out, x, upstream)
    return grad


# ---------------------------------------------------------------------------
# Memory layouts and autograd modes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_channels_last_gives_the_contiguous_result_and_gradients(policy, cpu_path):
    torch.manual_seed(0)
    x = torch.randn(6, 3, 12, 10, dtype=torch.float64, requires_grad=True)
    x_nhwc = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert not x_nhwc.is_contiguous()
    params = sample_params(x, policy, Strengths(translation_ratio=0.3, p=0.8))
    with cpu_path():
        out, out_nhwc = apply(x, params), apply(x_nhwc, params)
    assert torch.allclose(out_nhwc, out, atol=1e-12)  # sums over other memory orders: last-bit differences
    assert torch.allclose(out, apply_reference(x, params), atol=1e-12)
    upstream = torch.randn_like(out)
    assert torch.allclose(_grad(out_nhwc, x_nhwc, upstream), _grad(out, x, upstream), atol=1e-12)


def test_channels_last_output_stays_channels_last(cpu_path):
    x = torch.rand(4, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    with cpu_path():
        out = DiffAugment(x, "color,translation,cutout")
    assert out.is_contiguous(memory_format=torch.channels_last)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9),
    layout=st.sampled_from(["contiguous", "channels_last", "strided", "expanded"]),
    policy=st.lists(st.sampled_from(["color", "saturation", "contrast", "translation", "cutout"]), min_size=1,
                    max_size=5),
    ratio=st.floats(0, 1), p=st.sampled_from([1.0, 0.6]),
)
def test_any_policy_and_layout_equals_the_readable_path(n, c, h, w, layout, policy, ratio, p, cpu_path):
    """Repeated translations and cutouts, big shifts, odd shapes: fast == readable, forward and backward."""
    base = torch.randn(n, c, 2 * h, 2 * w, dtype=torch.float64)
    x = {
        "contiguous": base[:, :, :h, :w].contiguous(),
        "channels_last": base[:, :, :h, :w].contiguous(memory_format=torch.channels_last),
        "strided": base[:, :, ::2, ::2],
        "expanded": base[:, :1, :h, :w].expand(n, c, h, w),
    }[layout].requires_grad_(True)
    params = sample_params(x, ",".join(policy), Strengths(translation_ratio=ratio, cutout_ratio=ratio, p=p))
    with cpu_path():
        fast = apply(x, params)
        slow = apply_reference(x, params)
        assert torch.allclose(fast, slow, atol=1e-12)
        upstream = torch.randn_like(fast)
        assert torch.allclose(_grad(fast, x, upstream), _grad(slow, x, upstream), atol=1e-12)


def test_cpu_images_take_the_compiled_kernel_and_other_images_the_torch_ops():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    params = sample_params(x, "color,translation,cutout")
    assert type(apply(x, params).grad_fn).__name__ == "_AugmentBackward"
    assert type(apply(x.double(), params).grad_fn).__name__ == "_AugmentBackward"
    assert type(apply(x.bfloat16(), params).grad_fn).__name__ == "_ColorShiftKeepBackward"
    with augment_cpu.disabled():
        assert type(apply(x, params).grad_fn).__name__ == "_ColorShiftKeepBackward"
    assert type(apply(x, params).grad_fn).__name__ == "_AugmentBackward"  # back on after the block


def test_without_gradients_and_in_inference_mode():
    x = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    params = sample_params(x, "color,translation,cutout")
    expected = apply_reference(x, params)
    with torch.no_grad():
        assert torch.allclose(apply(x, params), expected, atol=1e-12)
    with torch.inference_mode():
        assert torch.allclose(apply(x, params), expected, atol=1e-12)


def test_second_derivatives_for_gradient_penalties(cpu_path):
    """An R1 penalty through T differentiates T's backward: the hand-written backward must be differentiable."""
    x = torch.randn(3, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    params = sample_params(x, "color,translation,cutout", Strengths(translation_ratio=0.3, p=0.7))
    with cpu_path():
        assert torch.autograd.gradgradcheck(lambda x: apply(x, params), (x,))
        assert torch.autograd.gradgradcheck(lambda x: apply(x, params) ** 2, (x,))  # third order: gradgrad of a product


def test_backward_twice_through_a_retained_graph(cpu_path):
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    params = sample_params(x, "color,translation,cutout", Strengths(translation_ratio=0.3))
    with cpu_path():
        out, upstream = apply(x, params), torch.randn(4, 3, 8, 8)
        out.backward(upstream, retain_graph=True)
        once = x.grad.clone()
        out.backward(upstream)
    assert torch.allclose(x.grad, 2 * once)
    assert torch.allclose(once, _grad(apply_reference(x, params), x, upstream), atol=1e-6)


# ---------------------------------------------------------------------------
# Low precision and autocast
# ---------------------------------------------------------------------------

TOLERANCE = {torch.bfloat16: 0.1, torch.float16: 0.02}  # outputs reach |3|; a few roundings of 2^-8 / 2^-11


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("policy", ["color,translation,cutout", "color", "translation,cutout"])
def test_low_precision_inputs_follow_the_float32_result(dtype, policy):
    torch.manual_seed(0)
    x32 = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    x_low = x32.detach().to(dtype).requires_grad_(True)
    params = sample_params(x32, policy)
    out32, out_low = apply(x32, params), apply(x_low, params)
    assert out_low.dtype == dtype and torch.isfinite(out_low).all()
    assert (out_low.float() - out32).abs().max() < TOLERANCE[dtype]
    upstream = torch.randn_like(out32)
    grad32, grad_low = _grad(out32, x32, upstream), _grad(out_low, x_low, upstream.to(dtype))
    assert grad_low.dtype == dtype and (grad_low.float() - grad32).abs().max() < TOLERANCE[dtype]


def test_autocast_bf16_keeps_float32_images_float32():
    """T has no matrix products, so autocast leaves it alone: same result as without autocast."""
    torch.manual_seed(0)
    x = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    params = sample_params(x, "color,translation,cutout", Strengths(translation_ratio=0.5))
    expected = apply(x, params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = apply(x, params)
        drawn = DiffAugment(x)
    assert out.dtype == torch.float32 and drawn.dtype == torch.float32
    assert torch.isfinite(out).all() and (out - expected).abs().max() < TOLERANCE[torch.bfloat16]
    assert torch.allclose(out, expected, atol=1e-6)  # in fact the same computation
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_autocast_bf16_images_from_a_layer_under_autocast():
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(3, 3, 1)
    z = torch.rand(4, 3, 16, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        images = layer(z)  # bf16 under autocast
        params = sample_params(images, "color,translation,cutout")
        out = apply(images, params)
    assert images.dtype == out.dtype == torch.bfloat16
    expected = apply_reference(images.detach().float(), params)
    assert (out.float() - expected).abs().max() < TOLERANCE[torch.bfloat16]
    out.float().sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


# ---------------------------------------------------------------------------
# torch.compile
# ---------------------------------------------------------------------------


def _diffaugment_with_params(x: torch.Tensor):
    return DiffAugment(x, "color,translation,cutout", return_params=True)


def test_compile_traces_diffaugment_as_one_graph():
    """The sampling and the fused path trace without graph breaks (backend 'eager': no compiler needed)."""
    torch._dynamo.reset()
    compiled = torch.compile(_diffaugment_with_params, backend="eager", fullgraph=True)
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    out, params = compiled(x)
    assert torch.allclose(out, apply_reference(x, params), atol=1e-6)
    upstream = torch.randn_like(out)
    assert torch.allclose(_grad(out, x, upstream), _grad(apply_reference(x, params), x, upstream), atol=1e-6)


HAS_CXX = any(shutil.which(name) for name in ("g++", "c++", "clang++"))


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CXX, reason="torch.compile's inductor backend needs a C++ compiler for CPU code; none found")
def test_inductor_compiled_diffaugment_matches_the_readable_path():
    torch._dynamo.reset()
    compiled = torch.compile(_diffaugment_with_params, fullgraph=True)
    for x in (torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8).contiguous(memory_format=torch.channels_last)):
        x.requires_grad_(True)
        out, params = compiled(x)
        expected = apply_reference(x, params)
        assert torch.allclose(out, expected, atol=1e-5)
        upstream = torch.randn_like(out)
        assert torch.allclose(_grad(out, x, upstream), _grad(expected, x, upstream), atol=1e-5)
    compiled_apply = torch.compile(apply)
    x = torch.randn(4, 3, 8, 8)
    params = sample_params(x, "color,translation,cutout", Strengths(translation_ratio=0.4, p=0.6))
    assert torch.allclose(compiled_apply(x, params), apply_reference(x, params), atol=1e-5)
