"""What images a proxy reads, and how they become model input.

A proxy is trained on images of one size and mode and only ever scores images
of that size and mode: a mismatch is an error that says what was expected, not
a silent resize. :class:`ImageSpec` is saved in the proxy's checkpoint, so a
proxy trained elsewhere checks the images it is given.

Images travel as uint8 arrays: grey ``(N, H, W)`` (or ``(N, H, W, 1)``) and RGB
``(N, H, W, 3)``, channels last, as decoders and the built-in datasets produce
them. The model sees float32 ``(N, C, H, W)`` with ``(x / 255 - mean) / std``,
always as a *contiguous* tensor: a convolution picks its kernel by the memory
layout of its input, so a permuted or zero-stride view would take another route
than a contiguous batch and give scores that differ in the last bits. Every path
(in memory, from the store, on any executor) goes through :meth:`ImageSpec.to_pixels`,
so the same batch always reaches the network in the same layout.

Example:
    >>> import numpy as np
    >>> spec = ImageSpec(height=2, width=3, channels=1)
    >>> batch = spec.to_tensor(np.zeros((4, 2, 3), dtype=np.uint8))
    >>> tuple(batch.shape), batch.is_contiguous(), float(batch[0, 0, 0, 0])
    ((4, 1, 2, 3), True, -2.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from abae.errors import AbaeError


class ImageInputError(AbaeError, ValueError):
    """An image a proxy cannot read: wrong size or mode, unreadable or truncated file.

    The message names the record or file at fault.
    """


_MODES = {1: "L", 3: "RGB"}
MAX_IMAGE_SIDE = 16384
"""Largest image side (pixels) a proxy may read; a spec from a checkpoint beyond it is refused."""


@dataclass(frozen=True)
class ImageSpec:
    """The images a proxy reads.

    Args:
        height, width: image size in pixels.
        channels: 1 (grey, Pillow mode ``"L"``) or 3 (``"RGB"``).
        mean, std: normalisation of intensities scaled to [0, 1].
    """

    height: int
    width: int
    channels: int
    mean: float = 0.5
    std: float = 0.25

    def __post_init__(self) -> None:
        for side in (self.height, self.width):
            if not isinstance(side, int) or isinstance(side, bool):
                raise ValueError(f"image size must be whole pixels, got {self.height}×{self.width}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"image size must be positive, got {self.height}×{self.width}")
        if max(self.height, self.width) > MAX_IMAGE_SIDE:
            raise ValueError(
                f"image size {self.height}×{self.width} exceeds {MAX_IMAGE_SIDE} pixels per side"
            )
        if self.channels not in _MODES:
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {self.channels}")
        if not (np.isfinite(self.mean) and np.isfinite(self.std) and self.std > 0):
            raise ValueError(f"mean must be finite and std positive, got {self.mean}, {self.std}")

    @property
    def pixels(self) -> int:
        """Pixels per image, ``height · width``."""
        return self.height * self.width

    @property
    def mode(self) -> str:
        """The Pillow mode of these images: ``"L"`` or ``"RGB"``."""
        return _MODES[self.channels]

    def describe(self) -> str:
        """E.g. ``"28×28 L"``."""
        return f"{self.height}×{self.width} {self.mode}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageSpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: unknown keys, or values out of range (e.g. from a damaged
                or hostile checkpoint).
        """
        if not isinstance(data, dict):
            raise ValueError(f"an image spec is a dict, got {type(data).__name__}")
        unknown = sorted(set(data) - {"height", "width", "channels", "mean", "std"})
        if unknown:
            raise ValueError(f"image spec has unknown keys {unknown}")
        return cls(**data)

    @classmethod
    def of_batch(cls, images: NDArray[Any]) -> ImageSpec:
        """The spec of a uint8 batch ``(N, H, W)`` or ``(N, H, W, C)``."""
        if images.ndim == 3:
            return cls(int(images.shape[1]), int(images.shape[2]), 1)
        if images.ndim == 4:
            return cls(int(images.shape[1]), int(images.shape[2]), int(images.shape[3]))
        raise ImageInputError(
            f"images must be a batch (N, H, W) or (N, H, W, C), got shape {images.shape}"
        )

    def check_batch(self, images: NDArray[Any], what: str = "images") -> NDArray[np.uint8]:
        """Validate a uint8 batch and return it as ``(N, H, W, C)`` (a view, no copy).

        Raises:
            ImageInputError: wrong dtype, rank, size or channel count, naming ``what``.
        """
        if not isinstance(images, np.ndarray):
            raise ImageInputError(f"{what}: expected a NumPy array, got {type(images).__name__}")
        if images.dtype != np.uint8:
            raise ImageInputError(
                f"{what}: expected uint8 pixels (0..255), got dtype {images.dtype}; "
                "convert with (x * 255).round().astype(np.uint8) if they are floats in [0, 1]"
            )
        batch = images[..., None] if images.ndim == 3 else images
        if batch.ndim != 4:
            raise ImageInputError(
                f"{what}: expected a batch (N, H, W) or (N, H, W, C), got shape {images.shape}"
            )
        _, height, width, channels = batch.shape
        if (height, width) != (self.height, self.width):
            raise ImageInputError(
                f"{what}: images are {height}×{width} but the proxy reads {self.describe()} "
                f"(shape {images.shape}); resize them to {self.height}×{self.width}"
            )
        if channels != self.channels:
            found = _MODES.get(channels, f"{channels} channels")
            raise ImageInputError(
                f"{what}: images are {found} but the proxy reads {self.mode} "
                f"(shape {images.shape}); convert them to {self.mode}"
            )
        return batch

    def stack(
        self, images: Sequence[NDArray[Any]], record_ids: Sequence[object] | None = None
    ) -> NDArray[np.uint8]:
        """Check images one by one and stack them into ``(N, H, W, C)``.

        Each image is uint8 ``(H, W)`` or ``(H, W, C)``. The first bad one raises
        :class:`ImageInputError` naming its record id (or position).
        """
        if record_ids is not None and len(record_ids) != len(images):
            raise ValueError(f"got {len(images)} images but {len(record_ids)} record ids")
        out = np.empty((len(images), self.height, self.width, self.channels), dtype=np.uint8)
        for position, image in enumerate(images):
            record = record_ids[position] if record_ids is not None else position
            array = np.asarray(image)
            out[position] = self.check_batch(array[None], what=f"record {record}")[0]
        return out

    def to_pixels(self, images: NDArray[Any]) -> torch.Tensor:
        """A checked uint8 batch as a contiguous uint8 tensor ``(N, C, H, W)`` (a new copy).

        The copy is what makes every path's input alike: whatever the layout of
        ``images`` (a view, a zero-stride channel axis, a read-only buffer), the
        result is the standard contiguous NCHW layout.
        """
        channels_first = np.ascontiguousarray(self.check_batch(images).transpose(0, 3, 1, 2))
        if channels_first.base is not None or not channels_first.flags.writeable:
            channels_first = channels_first.copy()  # never share memory with the caller's array
        return torch.from_numpy(channels_first)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 pixels ``(N, C, H, W)`` to contiguous float32 model input ``(x / 255 - mean) / std``."""
        if pixels.dtype != torch.uint8:
            raise ImageInputError(f"expected uint8 pixels, got a tensor of dtype {pixels.dtype}")
        scale = 1.0 / (255.0 * self.std)
        return (
            pixels.to(torch.float32, memory_format=torch.contiguous_format)
            .mul_(scale)
            .sub_(self.mean / self.std)
        )

    def to_tensor(self, images: NDArray[Any]) -> torch.Tensor:
        """A checked uint8 batch as normalised, contiguous float32 ``(N, C, H, W)`` model input."""
        return self.normalise(self.to_pixels(images))
