"""The dense Fourier Neural Operator (FNO) mixer: a full complex C x C weight per kept mode."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from afno.mixers.spectral_modes import modes_from_counts
from afno.mixers.token_grid import MAX_SPATIAL_DIMS, MIN_SPATIAL_DIMS, check_tokens
from afno.mixers.truncated_fft import kept_irfftn, kept_rfftn


class FNO(nn.Module):
    """Dense FNO spectral convolution: ``y = irfftn(W(k) rfftn(x)(k))`` on kept modes ``k``.

    Each kept mode has its own complex ``C x C`` weight. Along a full-FFT axis
    the ``m`` lowest non-negative and ``m`` lowest negative frequencies are
    kept (indices ``[:m]`` and ``[-m:]``); along the last, real-FFT axis the
    first ``m``. When an axis is too short for ``2m`` (or ``m``) modes, the
    modes it has are used with the matching weights. Memory for the weights is
    ``2^(d-1) * prod(modes) * C^2`` complex numbers. No skip connection.

    Args:
        channels: number of channels ``C``.
        modes: kept frequencies ``m`` per axis, a number or one per axis.
        spatial_dims: number of spatial axes ``d`` (1 to 3).
        generator: random generator for the initial weights (default: torch's global one).
    """

    def __init__(
        self,
        channels: int,
        modes: int | Sequence[int] = 12,
        spatial_dims: int = 2,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not MIN_SPATIAL_DIMS <= spatial_dims <= MAX_SPATIAL_DIMS:
            raise ValueError(f"FNO needs spatial_dims in 1..3; got {spatial_dims}.")
        counts = (modes,) * spatial_dims if isinstance(modes, int) else tuple(modes)
        if len(counts) != spatial_dims or any(count < 1 for count in counts) or channels < 1:
            raise ValueError(
                f"FNO needs channels >= 1 and one positive mode count per spatial axis "
                f"({spatial_dims}); got channels={channels}, modes={modes!r}."
            )
        self.channels = channels
        self.modes = counts
        # Weight grid: both ends of each full-FFT axis, the start of the last axis.
        grid = (*(2 * count for count in counts[:-1]), counts[-1])
        self.weight = nn.Parameter(torch.empty(*grid, channels, channels, 2))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Uniform weights in ``[0, 1 / C^2)``, as in the FNO reference code."""
        with torch.no_grad():
            self.weight.uniform_(0.0, 1.0 / self.channels**2, generator=generator)

    def _weights_for(self, sizes: Sequence[int]) -> tuple[Tensor, tuple[int, ...]]:
        """The complex weights ``(*kept, C, C)`` for a grid, and the kept sizes."""
        kept_modes = modes_from_counts(sizes, self.modes)
        weight: Tensor = self.weight
        for axis, (count, kept) in enumerate(zip(self.modes, kept_modes, strict=True)):
            if kept.real:
                weight = weight.narrow(axis, 0, kept.low)
            elif kept.keeps_all and kept.size < 2 * count:
                positive = math.ceil(kept.size / 2)
                negative = kept.size - positive
                weight = torch.cat(
                    [
                        weight.narrow(axis, 0, positive),
                        weight.narrow(axis, 2 * count - negative, negative),
                    ],
                    dim=axis,
                )
        return torch.view_as_complex(weight.contiguous()), tuple(m.kept for m in kept_modes)

    def forward(self, x: Tensor) -> Tensor:
        """Mix tokens ``(B, *spatial, C)`` -> ``(B, *spatial, C)``, same dtype."""
        spatial = check_tokens(x, self.channels, "FNO")
        if len(spatial) != len(self.modes):
            raise ValueError(
                f"FNO was built for {len(self.modes)} spatial axes but got tokens of shape "
                f"{tuple(x.shape)} with {len(spatial)}."
            )
        kept_modes = modes_from_counts(spatial, self.modes)
        compute_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            weight, _ = self._weights_for(spatial)
            spectrum = kept_rfftn(x.to(compute_dtype), kept_modes)
            mixed = torch.einsum("b...i,...io->b...o", spectrum, weight.to(spectrum.dtype))
            out = kept_irfftn(mixed, kept_modes)
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.channels}, modes={self.modes}"
