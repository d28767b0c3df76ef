"""AFNO's spectral step as one fused operation: FFT, block complex MLP, inverse FFT, skip.

``fused_afno_mix(x, ...) = x + kept_irfftn(block_complex_mlp(kept_rfftn(x)))``
with one hand-written backward for the whole chain. Fusing the three steps
lets the backward

- drop the real-FFT pairing weights: the inverse transform's adjoint
  multiplies every kept mode by its weight (2 for the paired bins of the
  last axis, 1 for the zero and Nyquist bins) and the forward transform's
  adjoint divides them out again; the MLP's backward acts mode by mode, so
  the two cancel on the input gradient, and only the weight and bias
  gradients (sums over modes) need them, which costs a pass over the few
  modes of weight 1 instead of two passes over the spectrum;
- reuse its own buffers for intermediate gradients, sparing spectrum-sized
  allocations (each one a fresh mapping of tens of MiB whose pages fault in
  on first touch, which costs about as much as copying them).

Eager mode chains three autograd functions (FFT, MLP, inverse FFT plus
skip) that pass unweighted spectrum gradients to each other, so that the
MLP's saved tensors are freed before the last adjoint transform runs. Under
``torch.compile`` the step is one custom operator ``afno::fused_mix`` (with
``afno::fused_mix_backward``), which Inductor calls as an opaque kernel: it
cannot generate code for complex tensors, and on the CPU its code for the
same MLP in real arithmetic is slower than these complex matrix products on
the FFT's own layout (see ``benchmarks/bench_mixers.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from afno.mixers.block_complex_mlp import (
    ModeSelector,
    SpectrumLayout,
    from_blocks,
    fused_mlp_backward,
    fused_mlp_forward,
    to_blocks,
)
from afno.mixers.spectral_modes import AxisModes
from afno.mixers.truncated_fft import forward_transform, inverse_full_axes, inverse_transform


def single_weight_bins(axis: AxisModes) -> list[int]:
    """Kept bins of the real-FFT axis that stand for one frequency (the others stand for two).

    The zero bin always; the Nyquist bin ``n / 2`` when ``n`` is even and it is kept.
    """
    bins = [0]
    if axis.size % 2 == 0 and axis.low == axis.size // 2 + 1 and axis.low > 1:
        bins.append(axis.low - 1)
    return bins


def single_mode_selector(modes: Sequence[AxisModes], layout: SpectrumLayout) -> ModeSelector:
    """Select, from block tensors ``(B*k, n, P)`` laid out as ``layout``, the modes of weight 1."""
    real_axis = len(modes) + 1  # in (B, C, *kept) numbering
    position = layout.order.index(real_axis) - 2
    bins = single_weight_bins(modes[-1])

    def select(blocks: Tensor) -> Tensor:
        grid = blocks.view(*blocks.shape[:2], *layout.kept)
        index = torch.tensor(bins, device=blocks.device)
        return grid.index_select(2 + position, index).flatten(2)

    return select


def _mix_forward(
    x: Tensor,
    weights: tuple[Tensor, Tensor, Tensor, Tensor],
    threshold: float,
    modes: Sequence[AxisModes],
) -> tuple[Tensor, Tensor, Tensor, Tensor, SpectrumLayout]:
    """``(out, inputs, activations, outputs, layout)``: the result and what the backward needs."""
    weight1, bias1, weight2, bias2 = weights
    spectrum = forward_transform(x, modes)
    layout = SpectrumLayout.of(spectrum)
    inputs = to_blocks(spectrum, layout, weight1.shape[0])
    outputs, activations = fused_mlp_forward(inputs, weight1, bias1, weight2, bias2, threshold)
    out = _tokens_plus_inverse(from_blocks(outputs, layout), x, modes)
    return out, inputs, activations, outputs, layout


def _tokens_plus_inverse(spectrum: Tensor, x: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """``x + inverse_transform(spectrum)``, laid out as ``x``."""
    out = torch.empty_like(x)
    torch.add(x, inverse_transform(spectrum, modes), out=out)
    return out


def _unweighted_forward_adjoint(grad: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """The forward transform's adjoint without dividing out the pairing weights."""
    partial = inverse_full_axes(grad, modes)
    tokens: Tensor = torch.fft.irfft(partial, n=modes[-1].size, dim=len(modes), norm="ortho")
    return tokens


