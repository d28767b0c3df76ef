"""AFNONet: a ViT-style image classifier whose token mixer is AFNO (or a peer mixer).

``(B, C_in, H, W)`` images -> patch embedding ``(B, H/p, W/p, D)`` + learned
position embedding -> ``depth`` blocks of norm -> mixer -> norm -> MLP (both
residual) -> LayerNorm -> pool over tokens (mean or max) -> linear head -> logits ``(B, K)``.

Mean pooling (the default) suits labels that depend on the whole image; max
pooling suits a small object decided by a few tokens, whose signal a mean over
hundreds of tokens would dilute (e.g. a 15-pixel traffic light in a 256×256
frame: 16×16 tokens, one of which holds the light).

The position embedding is learned on the grid of the constructed ``img_size``
and bicubically resized when an image of another size comes in, so the same
weights classify images at, e.g., twice the resolution.

Example:
    >>> import torch
    >>> model = AFNONet(img_size=28, patch_size=4, in_chans=1, num_classes=10,
    ...                 embed_dim=32, depth=2, mixer_kwargs={"num_blocks": 4})
    >>> model(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> model(torch.zeros(2, 1, 56, 56)).shape   # twice the resolution, same weights
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from afno.mixers import MIXER_NAMES
from afno.mixers.token_grid import check_floating
from afno.models.configured import ConfiguredModel
from afno.models.layers import MixerBlock, PatchEmbedding, init_linear_, resize_grid


def as_pair(size: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    """``size`` as ``(H, W)``: an int means a square; raises ValueError for anything else."""
    if isinstance(size, int) and not isinstance(size, bool):
        pair = (size, size)
    elif (
        isinstance(size, tuple | list) and len(size) == 2 and all(isinstance(s, int) for s in size)
    ):
        pair = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair (H, W) of ints, got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return pair


def check_mixer_name(mixer: str) -> None:
    """Raise ValueError unless ``mixer`` is one of :data:`afno.mixers.MIXER_NAMES`."""
    if mixer not in MIXER_NAMES:
        raise ValueError(f"mixer must be one of {tuple(MIXER_NAMES)}, got {mixer!r}")


def check_rate(value: float, name: str) -> None:
    """Raise ValueError unless ``0 <= value < 1`` (a dropout-style probability)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


GLOBAL_POOLS = ("mean", "max")
"""How :class:`AFNONet` pools the token grid into one feature vector per image."""


class AFNONet(ConfiguredModel):
    """Patch-embedding classifier with Fourier (or peer) token mixing.

    Args:
        img_size: image size ``H`` or ``(H, W)`` the position embedding is
            learned for; other sizes divisible by ``patch_size`` also work.
        patch_size: patch side ``p`` in pixels; ``H`` and ``W`` must be multiples.
        in_chans: image channels ``C_in``.
        num_classes: number of logits ``K``.
        embed_dim: token channels ``D``.
        depth: number of mixer blocks.
        mlp_ratio: feed-forward width as a multiple of ``D``.
        mixer: token mixer, a name in :data:`afno.mixers.MIXER_NAMES`
            (``"afno"``, ``"attention"``, ``"gfn"``, ``"fno"``).
        mixer_kwargs: further mixer arguments (AFNO: ``num_blocks``,
            ``sparsity_threshold``, ``hidden_size_factor``, ``keep_fraction``).
        drop_rate: dropout after the position embedding and in the MLPs.
        drop_path_rate: stochastic depth, rising linearly to this over the blocks.
        global_pool: ``"mean"`` (average over tokens) or ``"max"`` (per-channel
            maximum over tokens) before the head.

    Shapes:
        input ``(B, C_in, H, W)`` float, ``H % p == W % p == 0``; output ``(B, K)`` logits.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 256,
        depth: int = 12,
        mlp_ratio: float = 4.0,
        mixer: str = "afno",
        mixer_kwargs: Mapping[str, Any] | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "mean",
    ) -> None:
        height, width = as_pair(img_size, "img_size")
        if global_pool not in GLOBAL_POOLS:
            raise ValueError(f"global_pool must be one of {GLOBAL_POOLS}, got {global_pool!r}")
        for name, value in (
            ("patch_size", patch_size),
            ("in_chans", in_chans),
            ("num_classes", num_classes),
            ("embed_dim", embed_dim),
            ("depth", depth),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if height % patch_size or width % patch_size:
            raise ValueError(
                f"img_size {(height, width)} is not divisible by patch_size {patch_size}; "
                "choose a patch size that divides both sides"
            )
        if not mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio}")
        check_mixer_name(mixer)
        check_rate(drop_rate, "drop_rate")
        check_rate(drop_path_rate, "drop_path_rate")
        super().__init__(
            {
                "img_size": (height, width),
                "patch_size": patch_size,
                "in_chans": in_chans,
                "num_classes": num_classes,
                "embed_dim": embed_dim,
                "depth": depth,
                "mlp_ratio": float(mlp_ratio),
                "mixer": mixer,
                "mixer_kwargs": dict(mixer_kwargs or {}),
                "drop_rate": float(drop_rate),
                "drop_path_rate": float(drop_path_rate),
                "global_pool": global_pool,
            }
        )
        self.global_pool = global_pool
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.grid_size = (height // patch_size, width // patch_size)
        self.patch_embed = PatchEmbedding(in_chans, embed_dim, patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, *self.grid_size, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0.0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
            MixerBlock(
                embed_dim,
                self.grid_size,
                mixer=mixer,
                mixer_kwargs=mixer_kwargs,
                mlp_ratio=mlp_ratio,
                drop_rate=drop_rate,
                drop_path=rate,
            )
            for rate in rates
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)
        init_linear_(self.head)

    def _check_images(self, images: Tensor) -> None:
        check_floating(images, "AFNONet images")
        if images.dim() != 4 or images.shape[1] != self.in_chans:
            raise ValueError(
                f"AFNONet expects images (B, {self.in_chans}, H, W), got shape {tuple(images.shape)}"
            )
        height, width = images.shape[2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"image size {(height, width)} (input shape {tuple(images.shape)}) is not "
                f"divisible by patch_size {self.patch_size}; resize or pad the images"
            )

    def forward_features(self, images: Tensor) -> Tensor:
        """Token grid after the last block and norm: ``(B, C_in, H, W) -> (B, H/p, W/p, D)``."""
        self._check_images(images)
        tokens = self.patch_embed(images)
        tokens = self.pos_drop(tokens + resize_grid(self.pos_embed, tokens.shape[1:3]))
        for block in self.blocks:
            tokens = block(tokens)
        normed: Tensor = self.norm(tokens)
        return normed

    def forward(self, images: Tensor) -> Tensor:
        """Class logits ``(B, K)`` for images ``(B, C_in, H, W)``."""
        tokens = self.forward_features(images)
        features: Tensor = (
            tokens.amax(dim=(1, 2)) if self.global_pool == "max" else tokens.mean(dim=(1, 2))
        )
        logits: Tensor = self.head(features)
        return logits
