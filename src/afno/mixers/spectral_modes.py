"""Which Fourier modes a truncated spectral mixer keeps, axis by axis.

A real ``n``-point signal along a *full-FFT* axis has frequencies
``0, 1, ..., -2, -1`` stored at indices ``0 .. n-1``: the low frequencies sit
at BOTH ends. Along the last spatial axis the real FFT stores only the
non-negative frequencies ``0 .. n // 2``, so the low ones sit at the start.

:class:`AxisModes` records, for one axis, how many indices are kept at the
start (``low``) and at the end (``high``) of the transformed axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import Tensor


@dataclass(frozen=True)
class AxisModes:
    """The kept modes of one spatial axis.

    Attributes:
        size: number of tokens ``n`` along the axis.
        real: ``True`` for the last spatial axis (real FFT, ``n // 2 + 1`` bins).
        low: kept bins ``[0, low)``.
        high: kept bins ``[n - high, n)``; always 0 on the real-FFT axis.
    """

    size: int
    real: bool
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low < 1 or self.high < 0 or self.kept > self.spectrum_size:
            raise ValueError(f"invalid kept modes {self} for an axis of {self.size} tokens")
        if self.real and self.high:
            raise ValueError(f"the real-FFT axis keeps no high bins; got {self}")

    @property
    def spectrum_size(self) -> int:
        """Number of bins the untruncated transform has along this axis."""
        return self.size // 2 + 1 if self.real else self.size

    @property
    def kept(self) -> int:
        """Number of kept bins along this axis."""
        return self.low + self.high

    @property
    def keeps_all(self) -> bool:
        """Whether no bin of this axis is dropped."""
        return bool(self.kept == self.spectrum_size)


def per_axis(value: float | Sequence[float], spatial_dims: int, name: str) -> tuple[float, ...]:
    """Broadcast a number, or check a sequence, to one value per spatial axis.

    Raises:
        ValueError: if a sequence does not have ``spatial_dims`` entries.
    """
    if isinstance(value, int | float):
        return (float(value),) * spatial_dims
    values = tuple(float(v) for v in value)
    if len(values) != spatial_dims:
        raise ValueError(
            f"{name} has {len(values)} entries {tuple(value)} but the tokens have "
            f"{spatial_dims} spatial axes; give one number, or one per spatial axis."
        )
    return values


def check_keep_fractions(
    keep_fraction: float | Sequence[float],
) -> tuple[float, ...] | float:
    """Check that every keep fraction lies in ``(0, 1]``; return it normalised.

    Raises:
        ValueError: naming the offending value(s).
    """
    values = (
        (float(keep_fraction),)
        if isinstance(keep_fraction, int | float)
        else tuple(float(v) for v in keep_fraction)
    )
    if not values or any(not (0.0 < v <= 1.0) or math.isnan(v) for v in values):
        raise ValueError(
            f"keep_fraction must be a number in (0, 1], or one such number per spatial axis; "
            f"got {keep_fraction!r}."
        )
    return float(keep_fraction) if isinstance(keep_fraction, int | float) else values


KeepRatio = tuple[int, int]
"""A keep fraction as an exact ``(numerator, denominator)`` pair of ints."""


def exact_keep_ratios(keep_fraction: float | Sequence[float]) -> KeepRatio | tuple[KeepRatio, ...]:
    """The keep fraction(s) as exact ratios of the decimals written (``0.82`` is ``(41, 50)``).

    Computed once, outside any traced code: ``torch.compile`` treats float
    attributes as symbolic and cannot trace ``fractions.Fraction``.
    """

    def ratio(value: float) -> KeepRatio:
        exact = Fraction(repr(float(value)))
        return exact.numerator, exact.denominator

    if isinstance(keep_fraction, int | float):
        return ratio(keep_fraction)
    return tuple(ratio(value) for value in keep_fraction)


def _ratios_per_axis(
    keep_ratio: KeepRatio | tuple[KeepRatio, ...], spatial_dims: int
) -> tuple[KeepRatio, ...]:
    first, second = keep_ratio[0], keep_ratio[-1]
    if isinstance(first, int) and isinstance(second, int):
        return ((first, second),) * spatial_dims
    ratios = tuple(ratio for ratio in keep_ratio if not isinstance(ratio, int))
    if len(ratios) != spatial_dims:
        shown = tuple(f"{numerator}/{denominator}" for numerator, denominator in ratios)
        raise ValueError(
            f"keep_fraction has {len(ratios)} entries {shown} but the tokens have "
            f"{spatial_dims} spatial axes; give one number, or one per spatial axis."
        )
    return ratios


def modes_from_fractions(
    sizes: Sequence[int], keep_fraction: float | Sequence[float]
) -> tuple[AxisModes, ...]:
    """Kept modes for a keep fraction per axis (AFNO's hard thresholding).

    Along an axis of ``n`` tokens with fraction ``f`` the frequencies ``k`` with
    ``|k| <= K = floor(f * n / 2)`` are kept: indices ``[:K + 1]`` and ``[-K:]`` on
    a full-FFT axis, ``[:K + 1]`` on the real-FFT (last) axis. ``f = 1`` keeps
    every mode; any ``f > 0`` keeps at least the zero frequency. ``K`` is
    computed exactly for ``f`` as written in decimal (``0.82 * 2400 / 2`` is
    984, not the 983 floating point gives), and with integer operations only,
    so sizes may be symbolic (``torch.export``). See :func:`modes_from_ratios`.
    """
    per_axis(keep_fraction, len(sizes), "keep_fraction")  # checks the number of entries
    return modes_from_ratios(sizes, exact_keep_ratios(keep_fraction))


def modes_from_ratios(
    sizes: Sequence[int], keep_ratio: KeepRatio | tuple[KeepRatio, ...]
) -> tuple[AxisModes, ...]:
    """:func:`modes_from_fractions` for fractions given by :func:`exact_keep_ratios`.

    Raises:
        ValueError: if there is not one ratio, or one per axis.
    """
    ratios = _ratios_per_axis(keep_ratio, len(sizes))
    modes = []
    for axis, (size, (numerator, denominator)) in enumerate(zip(sizes, ratios, strict=True)):
        real = axis == len(sizes) - 1
        if numerator >= denominator:  # every mode, decided without comparing sizes
            modes.append(AxisModes(size, real, size // 2 + 1 if real else size, 0))
            continue
        cutoff = (numerator * size) // (2 * denominator)
        if real:  # fraction < 1, so cutoff <= size // 2
            modes.append(AxisModes(size, True, cutoff + 1, 0))
        elif 2 * cutoff + 1 >= size:
            modes.append(AxisModes(size, False, size, 0))
        else:
            modes.append(AxisModes(size, False, cutoff + 1, cutoff))
    return tuple(modes)


def modes_from_counts(sizes: Sequence[int], counts: Sequence[int]) -> tuple[AxisModes, ...]:
    """Kept modes for a count ``m`` per axis (FNO's convention).

    Keeps indices ``[:m]`` and ``[-m:]`` on a full-FFT axis and ``[:m]`` on the
    real-FFT (last) axis, clipped to what the axis has.
    """
    modes = []
    for axis, (size, count) in enumerate(zip(sizes, counts, strict=True)):
        real = axis == len(sizes) - 1
        if real:
            modes.append(AxisModes(size, True, min(count, size // 2 + 1), 0))
        elif 2 * count >= size:
            modes.append(AxisModes(size, False, size, 0))
        else:
            modes.append(AxisModes(size, False, count, count))
    return tuple(modes)


def real_axis_weights(axis: AxisModes, device: torch.device) -> Tensor:
    """Multiplicity of each kept bin of the real-FFT axis in the full spectrum.

    The real FFT stores the bins ``1 .. ceil(n / 2) - 1`` once for two
    frequencies (``k`` and ``-k``); the zero bin and, for even ``n``, the
    Nyquist bin stand for one. Returns a float32 tensor of shape
    ``(axis.low,)`` holding 2 for the paired bins and 1 for the others; it
    turns the inverse real FFT into the adjoint of the forward one and back.
    """
    weights = torch.full((axis.low,), 2.0, device=device)
    weights[0] = 1.0
    if axis.size % 2 == 0 and axis.low == axis.size // 2 + 1:
        weights[-1] = 1.0
    return weights