def _mlp_backward(
    grad: Tensor,
    saved: tuple[Tensor, Tensor, Tensor],
    weight1: Tensor,
    weight2: Tensor,
    modes: Sequence[AxisModes],
    layout: SpectrumLayout,
    input_grad: bool,
) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]:
    """The MLP's backward on an unweighted spectrum gradient ``grad`` that it may overwrite."""
    inputs, activations, outputs = saved
    grad_inputs, *weight_grads = fused_mlp_backward(
        to_blocks(grad, layout, weight1.shape[0]),
        inputs,
        weight1,
        weight2,
        activations,
        outputs,
        input_grad=input_grad,
        overwrite_grad=True,
        single_modes=single_mode_selector(modes, layout),
    )
    grad_spectrum = None if grad_inputs is None else from_blocks(grad_inputs, layout)
    grad_weight1, grad_bias1, grad_weight2, grad_bias2 = weight_grads
    return grad_spectrum, grad_weight1, grad_bias1, grad_weight2, grad_bias2


def _mix_backward(
    grad: Tensor,
    saved: tuple[Tensor, Tensor, Tensor],
    weight1: Tensor,
    weight2: Tensor,
    modes: Sequence[AxisModes],
    layout: SpectrumLayout,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The whole backward in one go (the custom operator's)."""
    spectrum_grad = forward_transform(grad, modes)  # the inverse's adjoint, unweighted
    grad_spectrum, *weight_grads = _mlp_backward(
        spectrum_grad, saved, weight1, weight2, modes, layout, input_grad=True
    )
    if grad_spectrum is None:  # input_grad=True always returns it
        raise RuntimeError("fused AFNO backward returned no spectrum gradient")
    grad_x = torch.empty_like(grad)  # laid out as grad, as the shape function says
    torch.add(grad, _unweighted_forward_adjoint(grad_spectrum, modes), out=grad_x)
    grad_weight1, grad_bias1, grad_weight2, grad_bias2 = weight_grads
    return grad_x, grad_weight1, grad_bias1, grad_weight2, grad_bias2


# Eager mode: three autograd functions in a chain, so that autograd frees the
# MLP's saved tensors before the last adjoint transform runs (one function
# for the chain would hold them to the end and raise the peak memory). They
# pass *unweighted* spectrum gradients between them (see the module
# docstring), a contract that holds only in this chain: their outputs never
# leave fused_afno_mix.


class _SpectrumOfTokens(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, modes: tuple[AxisModes, ...]) -> Tensor:
        ctx.modes = modes
        return forward_transform(x, modes)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return _unweighted_forward_adjoint(grad, ctx.modes), None


class _SpectralMLP(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        spectrum: Tensor,
        weight1: Tensor,
        bias1: Tensor,
        weight2: Tensor,
        bias2: Tensor,
        threshold: float,
        modes: tuple[AxisModes, ...],
    ) -> Tensor:
        layout = SpectrumLayout.of(spectrum)
        inputs = to_blocks(spectrum, layout, weight1.shape[0])
        outputs, activations = fused_mlp_forward(inputs, weight1, bias1, weight2, bias2, threshold)
        ctx.save_for_backward(inputs, activations, outputs, weight1, weight2)
        ctx.modes, ctx.layout = modes, layout
        return from_blocks(outputs, layout)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        inputs, activations, outputs, weight1, weight2 = ctx.saved_tensors
        # grad is _TokensPlusInverse's fresh output and has no other reader: overwritable.
        grads = _mlp_backward(
            grad,
            (inputs, activations, outputs),
            weight1,
            weight2,
            ctx.modes,
            ctx.layout,
            ctx.needs_input_grad[0],
        )
        return (*grads, None, None)


class _TokensPlusInverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, spectrum: Tensor, x: Tensor, modes: tuple[AxisModes, ...]) -> Tensor:
        ctx.modes = modes
        return _tokens_plus_inverse(spectrum, x, modes)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        spectrum_grad = forward_transform(grad, ctx.modes) if ctx.needs_input_grad[0] else None
        return spectrum_grad, grad if ctx.needs_input_grad[1] else None, None


# The custom operators for torch.compile. Modes travel as three integer lists
# (the last axis being the real-FFT one); the spectrum layout, which follows
# from the input's strides, is recomputed on meta tensors where needed.


def _modes_from_lists(sizes: list[int], lows: list[int], highs: list[int]) -> tuple[AxisModes, ...]:
    last = len(sizes) - 1
    return tuple(
        AxisModes(size, axis == last, low, high)
        for axis, (size, low, high) in enumerate(zip(sizes, lows, highs, strict=True))
    )


def _spectrum_layout(x: Tensor, modes: Sequence[AxisModes]) -> SpectrumLayout:
    """The layout :func:`_mix_forward` gives the spectrum of ``x``, found on meta tensors."""
    meta = torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device="meta")
    return SpectrumLayout.of(forward_transform(meta, modes))


