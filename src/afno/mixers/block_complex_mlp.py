"""AFNO's block-diagonal complex MLP, applied to every kept Fourier mode.

For each mode and each of ``k`` channel blocks (block size ``d = C / k``,
hidden size ``h = d * hidden_size_factor``)::

    H_b = ReLU(W1_b z_b + b1_b)          W1_b: (h, d) complex, b1_b: (h,)
    O_b = S_lambda(W2_b H_b + b2_b)      W2_b: (d, h) complex, b2_b: (d,)

with ReLU and the soft-shrink ``S_lambda`` applied to real and imaginary
parts separately and the weights shared by all modes.

The spectrum is processed in the memory layout the FFT produced: channels
first, all modes of one channel contiguous, so each layer is one batched
complex matrix product per block over all modes at once. The gradient is
written by hand so that autograd keeps only the input spectrum, the hidden
activations and the output (whose non-zero entries are where the soft-shrink
passes gradients), and every mask is applied in one fused pass.

:func:`fused_mlp_forward` and :func:`fused_mlp_backward` are that computation
on channel-major blocks; :func:`block_complex_mlp` wraps them as a
differentiable function of any spectrum and :mod:`afno.mixers.fused_mixer`
chains them with the FFTs. :mod:`afno.mixers.real_pair_mlp` is the same MLP in
plain real operations, for exported graphs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class SpectrumLayout(NamedTuple):
    """How :func:`to_blocks` lays out a spectrum ``(B, *kept, C)`` as channel-major ``(B, C, P)``.

    The kept axes go in the order of their strides, so a spectrum already
    stored channels-first (as the FFT returns it) is viewed, not copied.

    Attributes:
        order: the permutation of ``(B, C, *kept)`` that orders its axes as in
            memory (kept axes by decreasing stride).
        kept: the kept sizes in that order.
        batch: ``B``.
        channels: ``C``.
    """

    order: tuple[int, ...]
    kept: tuple[int, ...]
    batch: int
    channels: int

    @classmethod
    def of(cls, z: Tensor) -> SpectrumLayout:
        """The layout of a spectrum ``z`` of shape ``(B, *kept, C)``."""
        channel_first = z.movedim(-1, 1)
        mode_axes = sorted(
            range(2, channel_first.dim()), key=lambda axis: -channel_first.stride()[axis]
        )
        kept = tuple(channel_first.shape[axis] for axis in mode_axes)
        return cls((0, 1, *mode_axes), kept, z.shape[0], z.shape[-1])


def from_channel_major(flat: Tensor, order: tuple[int, ...], kept: tuple[int, ...]) -> Tensor:
    """A ``(B, *kept, C)`` view of a channel-major ``(B, C, P)`` tensor whose modes
    are laid out in ``order`` (see :class:`SpectrumLayout`)."""
    ordered = flat.view(*flat.shape[:2], *kept)
    inverse = sorted(range(len(order)), key=lambda axis: order[axis])
    return ordered.permute(inverse).movedim(1, -1)


def _per_sample(weight: Tensor, batch: int) -> Tensor:
    """Repeat block weights ``(k, m, n)`` for each sample: ``(batch * k, m, n)``."""
    if batch == 1:
        return weight
    return weight.unsqueeze(0).expand(batch, *weight.shape).reshape(-1, *weight.shape[1:])


def _affine(weight: Tensor, bias: Tensor, inputs: Tensor) -> Tensor:
    """``weight @ inputs + bias`` per block: (Bk, m, n) @ (Bk, n, P) + (k, m) -> (Bk, m, P)."""
    batch = inputs.shape[0] // weight.shape[0]
    bias_column = _per_sample(bias.unsqueeze(-1), batch)
    return torch.baddbmm(bias_column, _per_sample(weight, batch), inputs)


def _block_outer_sum(left: Tensor, right: Tensor, blocks: int) -> Tensor:
    """Per block ``left @ right^H`` summed over samples: (B*k, m, P), (B*k, n, P) -> (k, m, n).

    One sample: one matrix product per block, ``torch.mm`` passing the conjugate
    transpose to BLAS as a flag (``torch.bmm`` would first copy ``right^H``).
    Several: the samples are laid side by side along the modes and each block
    is one product over all of them (a copy of both operands, instead of one
    tiny product per sample and block).
    """
    batch = left.shape[0] // blocks
    if batch == 1:
        return torch.stack([torch.mm(a, b.mH) for a, b in zip(left, right, strict=True)])
    rows, columns, modes = left.shape[1], right.shape[1], left.shape[2]
    left_side = left.view(batch, blocks, rows, modes).permute(1, 2, 0, 3)
    right_side = right.view(batch, blocks, columns, modes).permute(1, 2, 0, 3)
    left_flat = left_side.reshape(blocks, rows, batch * modes)
    right_flat = right_side.reshape(blocks, columns, batch * modes)
    return torch.stack([torch.mm(a, b.mH) for a, b in zip(left_flat, right_flat, strict=True)])


def _block_sum(grad: Tensor, blocks: int) -> Tensor:
    """Sum a per-sample block quantity ``(B * k, ...)`` over the samples: ``(k, ...)``."""
    return grad.view(-1, blocks, *grad.shape[1:]).sum(0)


def fused_mlp_forward(
    inputs: Tensor,
    weight1: Tensor,
    bias1: Tensor,
    weight2: Tensor,
    bias2: Tensor,
    threshold: float,
) -> tuple[Tensor, Tensor]:
    """The forward computation on channel-major modes, in place on its own buffers.

    Args:
        inputs: complex ``(B*k, d, P)``, contiguous: block ``b`` of sample ``s``
            at ``s * k + b``, each channel's ``P`` modes contiguous.
        weight1, bias1, weight2, bias2: as for :func:`block_complex_mlp`.
        threshold: soft-shrink threshold.

    Returns:
        ``(outputs, activations)``: complex ``(B*k, d, P)`` and ``(B*k, h, P)``,
        both new; the backward needs them.
    """
    activations = _affine(weight1, bias1, inputs)
    torch.view_as_real(activations).relu_()
    outputs = _affine(weight2, bias2, activations)
    outputs_real = torch.view_as_real(outputs)
    torch.ops.aten.softshrink.out(outputs_real, threshold, out=outputs_real)
    return outputs, activations


ModeSelector = Callable[[Tensor], Tensor]
"""Picks some modes of a block tensor ``(B*k, n, P)``: ``(B*k, n, P')``."""


def fused_mlp_backward(
    grad_outputs: Tensor,
    inputs: Tensor,
    weight1: Tensor,
    weight2: Tensor,
    activations: Tensor,
    outputs: Tensor,
    *,
    input_grad: bool = True,
    overwrite_grad: bool = False,
    single_modes: ModeSelector | None = None,
) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of :func:`fused_mlp_forward` from the tensors it used and returned.

    Args:
        grad_outputs: gradient of ``outputs``, complex ``(B*k, d, P)``, contiguous.
        inputs, activations, outputs: as in :func:`fused_mlp_forward`.
        weight1, weight2: the complex block weights.
        input_grad: whether to compute the gradient of ``inputs``.
        overwrite_grad: whether ``grad_outputs`` may be overwritten; it then
            holds the intermediate gradients and the returned input gradient,
            sparing two spectrum-sized allocations.
        single_modes: for a caller whose ``grad_outputs`` leaves out a
            per-mode weight of 2 on all modes but those this selects (weight
            1), as the real-FFT pairing does: the weight and bias gradients,
            sums over modes, then count each mode with its weight. The input
            gradient stays unweighted (the caller's inverse transform divides
            the same weights out again).

    Returns:
        Gradients of ``inputs`` (``None`` unless ``input_grad``), ``weight1``,
        ``bias1``, ``weight2`` and ``bias2``.
    """
    blocks = weight1.shape[0]
    batch = inputs.shape[0] // blocks

    def outer_sum(left: Tensor, right: Tensor) -> Tensor:
        total = _block_outer_sum(left, right, blocks)
        if single_modes is None:
            return total
        return 2 * total - _block_outer_sum(single_modes(left), single_modes(right), blocks)

    def mode_sum(grad: Tensor) -> Tensor:
        total = _block_sum(grad.sum(-1), blocks)
        if single_modes is None:
            return total
        return 2 * total - _block_sum(single_modes(grad).sum(-1), blocks)

    # Soft-shrink passes the gradient where its output is non-zero (|input| > lambda).
    grad_real = torch.view_as_real(grad_outputs)
    grad_pre2_real = torch.ops.aten.softshrink_backward.grad_input(
        grad_real,
        torch.view_as_real(outputs),
        0.0,
        grad_input=grad_real if overwrite_grad else torch.empty_like(grad_real),
    )
    grad_pre2 = torch.view_as_complex(grad_pre2_real)
    grad_weight2 = outer_sum(grad_pre2, activations)
    grad_bias2 = mode_sum(grad_pre2)
    grad_hidden = torch.bmm(_per_sample(weight2.mH.resolve_conj(), batch), grad_pre2)
    grad_hidden_real = torch.view_as_real(grad_hidden)
    torch.ops.aten.threshold_backward.grad_input(
        grad_hidden_real, torch.view_as_real(activations), 0.0, grad_input=grad_hidden_real
    )
    grad_weight1 = outer_sum(grad_hidden, inputs)
    grad_bias1 = mode_sum(grad_hidden)
    grad_inputs = None
    if input_grad:
        weight1_h = _per_sample(weight1.mH.resolve_conj(), batch)
        if overwrite_grad:  # grad_pre2 is spent: its buffer takes the result
            grad_inputs = torch.bmm(weight1_h, grad_hidden, out=grad_pre2)
        else:
            grad_inputs = torch.bmm(weight1_h, grad_hidden)
    return grad_inputs, grad_weight1, grad_bias1, grad_weight2, grad_bias2


def to_blocks(z: Tensor, layout: SpectrumLayout, blocks: int) -> Tensor:
    """A spectrum ``(B, *kept, C)`` as contiguous channel-major blocks ``(B*k, d, P)``.

    The modes are ordered as ``layout`` says (not as ``z``'s own strides would),
    so a gradient lines up with the forward's tensors; ``z`` is copied only
    when its memory is not already in that order.
    """
    ordered = z.movedim(-1, 1).permute(layout.order).contiguous()
    return ordered.view(layout.batch * blocks, layout.channels // blocks, -1)


def from_blocks(blocks: Tensor, layout: SpectrumLayout) -> Tensor:
    """Inverse of :func:`to_blocks`: a ``(B, *kept, C)`` view of ``(B*k, d, P)``."""
    flat = blocks.view(layout.batch, layout.channels, -1)
    return from_channel_major(flat, layout.order, layout.kept)


class _BlockComplexMLP(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        spectrum: Tensor,
        weight1: Tensor,
        bias1: Tensor,
        weight2: Tensor,
        bias2: Tensor,
        threshold: float,
    ) -> Tensor:
        layout = SpectrumLayout.of(spectrum)
        inputs = to_blocks(spectrum, layout, weight1.shape[0])
        outputs, activations = fused_mlp_forward(inputs, weight1, bias1, weight2, bias2, threshold)
        ctx.save_for_backward(inputs, weight1, weight2, activations, outputs)
        ctx.layout = layout
        return from_blocks(outputs, layout)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        inputs, weight1, weight2, activations, outputs = ctx.saved_tensors
        grad_outputs = to_blocks(grad_output, ctx.layout, weight1.shape[0])
        grad_inputs, *weight_grads = fused_mlp_backward(
            grad_outputs,
            inputs,
            weight1,
            weight2,
            activations,
            outputs,
            input_grad=ctx.needs_input_grad[0],
        )
        grad_spectrum = None if grad_inputs is None else from_blocks(grad_inputs, ctx.layout)
        return (grad_spectrum, *weight_grads, None)


def block_complex_mlp(
    spectrum: Tensor,
    weight1: Tensor,
    bias1: Tensor,
    weight2: Tensor,
    bias2: Tensor,
    threshold: float,
) -> Tensor:
    """Apply the block complex MLP to every mode of a spectrum.

    Args:
        spectrum: complex ``(B, *kept, C)``, any memory layout.
        weight1: complex ``(k, h, d)``; ``C = k * d``.
        bias1: complex ``(k, h)``.
        weight2: complex ``(k, d, h)``.
        bias2: complex ``(k, d)``.
        threshold: soft-shrink threshold ``lambda >= 0``.

    Returns:
        Complex ``(B, *kept, C)``: ``S(W2 ReLU(W1 z + b1) + b2)`` per mode and block.
    """
    out: Tensor = _BlockComplexMLP.apply(spectrum, weight1, bias1, weight2, bias2, threshold)
    return out
