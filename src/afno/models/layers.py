"""Building blocks shared by the models: patch embeddings, feed-forwards, mixer blocks.

Tokens travel channels-last, as a grid ``(B, H, W, C)``, which is what the
token mixers of :mod:`afno.mixers` take; convolutions see channels-first
``(B, C, H, W)`` and the layers here convert at their edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from afno.mixers import build_mixer


def init_linear_(module: nn.Module) -> None:
    """Initialise every ``nn.Linear`` inside ``module``: truncated normal (std 0.02), zero bias.

    Draws from torch's global RNG; build models under a seed (see
    :func:`afno.create_model`) for reproducible weights.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Length of a convolution's output along one axis (dilation 1)."""
    return (size + 2 * padding - kernel) // stride + 1


def same_size(actual: Sequence[int], expected: Sequence[int]) -> bool:
    """Whether two sizes are surely equal.

    Plain ints are compared. Symbolic sizes (``torch.export`` with dynamic
    shapes) count as equal only when they are equal for every size the trace
    allows; otherwise the caller takes its resizing branch, which must then
    be exact at equal sizes too (bilinear and bicubic resampling to the same
    size are the identity). This keeps such comparisons from pinning a
    dynamic size to the example's.
    """
    if len(actual) != len(expected):
        return False
    if all(isinstance(v, int) for v in (*actual, *expected)):
        return tuple(actual) == tuple(expected)
    from torch.fx.experimental.symbolic_shapes import statically_known_true

    return all(statically_known_true(a == e) for a, e in zip(actual, expected, strict=True))


def resize_grid(tokens: Tensor, size: Sequence[int]) -> Tensor:
    """Bicubically resample a channels-last grid ``(B, H, W, C)`` to ``(B, *size, C)``.

    Used to fit a learned position embedding to another token grid; returns
    ``tokens`` itself when the size already matches.
    """
    if same_size(tokens.shape[1:3], size):
        return tokens
    channels_first = tokens.permute(0, 3, 1, 2)
    resized = F.interpolate(channels_first, size=size, mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1)


class DropPath(nn.Module):
    """Stochastic depth: zero a whole sample's residual branch with probability ``p``.

    Kept samples are scaled by ``1 / (1 - p)``. Identity in eval mode or at ``p = 0``.
    Draws from torch's global RNG (which :func:`afno.training.fit` seeds).
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask_shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        mask = torch.empty(mask_shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep


class PatchEmbedding(nn.Module):
    """Non-overlapping patches to tokens: ``(B, C_in, H, W) -> (B, H/p, W/p, D)``.

    A strided convolution with kernel = stride = ``patch_size``.

    Args:
        in_chans: image channels ``C_in``.
        embed_dim: token channels ``D``.
        patch_size: patch side ``p`` in pixels.
    """

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.projection = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: Tensor) -> Tensor:
        tokens: Tensor = self.projection(images)
        return tokens.permute(0, 2, 3, 1)


class OverlappingPatchEmbedding(nn.Module):
    """Overlapping patches (SegFormer): ``(B, C_in, H, W) -> (B, H', W', D)``, then LayerNorm.

    A convolution with ``kernel`` > ``stride`` and padding ``kernel // 2``, so
    ``H' = floor((H + 2 * (kernel // 2) - kernel) / stride) + 1`` (``ceil(H / stride)``
    for odd kernels).

    Args:
        in_chans: input channels ``C_in``.
        embed_dim: token channels ``D``.
        kernel: convolution kernel side (7 for the first stage, 3 after).
        stride: downsampling factor (4 for the first stage, 2 after).
    """

    def __init__(self, in_chans: int, embed_dim: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, kernel // 2
        self.projection = nn.Conv2d(
            in_chans, embed_dim, kernel_size=kernel, stride=stride, padding=self.padding
        )
        self.norm = nn.LayerNorm(embed_dim)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Token grid ``(H', W')`` for an input of ``height × width`` pixels."""
        return (
            conv_output_size(height, self.kernel, self.stride, self.padding),
            conv_output_size(width, self.kernel, self.stride, self.padding),
        )

    def forward(self, images: Tensor) -> Tensor:
        grid: Tensor = self.projection(images)
        normed: Tensor = self.norm(grid.permute(0, 2, 3, 1))
        return normed


class FeedForward(nn.Module):
    """Token-wise MLP ``Linear(D, rD) -> GELU -> Linear(rD, D)`` on ``(..., D)``, with dropout."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0, drop_rate: float = 0.0) -> None:
        super().__init__()
        hidden = max(1, round(dim * mlp_ratio))
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(drop_rate)

    def forward(self, tokens: Tensor) -> Tensor:
        output: Tensor = self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(tokens)))))
        return output


class MixFeedForward(nn.Module):
    """SegFormer's Mix-FFN on a grid ``(B, H, W, D)``: a 3×3 depthwise conv inside the MLP.

    ``Linear(D, rD) -> depthwise Conv3x3 -> GELU -> Linear(rD, D)``. The
    convolution leaks position information between neighbours, which is why
    the segmentation model needs no position embedding and runs at any size.
    """

    def __init__(self, dim: int, mlp_ratio: float = 4.0, drop_rate: float = 0.0) -> None:
        super().__init__()
        hidden = max(1, round(dim * mlp_ratio))
        self.fc1 = nn.Linear(dim, hidden)
        self.depthwise = nn.Conv2d(hidden, hidden, kernel_size=3, padding=1, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(drop_rate)

    def forward(self, grid: Tensor) -> Tensor:
        hidden = self.fc1(grid).permute(0, 3, 1, 2)
        hidden = self.depthwise(hidden).permute(0, 2, 3, 1)
        output: Tensor = self.dropout(self.fc2(self.dropout(F.gelu(hidden))))
        return output


class MixerBlock(nn.Module):
    """Pre-norm block on a grid ``(B, H, W, D)``: ``x + mixer(norm(x))``, then ``x + mlp(norm(x))``.

    Args:
        dim: token channels ``D``.
        grid_size: the token grid ``(H, W)`` the block is built for (mixers
            with per-mode weights size them from it; AFNO does not need it).
        mixer: a name from :data:`afno.mixers.MIXER_NAMES`.
        mixer_kwargs: further arguments of the mixer (e.g. ``num_blocks``).
        mlp_ratio: hidden width of the feed-forward as a multiple of ``D``.
        drop_rate: dropout inside the feed-forward.
        drop_path: stochastic-depth probability of both residual branches.
        mix_ffn: use SegFormer's :class:`MixFeedForward` instead of :class:`FeedForward`.
    """

    def __init__(
        self,
        dim: int,
        grid_size: tuple[int, int],
        *,
        mixer: str = "afno",
        mixer_kwargs: Mapping[str, Any] | None = None,
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        drop_path: float = 0.0,
        mix_ffn: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = build_mixer(mixer, dim, grid_size=grid_size, **dict(mixer_kwargs or {}))
        self.norm2 = nn.LayerNorm(dim)
        feed_forward = MixFeedForward if mix_ffn else FeedForward
        self.mlp = feed_forward(dim, mlp_ratio, drop_rate)
        init_linear_(self.mlp)
        self.drop_path = DropPath(drop_path)

    def forward(self, grid: Tensor) -> Tensor:
        grid = grid + self.drop_path(self.mixer(self.norm1(grid)))
        output: Tensor = grid + self.drop_path(self.mlp(self.norm2(grid)))
        return output
