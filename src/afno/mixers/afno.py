"""The Adaptive Fourier Neural Operator (AFNO) token mixer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from afno.mixers.fused_mixer import fused_afno_mix
from afno.mixers.real_pair_mlp import real_pair_mlp
from afno.mixers.spectral_modes import check_keep_fractions, exact_keep_ratios, modes_from_ratios
from afno.mixers.spectral_path import SpectralPath, check_spectral_path, use_traceable_path
from afno.mixers.token_grid import check_tokens
from afno.mixers.truncated_fft import kept_irfftn, kept_rfftn


class AFNO(nn.Module):
    """AFNO mixer: FFT, block-diagonal complex MLP on the kept modes, inverse FFT, skip.

    For tokens ``x`` of shape ``(B, *spatial, C)`` (1 to 3 spatial axes, any
    sizes, odd and non-square included)::

        Z = rfftn(x)  over the spatial axes, norm="ortho", in float32
        Z' = S_lambda(W2 ReLU(W1 Z + b1) + b2)   per kept mode and channel block
        y = irfftn(Z') + x                       cast back to x's dtype

    Only the low frequencies ``|k| <= floor(keep_fraction * n / 2)`` of each
    axis of ``n`` tokens are kept (at both ends of full-FFT axes, at the start
    of the last, real-FFT axis); the MLP runs on those modes only and the
    dropped ones are zero in ``Z'``. The weights do not depend on the grid,
    so one mixer runs at any resolution. Under ``torch.autocast`` the FFT and
    the MLP still run in float32 and the output has the input's dtype.

    The spectral step has two implementations of the same function (see
    :mod:`afno.mixers.spectral_path`): a fused one (complex GEMMs, one
    hand-written backward; eager mode and ``torch.compile``) and a traceable
    one (the MLP in real arithmetic on (real, imaginary) pairs; ``torch.export``,
    ONNX export, ``torch.jit.trace``). By default each runs where it belongs.

    Args:
        channels: number of channels ``C``.
        num_blocks: number of diagonal blocks ``k``; must divide ``channels``.
        sparsity_threshold: soft-shrink threshold ``lambda >= 0``.
        hidden_size_factor: hidden width of each block MLP, in block sizes.
        keep_fraction: fraction of frequencies kept per axis, in ``(0, 1]``;
            a number or one per spatial axis.
        generator: random generator for the initial weights (default: torch's global one).
        spectral_path: ``"auto"`` (default), ``"fused"`` or ``"traceable"``:
            which implementation of the spectral step runs; ``"auto"`` picks
            ``"traceable"`` while a graph is exported (``torch.export``, ONNX,
            ``torch.jit.trace``) and ``"fused"`` otherwise.

    Raises:
        ValueError: for invalid arguments; from :meth:`forward`, for tokens
            that are not ``(B, *spatial, channels)`` or not real floating point.

    Example:
        >>> mixer = AFNO(64, num_blocks=8, keep_fraction=0.5)
        >>> mixer(torch.randn(2, 14, 15, 64)).shape
        torch.Size([2, 14, 15, 64])
    """

    def __init__(
        self,
        channels: int,
        num_blocks: int = 8,
        sparsity_threshold: float = 0.01,
        hidden_size_factor: int = 1,
        keep_fraction: float | Sequence[float] = 1.0,
        *,
        generator: torch.Generator | None = None,
        spectral_path: SpectralPath = "auto",
    ) -> None:
        super().__init__()
        if channels < 1 or num_blocks < 1 or channels % num_blocks:
            raise ValueError(
                f"AFNO needs channels divisible by num_blocks; got channels={channels}, "
                f"num_blocks={num_blocks} (channels % num_blocks = "
                f"{channels % num_blocks if num_blocks > 0 else 'undefined'}). "
                "Pick num_blocks among the divisors of channels."
            )
        if hidden_size_factor < 1:
            raise ValueError(f"hidden_size_factor must be >= 1; got {hidden_size_factor}.")
        if sparsity_threshold < 0:
            raise ValueError(f"sparsity_threshold must be >= 0; got {sparsity_threshold}.")
        self.channels = channels
        self.num_blocks = num_blocks
        self.block_size = channels // num_blocks
        self.hidden_size = self.block_size * hidden_size_factor
        self.sparsity_threshold = float(sparsity_threshold)
        self.keep_fraction = check_keep_fractions(keep_fraction)
        self._keep_ratio = exact_keep_ratios(self.keep_fraction)
        self.spectral_path = check_spectral_path(spectral_path)
        blocks, block, hidden = num_blocks, self.block_size, self.hidden_size
        # Complex weights stored as real (..., 2) tensors: [..., 0] real, [..., 1] imaginary.
        self.weight1 = nn.Parameter(torch.empty(blocks, hidden, block, 2))
        self.bias1 = nn.Parameter(torch.empty(blocks, hidden, 2))
        self.weight2 = nn.Parameter(torch.empty(blocks, block, hidden, 2))
        self.bias2 = nn.Parameter(torch.empty(blocks, block, 2))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every weight and bias from N(0, 0.02^2), as the paper's code does."""
        with torch.no_grad():
            for parameter in (self.weight1, self.bias1, self.weight2, self.bias2):
                parameter.normal_(0.0, 0.02, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """Mix tokens ``(B, *spatial, C)`` -> ``(B, *spatial, C)``, same dtype."""
        spatial = check_tokens(x, self.channels, "AFNO")
        if torch.is_autocast_enabled(x.device.type):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return self._mix(x, spatial)
        return self._mix(x, spatial)

    def _mix(self, x: Tensor, spatial: tuple[int, ...]) -> Tensor:
        modes = modes_from_ratios(spatial, self._keep_ratio)
        compute_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        tokens = x.to(compute_dtype)
        weight1, bias1, weight2, bias2 = (
            parameter.to(compute_dtype)
            for parameter in (self.weight1, self.bias1, self.weight2, self.bias2)
        )
        threshold = self.sparsity_threshold
        if use_traceable_path(self.spectral_path):
            spectrum = kept_rfftn(tokens, modes)
            kept = [axis.kept for axis in modes]
            mixed = real_pair_mlp(spectrum, weight1, bias1, weight2, bias2, threshold, kept)
            out = tokens + kept_irfftn(mixed, modes)
        else:
            out = fused_afno_mix(
                tokens,
                torch.view_as_complex(weight1),
                torch.view_as_complex(bias1),
                torch.view_as_complex(weight2),
                torch.view_as_complex(bias2),
                threshold,
                modes,
            )
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, num_blocks={self.num_blocks}, "
            f"sparsity_threshold={self.sparsity_threshold}, "
            f"hidden_size={self.hidden_size}, keep_fraction={self.keep_fraction}, "
            f"spectral_path={self.spectral_path!r}"
        )
