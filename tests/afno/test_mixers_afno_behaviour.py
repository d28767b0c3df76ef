"""AFNO behaviour: truncation, resolution, dtypes, input validation, properties."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from afno.mixers import AFNO
from afno.mixers.spectral_modes import modes_from_fractions
from afno.mixers.truncated_fft import kept_irfftn, kept_rfftn


def single_mode(shape: tuple[int, ...], axis: int, frequency: int) -> torch.Tensor:
    """Real tokens (1, *shape, 4): a cosine of ``frequency`` along ``axis``, times a channel vector."""
    n = shape[axis]
    wave = torch.cos(2 * math.pi * frequency * torch.arange(n, dtype=torch.float64) / n)
    view = [1] * len(shape)
    view[axis] = n
    channels = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    return (wave.view(*view).expand(*shape)[None, ..., None] * channels).contiguous()


@pytest.mark.parametrize("axis", [0, 1])
def test_high_mode_reaches_mlp_as_zero_and_low_mode_passes(axis: int) -> None:
    shape, keep = (16, 12), 0.5  # cutoffs |k| <= 4 (axis 0) and |k| <= 3 (axis 1)
    modes = modes_from_fractions(shape, keep)
    cutoff = math.floor(keep * shape[axis] / 2)
    mixer = AFNO(4, num_blocks=2, keep_fraction=keep).double()
    zero = torch.zeros(1, *shape, 4, dtype=torch.float64)
    for frequency in (cutoff + 1, shape[axis] // 2):
        x = single_mode(shape, axis, frequency)
        assert kept_rfftn(x, modes).abs().max() < 1e-12  # what the MLP receives
        torch.testing.assert_close(mixer(x) - x, mixer(zero), rtol=0, atol=1e-12)
    for frequency in (1, cutoff):
        x = single_mode(shape, axis, frequency)
        spectrum = kept_rfftn(x, modes)
        # Both +k and -k are kept: all the energy is in the kept spectrum (Parseval).
        kept_energy = spectrum.abs().square().sum() * (2 if axis == 1 else 1)
        torch.testing.assert_close(kept_energy, x.square().sum())
        assert (mixer(x) - x - mixer(zero)).abs().max() > 1e-6


@pytest.mark.parametrize("spatial", [(8,), (8, 6), (4, 6, 4)])
def test_same_weights_run_at_twice_the_resolution(spatial: tuple[int, ...]) -> None:
    """With zero biases and lambda=0 the MLP is positively homogeneous, so the mixer
    commutes with band-limited (spectral) upsampling."""
    generator = torch.Generator().manual_seed(0)
    mixer = AFNO(8, num_blocks=2, sparsity_threshold=0.0, generator=generator).double()
    with torch.no_grad():
        mixer.weight1.mul_(20)
        mixer.weight2.mul_(20)
        mixer.bias1.zero_()
        mixer.bias2.zero_()
    dims = tuple(range(1, len(spatial) + 1))
    low = torch.randn(1, *spatial, 8, dtype=torch.float64, generator=generator)
    band = torch.fft.fftn(low, dim=dims)
    for axis, n in enumerate(spatial):  # keep |k| < n / 4 so no Nyquist bin is involved
        freqs = torch.fft.fftfreq(n) * n
        mask = (freqs.abs() < n / 4).to(torch.float64)
        band = band * mask.view([1] + [n if a == axis else 1 for a in range(len(spatial))] + [1])
    low = torch.fft.ifftn(band, dim=dims).real

    def upsample(u: torch.Tensor) -> torch.Tensor:
        big = tuple(2 * n for n in spatial)
        spectrum = torch.fft.fftshift(torch.fft.fftn(u, dim=dims), dim=dims)
        padding = []
        for n in reversed(spatial):
            padding += [n // 2, n - n // 2]
        padded = torch.nn.functional.pad(spectrum.movedim(-1, 1), padding).movedim(1, -1)
        shifted = torch.fft.ifftshift(padded, dim=dims)
        return torch.fft.ifftn(shifted, dim=dims).real * (math.prod(big) / math.prod(spatial))

    high = upsample(low)
    torch.testing.assert_close(mixer(high) - high, upsample(mixer(low) - low), rtol=1e-9, atol=1e-9)


def test_keep_fraction_counts_modes_per_grid() -> None:
    assert [m.kept for m in modes_from_fractions((16, 16), 0.5)] == [9, 5]
    assert [m.kept for m in modes_from_fractions((32, 32), 0.5)] == [17, 9]


@pytest.mark.parametrize("input_dtype", [torch.float32, torch.bfloat16])
def test_autocast_bfloat16_returns_input_dtype(input_dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    mixer = AFNO(16, num_blocks=4, keep_fraction=0.5, generator=generator)
    x = torch.randn(2, 6, 7, 16, generator=generator).to(input_dtype).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = mixer(x)
    assert y.dtype == input_dtype
    y.float().sum().backward()
    x_grad, weight_grad = x.grad, mixer.weight1.grad
    # Gradients as in float32 without autocast, up to the input's rounding.
    x32 = x.detach().float().requires_grad_()
    mixer.zero_grad()
    y32 = mixer(x32)
    y32.sum().backward()
    torch.testing.assert_close(y.float(), y32, rtol=0.02, atol=0.02)
    torch.testing.assert_close(x_grad.float(), x32.grad, rtol=0.02, atol=0.02)
    torch.testing.assert_close(weight_grad, mixer.weight1.grad, rtol=0.02, atol=0.02)
    assert float(mixer.weight1.grad.abs().max()) > 0.1  # a gradient that can be wrong


def test_autocast_after_linear_layer() -> None:
    torch.manual_seed(0)
    linear, mixer = torch.nn.Linear(8, 16), AFNO(16, num_blocks=4)
    inputs = torch.randn(1, 5, 5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = linear(inputs)
        out = mixer(hidden)
    assert hidden.dtype == out.dtype == torch.bfloat16
    out.float().sum().backward()
    autocast_grad = linear.weight.grad
    linear.zero_grad()
    mixer(linear(inputs)).sum().backward()
    # The gradient reaches the layer before the mixer, as without autocast (bf16 rounding).
    torch.testing.assert_close(autocast_grad, linear.weight.grad, rtol=0.05, atol=0.05)
    assert float(linear.weight.grad.abs().max()) > 1.0


def test_channels_not_divisible_by_blocks() -> None:
    with pytest.raises(ValueError, match=r"channels=30, num_blocks=8"):
        AFNO(30, num_blocks=8)


@pytest.mark.parametrize("keep", [0.0, -0.1, 1.5, float("nan"), (0.5, 0.0)])
def test_keep_fraction_outside_unit_interval(keep: float | tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match=r"keep_fraction must be a number in \(0, 1\]"):
        AFNO(16, num_blocks=4, keep_fraction=keep)


@pytest.mark.parametrize("shape", [(4, 16), (1, 2, 3, 4, 5, 16), (16,)])
def test_wrong_rank_names_the_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=re_escape_shape(shape)):
        AFNO(16, num_blocks=4)(torch.zeros(shape))


def test_channel_mismatch_names_the_shape() -> None:
    with pytest.raises(ValueError, match=r"16 channels.*\(2, 5, 5, 12\)"):
        AFNO(16, num_blocks=4)(torch.zeros(2, 5, 5, 12))


def test_per_axis_keep_fraction_must_match_rank() -> None:
    mixer = AFNO(16, num_blocks=4, keep_fraction=(0.5, 0.5))
    with pytest.raises(ValueError, match=r"2 entries.*3 spatial axes"):
        mixer(torch.zeros(1, 4, 4, 4, 16))


def re_escape_shape(shape: tuple[int, ...]) -> str:
    import re

    return re.escape(str(tuple(shape)))


spatial_shapes = st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple)


@settings(max_examples=30, deadline=None)
@given(
    spatial=spatial_shapes,
    blocks=st.sampled_from([1, 2, 4]),
    keep=st.floats(0.01, 1.0),
    batch=st.integers(1, 2),
)
def test_output_shape_dtype_for_any_grid(
    spatial: tuple[int, ...], blocks: int, keep: float, batch: int
) -> None:
    mixer = AFNO(8, num_blocks=blocks, keep_fraction=keep)
    x = torch.randn(batch, *spatial, 8, requires_grad=True)
    y = mixer(x)
    assert y.shape == x.shape
    assert y.dtype == x.dtype
    assert torch.isfinite(y).all()
    direction = torch.randn_like(x)
    y.backward(direction)
    assert x.grad is not None
    # The gradient is the derivative: <grad, v> against a central difference along v.
    mixer.double()
    x64, v64 = x.detach().double(), torch.randn_like(x, dtype=torch.float64)
    step = 1e-6
    with torch.no_grad():
        difference = (mixer(x64 + step * v64) - mixer(x64 - step * v64)) / (2 * step)
    expected = float((difference * direction.double()).sum())
    assert float((x.grad.double() * v64).sum()) == pytest.approx(expected, rel=1e-3, abs=1e-3)


@settings(max_examples=30, deadline=None)
@given(spatial=spatial_shapes, keep=st.floats(0.01, 1.0))
def test_truncation_is_an_orthogonal_projection(spatial: tuple[int, ...], keep: float) -> None:
    """Keeping low modes and transforming back is idempotent and never adds energy."""
    modes = modes_from_fractions(spatial, keep)
    x = torch.randn(2, *spatial, 3, dtype=torch.float64)
    once = kept_irfftn(kept_rfftn(x, modes), modes)
    twice = kept_irfftn(kept_rfftn(once, modes), modes)
    torch.testing.assert_close(twice, once, rtol=1e-9, atol=1e-9)
    assert once.square().sum() <= x.square().sum() + 1e-9
    # Orthogonal: the residual is orthogonal to the projection.
    assert abs(float(((x - once) * once).sum())) < 1e-8
