"""AFNO's two implementations of the spectral step agree, in values and gradients.

The fused path (one autograd function, complex GEMMs, hand-written backward)
runs in eager mode and under torch.compile; the traceable path (real pairs,
plain ATen operations) runs under torch.export, ONNX export and jit tracing.
Both match the explicit reference (test_mixers_afno_reference.py); here they
are compared with each other in float32, on more grids, input layouts and
gradient layouts than the reference can afford.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from afno.mixers import AFNO
from afno.mixers.block_complex_mlp import block_complex_mlp
from afno.mixers.real_pair_mlp import real_pair_mlp
from afno.mixers.spectral_modes import modes_from_fractions
from numerics import assert_close_across_paths


def mixer_pair(
    channels: int, blocks: int, keep: float | tuple[float, ...], seed: int
) -> tuple[AFNO, AFNO]:
    """Two mixers with the same weights, one per path; weights large enough for the
    ReLU and the soft-shrink to act on a good share of the modes."""
    generator = torch.Generator().manual_seed(seed)
    fused = AFNO(channels, num_blocks=blocks, keep_fraction=keep, spectral_path="fused")
    with torch.no_grad():
        for parameter in fused.parameters():
            parameter.normal_(0.0, 0.3, generator=generator)
    traceable = AFNO(channels, num_blocks=blocks, keep_fraction=keep, spectral_path="traceable")
    traceable.load_state_dict(fused.state_dict())
    return fused, traceable


def outputs_and_gradients(
    mixer: AFNO, x: torch.Tensor, upstream: torch.Tensor
) -> list[torch.Tensor]:
    """The output and the gradients of ``<mixer(x), upstream>`` for x and every parameter."""
    x = x.detach().requires_grad_()
    mixer.zero_grad()
    out = mixer(x)
    out.backward(upstream)
    grads = [x.grad] + [p.grad for p in mixer.parameters()]
    return [out.detach(), *(g for g in grads if g is not None)]


@settings(max_examples=30, deadline=None)
@given(
    spatial=st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
    blocks=st.sampled_from([1, 2, 4]),
    keep=st.sampled_from([1.0, 0.75, 0.5, 0.3, 0.1]),
    batch=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_paths_agree_on_any_grid(
    spatial: tuple[int, ...], blocks: int, keep: float, batch: int, seed: int
) -> None:
    fused, traceable = mixer_pair(8, blocks, keep, seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *spatial, 8, generator=generator)
    upstream = torch.randn(batch, *spatial, 8, generator=generator)
    expected = outputs_and_gradients(traceable, x, upstream)
    actual = outputs_and_gradients(fused, x, upstream)
    assert len(actual) == len(expected) == 6  # output, x and four parameters
    for got, want in zip(actual, expected, strict=True):
        assert_close_across_paths(got, want)


@pytest.mark.parametrize("keep", [1.0, 0.5])
def test_input_and_gradient_layouts_do_not_change_the_result(keep: float) -> None:
    """Tokens and upstream gradients stored channels-first (a permuted view) give the
    same values as contiguous ones: the backward orders the gradient's modes as the
    forward's, not as its own strides would."""
    fused, _ = mixer_pair(16, 4, keep, seed=5)
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 16, 6, 10, generator=generator)  # stored (B, C, H, W)
    upstream = torch.randn(2, 16, 6, 10, generator=generator)
    channels_first_x = x.permute(0, 2, 3, 1)
    channels_first_up = upstream.permute(0, 2, 3, 1)
    reference = outputs_and_gradients(
        fused, channels_first_x.contiguous(), channels_first_up.contiguous()
    )
    for tokens, grad in (
        (channels_first_x, channels_first_up.contiguous()),
        (channels_first_x.contiguous(), channels_first_up),
        (channels_first_x, channels_first_up),
    ):
        for got, want in zip(outputs_and_gradients(fused, tokens, grad), reference, strict=True):
            assert_close_across_paths(got, want)


def test_fused_and_real_pair_mlp_agree_in_float64() -> None:
    generator = torch.Generator().manual_seed(2)
    blocks, block, hidden = 2, 4, 8
    spectrum = torch.randn(2, 5, 3, blocks * block, 2, dtype=torch.float64, generator=generator)
    spectrum = torch.view_as_complex(spectrum).requires_grad_()
    real_weights = [
        (torch.randn(*shape, 2, dtype=torch.float64, generator=generator) * 0.5).requires_grad_()
        for shape in (
            (blocks, hidden, block),
            (blocks, hidden),
            (blocks, block, hidden),
            (blocks, block),
        )
    ]
    upstream = torch.randn(spectrum.shape, dtype=torch.complex128, generator=generator)

    def run(function_of_weights: object) -> list[torch.Tensor]:
        out = function_of_weights()  # type: ignore[operator]
        inputs = [spectrum, *real_weights]
        grads = torch.autograd.grad(out, inputs, upstream)
        return [out.detach(), *grads]

    fused = run(
        lambda: block_complex_mlp(
            spectrum, *(torch.view_as_complex(w) for w in real_weights), threshold=0.1
        )
    )
    pairs = run(lambda: real_pair_mlp(spectrum, *real_weights, threshold=0.1))
    assert float((torch.view_as_real(fused[0]) == 0).double().mean()) > 0.05  # shrinkage acts
    for got, want in zip(fused, pairs, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_spectral_path_is_checked() -> None:
    with pytest.raises(ValueError, match=r"spectral_path must be one of .*'fast'"):
        AFNO(16, num_blocks=4, spectral_path="fast")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(thousandths=st.integers(1, 999), size=st.integers(1, 5000))
def test_keep_fraction_is_exact_for_the_decimal_written(thousandths: int, size: int) -> None:
    fraction = thousandths / 1000
    cutoff = math.floor(Fraction(thousandths, 1000) * size / 2)
    (axis,) = modes_from_fractions((size,), fraction)
    assert axis.low == cutoff + 1


def test_keep_fraction_where_floating_point_drops_a_mode() -> None:
    assert math.floor(0.82 * 2400 / 2) == 983  # the rounding the library avoids
    (axis,) = modes_from_fractions((2400,), 0.82)
    assert axis.low == 985  # frequencies 0..984
