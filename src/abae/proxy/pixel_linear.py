"""The cheapest proxy network: a linear model on downsampled pixels.

``(N, C, H, W)`` standardised images are area-averaged to a small grid
(``adaptive_avg_pool2d`` to ``grid``, at most :data:`MAX_PIXEL_FEATURES`
values per image), flattened and mapped to one logit by a linear layer. It is
what logistic regression on downsampled pixels fits (see
:mod:`abae.proxy.candidates`), written as a module so that it scores, saves and
loads like any other proxy network.

Example:
    >>> import torch
    >>> network = PixelLinearNetwork(height=28, width=28, channels=1, grid=(14, 14))
    >>> network.features(torch.zeros(2, 1, 28, 28)).shape, network(torch.zeros(2, 1, 28, 28)).shape
    (torch.Size([2, 196]), torch.Size([2, 1]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

from afno import ConfiguredModel

MAX_PIXEL_FEATURES = 256
"""Most downsampled values per image: enough to see an image's layout, few enough that
logistic regression on a few hundred labels stays cheap and does not overfit wildly."""
PIXEL_LINEAR_KIND = "pixel_linear"
"""The network kind a proxy checkpoint records for this model."""


def pixel_grid(height: int, width: int, channels: int) -> tuple[int, int]:
    """The downsampled grid ``(h, w)``: the image size shrunk by one factor until
    ``h · w · channels <= MAX_PIXEL_FEATURES`` (at least 1×1)."""
    budget = MAX_PIXEL_FEATURES / channels
    factor = max(1.0, math.sqrt(height * width / budget))
    while True:
        grid = (max(1, math.floor(height / factor)), max(1, math.floor(width / factor)))
        if grid[0] * grid[1] * channels <= MAX_PIXEL_FEATURES or grid == (1, 1):
            return grid
        factor *= 1.05


class PixelLinearNetwork(ConfiguredModel):
    """Linear model on area-downsampled pixels: ``(N, C, H, W) -> (N, 1)`` logits.

    Args:
        height, width, channels: the images it reads (standardised float input).
        grid: the downsampled size ``(h, w)``; at most :data:`MAX_PIXEL_FEATURES`
            values ``h · w · C``, each side at most the image's.

    Raises:
        ValueError: sizes that are not positive ints, or a grid too large.
    """

    def __init__(self, height: int, width: int, channels: int, grid: tuple[int, int]) -> None:
        values = (height, width, channels, *grid)
        if len(grid) != 2 or not all(isinstance(v, int) and v > 0 for v in values):
            raise ValueError(f"pixel-linear sizes must be positive ints, got {values}")
        if grid[0] > height or grid[1] > width:
            raise ValueError(f"grid {tuple(grid)} is larger than the images {height}×{width}")
        if grid[0] * grid[1] * channels > MAX_PIXEL_FEATURES:
            raise ValueError(
                f"grid {tuple(grid)} × {channels} channels exceeds {MAX_PIXEL_FEATURES} features"
            )
        super().__init__(
            {"height": height, "width": width, "channels": channels, "grid": list(grid)}
        )
        self.image_size = (height, width)
        self.channels = channels
        self.grid = (int(grid[0]), int(grid[1]))
        self.linear = nn.Linear(grid[0] * grid[1] * channels, 1)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PixelLinearNetwork:
        """Rebuild from ``network.config`` (e.g. a checkpoint's), validating it."""
        try:
            grid = config["grid"]
            return cls(
                int(config["height"]),
                int(config["width"]),
                int(config["channels"]),
                (int(grid[0]), int(grid[1])),
            )
        except (KeyError, TypeError, IndexError) as error:
            raise ValueError(f"not a pixel-linear config: {config} ({error})") from error

    def features(self, images: Tensor) -> Tensor:
        """The downsampled, flattened pixels ``(N, h·w·C)`` the linear layer reads."""
        if images.dim() != 4 or images.shape[1:] != (self.channels, *self.image_size):
            raise ValueError(
                f"PixelLinearNetwork reads images (N, {self.channels}, {self.image_size[0]}, "
                f"{self.image_size[1]}), got {tuple(images.shape)}"
            )
        return functional.adaptive_avg_pool2d(images, self.grid).flatten(1)

    def forward(self, images: Tensor) -> Tensor:
        logits: Tensor = self.linear(self.features(images))
        return logits

    @torch.no_grad()
    def set_weights(self, weights: Tensor, bias: float) -> None:
        """Put a fitted linear model (weights ``(h·w·C,)`` on :meth:`features`) in place."""
        self.linear.weight.copy_(weights.reshape(1, -1).to(self.linear.weight.dtype))
        self.linear.bias.fill_(bias)
