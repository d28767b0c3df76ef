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
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def to_channel_major(z: Tensor) -> tuple[Tensor, tuple[int, ...], tuple[int, ...]]:
    """View or copy a spectrum ``(B, *kept, C)`` as a contiguous ``(B, C, P)`` tensor.

    ``P`` is the number of kept modes. The kept axes are ordered by decreasing
    stride, so a spectrum already stored channels-first is not copied.

    Returns:
        The ``(B, C, P)`` tensor, the permutation of ``(B, C, *kept)`` that
        orders its axes as in memory, and the permuted kept sizes; pass the
        last two to :func:`from_channel_major`.
    """
    channel_first = z.movedim(-1, 1)
    mode_axes = sorted(
        range(2, channel_first.dim()), key=lambda axis: -channel_first.stride()[axis]
    )
    order = (0, 1, *mode_axes)
    ordered = channel_first.permute(order).contiguous()
    batch, channels = ordered.shape[:2]
    return ordered.view(batch, channels, -1), order, tuple(ordered.shape[2:])


def from_channel_major(flat: Tensor, order: tuple[int, ...], kept: tuple[int, ...]) -> Tensor:
    """Inverse of :func:`to_channel_major`: a ``(B, *kept, C)`` view of ``(B, C, P)``."""
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

    One matrix product per block: ``torch.mm`` passes the conjugate transpose
    to BLAS as a flag, where ``torch.bmm`` would first copy ``right^H``.
    """
    products = torch.stack([torch.mm(a, b.mH) for a, b in zip(left, right, strict=True)])
    return _block_sum(products, blocks)


def _block_sum(grad: Tensor, blocks: int) -> Tensor:
    """Sum a per-sample block quantity ``(B * k, ...)`` over the samples: ``(k, ...)``."""
    return grad.view(-1, blocks, *grad.shape[1:]).sum(0)


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
        blocks, _hidden, block = weight1.shape
        flat, order, kept = to_channel_major(spectrum)
        batch, channels, modes = flat.shape
        inputs = flat.view(batch * blocks, block, modes)
        activations = _affine(weight1, bias1, inputs)
        torch.view_as_real(activations).relu_()
        outputs = _affine(weight2, bias2, activations)
        outputs_real = torch.view_as_real(outputs)
        torch.ops.aten.softshrink.out(outputs_real, threshold, out=outputs_real)
        ctx.save_for_backward(inputs, weight1, weight2, activations, outputs)
        ctx.layout = (order, kept, batch, channels)
        return from_channel_major(outputs.view(batch, channels, modes), order, kept)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        inputs, weight1, weight2, activations, outputs = ctx.saved_tensors
        order, kept, batch, channels = ctx.layout
        blocks = weight1.shape[0]
        grad_flat, _, _ = to_channel_major(grad_output)
        # Soft-shrink passes the gradient where its output is non-zero (|input| > lambda).
        grad_pre2 = torch.view_as_complex(
            torch.ops.aten.softshrink_backward(
                torch.view_as_real(grad_flat).view(torch.view_as_real(outputs).shape),
                torch.view_as_real(outputs),
                0.0,
            )
        )
        grad_weight2 = _block_outer_sum(grad_pre2, activations, blocks)
        grad_bias2 = _block_sum(grad_pre2.sum(-1), blocks)
        grad_hidden = torch.bmm(_per_sample(weight2.mH.resolve_conj(), batch), grad_pre2)
        del grad_pre2
        grad_hidden_real = torch.view_as_real(grad_hidden)
        torch.ops.aten.threshold_backward.grad_input(
            grad_hidden_real, torch.view_as_real(activations), 0.0, grad_input=grad_hidden_real
        )
        grad_weight1 = _block_outer_sum(grad_hidden, inputs, blocks)
        grad_bias1 = _block_sum(grad_hidden.sum(-1), blocks)
        grad_inputs = None
        if ctx.needs_input_grad[0]:
            grad_inputs = torch.bmm(_per_sample(weight1.mH.resolve_conj(), batch), grad_hidden)
            grad_inputs = from_channel_major(grad_inputs.view(batch, channels, -1), order, kept)
        return grad_inputs, grad_weight1, grad_bias1, grad_weight2, grad_bias2, None


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
