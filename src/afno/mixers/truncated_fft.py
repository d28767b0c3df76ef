"""Real FFTs over the spatial axes of channels-last tokens that keep only low modes.

``kept_rfftn`` maps tokens ``(B, *spatial, C)`` to their kept spectrum
``(B, *kept, C)`` (complex, ``norm="ortho"``) and ``kept_irfftn`` maps a kept
spectrum back to tokens. Both work one axis at a time and drop (or add back)
bins right after each axis is transformed, so later axes only transform the
kept rows and no full-size spectrum is ever built when modes are dropped.

Their gradients are written as the exact adjoint transforms (the forward
transform of one is, up to the real-FFT pairing weights, the adjoint of the
other), which avoids autograd's generic real-FFT backward and its full-size
complex buffers.

:func:`forward_transform`, :func:`inverse_transform` and their adjoints are
the plain computations; :mod:`afno.mixers.fused_mixer` chains them for AFNO.
Under graph capture ``torch.compile`` traces the custom autograd functions,
their adjoint backwards included; while a graph is exported (``torch.export``,
ONNX, ``torch.jit.trace``, none of which can hold a Python autograd function)
:func:`kept_rfftn` and :func:`kept_irfftn` are the plain computations, built
only from ``torch.fft`` operations, slices and concatenations, which the
exported program differentiates with ATen's own FFT derivatives and the ONNX
exporter turns into DFT operators.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from afno.mixers.spectral_modes import AxisModes, real_axis_weights
from afno.mixers.spectral_path import exporting_graph


def _keep_bins(z: Tensor, dim: int, axis: AxisModes) -> Tensor:
    """Keep bins ``[:low]`` and ``[-high:]`` of ``z`` along ``dim``."""
    if axis.keeps_all:
        return z
    if axis.high == 0:
        return z.narrow(dim, 0, axis.low)
    return torch.cat(
        [z.narrow(dim, 0, axis.low), z.narrow(dim, axis.spectrum_size - axis.high, axis.high)],
        dim=dim,
    )


def _restore_bins(z: Tensor, dim: int, axis: AxisModes) -> Tensor:
    """Inverse of :func:`_keep_bins`: put zeros in the dropped bins of ``z`` along ``dim``.

    On a full-FFT axis the zeros go between the ``low`` and ``high`` bins; on
    the real-FFT axis after the ``low`` ones. One new buffer, filled in place;
    while a graph is exported, out-of-place concatenation instead.
    """
    if axis.keeps_all:
        return z
    if exporting_graph():
        return _restore_bins_by_concatenation(z, dim, axis)
    shape = list(z.shape)
    shape[dim] = axis.spectrum_size
    full = z.new_empty(shape)
    full.narrow(dim, 0, axis.low).copy_(z.narrow(dim, 0, axis.low))
    full.narrow(dim, axis.low, axis.spectrum_size - axis.kept).zero_()
    if axis.high:
        full.narrow(dim, axis.spectrum_size - axis.high, axis.high).copy_(
            z.narrow(dim, axis.low, axis.high)
        )
    return full


def _restore_bins_by_concatenation(z: Tensor, dim: int, axis: AxisModes) -> Tensor:
    """:func:`_restore_bins` out of place, on the (real, imaginary) view: exporters
    translate neither writes into slices nor complex zero-filling (ONNX)."""
    pairs = torch.view_as_real(z)
    dropped = list(pairs.shape)
    dropped[dim] = axis.spectrum_size - axis.kept
    parts = [pairs.narrow(dim, 0, axis.low), pairs.new_zeros(dropped)]
    if axis.high:
        parts.append(pairs.narrow(dim, axis.low, axis.high))
    return torch.view_as_complex(torch.cat(parts, dim=dim))


def forward_transform(x: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """Kept spectrum ``(B, *kept, C)`` of real tokens ``(B, *spatial, C)``."""
    ndim = len(modes)
    if all(axis.keeps_all for axis in modes):
        spectrum: Tensor = torch.fft.rfftn(x, dim=tuple(range(1, ndim + 1)), norm="ortho")
        return spectrum
    z = _keep_bins(torch.fft.rfft(x, dim=ndim, norm="ortho"), ndim, modes[-1])
    untouched = []
    for axis_index, axis in enumerate(modes[:-1]):
        if axis.keeps_all:
            untouched.append(axis_index + 1)
        else:
            z = _keep_bins(torch.fft.fft(z, dim=axis_index + 1, norm="ortho"), axis_index + 1, axis)
    if untouched:
        z = torch.fft.fftn(z, dim=tuple(untouched), norm="ortho")
    return z


def inverse_full_axes(z: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """Inverse FFT of a kept spectrum over every axis but the last: ``(B, *spatial[:-1], kept[-1], C)``.

    Returns a new tensor when there is at least one full-FFT axis, else ``z``.
    """
    ndim = len(modes)
    untouched = tuple(i + 1 for i, axis in enumerate(modes[:-1]) if axis.keeps_all)
    if untouched:
        z = torch.fft.ifftn(z, dim=untouched, norm="ortho")
    for axis_index in reversed(range(ndim - 1)):
        axis = modes[axis_index]
        if not axis.keeps_all:
            z = torch.fft.ifft(
                _restore_bins(z, axis_index + 1, axis), dim=axis_index + 1, norm="ortho"
            )
    return z


def inverse_transform(z: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """Real tokens ``(B, *spatial, C)`` whose kept spectrum is ``z`` (other bins zero)."""
    ndim = len(modes)
    if all(axis.keeps_all for axis in modes):
        sizes = tuple(axis.size for axis in modes)
        tokens: Tensor = torch.fft.irfftn(z, s=sizes, dim=tuple(range(1, ndim + 1)), norm="ortho")
        return tokens
    # Zero-fill the real axis here rather than let irfft pad a complex tensor,
    # which the ONNX exporter cannot translate.
    partial = _restore_bins(inverse_full_axes(z, modes), ndim, modes[-1])
    tokens = torch.fft.irfft(partial, n=modes[-1].size, dim=ndim, norm="ortho")
    return tokens


def _pairing_weights(modes: Sequence[AxisModes], like: Tensor) -> Tensor:
    """Real-axis pairing weights shaped to broadcast over ``(B, *kept, C)``."""
    weights = real_axis_weights(modes[-1], like.device).to(like.real.dtype)
    return weights.view(-1, 1)


def forward_adjoint(grad: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """Gradient of :func:`forward_transform`: real ``(B, *spatial, C)`` from a kept spectrum's.

    The adjoint of "keep bins of rfftn": zero-fill and inverse FFT, with the
    paired real-axis bins counted once instead of twice.
    """
    partial = inverse_full_axes(grad, modes)
    weights = _pairing_weights(modes, partial)
    partial = partial.div_(weights) if partial is not grad else partial / weights
    tokens: Tensor = torch.fft.irfft(partial, n=modes[-1].size, dim=len(modes), norm="ortho")
    return tokens


def inverse_adjoint(grad: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """Gradient of :func:`inverse_transform`: a kept spectrum from real ``(B, *spatial, C)``."""
    spectrum = forward_transform(grad, modes)
    return spectrum.mul_(_pairing_weights(modes, spectrum))


class _KeptRfftn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, modes: tuple[AxisModes, ...]) -> Tensor:
        ctx.modes = modes
        return forward_transform(x, modes)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return forward_adjoint(grad, ctx.modes), None


class _KeptIrfftn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: Tensor, modes: tuple[AxisModes, ...]) -> Tensor:
        ctx.modes = modes
        return inverse_transform(z, modes)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return inverse_adjoint(grad, ctx.modes), None


def kept_rfftn(x: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """Orthonormal real FFT over the spatial axes, keeping only ``modes``.

    Args:
        x: real tokens ``(B, *spatial, C)`` (float32 or float64), one
            :class:`AxisModes` per spatial axis in ``modes``.

    Returns:
        Complex tensor ``(B, *kept, C)``, ``kept[i] = modes[i].kept``; along a
        full-FFT axis the ``low`` bins come first, then the ``high`` ones.
    """
    if exporting_graph():  # an exported graph holds ATen operations only
        return forward_transform(x, tuple(modes))
    out: Tensor = _KeptRfftn.apply(x, tuple(modes))
    return out


def kept_irfftn(z: Tensor, modes: Sequence[AxisModes]) -> Tensor:
    """Inverse of :func:`kept_rfftn`: real tokens ``(B, *spatial, C)`` from a kept spectrum.

    Dropped bins count as zero. As ``torch.fft.irfftn`` does, the imaginary
    parts of the zero (and Nyquist) bins of the last axis are ignored.
    """
    if exporting_graph():
        return inverse_transform(z, tuple(modes))
    out: Tensor = _KeptIrfftn.apply(z, tuple(modes))
    return out
