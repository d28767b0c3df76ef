"""The Global Filter Network (GFN) mixer: one learned complex weight per Fourier mode."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional

from afno.mixers.token_grid import check_grid_size, check_tokens

_INTERPOLATION_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


class GlobalFilter(nn.Module):
    """GFN mixer: ``y = irfftn(K * rfftn(x))`` with a learned complex filter ``K``.

    ``K`` has one complex weight per channel and per mode of the nominal grid
    ``grid_size``: shape ``(*rfft_grid, C)`` where ``rfft_grid`` is
    ``grid_size`` with the last size ``n`` replaced by ``n // 2 + 1``. On
    another grid the filter is resampled to the new spectrum size (linear
    interpolation of the real and imaginary parts over the frequencies, after
    moving the zero frequency to the middle of the full-FFT axes). FFTs run in float32
    (float64 for float64 input), ``norm="ortho"``. No skip connection.

    Args:
        channels: number of channels ``C``.
        grid_size: nominal token grid ``(n_1, ..., n_d)``, 1 to 3 axes.
        generator: random generator for the initial filter (default: torch's global one).
    """

    def __init__(
        self,
        channels: int,
        grid_size: Sequence[int],
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"GlobalFilter needs channels >= 1; got {channels}.")
        self.channels = channels
        self.grid_size = check_grid_size(grid_size, "GlobalFilter")
        spectrum = (*self.grid_size[:-1], self.grid_size[-1] // 2 + 1)
        self.filter = nn.Parameter(torch.empty(*spectrum, channels, 2))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw the filter from N(0, 0.02^2), as GFNet does."""
        with torch.no_grad():
            self.filter.normal_(0.0, 0.02, generator=generator)

    def filter_for(self, spatial: Sequence[int]) -> Tensor:
        """The real-stored filter ``(*rfft_grid, C, 2)`` resampled for a token grid ``spatial``."""
        target = (*spatial[:-1], spatial[-1] // 2 + 1)
        if tuple(target) == tuple(self.filter.shape[:-2]):
            return self.filter
        ndim = len(spatial)
        full_axes = tuple(range(ndim - 1))
        centred: Tensor = self.filter
        if full_axes:
            centred = torch.fft.fftshift(self.filter, dim=full_axes)
        # (*grid, C, 2) -> (1, 2C, *grid) for interpolate, and back.
        as_image = centred.flatten(-2).movedim(-1, 0).unsqueeze(0)
        resized = functional.interpolate(
            as_image, size=target, mode=_INTERPOLATION_MODES[ndim], align_corners=True
        )
        restored: Tensor = resized.squeeze(0).movedim(0, -1).unflatten(-1, (self.channels, 2))
        if not full_axes:
            return restored
        shifted_back: Tensor = torch.fft.ifftshift(restored, dim=full_axes)
        return shifted_back

    def forward(self, x: Tensor) -> Tensor:
        """Filter tokens ``(B, *spatial, C)`` -> ``(B, *spatial, C)``, same dtype."""
        spatial = check_tokens(x, self.channels, "GlobalFilter")
        if len(spatial) != len(self.grid_size):
            raise ValueError(
                f"GlobalFilter was built for a {len(self.grid_size)}-D grid {self.grid_size} "
                f"but got tokens of shape {tuple(x.shape)} with {len(spatial)} spatial axes."
            )
        compute_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        dims = tuple(range(1, len(spatial) + 1))
        with torch.autocast(device_type=x.device.type, enabled=False):
            weight = torch.view_as_complex(self.filter_for(spatial).to(compute_dtype).contiguous())
            spectrum = torch.fft.rfftn(x.to(compute_dtype), dim=dims, norm="ortho")
            out: Tensor = torch.fft.irfftn(spectrum * weight, s=spatial, dim=dims, norm="ortho")
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.channels}, grid_size={self.grid_size}"
