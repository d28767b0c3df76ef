"""A SegFormer-style hierarchical segmentation model with AFNO (or peer) token mixing.

Encoder: four stages at strides 4, 8, 16 and 32. Each stage starts with an
overlapping patch embedding (convolution, kernel 7/3/3/3, padding kernel//2),
runs mixer blocks (norm -> mixer -> norm -> Mix-FFN, both residual) on its
token grid and ends with a LayerNorm. Decoder (all-MLP): a linear layer per
stage to a common width, bilinear upsampling to the stride-4 grid,
concatenation, a 1×1 fusion (conv + BatchNorm + ReLU) and a 1×1 classifier.

Output: logits at stride 4, ``(B, K, ceil(H / 4), ceil(W / 4))``; they are
*not* upsampled to the input size (upsample them, e.g. with
``torch.nn.functional.interpolate(logits, size=(H, W), mode="bilinear")``, or
downsample the labels, to compare with full-size masks).

There is no position embedding (Mix-FFN's depthwise convolution carries
position), so one set of weights runs at any input size; at 1024×1024 the
stride-4 stage holds 256×256 = 65,536 tokens.

Example:
    >>> import torch
    >>> model = AFNOSegFormer(num_classes=3, in_chans=1, img_size=64,
    ...                       embed_dims=(8, 16, 16, 32), depths=(1, 1, 1, 1),
    ...                       decoder_dim=16, mixer_kwargs={"num_blocks": 4})
    >>> model(torch.zeros(1, 1, 64, 48)).shape
    torch.Size([1, 3, 16, 12])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from afno.mixers.token_grid import check_floating
from afno.models.afnonet import as_pair, check_mixer_name, check_rate
from afno.models.configured import ConfiguredModel
from afno.models.layers import (
    MixerBlock,
    OverlappingPatchEmbedding,
    conv_output_size,
    init_linear_,
    same_size,
)

STAGE_KERNELS = (7, 3, 3, 3)
STAGE_STRIDES = (4, 2, 2, 2)
"""Per-stage patch-embedding kernel and stride; cumulative strides 4, 8, 16, 32."""


def _four(values: Sequence[Any], name: str, kinds: tuple[type, ...]) -> tuple[Any, ...]:
    """``values`` as a 4-tuple of positive numbers of the given types, else ValueError."""
    if len(values) != 4 or not all(
        isinstance(v, kinds) and not isinstance(v, bool) for v in values
    ):
        kind_names = " or ".join(kind.__name__ for kind in kinds)
        raise ValueError(f"{name} must hold 4 values of type {kind_names}, got {values!r}")
    if not all(v > 0 for v in values):
        raise ValueError(f"{name} must be positive, got {values!r}")
    return tuple(values)


class EncoderStage(nn.Module):
    """One encoder stage: ``(B, C_in, H, W) -> (B, H', W', D)`` tokens (channels-last).

    Overlapping patch embedding, ``depth`` mixer blocks with Mix-FFN, LayerNorm.
    """

    def __init__(
        self,
        in_chans: int,
        dim: int,
        *,
        kernel: int,
        stride: int,
        depth: int,
        grid_size: tuple[int, int],
        mixer: str,
        mixer_kwargs: Mapping[str, Any] | None,
        mlp_ratio: float,
        drop_rate: float,
        drop_path_rates: Sequence[float],
    ) -> None:
        super().__init__()
        self.patch_embed = OverlappingPatchEmbedding(in_chans, dim, kernel, stride)
        self.blocks = nn.ModuleList(
            MixerBlock(
                dim,
                grid_size,
                mixer=mixer,
                mixer_kwargs=mixer_kwargs,
                mlp_ratio=mlp_ratio,
                drop_rate=drop_rate,
                drop_path=rate,
                mix_ffn=True,
            )
            for rate in drop_path_rates[:depth]
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, features: Tensor) -> Tensor:
        tokens = self.patch_embed(features)
        for block in self.blocks:
            tokens = block(tokens)
        normed: Tensor = self.norm(tokens)
        return normed


class AllMLPDecoder(nn.Module):
    """SegFormer's decode head: 4 grids ``(B, H_i, W_i, C_i)`` -> logits ``(B, K, H_1, W_1)``.

    Each stage goes through ``Linear(C_i, E)``, is upsampled bilinearly to the
    stride-4 grid ``(H_1, W_1)``; the four are concatenated (deepest first),
    fused by a 1×1 convolution + BatchNorm + ReLU, dropped out and classified
    by a 1×1 convolution.
    """

    def __init__(
        self, in_dims: Sequence[int], decoder_dim: int, num_classes: int, drop_rate: float
    ) -> None:
        super().__init__()
        self.projections = nn.ModuleList(nn.Linear(dim, decoder_dim) for dim in in_dims)
        init_linear_(self.projections)
        self.fuse = nn.Sequential(
            nn.Conv2d(len(in_dims) * decoder_dim, decoder_dim, kernel_size=1, bias=False),
            nn.BatchNorm2d(decoder_dim),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout2d(drop_rate)
        self.classifier = nn.Conv2d(decoder_dim, num_classes, kernel_size=1)

    def forward(self, stages: Sequence[Tensor]) -> Tensor:
        target = tuple(stages[0].shape[1:3])
        upsampled = []
        for projection, tokens in zip(self.projections, stages, strict=True):
            grid = projection(tokens).permute(0, 3, 1, 2)
            if not same_size(grid.shape[2:], target):
                grid = F.interpolate(grid, size=target, mode="bilinear", align_corners=False)
            upsampled.append(grid)
        fused = self.fuse(torch.cat(upsampled[::-1], dim=1))
        logits: Tensor = self.classifier(self.dropout(fused))
        return logits


class AFNOSegFormer(ConfiguredModel):
    """Hierarchical segmentation model (SegFormer layout) with a selectable token mixer.

    Args:
        num_classes: number of segmentation classes ``K``.
        in_chans: image channels ``C_in``.
        img_size: the nominal input size ``H`` or ``(H, W)``; it only sizes
            mixers with per-mode weights (GFN, FNO) — any input size runs.
        embed_dims: token channels of the four stages.
        depths: mixer blocks per stage.
        mlp_ratios: Mix-FFN width per stage, as a multiple of the stage's channels.
        decoder_dim: common width ``E`` of the all-MLP decoder.
        mixer: token mixer, a name in :data:`afno.mixers.MIXER_NAMES`.
        mixer_kwargs: further mixer arguments, the same for every stage (the
            stage widths must suit them, e.g. be divisible by AFNO's ``num_blocks``).
        drop_rate: dropout in the Mix-FFNs and before the classifier.
        drop_path_rate: stochastic depth, rising linearly to this over all blocks.

    Shapes:
        input ``(B, C_in, H, W)``; output logits ``(B, K, ceil(H/4), ceil(W/4))``
        (stride 4, not upsampled to the input size).
    """

    def __init__(
        self,
        num_classes: int = 19,
        in_chans: int = 3,
        img_size: int | tuple[int, int] = 512,
        embed_dims: Sequence[int] = (32, 64, 160, 256),
        depths: Sequence[int] = (2, 2, 2, 2),
        mlp_ratios: Sequence[float] = (4.0, 4.0, 4.0, 4.0),
        decoder_dim: int = 256,
        mixer: str = "afno",
        mixer_kwargs: Mapping[str, Any] | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        height, width = as_pair(img_size, "img_size")
        dims = _four(embed_dims, "embed_dims", (int,))
        stage_depths = _four(depths, "depths", (int,))
        ratios = tuple(float(r) for r in _four(mlp_ratios, "mlp_ratios", (int, float)))
        for name, value in (
            ("num_classes", num_classes),
            ("in_chans", in_chans),
            ("decoder_dim", decoder_dim),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        check_mixer_name(mixer)
        check_rate(drop_rate, "drop_rate")
        check_rate(drop_path_rate, "drop_path_rate")
        super().__init__(
            {
                "num_classes": num_classes,
                "in_chans": in_chans,
                "img_size": (height, width),
                "embed_dims": dims,
                "depths": stage_depths,
                "mlp_ratios": ratios,
                "decoder_dim": decoder_dim,
                "mixer": mixer,
                "mixer_kwargs": dict(mixer_kwargs or {}),
                "drop_rate": float(drop_rate),
                "drop_path_rate": float(drop_path_rate),
            }
        )
        self.in_chans = in_chans
        rates = torch.linspace(0.0, drop_path_rate, sum(stage_depths)).tolist()
        stages = []
        channels, grid, first = in_chans, (height, width), 0
        for dim, depth, ratio, kernel, stride in zip(
            dims, stage_depths, ratios, STAGE_KERNELS, STAGE_STRIDES, strict=True
        ):
            grid = (
                conv_output_size(grid[0], kernel, stride, kernel // 2),
                conv_output_size(grid[1], kernel, stride, kernel // 2),
            )
            stages.append(
                EncoderStage(
                    channels,
                    dim,
                    kernel=kernel,
                    stride=stride,
                    depth=depth,
                    grid_size=grid,
                    mixer=mixer,
                    mixer_kwargs=mixer_kwargs,
                    mlp_ratio=ratio,
                    drop_rate=drop_rate,
                    drop_path_rates=rates[first : first + depth],
                )
            )
            channels, first = dim, first + depth
        self.stages = nn.ModuleList(stages)
        self.decoder = AllMLPDecoder(dims, decoder_dim, num_classes, drop_rate)

    def forward_features(self, images: Tensor) -> list[Tensor]:
        """The four stage outputs, channels-last: ``[(B, H/4, W/4, C_1), ..., (B, H/32, W/32, C_4)]``
        (sides rounded up)."""
        check_floating(images, "AFNOSegFormer images")
        if images.dim() != 4 or images.shape[1] != self.in_chans:
            raise ValueError(
                f"AFNOSegFormer expects images (B, {self.in_chans}, H, W), "
                f"got shape {tuple(images.shape)}"
            )
        outputs = []
        features = images
        for stage in self.stages:
            tokens = stage(features)
            outputs.append(tokens)
            features = tokens.permute(0, 3, 1, 2)
        return outputs

    def forward(self, images: Tensor) -> Tensor:
        """Segmentation logits ``(B, K, ceil(H/4), ceil(W/4))`` for images ``(B, C_in, H, W)``."""
        logits: Tensor = self.decoder(self.forward_features(images))
        return logits
