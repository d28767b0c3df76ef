"""AFNO's block-diagonal complex MLP in real arithmetic, for graph capture and export.

The same function as :func:`afno.mixers.block_complex_mlp.block_complex_mlp`
(per mode and channel block ``O_b = S_lambda(W2_b ReLU(W1_b z_b + b1_b) + b2_b)``,
ReLU and soft-shrink on real and imaginary parts separately), written with
real tensors only between the FFTs:

- the spectrum is viewed as (real, imaginary) pairs, channels first:
  ``(B, k, d, 2P)``, each mode's two parts side by side;
- a complex product ``W z = W_re z + i W_im z`` is one real matrix product of
  the stacked ``[W_re; W_im]`` (shape ``(2m, n)``) with those pairs, then a
  pointwise recombination ``(a - d, b + c)`` with the bias added;
- ReLU and soft-shrink are the out-of-place ``torch.nn.functional`` ones.

Every step is a differentiable, out-of-place ATen operation on real tensors,
so ``torch.export`` records a graph that runs with grad enabled and the ONNX
exporter translates it (the matrix products become MatMul, the complex tensors
around the FFTs their (real, imaginary) representation); ``torch.compile``
could fuse it too, but on the CPU the fused complex path is faster (see
:mod:`afno.mixers.fused_mixer`). It costs the same multiply-adds as the
complex products.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional


def _pair_affine(weight: Tensor, bias: Tensor, inputs: Tensor) -> Tensor:
    """Complex ``weight @ z + bias`` per block on real pairs.

    Args:
        weight: ``(k, m, n, 2)``, the complex ``(m, n)`` block weights stored as
            (real, imaginary).
        bias: ``(k, m, 2)``.
        inputs: ``(B, k, n, 2P)``, each of the ``P`` modes as (real, imaginary).

    Returns:
        ``(B, k, m, P, 2)``: the products, as (real, imaginary) pairs.
    """
    rows = weight.shape[1]
    stacked = torch.cat([weight[..., 0], weight[..., 1]], dim=1)  # (k, 2m, n): [W_re; W_im]
    products = torch.matmul(stacked, inputs).unflatten(-1, (-1, 2))  # (B, k, 2m, P, 2)
    by_real = products[:, :, :rows]  # W_re z: (Re, Im)
    by_imag = products[:, :, rows:]  # W_im z: (Re, Im); times i it is (-Im, Re)
    real = by_real[..., 0] - by_imag[..., 1] + bias[:, :, 0, None]
    imag = by_real[..., 1] + by_imag[..., 0] + bias[:, :, 1, None]
    return torch.stack([real, imag], dim=-1)


def real_pair_mlp(
    spectrum: Tensor,
    weight1: Tensor,
    bias1: Tensor,
    weight2: Tensor,
    bias2: Tensor,
    threshold: float,
    kept: Sequence[int] | None = None,
) -> Tensor:
    """Apply the block complex MLP to every mode of a spectrum, in real arithmetic.

    Args:
        spectrum: complex ``(B, *kept, C)``, any memory layout.
        weight1: ``(k, h, d, 2)``, real-stored complex; ``C = k * d``.
        bias1: ``(k, h, 2)``.
        weight2: ``(k, d, h, 2)``.
        bias2: ``(k, d, 2)``.
        threshold: soft-shrink threshold ``lambda >= 0``.
        kept: the kept sizes ``spectrum.shape[1:-1]``, when the caller computed
            them from the token grid. Under ``torch.export`` with dynamic
            shapes they are then read from the real input, not from the
            complex spectrum, whose sizes the ONNX exporter cannot read.

    Returns:
        Complex ``(B, *kept, C)``: ``S(W2 ReLU(W1 z + b1) + b2)`` per mode and block,
        the same as :func:`~afno.mixers.block_complex_mlp.block_complex_mlp`.
    """
    blocks, block = weight1.shape[0], weight1.shape[2]
    # Everything between the FFTs is real: the ONNX exporter reads the sizes
    # of real tensors only. flatten/unflatten rather than reshape: with
    # symbolic (exported) sizes, reshape's view search adds guards on them.
    pairs = torch.view_as_real(spectrum)  # (B, *kept, C, 2)
    kept = pairs.shape[1:-2] if kept is None else kept
    inputs = pairs.movedim(-2, 1).flatten(2).unflatten(1, (blocks, block))  # (B, k, d, 2P)
    activations = functional.relu(_pair_affine(weight1, bias1, inputs))  # (B, k, h, P, 2)
    outputs = functional.softshrink(
        _pair_affine(weight2, bias2, activations.flatten(3)), threshold
    )  # (B, k, d, P, 2)
    # Channels-last and contiguous, as the inverse FFT reads it best; it also
    # spares torch.export's FFT shape functions guards on symbolic strides.
    channels_last = outputs.flatten(1, 2).unflatten(2, kept).movedim(1, -2).contiguous()
    return torch.view_as_complex(channels_last)