def _fused_mix_impl(
    x: Tensor,
    weight1: Tensor,
    bias1: Tensor,
    weight2: Tensor,
    bias2: Tensor,
    threshold: float,
    sizes: list[int],
    lows: list[int],
    highs: list[int],
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    modes = _modes_from_lists(sizes, lows, highs)
    out, inputs, activations, outputs, _ = _mix_forward(
        x, (weight1, bias1, weight2, bias2), threshold, modes
    )
    return out, inputs, activations, outputs


def _fused_mix_backward_impl(
    grad: Tensor,
    x: Tensor,
    inputs: Tensor,
    activations: Tensor,
    outputs: Tensor,
    weight1: Tensor,
    weight2: Tensor,
    sizes: list[int],
    lows: list[int],
    highs: list[int],
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    modes = _modes_from_lists(sizes, lows, highs)
    layout = _spectrum_layout(x, modes)
    return _mix_backward(grad, (inputs, activations, outputs), weight1, weight2, modes, layout)


def _fake_fused_mix(
    x: Tensor,
    weight1: Tensor,
    bias1: Tensor,
    weight2: Tensor,
    bias2: Tensor,
    threshold: float,
    sizes: list[int],
    lows: list[int],
    highs: list[int],
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    blocks, hidden, block = weight1.shape
    modes = 1
    for axis in _modes_from_lists(sizes, lows, highs):
        modes *= axis.kept
    batch_blocks = x.shape[0] * blocks
    inputs = x.new_empty((batch_blocks, block, modes), dtype=weight1.dtype)
    return (
        torch.empty_like(x),
        inputs,
        x.new_empty((batch_blocks, hidden, modes), dtype=weight1.dtype),
        torch.empty_like(inputs),
    )


def _fake_fused_mix_backward(
    grad: Tensor,
    x: Tensor,
    inputs: Tensor,
    activations: Tensor,
    outputs: Tensor,
    weight1: Tensor,
    weight2: Tensor,
    sizes: list[int],
    lows: list[int],
    highs: list[int],
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    blocks, hidden, block = weight1.shape
    return (
        torch.empty_like(grad),
        torch.empty_like(weight1),
        weight1.new_empty((blocks, hidden)),
        torch.empty_like(weight2),
        weight2.new_empty((blocks, block)),
    )


_fused_mix_op = torch.library.custom_op("afno::fused_mix", _fused_mix_impl, mutates_args=())
_fused_mix_op.register_fake(_fake_fused_mix)
_fused_mix_backward_op = torch.library.custom_op(
    "afno::fused_mix_backward", _fused_mix_backward_impl, mutates_args=()
)
_fused_mix_backward_op.register_fake(_fake_fused_mix_backward)


def _save_for_backward(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    x, weight1, _bias1, weight2, _bias2, _threshold, sizes, lows, highs = inputs
    _out, spectrum_blocks, activations, outputs = output
    ctx.save_for_backward(x, spectrum_blocks, activations, outputs, weight1, weight2)
    ctx.mode_lists = (sizes, lows, highs)


def _fused_mix_op_backward(ctx: Any, grad: Tensor, *_unused: Tensor | None) -> tuple[Any, ...]:
    x, spectrum_blocks, activations, outputs, weight1, weight2 = ctx.saved_tensors
    grads = _fused_mix_backward_op(
        grad, x, spectrum_blocks, activations, outputs, weight1, weight2, *ctx.mode_lists
    )
    return (*grads, None, None, None, None)


_fused_mix_op.register_autograd(_fused_mix_op_backward, setup_context=_save_for_backward)


def fused_afno_mix(
    x: Tensor,
    weight1: Tensor,
    bias1: Tensor,
    weight2: Tensor,
    bias2: Tensor,
    threshold: float,
    modes: Sequence[AxisModes],
) -> Tensor:
    """``x + kept_irfftn(block_complex_mlp(kept_rfftn(x, modes), ...), modes)``, fused.

    Args:
        x: real tokens ``(B, *spatial, C)``, float32 or float64.
        weight1, bias1, weight2, bias2: complex block weights as for
            :func:`~afno.mixers.block_complex_mlp.block_complex_mlp`, of ``x``'s precision.
        threshold: soft-shrink threshold ``lambda >= 0``.
        modes: the kept modes, one :class:`AxisModes` per spatial axis.

    Returns:
        Real tokens ``(B, *spatial, C)``, laid out as ``x``.
    """
    if torch.compiler.is_compiling():
        sizes = [axis.size for axis in modes]
        lows = [axis.low for axis in modes]
        highs = [axis.high for axis in modes]
        compiled, *_ = _fused_mix_op(
            x, weight1, bias1, weight2, bias2, threshold, sizes, lows, highs
        )
        result: Tensor = compiled
        return result
    kept_modes = tuple(modes)
    spectrum = _SpectrumOfTokens.apply(x, kept_modes)
    mixed = _SpectralMLP.apply(spectrum, weight1, bias1, weight2, bias2, threshold, kept_modes)
    eager: Tensor = _TokensPlusInverse.apply(mixed, x, kept_modes)
    return eager
